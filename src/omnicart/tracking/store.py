"""The event store: one DuckDB file, filled from the spool by one flusher at a time.

Why a spool in front of DuckDB: DuckDB lets one process write a database file, but the
API may run several uvicorn worker processes, and an event answered with 2xx must
survive a SIGKILL straight after. So no request touches DuckDB. Each worker appends the
request's checked rows to its own fsync'd spool segment (spool.py) and answers once they
are on disk. Whoever holds `<events>.lock` (an exclusive `flock`) is the flusher: it
opens DuckDB, moves new spool records into the `events` table in large batches, and
records how far it has read each segment in `spool_progress` *in the same DuckDB
transaction* as the rows. A crash at any point therefore either keeps both the rows and
the new offset or neither, and the records are read again from the old offset: nothing
is lost and nothing is stored twice. The primary key (source_id, message_id) drops
events a client sent twice, also across restarts; within one flush the first wins.

Every server worker runs a `Flusher` thread that tries for the lock; the OS hands it to
the next one when the holder dies. With `OMNICART_EVENTS_FLUSHER=process` the workers
only spool, and one `omnicart events flusher` process does the flushing: then no
worker's requests wait while a batch is converted for DuckDB. Command-line readers
(`omnicart events ...`) take the same lock, drain the spool first, and so see every
acknowledged event. A busy flusher lets go of the lock every few seconds so they get
their turn.

The lock holder also delivers the order book's outbox (outbox.py) when it has the
operational database: the outbox is a feed, and its position is committed in
`feed_progress` with the rows, so order events too are stored exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa

from omnicart.db.feed import FeedPosition
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.tracking.model import COLUMNS, OUTBOX_SOURCE_ID, from_micros
from omnicart.tracking.spool import is_finished, read_records, segments

log = logging.getLogger(__name__)

STORE_COLUMNS = ("source_id", "channel_id", *COLUMNS, "received_at")
# Added after the first stores were made: created on every open, if missing.
_LATER_TABLES = """
CREATE TABLE IF NOT EXISTS feed_progress (
    feed VARCHAR PRIMARY KEY,
    tx_id BIGINT NOT NULL,
    row_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    directory VARCHAR PRIMARY KEY,
    written_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressed_events (
    day DATE NOT NULL,
    source_id BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    stripped BIGINT NOT NULL,
    PRIMARY KEY (day, source_id)
);
"""
_COUNT_SUPPRESSED = """
INSERT INTO suppressed_events VALUES (?, ?, ?, ?)
ON CONFLICT (day, source_id) DO UPDATE
SET dropped = dropped + excluded.dropped, stripped = stripped + excluded.stripped
"""
_TIME_COLUMNS = frozenset({"timestamp", "original_timestamp", "sent_at", "received_at"})
_INT_COLUMNS = frozenset({"source_id", "channel_id"})
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS events (
    source_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    message_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    event VARCHAR,
    category VARCHAR,
    user_id VARCHAR,
    anonymous_id VARCHAR,
    group_id VARCHAR,
    previous_id VARCHAR,
    timestamp TIMESTAMPTZ NOT NULL,
    original_timestamp TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    properties VARCHAR,
    traits VARCHAR,
    context VARCHAR,
    integrations VARCHAR,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_id, message_id)
);
CREATE TABLE IF NOT EXISTS spool_progress (
    segment VARCHAR PRIMARY KEY,
    committed_offset BIGINT NOT NULL
);
"""
    + _LATER_TABLES
)
ARROW_SCHEMA = pa.schema(
    [
        (
            name,
            pa.int64()
            if name in _INT_COLUMNS
            else pa.timestamp("us", tz="UTC")
            if name in _TIME_COLUMNS
            else pa.string(),
        )
        for name in STORE_COLUMNS
    ]
)
_INSERT = f"INSERT OR IGNORE INTO events ({', '.join(STORE_COLUMNS)}) SELECT * FROM batch"  # noqa: S608


def spool_dir(events_path: Path) -> Path:
    """Where the server processes spool events for this store."""
    return events_path.with_name(events_path.name + ".spool")


class StoreBusy(Conflict):
    """Another process holds the event store for longer than we would wait."""

    type_slug = "store-busy"
    title = "Event store busy"


class StoreLock:
    """The exclusive right to open the DuckDB file: an flock on `<events>.lock`."""

    def __init__(self, events_path: Path) -> None:
        self.path = events_path.with_name(events_path.name + ".lock")
        self._handle: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def acquire(self, *, timeout: float) -> None:
        """Take the lock, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise StoreBusy(f"the event store {self.path.stem} stayed busy for {timeout:g}s")
            time.sleep(0.02)

    def release(self) -> None:
        """Let the lock go."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# (UTC day, source id) -> [dropped, stripped]: events of erased people (ingest.py).
Suppressed = dict[tuple[date, int], list[int]]


@dataclass(frozen=True, slots=True)
class SuppressedCount:
    """Events of erased people that one source sent on one (UTC) day."""

    day: date
    source_id: int
    dropped: int
    stripped: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as stored."""

    source_id: int
    channel_id: int
    message_id: str
    type: str
    event: str | None
    category: str | None
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None
    context: dict[str, Any] | None
    integrations: dict[str, Any] | None
    received_at: datetime


_JSON_FIELDS = frozenset({"properties", "traits", "context", "integrations"})


def _stored(names: Sequence[str], row: Sequence[Any]) -> StoredEvent:
    values = {}
    for name, value in zip(names, row, strict=True):
        if value is not None and name in _JSON_FIELDS:
            value = orjson.loads(value)  # noqa: PLW2901
        elif value is not None and name in _TIME_COLUMNS:
            value = from_micros(value)  # noqa: PLW2901
        values[name] = value
    return StoredEvent(**values)


class EventStore:
    """An open DuckDB event store; only the lock holder has one."""

    def __init__(self, events_path: Path) -> None:
        self.path = events_path
        self.spool = spool_dir(events_path)
        _create_atomically(events_path)
        self.conn = duckdb.connect(str(events_path))
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(_LATER_TABLES)
        self._offsets: dict[str, int] = dict(
            self.conn.execute("SELECT segment, committed_offset FROM spool_progress").fetchall()
        )
        self._handles: dict[str, IO[bytes]] = {}
        self._forget_missing()

    def close(self) -> None:
        """Close the segments and the database."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        self.conn.close()

    def _forget_missing(self) -> None:
        # A segment deleted after its last rows were committed leaves a stale offset.
        present = {p.name for p in segments(self.spool)}
        for name in [n for n in self._offsets if n not in present]:
            self.conn.execute("DELETE FROM spool_progress WHERE segment = ?", [name])
            del self._offsets[name]

    def drain_once(self, *, max_rows: int = 100_000) -> int:
        """Move one batch of spooled records into `events`; the rows read (before dedupe)."""
        columns: list[list[Any]] = [[] for _ in STORE_COLUMNS]
        suppressed: Suppressed = {}
        offsets: dict[str, int] = {}
        finished: list[Path] = []
        rows = 0
        for path in segments(self.spool):
            if rows >= max_rows:
                break
            done = is_finished(path)  # before reading: then everything read is final
            handle = self._handles.get(path.name)
            if handle is None:
                handle = self._handles[path.name] = path.open("rb")
            offset = self._offsets.get(path.name, 0)
            while rows < max_rows:
                chunk = read_records(handle, offset)
                if not chunk.records:
                    if done:  # whatever is left is a tail that was never acknowledged
                        finished.append(path)
                    break
                for payload in chunk.records:
                    rows += _add_record(columns, payload, suppressed)
                offset = chunk.end
            if offset != self._offsets.get(path.name, 0):
                offsets[path.name] = offset
        if offsets:
            self._commit(columns, offsets=offsets, suppressed=suppressed)
        for path in finished:
            self._retire(path)
        return rows

    def drain(self) -> int:
        """Drain until the spool holds nothing new; the rows read."""
        total = 0
        while moved := self.drain_once():
            total += moved
        # One more pass retires segments whose writers let go after the last read.
        self.drain_once()
        return total

    def _commit(
        self,
        columns: list[list[Any]],
        *,
        offsets: dict[str, int] | None = None,
        feed: tuple[str, FeedPosition] | None = None,
        suppressed: Suppressed | None = None,
    ) -> None:
        """Insert rows, count the suppressed events their records held, and record how far
        their spool segments or feed were read, as one transaction: a crash keeps all
        or none, so every event is stored (or counted) once."""
        columns = _first_of_each(columns)
        batch = pa.Table.from_arrays(
            [pa.array(col, type=ARROW_SCHEMA.field(i).type) for i, col in enumerate(columns)],
            schema=ARROW_SCHEMA,
        )
        conn = self.conn
        conn.execute("BEGIN")
        try:
            if batch.num_rows:
                conn.register("batch", batch)
                conn.execute(_INSERT)
                conn.unregister("batch")
            if suppressed:
                conn.executemany(
                    _COUNT_SUPPRESSED,
                    [[day, source, *counts] for (day, source), counts in suppressed.items()],
                )
            if offsets:
                conn.executemany(
                    "INSERT OR REPLACE INTO spool_progress VALUES (?, ?)", list(offsets.items())
                )
            if feed is not None:
                name, position = feed
                conn.execute(
                    "INSERT OR REPLACE INTO feed_progress VALUES (?, ?, ?)",
                    [name, position.tx_id, position.id],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if offsets:
            self._offsets.update(offsets)

    def commit_rows(self, rows: Sequence[Sequence[Any]], *, feed: tuple[str, FeedPosition]) -> None:
        """Store rows (STORE_COLUMNS order, times in epoch microseconds) and the position
        reached in the feed they came from, in one transaction."""
        columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] or [
            [] for _ in STORE_COLUMNS
        ]
        self._commit(columns, feed=feed)

    def feed_position(self, feed: str) -> FeedPosition:
        """How far the store has read a feed (the start if never)."""
        row = self.conn.execute(
            "SELECT tx_id, row_id FROM feed_progress WHERE feed = ?", [feed]
        ).fetchone()
        return FeedPosition(int(row[0]), int(row[1])) if row else FeedPosition()

    def latest_of_outbox_orders(
        self, anonymous_ids: Sequence[str]
    ) -> dict[str, tuple[int, str | None]]:
        """(channel id, userId) of the latest stored outbox event of each order."""
        rows = self.conn.execute(
            "SELECT anonymous_id, channel_id, user_id FROM events "
            "WHERE source_id = ? AND anonymous_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY timestamp, CAST(substr(message_id, 8) AS BIGINT)",
            [OUTBOX_SOURCE_ID, list(anonymous_ids)],
        ).fetchall()
        return {str(a): (int(c), u) for a, c, u in rows}

    def _retire(self, path: Path) -> None:
        handle = self._handles.pop(path.name, None)
        if handle is not None:
            handle.close()
        path.unlink(missing_ok=True)
        if path.name in self._offsets:
            self.conn.execute("DELETE FROM spool_progress WHERE segment = ?", [path.name])
            del self._offsets[path.name]

    # --- erasure -------------------------------------------------------------------------

    def compact(self) -> None:
        """Rebuild the DuckDB file from its tables (the caller holds the lock).

        DuckDB keeps the old version of an updated row in the file's free blocks; after
        an erasure the file is written afresh, so no erased value stays on disk. The new
        file is built under a temporary name and renamed into place: a crash leaves the
        old file or the new one, both whole, with the same rows and spool offsets.
        """
        self.conn.execute("CHECKPOINT")
        self.conn.close()
        temp = self.path.with_name(f".{self.path.name}.new.compact")
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        old = str(self.path).replace("'", "''")
        with duckdb.connect(str(temp)) as conn:
            conn.execute(SCHEMA)
            conn.execute(f"ATTACH '{old}' AS old (READ_ONLY)")
            for table in (
                "events",
                "spool_progress",
                "feed_progress",
                "exports",
                "suppressed_events",
            ):
                # In rowid order, so every row keeps its rowid (identities.py reads by it).
                conn.execute(
                    f"INSERT INTO {table} SELECT * FROM old.{table} ORDER BY rowid"  # noqa: S608
                )
            conn.execute("DETACH old")
            conn.execute("CHECKPOINT")
        _fsync_file(temp)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        temp.replace(self.path)
        _fsync_file(self.path.parent)
        self.conn = duckdb.connect(str(self.path))
        self.conn.execute("SET TimeZone = 'UTC'")

    def scrub_spool(self) -> None:
        """Overwrite with zeros what spool segments still hold of stored events.

        A segment is deleted once its writer lets it go and it is stored; until then
        (a live server's segment) its stored part is dead weight that a reader never
        reads again (it starts at the committed offset), so erasure zeroes it.
        """
        zeros = bytes(1024 * 1024)
        for path in segments(self.spool):
            end = self._offsets.get(path.name, 0)
            if not end:
                continue
            try:
                fd = os.open(path, os.O_WRONLY)
            except FileNotFoundError:
                continue
            try:
                for start in range(0, end, len(zeros)):
                    os.pwrite(fd, zeros[: min(len(zeros), end - start)], start)
                os.fsync(fd)
            finally:
                os.close(fd)

    # --- reading -------------------------------------------------------------------------

    def find(
        self,
        *,
        source_id: int | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        message_id: str | None = None,
        limit: int = 1_000,
    ) -> list[StoredEvent]:
        """Events matching every given filter, oldest (corrected timestamp) first."""
        clauses, params = [], []
        for column, value in (
            ("source_id", source_id),
            ("user_id", user_id),
            ("anonymous_id", anonymous_id),
            ("message_id", message_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses) or "TRUE"
        # Times leave DuckDB as epoch microseconds: its TIMESTAMPTZ conversion needs pytz.
        selected = ", ".join(
            f"epoch_us({c}) AS {c}" if c in _TIME_COLUMNS else c for c in STORE_COLUMNS
        )
        cursor = self.conn.execute(
            f"SELECT {selected} FROM events WHERE {where} "  # noqa: S608
            "ORDER BY timestamp, message_id LIMIT ?",
            [*params, limit],
        )
        names = [d[0] for d in cursor.description]
        return [_stored(names, row) for row in cursor.fetchall()]

    def count(self, *, source_id: int | None = None, event: str | None = None) -> int:
        """How many events are stored (of one source, of one name, if given)."""
        row = self.conn.execute(
            "SELECT count(*) FROM events WHERE (? IS NULL OR source_id = ?) "
            "AND (? IS NULL OR event = ?)",
            [source_id, source_id, event, event],
        ).fetchone()
        return int(row[0]) if row else 0

    def suppressed_counts(self) -> list[SuppressedCount]:
        """Events of erased people dropped or stripped on arrival, per day and source."""
        rows = self.conn.execute(
            "SELECT day, source_id, dropped, stripped FROM suppressed_events "
            "ORDER BY day, source_id"
        ).fetchall()
        return [SuppressedCount(d, int(s), int(n), int(m)) for d, s, n, m in rows]

    def export_parquet(self, directory: Path) -> list[tuple[str, int]]:
        """Write every event as Parquet under `directory/day=YYYY-MM-DD/` (UTC day of the
        corrected timestamp); the (day, events) written. The folder must be new or empty."""
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise ValidationFailed(
                f"{directory} must be an empty folder or not exist yet", field="to"
            )
        directory.mkdir(parents=True, exist_ok=True)
        # Remembered, so that an erasure rewrites this export too (see erasure.py).
        self.conn.execute(
            "INSERT OR REPLACE INTO exports VALUES (?, now())", [str(directory.resolve())]
        )
        target = str(directory).replace("'", "''")
        self.conn.execute(
            f"COPY (SELECT *, strftime(timestamp, '%Y-%m-%d') AS day FROM events "  # noqa: S608
            f"ORDER BY timestamp) TO '{target}' (FORMAT parquet, PARTITION_BY (day))"
        )
        return [
            (str(day), int(n))
            for day, n in self.conn.execute(
                "SELECT strftime(timestamp, '%Y-%m-%d') AS day, count(*) FROM events "
                "GROUP BY day ORDER BY day"
            ).fetchall()
        ]


def _create_atomically(events_path: Path) -> None:
    """Create the DuckDB file whole or not at all (the caller holds the store lock).

    DuckDB writes a new file's header in several steps; a process killed between them
    leaves a file DuckDB refuses to open. So a new store is built under a temporary
    name and renamed into place.
    """
    if events_path.exists():
        return
    events_path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in events_path.parent.glob(f".{events_path.name}.new*"):
        leftover.unlink()  # from a creation that was killed half-way
    temp = events_path.with_name(f".{events_path.name}.new")
    with duckdb.connect(str(temp)) as conn:
        conn.execute(SCHEMA)
        conn.execute("CHECKPOINT")
    _fsync_file(temp)
    temp.replace(events_path)
    _fsync_file(events_path.parent)


def _fsync_file(path: Path) -> None:
    """fsync a file or a folder (for a rename in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _add_record(columns: list[list[Any]], payload: bytes, suppressed: Suppressed) -> int:
    record = orjson.loads(payload)
    if counted := record.get("suppressed"):
        day = from_micros(record["received_at"]).date()
        counts = suppressed.setdefault((day, record["source_id"]), [0, 0])
        counts[0] += counted.get("dropped", 0)
        counts[1] += counted.get("stripped", 0)
    rows: list[list[Any]] = record["rows"]
    n = len(rows)
    columns[0].extend([record["source_id"]] * n)
    columns[1].extend([record["channel_id"]] * n)
    for index, values in enumerate(zip(*rows, strict=True), start=2):
        columns[index].extend(values)
    columns[-1].extend([record["received_at"]] * n)
    return n


def _first_of_each(columns: list[list[Any]]) -> list[list[Any]]:
    # Two copies of one message in the same flush: keep the first, as a later flush would.
    keys = list(zip(columns[0], columns[2], strict=True))
    if len(set(keys)) == len(keys):
        return columns
    seen: set[tuple[int, str]] = set()
    keep = []
    for index, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep.append(index)
    return [[column[i] for i in keep] for column in columns]


@contextlib.contextmanager
def open_store(events_path: Path, *, timeout: float = 30.0) -> Iterator[EventStore]:
    """The store, with every acknowledged event in it (the spool is drained first); with
    the order book's settled outbox events too: `tracking.flusher.open_current_store`."""
    lock = StoreLock(events_path)
    lock.acquire(timeout=timeout)
    try:
        store = EventStore(events_path)
        try:
            store.drain()
            yield store
        finally:
            store.close()
    finally:
        lock.release()


def remove_store(events_path: Path) -> None:
    """Delete a store, its spool and its lock file (tests and benchmarks)."""
    for path in (events_path, events_path.with_name(events_path.name + ".wal")):
        path.unlink(missing_ok=True)
    for segment in segments(spool_dir(events_path)):
        segment.unlink()
    with contextlib.suppress(OSError):
        os.rmdir(spool_dir(events_path))
