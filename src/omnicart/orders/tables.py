"""Order book tables: carts, orders and their lines, status history, payments,
fulfilments (shipments, pickups, till sales), returns and per-channel order rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, ExactDecimal, Json, UTCDateTime


class Cart(Base):
    """A shopper's basket on an own channel, with a stock hold refreshed as it changes."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open, converted
    currency: Mapped[str] = mapped_column(String(3))
    reservation_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    lines: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    """One order of any channel: checkout, till sale or an external channel's order."""

    __tablename__ = "orders"
    __table_args__ = (
        # Redelivery of a channel's order finds the first one: ingest is idempotent.
        UniqueConstraint("channel_id", "external_id"),
        UniqueConstraint("cart_id"),
        Index("ix_orders_channel_created", "channel_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    source: Mapped[str] = mapped_column(String(16))  # checkout, pos, external
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cart_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False)
    subtotal: Mapped[Decimal] = mapped_column(ExactDecimal)
    discount_total: Mapped[Decimal] = mapped_column(ExactDecimal)
    shipping_total: Mapped[Decimal] = mapped_column(ExactDecimal)
    tax_total: Mapped[Decimal] = mapped_column(ExactDecimal)
    total: Mapped[Decimal] = mapped_column(ExactDecimal)
    order_discount: Mapped[Decimal] = mapped_column(ExactDecimal)
    shipping_tax: Mapped[Decimal] = mapped_column(ExactDecimal)
    customer_email: Mapped[str | None] = mapped_column(String(254), nullable=True, index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    customer_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fulfilment_mode: Mapped[str] = mapped_column(String(16))  # ship, pickup, in_store
    pickup_location_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    reservation_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    routing: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    # What a person should look at, e.g. {"code": "unlisted", "detail": ..., "skus": [...]}
    # for an external order selling what its channel does not list; null when nothing.
    flags: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exchange_of_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderLine(Base):
    """One line as the channel sent it; fulfilled and returned units are counted here."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("fulfilled >= 0 AND fulfilled <= quantity", name="fulfilled"),
        CheckConstraint("returned >= 0 AND returned <= fulfilled", name="returned"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    discount: Mapped[Decimal] = mapped_column(ExactDecimal)
    tax: Mapped[Decimal] = mapped_column(ExactDecimal)
    total: Mapped[Decimal] = mapped_column(ExactDecimal)
    fulfilled: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)


class OrderTransition(Base):
    """Every status change of an order: from, to, who and when."""

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Payment(Base):
    """Money in (a payment) or out (a refund) for an order, in the order's currency."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # payment, refund
    method: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(200), default="")
    return_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fulfilment(Base):
    """Units of an order leaving one location: a shipment, a store pickup or a till sale."""

    __tablename__ = "fulfilments"
    __table_args__ = (Index("ix_fulfilments_status_deadline", "status", "pickup_deadline"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(16))  # shipment, pickup, in_store
    status: Mapped[str] = mapped_column(String(16))  # shipped, ready, picked_up, expired
    carrier: Mapped[str] = mapped_column(String(80), default="")
    tracking_number: Mapped[str] = mapped_column(String(120), default="")
    pickup_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pickup_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    items: Mapped[list[Any]] = mapped_column(Json, default=list)
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Return(Base):
    """A return of units of an order, opened in any channel and received at any location."""

    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    status: Mapped[str] = mapped_column(String(16))  # requested, received, refunded, closed
    returnless: Mapped[bool] = mapped_column(Boolean, default=False)
    received_location_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    exchange_order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    value: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReturnLine(Base):
    """Units of one order line coming back, why, and what became of them."""

    __tablename__ = "return_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("restocked + written_off <= quantity", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
    restocked: Mapped[int] = mapped_column(Integer, default=0)
    written_off: Mapped[int] = mapped_column(Integer, default=0)


class OrderRules(Base):
    """How a channel's orders are routed, held for pickup and refunded (absent: defaults)."""

    __tablename__ = "order_rules"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    rules: Mapped[list[Any]] = mapped_column(Json)
    prefer_single_location: Mapped[bool] = mapped_column(Boolean, default=True)
    location_costs: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    pickup_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    returnless_below: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
