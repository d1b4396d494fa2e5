"""The analytic model inside the event store's DuckDB file: its objects, its progress, and
the SQL that turns one window of stored events into model rows.

Model tables are plain tables, except `wh_orders` and `wh_events`: those are views
(exactly the model's columns, in order) over work tables that also keep what a later
refresh needs to bring a row up to date — the userId behind an event, and an order's
customer reference and which of its events it reflects. `wh_x_state` records how far the
events were read (a rowid: the store only ever appends) and what was last copied from
the operational database. Nothing here is written but by the store's lock holder.
"""

from __future__ import annotations

import duckdb

from omnicart.analytics import line_costs
from omnicart.analytics.engine import model_columns
from omnicart.analytics.schema import TABLES
from omnicart.analytics.sessions import visitor_sql
from omnicart.customers.erasure import ERASED
from omnicart.customers.model import SHARED_DEVICE_CHANNEL_KINDS
from omnicart.tracking.outbox import OUTBOX_SOURCE_ID

# Raised whenever what the model's rows mean changes: a store built by another version
# is rebuilt from its first event.
MODEL_VERSION = "3"
WORK_TABLES = {
    "wh_orders": (
        "wh_x_orders",
        # the order's customer.ref, whether it names anybody (e-mail, phone or ref), and
        # the (time, outbox id) of the event its figures come from
        (
            "user_ref VARCHAR, named BOOLEAN NOT NULL, last_at TIMESTAMP NOT NULL, "
            "last_seq BIGINT NOT NULL"
        ),
    ),
    "wh_events": ("wh_x_events", "user_id VARCHAR"),
}
_HELPERS = {
    # identifiers (kind user_id or anonymous_id) and the customer_key they resolve to
    "wh_x_people": "kind VARCHAR NOT NULL, value VARCHAR NOT NULL, customer_key VARCHAR NOT NULL",
    # merged customer profiles and the profile they now live on
    "wh_x_survivors": "profile_id BIGINT NOT NULL, survivor BIGINT NOT NULL",
    "wh_x_state": "name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL",
}
MODEL_OBJECTS = (*TABLES, *(work for work, _ in WORK_TABLES.values()), *_HELPERS)


def state(conn: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """A recorded value of the model's progress, or None."""
    row = conn.execute("SELECT value FROM wh_x_state WHERE name = ?", [name]).fetchone()
    return None if row is None else str(row[0])


def set_state(conn: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    """Record a value of the model's progress (in the caller's transaction)."""
    conn.execute("INSERT OR REPLACE INTO wh_x_state VALUES (?, ?)", [name, str(value)])


def is_current(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store holds a model built by this version (an erasure's compaction,
    which rewrites the file with the events only, leaves none)."""
    try:
        return state(conn, "version") == MODEL_VERSION
    except duckdb.CatalogException:  # no wh_x_state table: no model at all
        return False


def rebuild(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop whatever model the store holds and create an empty one (in a transaction)."""
    kinds = dict(
        conn.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main'"
        ).fetchall()
    )
    for name in MODEL_OBJECTS:
        if kinds.get(name) == "VIEW":
            conn.execute(f"DROP VIEW {name}")
    for name in MODEL_OBJECTS:
        if kinds.get(name) == "BASE TABLE":
            conn.execute(f"DROP TABLE {name}")
    for name, body in TABLES.items():
        if name in WORK_TABLES:
            work, extra = WORK_TABLES[name]
            conn.execute(f"CREATE TABLE {work} ({body.strip()}, {extra})")
            columns = ", ".join(c.name for c in model_columns()[name])
            conn.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM {work}")  # noqa: S608
        else:
            conn.execute(f"CREATE TABLE {name} ({body.strip()})")
    for name, body in _HELPERS.items():
        conn.execute(f"CREATE TABLE {name} ({body})")
    set_state(conn, "version", MODEL_VERSION)


# --- who an event is about -------------------------------------------------------------

_SHARED = ", ".join(f"'{kind}'" for kind in sorted(SHARED_DEVICE_CHANNEL_KINDS))


def customer_key_sql(event: str) -> str:
    """The customer_key of an event row aliased `event` (with `user_id`, `anonymous_id`,
    `channel_id`), joined as `pu`/`pa` to wh_x_people and `ch` to wh_channels.

    A resolved person wins (by userId, then by device); else `u<userId>`, else
    `a<anonymousId>`. A device of a channel where devices are shared (a store's tablet)
    names nobody: strangers take turns on it. An erased person's events carry their
    pseudonym as userId and as device id alike (tracking/erasure.py): it names the
    person, `u<pseudonym>`, so their events still count as one person's.
    """
    shared = f"coalesce(ch.kind IN ({_SHARED}), FALSE)"
    return (
        f"CASE WHEN pu.customer_key IS NOT NULL THEN pu.customer_key "
        f"WHEN pa.customer_key IS NOT NULL AND NOT {shared} THEN pa.customer_key "
        f"WHEN nullif(trim({event}.user_id), '') IS NOT NULL THEN 'u' || trim({event}.user_id) "
        f"WHEN starts_with({event}.anonymous_id, '{ERASED}-') THEN 'u' || {event}.anonymous_id "
        f"WHEN {event}.anonymous_id IS NOT NULL AND NOT {shared} "
        f"THEN 'a' || {event}.anonymous_id END"
    )


def people_joins(event: str) -> str:
    """The joins `customer_key_sql` needs."""
    return (
        f"LEFT JOIN wh_x_people pu ON pu.kind = 'user_id' "
        f"AND pu.value = trim({event}.user_id) "
        f"LEFT JOIN wh_x_people pa ON pa.kind = 'anonymous_id' "
        f"AND pa.value = {event}.anonymous_id "
        f"LEFT JOIN wh_channels ch ON ch.channel_id = {event}.channel_id"
    )


# --- one window of stored events --------------------------------------------------------

MONEY = "DECIMAL(18, 4)"
# The parts of the order book's payloads the model reads (orders.views.segment_order, a
# refund's `total` and `return_id`, a return's products), parsed once per event. Amounts
# are decimal strings: read as text, then cast exactly.
_PAYLOAD = (
    '{"channel_id": "BIGINT", "currency": "VARCHAR", "source": "VARCHAR", '
    '"subtotal": "VARCHAR", "discount": "VARCHAR", "tax": "VARCHAR", "shipping": "VARCHAR", '
    '"total": "VARCHAR", "return_id": "BIGINT", '
    '"customer": {"email": "VARCHAR", "phone": "VARCHAR", "ref": "VARCHAR"}, '
    '"products": [{"sku": "VARCHAR", "price": "VARCHAR", "quantity": "BIGINT", '
    '"position": "BIGINT", "reason": "VARCHAR"}]}'
)
# What a tracked event's context says of where the visitor came from (a part of another
# shape, say a campaign sent as text, reads as NULL).
_CONTEXT = (
    '{"campaign": {"source": "VARCHAR", "medium": "VARCHAR", "name": "VARCHAR"}, '
    '"page": {"referrer": "VARCHAR"}}'
)
_ORDER_EVENTS = (
    "'Order Completed', 'Order Updated', 'Order Cancelled', 'Order Refunded', 'Return Received'"
)


def _money(field: str, payload: str = "p") -> str:
    return f"CAST({payload}.{field} AS {MONEY})"


WINDOW_SQL = (
    # The order book's events of the window (source 0: the outbox).
    f"""
CREATE OR REPLACE TEMP TABLE wh_b_order_events AS
SELECT CAST(substr(anonymous_id, 7) AS BIGINT) AS order_id, event,
       timezone('UTC', timestamp) AS event_at, CAST(substr(message_id, 8) AS BIGINT) AS seq,
       from_json(properties, '{_PAYLOAD}') AS p
FROM events
WHERE rowid >= $lo AND rowid < $hi AND source_id = {OUTBOX_SOURCE_ID}
  AND event IN ({_ORDER_EVENTS}) AND regexp_full_match(anonymous_id, 'order-[0-9]{{1,18}}')
""",  # noqa: S608
    # Each order's latest state in the window, and when it was completed (if it was).
    """
CREATE OR REPLACE TEMP TABLE wh_b_states AS
SELECT order_id, event_at AS last_at, seq AS last_seq, p,
       min(event_at) FILTER (WHERE event = 'Order Completed') OVER (PARTITION BY order_id)
           AS completed_at
FROM wh_b_order_events
WHERE event IN ('Order Completed', 'Order Updated')
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY event_at DESC, seq DESC) = 1
""",
    # Orders whose row is new or older than the window's state, as the row to store.
    f"""
CREATE OR REPLACE TEMP TABLE wh_b_orders AS
SELECT s.order_id, s.p.channel_id AS channel_id,
       coalesce(x.ordered_at, s.completed_at, s.last_at) AS ordered_at,
       s.p.currency AS currency,
       CASE WHEN starts_with(x.customer_key, 'c') THEN x.customer_key
            WHEN nullif(s.p.customer.ref, '') IS NOT NULL THEN 'u' || s.p.customer.ref
       END AS customer_key,
       s.p.source AS source,
       {_money("subtotal", "s.p")} AS gross,
       {_money("discount", "s.p")} AS discount,
       {_money("tax", "s.p")} AS tax,
       {_money("shipping", "s.p")} AS shipping,
       {_money("total", "s.p")} AS total,
       s.p.products AS products,
       x.cancelled_at,
       nullif(s.p.customer.ref, '') AS user_ref,
       coalesce(nullif(s.p.customer.email, ''), nullif(s.p.customer.phone, ''),
                nullif(s.p.customer.ref, '')) IS NOT NULL AS named,
       s.last_at, s.last_seq
FROM wh_b_states s LEFT JOIN wh_x_orders x USING (order_id)
WHERE x.order_id IS NULL OR s.last_at > x.last_at
   OR (s.last_at = x.last_at AND s.last_seq > x.last_seq)
""",  # noqa: S608
    "DELETE FROM wh_x_orders WHERE order_id IN (SELECT order_id FROM wh_b_orders)",
    """
INSERT INTO wh_x_orders
SELECT order_id, channel_id, ordered_at, currency, customer_key, source, gross, discount,
       tax, shipping, total, coalesce(list_sum([l.quantity FOR l IN products]), 0),
       cancelled_at, user_ref, named, last_at, last_seq
FROM wh_b_orders
""",
    "DELETE FROM wh_order_lines WHERE order_id IN (SELECT order_id FROM wh_b_orders)",
    f"""
INSERT INTO wh_order_lines
SELECT order_id, line.position, line.sku, line.quantity, CAST(line.price AS {MONEY})
FROM (SELECT order_id, unnest(products) AS line FROM wh_b_orders)
""",  # noqa: S608
    """
UPDATE wh_x_orders SET cancelled_at = c.event_at
FROM (SELECT order_id, min(event_at) AS event_at FROM wh_b_order_events
      WHERE event = 'Order Cancelled' GROUP BY order_id) c
WHERE wh_x_orders.order_id = c.order_id
  AND (wh_x_orders.cancelled_at IS NULL OR c.event_at < wh_x_orders.cancelled_at)
""",
    f"""
INSERT INTO wh_refunds
SELECT order_id, event_at, {_money("total")}, p.currency, p.return_id
FROM wh_b_order_events WHERE event = 'Order Refunded'
""",  # noqa: S608
    """
INSERT INTO wh_returns
SELECT order_id, return_id, event_at, line.sku, line.quantity, line.reason
FROM (SELECT order_id, p.return_id AS return_id, event_at, unnest(p.products) AS line
      FROM wh_b_order_events WHERE event = 'Return Received')
""",
    # The lines of the window's orders, costed again as the window left them.
    *line_costs.WINDOW_SQL,
    # Tracked behaviour: every event but the outbox's (kept a while: sessions follow it).
    f"""
CREATE OR REPLACE TEMP TABLE wh_b_tracked AS
SELECT e.occurred_at, e.channel_id, {customer_key_sql("e")} AS customer_key, e.anonymous_id,
       e.type, e.event, e.c.campaign.source, e.c.campaign.medium, e.c.campaign.name,
       e.c.page.referrer, e.order_id, e.user_id
FROM (SELECT timezone('UTC', timestamp) AS occurred_at, channel_id, anonymous_id, type, event,
             from_json(context, '{_CONTEXT}') AS c,
             CASE WHEN event = 'Order Completed'
                   AND regexp_full_match(properties->>'$.order_id', '[0-9]{{1,18}}')
                  THEN CAST(properties->>'$.order_id' AS BIGINT) END AS order_id,
             user_id
      FROM events
      WHERE rowid >= $lo AND rowid < $hi AND source_id <> {OUTBOX_SOURCE_ID}) e
{people_joins("e")}
""",  # noqa: S608
    "INSERT INTO wh_x_events SELECT * FROM wh_b_tracked",
)
# The window's tracked events, for `sessions.touch`.
WINDOW_TRACKED = (
    f"SELECT channel_id, {visitor_sql('t')} AS visitor, occurred_at FROM wh_b_tracked AS t"  # noqa: S608
)
