"""`omnicart import catalog FILE`: summary on success, a table of rejections and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from omnicart.catalog.tables import Product, Variant
from omnicart.cli import app
from omnicart.db.engine import Database
from tests.cli_run import omnicart
from tests.support import add_channel

GOOD = (
    "handle,product_title,sku,gtin,price:jp\ntee,Tee,TEE-S,4006381333931,2000\ntee,,TEE-M,,2100\n"
)
BAD = (
    "handle,product_title,sku,gtin,price:jp\n"
    "tee,Tee,TEE-S,4006381333932,2000\n"
    "tee,,TEE-M,,2100.5\n"
    "tee,,TEE-S,,\n"
)


@pytest.fixture
def url(sqlite_db: Database) -> str:
    with sqlite_db.transaction() as session:
        add_channel(session, "jp", currency="JPY")
    return sqlite_db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "200")  # keep Rich from wrapping the table in tests
    return CliRunner()


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(Product)) or 0,
            session.scalar(select(func.count()).select_from(Variant)) or 0,
        )


def test_import_prints_a_summary(
    runner: CliRunner, url: str, tmp_path: Path, sqlite_db: Database
) -> None:
    path = tmp_path / "good.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(app, ["import", "catalog", str(path), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "imported 2 rows: products 1 created, 0 updated; variants 2 created, 0 updated; "
        "0 bundles defined, 2 prices set, 0 listings set"
    )
    assert _counts(sqlite_db) == (1, 2)


def test_rejected_rows_exit_2_with_a_table_and_write_nothing(
    runner: CliRunner, url: str, tmp_path: Path, sqlite_db: Database
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    result = runner.invoke(app, ["import", "catalog", str(path), "--database-url", url])
    assert result.exit_code == 2
    lines = [" ".join(line.replace("│", " ").split()) for line in result.stderr.splitlines()]
    assert "2 gtin GTIN '4006381333932' has check digit 2, expected 1" in lines
    assert "3 price:jp 2100.5 has more than 0 decimal places, the most JPY allows" in lines
    assert "4 sku SKU 'TEE-S' is already on row 2" in lines
    assert "3 problems in the file; nothing was imported" in lines
    assert result.stdout == ""
    assert _counts(sqlite_db) == (0, 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"handle,sku\n\xff\n", "is not UTF-8 text (byte 0xff at offset 11)"),
        (b"", "is empty; the first row must be the header"),
    ],
)
def test_unreadable_file_exits_2(
    capsys: pytest.CaptureFixture[str],
    url: str,
    tmp_path: Path,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "catalog.csv"
    if content is not None:
        path.write_bytes(content)
    result = omnicart(capsys, "import", "catalog", str(path), "--database-url", url)
    assert result.code == 2
    assert result.err.startswith("error (FILE): ")
    assert message in " ".join(result.err.split())


def test_unreadable_numbers_are_reported_with_exit_2(
    runner: CliRunner, url: str, tmp_path: Path, sqlite_db: Database
) -> None:
    path = tmp_path / "bad-numbers.csv"
    path.write_text(
        "handle,product_title,sku,gtin,low_stock_threshold,price:jp\n"
        "tee,Tee,TEE-S,¹2345670,,\n"
        "tee,,TEE-M,,9223372036854775808,1e30\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", "catalog", str(path), "--database-url", url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "3 problems in the file; nothing was imported" in result.stderr
    assert "must be 8, 12, 13 or 14 digits" in result.stderr
    assert "must be from 0 to 1,000,000" in result.stderr
    assert "amount has more than 15 digits before the decimal point" in result.stderr
    assert _counts(sqlite_db) == (0, 0)
