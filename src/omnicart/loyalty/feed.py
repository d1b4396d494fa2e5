"""Loyalty as a consumer of the order outbox: points follow orders of every channel.

When points are earned: once the order is paid in full, on the first event that shows
it so: "Order Completed" (announced when an order is placed, Segment's name for a
finished checkout) of an order paid at once, or "Order Updated" (a payment recorded,
a channel's update) of one paid later. An order that is never paid earns nothing.
A cancellation ("Order Cancelled") takes every point of the order back and gives back
the points that paid for it; a refund ("Order Refunded") takes back the points the
refunded part earned (`model.reversal_due`). Points already spent are not taken below
zero: the entry records the shortfall instead.

Each batch of events and the cursor after it are written in one transaction, so every
event is applied exactly once however often, and by however many workers, the sync runs
(the cursor row is locked for the batch). The entries' unique keys guard the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from omnicart.customers.linking import profile_for_order
from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import OutboxEvent, is_historic, list_events
from omnicart.db.retry import retrying
from omnicart.inventory.ledger import insert_ignoring_duplicates
from omnicart.kernel.clock import utcnow
from omnicart.loyalty import service
from omnicart.loyalty.tables import LoyaltyEntry, LoyaltyFeedCursor

CONSUMER = "orders"
PLACED = "Order Completed"
UPDATED = "Order Updated"
CANCELLED = "Order Cancelled"
REFUNDED = "Order Refunded"
HANDLED = frozenset({PLACED, UPDATED, CANCELLED, REFUNDED})
# An order in these states is not paid (yet, or ever): it earns nothing.
UNPAID = frozenset({"pending", "cancelled"})
_cursors = cast(Table, LoyaltyFeedCursor.__table__)


def _cursor(session: Session) -> LoyaltyFeedCursor:
    """The consumer's cursor, locked for this transaction (created at the start)."""
    conn = session.connection()
    conn.execute(
        insert_ignoring_duplicates(conn, _cursors),
        {"name": CONSUMER, "tx_id": 0, "event_id": 0, "updated_at": utcnow()},
    )
    return session.scalars(
        select(LoyaltyFeedCursor).where(LoyaltyFeedCursor.name == CONSUMER).with_for_update()
    ).one()


def _decimal(payload: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(payload.get(name) or "0"))


def _paid(session: Session, event: OutboxEvent) -> int:
    payload = event.payload
    if payload.get("status") in UNPAID:
        return 0
    order_id = int(payload["order_id"])
    # A redemption on the order names its customer already; keep the points with them.
    redeemed_by = session.scalar(
        select(LoyaltyEntry.profile_id).where(
            LoyaltyEntry.order_id == order_id, LoyaltyEntry.kind == "redeem"
        )
    )
    profile_id = redeemed_by or profile_for_order(session, order_id=order_id)
    if profile_id is None:
        return 0  # an order without a known customer earns nothing
    facts = service.OrderFacts(
        order_id=order_id,
        channel_id=int(payload["channel_id"]),
        currency=str(payload["currency"]),
        basis=_decimal(payload, "revenue"),
        total=_decimal(payload, "total"),
    )
    return len(service.earn_for_order(session, profile_id=profile_id, order=facts))


def _apply(session: Session, event: OutboxEvent) -> int:
    if is_historic(event.payload):
        # Past orders imported from a file (omnicart import history) earn nothing now:
        # the program did not promise points for them when they were placed.
        return 0
    if event.event_type in (PLACED, UPDATED):
        return _paid(session, event)
    order_id = int(event.payload["order_id"])
    if event.event_type == CANCELLED:
        return len(service.reverse_for_cancel(session, order_id=order_id))
    refunded = _decimal(event.payload, "total")
    reversed_ = service.reverse_for_refund(
        session, order_id=order_id, refunded=refunded, event_id=event.id
    )
    return 0 if reversed_ is None else 1


def sync_loyalty(db: Database, *, batch: int = 200) -> int:
    """Apply every order event not yet applied; returns the ledger entries written."""
    written = 0
    while True:

        def step() -> tuple[int, int]:
            with db.transaction() as session:
                cursor = _cursor(session)
                events = list_events(
                    session, after=FeedPosition(cursor.tx_id, cursor.event_id), limit=batch
                )
                count = 0
                for event in events:
                    if event.event_type in HANDLED:
                        count += _apply(session, event)
                if events:
                    last = position_of(events[-1].tx_id, events[-1].id)
                    cursor.tx_id, cursor.event_id = last.tx_id, last.id
                    cursor.updated_at = utcnow()
                return count, len(events)

        count, seen = retrying(step)
        written += count
        if seen < batch:
            return written
