"""`omnicart bench analytics`: the merchant's reports on a generated history, each timed
against a hand-written DuckDB query computing the same numbers, in the same run.

The history (analytics_data.py: 1 million orders and 10 million tracked events by
default) is written into the analytic model of a DuckDB file. Then, for the year:

- **overview**: `channel_figures` (every channel's figures in its own currency and in EUR)
  against hand SQL that sums the same money by channel, day and currency (COGS from the
  raw lines, returns and cost rows, not from the model's costed lines), counts orders,
  units, customers and the sessions of the model's wh_sessions, and converts with the
  day's ECB rate in plain Python;
- **cohorts**: `cohort_table` against one hand query over first orders;
- **funnel**: `funnel` (Product Viewed → Product Added → Checkout Started → Order
  Completed, a one-hour window) against a hand query over each visitor's steps.

Each side runs `repeat` times after one warm-up; the figure is the median. `equal` says
the two computed the same numbers (compared figure by figure). The sessions in the model
(sessionized once, as the warehouse's refresh keeps them: `sessions_s`) are checked once
against a hand sessionization of every stored event (`sessions_check`); the model's costed
lines (`wh_line_costs`, built once likewise: `line_costs_s`) are checked by the overview's
COGS and units. One JSON line.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb

from omnicart.analytics.channels import ChannelReport, channel_figures
from omnicart.analytics.cohorts import CohortTable, cohort_table
from omnicart.analytics.engine import DuckDBEngine
from omnicart.analytics.funnels import Funnel, funnel
from omnicart.analytics.line_costs import build_line_costs
from omnicart.analytics.period import Period
from omnicart.analytics.sessions import build_sessions
from omnicart.benchmarks.analytics_data import DAYS, FIRST_DAY, HistorySize, generate

FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
WINDOW = timedelta(hours=1)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to generate and how often to time each query."""

    orders: int = 1_000_000
    events: int = 10_000_000
    repeat: int = 3
    directory: Path | None = None


def _median_ms(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = work()  # warm-up: DuckDB's buffers hold the data for both sides alike
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


# --- the overview, by hand ------------------------------------------------------------

_HAND_MONEY = """
WITH sales AS (
    SELECT order_id, channel_id, currency, CAST(ordered_at AS DATE) AS day, gross, discount,
           shipping, total
    FROM wh_orders
    WHERE ordered_at >= ? AND ordered_at < ? AND cancelled_at IS NULL
), refunded AS (
    SELECT order_id, SUM(amount) AS amount FROM wh_refunds GROUP BY order_id
), costs AS (
    SELECT sku, valid_from, cost, currency,
           lead(valid_from) OVER (PARTITION BY sku ORDER BY valid_from) AS valid_until
    FROM wh_unit_costs
), fees AS (
    SELECT channel_id, valid_from, commission_pct, payment_pct, payment_fixed, currency,
           lead(valid_from) OVER (PARTITION BY channel_id ORDER BY valid_from) AS valid_until
    FROM wh_fees
), units AS (
    SELECT s.channel_id, s.day, c.currency, l.quantity * c.cost AS cost
    FROM sales s JOIN wh_order_lines l USING (order_id)
    JOIN costs c ON c.sku = l.sku AND s.day >= c.valid_from
                AND (c.valid_until IS NULL OR s.day < c.valid_until)
    UNION ALL
    SELECT s.channel_id, s.day, c.currency, -t.quantity * c.cost
    FROM sales s JOIN wh_returns t USING (order_id)
    JOIN costs c ON c.sku = t.sku AND s.day >= c.valid_from
                AND (c.valid_until IS NULL OR s.day < c.valid_until)
)
-- Every branch as wide as fees' fractions of a cent need (a union takes one type).
SELECT channel_id, day, currency, 'gross_sales', SUM(gross)::DECIMAL(38, 10) FROM sales
GROUP BY ALL
UNION ALL
SELECT channel_id, day, currency, 'discounts', SUM(discount)::DECIMAL(38, 10) FROM sales
GROUP BY ALL
UNION ALL
SELECT channel_id, day, currency, 'shipping', SUM(shipping)::DECIMAL(38, 10) FROM sales
GROUP BY ALL
UNION ALL
SELECT s.channel_id, s.day, s.currency, 'refunds', SUM(r.amount)::DECIMAL(38, 10)
FROM sales s JOIN refunded r USING (order_id) GROUP BY ALL
UNION ALL
SELECT channel_id, day, currency, 'cogs', SUM(cost)::DECIMAL(38, 10) FROM units GROUP BY ALL
UNION ALL
SELECT s.channel_id, s.day, s.currency, 'fees',
       SUM(f.commission_pct * (s.gross - s.discount - coalesce(r.amount, 0))
           + f.payment_pct * s.total)::DECIMAL(38, 10) * 0.01::DECIMAL(3, 2)
FROM sales s JOIN fees f ON f.channel_id = s.channel_id AND s.day >= f.valid_from
                         AND (f.valid_until IS NULL OR s.day < f.valid_until)
LEFT JOIN refunded r USING (order_id) GROUP BY ALL
UNION ALL
SELECT s.channel_id, s.day, f.currency, 'fees', SUM(f.payment_fixed)::DECIMAL(38, 10)
FROM sales s JOIN fees f ON f.channel_id = s.channel_id AND s.day >= f.valid_from
                         AND (f.valid_until IS NULL OR s.day < f.valid_until)
GROUP BY ALL
UNION ALL
SELECT channel_id, day, currency, 'ad_spend', SUM(spend)::DECIMAL(38, 10) FROM wh_spend
WHERE day BETWEEN ? AND ? GROUP BY ALL
UNION ALL
SELECT channel_id, month, currency, 'fixed_costs', SUM(amount)::DECIMAL(38, 10) FROM wh_fixed_costs
WHERE month BETWEEN ? AND ? GROUP BY ALL
"""

_HAND_COUNTS = """
WITH sales AS (
    SELECT * FROM wh_orders WHERE ordered_at >= ? AND ordered_at < ? AND cancelled_at IS NULL
), firsts AS (
    SELECT customer_key, min(ordered_at) AS first_at FROM wh_orders
    WHERE cancelled_at IS NULL AND customer_key IS NOT NULL AND ordered_at < ?
    GROUP BY customer_key
), buyers AS (
    SELECT DISTINCT s.channel_id, s.customer_key, f.first_at >= ? AS new
    FROM sales s JOIN firsts f USING (customer_key)
)
SELECT s.channel_id, count(*), sum(s.units),
       (SELECT sum(t.quantity) FROM wh_returns t JOIN sales x USING (order_id)
        WHERE x.channel_id = s.channel_id),
       (SELECT count(*) FROM buyers b WHERE b.channel_id = s.channel_id),
       (SELECT count(*) FILTER (WHERE b.new) FROM buyers b WHERE b.channel_id = s.channel_id)
FROM sales s GROUP BY s.channel_id
"""

# Sessions are in the model (wh_sessions, kept by the refresh): by hand, one would count them.
_HAND_SESSIONS = """
SELECT channel_id, count(*), count(*) FILTER (WHERE order_events > 0),
       count(*) FILTER (WHERE cart_events > 0),
       count(*) FILTER (WHERE cart_events > 0 AND order_events = 0)
FROM wh_sessions WHERE started_at >= ? AND started_at < ? GROUP BY channel_id
"""

# ... and wh_sessions itself, sessionized by hand from every stored event: the rows that
# one side has and the other has not (0: the model's sessions are right). Not part of any
# ratio: it shows what the materialized table spares every overview.
_HAND_SESSIONIZED = """
WITH e AS (
    SELECT channel_id, coalesce(customer_key, 'a' || anonymous_id) AS visitor, occurred_at,
           (type = 'track' AND event = 'Order Completed')::INT AS ordered,
           (type = 'track' AND event IN ('Product Added', 'Checkout Started'))::INT AS carted
    FROM wh_events
    WHERE customer_key IS NOT NULL OR anonymous_id IS NOT NULL
), gaps AS (
    SELECT *, coalesce(occurred_at - lag(occurred_at) OVER w > INTERVAL 30 MINUTE, true)
              AS opens
    FROM e WINDOW w AS (PARTITION BY channel_id, visitor ORDER BY occurred_at)
), numbered AS (
    SELECT *, sum(opens::INT) OVER (PARTITION BY channel_id, visitor ORDER BY occurred_at
                                    RANGE UNBOUNDED PRECEDING) AS session
    FROM gaps
), hand AS (
    SELECT channel_id, visitor, min(occurred_at), max(occurred_at), count(*), sum(ordered),
           sum(carted)
    FROM numbered GROUP BY channel_id, visitor, session
)
SELECT (SELECT count(*) FROM (FROM hand EXCEPT ALL FROM wh_sessions))
     + (SELECT count(*) FROM (FROM wh_sessions EXCEPT ALL FROM hand))
"""


def sessions_differ(conn: duckdb.DuckDBPyConnection) -> int:
    """Sessions in wh_sessions or in a hand sessionization of wh_events but not both."""
    row = conn.execute(_HAND_SESSIONIZED).fetchone()
    return int(row[0]) if row else -1


def _rate_lookup(
    conn: duckdb.DuckDBPyConnection, first: date, last: date
) -> Callable[[str, date], Decimal]:
    rows = conn.execute(
        "SELECT currency, day, per_eur FROM wh_rates WHERE day <= ? ORDER BY day", [last]
    ).fetchall()
    by_currency: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for currency, day, per_eur in rows:
        by_currency[currency].append((day, per_eur))

    def rate(currency: str, day: date) -> Decimal:
        if currency == "EUR":
            return Decimal(1)
        # The latest rate on or before the day (lists are short: one per day).
        known = [r for d, r in by_currency[currency] if d <= day]
        return known[-1]

    return rate


def hand_overview(conn: duckdb.DuckDBPyConnection, period: Period) -> dict[int, dict[str, Any]]:
    """Per channel, in its own currency: the money figures and the counts."""
    own = dict(conn.execute("SELECT channel_id, currency FROM wh_channels").fetchall())
    money_rows = conn.execute(
        _HAND_MONEY,
        [period.start, period.end, period.first, period.last,
         period.first.replace(day=1), period.last],
    ).fetchall()  # fmt: skip
    rate = _rate_lookup(conn, period.first, period.last)
    cache: dict[tuple[str, date], Decimal] = {}

    def cached(currency: str, day: date) -> Decimal:
        key = (currency, day)
        if key not in cache:
            cache[key] = rate(currency, day)
        return cache[key]

    sums: dict[tuple[int, date, str, str], Decimal] = defaultdict(Decimal)
    for channel_id, day, currency, figure, amount in money_rows:
        sums[channel_id, day, currency, figure] += Decimal(amount)
    result: dict[int, dict[str, Any]] = {c: defaultdict(Decimal) for c in own}
    for (channel_id, day, currency, figure), amount in sums.items():
        target = own[channel_id]
        value = amount
        if currency != target:
            value = amount * cached(target, day) / cached(currency, day)
        result[channel_id][figure] += value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    for channel_id, orders, units, returned, customers, new in conn.execute(
        _HAND_COUNTS, [period.start, period.end, period.end, period.start]
    ).fetchall():
        result[channel_id].update(
            orders=orders,
            units=int(units),
            returned_units=int(returned or 0),
            customers=customers,
            new_customers=new,
        )
    for channel_id, sessions, ordering, carts, abandoned in conn.execute(
        _HAND_SESSIONS, [period.start, period.end]
    ).fetchall():
        result[channel_id].update(
            sessions=sessions,
            ordering_sessions=ordering,
            cart_sessions=carts,
            abandoned_carts=abandoned,
        )
    return result


COMPARED = (
    "orders",
    "units",
    "returned_units",
    "customers",
    "new_customers",
    "gross_sales",
    "discounts",
    "refunds",
    "shipping",
    "cogs",
    "fees",
    "ad_spend",
    "fixed_costs",
    "sessions",
    "ordering_sessions",
    "cart_sessions",
    "abandoned_carts",
)


def same_overview(report: ChannelReport, hand: dict[int, dict[str, Any]]) -> bool:
    """Every compared figure of every channel equal in its own currency."""
    for channel in report.channels:
        mine = hand.get(channel.channel_id, {})
        for name in COMPARED:
            theirs = mine.get(name, 0)
            if channel.value(name) != theirs:
                return False
    return True


# --- cohorts and funnel, by hand --------------------------------------------------------

_HAND_COHORTS = """
WITH refunded AS (
    SELECT order_id, sum(amount) AS amount FROM wh_refunds GROUP BY order_id
), o AS (
    SELECT customer_key, ordered_at, currency,
           gross - discount - coalesce(r.amount, 0) AS sales,
           row_number() OVER w AS n,
           first_value(channel_id) OVER w AS first_channel,
           min(ordered_at) OVER (PARTITION BY customer_key) AS first_at
    FROM wh_orders LEFT JOIN refunded r USING (order_id)
    WHERE cancelled_at IS NULL AND customer_key IS NOT NULL AND ordered_at < ?
    WINDOW w AS (PARTITION BY customer_key ORDER BY ordered_at, order_id)
), a AS (
    SELECT *, CAST(date_trunc('month', first_at) AS DATE) AS cohort,
           datediff('month', date_trunc('month', first_at), date_trunc('month', ordered_at))
               AS month
    FROM o WHERE first_at >= ?
), c AS (
    SELECT cohort, first_channel, month, customer_key, bool_or(n > 1) AS again
    FROM a GROUP BY ALL
)
SELECT cohort, first_channel, month, count(*), count(*) FILTER (WHERE again),
       (SELECT list((currency, sales)) FROM (
            SELECT currency, sum(sales) AS sales FROM a
            WHERE a.cohort = c.cohort AND a.first_channel = c.first_channel
              AND a.month = c.month GROUP BY currency))
FROM c GROUP BY cohort, first_channel, month
"""


def hand_cohorts(conn: duckdb.DuckDBPyConnection, period: Period) -> dict[tuple[Any, ...], Any]:
    """(cohort month, first channel id, month since) → (active customers, repeaters, net
    sales by currency)."""
    rows = conn.execute(_HAND_COHORTS, [period.end, period.start]).fetchall()
    return {
        (cohort, channel, month): (
            active,
            again,
            {currency: total.quantize(CENT, rounding=ROUND_HALF_EVEN) for currency, total in sales},
        )
        for cohort, channel, month, active, again, sales in rows
    }


def same_cohorts(
    table: CohortTable, hand: dict[tuple[Any, ...], Any], codes: dict[int, str]
) -> bool:
    """Active and repeat customers and net sales of every cohort month equal, per channel."""
    ours: dict[tuple[Any, ...], Any] = {}
    by_code = {code: channel_id for channel_id, code in codes.items()}
    for cohort in table.cohorts:
        if cohort.channel is None:
            continue
        for month in cohort.months:
            if month.active_customers:
                ours[cohort.month, by_code[cohort.channel], month.month] = (
                    month.active_customers,
                    month.repeat_customers,
                    {a.currency: a.amount for a in month.order_net_sales},
                )
    return ours == {k: v for k, v in hand.items() if v[0]}


_HAND_FUNNEL = """
WITH hits AS (
    SELECT coalesce(customer_key, 'a' || anonymous_id) AS subject, occurred_at AS ts,
           channel_id, list_position([?, ?, ?, ?], event) - 1 AS step
    FROM wh_events
    WHERE event IN (?, ?, ?, ?) AND occurred_at >= ? AND occurred_at <= ?
      AND (customer_key IS NOT NULL OR anonymous_id IS NOT NULL)
    UNION ALL
    SELECT o.customer_key, o.ordered_at AS ts, o.channel_id, 3
    FROM wh_orders o JOIN wh_channels c USING (channel_id)
    WHERE c.kind = 'pos' AND o.cancelled_at IS NULL AND o.customer_key IS NOT NULL
      AND o.ordered_at >= ? AND o.ordered_at <= ?
), s0 AS (
    SELECT subject, ts AS t0, channel_id FROM hits WHERE step = 0 AND ts < ?
    QUALIFY row_number() OVER (PARTITION BY subject ORDER BY ts, channel_id) = 1
), s1 AS (
    SELECT r.*, CASE WHEN h.ts <= r.t0 + ? THEN h.ts END AS t1
    FROM s0 r ASOF LEFT JOIN (SELECT subject, ts FROM hits WHERE step = 1) h
         ON h.subject = r.subject AND h.ts >= r.t0
), s2 AS (
    SELECT r.*, CASE WHEN h.ts <= r.t0 + ? THEN h.ts END AS t2
    FROM s1 r ASOF LEFT JOIN (SELECT subject, ts FROM hits WHERE step = 2) h
         ON h.subject = r.subject AND h.ts >= r.t1
), s3 AS (
    SELECT r.*, CASE WHEN h.ts <= r.t0 + ? THEN h.ts END AS t3
    FROM s2 r ASOF LEFT JOIN (SELECT subject, ts FROM hits WHERE step = 3) h
         ON h.subject = r.subject AND h.ts >= r.t2
)
SELECT channel_id, count(t0), count(t1), count(t2), count(t3) FROM s3 GROUP BY channel_id
"""


def hand_funnel(conn: duckdb.DuckDBPyConnection, period: Period) -> dict[int, tuple[int, ...]]:
    """Per entry channel: the subjects that reached each of the four steps."""
    until = period.end + WINDOW
    rows = conn.execute(
        _HAND_FUNNEL,
        [*FUNNEL, *FUNNEL, period.start, until, period.start, until, period.end,
         WINDOW, WINDOW, WINDOW],
    ).fetchall()  # fmt: skip
    return {channel_id: tuple(counts) for channel_id, *counts in rows}


def same_funnel(result: Funnel, hand: dict[int, tuple[int, ...]], codes: dict[int, str]) -> bool:
    """The subjects reaching each step equal, channel by channel."""
    ours = {
        row.channel: tuple(step.funnel_subjects for step in row.steps)
        for row in result.rows
        if row.channel is not None
    }
    return ours == {codes[channel_id]: counts for channel_id, counts in hand.items()}


def run(config: BenchConfig) -> dict[str, Any]:
    """Generate, time both sides of each report, and compare them."""
    period = Period.of(date.fromisoformat(FIRST_DAY),
                       date.fromisoformat(FIRST_DAY) + timedelta(days=DAYS - 1))  # fmt: skip
    with tempfile.TemporaryDirectory(dir=config.directory) as folder:
        conn = duckdb.connect(str(Path(folder) / "history.duckdb"))
        engine = DuckDBEngine(conn)
        started = time.perf_counter()
        rows = generate(conn, HistorySize(orders=config.orders, events=config.events))
        generated = time.perf_counter()
        build_sessions(engine)  # as the warehouse's refresh keeps them
        sessioned = time.perf_counter()
        build_line_costs(engine)  # likewise
        sessions_s = sessioned - generated
        line_costs_s = time.perf_counter() - sessioned
        generate_s = time.perf_counter() - started
        rows["wh_sessions"] = int(
            (conn.execute("SELECT count(*) FROM wh_sessions").fetchone() or (0,))[0]
        )
        started = time.perf_counter()
        differ = sessions_differ(conn)
        sessions_check = {
            "hand_sql_ms": round((time.perf_counter() - started) * 1000, 1),
            "differing_rows": differ,
            "equal": differ == 0,
        }
        codes: dict[int, str] = dict(
            conn.execute("SELECT channel_id, code FROM wh_channels").fetchall()
        )

        ours_ms, report = _median_ms(
            lambda: channel_figures(engine, first=period.first, last=period.last, currency="EUR"),
            config.repeat,
        )
        hand_ms, hand = _median_ms(lambda: hand_overview(conn, period), config.repeat)
        overview = _result(ours_ms, hand_ms, same_overview(report, hand))

        ours_ms, table = _median_ms(lambda: cohort_table(engine, period=period), config.repeat)
        hand_ms, cohorts = _median_ms(lambda: hand_cohorts(conn, period), config.repeat)
        cohort = _result(ours_ms, hand_ms, same_cohorts(table, cohorts, codes))

        ours_ms, steps = _median_ms(
            lambda: funnel(engine, period=period, steps=FUNNEL, window=WINDOW), config.repeat
        )
        hand_ms, hand_steps = _median_ms(lambda: hand_funnel(conn, period), config.repeat)
        funnel_result = _result(ours_ms, hand_ms, same_funnel(steps, hand_steps, codes))
        conn.close()
    return {
        "bench": "analytics",
        "orders": rows["wh_orders"],
        "events": rows["wh_events"],
        "order_lines": rows["wh_order_lines"],
        "sessions": rows["wh_sessions"],
        "generate_s": round(generate_s, 1),
        "sessions_s": round(sessions_s, 1),
        "line_costs_s": round(line_costs_s, 1),
        "overview": overview,
        "cohorts": cohort,
        "funnel": funnel_result,
        "sessions_check": sessions_check,
        "equal": overview["equal"]
        and cohort["equal"]
        and funnel_result["equal"]
        and sessions_check["equal"],
    }


def _result(ours_ms: float, hand_ms: float, equal: bool) -> dict[str, Any]:
    return {
        "ms": round(ours_ms, 1),
        "hand_sql_ms": round(hand_ms, 1),
        "ratio_to_hand_sql": round(ours_ms / hand_ms, 3) if hand_ms else None,
        "equal": equal,
    }
