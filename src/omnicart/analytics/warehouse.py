"""The warehouse build: the analytic model (`schema.TABLES`) filled from the event store
and the operational database, inside the event store's DuckDB file, incrementally.

Where rows come from:

- `wh_orders`, `wh_order_lines`: the order book's `Order Completed` / `Order Updated`
  events (source 0, delivered from the outbox), each order in the state of its latest
  event (by time, then outbox id); `ordered_at` is its `Order Completed` time and
  `Order Cancelled` sets `cancelled_at`;
- `wh_refunds`: `Order Refunded` (its `total` is the amount given back; `return_id` when
  a return's refund); `wh_returns`: `Return Received`, one row per product line;
- `wh_events`: every tracked event (any other source), with UTM `context.campaign`,
  `context.page.referrer`, and the `order_id` of a tracked `Order Completed`;
- `wh_sessions`: the visitors' sessions of those events (`sessions.py`), sessionized again
  where new events or re-keyed ones fall;
- `customer_key` of both from identity resolution (`warehouse_people.py`);
- `wh_channels` and the cost tables copied from the operational database
  (`warehouse_costs.py`);
- `wh_line_costs`: the lines and returned lines of every order the window's events
  concern, costed again (`line_costs.py`), and those of every SKU whose unit costs a copy
  changed.

Incremental: the store's `events` table is only ever appended to, so a refresh reads the
events after the last one it read (by rowid), in windows, each window committed with
its position in one DuckDB transaction: a crash repeats a window, never half of one.
Only the store's lock holder writes the file, so a refresh runs under `open_current_store`. An
erasure rewrites the store without the model (see `tracking/erasure.py`); the next
refresh then builds it afresh from the pseudonymised events, as it does for a store
built by another version of this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlalchemy.orm import Session

from omnicart.analytics import sessions, warehouse_costs, warehouse_people
from omnicart.analytics.engine import DuckDBEngine, Engine, copy_model
from omnicart.analytics.schema import TABLES
from omnicart.analytics.warehouse_store import (
    WINDOW_SQL,
    WINDOW_TRACKED,
    is_current,
    rebuild,
    set_state,
    state,
)
from omnicart.customers.linking import sync_customers
from omnicart.db.engine import Database
from omnicart.tracking.flusher import open_current_store
from omnicart.tracking.identities import resolve_identities_once
from omnicart.tracking.store import EventStore

WINDOW = 2_000_000  # stored events turned into model rows per DuckDB transaction


@dataclass(frozen=True, slots=True)
class RefreshCounts:
    """What one refresh did."""

    rebuilt: bool  # the model was built afresh from the first stored event
    events: int  # stored events read (tracked and the order book's)
    orders: int  # orders added or brought up to their latest state
    refunds: int  # refunds added
    returned_lines: int  # product lines of received returns added
    tracked: int  # tracked events added to wh_events
    # rows whose customer_key was set or changed after they were stored: orders linked to
    # their customer, rows moved by identity resolution or by a merge
    rekeyed: int
    costs_copied: bool  # the cost tables were copied again


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def catch_up(store: EventStore, db: Database) -> None:
    """Let identity resolution and order linking reach the newest events and orders: the
    steps the server's background runs anyway, safe to repeat, so that the model's
    customer keys are current."""
    while resolve_identities_once(store, db=db):
        pass
    sync_customers(db)


def refresh(store: EventStore, db: Database, *, catch_up_first: bool = True) -> RefreshCounts:
    """Bring the model inside `store` (held under its lock) up to date with its events
    and the operational database `db`; what changed.

    With `catch_up_first` (the default) identity resolution and order linking first reach
    the newest events and orders (`catch_up`); a caller that keeps them current itself
    (a benchmark that writes the store directly) may skip that.
    """
    conn = store.conn
    conn.execute("SET enable_progress_bar = false")
    if catch_up_first:
        catch_up(store, db)
    rebuilt = not is_current(conn)
    if rebuilt:
        with _transaction(conn):
            rebuild(conn)
    with db.reading() as session:
        marks = warehouse_people.fingerprints(session)
        costs_mark = warehouse_costs.costs_fingerprint(session)
        with _transaction(conn):
            warehouse_costs.copy_channels(session, conn)
        # Costs before the events: the windows cost their lines with the costs as they now
        # are (a new model costs every line once).
        costs_copied = state(conn, "costs") != costs_mark
        if costs_copied:
            with _transaction(conn):
                warehouse_costs.copy_costs(session, conn)
                set_state(conn, "costs", costs_mark)
        rekeyed = _people(session, conn, marks)
    read = _events(conn, collect_orders=not rebuilt)
    with db.reading() as session:
        rekeyed += _links(session, conn, marks["links"], read=read, rebuilt=rebuilt)
    events, orders, refunds, returned, tracked = read.counts
    return RefreshCounts(
        rebuilt=rebuilt,
        events=events,
        orders=orders,
        refunds=refunds,
        returned_lines=returned,
        tracked=tracked,
        rekeyed=rekeyed,
        costs_copied=costs_copied,
    )


def _people(session: Session, conn: duckdb.DuckDBPyConnection, marks: dict[str, str]) -> int:
    """Copy merges and the identity map again if they changed; the rows re-keyed."""
    rekeyed = 0
    merges_changed = state(conn, "merges") != marks["merges"]
    if merges_changed or state(conn, "people") != marks["people"]:
        moved = warehouse_people.survivors(session)
        people = warehouse_people.people(session, moved)
        with _transaction(conn):
            if merges_changed:
                rekeyed += warehouse_people.replace_survivors(conn, moved)
                set_state(conn, "merges", marks["merges"])
            rekeyed += warehouse_people.replace_people(conn, people)
            set_state(conn, "people", marks["people"])
    return rekeyed


@dataclass(slots=True)
class _Read:
    """What the windows of one refresh added (see RefreshCounts), and which orders."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    orders: list[int] = field(default_factory=list)  # added or updated, when collected


def _events(conn: duckdb.DuckDBPyConnection, *, collect_orders: bool) -> _Read:
    """Turn the events stored since the last refresh into model rows, window by window."""
    read = _Read()
    start = int(state(conn, "events_from") or 0)
    end = _count(conn, "SELECT coalesce(max(rowid) + 1, 0) FROM events")
    for lo in range(start, end, WINDOW):
        hi = min(lo + WINDOW, end)
        before = _sizes(conn)
        with _transaction(conn):
            for statement in WINDOW_SQL:
                conn.execute(statement, {"lo": lo, "hi": hi} if "$lo" in statement else None)
            sessions.touch(conn, WINDOW_TRACKED)
            sessions.update_sessions(conn)
            orders = [
                int(r[0]) for r in conn.execute("SELECT order_id FROM wh_b_orders").fetchall()
            ]
            set_state(conn, "events_from", hi)
        after = _sizes(conn)
        events = _count(conn, f"SELECT count(*) FROM events WHERE rowid >= {lo} AND rowid < {hi}")  # noqa: S608
        added = (events, len(orders), *(b - a for a, b in zip(before, after, strict=True)))
        read.counts = [a + b for a, b in zip(read.counts, added, strict=True)]
        if collect_orders:
            read.orders += orders
    return read


def _sizes(conn: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    return (
        _count(conn, "SELECT count(*) FROM wh_refunds"),
        _count(conn, "SELECT count(*) FROM wh_returns"),
        _count(conn, "SELECT count(*) FROM wh_x_events"),
    )


def _links(
    session: Session, conn: duckdb.DuckDBPyConnection, mark: str, *, read: _Read, rebuilt: bool
) -> int:
    """Key orders by the customer identity resolution linked them to; the orders re-keyed.

    A new model reads every link; afterwards, the links of the orders this refresh added
    or updated and, when links were made since the last refresh, of the orders that name
    somebody but were not linked yet. An order linked to a person since erased is still
    keyed by the (emptied) profile, so cohorts and repeat purchases stay as they were.
    """
    if rebuilt:
        links = warehouse_people.all_order_links(session)
    else:
        waiting = set(read.orders)
        if state(conn, "links") != mark:
            waiting.update(warehouse_people.unlinked_orders(conn))
        links = warehouse_people.order_links(session, sorted(waiting)) if waiting else []
    if not links and state(conn, "links") == mark:
        return 0
    with _transaction(conn):
        changed = warehouse_people.link_orders(conn, links)
        set_state(conn, "links", mark)
    return changed


@contextmanager
def open_model(
    *, db: Database, events_path: Path, timeout: float = 30.0, catch_up_first: bool = True
) -> Iterator[DuckDBEngine]:
    """The analytic model, refreshed, as a DuckDBEngine over the event store's file.

    The store's lock is held (its spool drained and the outbox delivered first) until the
    block ends; the engine is usable only inside it. StoreBusy if the lock stays taken
    for `timeout` seconds.
    """
    with open_current_store(events_path, db=db, timeout=timeout) as store:
        refresh(store, db, catch_up_first=catch_up_first)
        yield DuckDBEngine(store.conn)


def load_into(
    engine: Engine, *, db: Database, events_path: Path, timeout: float = 30.0
) -> dict[str, int]:
    """Refresh the model and copy every row of it into `engine` (an empty in-memory
    DuckDBEngine, or a ClickHouse engine); the rows copied per table."""
    with open_model(db=db, events_path=events_path, timeout=timeout) as model:
        copy_model(model, engine)
        return {
            table: _count(model.connection, f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in TABLES
        }
