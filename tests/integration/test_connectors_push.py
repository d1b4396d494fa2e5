"""Stock and prices out, against the vendors' simulators on loopback: after sales each
vendor holds exactly what Omnicart says its channel may sell (buffers and bundles
included), bursts coalesce, a vendor answering 429/500 for a while catches up with no
lost or stale figure, and reconcile finds and fixes drift."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from omnicart.catalog.service import set_channel_price
from omnicart.connectors import push, service
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.reconcile import reconcile_stock
from omnicart.connectors.simulators.shopify import ShopifySimulator
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability
from omnicart.inventory.reservations import reserve_stock
from omnicart.inventory.service import receive_stock
from tests.connectors_support import variant_id
from tests.support import add_channel, add_location, add_variant


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    with WooCommerceSimulator(currency="EUR") as shop:
        yield shop


@pytest.fixture
def shopify() -> Iterator[ShopifySimulator]:
    with ShopifySimulator(currency="EUR") as shop:
        yield shop


def _merchant(db: Database, *, held_back: int = 0) -> tuple[int, int, int]:
    """A warehouse; a vendor's channel (holding back `held_back` units) and the shop's own
    web channel; MUG (10), TEE-M (4), a two-mug pack."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh")
        vendor = add_channel(session, "vendor", ship=(warehouse,), units_held_back=held_back)
        web = add_channel(session, "web", ship=(warehouse,))
        mug = add_variant(session, "MUG")
        add_variant(session, "TEE-M")
        add_variant(session, "MUG-2PACK", components={mug: 2})
    receive_stock(db, location_id=warehouse, lines=[("MUG", 10), ("TEE-M", 4)])
    return warehouse, vendor, web


def _connect(db: Database, channel_id: int, shop: WooCommerceSimulator | ShopifySimulator) -> int:
    spec = shop.connector()
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel_id,
            vendor=spec["vendor"],
            credentials=spec["credentials"],
            options=spec["options"],
            base_url=spec["base_url"],
        ),
    )
    report = service.match_mapping(db, connector_id=view.id, http=vendor_http())
    assert report.unmatched == []
    return view.id


def _sell(db: Database, channel_id: int, sku: str, units: int, key: str) -> None:
    reserve_stock(db, channel_id=channel_id, lines=[(sku, units)], idempotency_key=key)


def _settle(db: Database, *, seconds: float = 15.0) -> None:
    """Run background rounds until every figure is acknowledged (a vendor backing off
    is waited for)."""
    deadline = time.monotonic() + seconds
    while True:
        service.run_round(db)
        if push.pending(db) == 0:
            return
        assert time.monotonic() < deadline, push.sync_state(db, connector_id=1)
        time.sleep(0.05)


def _omnicart(db: Database, channel_id: int, skus: list[str]) -> dict[str, int]:
    with db.reading() as session:
        return channel_availability(session, channel_id=channel_id, skus=skus)


SKUS = ["MUG", "TEE-M", "MUG-2PACK"]


def test_woocommerce_shows_what_the_channel_may_sell_after_sales(
    sqlite_db: Database, woo: WooCommerceSimulator
) -> None:
    _, vendor, web = _merchant(sqlite_db, held_back=1)
    woo.add_product("MUG", stock=99)
    woo.add_variable("Tee", [("TEE-M", "20.00", 99)])
    woo.add_product("MUG-2PACK", stock=99)
    _connect(sqlite_db, vendor, woo)
    _settle(sqlite_db)
    assert {sku: woo.stock(sku) for sku in SKUS} == {"MUG": 9, "TEE-M": 3, "MUG-2PACK": 4}
    _sell(sqlite_db, web, "MUG", 3, "web-1")
    _sell(sqlite_db, web, "TEE-M", 2, "web-2")
    _settle(sqlite_db)
    expected = _omnicart(sqlite_db, vendor, SKUS)
    assert expected == {"MUG": 6, "TEE-M": 1, "MUG-2PACK": 3}
    assert {sku: woo.stock(sku) for sku in SKUS} == expected


def test_shopify_shows_stock_and_prices(db: Database, shopify: ShopifySimulator) -> None:
    _, vendor, web = _merchant(db)
    for sku in SKUS:
        shopify.add_product(sku, price="1.00", available=0)
    connector = _connect(db, vendor, shopify)
    with db.transaction() as session:
        set_channel_price(session, channel_id=vendor, sku="MUG", amount="12.50", currency="EUR")
    push.refresh_all(db, kinds=[push.PRICE])
    _sell(db, web, "MUG", 4, "web-1")
    _settle(db)
    expected = _omnicart(db, vendor, SKUS)
    assert expected == {"MUG": 6, "TEE-M": 4, "MUG-2PACK": 3}
    assert {sku: shopify.available(sku) for sku in SKUS} == expected
    assert shopify.price("MUG") == "12.50"
    states = push.sync_state(db, connector_id=connector)
    assert [(s.sku, s.wanted, s.sent, s.in_sync) for s in states] == [
        ("MUG", "6", "6", True),
        ("MUG-2PACK", "3", "3", True),
        ("TEE-M", "4", "4", True),
    ]


def test_a_burst_is_sent_as_its_last_figure(sqlite_db: Database, woo: WooCommerceSimulator) -> None:
    _, vendor, web = _merchant(sqlite_db)
    woo.add_product("MUG", stock=0)
    connector = _connect(sqlite_db, vendor, woo)
    _settle(sqlite_db)
    woo.sets.clear()
    for number in range(5):
        _sell(sqlite_db, web, "MUG", 1, f"burst-{number}")
    _settle(sqlite_db)
    assert [(sku, units) for _, sku, units in woo.sets] == [("MUG", 5)]
    assert push.sync_state(db=sqlite_db, connector_id=connector, sku="MUG")[0].wanted == "5"


@pytest.mark.parametrize(("status", "how"), [(429, "count"), (500, "seconds")])
def test_a_vendor_that_fails_for_a_while_catches_up_with_nothing_stale(
    sqlite_db: Database, woo: WooCommerceSimulator, status: int, how: str
) -> None:
    _, vendor, web = _merchant(sqlite_db)
    for sku in ("MUG", "TEE-M"):
        woo.add_product(sku, stock=0)
    connector = _connect(sqlite_db, vendor, woo)
    _settle(sqlite_db)
    if how == "count":
        woo.fail(status, count=4, retry_after=0.3)
    else:
        woo.fail(status, seconds=1.0)
    deadline = time.monotonic() + 20
    for number in range(6):
        _sell(sqlite_db, web, "MUG" if number % 2 else "TEE-M", 1, f"sale-{number}")
        service.run_round(sqlite_db)
    while push.pending(sqlite_db):
        assert time.monotonic() < deadline
        service.run_round(sqlite_db)
        time.sleep(0.05)
    assert woo.trouble.answered >= 1
    assert (
        {"MUG": woo.stock("MUG"), "TEE-M": woo.stock("TEE-M")}
        == _omnicart(sqlite_db, vendor, ["MUG", "TEE-M"])
        == {"MUG": 7, "TEE-M": 1}
    )
    # Sales only take units away: a figure received after a lower one would be stale.
    for sku in ("MUG", "TEE-M"):
        received = [units for _, name, units in woo.sets if name == sku]
        assert received == sorted(received, reverse=True), (sku, received)
    assert all(
        s.attempts == 0 and s.in_sync for s in push.sync_state(sqlite_db, connector_id=connector)
    )


def test_reconcile_finds_drift_and_fixes_it(sqlite_db: Database, shopify: ShopifySimulator) -> None:
    _, vendor, _ = _merchant(sqlite_db)
    for sku in SKUS:
        shopify.add_product(sku, available=0)
    connector = _connect(sqlite_db, vendor, shopify)
    _settle(sqlite_db)
    shopify.set_available("TEE-M", 40)  # changed in Shopify's admin, say
    report = reconcile_stock(sqlite_db, connector_id=connector, http=vendor_http(), fix=False)
    assert [(d.sku, d.vendor, d.omnicart) for d in report.drifted] == [("TEE-M", 40, 4)]
    assert shopify.available("TEE-M") == 40
    report = reconcile_stock(sqlite_db, connector_id=connector, http=vendor_http())
    assert (report.checked, report.queued, report.sent) == (3, 1, 1)
    assert shopify.available("TEE-M") == 4
    again = reconcile_stock(sqlite_db, connector_id=connector, http=vendor_http())
    assert again.drifted == []


def test_a_new_mapping_gets_its_figure_and_an_unmapped_sku_nothing(
    sqlite_db: Database, woo: WooCommerceSimulator
) -> None:
    _, vendor, _ = _merchant(sqlite_db)
    woo.add_product("MUG", stock=0)
    other = woo.add_product("NOT-OURS", stock=7)
    _connect_unmatched = service.add_connector(
        sqlite_db,
        draft=service.ConnectorDraft(
            channel_id=vendor, vendor="woocommerce", base_url=woo.url,
            credentials=woo.connector()["credentials"], options={},
        ),
    )  # fmt: skip
    report = service.match_mapping(
        sqlite_db, connector_id=_connect_unmatched.id, http=vendor_http()
    )
    assert (report.matched, [i.vendor_product_id for i in report.unmatched]) == (1, [str(other)])
    _settle(sqlite_db)
    assert (woo.stock("MUG"), woo.stock("NOT-OURS")) == (10, 7)
    assert variant_id(sqlite_db, "MUG") > 0
