"""Customer tables: profiles, the identifiers that point at them, merges, consents,
order links, the erasure log and the feed cursor of the order consumer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, Json, UTCDateTime


class CustomerProfile(Base):
    """One person; a profile merged into another points at it and holds nothing more."""

    __tablename__ = "customer_profiles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("customer_profiles.id"), nullable=True, index=True
    )
    traits: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerIdentity(Base):
    """An identifier (kind, normalised value) and the profile it resolves to."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(254))
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), index=True)
    channel_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    source: Mapped[str] = mapped_column(String(40))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerMerge(Base):
    """A profile merged into another, and the identifier that justified it."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerConsent(Base):
    """A consent given or withdrawn for one messaging channel; rows are never updated."""

    __tablename__ = "customer_consents"
    __table_args__ = (Index("ix_customer_consents_profile_channel", "profile_id", "channel", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"))
    channel: Mapped[str] = mapped_column(String(16))  # email, sms, whatsapp, push
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerOrderLink(Base):
    """The customer an order belongs to (on the profile that was current when linked)."""

    __tablename__ = "customer_order_links"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerErasure(Base):
    """That a person's data was erased, by whom and how much; never the data itself."""

    __tablename__ = "customer_erasures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    counts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The event-store step's progress (customers/erasure_steps.py): "pending" until it
    # has run, "done" after, "superseded" when a later erasure of the person took it over.
    state: Mapped[str] = mapped_column(String(16), default="done", server_default="done")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerFeedCursor(Base):
    """How far a customers consumer has read the outbox (moved in the same transaction
    as what it wrote, so every event is applied exactly once)."""

    __tablename__ = "customer_feed_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx_id: Mapped[int] = mapped_column(BigInteger, default=0)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerPendingErasure(Base):
    """An erasure done in the database whose event-store step is still to run: the
    values that step needs, kept only until it has run (then the row is deleted)."""

    __tablename__ = "customer_pending_erasures"

    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"), primary_key=True)
    erasure_id: Mapped[int] = mapped_column(ForeignKey("customer_erasures.id"))
    pseudonym: Mapped[str] = mapped_column(String(40))
    # {"sealed": Fernet token} (customers/erasure_steps.py); never the values in clear.
    values: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The event store to erase from (the sweep runs without a request's settings).
    events_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class CustomerSuppression(Base):
    """An erased person's identifier, as a keyed hash only: whatever arrives naming it
    later is stripped or dropped (see customers.suppression)."""

    __tablename__ = "customer_suppressions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    erasure_id: Mapped[int | None] = mapped_column(ForeignKey("customer_erasures.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerSuppressionKey(Base):
    """The suppression list's hash key when settings give none: made once, at random."""

    __tablename__ = "customer_suppression_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerSuppressionLift(Base):
    """A suppression lifted (the person came back and consented again): by whom, when,
    why, and the identifier's digest, never its value."""

    __tablename__ = "customer_suppression_lifts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerErasureKey(Base):
    """The key that seals a pending erasure's values when `OMNICART_ERASURE_KEY` is
    unset: generated once, one row."""

    __tablename__ = "customer_erasure_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
