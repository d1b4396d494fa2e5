"""Sales follow listings: a channel cannot reserve, hold in a cart, check out or ring up
at its till a product it does not list; each refusal is a 409 problem naming the line's
SKU and changes nothing. An external channel's order for one is taken (the channel sold
it already) and flagged on the order."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.catalog.tables import Variant
from omnicart.db.engine import Database
from omnicart.inventory.service import reserve_stock
from omnicart.inventory.tables import Movement, Reservation
from omnicart.kernel.errors import Conflict
from omnicart.orders.tables import Cart, Order
from tests.orders_support import Shop, all_stock, assert_reconciles, seed_shop
from tests.support import set_listed

PROBLEM = "application/problem+json"


def _counts(db: Database) -> list[int]:
    """[reservations, ledger entries, carts, orders]."""
    with db.reading() as session:
        return [
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Reservation, Movement, Cart, Order)
        ]


def _unlist(client: TestClient, db: Database, channel_id: int, sku: str) -> None:
    with db.reading() as session:
        product_id = session.scalar(select(Variant.product_id).where(Variant.sku == sku))
    listing = client.put(f"/v1/channels/{channel_id}/listings/{product_id}", json={"listed": False})
    assert listing.status_code == 200, listing.text


def _refused(response: Any, *, field: str, channel: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["field"] == field
    assert body["detail"] == f"not listed on channel {channel!r}, so it cannot be sold there: A"


@pytest.fixture
def shop(client: TestClient, sqlite_db: Database) -> Shop:
    shop = seed_shop(sqlite_db)
    for channel_id in (shop.web, shop.market, shop.pos):
        _unlist(client, sqlite_db, channel_id, "A")
    return shop


def test_a_reservation_of_an_unlisted_product_is_refused(
    client: TestClient, sqlite_db: Database, shop: Shop
) -> None:
    stock, counts = all_stock(sqlite_db), _counts(sqlite_db)
    response = client.post(
        "/v1/reservations",
        json={
            "channel_id": shop.web,
            "lines": [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}],
        },
        headers={"Idempotency-Key": "r-1"},
    )
    _refused(response, field="lines.1.sku", channel="web")
    assert (all_stock(sqlite_db), _counts(sqlite_db)) == (stock, counts)


def test_a_cart_of_an_unlisted_product_is_refused(
    client: TestClient, sqlite_db: Database, shop: Shop
) -> None:
    stock, counts = all_stock(sqlite_db), _counts(sqlite_db)
    response = client.post(
        "/v1/carts", json={"channel_id": shop.web, "lines": [{"sku": "A", "quantity": 1}]}
    )
    _refused(response, field="lines.0.sku", channel="web")
    assert (all_stock(sqlite_db), _counts(sqlite_db)) == (stock, counts)


def test_a_cart_whose_product_was_unlisted_since_is_not_checked_out(
    client: TestClient, sqlite_db: Database
) -> None:
    shop = seed_shop(sqlite_db)
    cart = client.post(
        "/v1/carts",
        json={
            "channel_id": shop.web,
            "lines": [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}],
        },
    )
    assert cart.status_code == 201, cart.text
    _unlist(client, sqlite_db, shop.web, "A")
    stock, counts = all_stock(sqlite_db), _counts(sqlite_db)
    response = client.post(
        f"/v1/carts/{cart.json()['id']}/checkout",
        json={
            "fulfilment": {"mode": "ship"},
            "payments": [{"method": "card", "amount": "39.98"}],
        },
    )
    _refused(response, field="lines.1.sku", channel="web")
    assert (all_stock(sqlite_db), _counts(sqlite_db)) == (stock, counts)
    still = client.get(f"/v1/carts/{cart.json()['id']}").json()
    assert (still["status"], still["hold_status"]) == ("open", "active")


def test_a_till_sale_of_an_unlisted_product_is_refused(
    client: TestClient, sqlite_db: Database, shop: Shop
) -> None:
    stock, counts = all_stock(sqlite_db), _counts(sqlite_db)
    response = client.post(
        "/v1/pos/sales",
        json={
            "channel_id": shop.pos,
            "location_id": shop.krakow,
            "receipt": "R-1",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "19.99"}],
            "payments": [{"method": "cash", "amount": "19.99"}],
        },
    )
    _refused(response, field="lines.0.sku", channel="pos")
    assert (all_stock(sqlite_db), _counts(sqlite_db)) == (stock, counts)


def _market_order(lines: list[tuple[str, int]]) -> dict[str, Any]:
    total = f"{sum(1999 * q for _, q in lines) / 100:.2f}"
    return {
        "currency": "EUR",
        "lines": [{"sku": s, "quantity": q, "unit_price": "19.99"} for s, q in lines],
        "total": total,
        "payments": [{"method": "marketplace", "amount": total}],
        "fulfilment": {"mode": "ship", "address": {"latitude": 52.2, "longitude": 21.0}},
    }


def test_an_external_order_of_an_unlisted_product_is_taken_and_flagged(
    client: TestClient, sqlite_db: Database, shop: Shop
) -> None:
    flagged = client.put(
        f"/v1/channels/{shop.market}/orders/M-1", json=_market_order([("A", 1), ("B", 1)])
    )
    assert flagged.status_code == 201, flagged.text
    unlisted = {
        "code": "unlisted",
        "detail": "sold by channel 'market', which does not list: A",
        "skus": ["A"],
    }
    assert flagged.json()["flags"] == [unlisted]
    assert flagged.json()["status"] == "confirmed"
    assert client.get(f"/v1/orders/{flagged.json()['id']}").json()["flags"] == [unlisted]
    plain = client.put(f"/v1/channels/{shop.market}/orders/M-2", json=_market_order([("B", 1)]))
    assert plain.status_code == 201, plain.text
    assert plain.json()["flags"] == []
    assert_reconciles(sqlite_db)


def test_the_rule_holds_on_both_reservation_paths_and_keeps_replays(db: Database) -> None:
    # On PostgreSQL a plain reservation takes the fast path: it must refuse alike.
    shop = seed_shop(db)
    first = reserve_stock(db, channel_id=shop.web, lines=[("A", 1)], idempotency_key="k-1")
    with db.transaction() as session:
        set_listed(session, channel_id=shop.web, sku="A", listed=False)
    stock, counts = all_stock(db), _counts(db)
    with pytest.raises(Conflict) as refused:
        reserve_stock(db, channel_id=shop.web, lines=[("B", 2), ("A", 1)], idempotency_key="k-2")
    assert (refused.value.field, refused.value.extra) == ("lines.1.sku", {"skus": ["A"]})
    assert (all_stock(db), _counts(db)) == (stock, counts)
    # A repeat of a request made while it was listed is answered as it was.
    again = reserve_stock(db, channel_id=shop.web, lines=[("A", 1)], idempotency_key="k-1")
    assert (again.id, again.replayed) == (first.id, True)
    with db.transaction() as session:
        set_listed(session, channel_id=shop.web, sku="A", listed=True)
    listed = reserve_stock(db, channel_id=shop.web, lines=[("A", 1)], idempotency_key="k-3")
    assert [(x.sku, x.quantity) for x in listed.lines] == [("A", 1)]
