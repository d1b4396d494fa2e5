"""Reads the console needs that the capabilities' services do not offer yet.

Read-only, and each mirrors a rule that lives elsewhere: `orders_at` selects the orders
`orders.owners.order_owners` counts as a store's (picked up, sold, allocated or shipped
there). Candidates to move into inventory.queries, orders.service, orders.returns and
connectors.service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from omnicart.catalog.tables import Variant
from omnicart.connectors.tables import InboxDelivery, PushState
from omnicart.inventory.tables import Movement, ReservationLine
from omnicart.orders.tables import Fulfilment, Order, Return

RECENT_MOVEMENTS = 20


def recent_movements(
    session: Session, *, location_id: int | None, limit: int = RECENT_MOVEMENTS
) -> list[tuple[Movement, str]]:
    """The newest ledger entries (at one location, or everywhere), newest first."""
    stmt = (
        select(Movement, Variant.sku)
        .join(Variant, Variant.id == Movement.variant_id)
        .order_by(Movement.id.desc())
        .limit(limit)
    )
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    return [(m, s) for m, s in session.execute(stmt)]


def list_orders(
    session: Session,
    *,
    channel_id: int | None,
    status: str | None,
    location_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Order]:
    """Orders newest first, filtered by channel, status and the store they are at."""
    stmt = select(Order).order_by(Order.id.desc()).limit(limit)
    if channel_id is not None:
        stmt = stmt.where(Order.channel_id == channel_id)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if before_id is not None:
        stmt = stmt.where(Order.id < before_id)
    if location_id is not None:
        stmt = stmt.where(
            or_(
                Order.pickup_location_id == location_id,
                exists().where(
                    Fulfilment.order_id == Order.id, Fulfilment.location_id == location_id
                ),
                exists().where(
                    ReservationLine.reservation_id == Order.reservation_id,
                    ReservationLine.location_id == location_id,
                ),
            )
        )
    return list(session.scalars(stmt))


def return_ids_of(session: Session, *, order_id: int) -> list[int]:
    """The ids of an order's returns, oldest first (orders.returns has no list of them)."""
    stmt = select(Return.id).where(Return.order_id == order_id).order_by(Return.id)
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class ConnectorActivity:
    """What the connectors service does not report per connector yet: its newest delivery,
    and the stock and price figures its vendor does not hold yet (the oldest one's age is
    the sync lag)."""

    last_received_at: datetime | None
    last_processed_at: datetime | None
    figures_waiting: int
    oldest_waiting_since: datetime | None


def connector_activity(session: Session) -> dict[int, ConnectorActivity]:
    """Per connector id, from its inbox and its push state (as connectors.push.pending
    counts them: a figure waits while its wanted sequence is ahead of the one sent)."""
    inbox = {
        connector_id: (received, processed)
        for connector_id, received, processed in session.execute(
            select(
                InboxDelivery.connector_id,
                func.max(InboxDelivery.received_at),
                func.max(InboxDelivery.processed_at),
            ).group_by(InboxDelivery.connector_id)
        )
    }
    waiting = {
        connector_id: (count, oldest)
        for connector_id, count, oldest in session.execute(
            select(PushState.connector_id, func.count(), func.min(PushState.changed_at))
            .where(PushState.wanted_seq > PushState.sent_seq)
            .group_by(PushState.connector_id)
        )
    }
    return {
        connector_id: ConnectorActivity(
            last_received_at=inbox.get(connector_id, (None, None))[0],
            last_processed_at=inbox.get(connector_id, (None, None))[1],
            figures_waiting=int(waiting.get(connector_id, (0, None))[0]),
            oldest_waiting_since=waiting.get(connector_id, (0, None))[1],
        )
        for connector_id in {*inbox, *waiting}
    }
