"""An erasure's event-store step, finished by the background sweep however often it fails.

`erase_customer` erases the database in one transaction and leaves what the event store
step still needs (the person's ids, e-mails and phones) in `customer_pending_erasures`,
sealed with Fernet (`OMNICART_ERASURE_KEY`, or a key generated once and kept in
`customer_erasure_keys`). It then tries that step once. When the step fails (the store
busy, an export folder not writable), `finish_erasures` — one of the server's sweeps —
tries again after 30 s, 1 min, 2 min, … (at most an hour apart) until it succeeds. The
transaction that marks the erasure done deletes the sealed values with it.

Progress (`state`, `attempts`, `next_attempt_at`, `last_error`) is on the erasure's log
row; `last_error` never holds one of the person's values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.customers.tables import CustomerErasure, CustomerErasureKey, CustomerPendingErasure
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound
from omnicart.settings import get_settings
from omnicart.tracking.erasure import erase_people
from omnicart.tracking.store import StoreBusy, StoreLock

log = logging.getLogger(__name__)

PENDING, DONE, SUPERSEDED = "pending", "done", "superseded"
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# An attempt that dies with its process is tried again once this has passed.
LEASE = timedelta(minutes=10)
_KEY_ID = 1
_ERROR_CHARS = 300
_VALUE_KINDS = ("user_ids", "anonymous_ids", "emails", "phones", "identifiers")


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour."""
    doublings = min(max(attempts - 1, 0), 16)  # past the cap long before 2**16
    return min(BACKOFF_BASE * (1 << doublings), BACKOFF_CAP)


def _fernet(session: Session) -> Fernet:
    configured = get_settings().erasure_key
    if configured:
        return Fernet(configured.encode())
    secret = session.scalar(
        select(CustomerErasureKey.secret).where(CustomerErasureKey.id == _KEY_ID)
    )
    if secret is None:
        try:
            with session.begin_nested():
                session.add(
                    CustomerErasureKey(
                        id=_KEY_ID, secret=Fernet.generate_key().decode(), created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # another erasure made it first; read theirs
        secret = session.scalar(
            select(CustomerErasureKey.secret).where(CustomerErasureKey.id == _KEY_ID)
        )
    assert secret is not None
    return Fernet(secret.encode())


def seal(session: Session, values: dict[str, list[str]]) -> dict[str, str]:
    """The values as stored in a pending erasure: one Fernet token."""
    return {"sealed": _fernet(session).encrypt(orjson.dumps(values)).decode()}


def unseal(session: Session, stored: dict[str, Any]) -> dict[str, list[str]]:
    """The values a pending erasure holds (rows of versions before sealing are in clear)."""
    if "sealed" not in stored:
        return {kind: list(stored.get(kind, [])) for kind in _VALUE_KINDS}
    try:
        opened: dict[str, list[str]] = orjson.loads(
            _fernet(session).decrypt(stored["sealed"].encode())
        )
    except InvalidToken:
        # Not a value of the person, and the one thing an operator can act on.
        raise RuntimeError(
            "the pending values do not open with the erasure key: was OMNICART_ERASURE_KEY "
            "changed while this erasure was pending? Put the old key back until it is done"
        ) from None
    return opened


@dataclass(frozen=True, slots=True)
class ErasureStatus:
    """Where an erasure stands; counts and times only."""

    id: int
    customer_id: int
    actor: str
    at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    finished_at: datetime | None
    counts: dict[str, int]


def _status(row: CustomerErasure) -> ErasureStatus:
    return ErasureStatus(
        id=row.id,
        customer_id=row.profile_id,
        actor=row.actor,
        at=row.at,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        finished_at=row.finished_at,
        counts=dict(row.counts),
    )


def erasure_status(db: Database, *, erasure_id: int) -> ErasureStatus:
    """One erasure's progress (NotFound when there is no such erasure)."""
    with db.reading() as session:
        row = session.get(CustomerErasure, erasure_id)
        if row is None:
            raise NotFound(f"erasure {erasure_id} not found")
        return _status(row)


def list_erasures(
    db: Database, *, pending_only: bool = False, limit: int = 100
) -> list[ErasureStatus]:
    """The newest erasures first (only unfinished ones with `pending_only`)."""
    query = select(CustomerErasure).order_by(CustomerErasure.id.desc()).limit(limit)
    if pending_only:
        query = query.where(CustomerErasure.state == PENDING)
    with db.reading() as session:
        return [_status(row) for row in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class _Claim:
    erasure_id: int
    attempts: int
    pseudonym: str
    values: dict[str, list[str]]
    events_path: str | None


def _claim(db: Database, erasure_id: int, now: datetime) -> _Claim | None:
    """Take the next attempt of a due erasure (None when it is not due or another
    worker has it): the lease keeps other workers off it while it runs."""
    with db.transaction() as session:
        taken = session.execute(
            update(CustomerErasure)
            .where(
                CustomerErasure.id == erasure_id,
                CustomerErasure.state == PENDING,
                or_(
                    CustomerErasure.next_attempt_at.is_(None),
                    CustomerErasure.next_attempt_at <= now,
                ),
            )
            .values(attempts=CustomerErasure.attempts + 1, next_attempt_at=now + LEASE)
        )
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        attempts = session.scalar(
            select(CustomerErasure.attempts).where(CustomerErasure.id == erasure_id)
        )
        pending = session.scalar(
            select(CustomerPendingErasure).where(CustomerPendingErasure.erasure_id == erasure_id)
        )
        if pending is None:  # nothing left to erase in the event store
            return _Claim(erasure_id, attempts or 1, "", {}, None)
        return _Claim(
            erasure_id,
            attempts or 1,
            pending.pseudonym,
            unseal(session, pending.values),
            pending.events_path,
        )


def _erase_events(claim: _Claim, default_path: Path | None) -> int:
    path = Path(claim.events_path) if claim.events_path else default_path
    if not claim.values or path is None or not path.exists():
        return 0
    # A busy store is not waited for (erase_people would wait 30 s): the sweep is back soon.
    lock = StoreLock(path)
    if not lock.try_acquire():
        raise StoreBusy(f"the event store {path.name} is busy")
    lock.release()
    return erase_people(
        path,
        user_ids=claim.values.get("user_ids", []),
        anonymous_ids=claim.values.get("anonymous_ids", []),
        emails=claim.values.get("emails", []),
        phones=claim.values.get("phones", []),
        identifiers=claim.values.get("identifiers", []),
        pseudonym=claim.pseudonym,
    )


def _finish(db: Database, claim: _Claim, events: int, now: datetime) -> None:
    """Mark the erasure done and delete its sealed values, in one transaction."""
    with db.transaction() as session:
        row = session.get(CustomerErasure, claim.erasure_id, with_for_update=True)
        if row is None or row.state != PENDING:
            return
        session.execute(
            delete(CustomerPendingErasure).where(
                CustomerPendingErasure.erasure_id == claim.erasure_id
            )
        )
        row.counts = {**row.counts, "events": events}
        row.state = DONE
        row.finished_at = now
        row.next_attempt_at = None
        row.last_error = None


def _describe(exc: BaseException, values: dict[str, list[str]]) -> str:
    """The error for the log row, with any of the person's values blanked out."""
    text = f"{type(exc).__name__}: {exc}"
    personal = sorted({v for vs in values.values() for v in vs if v}, key=len, reverse=True)
    lowered = text.lower()
    for value in personal:
        start = lowered.find(value.lower())
        while start != -1:
            text = text[:start] + "[erased]" + text[start + len(value) :]
            lowered = text.lower()
            start = lowered.find(value.lower())
    return text[:_ERROR_CHARS]


def _fail(db: Database, claim: _Claim, exc: Exception, now: datetime) -> None:
    error = _describe(exc, claim.values)
    retry_at = now + backoff(claim.attempts)
    with db.transaction() as session:
        session.execute(
            update(CustomerErasure)
            .where(CustomerErasure.id == claim.erasure_id, CustomerErasure.state == PENDING)
            .values(next_attempt_at=retry_at, last_error=error)
        )
    log.warning(
        "erasure %s: the event-store step failed (attempt %s), next try at %s: %s",
        claim.erasure_id,
        claim.attempts,
        retry_at.isoformat(),
        error,
    )


def attempt_erasure(
    db: Database,
    *,
    erasure_id: int,
    events_path: Path | None = None,
    now: datetime | None = None,
) -> bool:
    """Try a pending erasure's event-store step once if it is due; True when the
    erasure is done now. A failure is recorded with the time of the next try."""
    when = now or utcnow()
    claim = _claim(db, erasure_id, when)
    if claim is None:
        return False
    try:
        events = _erase_events(claim, events_path)
    except Exception as exc:  # any failure is retried; the error is kept for the operator
        _fail(db, claim, exc, when)
        return False
    _finish(db, claim, events, when)
    return True


def due_erasures(db: Database, *, now: datetime) -> Sequence[int]:
    """The ids of pending erasures whose next attempt is due, oldest first."""
    with db.reading() as session:
        return list(
            session.scalars(
                select(CustomerErasure.id)
                .where(
                    CustomerErasure.state == PENDING,
                    or_(
                        CustomerErasure.next_attempt_at.is_(None),
                        CustomerErasure.next_attempt_at <= now,
                    ),
                )
                .order_by(CustomerErasure.id)
            )
        )


def finish_erasures(db: Database, *, now: datetime | None = None) -> int:
    """The sweep: try every due erasure once; the number finished. Erasures of versions
    before the event store path was recorded use OMNICART_EVENTS_PATH."""
    when = now or utcnow()
    default_path = Path(get_settings().events_path)
    return sum(
        attempt_erasure(db, erasure_id=erasure_id, events_path=default_path, now=when)
        for erasure_id in due_erasures(db, now=when)
    )
