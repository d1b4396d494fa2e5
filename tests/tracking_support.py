"""What the tracking tests share: an API client whose events go to a temporary store, and
an outbox delivery that a test can kill half-way."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
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
