"""Races on PostgreSQL: the same webhook delivered ten times at once is stored once;
versions of one order delivered and processed concurrently, out of order, leave one order
in its latest state; workers claiming the inbox at once process each delivery once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import func, select

from omnicart.connectors import inbox
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.tables import InboxDelivery
from omnicart.connectors.woocommerce import sign
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability, reconcile
from omnicart.orders.service import get_order
from omnicart.orders.tables import Order
from tests.connectors_support import STOCK, connect, counts, deliver, seed

SECRET = "wc-secret"


def _order(order_id: int, quantity: int, modified: str) -> dict[str, Any]:
    amount = f"{Decimal('12.00') * quantity:.2f}"
    return {
        "id": order_id,
        "status": "processing",
        "currency": "EUR",
        "date_modified_gmt": modified,
        "date_paid_gmt": modified,
        "payment_method": "bacs",
        "discount_total": "0.00",
        "shipping_total": "0.00",
        "shipping_tax": "0.00",
        "total": amount,
        "total_tax": "0.00",
        "billing": {"email": f"buyer{order_id}@example.com"},
        "line_items": [
            {
                "product_id": 1,
                "variation_id": 0,
                "sku": "MUG",
                "name": "Mug",
                "quantity": quantity,
                "subtotal": amount,
                "total": amount,
                "total_tax": "0.00",
            }
        ],
        "refunds": [],
    }


def _headers(body: bytes, delivery_id: str, topic: str = "order.updated") -> dict[str, str]:
    return {
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": sign(body, SECRET),
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def _shop(db: Database) -> int:
    merchant = seed(db, channels={"woo": "EUR"}, skus=("MUG",), stock=STOCK)
    return connect(db, merchant.channels["woo"], "woocommerce")


def _at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    start = threading.Barrier(count)

    def run(number: int) -> Any:
        start.wait()
        return work(number)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_the_same_webhook_ten_times_at_once_is_stored_once(pg_db: Database) -> None:
    connector = _shop(pg_db)
    body = orjson.dumps(_order(7, 2, "2026-01-01T10:00:00"))
    receipts = _at_once(10, lambda _: deliver(pg_db, connector, body, _headers(body, "d-1")))
    assert {r.delivery for r in receipts} == {receipts[0].delivery}
    assert sorted(r.duplicate for r in receipts) == [False] + [True] * 9
    _at_once(4, lambda _: inbox.process_due(pg_db, http=vendor_http()))
    assert counts(pg_db) == (1, 1)


def test_versions_delivered_and_processed_at_once_leave_the_latest(pg_db: Database) -> None:
    connector = _shop(pg_db)
    # Ten deliveries of order 8: versions 1..5 (quantity = version), each sent twice.
    bodies = [
        orjson.dumps(_order(8, version, f"2026-01-01T10:0{version}:00"))
        for version in (3, 1, 5, 2, 4)
    ]
    deliveries = [(body, f"d-{n}-{copy}") for n, body in enumerate(bodies) for copy in (1, 2)]
    _at_once(10, lambda n: deliver(pg_db, connector, *_pair(deliveries[n])))
    _at_once(5, lambda _: _drain(pg_db))
    assert counts(pg_db) == (10, 1)
    with pg_db.reading() as session:
        order_id = session.scalar(select(Order.id))
        statuses = set(session.scalars(select(InboxDelivery.status)))
    assert statuses == {"done"}
    order = get_order(pg_db, order_id=order_id or 0)
    assert [(line.sku, line.quantity) for line in order.lines] == [("MUG", 5)]
    assert order.total == Decimal("60.00")
    with pg_db.reading() as session:
        assert channel_availability(session, channel_id=order.channel_id, skus=["MUG"]) == {
            "MUG": STOCK - 5
        }
        assert reconcile(session) == []


def _pair(item: tuple[bytes, str]) -> tuple[bytes, dict[str, str]]:
    body, delivery_id = item
    return body, _headers(body, delivery_id)


def _drain(db: Database) -> int:
    done = 0
    while found := inbox.process_due(db, http=vendor_http(), limit=2):
        done += found
    return done


def test_workers_claiming_at_once_process_each_delivery_once(pg_db: Database) -> None:
    connector = _shop(pg_db)
    for number in range(40):
        body = orjson.dumps(_order(100 + number, 1, "2026-01-01T10:00:00"))
        deliver(pg_db, connector, body, _headers(body, f"d-{number}", "order.created"))
    processed = _at_once(6, lambda _: _drain(pg_db))
    assert sum(processed) == 40
    with pg_db.reading() as session:
        attempts = list(session.scalars(select(InboxDelivery.attempts)))
        orders = session.scalar(select(func.count()).select_from(Order))
        left = channel_availability(session, channel_id=1, skus=["MUG"])
        assert reconcile(session) == []
    assert attempts == [1] * 40
    assert orders == 40
    assert left == {"MUG": STOCK - 40}
