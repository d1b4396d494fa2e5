"""API keys: create, authenticate, revoke. Secrets are shown once and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from omnicart.auth.tables import ApiKey
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Forbidden, NotFound, Unauthorized, ValidationFailed

ALL_SCOPES = (
    "catalog:read",
    "catalog:write",
    "channels:read",
    "channels:write",
    "locations:read",
    "locations:write",
    "inventory:read",
    "inventory:write",
    "reservations:write",
    "orders:read",
    "orders:write",
    "customers:read",
    "customers:write",
    "customers:erase",
    "keys:write",
    "analytics:read",
    "connectors:read",
    "connectors:write",
    "webhooks:read",
    "webhooks:write",
)
# A role's default scopes are also the most a key of that role may hold.
DEFAULT_SCOPES = {
    "admin": list(ALL_SCOPES),
    "channel": [
        "catalog:read",
        "channels:read",
        "inventory:read",
        "reservations:write",
        "orders:read",
        "orders:write",
    ],
    "staff": [
        "catalog:read",
        "locations:read",
        "inventory:read",
        "inventory:write",
        "orders:read",
        "orders:write",
        "customers:read",
        "customers:write",
    ],
    # Marketing and finance: reads the figures, changes nothing (no channel, no store).
    "analyst": [
        "analytics:read",
        "catalog:read",
        "channels:read",
        "customers:read",
    ],
}
# Whoever manages keys can mint any key, so only admin keys may, whatever their scopes say.
# Minting keys, and erasing a person everywhere (it cannot be undone), are for admins only.
ADMIN_ONLY_SCOPES = frozenset({"keys:write", "customers:erase"})
# The ledger names the actor "key:{id}:{name}" in a 120-character column.
MAX_KEY_NAME = 80


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's role, scopes and the channel or store it is bound to."""

    key_id: int
    name: str
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    channel_id: int | None = None
    location_id: int | None = None
    # How a refusal names this caller: its kind, itself, and whose (for "… own channel").
    KIND: ClassVar[str] = "key"
    ITSELF: ClassVar[str] = "this API key"
    WHOSE: ClassVar[str] = "its"

    @property
    def actor(self) -> str:
        """How this caller is named in the ledger."""
        return f"key:{self.key_id}:{self.name}"

    @property
    def own_channel(self) -> int | None:
        """The channel a channel's key is confined to (None: any channel)."""
        return self.channel_id if self.role == "channel" else None

    @property
    def own_store(self) -> int | None:
        """The store a staff key is confined to (None: any store)."""
        return self.location_id if self.role == "staff" else None

    def require_scope(self, scope: str) -> None:
        """Raise Forbidden unless the key has `scope` (admins have every scope)."""
        if self.role == "admin":
            return
        if scope in ADMIN_ONLY_SCOPES:
            raise Forbidden(f"only an admin key may use the scope {scope!r}")
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the scope {scope!r}")

    def require_channel(self, channel_id: int, *, field_name: str = "channel") -> None:
        """A channel's key acts only for its own channel."""
        if self.role == "admin":
            return
        if self.role != "channel" or self.channel_id != channel_id:
            raise Forbidden("this API key may only act for its own channel", field=field_name)

    def require_location(self, location_id: int, *, field_name: str = "location") -> None:
        """A store staff key acts only at its own location."""
        if self.role == "admin":
            return
        if self.role != "staff" or self.location_id != location_id:
            raise Forbidden("this API key may only act at its own location", field=field_name)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key: the secret is shown once, here."""

    id: int
    secret: str
    principal: Principal


def hash_secret(secret: str) -> str:
    """The stored form of a key (its secret is random, so a plain SHA-256 suffices)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(row: ApiKey) -> Principal:
    return Principal(
        key_id=row.id,
        name=row.name,
        role=row.role,
        scopes=frozenset(row.scopes),
        channel_id=row.channel_id,
        location_id=row.location_id,
    )


def create_api_key(
    session: Session,
    *,
    name: str,
    role: str,
    channel_id: int | None = None,
    location_id: int | None = None,
    scopes: list[str] | None = None,
    secret: str | None = None,
    principal: Principal | None = None,
) -> IssuedKey:
    """Create a key; a channel key needs a channel, a staff key a location.

    `principal` is who asks (None for operators at the CLI): only an admin key may.
    """
    if principal is not None:
        principal.require_scope("keys:write")
    name = name.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_KEY_NAME} characters", field="name")
    if role not in DEFAULT_SCOPES:
        raise ValidationFailed(f"role must be one of {sorted(DEFAULT_SCOPES)}", field="role")
    if role == "channel" and channel_id is None:
        raise ValidationFailed("a channel key needs a channel", field="channel")
    if role == "staff" and location_id is None:
        raise ValidationFailed("a staff key needs a location", field="location")
    if role in {"admin", "analyst"} and (channel_id is not None or location_id is not None):
        raise ValidationFailed(f"an {role} key names no channel or location", field="role")
    chosen = DEFAULT_SCOPES[role] if scopes is None else scopes
    unknown = sorted(set(chosen) - set(ALL_SCOPES))
    if unknown:
        raise ValidationFailed(f"unknown scopes: {', '.join(unknown)}", field="scopes")
    beyond = sorted(set(chosen) - set(DEFAULT_SCOPES[role]))
    if beyond:
        raise ValidationFailed(
            f"a {role} key may not hold: {', '.join(beyond)}; "
            f"it may hold {', '.join(DEFAULT_SCOPES[role])}",
            field="scopes",
        )
    plain = secret or f"oc_{secrets.token_urlsafe(32)}"
    digest = hash_secret(plain)
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is not None:
        return IssuedKey(id=existing.id, secret=plain, principal=_principal(existing))
    row = ApiKey(
        name=name,
        prefix=plain[:10],
        key_hash=digest,
        role=role,
        channel_id=channel_id if role == "channel" else None,
        location_id=location_id if role == "staff" else None,
        scopes=list(chosen),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return IssuedKey(id=row.id, secret=plain, principal=_principal(row))


def ensure_admin_key(session: Session, *, secret: str, name: str = "bootstrap-admin") -> IssuedKey:
    """The key with this secret, created as an admin key if no key has it yet (the
    server's `OMNICART_ADMIN_KEY` at start).

    Safe when several workers start at once with the same secret: the insert does nothing
    if a key with that hash exists, or waits for the transaction creating one to end and
    then does nothing, so no worker fails on the unique hash; every worker reads the one
    row back. A key that already has this secret is returned as it is, revoked or not, so
    a restart never undoes an operator's revocation.
    """
    if not secret:
        raise ValidationFailed("the admin key's secret must not be empty", field="secret")
    if not 1 <= len(name) <= MAX_KEY_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_KEY_NAME} characters", field="name")
    digest = hash_secret(secret)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ApiKey)
        .values(
            name=name,
            prefix=secret[:10],
            key_hash=digest,
            role="admin",
            scopes=list(DEFAULT_SCOPES["admin"]),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    assert row is not None  # inserted just now, or by a transaction that has committed
    return IssuedKey(id=row.id, secret=secret, principal=_principal(row))


def authenticate(session: Session, *, secret: str) -> Principal:
    """The principal for a presented secret, or Unauthorized."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_secret(secret)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return _principal(row)


def revoke_api_key(session: Session, *, key_id: int) -> None:
    """Revoke a key; it stops working at once."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist", field="key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()


def list_api_keys(session: Session) -> list[ApiKey]:
    """All keys, oldest first (hashes only, never secrets)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
