"""The last units raced for on every channel at once, on PostgreSQL: Omnicart's own
checkouts and the inbox's workers processing Shopify orders (webhooks) and Square till
sales (events fetched back from the seller), all started together. Nothing is oversold
and nothing is lost (a checkout that lost is refused, a vendor's order that lost is parked
for a person with a stock reason), the ledger reconciles, and afterwards each vendor shows
exactly what Omnicart says its channel may sell (nothing), in sync."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from omnicart.catalog.tables import ChannelPrice
from omnicart.connectors import inbox, push, service
from omnicart.connectors.base import Inbound
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.shopify import ShopifySimulator
from omnicart.connectors.simulators.square import SquareLine, SquareSimulator
from omnicart.connectors.tables import Connector
from omnicart.db.engine import Database
from omnicart.inventory.service import receive_stock
from omnicart.kernel.errors import InsufficientStock
from omnicart.orders import checkout
from omnicart.orders.model import Customer, Fulfil, PaymentDraft
from omnicart.orders.tables import Order, OrderLine
from tests.connectors_support import deliver
from tests.orders_support import all_stock, assert_reconciles
from tests.support import add_channel, add_location, add_variant

SQUARE_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webhooks" / "square"
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        not SQUARE_DATA.is_dir(), reason=f"Square's published payloads absent: {SQUARE_DATA}"
    ),
]

SKU = "LAST-LAMP"
VARIATION = "VAR-LAMP"
AT_WAREHOUSE, AT_STORE = 2, 3
UNITS = AT_WAREHOUSE + AT_STORE
CHECKOUTS, SHOPIFY_ORDERS, TILL_SALES = 4, 4, 3
HOOK_URL = "https://shop.example/webhooks/square"
PRICE = Decimal("30.00")


@dataclass(frozen=True)
class Merchant:
    warehouse: int
    store: int
    web: int
    shopify_channel: int
    pos: int
    shopify: int  # connectors
    square: int


@pytest.fixture
def shopify() -> Iterator[ShopifySimulator]:
    with ShopifySimulator(currency="EUR") as shop:
        yield shop


@pytest.fixture
def square() -> Iterator[tuple[SquareSimulator, str]]:
    sim = SquareSimulator()
    with LoopbackServer(sim.app) as server:
        yield sim, server.url


def _merchant(db: Database, shop: ShopifySimulator, sim: SquareSimulator, url: str) -> Merchant:
    """A warehouse and a Kraków store; the web channel (Omnicart's checkout) and the
    Shopify web store ship from both, the Square tills sell the store's shelves. The lamp
    has 2 units in the warehouse and 3 in the store, mapped on both vendors by its SKU."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh", priority=10)
        store = add_location(session, "krk", kind="store", pickup=True)
        web = add_channel(session, "web", ship=(warehouse, store))
        shopify_channel = add_channel(session, "shopify", ship=(warehouse, store))
        pos = add_channel(session, "sq-pos", kind="pos", currency="USD", pickup=(store,))
        variant = add_variant(session, SKU)
        session.add(ChannelPrice(channel_id=web, variant_id=variant, amount=PRICE, currency="EUR"))
    receive_stock(db, location_id=warehouse, lines=[(SKU, AT_WAREHOUSE)])
    receive_stock(db, location_id=store, lines=[(SKU, AT_STORE)])
    shop.add_product(SKU, price="30.00", available=0)
    sim.add_variation(VARIATION, sku=SKU, price=3000)
    spec = shop.connector()
    drafts = [
        service.ConnectorDraft(
            channel_id=shopify_channel,
            vendor="shopify",
            credentials=spec["credentials"],
            options=spec["options"],
            base_url=spec["base_url"],
        ),
        service.ConnectorDraft(
            channel_id=pos,
            vendor="square",
            credentials={"access_token": sim.access_token, "signature_key": sim.signature_key},
            options={"location_id": sim.location_id, "store": "krk", "notification_url": HOOK_URL},
            base_url=url,
        ),
    ]
    ids = []
    for draft in drafts:
        connector = service.add_connector(db, draft=draft).id
        report = service.match_mapping(db, connector_id=connector, http=vendor_http())
        assert (report.matched, report.unmatched) == (1, [])
        ids.append(connector)
    return Merchant(warehouse, store, web, shopify_channel, pos, *ids)


def _omnicart_says(db: Database, connector_id: int) -> int:
    """What the connector's channel may sell of the SKU, as push computes it."""
    with db.reading() as session:
        connector = session.get_one(Connector, connector_id)
        return push.current_stock(session, connector, [SKU])[SKU]


def _vendors_show(shop: ShopifySimulator, sim: SquareSimulator) -> tuple[int, int | None]:
    return shop.available(SKU), sim.count(VARIATION)


def _settle(
    db: Database, merchant: Merchant, shop: ShopifySimulator, sim: SquareSimulator
) -> tuple[int, int]:
    """Background rounds until every figure is acknowledged and the vendors show what
    Omnicart says (the ledger's feed may wait for other transactions of the server)."""
    deadline = time.monotonic() + 20
    while True:
        service.process_until_idle(db, http=vendor_http())
        expected = (
            _omnicart_says(db, merchant.shopify),
            _omnicart_says(db, merchant.square),
        )
        if push.pending(db) == 0 and _vendors_show(shop, sim) == expected:
            return expected
        assert time.monotonic() < deadline, (
            expected,
            _vendors_show(shop, sim),
            push.sync_state(db, connector_id=merchant.shopify),
            push.sync_state(db, connector_id=merchant.square),
        )
        time.sleep(0.05)


def _drain(db: Database) -> None:
    """Process what the inbox holds now, as a worker would while deliveries arrive."""
    while inbox.process_due(db, http=vendor_http(), limit=2):
        pass


def _at_once(works: list[Callable[[], str]]) -> list[str]:
    start = threading.Barrier(len(works))

    def run(work: Callable[[], str]) -> str:
        start.wait()
        return work()

    with ThreadPoolExecutor(len(works)) as pool:
        return list(pool.map(run, works))


def _sold(db: Database) -> dict[int, int]:
    """Units on orders not cancelled, by channel."""
    with db.reading() as session:
        rows = session.execute(
            select(Order.channel_id, func.sum(OrderLine.quantity))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.status != "cancelled")
            .group_by(Order.channel_id)
        )
        return {int(channel): int(units) for channel, units in rows}


def test_the_last_units_raced_for_on_every_channel_are_sold_once_and_vendors_follow(
    pg_db: Database,
    shopify: ShopifySimulator,
    square: tuple[SquareSimulator, str],
) -> None:
    sim, url = square
    merchant = _merchant(pg_db, shopify, sim, url)
    # Before the race each vendor shows what its channel may sell: everything, the store's.
    assert _settle(pg_db, merchant, shopify, sim) == (UNITS, AT_STORE)
    assert _vendors_show(shopify, sim) == (UNITS, AT_STORE)

    def web_checkout(number: int) -> Callable[[], str]:
        def work() -> str:
            try:
                cart = checkout.create_cart(pg_db, channel_id=merchant.web, lines=[(SKU, 1)])
                checkout.checkout(
                    pg_db,
                    cart_id=cart.id,
                    request=checkout.Checkout(
                        fulfil=Fulfil(mode="ship"),
                        customer=Customer(email=f"web{number}@example.com"),
                        payments=(PaymentDraft("card", PRICE),),
                    ),
                )
            except InsufficientStock:
                return "refused"
            return "sold"

        return work

    def shopify_order(number: int) -> Callable[[], str]:
        body, headers = shopify.webhook(
            "orders/create", shopify.order_payload(5000 + number, [(SKU, 1)])
        )

        receipt = deliver(pg_db, merchant.shopify, body, headers)
        assert (receipt.duplicate, receipt.status) == (False, "pending")

        def work() -> str:
            _drain(pg_db)
            return "delivered"

        return work

    def till_sale(number: int) -> Callable[[], str]:
        sim.add_order(f"TILL-{number}", [SquareLine(VARIATION, 1, 3000)], state="COMPLETED")
        body = sim.event(f"TILL-{number}", "order.created")
        arrived = Inbound(
            {k.lower(): v for k, v in sim.signed(HOOK_URL, body).items()},
            body,
            f"http://10.0.0.7:8000/v1/connectors/{merchant.square}/webhooks",
        )

        receipt = inbox.receive(pg_db, connector_id=merchant.square, inbound=arrived)
        assert (receipt.duplicate, receipt.status) == (False, "pending")

        def work() -> str:
            _drain(pg_db)
            return "delivered"

        return work

    works = (
        [web_checkout(n) for n in range(CHECKOUTS)]
        + [shopify_order(n) for n in range(SHOPIFY_ORDERS)]
        + [till_sale(n) for n in range(TILL_SALES)]
    )
    outcomes = _at_once(works)
    expected = _settle(pg_db, merchant, shopify, sim)

    # Every vendor order was taken or parked with a stock reason; none is left pending.
    deliveries = inbox.list_deliveries(pg_db, limit=100)
    assert len(deliveries) == SHOPIFY_ORDERS + TILL_SALES
    assert {(d.status, d.reason_code) for d in deliveries} <= {
        ("done", None),
        ("parked", "insufficient_stock"),
    }
    attention = inbox.list_deliveries(pg_db, attention=True, limit=100)
    assert [d.id for d in attention] == [d.id for d in deliveries if d.status == "parked"]
    taken = {
        connector: sum(1 for d in deliveries if d.connector_id == connector and d.status == "done")
        for connector in (merchant.shopify, merchant.square)
    }
    assert all(d.order_id is not None for d in deliveries if d.status == "done")
    assert all(SKU in (d.reason or "") for d in attention)

    # Sold exactly the units there were: buyers outnumber them, and the web checkout and
    # Shopify reach both locations, so while one of them is refused no unit is left.
    web_sold = outcomes[:CHECKOUTS].count("sold")
    assert set(outcomes[:CHECKOUTS]) <= {"refused", "sold"}
    sold = _sold(pg_db)
    assert sold == {
        channel: units
        for channel, units in (
            (merchant.web, web_sold),
            (merchant.shopify_channel, taken[merchant.shopify]),
            (merchant.pos, taken[merchant.square]),
        )
        if units
    }
    assert sum(sold.values()) == UNITS
    assert len(attention) == SHOPIFY_ORDERS + TILL_SALES - sum(taken.values())
    # The tills sold from the store's shelves (handed over: on hand fell); the others'
    # units wait, allocated, where they were; nothing is held, nothing below zero.
    till = taken[merchant.square]
    assert sorted(all_stock(pg_db)) == sorted(
        [
            (1, merchant.warehouse, AT_WAREHOUSE, 0, AT_WAREHOUSE),
            (1, merchant.store, AT_STORE - till, 0, AT_STORE - till),
        ]
    )
    assert_reconciles(pg_db)

    # Each vendor shows what Omnicart says its channel may sell: nothing is left.
    assert expected == (0, 0)
    assert _vendors_show(shopify, sim) == expected
    for connector in (merchant.shopify, merchant.square):
        states = push.sync_state(pg_db, connector_id=connector)
        assert [(s.sku, s.wanted, s.sent, s.in_sync) for s in states] == [(SKU, "0", "0", True)]
