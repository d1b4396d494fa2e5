"""Shopify: the OAuth/app-proxy query HMAC against Shopify's published vectors, webhook
signatures, its published order fixtures (which get a clear answer where they contradict
themselves), and orders created, paid, updated, cancelled and refunded through webhooks.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from omnicart.connectors import inbox
from omnicart.connectors.shopify import query_hmac, query_message, sign, verify_query_hmac
from omnicart.connectors.simulators.shopify import published_orders
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability
from omnicart.kernel.errors import Unauthorized
from omnicart.orders.service import get_order
from tests.connectors_support import (
    DATA,
    STOCK,
    connect,
    counts,
    deliver,
    delivery,
    need_data,
    process,
    seed,
)

SECRET = "hush"


def _vectors() -> list[dict[str, Any]]:
    path = DATA / "webhooks" / "shopify" / "oauth_hmac_vectors.json"
    if not path.is_file():
        pytest.skip(f"Shopify's OAuth HMAC vectors are not at {path}")
    vectors: list[dict[str, Any]] = orjson.loads(path.read_bytes())["vectors"]
    return vectors


def test_every_published_oauth_vector_verifies() -> None:
    vectors = _vectors()
    assert len(vectors) == 3
    for vector in vectors:
        params, secret = vector["params"], vector["secret"]
        assert query_message(params) == vector["expected_string_to_sign"]
        signature = vector.get("expected_hmac") or query_hmac(params, secret)
        if "expected_hmac" in vector:
            assert query_hmac(params, secret) == vector["expected_hmac"]
        assert verify_query_hmac({**params, "hmac": signature}, secret)


def test_the_docs_vector_verifies_as_a_raw_query_string() -> None:
    vector = _vectors()[0]
    query = "&".join(f"{k}={v}" for k, v in vector["params"].items())
    assert verify_query_hmac(f"{query}&hmac={vector['expected_hmac']}", vector["secret"])
    listed = _vectors()[1]
    assert verify_query_hmac(
        f"shop=some-shop.myshopify.com&ids[]=2&ids[]=1&hmac={listed['expected_hmac']}", "hush"
    )


def test_every_tampered_vector_is_refused() -> None:
    for vector in _vectors():
        params, secret = vector["params"], vector["secret"]
        signature = vector.get("expected_hmac") or query_hmac(params, secret)
        tampered_params = {**params, "shop": "other-shop.myshopify.com"}
        assert not verify_query_hmac({**tampered_params, "hmac": signature}, secret)
        assert not verify_query_hmac({**params, "hmac": signature}, secret + "x")
        flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
        assert not verify_query_hmac({**params, "hmac": flipped}, secret)
        assert not verify_query_hmac(dict(params), secret)  # no hmac at all
    listed = _vectors()[1]
    reordered = {**listed["params"], "ids[]": [1, 2]}
    assert not verify_query_hmac({**reordered, "hmac": listed["expected_hmac"]}, "hush")


def _shop(db: Database, currency: str = "USD") -> int:
    merchant = seed(db, channels={"shopify": currency})
    return connect(db, merchant.channels["shopify"], "shopify")


def _headers(body: bytes, topic: str, webhook_id: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": "omnicart-sim.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
    }


def _fixture(name: str) -> dict[str, Any]:
    return dict(orjson.loads((need_data() / "webhooks" / "shopify" / name).read_bytes()))


def _consistent_order() -> dict[str, Any]:
    """Shopify's order fixture with its red line taken out: its own totals (398.00 of
    lines, 11.94 of tax, 409.94 in all) then add up."""
    order = copy.deepcopy(_fixture("shopify_python_api_fixture_order.json")["order"])
    order["line_items"] = [i for i in order["line_items"] if i["sku"] != "IPOD2008RED"]
    return order


def test_the_published_fixtures_that_contradict_themselves_are_parked_saying_why(
    sqlite_db: Database,
) -> None:
    published = published_orders(need_data())
    assert sorted(published) == [
        "shopify_python_api_fixture_order.json",
        "shopify_python_api_fixture_orders.json",
    ]
    connector = _shop(sqlite_db)
    reasons = {}
    for name, orders in published.items():
        for order in orders:
            body = orjson.dumps(order)
            receipt = deliver(sqlite_db, connector, body, _headers(body, "orders/create", name))
            process(sqlite_db)
            row = delivery(sqlite_db, receipt)
            assert (row.status, row.reason_code, row.body) == ("parked", "invalid", body)
            reasons[name] = row.reason
    assert reasons == {
        # Three lines of 199.00 are 597.00; the fixture says its lines are 398.00.
        "shopify_python_api_fixture_order.json": (
            "subtotal is 398.00 but the sum of quantity x unit_price gives 597.00 (subtotal)"
        ),
        "shopify_python_api_fixture_orders.json": "the order has no line_items (line_items)",
    }
    assert counts(sqlite_db) == (2, 0)


def test_an_order_takes_the_payloads_own_figures(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    payload = _consistent_order()
    body = orjson.dumps(payload)
    receipt = deliver(sqlite_db, connector, body, _headers(body, "orders/create", "w-1"))
    process(sqlite_db)
    row = delivery(sqlite_db, receipt)
    assert (row.status, row.reason) == ("done", None)
    order = get_order(sqlite_db, order_id=row.order_id or 0)
    assert (order.external_id, order.currency, order.status) == ("450789469", "USD", "pending")
    assert [(line.sku, line.quantity, line.unit_price, line.discount, line.tax)
            for line in order.lines] == [
        ("IPOD2008GREEN", 1, Decimal("199.00"), Decimal(0), Decimal(0)),
        ("IPOD2008BLACK", 1, Decimal("199.00"), Decimal(0), Decimal(0)),
    ]  # fmt: skip
    assert (
        order.subtotal,
        order.discount_total,
        order.shipping_total,
        order.tax_total,
        order.total,
        order.paid,
    ) == (
        Decimal(payload["total_line_items_price"]),
        Decimal(payload["total_discounts"]),
        Decimal("0.00"),
        Decimal(payload["total_tax"]),
        Decimal(payload["total_price"]),
        Decimal(0),  # authorized, not captured
    )
    assert order.customer_email == "bob.norman@hostmail.com"
    assert order.shipping_address is not None
    assert order.shipping_address["country"] == "US"


def test_paid_updated_refunded_and_cancelled(db: Database) -> None:
    connector = _shop(db)
    created = _consistent_order()
    paid = {**created, "financial_status": "paid", "updated_at": "2008-01-10T11:05:00-05:00"}
    refund = _fixture("shopify_python_api_fixture_refund.json")["refund"]
    steps = [
        ("orders/create", created),
        ("orders/paid", paid),
        ("refunds/create", refund),
        ("refunds/create", refund),  # Shopify again, with another webhook id: once
    ]
    for number, (topic, payload) in enumerate(steps):
        body = orjson.dumps(payload)
        deliver(db, connector, body, _headers(body, topic, f"w-{number}"))
        process(db)
    found = inbox.list_deliveries(db, connector_id=connector)
    assert [(d.status, d.reason) for d in found] == [("done", None)] * 4
    order = get_order(db, order_id=found[0].order_id or 0)
    assert (order.status, order.paid, order.refunded) == (
        "confirmed",
        Decimal("409.94"),
        Decimal("209.00"),
    )
    # Nothing had shipped: the refund's units are flagged for a person.
    assert [flag["code"] for flag in order.flags] == ["refunded_before_shipping"]
    assert "IPOD2008BLACK x1" in order.flags[0]["detail"]

    later = copy.deepcopy(paid)
    later["updated_at"] = "2008-01-10T12:00:00-05:00"
    later["line_items"][0]["quantity"] = 2
    later["total_line_items_price"] = "597.00"
    later["total_price"] = "608.94"
    cancelled = {**later, "cancelled_at": "2008-01-10T13:00:00-05:00",
                 "updated_at": "2008-01-10T13:00:00-05:00"}  # fmt: skip
    body = orjson.dumps(later)
    deliver(db, connector, body, _headers(body, "orders/updated", "w-5"))
    process(db)
    order = get_order(db, order_id=order.id)
    assert [(line.sku, line.quantity) for line in order.lines] == [
        ("IPOD2008GREEN", 2),
        ("IPOD2008BLACK", 1),
    ]
    with db.reading() as session:
        left = channel_availability(
            session, channel_id=order.channel_id, skus=["IPOD2008GREEN", "IPOD2008BLACK"]
        )
    assert left == {"IPOD2008GREEN": STOCK - 2, "IPOD2008BLACK": STOCK - 1}
    body = orjson.dumps(cancelled)
    deliver(db, connector, body, _headers(body, "orders/cancelled", "w-6"))
    process(db)
    order = get_order(db, order_id=order.id)
    assert order.status == "cancelled"
    with db.reading() as session:
        left = channel_availability(
            session, channel_id=order.channel_id, skus=["IPOD2008GREEN", "IPOD2008BLACK"]
        )
    assert left == {"IPOD2008GREEN": STOCK, "IPOD2008BLACK": STOCK}
    assert counts(db) == (6, 1)


def test_an_update_before_its_create_leaves_the_latest_state(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    created = _consistent_order()
    later = {**copy.deepcopy(created), "updated_at": "2008-01-10T12:00:00-05:00"}
    later["line_items"][1]["quantity"] = 3
    later["total_line_items_price"] = "796.00"
    later["total_price"] = "807.94"
    for number, (topic, payload) in enumerate(
        [("orders/updated", later), ("orders/create", created)]
    ):
        body = orjson.dumps(payload)
        deliver(sqlite_db, connector, body, _headers(body, topic, f"w-{number}"))
        process(sqlite_db)
    found = inbox.list_deliveries(sqlite_db, connector_id=connector)
    assert [d.status for d in found] == ["done", "done"]
    order = get_order(sqlite_db, order_id=found[0].order_id or 0)
    assert found[1].order_id == order.id
    assert [(line.sku, line.quantity) for line in order.lines] == [
        ("IPOD2008GREEN", 1),
        ("IPOD2008BLACK", 3),
    ]
    assert order.total == Decimal("807.94")


def test_a_cancellation_before_its_order_waits_for_it(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    created = _consistent_order()
    cancelled = {**created, "cancelled_at": "2008-01-10T13:00:00-05:00",
                 "updated_at": "2008-01-10T13:00:00-05:00"}  # fmt: skip
    body = orjson.dumps(cancelled)
    early = deliver(sqlite_db, connector, body, _headers(body, "orders/cancelled", "w-1"))
    process(sqlite_db)
    row = delivery(sqlite_db, early)
    assert (row.status, row.reason_code) == ("pending", "order_unknown")
    body = orjson.dumps(created)
    deliver(sqlite_db, connector, body, _headers(body, "orders/create", "w-2"))
    process(sqlite_db)
    inbox.requeue(sqlite_db, connector_id=connector, deliveries=[row.id])  # rather than wait
    process(sqlite_db)
    order = get_order(sqlite_db, order_id=delivery(sqlite_db, early).order_id or 0)
    assert order.status == "cancelled"


@pytest.mark.parametrize("tamper", ["body", "signature", "missing", "secret", "other shop"])
def test_a_delivery_not_signed_by_the_app_is_refused_and_nothing_is_stored(
    sqlite_db: Database, tamper: str
) -> None:
    connector = _shop(sqlite_db)
    body = orjson.dumps(_consistent_order())
    headers = _headers(body, "orders/create", "w-1")
    if tamper == "body":
        body = body.replace(b"409.94", b"1.00")
    elif tamper == "signature":
        headers["X-Shopify-Hmac-Sha256"] = sign(body + b"\n", SECRET)
    elif tamper == "missing":
        del headers["X-Shopify-Hmac-Sha256"]
    elif tamper == "secret":
        headers["X-Shopify-Hmac-Sha256"] = sign(body, "not the app's secret")
    else:
        headers["X-Shopify-Shop-Domain"] = "someone-else.myshopify.com"
    with pytest.raises(Unauthorized):
        deliver(sqlite_db, connector, body, headers)
    assert counts(sqlite_db) == (0, 0)


def test_a_redelivery_is_stored_once(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    body = orjson.dumps(_consistent_order())
    first = deliver(sqlite_db, connector, body, _headers(body, "orders/create", "w-1"))
    again = deliver(sqlite_db, connector, body, _headers(body, "orders/create", "w-1"))
    assert (first.duplicate, again.duplicate, again.delivery) == (False, True, first.delivery)
    assert counts(sqlite_db) == (1, 0)


def test_an_unknown_topic_is_kept_and_not_processed(sqlite_db: Database) -> None:
    connector = _shop(sqlite_db)
    body = orjson.dumps(_fixture("shopify_python_api_fixture_customer.json")["customer"])
    receipt = deliver(sqlite_db, connector, body, _headers(body, "customers/create", "w-1"))
    assert receipt.status == "done"
    process(sqlite_db)
    assert counts(sqlite_db) == (1, 0)
