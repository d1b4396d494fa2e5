"""`omnicart connectors ...` against a WooCommerce simulator: add (credentials from a file,
never printed), list, test, mapping, process, attention, retry, stock, reconcile; refusals
are one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicart.connectors.base import Inbound
from omnicart.connectors.inbox import receive
from omnicart.connectors.registry import VENDORS
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.db.engine import Database
from omnicart.inventory.service import receive_stock
from tests.cli_run import omnicart
from tests.support import add_channel, add_location, add_variant


@pytest.fixture
def shop() -> Iterator[WooCommerceSimulator]:
    with WooCommerceSimulator(currency="EUR") as simulator:
        simulator.add_product("MUG", stock=0)
        simulator.add_product("NOT-OURS", stock=0)
        yield simulator


@pytest.fixture
def url(sqlite_db: Database, tmp_path: Path) -> str:
    with sqlite_db.transaction() as session:
        warehouse = add_location(session, "wh")
        add_channel(session, "woo", ship=(warehouse,))
        add_variant(session, "MUG")
    receive_stock(sqlite_db, location_id=warehouse, lines=[("MUG", 6)])
    return str(sqlite_db.engine.url)


def test_connect_map_process_and_reconcile(
    capsys: pytest.CaptureFixture[str], url: str, shop: WooCommerceSimulator, tmp_path: Path
) -> None:
    creds = tmp_path / "woo.json"
    creds.write_text(json.dumps(shop.connector()["credentials"]))
    db = ("--database-url", url)
    added = omnicart(
        capsys, "connectors", "add", "woo", "--vendor", "woocommerce",
        "--base-url", shop.url, "--credentials-file", str(creds), *db,
    )  # fmt: skip
    assert added.code == 0, added.err
    assert added.out.split("\n")[0] == (
        f"connector 1: woocommerce for channel woo at {shop.url}, webhooks at "
        "/v1/connectors/1/webhooks; credentials consumer_key, consumer_secret, webhook_secret "
        "(stored encrypted)"
    )
    listed = omnicart(capsys, "connectors", "list", *db)
    tested = omnicart(capsys, "connectors", "test", "woo", *db)
    assert tested.out.strip() == "ok: woocommerce answered with 2 item(s)"
    mapped = omnicart(capsys, "connectors", "mapping", "1", "--match", *db)
    assert "2 vendor item(s): 1 matched, 0 kept as set by hand, 1 unmatched" in mapped.out
    for ran in (added, listed, tested, mapped):
        for secret in shop.connector()["credentials"].values():
            assert secret not in ran.out + ran.err

    body, headers = shop.webhook("order.created", shop.order_payload(5, [("NOT-OURS", 1)]))
    database = Database.from_url(url)
    try:
        receive(database, connector_id=1, inbound=Inbound(
            {k.lower(): v for k, v in headers.items()}, body, "http://x"
        ))  # fmt: skip
    finally:
        database.dispose()
    processed = omnicart(capsys, "connectors", "process", *db)
    assert processed.code == 0
    attention = omnicart(capsys, "connectors", "attention", *db)
    assert "1 delivery(ies) need attention" in attention.out
    assert "unknown_sku: line 1 (product" in attention.out
    assert shop.stock("MUG") == 6

    shop.set_stock("MUG", 2)
    dry = omnicart(capsys, "connectors", "reconcile", "woo", "--dry-run", *db)
    assert dry.code == 1
    assert "1 SKU(s) checked, 1 drifted" in dry.out
    fixed = omnicart(capsys, "connectors", "reconcile", "woo", *db)
    assert (fixed.code, shop.stock("MUG")) == (0, 6)
    assert "1 SKU(s) checked, 1 drifted; 1 queued, 1 sent" in fixed.out
    stock = omnicart(capsys, "connectors", "stock", "woo", *db)
    assert "MUG" in stock.out
    assert "yes" in stock.out


def test_refusals_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], url: str, shop: WooCommerceSimulator
) -> None:
    db = ("--database-url", url)
    unknown = omnicart(capsys, "connectors", "add", "woo", "--vendor", "ebay", *db)
    assert unknown.code == 2
    assert unknown.err.strip() == ("error (--vendor): unknown vendor 'ebay'; one of: " + _vendors())
    missing = omnicart(
        capsys, "connectors", "add", "woo", "--vendor", "woocommerce", "--base-url", shop.url,
        "--credential", "webhook_secret=s", *db,
    )  # fmt: skip
    assert missing.code == 2
    assert "needs credentials consumer_key, consumer_secret" in missing.err
    nobody = omnicart(capsys, "connectors", "reconcile", "nowhere", *db)
    assert (nobody.code, nobody.err.strip()) == (
        2,
        "error (CONNECTOR): channel 'nowhere' does not exist",
    )


def _vendors() -> str:
    return ", ".join(sorted(VENDORS))
