"""`omnicart channels`, `omnicart locations` and `omnicart keys` against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnicart.auth import cli as auth_cli
from omnicart.auth.service import authenticate
from omnicart.channels import cli as channels_cli
from omnicart.channels.service import list_channels
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.locations import cli as locations_cli
from omnicart.locations.service import list_locations

runner = CliRunner()
# The same sub-apps `omnicart` mounts, without importing every other capability's CLI.
app = typer.Typer()
app.add_typer(channels_cli.app, name="channels")
app.add_typer(locations_cli.app, name="locations")
app.add_typer(auth_cli.app, name="keys")


def _invoke(db: Database, *args: str) -> str:
    url = db.engine.url.render_as_string(hide_password=False)
    # Wide enough that Rich tables show whole cells.
    result = runner.invoke(app, [*args, "--database-url", url], env={"COLUMNS": "200"})
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def _seed(db: Database) -> None:
    _invoke(
        db,
        "locations",
        "create",
        "--code",
        "wro",
        "--name",
        "Wrocław",
        "--kind",
        "warehouse",
        "--country",
        "pl",
        "--latitude",
        "51.1",
        "--longitude",
        "17.03",
    )
    _invoke(
        db,
        "locations",
        "create",
        "--code",
        "krk",
        "--name",
        "Kraków",
        "--kind",
        "store",
        "--pickup",
        "--ship-from-store",
        "--priority",
        "5",
    )
    _invoke(
        db,
        "channels",
        "create",
        "--code",
        "allegro",
        "--name",
        "Allegro",
        "--kind",
        "marketplace",
        "--currency",
        "pln",
        "--percent-shown",
        "80",
        "--units-held-back",
        "2",
        "--ship",
        "wro",
        "--ship",
        "krk",
        "--pickup",
        "krk",
    )


def test_create_and_list(sqlite_db: Database) -> None:
    _seed(sqlite_db)
    with sqlite_db.reading() as session:
        locations = list_locations(session)
        (channel,) = list_channels(session)
    wro, krk = locations
    assert (wro.code, wro.country, wro.latitude, krk.kind, krk.ship_from_store, krk.priority) == (
        "wro",
        "PL",
        51.1,
        "store",
        True,
        5,
    )
    assert (channel.code, channel.currency, channel.buffer_percent_shown, channel.buffer_units) == (
        "allegro",
        "PLN",
        80,
        2,
    )
    assert (channel.ship_location_ids, channel.pickup_location_ids) == ((wro.id, krk.id), (krk.id,))
    assert "allegro" in _invoke(sqlite_db, "channels", "list")
    listing = _invoke(sqlite_db, "locations", "list")
    assert "wro" in listing
    assert "krk" in listing


def test_bad_input_raises_the_domain_error_and_stores_nothing(sqlite_db: Database) -> None:
    _seed(sqlite_db)
    with pytest.raises(ValidationFailed) as invalid:
        _invoke(
            sqlite_db,
            "channels",
            "create",
            "--code",
            "ebay",
            "--name",
            "eBay",
            "--kind",
            "marketplace",
            "--currency",
            "EUR",
            "--percent-shown",
            "150",
        )
    assert invalid.value.field == "buffer_percent_shown"
    with pytest.raises(NotFound) as unknown:
        _invoke(
            sqlite_db,
            "channels",
            "create",
            "--code",
            "ebay",
            "--name",
            "eBay",
            "--kind",
            "marketplace",
            "--currency",
            "EUR",
            "--ship",
            "nowhere",
        )
    assert unknown.value.field == "ship"
    with pytest.raises(Conflict) as taken:
        _invoke(
            sqlite_db,
            "locations",
            "create",
            "--code",
            "wro",
            "--name",
            "Again",
            "--kind",
            "warehouse",
        )
    assert taken.value.field == "code"
    with sqlite_db.reading() as session:
        assert [c.code for c in list_channels(session)] == ["allegro"]
        assert [loc.code for loc in list_locations(session)] == ["wro", "krk"]


def test_keys_create_list_revoke(sqlite_db: Database) -> None:
    _seed(sqlite_db)
    secret = _invoke(
        sqlite_db, "keys", "create", "--role", "channel", "--channel", "allegro"
    ).strip()
    with sqlite_db.reading() as session:
        principal = authenticate(session, secret=secret)
    assert (principal.role, principal.name) == ("channel", "channel-allegro")
    listing = _invoke(sqlite_db, "keys", "list")
    assert "channel-allegro" in listing
    assert secret not in listing
    _invoke(sqlite_db, "keys", "revoke", str(principal.key_id))
    with pytest.raises(NotFound) as unknown:
        _invoke(sqlite_db, "keys", "create", "--role", "staff", "--location", "nowhere")
    assert unknown.value.field == "location"


def test_real_command_exits_2_with_the_field(tmp_path: Path) -> None:
    env = {**os.environ, "OMNICART_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    omnicart = Path(sys.executable).with_name("omnicart")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(omnicart), *args], env=env, capture_output=True, text=True, check=False, timeout=60
        )

    assert run("db", "upgrade").returncode == 0
    bad = run(
        "channels",
        "create",
        "--code",
        "Bad Code",
        "--name",
        "x",
        "--kind",
        "web",
        "--currency",
        "EUR",
    )
    assert bad.returncode == 2
    assert "(--code)" in bad.stderr
    created = run("keys", "create", "--role", "admin", "--name", "ops")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("oc_")
    assert run("keys", "revoke", "99").returncode == 2
