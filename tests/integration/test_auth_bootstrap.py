"""OMNICART_ADMIN_KEY at start: several workers starting at once all come up, sharing
one admin key, also when another worker's transaction is still creating it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from omnicart.app import create_app
from omnicart.auth.service import DEFAULT_SCOPES, ensure_admin_key, hash_secret
from omnicart.auth.tables import ApiKey
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.settings import Settings

SECRET = "oc_bootstrap_admin_secret"
WORKERS = 8


def _start_worker(db: Database) -> int:
    """Start a server over `db` with the admin key configured; the status of one call
    made with that key."""
    app = create_app(db=db, settings=Settings(admin_key=SECRET), sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {SECRET}"}) as client:
        return client.get("/v1/api-keys").status_code


def _keys(db: Database) -> list[ApiKey]:
    with db.reading() as s:
        return list(s.scalars(select(ApiKey)))


def test_workers_starting_at_once_share_one_admin_key(db: Database) -> None:
    gate = threading.Barrier(WORKERS)

    def worker(_: int) -> int:
        gate.wait()
        return _start_worker(db)

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(worker, range(WORKERS)))
    assert statuses == [200] * WORKERS
    [key] = _keys(db)
    assert (key.name, key.role, key.key_hash, key.prefix) == (
        "bootstrap-admin",
        "admin",
        hash_secret(SECRET),
        SECRET[:10],
    )
    assert key.scopes == DEFAULT_SCOPES["admin"]
    assert key.revoked_at is None


def test_a_worker_waits_for_one_still_creating_the_key(pg_db: Database) -> None:
    # Another worker's startup has inserted the key and not committed yet: the naive
    # "look, then insert" finds nothing, then fails on the unique hash once it commits.
    first = pg_db.sessions()
    try:
        issued = ensure_admin_key(first, secret=SECRET)
        first.flush()
        outcome: list[int | BaseException] = []

        def second() -> None:
            try:
                outcome.append(_start_worker(pg_db))
            except BaseException as exc:  # reported by the assertion below
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_a_lock_wait(pg_db)
        first.commit()
    finally:
        first.close()
    thread.join(30)
    assert outcome == [200]
    assert [k.id for k in _keys(pg_db)] == [issued.id]


def test_a_revoked_admin_key_stays_revoked_after_a_restart(db: Database) -> None:
    with db.transaction() as s:
        key_id = ensure_admin_key(s, secret=SECRET).id
        s.get_one(ApiKey, key_id).revoked_at = utcnow()
    assert _start_worker(db) == 401
    [key] = _keys(db)
    assert key.id == key_id
    assert key.revoked_at is not None


def _wait_for_a_lock_wait(db: Database) -> None:
    """Until some session of this database waits for a lock (the second worker, on the
    first one's uncommitted key). Building the app takes seconds on a loaded machine."""
    deadline = time.monotonic() + 120
    while True:
        with db.engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE NOT l.granted AND a.datname = current_database() "
                    "AND a.query ILIKE '%api_keys%'"
                )
            )
        if waiting:
            return
        if time.monotonic() > deadline:
            pytest.fail("the second worker never reached the key")
        time.sleep(0.05)
