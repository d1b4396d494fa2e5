"""The order book's outbox delivered into the event store: every order and return event
once, with who and where it is about, also when delivery runs twice or dies half-way."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omnicart.app import create_app
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent, list_events
from omnicart.orders import service
from omnicart.orders.model import Customer
from omnicart.orders.service import ExternalOrder
from omnicart.settings import Settings
from omnicart.tracking.flusher import Flusher, open_current_store
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.outbox import OUTBOX_SOURCE_ID
from omnicart.tracking.store import open_store
from tests.orders_support import Shop, market_order, seed_shop
from tests.tracking_support import add_source

REPO = Path(__file__).resolve().parents[2]
DELIVER = (
    "import sys; from tests.tracking_support import deliver_page_by_page as d; d(*sys.argv[1:])"
)
ANN = Customer(email="ann@example.com", phone="+48 600 100 200", ref="cust-ann")


def _for(order: ExternalOrder, customer: Customer) -> ExternalOrder:
    return dataclasses.replace(order, draft=dataclasses.replace(order.draft, customer=customer))


def _order_events(db: Database) -> list[tuple[str, str, str]]:
    """(messageId, event name, anonymousId) every order event in the outbox must get."""
    with db.reading() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate == "order").order_by(OutboxEvent.id)
        )
        return sorted((f"outbox-{r.id}", r.event_type, f"order-{r.aggregate_id}") for r in rows)


def _stored_once(events_path: Path, db: Database) -> list[tuple[str, str, str]]:
    """The outbox events in the store, once all are; fails on any stored twice.

    On PostgreSQL the feed holds back rows while older transactions still run (other
    tests' too), so delivery is repeated for a while until every one has come.
    """
    expected = _order_events(db)
    deadline = time.monotonic() + 30
    while True:
        with open_current_store(events_path, db=db) as store:
            rows = store.conn.execute(
                "SELECT message_id, event, anonymous_id, count(*) OVER (PARTITION BY message_id) "
                "FROM events WHERE source_id = ?",
                [OUTBOX_SOURCE_ID],
            ).fetchall()
        assert {n for *_, n in rows} <= {1}
        stored = sorted((m, e, a) for m, e, a, _ in rows)
        if stored == expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def _place(db: Database, shop: Shop) -> tuple[int, int]:
    """An order of Ann's (later cancelled) and an anonymous one: their ids."""
    ann = service.ingest_order(db, _for(market_order(shop, "M-1", [("A", 2)]), ANN))
    service.ingest_order(db, _for(market_order(shop, "M-1", [("A", 2)], cancelled=True), ANN))
    other = service.ingest_order(db, market_order(shop, "M-2", [("B", 1)], price="5.00"))
    return ann.id, other.id


def test_order_events_are_stored_once_with_customer_and_channel(
    db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(db)
    ann_id, other_id = _place(db, shop)
    events = tmp_path / "events.duckdb"
    expected = _order_events(db)
    names = {e for _, e, _ in expected}
    assert {"Order Completed", "Order Routed", "Order Cancelled"} <= names

    assert _stored_once(events, db) == expected
    assert _stored_once(events, db) == expected  # a second delivery adds nothing

    with open_current_store(events, db=db) as store:
        ann = store.find(source_id=OUTBOX_SOURCE_ID, anonymous_id=f"order-{ann_id}")
        other = store.find(source_id=OUTBOX_SOURCE_ID, anonymous_id=f"order-{other_id}")
    assert {e.user_id for e in ann} == {"cust-ann"}  # also on events without a customer
    assert {e.channel_id for e in ann + other} == {shop.market}
    assert {e.user_id for e in other} == {None}
    assert {(e.type, e.source_id) for e in ann + other} == {("track", 0)}
    [completed] = [e for e in other if e.event == "Order Completed"]
    outbox_id = int(completed.message_id.removeprefix("outbox-"))
    with db.reading() as session:
        [payload] = [r.payload for r in list_events(session, limit=10_000) if r.id == outbox_id]
    assert completed.properties == payload  # amounts as the order book wrote them
    assert completed.properties["order_id"] == str(other_id)
    assert completed.context == {
        "library": {"name": "omnicart-outbox", "version": "1"},
        "outbox": {"id": outbox_id, "aggregate": "order"},
    }

    # Orders placed later are delivered on the next pass, and only they.
    service.ingest_order(db, market_order(shop, "M-3", [("A", 1)]))
    now = _order_events(db)
    assert len(now) > len(expected)
    assert _stored_once(events, db) == now


def test_the_server_flusher_delivers_the_outbox(sqlite_db: Database, tmp_path: Path) -> None:
    shop = seed_shop(sqlite_db)
    service.ingest_order(sqlite_db, market_order(shop, "M-1", [("A", 1)]))
    events = tmp_path / "events.duckdb"
    flusher = Flusher(events, db=sqlite_db, idle_s=0.2)
    flusher.start()
    flusher.stop()
    expected = _order_events(sqlite_db)
    with open_store(events) as store:  # no database: only what the flusher stored
        rows = store.conn.execute(
            "SELECT message_id, event, anonymous_id FROM events ORDER BY message_id"
        ).fetchall()
    assert sorted(rows) == expected


def test_a_server_delivers_the_outbox_without_any_tracking_call(
    sqlite_db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(sqlite_db)
    events = tmp_path / "events.duckdb"
    settings = Settings(events_path=str(events), expiry_sweep_seconds=3600)
    with TestClient(create_app(db=sqlite_db, settings=settings)):  # background work on
        service.ingest_order(sqlite_db, market_order(shop, "M-1", [("A", 1)]))
        deadline = time.monotonic() + 30
        while not events.exists():  # the flusher opened the store
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # The server's flusher stored them (its last drain runs as it stops): no database here.
    with open_store(events) as store:
        rows = store.conn.execute(
            "SELECT message_id, event, anonymous_id FROM events ORDER BY message_id"
        ).fetchall()
    assert sorted(rows) == _order_events(sqlite_db)


def test_an_unreachable_outbox_does_not_hold_up_the_spool(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _, _, key = add_source(sqlite_db, "site")
    events = tmp_path / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events, flush=False)
    body = orjson.dumps(
        {"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "m"}]}
    )
    ingestor.accept_sync(body=body, kind="batch", write_key=key)
    ingestor.stop()
    broken = Database.from_url(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        flusher = Flusher(events, db=broken, poll_s=0.02, idle_s=0.2)
        flusher.start()
        flusher.stop()  # logs the outbox failure, raises nothing
    finally:
        broken.dispose()
    with open_store(events) as store:
        assert [e.message_id for e in store.find()] == ["m"]


@pytest.mark.slow
def test_a_delivery_killed_half_way_stores_each_event_once(
    request: pytest.FixtureRequest, db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(db)
    for n in range(6):
        service.ingest_order(db, market_order(shop, f"M-{n}", [("A", 1)]))
    expected = _order_events(db)
    events = tmp_path / "events.duckdb"
    url = db.engine.url.render_as_string(hide_password=False)
    schema = request.getfixturevalue("pg_schema") if db.dialect == "postgresql" else "-"
    for stop_after in (1, 4):
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                DELIVER,
                url,
                schema,
                str(events),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        try:
            while (line := worker.stdout.readline()) and line.strip() != "done":
                if int(line) >= stop_after:
                    break
        finally:
            worker.kill()  # SIGKILL, possibly inside the next DuckDB transaction
            worker.wait()
    assert _stored_once(events, db) == expected
