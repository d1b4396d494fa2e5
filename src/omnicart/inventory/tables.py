"""Inventory tables: stock per SKU x location, the movement ledger, reservations,
transfers and counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, UTCDateTime


class StockLevel(Base):
    """Units of one SKU at one location. Sellable = on_hand - reserved - allocated."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("allocated >= 0", name="allocated"),
        # The last line of defence: no code path may ever commit an oversell.
        CheckConstraint("on_hand >= reserved + allocated", name="not_oversold"),
    )

    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The ledger and the holds name variants, locations and channels by id without foreign
# keys: only the ledger code writes them, with ids it has just resolved, while a foreign
# key would take a share lock on the channel and location rows in every reservation -
# the hottest rows there are - and turn concurrent reservations into lock traffic.


class Movement(Base):
    """One append-only ledger entry; summing the deltas gives the stock figures."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_variant_location", "variant_id", "location_id"),
        Index("ix_stock_movements_feed", "tx_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    variant_id: Mapped[int] = mapped_column(BigId)
    location_id: Mapped[int] = mapped_column(BigId)
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    delta_allocated: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(120), default="system")
    channel_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    reservation_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    transfer_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    count_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Filled by PostgreSQL (see omnicart.db.feed); empty on SQLite.
    tx_id: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, server_default=FetchedValue()
    )


class Reservation(Base):
    """A hold on stock for a channel (a cart, a pending marketplace order)."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("channel_id", "idempotency_key"),
        CheckConstraint(
            "status IN ('active', 'released', 'expired', 'allocated', 'shipped')", name="status"
        ),
        Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(BigId)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    reference: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(120), default="system")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReservationLine(Base):
    """Units of one stock-bearing SKU held at one location by a reservation."""

    __tablename__ = "reservation_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(BigId)
    location_id: Mapped[int] = mapped_column(BigId)
    quantity: Mapped[int] = mapped_column(Integer)
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    requested_sku: Mapped[str] = mapped_column(String(120))


class Transfer(Base):
    """Stock moving between two locations; in transit it is sellable nowhere."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("status IN ('in_transit', 'received')", name="status"),
        CheckConstraint("from_location_id <> to_location_id", name="distinct_locations"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(16), default="in_transit")
    actor: Mapped[str] = mapped_column(String(120), default="system")
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TransferLine(Base):
    """Units of one SKU in a transfer."""

    __tablename__ = "transfer_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[int] = mapped_column(
        ForeignKey("transfers.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)


class StockCount(Base):
    """A cycle count at one location."""

    __tablename__ = "stock_counts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    actor: Mapped[str] = mapped_column(String(120), default="system")
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StockCountLine(Base):
    """What was expected, what was counted and the variance, for one SKU."""

    __tablename__ = "stock_count_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    count_id: Mapped[int] = mapped_column(
        ForeignKey("stock_counts.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    expected: Mapped[int] = mapped_column(Integer)
    counted: Mapped[int] = mapped_column(Integer)
    variance: Mapped[int] = mapped_column(Integer)
