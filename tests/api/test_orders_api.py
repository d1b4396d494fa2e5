"""The order book over HTTP: ingest replays, checkout, till sales, refusals as problem+json."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from tests.orders_support import all_stock, seed_shop


def _order(lines: list[tuple[str, int]], *, total: str | None = None) -> dict[str, Any]:
    computed = sum(19.99 * 100 * q for _, q in lines) / 100
    return {
        "currency": "EUR",
        "lines": [{"sku": s, "quantity": q, "unit_price": "19.99"} for s, q in lines],
        "total": total or f"{computed:.2f}",
        "payments": [{"method": "marketplace", "amount": total or f"{computed:.2f}"}],
        "customer": {"email": "buyer@example.com"},
        "fulfilment": {"mode": "ship", "address": {"latitude": 52.2, "longitude": 21.0}},
    }


def test_ingest_is_idempotent_and_refusals_are_problems(
    client: TestClient, sqlite_db: Database
) -> None:
    shop = seed_shop(sqlite_db)
    url = f"/v1/channels/{shop.market}/orders/AMZ-1"
    first = client.put(url, json=_order([("A", 2)]))
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["total"], body["channel_code"]) == ("confirmed", "39.98", "market")
    assert body["routing"]["plan"] == [{"sku": "A", "location": "wh", "quantity": 2}]
    again = client.put(url, json=_order([("A", 2)]))
    assert (again.status_code, again.json()["id"]) == (200, body["id"])

    before = all_stock(sqlite_db)
    wrong = client.put(
        f"/v1/channels/{shop.market}/orders/AMZ-2", json=_order([("A", 1)], total="1.00")
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["field"] == "total"
    too_many = client.put(f"/v1/channels/{shop.market}/orders/AMZ-3", json=_order([("A", 50)]))
    assert too_many.status_code == 409
    assert "not enough stock" in too_many.json()["detail"]
    bad_move = client.post(f"/v1/orders/{body['id']}/complete")
    assert bad_move.status_code == 409
    assert "cannot become completed" in bad_move.json()["detail"]
    assert all_stock(sqlite_db) == before


def test_channel_key_acts_only_for_its_channel_and_staff_at_their_store(
    client: TestClient, sqlite_db: Database
) -> None:
    shop = seed_shop(sqlite_db)
    with sqlite_db.transaction() as session:
        create_api_key(session, name="web", role="channel", channel_id=shop.web, secret="oc_web")
        create_api_key(session, name="gdn", role="staff", location_id=shop.gdansk, secret="oc_gdn")
    web = {"Authorization": "Bearer oc_web"}
    gdn = {"Authorization": "Bearer oc_gdn"}
    refused = client.put(
        f"/v1/channels/{shop.market}/orders/X-1", json=_order([("A", 1)]), headers=web
    )
    assert refused.status_code == 403
    cart = client.post("/v1/carts", json={"channel_id": shop.web, "lines": []}, headers=web)
    assert cart.status_code == 201, cart.text
    cart_id = cart.json()["id"]
    lines = client.put(
        f"/v1/carts/{cart_id}/lines", json={"lines": [{"sku": "B", "quantity": 1}]}, headers=web
    )
    assert lines.json()["hold_status"] == "active"
    order = client.post(
        f"/v1/carts/{cart_id}/checkout",
        json={
            "fulfilment": {"mode": "pickup", "pickup_location_id": shop.gdansk},
            "payments": [{"method": "card", "amount": "19.99"}],
        },
        headers=web,
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    ready = client.post(f"/v1/orders/{order_id}/pickup/ready", headers=gdn)
    assert ready.status_code == 200, ready.text
    code = ready.json()["fulfilments"][0]["pickup_code"]
    collected = client.post(
        f"/v1/orders/{order_id}/pickup/collect", json={"code": code}, headers=gdn
    )
    assert collected.json()["status"] == "fulfilled"
    sale = client.post(
        "/v1/pos/sales",
        json={
            "channel_id": shop.pos,
            "location_id": shop.krakow,
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "9.99"}],
            "payments": [{"method": "cash", "amount": "9.99"}],
        },
        headers=gdn,
    )
    assert sale.status_code == 403
    opened = client.post(
        f"/v1/orders/{order_id}/returns",
        json={"channel_id": shop.pos, "lines": [{"line_no": 1, "quantity": 1, "reason": "gift"}]},
    )
    assert opened.status_code == 201, opened.text
    received = client.post(
        f"/v1/returns/{opened.json()['id']}/receive",
        json={"location_id": shop.gdansk},
        headers=gdn,
    )
    assert received.json()["status"] == "received"
    refund = client.post(f"/v1/returns/{opened.json()['id']}/refund")
    assert refund.json()["refunded"] == "19.99"


def test_orders_list_is_a_page_newest_first_with_an_opaque_cursor(
    client: TestClient, sqlite_db: Database
) -> None:
    shop = seed_shop(sqlite_db)
    ids = [
        client.put(f"/v1/channels/{shop.market}/orders/PG-{n}", json=_order([("A", 1)])).json()[
            "id"
        ]
        for n in range(5)
    ]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/orders", params=params).json()
        assert set(page) == {"items", "next_cursor"}
        seen += [order["id"] for order in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_a_shipment_of_chosen_lines_over_http(client: TestClient, sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    order = client.put(
        f"/v1/channels/{shop.market}/orders/SHIP-1", json=_order([("A", 3), ("B", 1)])
    ).json()
    before = all_stock(sqlite_db)
    too_many = client.post(
        f"/v1/orders/{order['id']}/shipments",
        json={
            "location_id": shop.warehouse,
            "carrier": "DHL",
            "lines": [{"line_no": 1, "quantity": 4}],
        },
    )
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["field"] == "lines.0.quantity"
    assert all_stock(sqlite_db) == before
    shipped = client.post(
        f"/v1/orders/{order['id']}/shipments",
        json={
            "location_id": shop.warehouse,
            "carrier": "DHL",
            "lines": [{"line_no": 1, "quantity": 2}],
        },
    )
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert body["status"] == "partially_fulfilled"
    assert [(x["sku"], x["fulfilled"]) for x in body["lines"]] == [("A", 2), ("B", 0)]
