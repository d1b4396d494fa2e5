"""Reads the console needs that the capabilities' services do not offer yet.

Read-only, and each mirrors a rule that lives elsewhere: `orders_at` selects the orders
`orders.owners.order_owners` counts as a store's (picked up, sold, allocated or shipped
there). Candidates to move into inventory.queries and orders.service.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from omnicart.catalog.tables import Variant
from omnicart.inventory.tables import Movement, ReservationLine
from omnicart.orders.tables import Fulfilment, Order

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
