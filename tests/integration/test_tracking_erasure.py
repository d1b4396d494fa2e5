"""Erasure: after `erase_people` no personal value of the person is left in the event
store, its spool or its Parquet exports, while every aggregate stays the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import orjson
import pytest

from omnicart.db.engine import Database
from omnicart.orders import service
from omnicart.orders.model import Customer
from omnicart.tracking.erasure import erase_people
from omnicart.tracking.flusher import open_current_store
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.store import open_store, spool_dir
from tests.orders_support import market_order, seed_shop
from tests.tracking_support import add_source

ANN = Customer(email="ann.smith@example.com", phone="+48 600 100 200", ref="cust-ann-42")
PERSONAL = (
    "ann.smith@example.com",
    "ANN.SMITH@EXAMPLE.COM",
    "600 100 200",
    "600-100-200",
    "Ann Smith",
    "Smithfield Road 7",
    "user-ann-42",
    "device-ann-42",
    "cust-ann-42",
    "10.9.8.7",
)
SQL_TEXT = "SELECT string_agg(COLUMNS(*)::VARCHAR, '|') FROM {table}"


def _messages() -> list[dict[str, object]]:
    ann_context = {"ip": "10.9.8.7", "traits": {"email": "ANN.SMITH@EXAMPLE.COM"}}
    return [
        {
            "type": "identify",
            "userId": "user-ann-42",
            "messageId": "ann-1",
            "traits": {
                "email": "ann.smith@example.com",
                "name": "Ann Smith",
                "phone": "+48 600-100-200",
                "address": {"street": "Smithfield Road 7", "city": "Kraków"},
                "plan": "gold",
            },
        },
        {
            "type": "track",
            "anonymousId": "device-ann-42",
            "event": "Order Completed",
            "messageId": "ann-2",
            "context": ann_context,
            "properties": {
                "order_id": "W-1",
                "revenue": 38.5,
                "currency": "EUR",
                "note": "call 600 100 200 before delivery",
                "products": [{"sku": "A", "name": "Tee", "price": 38.5, "quantity": 1}],
            },
        },
        {
            "type": "alias",
            "userId": "user-ann-42",
            "previousId": "device-ann-42",
            "messageId": "ann-3",
        },
        {
            "type": "track",
            "userId": "user-bob",
            "event": "Order Completed",
            "messageId": "bob-1",
            "context": {"ip": "10.0.0.1"},
            "properties": {"order_id": "W-2", "revenue": 10.0, "currency": "EUR"},
        },
    ]


def _revenue(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT event, sum(CAST(json_extract_string(properties, '$.revenue') AS DECIMAL(18, 2))), "
        f"count(*) FROM {source} WHERE type = 'track' GROUP BY event ORDER BY event"
    ).fetchall()


def _files_hold(root: Path, value: str) -> list[str]:
    needle = value.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_erasure_leaves_no_personal_value_and_keeps_aggregates(
    sqlite_db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(sqlite_db)
    _, _, key = add_source(sqlite_db, "site")
    order = market_order(shop, "M-1", [("A", 2)])
    service.ingest_order(
        sqlite_db, dataclasses.replace(order, draft=dataclasses.replace(order.draft, customer=ANN))
    )
    root = tmp_path / "store"
    events = root / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events, flush=False)
    ingestor.accept_sync(
        body=orjson.dumps({"batch": _messages()}), kind="batch", write_key=key
    )  # the writer stays open: its live segment still holds Ann's events
    export = root / "exports" / "2026"
    try:
        with open_current_store(events, db=sqlite_db) as store:
            store.export_parquet(export)
            before = _revenue(store.conn, "events")
            total = store.count()
            ann_events = store.count() - len(store.find(user_id="user-bob"))
            ann_events -= store.count(source_id=0) - len(
                [e for e in store.find(source_id=0) if e.user_id == "cust-ann-42"]
            )
        assert _files_hold(spool_dir(events), "ann.smith@example.com")

        erased = erase_people(
            events,
            user_ids=["user-ann-42", "cust-ann-42"],
            anonymous_ids=["device-ann-42"],
            emails=["Ann.Smith@example.com"],
            phones=["+48 600 100 200"],
            pseudonym="erased-7f3a",
        )
        assert erased == ann_events

        with open_store(events) as store:
            assert store.count() == total
            assert _revenue(store.conn, "events") == before
            parquet = f"read_parquet('{export}/*/*.parquet', hive_partitioning = true)"
            assert _revenue(store.conn, parquet) == before
            tables = ("events", "spool_progress", "feed_progress", "exports", parquet)
            text = " ".join(
                str(store.conn.execute(SQL_TEXT.format(table=t)).fetchall()) for t in tables
            )
            [bob] = store.find(user_id="user-bob")
            identify = store.find(message_id="ann-1")[0]
        for value in PERSONAL:
            assert value.lower() not in text.lower(), text[
                max(0, text.lower().find(value.lower()) - 300) :
            ][:400]
            assert _files_hold(root, value) == [], value
        assert bob.context == {"ip": "10.0.0.1"}  # others are untouched
        assert identify.user_id == "erased-7f3a"
        assert identify.traits == {"plan": "gold"}
        assert "erased-7f3a" in text
        assert (
            erase_people(
                events,
                user_ids=["user-ann-42"],
                anonymous_ids=[],
                emails=[],
                phones=[],
                pseudonym="erased-7f3a",
            )
            == 0
        )
    finally:
        ingestor.stop()


def test_a_pseudonym_is_required(tmp_path: Path) -> None:
    from omnicart.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        erase_people(
            tmp_path / "e.duckdb",
            user_ids=["u"],
            anonymous_ids=[],
            emails=[],
            phones=[],
            pseudonym=" ",
        )


CARD = "LC-5512-0077"  # as the app sends it; identity resolution keeps it as LC55120077


def _raw_bytes_hold(root: Path, value: str) -> list[str]:
    """Files under root (the DuckDB file, its WAL, the spool) holding the value as sent or
    in its compact form, in any case."""
    needles = {value.lower().encode(), value.upper().encode(), value.replace("-", "").encode()}
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and any(n in p.read_bytes().lower() for n in {x.lower() for x in needles})
    ]


def test_erasure_reaches_identifying_traits_and_keeps_the_shops_data(
    sqlite_db: Database, tmp_path: Path
) -> None:
    shop = seed_shop(sqlite_db)
    _, _, key = add_source(sqlite_db, "site")
    order = market_order(shop, "M-7", [("A", 1)])
    order_id = service.ingest_order(
        sqlite_db, dataclasses.replace(order, draft=dataclasses.replace(order.draft, customer=ANN))
    ).id
    root = tmp_path / "store"
    events = root / "events.duckdb"
    ingestor = Ingestor(db=sqlite_db, events_path=events, flush=False)
    messages = [
        {
            "type": "identify",
            "userId": "user-ann-42",
            "messageId": "card-1",
            "traits": {"loyalty_card": CARD, "plan": "gold"},
        },
        {  # RudderStack's clients put an identify's traits in context.traits
            "type": "identify",
            "userId": "user-ann-42",
            "messageId": "card-2",
            "context": {"traits": {"loyaltyCard": CARD.lower()}, "location": {"city": "Opole"}},
        },
        {
            "type": "track",
            "userId": "user-ann-42",
            "event": "Coupon Entered",
            "messageId": "card-3",
            "properties": {"coupon_id": "SPRING", "card": CARD},
        },
    ]
    ingestor.accept_sync(body=orjson.dumps({"batch": messages}), kind="batch", write_key=key)
    try:
        with open_current_store(events, db=sqlite_db) as store:
            order_events = {e.message_id: e for e in store.find(source_id=0)}
        routed = [e for e in order_events.values() if e.event == "Order Routed"]
        assert routed
        plans = {e.message_id: e.properties["plan"] for e in routed if e.properties}
        locations = sorted(p["location"] for plan in plans.values() for p in plan)
        assert locations  # warehouse / store codes, such as the Warsaw warehouse's
        assert _raw_bytes_hold(root, CARD)

        erased = erase_people(
            events,
            user_ids=["user-ann-42", "cust-ann-42"],
            anonymous_ids=[],
            emails=["ann.smith@example.com"],
            phones=[],
            pseudonym="erased-c4rd",
            identifiers=["LC55120077"],
        )

        assert erased == 3 + len(order_events)
        assert _raw_bytes_hold(root, CARD) == []
        assert _raw_bytes_hold(root, "Opole") == []
        with open_store(events) as store:
            after = {e.message_id: e for e in store.find()}
        assert after["card-1"].traits == {"plan": "gold"}
        assert after["card-2"].context == {"traits": {}}
        assert after["card-3"].properties == {"coupon_id": "SPRING"}
        for message_id, plan in plans.items():
            assert after[message_id].properties is not None
            assert after[message_id].properties["plan"] == plan  # the shop's codes stay
        for message_id in order_events:  # the order's own id is not the person's
            assert after[message_id].anonymous_id == f"order-{order_id}"
            assert after[message_id].user_id == "erased-c4rd"
    finally:
        ingestor.stop()
