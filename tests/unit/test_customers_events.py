"""Which identifiers a tracked event names together (the identity side of tracking)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnicart.customers.events import TrackedIdentity, identifiers_of, observations

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
