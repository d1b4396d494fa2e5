"""WooCommerce: every published order payload (REST docs, real delivery logs) becomes an
order with the payload's own figures; updates, deletions, pings, signatures, unknown
products, bad bodies and other currencies each get their clear answer, and nothing is lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from omnicart.connectors import inbox
from omnicart.connectors.simulators.woocommerce import published_orders
from omnicart.connectors.woocommerce import sign
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability
from omnicart.kernel.errors import Unauthorized
from omnicart.orders.service import get_order
from omnicart.orders.tables import Order
from omnicart.orders.views import OrderView
from tests.connectors_support import (
    DATA,
    STOCK,
    connect,
    counts,
    deliver,
    delivery,
    map_woo_products,
    need_data,
    process,
    seed,
)

SECRET = "wc-secret"


def _headers(body: bytes, topic: str = "order.created", delivery_id: str = "1") -> dict[str, str]:
    return {
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": sign(body, SECRET),
        "X-WC-Webhook-Delivery-ID": delivery_id,
        "X-WC-Webhook-ID": "142",
    }


def _shop(db: Database) -> dict[str, int]:
    """Channels in USD and BRL (the delivery logs are of a Brazilian shop), a connector each."""
    merchant = seed(db, channels={"woo-usd": "USD", "woo-brl": "BRL"})
    connectors = {}
    for code, channel_id in merchant.channels.items():
        connectors[code] = connect(db, channel_id, "woocommerce")
        map_woo_products(db, connectors[code])
    return connectors


def _amount(value: Any) -> Decimal:
    return Decimal(str(value))


def _check(name: str, payload: dict[str, Any], order: OrderView) -> None:
    """The order holds the payload's own figures."""
    assert order.external_id == str(payload["id"]), name
    assert order.currency == payload["currency"], name
    items = payload["line_items"]
    assert [line.quantity for line in order.lines] == [item["quantity"] for item in items]
    assert [line.unit_price for line in order.lines] == [
        _amount(i["subtotal"]) / i["quantity"] for i in items
    ], name
    assert [line.discount for line in order.lines] == [
        _amount(i["subtotal"]) - _amount(i["total"]) for i in items
    ], name
    line_taxes = [_amount(i["total_tax"]) for i in items]
    if sum(line_taxes) + _amount(payload["shipping_tax"]) == _amount(payload["total_tax"]):
        assert [line.tax for line in order.lines] == line_taxes, name
    else:  # rounded once per order by the shop: the order keeps its tax, lines none
        assert (name, payload["id"]) == ("v3_batch-update-orders.response.json", 728)
        assert [line.tax for line in order.lines] == [Decimal(0)] * len(items)
    shipping = payload.get("shipping_total", payload.get("total_shipping"))
    discount = payload.get("discount_total", payload.get("total_discount"))
    assert order.shipping_total == _amount(shipping), name
    assert order.tax_total == _amount(payload["total_tax"]), name
    assert order.discount_total == _amount(discount), name
    assert order.total == _amount(payload["total"]), name
    if "subtotal" in payload:
        assert order.subtotal == _amount(payload["subtotal"]), name
    refunds = sum((abs(_amount(r["total"])) for r in payload.get("refunds") or []), Decimal(0))
    assert order.refunded == refunds, name
    if "payment_details" in payload:  # the legacy API says so
        paid = bool(payload["payment_details"]["paid"])
    else:  # a paid order has its payment date, or a status only paid orders reach
        paid = bool(payload["date_paid_gmt"]) or payload["status"] in ("processing", "completed")
    assert order.paid == (order.total if paid else 0), name


def test_every_published_order_becomes_an_order_with_its_own_figures(
    sqlite_db: Database,
) -> None:
    """Each example file is a shop of its own (a channel and its connector): the same
    order ids recur across the files."""
    published = published_orders(need_data())
    assert sum(len(orders) for orders in published.values()) == 20
    currencies = {name: orders[0]["currency"] for name, orders in published.items()}
    merchant = seed(
        sqlite_db, channels={f"woo-{i}": currencies[name] for i, name in enumerate(published)}
    )
    receipts = []
    for index, (name, orders) in enumerate(published.items()):
        connector = connect(sqlite_db, merchant.channels[f"woo-{index}"], "woocommerce")
        map_woo_products(sqlite_db, connector)
        for number, payload in enumerate(orders):
            legacy = "date_modified_gmt" not in payload
            body = orjson.dumps({"order": payload} if legacy else payload)
            receipt = deliver(sqlite_db, connector, body, _headers(body, delivery_id=str(number)))
            receipts.append((name, payload, receipt))
    process(sqlite_db)
    for name, payload, receipt in receipts:
        row = delivery(sqlite_db, receipt)
        assert (row.status, row.reason) == ("done", None), (name, payload["id"])
        _check(name, payload, get_order(sqlite_db, order_id=row.order_id or 0))
    # The delivery log holds two deliveries of order 118: one order, in its latest state.
    assert counts(sqlite_db) == (20, 19)


def test_an_order_in_another_currency_than_the_channels_is_parked_and_kept(
    sqlite_db: Database,
) -> None:
    need_data()
    connectors = _shop(sqlite_db)
    body = (DATA / "webhooks" / "woocommerce" / "v3_create-an-order.response.json").read_bytes()
    receipt = deliver(sqlite_db, connectors["woo-brl"], body, _headers(body))
    process(sqlite_db)
    row = delivery(sqlite_db, receipt)
    assert (row.status, row.reason_code) == ("parked", "currency")
    assert row.reason == "channel 'woo-brl' sells in BRL, not USD (currency)"
    assert row.body == body
    assert counts(sqlite_db) == (1, 0)
    parked = inbox.list_deliveries(sqlite_db, attention=True)
    assert [d.id for d in parked] == [row.id]


def _version(payload: dict[str, Any], *, modified: str, quantity: int) -> dict[str, Any]:
    """The order with its first line's quantity changed (and its totals with it)."""
    changed = orjson.loads(orjson.dumps(payload))
    first = changed["line_items"][0]
    price = _amount(first["subtotal"]) / first["quantity"]
    tax = _amount(first["total_tax"]) / first["quantity"]
    old_amount, old_tax = _amount(first["total"]), _amount(first["total_tax"])
    first["quantity"] = quantity
    first["subtotal"] = first["total"] = f"{price * quantity:.2f}"
    first["subtotal_tax"] = first["total_tax"] = f"{tax * quantity:.2f}"
    delta = price * quantity - old_amount + tax * quantity - old_tax
    changed["total"] = f"{_amount(changed['total']) + delta:.2f}"
    changed["total_tax"] = changed["cart_tax"] = (
        f"{_amount(changed['total_tax']) + tax * quantity - old_tax:.2f}"
    )
    changed["date_modified_gmt"] = modified
    return changed


def test_updates_change_the_order_older_ones_lose_and_deletion_cancels_it(db: Database) -> None:
    need_data()
    connectors = _shop(db)
    connector = connectors["woo-usd"]
    created = orjson.loads(
        (DATA / "webhooks" / "woocommerce" / "v3_create-an-order.response.json").read_bytes()
    )
    updated = _version(created, modified="2017-03-22T19:40:00", quantity=1)
    stale = _version(created, modified="2017-03-22T19:30:00", quantity=3)
    for number, (topic, payload) in enumerate(
        [("order.created", created), ("order.updated", updated), ("order.updated", stale)]
    ):
        body = orjson.dumps(payload)
        deliver(db, connector, body, _headers(body, topic, str(number)))
        process(db)
    with db.reading() as session:
        order_id = session.scalar(select(Order.id).where(Order.external_id == "727"))
    order = get_order(db, order_id=order_id or 0)
    assert [(line.sku, line.quantity) for line in order.lines] == [("WOO-93", 1), ("Bar3", 1)]
    assert (order.total, order.tax_total) == (Decimal("26.12"), Decimal("1.12"))
    with db.reading() as session:
        assert channel_availability(session, channel_id=order.channel_id, skus=["WOO-93"]) == {
            "WOO-93": STOCK - 1
        }

    body = b'{"id":727}'
    deliver(db, connector, body, _headers(body, "order.deleted", "9"))
    process(db)
    order = get_order(db, order_id=order.id)
    assert order.status == "cancelled"
    with db.reading() as session:
        assert channel_availability(
            session, channel_id=order.channel_id, skus=["WOO-93", "Bar3"]
        ) == {"WOO-93": STOCK, "Bar3": STOCK}
    assert counts(db) == (4, 1)


def test_a_ping_is_answered_and_stores_nothing(sqlite_db: Database) -> None:
    connectors = _shop(sqlite_db)
    receipt = deliver(
        sqlite_db,
        connectors["woo-usd"],
        b"webhook_id=142",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert receipt == inbox.Receipt(None, False, "ping")
    assert counts(sqlite_db) == (0, 0)


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "missing", "other secret"],
)
def test_a_delivery_not_signed_with_the_secret_is_refused_and_nothing_is_stored(
    sqlite_db: Database, tamper: str
) -> None:
    need_data()
    connectors = _shop(sqlite_db)
    body = (DATA / "webhooks" / "woocommerce" / "v3_create-an-order.response.json").read_bytes()
    headers = _headers(body)
    if tamper == "body":
        body = body.replace(b'"29.35"', b'"2.35"')
    elif tamper == "signature":
        headers["X-WC-Webhook-Signature"] = sign(body + b" ", SECRET)
    elif tamper == "missing":
        del headers["X-WC-Webhook-Signature"]
    else:
        headers["X-WC-Webhook-Signature"] = sign(body, "another secret")
    with pytest.raises(Unauthorized) as refused:
        deliver(sqlite_db, connectors["woo-usd"], body, headers)
    assert refused.value.field == "x-wc-webhook-signature"
    assert counts(sqlite_db) == (0, 0)


def test_an_unknown_product_is_parked_and_taken_once_it_is_mapped(sqlite_db: Database) -> None:
    need_data()
    merchant = seed(sqlite_db, channels={"woo": "USD"})
    connector = connect(sqlite_db, merchant.channels["woo"], "woocommerce")
    body = (DATA / "webhooks" / "woocommerce" / "v3_create-an-order.response.json").read_bytes()
    receipt = deliver(sqlite_db, connector, body, _headers(body))
    process(sqlite_db)
    row = delivery(sqlite_db, receipt)
    assert (row.status, row.reason_code) == ("parked", "unknown_sku")
    assert row.reason == "line 1 (product 93, 'Woo Single #1') matches no Omnicart SKU"
    assert counts(sqlite_db) == (1, 0)
    # Bar3 matched by its SKU and was learnt; product 93 needs a person.
    map_woo_products(sqlite_db, connector)
    assert inbox.requeue(sqlite_db, connector_id=connector) == 1
    process(sqlite_db)
    row = delivery(sqlite_db, receipt)
    assert (row.status, row.reason) == ("done", None)
    assert counts(sqlite_db) == (1, 1)
    assert inbox.list_deliveries(sqlite_db, attention=True) == []


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b'{"id": 5, "line_items": [', "unreadable", "the body is not JSON"),
        (b'{"id": 5, "total": "1.00"}', "invalid", "the order has no line_items (line_items)"),
        (
            (
                b'{"id": 5, "total": "1.00", "line_items": [{"product_id": 93, "quantity": 1, '
                b'"subtotal": "1.00"}]}'
            ),
            "invalid",
            "line_items.0.total is missing (line_items.0.total)",
        ),
        (b'{"total": "1.00"}', "unreadable", "id is missing"),
    ],
)
def test_an_authentic_body_that_cannot_be_taken_is_kept_with_its_reason(
    sqlite_db: Database, body: bytes, code: str, reason: str
) -> None:
    connectors = _shop(sqlite_db)
    receipt = deliver(sqlite_db, connectors["woo-usd"], body, _headers(body))
    process(sqlite_db)
    row = delivery(sqlite_db, receipt)
    assert (row.status, row.reason_code, row.body) == ("parked", code, body)
    assert (row.reason or "").startswith(reason)
    assert counts(sqlite_db) == (1, 0)
