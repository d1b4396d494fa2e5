"""Tracking sources: create and list them, and find the source of a write key.

A write key is a secret like an API key: shown once, stored as a SHA-256 hash.
Only admins manage sources; the write key itself grants nothing but sending events.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.auth.service import Principal, hash_secret
from omnicart.channels.service import get_channel
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Forbidden, Unauthorized, ValidationFailed
from omnicart.tracking.tables import TrackingSource

MAX_SOURCE_NAME = 200


@dataclass(frozen=True, slots=True)
class SourceView:
    """A tracking source as shown: never its write key."""

    id: int
    channel_id: int
    name: str
    prefix: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedSource:
    """A new source and its write key, shown this once."""

    source: SourceView
    write_key: str


@dataclass(frozen=True, slots=True)
class SourceRef:
    """What an event needs to know about the source that sent it."""

    id: int
    channel_id: int


def _view(row: TrackingSource) -> SourceView:
    return SourceView(
        id=row.id,
        channel_id=row.channel_id,
        name=row.name,
        prefix=row.prefix,
        active=row.active,
        created_at=row.created_at,
    )


def _require_admin(principal: Principal | None) -> None:
    if principal is not None and principal.role != "admin":
        raise Forbidden("only an admin key may manage tracking sources")


def create_tracking_source(
    session: Session,
    *,
    channel_id: int,
    name: str,
    principal: Principal | None = None,
) -> IssuedSource:
    """Create a source for a channel; its write key is returned once.

    `principal` is who asks (None for operators at the CLI): only an admin key may.
    """
    _require_admin(principal)
    name = name.strip()
    if not 1 <= len(name) <= MAX_SOURCE_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_SOURCE_NAME} characters", field="name")
    get_channel(session, channel_id=channel_id)  # NotFound names the channel
    write_key = f"wk_{secrets.token_urlsafe(24)}"
    row = TrackingSource(
        channel_id=channel_id,
        name=name,
        prefix=write_key[:10],
        write_key_hash=hash_secret(write_key),
        created_at=utcnow(),
        active=True,
    )
    session.add(row)
    session.flush()
    return IssuedSource(source=_view(row), write_key=write_key)


def list_tracking_sources(
    session: Session, *, after_id: int = 0, limit: int = 50, principal: Principal | None = None
) -> list[SourceView]:
    """Sources by ascending id."""
    _require_admin(principal)
    rows = session.scalars(
        select(TrackingSource)
        .where(TrackingSource.id > after_id)
        .order_by(TrackingSource.id)
        .limit(limit)
    )
    return [_view(row) for row in rows]


def source_for_write_key(session: Session, *, write_key: str) -> SourceRef:
    """The active source a write key belongs to, or Unauthorized."""
    row = session.scalar(
        select(TrackingSource).where(TrackingSource.write_key_hash == hash_secret(write_key))
    )
    if row is None or not row.active:
        raise Unauthorized("unknown or inactive write key")
    return SourceRef(id=row.id, channel_id=row.channel_id)
