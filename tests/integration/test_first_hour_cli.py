"""A new user's first hour with `omnicart`: a database that is not ready is one line and
exit 2 in every command, nothing is created by reading, refusals name what was typed,
tables are whole in a pipe, money has its minor units, and the demo checks its port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from omnicart import __version__
from omnicart.db.engine import Database
from omnicart.db.migrate import head_revision
from omnicart.settings import get_settings
from tests.cli_run import omnicart
from tests.support import add_channel, add_location, add_variant

OMNICART = Path(sys.executable).with_name("omnicart")
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
# One read-only and one writing command of each group, and `serve`.
COMMANDS = [
    ["channels", "list"],
    ["locations", "list"],
    ["keys", "list"],
    ["inventory", "stock"],
    ["inventory", "receive", "A=1", "--location", "wh"],
    ["orders", "list"],
    ["returns", "refund", "1"],
    ["customers", "show", "1"],
    ["tracking", "sources", "list"],
    ["events", "count"],
    ["serve"],
]
# The benchmarks make their own schemas: only whether their database answers is checked.
BENCHMARKS = [["bench", "inventory"], ["bench", "orders"]]


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def url(sqlite_db: Database) -> str:
    with sqlite_db.transaction() as s:
        wh = add_location(s, "wh")
        add_variant(s, "TEE-M")
        add_channel(s, "web", ship=(wh,))
    return sqlite_db.engine.url.render_as_string(hide_password=False)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS + BENCHMARKS, ids=" ".join)
def test_an_unreachable_database_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    ran = omnicart(capsys, *command, "--database-url", UNREACHABLE)
    assert ran.code == 2
    line = _one_line(ran.err)
    assert line.startswith(f"error: cannot connect to the database at {UNREACHABLE}: ")
    assert "Connection refused" in line
    assert line.endswith(
        "check OMNICART_DATABASE_URL (or --database-url), then run `omnicart db upgrade`"
    )


@pytest.mark.parametrize("command", COMMANDS[:-1], ids=" ".join)
def test_a_database_never_upgraded_names_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    ran = omnicart(capsys, *command, "--database-url", f"sqlite:///{empty}")
    assert ran.code == 2
    assert _one_line(ran.err) == (
        f"error: the database at sqlite:///{empty} has no Omnicart schema; "
        "run `omnicart db upgrade`"
    )
    probe = Database.from_url(f"sqlite:///{empty}")
    assert inspect(probe.engine).get_table_names() == []  # no half-made schema
    probe.dispose()


def test_an_older_or_newer_schema_is_named_with_its_revision(
    capsys: pytest.CaptureFixture[str], url: str, sqlite_db: Database
) -> None:
    head = head_revision()
    with sqlite_db.connection() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    ran = omnicart(capsys, "orders", "list", "--database-url", url)
    assert ran.code == 2
    assert _one_line(ran.err) == (
        f"error: the database at {url} has schema 0001, this Omnicart needs {head}; "
        "run `omnicart db upgrade`"
    )
    with sqlite_db.connection() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    ran = omnicart(capsys, "orders", "list", "--database-url", url)
    assert ran.code == 2
    assert _one_line(ran.err) == (
        f"error: the database at {url} has schema f00d, newer than this Omnicart knows "
        f"({head}); upgrade Omnicart to use it"
    )


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("garbage", "error: 'garbage' is not a database URL; use sqlite:///"),
        ("mysql://me@db/shop", "error: mysql://me@db/shop is not a SQLite or PostgreSQL URL"),
    ],
)
def test_a_url_that_is_no_database_url_is_one_line(
    capsys: pytest.CaptureFixture[str], given: str, says: str
) -> None:
    for command in (["channels", "list"], ["db", "upgrade"], ["serve"]):
        ran = omnicart(capsys, *command, "--database-url", given)
        assert ran.code == 2
        assert _one_line(ran.err).startswith(says)


def test_the_password_of_a_url_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    ran = omnicart(
        capsys, "orders", "list", "--database-url", "postgresql+psycopg://me:s3cret@127.0.0.1:1/x"
    )
    assert ran.code == 2
    assert "s3cret" not in ran.err
    assert "postgresql+psycopg://me:***@127.0.0.1:1/x" in ran.err


def test_reading_never_creates_a_sqlite_file_or_its_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "not" / "yet" / "shop.db"
    for command in (["channels", "list"], ["orders", "list"], ["inventory", "stock"]):
        ran = omnicart(capsys, *command, "--database-url", f"sqlite:///{missing}")
        assert ran.code == 2
        assert _one_line(ran.err) == (
            f"error: there is no database at {missing}; run `omnicart db upgrade` to create it"
        )
    Database.from_url(f"sqlite:///{missing}").dispose()  # an engine alone creates nothing
    assert not (tmp_path / "not").exists()
    assert omnicart(capsys, "db", "upgrade", "--database-url", f"sqlite:///{missing}").code == 0
    assert missing.exists()
    assert omnicart(capsys, "channels", "list", "--database-url", f"sqlite:///{missing}").code == 0


def test_the_installed_command_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "OMNICART_DATABASE_URL": UNREACHABLE}
    done = subprocess.run(
        [str(OMNICART), "channels", "list"],
        env=env, capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert _one_line(done.stderr).startswith("error: cannot connect to the database at ")
    assert list(tmp_path.iterdir()) == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    ran = omnicart(capsys, "--version")
    assert (ran.code, ran.out, ran.err) == (0, f"omnicart {__version__}\n", "")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["inventory", "stock", "--sku", "NOPE"], "error (--sku): unknown SKU: NOPE"),
        (
            ["inventory", "availability", "NOPE", "--channel", "web"],
            "error (SKUS): unknown SKU: NOPE",
        ),
        (
            ["inventory", "receive", "NOPE=1", "--location", "wh"],
            "error (LINES): unknown SKU: NOPE",
        ),
        (
            ["inventory", "receive", "TEE-M=1", "TEE-M=-5", "--location", "wh"],
            "error (TEE-M=-5): quantity must be positive, got -5",
        ),
        (
            ["inventory", "receive", "TEE-M=1", "--location", "moon"],
            "error (--location): location 'moon' does not exist",
        ),
        (["orders", "show", "999"], "error (ORDER_ID): order 999 does not exist"),
        (["keys", "revoke", "999"], "error (ID): API key 999 does not exist"),
        (
            [
                "channels",
                "create",
                "--code",
                "x",
                "--name",
                "X",
                "--kind",
                "web",
                "--currency",
                "PLN",
                "--percent-shown",
                "150",
            ],
            "error (--percent-shown): --percent-shown is the share of stock shown: 0 to 100",
        ),
    ],
)
def test_refusals_exit_2_and_name_what_the_user_typed(
    capsys: pytest.CaptureFixture[str], url: str, args: list[str], line: str
) -> None:
    ran = omnicart(capsys, *args, "--database-url", url)
    assert ran.code == 2
    assert _one_line(ran.err) == line
    assert ran.out == ""


def test_an_order_file_error_names_the_file_and_the_place_in_it(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "order.json"
    broken.write_text(json.dumps({"currency": "PLN", "lines": [{"sku": "TEE-M", "quantity": "x"}]}))
    ran = omnicart(
        capsys, "orders", "ingest", str(broken), "--channel", "web", "--external-id", "A-1",
        "--database-url", url,
    )  # fmt: skip
    assert ran.code == 2
    assert _one_line(ran.err) == (
        f"error (FILE): {broken}: lines.0.quantity: Input should be a valid integer"
    )


def test_tables_in_a_pipe_are_whole_and_money_has_minor_units(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    long_name = "A channel whose name is far longer than eighty columns would ever allow"
    created = omnicart(
        capsys, "channels", "create", "--code", "long", "--name", long_name, "--kind", "web",
        "--currency", "PLN", "--ship", "wh", "--database-url", url,
    )  # fmt: skip
    assert created.code == 0, created.err
    listed = omnicart(capsys, "channels", "list", "--database-url", url)
    row = next(line for line in listed.out.splitlines() if "long" in line)
    assert long_name in row  # one line, not wrapped into a column 12 characters wide
    assert max(len(line) for line in listed.out.splitlines()) > 80
    order = tmp_path / "order.json"
    order.write_text(
        json.dumps(
            {
                "currency": "PLN",
                "lines": [{"sku": "TEE-M", "quantity": 2, "unit_price": "12"}],
                "total": "24",
            }
        )
    )
    received = omnicart(
        capsys, "inventory", "receive", "TEE-M=5", "--location", "wh", "--database-url", url
    )
    assert received.code == 0, received.err
    shown = omnicart(
        capsys, "orders", "ingest", str(order), "--channel", "long", "--external-id", "A-1",
        "--database-url", url,
    )  # fmt: skip
    assert shown.code == 0, shown.err
    assert "total 24.00 PLN, paid 0.00, refunded 0.00" in shown.out
    assert "│ 1 │ TEE-M │ 2   │ 12.00      │ 0.00     │ 0.00 │ 24.00 │" in shown.out
    listed = omnicart(capsys, "orders", "list", "--database-url", url)
    assert "│ 24.00 PLN │" in listed.out


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_the_demo_refuses_a_busy_port_before_building_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, busy_port: int
) -> None:
    where = tmp_path / "demo" / "demo.db"
    ran = omnicart(capsys, "demo", "--port", str(busy_port), "--database-url", f"sqlite:///{where}")
    assert ran.code == 2
    assert _one_line(ran.err) == (
        f"error (--port): cannot serve on 127.0.0.1:{busy_port} (Address already in use); "
        "stop what uses it, or choose another port with --port or OMNICART_PORT"
    )
    assert ran.out == ""  # no keys printed that would not work
    assert not (tmp_path / "demo").exists()


def test_the_demo_serves_on_omnicart_port(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    busy_port: int,
) -> None:
    monkeypatch.setenv("OMNICART_PORT", str(busy_port))
    get_settings.cache_clear()
    try:
        ran = omnicart(capsys, "demo", "--database-url", f"sqlite:///{tmp_path / 'demo.db'}")
    finally:
        get_settings.cache_clear()
    assert ran.code == 2
    assert f"cannot serve on 127.0.0.1:{busy_port} " in ran.err
