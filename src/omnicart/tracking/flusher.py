"""Who fills the event store: the flusher thread, and a store opened with everything in it.

The store (store.py) only keeps events; this module brings them in. While it holds the
store lock, a `Flusher` moves the spool into DuckDB, delivers the order book's outbox
(outbox.py) and resolves the people behind newly stored events (identities.py). Each
server worker runs one when the rounds run inline (OMNICART_BACKGROUND=inline); otherwise
the worker process does. `open_current_store` is a store with every acknowledged event
and every settled outbox event in it, for readers that must see them all.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from omnicart.db.engine import Database
from omnicart.tracking.identities import resolve_identities_once
from omnicart.tracking.outbox import OUTBOX_PAGE, deliver_outbox, deliver_outbox_once
from omnicart.tracking.store import EventStore, StoreBusy, StoreLock, open_store

log = logging.getLogger(__name__)


@contextlib.contextmanager
def open_current_store(
    events_path: Path, *, db: Database, timeout: float = 30.0
) -> Iterator[EventStore]:
    """The store with every acknowledged event (the spool drained first) and every
    settled outbox event of the order book in it."""
    with open_store(events_path, timeout=timeout) as store:
        deliver_outbox(store, db=db)
        yield store


_OUTBOX_RETRY_S = 5.0


class Flusher:
    """A thread that, while it holds the store lock, moves the spool into DuckDB and,
    given the operational database, delivers the order book's outbox (outbox.py) and
    resolves the people behind stored events (identities.py)."""

    def __init__(
        self,
        events_path: Path,
        *,
        db: Database | None = None,
        poll_s: float = 0.2,
        batch_rows: int = 100_000,
        idle_s: float = 1.0,
        hold_s: float = 5.0,
        outbox_poll_s: float = 0.5,
        people_poll_s: float = 1.0,
    ) -> None:
        self.events_path = events_path
        self.db = db
        self.poll_s, self.idle_s, self.hold_s = poll_s, idle_s, hold_s
        self.batch_rows = batch_rows
        self.outbox_poll_s = outbox_poll_s
        self.people_poll_s = people_poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-flusher", daemon=True)

    def start(self) -> None:
        """Start trying for the lock."""
        self._thread.start()

    def stop(self, *, final_drain_s: float = 2.0) -> None:
        """Stop; drain once more if the lock comes free within `final_drain_s`."""
        self._stop.set()
        self._thread.join()
        with (
            contextlib.suppress(StoreBusy),
            open_store(self.events_path, timeout=final_drain_s) as store,
        ):
            while self.db is not None and self._deliver(store, self.db) >= OUTBOX_PAGE:
                pass

    def _run(self) -> None:
        lock = StoreLock(self.events_path)
        while not self._stop.is_set():
            if not lock.try_acquire():
                self._stop.wait(0.2)
                continue
            try:
                self._hold()
            except Exception:
                log.exception("flushing events to DuckDB failed; retrying")
                self._stop.wait(1.0)
            finally:
                lock.release()
            self._stop.wait(0.1)  # a gap, so other processes get a turn

    @staticmethod
    def _resolve(store: EventStore, db: Database) -> int:
        """One round of identity resolution over newly stored events (identities.py); -1
        if that failed: events keep being stored, and resolution catches up later."""
        try:
            return resolve_identities_once(store, db=db)
        except Exception:
            log.exception("resolving the people behind stored events failed; retrying")
            return -1

    @staticmethod
    def _deliver(store: EventStore, db: Database) -> int:
        """One page of the outbox; -1 if that failed (the operational database is down,
        say): the spool is still flushed meanwhile, and the outbox tried again later."""
        try:
            return deliver_outbox_once(store, db=db, limit=OUTBOX_PAGE)
        except Exception:
            log.exception("delivering the outbox to the event store failed; retrying")
            return -1

    def _hold(self) -> None:
        store = EventStore(self.events_path)
        try:
            started = last_work = time.monotonic()
            outbox_due = people_due = started
            while not self._stop.is_set():
                moved = store.drain_once(max_rows=self.batch_rows)
                more = moved >= self.batch_rows
                if self.db is not None and time.monotonic() >= people_due:
                    # At its own pace, a round a second (identities.py): ingest never waits
                    # for identity resolution, and keeps the CPU it needs.
                    looked_at = self._resolve(store, self.db)
                    people_due = time.monotonic() + (
                        self.people_poll_s if looked_at >= 0 else _OUTBOX_RETRY_S
                    )
                if self.db is not None and time.monotonic() >= outbox_due:
                    # The outbox is polled less often: it is a query on the operational DB.
                    delivered = self._deliver(store, self.db)
                    pause = self.outbox_poll_s if delivered >= 0 else _OUTBOX_RETRY_S
                    if delivered < OUTBOX_PAGE:
                        outbox_due = time.monotonic() + pause
                    moved += max(delivered, 0)
                    more = more or delivered >= OUTBOX_PAGE
                if moved:
                    last_work = time.monotonic()
                if not more:
                    # Each DuckDB commit costs as much as thousands of rows: wait for the
                    # spool to gather a large batch (an event is durable in it already).
                    self._stop.wait(self.poll_s)
                now = time.monotonic()
                if now - last_work > self.idle_s or now - started > self.hold_s:
                    break
        finally:
            store.close()
