"""What every `omnicart` sub-command shares: the database option, and how an importer's
rejected rows are shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from omnicart.db.engine import Database
from omnicart.importing import ImportRejected
from omnicart.settings import get_settings

DatabaseUrl = Annotated[
    str | None, typer.Option(help="Defaults to OMNICART_DATABASE_URL.", show_default=False)
]


@contextmanager
def open_database(url: str | None) -> Iterator[Database]:
    """The database at `url` (default: the configured one), closed afterwards."""
    db = Database.from_url(url or get_settings().database_url)
    try:
        yield db
    finally:
        db.dispose()


def rejections_table(rejected: ImportRejected) -> Table:
    """Every rejected row of an import: row number, column and reason."""
    table = Table(title=rejected.detail, title_justify="left")
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("reason", overflow="fold")
    for error in rejected.errors:
        table.add_row(str(error.row), error.column, error.reason)
    return table
