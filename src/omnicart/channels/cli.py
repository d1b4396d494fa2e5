"""`omnicart channels`: create and list sales channels."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.channels import service
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.locations.service import location_id_for_code

app = typer.Typer(no_args_is_help=True, help="Sales channels and their stock buffers.")


@app.command("create")
def create(
    *,
    code: Annotated[str, typer.Option(help="Slug of a-z, 0-9, '-' and '_'.")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="web, app, pos, marketplace, social, messaging.")],
    currency: Annotated[str, typer.Option(help="ISO 4217, e.g. EUR.")],
    percent_shown: Annotated[int, typer.Option(help="Share of stock shown, 0-100.")] = 100,
    units_held_back: Annotated[int, typer.Option(help="Units never shown.")] = 0,
    ship: Annotated[
        list[str] | None, typer.Option(help="Code of a location shipping for it (repeat).")
    ] = None,
    pickup: Annotated[
        list[str] | None, typer.Option(help="Code of a pickup location for it (repeat).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a channel, optionally with the locations serving it, and print its id."""
    with open_database(database_url) as db, db.transaction() as session:
        view = service.create_channel(
            session,
            code=code,
            name=name,
            kind=kind,
            currency=currency,
            buffer_percent_shown=percent_shown,
            buffer_units=units_held_back,
        )
        if ship or pickup:
            view = service.set_channel_locations(
                session,
                channel_id=view.id,
                ship_location_ids=[
                    location_id_for_code(session, code=c, field="ship") for c in ship or []
                ],
                pickup_location_ids=[
                    location_id_for_code(session, code=c, field="pickup") for c in pickup or []
                ],
            )
    CliConsole().print(f"created channel [bold]{view.code}[/bold] with id {view.id}")


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Print every channel as a table."""
    table = Table(
        "id", "code", "name", "kind", "currency", "shown %", "held back", "ship", "pickup", "active"
    )
    with open_database(database_url) as db, db.transaction() as session:
        after_id = 0
        while page := service.list_channels(session, after_id=after_id, limit=500):
            for v in page:
                table.add_row(
                    str(v.id),
                    v.code,
                    escape(v.name),
                    v.kind,
                    v.currency,
                    str(v.buffer_percent_shown),
                    str(v.buffer_units),
                    _ids(v.ship_location_ids),
                    _ids(v.pickup_location_ids),
                    "yes" if v.active else "no",
                )
            after_id = page[-1].id
    CliConsole().print(table)


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(map(str, ids)) or "-"
