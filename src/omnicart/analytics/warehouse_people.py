"""Who the model's orders and events are about: customer keys from identity resolution.

An order's customer is the profile identity resolution linked it to
(`customer_order_links`, followed to the surviving profile of any merge): `c<profile>`;
an order not linked but carrying a customer reference is `u<reference>`; one naming
nobody is NULL. A tracked event's customer is the profile holding its userId, else the
profile holding its anonymousId (`customer_identities`), else `u<userId>` / `a<anonymousId>`
(see `warehouse_store.customer_key_sql`).

These are bulk, read-only copies of the customers capability's tables (no service
function hands out whole identity maps). They are read again only when cheap
fingerprints say something changed: new or removed identities, a merge, new links.
Identities only ever move between profiles by a merge, and an erasure (which deletes
identities) rewrites the event store without the model, which is then built afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicart.analytics import sessions
from omnicart.analytics.import_files import CHUNK
from omnicart.analytics.sessions import visitor_sql
from omnicart.analytics.warehouse_store import customer_key_sql, people_joins
from omnicart.customers.tables import CustomerIdentity, CustomerOrderLink, CustomerProfile

KINDS = ("user_id", "anonymous_id")  # the identifiers tracked events carry


def fingerprints(session: Session) -> dict[str, str]:
    """What changes when the people behind the model's rows may have changed."""
    people = session.execute(
        select(func.count(), func.max(CustomerIdentity.id)).where(CustomerIdentity.kind.in_(KINDS))
    ).one()
    merges = session.scalar(
        select(func.count())
        .select_from(CustomerProfile)
        .where(CustomerProfile.merged_into.is_not(None))
    )
    links = session.execute(select(func.count(), func.max(CustomerOrderLink.order_id))).one()
    return {
        "people": f"{people[0]}:{people[1]}",
        "merges": str(merges),
        "links": f"{links[0]}:{links[1]}",
    }


def survivors(session: Session) -> dict[int, int]:
    """Every merged profile and the profile it now lives on."""
    rows = session.execute(
        select(CustomerProfile.id, CustomerProfile.merged_into).where(
            CustomerProfile.merged_into.is_not(None)
        )
    )
    merged: dict[int, int] = {profile_id: into for profile_id, into in rows if into is not None}
    resolved = {}
    for profile_id, first in merged.items():
        into, seen = first, {profile_id}
        while into in merged and into not in seen:  # a merge moves its profiles along
            seen.add(into)
            into = merged[into]
        resolved[profile_id] = into
    return resolved


def people(session: Session, moved: dict[int, int]) -> list[tuple[str, str, str]]:
    """(kind, value, customer_key) of every user id and device id a profile holds."""
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.profile_id).where(
            CustomerIdentity.kind.in_(KINDS)
        )
    )
    return [(kind, value, f"c{moved.get(p, p)}") for kind, value, p in rows]


def order_links(session: Session, order_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(order id, profile id) of those orders identity resolution has linked."""
    found: list[tuple[int, int]] = []
    for start in range(0, len(order_ids), CHUNK):
        chunk = order_ids[start : start + CHUNK]
        found.extend(
            (order_id, profile_id)
            for order_id, profile_id in session.execute(
                select(CustomerOrderLink.order_id, CustomerOrderLink.profile_id).where(
                    CustomerOrderLink.order_id.in_(chunk)
                )
            )
        )
    return found


def all_order_links(session: Session) -> list[tuple[int, int]]:
    """(order id, profile id) of every order identity resolution has linked."""
    query = select(CustomerOrderLink.order_id, CustomerOrderLink.profile_id)
    return [(order_id, profile_id) for order_id, profile_id in session.execute(query)]


def _register(conn: duckdb.DuckDBPyConnection, name: str, columns: dict[str, list[Any]]) -> None:
    conn.register(name, pa.table(columns))


def replace_survivors(conn: duckdb.DuckDBPyConnection, moved: dict[int, int]) -> int:
    """Store the merges and move orders keyed by a merged profile to its survivor; the
    orders re-keyed."""
    _register(conn, "wh_new_survivors", {"p": list(moved), "s": list(moved.values())})
    try:
        conn.execute("DELETE FROM wh_x_survivors")
        conn.execute(
            "INSERT INTO wh_x_survivors SELECT CAST(p AS BIGINT), CAST(s AS BIGINT) "
            "FROM wh_new_survivors"
        )
    finally:
        conn.unregister("wh_new_survivors")
    row = conn.execute(
        "UPDATE wh_x_orders SET customer_key = 'c' || s.survivor FROM wh_x_survivors s "
        "WHERE wh_x_orders.customer_key = 'c' || s.profile_id"
    ).fetchone()
    return int(row[0]) if row else 0


def replace_people(conn: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str]]) -> int:
    """Store the identity map and re-key the stored events whose userId or anonymousId
    now resolves differently, their sessions following them; the events re-keyed."""
    kinds, values, keys = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    _register(conn, "wh_new_people", {"kind": kinds, "value": values, "customer_key": keys})
    try:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE wh_b_changed AS "
            "SELECT coalesce(n.kind, o.kind) AS kind, coalesce(n.value, o.value) AS value "
            "FROM wh_new_people n FULL OUTER JOIN wh_x_people o "
            "ON n.kind = o.kind AND n.value = o.value "
            "WHERE n.customer_key IS DISTINCT FROM o.customer_key"
        )
        conn.execute("DELETE FROM wh_x_people")
        conn.execute(
            "INSERT INTO wh_x_people SELECT DISTINCT kind, value, customer_key FROM wh_new_people"
        )
    finally:
        conn.unregister("wh_new_people")
    changed = conn.execute("SELECT count(*) FROM wh_b_changed").fetchone()
    if not changed or not changed[0]:
        return 0
    # A key depends on (userId, anonymousId, channel) only: recompute it per distinct one.
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wh_b_rekeyed AS
        SELECT DISTINCT e.user_id, e.anonymous_id, e.channel_id, {customer_key_sql("e")} AS key
        FROM wh_x_events e {people_joins("e")}
        WHERE trim(e.user_id) IN (SELECT value FROM wh_b_changed WHERE kind = 'user_id')
           OR e.anonymous_id IN (SELECT value FROM wh_b_changed WHERE kind = 'anonymous_id')
        """  # noqa: S608
    )
    moved = (
        "FROM wh_x_events e JOIN wh_b_rekeyed k ON e.user_id IS NOT DISTINCT FROM k.user_id "
        "AND e.anonymous_id IS NOT DISTINCT FROM k.anonymous_id AND e.channel_id = k.channel_id "
        "WHERE e.customer_key IS DISTINCT FROM k.key"
    )
    # A moved event leaves its old visitor's sessions and joins its new visitor's.
    sessions.touch(
        conn,
        f"SELECT e.channel_id, {visitor_sql('e')} AS visitor, e.occurred_at {moved} "
        f"UNION ALL SELECT e.channel_id, coalesce(k.key, 'a' || e.anonymous_id), "
        f"e.occurred_at {moved}",
    )
    row = conn.execute(
        """
        UPDATE wh_x_events SET customer_key = k.key
        FROM wh_b_rekeyed k
        WHERE wh_x_events.user_id IS NOT DISTINCT FROM k.user_id
          AND wh_x_events.anonymous_id IS NOT DISTINCT FROM k.anonymous_id
          AND wh_x_events.channel_id = k.channel_id
          AND wh_x_events.customer_key IS DISTINCT FROM k.key
        """
    ).fetchone()
    sessions.update_sessions(conn)
    return int(row[0]) if row else 0


def unlinked_orders(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Orders that name somebody but are not (yet) keyed by a resolved customer."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT order_id FROM wh_x_orders WHERE named "
            "AND (customer_key IS NULL OR NOT starts_with(customer_key, 'c')) ORDER BY order_id"
        ).fetchall()
    ]


def link_orders(conn: duckdb.DuckDBPyConnection, links: list[tuple[int, int]]) -> int:
    """Key orders by the (surviving) profile they were linked to; the orders re-keyed."""
    if not links:
        return 0
    _register(conn, "wh_new_links", {"o": [o for o, _ in links], "p": [p for _, p in links]})
    try:
        row = conn.execute(
            "UPDATE wh_x_orders SET customer_key = k.key "
            "FROM (SELECT l.o, 'c' || coalesce(s.survivor, l.p) AS key FROM wh_new_links l "
            "      LEFT JOIN wh_x_survivors s ON s.profile_id = l.p) k "
            "WHERE wh_x_orders.order_id = k.o AND wh_x_orders.customer_key IS DISTINCT FROM k.key"
        ).fetchone()
    finally:
        conn.unregister("wh_new_links")
    return int(row[0]) if row else 0
