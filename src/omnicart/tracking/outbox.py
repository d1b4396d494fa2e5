"""The order book's domain events, delivered from the outbox into the event store.

Order and return events (`Order Completed`, `Order Updated`, `Order Cancelled`, `Order
Refunded`, `Order Routed`, `Shipment Created`, `Pickup Ready`, `Picked Up`, `Return
Received`: every outbox event of the `order` aggregate) become `track` events of source
0, with `messageId` `outbox-<outbox id>`. The outbox is read as a feed
(`omnicart.db.outbox.list_events`), and the feed position is stored in DuckDB's
`feed_progress` *in the same DuckDB transaction* as the rows: a crash keeps both or
neither, so every event arrives once. Events of other aggregates (stock thresholds)
are passed over; the position moves past them all the same.

Who an event is about: `anonymousId` is `order-<order id>` on every event of an order, so
an order's events group together and every event satisfies Segment's "userId or
anonymousId" rule; `userId` is the order's customer reference when the payload carries
one (`customer.ref`). Events whose payload says nothing of the customer or the channel
(`Order Routed`, `Shipment Created`, …) take both from the order's latest earlier event.
The payload is stored as `properties` unchanged, amounts as the decimal strings the
order book writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import list_events
from omnicart.kernel.clock import utcnow
from omnicart.tracking.model import OUTBOX_SOURCE_ID, to_micros

__all__ = ["OUTBOX_SOURCE_ID", "deliver_outbox", "deliver_outbox_once"]
OUTBOX_FEED = "outbox"
OUTBOX_PAGE = 1_000
TRACKED_AGGREGATES = frozenset({"order"})
_CONTEXT_LIBRARY = {"name": "omnicart-outbox", "version": "1"}


class Sink(Protocol):
    """Where outbox events are stored: the event store (tracking.store.EventStore)."""

    def feed_position(self, feed: str) -> FeedPosition: ...

    def latest_of_outbox_orders(
        self, anonymous_ids: Sequence[str]
    ) -> dict[str, tuple[int, str | None]]: ...

    def commit_rows(
        self, rows: Sequence[Sequence[Any]], *, feed: tuple[str, FeedPosition]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboxedEvent:
    """The columns of one outbox row that delivery needs, read inside the session."""

    id: int
    event_type: str
    aggregate: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: datetime


def _read_page(
    db: Database, after: FeedPosition, limit: int
) -> tuple[list[OutboxedEvent], FeedPosition]:
    with db.reading() as session:
        rows = list_events(session, after=after, limit=limit)
        events = [
            OutboxedEvent(
                id=row.id,
                event_type=row.event_type,
                aggregate=row.aggregate,
                aggregate_id=row.aggregate_id,
                payload=row.payload,
                occurred_at=row.occurred_at,
            )
            for row in rows
        ]
        end = position_of(rows[-1].tx_id, rows[-1].id) if rows else after
    return events, end


def _customer_ref(payload: dict[str, Any]) -> tuple[bool, str | None]:
    """(whether the payload says who the customer is, their reference)."""
    customer = payload.get("customer")
    if not isinstance(customer, dict) or "ref" not in customer:
        return False, None
    ref = customer["ref"]
    return True, (str(ref) if ref not in (None, "") else None)


def _channel(payload: dict[str, Any]) -> int | None:
    value = payload.get("channel_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def track_rows(
    events: Sequence[OutboxedEvent], *, known: dict[str, tuple[int, str | None]], received_us: int
) -> list[list[Any]]:
    """The store rows (STORE_COLUMNS order) of order events.

    `known` maps an anonymousId (`order-<id>`) to the (channel id, userId) of the order's
    latest earlier event; it is updated as events are turned into rows.
    """
    rows: list[list[Any]] = []
    for event in events:
        anonymous_id = f"order-{event.aggregate_id}"
        channel_id, user_id = known.get(anonymous_id, (0, None))
        told, ref = _customer_ref(event.payload)
        if told:
            user_id = ref
        channel_id = _channel(event.payload) or channel_id
        known[anonymous_id] = (channel_id, user_id)
        at = to_micros(event.occurred_at)
        context = {
            "library": _CONTEXT_LIBRARY,
            "outbox": {"id": event.id, "aggregate": event.aggregate},
        }
        rows.append(
            [
                OUTBOX_SOURCE_ID,
                channel_id,
                f"outbox-{event.id}",
                "track",
                event.event_type,
                None,
                user_id,
                anonymous_id,
                None,
                None,
                at,
                at,
                None,
                orjson.dumps(event.payload).decode(),
                None,
                orjson.dumps(context).decode(),
                None,
                received_us,
            ]
        )
    return rows


def deliver_outbox_once(store: Sink, *, db: Database, limit: int = OUTBOX_PAGE) -> int:
    """Deliver the next page of the outbox into the store; the outbox rows read."""
    after = store.feed_position(OUTBOX_FEED)
    events, end = _read_page(db, after, limit)
    if not events:
        return 0
    tracked = [e for e in events if e.aggregate in TRACKED_AGGREGATES]
    orders = sorted({f"order-{e.aggregate_id}" for e in tracked})
    known = store.latest_of_outbox_orders(orders) if orders else {}
    rows = track_rows(tracked, known=known, received_us=to_micros(utcnow()))
    store.commit_rows(rows, feed=(OUTBOX_FEED, end))
    return len(events)


def deliver_outbox(store: Sink, *, db: Database) -> int:
    """Deliver every settled outbox event not delivered yet; the outbox rows read."""
    total = 0
    while read := deliver_outbox_once(store, db=db):
        total += read
    return total
