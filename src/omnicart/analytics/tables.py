"""Cost data the merchant imports for analytics: ad spend, unit costs, channel fees, fixed
costs and ECB exchange rates (operational database, SQLite and PostgreSQL alike).

Every table is keyed by what a re-import replaces: importing a row whose key is already
stored overwrites it (an upsert), so importing the same file twice changes nothing and a
corrected export simply replaces the figures it covers. Rows are never deleted by an
import. `imported_at` is when the row was last written (the warehouse notices changes by it).
Amounts are checked by the importers (the one place that writes these tables): SQLite keeps
exact decimals as text, on which a CHECK constraint would compare wrongly.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Dialect, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from omnicart.db.base import Base
from omnicart.db.types import ExactDecimal, UTCDateTime
from omnicart.kernel.money import plain

RATE_PLACES = 6  # the ECB publishes at most 6 significant digits; never more decimals


class RateDecimal(TypeDecorator[Decimal]):
    """An exchange rate with up to six decimals: NUMERIC(18, 6) on PostgreSQL, text on
    SQLite (whose NUMERIC would round through float)."""

    impl = Numeric(18, RATE_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, RATE_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else plain(Decimal(str(value)))


class AdSpend(Base):
    """What a channel's advertising cost on one day for one campaign (re-import replaces)."""

    __tablename__ = "analytics_ad_spend"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(255), primary_key=True)
    spend: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    layout: Mapped[str] = mapped_column(String(16))  # google, meta or plain
    source_file: Mapped[str] = mapped_column(String(255))  # the imported file's name
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnitCost(Base):
    """What one unit of a SKU costs the merchant (COGS) from `valid_from` until the SKU's
    next row (re-importing the same SKU and day replaces)."""

    __tablename__ = "analytics_unit_costs"
    sku: Mapped[str] = mapped_column(String(120), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelFee(Base):
    """A channel's fees from `valid_from`: commission in % of net sales, payment fee in %
    plus a fixed amount per order (re-importing the same channel and day replaces)."""

    __tablename__ = "analytics_channel_fees"
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    commission_pct: Mapped[Decimal] = mapped_column(ExactDecimal)
    payment_pct: Mapped[Decimal] = mapped_column(ExactDecimal)
    payment_fixed: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FixedCost(Base):
    """A fixed cost of a channel in a month, such as store rent or staff (`month` is the
    month's first day; re-importing the same channel, month and label replaces)."""

    __tablename__ = "analytics_fixed_costs"
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExchangeRate(Base):
    """An ECB reference rate: 1 EUR = `per_eur` units of `currency` on `day` (re-importing
    the same day and currency replaces)."""

    __tablename__ = "analytics_exchange_rates"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    per_eur: Mapped[Decimal] = mapped_column(RateDecimal)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
