"""The suppression list: erased stays erased.

An erasure puts every identifier the person had on this list, as a keyed hash
(HMAC-SHA256) only, in its own transaction. Whatever arrives later naming one of them (a
redelivered order update, a till sale with their loyalty card, a checkout with their
e-mail, an identify call) is stripped of its personal fields or dropped before anything is
stored. Lifting a suppression (the person came back and consented again) takes an admin
and is logged with the digest, never the value; only data arriving after it is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from omnicart.customers.model import (
    BLOCKED_VALUES,
    KINDS,
    check_kind,
    customer_ref_identifier,
    normalise,
)
from omnicart.customers.tables import (
    CustomerSuppression,
    CustomerSuppressionKey,
    CustomerSuppressionLift,
)
from omnicart.db.cache import CACHE
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound, ValidationFailed
from omnicart.settings import get_settings

IDENTIFIER_KINDS: Final = KINDS
_KEY_ROW: Final = 1
MAX_REASON: Final = 300


@dataclass(frozen=True, slots=True)
class LiftView:
    """A suppression lifted: the log entry (the digest, never the value)."""

    id: int
    kind: str
    digest: str
    actor: str
    reason: str
    at: datetime


def _canonical(kind: str, raw: str) -> str | None:
    """The identifier as identity resolution stores it, or None when it names nobody."""
    check_kind(kind)
    if raw.strip().lower() in BLOCKED_VALUES:
        return None
    value = normalise(kind, raw, region=get_settings().phone_region)
    if value is not None:
        return value
    # Identity resolution refuses some values orders still carry (an address at a test
    # domain, a number outside every numbering plan): those are suppressed as orders
    # store them, so a redelivered order naming them is still caught.
    if kind == "email":
        return raw.strip().lower() or None
    if kind == "phone":
        digits = "".join(c for c in raw if c.isdigit())
        return ("+" if raw.strip().startswith("+") else "") + digits if digits else None
    return raw.strip() or None


def digest(kind: str, value: str, *, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised identifier; the same for every spelling of it
    (`Ewa@Poczta.pl` and `ewa@poczta.pl`, `601 234 567` and `+48601234567`)."""
    canonical = _canonical(kind, value)
    message = f"{kind}\x00{value.strip() if canonical is None else canonical}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# The stored key of each database, once read: it is made once and never changes, so
# every order need not read it again (a database without one yet is asked each time).
# Only a session that did not make it keeps it: one made in a transaction that may
# still roll back is not the database's key yet.
_known_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_MADE_HERE = "made_suppression_key"


def _key_row(bind: Session | Connection) -> bytes | None:
    found = bind.get_bind() if isinstance(bind, Session) else None
    engine = found if isinstance(found, Engine) else None
    cacheable = isinstance(bind, Session) and not bind.info.get(_MADE_HERE)
    if engine is not None and cacheable:
        known = _known_keys.get(engine)
        if known is not None:
            return known

    def read() -> str | None:
        return bind.execute(
            select(CustomerSuppressionKey.secret).where(CustomerSuppressionKey.id == _KEY_ROW)
        ).scalar()

    # That there is no key yet is kept by the process cache until one is made.
    cache = bind.info.get(CACHE) if cacheable else None
    secret = (
        read()
        if cache is None
        else cache.get(("suppression-key",), tables={"customer_suppression_keys"}, load=read)
    )
    if secret is None:
        return None
    key = bytes.fromhex(secret)
    if engine is not None and cacheable:
        _known_keys[engine] = key
    return key


def _dialect(bind: Session | Connection) -> str:
    return bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name


def _configured_key() -> bytes | None:
    configured = get_settings().suppression_key
    return None if configured is None else configured.encode()


def suppression_key(session: Session | Connection) -> bytes:
    """The hash key: `OMNICART_SUPPRESSION_KEY` when set, else a random key made once
    (in this transaction, the first time it is needed) and kept in the database."""
    configured = _configured_key()
    if configured is not None:
        return configured
    stored = _key_row(session)
    if stored is not None:
        return stored
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    session.info[_MADE_HERE] = True
    session.execute(
        insert(CustomerSuppressionKey)
        .values(id=_KEY_ROW, secret=secrets.token_hex(32), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
    )
    made = _key_row(session)  # ours, or a concurrent first erasure's
    assert made is not None
    return made


def _lookup_key(bind: Session | Connection) -> bytes | None:
    """The key if one exists; None means nothing was ever suppressed under a stored key."""
    return _configured_key() or _key_row(bind)


def order_identifiers(
    *,
    channel_kind: str,
    channel_id: int,
    email: str | None,
    phone: str | None,
    ref: str | None,
) -> list[tuple[str, str]]:
    """The identifiers an order's customer block names, as identities store them (a
    marketplace buyer id scoped by its channel, a till's `card:` ref as a loyalty card)."""
    pairs = [("email", email), ("phone", phone)]
    if ref:
        kind, value = customer_ref_identifier(channel_kind, ref)
        if kind == "marketplace_buyer":
            value = normalise(kind, value, region="", channel_id=channel_id) or value
        pairs.append((kind, value))
    return [(kind, value) for kind, value in pairs if value]


def suppress(session: Session, *, identifiers: Iterable[tuple[str, str]], erasure_id: int) -> int:
    """Put the identifiers on the suppression list (hashes only), in the caller's (the
    erasure's) transaction; values that name nobody are skipped. Answers how many were
    added (an identifier already suppressed counts once, under its first erasure)."""
    pairs = {(kind, value) for kind, value in identifiers if _canonical(kind, value) is not None}
    if not pairs:
        return 0
    key = suppression_key(session)
    wanted = {digest(kind, value, key=key): kind for kind, value in pairs}
    known = set(
        session.scalars(
            select(CustomerSuppression.digest).where(CustomerSuppression.digest.in_(wanted))
        )
    )
    now = utcnow()
    fresh = sorted(set(wanted) - known)
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    for item in fresh:  # one statement each: a concurrent erasure of the same id is a no-op
        session.execute(
            insert(CustomerSuppression)
            .values(digest=item, kind=wanted[item], erasure_id=erasure_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
    session.flush()
    return len(fresh)


def is_suppressed(session: Session | Connection, identifiers: Iterable[tuple[str, str]]) -> bool:
    """Whether any of the identifiers belongs to an erased person (is on the list)."""
    pairs = [(kind, value) for kind, value in identifiers if value]
    if not pairs:
        return False
    key = _lookup_key(session)
    if key is None:
        return False
    digests = {digest(kind, value, key=key) for kind, value in pairs}
    found = session.execute(
        select(CustomerSuppression.digest).where(CustomerSuppression.digest.in_(digests)).limit(1)
    ).first()
    return found is not None


def suppressed_digests(session: Session | Connection) -> frozenset[str]:
    """Every digest on the list (for a cached check on a hot path; compare with `digest`
    under `suppression_key`)."""
    return frozenset(session.execute(select(CustomerSuppression.digest)).scalars())


def lift(session: Session, *, kind: str, value: str, actor: str, reason: str) -> LiftView:
    """Take one identifier off the suppression list, logged with who, when, why and its
    digest. Nothing erased comes back: only data arriving from now on is accepted."""
    check_kind(kind)
    if _canonical(kind, value) is None:
        raise ValidationFailed(f"the value is no usable {kind}", field="value")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("say why the suppression is lifted", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason is at most {MAX_REASON} characters", field="reason")
    key = _lookup_key(session)
    item = None if key is None else digest(kind, value, key=key)
    removed = 0
    if item is not None:
        result = session.execute(
            delete(CustomerSuppression).where(CustomerSuppression.digest == item)
        )
        removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if item is None or not removed:
        raise NotFound(f"no suppression for that {kind}", field="value")
    log = CustomerSuppressionLift(
        digest=item, kind=kind, actor=actor[:120], reason=reason, at=utcnow()
    )
    session.add(log)
    session.flush()
    return LiftView(log.id, log.kind, log.digest, log.actor, log.reason, log.at)


def lift_suppression(db: Database, *, kind: str, value: str, actor: str, reason: str) -> LiftView:
    """`lift` as one use case (one transaction), for the API and the CLI."""
    return retrying(lambda: _lift_in_transaction(db, kind, value, actor, reason))


def _lift_in_transaction(db: Database, kind: str, value: str, actor: str, reason: str) -> LiftView:
    with db.transaction() as session:
        return lift(session, kind=kind, value=value, actor=actor, reason=reason)
