"""Conversation tables: support cases, their messages from every contact channel, and
the handovers between channels and staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, UTCDateTime


class Conversation(Base):
    """A support case of one customer; it stays one case whichever channel they use."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'pending', 'closed')", name="status"),
        # A customer profile has at most one case that is not closed: a new contact
        # continues it. The database enforces it, so two first contacts at once cannot
        # open two cases.
        Index(
            "uq_conversations_profile_unclosed",
            "profile_id",
            unique=True,
            sqlite_where=text("status <> 'closed'"),
            postgresql_where=text("status <> 'closed'"),
        ),
        Index("ix_conversations_profile_id", "profile_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("customer_profiles.id"))
    status: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200), default="")
    # Where the case is being handled now (chat, email, phone, whatsapp, in_store), by whom.
    channel: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConversationMessage(Base):
    """A message in (from the customer), out (to them) or a staff note, on one channel."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out', 'note')", name="direction"),
        Index("ix_conversation_messages_conversation_at", "conversation_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    author: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConversationHandover(Base):
    """A case passed from one channel (and person) to another, with what the next one
    needs to know so the customer repeats nothing."""

    __tablename__ = "conversation_handovers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    from_channel: Mapped[str] = mapped_column(String(16))
    to_channel: Mapped[str] = mapped_column(String(16))
    from_assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    to_assignee: Mapped[str | None] = mapped_column(String(120), nullable=True)
    by: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
