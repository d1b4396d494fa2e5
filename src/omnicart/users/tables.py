"""Staff users, their console sessions, and the key signing session cookies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from omnicart.db.base import Base
from omnicart.db.types import BigId, UTCDateTime


class StaffUser(Base):
    """A person who signs in to the console: an admin, an analyst, or a store's staff."""

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'analyst', 'staff')", name="role"),
        CheckConstraint("(role = 'staff') = (location_id IS NOT NULL)", name="store"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # Argon2id in PHC format: parameters, salt and hash; never the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The console's language for this user (users.model.LOCALES); NULL: the browser's.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)


class ConsoleSession(Base):
    """A signed-in browser: only a hash of its token is stored; signing out deletes it."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsoleKey(Base):
    """The key signing console cookies when `OMNICART_CONSOLE_KEY` is unset: made once."""

    __tablename__ = "console_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
