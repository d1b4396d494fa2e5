"""Staff users: create, list, disable; sign in (with lock-out), sessions, sign out.

Passwords are stored as Argon2id hashes (argon2-cffi) and never logged, shown or
returned. A session is a random token held by the browser; only its SHA-256 is stored,
so the table leaks no usable session, and signing out or disabling a user deletes it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from weakref import WeakKeyDictionary

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, bindparam, case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.auth.service import DEFAULT_SCOPES, Principal
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, Unauthorized
from omnicart.settings import get_settings
from omnicart.users.model import (
    FAILURE_WINDOW,
    MAX_FAILURES,
    SESSION_LIFETIME,
    Failures,
    check_email,
    check_locale,
    check_password,
    check_role,
)
from omnicart.users.tables import ConsoleKey, ConsoleSession, StaffUser

_hasher = PasswordHasher()
# Checked when the e-mail is unknown, so that an unknown address takes as long to refuse
# as a wrong password and the answer's timing does not tell which addresses exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_KEY_ID = 1
_keys: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()
REFUSED = "wrong e-mail or password"


class SignInRefused(Unauthorized):
    """Wrong e-mail or password, a disabled user, or a locked account (`locked`)."""

    def __init__(self, detail: str, *, locked: bool = False) -> None:
        super().__init__(detail, field="email")
        self.locked = locked


@dataclass(frozen=True, slots=True)
class UserPrincipal(Principal):
    """A signed-in staff user, seen by the access rules exactly as an API key of its role;
    `locale` is the console language they chose (None: their browser's)."""

    locale: str | None = None
    KIND: ClassVar[str] = "user"
    ITSELF: ClassVar[str] = "your account"
    WHOSE: ClassVar[str] = "your"

    @property
    def actor(self) -> str:
        """How this user is named in the ledger (a 120-character column)."""
        return f"user:{self.key_id}:{self.name}"[:120]


@dataclass(frozen=True, slots=True)
class UserView:
    """A staff user as the service hands it out (never the hash)."""

    id: int
    email: str
    role: str
    location_id: int | None
    disabled: bool
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime
    locale: str | None  # None: the browser's language


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: `token` goes to the browser, once."""

    token: str
    principal: UserPrincipal
    expires_at: datetime


def _view(row: StaffUser, now: datetime) -> UserView:
    failures = Failures(row.failed_sign_ins, row.failures_since)
    return UserView(
        id=row.id,
        email=row.email,
        role=row.role,
        location_id=row.location_id,
        disabled=row.disabled_at is not None,
        locked_until=failures.locked_until() if failures.is_locked(now) else None,
        last_sign_in_at=row.last_sign_in_at,
        created_at=row.created_at,
        locale=row.locale,
    )


def principal_of(row: StaffUser) -> UserPrincipal:
    """The principal the access rules check: the role's API scopes, its store."""
    return UserPrincipal(
        key_id=row.id,
        name=row.email,
        role=row.role,
        scopes=frozenset(DEFAULT_SCOPES[row.role]),
        location_id=row.location_id,
        locale=row.locale,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    location_id: int | None = None,
    locale: str | None = None,
) -> UserView:
    """A new staff user (`locale`: their console language, None or "auto" for the
    browser's); Conflict when the e-mail is taken."""
    address = check_email(email)
    check_role(role, location_id=location_id)
    language = check_locale(locale)
    digest = _hasher.hash(check_password(password))
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise Conflict(f"a user with the e-mail {address} exists", field="email")
    now = utcnow()
    row = StaffUser(
        email=address,
        password_hash=digest,
        role=role,
        location_id=location_id,
        failed_sign_ins=0,
        created_at=now,
        locale=language,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # made by another process since the check above
        raise Conflict(f"a user with the e-mail {address} exists", field="email") from None
    return _view(row, now)


def list_users(session: Session) -> list[UserView]:
    """Every staff user, oldest first."""
    now = utcnow()
    return [_view(r, now) for r in session.scalars(select(StaffUser).order_by(StaffUser.id))]


def disable_user(session: Session, *, email: str) -> UserView:
    """The user may no longer sign in; their open sessions end at once."""
    address = email.strip().lower()
    row = session.scalar(select(StaffUser).where(StaffUser.email == address).with_for_update())
    if row is None:
        raise NotFound(f"no user has the e-mail {address}", field="email")
    now = utcnow()
    if row.disabled_at is None:
        row.disabled_at = now
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == row.id))
    return _view(row, now)


def set_locale(session: Session, *, email: str, locale: str) -> UserView:
    """The console speaks `locale` (en, pl) to this user, or their browser's language
    ("auto"); ValidationFailed for any other, NotFound for an unknown e-mail."""
    language = check_locale(locale)
    address = email.strip().lower()
    row = session.scalar(select(StaffUser).where(StaffUser.email == address).with_for_update())
    if row is None:
        raise NotFound(f"no user has the e-mail {address}", field="email")
    row.locale = language
    session.flush()
    return _view(row, utcnow())


def _record_failure(session: Session, user_id: int, now: datetime) -> None:
    # One statement, so concurrent wrong guesses are all counted: a new window starts
    # when the last one has passed.
    fresh = (StaffUser.failures_since.is_(None)) | (
        StaffUser.failures_since
        <= bindparam("cutoff", now - FAILURE_WINDOW, StaffUser.failures_since.type)
    )
    at = bindparam("now", now, StaffUser.failures_since.type)
    session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(
            failed_sign_ins=case((fresh, 1), else_=StaffUser.failed_sign_ins + 1),
            failures_since=case((fresh, at), else_=StaffUser.failures_since),
        )
    )


def _refuse_if_locked(row: StaffUser, now: datetime) -> None:
    failures = Failures(row.failed_sign_ins, row.failures_since)
    if failures.is_locked(now):
        raise SignInRefused(
            f"too many failed sign-ins: this account is locked for "
            f"{FAILURE_WINDOW.seconds // 60} minutes after {MAX_FAILURES} failures",
            locked=True,
        )


def sign_in(db: Database, *, email: str, password: str) -> SignedIn:
    """A new session for the right password; SignInRefused otherwise.

    Each failure is counted in the database; after MAX_FAILURES within FAILURE_WINDOW
    the account refuses every password, the right one too, until the window has passed.
    """
    address = email.strip().lower()
    with db.reading() as session:
        row = session.scalar(select(StaffUser).where(StaffUser.email == address))
    now = utcnow()
    if row is not None:
        _refuse_if_locked(row, now)
    # Argon2 takes tens of milliseconds on purpose: no transaction is held meanwhile.
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
        matched = row is not None
    except (VerificationError, InvalidHashError):
        matched = False
    if row is None:
        raise SignInRefused(REFUSED)
    # Hashes made with weaker parameters than today's are replaced at the next sign-in.
    rehashed = (
        _hasher.hash(password)
        if matched and _hasher.check_needs_rehash(row.password_hash)
        else None
    )
    with db.transaction() as session:
        if not matched:
            _record_failure(session, row.id, now)
        else:
            user = session.scalar(select(StaffUser).where(StaffUser.id == row.id).with_for_update())
            if user is not None and user.disabled_at is None:
                # A guess that landed meanwhile may have locked the account.
                _refuse_if_locked(user, now)
                return _open_session(session, user, now, rehashed)
    raise SignInRefused(REFUSED)


def _open_session(
    session: Session, user: StaffUser, now: datetime, rehashed: str | None
) -> SignedIn:
    user.failed_sign_ins = 0
    user.failures_since = None
    user.last_sign_in_at = now
    if rehashed is not None:
        user.password_hash = rehashed
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user.id, ConsoleSession.expires_at <= now
        )
    )
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    session.add(
        ConsoleSession(
            token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=expires
        )
    )
    session.flush()
    return SignedIn(token=token, principal=principal_of(user), expires_at=expires)


def session_principal(db: Database, *, token: str) -> UserPrincipal | None:
    """The user signed in with this session token, or None (unknown, expired, disabled)."""
    with db.reading() as session:
        row = session.scalar(
            select(StaffUser)
            .join(ConsoleSession, ConsoleSession.user_id == StaffUser.id)
            .where(
                ConsoleSession.token_hash == _token_hash(token),
                ConsoleSession.expires_at > utcnow(),
                StaffUser.disabled_at.is_(None),
            )
        )
        return None if row is None else principal_of(row)


def sign_out(db: Database, *, token: str) -> None:
    """End the session with this token (nothing happens when there is none)."""
    with db.transaction() as session:
        session.execute(
            delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token))
        )


def console_key(db: Database) -> str:
    """The key signing console cookies: the setting, or one made once in the database."""
    configured = get_settings().console_key
    if configured:
        return configured
    cached = _keys.get(db.engine)
    if cached is not None:
        return cached
    with db.transaction() as session:
        secret = session.scalar(select(ConsoleKey.secret).where(ConsoleKey.id == _KEY_ID))
        if secret is None:
            try:
                with session.begin_nested():
                    session.add(
                        ConsoleKey(
                            id=_KEY_ID, secret=secrets.token_urlsafe(32), created_at=utcnow()
                        )
                    )
            except IntegrityError:
                pass  # another worker made it at the same moment
            secret = session.scalar(select(ConsoleKey.secret).where(ConsoleKey.id == _KEY_ID))
    assert secret is not None
    _keys[db.engine] = secret
    return secret
