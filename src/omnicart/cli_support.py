"""What every `omnicart` sub-command shares: the database option, opening a database that is
ready, a console that never cuts piped output, money as the currency writes it, how an
importer's rejected rows are shown, and how a refusal becomes one line and an exit code."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table
from typer import _click as click  # Typer's own copy of Click: its groups are built on it
from typer.core import TyperGroup, TyperOption

from omnicart.db.engine import Database
from omnicart.db.migrate import DatabaseNotReady, open_current
from omnicart.importing import ImportRejected
from omnicart.kernel.errors import OmnicartError
from omnicart.kernel.money import in_minor_units
from omnicart.settings import get_settings

DatabaseUrl = Annotated[
    str | None, typer.Option(help="Defaults to OMNICART_DATABASE_URL.", show_default=False)
]
# The one rule for exit codes: 2 when the input was refused (bad values, unknown things the
# user named, conflicts, a database that is not ready); 1 when a command ran and found a
# problem (reconcile); anything else unexpected is a traceback and 1.
EXIT_REFUSED = 2
# Lines to a pipe or a file are not cut: a log keeps every column of every row.
UNBOUNDED_WIDTH = 10_000
# Where a service's field name differs from the command's parameter for the same thing.
_PARAMETER_FOR_FIELD = {
    "channel_id": "channel",
    "location_id": "location",
    "ship_location_ids": "ship",
    "pickup_location_ids": "pickup",
    "buffer_percent_shown": "percent_shown",
    "buffer_units": "units_held_back",
    "sku": "skus",
}


class CliConsole(Console):
    """A rich console as wide as the terminal it writes to; to a pipe or a file it never
    wraps or cuts (rich would assume 80 columns) unless COLUMNS says otherwise."""

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or an unbounded width when not writing to a terminal."""
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or os.environ.get("COLUMNS", "").isdigit():
            return size  # type: ignore[no-any-return]
        return ConsoleDimensions(UNBOUNDED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


@contextmanager
def open_database(url: str | None) -> Iterator[Database]:
    """The database at `url` (default: the configured one), checked to be reachable and at
    this version's schema; nothing is created. Closed afterwards."""
    db = open_current(url or get_settings().database_url)
    try:
        yield db
    finally:
        db.dispose()


def money_amount(value: Decimal, currency: str) -> str:
    """An amount with the currency's minor units, as the API writes it: 24.00 for PLN,
    1500 for JPY."""
    return str(in_minor_units(value, currency))


def money(value: Decimal, currency: str) -> str:
    """An amount and its currency as a merchant writes it: 24.00 PLN."""
    return f"{money_amount(value, currency)} {currency}"


def rejections_table(rejected: ImportRejected) -> Table:
    """Every rejected row of an import: row number, column and reason."""
    table = Table(title=rejected.detail, title_justify="left")
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("reason", overflow="fold")
    for error in rejected.errors:
        table.add_row(str(error.row), error.column, error.reason)
    return table


def lazy_group(entries: Mapping[str, str]) -> type[TyperGroup]:
    """A command group whose sub-commands (`name -> "module:attribute"`, a Typer app or a
    command function) are imported only when one is run or the group's help is shown, so
    `omnicart orders list` does not pay for analytics' SciPy or the server's FastAPI."""

    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: click.Context) -> list[str]:
            known = super().list_commands(ctx)
            return [*known, *(name for name in entries if name not in known)]

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name not in self.commands and cmd_name in entries:
                self.commands[cmd_name] = _load_command(cmd_name, entries[cmd_name])
            return super().get_command(ctx, cmd_name)

    return LazyGroup


def _load_command(name: str, target: str) -> click.Command:
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    # Built as Typer builds a sub-command added to a group, so options, help and the
    # exit-code rules are the same as if it had been registered eagerly.
    holder = typer.Typer(add_completion=False)
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.callback()(_no_options)
        holder.command(name)(found)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _no_options() -> None:
    """(The holder group's callback; never shown.)"""


def run(app: typer.Typer, argv: Sequence[str] | None = None) -> None:
    """Run the command line; a refusal is one line on stderr naming what the user typed,
    and exit code 2 (EXIT_REFUSED)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="omnicart")
    except DatabaseNotReady as exc:
        _refuse(str(exc))
    except OmnicartError as exc:
        where, detail = _where(app, args, exc.field, exc.detail)
        _refuse(detail, where)


def _refuse(detail: str, where: str | None = None) -> None:
    label = f" ({escape(where)})" if where else ""
    CliConsole(stderr=True).print(f"[red]error{label}:[/red] {escape(detail)}", highlight=False)
    sys.exit(EXIT_REFUSED)


def _where(
    app: typer.Typer, args: list[str], field: str | None, detail: str
) -> tuple[str | None, str]:
    """What the user typed that `field` (a service's name for it) refers to, and the
    detail with that internal name taken out; no label when the command has no such
    parameter (the detail says what is wrong)."""
    if not field:
        return None, detail
    head, *rest = field.split(".")
    names = (head, _PARAMETER_FOR_FIELD.get(head))
    given = next((p for p in _given(app, args) if p.name in names), None)
    if given is None:
        return None, detail
    if rest and rest[0].isdigit() and isinstance(given.value, (list, tuple)):
        index = int(rest[0])
        if index < len(given.value):
            # The item the user typed, e.g. TEE-M=-5 for lines.0.quantity.
            return str(given.value[index]), detail.replace(field, rest[-1])
    if given.name != head:  # the service's own name for it means nothing to the user
        detail = detail.replace(field, given.label)
    return given.label, detail


@dataclass(frozen=True)
class _Given:
    name: str  # the parameter's Python name
    label: str  # how the user writes it: --channel, or ORDER_ID for an argument
    value: object  # what the user gave, parsed


def _given(app: typer.Typer, args: list[str]) -> list[_Given]:
    """The parameters of the sub-command `args` ran, and what they were given."""
    command = typer.main.get_command(app)
    rest = args
    while isinstance(command, TyperGroup) and rest:
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            break
        command, rest = sub, rest[1:]
    try:
        values = command.make_context("omnicart", list(rest), resilient_parsing=True).params
    except (typer.TyperException, typer.Exit):
        values = {}
    return [
        _Given(
            name=p.name or "",
            label=max(p.opts, key=len)
            if isinstance(p, TyperOption)
            else p.metavar or (p.name or "").upper(),
            value=values.get(p.name or ""),
        )
        for p in command.params
    ]
