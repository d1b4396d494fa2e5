"""What every channel earns in a date range: the figures of `definitions.py`, per channel.

One read of the analytic model (`channels_read.py`: the same SQL on DuckDB and ClickHouse)
gives exact sums per channel, day, currency and figure; Python converts each sum
(`currency.convert_by` with the day's `Rates.factors`: the one conversion rule, one rounding
per sum), prorates fixed costs and computes the derived figures and ratios from exact
Decimals. Each channel's figures are given in its own currency and in the reporting
currency; the total, across channels, in the reporting one.

The same read answers a range cut into slices (`channel_series`): each slice's figures are
built from its days by the code that builds the range's, so they are exactly what
`channel_figures` answers for the slice alone.
"""

from __future__ import annotations

from bisect import bisect_right
from calendar import monthrange
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from omnicart.analytics import channels_sql as sql
from omnicart.analytics.channels_read import DayRead, MoneyDays, MonthCost, money_days, read_days
from omnicart.analytics.currency import Rates, check_reporting_currency, convert_by, load_rates
from omnicart.analytics.definitions import DEFINITIONS, Unit
from omnicart.analytics.engine import Engine
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


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """A range's figures (`report`) and those of each slice of it, in order."""

    report: ChannelReport
    slices: tuple[ChannelReport, ...]


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


def _fixed_costs(months: Iterable[MonthCost], period: Period) -> MoneyDays:
    """The fixed costs of the months `period` touches, prorated to it."""
    money = money_days()
    for cost in months:
        if period.first.replace(day=1) <= cost.month <= period.last:
            day, share = prorate(cost.amount, month=cost.month, period=period)
            money[cost.channel_id, day, cost.currency]["fixed_costs"] += share
    return money


@dataclass(slots=True)
class _Block:
    """A range or a slice: its days, and its money and counts as they are added up."""

    period: Period
    own: dict[int, dict[str, Decimal]]
    report: dict[int, dict[str, Decimal]]
    counts: dict[int, dict[str, int]]

    @classmethod
    def empty(cls, period: Period, channels: Iterable[int]) -> _Block:
        ids = list(channels)
        return cls(
            period,
            own={c: dict.fromkeys(SUMMED_MONEY, Decimal(0)) for c in ids},
            report={c: dict.fromkeys(SUMMED_MONEY, Decimal(0)) for c in ids},
            counts=defaultdict(lambda: defaultdict(int)),
        )

    def add_counts(self, channel_id: int, counts: Mapping[str, int]) -> None:
        tally = self.counts[channel_id]
        for name, value in counts.items():
            tally[name] += value


def _cuts(period: Period, slices: Sequence[tuple[date, date]]) -> list[Period]:
    """The slices as periods: each inside `period`, in order, none overlapping another
    (ValueError otherwise: slices are made by code, not typed)."""
    cuts = []
    after = period.first
    for first, last in slices:
        if not after <= first <= last <= period.last:
            raise ValueError(
                f"slice {first} to {last} is not a range inside {period.first} to "
                f"{period.last} after the slice before it"
            )
        cuts.append(Period(first, last))
        after = last + timedelta(days=1)
    return cuts


def _holding(blocks: Sequence[_Block]) -> Callable[[date], list[_Block]]:
    """The blocks a day of the first block is in: that one, and the one of the others (in
    order, disjoint, inside it) whose days hold it, if any."""
    whole, cuts = blocks[0], blocks[1:]
    firsts = [cut.period.first for cut in cuts]

    def holding(day: date) -> list[_Block]:
        k = bisect_right(firsts, day)  # the cut starting on or before `day`, counted from 1
        if k and day <= cuts[k - 1].period.last:
            return [whole, cuts[k - 1]]
        return [whole]

    return holding


def _add_money(
    money: MoneyDays,
    blocks: Sequence[_Block],
    channels: Mapping[int, _Channel],
    rates: Rates,
    reporting: str,
) -> None:
    """Each channel's sums by day, currency and figure, each converted to its own currency
    and to `reporting` (the rule of `currency.py`: one rounding per sum), added to the
    blocks holding its day (`_holding`)."""
    holding = _holding(blocks)
    for (channel_id, day, currency), sums in money.items():
        channel = channels.get(channel_id)
        if channel is None:
            continue
        # A day's rates, looked up once for all its sums.
        own = rates.factors(source=currency, target=channel.currency, day=day)
        other = channel.currency != reporting
        report = rates.factors(source=currency, target=reporting, day=day) if other else own
        into = [(block.own[channel_id], block.report[channel_id]) for block in holding(day)]
        for figure, amount in sums.items():
            if not amount:
                continue  # 0 in any currency
            mine = convert_by(amount, own, channel.currency)
            theirs = convert_by(amount, report, reporting) if other else mine
            for own_sums, report_sums in into:
                own_sums[figure] += mine
                report_sums[figure] += theirs


def _blocks(
    read: DayRead,
    channels: Mapping[int, _Channel],
    periods: Sequence[Period],
    rates: Rates,
    reporting: str,
) -> list[_Block]:
    """The range (first of `periods`) and each cut, with the money and counts of their
    days, money converted."""
    blocks = [_Block.empty(p, channels) for p in periods]
    _add_money(read.money, blocks, channels, rates, reporting)
    holding = _holding(blocks)
    for (channel_id, on), counts in read.counts.items():
        for block in holding(on):
            block.add_counts(channel_id, counts)
    # Fixed costs are prorated to each block: a slice's share is not a part of the range's.
    for block in blocks:
        fixed = _fixed_costs(read.fixed_costs, block.period)
        _add_money(fixed, [block], channels, rates, reporting)
    return blocks


def _report(
    block: _Block,
    channels: Mapping[int, _Channel],
    buyers: Mapping[int, tuple[int, int]],
    reporting: str,
) -> ChannelReport:
    """A block's figures: each channel's, in its currency and in `reporting`, and the total."""
    result = []
    for channel_id, channel in channels.items():
        tally = dict(block.counts.get(channel_id, {}))
        tally["customers"], tally["new_customers"] = buyers.get(channel_id, (0, 0))
        result.append(
            ChannelFigures(
                channel_id=channel_id,
                code=channel.code,
                kind=channel.kind,
                currency=channel.currency,
                figures=_figures(_values(block.own[channel_id], tally, channel.currency),
                                 channel.currency, total=False),
                reporting=_figures(_values(block.report[channel_id], tally, reporting),
                                   reporting, total=False),
            )
        )  # fmt: skip
    total_money = {
        name: sum((block.report[c][name] for c in channels), Decimal(0)) for name in SUMMED_MONEY
    }
    total_counts: dict[str, int] = defaultdict(int)
    for channel_id in channels:
        for name, value in block.counts.get(channel_id, {}).items():
            total_counts[name] += value
    # A customer who bought on two channels is one customer of the business.
    total_counts["customers"], total_counts["new_customers"] = buyers.get(0, (0, 0))
    return ChannelReport(
        first=block.period.first,
        last=block.period.last,
        currency=reporting,
        channels=tuple(result),
        total=_figures(_values(total_money, total_counts, reporting), reporting, total=True),
    )


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


def percent(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """numerator / denominator × 100 as a percent figure: 2 decimals, half-even; None
    over zero."""
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
        "return_rate": percent(c.get("returned_units", 0), c.get("units", 0)),
        "uncosted_units": uncosted,
        "total_cost": total_cost,
        "net_profit": net_profit,
        "roi": percent(net_profit, total_cost),
        "roas": _ratio(net_sales, m["ad_spend"], RATIO),
        "aov": _money_ratio(net_sales, c.get("orders", 0), currency),
        "returning_customers": returning,
        "cpa": _money_ratio(m["ad_spend"], c.get("new_customers", 0), currency),
        "conversion_rate": percent(c.get("ordering_sessions", 0), c.get("sessions", 0)),
        "cart_abandonment_rate": percent(c.get("abandoned_carts", 0), c.get("cart_sessions", 0)),
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


# --------------------------------------------------------------------------- answers


def channel_figures(engine: Engine, *, first: date, last: date, currency: str) -> ChannelReport:
    """Every channel's figures for the days `first` to `last` (UTC, both included), in
    each channel's currency and in `currency`; ValidationFailed names `from`, `to` or
    `currency` when the range or the currency cannot be reported."""
    return channel_series(engine, first=first, last=last, slices=(), currency=currency).report


def channel_series(
    engine: Engine,
    *,
    first: date,
    last: date,
    slices: Sequence[tuple[date, date]],
    currency: str,
) -> ChannelSeries:
    """Every channel's figures for the days `first` to `last`, and for each of `slices`
    (first and last days, in order, disjoint, inside the range), from one read of the
    model: each slice's figures are those `channel_figures` answers for it alone.

    ValidationFailed as `channel_figures`; `currency` is refused when it has no rate on or
    before the first slice's last day (as `channel_figures` refuses that slice).
    """
    period = Period.of(first, last)
    reporting = validate_currency(currency, field="currency")
    cuts = _cuts(period, slices)
    channels = {row[0]: _Channel(*row) for row in engine.query(sql.CHANNELS)}
    read = read_days(engine, period, cuts)
    # Every currency an amount is in or goes to: costs may be in neither the channel's
    # currency nor the report's.
    currencies = {reporting, *(c.currency for c in channels.values())}
    currencies |= {key[2] for key in read.money} | {c.currency for c in read.fixed_costs}
    rates = load_rates(engine, currencies=currencies, first=period.first, last=period.last)
    check_reporting_currency(reporting, _until(rates, cuts[0].last if cuts else period.last))
    blocks = _blocks(read, channels, [period, *cuts], rates, reporting)
    reports = [
        _report(block, channels, read.buyers.get(k, {}), reporting)
        for k, block in enumerate(blocks)
    ]
    return ChannelSeries(reports[0], tuple(reports[1:]))


def _until(rates: Rates, last: date) -> Rates:
    """The rates of days up to `last`: what a report ending that day loads."""
    return Rates(
        {code: [d for d in days if d <= last] for code, days in rates.days.items()},
        rates.per_eur,
    )
