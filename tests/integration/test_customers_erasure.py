"""Erasure end to end: after `erase_customer` no personal value of the person remains in
the operational database, the DuckDB event store or its Parquet exports, while revenue
in both stays exactly what it was."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import orjson

from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.lookup import observe
from omnicart.customers.tables import CustomerPendingErasure
from omnicart.db.engine import Database
from omnicart.tracking.outbox import deliver_outbox
from tests.customers_support import (
    BUYER,
    EMAIL,
    NAME,
    PHONE,
    STREET,
    personal_values_left,
    revenue,
    seed,
    sync,
)
from tests.tracking_support import add_source, basic, stored, tracking_client

PERSONAL = [
    EMAIL,
    "ewa.kowalska@poczta.pl",
    "601234567",
    "601 234 567",
    BUYER,
    "LC-77",
    "LC77",
    "ewa-77",
    "dev-ewa",
    NAME,
    STREET,
]


def _track(db: Database, events_path: Path) -> None:
    _channel_id, _source_id, key = add_source(db, "site")
    calls = [
        (
            "identify",
            {
                "userId": "ewa-77",
                "anonymousId": "dev-ewa",
                "traits": {"email": EMAIL, "name": NAME, "phone": PHONE},
                "messageId": "m1",
            },
        ),
        ("track", {"anonymousId": "dev-ewa", "event": "Product Viewed", "messageId": "m2"}),
        ("track", {"userId": "jan-1", "event": "Product Viewed", "messageId": "m3"}),
    ]
    with tracking_client(db, events_path) as client:
        for kind, body in calls:
            response = client.post(
                f"/v1/{kind}",
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json", **basic(key)},
            )
            assert response.status_code == 200, response.text


def _store_hits(events_path: Path, exports: Path) -> list[tuple[str, str]]:
    """(where, value) for every personal value left in the store or its exports."""
    hits = []
    conn = duckdb.connect(str(events_path), read_only=True)
    try:
        columns = [
            name
            for name, kind, *_ in conn.execute("DESCRIBE events").fetchall()
            if kind == "VARCHAR"
        ]
        files = [str(p) for p in exports.rglob("*.parquet")]
        assert files
        for value in PERSONAL:
            for column in columns:
                found = conn.execute(
                    f"SELECT count(*) FROM events WHERE lower({column}) LIKE ?",
                    [f"%{value.lower()}%"],
                ).fetchone()
                if found and found[0]:
                    hits.append((f"events.{column}", value))
            for path in files:
                text = Path(path).read_bytes()
                if value.encode() in text or value.lower().encode() in text:
                    hits.append((path, value))
    finally:
        conn.close()
    return hits


def _store_revenue(events_path: Path) -> Decimal:
    conn = duckdb.connect(str(events_path), read_only=True)
    try:
        rows = conn.execute(
            "SELECT json_extract_string(properties, '$.total') FROM events "
            "WHERE event = 'Order Completed'"
        ).fetchall()
    finally:
        conn.close()
    return sum((Decimal(total) for (total,) in rows), Decimal(0))


def test_erasure_reaches_the_event_store_and_its_exports(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db = sqlite_db
    events_path, exports = tmp_path / "events.duckdb", tmp_path / "export"
    seed(db)
    sync(db)
    _track(db, events_path)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    with db.transaction() as session:  # what tracking's identify resolves
        assert (
            observe(
                session,
                identifiers=[("user_id", "ewa-77"), ("anonymous_id", "dev-ewa"), ("email", EMAIL)],
                channel_id=None,
                source="identify",
                traits={"name": NAME},
            )
            == ewa
        )
    with stored(events_path) as store:
        deliver_outbox(store, db=db)  # the app may have delivered them already
        store.export_parquet(exports)
    view = service.customer_360(db, customer_id=ewa, events_path=events_path)
    assert [(t.kind, t.name) for t in view.timeline or [] if t.kind == "event"] == [
        ("event", "Product Viewed"),
        ("event", "identify"),
    ]
    assert _store_hits(events_path, exports)  # the scan does find them before
    db_revenue, store_revenue = revenue(db), _store_revenue(events_path)
    assert store_revenue == Decimal("129.96")

    erased = erase_customer(db, customer_id=ewa, actor="dpo", events_path=events_path)

    assert erased.counts["events"] >= 2
    assert _store_hits(events_path, exports) == []
    assert personal_values_left(db, PERSONAL) == []
    assert revenue(db) == db_revenue
    assert _store_revenue(events_path) == store_revenue
    with db.reading() as session:
        assert session.get(CustomerPendingErasure, ewa) is None
    export = service.export_customer(db, customer_id=ewa, events_path=events_path)
    assert not any(v.lower() in str(export).lower() for v in PERSONAL)
