"""A channel's top products in a date range: units, units returned, net sales and share
per SKU (`product_*` of `definitions.py`).

One statement (the same on DuckDB and ClickHouse) gives each sale's units and value per
SKU with the order's discount and the SKU's units returned; Python shares the discount out
by value (a division, which the SQL never does), sums each SKU's net sales exactly by day
and currency, and converts each day's sum by the one rule (`currency.Rates.convert`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from omnicart.analytics.channels import percent
from omnicart.analytics.channels_sql import SALES_CTE
from omnicart.analytics.currency import check_reporting_currency, load_rates
from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import Money, validate_currency

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

# The channel's sales of the range (`channels_sql`'s: not cancelled), a row per order and
# SKU: its units and their value at the lines' prices, the order's discount and value, and
# the SKU's units returned from that order (whenever received; a SKU the order does not
# hold cannot be valued and is left out).
PRODUCT_SALES = f"""
WITH {SALES_CTE},
lines AS (
    SELECT l.order_id, l.sku,
           CAST(SUM(l.quantity) AS BIGINT) AS units,
           CAST(SUM(l.quantity * CAST(l.unit_price AS DECIMAL(38, 4))) AS DECIMAL(38, 4))
               AS line_value
    FROM wh_order_lines AS l
    JOIN sales AS s ON s.order_id = l.order_id
    WHERE s.channel_id = $channel
    GROUP BY l.order_id, l.sku
),
order_values AS (
    SELECT order_id, CAST(SUM(line_value) AS DECIMAL(38, 4)) AS order_value
    FROM lines
    GROUP BY order_id
),
returned AS (
    SELECT r.order_id, r.sku, CAST(SUM(r.quantity) AS BIGINT) AS returned_units
    FROM wh_returns AS r
    JOIN sales AS s ON s.order_id = r.order_id
    WHERE s.channel_id = $channel
    GROUP BY r.order_id, r.sku
)
SELECT l.sku, s.order_day, s.currency, l.units,
       CAST(COALESCE(r.returned_units, 0) AS BIGINT) AS returned_units,
       l.line_value, v.order_value, CAST(s.discount AS DECIMAL(38, 4)) AS discount
FROM sales AS s
JOIN lines AS l ON l.order_id = s.order_id
JOIN order_values AS v ON v.order_id = s.order_id
LEFT JOIN returned AS r ON r.order_id = l.order_id AND r.sku = l.sku
"""  # noqa: S608 -- built of constants only


@dataclass(frozen=True, slots=True)
class ProductFigures:
    """One SKU's figures on the channel (money in the report's currency)."""

    sku: str
    product_units: int
    product_returned_units: int
    product_net_sales: Decimal
    product_share: Decimal | None


@dataclass(frozen=True, slots=True)
class TopProducts:
    """A channel's best-selling SKUs by net sales, and what all its SKUs add up to."""

    channel_id: int
    period: Period
    currency: str
    products: tuple[ProductFigures, ...]  # the top `limit`, by net sales, then units, SKU
    skus: int  # SKUs sold on the channel in the range
    product_units: int  # of every SKU
    product_returned_units: int
    product_net_sales: Decimal


def check_limit(limit: int) -> int:
    """`limit` if it is a number of products a table can list (1 to MAX_LIMIT)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit is 1 to {MAX_LIMIT}", field="limit")
    return limit


def _net(units: int, returned: int, value: Decimal, order: Decimal, discount: Decimal) -> Decimal:
    """A SKU's kept units at their value, less its share of the order's discount by value:
    value × (units − returned) / units × (order value − discount) / order value."""
    if units == 0 or order == 0:
        return Decimal(0)
    with localcontext() as context:
        context.prec = 60
        return value * (units - returned) * (order - discount) / (units * order)


def top_products(
    engine: Engine, *, channel_id: int, period: Period, currency: str, limit: int = DEFAULT_LIMIT
) -> TopProducts:
    """The channel's `limit` SKUs of most net sales in `period`, in `currency`;
    ValidationFailed names `currency` or `limit`, MissingRate a day without a rate."""
    target = validate_currency(currency, field="currency")
    check_limit(limit)
    params: dict[str, Param] = {"channel": channel_id, "start": period.start, "end": period.end}
    units: dict[str, int] = defaultdict(int)
    returned: dict[str, int] = defaultdict(int)
    days: dict[tuple[str, date, str], Decimal] = defaultdict(Decimal)
    for sku, day, source, sold, back, value, order, discount in engine.query(PRODUCT_SALES, params):
        units[sku] += sold
        returned[sku] += back
        with localcontext() as context:
            context.prec = 60
            days[sku, day, source] += _net(sold, back, value, order, discount)
    # Every day's rates of the range, as `channel_figures` loads them: a currency is
    # refused alike, and a day without a rate too.
    sources = {source for _, _, source in days}
    rates = load_rates(engine, currencies={target, *sources}, first=period.first, last=period.last)
    check_reporting_currency(target, rates)
    net = dict.fromkeys(units, Decimal(0))
    for (sku, day, source), amount in days.items():
        net[sku] += rates.convert(amount, source=source, target=target, day=day)
    total = Money.rounded(sum(net.values(), Decimal(0)), target).amount
    ranked = sorted(units, key=lambda sku: (-net[sku], -units[sku], sku))
    return TopProducts(
        channel_id=channel_id,
        period=period,
        currency=target,
        products=tuple(
            ProductFigures(
                sku=sku,
                product_units=units[sku],
                product_returned_units=returned[sku],
                product_net_sales=Money.rounded(net[sku], target).amount,
                product_share=percent(net[sku], total),
            )
            for sku in ranked[:limit]
        ),
        skus=len(units),
        product_units=sum(units.values()),
        product_returned_units=sum(returned.values()),
        product_net_sales=total,
    )
