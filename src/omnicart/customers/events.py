"""Who tracked events are about: identifiers seen together in an event name one person.

The event store hands each batch it stores to `observe_events`. An `identify` names its
`userId`, its `anonymousId` and the identifying traits (`email`, `phone`,
`loyalty_card`/`loyaltyCard`, `pos_customer`; at the top level or in `context.traits`,
see `traits_of`); an `alias` joins `previousId` and `userId`; any other event links its
`userId` and `anonymousId` when it carries both (a device that logged in). An event with
a single identifier says nothing new about who is who, so it is not observed: it is
attributed when read, through the identities of the profile (the Customer 360's
timeline). Observing is idempotent, so a batch observed twice (a crash between the two
stores) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnicart.customers.lookup import observe
from omnicart.db.engine import Database

_TRAIT_KINDS = (  # trait name -> identifier kind, in Segment's and our own spellings
    ("email", "email"),
    ("phone", "phone"),
    ("loyalty_card", "loyalty_card"),
    ("loyaltyCard", "loyalty_card"),
    ("pos_customer", "pos_customer"),
    ("posCustomer", "pos_customer"),
)
# Traits that identify the person are kept as identities, not as profile traits.
_IDENTIFYING = frozenset(name for name, _ in _TRAIT_KINDS)


@dataclass(frozen=True, slots=True)
class TrackedIdentity:
    """The parts of one stored event that can say who it is about."""

    type: str
    channel_id: int | None
    at: datetime
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    traits: Mapping[str, Any] = field(default_factory=dict)  # the top-level `traits`
    context_traits: Mapping[str, Any] = field(default_factory=dict)  # `context.traits`


@dataclass(frozen=True, slots=True)
class Observation:
    """Identifiers seen together, with the traits an identify call gave them."""

    identifiers: tuple[tuple[str, str], ...]
    channel_id: int | None
    source: str
    traits: Mapping[str, Any]
    at: datetime


def _text(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def traits_of(event: TrackedIdentity) -> dict[str, Any]:
    """The traits an event gives the person it is about, wherever the sending library put
    them.

    Segment's libraries send an identify's traits at the top level (`traits`);
    RudderStack's put them in `context.traits` (its Python client only there), and both
    vendors document `context.traits` on every other call as the current user's traits.
    Both places are read; where both name a trait, the top-level value wins, as it is what
    this very call set, while `context.traits` may be a copy cached from an earlier
    identify. A group call's top-level traits describe the group, not the person, so for
    a group only `context.traits` count.
    """
    person = dict(event.context_traits)
    if event.type != "group":
        person.update(event.traits)
    return person


def identifiers_of(event: TrackedIdentity) -> tuple[tuple[str, str], ...]:
    """The identifiers one event names together (empty when it links nothing)."""
    found: list[tuple[str, str]] = []
    if user := _text(event.user_id):
        found.append(("user_id", user))
    if device := _text(event.anonymous_id):
        found.append(("anonymous_id", device))
    if event.type == "alias" and (previous := _text(event.previous_id)):
        # previousId is whatever the person was known by before: usually a device id.
        found.append(("anonymous_id", previous))
    if event.type == "identify":
        traits = traits_of(event)
        for name, kind in _TRAIT_KINDS:
            if value := _text(traits.get(name)):
                found.append((kind, value))
    unique = tuple(dict.fromkeys(found))
    linking = event.type in ("identify", "alias") or (user is not None and device is not None)
    return unique if linking and (event.type == "identify" or len(unique) >= 2) else ()


def observations(events: Sequence[TrackedIdentity]) -> list[Observation]:
    """What a batch says about who is who: one observation per distinct set of identifiers
    and channel, carrying the latest traits given for it."""
    latest: dict[tuple[tuple[tuple[str, str], ...], int | None], Observation] = {}
    for event in sorted(events, key=lambda e: e.at):
        identifiers = identifiers_of(event)
        if not identifiers:
            continue
        key = (identifiers, event.channel_id)
        before = latest.get(key)
        traits = {k: v for k, v in traits_of(event).items() if k not in _IDENTIFYING}
        latest[key] = Observation(
            identifiers=identifiers,
            channel_id=event.channel_id,
            source=f"tracking:{event.type}",
            traits={**(before.traits if before else {}), **traits},
            at=event.at,
        )
    return list(latest.values())


def observe_events(db: Database, events: Sequence[TrackedIdentity]) -> int:
    """Resolve the people a batch of stored events names; how many observations were made.

    One transaction per observation: each takes its identifiers' locks on its own, so it
    never holds them while waiting for another's (orders and support resolve people too).
    """
    seen = observations(events)
    for item in seen:
        with db.transaction() as session:
            observe(
                session,
                identifiers=item.identifiers,
                channel_id=item.channel_id,
                source=item.source,
                traits=item.traits or None,
                at=item.at,
            )
    return len(seen)
