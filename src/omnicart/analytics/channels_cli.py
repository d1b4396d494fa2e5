"""`omnicart analytics channels` and `omnicart analytics definitions`.

The command refreshes the analytic model and reads it exactly as the API does; `--json`
prints the API's body. The table has a row per figure and a column per channel, money with
its currency's minor units.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from omnicart.analytics.channels import ChannelReport, Figure, channel_figures
from omnicart.analytics.definitions import DEFINITIONS, definitions_table
from omnicart.analytics.engine import Engine
from omnicart.analytics.period import Period
from omnicart.analytics.reading import open_analytics
from omnicart.analytics.schemas import ChannelReportOut
from omnicart.cli_support import CliConsole, DatabaseUrl, money_amount, open_database
from omnicart.kernel.money import validate_currency
from omnicart.settings import get_settings

console = CliConsole()

From = Annotated[
    datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC), included.")
]
To = Annotated[
    datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC), included.")
]
EventsPath = Annotated[
    Path | None, typer.Option(help="Event store; defaults to OMNICART_EVENTS_PATH.")
]


@contextmanager
def _analytics(database_url: str | None, events_path: Path | None) -> Iterator[Engine]:
    settings = get_settings()
    if events_path is not None:
        settings = settings.model_copy(update={"events_path": str(events_path)})
    with open_database(database_url) as db, open_analytics(db=db, settings=settings) as engine:
        yield engine


def _shown(figure: Figure) -> str:
    if figure.value is None:
        return "–"
    if figure.unit == "money" and figure.currency is not None:
        return money_amount(figure.value, figure.currency)  # type: ignore[arg-type]
    if figure.unit == "percent":
        return f"{figure.value} %"
    return str(figure.value)


def _table(report: ChannelReport, *, own: bool) -> Table:
    where = "each channel's own currency" if own else report.currency
    table = Table(
        title=f"channels {report.first} to {report.last} (UTC), in {where}",
        title_justify="left",
    )
    table.add_column("figure")
    columns = [
        (f"{c.code} ({c.currency if own else report.currency})", c.figures if own else c.reporting)
        for c in report.channels
    ]
    for header, _ in columns:
        table.add_column(header, justify="right")
    table.add_column(f"total ({report.currency})", justify="right")
    shown = {f.name for f in report.total}  # the channels' figures and mer, not the journeys'
    for definition in (d for d in DEFINITIONS if d.name in shown):
        cells = [
            next((_shown(f) for f in figures if f.name == definition.name), "")
            for _, figures in columns
        ]
        total = next((_shown(f) for f in report.total if f.name == definition.name), "")
        table.add_row(definition.name, *cells, total)
    return table


def channels(
    first: From,
    last: To,
    currency: Annotated[
        str, typer.Option(help="Reporting currency (ISO 4217; ECB reference rates).")
    ] = "EUR",
    own: Annotated[
        bool, typer.Option("--own", help="Show each channel in its own currency.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the body the API answers.")
    ] = False,
    database_url: DatabaseUrl = None,
    events_path: EventsPath = None,
) -> None:
    """What every channel earns in a range of days: sales, costs, profit, ROI, ROAS, CPA,
    MER, AOV, conversion and returns (definitions: `omnicart analytics definitions`)."""
    period = Period.of(first.date(), last.date(), fields=("first", "last"))
    code = validate_currency(currency, field="currency")
    with _analytics(database_url, events_path) as engine:
        report = channel_figures(engine, first=period.first, last=period.last, currency=code)
    if as_json:
        typer.echo(ChannelReportOut.of(report).model_dump_json(by_alias=True, indent=2))
        return
    console.print(_table(report, own=own))


def definitions(
    markdown: Annotated[bool, typer.Option("--markdown", help="As README.md's table.")] = False,
) -> None:
    """What each figure means, one line each (the README's definitions table)."""
    if markdown:
        typer.echo(definitions_table())
        return
    table = Table("figure", "unit", "definition", title="definitions", title_justify="left")
    for definition in DEFINITIONS:
        table.add_row(definition.name, definition.unit, definition.text)
    console.print(table)
