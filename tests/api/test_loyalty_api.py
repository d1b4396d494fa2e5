"""Loyalty over HTTP: rules, earning through the sync, redemption at the till, and
refusals as problem+json that change nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from omnicart.auth.service import create_api_key
from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from tests.orders_support import Shop, all_stock, seed_shop

ANN = "ann.kowalska@poczta.pl"
RULES = {"points_per_unit": "1", "point_value": "0.01", "bonuses": {"review": 25}}


def _sale(shop: Shop, *, price: str, paid: str, redeem: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "channel_id": shop.pos,
        "location_id": shop.krakow,
        "lines": [{"sku": "A", "quantity": 1, "unit_price": price}],
        "payments": [{"method": "cash", "amount": paid}],
        "customer": {"email": ANN},
        "redeem_points": redeem,
        **extra,
    }


def _problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.get("field") == field
    return body


def _customer(db: Database) -> int:
    with db.transaction() as session:
        found = observe(session, identifiers=[("email", ANN)], channel_id=None, source="t")
    assert found is not None
    return found


def test_rules_earning_and_redemption_over_http(client: TestClient, sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    unset = client.get(f"/v1/channels/{shop.pos}/loyalty-rules").json()
    assert (unset["configured"], unset["currency"]) == (False, "EUR")
    put = client.put(f"/v1/channels/{shop.pos}/loyalty-rules", json=RULES)
    assert put.status_code == 200, put.text
    assert put.json() | {"bonuses": {}} == {
        "channel_id": shop.pos,
        "currency": "EUR",
        "active": True,
        "points_per_unit": "1",
        "point_value": "0.01",
        "spend_rate": None,
        "bonuses": {},
        "configured": True,
    }
    sold = client.post("/v1/pos/sales", json=_sale(shop, price="50.00", paid="50.00"))
    assert sold.status_code == 201, sold.text
    assert client.post("/v1/loyalty/sync").json() == {"entries": 1}
    assert client.post("/v1/loyalty/sync").json() == {"entries": 0}
    customer = _customer(sqlite_db)
    loyalty = client.get(f"/v1/customers/{customer}/loyalty").json()
    assert {k: loyalty[k] for k in ("customer_id", "balance", "tier", "rolling_spend")} == {
        "customer_id": customer,
        "balance": 50,
        "tier": "member",
        "rolling_spend": "50.00",
    }
    assert [(e["kind"], e["points"], e["amount"]) for e in loyalty["entries"]] == [
        ("earn", 50, "50.00")
    ]

    paid_with_points = client.post(
        "/v1/pos/sales", json=_sale(shop, price="10.00", paid="9.60", redeem=40)
    )
    assert paid_with_points.status_code == 201, paid_with_points.text
    assert (paid_with_points.json()["total"], paid_with_points.json()["discount_total"]) == (
        "9.60",  # printed with the currency's two decimals
        "0.40",
    )
    assert client.get(f"/v1/customers/{customer}/loyalty").json()["balance"] == 10
    bonus = client.post(
        f"/v1/customers/{customer}/loyalty/bonuses",
        json={"channel_id": shop.pos, "name": "review", "reference": "r-1"},
    )
    assert (bonus.status_code, bonus.json()["points"]) == (201, 25)


def test_refusals_are_problems_and_change_nothing(client: TestClient, sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    client.put(f"/v1/channels/{shop.pos}/loyalty-rules", json=RULES)
    client.post("/v1/pos/sales", json=_sale(shop, price="20.00", paid="20.00"))
    client.post("/v1/loyalty/sync")
    customer = _customer(sqlite_db)
    before = (all_stock(sqlite_db), client.get(f"/v1/customers/{customer}/loyalty").json())

    short = client.post("/v1/pos/sales", json=_sale(shop, price="10.00", paid="9.70", redeem=30))
    body = _problem(short, 409, "redeem_points")
    assert body["type"] == "https://omnicart.dev/problems/insufficient-points"
    assert (body["balance"], body["requested"]) == (20, 30)
    _problem(
        client.post("/v1/pos/sales", json=_sale(shop, price="10.00", paid="10", redeem=-1)),
        422,
        "redeem_points",
    )
    _problem(
        client.post("/v1/pos/sales", json=_sale(shop, price="10.00", paid="10", redeem="5")),
        422,
        "redeem_points",
    )
    _problem(
        client.post(
            f"/v1/customers/{customer}/loyalty/redemptions",
            json={"channel_id": shop.web, "points": 5, "reference": "v-1"},
        ),
        409,
        "redeem_points",
    )  # the web channel has no program
    _problem(
        client.put(f"/v1/channels/{shop.pos}/loyalty-rules", json={**RULES, "point_value": "-1"}),
        422,
        "point_value",
    )
    _problem(
        client.put(
            f"/v1/channels/{shop.pos}/loyalty-rules", json={**RULES, "point_value": "0.00001"}
        ),
        422,
        "point_value",
    )
    _problem(client.put("/v1/channels/999/loyalty-rules", json=RULES), 404, "channel_id")
    _problem(client.get("/v1/customers/999/loyalty"), 404, "customer_id")
    _problem(
        client.put(
            "/v1/loyalty/program",
            json={
                "currency": "EUR",
                "tiers": [{"name": "a", "min_spend": "1"}, {"name": "a", "min_spend": "2"}],
            },
        ),
        422,
        "tiers.1",
    )
    _problem(
        client.post(
            f"/v1/customers/{customer}/loyalty/bonuses",
            json={"channel_id": shop.pos, "name": "birthday", "reference": "x"},
        ),
        404,
        "name",
    )
    assert client.get(f"/v1/channels/{shop.pos}/loyalty-rules").json()["point_value"] == "0.01"
    assert client.get("/v1/loyalty/program").json()["tiers"][0] == {
        "name": "member",
        "min_spend": "0.00",
    }
    after = (all_stock(sqlite_db), client.get(f"/v1/customers/{customer}/loyalty").json())
    assert after == before


def test_scopes_guard_loyalty(client: TestClient, sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    with sqlite_db.transaction() as session:
        create_api_key(session, name="pos", role="channel", channel_id=shop.pos, secret="oc_pos")
    pos = {"Authorization": "Bearer oc_pos"}
    assert (
        client.put(f"/v1/channels/{shop.pos}/loyalty-rules", json=RULES, headers=pos).status_code
        == 403
    )
    assert client.post("/v1/loyalty/sync", headers=pos).status_code == 403
    assert client.get(f"/v1/channels/{shop.pos}/loyalty-rules").json()["configured"] is False
