"""Channels and the locations that serve them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, UTCDateTime

CHANNEL_KINDS = ("web", "app", "pos", "marketplace", "social", "messaging")


class Channel(Base):
    """A place where the merchant sells, with its currency and stock buffer policy."""

    __tablename__ = "channels"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('web', 'app', 'pos', 'marketplace', 'social', 'messaging')", name="kind"
        ),
        CheckConstraint("buffer_percent_shown BETWEEN 0 AND 100", name="buffer_percent"),
        CheckConstraint("buffer_units >= 0", name="buffer_units"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    buffer_percent_shown: Mapped[int] = mapped_column(Integer, default=100)
    buffer_units: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelLocation(Base):
    """A location serving a channel, for shipping or for pickup."""

    __tablename__ = "channel_locations"
    __table_args__ = (CheckConstraint("mode IN ('ship', 'pickup')", name="mode"),)

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
