"""`omnicart keys`: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.auth import service
from omnicart.channels.policy import channel_id_for_code
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.locations.service import location_id_for_code

app = typer.Typer(no_args_is_help=True, help="API keys: admin, channel and store staff keys.")


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, channel, staff or analyst.")],
    channel: Annotated[str | None, typer.Option(help="Channel code (channel keys).")] = None,
    location: Annotated[str | None, typer.Option(help="Location code (staff keys).")] = None,
    name: Annotated[str | None, typer.Option(help="Defaults to the role and code.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print its secret: the only time it is shown."""
    with open_database(database_url) as db, db.transaction() as session:
        channel_id = channel_id_for_code(session, code=channel) if channel else None
        location_id = location_id_for_code(session, code=location) if location else None
        issued = service.create_api_key(
            session,
            name=name or "-".join(p for p in (role, channel or location) if p),
            role=role,
            channel_id=channel_id,
            location_id=location_id,
        )
    CliConsole(stderr=True).print(
        f"created {role} key {issued.id}; store this secret now, it is not shown again:",
        style="green",
    )
    # Plain stdout so that `$(omnicart keys create ...)` captures exactly the secret.
    typer.echo(issued.secret)


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Print every key (never a secret), revoked ones marked."""
    table = Table("id", "name", "prefix", "role", "channel", "location", "created", "revoked")
    with open_database(database_url) as db, db.transaction() as session:
        for key in service.list_api_keys(session):
            table.add_row(
                str(key.id),
                escape(key.name),
                key.prefix,
                key.role,
                _opt(key.channel_id),
                _opt(key.location_id),
                key.created_at.isoformat(timespec="seconds"),
                key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
            )
    CliConsole().print(table)


@app.command("revoke")
def revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID")], database_url: DatabaseUrl = None
) -> None:
    """Revoke a key; it stops working at once."""
    with open_database(database_url) as db, db.transaction() as session:
        service.revoke_api_key(session, key_id=key_id)
    CliConsole().print(f"revoked key {key_id}")


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)
