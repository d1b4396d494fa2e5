"""Customer use cases: find a person, their 360 view, consents, and the GDPR export.
Erasure lives in `erasure.py`; the order feed consumer in `linking.py`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.channels.service import list_channels
from omnicart.conversations.service import ConversationView, conversations_for
from omnicart.customers.linking import sync_customers
from omnicart.customers.lookup import merged_ids
from omnicart.customers.model import check_consent_channel, check_kind, normalise
from omnicart.customers.tables import (
    CustomerConsent,
    CustomerIdentity,
    CustomerMerge,
    CustomerOrderLink,
    CustomerProfile,
)
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.loyalty.service import LoyaltySummary, loyalty_summary
from omnicart.orders.privacy import OrderSummary, order_channels, order_summaries, order_views
from omnicart.settings import get_settings
from omnicart.tracking.store import StoreBusy, StoredEvent, open_store

__all__ = [
    "ConsentView",
    "CustomerView",
    "IdentityView",
    "MergeView",
    "TimelineEntry",
    "customer_360",
    "customer_of_order",
    "export_customer",
    "find_customer",
    "list_consents",
    "set_consents",
    "sync_customers",
]
TIMELINE = 100  # entries a 360 shows, newest first
_STORE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class IdentityView:
    """One identifier of a person, where and when it was first and last seen."""

    kind: str
    value: str
    channel_id: int | None
    source: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class MergeView:
    """A profile folded into another, and why."""

    survivor_id: int
    merged_id: int
    reason: str
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConsentView:
    """Consent given or withdrawn for one messaging channel."""

    channel: str
    granted: bool
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing the person did, in any channel: a tracked event or an order."""

    at: datetime
    kind: str  # event, order
    name: str
    channel_id: int
    ref: str
    properties: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CustomerView:
    """Customer 360: everything known about one person across channels.

    `timeline` is None when the event store was busy past the wait (try again).
    """

    id: int
    requested_id: int
    merged_ids: list[int]
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    traits: dict[str, Any]
    identities: list[IdentityView]
    merges: list[MergeView]
    consents: list[ConsentView]
    orders: list[OrderSummary]
    revenue: dict[str, Decimal]
    timeline: list[TimelineEntry] | None
    loyalty: LoyaltySummary
    conversations: list[ConversationView]


def _person(session: Session, customer_id: int) -> tuple[CustomerProfile, list[int]]:
    ids = merged_ids(session, customer_id)
    profile = session.get(CustomerProfile, ids[0])
    assert profile is not None
    return profile, ids


def _identities(session: Session, profile_id: int) -> list[IdentityView]:
    rows = session.scalars(
        select(CustomerIdentity)
        .where(CustomerIdentity.profile_id == profile_id)
        .order_by(CustomerIdentity.kind, CustomerIdentity.first_seen, CustomerIdentity.id)
    )
    return [
        IdentityView(r.kind, r.value, r.channel_id, r.source, r.first_seen, r.last_seen)
        for r in rows
    ]


def _merges(session: Session, ids: Sequence[int]) -> list[MergeView]:
    rows = session.scalars(
        select(CustomerMerge).where(CustomerMerge.merged_id.in_(ids)).order_by(CustomerMerge.id)
    )
    return [MergeView(r.survivor_id, r.merged_id, r.reason, r.source, r.at) for r in rows]


def _consent_history(session: Session, ids: Sequence[int]) -> list[ConsentView]:
    rows = session.scalars(
        select(CustomerConsent)
        .where(CustomerConsent.profile_id.in_(ids))
        .order_by(CustomerConsent.at, CustomerConsent.id)
    )
    return [ConsentView(r.channel, r.granted, r.source, r.at) for r in rows]


def _current(history: Sequence[ConsentView]) -> list[ConsentView]:
    latest: dict[str, ConsentView] = {}
    for consent in history:  # oldest first: the last word per channel wins
        latest[consent.channel] = consent
    return sorted(latest.values(), key=lambda c: c.channel)


def _order_ids(session: Session, ids: Sequence[int]) -> list[int]:
    return list(
        session.scalars(
            select(CustomerOrderLink.order_id)
            .where(CustomerOrderLink.profile_id.in_(ids))
            .order_by(CustomerOrderLink.order_id)
        )
    )


def _events(events_path: Path | None, identities: Sequence[IdentityView]) -> list[StoredEvent]:
    """Every stored event of the person's user ids and device ids (StoreBusy if the
    store stays locked past the wait)."""
    if events_path is None or not events_path.exists():
        return []
    seen: dict[tuple[int, str], StoredEvent] = {}
    with open_store(events_path, timeout=_STORE_WAIT_S) as store:
        for identity in identities:
            if identity.kind == "user_id":
                found = store.find(user_id=identity.value, limit=100_000)
            elif identity.kind == "anonymous_id":
                found = store.find(anonymous_id=identity.value, limit=100_000)
            else:
                continue
            for event in found:
                seen[event.source_id, event.message_id] = event
    return sorted(seen.values(), key=lambda e: (e.timestamp, e.message_id))


def _timeline(events: Sequence[StoredEvent], orders: Sequence[OrderSummary]) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            at=e.timestamp,
            kind="event",
            name=e.event or e.type,
            channel_id=e.channel_id,
            ref=e.message_id,
            properties=e.properties,
        )
        for e in events
    ]
    entries += [
        TimelineEntry(
            at=o.created_at,
            kind="order",
            name=f"Order {o.status}",
            channel_id=o.channel_id,
            ref=str(o.id),
            properties={"total": str(o.total), "currency": o.currency},
        )
        for o in orders
    ]
    entries.sort(key=lambda t: (t.at, t.kind, t.ref), reverse=True)
    return entries[:TIMELINE]


def _revenue(orders: Sequence[OrderSummary]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for order in orders:
        if order.status != "cancelled":
            totals[order.currency] = totals.get(order.currency, Decimal(0)) + order.total
    return dict(sorted(totals.items()))


def customer_360(
    db: Database, *, customer_id: int, events_path: Path | None = None
) -> CustomerView:
    """One person across channels; a merged id answers with its survivor's view."""
    with db.reading() as session:
        profile, ids = _person(session, customer_id)
        identities = _identities(session, profile.id)
        orders = order_summaries(session, order_ids=_order_ids(session, ids))
        view = CustomerView(
            id=profile.id,
            requested_id=customer_id,
            merged_ids=ids,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
            erased_at=profile.erased_at,
            traits=dict(profile.traits),
            identities=identities,
            merges=_merges(session, ids),
            consents=_current(_consent_history(session, ids)),
            orders=orders,
            revenue=_revenue(orders),
            timeline=None,
            loyalty=loyalty_summary(session, profile_ids=ids),
            conversations=conversations_for(session, profile_ids=ids),
        )
    try:
        events = _events(events_path, identities)
    except StoreBusy:
        return view
    return _replace_timeline(view, _timeline(events, orders))


def _replace_timeline(view: CustomerView, timeline: list[TimelineEntry]) -> CustomerView:
    values = {f.name: getattr(view, f.name) for f in fields(view)}
    return CustomerView(**{**values, "timeline": timeline})


def find_customer(db: Database, *, kind: str, value: str) -> int:
    """The customer an identifier (normalised as on arrival) resolves to, or NotFound."""
    check_kind(kind)
    normalised = normalise(kind, value, region=get_settings().phone_region)
    if normalised is None:
        raise ValidationFailed(f"not a usable {kind}", field=kind)
    with db.reading() as session:
        profile_id = session.scalar(
            select(CustomerIdentity.profile_id).where(
                CustomerIdentity.kind == kind, CustomerIdentity.value == normalised
            )
        )
    if profile_id is None:
        raise NotFound(f"no customer has this {kind}", field=kind)
    return profile_id


def customer_of_order(db: Database, *, order_id: int) -> int:
    """The customer an order is linked to (by the feed; see `sync_customers`), or NotFound."""
    with db.reading() as session:
        linked = session.scalar(
            select(CustomerOrderLink.profile_id).where(CustomerOrderLink.order_id == order_id)
        )
        if linked is None:
            raise NotFound(f"order {order_id} is linked to no customer", field="order_id")
        return merged_ids(session, linked)[0]


@dataclass(frozen=True, slots=True)
class ConsentsView:
    """The consents in force per channel, and every change that led to them."""

    customer_id: int
    current: list[ConsentView]
    history: list[ConsentView]


def list_consents(db: Database, *, customer_id: int) -> ConsentsView:
    """A person's consents now and their history."""
    with db.reading() as session:
        _profile, ids = _person(session, customer_id)
        history = _consent_history(session, ids)
    return ConsentsView(ids[0], _current(history), history)


def set_consents(
    db: Database,
    *,
    customer_id: int,
    consents: Mapping[str, bool],
    source: str,
    at: datetime | None = None,
) -> ConsentsView:
    """Record consent given (True) or withdrawn (False) per channel; history is kept and
    a repeated answer adds nothing."""
    if not consents:
        raise ValidationFailed("give at least one channel", field="consents")
    for channel in consents:
        check_consent_channel(channel)
    source = source.strip()
    if not source or len(source) > 120 or not source.isprintable():
        raise ValidationFailed("source must be 1 to 120 printable characters", field="source")
    if at is not None and at.tzinfo is None:
        raise ValidationFailed("at must carry a timezone", field="at")
    when = at or utcnow()
    with db.transaction() as session:
        profile, ids = _person(session, customer_id)
        session.execute(
            select(CustomerProfile.id).where(CustomerProfile.id == profile.id).with_for_update()
        )
        if profile.erased_at is not None:
            raise Conflict(f"customer {profile.id} was erased", field="customer_id")
        now = {c.channel: c.granted for c in _current(_consent_history(session, ids))}
        session.add_all(
            CustomerConsent(
                profile_id=profile.id, channel=channel, granted=granted, source=source, at=when
            )
            for channel, granted in sorted(consents.items())
            if now.get(channel) is not granted
        )
        session.flush()
        history = _consent_history(session, ids)
    return ConsentsView(ids[0], _current(history), history)


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimals and datetimes as plain JSON values (amounts as strings)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def export_customer(
    db: Database, *, customer_id: int, events_path: Path | None = None
) -> dict[str, Any]:
    """Everything Omnicart holds about a person (GDPR/RODO access and portability), as
    JSON-ready data: profile, identities, merges, consent history, full orders, every
    tracked event, loyalty, support conversations."""
    with db.reading() as session:
        profile, ids = _person(session, customer_id)
        identities = _identities(session, profile.id)
        data: dict[str, Any] = {
            "customer_id": profile.id,
            "merged_ids": ids,
            "exported_at": utcnow(),
            "profile": {
                "created_at": profile.created_at,
                "updated_at": profile.updated_at,
                "erased_at": profile.erased_at,
                "traits": profile.traits,
            },
            "identities": identities,
            "merges": _merges(session, ids),
            "consents": _consent_history(session, ids),
            "orders": order_views(session, order_ids=_order_ids(session, ids)),
            "loyalty": loyalty_summary(session, profile_ids=ids),
            "conversations": conversations_for(session, profile_ids=ids),
        }
    data["events"] = _events(events_path, identities)
    exported: dict[str, Any] = jsonable(data)
    return exported


def channels_per_customer(session: Session) -> dict[int, set[str]]:
    """The sales channels (codes) each living customer was seen in: where their identifiers
    came from and where their orders were placed, merged profiles counted with their
    survivor. Erased customers are left out."""
    profiles = session.execute(
        select(CustomerProfile.id, CustomerProfile.merged_into, CustomerProfile.erased_at)
    ).all()
    parent = {pid: merged_into for pid, merged_into, _ in profiles}

    def survivor(pid: int) -> int:
        while (up := parent.get(pid)) is not None:
            pid = up
        return pid

    touched: dict[int, set[str]] = {
        pid: set() for pid, up, erased in profiles if up is None and erased is None
    }
    codes = {c.id: c.code for c in list_channels(session, limit=100_000)}
    for pid, channel_id in session.execute(
        select(CustomerIdentity.profile_id, CustomerIdentity.channel_id).where(
            CustomerIdentity.channel_id.is_not(None)
        )
    ):
        if channel_id in codes:
            touched.get(survivor(pid), set()).add(codes[channel_id])
    links = dict(
        session.execute(select(CustomerOrderLink.order_id, CustomerOrderLink.profile_id)).all()
    )
    for order_id, code in order_channels(session, order_ids=list(links)).items():
        touched.get(survivor(links[order_id]), set()).add(code)
    return touched
