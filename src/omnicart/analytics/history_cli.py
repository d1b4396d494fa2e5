"""`omnicart import history FILE`: a merchant's past orders into the order book and the
event store, with a progress bar; and `omnicart analytics clv`, predictive customer
lifetime value over them (registered on the `analytics` app in `analytics/cli.py`)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from omnicart.analytics.clv_api import MAX_LIMIT, ClvOut
from omnicart.analytics.clv_data import MAX_HORIZON_WEEKS, ClvReport, Holdout, customer_values
from omnicart.analytics.history import import_history
from omnicart.analytics.history_cdnow import read_cdnow
from omnicart.analytics.history_model import HistorySummary, PastHistory
from omnicart.analytics.history_uci import read_uci
from omnicart.analytics.journeys import report_period, reporting_currency
from omnicart.analytics.reading import open_analytics
from omnicart.cli_support import (
    CliConsole,
    DatabaseUrl,
    money_amount,
    open_database,
    rejections_table,
)
from omnicart.db.engine import Database
from omnicart.importing import ImportRejected
from omnicart.kernel.money import to_decimal
from omnicart.settings import get_settings
from omnicart.tracking.outbox import deliver_outbox_once
from omnicart.tracking.store import StoreBusy, open_store

EXIT_REJECTED = 2
# How long the import waits for the event store; a running server holds it in turns.
STORE_WAIT_S = 30.0


class HistoryFormat(enum.StrEnum):
    """The layouts `omnicart import history` reads."""

    uci = "uci"
    cdnow = "cdnow"


READERS: dict[HistoryFormat, Callable[..., PastHistory]] = {
    HistoryFormat.uci: read_uci,
    HistoryFormat.cdnow: read_cdnow,
}


class _Bar(AbstractContextManager["_Bar"]):
    """One bar per phase (reading, writing, returns, events) on stderr."""

    def __init__(self, console: CliConsole) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def report(self, phase: str, done: int, total: int) -> None:
        """Move the phase's bar."""
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def import_history_command(
    file: Annotated[Path, typer.Argument(help="The file of past orders.")],
    layout: Annotated[
        HistoryFormat,
        typer.Option("--format", help="uci: UCI Online Retail CSV (GBP); cdnow: CDNOW (USD)."),
    ],
    channel: Annotated[
        str | None,
        typer.Option(
            help="Code of the channel they were sold on; it must sell in the file's "
            "currency. Default: the only active channel that does."
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Time zone of the file's dates and times (IANA name).")
    ] = "UTC",
    events_path: Annotated[
        Path | None, typer.Option(help="Defaults to OMNICART_EVENTS_PATH.", show_default=False)
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Load past orders (all-or-nothing; again: nothing new) and their events."""
    err = CliConsole(stderr=True)
    with _Bar(err) as bar:
        try:
            history = READERS[layout](file, timezone=timezone, progress=bar.report)
        except ImportRejected as exc:
            bar.progress.stop()
            err.print(rejections_table(exc), highlight=False)
            err.print(f"[red]{exc.detail}[/red]", highlight=False)
            raise typer.Exit(EXIT_REJECTED) from None
        with open_database(database_url) as db:
            summary = import_history(
                db, history, channel_code=channel, source_name=file.name, progress=bar.report
            )
            delivered = _deliver(db, events_path or Path(get_settings().events_path), bar)
    CliConsole().print(_summary(summary), highlight=False)
    if delivered is None:
        err.print(
            "the event store is busy (a running server holds it); its flusher delivers "
            "these orders' events",
            highlight=False,
        )


def _deliver(db: Database, events_path: Path, bar: _Bar) -> int | None:
    """Move the outbox into the event store now; None when another process holds it."""
    try:
        with open_store(events_path, timeout=STORE_WAIT_S) as store:
            total = 0
            while read := deliver_outbox_once(store, db=db):
                total += read
                bar.report("events", total, total)
            return total
    except StoreBusy:
        return None


def _summary(summary: HistorySummary) -> str:
    span = (
        f" from {summary.first_order_at:%Y-%m-%d} to {summary.last_order_at:%Y-%m-%d}"
        if summary.first_order_at and summary.last_order_at
        else ""
    )
    parts = [
        (
            f"imported {summary.orders_created} orders ({summary.lines} lines, "
            f"{summary.customers} customers){span} into channel {summary.channel} "
            f"({summary.currency}); {summary.orders_already_there} were there already"
        )
    ]
    if summary.returns_created or summary.adjustments_created:
        parts.append(
            f"cancellations: {summary.returns_created} returns of earlier orders, "
            f"{summary.adjustments_created} adjustments"
        )
    if summary.cancellations_already_there:
        parts.append(f"{summary.cancellations_already_there} cancellations were there already")
    if summary.left_out:
        parts.append(
            "left out: "
            + ", ".join(f"{count} {why}" for why, count in sorted(summary.left_out.items()))
        )
    if summary.prices_rounded:
        parts.append(f"{summary.prices_rounded} unit prices rounded to the currency's minor unit")
    return "; ".join(parts)


# --- omnicart analytics clv ------------------------------------------------------------------


def clv(
    first: Annotated[
        datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day of the calibration range."),
    ],
    last: Annotated[
        datetime,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day of the calibration range."),
    ],
    holdout_to: Annotated[
        datetime | None,
        typer.Option(
            "--holdout-to",
            formats=["%Y-%m-%d"],
            help="Check predictions against the days after --to up to this one.",
        ),
    ] = None,
    horizon_weeks: Annotated[
        int, typer.Option(min=1, max=MAX_HORIZON_WEEKS, help="Weeks ahead to value.")
    ] = 52,
    discount_rate: Annotated[
        str, typer.Option(help="Yearly discount rate of future purchases, 0.1 = 10 %.")
    ] = "0",
    currency: Annotated[
        str | None,
        typer.Option(help="Reporting currency (ECB rates); default: the orders' only one."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="Customers to list.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the body the API answers.")
    ] = False,
    database_url: DatabaseUrl = None,
    events_path: Annotated[
        Path | None, typer.Option(help="Event store; defaults to OMNICART_EVENTS_PATH.")
    ] = None,
) -> None:
    """Customer lifetime value: BG/NBD and Gamma-Gamma fitted to the customers whose first
    purchase is in the range; their P(alive), expected purchases, spend and value."""
    period = report_period(first.date(), last.date())
    rate = to_decimal(discount_rate, field="discount_rate")
    code = reporting_currency(currency)
    settings = get_settings()
    if events_path is not None:
        settings = settings.model_copy(update={"events_path": str(events_path)})
    with open_database(database_url) as db, open_analytics(db=db, settings=settings) as engine:
        report = customer_values(
            engine,
            first=period.first,
            last=period.last,
            horizon_weeks=horizon_weeks,
            discount_rate=rate,
            holdout_last=holdout_to.date() if holdout_to else None,
            currency=code,
        )
    if as_json:
        typer.echo(ClvOut.of(report, limit=limit).model_dump_json(by_alias=True, indent=2))
        return
    out = CliConsole()
    for line in _clv_lines(report):
        out.print(line, highlight=False)
    out.print(_clv_table(report, limit=limit))
    if report.holdout is not None:
        holdout = report.holdout
        out.print(
            f"holdout {holdout.first} to {holdout.last} ({holdout.weeks:.1f} weeks): "
            f"{holdout.actual} purchases made, {holdout.predicted:.1f} predicted",
            highlight=False,
        )
        out.print(_holdout_table(holdout))


def _clv_lines(report: ClvReport) -> list[str]:
    g, s = report.bgnbd, report.gamma_gamma
    discount = f", discounted at {report.discount_rate} a year" if report.discount_rate else ""
    return [
        (
            f"{report.customers} customers first bought from {report.first} to {report.last}; "
            f"{report.repeat_customers} bought again"
        ),
        (
            f"BG/NBD: r = {g.r:.3f}, alpha = {g.alpha:.3f}, a = {g.a:.3f}, b = {g.b:.3f}; "
            f"log-likelihood {g.log_likelihood:.1f}"
        ),
        (
            f"Gamma-Gamma ({report.gamma_gamma_customers} repeat customers): p = {s.p:.2f}, "
            f"q = {s.q:.2f}, gamma = {s.gamma:.2f}; log-likelihood {s.log_likelihood:.1f}"
        ),
        f"value of the next {report.horizon_weeks} weeks in {report.currency}{discount}:",
    ]


def _clv_table(report: ClvReport, *, limit: int) -> Table:
    table = Table("customer", "x", "t_x", "T", "P(alive)", "purchases", "spend", "value")
    for v in report.values[:limit]:
        table.add_row(
            escape(v.customer_key),
            str(v.frequency),
            str(v.recency_weeks),
            str(v.age_weeks),
            str(v.p_alive),
            str(v.expected_purchases),
            money_amount(v.expected_spend, report.currency),
            money_amount(v.expected_value, report.currency),
        )
    return table


def _holdout_table(holdout: Holdout) -> Table:
    table = Table("x", "customers", "actual per customer", "predicted per customer")
    for group in holdout.groups:
        table.add_row(
            group.frequency,
            str(group.customers),
            f"{group.actual:.2f}",
            f"{group.predicted:.2f}",
        )
    return table
