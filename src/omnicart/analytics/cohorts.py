"""Retention cohorts: known buyers by the month and channel of their first order.

A cohort is the customers (`customer_key`) whose first order on any channel — by time,
then order id; cancelled orders count nowhere — falls in the cohort's month and was placed
on the cohort's channel. For each month since (month 0 is the cohort's own month, calendar
months in UTC) the table gives the customers who ordered (`active_customers`), those who
ordered again, i.e. placed an order other than their first (`repeat_customers`; in month 0
a second order in the same month), their share of the cohort (`repeat_rate`), and the
order_net_sales of the month's orders (per currency, or in a reporting currency by the
conversion rule of `analytics.currency`).

Cohorts are those whose first order is in the period; their months run to the period's
end. Each customer has exactly one first channel, so the rows for all channels together
(channel None) are sums of the per-channel rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from omnicart.analytics.engine import Engine
from omnicart.analytics.journeys import Amount, day_sums, ratio, reporting_currency
from omnicart.analytics.period import Period

# `{day}` is each order's day when money is converted (each day at its rate), else one day
# for all (`$first`): amounts in their own currency only need their sum.
COHORT_SQL = """
WITH refunded AS (
    SELECT order_id, SUM(amount) AS amount FROM wh_refunds GROUP BY order_id
),
orders AS (
    SELECT
        o.customer_key AS customer,
        o.ordered_at,
        o.currency,
        CAST(o.gross - o.discount - COALESCE(r.amount, 0) AS DECIMAL(38, 4)) AS sales,
        ROW_NUMBER() OVER (
            PARTITION BY o.customer_key ORDER BY o.ordered_at, o.order_id
        ) AS n,
        FIRST_VALUE(o.channel_id) OVER (
            PARTITION BY o.customer_key ORDER BY o.ordered_at, o.order_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS first_channel,
        FIRST_VALUE(o.ordered_at) OVER (
            PARTITION BY o.customer_key ORDER BY o.ordered_at, o.order_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS first_at
    FROM wh_orders o
    LEFT JOIN refunded r ON r.order_id = o.order_id
    WHERE o.cancelled_at IS NULL AND o.customer_key IS NOT NULL AND o.ordered_at < $end
),
activity AS (
    SELECT
        customer, first_channel, n, currency, sales,
        {day} AS day,
        EXTRACT(YEAR FROM first_at) * 12 + EXTRACT(MONTH FROM first_at) - 1 AS cohort,
        (EXTRACT(YEAR FROM ordered_at) - EXTRACT(YEAR FROM first_at)) * 12
            + EXTRACT(MONTH FROM ordered_at) - EXTRACT(MONTH FROM first_at) AS month
    FROM orders
    WHERE first_at >= $start
),
-- Customers of each month first (COUNT(DISTINCT) costs more than a second grouping).
per_customer AS (
    SELECT cohort, first_channel, month, customer, MAX(CASE WHEN n > 1 THEN 1 ELSE 0 END) AS again
    FROM activity
    GROUP BY cohort, first_channel, month, customer
)
SELECT
    CAST(0 AS BIGINT) AS kind, cohort, first_channel, month, CAST(NULL AS DATE) AS day,
    CAST(NULL AS VARCHAR) AS currency,
    CAST(COUNT(*) AS BIGINT) AS customers,
    CAST(SUM(again) AS BIGINT) AS repeaters,
    CAST(NULL AS DECIMAL(38, 4)) AS sales
FROM per_customer
GROUP BY cohort, first_channel, month
UNION ALL
SELECT
    CAST(1 AS BIGINT), cohort, first_channel, month, day, currency, CAST(0 AS BIGINT),
    CAST(0 AS BIGINT),
    CAST(SUM(sales) AS DECIMAL(38, 4))
FROM activity
GROUP BY cohort, first_channel, month, day, currency
"""
CHANNELS_SQL = "SELECT channel_id, code FROM wh_channels"


@dataclass(frozen=True, slots=True)
class CohortMonth:
    """A cohort's month since its first: who ordered, who ordered again, and the sales."""

    month: int
    active_customers: int
    repeat_customers: int
    repeat_rate: Decimal | None
    order_net_sales: tuple[Amount, ...]


@dataclass(frozen=True, slots=True)
class Cohort:
    """Customers whose first order was in `month` on `channel` (None: any channel)."""

    month: date
    channel: str | None
    cohort_customers: int
    months: tuple[CohortMonth, ...]


@dataclass(frozen=True, slots=True)
class CohortTable:
    """The period's cohorts, by first month then channel (all channels first)."""

    period: Period
    currency: str | None
    cohorts: tuple[Cohort, ...]


def _month_start(number: int) -> date:
    year, month = divmod(number, 12)
    return date(year, month + 1, 1)


def cohort_table(engine: Engine, *, period: Period, currency: str | None = None) -> CohortTable:
    """Cohorts whose first order is in `period`, each month to the period's end."""
    target = reporting_currency(currency)
    day = "CAST(ordered_at AS DATE)" if target else "$first"
    rows = engine.query(
        COHORT_SQL.format(day=day),
        {"start": period.start, "end": period.end, "first": period.first},
    )
    codes: dict[int, str] = dict(engine.query(CHANNELS_SQL))
    counts: dict[tuple[int, str | None], dict[int, list[int]]] = defaultdict(dict)
    sums: list[tuple[tuple[int, str | None, int], date, str, Decimal | None]] = []
    for kind, number, channel_id, since, day, code, customers, repeaters, sales in rows:
        cohort, month = int(number), int(since)
        if kind == 0:
            for channel in (codes[channel_id], None):
                cell = counts[cohort, channel].setdefault(month, [0, 0])
                cell[0] += customers
                cell[1] += repeaters
        else:
            sums.append(((cohort, codes[channel_id], month), day, code, sales))
            sums.append(((cohort, None, month), day, code, sales))
    money = day_sums(engine, sums, currency=target)
    last = period.last.year * 12 + period.last.month - 1
    cohorts = []
    for (cohort, channel), months in sorted(counts.items(), key=_order):
        size = months[0][0]
        cells = []
        for month in range(last - cohort + 1):
            active, repeat = months.get(month, (0, 0))
            by_currency = money.get((cohort, channel, month), {})
            cells.append(
                CohortMonth(
                    month=month,
                    active_customers=active,
                    repeat_customers=repeat,
                    repeat_rate=ratio(repeat, size),
                    order_net_sales=tuple(Amount(c, by_currency[c]) for c in sorted(by_currency)),
                )
            )
        cohorts.append(Cohort(_month_start(cohort), channel, size, tuple(cells)))
    return CohortTable(period, target, tuple(cohorts))


def _order(item: tuple[tuple[int, str | None], object]) -> tuple[int, str]:
    (cohort, channel), _ = item
    return cohort, "" if channel is None else f" {channel}"
