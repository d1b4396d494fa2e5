"""`omnicart customers` against a real database: sync, show, export, erase."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from omnicart.customers import cli as customers_cli
from omnicart.customers import service
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, ValidationFailed
from tests.customers_support import EMAIL, seed

runner = CliRunner()
app = typer.Typer()
app.add_typer(customers_cli.app, name="customers")


def _invoke(db: Database, tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    url = db.engine.url.render_as_string(hide_password=False)
    extra = ["--database-url", url]
    if args[1] != "sync":
        extra += ["--events-path", str(tmp_path / "none.duckdb")]
    result = runner.invoke(app, [*args, *extra], env={"COLUMNS": "200"}, input=stdin)
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_sync_show_export_erase(sqlite_db: Database, tmp_path: Path) -> None:
    seed(sqlite_db)
    assert "order events" in _invoke(sqlite_db, tmp_path, "customers", "sync")
    ewa = service.find_customer(sqlite_db, kind="email", value=EMAIL)
    shown = _invoke(sqlite_db, tmp_path, "customers", "show", str(ewa))
    assert f"customer {ewa}" in shown
    assert "ewa.kowalska@poczta.pl" in shown
    as_json = orjson.loads(_invoke(sqlite_db, tmp_path, "customers", "show", str(ewa), "--json"))
    assert as_json["id"] == ewa
    assert len(as_json["orders"]) == 2
    exported = orjson.loads(_invoke(sqlite_db, tmp_path, "customers", "export", str(ewa)))
    assert exported["customer_id"] == ewa
    out = tmp_path / "ewa.json"
    _invoke(sqlite_db, tmp_path, "customers", "export", str(ewa), "--out", str(out))
    assert orjson.loads(out.read_bytes())["customer_id"] == ewa
    with pytest.raises(ValidationFailed) as exists:
        _invoke(sqlite_db, tmp_path, "customers", "export", str(ewa), "--out", str(out))
    assert exists.value.field == "out"
    with pytest.raises(ValidationFailed) as declined:
        _invoke(sqlite_db, tmp_path, "customers", "erase", str(ewa), stdin="n\n")
    assert declined.value.field == "yes"
    assert service.customer_360(sqlite_db, customer_id=ewa).erased_at is None
    erased = _invoke(sqlite_db, tmp_path, "customers", "erase", str(ewa), "--yes")
    assert f"erased customer {ewa}: " in erased
    assert service.customer_360(sqlite_db, customer_id=ewa).identities == []
    with pytest.raises(NotFound):
        _invoke(sqlite_db, tmp_path, "customers", "show", "999999")


def test_bad_input_exits_2_with_a_precise_message(tmp_path: Path) -> None:
    env = {**os.environ, "OMNICART_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    omnicart = Path(sys.executable).with_name("omnicart")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(omnicart), *args], env=env, capture_output=True, text=True, check=False, timeout=60
        )

    assert run("db", "upgrade").returncode == 0
    missing = run("customers", "show", "7")
    assert missing.returncode == 2
    assert "(CUSTOMER_ID)" in missing.stderr
    assert "customer 7 does not exist" in missing.stderr
    unconfirmed = run("customers", "erase", "7")
    assert unconfirmed.returncode == 2
    assert "nothing was erased" in unconfirmed.stderr
    assert run("customers", "show", "x").returncode == 2  # not a number: Typer's usage error
