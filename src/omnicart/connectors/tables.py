"""Connector tables: vendor accounts, their SKU mapping, the inbox of deliveries, and the
state of stock and price figures on their way to each vendor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, Json, UTCDateTime


class Connector(Base):
    """One merchant account at a vendor, selling for one channel."""

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("channel_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    vendor: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(500))
    # A Fernet token of the credentials as JSON (see sealing); never shown.
    credentials: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectorKey(Base):
    """The key sealing connector credentials when `OMNICART_CONNECTOR_KEY` is unset:
    generated once, one row."""

    __tablename__ = "connector_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SkuMapping(Base):
    """A vendor's product (and variant) that is one Omnicart SKU."""

    __tablename__ = "connector_mappings"
    __table_args__ = (
        # '' when the vendor's product has no variants: NULL would not be unique.
        UniqueConstraint("connector_id", "vendor_product_id", "vendor_variant_id"),
        Index("ix_connector_mappings_connector_sku", "connector_id", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    vendor_product_id: Mapped[str] = mapped_column(String(64))
    vendor_variant_id: Mapped[str] = mapped_column(String(64), default="")
    stock_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sku: Mapped[str] = mapped_column(String(120))
    matched_by: Mapped[str] = mapped_column(String(16))  # sku, gtin, manual
    vendor_sku: Mapped[str | None] = mapped_column(String(120), nullable=True)
    vendor_gtin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboxDelivery(Base):
    """A delivery from a vendor exactly as it arrived, and what became of it.

    pending: to process (a worker holds it while `leased_until` is ahead); done; parked:
    needs a person (`reason`), re-processed by a retry.
    """

    __tablename__ = "connector_inbox"
    __table_args__ = (
        # A redelivery finds the first one: each delivery is stored once.
        UniqueConstraint("connector_id", "delivery_id"),
        Index("ix_connector_inbox_status_next", "status", "next_attempt_at"),
        Index("ix_connector_inbox_connector_order", "connector_id", "external_order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(8))  # webhook, poll
    topic: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    external_order_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    headers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # What a person should look at in an order that was taken (unlisted products).
    flags: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PushState(Base):
    """The figure (stock or price) of one SKU a vendor should hold, and the last one it
    acknowledged; `wanted_seq` grows with every change, so nothing older is ever sent."""

    __tablename__ = "connector_pushes"
    __table_args__ = (Index("ix_connector_pushes_due", "connector_id", "next_attempt_at"),)

    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # stock, price
    sku: Mapped[str] = mapped_column(String(120), primary_key=True)
    wanted: Mapped[str] = mapped_column(String(40))  # "7", or "19.99 EUR"
    wanted_seq: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent: Mapped[str | None] = mapped_column(String(40), nullable=True)
    sent_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)


class PushFeed(Base):
    """Where the stock push is in the ledger's feed of movements (one row), and when
    every connector's stock figures and prices were last recomputed in full."""

    __tablename__ = "connector_push_feed"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    tx_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    stock_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    prices_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PollState(Base):
    """A polling vendor's cursor (Amazon SP-API), kept across restarts."""

    __tablename__ = "connector_polls"

    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
