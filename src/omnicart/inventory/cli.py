"""`omnicart inventory` (stock, availability, reconcile, expire, receive) and
`omnicart import stock`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import describe_variants, resolve_skus
from omnicart.channels.policy import channel_id_for_code
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database, rejections_table
from omnicart.inventory import queries, service
from omnicart.inventory.importer import (
    StockImportMode,
    StockImportRejected,
    StockImportSummary,
    import_stock_file,
)
from omnicart.inventory.queries import StockRow
from omnicart.kernel.errors import ValidationFailed
from omnicart.locations.service import get_locations, location_id_for_code

app = typer.Typer(no_args_is_help=True, help="Stock, availability and the stock ledger.")
console = CliConsole()
stderr = CliConsole(stderr=True)
ACTOR = "cli"
_PAGE = 2000
_LINE = re.compile(r"(?P<sku>[^=]+)=(?P<quantity>.*)")
_WHOLE = re.compile(r"[+-]?[0-9]+")


def _location_codes(session: Session, ids: set[int]) -> dict[int, str]:
    return {i: view.code for i, view in get_locations(session, location_ids=ids).items()}


def _all_stock_rows(
    session: Session, *, location_id: int | None, sku: str | None
) -> list[StockRow]:
    found: list[StockRow] = []
    after = 0
    while page := queries.stock_rows(
        session, location_id=location_id, sku=sku, after_variant_id=after, limit=_PAGE
    ):
        found += page
        after = page[-1].variant_id
    return found


@app.command("stock")
def stock(
    location: Annotated[str | None, typer.Option(help="Only this location (code).")] = None,
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print stock figures by SKU and location."""
    table = Table("sku", "location", "on hand", "reserved", "allocated", "available")
    with open_database(database_url) as db, db.reading() as session:
        location_id = location_id_for_code(session, code=location) if location else None
        if sku is not None:
            resolve_skus(session, [sku], field="sku")  # an unknown SKU is refused, not empty
        rows = _all_stock_rows(session, location_id=location_id, sku=sku)
        codes = _location_codes(session, {r.location_id for r in rows})
    for r in rows:
        table.add_row(
            r.sku, codes.get(r.location_id, str(r.location_id)), str(r.on_hand),
            str(r.reserved), str(r.allocated), str(r.available),
        )  # fmt: skip
    console.print(table)


@app.command("availability")
def availability(
    skus: Annotated[list[str], typer.Argument(help="SKUs to look up.", show_default=False)],
    channel: Annotated[str, typer.Option(help="Channel code.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Print the units of each SKU a channel may sell (after its buffer)."""
    with open_database(database_url) as db, db.reading() as session:
        channel_id = channel_id_for_code(session, code=channel)
        units = queries.channel_availability(session, channel_id=channel_id, skus=skus)
    table = Table("sku", f"available on {channel}")
    for sku in dict.fromkeys(skus):
        table.add_row(sku, str(units[sku]))
    console.print(table)


@app.command("reconcile")
def reconcile(database_url: DatabaseUrl = None) -> None:
    """Check stock figures against the ledger and the holds; exit 1 if they disagree."""
    with open_database(database_url) as db, db.reading() as session:
        found = queries.reconcile(session)
        skus = describe_variants(session, [d.variant_id for d in found]) if found else {}
        codes = _location_codes(session, {d.location_id for d in found}) if found else {}
    if not found:
        console.print("[green]stock agrees with the ledger and the holds[/green]")
        return
    table = Table("sku", "location", "figure", "stock", "expected", "source", title="discrepancies")
    for d in found:
        known = skus.get(d.variant_id)
        table.add_row(
            known.sku if known else f"variant {d.variant_id}",
            codes.get(d.location_id, str(d.location_id)), d.figure, str(d.stock),
            str(d.expected), d.source,
        )  # fmt: skip
    console.print(table)
    raise typer.Exit(1)


@app.command("expire")
def expire(database_url: DatabaseUrl = None) -> None:
    """Free the stock of every reservation whose hold has expired; print how many."""
    batch = 500
    total = 0
    with open_database(database_url) as db:
        while (expired := service.expire_reservations(db, limit=batch)) > 0:
            total += expired
            if expired < batch:
                break
    console.print(f"expired {total} reservation{'s' if total != 1 else ''}")


def _parse_lines(items: list[str]) -> list[tuple[str, int]]:
    """SKU=QTY arguments as (sku, units); whether units are positive is the service's rule."""
    lines: list[tuple[str, int]] = []
    for index, item in enumerate(items):
        match = _LINE.fullmatch(item.strip())
        if match is None:
            raise ValidationFailed(f"{item!r} is not SKU=QTY", field=f"lines.{index}")
        quantity = match["quantity"].strip()
        if not _WHOLE.fullmatch(quantity):
            raise ValidationFailed(
                f"{quantity!r} is not a whole number of units", field=f"lines.{index}.quantity"
            )
        lines.append((match["sku"].strip(), int(quantity)))
    return lines


@app.command("receive")
def receive(
    lines: Annotated[list[str], typer.Argument(help="SKU=QTY, one or more.", show_default=False)],
    location: Annotated[str, typer.Option(help="Code of the receiving location.")],
    reason: Annotated[str, typer.Option(help="Kept on the ledger entries.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Record goods arriving at a location; print on-hand units after."""
    parsed = _parse_lines(lines)
    with open_database(database_url) as db:
        with db.reading() as session:
            location_id = location_id_for_code(session, code=location)
        after = service.receive_stock(
            db, location_id=location_id, lines=parsed, actor=ACTOR, reason=reason
        )
    table = Table("sku", f"on hand at {location}")
    for sku, units in after.items():
        table.add_row(sku, str(units))
    console.print(table)


def _summary(summary: StockImportSummary) -> str:
    where = f"{summary.locations} location{'s' if summary.locations != 1 else ''}"
    if summary.mode is StockImportMode.RECEIPT:
        return f"received {summary.units} units in {summary.rows} rows at {where}"
    return (
        f"counted {summary.rows} rows at {where}: {summary.movements} changed, "
        f"net variance {summary.variance:+d} units"
    )


def import_stock(
    file: Annotated[Path, typer.Argument(help="CSV with sku,location,quantity[,reason].")],
    mode: Annotated[
        StockImportMode, typer.Option(help="receipt adds units; count sets on-hand.")
    ] = StockImportMode.RECEIPT,
    database_url: DatabaseUrl = None,
) -> None:
    """Import stock from a CSV file: every row is checked, then all are applied or none."""
    with (
        open_database(database_url) as db,
        Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            console=stderr, transient=True,
        ) as bar,
    ):  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        try:
            summary = import_stock_file(
                db, file, mode=mode, actor=f"{ACTOR}:import", progress=report
            )
        except StockImportRejected as rejected:
            bar.stop()
            stderr.print(rejections_table(rejected))
            raise typer.Exit(2) from None
    console.print(f"[green]{_summary(summary)}[/green]")
