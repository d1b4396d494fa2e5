"""Square POS: the adapter against the loopback seller simulator.

Every published signature vector verifies (and its tampered variants are refused); every
published order payload is fetched with BatchRetrieveOrders and compared with figures
computed here from the payload's minor units; stock and prices are pushed through
429/500 periods and read back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnicart.catalog.tables import Variant
from omnicart.connectors import inbox, service
from omnicart.connectors.base import Connection, Inbound, PriceFigure, StockFigure, VendorItem
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.square import SquareLine, SquareSimulator
from omnicart.connectors.square import SquareAdapter, order_from_square, signature_valid
from omnicart.connectors.tables import InboxDelivery
from omnicart.db.engine import Database
from omnicart.inventory.stock import receive_stock
from omnicart.inventory.tables import StockLevel
from omnicart.kernel.errors import Unauthorized, ValidationFailed
from omnicart.orders.service import get_order
from omnicart.orders.tables import Order
from omnicart.orders.views import OrderView
from tests.support import add_channel, add_location, add_variant

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webhooks" / "square"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"vendor payloads absent: {DATA}")
ADAPTER = SquareAdapter()
HOOK_URL = "https://shop.example/webhooks/square/1"


@pytest.fixture(scope="module")
def seller() -> Iterator[tuple[SquareSimulator, str]]:
    sim = SquareSimulator()
    sim.load_published_orders()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def connection(sim: SquareSimulator, url: str, **options: str) -> Connection:
    return Connection(
        connector_id=1,
        channel_id=1,
        vendor="square",
        base_url=url,
        credentials={"access_token": sim.access_token, "signature_key": sim.signature_key},
        options={"location_id": sim.location_id, **options},
    )


def read(name: str) -> Any:
    return json.loads((DATA / name).read_text())


# --- signatures ----------------------------------------------------------------------

VECTORS = read("webhook_signature_vectors.json")["vectors"] if DATA.is_dir() else []


@pytest.mark.parametrize("vector", VECTORS, ids=[v.get("why", "valid") for v in VECTORS])
def test_every_published_vector_is_judged_as_square_says(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    valid = signature_valid(
        key=vector["signature_key"],
        url=vector["notification_url"],
        body=body,
        header=vector["signature_header"],
    )
    assert valid is vector["expected_valid"]
    conn = Connection(1, 1, "square", "", {"signature_key": vector["signature_key"]})
    arrived = Inbound(
        headers={"x-square-hmacsha256-signature": vector["signature_header"]},
        body=body,
        url=vector["notification_url"],
    )
    if vector["expected_valid"]:
        delivery = ADAPTER.verify(conn, arrived)
        payload = json.loads(body)
        assert (delivery.kind, delivery.delivery_id, delivery.external_order_id) == (
            "ping" if payload.get("type") == "webhooks.test_notification" else "ignored",
            payload.get("event_id") or "sha256:" + hashlib.sha256(body).hexdigest(),
            None,
        )
    else:
        with pytest.raises(Unauthorized):
            ADAPTER.verify(conn, arrived)


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["expected_valid"]])
def test_tampered_variants_of_valid_vectors_are_refused(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    header = vector["signature_header"]
    flipped = header[:-2] + ("A" if header[-2] != "A" else "B") + header[-1]
    variants = [
        ("body", body + b" ", vector["notification_url"], header, vector["signature_key"]),
        ("url", body, vector["notification_url"] + "/", header, vector["signature_key"]),
        ("header", body, vector["notification_url"], flipped, vector["signature_key"]),
        ("key", body, vector["notification_url"], header, vector["signature_key"] + "x"),
        ("empty", body, vector["notification_url"], "", vector["signature_key"]),
    ]
    for why, bad_body, url, bad_header, key in variants:
        conn = Connection(1, 1, "square", "", {"signature_key": key})
        with pytest.raises(Unauthorized):
            ADAPTER.verify(
                conn, Inbound({"x-square-hmacsha256-signature": bad_header}, bad_body, url)
            )
        assert why


def test_the_registered_notification_url_wins_over_the_one_reached(
    seller: tuple[SquareSimulator, str],
) -> None:
    sim, url = seller
    body = sim.event("CAISENgvlJ6jLWAzERDzjyHVybY", "order.updated")
    headers = sim.signed(HOOK_URL, body)
    behind_proxy = Inbound(headers, body, "http://10.0.0.7:8000/webhooks/square/1")
    with pytest.raises(Unauthorized):
        ADAPTER.verify(connection(sim, url), behind_proxy)
    delivery = ADAPTER.verify(connection(sim, url, notification_url=HOOK_URL), behind_proxy)
    assert (delivery.kind, delivery.topic, delivery.external_order_id) == (
        "order",
        "order.updated",
        "CAISENgvlJ6jLWAzERDzjyHVybY",
    )


# --- orders ----------------------------------------------------------------------------


def _published() -> list[tuple[str, dict[str, Any]]]:
    if not DATA.is_dir():
        return []
    found = [
        (name, read(name)["order"])
        for name in (
            "create-order-response.example.json",
            "retrieve-order-response.example.json",
            "update-order-response.example.json",
            "pay-order-response.example.json",
        )
    ]
    found += [
        (f"batch-retrieve[{i}]", o)
        for i, o in enumerate(read("batch-retrieve-orders-response.example.json")["orders"])
    ]
    return found


def _placeholders() -> list[tuple[str, dict[str, Any]]]:
    """Published order objects whose fields are the schema's placeholders ("quantity4")."""
    if not DATA.is_dir():
        return []
    found = [("order.example.json", read("order.example.json"))]
    found += [
        (f"search-orders[{i}]", o)
        for i, o in enumerate(read("search-orders-response.example.json")["orders"])
    ]
    return found


def usd(money: dict[str, Any] | None) -> Decimal:
    """A Square Money object in dollars (every published order is in USD: 2 decimals)."""
    if money is None:
        return Decimal(0)
    assert money["currency"] == "USD"
    return Decimal(money["amount"]) / 100


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize(("name", "payload"), _published(), ids=[n for n, _ in _published()])
def test_every_published_order_maps_to_its_own_figures(
    seller: tuple[SquareSimulator, str], http: httpx.Client, name: str, payload: dict[str, Any]
) -> None:
    sim, url = seller
    sim.put_order(payload)  # published orders share ids: serve this one
    conn = connection(sim, url)
    body = sim.event(payload["id"], "order.created")
    delivery = ADAPTER.verify(conn, Inbound(sim.signed(HOOK_URL, body), body, HOOK_URL))
    fetched = ADAPTER.order(conn, delivery, http)
    order = order_from_square(payload)
    assert order is not None, name
    # Only a completed order is a till sale; the others are mapped all the same.
    assert fetched == (order if payload.get("state") == "COMPLETED" else None)
    assert (order.external_id, order.currency) == (payload["id"], "USD")
    expected_lines = []
    for line in payload["line_items"]:
        quantity = int(line["quantity"])
        if "gross_sales_money" in line:
            unit = usd(line["gross_sales_money"]) / quantity
        else:
            unit = usd(line["base_price_money"]) + sum(
                (usd(m["base_price_money"]) for m in line.get("modifiers", [])), Decimal(0)
            )
        expected_lines.append(
            (
                line.get("catalog_object_id"),
                quantity,
                unit,
                usd(line.get("total_discount_money")),
                usd(line.get("total_tax_money")),
                usd(line["total_money"]),
            )
        )
    assert [
        (
            line.vendor_product_id,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.total,
        )
        for line in order.lines
    ] == expected_lines
    assert order.total == usd(payload["total_money"])
    assert order.tax_total == (
        usd(payload["total_tax_money"]) if "total_tax_money" in payload else None
    )
    assert order.discount_total == (
        usd(payload["total_discount_money"]) if "total_discount_money" in payload else None
    )
    assert order.shipping == usd(payload.get("total_service_charge_money")) + usd(
        payload.get("total_tip_money")
    )
    assert (order.discount, order.shipping_tax) == (Decimal(0), Decimal(0))
    assert order.cancelled is (payload.get("state") == "CANCELED")
    assert order.updated_at == (_time(payload["updated_at"]) if "updated_at" in payload else None)
    assert order.placed_at == (_time(payload["created_at"]) if "created_at" in payload else None)
    assert order.payments == tuple(
        (t["type"].lower(), usd(t["amount_money"])) for t in payload.get("tenders", [])
    )
    assert order.customer_ref == payload.get("customer_id")
    # The lines add up to the order's total, as Square computed it.
    assert (
        sum((line.total or Decimal(0) for line in order.lines), Decimal(0)) + order.shipping
        == order.total
    )


@pytest.mark.parametrize(("name", "payload"), _placeholders(), ids=[n for n, _ in _placeholders()])
def test_published_placeholder_orders_are_refused_naming_the_field(
    name: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        order_from_square(payload)
    assert refused.value.field in ("line_items.0.quantity", "total_money.currency"), name


def test_a_till_sale_is_taken_once_completed_and_an_open_one_cancelled_never(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    lines = [
        SquareLine("VAR-MUG", 2, 1250, tax=200),
        SquareLine("VAR-TEE", 1, 2000, discount=500),
    ]

    def fetched(order_id: str, event: str) -> Any:
        body = sim.event(order_id, event)
        delivery = ADAPTER.verify(conn, Inbound(sim.signed(HOOK_URL, body), body, HOOK_URL))
        return ADAPTER.order(conn, delivery, http)

    sim.add_order("SALE-1", lines, state="OPEN")
    assert fetched("SALE-1", "order.created") is None  # rung up, not paid yet
    sim.update_order("SALE-1", lines=lines[:1])
    sim.update_order("SALE-1", lines=lines, state="COMPLETED")
    sale = fetched("SALE-1", "order.updated")
    assert sale is not None
    assert [
        (
            line.vendor_product_id,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.total,
        )
        for line in sale.lines
    ] == [
        ("VAR-MUG", 2, Decimal("12.50"), Decimal("0.00"), Decimal("2.00"), Decimal("27.00")),
        ("VAR-TEE", 1, Decimal("20.00"), Decimal("5.00"), Decimal("0.00"), Decimal("15.00")),
    ]
    assert (sale.total, sale.tax_total, sale.discount_total) == (
        Decimal("42.00"),
        Decimal("2.00"),
        Decimal("5.00"),
    )
    assert sale.payments == (("cash", Decimal("42.00")),)
    assert not sale.cancelled
    sim.add_order("SALE-2", lines, state="OPEN")
    sim.update_order("SALE-2", state="CANCELED")
    assert fetched("SALE-2", "order.updated") is None
    assert order_from_square(sim.orders["SALE-2"]).cancelled


def test_a_draft_is_no_order_yet_and_a_missing_one_is_refused(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    sim.add_order("DRAFT-1", [SquareLine("VAR-MUG", 1, 100)], state="DRAFT")
    body = sim.event("DRAFT-1", "order.created")
    delivery = ADAPTER.verify(conn, Inbound(sim.signed(HOOK_URL, body), body, HOOK_URL))
    assert ADAPTER.order(conn, delivery, http) is None
    sim.orders.pop("DRAFT-1")
    with pytest.raises(VendorRefused):
        ADAPTER.order(conn, delivery, http)


def test_a_weighed_quantity_is_refused() -> None:
    order = {
        "id": "W1",
        "state": "COMPLETED",
        "total_money": {"amount": 150, "currency": "USD"},
        "line_items": [{"quantity": "1.5", "base_price_money": {"amount": 100, "currency": "USD"}}],
    }
    with pytest.raises(ValidationFailed) as refused:
        order_from_square(order)
    assert refused.value.field == "line_items.0.quantity"


def test_busy_or_down_is_retried_later(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    body = sim.event("lgwOlEityYPJtcuvKTVKT1pA986YY", "order.updated")  # a completed one
    delivery = ADAPTER.verify(conn, Inbound(sim.signed(HOOK_URL, body), body, HOOK_URL))
    sim.fail(429, count=1, retry_after=2)
    with pytest.raises(VendorUnavailable) as busy:
        ADAPTER.order(conn, delivery, http)
    assert busy.value.retry_after == 2.0
    sim.fail(500, count=1)
    with pytest.raises(VendorUnavailable):
        ADAPTER.order(conn, delivery, http)
    assert ADAPTER.order(conn, delivery, http) is not None
    with pytest.raises(VendorRefused):
        ADAPTER.order(Connection(1, 1, "square", url, {"access_token": "wrong"}), delivery, http)


# --- stock and prices ------------------------------------------------------------------


def test_stock_pushes_through_429_and_500_periods_and_reads_back(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    for variation in ("VAR-A", "VAR-B", "VAR-C"):
        sim.add_variation(variation, sku=variation.lower(), price=500)
    figures = [StockFigure("A", "VAR-A", None, 4), StockFigure("B", "VAR-B", None, 0)]
    sim.fail(429, count=2)
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            ADAPTER.push_stock(conn, http, figures)
    assert sim.count("VAR-A") is None
    sim.fail(500, seconds=0.3)
    with pytest.raises(VendorUnavailable):
        ADAPTER.push_stock(conn, http, figures)
    time.sleep(0.35)
    ADAPTER.push_stock(conn, http, figures)
    assert (sim.count("VAR-A"), sim.count("VAR-B")) == (4, 0)
    assert all(c["type"] == "PHYSICAL_COUNT" for c in sim.changes)
    sim.page_size = 1  # counts come back a page at a time, with a cursor
    try:
        items = [
            VendorItem("VAR-A", None, "A", None),
            VendorItem("VAR-B", None, "B", None),
            VendorItem("VAR-C", None, "C", None),
        ]
        assert ADAPTER.read_stock(conn, http, items) == {"A": 4, "B": 0, "C": 0}
    finally:
        sim.page_size = 100
    ADAPTER.push_stock(conn, http, [StockFigure("A", "VAR-A", None, 9)])
    assert sim.count("VAR-A") == 9


def test_a_count_older_than_the_one_held_does_not_replace_it(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    sim.add_variation("VAR-OLD", sku="old", price=100)
    ADAPTER.push_stock(connection(sim, url), http, [StockFigure("OLD", "VAR-OLD", None, 5)])
    late = {
        "idempotency_key": "late-1",
        "changes": [
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": "VAR-OLD",
                    "state": "IN_STOCK",
                    "location_id": sim.location_id,
                    "quantity": "50",
                    "occurred_at": "2020-01-01T00:00:00.000Z",
                },
            }
        ],
    }
    http.post(
        f"{url}/v2/inventory/changes/batch-create",
        json=late,
        headers={"Authorization": f"Bearer {sim.access_token}"},
    ).raise_for_status()
    assert sim.count("VAR-OLD") == 5


def test_stock_needs_the_location_option(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = Connection(1, 1, "square", url, {"access_token": sim.access_token})
    with pytest.raises(VendorRefused):
        ADAPTER.push_stock(conn, http, [StockFigure("A", "VAR-A", None, 1)])


def test_prices_upsert_the_variation_and_the_catalog_lists_it(
    seller: tuple[SquareSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    sim.add_variation("VAR-P", sku="PRICE-1", price=1500, upc="5901234123457")
    sim.fail(429, count=1)
    with pytest.raises(VendorUnavailable):
        ADAPTER.push_prices(conn, http, [PriceFigure("P", "VAR-P", None, Decimal("17.49"), "USD")])
    ADAPTER.push_prices(conn, http, [PriceFigure("P", "VAR-P", None, Decimal("17.49"), "USD")])
    assert sim.price("VAR-P") == 1749
    assert sim.catalog["VAR-P"]["version"] == 2
    with pytest.raises(VendorRefused):
        ADAPTER.push_prices(conn, http, [PriceFigure("Q", "VAR-NONE", None, Decimal(1), "USD")])
    sim.page_size = 1
    try:
        listed = {item.vendor_product_id: item for item in ADAPTER.catalog(conn, http)}
    finally:
        sim.page_size = 100
    assert (listed["VAR-P"].sku, listed["VAR-P"].gtin, listed["VAR-P"].price) == (
        "PRICE-1",
        "5901234123457",
        Decimal("17.49"),
    )


# --- end to end: the till → Omnicart's inbox → the order book → the seller's counts -------


@dataclass(frozen=True)
class Store:
    channel: int
    connector: int
    store: int


@pytest.fixture
def fresh_seller() -> Iterator[tuple[SquareSimulator, str]]:
    """A seller of this test's own (end-to-end tests change its counts)."""
    sim = SquareSimulator()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


def _store(db: Database, sim: SquareSimulator, url: str, *, stock: int = 10) -> Store:
    """A Kraków store whose tills are a USD POS channel selling MUG-1 and TEE-1, connected
    to the simulated seller; the seller's catalog maps both by SKU."""
    with db.transaction() as session:
        krk = add_location(session, "krk", kind="store", pickup=True)
        channel = add_channel(session, "sq-pos", kind="pos", currency="USD", pickup=(krk,))
        for sku in ("MUG-1", "TEE-1"):
            add_variant(session, sku)
    receive_stock(db, location_id=krk, lines=[("MUG-1", stock), ("TEE-1", stock)])
    sim.add_variation("VAR-MUG", sku="MUG-1", price=1250)
    sim.add_variation("VAR-TEE", sku="TEE-1", price=2000)
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel,
            vendor="square",
            credentials={"access_token": sim.access_token, "signature_key": sim.signature_key},
            options={"location_id": sim.location_id, "store": "krk", "notification_url": HOOK_URL},
            base_url=url,
        ),
    )
    with httpx.Client(timeout=10) as http:
        assert service.match_mapping(db, connector_id=view.id, http=http).matched == 2
    return Store(channel, view.id, krk)


def _deliver(db: Database, store: Store, sim: SquareSimulator, body: bytes) -> inbox.Receipt:
    """Receive an event as the webhook route does, at an address behind a proxy."""
    arrived = Inbound(
        {k.lower(): v for k, v in sim.signed(HOOK_URL, body).items()},
        body,
        f"http://10.0.0.7:8000/v1/connectors/{store.connector}/webhooks",
    )
    return inbox.receive(db, connector_id=store.connector, inbound=arrived)


def _order_of(db: Database, channel: int, external_id: str) -> OrderView | None:
    with db.reading() as session:
        found = session.scalar(
            select(Order.id).where(Order.channel_id == channel, Order.external_id == external_id)
        )
    return None if found is None else get_order(db, order_id=found)


def _on_hand(db: Database, location: int, sku: str) -> int:
    with db.reading() as session:
        return int(
            session.scalar(
                select(StockLevel.on_hand)
                .join(Variant, Variant.id == StockLevel.variant_id)
                .where(StockLevel.location_id == location, Variant.sku == sku)
            )
            or 0
        )


def test_a_completed_till_sale_reaches_the_order_book_once(
    fresh_seller: tuple[SquareSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_seller
    store = _store(sqlite_db, sim, url)
    lines = [SquareLine("VAR-MUG", 2, 1250, tax=200), SquareLine("VAR-TEE", 1, 2000, discount=500)]
    sim.add_order("SALE-1", lines, state="OPEN")
    created = _deliver(sqlite_db, store, sim, sim.event("SALE-1", "order.created"))
    service.process_until_idle(sqlite_db, http=http)
    assert created.status == "pending"
    assert _order_of(sqlite_db, store.channel, "SALE-1") is None  # rung up, not paid yet
    sim.update_order("SALE-1", state="COMPLETED")
    completed = sim.event("SALE-1", "order.updated")
    receipts = [_deliver(sqlite_db, store, sim, completed) for _ in range(10)]
    assert [r.duplicate for r in receipts] == [False] + [True] * 9
    service.process_until_idle(sqlite_db, http=http)
    sale = _order_of(sqlite_db, store.channel, "SALE-1")
    assert sale is not None
    assert (sale.status, sale.fulfilment_mode, sale.pickup_location_id) == (
        "completed",
        "in_store",
        store.store,
    )
    assert [
        (line.sku, line.quantity, line.unit_price, line.discount, line.tax) for line in sale.lines
    ] == [
        ("MUG-1", 2, Decimal("12.50"), Decimal("0.00"), Decimal("2.00")),
        ("TEE-1", 1, Decimal("20.00"), Decimal("5.00"), Decimal("0.00")),
    ]
    assert (sale.total, sale.paid, sale.tax_total, sale.discount_total) == (
        Decimal("42.00"),
        Decimal("42.00"),
        Decimal("2.00"),
        Decimal("5.00"),
    )
    # Handed over at the till: the store's shelf has two mugs and a tee fewer.
    assert (
        _on_hand(sqlite_db, store.store, "MUG-1"),
        _on_hand(sqlite_db, store.store, "TEE-1"),
    ) == (8, 9)
    # A later event of the same sale (a new version) takes nothing twice.
    sim.update_order("SALE-1", state="COMPLETED")
    _deliver(sqlite_db, store, sim, sim.event("SALE-1", "order.updated"))
    service.process_until_idle(sqlite_db, http=http)
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert _on_hand(sqlite_db, store.store, "MUG-1") == 8


def test_an_open_order_cancelled_at_the_till_never_becomes_a_sale(
    fresh_seller: tuple[SquareSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_seller
    store = _store(sqlite_db, sim, url)
    sim.add_order("SALE-2", [SquareLine("VAR-MUG", 1, 1250)], state="OPEN")
    _deliver(sqlite_db, store, sim, sim.event("SALE-2", "order.created"))
    sim.update_order("SALE-2", state="CANCELED")
    _deliver(sqlite_db, store, sim, sim.event("SALE-2", "order.updated"))
    service.process_until_idle(sqlite_db, http=http)
    assert _order_of(sqlite_db, store.channel, "SALE-2") is None
    with sqlite_db.reading() as session:
        assert [row.status for row in session.scalars(select(InboxDelivery))] == ["done", "done"]
    assert _on_hand(sqlite_db, store.store, "MUG-1") == 10


def test_a_forged_event_is_refused_and_nothing_is_stored(
    fresh_seller: tuple[SquareSimulator, str], sqlite_db: Database
) -> None:
    sim, url = fresh_seller
    store = _store(sqlite_db, sim, url)
    sim.add_order("SALE-3", [SquareLine("VAR-MUG", 1, 1250)])
    body = sim.event("SALE-3", "order.created")
    forged = Inbound(sim.signed(HOOK_URL, body), body.replace(b"SALE-3", b"SALE-4"), HOOK_URL)
    with pytest.raises(Unauthorized):
        inbox.receive(sqlite_db, connector_id=store.connector, inbound=forged)
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(InboxDelivery)) == 0


def test_the_sellers_counts_follow_the_stores_stock(
    fresh_seller: tuple[SquareSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_seller
    _store(sqlite_db, sim, url, stock=10)
    service.process_until_idle(sqlite_db, http=http)
    assert (sim.count("VAR-MUG"), sim.count("VAR-TEE")) == (10, 10)
