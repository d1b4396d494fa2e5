"""Which identifiers a tracked event names together (the identity side of tracking)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnicart.customers.events import TrackedIdentity, identifiers_of, observations, traits_of

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            TrackedIdentity("identify", 1, AT, user_id="u1", anonymous_id="d1",
                            traits={"email": "ann@poczta.pl", "name": "A", "loyaltyCard": "LC-1"}),
            (("user_id", "u1"), ("anonymous_id", "d1"), ("email", "ann@poczta.pl"),
             ("loyalty_card", "LC-1")),
        ),
        (
            TrackedIdentity("identify", 1, AT, anonymous_id="d1", traits={"phone": "601234567"}),
            (("anonymous_id", "d1"), ("phone", "601234567")),
        ),
        (TrackedIdentity("alias", 1, AT, user_id="u1", previous_id="d9"),
         (("user_id", "u1"), ("anonymous_id", "d9"))),
        (TrackedIdentity("track", 1, AT, user_id="u1", anonymous_id="d1"),
         (("user_id", "u1"), ("anonymous_id", "d1"))),
        (TrackedIdentity("page", 1, AT, anonymous_id="d1"), ()),
        (TrackedIdentity("track", 1, AT, user_id="u1"), ()),
        (TrackedIdentity("track", 1, AT, user_id="u1", anonymous_id="d1",
                         traits={"email": "x@poczta.pl"}),
         (("user_id", "u1"), ("anonymous_id", "d1"))),
        (TrackedIdentity("identify", 1, AT, user_id="  ", traits={"email": 7.5}), ()),
        (TrackedIdentity("identify", 1, AT, user_id=" u1 ", traits={"email": True}),
         (("user_id", "u1"),)),
        (TrackedIdentity("identify", 1, AT, user_id="u1", anonymous_id="u1"),
         (("user_id", "u1"), ("anonymous_id", "u1"))),
    ],
    ids=["identify-all", "identify-device-phone", "alias", "track-login", "page-anonymous",
         "track-user-only", "track-traits-ignored", "identify-blank", "identify-trimmed",
         "same-value-two-kinds"],
)  # fmt: skip
def test_identifiers_of(event: TrackedIdentity, expected: tuple[tuple[str, str], ...]) -> None:
    assert identifiers_of(event) == expected


def test_a_batch_observes_each_set_once_with_the_latest_traits() -> None:
    later = AT + timedelta(seconds=5)
    batch = [
        TrackedIdentity("identify", 1, later, user_id="u1", traits={"plan": "gold"}),
        TrackedIdentity("identify", 1, AT, user_id="u1", traits={"plan": "free", "name": "Ann"}),
        TrackedIdentity("page", 1, AT, anonymous_id="d1"),
        TrackedIdentity("identify", 2, AT, user_id="u1"),
    ]
    seen = observations(batch)
    assert [(o.identifiers, o.channel_id, dict(o.traits), o.at) for o in seen] == [
        ((("user_id", "u1"),), 1, {"plan": "gold", "name": "Ann"}, later),
        ((("user_id", "u1"),), 2, {}, AT),
    ]


# What RudderStack's own clients send for identify: the traits only in context.traits.
RUDDER_IDENTIFY = TrackedIdentity(
    "identify",
    1,
    AT,
    user_id="u1",
    anonymous_id="d1",
    context_traits={"email": "ann@poczta.pl", "name": "Ann", "loyaltyCard": "LC-1"},
)


def test_an_identify_with_its_traits_in_the_context_names_the_same_identifiers() -> None:
    assert identifiers_of(RUDDER_IDENTIFY) == (
        ("user_id", "u1"),
        ("anonymous_id", "d1"),
        ("email", "ann@poczta.pl"),
        ("loyalty_card", "LC-1"),
    )
    [seen] = observations([RUDDER_IDENTIFY])
    assert dict(seen.traits) == {"name": "Ann"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (  # the call's own traits win over the ones a library cached in the context
            TrackedIdentity(
                "identify",
                1,
                AT,
                user_id="u1",
                traits={"email": "new@poczta.pl", "plan": "gold"},
                context_traits={"email": "old@poczta.pl", "name": "Ann"},
            ),
            {"email": "new@poczta.pl", "plan": "gold", "name": "Ann"},
        ),
        (  # a group's traits are the company's, not the person's
            TrackedIdentity(
                "group",
                1,
                AT,
                user_id="u1",
                anonymous_id="d1",
                traits={"name": "ACME", "employees": 40},
                context_traits={"name": "Ann"},
            ),
            {"name": "Ann"},
        ),
        (
            TrackedIdentity("track", 1, AT, user_id="u1", context_traits={"plan": "free"}),
            {"plan": "free"},
        ),
        (TrackedIdentity("identify", 1, AT, user_id="u1"), {}),
    ],
    ids=["top-level-wins", "group-traits-are-not-the-person's", "track-context", "none"],
)
def test_traits_of(event: TrackedIdentity, expected: dict[str, object]) -> None:
    assert traits_of(event) == expected


def test_a_track_names_no_identifier_from_its_context_traits() -> None:
    event = TrackedIdentity(
        "track", 1, AT, user_id="u1", anonymous_id="d1", context_traits={"email": "x@poczta.pl"}
    )
    assert identifiers_of(event) == (("user_id", "u1"), ("anonymous_id", "d1"))
    [seen] = observations([event])
    assert dict(seen.traits) == {}
