"""BigCommerce: the adapter against the loopback store simulator.

Signatures are checked with the Standard Webhooks reference library; every published
order payload is fetched through the adapter and compared with figures computed here
from the payload files themselves; stock and prices are pushed through 429/500 periods.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from omnicart.connectors import inbox, service
from omnicart.connectors.base import Connection, Inbound, PriceFigure, StockFigure, VendorItem
from omnicart.connectors.bigcommerce import BigCommerceAdapter
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import MappingEntry
from omnicart.connectors.simulators.bigcommerce import BigCommerceSimulator, SimLine
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.tables import InboxDelivery
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability
from omnicart.inventory.stock import receive_stock
from omnicart.kernel.errors import Unauthorized, ValidationFailed
from omnicart.orders.service import get_order
from omnicart.orders.tables import Order
from omnicart.orders.views import OrderView
from tests.support import add_channel, add_location, add_variant

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webhooks" / "bigcommerce"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"vendor payloads absent: {DATA}")
ADAPTER = BigCommerceAdapter()


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[BigCommerceSimulator, str]]:
    sim = BigCommerceSimulator()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def fresh_store() -> Iterator[tuple[BigCommerceSimulator, str]]:
    """A store of this test's own (end-to-end tests change its stock)."""
    sim = BigCommerceSimulator()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def connection(sim: BigCommerceSimulator, url: str, **options: str) -> Connection:
    return Connection(
        connector_id=1,
        channel_id=1,
        vendor="bigcommerce",
        base_url=sim.api_root(url),
        credentials={"access_token": sim.access_token, "client_secret": sim.client_secret},
        options=options,
    )


def inbound(headers: dict[str, str], body: bytes) -> Inbound:
    return Inbound(
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        url="https://shop.example/webhooks/bigcommerce/1",
    )


def read(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


# --- signatures ----------------------------------------------------------------------

WEBHOOK_FILES = sorted(p.name for p in DATA.glob("webhook_*.json")) if DATA.is_dir() else []


@pytest.mark.parametrize("name", WEBHOOK_FILES)
def test_every_published_webhook_signed_by_the_store_verifies(
    store: tuple[BigCommerceSimulator, str], name: str
) -> None:
    sim, url = store
    payload = read(name)
    body = json.dumps(payload).encode()
    msg_id = f"msg_{name}"
    now = datetime.now(UTC)
    # Signed as BigCommerce does: Standard Webhooks with the base64 of the client secret.
    key = base64.b64encode(sim.client_secret.encode()).decode()
    signature = Webhook(key).sign(msg_id, now, body.decode())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    delivery = ADAPTER.verify(connection(sim, url), inbound(headers, body))
    expected_kind = {
        "store/order/archived": "cancel",
        "store/order/refund/created": "refund",
    }.get(payload["scope"], "order")
    assert (delivery.delivery_id, delivery.topic, delivery.kind) == (
        msg_id,
        payload["scope"],
        expected_kind,
    )
    assert delivery.external_order_id == str(payload["data"]["id"])
    assert delivery.payload == payload


def test_the_simulators_deliveries_verify_with_the_reference_library(
    store: tuple[BigCommerceSimulator, str],
) -> None:
    sim, url = store
    headers, body = sim.webhook("store/order/updated", 250)
    key = base64.b64encode(sim.client_secret.encode()).decode()
    assert Webhook(key).verify(body, headers)["data"]["id"] == 250
    delivery = ADAPTER.verify(connection(sim, url), inbound(headers, body))
    assert (delivery.kind, delivery.external_order_id) == ("order", "250")


def _tampered(headers: dict[str, str], body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    old = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    return [
        ("body changed", headers, body.replace(b"250", b"251")),
        ("signature changed", {**headers, "webhook-signature": "v1," + "A" * 44}, body),
        ("signature garbled", {**headers, "webhook-signature": "garbage"}, body),
        ("id changed", {**headers, "webhook-id": "msg_other"}, body),
        ("timestamp changed", {**headers, "webhook-timestamp": str(old)}, body),
        ("no signature", {k: v for k, v in headers.items() if k != "webhook-signature"}, body),
    ]


def test_tampered_deliveries_are_refused(store: tuple[BigCommerceSimulator, str]) -> None:
    sim, url = store
    headers, body = sim.webhook("store/order/created", 250)
    for why, bad_headers, bad_body in _tampered(headers, body):
        with pytest.raises(Unauthorized):
            ADAPTER.verify(connection(sim, url), inbound(bad_headers, bad_body))
        assert why
    other = Connection(1, 1, "bigcommerce", "", {"client_secret": "another-secret"})
    with pytest.raises(Unauthorized):
        ADAPTER.verify(other, inbound(headers, body))


def test_a_signed_body_that_is_not_json_is_a_validation_error(
    store: tuple[BigCommerceSimulator, str],
) -> None:
    sim, url = store
    now = datetime.now(UTC)
    body = "{not json"
    signature = Webhook(base64.b64encode(sim.client_secret.encode()).decode()).sign("m1", now, body)
    headers = {
        "webhook-id": "m1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    with pytest.raises(ValidationFailed):
        ADAPTER.verify(connection(sim, url), inbound(headers, body.encode()))


# --- orders ----------------------------------------------------------------------------


def _published_orders() -> list[tuple[str, dict[str, Any]]]:
    if not DATA.is_dir():
        return []
    found = [
        ("order_Resp_Response", read("orders_v2_order_Resp_Response.json")),
        ("order_Resp_Multiple_Items", read("orders_v2_order_Resp_Multiple_Items.json")),
    ]
    found += [
        (f"orderCollection[{i}]", o)
        for i, o in enumerate(read("orders_v2_orderCollection_Resp_response.json"))
    ]
    return found


def _expected_charges(order: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """Shipping, handling, wrapping and fees excluding tax, and their tax."""
    kinds = ("shipping", "handling", "wrapping")
    charges = sum((dec(order[f"{k}_cost_ex_tax"]) for k in kinds), Decimal(0))
    tax = sum((dec(order[f"{k}_cost_tax"]) for k in kinds), Decimal(0))
    for fee in order.get("fees", []):
        charges += dec(fee.get("cost_ex_tax", fee.get("cost_exc_tax")))
        tax += dec(fee["cost_tax"])
    return charges, tax


@pytest.mark.parametrize(
    ("name", "payload"), _published_orders(), ids=[n for n, _ in _published_orders()]
)
def test_every_published_order_maps_to_its_own_figures(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client, name: str, payload: dict[str, Any]
) -> None:
    sim, url = store
    sim.load_published_orders()
    headers, body = sim.webhook("store/order/created", payload["id"])
    delivery = ADAPTER.verify(connection(sim, url), inbound(headers, body))
    order = ADAPTER.order(connection(sim, url), delivery, http)
    assert order is not None, name
    products = read("orders_v2_orderProductsCollection_Resp_response.json")
    address = read("orders_v2_orderShippingAddressCollection_Resp_response.json")[0]
    assert order.external_id == str(payload["id"])
    # The transactional currency (one published order misspells its display currency key).
    assert order.currency == payload["default_currency_code"]
    assert [
        (
            line.vendor_product_id,
            line.sku,
            line.gtin,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.total,
        )
        for line in order.lines
    ] == [
        (
            str(p["product_id"]),
            p["sku"],
            p.get("upc"),
            p["quantity"],
            dec(p["price_ex_tax"]),
            sum((dec(d["amount"]) for d in p["applied_discounts"]), Decimal(0)),
            dec(p["total_tax"]),
            dec(p["discounted_total_inc_tax"]),
        )
        for p in products
    ]
    charges, charge_tax = _expected_charges(payload)
    assert (order.shipping, order.shipping_tax) == (charges, charge_tax)
    assert order.subtotal == dec(payload["subtotal_ex_tax"])
    assert order.tax_total == dec(payload["total_tax"])
    assert order.total == dec(payload["total_inc_tax"])
    assert order.taxes_included is payload["is_tax_inclusive_pricing"]
    assert order.cancelled is (payload["status_id"] in (5, 6))
    assert order.updated_at == parsedate_to_datetime(payload["date_modified"])
    assert order.placed_at == parsedate_to_datetime(payload["date_created"])
    assert order.email == payload["billing_address"]["email"]
    assert order.address == {
        "name": f"{address['first_name']} {address['last_name']}",
        "line1": address["street_1"],
        "city": address["city"],
        "postal_code": address["zip"],
        "country": address["country_iso2"],
    }
    paid = payload["payment_status"] == "captured"
    assert order.payments == (
        ((payload["payment_method"], dec(payload["total_inc_tax"])),) if paid else ()
    )


def test_a_consistent_order_its_update_and_its_cancellation(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    lines = [
        SimLine(
            product_id=77,
            variant_id=501,
            sku="MUG-1",
            quantity=2,
            price=Decimal("12.50"),
            tax=Decimal("2.00"),
        ),
        SimLine(
            product_id=78,
            variant_id=502,
            sku="TEE-1",
            quantity=1,
            price=Decimal("20.00"),
            discount=Decimal("5.00"),
        ),
    ]
    sim.add_order(9001, lines, shipping=Decimal("4.99"), shipping_tax=Decimal("0.40"))
    conn = connection(sim, url)
    created = ADAPTER.order(
        conn, ADAPTER.verify(conn, inbound(*sim.webhook("store/order/created", 9001))), http
    )
    assert created is not None
    assert [
        (
            line.sku,
            line.vendor_variant_id,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.total,
        )
        for line in created.lines
    ] == [
        ("MUG-1", "501", 2, Decimal("12.5000"), Decimal(0), Decimal("2.0000"), Decimal("27.0000")),
        ("TEE-1", "502", 1, Decimal("20.0000"), Decimal("5.0000"), Decimal(0), Decimal("15.0000")),
    ]
    assert (
        created.subtotal,
        created.shipping,
        created.shipping_tax,
        created.tax_total,
        created.total,
    ) == (
        Decimal("45.0000"),
        Decimal("4.9900"),
        Decimal("0.4000"),
        Decimal("2.4000"),
        Decimal("47.3900"),  # 27 + 15 + 4.99 + 0.40
    )
    assert created.payments == (("Cash", Decimal("47.3900")),)
    assert not created.cancelled
    sim.update_order(9001, lines=lines[:1])
    updated = ADAPTER.order(
        conn, ADAPTER.verify(conn, inbound(*sim.webhook("store/order/updated", 9001))), http
    )
    assert updated is not None
    assert [line.sku for line in updated.lines] == ["MUG-1"]
    assert created.updated_at is not None
    assert updated.updated_at is not None
    assert updated.updated_at > created.updated_at
    sim.update_order(9001, status_id=5)
    cancelled = ADAPTER.order(
        conn, ADAPTER.verify(conn, inbound(*sim.webhook("store/order/statusUpdated", 9001))), http
    )
    assert cancelled is not None
    assert cancelled.cancelled


def test_an_archived_order_is_a_cancellation(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    sim.add_order(
        9002, [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=1, price=Decimal(10))]
    )
    sim.archive_order(9002)
    conn = connection(sim, url)
    delivery = ADAPTER.verify(conn, inbound(*sim.webhook("store/order/archived", 9002)))
    order = ADAPTER.order(conn, delivery, http)
    assert delivery.kind == "cancel"
    assert order is not None
    assert order.cancelled


def test_a_refund_carries_its_amount_and_units(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    sim.add_order(
        9003, [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=3, price=Decimal(10))]
    )
    refund_id = sim.add_refund(9003, amount=Decimal("20.00"), items=[(900301, 2)])
    conn = connection(sim, url)
    delivery = ADAPTER.verify(
        conn, inbound(*sim.webhook("store/order/refund/created", 9003, refund_id=refund_id))
    )
    order = ADAPTER.order(conn, delivery, http)
    assert delivery.kind == "refund"
    assert order is not None
    assert [
        (r.refund_id, r.amount, [(line.sku, n) for line, n in r.lines]) for r in order.refunds
    ] == [(str(refund_id), Decimal("20.0"), [("MUG-1", 2)])]


def test_an_incomplete_order_is_no_order_yet_and_an_unknown_one_is_refused(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    sim.add_order(
        9004,
        [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=1, price=Decimal(10))],
        status_id=0,
    )
    conn = connection(sim, url)
    assert (
        ADAPTER.order(
            conn, ADAPTER.verify(conn, inbound(*sim.webhook("store/order/created", 9004))), http
        )
        is None
    )
    with pytest.raises(VendorRefused):
        ADAPTER.order(
            conn, ADAPTER.verify(conn, inbound(*sim.webhook("store/order/created", 404404))), http
        )


def test_the_store_being_busy_or_down_is_retried_later(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    sim.add_order(
        9005, [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=1, price=Decimal(10))]
    )
    conn = connection(sim, url)
    delivery = ADAPTER.verify(conn, inbound(*sim.webhook("store/order/created", 9005)))
    sim.fail(429, count=1)
    with pytest.raises(VendorUnavailable) as busy:
        ADAPTER.order(conn, delivery, http)
    assert busy.value.retry_after == 1.5  # X-Rate-Limit-Time-Reset-Ms: 1500
    sim.fail(500, count=1)
    with pytest.raises(VendorUnavailable) as down:
        ADAPTER.order(conn, delivery, http)
    assert down.value.retry_after is None
    assert ADAPTER.order(conn, delivery, http) is not None
    wrong = Connection(1, 1, "bigcommerce", sim.api_root(url), {"access_token": "wrong"})
    with pytest.raises(VendorRefused):
        ADAPTER.order(wrong, delivery, http)


# --- stock and prices ------------------------------------------------------------------


def test_stock_pushes_through_429_and_500_periods_and_reads_back(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    for vid, sku in ((601, "CUP-1"), (602, "CUP-2")):
        sim.add_variant(variant_id=vid, product_id=60, sku=sku, price=Decimal("9.99"))
    conn = connection(sim, url, location_id="1")
    figures = [StockFigure("CUP-1", "60", "601", 7), StockFigure("CUP-2", "60", "602", 0)]
    items = [VendorItem("60", "601", "CUP-1", None), VendorItem("60", "602", "CUP-2", None)]
    sim.fail(429, count=2)
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            ADAPTER.push_stock(conn, http, figures)
    assert sim.stock(601) is None  # nothing applied while it refused
    sim.fail(500, seconds=0.3)
    with pytest.raises(VendorUnavailable):
        ADAPTER.push_stock(conn, http, figures)
    time.sleep(0.35)
    ADAPTER.push_stock(conn, http, figures)
    assert (sim.stock(601), sim.stock(602)) == (7, 0)
    assert ADAPTER.read_stock(conn, http, items) == {"CUP-1": 7, "CUP-2": 0}
    ADAPTER.push_stock(conn, http, [StockFigure("CUP-1", "60", "601", 3)])
    assert ADAPTER.read_stock(conn, http, items) == {"CUP-1": 3, "CUP-2": 0}


def test_a_push_for_a_variant_the_store_does_not_have_is_refused(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    with pytest.raises(VendorRefused):
        ADAPTER.push_stock(connection(sim, url), http, [StockFigure("NOPE", "1", "99999", 1)])


def test_prices_push_to_variants_and_the_catalog_lists_them(
    store: tuple[BigCommerceSimulator, str], http: httpx.Client
) -> None:
    sim, url = store
    sim.add_variant(
        variant_id=701, product_id=70, sku="HAT-1", price=Decimal("15.00"), upc="5901234123457"
    )
    conn = connection(sim, url)
    sim.fail(429, count=1)
    with pytest.raises(VendorUnavailable):
        ADAPTER.push_prices(
            conn, http, [PriceFigure("HAT-1", "70", "701", Decimal("17.49"), "USD")]
        )
    ADAPTER.push_prices(conn, http, [PriceFigure("HAT-1", "70", "701", Decimal("17.49"), "USD")])
    assert sim.price(701) == Decimal("17.49")
    listed = {item.vendor_variant_id: item for item in ADAPTER.catalog(conn, http)}
    assert (
        listed["701"].sku,
        listed["701"].gtin,
        listed["701"].price,
        listed["701"].vendor_product_id,
    ) == (
        "HAT-1",
        "5901234123457",
        Decimal("17.49"),
        "70",
    )


# --- end to end: store → Omnicart's webhook endpoint → the order book → the store's stock


@dataclass(frozen=True)
class Shop:
    channel: int
    connector: int
    warehouse: int


def _shop(db: Database, sim: BigCommerceSimulator, url: str, *, stock: int = 10) -> Shop:
    """A USD web shop selling MUG-1 and TEE-1 (variants 501, 502 at the store) from a
    warehouse, connected to the simulated store."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh")
        channel = add_channel(session, "bc-web", currency="USD", ship=(warehouse,))
        for sku in ("MUG-1", "TEE-1"):
            add_variant(session, sku)
    receive_stock(db, location_id=warehouse, lines=[("MUG-1", stock), ("TEE-1", stock)])
    sim.add_variant(variant_id=501, product_id=77, sku="MUG-1", price=Decimal("12.50"))
    sim.add_variant(variant_id=502, product_id=78, sku="TEE-1", price=Decimal("20.00"))
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel,
            vendor="bigcommerce",
            credentials={"client_secret": sim.client_secret, "access_token": sim.access_token},
            options={"store_hash": sim.store_hash, "location_id": "1"},
            base_url=sim.api_root(url),
        ),
    )
    # The store's catalog maps both variants by SKU (and queues their stock figures).
    with httpx.Client(timeout=10) as http:
        report = service.match_mapping(db, connector_id=view.id, http=http)
    assert report.matched == 2
    return Shop(channel, view.id, warehouse)


def _deliver(db: Database, shop: Shop, delivery: tuple[dict[str, str], bytes]) -> inbox.Receipt:
    """Receive a delivery as the webhook route does (the route itself: the first test)."""
    headers, body = delivery
    return inbox.receive(db, connector_id=shop.connector, inbound=inbound(headers, body))


def _order_of(db: Database, channel: int, external_id: str) -> OrderView | None:
    with db.reading() as session:
        found = session.scalar(
            select(Order.id).where(Order.channel_id == channel, Order.external_id == external_id)
        )
    return None if found is None else get_order(db, order_id=found)


def _inbox(db: Database) -> list[tuple[str, str, str | None]]:
    with db.reading() as session:
        return [
            (row.topic, row.status, row.reason_code)
            for row in session.scalars(select(InboxDelivery).order_by(InboxDelivery.id))
        ]


def _sellable(db: Database, channel: int, skus: tuple[str, ...]) -> dict[str, int]:
    with db.reading() as session:
        return channel_availability(session, channel_id=channel, skus=list(skus))


@pytest.mark.slow
def test_store_orders_reach_the_order_book_and_the_stores_stock_follows(
    fresh_store: tuple[BigCommerceSimulator, str],
    client: TestClient,
    sqlite_db: Database,
    http: httpx.Client,
) -> None:
    sim, url = fresh_store
    shop = _shop(sqlite_db, sim, url)
    lines = [
        SimLine(
            product_id=77,
            variant_id=501,
            sku="MUG-1",
            quantity=2,
            price=Decimal("12.50"),
            tax=Decimal("2.00"),
        ),
        SimLine(
            product_id=78,
            variant_id=502,
            sku="TEE-1",
            quantity=1,
            price=Decimal("20.00"),
            discount=Decimal("5.00"),
        ),
    ]
    sim.add_order(9101, lines, shipping=Decimal("4.99"), shipping_tax=Decimal("0.40"))
    hook = f"/v1/connectors/{shop.connector}/webhooks"
    headers, body = sim.webhook("store/order/created", 9101, message_id="msg-created-9101")
    # A forged delivery is refused and nothing is stored.
    forged = client.post(hook, content=body.replace(b"9101", b"9102"), headers=headers)
    assert forged.status_code == 401
    assert _inbox(sqlite_db) == []
    # The same delivery ten times is stored once.
    answers = [client.post(hook, content=body, headers=headers) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert [a.json()["duplicate"] for a in answers] == [False] + [True] * 9
    service.process_until_idle(sqlite_db, http=http)
    order = _order_of(sqlite_db, shop.channel, "9101")
    assert order is not None
    assert [
        (line.sku, line.quantity, line.unit_price, line.discount, line.tax) for line in order.lines
    ] == [
        ("MUG-1", 2, Decimal("12.5000"), Decimal(0), Decimal("2.0000")),
        ("TEE-1", 1, Decimal("20.0000"), Decimal("5.0000"), Decimal(0)),
    ]
    published = sim.orders[9101]
    assert (order.currency, order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        "USD",
        Decimal(published["subtotal_ex_tax"]),
        Decimal(published["shipping_cost_ex_tax"]),
        Decimal(published["total_tax"]),
        Decimal(published["total_inc_tax"]),
    )
    assert (order.status, order.paid) == ("confirmed", Decimal(published["total_inc_tax"]))
    # The store now holds the figures Omnicart may sell there.
    assert _sellable(sqlite_db, shop.channel, ("MUG-1", "TEE-1")) == {"MUG-1": 8, "TEE-1": 9}
    assert (sim.stock(501), sim.stock(502)) == (8, 9)

    # An update arriving before the older delivery leaves the order in its latest state.
    sim.update_order(9101, lines=lines[:1])
    newer = sim.webhook("store/order/updated", 9101, message_id="msg-updated-9101")
    client.post(hook, content=newer[1], headers=newer[0])
    service.process_until_idle(sqlite_db, http=http)
    order = _order_of(sqlite_db, shop.channel, "9101")
    assert order is not None
    assert [(line.sku, line.quantity) for line in order.lines] == [("MUG-1", 2)]
    assert (sim.stock(501), sim.stock(502)) == (8, 10)

    # Cancelled at the store: the order is cancelled and its stock free again.
    sim.update_order(9101, status_id=5)
    headers, body = sim.webhook("store/order/statusUpdated", 9101)
    assert client.post(hook, content=body, headers=headers).status_code == 200
    service.process_until_idle(sqlite_db, http=http)
    order = _order_of(sqlite_db, shop.channel, "9101")
    assert order is not None
    assert order.status == "cancelled"
    assert (sim.stock(501), sim.stock(502)) == (10, 10)
    assert {status for _, status, _ in _inbox(sqlite_db)} == {"done"}


def test_a_refund_at_the_store_is_a_refund_in_the_order_book(
    fresh_store: tuple[BigCommerceSimulator, str], db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_store
    shop = _shop(db, sim, url)
    sim.add_order(
        9201, [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=3, price=Decimal(10))]
    )
    _deliver(db, shop, sim.webhook("store/order/created", 9201))
    service.process_until_idle(db, http=http)
    refund_id = sim.add_refund(9201, amount=Decimal("10.00"), items=[(920101, 1)])
    delivery = sim.webhook("store/order/refund/created", 9201, refund_id=refund_id)
    for _ in range(2):  # redelivered: refunded once
        _deliver(db, shop, delivery)
    service.process_until_idle(db, http=http)
    order = _order_of(db, shop.channel, "9201")
    assert order is not None
    assert (order.total, order.refunded) == (Decimal("30.0000"), Decimal("10.0000"))


def test_an_order_of_an_unknown_product_waits_in_needs_attention_until_mapped(
    fresh_store: tuple[BigCommerceSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_store
    shop = _shop(sqlite_db, sim, url)
    sim.add_order(
        9301,
        [SimLine(product_id=90, variant_id=901, sku="VENDOR-ONLY", quantity=1, price=Decimal(5))],
    )
    _deliver(sqlite_db, shop, sim.webhook("store/order/created", 9301))
    service.process_until_idle(sqlite_db, http=http)
    assert _inbox(sqlite_db) == [("store/order/created", "parked", "unknown_sku")]
    assert _order_of(sqlite_db, shop.channel, "9301") is None
    service.set_mapping(
        sqlite_db, connector_id=shop.connector, entries=[MappingEntry("90", "901", "TEE-1")]
    )
    inbox.requeue(sqlite_db, connector_id=shop.connector)
    service.process_until_idle(sqlite_db, http=http)
    order = _order_of(sqlite_db, shop.channel, "9301")
    assert order is not None
    assert [(line.sku, line.quantity) for line in order.lines] == [("TEE-1", 1)]


@pytest.mark.slow
def test_the_store_answering_429_then_500_catches_up_with_no_stale_figure(
    fresh_store: tuple[BigCommerceSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_store
    shop = _shop(sqlite_db, sim, url)
    sim.add_order(
        9401, [SimLine(product_id=77, variant_id=501, sku="MUG-1", quantity=4, price=Decimal(10))]
    )
    _deliver(sqlite_db, shop, sim.webhook("store/order/created", 9401))
    sim.fail(429, seconds=1.0)  # fetching the order and pushing stock both wait it out
    deadline = time.monotonic() + 20
    while sim.stock(501) != 6 or sim.stock(502) != 10:
        assert time.monotonic() < deadline, (sim.stock(501), sim.stock(502), _inbox(sqlite_db))
        service.process_until_idle(sqlite_db, http=http)
        time.sleep(0.2)
    assert sim.trouble.answered > 0
    sim.fail(500, seconds=0.5)
    receive_stock(sqlite_db, location_id=shop.warehouse, lines=[("MUG-1", 5)])
    deadline = time.monotonic() + 20
    while sim.stock(501) != 11:
        assert time.monotonic() < deadline, sim.stock(501)
        service.process_until_idle(sqlite_db, http=http)
        time.sleep(0.2)
    # Figures reached the store in the order they were made, the latest last.
    sent = [item["quantity"] for item in sim.adjustments if item.get("variant_id") == 501]
    changes = [q for i, q in enumerate(sent) if i == 0 or sent[i - 1] != q]
    assert changes in ([10, 6, 11], [6, 11])
