"""What the analytics pages show, read with the functions the analytics API calls.

Nothing here computes a figure: the channel figures come from `channel_series` (the whole
range as `channel_figures` answers it, and each week, month or year of it for the charts,
from one read), a channel's top products and return reasons from `top_products` and
`return_reasons`, funnels from `funnel`, attribution from `attribution_report`, cohorts and
omnichannel customers from theirs, all on one refreshed model per request
(`open_analytics`, as the API opens it). Product names come from the catalog.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from omnicart.analytics.channels import ChannelFigures, ChannelReport, channel_series
from omnicart.analytics.cohorts import CohortTable, cohort_table
from omnicart.analytics.engine import Engine
from omnicart.analytics.funnels import Funnel, FunnelRow, funnel, parse_window
from omnicart.analytics.journeys import AttributionReport, ChannelAttribution, attribution_report
from omnicart.analytics.omnichannel import OmnichannelReport, omnichannel_report
from omnicart.analytics.period import Period
from omnicart.analytics.products import TopProducts, top_products
from omnicart.analytics.return_reasons import ReturnReasons, return_reasons
from omnicart.catalog.service import get_product, get_variant
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, OmnicartError, ValidationFailed
from omnicart.kernel.money import validate_currency

DEFAULT_DAYS = 30  # the range shown when none is asked for: the last 30 days (UTC)
DEFAULT_CURRENCY = "EUR"  # as the API's
# The Overview's columns: the figures a merchant compares channels by.
OVERVIEW_FIGURES = (
    "orders", "net_sales", "total_cost", "net_profit", "roi", "roas", "aov",
    "conversion_rate", "return_rate",
)  # fmt: skip
# The channel page's spend against revenue.
SPEND_FIGURES = ("ad_spend", "net_sales", "roas", "total_cost", "net_profit", "roi")
DEFAULT_STEPS = ("Product Added", "Checkout Started", "Order Completed")
DEFAULT_WINDOW = "7d"
MAX_WEEKS = 13  # up to 13 weeks a week per point, up to 3 years a month, then a year


@dataclass(frozen=True, slots=True)
class Filters:
    """A page's range (UTC days, both included), reporting currency and channel."""

    first: date
    last: date
    currency: str
    channel: str | None

    @property
    def period(self) -> Period:
        return Period(self.first, self.last)

    def query(self) -> dict[str, str]:
        """The filters as the page's query string."""
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "currency": self.currency,
            "channel": self.channel or "",
        }


class FilterErrors(Exception):
    """Filters that cannot be read: a message per field, and the form as typed."""

    def __init__(self, errors: dict[str, str], shown: dict[str, str], status: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.shown = shown
        self.status = status


def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = "Give a day as YYYY-MM-DD."
        return None


def parse_filters(
    raw: Mapping[str, str | None], *, today: date, channels: Collection[str]
) -> Filters:
    """The filters of a GET form (blank: the defaults), or FilterErrors naming each field;
    a channel must be one of `channels`."""
    shown = {name: (raw.get(name) or "").strip() for name in ("from", "to", "currency", "channel")}
    errors: dict[str, str] = {}
    last = _day(shown["to"], "to", errors) if shown["to"] else today
    first_default = (last or today) - timedelta(days=DEFAULT_DAYS - 1)
    first = _day(shown["from"], "from", errors) if shown["from"] else first_default
    currency = shown["currency"] or DEFAULT_CURRENCY
    try:
        currency = validate_currency(currency, field="currency")
    except ValidationFailed as exc:
        errors["currency"] = _sentence(exc.detail)
    if first is not None and last is not None and not errors.get("from"):
        try:
            Period.of(first, last)
        except ValidationFailed as exc:
            errors[exc.field or "to"] = _sentence(exc.detail)
    if shown["channel"] and shown["channel"] not in channels:
        errors["channel"] = f"There is no channel {shown['channel']}."
    if errors or first is None or last is None:
        raise FilterErrors(errors, shown)
    return Filters(first, last, currency, shown["channel"] or None)


def _sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")


def refused(exc: OmnicartError, shown: dict[str, str]) -> FilterErrors:
    """A figure the model cannot give for these filters (a currency without rates…),
    shown at the field the analytics code names (the currency when it names none)."""
    return FilterErrors({exc.field or "currency": _sentence(exc.detail)}, shown, exc.status)


# --------------------------------------------------------------------- the time series


@dataclass(frozen=True, slots=True)
class Slice:
    """A week, month or year of the range (clipped to it) and every channel's figures."""

    label: str
    first: date
    last: date
    report: ChannelReport


def slices(period: Period) -> tuple[str, list[tuple[str, date, date]]]:
    """The grain of the charts and the range cut into it: weeks (from Monday) for up to 13
    weeks, months for up to 3 years, else years; the ends clipped to the range."""
    if period.days <= MAX_WEEKS * 7:
        grain = "week"
        start = period.first - timedelta(days=period.first.weekday())
    elif period.days <= 3 * 366:
        grain, start = "month", period.first.replace(day=1)
    else:
        grain, start = "year", period.first.replace(month=1, day=1)
    cuts = []
    while start <= period.last:
        if grain == "week":
            after = start + timedelta(days=7)
        elif grain == "month":
            after = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        else:
            after = date(start.year + 1, 1, 1)
        first, last = max(start, period.first), min(after - timedelta(days=1), period.last)
        label = (
            first.isoformat()
            if grain == "week"
            else start.isoformat()[: 7 if grain == "month" else 4]
        )
        cuts.append((label, first, last))
        start = after
    return grain, cuts


def _series(engine: Engine, filters: Filters) -> tuple[ChannelReport, str, list[Slice]]:
    """The range's report (GET /v1/analytics/channels's) and its slices', in one read."""
    grain, cuts = slices(filters.period)
    series = channel_series(
        engine,
        first=filters.first,
        last=filters.last,
        slices=[(first, last) for _, first, last in cuts],
        currency=filters.currency,
    )
    pieces = [
        Slice(label, first, last, report)
        for (label, first, last), report in zip(cuts, series.slices, strict=True)
    ]
    return series.report, grain, pieces


# --------------------------------------------------------------------------- the pages


@dataclass(frozen=True, slots=True)
class Overview:
    """Every channel's figures in the range, and per week, month or year of it."""

    report: ChannelReport
    grain: str
    series: list[Slice]

    def shown(self, channel: str | None) -> tuple[ChannelFigures, ...]:
        """The channels the table lists: all, or the one filtered for."""
        return tuple(c for c in self.report.channels if channel is None or c.code == channel)


def read_overview(engine: Engine, filters: Filters) -> Overview:
    """The Overview's report (as GET /v1/analytics/channels answers it) and its series."""
    report, grain, series = _series(engine, filters)
    return Overview(report, grain, series)


@dataclass(frozen=True, slots=True)
class ChannelPage:
    """One channel: its figures, its funnel, every attribution model's credit, over time,
    its top products and why its sales came back."""

    figures: ChannelFigures
    report: ChannelReport
    funnel: Funnel
    funnel_row: FunnelRow | None
    attribution: AttributionReport
    credit: ChannelAttribution | None
    grain: str
    series: list[Slice]
    products: TopProducts
    reasons: ReturnReasons


def read_channel(
    engine: Engine, filters: Filters, *, code: str, steps: tuple[str, ...], window: str
) -> ChannelPage | None:
    """The channel page's figures, or None when the model knows no channel `code`."""
    report, grain, series = _series(engine, filters)
    figures = next((c for c in report.channels if c.code == code), None)
    if figures is None:
        return None
    entered = funnel(engine, period=filters.period, steps=steps, window=parse_window(window))
    credits = attribution_report(engine, period=filters.period, currency=filters.currency)
    period, channel_id = filters.period, figures.channel_id
    return ChannelPage(
        figures=figures,
        report=report,
        funnel=entered,
        funnel_row=next((r for r in entered.rows if r.channel == code), None),
        attribution=credits,
        credit=next((c for c in credits.channels if c.channel == code), None),
        grain=grain,
        series=series,
        products=top_products(
            engine, channel_id=channel_id, period=period, currency=filters.currency
        ),
        reasons=return_reasons(engine, channel_id=channel_id, period=period),
    )


def product_names(db: Database, skus: Iterable[str]) -> dict[str, str]:
    """The catalog's name of each SKU it holds: its product's title, and the variant's
    title after it when the variant has one. A SKU sold but not in the catalog (a
    channel's own, an imported past) has none."""
    names = {}
    with db.reading() as session:
        for sku in skus:
            try:
                variant = get_variant(session, sku=sku)
                product = get_product(session, product_id=variant.product_id)
            except NotFound:
                continue
            names[sku] = f"{product.title} ({variant.title})" if variant.title else product.title
    return names


@dataclass(frozen=True, slots=True)
class CustomersPage:
    """Retention cohorts and omnichannel against single-channel customers."""

    cohorts: CohortTable
    omnichannel: OmnichannelReport


def read_customers(engine: Engine, filters: Filters) -> CustomersPage:
    """Cohorts (all channels, or the one filtered for) and the omnichannel comparison."""
    cohorts = cohort_table(engine, period=filters.period, currency=filters.currency)
    return CustomersPage(
        cohorts=CohortTable(
            cohorts.period,
            cohorts.currency,
            tuple(c for c in cohorts.cohorts if c.channel == filters.channel),
        ),
        omnichannel=omnichannel_report(engine, period=filters.period, currency=filters.currency),
    )
