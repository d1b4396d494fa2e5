"""The stock CSV importer on SQLite and PostgreSQL: all rows or none, through the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicart.catalog.tables import Variant
from omnicart.db.engine import Database
from omnicart.inventory import queries, service
from omnicart.inventory.importer import (
    RowError,
    StockImportMode,
    StockImportRejected,
    StockImportSummary,
    import_stock_file,
)
from omnicart.inventory.tables import Movement, StockCount, StockCountLine, StockLevel
from omnicart.kernel.errors import ValidationFailed
from tests.support import add_channel, add_location, add_variant


def _ledger(session: Session) -> list[tuple[Movement, str]]:
    """Every ledger entry with its SKU, read from the table itself, not the feed: the feed
    holds back rows while any other transaction in the database is in flight
    (pytest-xdist's other worker, say)."""
    return [
        (m, sku)
        for m, sku in session.execute(
            select(Movement, Variant.sku)
            .join(Variant, Variant.id == Movement.variant_id)
            .order_by(Movement.id)
        )
    ]


@pytest.fixture
def shop(db: Database) -> dict[str, int]:
    with db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2)
        a = add_variant(s, "A")
        b = add_variant(s, "B")
        add_variant(s, "KIT", components={a: 2, b: 1})
        web = add_channel(s, "web", ship=(wh, store))
    service.receive_stock(db, location_id=wh, lines=[("A", 10), ("B", 3)])
    return {"wh": wh, "store": store, "web": web, "a": a, "b": b}


def _csv(tmp_path: Path, text: str, name: str = "stock.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _snapshot(db: Database) -> tuple[int, int, int, list[tuple[int, int, int, int, int]]]:
    with db.reading() as s:
        levels = [
            (r.variant_id, r.location_id, r.on_hand, r.reserved, r.allocated)
            for r in s.scalars(
                select(StockLevel).order_by(StockLevel.variant_id, StockLevel.location_id)
            )
        ]
        return (
            s.scalar(select(func.count()).select_from(Movement)) or 0,
            s.scalar(select(func.count()).select_from(StockCount)) or 0,
            s.scalar(select(func.count()).select_from(StockCountLine)) or 0,
            levels,
        )


def _figures(db: Database) -> dict[tuple[str, int], int]:
    with db.reading() as s:
        return {(r.sku, r.location_id): r.on_hand for r in queries.stock_rows(s, limit=1000)}


def test_receipt_file_is_applied_through_the_ledger(
    db: Database, shop: dict[str, int], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "\ufeffsku,location,quantity,reason\n"
        "A,wh,5,PO-1\nB,store,2,PO-1\n\nA,store,4,\nA,wh,1,PO-2\n",
    )
    seen: list[tuple[str, int, int]] = []
    summary = import_stock_file(db, path, actor="tester", progress=lambda *step: seen.append(step))
    assert summary == StockImportSummary(
        mode=StockImportMode.RECEIPT, rows=4, units=12, locations=2, movements=4
    )
    assert _figures(db) == {
        ("A", shop["wh"]): 16,
        ("A", shop["store"]): 4,
        ("B", shop["wh"]): 3,
        ("B", shop["store"]): 2,
    }
    with db.reading() as s:
        rows = [
            (sku, m.location_id, m.delta_on_hand, m.reason, m.actor, m.kind)
            for m, sku in _ledger(s)
            if m.id > 2
        ]
        assert queries.reconcile(s) == []
    assert sorted(rows) == sorted(
        [
            ("A", shop["wh"], 5, "PO-1", "tester", "receipt"),
            ("B", shop["store"], 2, "PO-1", "tester", "receipt"),
            ("A", shop["store"], 4, "stock import", "tester", "receipt"),
            ("A", shop["wh"], 1, "PO-2", "tester", "receipt"),
        ]
    )
    assert seen[-1] == ("writing", 4, 4)


def test_bad_rows_are_all_reported_and_nothing_is_written(
    db: Database, shop: dict[str, int], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        (
            "sku,location,quantity\n"
            "A,wh,5\n"  # 2: fine
            "NOPE,wh,1\n"  # 3: unknown SKU
            "A,moon,1\n"  # 4: unknown location
            "KIT,wh,1\n"  # 5: a bundle
            "A,wh,1.5\n"  # 6: not whole
            "A,wh,0\n"  # 7: zero
            "B,store,-2\n"  # 8: negative
            "B,store\n"  # 9: missing value
            ",wh,1\n"  # 10: missing value
            "NOPE,moon,x\n"  # 11: three problems at once
            "A,wh,1,extra\n"  # 12: too many cells
            "B,wh,2\n"  # 13: fine
        ),
    )
    before = _snapshot(db)
    with pytest.raises(StockImportRejected) as info:
        import_stock_file(db, path)
    assert info.value.errors == [
        RowError(3, "sku", "unknown SKU 'NOPE'"),
        RowError(4, "location", "unknown location 'moon'"),
        RowError(5, "sku", "'KIT' is a bundle; its stock is its components'"),
        RowError(6, "quantity", "'1.5' is not a whole number"),
        RowError(7, "quantity", "quantity must be positive, got 0"),
        RowError(8, "quantity", "quantity must be positive, got -2"),
        RowError(9, "quantity", "missing value"),
        RowError(10, "sku", "missing value"),
        RowError(11, "location", "unknown location 'moon'"),
        RowError(11, "quantity", "'x' is not a whole number"),
        RowError(11, "sku", "unknown SKU 'NOPE'"),
        RowError(12, "(row)", "4 cells, the header has 3"),
    ]
    assert info.value.detail == "12 problems in the file; nothing was imported"
    assert info.value.field == "file"
    assert _snapshot(db) == before


def test_one_row_can_have_several_problems(
    db: Database, shop: dict[str, int], tmp_path: Path
) -> None:
    path = _csv(tmp_path, "location,sku,quantity\nmoon,NOPE,3\n")
    before = _snapshot(db)
    with pytest.raises(StockImportRejected) as info:
        import_stock_file(db, path)
    assert info.value.errors == [
        RowError(2, "location", "unknown location 'moon'"),
        RowError(2, "sku", "unknown SKU 'NOPE'"),
    ]
    assert _snapshot(db) == before


@pytest.mark.parametrize(
    ("header", "errors"),
    [
        ("sku,location", [RowError(1, "quantity", "missing column")]),
        (
            "sku,location,qty",
            [RowError(1, "qty", "unknown column"), RowError(1, "quantity", "missing column")],
        ),
        ("sku,location,quantity,sku", [RowError(1, "sku", "column appears twice")]),
    ],
)
def test_header_problems(
    db: Database, shop: dict[str, int], tmp_path: Path, header: str, errors: list[RowError]
) -> None:
    before = _snapshot(db)
    with pytest.raises(StockImportRejected) as info:
        import_stock_file(db, _csv(tmp_path, f"{header}\nA,wh,1,A\n"))
    assert info.value.errors == errors
    assert _snapshot(db) == before


def test_unreadable_files(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        import_stock_file(db, _csv(tmp_path, ""))
    with pytest.raises(ValidationFailed, match="no rows"):
        import_stock_file(db, _csv(tmp_path, "sku,location,quantity\n"))
    with pytest.raises(ValidationFailed, match="cannot read"):
        import_stock_file(db, tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("sku,location,quantity\nCAFÉ,wh,1\n".encode("latin-1"))
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        import_stock_file(db, latin)


def test_count_mode_records_variances(db: Database, shop: dict[str, int], tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "sku,location,quantity,reason\n"
        "A,wh,7,monthly\nB,wh,3,monthly\nB,store,2,monthly\nA,store,0,monthly\n",
    )
    summary = import_stock_file(db, path, mode=StockImportMode.COUNT, actor="tester")
    assert summary.mode is StockImportMode.COUNT
    assert (summary.rows, summary.units, summary.movements, summary.variance) == (4, 12, 2, -1)
    assert len(summary.count_ids) == 2
    assert _figures(db) == {("A", shop["wh"]): 7, ("B", shop["wh"]): 3, ("B", shop["store"]): 2}
    with db.reading() as s:
        counts = [
            (c.location_id, c.note, c.actor)
            for c in s.scalars(select(StockCount).order_by(StockCount.id))
        ]
        lines = [
            (ln.count_id, ln.variant_id, ln.expected, ln.counted, ln.variance)
            for ln in s.scalars(select(StockCountLine).order_by(StockCountLine.id))
        ]
        moves = [
            (sku, m.kind, m.delta_on_hand, m.count_id, m.reason)
            for m, sku in _ledger(s)
            if m.kind == "count"
        ]
        assert queries.reconcile(s) == []
    wh_count, store_count = summary.count_ids
    assert counts == [(shop["wh"], "monthly", "tester"), (shop["store"], "monthly", "tester")]
    assert lines == [
        (wh_count, shop["a"], 10, 7, -3),
        (wh_count, shop["b"], 3, 3, 0),
        (store_count, shop["b"], 0, 2, 2),
        (store_count, shop["a"], 0, 0, 0),
    ]
    assert sorted(moves) == [
        ("A", "count", -3, wh_count, "monthly"),
        ("B", "count", 2, store_count, "monthly"),
    ]


def test_count_mode_rejects_duplicates_and_counts_below_holds(
    db: Database, shop: dict[str, int], tmp_path: Path
) -> None:
    duplicate = _csv(tmp_path, "sku,location,quantity\nA,wh,7\nB,wh,1\nA,wh,8\n")
    before = _snapshot(db)
    with pytest.raises(StockImportRejected) as info:
        import_stock_file(db, duplicate, mode=StockImportMode.COUNT)
    assert info.value.errors == [RowError(4, "sku", "'A' at 'wh' is also row 2")]
    assert _snapshot(db) == before
    # In receipt mode the same rows simply add up.
    import_stock_file(db, duplicate)
    assert _figures(db)[("A", shop["wh"])] == 25
    service.reserve_stock(db, channel_id=shop["web"], lines=[("A", 20)], idempotency_key="k")
    below = _csv(tmp_path, "sku,location,quantity\nB,wh,0\nA,wh,19\n", "below.csv")
    before = _snapshot(db)
    with pytest.raises(StockImportRejected) as info:
        import_stock_file(db, below, mode=StockImportMode.COUNT)
    assert info.value.errors == [
        RowError(3, "quantity", f"A at location {shop['wh']}: 5 available, the change needs 6")
    ]
    assert _snapshot(db) == before


def test_many_rows_span_several_chunks(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        add_location(s, "wh")
        add_location(s, "store", kind="store")
        for n in range(700):
            add_variant(s, f"S{n:04d}")
    body = "".join(f"S{n:04d},{loc},{n + 1}\n" for n in range(700) for loc in ("wh", "store"))
    summary = import_stock_file(db, _csv(tmp_path, "sku,location,quantity\n" + body))
    assert (summary.rows, summary.units, summary.movements) == (1400, 2 * 700 * 701 // 2, 1400)
    with db.reading() as s:
        assert queries.reconcile(s) == []
        total = s.scalar(select(func.sum(StockLevel.on_hand)))
    assert total == 700 * 701
    recount = "".join(f"S{n:04d},wh,{n}\n" for n in range(700))
    counted = import_stock_file(
        db,
        _csv(tmp_path, "sku,location,quantity\n" + recount, "count.csv"),
        mode=StockImportMode.COUNT,
    )
    assert (counted.rows, counted.movements, counted.variance) == (700, 700, -700)
