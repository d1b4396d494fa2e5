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
SALES_CTE = """
sales AS (
    SELECT order_id, channel_id, CAST(ordered_at AS DATE) AS order_day, currency,
           customer_key, units, gross, discount, shipping, total
    FROM wh_orders
    WHERE ordered_at >= $start AND ordered_at < $end AND cancelled_at IS NULL
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

# Orders by channel, day and currency: counts and exact sums (refunds are in their order's
# currency; NULL where none of the day's orders was refunded). Fees are computed from these
# sums with `FEE_PERIODS`: commission % × net sales + payment % × total + the fixed fee,
# summed over a day's orders, is the same rates × the day's sums, since a channel's fees
# hold for whole days.
SALES_DAYS = f"""
WITH {SALES_CTE},
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

# Units sold and returned with their unit cost, by channel, day and the cost's currency:
# one scan of the model's costed lines (`line_costs.py`: each line and returned line with
# its order's channel, day and cancellation and the unit cost holding on that day, kept by
# the warehouse's refresh like `wh_sessions`) of the range's orders not cancelled. `cogs`
# is NULL where no cost row holds (such lines have a NULL currency); `costed_units` are the
# units sold that have a cost.
UNIT_DAYS = """
SELECT channel_id, order_day AS day, currency,
       CAST(SUM((units - returned) * CAST(cost AS DECIMAL(38, 4))) AS DECIMAL(38, 4)) AS cogs,
       CAST(SUM(units) AS BIGINT) AS line_units,
       CAST(SUM(CASE WHEN cost IS NOT NULL THEN units ELSE 0 END) AS BIGINT) AS costed_units,
       CAST(SUM(returned) AS BIGINT) AS returned_units
FROM wh_line_costs
WHERE order_day >= $first AND order_day <= $last AND cancelled_at IS NULL
GROUP BY channel_id, order_day, currency
"""

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


# Known buyers by block and channel: (block, channel_id, customers, new_customers). Block 0
# is the range; blocks 1 to n are the cuts `$cut_first_<k>` to `$cut_last_<k>` (DATE, both
# included; ascending, disjoint, inside the range) of a series. Channel 0 counts each buyer
# once across channels. A buyer is new to a block when they have no order (not cancelled)
# on any channel before its first day: for the range, none before it (`earlier`); for a
# cut, none before the range either, and their first order in the range is in the cut
# (`newcomers`).
_EARLIER = """
earlier AS (
    SELECT DISTINCT customer_key
    FROM wh_orders
    WHERE cancelled_at IS NULL AND customer_key IS NOT NULL AND ordered_at < $start
)"""

# The range's rows, with or without cuts: `buyers` (channel_id, customer_key) and
# `everyone` (customer_key) are distinct.
_RANGE_BUYERS = """
SELECT CAST(0 AS BIGINT), b.channel_id, CAST(COUNT(*) AS BIGINT) AS customers,
       CAST(SUM(CASE WHEN e.customer_key IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS new_customers
FROM buyers AS b LEFT JOIN earlier AS e ON e.customer_key = b.customer_key
GROUP BY b.channel_id
UNION ALL
SELECT CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(COUNT(*) AS BIGINT),
       CAST(COALESCE(SUM(CASE WHEN e.customer_key IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)
FROM everyone AS b LEFT JOIN earlier AS e ON e.customer_key = b.customer_key"""

# The range alone: the distinct buyers straight from its sales.
CUSTOMERS = f"""
WITH {SALES_CTE}, {_EARLIER},
buyers AS (
    SELECT DISTINCT channel_id, customer_key FROM sales WHERE customer_key IS NOT NULL
),
everyone AS (
    SELECT DISTINCT customer_key FROM buyers
)
{_RANGE_BUYERS}
"""  # noqa: S608 -- built of this module's constants only


def customers_sql(cuts: int) -> str:
    """The buyers statement for a range and `cuts` cuts of it (see above).

    With cuts, one pass over the range's sales groups each buyer's orders by channel and cut
    (`bought`: cut 0 holds the range's days in no cut), with their first day there; the
    range's distinct buyers, each one's first day in the range, and the cuts' counts all
    come from it. A buyer new to the range is new to the cut holding their first order in
    the range, and on a channel when their first order on it in the range is in that cut
    too: it is not before their first order, and a cut is one run of days.
    """
    if not cuts:
        return CUSTOMERS
    cut_of_order, cut_of_first = _cut_of("order_day", cuts), _cut_of("b.first_day", cuts)
    return f"""
WITH {SALES_CTE}, {_EARLIER},
bought AS (
    SELECT channel_id, customer_key, cut_no, MIN(order_day) AS first_day
    FROM (
        SELECT channel_id, customer_key, order_day, {cut_of_order} AS cut_no
        FROM sales WHERE customer_key IS NOT NULL
    ) AS s
    GROUP BY channel_id, customer_key, cut_no
),
buyers AS (
    SELECT channel_id, customer_key, MIN(first_day) AS first_day
    FROM bought GROUP BY channel_id, customer_key
),
everyone AS (
    SELECT customer_key, MIN(first_day) AS first_day FROM buyers GROUP BY customer_key
),
newcomers AS (
    SELECT b.customer_key AS customer_key, {cut_of_first} AS first_cut
    FROM everyone AS b LEFT JOIN earlier AS e ON e.customer_key = b.customer_key
    WHERE e.customer_key IS NULL
),
new_by_channel AS (
    SELECT n.first_cut AS cut_no, b.channel_id AS channel_id, COUNT(*) AS new_customers
    FROM buyers AS b JOIN newcomers AS n ON n.customer_key = b.customer_key
    WHERE n.first_cut > 0 AND n.first_cut = {cut_of_first}
    GROUP BY n.first_cut, b.channel_id
)
{_RANGE_BUYERS}
UNION ALL
SELECT c.cut_no, c.channel_id, CAST(c.customers AS BIGINT),
       CAST(COALESCE(n.new_customers, 0) AS BIGINT)
FROM (
    SELECT cut_no, channel_id, COUNT(*) AS customers
    FROM bought WHERE cut_no > 0 GROUP BY cut_no, channel_id
) AS c
LEFT JOIN new_by_channel AS n ON n.cut_no = c.cut_no AND n.channel_id = c.channel_id
UNION ALL
SELECT c.cut_no, CAST(0 AS BIGINT), CAST(c.customers AS BIGINT),
       CAST(COALESCE(n.new_customers, 0) AS BIGINT)
FROM (
    SELECT cut_no, COUNT(DISTINCT customer_key) AS customers
    FROM bought WHERE cut_no > 0 GROUP BY cut_no
) AS c
LEFT JOIN (
    SELECT first_cut, COUNT(*) AS new_customers
    FROM newcomers WHERE first_cut > 0 GROUP BY first_cut
) AS n ON n.first_cut = c.cut_no
"""  # noqa: S608 -- built of this module's constants only


def _cut_of(day: str, cuts: int) -> str:
    """The number of the cut `day` is in, 0 when in none."""
    whens = " ".join(
        f"WHEN {day} >= $cut_first_{k} AND {day} <= $cut_last_{k} THEN {k}"
        for k in range(1, cuts + 1)
    )
    return f"CAST(CASE {whens} ELSE 0 END AS BIGINT)"


# Sessions by channel and the day they started (`sessions.py` keeps them in the model):
# those that started in the range, with whether they ordered and whether they had a cart.
SESSIONS = """
SELECT channel_id, day,
       CAST(COUNT(*) AS BIGINT) AS sessions,
       CAST(SUM(CASE WHEN order_events > 0 THEN 1 ELSE 0 END) AS BIGINT) AS ordering_sessions,
       CAST(SUM(CASE WHEN cart_events > 0 THEN 1 ELSE 0 END) AS BIGINT) AS cart_sessions,
       CAST(SUM(CASE WHEN cart_events > 0 AND order_events = 0 THEN 1 ELSE 0 END) AS BIGINT)
           AS abandoned_carts
FROM (
    SELECT channel_id, CAST(started_at AS DATE) AS day, order_events, cart_events
    FROM wh_sessions
    WHERE started_at >= $start AND started_at < $end
) AS s
GROUP BY channel_id, day
"""

CHANNELS = "SELECT channel_id, code, kind, currency FROM wh_channels ORDER BY channel_id"
