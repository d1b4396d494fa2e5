"""What the order book knows about a person, for the customers capability: who an order's
customer is, a person's orders, erasing their personal data while amounts stay, and
keeping an erased (suppressed) person's data off the orders that arrive later.

The personal fields of an order are defined once, here: e-mail, phone, customer reference
and the shipping address but its country (`ANONYMOUS`, `anonymous_address`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel
from omnicart.customers.suppression import is_suppressed, order_identifiers
from omnicart.db.outbox import OutboxEvent
from omnicart.orders.model import Customer
from omnicart.orders.tables import Order
from omnicart.orders.views import OrderView, order_view

# An order's customer once personal data is gone: what an erasure leaves and what an
# order naming an erased (suppressed) person is stored with.
ANONYMOUS = Customer()


@dataclass(frozen=True, slots=True)
class OrderCustomer:
    """The customer reference an order carries, and where and when it was placed."""

    order_id: int
    channel_id: int
    channel_kind: str
    email: str | None
    phone: str | None
    ref: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One order as a customer's history shows it."""

    id: int
    channel_id: int
    channel_code: str
    source: str
    external_id: str | None
    status: str
    currency: str
    total: Decimal
    created_at: datetime


def order_customer(session: Session, *, order_id: int) -> OrderCustomer | None:
    """Who an order's customer is, or None if there is no such order."""
    row = session.execute(
        select(Order, Channel.kind)
        .join(Channel, Channel.id == Order.channel_id)
        .where(Order.id == order_id)
    ).first()
    if row is None:
        return None
    order, kind = row
    return OrderCustomer(
        order_id=order.id,
        channel_id=order.channel_id,
        channel_kind=kind,
        email=order.customer_email,
        phone=order.customer_phone,
        ref=order.customer_ref,
        created_at=order.created_at,
    )


def order_summaries(session: Session, *, order_ids: Sequence[int]) -> list[OrderSummary]:
    """The orders, newest first."""
    rows = session.execute(
        select(Order, Channel.code)
        .join(Channel, Channel.id == Order.channel_id)
        .where(Order.id.in_(order_ids))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    return [
        OrderSummary(
            id=order.id,
            channel_id=order.channel_id,
            channel_code=code,
            source=order.source,
            external_id=order.external_id,
            status=order.status,
            currency=order.currency,
            total=order.total,
            created_at=order.created_at,
        )
        for order, code in rows
    ]


def order_views(session: Session, *, order_ids: Sequence[int]) -> list[OrderView]:
    """Everything about each order (for a data export), oldest first."""
    orders = session.scalars(select(Order).where(Order.id.in_(order_ids)).order_by(Order.id))
    return [order_view(session, order) for order in orders]


def order_identities(session: Session, *, order_ids: Sequence[int]) -> list[tuple[str, str]]:
    """Every identifier the orders' customer blocks name (e-mail, phone, buyer id, loyalty
    card, login), as identities store them: what an erasure puts on the suppression list."""
    found: list[tuple[str, str]] = []
    for order_id in order_ids:
        customer = order_customer(session, order_id=order_id)
        if customer is not None:
            found += order_identifiers(
                channel_kind=customer.channel_kind,
                channel_id=customer.channel_id,
                email=customer.email,
                phone=customer.phone,
                ref=customer.ref,
            )
    return found


def anonymous_address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """What of a shipping address is not personal: its country (for per-country figures)."""
    country = (address or {}).get("country") or (address or {}).get("country_code")
    return {"country": country} if isinstance(country, str) else None


def screen_customer(
    session: Session,
    *,
    channel_kind: str,
    channel_id: int,
    customer: Customer,
    address: dict[str, Any] | None,
) -> tuple[Customer, dict[str, Any] | None]:
    """The customer block and shipping address an arriving order may store: as sent, or,
    when any identifier in it belongs to an erased person (is suppressed), without every
    personal field, exactly as an erasure leaves an order (the order stays, anonymous)."""
    named = order_identifiers(
        channel_kind=channel_kind,
        channel_id=channel_id,
        email=customer.email,
        phone=customer.phone,
        ref=customer.ref,
    )
    if not is_suppressed(session, named):
        return customer, address
    return ANONYMOUS, anonymous_address(address)


def _without_customer(payload: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(payload)
    if isinstance(cleaned.get("customer"), dict):
        cleaned["customer"] = dict.fromkeys(cleaned["customer"])
    return cleaned


def erase_order_customers(session: Session, *, order_ids: Sequence[int]) -> int:
    """Remove the customer's email, phone, reference and address from the orders (and
    from their events in the outbox); amounts, lines and history stay, so revenue does.
    Only the shipping country is kept, for per-country figures. Answers orders changed."""
    if not order_ids:
        return 0
    orders = list(session.scalars(select(Order).where(Order.id.in_(order_ids)).with_for_update()))
    for order in orders:
        order.customer_email = ANONYMOUS.email
        order.customer_phone = ANONYMOUS.phone
        order.customer_ref = ANONYMOUS.ref
        order.shipping_address = anonymous_address(order.shipping_address)
    events = session.scalars(
        select(OutboxEvent).where(
            OutboxEvent.aggregate == "order",
            OutboxEvent.aggregate_id.in_([str(i) for i in order_ids]),
        )
    )
    for event in events:
        cleaned = _without_customer(event.payload)
        if cleaned != event.payload:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id == event.id).values(payload=cleaned)
            )
    session.flush()
    return len(orders)


def order_channels(session: Session, *, order_ids: Sequence[int]) -> dict[int, str]:
    """The code of the channel each order was placed in."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Order.id, Channel.code)
        .join(Channel, Channel.id == Order.channel_id)
        .where(Order.id.in_(order_ids))
    ).all()
    return dict(rows)
