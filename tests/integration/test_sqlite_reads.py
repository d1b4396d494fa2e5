"""On SQLite, read-only sessions do not queue behind a writer (WAL snapshot reads)."""

from __future__ import annotations

import threading

from sqlalchemy import text

from omnicart.db.engine import Database


def test_a_read_proceeds_while_a_writer_holds_the_lock(sqlite_db: Database) -> None:
    locked, release = threading.Event(), threading.Event()
    held_until_released: list[bool] = []

    def writer() -> None:
        with sqlite_db.transaction() as s:  # BEGIN IMMEDIATE: the write lock
            s.execute(text("SELECT 1"))
            locked.set()
            held_until_released.append(release.wait(timeout=20))

    thread = threading.Thread(target=writer)
    thread.start()
    assert locked.wait(timeout=20)
    with sqlite_db.reading() as s:
        assert s.execute(text("SELECT count(*) FROM variants")).scalar() == 0
    writer_still_waiting = thread.is_alive()
    release.set()
    thread.join(timeout=20)
    assert writer_still_waiting
    assert held_until_released == [True]
