"""Outbound webhooks: subscriptions, their delivery queues, the attempt log, the sealing key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, Json, UTCDateTime


class WebhookSubscription(Base):
    """An endpoint of the merchant's own systems and the events it takes.

    Its secret is stored sealed (Fernet, `service.seal`): the sender needs it to sign, so
    it cannot be a one-way hash. (`feed_tx`, `feed_id`) is how far its queue has been
    filled from the outbox feed; `sending_until`/`sending_token` is the lease of the one
    sender that may send its deliveries at a time.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(Json)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_attempts: Mapped[int] = mapped_column(Integer)
    secret: Mapped[str] = mapped_column(String(500))
    # Kept after a rotation so that subscribers can switch over: deliveries carry a
    # signature with each secret until `previous_secret_until`.
    previous_secret: Mapped[str | None] = mapped_column(String(500), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    feed_tx: Mapped[int] = mapped_column(BigInteger, default=0)
    feed_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sending_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One outbox event for one subscription: its place in the queue (`seq`) and state.

    The body is built from the outbox row at each attempt, so what an erasure changes in
    the outbox is never sent afterwards.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq"),
        UniqueConstraint("subscription_id", "outbox_event_id"),
        Index("ix_webhook_deliveries_queue", "subscription_id", "state", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    outbox_event_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    # Attempts since the delivery was queued or last replayed (max_attempts counts these).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(Base):
    """One request to a subscriber: the delivery log of its endpoint."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    url: Mapped[str] = mapped_column(String(2000))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))


class WebhookSecretKey(Base):
    """The Fernet key sealing subscriptions' secrets when OMNICART_WEBHOOK_SECRETS_KEY is
    unset: made once, by the first subscription."""

    __tablename__ = "webhook_secret_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
