"""`omnicart analytics cohorts|funnel|attribution|omnichannel`: customers' figures
(registered on the `analytics` app in `analytics/cli.py`).

Each command refreshes the analytic model in the event store and reads it, exactly as the
API does; `--json` prints the API's body.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from omnicart.analytics.cohorts import cohort_table
from omnicart.analytics.engine import Engine
from omnicart.analytics.funnels import funnel, parse_window
from omnicart.analytics.journeys import Amount, attribution_report, report_period
from omnicart.analytics.journeys_schemas import (
    AttributionOut,
    CohortTableOut,
    FunnelOut,
    OmnichannelOut,
)
from omnicart.analytics.omnichannel import omnichannel_report
from omnicart.analytics.period import Period
from omnicart.analytics.reading import open_analytics
from omnicart.cli_support import CliConsole, DatabaseUrl, money, open_database
from omnicart.kernel.money import to_decimal
from omnicart.settings import get_settings

console = CliConsole()

From = Annotated[
    datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC), included.")
]
To = Annotated[
    datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC), included.")
]
Currency = Annotated[
    str | None,
    typer.Option(help="Report money in this currency (ECB rates); default: each its own."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the body the API answers.")]
EventsPath = Annotated[
    Path | None, typer.Option(help="Event store; defaults to OMNICART_EVENTS_PATH.")
]


@contextmanager
def _model(database_url: str | None, events_path: Path | None) -> Iterator[Engine]:
    """The refreshed model on the configured engine (OMNICART_ANALYTICS_ENGINE)."""
    settings = get_settings()
    if events_path is not None:
        settings = settings.model_copy(update={"events_path": str(events_path)})
    with open_database(database_url) as db, open_analytics(db=db, settings=settings) as engine:
        yield engine


def _period(first: datetime, last: datetime) -> Period:
    return report_period(first.date(), last.date())


def _print_json(body: BaseModel) -> None:
    typer.echo(body.model_dump_json(by_alias=True, indent=2))


def _money(amounts: Sequence[Amount]) -> str:
    return " + ".join(money(a.amount, a.currency) for a in amounts) or "–"


def _rate(value: Decimal | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def cohorts(
    first: From,
    last: To,
    currency: Currency = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    events_path: EventsPath = None,
) -> None:
    """Retention cohorts by first-order month and channel: repeat rate and sales per month."""
    period = _period(first, last)
    with _model(database_url, events_path) as engine:
        table = cohort_table(engine, period=period, currency=currency)
    if as_json:
        _print_json(CohortTableOut.of(table))
        return
    width = max((len(c.months) for c in table.cohorts), default=0)
    grid = Table("cohort", "channel", "customers", *(f"month {k}" for k in range(width)))
    for cohort in table.cohorts:
        cells = [f"{_rate(m.repeat_rate)}\n{_money(m.order_net_sales)}" for m in cohort.months]
        grid.add_row(
            cohort.month.strftime("%Y-%m"),
            escape(cohort.channel or "all"),
            str(cohort.cohort_customers),
            *cells,
        )
    console.print("repeat rate and order net sales per month since the first order")
    console.print(grid)


def omnichannel(
    first: From,
    last: To,
    currency: Currency = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    events_path: EventsPath = None,
) -> None:
    """Customers who bought on 2+ channels against those who bought on one."""
    period = _period(first, last)
    with _model(database_url, events_path) as engine:
        report = omnichannel_report(engine, period=period, currency=currency)
    if as_json:
        _print_json(OmnichannelOut.of(report))
        return
    grid = Table(
        "group", "customers", "orders/customer", "sales/customer", "12-month value (customers)"
    )
    for group in report.groups:
        per_customer = [
            Amount(m.currency, m.sales_per_customer)
            for m in group.by_currency
            if m.sales_per_customer is not None
        ]
        year = [
            Amount(m.currency, m.value_12m) for m in group.by_currency if m.value_12m is not None
        ]
        grid.add_row(
            group.group,
            str(group.group_customers),
            "–" if group.orders_per_customer is None else str(group.orders_per_customer),
            _money(per_customer),
            f"{_money(year)} ({group.mature_customers})",
        )
    console.print(grid)


def funnel_command(
    first: From,
    last: To,
    steps: Annotated[
        list[str], typer.Option("--step", help="An event name; repeat for each step, in order.")
    ],
    window: Annotated[str, typer.Option(help="Conversion window: 30m, 12h, 7d.")] = "7d",
    segment: Annotated[
        str | None, typer.Option(help="Split by `source` (first UTM source) or `customer`.")
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    events_path: EventsPath = None,
) -> None:
    """A funnel of tracked events (a till sale completes `Order Completed`), per channel."""
    period = _period(first, last)
    span = parse_window(window)
    with _model(database_url, events_path) as engine:
        report = funnel(engine, period=period, steps=steps, window=span, segment=segment)
    if as_json:
        _print_json(FunnelOut.of(report))
        return
    grid = Table("channel", "segment", *(escape(s) for s in report.steps))
    for row in report.rows:
        grid.add_row(
            escape(row.channel or "all"),
            escape(row.segment or ""),
            *(f"{s.funnel_subjects} ({_rate(s.funnel_conversion)})" for s in row.steps),
        )
    console.print(grid)


def attribution(
    first: From,
    last: To,
    lookback_days: Annotated[int, typer.Option(help="Touches this many days before count.")] = 30,
    half_life_days: Annotated[str, typer.Option(help="Time decay's half-life in days.")] = "7",
    currency: Currency = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    events_path: EventsPath = None,
) -> None:
    """Conversions and sales per touch channel under every attribution model, with ROAS."""
    period = _period(first, last)
    half_life = to_decimal(half_life_days, field="half_life_days")
    with _model(database_url, events_path) as engine:
        report = attribution_report(
            engine,
            period=period,
            lookback_days=lookback_days,
            half_life_days=half_life,
            currency=currency,
        )
    if as_json:
        _print_json(AttributionOut.of(report))
        return
    console.print(
        f"{report.conversions} conversions ({_money(report.order_net_sales)}); "
        f"{report.unattributed_conversions} without a touch in {report.lookback_days} days"
    )
    grid = Table("channel", "ad spend", *report.models)
    for channel in report.channels:
        cells = []
        for credit in channel.credits:
            sales = [Amount(s.currency, s.attributed_sales) for s in credit.by_currency]
            roas = [
                f"ROAS {s.attributed_roas}"
                for s in credit.by_currency
                if s.attributed_roas is not None
            ]
            cells.append("\n".join([str(credit.attributed_conversions), _money(sales), *roas]))
        grid.add_row(escape(channel.channel), _money(channel.ad_spend), *cells)
    console.print(grid)
