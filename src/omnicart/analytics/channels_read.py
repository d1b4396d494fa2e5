"""The one read of the analytic model behind every channel figure (`channels_sql.py`).

Money comes back as exact sums by channel, day and currency, one per figure (each day's
fees applied here, with the channel's fees of that day), counts by channel and day, fixed
costs by month: all of it adds up day by day, so one read serves a range and any slicing
of it.
Known buyers are distinct people, not a sum of days: the same read counts them for the
range and for each cut of it asked for (`channels_sql.customers_sql`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext

from omnicart.analytics import channels_sql as sql
from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.period import Period

HUNDRED = Decimal(100)
SESSION_COUNTS = ("sessions", "ordering_sessions", "cart_sessions", "abandoned_carts")


# A channel's day in one currency: (channel_id, day, currency).
DayKey = tuple[int, date, str]
# Exact sums by day and currency, and in each, by figure.
MoneyDays = dict[DayKey, dict[str, Decimal]]


def money_days() -> MoneyDays:
    """An empty MoneyDays, each figure's sum starting at 0."""
    return defaultdict(lambda: defaultdict(Decimal))


@dataclass(frozen=True, slots=True)
class MonthCost:
    """A channel's fixed costs of a month (`month`: its first day), in one currency."""

    channel_id: int
    month: date
    currency: str
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


@dataclass(slots=True)
class DayRead:
    """What one read found for a range and its cuts."""

    money: MoneyDays = field(default_factory=money_days)  # every money figure but fixed costs
    # counts by (channel, day): orders, units, line, costed and returned units, sessions
    counts: dict[tuple[int, date], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    fixed_costs: list[MonthCost] = field(default_factory=list)  # the months the range touches
    # (customers, new customers) by block (0: the range; k: the k-th cut) and channel
    # (channel 0: each buyer once across channels)
    buyers: dict[int, dict[int, tuple[int, int]]] = field(default_factory=lambda: defaultdict(dict))


def read_days(engine: Engine, period: Period, cuts: Sequence[Period] = ()) -> DayRead:
    """Every channel's money and counts by day in `period`, its fixed costs by month, and
    its known buyers in `period` and in each of `cuts` (ascending, disjoint, inside it)."""
    params: dict[str, Param] = {
        "start": period.start,
        "end": period.end,
        "first": period.first,
        "last": period.last,
        "first_month": period.first.replace(day=1),
    }
    for k, cut in enumerate(cuts, start=1):
        params[f"cut_first_{k}"] = cut.first
        params[f"cut_last_{k}"] = cut.last
    read = DayRead()
    money = read.money
    _sales(engine, params, read)
    for channel_id, day, currency, cogs, line_units, costed, returned in engine.query(
        sql.UNIT_DAYS, params
    ):
        tally = read.counts[channel_id, day]
        tally["line_units"] += line_units
        tally["costed_units"] += costed
        tally["returned_units"] += returned
        if cogs is not None:
            money[channel_id, day, currency]["cogs"] += cogs
    for channel_id, day, currency, amount in engine.query(sql.AD_SPEND, params):
        money[channel_id, day, currency]["ad_spend"] += amount
    for channel_id, month, currency, amount in engine.query(sql.FIXED_COSTS, params):
        read.fixed_costs.append(MonthCost(channel_id, month, currency, amount))
    for block, channel_id, customers, new in engine.query(sql.customers_sql(len(cuts)), params):
        read.buyers[block][channel_id] = (int(customers), int(new))
    for channel_id, day, *values in engine.query(sql.SESSIONS, params):
        tally = read.counts[channel_id, day]
        for name, value in zip(SESSION_COUNTS, values, strict=True):
            tally[name] += int(value)
    return read


def _sales(engine: Engine, params: dict[str, Param], read: DayRead) -> None:
    """Orders by channel, day and currency: their counts, sums and fees of the day."""
    fees: dict[int, list[_Fees]] = defaultdict(list)
    for channel_id, *terms in engine.query(sql.FEE_PERIODS):
        fees[channel_id].append(_Fees(*terms))
    rows = engine.query(sql.SALES_DAYS, params)
    money = read.money
    with localcontext() as context:
        context.prec = 60  # the day's fees exact (rates × sums)
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
        ) in rows:
            tally = read.counts[channel_id, day]
            tally["orders"] += orders
            tally["units"] += units
            sums = money[channel_id, day, currency]
            sums["gross_sales"] += gross
            sums["discounts"] += discount
            sums["shipping"] += shipping
            if refunds is not None:
                sums["refunds"] += refunds
            net = gross - discount - (refunds or 0)
            for fee in fees[channel_id]:
                if fee.holds(day):
                    sums["fees"] += (fee.commission_pct * net + fee.payment_pct * total) / HUNDRED
                    money[channel_id, day, fee.currency]["fees"] += fee.payment_fixed * orders
