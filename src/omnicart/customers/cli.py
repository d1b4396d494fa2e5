"""`omnicart customers`: show a Customer 360, export or erase a person, link orders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from omnicart.cli_support import CliConsole, DatabaseUrl, money, open_database
from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.service import CustomerView
from omnicart.kernel.errors import ValidationFailed
from omnicart.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Customers: 360 view, GDPR export and erasure.")
CustomerId = Annotated[int, typer.Argument(help="A customer (profile) id; merged ids work.")]
EventsPath = Annotated[
    Path | None, typer.Option(help="Event store; defaults to OMNICART_EVENTS_PATH.")
]


def _events(path: Path | None) -> Path:
    return path or Path(get_settings().events_path)


def _dump(data: object) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _print_view(view: CustomerView) -> None:
    console = CliConsole()
    merged = f" (id {view.requested_id} was merged into it)" if view.requested_id != view.id else ""
    erased = " [red]erased[/red]" if view.erased_at else ""
    console.print(f"[bold]customer {view.id}[/bold]{escape(merged)}{erased}")
    for key, value in sorted(view.traits.items()):
        console.print(f"  {escape(key)}: {escape(str(value))}")
    identities = Table(title="identities", title_justify="left")
    for column in ("kind", "value", "channel", "first seen"):
        identities.add_column(column)
    for i in view.identities:
        identities.add_row(
            i.kind, escape(i.value), str(i.channel_id or ""), i.first_seen.isoformat()
        )
    console.print(identities)
    orders = Table(title="orders", title_justify="left")
    for column in ("id", "channel", "status", "total", "placed"):
        orders.add_column(column)
    for o in view.orders:
        orders.add_row(
            str(o.id),
            o.channel_code,
            o.status,
            money(o.total, o.currency),
            o.created_at.isoformat(),
        )
    console.print(orders)
    consents = ", ".join(f"{c.channel}={'yes' if c.granted else 'no'}" for c in view.consents)
    console.print(f"consents: {consents or 'none recorded'}")
    console.print(f"loyalty: {view.loyalty.balance} points, tier {view.loyalty.tier or '-'}")
    if view.timeline is None:
        console.print("timeline: event store busy, try again")
    else:
        console.print(f"timeline: {len(view.timeline)} entries, newest first")
        for entry in view.timeline[:10]:
            console.print(f"  {entry.at.isoformat()}  {entry.kind:<5}  {escape(entry.name)}")


@app.command("show")
def show(
    customer_id: CustomerId,
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
    events_path: EventsPath = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Customer 360: traits, identities, orders, consents, loyalty, timeline."""
    with open_database(database_url) as db:
        view = service.customer_360(db, customer_id=customer_id, events_path=_events(events_path))
    if as_json:
        print(_dump(service.jsonable(view)))
    else:
        _print_view(view)


@app.command("export")
def export(
    customer_id: CustomerId,
    *,
    out: Annotated[Path | None, typer.Option(help="Write to this file, not stdout.")] = None,
    events_path: EventsPath = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Everything held about a person as JSON (GDPR/RODO access request)."""
    if out is not None and out.exists():
        raise ValidationFailed(f"{out} exists; choose a new file", field="out")
    with open_database(database_url) as db:
        data = service.export_customer(
            db, customer_id=customer_id, events_path=_events(events_path)
        )
    if out is None:
        print(_dump(data))
    else:
        out.write_text(_dump(data) + "\n", encoding="utf-8")
        CliConsole(stderr=True).print(f"wrote customer {data['customer_id']} to {escape(str(out))}")


@app.command("erase")
def erase(
    customer_id: CustomerId,
    *,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    actor: Annotated[str, typer.Option(help="Who asked for it, for the log.")] = "cli",
    events_path: EventsPath = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Erase a person's personal data everywhere (their purchases stay, anonymous)."""
    if not yes:
        try:
            confirmed = typer.confirm(f"Erase customer {customer_id} for good?")
        except typer.Abort:  # no terminal to answer on
            confirmed = False
        if not confirmed:
            raise ValidationFailed("not confirmed; nothing was erased (pass --yes)", field="yes")
    with open_database(database_url) as db:
        view = erase_customer(
            db, customer_id=customer_id, actor=actor, events_path=_events(events_path)
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(view.counts.items()))
    CliConsole().print(f"erased customer {view.customer_id}: {counts}")


@app.command("sync")
def sync(*, database_url: DatabaseUrl = None) -> None:
    """Attach orders of every channel to their customers (reads the outbox to its end)."""
    with open_database(database_url) as db:
        read = service.sync_customers(db)
    CliConsole().print(f"read {read} order events")
