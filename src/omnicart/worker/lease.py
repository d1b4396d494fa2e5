"""A lease in the operational database: at most one holder at a time, taken over once it
lapses.

Taking it is one statement (an upsert that only overwrites a lapsed lease or the holder's
own), so two workers starting at once cannot both win; each take-over raises `epoch`, and
a renewal names the epoch it holds, so a worker that paused past its expiry learns it has
lost the lease at its next renewal instead of renewing someone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.worker.tables import WorkerLease


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease held: by whom, since which take-over, and until when."""

    name: str
    holder: str
    epoch: int
    expires_at: datetime


def try_acquire(db: Database, *, name: str, holder: str, ttl_s: float) -> Lease | None:
    """Take the lease if it is free, lapsed or already ours; None if another holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with db.transaction() as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        table = WorkerLease.__table__
        statement = (
            insert(WorkerLease)
            .values(name=name, holder=holder, epoch=1, expires_at=expires)
            .on_conflict_do_update(
                index_elements=["name"],
                set_={"holder": holder, "epoch": table.c.epoch + 1, "expires_at": expires},
                where=(table.c.expires_at < now) | (table.c.holder == holder),
            )
            .returning(table.c.epoch)
        )
        epoch = session.execute(statement).scalar()
    if epoch is None:
        return None
    return Lease(name=name, holder=holder, epoch=int(epoch), expires_at=expires)


def renew(db: Database, lease: Lease, *, ttl_s: float) -> Lease | None:
    """Extend the lease; None if it was lost (it lapsed and another worker took it)."""
    expires = utcnow() + timedelta(seconds=ttl_s)
    with db.transaction() as session:
        changed = session.execute(
            update(WorkerLease)
            .where(
                WorkerLease.name == lease.name,
                WorkerLease.holder == lease.holder,
                WorkerLease.epoch == lease.epoch,
            )
            .values(expires_at=expires)
            .returning(WorkerLease.epoch)
        ).scalar()
    if changed is None:
        return None
    return Lease(name=lease.name, holder=lease.holder, epoch=lease.epoch, expires_at=expires)


def release(db: Database, lease: Lease) -> None:
    """Give the lease up at once (a clean stop), so a standby need not wait for it to lapse."""
    with db.transaction() as session:
        session.execute(
            update(WorkerLease)
            .where(
                WorkerLease.name == lease.name,
                WorkerLease.holder == lease.holder,
                WorkerLease.epoch == lease.epoch,
            )
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def holder_of(db: Database, name: str) -> Lease | None:
    """The lease as it stands (held or lapsed); None if never taken."""
    with db.reading() as session:
        row = session.get(WorkerLease, name)
        if row is None:
            return None
        return Lease(name=row.name, holder=row.holder, epoch=row.epoch, expires_at=row.expires_at)
