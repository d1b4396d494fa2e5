"""The `omnicart` command: serve, db, import, bench, demo and capability commands."""

from __future__ import annotations

from typing import Annotated

import typer

from omnicart import __version__
from omnicart.analytics import cli as analytics_cli
from omnicart.analytics import costs_cli, history_cli
from omnicart.auth import cli as auth_cli
from omnicart.benchmarks import cli as bench_cli
from omnicart.catalog import cli as catalog_cli
from omnicart.channels import cli as channels_cli
from omnicart.cli_support import CliConsole, run
from omnicart.connectors import cli as connectors_cli
from omnicart.customers import cli as customers_cli
from omnicart.db.migrate import open_upgraded
from omnicart.demo import cli as demo_cli
from omnicart.inventory import cli as inventory_cli
from omnicart.locations import cli as locations_cli
from omnicart.orders import cli as orders_cli
from omnicart.productfeeds import cli as productfeeds_cli
from omnicart.settings import get_settings
from omnicart.tracking import cli as tracking_cli
from omnicart.webhooks import cli as webhooks_cli
from omnicart.worker import cli as worker_cli

app = typer.Typer(
    no_args_is_help=True, help="Omnicart: one stock and one catalog for every channel."
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema commands.")
import_app = typer.Typer(no_args_is_help=True, help="Import CSV files (all-or-nothing).")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks; each prints JSON lines.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(bench_app, name="bench")
app.add_typer(channels_cli.app, name="channels")
app.add_typer(locations_cli.app, name="locations")
app.add_typer(inventory_cli.app, name="inventory")
app.add_typer(orders_cli.app, name="orders")
app.add_typer(orders_cli.returns_app, name="returns")
app.add_typer(auth_cli.app, name="keys")
app.add_typer(customers_cli.app, name="customers")
app.add_typer(tracking_cli.app, name="tracking")
app.add_typer(tracking_cli.events_app, name="events")
app.add_typer(connectors_cli.app, name="connectors")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(productfeeds_cli.app, name="feeds")
app.add_typer(analytics_cli.app, name="analytics")
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


app.command("demo")(demo_cli.demo)
app.command("worker")(worker_cli.worker)
import_app.command("catalog")(catalog_cli.import_catalog)
import_app.command("stock")(inventory_cli.import_stock)
import_app.command("history")(history_cli.import_history_command)
import_app.command("spend")(costs_cli.import_spend)
import_app.command("costs")(costs_cli.import_costs)
import_app.command("fees")(costs_cli.import_fees)
import_app.command("fixed-costs")(costs_cli.import_fixed_costs)
import_app.command("rates")(costs_cli.import_rates)
bench_app.command("inventory")(bench_cli.bench_inventory)
bench_app.command("ingest")(bench_cli.bench_ingest)
bench_app.command("orders")(bench_cli.bench_orders)
bench_app.command("connectors")(bench_cli.bench_connectors)
bench_app.command("analytics")(bench_cli.bench_analytics)


def main() -> None:
    """Entry point: a refused command is one line naming what was typed, and exit code 2."""
    run(app)
