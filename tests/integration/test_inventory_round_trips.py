"""A cart's checkout on PostgreSQL in fewer round trips, writing what it wrote before:
a reservation closes in the statement that changes its stock (`close_quietly`), a hold
can be made under an id drawn beforehand (`next_reservation_id`, `HoldRequest.id`), and
a hold and the stock rows its checkout may touch are locked in one statement
(`lock_hold`), the reservation first, leaving what `live_hold_in` and `lock_rows` leave."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from omnicart.channels.policy import load_channel_policy
from omnicart.db.engine import Database
from omnicart.inventory.ledger import (
    Provenance,
    ReservationStatus,
    apply_changes,
    locked_here,
)
from omnicart.inventory.model import MovementKind, StockChange, StockFigures
from omnicart.inventory.planning import HoldRequest
from omnicart.inventory.reservations import (
    EXPIRE,
    RELEASE,
    allocate_hold_in,
    close_quietly,
    live_hold_in,
    lock_hold,
    lock_rows,
    next_reservation_id,
    reserve_in,
    reserve_stock,
)
from omnicart.inventory.tables import Movement, Reservation, ReservationLine, StockLevel
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound
from tests.support import add_channel, add_location, add_variant

Shop = dict[str, int]


@pytest.fixture
def shop(db: Database) -> Shop:
    """A warehouse and a store, a web channel shipping from both, a marketplace shipping
    from the warehouse; A and B stocked at both, far from any low-stock threshold."""
    with db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        krk = add_location(s, "krk", kind="store", priority=2)
        web = add_channel(s, "web", ship=(wh, krk))
        market = add_channel(s, "market", kind="marketplace", ship=(wh,))
        a = add_variant(s, "A")
        b = add_variant(s, "B")
        c = add_variant(s, "C")
    with db.connection() as conn:
        apply_changes(
            conn,
            [
                StockChange(a, wh, on_hand=40),
                StockChange(a, krk, on_hand=10),
                StockChange(b, wh, on_hand=30),
                StockChange(b, krk, on_hand=6),
                StockChange(c, krk, on_hand=20),
            ],
            Provenance(MovementKind.RECEIPT, actor="test"),
        )
    return {"wh": wh, "krk": krk, "web": web, "market": market, "a": a, "b": b, "c": c}


def _hold(db: Database, shop: Shop, key: str = "h1") -> int:
    """Two A and one B held for the web channel (at the warehouse: one location fits)."""
    made = reserve_stock(
        db, channel_id=shop["web"], lines=[("A", 2), ("B", 1)], idempotency_key=key
    )
    assert {(line.sku, line.location_id) for line in made.lines} == {
        ("A", shop["wh"]),
        ("B", shop["wh"]),
    }
    return made.id


@contextmanager
def _sent(db: Database) -> Iterator[list[str]]:
    """The statements `db`'s engine sends inside the block."""
    seen: list[str] = []

    def note(_conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _is_pg(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


_WRITES = re.compile(r"\b(INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def _reads(statements: list[str]) -> list[str]:
    """The statements that write nothing (what locks or reads)."""
    return [s for s in statements if not _WRITES.search(s)]


def _stock(db: Database) -> dict[tuple[int, int], StockFigures]:
    with db.reading() as s:
        return {
            (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
            for r in s.scalars(select(StockLevel))
        }


def _ledger(db: Database, reservation_id: int) -> list[tuple[Any, ...]]:
    """(kind, variant, location, Δ on hand, Δ reserved, Δ allocated, actor, reason)."""
    with db.reading() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    Movement.kind, Movement.variant_id, Movement.location_id,
                    Movement.delta_on_hand, Movement.delta_reserved, Movement.delta_allocated,
                    Movement.actor, Movement.reason,
                )
                .where(Movement.reservation_id == reservation_id)
                .order_by(Movement.id)
            )
        ]  # fmt: skip


def _status(db: Database, reservation_id: int) -> tuple[str, datetime | None]:
    with db.reading() as s:
        row = s.execute(
            select(Reservation.status, Reservation.closed_at).where(
                Reservation.id == reservation_id
            )
        ).one()
        return row.status, row.closed_at


def _held_ledger(shop: Shop) -> list[tuple[Any, ...]]:
    return [
        ("reservation", shop["a"], shop["wh"], 0, 2, 0, "system", ""),
        ("reservation", shop["b"], shop["wh"], 0, 1, 0, "system", ""),
    ]


def _lock_as_checkout(session: Session, shop: Shop, reservation_id: int) -> None:
    live_hold_in(session, reservation_id=reservation_id, channel_id=shop["web"])
    lock_rows(
        session,
        skus=["A", "B"],
        location_ids=[shop["wh"], shop["krk"]],
        reservation_ids=[reservation_id],
    )


# --- 1. A reservation closes in the statement that changes its stock --------------------


def test_releasing_a_locked_hold_is_one_statement_that_writes_what_it_wrote(
    db: Database, shop: Shop
) -> None:
    hold = _hold(db, shop)
    with _sent(db) as seen, db.transaction() as session:
        _lock_as_checkout(session, shop, hold)
        start = len(seen)
        row, replayed = close_quietly(
            session, RELEASE, reservation_id=hold, channel_id=shop["web"], actor="t",
            reason="gone",
        )  # fmt: skip
        closed_at = row.closed_at
    closing = seen[start:]
    assert not replayed
    assert _reads(closing) == []
    # PostgreSQL: the stock change, its ledger and the status at once; SQLite: the
    # guarded UPDATE, the ledger, the reservation.
    assert len(closing) == (1 if _is_pg(db) else 3)
    assert closed_at is not None
    assert _status(db, hold) == ("released", closed_at)
    assert _ledger(db, hold) == [
        *_held_ledger(shop),
        ("release", shop["a"], shop["wh"], 0, -2, 0, "t", "gone"),
        ("release", shop["b"], shop["wh"], 0, -1, 0, "t", "gone"),
    ]
    stock = _stock(db)
    assert stock[(shop["a"], shop["wh"])] == StockFigures(40, 0, 0)
    assert stock[(shop["b"], shop["wh"])] == StockFigures(30, 0, 0)


def test_allocating_a_live_hold_where_it_is_is_one_statement(db: Database, shop: Shop) -> None:
    hold = _hold(db, shop)
    with db.reading() as s:
        policy = load_channel_policy(s.connection(), channel_id=shop["web"])
    with _sent(db) as seen, db.transaction() as session:
        _lock_as_checkout(session, shop, hold)
        start = len(seen)
        holds = allocate_hold_in(
            session, reservation_id=hold, policy=policy, at=(shop["wh"], shop["krk"]),
            actor="t", reason="order 1",
        )  # fmt: skip
        row = session.get_one(Reservation, hold)
        assert (row.status, row.closed_at) == ("allocated", None)
    allocating = seen[start:]
    assert sorted(holds) == sorted(
        [("A", shop["a"], shop["wh"], 2), ("B", shop["b"], shop["wh"], 1)]
    )
    assert _reads(allocating) == []
    assert len(allocating) == (1 if _is_pg(db) else 3)
    assert _status(db, hold) == ("allocated", None)
    assert _ledger(db, hold) == [
        *_held_ledger(shop),
        ("allocation", shop["a"], shop["wh"], 0, -2, 2, "t", "order 1"),
        ("allocation", shop["b"], shop["wh"], 0, -1, 1, "t", "order 1"),
    ]
    stock = _stock(db)
    assert stock[(shop["a"], shop["wh"])] == StockFigures(40, 0, 2)
    assert stock[(shop["b"], shop["wh"])] == StockFigures(30, 0, 1)


def test_an_expiry_closes_the_hold_in_the_database_as_in_the_session(
    db: Database, shop: Shop
) -> None:
    hold = _hold(db, shop)
    with db.transaction() as session:
        row, _ = close_quietly(
            session, EXPIRE, reservation_id=hold, channel_id=None, actor="system:expiry",
            reason="hold expired", only_if_expired_at=utcnow() + timedelta(days=2),
        )  # fmt: skip
        assert row.status == "expired"
        closed_at = row.closed_at
    assert closed_at is not None
    assert _status(db, hold) == ("expired", closed_at)
    assert _stock(db)[(shop["a"], shop["wh"])] == StockFigures(40, 0, 0)


def test_a_status_without_stock_changes_is_still_written(db: Database, shop: Shop) -> None:
    hold = _hold(db, shop)
    when = utcnow()
    with db.connection() as conn:
        assert (
            apply_changes(
                conn,
                [],
                Provenance(MovementKind.RELEASE, reservation_id=hold),
                status=ReservationStatus("released", when),
            )
            == {}
        )
    assert _status(db, hold) == ("released", when)


# --- 2. A reservation id drawn beforehand ----------------------------------------------


def _request(shop: Shop, key: str, lines: list[tuple[str, int]], **extra: Any) -> HoldRequest:
    values: dict[str, Any] = {
        "channel_id": shop["web"],
        "lines": tuple(lines),
        "key": key,
        "location_id": None,
        "ttl": 900,
        "reference": f"cart {key}",
        "actor": "test",
        "fingerprint": key,
        **extra,
    }
    return HoldRequest(**values)


@pytest.mark.postgres
@pytest.mark.parametrize("lock_first", [True, False])
@pytest.mark.parametrize("held_back", [0, 1])
def test_a_hold_is_made_under_the_id_drawn_for_it(
    pg_db: Database, lock_first: bool, held_back: int
) -> None:
    """Drawn in the test's own schema (found through the search_path), on each fast path
    (placed under locks, reserved in one statement or, with a buffer, claimed first) and,
    for a kit, on the general one."""
    db = pg_db
    with db.transaction() as s:
        wh = add_location(s, "wh")
        web = add_channel(s, "web", ship=(wh,), units_held_back=held_back)
        a = add_variant(s, "A")
        b = add_variant(s, "B")
        add_variant(s, "KIT", components={a: 2, b: 1})
    with db.connection() as conn:
        apply_changes(
            conn,
            [StockChange(a, wh, on_hand=20), StockChange(b, wh, on_hand=20)],
            Provenance(MovementKind.RECEIPT),
        )
    shop = {"web": web}
    for key, lines in (("plain", [("A", 1)]), ("kit", [("KIT", 2)])):
        with db.connection() as conn:
            drawn = conn.execute(select(next_reservation_id())).scalar_one()
            made = reserve_in(conn, _request(shop, key, lines, id=drawn), lock_first=lock_first)
            assert made.id == drawn
        with db.reading() as s:
            row = s.get_one(Reservation, drawn)
            assert (row.idempotency_key, row.status) == (key, "active")
            assert {
                (line.variant_id, line.quantity)
                for line in s.scalars(
                    select(ReservationLine).where(ReservationLine.reservation_id == drawn)
                )
            } == ({(a, 1)} if key == "plain" else {(a, 4), (b, 2)})
    with db.connection() as conn:
        # Without an id the table draws the next one, after those drawn above.
        made = reserve_in(conn, _request(shop, "undrawn", [("A", 1)]), lock_first=lock_first)
        assert made.id > drawn


@pytest.mark.parametrize(
    "db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_the_id_is_drawn_inside_the_callers_own_insert(db: Database, shop: Shop) -> None:
    """As a cart would: its row and its hold's id in one INSERT, then the hold under it."""
    owner = Table(
        "owner", MetaData(), Column("id", Integer, primary_key=True), Column("hold", BigInteger)
    )
    with db.connection() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE owner (id serial PRIMARY KEY, hold bigint)"))
        made_owner = conn.execute(
            insert(owner).values(hold=next_reservation_id()).returning(owner.c.id, owner.c.hold)
        ).one()
        made = reserve_in(
            conn, _request(shop, "owned", [("A", 2)], id=made_owner.hold), lock_first=True
        )
        assert made.id == made_owner.hold
    assert _status(db, made.id) == ("active", None)


# --- 3. A hold and its stock rows locked in one statement -------------------------------


def _memos(session: Session, reservation_id: int) -> dict[str, Any]:
    """What one transaction keeps of the locks it holds."""
    conn = session.connection()
    locked = session.info["locked_reservations"][1]
    holds = session.info["reservation_holds"][1]
    return {
        "reservations": {r: (row.id, row.status) for r, row in locked.items()},
        "holds": {
            r: [(h.id, h.variant_id, h.location_id, h.quantity, h.requested_sku) for h in lines]
            for r, lines in holds.items()
        },
        "stock": dict(locked_here(conn)),
    }


def _both_ways(
    db: Database, shop: Shop, reservation_id: int, skus: list[str], channel_id: int | None = None
) -> tuple[Any, Any, int]:
    """(answer and memos of live_hold_in + lock_rows, the same of lock_hold, how many
    statements lock_hold sent), each in a transaction of its own."""
    channel = channel_id if channel_id is not None else shop["web"]
    locations = [shop["wh"], shop["krk"]]
    with db.transaction() as session:
        live = live_hold_in(session, reservation_id=reservation_id, channel_id=channel)
        lock_rows(session, skus=skus, location_ids=locations, reservation_ids=[reservation_id])
        before = (live, _memos(session, reservation_id))
    with _sent(db) as seen, db.transaction() as session:
        session.connection()
        start = len(seen)
        live = lock_hold(
            session, reservation_id=reservation_id, channel_id=channel, skus=skus,
            location_ids=locations,
        )  # fmt: skip
        sent = len(seen) - start
        after = (live, _memos(session, reservation_id))
    return before, after, sent


def test_lock_hold_leaves_what_live_hold_in_and_lock_rows_leave(db: Database, shop: Shop) -> None:
    hold = _hold(db, shop)
    before, after, sent = _both_ways(db, shop, hold, ["A", "B"])
    assert after == before
    live, memos = after
    assert live is True
    # The lines' variants at the locations asked for and at the lines' own.
    a, b, wh, krk = shop["a"], shop["b"], shop["wh"], shop["krk"]
    assert memos["stock"] == {
        (a, wh): StockFigures(40, 2, 0),
        (a, krk): StockFigures(10, 0, 0),
        (b, wh): StockFigures(30, 1, 0),
        (b, krk): StockFigures(6, 0, 0),
    }
    assert sent == (1 if _is_pg(db) else 2)  # SQLite: the reservation, then the rows


def test_after_lock_hold_allocating_reads_nothing(db: Database, shop: Shop) -> None:
    hold = _hold(db, shop)
    with db.reading() as s:
        policy = load_channel_policy(s.connection(), channel_id=shop["web"])
    with _sent(db) as seen, db.transaction() as session:
        session.connection()
        start = len(seen)
        assert lock_hold(
            session, reservation_id=hold, channel_id=shop["web"], skus=["B", "A"],
            location_ids=[shop["krk"], shop["wh"]],
        )  # fmt: skip
        locking = len(seen) - start
        allocate_hold_in(
            session, reservation_id=hold, policy=policy, at=(shop["wh"], shop["krk"]),
            actor="t", reason="order",
        )  # fmt: skip
    assert _reads(seen[start + locking :]) == []
    if _is_pg(db):
        assert len(seen) - start == 2  # the locks, then the allocation
    assert _status(db, hold) == ("allocated", None)
    assert _stock(db)[(shop["a"], shop["wh"])] == StockFigures(40, 0, 2)


def test_lock_hold_of_a_lapsed_hold_answers_false_with_the_same_locks(
    db: Database, shop: Shop
) -> None:
    hold = _hold(db, shop)
    with db.transaction() as session:
        session.get_one(Reservation, hold).expires_at = utcnow() - timedelta(seconds=1)
    before, after, _ = _both_ways(db, shop, hold, ["A", "B"])
    assert after == before
    assert after[0] is False


def test_a_sku_the_hold_does_not_name_is_locked_as_lock_rows_locks_it(
    db: Database, shop: Shop
) -> None:
    hold = _hold(db, shop)
    before, after, _ = _both_ways(db, shop, hold, ["A", "C"])
    assert after == before
    assert (shop["c"], shop["krk"]) in after[1]["stock"]


@pytest.mark.parametrize("whose", ["missing", "another channel's"])
def test_lock_hold_refuses_as_live_hold_in_does(db: Database, shop: Shop, whose: str) -> None:
    hold = _hold(db, shop)
    reservation_id, channel = (
        (hold + 100, shop["web"]) if whose == "missing" else (hold, shop["market"])
    )
    asks: list[Callable[[Session], object]] = [
        lambda session: live_hold_in(session, reservation_id=reservation_id, channel_id=channel),
        lambda session: lock_hold(
            session, reservation_id=reservation_id, channel_id=channel, skus=["A", "B"],
            location_ids=[shop["wh"]],
        ),
    ]  # fmt: skip
    for ask in asks:
        with db.transaction() as session:
            with pytest.raises(NotFound) as refused:
                ask(session)
            assert (refused.value.detail, refused.value.field) == (
                f"reservation {reservation_id} does not exist",
                "reservation_id",
            )
            assert locked_here(session.connection()) == {}  # no stock row locked


def _lock_hold_waits(conn: Connection) -> bool:
    """Whether a `lock_hold` statement waits for a lock (PostgreSQL)."""
    waiting = conn.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'WITH hold AS%'"
        )
    ).scalar_one()
    conn.rollback()
    return bool(waiting)


def _one_hold(db: Database) -> tuple[int, int, int, int]:
    """One location, a web channel shipping from it, 10 of A there and one of them held:
    (location, channel, variant, hold)."""
    with db.transaction() as s:
        wh = add_location(s, "wh")
        web = add_channel(s, "web", ship=(wh,))
        a = add_variant(s, "A")
    with db.connection() as conn:
        apply_changes(conn, [StockChange(a, wh, on_hand=10)], Provenance(MovementKind.RECEIPT))
    hold = reserve_stock(db, channel_id=web, lines=[("A", 1)], idempotency_key="k").id
    return wh, web, a, hold


def _wait_until_lock_hold_waits(probe: Connection) -> None:
    """Until a `lock_hold` statement waits for a lock (10 s at most)."""
    deadline = time.monotonic() + 10
    while not _lock_hold_waits(probe) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _lock_hold_waits(probe)


@pytest.mark.postgres
def test_lock_hold_locks_the_reservation_before_any_stock_row(pg_db: Database) -> None:
    """The expiry sweep locks a reservation, then its rows: lock_hold waiting for the
    reservation holds no stock row meanwhile (or the two would deadlock)."""
    db = pg_db
    wh, web, a, hold = _one_hold(db)

    sweep_has_it = threading.Event()
    sweep_may_go = threading.Event()
    checkout_has_it = threading.Event()
    checkout_may_go = threading.Event()
    answers: list[bool] = []

    def sweep() -> None:
        with db.transaction() as session:
            live_hold_in(session, reservation_id=hold, channel_id=web)
            sweep_has_it.set()
            sweep_may_go.wait(10)

    def checkout() -> None:
        with db.transaction() as session:
            answers.append(
                lock_hold(
                    session, reservation_id=hold, channel_id=web, skus=["A"], location_ids=[wh]
                )
            )
            checkout_has_it.set()
            checkout_may_go.wait(10)

    def stock_row_free(conn: Connection) -> bool:
        free = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM stock_levels WHERE variant_id = :a "
                "AND location_id = :wh FOR UPDATE SKIP LOCKED) AS free"
            ),
            {"a": a, "wh": wh},
        ).scalar_one()
        conn.rollback()
        return bool(free)

    threads = [threading.Thread(target=sweep), threading.Thread(target=checkout)]
    try:
        threads[0].start()
        assert sweep_has_it.wait(10)
        threads[1].start()
        with db.engine.connect() as probe:
            _wait_until_lock_hold_waits(probe)  # for the reservation the sweep holds ...
            assert stock_row_free(probe)  # ... holding no stock row meanwhile
            sweep_may_go.set()
            assert checkout_has_it.wait(10)
            assert not stock_row_free(probe)  # then it holds the row too
    finally:
        sweep_may_go.set()
        checkout_may_go.set()
        for thread in threads:
            thread.join(10)
    assert answers == [True]


@pytest.mark.postgres
def test_lock_hold_waiting_for_a_stock_row_reads_it_as_its_writer_left_it(
    pg_db: Database,
) -> None:
    db = pg_db
    wh, web, a, hold = _one_hold(db)
    writer_has_it = threading.Event()
    writer_may_go = threading.Event()
    kept: list[dict[tuple[int, int], StockFigures]] = []

    def writer() -> None:
        with db.connection() as conn:
            apply_changes(conn, [StockChange(a, wh, on_hand=5)], Provenance(MovementKind.RECEIPT))
            writer_has_it.set()
            writer_may_go.wait(10)

    def checkout() -> None:
        with db.transaction() as session:
            lock_hold(session, reservation_id=hold, channel_id=web, skus=["A"], location_ids=[wh])
            kept.append(dict(locked_here(session.connection())))

    threads = [threading.Thread(target=writer), threading.Thread(target=checkout)]
    try:
        threads[0].start()
        assert writer_has_it.wait(10)
        threads[1].start()
        with db.engine.connect() as probe:
            _wait_until_lock_hold_waits(probe)
    finally:
        writer_may_go.set()
        for thread in threads:
            thread.join(10)
    assert kept == [{(a, wh): StockFigures(15, 1, 0)}]


@pytest.mark.postgres
@pytest.mark.parametrize("held_back", [0, 1])
def test_a_reservation_costs_four_round_trips_buffered_or_not(
    pg_db: Database, held_back: int
) -> None:
    """BEGIN; the SKUs with their rows (locked, when the channel has a buffer); the claim,
    lines, guarded change and ledger in one statement; COMMIT."""
    with pg_db.transaction() as s:
        wh = add_location(s, "wh")
        web = add_channel(s, "web", ship=(wh,), units_held_back=held_back)
        a = add_variant(s, "A")
    with pg_db.connection() as conn:
        apply_changes(conn, [StockChange(a, wh, on_hand=40)], Provenance(MovementKind.RECEIPT))
    trips: list[str] = []

    def note(_conn: Connection, *args: Any) -> None:
        trips.append(str(args[1]) if args and isinstance(args[1], str) else "BEGIN/COMMIT")

    pg_db.cache.start()
    try:
        assert pg_db.cache.wait_live()
        reserve_stock(pg_db, channel_id=web, lines=[("A", 1)], idempotency_key="warm")
        for name in ("before_cursor_execute", "begin", "commit"):
            event.listen(pg_db.engine, name, note)
        made = reserve_stock(pg_db, channel_id=web, lines=[("A", 2)], idempotency_key="k")
    finally:
        pg_db.cache.stop()
    assert [(line.sku, line.quantity) for line in made.lines] == [("A", 2)]
    assert len(trips) == 4, trips
    assert ("FOR UPDATE" in trips[1]) == bool(held_back)
