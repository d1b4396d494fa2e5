"""`omnicart inventory ...` and `omnicart import stock` against a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from omnicart.cli import app
from omnicart.db.engine import Database
from omnicart.inventory import queries, service
from omnicart.inventory.tables import Movement
from omnicart.kernel.clock import set_clock, utcnow
from omnicart.kernel.errors import NotFound, ValidationFailed
from tests.support import add_channel, add_location, add_variant

OMNICART = Path(sys.executable).with_name("omnicart")
runner = CliRunner()


@pytest.fixture
def url(sqlite_db: Database) -> str:
    with sqlite_db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2)
        a = add_variant(s, "A")
        b = add_variant(s, "B")
        add_variant(s, "KIT", components={a: 2, b: 1})
        add_channel(s, "web", ship=(wh, store))
        add_channel(s, "allegro", percent_shown=80, units_held_back=2, ship=(wh,))
    return sqlite_db.engine.url.render_as_string(hide_password=False)


def _lines(output: str) -> list[list[str]]:
    """The cells of each table row, without Rich's borders."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│") if c.strip()]
        if cells:
            rows.append(cells)
    return rows


def _movements(db: Database) -> int:
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(Movement)) or 0


def test_receive_stock_and_availability(url: str, sqlite_db: Database) -> None:
    received = runner.invoke(
        app,
        [
            "inventory",
            "receive",
            "--location",
            "wh",
            "A=10",
            "B=3",
            "--reason",
            "PO-9",
            "--database-url",
            url,
        ],
    )
    assert received.exit_code == 0, received.output
    assert ["A", "10"] in _lines(received.output)
    assert ["B", "3"] in _lines(received.output)
    runner.invoke(
        app, ["inventory", "receive", "--location", "store", "A=4", "--database-url", url]
    )
    stock = runner.invoke(app, ["inventory", "stock", "--database-url", url])
    assert stock.exit_code == 0, stock.output
    rows = [r for r in _lines(stock.output) if len(r) == 6]
    assert rows == [
        ["sku", "location", "on hand", "reserved", "allocated", "available"],
        ["A", "wh", "10", "0", "0", "10"],
        ["A", "store", "4", "0", "0", "4"],
        ["B", "wh", "3", "0", "0", "3"],
    ]
    only = runner.invoke(
        app, ["inventory", "stock", "--location", "store", "--sku", "A", "--database-url", url]
    )
    assert [r for r in _lines(only.output) if len(r) == 6][1:] == [
        ["A", "store", "4", "0", "0", "4"]
    ]
    allegro = runner.invoke(
        app,
        [
            "inventory",
            "availability",
            "--channel",
            "allegro",
            "A",
            "B",
            "KIT",
            "--database-url",
            url,
        ],
    )
    assert allegro.exit_code == 0, allegro.output
    assert [r for r in _lines(allegro.output) if len(r) == 2][1:] == [
        ["A", "8"],
        ["B", "1"],
        ["KIT", "1"],
    ]
    with sqlite_db.reading() as s:
        reasons = {m.reason for m, _ in queries.list_movements(s)}
    assert reasons == {"PO-9", ""}


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        (["--location", "wh", "A=1.5"], ValidationFailed, "lines.0.quantity"),
        (["--location", "wh", "A=1", "B"], ValidationFailed, "lines.1"),
        (["--location", "wh", "A=0"], ValidationFailed, "lines.0.quantity"),
        (["--location", "wh", "NOPE=1"], NotFound, "lines"),
        (["--location", "moon", "A=1"], NotFound, "location"),
    ],
)
def test_bad_receive_input_is_a_kernel_error(
    url: str, sqlite_db: Database, args: list[str], error: type[Exception], field: str
) -> None:
    result = runner.invoke(app, ["inventory", "receive", *args, "--database-url", url])
    assert isinstance(result.exception, error)
    assert getattr(result.exception, "field", None) == field
    assert _movements(sqlite_db) == 0


def test_reconcile_reports_discrepancies(url: str, sqlite_db: Database) -> None:
    runner.invoke(app, ["inventory", "receive", "--location", "wh", "A=5", "--database-url", url])
    healthy = runner.invoke(app, ["inventory", "reconcile", "--database-url", url])
    assert healthy.exit_code == 0
    assert "stock agrees with the ledger and the holds" in healthy.output
    with sqlite_db.transaction() as s:
        s.execute(text("UPDATE stock_levels SET on_hand = on_hand + 2"))
    broken = runner.invoke(app, ["inventory", "reconcile", "--database-url", url])
    assert broken.exit_code == 1
    assert ["A", "wh", "on_hand", "7", "5", "ledger"] in _lines(broken.output)


def test_expire_frees_expired_holds(url: str, sqlite_db: Database) -> None:
    with sqlite_db.reading() as s:
        web = s.scalar(text("SELECT id FROM channels WHERE code = 'web'"))
    runner.invoke(app, ["inventory", "receive", "--location", "wh", "A=5", "--database-url", url])
    for key in ("c1", "c2"):
        service.reserve_stock(
            sqlite_db, channel_id=web, lines=[("A", 2)], idempotency_key=key, ttl_seconds=60
        )
    none_yet = runner.invoke(app, ["inventory", "expire", "--database-url", url])
    assert none_yet.output.strip() == "expired 0 reservations"
    later = utcnow() + timedelta(seconds=61)
    set_clock(lambda: later)
    try:
        expired = runner.invoke(app, ["inventory", "expire", "--database-url", url])
    finally:
        set_clock(None)
    assert expired.exit_code == 0
    assert expired.output.strip() == "expired 2 reservations"
    with sqlite_db.reading() as s:
        assert queries.channel_availability(s, channel_id=web, skus=["A"]) == {"A": 5}


def test_import_stock_in_receipt_and_count_mode(
    url: str, sqlite_db: Database, tmp_path: Path
) -> None:
    receipt = tmp_path / "in.csv"
    receipt.write_text("sku,location,quantity,reason\nA,wh,10,PO-1\nB,store,4,PO-1\n")
    result = runner.invoke(app, ["import", "stock", str(receipt), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "received 14 units in 2 rows at 2 locations" in result.output
    count = tmp_path / "count.csv"
    count.write_text("sku,location,quantity\nA,wh,8\nB,store,4\n")
    counted = runner.invoke(
        app, ["import", "stock", str(count), "--mode", "count", "--database-url", url]
    )
    assert counted.exit_code == 0, counted.output
    assert "counted 2 rows at 2 locations: 1 changed, net variance -2 units" in counted.output
    with sqlite_db.reading() as s:
        assert {(r.sku, r.on_hand) for r in queries.stock_rows(s)} == {("A", 8), ("B", 4)}


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "OMNICART_DATABASE_URL": url, "COLUMNS": "200"}


def test_bad_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgraded = subprocess.run(
        [OMNICART, "db", "upgrade"], env=_env(url), capture_output=True, text=True, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr
    db = Database.from_url(url)
    try:
        with db.transaction() as s:
            add_location(s, "wh")
            add_variant(s, "A")
        bad = tmp_path / "bad.csv"
        bad.write_text("sku,location,quantity\nA,wh,3\nNOPE,wh,1\nA,moon,2.5\n")
        result = subprocess.run(
            [OMNICART, "import", "stock", str(bad)],
            env=_env(url),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        rows = _lines(result.stderr)
        assert ["3", "sku", "unknown SKU 'NOPE'"] in rows
        assert ["4", "location", "unknown location 'moon'"] in rows
        assert ["4", "quantity", "'2.5' is not a whole number"] in rows
        assert _movements(db) == 0
        unknown = subprocess.run(
            [OMNICART, "inventory", "receive", "--location", "moon", "A=1"],
            env=_env(url),
            capture_output=True,
            text=True,
            check=False,
        )
        assert unknown.returncode == 2
        assert "location 'moon' does not exist" in unknown.stderr
        good = tmp_path / "good.csv"
        good.write_text("sku,location,quantity\nA,wh,3\n")
        ok = subprocess.run(
            [OMNICART, "import", "stock", str(good)],
            env=_env(url),
            capture_output=True,
            text=True,
            check=False,
        )
        assert ok.returncode == 0, ok.stderr
        assert _movements(db) == 1
    finally:
        db.dispose()
