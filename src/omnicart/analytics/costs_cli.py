"""`omnicart import spend|costs|fees|fixed-costs|rates FILE`: cost data for analytics.

Each reads its file first (an unreadable file never needs the database), then checks and
imports it in one transaction. A file with rejected rows prints them (row, column,
reason), imports nothing and exits 2; otherwise one line of counts.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from omnicart.analytics.import_files import read_sheet
from omnicart.analytics.importers import ImportCounts, import_cost_sheet
from omnicart.analytics.importers_spend import import_spend_sheet, read_spend_sheet
from omnicart.analytics.rates import import_rates_sheet
from omnicart.cli_support import (
    EXIT_REFUSED,
    CliConsole,
    DatabaseUrl,
    open_database,
    rejections_table,
)
from omnicart.db.engine import Database
from omnicart.importing import ImportRejected

T = TypeVar("T")
File = Annotated[Path, typer.Argument(help="CSV file (see `omnicart.analytics.importers`).")]


class Layout(StrEnum):
    """The spend file layouts."""

    GOOGLE = "google"
    META = "meta"
    PLAIN = "plain"


def _run(database_url: str | None, work: Callable[[Database], T]) -> T:
    """`work` on the database; a rejected file prints its rows and exits 2."""
    with open_database(database_url) as db:
        try:
            return work(db)
        except ImportRejected as exc:
            err = CliConsole(stderr=True)
            err.print(rejections_table(exc), highlight=False)
            err.print(f"[red]{exc.detail}[/red]", highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None


def _line(what: str, counts: ImportCounts, extra: str = "") -> str:
    return f"imported {counts.rows} {what}: {counts.created} new, {counts.replaced} replaced{extra}"


def import_spend(
    file: File,
    channel: Annotated[
        str | None,
        typer.Option(help="Channel the ads sold for (Google and Meta exports do not say)."),
    ] = None,
    layout: Annotated[
        Layout | None, typer.Option(help="Read the file as this layout (default: by its header).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import ad spend per channel, campaign and day (Google Ads, Meta or plain CSV)."""
    found, sheet = read_spend_sheet(file, layout=None if layout is None else layout.value)
    done = _run(
        database_url, lambda db: import_spend_sheet(db, sheet, layout=found, channel=channel)
    )
    CliConsole().print(_line("spend rows", done.counts, f" ({done.layout} layout)"))


def _cost_command(kind: str, what: str, doc: str) -> Callable[..., None]:
    def command(file: File, database_url: DatabaseUrl = None) -> None:
        sheet = read_sheet(file)
        counts = _run(database_url, lambda db: import_cost_sheet(db, sheet, kind=kind))
        CliConsole().print(_line(what, counts))

    command.__doc__ = doc
    command.__name__ = f"import_{kind.replace('-', '_')}"
    return command


import_costs = _cost_command(
    "costs", "unit costs", "Import unit costs (COGS) per SKU: sku,valid_from,cost,currency."
)
import_fees = _cost_command(
    "fees",
    "channel fees",
    "Import channel fees: channel,valid_from,commission_pct,payment_pct,payment_fixed,currency.",
)
import_fixed_costs = _cost_command(
    "fixed-costs",
    "fixed costs",
    "Import fixed costs per channel and month: channel,month,label,amount,currency.",
)


def import_rates(file: File, database_url: DatabaseUrl = None) -> None:
    """Import ECB euro reference rates (eurofxref-hist.csv or eurofxref.csv)."""
    sheet = read_sheet(file)
    done = _run(database_url, lambda db: import_rates_sheet(db, sheet))
    skipped = f"; skipped {', '.join(done.skipped)} (no longer in use)" if done.skipped else ""
    CliConsole().print(
        _line("rates", done.counts, f" ({done.days} days, {len(done.currencies)} currencies)")
        + skipped
    )
