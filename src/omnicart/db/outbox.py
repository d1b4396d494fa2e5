"""The transactional outbox: domain events written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, FetchedValue, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from omnicart.db.base import Base
from omnicart.db.feed import FeedPosition, feed_window
from omnicart.db.types import BigId, Json, UTCDateTime
from omnicart.kernel.clock import utcnow


class OutboxEvent(Base):
    """A domain event waiting for its consumers (published_at is set once delivered)."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_feed", "tx_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    aggregate: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Filled by PostgreSQL (see omnicart.db.feed); empty on SQLite.
    tx_id: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, server_default=FetchedValue()
    )


# Events a history import writes describe the past: consumers that act on news (loyalty,
# the merchant's webhooks) pass them by, while analytics reads them like any other.
HISTORIC = "historic"


def is_historic(payload: dict[str, Any]) -> bool:
    """Whether the event was imported history rather than something happening now."""
    return payload.get(HISTORIC) is True


def record_event(
    session: Session,
    *,
    event_type: str,
    aggregate: str,
    aggregate_id: str,
    payload: dict[str, Any],
) -> None:
    """Add an event to the outbox of the session's current transaction."""
    session.add(
        OutboxEvent(
            event_type=event_type,
            aggregate=aggregate,
            aggregate_id=aggregate_id,
            payload=payload,
            occurred_at=utcnow(),
        )
    )


def list_events(
    session: Session,
    *,
    event_type: str | None = None,
    after: FeedPosition | None = None,
    limit: int = 100,
) -> list[OutboxEvent]:
    """Events in the order they became final, published or not; a feed that skips none."""
    stmt = feed_window(
        select(OutboxEvent),
        tx_column=OutboxEvent.tx_id,
        id_column=OutboxEvent.id,
        position=after or FeedPosition(),
        dialect=session.get_bind().dialect.name,
    )
    if event_type is not None:
        stmt = stmt.where(OutboxEvent.event_type == event_type)
    return list(session.scalars(stmt.limit(limit)))
