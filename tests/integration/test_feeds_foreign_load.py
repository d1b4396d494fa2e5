"""Feeds while another database of the same PostgreSQL server holds a long transaction
and takes writes: our rows still reach every reader at once, and a transaction of OUR
database that is still running is never passed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from bench.foreign_load import ForeignLoad
from sqlalchemy import select, text

from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, feed_window
from omnicart.db.outbox import OutboxEvent, list_events, record_event
from omnicart.inventory import service
from omnicart.inventory.tables import Movement
from omnicart.orders import service as orders
from omnicart.tracking.flusher import open_current_store
from omnicart.tracking.outbox import OUTBOX_SOURCE_ID
from tests.conftest import PG_URL, require_postgres
from tests.integration import test_feeds
from tests.orders_support import market_order, seed_shop
from tests.support import add_location, add_variant
from tests.tracking_support import tracking_client

pytestmark = pytest.mark.postgres
T = TypeVar("T")

# Far shorter than the foreign transaction lives (the whole test), far longer than our
# own transactions need to end when other tests share the database.
WITHIN_S = 15.0


@pytest.fixture
def foreign_load() -> Iterator[ForeignLoad]:
    """A scratch database on the test server, with a transaction held open there (it has
    an id older than anything this test writes) and commits arriving all the time."""
    require_postgres()
    with ForeignLoad(PG_URL) as load:
        yield load
    assert load.failure is None


def _until(read: Callable[[], T], expected: T) -> T:
    """`read()` once it returns `expected`, or what it returns when time is up."""
    deadline = time.monotonic() + WITHIN_S
    while (found := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _still_loaded(load: ForeignLoad, writes_before: int) -> None:
    """The foreign transaction was open and writes went on the whole time."""
    assert load.running
    assert load.writes > writes_before


def _oldest_of_ours(db: Database) -> int:
    with db.reading() as s:
        return min(s.scalars(select(OutboxEvent.tx_id)))


def test_api_feeds_are_not_held_back_by_another_database(
    pg_db: Database, foreign_load: ForeignLoad, tmp_path: Path
) -> None:
    writes = foreign_load.writes
    with pg_db.transaction() as s:
        wh = add_location(s, "wh")
        add_variant(s, "A", low_stock_threshold=0)
    service.receive_stock(pg_db, location_id=wh, lines=[("A", 3)])
    service.write_off_stock(pg_db, location_id=wh, lines=[("A", 3)], reason="damaged")
    with pg_db.reading() as s:
        moves = list(s.scalars(select(Movement.id).order_by(Movement.id)))
        events = list(s.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)))
    assert len(moves) == 2
    assert events == ["StockBackInStock", "StockOutOfStock"]
    assert foreign_load.held_xid < _oldest_of_ours(pg_db)  # it is what would hold us back

    with tracking_client(pg_db, tmp_path / "events.duckdb") as client:

        def feed(path: str) -> list[object]:
            body = client.get(path).json()
            key = "id" if path == "/v1/movements" else "event_type"
            return [item[key] for item in body["items"]]

        assert _until(lambda: feed("/v1/movements"), moves) == moves
        assert _until(lambda: feed("/v1/events"), events) == events
    _still_loaded(foreign_load, writes)


def test_orm_events_and_outbox_delivery_are_not_held_back(
    pg_db: Database, foreign_load: ForeignLoad, tmp_path: Path
) -> None:
    writes = foreign_load.writes
    with pg_db.transaction() as s:
        record_event(s, event_type="Test", aggregate="t", aggregate_id="1", payload={"a": 1})

    def types() -> list[str]:
        with pg_db.reading() as s:
            return [e.event_type for e in list_events(s)]

    assert _until(types, ["Test"]) == ["Test"]

    shop = seed_shop(pg_db, stock={"A": (5, 0, 0)})
    order = orders.ingest_order(pg_db, market_order(shop, "M-1", [("A", 2)]))
    with pg_db.reading() as s:
        expected = sorted(
            f"outbox-{e.id}"
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.aggregate == "order"))
        )
    assert expected  # Order Completed, Order Routed, ...

    def delivered() -> list[str]:
        with open_current_store(tmp_path / "events.duckdb", db=pg_db) as store:
            found = store.find(source_id=OUTBOX_SOURCE_ID, anonymous_id=f"order-{order.id}")
        return sorted(e.message_id for e in found)

    assert _until(delivered, expected) == expected
    _still_loaded(foreign_load, writes)


@pytest.mark.slow
def test_polling_reader_misses_nothing_under_foreign_load(
    pg_db: Database, foreign_load: ForeignLoad
) -> None:
    writes = foreign_load.writes
    test_feeds.test_polling_reader_misses_nothing_while_writers_race(pg_db)
    _still_loaded(foreign_load, writes)


def test_a_running_transaction_of_ours_is_never_passed(
    pg_db: Database, foreign_load: ForeignLoad
) -> None:
    def types() -> list[str]:
        with pg_db.reading() as s:
            return [e.event_type for e in list_events(s)]

    held = pg_db.sessions()
    try:
        record_event(held, event_type="First", aggregate="t", aggregate_id="1", payload={})
        held.flush()  # written, with the transaction's id, and not committed
        with pg_db.transaction() as s:
            record_event(s, event_type="Second", aggregate="t", aggregate_id="2", payload={})
        for _ in range(5):  # however often it looks, the reader waits for First
            assert types() == []
            time.sleep(0.1)
        # Nor does the writing transaction itself pass its own rows, which it can see.
        assert [e.event_type for e in list_events(held)] == []
        held.commit()
    finally:
        held.close()
    assert _until(types, ["First", "Second"]) == ["First", "Second"]


def test_the_horizon_is_computed_once_per_statement(pg_db: Database) -> None:
    stmt = feed_window(
        select(OutboxEvent.id),
        tx_column=OutboxEvent.tx_id,
        id_column=OutboxEvent.id,
        position=FeedPosition(7, 9),
        dialect="postgresql",
    ).limit(100)
    with pg_db.reading() as s:
        sql = stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(s.scalars(text(f"EXPLAIN {sql}")))
    assert "InitPlan" in plan  # evaluated once, before the rows are read
    assert "SubPlan" not in plan  # not once per row
