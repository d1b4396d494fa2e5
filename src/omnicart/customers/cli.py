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
from omnicart.customers.erasure_report import erasure_report
from omnicart.customers.erasure_schemas import ErasureReportOut
from omnicart.customers.erasure_steps import PENDING, list_erasures
from omnicart.customers.service import CustomerView
from omnicart.customers.suppression import lift_suppression
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
    CliConsole().print(f"erased customer {view.customer_id}: {counts} (erasure {view.erasure_id})")
    if view.state == PENDING:
        CliConsole().print(
            "the event store step failed; the server's sweep retries it until it succeeds "
            "(`omnicart customers erasures`)"
        )


@app.command("erasures")
def erasures(
    *,
    pending: Annotated[bool, typer.Option("--pending", help="Only unfinished ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    database_url: DatabaseUrl = None,
) -> None:
    """Erasures, newest first: state, attempts, next try and last error (no erased value)."""
    with open_database(database_url) as db:
        rows = list_erasures(db, pending_only=pending, limit=limit)
    table = Table(title="erasures", title_justify="left")
    for column in ("id", "customer", "by", "at", "state", "attempts", "next try", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            str(row.customer_id),
            escape(row.actor),
            row.at.isoformat(timespec="seconds"),
            row.state,
            str(row.attempts),
            row.next_attempt_at.isoformat(timespec="seconds") if row.next_attempt_at else "",
            escape(row.last_error or ""),
        )
    CliConsole().print(table)


@app.command("erasure-report")
def erasure_report_command(
    erasure_id: Annotated[
        int, typer.Argument(help="An erasure id (`omnicart customers erasures`).")
    ],
    *,
    database_url: DatabaseUrl = None,
) -> None:
    """The erasure report, as JSON, for the person or a regulator (no personal value)."""
    with open_database(database_url) as db:
        report = erasure_report(db, erasure_id=erasure_id)
    print(_dump(ErasureReportOut.model_validate(report).model_dump(mode="json")))


@app.command("unsuppress")
def unsuppress(
    *,
    kind: Annotated[str, typer.Option(help="email, phone, loyalty_card, user_id, ...")],
    value: Annotated[str, typer.Option(help="The identifier, as on arrival.")],
    reason: Annotated[str, typer.Option(help="Why, for the log.")],
    actor: Annotated[str, typer.Option(help="Who asked for it, for the log.")] = "cli",
    database_url: DatabaseUrl = None,
) -> None:
    """Lift the suppression of an erased person's identifier (they consented again):
    data naming it is accepted from now on. Logged with its digest, never the value."""
    with open_database(database_url) as db:
        view = lift_suppression(db, kind=kind, value=value, actor=actor, reason=reason)
    CliConsole().print(f"lifted the suppression of a {view.kind} (log entry {view.id})")


@app.command("sync")
def sync(*, database_url: DatabaseUrl = None) -> None:
    """Attach orders of every channel to their customers (reads the outbox to its end)."""
    with open_database(database_url) as db:
        read = service.sync_customers(db)
    CliConsole().print(f"read {read} order events")
