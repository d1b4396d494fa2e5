"""Loyalty tables: the append-only points ledger, an account row per customer profile
(what redemptions lock), per-channel rules, the program's tiers and the feed cursor."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, ExactDecimal, Json, UTCDateTime


class LoyaltyAccount(Base):
    """A customer profile's points account: the row locked while points are spent."""

    __tablename__ = "loyalty_accounts"

    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoyaltyEntry(Base):
    """Points in (earn, bonus, a returned redemption) or out (redeem, reverse, expire).

    Rows are never updated. `entry_key` makes each fact happen once: an order earns once
    ("earn:order:7"), a refund event reverses once ("reverse:event:42").
    """

    __tablename__ = "loyalty_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('earn', 'redeem', 'reverse', 'bonus', 'expire')", name="kind"),
        CheckConstraint("shortfall >= 0", name="shortfall"),
        Index("ix_loyalty_entries_profile_at", "profile_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    # Points a reversal could not take because they had been spent already.
    shortfall: Mapped[int] = mapped_column(Integer, default=0)
    entry_key: Mapped[str] = mapped_column(String(160), unique=True)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), nullable=True)
    # Money behind the entry in `currency`: what earned, what points paid, what was refunded.
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    # What the entry adds to (or takes from) the spend tiers count, in the program currency.
    spend: Mapped[Decimal] = mapped_column(ExactDecimal)
    reason: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoyaltyRules(Base):
    """How one channel's orders earn points and what its points are worth."""

    __tablename__ = "loyalty_rules"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    points_per_unit: Mapped[Decimal] = mapped_column(ExactDecimal)
    point_value: Mapped[Decimal] = mapped_column(ExactDecimal)
    spend_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    bonuses: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoyaltyProgram(Base):
    """The program's tiers by rolling spend (one row; absent: the defaults)."""

    __tablename__ = "loyalty_program"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(String(3))
    window_days: Mapped[int] = mapped_column(Integer)
    tiers: Mapped[list[Any]] = mapped_column(Json, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoyaltyFeedCursor(Base):
    """How far loyalty has read the order outbox; moved in the transaction that wrote
    the entries, so each event is applied exactly once."""

    __tablename__ = "loyalty_feed_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx_id: Mapped[int] = mapped_column(BigInteger, default=0)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
