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
           MIN(CASE WHEN n.valid_from > c.valid_from THEN n.valid_from END) AS valid_until
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

# Refunds are in their order's currency.
_REFUNDED = """
refunded AS (
    SELECT r.order_id, SUM(r.amount) AS amount
    FROM wh_refunds AS r
    JOIN sales AS s ON s.order_id = r.order_id
    GROUP BY r.order_id
)"""

_IN_COST_PERIOD = (
    "s.order_day >= p.valid_from AND (p.valid_until IS NULL OR s.order_day < p.valid_until)"
)
_IN_FEE_PERIOD = (
    "s.order_day >= f.valid_from AND (f.valid_until IS NULL OR s.order_day < f.valid_until)"
)

# Money by channel, day, currency and figure. `fee_percent_base` is the fees' percentage
# part × 100 (commission % × net sales + payment % × total): Python divides it by 100.
MONEY = f"""
WITH {_SALES}, {_REFUNDED}, {_COST_PERIODS}, {_FEE_PERIODS}
SELECT channel_id, order_day AS day, currency, 'gross_sales' AS figure,
       CAST(SUM(gross) AS DECIMAL(38, 8)) AS amount
FROM sales GROUP BY channel_id, order_day, currency
UNION ALL
SELECT channel_id, order_day, currency, 'discounts', CAST(SUM(discount) AS DECIMAL(38, 8))
FROM sales GROUP BY channel_id, order_day, currency
UNION ALL
SELECT channel_id, order_day, currency, 'shipping', CAST(SUM(shipping) AS DECIMAL(38, 8))
FROM sales GROUP BY channel_id, order_day, currency
UNION ALL
SELECT s.channel_id, s.order_day, s.currency, 'refunds', CAST(SUM(r.amount) AS DECIMAL(38, 8))
FROM sales AS s JOIN refunded AS r ON r.order_id = s.order_id
GROUP BY s.channel_id, s.order_day, s.currency
UNION ALL
SELECT s.channel_id, s.order_day, p.currency, 'cogs',
       CAST(SUM(l.quantity * CAST(p.cost AS DECIMAL(38, 4))) AS DECIMAL(38, 8))
FROM sales AS s
JOIN wh_order_lines AS l ON l.order_id = s.order_id
JOIN cost_periods AS p ON p.sku = l.sku
WHERE {_IN_COST_PERIOD}
GROUP BY s.channel_id, s.order_day, p.currency
UNION ALL
SELECT s.channel_id, s.order_day, p.currency, 'cogs',
       CAST(SUM(-1 * t.quantity * CAST(p.cost AS DECIMAL(38, 4))) AS DECIMAL(38, 8))
FROM sales AS s
JOIN wh_returns AS t ON t.order_id = s.order_id
JOIN cost_periods AS p ON p.sku = t.sku
WHERE {_IN_COST_PERIOD}
GROUP BY s.channel_id, s.order_day, p.currency
UNION ALL
SELECT s.channel_id, s.order_day, s.currency, 'fee_percent_base',
       CAST(SUM(
           CAST(f.commission_pct AS DECIMAL(38, 4)) * (
               CAST(s.gross AS DECIMAL(38, 4)) - CAST(s.discount AS DECIMAL(38, 4))
               - COALESCE(CAST(r.amount AS DECIMAL(38, 4)), CAST(0 AS DECIMAL(38, 4)))
           )
           + CAST(f.payment_pct AS DECIMAL(38, 4)) * CAST(s.total AS DECIMAL(38, 4))
       ) AS DECIMAL(38, 8))
FROM sales AS s
JOIN fee_periods AS f ON f.channel_id = s.channel_id
LEFT JOIN refunded AS r ON r.order_id = s.order_id
WHERE {_IN_FEE_PERIOD}
GROUP BY s.channel_id, s.order_day, s.currency
UNION ALL
SELECT s.channel_id, s.order_day, f.currency, 'fees',
       CAST(SUM(f.payment_fixed) AS DECIMAL(38, 8))
FROM sales AS s
JOIN fee_periods AS f ON f.channel_id = s.channel_id
WHERE {_IN_FEE_PERIOD}
GROUP BY s.channel_id, s.order_day, f.currency
UNION ALL
SELECT channel_id, day, currency, 'ad_spend', CAST(SUM(spend) AS DECIMAL(38, 8))
FROM wh_spend
WHERE day >= $first AND day <= $last
GROUP BY channel_id, day, currency
"""  # noqa: S608 -- built of this module's constants only

# Fixed costs of the months the range touches (Python prorates them by days).
FIXED_COSTS = """
SELECT channel_id, month, currency, CAST(SUM(amount) AS DECIMAL(38, 8)) AS amount
FROM wh_fixed_costs
WHERE month >= $first_month AND month <= $last
GROUP BY channel_id, month, currency
"""

# Counts by channel and figure.
COUNTS = f"""
WITH {_SALES}, {_COST_PERIODS}
SELECT channel_id, 'orders' AS figure, CAST(COUNT(*) AS BIGINT) AS value
FROM sales GROUP BY channel_id
UNION ALL
SELECT channel_id, 'units', CAST(SUM(units) AS BIGINT) FROM sales GROUP BY channel_id
UNION ALL
SELECT s.channel_id, 'returned_units', CAST(SUM(t.quantity) AS BIGINT)
FROM sales AS s JOIN wh_returns AS t ON t.order_id = s.order_id
GROUP BY s.channel_id
UNION ALL
SELECT s.channel_id, 'line_units', CAST(SUM(l.quantity) AS BIGINT)
FROM sales AS s JOIN wh_order_lines AS l ON l.order_id = s.order_id
GROUP BY s.channel_id
UNION ALL
SELECT s.channel_id, 'costed_units', CAST(SUM(l.quantity) AS BIGINT)
FROM sales AS s
JOIN wh_order_lines AS l ON l.order_id = s.order_id
JOIN cost_periods AS p ON p.sku = l.sku
WHERE {_IN_COST_PERIOD}
GROUP BY s.channel_id
"""  # noqa: S608 -- built of this module's constants only

# Known buyers by channel, new or returning by their first order on any channel; the row
# of channel 0 counts each buyer once across channels.
CUSTOMERS = f"""
WITH {_SALES},
firsts AS (
    SELECT customer_key, MIN(ordered_at) AS first_at
    FROM wh_orders
    WHERE cancelled_at IS NULL AND customer_key IS NOT NULL AND ordered_at < $end
    GROUP BY customer_key
),
buyers AS (
    SELECT DISTINCT channel_id, customer_key FROM sales WHERE customer_key IS NOT NULL
),
everyone AS (
    SELECT DISTINCT customer_key FROM buyers
)
SELECT b.channel_id, CAST(COUNT(*) AS BIGINT) AS customers,
       CAST(SUM(CASE WHEN f.first_at >= $start THEN 1 ELSE 0 END) AS BIGINT) AS new_customers
FROM buyers AS b JOIN firsts AS f ON f.customer_key = b.customer_key
GROUP BY b.channel_id
UNION ALL
SELECT CAST(0 AS BIGINT), CAST(COUNT(*) AS BIGINT),
       CAST(COALESCE(SUM(CASE WHEN f.first_at >= $start THEN 1 ELSE 0 END), 0) AS BIGINT)
FROM everyone AS b JOIN firsts AS f ON f.customer_key = b.customer_key
"""  # noqa: S608 -- built of this module's constants only

# Sessions by channel: a visitor's run of events with no gap over 30 minutes. A gap is
# tested against the previous event; the first event of a visitor starts a session.
SESSIONS = """
WITH visits AS (
    SELECT channel_id, COALESCE(customer_key, 'a' || anonymous_id) AS visitor, occurred_at,
           CASE WHEN type = 'track' AND event = 'Order Completed' THEN 1 ELSE 0 END AS orders,
           CASE WHEN type = 'track' AND event IN ('Product Added', 'Checkout Started')
                THEN 1 ELSE 0 END AS carts
    FROM wh_events
    WHERE occurred_at >= $start AND occurred_at < $end
      AND (customer_key IS NOT NULL OR anonymous_id IS NOT NULL)
),
marked AS (
    SELECT channel_id, visitor, occurred_at, orders, carts,
           CASE WHEN LAG(occurred_at) OVER (
                         PARTITION BY channel_id, visitor ORDER BY occurred_at) IS NULL
                  OR occurred_at > LAG(occurred_at) OVER (
                         PARTITION BY channel_id, visitor ORDER BY occurred_at)
                     + INTERVAL 30 MINUTE
                THEN 1 ELSE 0 END AS opens
    FROM visits
),
numbered AS (
    SELECT channel_id, visitor, orders, carts,
           SUM(opens) OVER (
               PARTITION BY channel_id, visitor ORDER BY occurred_at
               RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no
    FROM marked
),
sessions AS (
    SELECT channel_id, visitor, session_no, MAX(orders) AS ordered, MAX(carts) AS carted
    FROM numbered
    GROUP BY channel_id, visitor, session_no
)
SELECT channel_id,
       CAST(COUNT(*) AS BIGINT) AS sessions,
       CAST(SUM(ordered) AS BIGINT) AS ordering_sessions,
       CAST(SUM(carted) AS BIGINT) AS cart_sessions,
       CAST(SUM(CASE WHEN carted = 1 AND ordered = 0 THEN 1 ELSE 0 END) AS BIGINT)
           AS abandoned_carts
FROM sessions
GROUP BY channel_id
"""

CHANNELS = "SELECT channel_id, code, kind, currency FROM wh_channels ORDER BY channel_id"
