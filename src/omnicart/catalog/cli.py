"""CLI commands for catalog: `omnicart import catalog FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from omnicart.catalog.importer import (
    CatalogImportRejected,
    CsvFile,
    ImportSummary,
    import_catalog_rows,
    read_catalog_csv,
)
from omnicart.cli_support import CliConsole, DatabaseUrl, open_database, rejections_table
from omnicart.db.engine import Database

app = typer.Typer(no_args_is_help=True, help="catalog commands")

EXIT_REJECTED = 2
EXIT_FAILED = 1


def import_catalog(
    file: Annotated[Path, typer.Argument(help="CSV file; see `omnicart.catalog.importer`.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Import products, variants, bundles, prices and listings from CSV (all-or-nothing)."""
    err = CliConsole(stderr=True)
    out = CliConsole()
    # Reading first means an unreadable file never needs a database connection.
    table = read_catalog_csv(file)
    with open_database(database_url) as db:
        try:
            summary = _run(db, table, err)
        except CatalogImportRejected as exc:
            err.print(rejections_table(exc), highlight=False)
            err.print(f"[red]{exc.detail}[/red]", highlight=False)
            raise typer.Exit(EXIT_REJECTED) from None
        except SQLAlchemyError as exc:
            err.print(f"[red]database error:[/red] {str(exc).splitlines()[0]}", highlight=False)
            raise typer.Exit(EXIT_FAILED) from None
    out.print(_summary(summary), highlight=False)


def _run(db: Database, table: CsvFile, err: CliConsole) -> ImportSummary:
    with Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        with db.transaction() as session:
            return import_catalog_rows(session, table, progress=report)


def _summary(summary: ImportSummary) -> str:
    return (
        f"imported {summary.rows} rows: "
        f"products {summary.products_created} created, {summary.products_updated} updated; "
        f"variants {summary.variants_created} created, {summary.variants_updated} updated; "
        f"{summary.bundles_defined} bundles defined, {summary.prices_set} prices set, "
        f"{summary.listings_set} listings set"
    )
