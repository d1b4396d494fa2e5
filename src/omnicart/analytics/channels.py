"""What every channel earns in a date range: the figures of `definitions.py`, per channel.

One read of the analytic model (`channels_sql.py`, the same SQL on DuckDB and ClickHouse)
gives exact sums per channel, day and currency; Python then applies each day's fees,
converts each day's amount (`currency.Rates.convert`, the one conversion rule), prorates
fixed costs and computes the
derived figures and ratios from exact Decimals. Each channel's figures are given in its own
currency and in the reporting currency; the total, across channels, in the reporting one.
"""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from omnicart.analytics import channels_sql as sql
from omnicart.analytics.currency import Rates, check_reporting_currency, load_rates
from omnicart.analytics.definitions import DEFINITIONS, Unit
from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.period import Period
from omnicart.kernel.money import Money, validate_currency

Value = Decimal | int | None

# Money summed from the model's rows, each converted day by day.
SUMMED_MONEY = (
    "gross_sales", "discounts", "refunds", "cogs", "fees", "shipping", "ad_spend",
    "fixed_costs",
)  # fmt: skip
# Counts read from the model, by channel.
COUNTED = (
    "orders", "units", "returned_units", "customers", "new_customers", "sessions",
    "ordering_sessions", "cart_sessions", "abandoned_carts",
)  # fmt: skip
# Figures of the all-channel total only.
TOTAL_ONLY = frozenset({"mer"})
PERCENT = Decimal("0.01")
RATIO = Decimal("0.0001")
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its definition's name and unit, its value, and the currency of its money
    (money figures, and ratios computed from money); None for counts and event rates."""

    name: str
    unit: Unit
    value: Value
    currency: str | None


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    """A channel's figures in its own currency (`figures`) and in the report's (`reporting`)."""

    channel_id: int
    code: str
    kind: str
    currency: str
    figures: tuple[Figure, ...]
    reporting: tuple[Figure, ...]

    def value(self, name: str, *, reporting: bool = False) -> Value:
        """The value of the figure called `name` (in the reporting currency if asked)."""
        return _find(self.reporting if reporting else self.figures, name)


@dataclass(frozen=True, slots=True)
class ChannelReport:
    """Every channel's figures for the days `first` to `last`, and their total."""

    first: date
    last: date
    currency: str
    channels: tuple[ChannelFigures, ...]
    total: tuple[Figure, ...]

    def channel(self, code: str) -> ChannelFigures:
        """The figures of the channel with this code (KeyError if it has none)."""
        for channel in self.channels:
            if channel.code == code:
                return channel
        raise KeyError(code)

    def total_value(self, name: str) -> Value:
        """The value of the all-channel figure called `name`."""
        return _find(self.total, name)


def _find(figures: Iterable[Figure], name: str) -> Value:
    for figure in figures:
        if figure.name == name:
            return figure.value
    raise KeyError(name)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class _Channel:
    channel_id: int
    code: str
    kind: str
    currency: str


@dataclass(frozen=True, slots=True)
class _Part:
    """An exact amount of one figure, on one day, in one currency."""

    channel_id: int
    day: date
    currency: str
    figure: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class _Fees:
    """A channel's fees from `valid_from` until `valid_until` (None: still in force)."""

    valid_from: date
    valid_until: date | None
    commission_pct: Decimal
    payment_pct: Decimal
    payment_fixed: Decimal
    currency: str

    def holds(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day < self.valid_until)


def _read(
    engine: Engine, period: Period, params: Mapping[str, Param]
) -> tuple[list[_Part], dict[int, dict[str, int]]]:
    """The exact amounts of every money figure by channel, day and currency, and the
    counts by channel (channel 0: customers across channels)."""
    parts: list[_Part] = []
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    fees: dict[int, list[_Fees]] = defaultdict(list)
    for channel_id, *terms in engine.query(sql.FEE_PERIODS):
        fees[channel_id].append(_Fees(*terms))
    for (
        channel_id,
        day,
        currency,
        orders,
        units,
        gross,
        discount,
        shipping,
        total,
        refunds,
    ) in engine.query(sql.SALES_DAYS, params):
        tally = counts[channel_id]
        tally["orders"] += orders
        tally["units"] += units
        parts.append(_Part(channel_id, day, currency, "gross_sales", gross))
        parts.append(_Part(channel_id, day, currency, "discounts", discount))
        parts.append(_Part(channel_id, day, currency, "shipping", shipping))
        if refunds is not None:
            parts.append(_Part(channel_id, day, currency, "refunds", refunds))
        net = gross - discount - (refunds or 0)
        for fee in fees[channel_id]:
            if fee.holds(day):
                with localcontext() as context:
                    context.prec = 60
                    percent = (fee.commission_pct * net + fee.payment_pct * total) / HUNDRED
                    fixed = fee.payment_fixed * orders
                parts.append(_Part(channel_id, day, currency, "fees", percent))
                parts.append(_Part(channel_id, day, fee.currency, "fees", fixed))
    for channel_id, day, currency, cogs, line_units, costed, returned in engine.query(
        sql.UNIT_DAYS, params
    ):
        tally = counts[channel_id]
        tally["line_units"] += line_units
        tally["costed_units"] += costed
        tally["returned_units"] += returned
        if cogs is not None:
            parts.append(_Part(channel_id, day, currency, "cogs", cogs))
    for channel_id, day, currency, amount in engine.query(sql.AD_SPEND, params):
        parts.append(_Part(channel_id, day, currency, "ad_spend", amount))
    for channel_id, month, currency, amount in engine.query(sql.FIXED_COSTS, params):
        day, share = prorate(amount, month=month, period=period)
        parts.append(_Part(channel_id, day, currency, "fixed_costs", share))
    for channel_id, customers, new in engine.query(sql.CUSTOMERS, params):
        counts[channel_id]["customers"] = int(customers)
        counts[channel_id]["new_customers"] = int(new)
    for channel_id, *values in engine.query(sql.SESSIONS, params):
        names = ("sessions", "ordering_sessions", "cart_sessions", "abandoned_carts")
        for name, value in zip(names, values, strict=True):
            counts[channel_id][name] = int(value)
    return parts, counts


def prorate(amount: Decimal, *, month: date, period: Period) -> tuple[date, Decimal]:
    """A month's amount × its days in `period` / its days, dated its first day in `period`.

    Exact to 60 significant digits; rounded when converted, like every amount of a day.
    """
    days_in_month = monthrange(month.year, month.month)[1]
    month_last = month.replace(day=days_in_month)
    first = max(month, period.first)
    last = min(month_last, period.last)
    covered = (last - first).days + 1
    if covered >= days_in_month:
        return first, amount
    with localcontext() as context:
        context.prec = 60
        return first, amount * covered / days_in_month


def _converted(
    parts: Iterable[_Part], channels: Mapping[int, _Channel], rates: Rates, reporting: str
) -> tuple[dict[int, dict[str, Decimal]], dict[int, dict[str, Decimal]]]:
    """Each channel's money figures in its own currency and in `reporting`, day by day."""
    days: dict[tuple[int, date, str, str], Decimal] = defaultdict(Decimal)
    for part in parts:
        if part.channel_id in channels:
            days[part.channel_id, part.day, part.currency, part.figure] += part.amount
    own = {c: dict.fromkeys(SUMMED_MONEY, Decimal(0)) for c in channels}
    report = {c: dict.fromkeys(SUMMED_MONEY, Decimal(0)) for c in channels}
    for (channel_id, day, currency, figure), amount in days.items():
        target = channels[channel_id].currency
        converted = rates.convert(amount, source=currency, target=target, day=day)
        own[channel_id][figure] += converted
        if target != reporting:
            converted = rates.convert(amount, source=currency, target=reporting, day=day)
        report[channel_id][figure] += converted
    return own, report


# --------------------------------------------------------------------------- figures


def _ratio(numerator: Decimal | int, denominator: Decimal | int, step: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 60
        value = Decimal(numerator) / Decimal(denominator)
    return value.quantize(step, rounding=ROUND_HALF_EVEN)


def _money_ratio(numerator: Decimal, denominator: int, currency: str) -> Decimal | None:
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 60
        return Money.rounded(numerator / denominator, currency).amount


def _percent(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    return _ratio(Decimal(numerator) * HUNDRED, denominator, PERCENT)


def _values(
    money: Mapping[str, Decimal], counts: Mapping[str, int], currency: str
) -> dict[str, Value]:
    """Every figure of one block from its summed money (in `currency`) and counts."""
    m, c = money, counts
    net_sales = m["gross_sales"] - m["discounts"] - m["refunds"]
    total_cost = m["cogs"] + m["fees"] + m["ad_spend"] + m["fixed_costs"]
    net_profit = net_sales - total_cost
    returning = c.get("customers", 0) - c.get("new_customers", 0)
    uncosted = c.get("line_units", 0) - c.get("costed_units", 0)
    values: dict[str, Value] = {
        **{name: c.get(name, 0) for name in COUNTED},
        **{name: m[name] for name in SUMMED_MONEY},
        "net_sales": net_sales,
        "return_rate": _percent(c.get("returned_units", 0), c.get("units", 0)),
        "uncosted_units": uncosted,
        "total_cost": total_cost,
        "net_profit": net_profit,
        "roi": _percent(net_profit, total_cost),
        "roas": _ratio(net_sales, m["ad_spend"], RATIO),
        "aov": _money_ratio(net_sales, c.get("orders", 0), currency),
        "returning_customers": returning,
        "cpa": _money_ratio(m["ad_spend"], c.get("new_customers", 0), currency),
        "conversion_rate": _percent(c.get("ordering_sessions", 0), c.get("sessions", 0)),
        "cart_abandonment_rate": _percent(c.get("abandoned_carts", 0), c.get("cart_sessions", 0)),
        "mer": _ratio(net_sales, m["ad_spend"], RATIO),
    }
    return values


# Ratios computed from money depend on the currency they were computed in.
_FROM_MONEY = frozenset({"roi", "roas", "mer"})


def _figures(values: Mapping[str, Value], currency: str, *, total: bool) -> tuple[Figure, ...]:
    figures = []
    for d in DEFINITIONS:
        if d.name not in values or (d.name in TOTAL_ONLY and not total):
            continue
        value = values[d.name]
        if d.unit == "money" and isinstance(value, Decimal):
            # Sums of rounded days are exact already; this writes 0 as 0.00 too.
            value = Money.rounded(value, currency).amount
        money = d.unit == "money" or d.name in _FROM_MONEY
        figures.append(Figure(d.name, d.unit, value, currency if money else None))
    return tuple(figures)


def channel_figures(engine: Engine, *, first: date, last: date, currency: str) -> ChannelReport:
    """Every channel's figures for the days `first` to `last` (UTC, both included), in
    each channel's currency and in `currency`; ValidationFailed names `from`, `to` or
    `currency` when the range or the currency cannot be reported."""
    period = Period.of(first, last)
    reporting = validate_currency(currency, field="currency")
    channels = {row[0]: _Channel(*row) for row in engine.query(sql.CHANNELS)}
    params: dict[str, Param] = {
        "start": period.start,
        "end": period.end,
        "first": period.first,
        "last": period.last,
        "first_month": period.first.replace(day=1),
    }
    parts, counts = _read(engine, period, params)
    # Every currency an amount is in or goes to: costs may be in neither the channel's
    # currency nor the report's.
    currencies = {reporting, *(c.currency for c in channels.values())}
    rates = load_rates(
        engine,
        currencies=currencies | {p.currency for p in parts},
        first=period.first,
        last=period.last,
    )
    check_reporting_currency(reporting, rates)
    own, report = _converted(parts, channels, rates, reporting)
    result = []
    for channel_id, channel in channels.items():
        tally = counts.get(channel_id, {})
        result.append(
            ChannelFigures(
                channel_id=channel_id,
                code=channel.code,
                kind=channel.kind,
                currency=channel.currency,
                figures=_figures(_values(own[channel_id], tally, channel.currency),
                                 channel.currency, total=False),
                reporting=_figures(_values(report[channel_id], tally, reporting),
                                   reporting, total=False),
            )
        )  # fmt: skip
    total_money = {
        name: sum((report[c][name] for c in channels), Decimal(0)) for name in SUMMED_MONEY
    }
    total_counts: dict[str, int] = defaultdict(int)
    for channel_id in channels:
        for name, value in counts.get(channel_id, {}).items():
            total_counts[name] += value
    # A customer who bought on two channels is one customer of the business.
    everyone = counts.get(0, {})
    total_counts["customers"] = everyone.get("customers", 0)
    total_counts["new_customers"] = everyone.get("new_customers", 0)
    return ChannelReport(
        first=period.first,
        last=period.last,
        currency=reporting,
        channels=tuple(result),
        total=_figures(_values(total_money, total_counts, reporting), reporting, total=True),
    )
