"""Rows that rarely change, kept per process and dropped the moment they change.

The order path reads the same few rows for every request: the caller's API key, the
channel with its stock policy, routing rules and serving locations, the suppression key,
the channel's price and listing of each SKU sold and each variant's SKU and threshold.
`ProcessCache.get` keeps what a loader read, under a key and the tables it was read from,
and forgets it when any of those tables changes:

- **in this process**, when a transaction that wrote one of them commits (the engine's
  statements are watched: a data-changing statement naming a watched table marks its
  connection, the commit clears);
- **in any process** (the CLI, another web worker, the worker), by PostgreSQL: a trigger
  on each watched table (migration 0018) sends `NOTIFY omnicart_changes, 'schema.table'`
  when a statement changes it, and one thread per process listens.

Nothing is kept unless the listener is connected and listening, and a value read while a
change arrived is used but not kept (a generation counter), so a value is never kept past
the notice of a change committed after it was read. While the listener is down the cache
is empty and every read goes to the database. On SQLite (one process writes at a time, and
no notices) nothing is kept: every `get` loads.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, event

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)

CHANNEL = "omnicart_changes"
# Where a Database's sessions carry its cache (`Session.info`).
CACHE = "omnicart_cache"
# The tables whose rows may be kept; each has migration 0018's trigger on PostgreSQL.
WATCHED = frozenset(
    {"api_keys", "channels", "channel_locations", "locations", "order_rules",
     "customer_suppression_keys", "variants", "channel_prices", "listings"}
)  # fmt: skip
# Beyond this many keys, everything is dropped (keys are API keys, channels and the
# channels' prices of the SKUs being sold).
MAX_ENTRIES = 65536
# A statement that changes a watched table names it right after its verb.
_CHANGES = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+"
    r"(?:\"?\w+\"?\.)?\"?(" + "|".join(sorted(WATCHED)) + r")\b",
    re.IGNORECASE,
)
_TOUCHED = "omnicart_touched_tables"
# Each engine's cache, for code that holds a connection rather than a session.
_of_engine: weakref.WeakKeyDictionary[Engine, ProcessCache] = weakref.WeakKeyDictionary()


def cache_of(engine: Engine) -> ProcessCache | None:
    """The cache of the Database whose engine this is, if one was made."""
    return _of_engine.get(engine)


class ProcessCache:
    """Values loaded from watched tables, kept until one of those tables changes."""

    def __init__(self, engine: Engine) -> None:
        _of_engine[engine] = self
        self._engine = engine
        self._entries: dict[Hashable, tuple[frozenset[str], Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._run: threading.Event | None = None  # the running listener's stop signal
        self._watching = False
        self._listening = threading.Event()
        self.listener_pid: int | None = None  # the listening connection's server process

    @property
    def live(self) -> bool:
        """Whether values are being kept (the listener is listening)."""
        return self._listening.is_set()

    def peek(self, key: Hashable) -> object | None:
        """The value kept under `key`, or None (nothing is loaded)."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def get(self, key: Hashable, *, tables: Iterable[str], load: Callable[[], T]) -> T:
        """The value kept under `key`, else `load()` (kept while nothing changed meanwhile).

        `tables` names every table `load` reads; each must be in `WATCHED`. What `load`
        raises is raised and nothing is kept.
        """
        entry = self._entries.get(key)  # every request asks: a kept value costs nothing more
        if entry is not None:
            return cast(T, entry[1])
        return self.get_many([key], tables=tables, load=lambda _missing: {key: load()})[key]

    def get_many(
        self,
        keys: Sequence[K],
        *,
        tables: Iterable[str],
        load: Callable[[list[K]], dict[K, T]],
    ) -> dict[K, T]:
        """`get` of many keys at once: those not kept are loaded by one `load(missing)`,
        which leaves out the keys it finds nothing for (they are not kept either)."""
        found: dict[K, T] = {}
        missing: list[K] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                missing.append(key)
            else:
                found[key] = cast(T, entry[1])
        if not missing:
            return found
        depends = frozenset(tables)
        if not depends <= WATCHED:
            raise ValueError(f"not watched for changes: {sorted(depends - WATCHED)}")
        seen = self._generation
        loaded = load(missing)
        with self._lock:
            if self._listening.is_set() and self._generation == seen:
                if len(self._entries) + len(loaded) > MAX_ENTRIES:
                    self._entries.clear()
                self._entries.update((key, (depends, value)) for key, value in loaded.items())
        found.update(loaded)
        return found

    def changed(self, tables: Iterable[str]) -> None:
        """Forget every value read from any of `tables`; loads in flight are not kept."""
        names = frozenset(tables)
        with self._lock:
            self._generation += 1
            for key in [k for k, (depends, _) in self._entries.items() if depends & names]:
                del self._entries[key]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Watch this process's writes and listen for other processes' (PostgreSQL only)."""
        if self._engine.dialect.name != "postgresql" or self._run is not None:
            return
        if not self._watching:
            event.listen(self._engine, "before_cursor_execute", _note_write)
            event.listen(self._engine, "commit", self._on_commit)
            event.listen(self._engine, "rollback", _forget_writes)
            self._watching = True
        run = self._run = threading.Event()  # set: this listener is to stop
        threading.Thread(
            target=self._listen, args=(run,), name="omnicart-changes", daemon=True
        ).start()

    def stop(self) -> None:
        """Keep nothing more; the listener closes its connection within half a second."""
        run, self._run = self._run, None
        if run is not None:
            run.set()
        self._set_live(False, None)

    def wait_live(self, timeout: float = 5.0) -> bool:
        """Wait until values are kept (up to `timeout` seconds); whether they are."""
        self._listening.wait(timeout)
        return self._listening.is_set()

    def _set_live(self, live: bool, run: threading.Event | None) -> None:
        with self._lock:
            if run is not self._run:  # a stopped listener changes nothing
                return
            self._generation += 1
            self._entries.clear()
            if live:
                self._listening.set()
            else:
                self._listening.clear()

    def _on_commit(self, conn: Connection) -> None:
        touched = conn.info.pop(_TOUCHED, None)
        if touched:
            self.changed(touched)

    def _listen(self, run: threading.Event) -> None:
        while not run.is_set():
            try:
                self._listen_once(run)
            except Exception:  # the connection broke: keep nothing until listening again
                log.warning("change listener lost its connection; retrying", exc_info=True)
            self._set_live(False, run)
            run.wait(1.0)

    def _listen_once(self, run: threading.Event) -> None:
        raw = self._engine.raw_connection()
        conn: Any = raw.dbapi_connection
        raw.detach()  # ours alone, never returned to the pool
        try:
            conn.autocommit = True
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            conn.execute(f"LISTEN {CHANNEL}")
            self.listener_pid = conn.info.backend_pid
            self._set_live(True, run)
            while not run.is_set():
                for notice in conn.notifies(timeout=0.5):
                    where, _, table = notice.payload.partition(".")
                    if where == schema:
                        self.changed({table})
        finally:
            raw.close()


# The watched tables each statement's text changes, found once per text: the same few
# compiled statements run again and again, and the longest take a while to search.
_changed_by: dict[str, frozenset[str]] = {}
_TEXTS_KEPT = 4096


def _note_write(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    """Mark the connection when a data-changing statement names a watched table."""
    named = _changed_by.get(statement)
    if named is None:
        # Most statements are SELECTs, and none of them changes a table.
        found = () if statement[:6].upper() == "SELECT" else _CHANGES.findall(statement)
        named = frozenset(name.lower() for name in found)
        if len(_changed_by) >= _TEXTS_KEPT:
            _changed_by.clear()
        _changed_by[statement] = named
    if named:
        conn.info.setdefault(_TOUCHED, set()).update(named)


def _forget_writes(conn: Connection) -> None:
    conn.info.pop(_TOUCHED, None)
