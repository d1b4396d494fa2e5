"""Erasure end to end: after `erase_customer` no personal value of the person remains in
the operational database, the DuckDB event store or its Parquet exports, while revenue
in both stays exactly what it was."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
from sqlalchemy import select

from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.lookup import observe
from omnicart.customers.tables import CustomerErasure, CustomerPendingErasure
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
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


def _outbox_naming(db: Database, values: list[str]) -> list[int]:
    """Ids of the outbox events whose payload holds one of the values (in any case)."""
    with db.reading() as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [
            e.id
            for e in events
            if any(v.lower() in orjson.dumps(e.payload).decode().lower() for v in values)
        ]


def test_the_erasure_log_counts_the_outbox_events_it_cleaned(db: Database) -> None:
    seed(db)
    sync(db)
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    naming = _outbox_naming(db, PERSONAL)
    assert len(naming) >= 2  # her marketplace order's events and her till sale's

    erased = erase_customer(db, customer_id=ewa, actor="dpo")

    assert _outbox_naming(db, PERSONAL) == []
    assert erased.counts["outbox_events"] == len(naming)
    with db.reading() as session:
        [log] = session.scalars(select(CustomerErasure).where(CustomerErasure.profile_id == ewa))
    assert log.counts["outbox_events"] == len(naming)


def test_erasure_reaches_a_loyalty_card_sent_as_a_trait_and_keeps_the_shops_codes(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db = sqlite_db
    root = tmp_path / "store"
    events_path = root / "events.duckdb"
    seed(db)  # her till sale names her loyalty card: card:LC-77
    sync(db)
    _, _, key = add_source(db, "app")
    calls = [
        {
            "userId": "ewa-77",
            "anonymousId": "dev-ewa",
            "traits": {"email": EMAIL, "loyalty_card": "LC-77"},
            "messageId": "c1",
        },
        {  # another device of hers, known only by her card (RudderStack's context.traits)
            "anonymousId": "dev-ewa-tablet",
            "context": {"traits": {"loyaltyCard": "lc 77"}},
            "messageId": "c2",
        },
    ]
    with tracking_client(db, events_path) as client:
        for body in calls:
            response = client.post(
                "/v1/identify",
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json", **basic(key)},
            )
            assert response.status_code == 200, response.text
    ewa = service.find_customer(db, kind="email", value=EMAIL)
    with db.transaction() as session:
        observe(
            session,
            identifiers=[("user_id", "ewa-77"), ("anonymous_id", "dev-ewa"), ("email", EMAIL)],
            channel_id=None,
            source="identify",
        )
    with stored(events_path) as store:
        deliver_outbox(store, db=db)
        routed = {e.message_id: e for e in store.find(source_id=0) if e.event == "Order Routed"}
        order_ids = {e.message_id: e.anonymous_id for e in store.find(source_id=0)}
    plans = {m: e.properties["plan"] for m, e in routed.items() if e.properties}
    assert plans
    assert all(p["location"] for plan in plans.values() for p in plan)
    scanned = [p for p in root.rglob("*") if p.is_file()]
    assert any(b"LC-77" in p.read_bytes() for p in scanned)

    erase_customer(db, customer_id=ewa, actor="dpo", events_path=events_path)

    for path in root.rglob("*"):  # the DuckDB file, its WAL, the spool
        if path.is_file():
            data = path.read_bytes().lower()
            for value in ("lc-77", "lc 77", "ewa-77", "dev-ewa", EMAIL.lower()):
                assert value.encode() not in data, (path, value)
    with stored(events_path) as store:
        after = {e.message_id: e for e in store.find()}
    assert after["c1"].traits == {}
    assert after["c2"].context == {"traits": {}}
    for message_id, plan in plans.items():  # warehouse and store codes are the shop's
        assert after[message_id].properties is not None
        assert after[message_id].properties["plan"] == plan
    for message_id, anonymous_id in order_ids.items():  # and so is the order's own id
        assert after[message_id].anonymous_id == anonymous_id
