"""Amazon SP-API: the adapter and poller against the loopback seller simulator.

Every published order payload (Orders API v0 with its items, and 2026-01-01) maps to
figures computed here from the payload itself; polling pages through NextToken /
paginationToken, survives a restart from its cursor, never skips a late-indexed order;
access tokens are cached and refreshed on expiry; 429s and the usage plans are honoured;
stock and prices are patched on listings through 429/500 periods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnicart.connectors import registry, service
from omnicart.connectors.amazon import (
    USAGE_PLANS,
    AmazonAdapter,
    Cursor,
    RateLimiter,
    order_from_2026,
    order_from_v0,
)
from omnicart.connectors.base import Connection, Delivery, PriceFigure, StockFigure, VendorItem
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.simulators.amazon import AmazonItem, AmazonSimulator
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.tables import PollState
from omnicart.db.engine import Database
from omnicart.inventory.stock import receive_stock
from omnicart.kernel.clock import as_utc
from omnicart.kernel.errors import ValidationFailed
from omnicart.orders.service import get_order
from omnicart.orders.tables import Order
from omnicart.orders.views import OrderView
from tests.support import add_channel, add_location, add_variant

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webhooks" / "amazon-sp-api"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"vendor payloads absent: {DATA}")
EPOCH = "1970-01-01T00:00:00Z"


class FakeClock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def seller() -> Iterator[tuple[AmazonSimulator, str]]:
    sim = AmazonSimulator()
    sim.load_published_orders()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def connection(sim: AmazonSimulator, url: str, connector_id: int = 1, **options: str) -> Connection:
    return Connection(
        connector_id=connector_id,
        channel_id=1,
        vendor="amazon",
        base_url=url,
        credentials={
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
        },
        options={
            "seller_id": sim.seller_id,
            "marketplace_ids": sim.marketplace_id,
            "lwa_url": f"{url}/auth/o2/token",
            "start_after": EPOCH,
            **options,
        },
    )


def read(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def poll_window(
    adapter: AmazonAdapter, conn: Connection, http: httpx.Client, cursor: str | None = None
) -> tuple[list[list[str]], str]:
    """Poll until the current window is done: the order ids of each poll, and the cursor."""
    polls: list[list[str]] = []
    for _ in range(50):
        orders, cursor = adapter.poll(conn, http, cursor)
        assert cursor is not None
        polls.append([o.external_id for o in orders])
        if Cursor.load(cursor).window_done:
            return polls, cursor
    raise AssertionError("the window never finished")


# --- every published order --------------------------------------------------------------


def amount(money: dict[str, Any] | None, *keys: str) -> Decimal:
    if money is None:
        return Decimal(0)
    return Decimal(money[keys[0]] if keys else money.get("amount", money.get("Amount")))


def _new_orders() -> list[tuple[str, dict[str, Any]]]:
    if not DATA.is_dir():
        return []
    found = []
    for path in sorted(DATA.glob("orders2026-01-01_*_200_*.json")):
        loaded = read(path.name)
        answer = loaded.get("response", loaded)
        for order in answer.get("orders") or [answer["order"]]:
            found.append((f"{path.stem}:{order['orderId']}", order))
    return found


@pytest.mark.parametrize(("name", "payload"), _new_orders(), ids=[n for n, _ in _new_orders()])
def test_every_published_2026_order_maps_to_its_own_figures(
    name: str, payload: dict[str, Any]
) -> None:
    order = order_from_2026(payload)
    grand = payload["proceeds"]["grandTotal"]
    assert (order.external_id, order.currency, order.total) == (
        payload["orderId"],
        grand["currencyCode"],
        Decimal(grand["amount"]),
    )
    lines, shipping, shipping_tax, taxes = [], Decimal(0), Decimal(0), Decimal(0)
    for item in payload["orderItems"]:
        tax = Decimal(0)
        for part in item.get("proceeds", {}).get("breakdowns", []):
            value = Decimal(part["subtotal"]["amount"])
            if part["type"] == "TAX":
                taxes += value
                on_item = [d for d in part.get("detailedBreakdowns", []) if d["subtype"] == "ITEM"]
                tax += Decimal(on_item[0]["value"]["amount"]) if on_item else value
                shipping_tax += value - (
                    Decimal(on_item[0]["value"]["amount"]) if on_item else value
                )
            elif part["type"] in ("SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER"):
                shipping += value
        product = item["product"]
        lines.append(
            (
                product["sellerSku"],
                item["quantityOrdered"],
                Decimal(product["price"]["unitPrice"]["amount"]),
                Decimal(0),
                tax,
            )
        )
    for part in payload["proceeds"].get("breakdowns", []):
        if part["type"] == "DELIVERY_TIP":
            shipping += Decimal(part["subtotal"]["amount"])
    assert [
        (line.sku, line.quantity, line.unit_price, line.discount, line.tax) for line in order.lines
    ] == lines, name
    assert (order.shipping, order.shipping_tax, order.discount) == (shipping, shipping_tax, 0)
    assert order.tax_total == taxes
    assert order.subtotal == sum((q * p for _, q, p, _, _ in lines), Decimal(0))
    assert order.cancelled is (payload["fulfillment"]["fulfillmentStatus"] == "CANCELLED")
    assert order.updated_at == datetime.fromisoformat(payload["lastUpdatedTime"])
    assert order.email == payload.get("buyer", {}).get("buyerEmail")
    # Amazon's grand total is what the lines, charges and taxes add up to.
    assert order.subtotal + order.tax_total + order.shipping == order.total


def _v0_pairs() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    if not DATA.is_dir():
        return []
    example_items = read("ordersV0_getOrderItems_200_example.json")["payload"]["OrderItems"]
    sandbox_items = read("ordersV0_getOrderItems_200_sandbox1.json")["response"]["payload"][
        "OrderItems"
    ]
    pairs = [
        (
            "getOrders_example",
            read("ordersV0_getOrders_200_example.json")["payload"]["Orders"][0],
            example_items,
        )
    ]
    for n in (1, 2, 3):
        for i, order in enumerate(
            read(f"ordersV0_getOrders_200_sandbox{n}.json")["response"]["payload"]["Orders"]
        ):
            items = sandbox_items if order.get("OrderTotal") else example_items
            pairs.append((f"getOrders_sandbox{n}[{i}]", order, items))
    pairs.append(
        ("getOrder_example", read("ordersV0_getOrder_200_example.json")["payload"], example_items)
    )
    pairs.append(
        (
            "getOrder_sandbox1",
            read("ordersV0_getOrder_200_sandbox1.json")["response"]["payload"],
            sandbox_items,
        )
    )
    return pairs


@pytest.mark.parametrize(
    ("name", "payload", "items"), _v0_pairs(), ids=[n for n, _, _ in _v0_pairs()]
)
def test_every_published_v0_order_with_its_items_maps_to_its_own_figures(
    name: str, payload: dict[str, Any], items: list[dict[str, Any]]
) -> None:
    order = order_from_v0(payload, items)
    total = payload.get("OrderTotal")
    currency = total["CurrencyCode"] if total else items[0]["ItemPrice"]["CurrencyCode"]

    def money(item: dict[str, Any], key: str) -> Decimal:
        return Decimal(item[key]["Amount"]) if key in item else Decimal(0)

    assert (order.external_id, order.currency) == (payload["AmazonOrderId"], currency)
    assert order.total == (Decimal(total["Amount"]) if total else None)
    assert [
        (line.sku, line.vendor_product_id, line.quantity, line.unit_price, line.discount, line.tax)
        for line in order.lines
    ] == [
        (
            i["SellerSKU"],
            i["SellerSKU"],
            i["QuantityOrdered"],
            money(i, "ItemPrice") / i["QuantityOrdered"],
            money(i, "PromotionDiscount"),
            money(i, "ItemTax") - money(i, "PromotionDiscountTax"),
        )
        for i in items
    ], name
    assert order.shipping == sum(
        (money(i, "ShippingPrice") + money(i, "CODFee") for i in items), Decimal(0)
    )
    assert order.discount == sum(
        (money(i, "ShippingDiscount") + money(i, "CODFeeDiscount") for i in items), Decimal(0)
    )
    assert order.shipping_tax == sum(
        (money(i, "ShippingTax") - money(i, "ShippingDiscountTax") for i in items), Decimal(0)
    )
    assert order.cancelled is (payload["OrderStatus"] == "Canceled")
    assert order.updated_at == datetime.fromisoformat(payload["LastUpdateDate"])
    assert order.email == payload.get("BuyerInfo", {}).get("BuyerEmail")


def test_the_published_order_without_published_items_is_refused() -> None:
    order = read("ordersV0_getOrder_200_sandbox2.json")["response"]["payload"]
    with pytest.raises(ValidationFailed) as refused:
        order_from_v0(order, [])
    assert refused.value.field == "OrderItems"


def test_a_pending_order_without_money_takes_the_marketplace_currency() -> None:
    pending = {
        "AmazonOrderId": "111-0000000-0000001",
        "OrderStatus": "Pending",
        "LastUpdateDate": "2025-01-01T00:00:00Z",
    }
    items = [{"SellerSKU": "MUG-1", "QuantityOrdered": 2, "Title": "Mug"}]
    with pytest.raises(ValidationFailed):
        order_from_v0(pending, items)
    order = order_from_v0(pending, items, currency="USD")
    assert (
        order.currency,
        [(line.sku, line.quantity, line.unit_price) for line in order.lines],
    ) == (
        "USD",
        [("MUG-1", 2, Decimal(0))],
    )


# --- polling -----------------------------------------------------------------------------


def test_search_orders_pages_through_every_published_order(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url, page_size="2", pages_per_poll="1")
    polls, cursor = poll_window(AmazonAdapter(), conn, http)
    expected = sorted(sim.new_orders, key=lambda i: (sim.new_orders[i]["lastUpdatedTime"], i))
    assert [i for page in polls for i in page] == expected
    assert [len(page) for page in polls] == [2, 2, 2, 2]
    tokens = [q for op, q in sim.calls if op == "searchOrders" and "paginationToken" in q]
    assert len(tokens) == 3
    # The next window starts `overlap_seconds` before the last one ended.
    done = Cursor.load(cursor)
    assert done.token is None
    assert datetime.now(UTC) - timedelta(seconds=120 + 300 + 30) < done.after


def test_v0_get_orders_pages_and_fetches_every_orders_items(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    sim.add_order(
        "112-0000000-0000003",
        [
            AmazonItem("A", 1, Decimal("5.00")),
            AmazonItem("B", 2, Decimal("1.50")),
            AmazonItem("C", 3, Decimal("2.00"), tax=Decimal("0.48")),
        ],
        updated=datetime(2025, 3, 1, tzinfo=UTC),
    )
    conn = connection(sim, url, orders_api="v0", page_size="1", pages_per_poll="10")
    orders, cursor = AmazonAdapter().poll(conn, http, None)
    assert cursor is not None
    assert Cursor.load(cursor).window_done
    assert [o.external_id for o in orders] == [
        "902-1845936-5435065",
        "902-8745147-1934268",
        "112-0000000-0000003",
    ]
    # Three items come two a page: the adapter followed getOrderItems' NextToken.
    assert [(line.sku, line.quantity, line.unit_price, line.tax) for line in orders[2].lines] == [
        ("A", 1, Decimal("5.00"), Decimal("0")),
        ("B", 2, Decimal("1.50"), Decimal("0")),
        ("C", 3, Decimal("2.00"), Decimal("0.48")),
    ]
    assert orders[2].total == Decimal("14.48")  # 5.00 + 3.00 + 6.00 + 0.48 tax
    item_calls = [q for op, q in sim.calls if op == "getOrderItems"]
    assert len(item_calls) == 4
    assert item_calls.count("NextToken=2") == 1


def test_the_cursor_survives_a_restart_and_nothing_is_skipped(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url, page_size="3", pages_per_poll="1")
    first, cursor = AmazonAdapter().poll(conn, http, None)
    assert cursor is not None
    assert Cursor.load(cursor).token is not None
    tokens_before = sim.token_requests
    # A new process: no cached token, only the stored cursor.
    rest, cursor = poll_window(AmazonAdapter(), conn, http, cursor)
    assert sim.token_requests == tokens_before + 1
    seen = [o.external_id for o in first] + [i for page in rest for i in page]
    assert sorted(seen) == sorted(sim.new_orders)
    assert len(seen) == len(set(seen))
    # Asked again at once, the poller asks Amazon nothing: the next window opens once the
    # last one is `window_seconds` old (so the core's "ask again while orders come" stops).
    calls = len(sim.calls)
    assert AmazonAdapter().poll(conn, http, cursor) == ([], cursor)
    assert len(sim.calls) == calls
    # An order Amazon indexes late, inside the window just read, is still found: the
    # next window overlaps the last one.
    late = datetime.now(UTC) - timedelta(seconds=150)
    sim.add_order("113-0000000-0000009", [AmazonItem("LATE-1", 1, Decimal("9.99"))], updated=late)
    soon = connection(sim, url, page_size="3", pages_per_poll="1", window_seconds="0")
    again, _ = poll_window(AmazonAdapter(), soon, http, cursor)
    assert "113-0000000-0000009" in [i for page in again for i in page]


def test_a_later_page_refused_keeps_the_pages_already_fetched(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    sim.rate_limits["searchOrders"] = (0.001, 2)  # the third request in a row is refused
    adapter = AmazonAdapter()
    conn = connection(sim, url, page_size="2", pages_per_poll="5")
    orders, cursor = adapter.poll(conn, http, None)
    assert [len(orders), Cursor.load(cursor or "").token is not None] == [4, True]
    with pytest.raises(VendorUnavailable):  # nothing fetched this time: the caller keeps its cursor
        adapter.poll(conn, http, cursor)
    sim.rate_limits.clear()
    rest, _ = poll_window(AmazonAdapter(), conn, http, cursor)
    seen = [o.external_id for o in orders] + [i for page in rest for i in page]
    assert sorted(seen) == sorted(sim.new_orders)


def test_an_empty_window_asks_nothing(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    conn = connection(sim, url)
    recent = Cursor(after=datetime.now(UTC) - timedelta(seconds=30)).dump()
    calls = len(sim.calls)
    assert AmazonAdapter().poll(conn, http, recent) == ([], recent)
    assert len(sim.calls) == calls
    with pytest.raises(ValidationFailed):
        AmazonAdapter().poll(conn, http, "not a cursor")


# --- tokens and rate limits -------------------------------------------------------------


def test_the_access_token_is_cached_and_refreshed_on_expiry(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    clock = FakeClock()
    adapter = AmazonAdapter(clock=clock)
    conn = connection(sim, url, page_size="100")
    poll_window(adapter, conn, http)
    poll_window(adapter, conn, http)
    assert (sim.token_requests, sim.denied) == (1, 0)  # one token for both
    sim.expire_tokens()  # Amazon says the token is no longer valid: refresh once, go on
    polls, _ = poll_window(adapter, conn, http)
    assert (sim.token_requests, sim.denied) == (2, 1)
    assert sorted(i for page in polls for i in page) == sorted(sim.new_orders)
    clock.now += 3600  # the hour Amazon gave the token has passed: refresh before asking
    poll_window(adapter, conn, http)
    assert (sim.token_requests, sim.denied) == (3, 1)
    wrong = Connection(
        1, 1, "amazon", url, {**conn.credentials, "refresh_token": "Atzr|revoked"}, conn.options
    )
    with pytest.raises(VendorRefused):
        AmazonAdapter().poll(wrong, http, None)


def test_a_429_waits_as_long_as_amazons_rate_says(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    clock = FakeClock()
    adapter = AmazonAdapter(clock=clock)
    conn = connection(sim, url)
    sim.fail(429, count=1, rate=2.0)
    with pytest.raises(VendorUnavailable) as throttled:
        adapter.poll(conn, http, None)
    assert throttled.value.retry_after == 0.5  # 1 / x-amzn-RateLimit-Limit
    calls = len(sim.calls)
    with pytest.raises(VendorUnavailable) as waiting:  # too soon: not even asked
        adapter.poll(conn, http, None)
    assert waiting.value.retry_after == pytest.approx(0.5)
    assert len(sim.calls) == calls
    clock.now += 0.5
    polls, _ = poll_window(adapter, conn, http)
    assert sorted(i for page in polls for i in page) == sorted(sim.new_orders)
    sim.fail(500, count=1)
    with pytest.raises(VendorUnavailable):
        adapter.poll(conn, http, None)


def test_the_documented_usage_plan_paces_requests() -> None:
    clock = FakeClock()
    limits = RateLimiter(clock)
    rate, burst = USAGE_PLANS["searchOrders"]
    for _ in range(burst):
        limits.take(7, "searchOrders")
    with pytest.raises(VendorUnavailable) as waiting:
        limits.take(7, "searchOrders")
    assert waiting.value.retry_after == pytest.approx(1 / rate)
    limits.take(8, "searchOrders")  # another connector has its own plan
    clock.now += 1 / rate
    limits.take(7, "searchOrders")
    limits.observe(7, "searchOrders", "10")  # Amazon granted more
    clock.now += 0.1
    limits.take(7, "searchOrders")
    with pytest.raises(VendorUnavailable) as granted:
        limits.take(7, "searchOrders")
    assert granted.value.retry_after == pytest.approx(0.1)


def test_a_sellers_own_plan_is_learnt_from_its_answers(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    sim.rate_limits["getOrder2026"] = (5.0, 2)
    clock = FakeClock()
    adapter = AmazonAdapter(clock=clock)
    conn = connection(sim, url)
    delivery = Delivery("d1", "poll", "order", "123-4567890-1234567", None)
    for _ in range(2):
        assert adapter.order(conn, delivery, http) is not None
    with pytest.raises(VendorUnavailable) as throttled:
        adapter.order(conn, delivery, http)
    assert throttled.value.retry_after == pytest.approx(0.2)  # 1 / 5.0 from the header
    time.sleep(0.25)
    clock.now += 0.2
    order = adapter.order(conn, delivery, http)
    assert order is not None
    assert order.total == Decimal("154.99")


# --- listings: stock and prices ----------------------------------------------------------


def test_stock_patches_listings_through_429_and_500_and_reads_back(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    for sku in ("ECHO-1", "ECHO-2"):
        sim.add_listing(sku, quantity=99)
    adapter = AmazonAdapter()
    conn = connection(sim, url)
    figures = [StockFigure("ECHO-1", "ECHO-1", None, 3), StockFigure("ECHO-2", "ECHO-2", None, 0)]
    sim.fail(429, count=1, rate=50.0)
    with pytest.raises(VendorUnavailable) as busy:
        adapter.push_stock(conn, http, figures)
    assert busy.value.retry_after == pytest.approx(0.02)
    sim.fail(500, seconds=0.3)
    with pytest.raises(VendorUnavailable):
        adapter.push_stock(conn, http, figures)
    assert (sim.quantity("ECHO-1"), sim.quantity("ECHO-2")) == (99, 99)
    time.sleep(0.35)
    adapter.push_stock(conn, http, figures)
    assert (sim.quantity("ECHO-1"), sim.quantity("ECHO-2")) == (3, 0)
    patch = sim.patches[-1][1]
    assert patch["patches"] == [
        {
            "op": "replace",
            "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}],
        }
    ]
    items = [VendorItem("ECHO-1", None, "ECHO-1", None), VendorItem("GONE", None, "GONE", None)]
    assert adapter.read_stock(conn, http, items) == {"ECHO-1": 3}
    with pytest.raises(VendorRefused):
        adapter.push_stock(conn, http, [StockFigure("GONE", "GONE", None, 1)])


def test_prices_patch_the_offer_and_the_catalog_lists_listings(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    for index in range(25):
        sim.add_listing(f"SKU-{index:02d}", quantity=index, title=f"Thing {index}")
    adapter = AmazonAdapter()
    conn = connection(sim, url)
    adapter.push_prices(
        conn, http, [PriceFigure("SKU-01", "SKU-01", None, Decimal("19.99"), "USD")]
    )
    assert sim.price("SKU-01") == Decimal("19.99")
    listed = adapter.catalog(conn, http)  # 20 a page
    assert [(i.vendor_product_id, i.sku, i.title, i.quantity) for i in listed[:2]] == [
        ("SKU-00", "SKU-00", "Thing 0", 0),
        ("SKU-01", "SKU-01", "Thing 1", 1),
    ]
    assert len(listed) == 25


def test_one_order_is_fetched_again_by_id_from_either_api(
    seller: tuple[AmazonSimulator, str], http: httpx.Client
) -> None:
    sim, url = seller
    adapter = AmazonAdapter()
    new = adapter.order(
        connection(sim, url), Delivery("d", "poll", "order", "202-1234567-8901234", None), http
    )
    assert new is not None
    assert (new.currency, new.total, new.shipping, new.shipping_tax) == (
        "GBP",
        Decimal("103.97"),
        Decimal("10.00"),
        Decimal("1.00"),
    )
    old = adapter.order(
        connection(sim, url, orders_api="v0"),
        Delivery("d", "poll", "order", "902-1845936-5435065", None),
        http,
    )
    assert old is not None
    assert [(line.sku, line.tax) for line in old.lines] == [
        ("NABetaASINB00551Q3CS", Decimal("1.01"))
    ]


# --- end to end: Amazon → the core's poller → the inbox → the order book → the listings ----


@pytest.fixture
def fresh_seller() -> Iterator[tuple[AmazonSimulator, str]]:
    """A seller with no published orders: only the ones a test makes."""
    sim = AmazonSimulator()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


def _marketplace(db: Database, sim: AmazonSimulator, url: str) -> tuple[int, int]:
    """A USD marketplace channel selling ECHO-1 and ECHO-2 (10 each) from a warehouse,
    connected to the simulated seller, its listings mapped by SKU: (channel, connector)."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh")
        channel = add_channel(
            session, "amazon-us", kind="marketplace", currency="USD", ship=(warehouse,)
        )
        for sku in ("ECHO-1", "ECHO-2"):
            add_variant(session, sku)
    receive_stock(db, location_id=warehouse, lines=[("ECHO-1", 10), ("ECHO-2", 10)])
    for sku in ("ECHO-1", "ECHO-2"):
        sim.add_listing(sku, quantity=99)
    conn = connection(sim, url, page_size="1", pages_per_poll="1", window_seconds="0")
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel,
            vendor="amazon",
            credentials=dict(conn.credentials),
            options={
                **conn.options,
                "region": "na",
                "start_after": _iso(datetime.now(UTC) - timedelta(hours=1)),
            },
            base_url=url,
        ),
    )
    with httpx.Client(timeout=10) as http:
        assert service.match_mapping(db, connector_id=view.id, http=http).matched == 2
    return channel, view.id


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(db: Database, connector: int) -> Cursor:
    with db.reading() as session:
        state = session.get_one(PollState, connector)
        assert state.cursor is not None
        return Cursor.load(state.cursor)


def _order(db: Database, channel: int, external_id: str) -> OrderView:
    with db.reading() as session:
        found = session.scalar(
            select(Order.id).where(Order.channel_id == channel, Order.external_id == external_id)
        )
    assert found is not None, external_id
    return get_order(db, order_id=found)


@pytest.mark.slow
def test_polled_orders_reach_the_order_book_and_listings_follow_the_stock(
    fresh_seller: tuple[AmazonSimulator, str], sqlite_db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_seller
    channel, connector = _marketplace(sqlite_db, sim, url)
    placed = datetime.now(UTC) - timedelta(minutes=10)
    sim.add_order(
        "111-0000000-0000001",
        [AmazonItem("ECHO-1", 2, Decimal("10.00"), tax=Decimal("1.60"), shipping=Decimal("4.00"))],
        updated=placed,
    )
    sim.add_order(
        "111-0000000-0000002",
        [AmazonItem("ECHO-2", 1, Decimal("25.00"))],
        updated=placed + timedelta(seconds=1),
    )
    # One page per poll: the first poll stores one order and keeps its page token.
    assert service.poll_due(sqlite_db, http=http) == 1
    assert _cursor(sqlite_db, connector).token is not None
    # A restart: this process's adapter (its access token, its pacing) is gone; only the
    # database's cursor remains, and polling goes on from it.
    registry._load.cache_clear()
    assert service.poll_due(sqlite_db, http=http) == 1
    assert _cursor(sqlite_db, connector).window_done
    assert sim.token_requests == 2  # one before the restart (catalog, poll), one after
    service.process_until_idle(sqlite_db, http=http)
    first = _order(sqlite_db, channel, "111-0000000-0000001")
    assert [(line.sku, line.quantity, line.unit_price, line.tax) for line in first.lines] == [
        ("ECHO-1", 2, Decimal("10.00"), Decimal("1.60"))
    ]
    assert (first.currency, first.shipping_total, first.total) == (
        "USD",
        Decimal("4.00"),
        Decimal("25.60"),
    )
    assert _order(sqlite_db, channel, "111-0000000-0000002").total == Decimal("25.00")
    assert (sim.quantity("ECHO-1"), sim.quantity("ECHO-2")) == (8, 9)
    # Amazon cancels the second order: the next window (overlapping the last) sees it.
    sim.update_order(
        "111-0000000-0000002", updated=datetime.now(UTC) - timedelta(seconds=150), status="Canceled"
    )
    with sqlite_db.transaction() as session:  # due now rather than in a minute
        session.get_one(PollState, connector).next_poll_at = datetime.now(UTC)
    service.process_until_idle(sqlite_db, http=http)
    assert _order(sqlite_db, channel, "111-0000000-0000002").status == "cancelled"
    assert (sim.quantity("ECHO-1"), sim.quantity("ECHO-2")) == (8, 10)
    # Orders seen twice by overlapping windows are one order each.
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 2


def test_a_throttled_poll_waits_and_loses_nothing(
    fresh_seller: tuple[AmazonSimulator, str], db: Database, http: httpx.Client
) -> None:
    sim, url = fresh_seller
    channel, connector = _marketplace(db, sim, url)
    sim.add_order(
        "111-0000000-0000003",
        [AmazonItem("ECHO-1", 1, Decimal("10.00"))],
        updated=datetime.now(UTC) - timedelta(minutes=10),
    )
    sim.fail(429, count=1, rate=0.5)
    assert service.poll_due(db, http=http) == 0
    with db.reading() as session:
        state = session.get_one(PollState, connector)
        assert (state.cursor, state.attempts) == (None, 1)
        assert state.last_error is not None
        waited = (as_utc(state.next_poll_at) - datetime.now(UTC)).total_seconds()
    assert 1.0 < waited <= 2.0  # 1 / 0.5 requests a second
    assert service.poll_due(db, http=http) == 0  # not due yet: Amazon is not asked
    with db.transaction() as session:
        session.get_one(PollState, connector).next_poll_at = datetime.now(UTC)
    registry._load.cache_clear()  # the wait has passed for the adapter's pacing too
    service.process_until_idle(db, http=http)
    assert _order(db, channel, "111-0000000-0000003").total == Decimal("10.00")
