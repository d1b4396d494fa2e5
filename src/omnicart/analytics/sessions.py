"""Sessions: a visitor's runs of tracked events on a channel, kept in the model (`wh_sessions`)
so that no figure sessionizes raw events while a merchant waits.

A visitor is an event's `customer_key`, else `a<anonymous_id>`; an event naming neither is
in no session. A visitor's first event on a channel opens a session, and so does every
event more than 30 minutes after the visitor's previous one there (exactly 30 minutes
stays in), as web analytics tools define it. A session keeps when it started and ended,
how many events it holds, and how many of them were `Order Completed` and cart events
(`Product Added`, `Checkout Started`) sent as track calls.

The warehouse refresh keeps the table current as events arrive or move to another visitor
(`update_sessions`): only the sessions of the visitors concerned, near the events that
changed, are taken apart and sessionized again from their events, so a session still open
at one refresh is extended by the next. A model loaded row by row (tests, the benchmark)
gets its sessions from `build_sessions`. The SQL is written once for both engines.
"""

from __future__ import annotations

import duckdb

from omnicart.analytics.engine import DuckDBEngine, Engine, render

GAP_MINUTES = 30
CART_EVENTS = ("Product Added", "Checkout Started")


def visitor_sql(alias: str) -> str:
    """The visitor of the event row aliased `alias` (NULL: the event names nobody)."""
    return f"COALESCE({alias}.customer_key, 'a' || {alias}.anonymous_id)"


def sessionize(source: str) -> str:
    """wh_sessions rows of every visitor's events in `source`, a query giving `channel_id`,
    `visitor` (never NULL), `occurred_at`, `type` and `event`. A tie in time is one
    session; LAG's value on a partition's first row is never relied on (engine.py)."""
    carts = ", ".join(f"'{name}'" for name in CART_EVENTS)
    previous = "LAG(occurred_at) OVER (PARTITION BY channel_id, visitor ORDER BY occurred_at)"
    return f"""
WITH marked AS (
    SELECT channel_id, visitor, occurred_at,
           CASE WHEN type = 'track' AND event = 'Order Completed' THEN 1 ELSE 0 END AS orders,
           CASE WHEN type = 'track' AND event IN ({carts}) THEN 1 ELSE 0 END AS carts,
           CASE WHEN {previous} IS NULL
                  OR occurred_at > {previous} + INTERVAL {GAP_MINUTES} MINUTE
                THEN 1 ELSE 0 END AS opens
    FROM ({source}) AS e
),
numbered AS (
    SELECT channel_id, visitor, occurred_at, orders, carts,
           SUM(opens) OVER (
               PARTITION BY channel_id, visitor ORDER BY occurred_at
               RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no
    FROM marked
)
SELECT channel_id, visitor, MIN(occurred_at) AS started_at, MAX(occurred_at) AS ended_at,
       CAST(COUNT(*) AS BIGINT) AS events, CAST(SUM(orders) AS BIGINT) AS order_events,
       CAST(SUM(carts) AS BIGINT) AS cart_events
FROM numbered
GROUP BY channel_id, visitor, session_no
"""  # noqa: S608 -- built of this module's constants and the caller's SQL


_EVERY_EVENT = (
    f"SELECT w.channel_id, {visitor_sql('w')} AS visitor, w.occurred_at, w.type, w.event "  # noqa: S608 -- constants only
    "FROM wh_events AS w WHERE w.customer_key IS NOT NULL OR w.anonymous_id IS NOT NULL"
)
ALL_SESSIONS = sessionize(_EVERY_EVENT)


def build_sessions(engine: Engine) -> None:
    """Fill an empty wh_sessions from every event of wh_events, on either engine (a model
    loaded row by row; the warehouse keeps its own current with `update_sessions`)."""
    if isinstance(engine, DuckDBEngine):
        sql = render(ALL_SESSIONS, None, dialect="duckdb")
        engine.connection.execute(f"INSERT INTO wh_sessions {sql}")
        return
    engine.insert("wh_sessions", engine.query(ALL_SESSIONS))


# --- keeping the warehouse's sessions current (DuckDB, in the refresh's transaction) --------


def touch(conn: duckdb.DuckDBPyConnection, changed: str) -> None:
    """Record as `wh_b_touched` the visitors whose events changed, and the span of time
    they changed in: `changed` gives `channel_id`, `visitor` and `occurred_at` of every
    event added, removed or moved (on both visitors' sides)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wh_b_touched AS
        SELECT channel_id, visitor, min(occurred_at) AS lo, max(occurred_at) AS hi
        FROM ({changed}) AS c
        WHERE visitor IS NOT NULL
        GROUP BY channel_id, visitor
        """  # noqa: S608 -- the caller's SQL
    )


_GAP = f"INTERVAL {GAP_MINUTES} MINUTE"
# Stored sessions a changed event may belong to, extend or bridge: those within the gap of
# the changed span (wider than needed when a visitor's changes are far apart: harmless).
_REOPENED = f"""
CREATE OR REPLACE TEMP TABLE wh_b_reopened AS
SELECT s.channel_id, s.visitor, s.started_at, s.ended_at
FROM wh_sessions s JOIN wh_b_touched t ON t.channel_id = s.channel_id AND t.visitor = s.visitor
WHERE s.ended_at >= t.lo - {_GAP} AND s.started_at <= t.hi + {_GAP}
"""  # noqa: S608 -- built of this module's constants
# What to sessionize again per visitor: the changed span and the reopened sessions. No
# other stored session lies in it, and every event in it is more than the gap away from
# the sessions kept (they are not within the gap of a change, and sessions are apart by
# more than the gap), so the sessions found there are exactly the visitor's new ones.
_SPANS = """
CREATE OR REPLACE TEMP TABLE wh_b_spans AS
SELECT t.channel_id, t.visitor,
       least(t.lo, coalesce(min(r.started_at), t.lo)) AS lo,
       greatest(t.hi, coalesce(max(r.ended_at), t.hi)) AS hi
FROM wh_b_touched t
LEFT JOIN wh_b_reopened r ON r.channel_id = t.channel_id AND r.visitor = t.visitor
GROUP BY t.channel_id, t.visitor, t.lo, t.hi
"""
_DELETE = """
DELETE FROM wh_sessions USING wh_b_reopened r
WHERE wh_sessions.channel_id = r.channel_id AND wh_sessions.visitor = r.visitor
  AND wh_sessions.started_at = r.started_at
"""
_SPAN_EVENTS = f"""
    SELECT e.channel_id, s.visitor, e.occurred_at, e.type, e.event
    FROM wh_events e
    JOIN wh_b_spans s ON s.channel_id = e.channel_id AND s.visitor = {visitor_sql("e")}
    WHERE e.occurred_at >= $since AND e.occurred_at <= $until
      AND e.occurred_at >= s.lo AND e.occurred_at <= s.hi"""  # noqa: S608 -- constants only
_INSERT = f"INSERT INTO wh_sessions {sessionize(_SPAN_EVENTS)}"


def update_sessions(conn: duckdb.DuckDBPyConnection) -> None:
    """Sessionize again what the changes recorded by `touch` concern (wh_events already
    holds the events as they now are), in the caller's transaction."""
    conn.execute(_REOPENED)
    conn.execute(_SPANS)
    row = conn.execute("SELECT min(lo), max(hi) FROM wh_b_spans").fetchone()
    if row is None or row[0] is None:
        return
    conn.execute(_DELETE)
    # The overall bounds let the scan skip row groups of other times.
    conn.execute(_INSERT, {"since": row[0], "until": row[1]})
