"""The per-channel figures' SQL, written once in DuckDB's dialect for both engines.

Parameters: `$start` and `$end` (TIMESTAMP, the range is `start <= t < end`), `$first` and
`$last` (DATE, both included), `$first_month` (DATE, the first day of `first`'s month).

What keeps one text right on ClickHouse too (see `engine.CLICKHOUSE_SETTINGS` for the
rest): no division (ratios are computed in Python from exact sums); no bare decimal
literals (a Float64 there); every union's columns cast to one type; no join condition but
equalities (a validity period is matched in WHERE); LAG's value on a partition's first row
is never relied on (NULL here, the type's default there).
"""

from __future__ import annotations

# Orders of the range that count as sales, with their UTC order day.
_SALES = """
sales AS (
    SELECT order_id, channel_id, CAST(ordered_at AS DATE) AS order_day, currency,
           customer_key, units, gross, discount, shipping, total
    FROM wh_orders
    WHERE ordered_at >= $start AND ordered_at < $end AND cancelled_at IS NULL
)"""

# Each unit cost row holds from its valid_from until the SKU's next row.
_COST_PERIODS = """
cost_periods AS (
    SELECT c.sku, c.valid_from, c.cost, c.currency,
           MIN(CASE WHEN n.valid_from > c.valid_from THEN n.valid_from END) AS valid_until,
           MIN(n.valid_from) AS first_from
    FROM wh_unit_costs AS c
    JOIN wh_unit_costs AS n ON n.sku = c.sku
    GROUP BY c.sku, c.valid_from, c.cost, c.currency
)"""

_FEE_PERIODS = """
fee_periods AS (
    SELECT f.channel_id, f.valid_from, f.commission_pct, f.payment_pct, f.payment_fixed,
           f.currency,
           MIN(CASE WHEN n.valid_from > f.valid_from THEN n.valid_from END) AS valid_until
    FROM wh_fees AS f
    JOIN wh_fees AS n ON n.channel_id = f.channel_id
    GROUP BY f.channel_id, f.valid_from, f.commission_pct, f.payment_pct, f.payment_fixed,
             f.currency
)"""

_IN_COST_PERIOD = (
    "s.order_day >= p.valid_from AND (p.valid_until IS NULL OR s.order_day < p.valid_until)"
)

# Orders by channel, day and currency: counts and exact sums (refunds are in their order's
# currency; NULL where none of the day's orders was refunded). Fees are computed from these
# sums with `FEE_PERIODS`: commission % × net sales + payment % × total + the fixed fee,
# summed over a day's orders, is the same rates × the day's sums, since a channel's fees
# hold for whole days.
SALES_DAYS = f"""
WITH {_SALES},
refunded AS (
    SELECT order_id, SUM(amount) AS amount FROM wh_refunds GROUP BY order_id
)
SELECT s.channel_id, s.order_day AS day, s.currency,
       CAST(COUNT(*) AS BIGINT) AS orders,
       CAST(SUM(s.units) AS BIGINT) AS units,
       CAST(SUM(s.gross) AS DECIMAL(38, 4)) AS gross,
       CAST(SUM(s.discount) AS DECIMAL(38, 4)) AS discount,
       CAST(SUM(s.shipping) AS DECIMAL(38, 4)) AS shipping,
       CAST(SUM(s.total) AS DECIMAL(38, 4)) AS total,
       CAST(SUM(r.amount) AS DECIMAL(38, 4)) AS refunds
FROM sales AS s
LEFT JOIN refunded AS r ON r.order_id = s.order_id
GROUP BY s.channel_id, s.order_day, s.currency
"""  # noqa: S608 -- built of this module's constants only

# Each channel's fees and the days they hold: from valid_from until the channel's next row.
FEE_PERIODS = f"""
WITH {_FEE_PERIODS}
SELECT channel_id, valid_from, valid_until, commission_pct, payment_pct, payment_fixed, currency
FROM fee_periods
"""  # noqa: S608 -- built of this module's constants only

# Units sold and returned with their unit cost, by channel, day and the cost's currency, in
# one pass: every line (and returned line, negative) meets every cost row of its SKU, and
# counts where the row holds on the order day (`costed`, `cogs`); `units` counts each line
# once (at its SKU's first cost row, or where the SKU has none). `cogs` is NULL where no
# cost row holds (lines of SKUs without one have a NULL currency).
UNIT_DAYS = f"""
WITH {_SALES}, {_COST_PERIODS},
moved AS (
    SELECT order_id, sku, quantity, 1 AS sold FROM wh_order_lines
    UNION ALL
    SELECT order_id, sku, -1 * quantity, 0 FROM wh_returns
),
costed AS (
    SELECT s.channel_id AS channel_id, s.order_day AS order_day, m.quantity AS quantity,
           m.sold AS sold, p.currency AS currency, p.cost AS cost,
           CASE WHEN p.sku IS NULL OR p.valid_from = p.first_from THEN 1 ELSE 0 END AS once,
           CASE WHEN p.sku IS NOT NULL AND {_IN_COST_PERIOD} THEN 1 ELSE 0 END AS holds
    FROM sales AS s
    JOIN moved AS m ON m.order_id = s.order_id
    LEFT JOIN cost_periods AS p ON p.sku = m.sku
)
SELECT channel_id, order_day AS day, currency,
       CAST(SUM(CASE WHEN holds = 1 THEN quantity * CAST(cost AS DECIMAL(38, 4)) END)
            AS DECIMAL(38, 4)) AS cogs,
       CAST(SUM(CASE WHEN sold = 1 AND once = 1 THEN quantity ELSE 0 END) AS BIGINT)
           AS line_units,
       CAST(SUM(CASE WHEN sold = 1 AND holds = 1 THEN quantity ELSE 0 END) AS BIGINT)
           AS costed_units,
       CAST(SUM(CASE WHEN sold = 0 AND once = 1 THEN -1 * quantity ELSE 0 END) AS BIGINT)
           AS returned_units
FROM costed
GROUP BY channel_id, order_day, currency
"""  # noqa: S608 -- built of this module's constants only

# Ad spend by channel, day and currency.
AD_SPEND = """
SELECT channel_id, day, currency, CAST(SUM(spend) AS DECIMAL(38, 4)) AS amount
FROM wh_spend
WHERE day >= $first AND day <= $last
GROUP BY channel_id, day, currency
"""

# Fixed costs of the months the range touches (Python prorates them by days).
FIXED_COSTS = """
SELECT channel_id, month, currency, CAST(SUM(amount) AS DECIMAL(38, 8)) AS amount
FROM wh_fixed_costs
WHERE month >= $first_month AND month <= $last
GROUP BY channel_id, month, currency
"""

# Known buyers by channel; new ones have no order (not cancelled) on any channel before
# the range. The row of channel 0 counts each buyer once across channels.
CUSTOMERS = f"""
WITH {_SALES},
earlier AS (
    SELECT DISTINCT customer_key
    FROM wh_orders
    WHERE cancelled_at IS NULL AND customer_key IS NOT NULL AND ordered_at < $start
),
buyers AS (
    SELECT DISTINCT channel_id, customer_key FROM sales WHERE customer_key IS NOT NULL
),
everyone AS (
    SELECT DISTINCT customer_key FROM buyers
)
SELECT b.channel_id, CAST(COUNT(*) AS BIGINT) AS customers,
       CAST(SUM(CASE WHEN e.customer_key IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS new_customers
FROM buyers AS b LEFT JOIN earlier AS e ON e.customer_key = b.customer_key
GROUP BY b.channel_id
UNION ALL
SELECT CAST(0 AS BIGINT), CAST(COUNT(*) AS BIGINT),
       CAST(COALESCE(SUM(CASE WHEN e.customer_key IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)
FROM everyone AS b LEFT JOIN earlier AS e ON e.customer_key = b.customer_key
"""  # noqa: S608 -- built of this module's constants only

# Sessions by channel (`sessions.py` keeps them in the model): those that started in the
# range, with whether they ordered and whether they had a cart.
SESSIONS = """
SELECT channel_id,
       CAST(COUNT(*) AS BIGINT) AS sessions,
       CAST(SUM(CASE WHEN order_events > 0 THEN 1 ELSE 0 END) AS BIGINT) AS ordering_sessions,
       CAST(SUM(CASE WHEN cart_events > 0 THEN 1 ELSE 0 END) AS BIGINT) AS cart_sessions,
       CAST(SUM(CASE WHEN cart_events > 0 AND order_events = 0 THEN 1 ELSE 0 END) AS BIGINT)
           AS abandoned_carts
FROM wh_sessions
WHERE started_at >= $start AND started_at < $end
GROUP BY channel_id
"""

CHANNELS = "SELECT channel_id, code, kind, currency FROM wh_channels ORDER BY channel_id"
