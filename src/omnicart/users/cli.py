"""`omnicart users`: staff users of the web console (create, list, set-locale, disable)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from omnicart.cli_support import CliConsole, DatabaseUrl, open_database
from omnicart.kernel.errors import ValidationFailed
from omnicart.locations.service import get_locations, location_id_for_code
from omnicart.users import service
from omnicart.users.model import AUTO, check_locale

app = typer.Typer(no_args_is_help=True, help="Staff users who sign in to the web console.")
LOCALE_HELP = "en, pl, or auto: the browser's language."


def _read_password(from_stdin: bool) -> str:
    # Never an option's value: it would stay in the shell's history and in `ps`.
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValidationFailed("no password on standard input", field="password")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationFailed(
            "no terminal to ask for the password: pipe it in with --password-stdin",
            field="password",
        )
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's e-mail address.")],
    role: Annotated[
        str, typer.Option(help="admin (the owner: everything), analyst or staff.")
    ] = "staff",
    store: Annotated[
        str | None, typer.Option(help="Store (location code) a staff user works at.")
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(help=f"The console's language for them: {LOCALE_HELP}"),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a console user; the password is asked for (never shown) or read from stdin."""
    check_locale(locale)  # before the password is asked for twice
    password = _read_password(password_stdin)
    with open_database(database_url) as db, db.transaction() as session:
        location_id = location_id_for_code(session, code=store, field="store") if store else None
        user = service.create_user(
            session,
            email=email,
            password=password,
            role=role,
            location_id=location_id,
            locale=locale,
        )
    where = f" at {store}" if store else ""
    CliConsole().print(f"created {user.role} user {user.id} {escape(user.email)}{where}")


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """Every console user (never a password or its hash)."""
    table = Table("id", "email", "role", "store", "language", "state", "last sign-in", "created")
    with open_database(database_url) as db, db.transaction() as session:
        users = service.list_users(session)
        stores = get_locations(
            session, location_ids={u.location_id for u in users if u.location_id}
        )
    codes = {location_id: view.code for location_id, view in stores.items()}
    for user in users:
        state = "disabled" if user.disabled else "locked" if user.locked_until else "active"
        table.add_row(
            str(user.id),
            escape(user.email),
            user.role,
            codes.get(user.location_id, "-") if user.location_id else "-",
            user.locale or AUTO,
            state,
            user.last_sign_in_at.isoformat(timespec="seconds") if user.last_sign_in_at else "-",
            user.created_at.isoformat(timespec="seconds"),
        )
    CliConsole().print(table)


@app.command("set-locale")
def set_locale(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    locale: Annotated[str, typer.Argument(metavar="LOCALE", help=LOCALE_HELP)],
    database_url: DatabaseUrl = None,
) -> None:
    """The language the console speaks to the user; they can also choose it in the console."""
    with open_database(database_url) as db, db.transaction() as session:
        user = service.set_locale(session, email=email, locale=locale)
    language = user.locale or "the browser's language"
    CliConsole().print(f"user {user.id} {escape(user.email)}: the console speaks {language}")


@app.command("disable")
def disable(
    email: Annotated[str, typer.Argument(metavar="EMAIL")], database_url: DatabaseUrl = None
) -> None:
    """The user may no longer sign in; their open sessions end at once."""
    with open_database(database_url) as db, db.transaction() as session:
        user = service.disable_user(session, email=email)
    CliConsole().print(f"disabled user {user.id} {escape(user.email)}")
