"""Fulfilment: allocations per location become shipments or store pickups.

Buy online, pick up in store: the store marks the order ready (a pickup code and a
deadline are issued, and a Pickup Ready event goes out), the customer collects it with
the code, and an order not collected by its deadline is cancelled and its units go back
on sale.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.db.engine import Database
from omnicart.inventory.reservations import ReservationLineView, held_here, ship_in
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omnicart.orders import placement
from omnicart.orders.model import (
    CONFIRMED,
    PARTIALLY_FULFILLED,
    PENDING,
    check_transition,
    status_after,
)
from omnicart.orders.service import cancel_in, in_transaction, lock_order
from omnicart.orders.tables import Fulfilment, Order, OrderLine
from omnicart.orders.views import OrderView, order_view

DEFAULT_PICKUP_WINDOW_HOURS = 72


def _count_fulfilled(
    session: Session, order: Order, shipped: Sequence[ReservationLineView]
) -> list[dict[str, Any]]:
    """Add shipped units to the order's lines (by SKU, in line order); the items."""
    left: dict[str, int] = defaultdict(int)
    for item in shipped:
        left[item.requested_sku] += item.shipped
    items = [{"sku": sku, "quantity": units} for sku, units in sorted(left.items())]
    for line in session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
    ):
        take = min(left[line.sku], line.quantity - line.fulfilled)
        line.fulfilled += take
        left[line.sku] -= take
    session.flush()
    return items


def _advance(session: Session, order: Order, *, actor: str, reason: str) -> None:
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    target = status_after([(line.quantity, line.fulfilled, line.returned) for line in lines])
    if target != order.status:
        check_transition(order.status, target, order_id=order.id)
        placement.move(session, order, target, actor=actor, reason=reason)


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """Units of one order line (by its number) to ship."""

    line_no: int
    quantity: int


def _check_shippable(order: Order) -> int:
    """The order's reservation, when the order may ship."""
    if order.reservation_id is None:
        raise Conflict(f"order {order.id} holds no stock", field="order_id")
    if order.status not in (CONFIRMED, PARTIALLY_FULFILLED):
        raise Conflict(
            f"order {order.id} is {order.status}; only confirmed orders are fulfilled",
            field="status",
            status_now=order.status,
        )
    return order.reservation_id


def _ship(
    session: Session, order: Order, *, location_id: int, actor: str, reason: str
) -> list[dict[str, Any]]:
    shipped = ship_in(
        session,
        reservation_id=_check_shippable(order),
        actor=actor,
        reason=reason,
        location_id=location_id,
        only_here=True,
    )
    return _count_fulfilled(session, order, shipped)


def _ship_lines(
    session: Session,
    order: Order,
    lines: Sequence[ShipmentLine],
    *,
    location_id: int,
    actor: str,
    reason: str,
) -> list[dict[str, Any]]:
    """Ship the chosen units of the order's lines from one location.

    Each line may ship what is still to leave of it, and the lines of one SKU together
    no more than the order holds of it at this location.
    """
    reservation_id = _check_shippable(order)
    by_no = {
        line.line_no: line
        for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    }
    held = held_here(session, reservation_id=reservation_id, location_id=location_id)
    chosen: dict[int, int] = {}
    per_sku: dict[str, int] = defaultdict(int)
    for index, request in enumerate(lines):
        where = f"lines.{index}"
        line = by_no.get(request.line_no)
        if line is None:
            raise NotFound(
                f"order {order.id} has no line {request.line_no}", field=f"{where}.line_no"
            )
        if request.line_no in chosen:
            raise ValidationFailed(
                f"line {request.line_no} is named twice", field=f"{where}.line_no"
            )
        most = max(
            0, min(line.quantity - line.fulfilled, held.get(line.sku, 0) - per_sku[line.sku])
        )
        if isinstance(request.quantity, bool) or not 1 <= request.quantity <= most:
            raise ValidationFailed(
                f"line {line.line_no} ({line.sku}) has {most} unit(s) to ship from "
                f"location {location_id}, not {request.quantity}",
                field=f"{where}.quantity",
            )
        chosen[line.line_no] = request.quantity
        per_sku[line.sku] += request.quantity
    ship_in(
        session,
        reservation_id=reservation_id,
        actor=actor,
        reason=reason,
        location_id=location_id,
        only_here=True,
        units=dict(per_sku),
    )
    for line_no, units in chosen.items():
        by_no[line_no].fulfilled += units
    session.flush()
    return [{"sku": sku, "quantity": units} for sku, units in sorted(per_sku.items())]


def create_shipment(
    db: Database,
    *,
    order_id: int,
    location_id: int,
    carrier: str,
    tracking_number: str,
    actor: str = "system",
    channel_id: int | None = None,
    lines: Sequence[ShipmentLine] | None = None,
) -> OrderView:
    """Ship from one location: everything the order holds there, or only the chosen
    `lines` and quantities; a shipment with carrier and tracking."""
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or len(carrier) > 80:
        raise ValidationFailed("carrier must be 1 to 80 characters", field="carrier")
    if len(tracking_number) > 120:
        raise ValidationFailed("tracking_number is at most 120 characters", field="tracking_number")
    if lines is not None and not lines:
        raise ValidationFailed("name at least one line, or leave lines out", field="lines")

    def work(session: Session) -> OrderView:
        order = lock_order(session, order_id, channel_id=channel_id)
        if order.fulfilment_mode != "ship":
            raise Conflict(
                f"order {order_id} is for {order.fulfilment_mode}, not shipping",
                field="order_id",
            )
        reason = f"order {order.id}"
        items = (
            _ship(session, order, location_id=location_id, actor=actor, reason=reason)
            if lines is None
            else _ship_lines(
                session, order, lines, location_id=location_id, actor=actor, reason=reason
            )
        )
        now = utcnow()
        shipment = Fulfilment(
            order_id=order.id,
            location_id=location_id,
            kind="shipment",
            status="shipped",
            carrier=carrier,
            tracking_number=tracking_number,
            items=items,
            actor=actor,
            created_at=now,
            closed_at=now,
        )
        session.add(shipment)
        _advance(session, order, actor=actor, reason=f"shipped by {carrier}")
        session.flush()
        placement.announce(
            session,
            "Shipment Created",
            order,
            {
                "order_id": str(order.id),
                "shipment_id": shipment.id,
                "location_id": location_id,
                "carrier": carrier,
                "tracking_number": tracking_number,
                "products": items,
            },
        )
        return order_view(session, order)

    return in_transaction(db, work)


def _pickup_order(session: Session, order_id: int, staff_location: int | None) -> Order:
    order = lock_order(session, order_id)
    if order.fulfilment_mode != "pickup" or order.pickup_location_id is None:
        raise Conflict(f"order {order_id} is not a pickup order", field="order_id")
    if staff_location is not None and staff_location != order.pickup_location_id:
        raise Forbidden(
            f"order {order_id} is picked up at location {order.pickup_location_id}, "
            "not at this key's store",
            field="order_id",
        )
    return order


def _open_pickup(session: Session, order: Order) -> Fulfilment | None:
    return session.scalar(
        select(Fulfilment).where(
            Fulfilment.order_id == order.id,
            Fulfilment.kind == "pickup",
            Fulfilment.status == "ready",
        )
    )


def mark_ready(
    db: Database,
    *,
    order_id: int,
    actor: str = "system",
    staff_location: int | None = None,
) -> OrderView:
    """The store has the order ready: issue a pickup code and a deadline (once)."""

    def work(session: Session) -> OrderView:
        order = _pickup_order(session, order_id, staff_location)
        if _open_pickup(session, order) is not None:
            return order_view(session, order, replayed=True)
        if order.status not in (PENDING, CONFIRMED):
            raise Conflict(
                f"order {order_id} is {order.status}; it cannot be made ready",
                field="status",
                status_now=order.status,
            )
        row = placement.order_rules(session, order.channel_id)
        hours = row.pickup_window_hours if row is not None else DEFAULT_PICKUP_WINDOW_HOURS
        now = utcnow()
        pickup = Fulfilment(
            order_id=order.id,
            location_id=order.pickup_location_id,
            kind="pickup",
            status="ready",
            pickup_code=f"{secrets.randbelow(1_000_000):06d}",
            pickup_deadline=now + timedelta(hours=hours),
            items=[],
            actor=actor,
            created_at=now,
        )
        session.add(pickup)
        session.flush()
        placement.announce(
            session,
            "Pickup Ready",
            order,
            {
                "order_id": str(order.id),
                "location_id": order.pickup_location_id,
                "pickup_code": pickup.pickup_code,
                "pickup_deadline": pickup.pickup_deadline.isoformat()
                if pickup.pickup_deadline
                else None,
                "customer": {"email": order.customer_email, "phone": order.customer_phone},
            },
        )
        return order_view(session, order)

    return in_transaction(db, work)


def collect(
    db: Database,
    *,
    order_id: int,
    code: str,
    actor: str = "system",
    staff_location: int | None = None,
) -> OrderView:
    """The customer collected the order with its code: its units leave the store."""

    def work(session: Session) -> OrderView:
        order = _pickup_order(session, order_id, staff_location)
        pickup = _open_pickup(session, order)
        if pickup is None:
            raise Conflict(f"order {order_id} is not ready for pickup", field="order_id")
        # Bytes: compare_digest refuses non-ASCII str, and any code the customer types
        # must simply not match (surrogatepass: even unstorable text cannot raise here).
        typed = code.strip().encode("utf-8", "surrogatepass")
        if not secrets.compare_digest(typed, (pickup.pickup_code or "").encode()):
            raise Forbidden("the pickup code does not match", field="code")
        if order.status != CONFIRMED:
            raise Conflict(
                f"order {order_id} is {order.status}; it is paid before it is handed over",
                field="status",
                status_now=order.status,
            )
        assert order.pickup_location_id is not None
        pickup.items = _ship(
            session,
            order,
            location_id=order.pickup_location_id,
            actor=actor,
            reason=f"picked up, order {order.id}",
        )
        pickup.status = "picked_up"
        pickup.closed_at = utcnow()
        _advance(session, order, actor=actor, reason="picked up in store")
        session.flush()
        placement.announce(
            session,
            "Picked Up",
            order,
            {
                "order_id": str(order.id),
                "location_id": order.pickup_location_id,
                "products": pickup.items,
            },
        )
        return order_view(session, order)

    return in_transaction(db, work)


def expire_pickups(db: Database, *, now: datetime | None = None, limit: int = 200) -> int:
    """Cancel pickup orders not collected by their deadline; their units go back on sale."""
    moment = now or utcnow()
    with db.reading() as session:
        due = list(
            session.scalars(
                select(Fulfilment.order_id)
                .where(Fulfilment.status == "ready", Fulfilment.pickup_deadline <= moment)
                .order_by(Fulfilment.pickup_deadline)
                .limit(limit)
            )
        )
    expired = 0
    for order_id in due:

        def work(session: Session, order_id: int = order_id) -> bool:
            order = lock_order(session, order_id)
            pickup = _open_pickup(session, order)
            if pickup is None or pickup.pickup_deadline is None or pickup.pickup_deadline > moment:
                return False  # collected (or made ready again) since it was listed
            pickup.status = "expired"
            pickup.closed_at = utcnow()
            cancel_in(session, order, actor="system:pickup-expiry", reason="not collected in time")
            return True

        expired += in_transaction(db, work)
    return expired
