"""A transaction reads each stock row it locked once (`ledger.locked_here`): what it keeps
is what the database holds after every change it makes, a rolled-back savepoint forgets
it, and PostgreSQL's one-statement change writes what SQLite's statements write."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from omnicart.db.engine import Database
from omnicart.inventory.ledger import Provenance, apply_changes, lock_stock, locked_here
from omnicart.inventory.model import MovementKind, StockChange, StockFigures
from omnicart.inventory.tables import Movement, StockLevel
from omnicart.kernel.errors import InsufficientStock
from tests.support import add_location, add_variant


@pytest.fixture
def rows(db: Database) -> dict[str, int]:
    with db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2)
        a = add_variant(s, "A")
        b = add_variant(s, "B")
    with db.connection() as conn:
        apply_changes(
            conn,
            [
                StockChange(a, wh, on_hand=10),
                StockChange(b, wh, on_hand=5),
                StockChange(a, store, on_hand=3),
            ],
            Provenance(MovementKind.RECEIPT, actor="test"),
        )
    return {"wh": wh, "store": store, "a": a, "b": b}


def _figures(conn: Connection) -> dict[tuple[int, int], StockFigures]:
    return {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in conn.execute(select(StockLevel))
    }


def _statements(db: Database) -> list[str]:
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", note)
    return seen


def test_a_locked_row_is_read_once_and_kept_as_the_database_holds_it(
    db: Database, rows: dict[str, int]
) -> None:
    a, b, wh, store = rows["a"], rows["b"], rows["wh"], rows["store"]
    seen = _statements(db)
    with db.connection() as conn:
        first = lock_stock(conn, [(a, wh), (b, wh)])
        reads = len(seen)
        assert lock_stock(conn, [(a, wh)]) == {(a, wh): first[(a, wh)]}
        assert len(seen) == reads  # no second read
        apply_changes(
            conn,
            [
                StockChange(a, wh, reserved=2),
                StockChange(a, wh, reserved=-1, allocated=1),
                StockChange(b, wh, on_hand=-1),
                StockChange(a, store, on_hand=1),  # not locked yet: read, then kept
            ],
            Provenance(MovementKind.ADJUSTMENT, actor="test", reason="kept"),
        )
        kept = locked_here(conn)
        now = _figures(conn)
        assert {k: kept[k] for k in now} == now
        assert now[(a, wh)] == StockFigures(10, 1, 1)
        assert now[(b, wh)] == StockFigures(4, 0, 0)
        assert now[(a, store)] == StockFigures(4, 0, 0)
    with db.connection() as conn:
        # A new transaction keeps nothing from the last one.
        assert locked_here(conn) == {}
        entries = conn.execute(
            select(Movement.variant_id, Movement.location_id, Movement.delta_on_hand,
                   Movement.delta_reserved, Movement.delta_allocated, Movement.reason)
            .where(Movement.reason == "kept")
            .order_by(Movement.id)
        ).all()  # fmt: skip
    # One entry per change, in the order given, on both databases.
    assert [tuple(e) for e in entries] == [
        (a, wh, 0, 2, 0, "kept"),
        (a, wh, 0, -1, 1, "kept"),
        (b, wh, -1, 0, 0, "kept"),
        (a, store, 1, 0, 0, "kept"),
    ]


def test_a_refused_change_keeps_the_figures_before_it(db: Database, rows: dict[str, int]) -> None:
    a, wh = rows["a"], rows["wh"]
    with db.connection() as conn:
        before = lock_stock(conn, [(a, wh)])
        with pytest.raises(InsufficientStock):
            apply_changes(
                conn, [StockChange(a, wh, reserved=11)], Provenance(MovementKind.RESERVATION)
            )
        assert locked_here(conn)[(a, wh)] == before[(a, wh)]


def test_a_rolled_back_savepoint_forgets_what_was_kept(db: Database, rows: dict[str, int]) -> None:
    a, wh = rows["a"], rows["wh"]
    with db.transaction() as session:
        conn = session.connection()
        lock_stock(conn, [(a, wh)])
        nested = session.begin_nested()
        conn = session.connection()  # the SAVEPOINT is sent here
        apply_changes(conn, [StockChange(a, wh, reserved=4)], Provenance(MovementKind.RESERVATION))
        assert lock_stock(conn, [(a, wh)])[(a, wh)] == StockFigures(10, 4, 0)
        nested.rollback()
        assert locked_here(conn) == {}
        assert lock_stock(conn, [(a, wh)])[(a, wh)] == StockFigures(10, 0, 0)
