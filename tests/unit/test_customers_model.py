"""Identity resolution rules: normalisation, blocked values and the merge decision table."""

from __future__ import annotations

import pytest

from omnicart.customers.model import (
    Decision,
    Identifier,
    customer_ref_identifier,
    decide,
    normalise,
    screen,
)
from omnicart.kernel.errors import ValidationFailed


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", "  Anna.Nowak@Example.PL ", "anna.nowak@example.pl"),
        ("email", "not-an-address", None),
        ("email", "test@shop.pl", None),
        ("email", "someone@example.com", None),
        ("email", "bot@mail.test", None),
        ("email", "null", None),
        ("phone", "601 234 567", "+48601234567"),
        ("phone", "+48 601-234-567", "+48601234567"),
        ("phone", "0048601234567", "+48601234567"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("phone", "12", None),
        ("phone", "-1", None),
        ("user_id", " u-42 ", "u-42"),
        ("user_id", "anonymous", None),
        ("user_id", "NULL", None),
        ("user_id", "0", None),
        ("user_id", "-1", None),
        ("user_id", "undefined", None),
        ("anonymous_id", "", None),
        ("loyalty_card", "lc 1234-5678", "LC12345678"),
        ("pos_customer", "C-77", "C-77"),
    ],
)
def test_normalise(kind: str, raw: str, expected: str | None) -> None:
    assert normalise(kind, raw, region="PL") == expected


def test_marketplace_buyers_are_scoped_by_channel() -> None:
    assert normalise("marketplace_buyer", "buyer-1", region="PL", channel_id=7) == "7:buyer-1"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalise("passport", "X", region="PL")
    assert caught.value.field == "kind"


def test_screen_orders_by_priority_and_says_why_it_skips() -> None:
    screened = screen(
        [("anonymous_id", "a1"), ("email", "A@shop.pl"), ("user_id", "null"), ("user_id", "u1")],
        region="PL",
    )
    assert screened.accepted == (
        Identifier("user_id", "u1"),
        Identifier("email", "a@shop.pl"),
        Identifier("anonymous_id", "a1"),
    )
    assert [(s.kind, s.reason) for s in screened.skipped] == [
        ("user_id", "blocked or invalid value")
    ]


def test_device_ids_of_a_till_are_shared_and_skipped() -> None:
    screened = screen(
        [("anonymous_id", "tablet-1"), ("email", "a@shop.pl")], region="PL", channel_kind="pos"
    )
    assert screened.accepted == (Identifier("email", "a@shop.pl"),)
    assert screened.skipped[0].reason == "device ids of pos channels are shared"


@pytest.mark.parametrize(
    ("ref", "channel_kind", "expected"),
    [
        ("B-1", "marketplace", ("marketplace_buyer", "B-1")),
        ("card:1234", "pos", ("loyalty_card", "1234")),
        ("pos:77", "pos", ("pos_customer", "77")),
        ("77", "pos", ("pos_customer", "77")),
        ("u-9", "web", ("user_id", "u-9")),
        ("u-9", "app", ("user_id", "u-9")),
    ],
)
def test_customer_ref_by_channel_kind(
    ref: str, channel_kind: str, expected: tuple[str, str]
) -> None:
    assert customer_ref_identifier(channel_kind, ref) == expected


U1, U2 = Identifier("user_id", "u1"), Identifier("user_id", "u2")
E1, E2, E3, E4 = (Identifier("email", f"e{n}@shop.pl") for n in range(1, 5))
P1, P2, P3 = (Identifier("phone", f"+4860123456{n}") for n in range(1, 4))
A1, A2, TAB = (
    Identifier("anonymous_id", "a1"),
    Identifier("anonymous_id", "a2"),
    Identifier("anonymous_id", "tablet"),
)
C1, C2 = Identifier("loyalty_card", "C1"), Identifier("loyalty_card", "C2")

# Each case: the existing profiles (id → identities), the observation, and the expected
# (action, profile id, merged ids, identifiers added, identifiers dropped, refused merges).
CASES = {
    # -- merges that must happen
    "new person": ({}, [E1, A1], ("create", None, [], [E1, A1], [], [])),
    "same identifiers again": ({1: {U1, E1}}, [U1, E1], ("attach", 1, [], [], [], [])),
    "new email for a known user": ({1: {U1, E1}}, [U1, E2], ("attach", 1, [], [E2], [], [])),
    "login after anonymous browsing": (
        {1: {A1}, 2: {U1, E1}},
        [U1, A1],
        ("merge", 1, [2], [], [], []),
    ),
    "alias: anonymous id becomes a user": ({1: {A1}}, [U1, A1], ("attach", 1, [], [U1], [], [])),
    "loyalty card at a till names the web customer": (
        {1: {U1, E1}, 2: {C1}},
        [C1, E1],
        ("merge", 1, [2], [], [], []),
    ),
    "phone links two half-known profiles": (
        {3: {E1, P1}, 5: {A2, A1}},
        [P1, A1],
        ("merge", 3, [5], [], [], []),
    ),
    "three profiles, oldest survives": (
        {4: {E1}, 2: {P1}, 9: {A1}},
        [E1, P1, A1],
        ("merge", 2, [4, 9], [], [], []),
    ),
    # -- merges that must not happen
    "shared tablet, second user logs in": (
        {1: {U1, TAB}},
        [U2, TAB],
        ("create", None, [], [U2], [TAB], [TAB]),
    ),
    "shared tablet, known second user": (
        {1: {U1, TAB}, 2: {U2}},
        [U2, TAB],
        ("attach", 2, [], [], [TAB], [TAB]),
    ),
    "two user ids never merge through an email": (
        {1: {U1, E1}, 2: {U2}},
        [U2, E1],
        ("attach", 2, [], [], [E1], [E1]),
    ),
    "two loyalty cards are two people": (
        {1: {C1, E1}},
        [C2, E1],
        ("create", None, [], [C2], [E1], [E1]),
    ),
    "a user's card is not replaced by a weaker id's card": (
        {1: {U1, C1}},
        [U1, C2],
        ("attach", 1, [], [], [C2], []),
    ),
    # -- limits
    "fourth email is dropped, not merged": (
        {1: {U1, E1, E2, E3}},
        [U1, E4],
        ("attach", 1, [], [], [E4], []),
    ),
    "third phone is dropped, device id still attaches": (
        {1: {A1, P1, P2}},
        [P3, A2, A1],
        ("attach", 1, [], [A2], [P3], []),
    ),
    "merge refused when emails would exceed the limit (weaker link dropped)": (
        {1: {E1, E2, P1}, 2: {E3, E4}},
        [P1, E3],
        ("attach", 2, [], [], [P1], [P1]),
    ),
    "two user ids in one observation keep the first": (
        {},
        [U1, U2, E1],
        ("create", None, [], [U1, E1], [U2], []),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_decide(name: str) -> None:
    profiles_in, observed, expected = CASES[name]
    action, profile_id, merged, added, dropped, refused = expected
    profiles = {pid: frozenset(ids) for pid, ids in profiles_in.items()}
    owners = {i: pid for pid, ids in profiles.items() for i in ids}
    ordered = sorted(observed, key=lambda i: i.rank)  # as screen() hands them over
    decision = decide(ordered, owners=owners, profiles=profiles)
    assert decision.action == action
    assert decision.profile_id == profile_id
    assert [m.merged for m in decision.merges] == merged
    assert set(decision.add) == set(added)
    assert [d.identifier for d in decision.dropped] == dropped
    assert [d.identifier for d in decision.refusals] == refused


def test_merge_reason_names_kinds_not_values() -> None:
    profiles = {1: frozenset({A1}), 2: frozenset({U1, E1})}
    owners = {A1: 1, U1: 2, E1: 2}
    decision = decide([U1, A1], owners=owners, profiles=profiles)
    assert (
        decision.merges[0].reason
        == "seen together: anonymous_id of profile 1 and user_id of profile 2"
    )
    assert "u1" not in decision.merges[0].reason


def test_refusal_reason() -> None:
    profiles = {1: frozenset({U1, TAB})}
    decision = decide([U2, TAB], owners={U1: 1, TAB: 1}, profiles=profiles)
    assert decision.dropped[0].reason == (
        "merge refused: another user_id of higher priority names someone else"
    )


def test_nothing_usable_is_ignored() -> None:
    assert decide([], owners={}, profiles={}) == Decision("ignore")
