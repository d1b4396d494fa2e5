"""Omnichannel against single-channel customers: does buying in several channels pay?

The customers are the known buyers (`customer_key`) with an order in the period
(cancelled orders count nowhere). Those whose orders in the period were placed on two or
more channels are *omnichannel*, the others *single-channel*. For each group:

- `orders_per_customer`: their orders in the period / customers;
- `sales_per_customer`: their order_net_sales in the period / customers;
- `value_12m`: for the group's customers whose first order (on any channel, ever) is at
  least 12 months before the period's end — `mature_customers` — the order_net_sales of
  their orders in the 12 months from the first order ([first, first + 12 months)), / those
  customers. Customers acquired later have not had 12 months yet and are left out of it.

Money is per currency, or in a reporting currency by the conversion rule of
`analytics.currency` (each order day's sum converted at that day's rate).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from omnicart.analytics.engine import Engine
from omnicart.analytics.journeys import day_sums, per, ratio, reporting_currency
from omnicart.analytics.period import Period

GROUPS: Final = ("omnichannel", "single_channel")

# `{day}`: each order's day when money is converted, else one day for all (see cohorts).
OMNICHANNEL_SQL = """
WITH refunded AS (
    SELECT order_id, SUM(amount) AS amount FROM wh_refunds GROUP BY order_id
),
orders AS (
    SELECT
        o.customer_key AS customer,
        o.channel_id,
        o.ordered_at,
        o.currency,
        CAST(o.gross - o.discount - COALESCE(r.amount, 0) AS DECIMAL(38, 4)) AS sales,
        MIN(o.ordered_at) OVER (PARTITION BY o.customer_key) AS first_at
    FROM wh_orders o
    LEFT JOIN refunded r ON r.order_id = o.order_id
    WHERE o.cancelled_at IS NULL AND o.customer_key IS NOT NULL AND o.ordered_at < $end
),
customers AS (
    SELECT
        customer,
        CASE
            WHEN COUNT(DISTINCT CASE WHEN ordered_at >= $start THEN channel_id END) >= 2
            THEN 'omnichannel' ELSE 'single_channel'
        END AS grp,
        COUNT(CASE WHEN ordered_at >= $start THEN 1 END) AS orders,
        CAST(CASE WHEN MIN(first_at) + INTERVAL 12 MONTH <= $end THEN 1 ELSE 0 END AS BIGINT)
            AS mature
    FROM orders
    GROUP BY customer
    HAVING COUNT(CASE WHEN ordered_at >= $start THEN 1 END) > 0
)
SELECT
    grp, CAST(0 AS BIGINT) AS kind, CAST(NULL AS DATE) AS day,
    CAST(NULL AS VARCHAR) AS currency, CAST(COUNT(*) AS BIGINT) AS customers,
    CAST(SUM(orders) AS BIGINT) AS orders, CAST(SUM(mature) AS BIGINT) AS mature,
    CAST(NULL AS DECIMAL(38, 4)) AS sales
FROM customers
GROUP BY grp
UNION ALL
SELECT
    c.grp, CAST(1 AS BIGINT), {day}, o.currency, CAST(0 AS BIGINT),
    CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(SUM(o.sales) AS DECIMAL(38, 4))
FROM customers c
JOIN orders o ON o.customer = c.customer
WHERE o.ordered_at >= $start
GROUP BY c.grp, {day}, o.currency
UNION ALL
SELECT
    c.grp, CAST(2 AS BIGINT), {day}, o.currency, CAST(0 AS BIGINT),
    CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(SUM(o.sales) AS DECIMAL(38, 4))
FROM customers c
JOIN orders o ON o.customer = c.customer
WHERE c.mature = 1 AND o.ordered_at < o.first_at + INTERVAL 12 MONTH
GROUP BY c.grp, {day}, o.currency
"""


@dataclass(frozen=True, slots=True)
class GroupMoney:
    """A group's money in one currency: totals and per customer."""

    currency: str
    order_net_sales: Decimal
    sales_per_customer: Decimal | None
    sales_12m: Decimal
    value_12m: Decimal | None


@dataclass(frozen=True, slots=True)
class CustomerGroup:
    """Omnichannel or single-channel customers and what they are worth."""

    group: str
    group_customers: int
    group_orders: int
    orders_per_customer: Decimal | None
    mature_customers: int
    by_currency: tuple[GroupMoney, ...]


@dataclass(frozen=True, slots=True)
class OmnichannelReport:
    """Both groups, omnichannel first."""

    period: Period
    currency: str | None
    groups: tuple[CustomerGroup, ...]


def omnichannel_report(
    engine: Engine, *, period: Period, currency: str | None = None
) -> OmnichannelReport:
    """Omnichannel and single-channel customers of `period`, side by side."""
    target = reporting_currency(currency)
    day = "CAST(o.ordered_at AS DATE)" if target else "$first"
    rows = engine.query(
        OMNICHANNEL_SQL.format(day=day),
        {"start": period.start, "end": period.end, "first": period.first},
    )
    counts: dict[str, tuple[int, int, int]] = {}
    sums: dict[int, list[tuple[str, object, str, Decimal | None]]] = defaultdict(list)
    for group, kind, day, code, customers, orders, mature, sales in rows:
        if kind == 0:
            counts[group] = (int(customers), int(orders), int(mature))
        else:
            sums[kind].append((group, day, code, sales))
    in_period = day_sums(engine, sums[1], currency=target)  # type: ignore[arg-type]
    first_year = day_sums(engine, sums[2], currency=target)  # type: ignore[arg-type]
    groups = []
    for group in GROUPS:
        customers, orders, mature = counts.get(group, (0, 0, 0))
        sales, year = in_period.get(group, {}), first_year.get(group, {})
        money = []
        for code in sorted({*sales, *year}):
            money.append(
                GroupMoney(
                    currency=code,
                    order_net_sales=sales.get(code, Decimal(0)),
                    sales_per_customer=per(sales.get(code, Decimal(0)), customers, code),
                    sales_12m=year.get(code, Decimal(0)),
                    value_12m=per(year.get(code, Decimal(0)), mature, code),
                )
            )
        groups.append(
            CustomerGroup(
                group=group,
                group_customers=customers,
                group_orders=orders,
                orders_per_customer=ratio(orders, customers),
                mature_customers=mature,
                by_currency=tuple(money),
            )
        )
    return OmnichannelReport(period, target, tuple(groups))
