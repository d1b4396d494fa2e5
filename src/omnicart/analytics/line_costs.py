"""Line costs: every order line and returned line with what the per-channel figures need
of it, resolved once and kept in the model (`wh_line_costs`), so that no figure joins the
lines with their orders and every cost row of their SKU while a merchant waits.

A line carries its order's channel, UTC day and cancellation, and the unit cost of its SKU
that holds on that day: the SKU's row with the latest `valid_from` on or before the day (a
row holds until the SKU's next one); none (NULL cost and currency) where no row holds. A
returned line is its order's too: returns are costed at the order's day, like its units.

The warehouse's refresh keeps the table current (DuckDB, in the refresh's transactions):
the lines of every order an event of a window concerns are resolved again (new, updated,
cancelled or returned: `WINDOW_SQL`), and when the unit costs are copied again, the lines
of every SKU whose cost rows changed, whatever day the change is dated
(`recost_changed_skus`). The table is part of the model, like `wh_sessions`: the figures
read no line but through it, so a model loaded row by row (tests, the benchmark) gets it
from `build_line_costs`, and a store built before it existed is rebuilt from its first
event (`warehouse_store.MODEL_VERSION`). The SQL is written once for both engines.
"""

from __future__ import annotations

import duckdb

from omnicart.analytics.engine import DuckDBEngine, Engine, render

# Each unit cost row of the SKUs sold (`keys`) holds from its valid_from until the SKU's
# next row (the validity is matched in WHERE: ClickHouse joins on equalities only).
_COST_PERIODS = """
cost_periods AS (
    SELECT c.sku AS sku, c.valid_from AS valid_from, c.cost AS cost, c.currency AS currency,
           MIN(CASE WHEN n.valid_from > c.valid_from THEN n.valid_from END) AS valid_until
    FROM wh_unit_costs AS c
    JOIN wh_unit_costs AS n ON n.sku = c.sku
    WHERE c.sku IN (SELECT sku FROM keys)
    GROUP BY c.sku, c.valid_from, c.cost, c.currency
)"""


def resolving(*, orders: str, lines: str) -> str:
    """The CTEs (for a WITH clause) whose last, `resolved`, gives wh_line_costs rows: the
    lines and returned lines meeting `lines` (a condition on `order_id` and `sku`) of the
    orders meeting `orders` (a condition on wh_orders' columns, aliased `o`).

    Costs are resolved once per SKU and day (`keys`), from the periods of those SKUs
    only, then every line of that SKU and day takes its day's cost: a SKU's periods never
    overlap (one row per SKU and valid_from), so at most one row holds on a day and each
    line stays one row.
    """
    return f"""
placed AS (
    SELECT m.order_id AS order_id, m.sku AS sku, o.channel_id AS channel_id,
           CAST(o.ordered_at AS DATE) AS order_day, o.cancelled_at AS cancelled_at,
           m.units AS units, m.returned AS returned
    FROM (
        SELECT order_id, sku, quantity AS units, CAST(0 AS BIGINT) AS returned
        FROM wh_order_lines WHERE {lines}
        UNION ALL
        SELECT order_id, sku, CAST(0 AS BIGINT) AS units, quantity AS returned
        FROM wh_returns WHERE {lines}
    ) AS m
    JOIN wh_orders AS o ON o.order_id = m.order_id
    WHERE {orders}
),
keys AS (
    SELECT DISTINCT sku, order_day FROM placed
),
{_COST_PERIODS},
day_costs AS (
    SELECT k.sku AS sku, k.order_day AS order_day, p.cost AS cost, p.currency AS currency
    FROM keys AS k
    JOIN cost_periods AS p ON p.sku = k.sku
    WHERE k.order_day >= p.valid_from AND (p.valid_until IS NULL OR k.order_day < p.valid_until)
),
resolved AS (
    SELECT l.order_id AS order_id, l.sku AS sku, l.channel_id AS channel_id,
           l.order_day AS order_day, l.cancelled_at AS cancelled_at, l.units AS units,
           l.returned AS returned, c.cost AS cost, c.currency AS currency
    FROM placed AS l
    LEFT JOIN day_costs AS c ON c.sku = l.sku AND c.order_day = l.order_day
)"""  # noqa: S608 -- built of this module's constants and the caller's conditions


ALL_LINE_COSTS = f"WITH {resolving(orders='TRUE', lines='TRUE')} SELECT * FROM resolved"  # noqa: S608


def build_line_costs(engine: Engine) -> None:
    """Fill an empty wh_line_costs from every line, return, order and unit cost of the
    model, on either engine (a model loaded row by row; the warehouse keeps its own)."""
    if isinstance(engine, DuckDBEngine):
        sql = render(ALL_LINE_COSTS, None, dialect="duckdb")
        # In day order: a range's rows lie together, as the refresh's appends keep them.
        engine.connection.execute(f"INSERT INTO wh_line_costs {sql} ORDER BY order_day")
        return
    engine.insert("wh_line_costs", engine.query(ALL_LINE_COSTS))


# --- keeping the warehouse's line costs current (DuckDB, in the refresh's transaction) ----

_IN_WINDOW = "order_id IN (SELECT order_id FROM wh_b_order_events)"
# The lines of every order the window's events concern, resolved again from the orders,
# lines and returns as the window left them (run after it wrote them).
WINDOW_SQL = (
    f"DELETE FROM wh_line_costs WHERE {_IN_WINDOW}",  # noqa: S608
    f"""
INSERT INTO wh_line_costs
WITH {resolving(orders=f"o.{_IN_WINDOW}", lines=_IN_WINDOW)}
SELECT * FROM resolved
""",  # noqa: S608
)


def keep_unit_costs(conn: duckdb.DuckDBPyConnection) -> None:
    """Remember the model's unit costs as they are (before a copy replaces them), for
    `recost_changed_skus`."""
    conn.execute("CREATE OR REPLACE TEMP TABLE wh_b_unit_costs AS SELECT * FROM wh_unit_costs")


# SKUs with a cost row added, removed or changed since `keep_unit_costs`.
_CHANGED_SKUS = """
CREATE OR REPLACE TEMP TABLE wh_b_changed_skus AS
SELECT DISTINCT sku FROM (
    (SELECT * FROM wh_b_unit_costs EXCEPT SELECT * FROM wh_unit_costs)
    UNION ALL
    (SELECT * FROM wh_unit_costs EXCEPT SELECT * FROM wh_b_unit_costs)
)
"""
_OF_CHANGED_SKUS = "sku IN (SELECT sku FROM wh_b_changed_skus)"


def recost_changed_skus(conn: duckdb.DuckDBPyConnection) -> int:
    """Resolve again the lines of every SKU whose cost rows changed since
    `keep_unit_costs` (any valid_from, back-dated ones too); the SKUs changed."""
    conn.execute(_CHANGED_SKUS)
    row = conn.execute("SELECT count(*) FROM wh_b_changed_skus").fetchone()
    changed = int(row[0]) if row else 0
    if changed:
        conn.execute(f"DELETE FROM wh_line_costs WHERE {_OF_CHANGED_SKUS}")  # noqa: S608
        resolved = resolving(orders="TRUE", lines=_OF_CHANGED_SKUS)
        conn.execute(f"INSERT INTO wh_line_costs WITH {resolved} SELECT * FROM resolved")  # noqa: S608
    return changed
