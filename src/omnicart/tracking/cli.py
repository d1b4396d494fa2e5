"""`omnicart tracking` (sources and write keys) and `omnicart events` (the event store)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.channels.policy import channel_id_for_code
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.settings import get_settings
from omnicart.tracking import service
from omnicart.tracking.flusher import Flusher, open_current_store
from omnicart.tracking.store import EventStore

app = typer.Typer(no_args_is_help=True, help="Tracking sources and their write keys.")
sources_app = typer.Typer(no_args_is_help=True, help="Sources: who may send events.")
app.add_typer(sources_app, name="sources")
events_app = typer.Typer(no_args_is_help=True, help="The tracking event store (DuckDB).")

EventsPath = Annotated[
    Path | None, typer.Option(help="Defaults to OMNICART_EVENTS_PATH.", show_default=False)
]


@sources_app.command("create")
def create_source(
    channel: Annotated[str, typer.Option(help="Code of the channel the events belong to.")],
    name: Annotated[str | None, typer.Option(help="Defaults to the channel code.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a source and print its write key: the only time it is shown."""
    with open_database(database_url) as db, db.transaction() as session:
        channel_id = channel_id_for_code(session, code=channel)
        issued = service.create_tracking_source(
            session, channel_id=channel_id, name=name or channel
        )
    CliConsole(stderr=True).print(
        f"created tracking source {issued.source.id} for channel {channel}; "
        "store this write key now, it is not shown again:",
        style="green",
    )
    # Plain stdout so that `$(omnicart tracking sources create ...)` captures only the key.
    typer.echo(issued.write_key)


@sources_app.command("list")
def list_sources(database_url: DatabaseUrl = None) -> None:
    """Print every source (never a write key)."""
    table = Table("id", "channel", "name", "prefix", "active", "created")
    with open_database(database_url) as db, db.transaction() as session:
        after_id = 0
        while page := service.list_tracking_sources(session, after_id=after_id, limit=500):
            for source in page:
                table.add_row(
                    str(source.id),
                    str(source.channel_id),
                    escape(source.name),
                    source.prefix,
                    "yes" if source.active else "no",
                    source.created_at.isoformat(timespec="seconds"),
                )
            after_id = page[-1].id
    CliConsole().print(table)


def _events_path(path: Path | None) -> Path:
    return path or Path(get_settings().events_path)


@contextlib.contextmanager
def _store(events_path: Path | None, database_url: str | None) -> Iterator[EventStore]:
    """The store with every spooled event and every settled outbox event in it."""
    with (
        open_database(database_url) as db,
        open_current_store(_events_path(events_path), db=db) as store,
    ):
        yield store


@events_app.command("export")
def export(
    to: Annotated[Path, typer.Option(help="An empty or new folder for the Parquet files.")],
    events_path: EventsPath = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write every event as Parquet, one folder per UTC day: DIR/day=YYYY-MM-DD/."""
    with _store(events_path, database_url) as store:
        days = store.export_parquet(to)
    total = sum(n for _, n in days)
    CliConsole().print(
        f"exported {total} events in {len(days)} daily partitions to {escape(str(to))}"
    )


@events_app.command("count")
def count(
    events_path: EventsPath = None,
    database_url: DatabaseUrl = None,
    source: Annotated[
        int | None, typer.Option(help="Only events of this source (0: the order book).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Only events of this name.")] = None,
    suppressed: Annotated[
        bool,
        typer.Option(
            "--suppressed",
            help="Instead: events of erased customers dropped or stripped, per day and source.",
        ),
    ] = False,
) -> None:
    """Print how many events are stored (after storing what is still spooled, and the
    order book's events still in the outbox)."""
    with _store(events_path, database_url) as store:
        if not suppressed:
            typer.echo(store.count(source_id=source, event=event))
            return
        counts = [c for c in store.suppressed_counts() if source in (None, c.source_id)]
    table = Table("day", "source", "dropped", "stripped")
    for item in counts:
        table.add_row(
            item.day.isoformat(), str(item.source_id), str(item.dropped), str(item.stripped)
        )
    CliConsole().print(table)


@events_app.command("flusher")
def flusher(events_path: EventsPath = None, database_url: DatabaseUrl = None) -> None:
    """Move spooled events and the outbox into DuckDB until stopped (SIGTERM or Ctrl-C):
    for servers run with OMNICART_EVENTS_FLUSHER=process."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with open_database(database_url) as db:
        running = Flusher(_events_path(events_path), db=db, hold_s=5.0)
        running.start()
        CliConsole(stderr=True).print("flushing events into the store; stop with SIGTERM")
        stop.wait()
        running.stop(final_drain_s=30.0)
