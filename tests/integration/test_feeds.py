"""Ledger and event feeds: a reader polling while writers commit out of id order sees
every entry exactly once (ids are taken at insert, transactions commit later)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import OutboxEvent, list_events
from omnicart.inventory import queries, service
from omnicart.inventory.tables import Movement
from tests.support import add_location, add_variant


@pytest.mark.slow
def test_polling_reader_misses_nothing_while_writers_race(db: Database) -> None:
    skus = [f"S{n}" for n in range(8)]
    with db.transaction() as s:
        wh = add_location(s, "wh")
        for sku in skus:
            add_variant(s, sku, low_stock_threshold=0)
    done = threading.Event()
    seen_moves: list[int] = []
    seen_events: list[int] = []

    def write(sku: str) -> None:
        for _ in range(15):
            service.receive_stock(db, location_id=wh, lines=[(sku, 1)])
            service.write_off_stock(db, location_id=wh, lines=[(sku, 1)], reason="test")

    def read() -> None:
        moves, events = FeedPosition(), FeedPosition()
        while True:
            finished = done.is_set()
            with db.reading() as s:
                rows = queries.list_movements(s, after=moves, limit=7)
                found = list_events(s, after=events, limit=5)
            seen_moves.extend(m.id for m, _ in rows)
            seen_events.extend(e.id for e in found)
            if rows:
                moves = position_of(rows[-1][0].tx_id, rows[-1][0].id)
            if found:
                events = position_of(found[-1].tx_id, found[-1].id)
            if finished and not rows and not found and caught_up():
                return

    def caught_up() -> bool:
        # The feed holds rows back while any transaction of the database is in flight
        # (another test's, in another process): an empty page is not yet the end.
        with db.reading() as s:
            written = len(s.scalars(select(Movement.id)).all())
            written += len(s.scalars(select(OutboxEvent.id)).all())
        if len(seen_moves) + len(seen_events) >= written or time.monotonic() > give_up[0]:
            return True  # (giving up leaves the assertions below to say what was missed)
        time.sleep(0.05)
        return False

    give_up = [time.monotonic() + 600.0]

    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(max_workers=len(skus)) as pool:
        list(pool.map(write, skus))
    done.set()
    give_up[0] = time.monotonic() + 90.0
    reader.join(timeout=120)
    with db.reading() as s:
        all_moves = sorted(s.scalars(select(Movement.id)))
        all_events = sorted(s.scalars(select(OutboxEvent.id)))
    assert len(all_moves) == 8 * 30
    assert len(all_events) == 8 * 30  # back in stock / out of stock, every time
    assert sorted(seen_moves) == all_moves
    assert len(seen_moves) == len(set(seen_moves))
    assert sorted(seen_events) == all_events
    assert len(seen_events) == len(set(seen_events))


def test_feed_cursor_rejects_forged_positions() -> None:
    from omnicart.kernel.errors import ValidationFailed

    assert FeedPosition.decode(FeedPosition(5, 9).encode()) == FeedPosition(5, 9)
    for bad in ("garbage!", "eyJhZnRlciI6IHRydWV9", "eyJhZnRlciI6IDkyMjMzNzIwMzY4NTQ3NzU4MDh9"):
        with pytest.raises(ValidationFailed):
            FeedPosition.decode(bad)
