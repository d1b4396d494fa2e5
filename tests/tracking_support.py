"""What the tracking tests share: an API client whose events go to a temporary store, an
outbox delivery that a test can kill half-way, and a real server for vendors' clients."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.benchmarks.ingest import free_port, merchant, server_env, start_server, stop_server
from omnicart.db.engine import Database
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.outbox import deliver_outbox_once
from omnicart.tracking.service import create_tracking_source
from omnicart.tracking.store import EventStore, StoreLock, open_store
from tests.conftest import ADMIN_SECRET
from tests.support import add_channel


def basic(write_key: str) -> dict[str, str]:
    """Segment's HTTP Basic header: the write key as user name, empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def add_source(db: Database, code: str = "web") -> tuple[int, int, str]:
    """A channel and a tracking source for it: (channel id, source id, write key)."""
    with db.transaction() as session:
        channel_id = add_channel(session, code)
        issued = create_tracking_source(session, channel_id=channel_id, name=f"{code} site")
    return channel_id, issued.source.id, issued.write_key


@contextmanager
def tracking_client(db: Database, events_path: Path) -> Iterator[TestClient]:
    """An admin API client over `db` whose tracking events go to `events_path`."""
    with db.transaction() as session:
        create_api_key(session, name="test-admin", role="admin", secret=ADMIN_SECRET)
    app = create_app(db=db, sweep=False)
    app.state.tracking = Ingestor(db=db, events_path=events_path)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as client:
        yield client


@contextmanager
def stored(events_path: Path) -> Iterator[EventStore]:
    """The event store after every spooled event has been moved in."""
    with open_store(events_path, timeout=10) as store:
        yield store


def deliver_page_by_page(url: str, schema: str, events_path: str) -> None:
    """Deliver the outbox one event per DuckDB transaction, printing the count after
    each commit, until killed (the outbox crash test runs this in a subprocess)."""
    db = Database.from_url(url, schema=None if schema == "-" else schema)
    lock = StoreLock(Path(events_path))
    lock.acquire(timeout=30)
    store = EventStore(Path(events_path))
    delivered = 0
    while read := deliver_outbox_once(store, db=db, limit=1):
        delivered += read
        print(delivered, flush=True)
    print("done", flush=True)
    while True:  # hold the lock until the test kills us
        time.sleep(1)


@dataclass(frozen=True)
class Served:
    """A merchant with a tracking source, served by a real 2-worker server."""

    url: str
    write_key: str
    admin_key: str
    port: int
    events_path: Path

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served_merchant(
    tmp_path: Path,
    *,
    events_path: Path | None = None,
    env: dict[str, str] | None = None,
    prepare: Callable[[Database], object] | None = None,
) -> Iterator[Served]:
    """The benchmark's merchant served by `omnicart.app` under uvicorn on a free port;
    `prepare` runs on its database before the server starts. Stopped afterwards."""
    events = events_path or tmp_path / "events.duckdb"
    with merchant(tmp_path) as (url, write_key):
        db = Database.from_url(url)
        try:
            with db.transaction() as session:
                admin_key = create_api_key(session, name="test-admin", role="admin").secret
            if prepare is not None:
                prepare(db)
        finally:
            db.dispose()
        port = free_port()
        server = start_server(
            port=port,
            env={**server_env(database_url=url, events_path=events), **(env or {})},
            workers=2,
        )
        try:
            yield Served(url, write_key, admin_key, port, events)
        finally:
            stop_server(server)


def customer_when(
    served: Served, *, user_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The customer 360 of `user_id` once `ready` holds for it (the server resolves
    identities in the background); fails after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.post(
            f"{served.host}/v1/customers/search",
            json={"user_id": user_id},
            headers={"Authorization": f"Bearer {served.admin_key}"},
            timeout=60,
        )
        if answer.status_code == 200:
            person: dict[str, Any] = answer.json()
            if ready(person):
                return person
        assert time.monotonic() < deadline, f"not ready in time: {answer.text}"
        time.sleep(0.2)
