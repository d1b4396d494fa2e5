"""The `omnicart` command: serve, db, import, bench, demo and capability commands."""

from __future__ import annotations

from typing import Annotated

import typer

from omnicart import __version__
from omnicart.cli_support import CliConsole, lazy_group, run
from omnicart.db.migrate import open_upgraded
from omnicart.settings import get_settings

# Sub-commands load when used: a command pays only for its own capability's imports.
app = typer.Typer(
    no_args_is_help=True,
    help="Omnicart: one stock and one catalog for every channel.",
    cls=lazy_group(
        {
            "channels": "omnicart.channels.cli:app",
            "locations": "omnicart.locations.cli:app",
            "inventory": "omnicart.inventory.cli:app",
            "orders": "omnicart.orders.cli:app",
            "returns": "omnicart.orders.cli:returns_app",
            "keys": "omnicart.auth.cli:app",
            "users": "omnicart.users.cli:app",
            "customers": "omnicart.customers.cli:app",
            "tracking": "omnicart.tracking.cli:app",
            "events": "omnicart.tracking.cli:events_app",
            "connectors": "omnicart.connectors.cli:app",
            "webhooks": "omnicart.webhooks.cli:app",
            "feeds": "omnicart.productfeeds.cli:app",
            "analytics": "omnicart.analytics.cli:app",
            "demo": "omnicart.demo.cli:demo",
            "worker": "omnicart.worker.cli:worker",
        }
    ),
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema commands.")
import_app = typer.Typer(
    no_args_is_help=True,
    help="Import CSV files (all-or-nothing).",
    cls=lazy_group(
        {
            "catalog": "omnicart.catalog.cli:import_catalog",
            "stock": "omnicart.inventory.cli:import_stock",
            "history": "omnicart.analytics.history_cli:import_history_command",
            "spend": "omnicart.analytics.costs_cli:import_spend",
            "costs": "omnicart.analytics.costs_cli:import_costs",
            "fees": "omnicart.analytics.costs_cli:import_fees",
            "fixed-costs": "omnicart.analytics.costs_cli:import_fixed_costs",
            "rates": "omnicart.analytics.costs_cli:import_rates",
        }
    ),
)
bench_app = typer.Typer(
    no_args_is_help=True,
    help="Benchmarks; each prints JSON lines.",
    cls=lazy_group(
        {
            kind: f"omnicart.benchmarks.cli:bench_{kind}"
            for kind in ("inventory", "ingest", "orders", "connectors", "analytics", "console")
        }
    ),
)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(bench_app, name="bench")
console = CliConsole(stderr=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"omnicart {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Omnicart: one stock and one catalog for every channel."""


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[
        str | None, typer.Option(help="Defaults to OMNICART_DATABASE_URL.")
    ] = None,
) -> None:
    """Create or migrate the schema to the latest version (safe to run again)."""
    open_upgraded(database_url or get_settings().database_url).dispose()
    console.print("[green]database is at the latest schema[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to OMNICART_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to OMNICART_PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    database_url: Annotated[
        str | None, typer.Option(help="Defaults to OMNICART_DATABASE_URL.")
    ] = None,
    background_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run the background rounds in one `omnicart worker` process beside the "
            "web workers (default), or inside each web worker.",
        ),
    ] = True,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs); migrates the database first."""
    import os
    import signal

    import uvicorn

    from omnicart.api.access_log import log_config
    from omnicart.worker.supervise import Supervisor

    settings = get_settings()
    if database_url:
        # The app factory reads settings in each worker process, so pass it on that way.
        os.environ["OMNICART_DATABASE_URL"] = database_url
        get_settings.cache_clear()
        settings = get_settings()
    # A database that cannot be reached is one line here, not a traceback in each worker.
    open_upgraded(settings.database_url).dispose()
    # Web workers answer requests; one worker process does the background rounds.
    os.environ["OMNICART_BACKGROUND"] = "worker" if background_worker else "inline"
    get_settings.cache_clear()
    supervisor = Supervisor(os.environ) if background_worker else None
    if supervisor is not None:
        supervisor.start()
        # uvicorn shuts down on SIGTERM, then raises the signal again for the handler it
        # found: the default one would end this process before `finally` stops the worker.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            "omnicart.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            # Personal values sent in query strings never reach the access log.
            log_config=log_config(),
        )
    finally:
        if supervisor is not None:
            supervisor.stop()


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    """Entry point: a refused command is one line naming what was typed, and exit code 2."""
    run(app)
