"""Figures go out in batches, apart from the inbox: a stock change reaches the vendor while
the inbox is stuck; a batch is claimed and finished in one statement each, a batch
finished late never overwrites a newer figure, and claimers at once on PostgreSQL never
take the same figure; each vendor takes a burst in one call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from omnicart.connectors import inbox, push, service
from omnicart.connectors.base import StockFigure
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.errors import VendorRefused
from omnicart.connectors.registry import adapter
from omnicart.connectors.sealing import connection_of
from omnicart.connectors.simulators.shopify import ShopifySimulator
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.connectors.tables import Connector, PushState
from omnicart.db.engine import Database
from omnicart.inventory.reservations import reserve_stock
from omnicart.inventory.service import receive_stock
from omnicart.kernel.clock import utcnow
from omnicart.settings import get_settings
from omnicart.worker.runner import loops
from tests.support import add_channel, add_location, add_variant

SKUS = ["MUG", "TEE-M", "CAP"]


@pytest.fixture
def shopify() -> Iterator[ShopifySimulator]:
    with ShopifySimulator(currency="EUR") as shop:
        yield shop


@pytest.fixture
def woo() -> Iterator[WooCommerceSimulator]:
    with WooCommerceSimulator(currency="EUR") as shop:
        yield shop


def _connected(db: Database, shop: ShopifySimulator | WooCommerceSimulator) -> tuple[int, int]:
    """A warehouse with 10 of each SKU, a vendor channel connected to `shop` (its catalog
    mapped by SKU): (channel id, connector id)."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh")
        channel = add_channel(session, "vendor", ship=(warehouse,))
        for sku in SKUS:
            add_variant(session, sku)
    receive_stock(db, location_id=warehouse, lines=[(sku, 10) for sku in SKUS])
    for sku in SKUS:
        if isinstance(shop, ShopifySimulator):
            shop.add_product(sku, price="5.00", available=0)
        else:
            shop.add_product(sku, price="5.00", stock=0)
    spec = shop.connector()
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel,
            vendor=spec["vendor"],
            credentials=spec["credentials"],
            options=spec["options"],
            base_url=spec["base_url"],
        ),
    )
    report = service.match_mapping(db, connector_id=view.id, http=vendor_http())
    assert report.matched == len(SKUS)
    return channel, view.id


def _sell(db: Database, channel: int, sku: str, key: str) -> None:
    reserve_stock(db, channel_id=channel, lines=[(sku, 1)], idempotency_key=key)


def _stock_rows(db: Database) -> dict[str, tuple[str, int, str | None, int, str | None]]:
    """sku -> (wanted, wanted_seq, sent, sent_seq, claim_token) of the stock figures."""
    with db.reading() as session:
        return {
            row.sku: (row.wanted, row.wanted_seq, row.sent, row.sent_seq, row.claim_token)
            for row in session.scalars(select(PushState).where(PushState.kind == push.STOCK))
        }


def _wait(condition: Any, *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_stock_change_reaches_the_vendor_while_the_inbox_is_stuck(
    db: Database, shopify: ShopifySimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, _ = _connected(db, shopify)
    entered, release = threading.Event(), threading.Event()

    def stuck(db: Database, *, http: Any, limit: int = 20) -> int:
        entered.set()
        release.wait(60)
        return 0

    monkeypatch.setattr(inbox, "process_due", stuck)
    running = loops(db, get_settings())
    for loop in running:
        loop.start()
    try:
        assert entered.wait(30), "the inbox loop never ran"
        _wait(lambda: shopify.available("MUG") == 10, what="the first figures")
        _sell(db, channel, "MUG", "a")
        _sell(db, channel, "MUG", "b")
        _wait(lambda: shopify.available("MUG") == 8, what="the figure after two sales")
        # The inbox's step never returned meanwhile: the figure did not wait for it.
        assert not release.is_set()
        assert [sku for _, sku, units in shopify.sets if units == 8] == ["MUG"]
    finally:
        release.set()
        for loop in running:
            loop.stop()


def test_a_batch_is_claimed_whole_and_a_late_finish_keeps_the_newer_figure(
    db: Database, woo: WooCommerceSimulator
) -> None:
    channel, connector = _connected(db, woo)
    token, _, claimed = push._claim(db, limit=100, connector_id=None)
    assert sorted((c.sku, c.wanted, c.wanted_seq) for c in claimed) == [
        ("CAP", "10", 1),
        ("MUG", "10", 1),
        ("TEE-M", "10", 1),
    ]
    assert {row[4] for row in _stock_rows(db).values()} == {token}
    # Claimed rows are nobody else's until the lease ends.
    assert push._claim(db, limit=100, connector_id=None)[2] == []
    _sell(db, channel, "MUG", "a")
    push.refresh_from_feed(db)
    push._done(db, claimed, token)
    rows = _stock_rows(db)
    # The claimed figure (10, seq 1) is what the vendor holds; the newer one (9, seq 2)
    # is still to send, never marked sent by the older batch.
    assert rows["MUG"] == ("9", 2, "10", 1, None)
    assert rows["CAP"] == ("10", 1, "10", 1, None)
    assert push.pending(db, connector_id=connector) == 1
    assert push.push_due(db, http=vendor_http()) == 1
    assert _stock_rows(db)["MUG"] == ("9", 2, "9", 2, None)
    assert woo.stock("MUG") == 9
    assert [units for _, sku, units in woo.sets if sku == "MUG"] == [9]


def test_a_batch_taken_over_after_its_lease_cannot_be_finished_by_its_first_claimer(
    db: Database, woo: WooCommerceSimulator
) -> None:
    _connected(db, woo)
    first, _, claimed = push._claim(db, limit=100, connector_id=None)
    with db.transaction() as session:  # the first claimer stalled past its lease
        session.execute(update(PushState).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    second, _, again = push._claim(db, limit=100, connector_id=None)
    assert sorted(c.sku for c in again) == sorted(SKUS)
    push._done(db, claimed, first)
    push._failed(db, claimed, first, error="late", refused=True)
    # (sent_seq, claim_token): nothing sent, the second claimer's still.
    assert {sku: row[3:] for sku, row in _stock_rows(db).items()} == dict.fromkeys(
        SKUS, (0, second)
    )
    push._done(db, again, second)
    assert {sku: row[2:] for sku, row in _stock_rows(db).items()} == dict.fromkeys(
        SKUS, ("10", 1, None)
    )


@pytest.mark.postgres
def test_claimers_at_once_never_take_the_same_figure(
    pg_db: Database, woo: WooCommerceSimulator
) -> None:
    _, connector = _connected(pg_db, woo)
    now = utcnow()
    with pg_db.transaction() as session:
        session.execute(
            insert(PushState),
            [
                {
                    "connector_id": connector,
                    "kind": push.STOCK,
                    "sku": f"BULK-{n:03d}",
                    "wanted": str(n),
                    "wanted_seq": 1,
                    "changed_at": now,
                    "sent_seq": 0,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for n in range(400)
            ],
        )
    due = {f"BULK-{n:03d}" for n in range(400)} | set(SKUS)
    start = threading.Barrier(8)
    taken: list[list[tuple[str, str]]] = [[] for _ in range(8)]

    def claimer(index: int) -> None:
        start.wait()
        while True:
            token, _, claimed = push._claim(pg_db, limit=20, connector_id=connector)
            if not claimed:
                return
            taken[index].extend((c.sku, token) for c in claimed)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    skus = [sku for got in taken for sku, _ in got]
    assert len(skus) == len(set(skus)) == len(due)
    assert set(skus) == due
    tokens = {sku: row[4] for sku, row in _stock_rows(pg_db).items()}
    assert tokens == {sku: token for got in taken for sku, token in got}


def test_shopify_takes_a_burst_in_one_call_and_refuses_an_unknown_item(
    db: Database, shopify: ShopifySimulator
) -> None:
    _, connector = _connected(db, shopify)
    before = shopify.calls
    assert push.push_due(db, http=vendor_http()) == len(SKUS)
    assert shopify.calls == before + 1
    assert {sku: shopify.available(sku) for sku in SKUS} == dict.fromkeys(SKUS, 10)
    with db.reading() as session:
        connection = connection_of(session, session.get_one(Connector, connector))
    unknown = StockFigure("GHOST", "1", "2", 3, stock_ref="999999")
    with pytest.raises(VendorRefused, match="INVALID_INVENTORY_ITEM"):
        adapter("shopify").push_stock(connection, vendor_http(), [unknown])
    assert {sku: shopify.available(sku) for sku in SKUS} == dict.fromkeys(SKUS, 10)


def test_woocommerce_takes_a_burst_in_one_call_and_refuses_an_unknown_item(
    db: Database, woo: WooCommerceSimulator
) -> None:
    _, connector = _connected(db, woo)
    before = woo.calls
    assert push.push_due(db, http=vendor_http()) == len(SKUS)
    assert woo.calls == before + 1
    assert {sku: woo.stock(sku) for sku in SKUS} == dict.fromkeys(SKUS, 10)
    with db.reading() as session:
        connection = connection_of(session, session.get_one(Connector, connector))
    unknown = StockFigure("GHOST", "999999", None, 3)
    with pytest.raises(VendorRefused, match="invalid_id"):
        adapter("woocommerce").push_stock(connection, vendor_http(), [unknown])
