"""`omnicart orders ...` and `omnicart returns ...`: the order book from the command line.

The commands call the same services as the API; `--json` prints what the API answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table

from omnicart.channels.policy import channel_id_for_code
from omnicart.channels.service import list_channels
from omnicart.cli_support import CliConsole, DatabaseUrl, money, money_amount, open_database
from omnicart.db.engine import Database
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import to_decimal
from omnicart.locations.service import location_id_for_code
from omnicart.orders import fulfilment, returns, service
from omnicart.orders.schemas import ExternalOrderIn, OrderOut, ReturnOut
from omnicart.orders.views import OrderView

app = typer.Typer(no_args_is_help=True, help="Orders from every channel: list, show, fulfil.")
returns_app = typer.Typer(
    no_args_is_help=True, help="Returns in any channel: open, receive, refund."
)
console = CliConsole()
ACTOR = "cli"
Json = Annotated[bool, typer.Option("--json", help="Print the order as the API returns it.")]
_RETURN_LINE = re.compile(r"(?P<line>[0-9]+):(?P<quantity>[0-9]+)(?::(?P<reason>.*))?")


def _print_json(model: BaseModel) -> None:
    typer.echo(model.model_dump_json(indent=2))


def _channel(db: Database, code: str) -> int:
    with db.reading() as session:
        return channel_id_for_code(session, code=code)


def _location(db: Database, code: str) -> int:
    with db.reading() as session:
        return location_id_for_code(session, code=code)


def _show(view: OrderView, *, as_json: bool) -> None:
    if as_json:
        _print_json(OrderOut.model_validate(view))
        return
    console.print(
        f"[bold]order {view.id}[/bold] on {view.channel_code} ({view.source}"
        f"{', ' + view.external_id if view.external_id else ''}): [bold]{view.status}[/bold], "
        f"total {money(view.total, view.currency)}, paid {money_amount(view.paid, view.currency)}, "
        f"refunded {money_amount(view.refunded, view.currency)}"
    )
    lines = Table("#", "sku", "qty", "unit price", "discount", "tax", "total", "fulfilled",
                  "returned", title="lines", title_justify="left")  # fmt: skip
    for line in view.lines:
        prices = (line.unit_price, line.discount, line.tax, line.total)
        lines.add_row(
            str(line.line_no), line.sku, str(line.quantity),
            *(money_amount(value, view.currency) for value in prices),
            str(line.fulfilled), str(line.returned),
        )  # fmt: skip
    console.print(lines)
    if view.routing:
        plan = ", ".join(
            f"{p['sku']} x{p['quantity']} from {p['location']}" for p in view.routing["plan"]
        )
        console.print(f"routing: {view.routing['reason']}; plan: {plan}")
    if view.fulfilments:
        table = Table("id", "kind", "location", "status", "carrier", "tracking", "items",
                      title="fulfilment", title_justify="left")  # fmt: skip
        for f in view.fulfilments:
            items = ", ".join(f"{i['sku']} x{i['quantity']}" for i in f.items)
            table.add_row(str(f.id), f.kind, str(f.location_id), f.status, f.carrier,
                          f.tracking_number, items)  # fmt: skip
        console.print(table)
    history = Table("at", "from", "to", "actor", "reason", title="history", title_justify="left")
    for t in view.transitions:
        history.add_row(
            t.at.isoformat(timespec="seconds"), t.from_status or "", t.to_status, t.actor, t.reason
        )
    console.print(history)


@app.command("list")
def list_orders(
    channel: Annotated[str | None, typer.Option(help="Only this channel (code).")] = None,
    status: Annotated[str | None, typer.Option(help="Only orders in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the newest orders, all channels together unless --channel says otherwise."""
    with open_database(database_url) as db:
        channel_id = _channel(db, channel) if channel else None
        rows = service.list_orders(db, channel_id=channel_id, status=status, limit=limit)
        with db.reading() as session:
            codes = {c.id: c.code for c in list_channels(session, limit=10_000)}
    table = Table("id", "channel", "source", "external id", "status", "total", "customer")
    for o in rows:
        table.add_row(
            str(o.id), codes.get(o.channel_id, str(o.channel_id)), o.source, o.external_id or "",
            o.status, money(o.total, o.currency),
            o.customer_email or o.customer_phone or o.customer_ref or "",
        )  # fmt: skip
    console.print(table)


@app.command("show")
def show(order_id: int, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """Print one order: lines, routing decision, fulfilment and its history."""
    with open_database(database_url) as db:
        _show(service.get_order(db, order_id=order_id), as_json=as_json)


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Order JSON.")],
    channel: Annotated[str, typer.Option(help="The channel the order came from (code).")],
    external_id: Annotated[str, typer.Option(help="The channel's own order id.")],
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Take an external order from a JSON file (the API's body), idempotently."""
    try:
        body = ExternalOrderIn.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"{file}: {where}: {first['msg']}", field="file") from None
    with open_database(database_url) as db:
        channel_id = _channel(db, channel)
        view = service.ingest_order(
            db, body.order(channel_id=channel_id, external_id=external_id), actor=ACTOR
        )
    _show(view, as_json=as_json)


@app.command("cancel")
def cancel(
    order_id: int,
    reason: Annotated[str, typer.Option(help="Why; kept in the order's history.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Cancel an order and free its stock."""
    with open_database(database_url) as db:
        view = service.cancel_order(db, order_id=order_id, actor=ACTOR, reason=reason)
    console.print(f"order {view.id} is {view.status}")


@app.command("ship")
def ship(
    order_id: int,
    location: Annotated[str, typer.Option(help="The location that ships (code).")],
    carrier: Annotated[str, typer.Option()],
    tracking: Annotated[str, typer.Option(help="The carrier's tracking number.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Ship what the order holds at one location."""
    with open_database(database_url) as db:
        location_id = _location(db, location)
        view = fulfilment.create_shipment(
            db, order_id=order_id, location_id=location_id, carrier=carrier,
            tracking_number=tracking, actor=ACTOR,
        )  # fmt: skip
    console.print(f"order {view.id} is {view.status}")


@app.command("ready")
def ready(order_id: int, database_url: DatabaseUrl = None) -> None:
    """Mark a pickup order ready at its store; print the pickup code and deadline."""
    with open_database(database_url) as db:
        view = fulfilment.mark_ready(db, order_id=order_id, actor=ACTOR)
    pickup = next(f for f in reversed(view.fulfilments) if f.kind == "pickup")
    deadline = (
        pickup.pickup_deadline.isoformat(timespec="minutes") if pickup.pickup_deadline else ""
    )
    console.print(f"order {view.id} is ready: code {pickup.pickup_code}, collect by {deadline}")


@app.command("collect")
def collect(
    order_id: int,
    code: Annotated[str, typer.Option(help="The code the customer shows.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Hand a pickup order over at the store."""
    with open_database(database_url) as db:
        view = fulfilment.collect(db, order_id=order_id, code=code, actor=ACTOR)
    console.print(f"order {view.id} is {view.status}")


@app.command("expire-pickups")
def expire_pickups(database_url: DatabaseUrl = None) -> None:
    """Cancel pickup orders nobody collected in their window; their stock goes back on sale."""
    with open_database(database_url) as db:
        count = fulfilment.expire_pickups(db)
    console.print(f"{count} uncollected pickup order(s) released")


def _return_lines(specs: list[str]) -> list[returns.ReturnLineRequest]:
    wanted = []
    for spec in specs:
        match = _RETURN_LINE.fullmatch(spec)
        if match is None:
            raise ValidationFailed(
                f"{spec!r} is not LINE:QUANTITY[:REASON] (e.g. 1:2:too small)", field="line"
            )
        wanted.append(
            returns.ReturnLineRequest(
                line_no=int(match["line"]),
                quantity=int(match["quantity"]),
                reason=match["reason"] or "",
            )
        )
    return wanted


def _show_return(view: returns.ReturnView, *, as_json: bool) -> None:
    if as_json:
        _print_json(ReturnOut.model_validate(view))
        return
    console.print(
        f"[bold]return {view.id}[/bold] of order {view.order_id}: {view.status}, "
        f"value {money(view.value, view.currency)}, "
        f"refunded {money_amount(view.refunded, view.currency)}"
        f"{' (returnless)' if view.returnless else ''}"
    )
    table = Table("line", "sku", "qty", "reason", "restocked", "written off")
    for line in view.lines:
        table.add_row(str(line.line_no), line.sku, str(line.quantity), line.reason,
                      str(line.restocked), str(line.written_off))  # fmt: skip
    console.print(table)


@returns_app.command("open")
def open_return(
    order_id: int,
    channel: Annotated[str, typer.Option(help="The channel the return comes in through.")],
    line: Annotated[list[str], typer.Option(help="LINE:QUANTITY[:REASON], repeatable.")],
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Open a return for an order bought in any channel."""
    wanted = _return_lines(line)
    with open_database(database_url) as db:
        channel_id = _channel(db, channel)
        view = returns.open_return(
            db, order_id=order_id, channel_id=channel_id, lines=wanted, actor=ACTOR
        )
    _show_return(view, as_json=as_json)


@returns_app.command("receive")
def receive(
    return_id: int,
    location: Annotated[str, typer.Option(help="Where the units arrived (code).")],
    damaged: Annotated[
        list[str] | None, typer.Option(help="LINE:UNITS written off as damaged, repeatable.")
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Receive a return: units go back on sale where they arrived, damaged ones written off."""
    with open_database(database_url) as db:
        location_id = _location(db, location)
        current = returns.get_return(db, return_id=return_id)
        written_off = {r.line_no: r.quantity for r in _return_lines(damaged or [])}
        outcomes = [
            returns.Outcome(
                line_no=line.line_no,
                restock=line.quantity - written_off.get(line.line_no, 0),
                write_off=written_off.get(line.line_no, 0),
            )
            for line in current.lines
        ]
        view = returns.receive_return(
            db, return_id=return_id, location_id=location_id, outcomes=outcomes, actor=ACTOR
        )
    _show_return(view, as_json=as_json)


@returns_app.command("refund")
def refund(
    return_id: int,
    amount: Annotated[str | None, typer.Option(help="Default: the returned value.")] = None,
    method: Annotated[str | None, typer.Option(help="Default: how the order was paid.")] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Refund a return, in full or in part."""
    with open_database(database_url) as db:
        view = returns.refund_return(
            db,
            return_id=return_id,
            amount=to_decimal(amount, field="amount") if amount is not None else None,
            method=method,
            actor=ACTOR,
        )
    _show_return(view, as_json=as_json)
