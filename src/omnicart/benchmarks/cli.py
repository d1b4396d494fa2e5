"""`omnicart bench ...` commands: one JSON line per result with --json."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from omnicart.cli_support import CliConsole
from omnicart.db.migrate import check_reachable
from omnicart.settings import get_settings

err = CliConsole(stderr=True)
# Options the benchmarks share.
JsonLine = Annotated[bool, typer.Option("--json", help="Print one JSON line only.")]
Seconds = Annotated[float, typer.Option(min=0.5, help="Seconds the clients run.")]
ServerWorkers = Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes.")]
Clients = Annotated[int, typer.Option(min=1, max=64, help="Client processes.")]
Connections = Annotated[int, typer.Option(min=1, max=64, help="Connections per client.")]
BenchDatabase = Annotated[
    str | None, typer.Option(help="PostgreSQL URL; defaults to OMNICART_BENCH_DATABASE_URL.")
]


def bench_inventory(
    json: JsonLine = False,
    workers: Annotated[int, typer.Option(min=1, max=256)] = 32,
    processes: Annotated[
        int, typer.Option(min=1, max=256, help="Processes the workers run in, as threads.")
    ] = 32,
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds each side runs.")] = 10.0,
    skus: Annotated[int, typer.Option(min=10)] = 10_000,
    locations: Annotated[int, typer.Option(min=1, max=50)] = 5,
    lines: Annotated[int, typer.Option(min=1, max=10)] = 3,
    zipf: Annotated[float, typer.Option(min=0.1)] = 1.1,
    database_url: BenchDatabase = None,
) -> None:
    """Concurrent reservations vs a raw-SQL baseline on PostgreSQL."""
    from omnicart.benchmarks.inventory import BenchConfig, run

    config = BenchConfig(
        url=_reachable(database_url),
        workers=workers,
        processes=processes,
        duration_s=duration,
        skus=skus,
        locations=locations,
        lines=lines,
        zipf_s=zipf,
    )
    with err.status(
        f"benchmarking: raw SQL baseline, then Omnicart (about {2 * duration + 20:.0f}s)"
    ):
        result = run(config)
    _print(result, json=json, title="omnicart bench inventory")


def bench_ingest(
    json: JsonLine = False,
    seconds: Seconds = 10.0,
    workers: ServerWorkers = 2,
    clients: Clients = 2,
    threads: Connections = 12,
    batch: Annotated[int, typer.Option(min=1, max=2500, help="Messages per batch.")] = 100,
    flusher: Annotated[
        str,
        typer.Option(help="thread: one in each worker; process: `omnicart events flusher`."),
    ] = "thread",
) -> None:
    """Segment batches over HTTP into the real server vs DuckDB appending the same rows."""
    from omnicart.benchmarks.ingest import BenchConfig, run

    if flusher not in ("thread", "process"):
        raise typer.BadParameter("thread or process", param_hint="--flusher")
    config = BenchConfig(
        seconds=seconds,
        workers=workers,
        clients=clients,
        threads=threads,
        batch=batch,
        flusher=flusher,
    )
    with err.status(
        f"benchmarking: {seconds:g}s of batches, then checks (about {seconds + 15:.0f}s)"
    ):
        result = run(config)
    _print(result, json=json, title="omnicart bench ingest")


def bench_orders(
    json: JsonLine = False,
    seconds: Seconds = 10.0,
    workers: ServerWorkers = 2,
    clients: Clients = 2,
    threads: Connections = 8,
    connections: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="Client connections in all (overrides --threads), each side."
        ),
    ] = None,
    mix: Annotated[
        str,
        typer.Option(help="all (checkouts, till sales, marketplace orders), or one kind alone."),
    ] = "all",
    skus: Annotated[int, typer.Option(min=10)] = 2_000,
    stock: Annotated[int, typer.Option(min=1, help="Units per SKU and location.")] = 20,
    database_url: BenchDatabase = None,
) -> None:
    """Checkouts, till sales and marketplace orders over HTTP into the real server, vs the
    same writes sent to PostgreSQL as one statement per request, on identical data."""
    from omnicart.benchmarks.orders import BenchConfig, run
    from omnicart.benchmarks.orders_load import MIXES

    if mix not in MIXES:
        raise typer.BadParameter(" or ".join(MIXES), param_hint="--mix")
    config = BenchConfig(
        url=_reachable(database_url),
        seconds=seconds,
        workers=workers,
        clients=clients,
        threads=threads,
        connections=connections,
        mix=mix,
        skus=skus,
        stock_per_location=stock,
    )
    with err.status(
        f"benchmarking: {seconds:g}s of raw-SQL orders, then {seconds:g}s of Omnicart's, "
        "then checks"
    ):
        result = run(config)
    _print(result, json=json, title="omnicart bench orders")


def bench_connectors(
    json: JsonLine = False,
    # At most 4 minutes: BigCommerce's signed deliveries expire after 5.
    seconds: Annotated[float, typer.Option(min=0.5, max=240, help="Seconds the load runs.")] = 60.0,
    rate: Annotated[
        float,
        typer.Option(min=1, max=2000, help="Stock changes (one-unit checkout holds) per second."),
    ] = 100.0,
    webhooks: Annotated[
        float,
        typer.Option(min=1, max=2000, help="Webhook deliveries per second, 4 vendors together."),
    ] = 10.0,
    workers: ServerWorkers = 2,
    background_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Background work in one `omnicart worker` process (production's default), "
            "or inside the server's workers.",
        ),
    ] = True,
    database_url: BenchDatabase = None,
) -> None:
    """Vendors' webhooks into the real server while stock moves: ack times, nothing lost
    or doubled, how soon each vendor holds the new figures; vs a bare INSERT."""
    from omnicart.benchmarks.connectors import BenchConfig, run

    config = BenchConfig(
        url=_reachable(database_url),
        seconds=seconds,
        rate=rate,
        webhooks=webhooks,
        workers=workers,
        background="worker" if background_worker else "inline",
    )
    with err.status(
        f"benchmarking: {seconds:g}s of webhooks into a bare INSERT, then {seconds:g}s into "
        "Omnicart while stock moves, then checks"
    ):
        result = run(config)
    _print(result, json=json, title="omnicart bench connectors")


def _reachable(database_url: str | None) -> str:
    """The benchmark's PostgreSQL URL, once it is known to answer."""
    url = database_url or get_settings().bench_database_url
    check_reachable(url)
    return url


def bench_analytics(
    json: JsonLine = False,
    orders: Annotated[int, typer.Option(min=1_000, help="Orders in the history.")] = 1_000_000,
    events: Annotated[
        int, typer.Option(min=10_000, help="Tracked events in the history.")
    ] = 10_000_000,
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Timed runs of each side.")] = 3,
) -> None:
    """The overview, cohorts and funnel on a generated year vs hand-written DuckDB SQL."""
    from omnicart.benchmarks.analytics import BenchConfig, run

    config = BenchConfig(orders=orders, events=events, repeat=repeat)
    with err.status("benchmarking: generating the history, then each report and its hand SQL"):
        result = run(config)
    _print(result, json=json, title="omnicart bench analytics")


def bench_console(
    json: JsonLine = False,
    requests: Annotated[
        int, typer.Option(min=5, max=10_000, help="Requests per page, and per baseline.")
    ] = 200,
    visits: Annotated[int, typer.Option(min=1, max=1_000, help="Chromium visits per page.")] = 20,
    browser: Annotated[
        bool, typer.Option(help="Time the charts in Chromium (/usr/bin/chromium).")
    ] = True,
    database_url: Annotated[
        str | None,
        typer.Option(help="An existing demo database; by default one is built for the run."),
    ] = None,
) -> None:
    """The console's Overview, Customers and Stock pages on the demo history: time to first
    byte against the JSON API answering the same figures, and to charts drawn in Chromium."""
    from omnicart.benchmarks.console import BenchConfig, run

    config = BenchConfig(
        requests=requests, visits=visits, database_url=database_url, browser=browser
    )
    with err.status("benchmarking the console") as status:
        result = run(config, progress=lambda text: status.update(f"benchmarking: {text}"))
    _print(result, json=json, title="omnicart bench console")


def _print(result: dict[str, object], *, json: bool, title: str) -> None:
    if json:
        typer.echo(orjson.dumps(result).decode())
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    CliConsole().print(table)
