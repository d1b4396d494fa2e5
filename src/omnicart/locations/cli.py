"""`omnicart locations`: create and list warehouses, stores and 3PL partners."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.locations import service

app = typer.Typer(no_args_is_help=True, help="Warehouses, stores and 3PL partners.")


@app.command("create")
def create(
    *,
    code: Annotated[str, typer.Option(help="Slug of a-z, 0-9, '-' and '_'.")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="warehouse, store or 3pl.")],
    address_line: Annotated[str, typer.Option()] = "",
    city: Annotated[str, typer.Option()] = "",
    postal_code: Annotated[str, typer.Option()] = "",
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2.")] = "",
    latitude: Annotated[float | None, typer.Option()] = None,
    longitude: Annotated[float | None, typer.Option()] = None,
    ships: Annotated[bool, typer.Option("--ships/--no-ships")] = True,
    pickup: Annotated[bool, typer.Option("--pickup/--no-pickup")] = False,
    ship_from_store: Annotated[
        bool, typer.Option("--ship-from-store/--no-ship-from-store")
    ] = False,
    priority: Annotated[int, typer.Option(help="Lower is tried first.")] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a location and print its id."""
    with open_database(database_url) as db, db.transaction() as session:
        view = service.create_location(
            session,
            code=code,
            name=name,
            kind=kind,
            address_line=address_line,
            city=city,
            postal_code=postal_code,
            country=country,
            latitude=latitude,
            longitude=longitude,
            ships=ships,
            pickup=pickup,
            ship_from_store=ship_from_store,
            priority=priority,
        )
    CliConsole().print(f"created location [bold]{view.code}[/bold] with id {view.id}")


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Print every location as a table."""
    table = Table(
        "id", "code", "name", "kind", "country", "ships", "pickup", "sfs", "prio", "active"
    )
    with open_database(database_url) as db, db.transaction() as session:
        after_id = 0
        while page := service.list_locations(session, after_id=after_id, limit=500):
            for v in page:
                table.add_row(
                    str(v.id),
                    v.code,
                    escape(v.name),
                    v.kind,
                    v.country,
                    _yes(v.ships),
                    _yes(v.pickup),
                    _yes(v.ship_from_store),
                    str(v.priority),
                    _yes(v.active),
                )
            after_id = page[-1].id
    CliConsole().print(table)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
