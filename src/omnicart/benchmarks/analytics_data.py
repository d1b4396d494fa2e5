"""A generated merchant history in the analytic model, for `omnicart bench analytics`.

Six channels in three currencies, a year of orders (with lines, cancellations, refunds
and returns), tracked sessions that walk the e-commerce funnel and drop off on the way,
ad spend per campaign and day, unit costs, fees, fixed costs and daily ECB rates. Every
value comes from a hash of the row number, so the same sizes give the same history.
Rows are written by DuckDB itself (`range()`), straight into the model's tables: the
benchmark times the queries a merchant waits for, not the build of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

CHANNELS = (
    (1, "web", "web", "EUR"),
    (2, "app", "app", "EUR"),
    (3, "stores", "pos", "PLN"),
    (4, "amazon", "marketplace", "EUR"),
    (5, "allegro", "marketplace", "PLN"),
    (6, "instagram", "social", "GBP"),
)
TRACKED = (1, 2, 6)  # channels with a tracking source
FIRST_DAY = "2025-01-01"
DAYS = 365
CUSTOMERS_PER_ORDER = 5  # one customer for about every five orders
SKUS = 5_000


@dataclass(frozen=True, slots=True)
class HistorySize:
    """How much history to make."""

    orders: int = 1_000_000
    events: int = 10_000_000


def _h(expression: str, salt: int) -> str:
    """A non-negative pseudo-random BIGINT from `expression` (DuckDB's hash)."""
    return f"(hash({expression}, {salt}) % 1000000007)"


def generate(conn: duckdb.DuckDBPyConnection, size: HistorySize) -> dict[str, int]:
    """Fill the model's tables in `conn` (created empty by DuckDBEngine); row counts."""
    customers = max(size.orders // CUSTOMERS_PER_ORDER, 1)
    channel_rows = ", ".join(f"({i}, '{c}', '{k}', '{cur}')" for i, c, k, cur in CHANNELS)
    conn.execute(f"INSERT INTO wh_channels VALUES {channel_rows}")
    currency_of = (
        "CASE channel_id WHEN 3 THEN 'PLN' WHEN 5 THEN 'PLN' WHEN 6 THEN 'GBP' ELSE 'EUR' END"
    )
    # Lines first (one to three per order); orders add their lines up.
    conn.execute(
        f"""
        INSERT INTO wh_order_lines
        SELECT o AS order_id, n AS line_no,
               'SKU-' || lpad(CAST({_h("o * 7 + n", 1)} % {SKUS} AS VARCHAR), 5, '0') AS sku,
               1 + {_h("o * 7 + n", 2)} % 3 AS quantity,
               CAST(4.99 + ({_h("o * 7 + n", 3)} % 9500) / 100.0 AS DECIMAL(18, 4)) AS unit_price
        FROM range(1, {size.orders + 1}) AS r(o), range(1, 4) AS k(n)
        WHERE n <= 1 + {_h("o", 4)} % 3
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_orders
        WITH lines AS (
            SELECT order_id, SUM(quantity * unit_price) AS gross, SUM(quantity) AS units
            FROM wh_order_lines GROUP BY order_id
        ), base AS (
            SELECT order_id, gross, units,
                   1 + {_h("order_id", 5)} % 6 AS channel_id,
                   TIMESTAMP '{FIRST_DAY}' + to_microseconds(
                       CAST({_h("order_id", 6)} % ({DAYS} * 86400) AS BIGINT) * 1000000
                   ) AS ordered_at,
                   CASE WHEN {_h("order_id", 7)} % 100 < 85
                        THEN 'c' || CAST({_h("order_id", 8)} % {customers} AS VARCHAR) END
                       AS customer_key,
                   CASE WHEN {_h("order_id", 9)} % 10 = 0
                        THEN CAST(round(gross * 0.1, 2) AS DECIMAL(18, 4))
                        ELSE CAST(0 AS DECIMAL(18, 4)) END AS discount,
                   CASE WHEN {_h("order_id", 10)} % 3 = 0
                        THEN CAST(9.99 AS DECIMAL(18, 4)) ELSE CAST(0 AS DECIMAL(18, 4)) END
                       AS shipping
            FROM lines
        )
        SELECT order_id, channel_id, ordered_at, {currency_of}, customer_key, 'external',
               gross, discount,
               CAST(round((gross - discount) * 0.23 / 1.23, 2) AS DECIMAL(18, 4)) AS tax,
               shipping, gross - discount + shipping, units,
               CASE WHEN {_h("order_id", 11)} % 50 = 0
                    THEN ordered_at + INTERVAL 2 HOUR END AS cancelled_at
        FROM base
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_refunds
        SELECT order_id, ordered_at + INTERVAL 10 DAY,
               CAST(round(total * 0.5, 2) AS DECIMAL(18, 4)), currency,
               CASE WHEN {_h("order_id", 12)} % 2 = 0 THEN order_id END
        FROM wh_orders
        WHERE cancelled_at IS NULL AND {_h("order_id", 13)} % 100 < 3
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_returns
        SELECT l.order_id, l.order_id, o.ordered_at + INTERVAL 9 DAY, l.sku, 1,
               CASE WHEN {_h("l.order_id", 14)} % 2 = 0 THEN 'too small' ELSE 'damaged' END
        FROM wh_order_lines AS l JOIN wh_orders AS o USING (order_id)
        WHERE o.cancelled_at IS NULL AND l.line_no = 1 AND {_h("l.order_id", 15)} % 100 < 4
        """
    )
    _events(conn, size.events, customers)
    _costs(conn)
    return {
        name: int((conn.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,))[0])
        for name in (
            "wh_orders",
            "wh_order_lines",
            "wh_refunds",
            "wh_returns",
            "wh_events",
            "wh_spend",
            "wh_rates",
        )
    }


# Each session walks the funnel this far (percent of sessions reaching each step).
_STEPS = (
    ("Product Viewed", 100),
    ("Product Added", 40),
    ("Checkout Started", 20),
    ("Order Completed", 12),
)
EVENTS_PER_SESSION = 5


def _events(conn: duckdb.DuckDBPyConnection, events: int, customers: int) -> None:
    """Sessions of five events: a page view, then the funnel's steps as far as the session
    goes (the rest are more page views), a minute apart."""
    sessions = max(events // EVENTS_PER_SESSION, 1)
    depth = _h("s", 20) + " % 100"
    name = "CASE k WHEN 0 THEN 'Page Viewed'"
    for index, (step, percent) in enumerate(_STEPS, start=1):
        name += (
            f" WHEN {index} THEN CASE WHEN {depth} < {percent} THEN '{step}' ELSE 'Page Viewed' END"
        )
    name += " END"
    conn.execute(
        f"""
        INSERT INTO wh_events
        SELECT TIMESTAMP '{FIRST_DAY}' + to_microseconds(
                   CAST({_h("s", 21)} % ({DAYS} * 86400) AS BIGINT) * 1000000 + k * 60000000
               ) AS occurred_at,
               CASE {_h("s", 22)} % 3 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE 6 END AS channel_id,
               CASE WHEN {_h("s", 23)} % 100 < 40
                    THEN 'c' || CAST({_h("s", 24)} % {customers} AS VARCHAR) END AS customer_key,
               'a' || CAST(s // 3 AS VARCHAR) AS anonymous_id,
               CASE WHEN k = 0 THEN 'page' ELSE 'track' END AS type,
               {name} AS event,
               CASE {_h("s", 25)} % 4 WHEN 0 THEN 'google' WHEN 1 THEN 'facebook'
                    WHEN 2 THEN 'newsletter' END AS campaign_source,
               CASE {_h("s", 25)} % 4 WHEN 0 THEN 'cpc' WHEN 1 THEN 'paid_social'
                    WHEN 2 THEN 'email' END AS campaign_medium,
               CASE WHEN {_h("s", 25)} % 4 < 3 THEN 'spring' END AS campaign_name,
               CASE WHEN {_h("s", 26)} % 5 = 0 THEN 'https://www.google.com/' END AS referrer,
               NULL AS order_id
        FROM range(0, {sessions}) AS r(s), range(0, {EVENTS_PER_SESSION}) AS e(k)
        """
    )


def _costs(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        f"""
        INSERT INTO wh_spend
        SELECT DATE '{FIRST_DAY}' + CAST(d AS INTEGER), c.channel_id, campaign,
               CAST(20 + ({_h("d * 31 + c.channel_id", 30)} % 30000) / 100.0 AS DECIMAL(18, 4)),
               c.currency
        FROM range(0, {DAYS}) AS r(d), wh_channels AS c,
             (VALUES ('brand'), ('spring'), ('retargeting')) AS k(campaign)
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_unit_costs
        SELECT 'SKU-' || lpad(CAST(i AS VARCHAR), 5, '0'), DATE '2024-01-01',
               CAST(2 + ({_h("i", 31)} % 3000) / 100.0 AS DECIMAL(18, 4)), 'EUR'
        FROM range(0, {SKUS}) AS r(i)
        """
    )
    conn.execute(
        """
        INSERT INTO wh_fees
        SELECT channel_id, DATE '2024-01-01',
               CAST(CASE kind WHEN 'marketplace' THEN 12 ELSE 0 END AS DECIMAL(18, 4)),
               CAST(1.4 AS DECIMAL(18, 4)), CAST(0.25 AS DECIMAL(18, 4)), currency
        FROM wh_channels
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_fixed_costs
        SELECT channel_id, DATE '{FIRST_DAY}' + INTERVAL (m) MONTH, 'rent and staff',
               CAST(CASE kind WHEN 'pos' THEN 42000 ELSE 3000 END AS DECIMAL(18, 4)), currency
        FROM wh_channels, range(0, 12) AS r(m)
        """
    )
    conn.execute(
        f"""
        INSERT INTO wh_rates
        SELECT DATE '{FIRST_DAY}' + CAST(d AS INTEGER) - 7, currency,
               CAST(CASE currency WHEN 'EUR' THEN 1
                    ELSE base + ({_h("d", 32)} % 200) / 10000.0 END AS DECIMAL(18, 6))
        FROM range(0, {DAYS + 7}) AS r(d),
             (VALUES ('EUR', 1.0), ('PLN', 4.25), ('GBP', 0.84), ('USD', 1.08)) AS c(currency, base)
        """
    )
