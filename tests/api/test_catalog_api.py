"""/v1 catalog routes over HTTP: exact bodies, problem+json, scopes, nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.auth.service import create_api_key, hash_secret
from omnicart.auth.tables import ApiKey
from omnicart.catalog.tables import ChannelPrice, Listing, Product, Variant
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from tests.support import add_channel, add_location

PROBLEM = "application/problem+json"
TEE = {
    "handle": "classic-tee",
    "title": "Classic tee",
    "description": "Soft cotton",
    "attributes": {"material": "cotton"},
    "variants": [
        {"sku": "TEE-S", "title": "Small", "gtin": "4006381333931", "attributes": {"size": "S"}},
        {"sku": "TEE-M", "title": "Medium", "low_stock_threshold": 2},
    ],
}


def _counts(db: Database) -> tuple[int, ...]:
    with db.reading() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Product, Variant, Listing, ChannelPrice)
        )


def _problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body.get("field") == field
    if field is not None:
        assert body["errors"][0]["field"] == field
    return body


@pytest.fixture
def channels(sqlite_db: Database) -> dict[str, int]:
    with sqlite_db.transaction() as session:
        return {
            "web": add_channel(session, "web"),
            "jp": add_channel(session, "jp", currency="JPY"),
        }


def _create_tee(client: TestClient) -> dict[str, Any]:
    response = client.post("/v1/products", json=TEE)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_and_get_product(client: TestClient) -> None:
    created = _create_tee(client)
    assert created == {
        "id": 1,
        "handle": "classic-tee",
        "title": "Classic tee",
        "description": "Soft cotton",
        "category": None,
        "attributes": {"material": "cotton"},
        "created_at": created["created_at"],
        "variants": [
            {
                "id": 1,
                "product_id": 1,
                "sku": "TEE-S",
                "gtin": "4006381333931",
                "title": "Small",
                "attributes": {"size": "S"},
                "is_bundle": False,
                "low_stock_threshold": None,
                "components": [],
            },
            {
                "id": 2,
                "product_id": 1,
                "sku": "TEE-M",
                "gtin": None,
                "title": "Medium",
                "attributes": {},
                "is_bundle": False,
                "low_stock_threshold": 2,
                "components": [],
            },
        ],
    }
    assert client.get("/v1/products/1").json() == created
    assert client.get("/v1/variants/TEE-M").json() == created["variants"][1]


def test_bad_gtin_is_422_naming_gtin_and_writes_nothing(
    client: TestClient, sqlite_db: Database
) -> None:
    before = _counts(sqlite_db)
    body = dict(TEE, variants=[{"sku": "TEE-S", "gtin": "4006381333932"}])
    problem = _problem(client.post("/v1/products", json=body), 422, "gtin")
    assert problem["detail"] == "GTIN '4006381333932' has check digit 2, expected 1"
    assert problem["type"] == "https://omnicart.dev/problems/validation-failed"
    assert problem["instance"] == "/v1/products"
    assert _counts(sqlite_db) == before


def test_duplicate_sku_is_409(client: TestClient, sqlite_db: Database) -> None:
    _create_tee(client)
    before = _counts(sqlite_db)
    again = dict(TEE, handle="other-tee", variants=[{"sku": "TEE-S"}])
    problem = _problem(client.post("/v1/products", json=again), 409, "sku")
    assert problem["detail"] == "SKU 'TEE-S' already exists"
    _problem(client.post("/v1/products/1/variants", json={"sku": "TEE-M"}), 409, "sku")
    assert _counts(sqlite_db) == before


def test_unknown_category_product_and_sku_are_404(client: TestClient) -> None:
    body = _problem(client.post("/v1/products", json=dict(TEE, category="nope")), 404, "category")
    assert body["detail"] == "category 'nope' does not exist"
    _problem(client.get("/v1/products/5"), 404, "product")
    _problem(client.get("/v1/variants/NOPE"), 404, "sku")
    _problem(client.patch("/v1/variants/NOPE", json={"title": "x"}), 404, "sku")


def test_request_shape_errors_name_the_field(client: TestClient) -> None:
    _problem(client.post("/v1/products", json=dict(TEE, variants=[])), 422, "variants")
    _problem(client.post("/v1/products", json=dict(TEE, colour="red")), 422, "colour")
    _create_tee(client)
    _problem(client.patch("/v1/products/1", json={"title": None}), 422, "title")
    _problem(client.get("/v1/products?cursor=garbage"), 422, "cursor")


def test_categories(client: TestClient) -> None:
    assert (
        client.post("/v1/categories", json={"slug": "clothing", "name": "Clothing"}).status_code
        == 201
    )
    created = client.post(
        "/v1/categories", json={"slug": "tees", "name": "Tees", "parent": "clothing"}
    )
    assert created.json() == {"id": 2, "slug": "tees", "name": "Tees", "parent": "clothing"}
    _problem(client.post("/v1/categories", json={"slug": "tees", "name": "x"}), 409, "slug")
    _problem(client.post("/v1/categories", json={"slug": "Bad Slug", "name": "x"}), 422, "slug")
    assert [c["slug"] for c in client.get("/v1/categories").json()] == ["clothing", "tees"]


def test_patch_product_and_variant(client: TestClient) -> None:
    _create_tee(client)
    client.post("/v1/categories", json={"slug": "tees", "name": "Tees"})
    patched = client.patch("/v1/products/1", json={"title": "Renamed", "category": "tees"}).json()
    assert (patched["title"], patched["description"], patched["category"]) == (
        "Renamed",
        "Soft cotton",
        "tees",
    )
    assert client.patch("/v1/products/1", json={"category": None}).json()["category"] is None
    variant = client.patch("/v1/variants/TEE-S", json={"gtin": None, "low_stock_threshold": 4})
    assert (variant.json()["gtin"], variant.json()["low_stock_threshold"]) == (None, 4)
    _problem(client.patch("/v1/variants/TEE-S", json={"gtin": "123"}), 422, "gtin")


def test_list_products_paginates(client: TestClient) -> None:
    for i in range(3):
        client.post(
            "/v1/products",
            json={"handle": f"p-{i}", "title": f"P{i}", "variants": [{"sku": f"S{i}"}]},
        )
    first = client.get("/v1/products?limit=2").json()
    assert [p["handle"] for p in first["items"]] == ["p-0", "p-1"]
    second = client.get(f"/v1/products?limit=2&cursor={first['next_cursor']}").json()
    assert [p["handle"] for p in second["items"]] == ["p-2"]
    assert second["next_cursor"] is None


def test_bundle_routes(client: TestClient, sqlite_db: Database) -> None:
    client.post(
        "/v1/products",
        json={
            "handle": "kit",
            "title": "Kit",
            "variants": [{"sku": "A"}, {"sku": "B"}, {"sku": "KIT"}],
        },
    )
    bundle = client.put(
        "/v1/variants/KIT/bundle",
        json={"components": [{"sku": "A", "units": 2}, {"sku": "B", "units": 1}]},
    )
    assert bundle.status_code == 200
    assert (bundle.json()["is_bundle"], bundle.json()["components"]) == (
        True,
        [{"sku": "A", "units": 2}, {"sku": "B", "units": 1}],
    )
    before = _counts(sqlite_db)
    self_ref = client.put("/v1/variants/A/bundle", json={"components": [{"sku": "A", "units": 1}]})
    assert _problem(self_ref, 422, "components")["detail"] == "bundle 'A' cannot contain itself"
    zero = client.put("/v1/variants/B/bundle", json={"components": [{"sku": "A", "units": 0}]})
    _problem(zero, 422, "components.0.units")  # the schema names the very field
    nested = client.put("/v1/variants/B/bundle", json={"components": [{"sku": "KIT", "units": 1}]})
    _problem(nested, 422, "components")
    unknown = client.put("/v1/variants/B/bundle", json={"components": [{"sku": "Z", "units": 1}]})
    _problem(unknown, 404, "components")
    assert _counts(sqlite_db) == before


def test_channel_prices(client: TestClient, channels: dict[str, int], sqlite_db: Database) -> None:
    _create_tee(client)
    web, jp = channels["web"], channels["jp"]
    ok = client.put(f"/v1/channels/{web}/prices/TEE-S", json={"amount": "12.5", "currency": "EUR"})
    assert ok.json() == {
        "channel_id": web,
        "sku": "TEE-S",
        "price": {"amount": "12.50", "currency": "EUR"},
    }
    assert client.get(f"/v1/channels/{web}/prices/TEE-S").json() == ok.json()
    yen = client.put(f"/v1/channels/{jp}/prices/TEE-S", json={"amount": 1200, "currency": "JPY"})
    assert yen.json()["price"] == {"amount": "1200", "currency": "JPY"}
    before = _counts(sqlite_db)
    decimals = client.put(
        f"/v1/channels/{jp}/prices/TEE-S", json={"amount": "1200.5", "currency": "JPY"}
    )
    assert _problem(decimals, 422, "amount")["detail"] == (
        "1200.5 has more than 0 decimal places, the most JPY allows"
    )
    wrong = client.put(f"/v1/channels/{web}/prices/TEE-S", json={"amount": "10", "currency": "JPY"})
    assert _problem(wrong, 422, "currency")["detail"] == "channel 'web' sells in EUR, not JPY"
    _problem(
        client.put(f"/v1/channels/{web}/prices/NOPE", json={"amount": "1", "currency": "EUR"}),
        404,
        "sku",
    )
    _problem(
        client.put("/v1/channels/999/prices/TEE-S", json={"amount": "1", "currency": "EUR"}),
        404,
        "channel",
    )
    _problem(client.get(f"/v1/channels/{web}/prices/TEE-M"), 404, "sku")
    assert _counts(sqlite_db) == before
    assert client.get(f"/v1/channels/{jp}/prices/TEE-S").json()["price"]["amount"] == "1200"


def test_listing_and_channel_catalog(client: TestClient, channels: dict[str, int]) -> None:
    _create_tee(client)
    web = channels["web"]
    client.put(f"/v1/channels/{web}/prices/TEE-S", json={"amount": "19.99", "currency": "EUR"})
    _problem(client.get(f"/v1/channels/{web}/catalog/1"), 404, "product")
    listing = client.put(
        f"/v1/channels/{web}/listings/1", json={"listed": True, "title": "Tee (web)"}
    )
    assert listing.json() == {
        "channel_id": web,
        "product_id": 1,
        "listed": True,
        "title": "Tee (web)",
        "description": None,
    }
    assert client.get(f"/v1/channels/{web}/listings/1").json() == listing.json()
    expected = {
        "channel_id": web,
        "product_id": 1,
        "handle": "classic-tee",
        "title": "Tee (web)",
        "description": "Soft cotton",
        "category": None,
        "attributes": {"material": "cotton"},
        "variants": [
            {
                "sku": "TEE-S",
                "gtin": "4006381333931",
                "title": "Small",
                "attributes": {"size": "S"},
                "is_bundle": False,
                "price": {"amount": "19.99", "currency": "EUR"},
            },
            {
                "sku": "TEE-M",
                "gtin": None,
                "title": "Medium",
                "attributes": {},
                "is_bundle": False,
                "price": None,
            },
        ],
    }
    assert client.get(f"/v1/channels/{web}/catalog/1").json() == expected
    assert client.get(f"/v1/channels/{web}/catalog").json() == {
        "items": [expected],
        "next_cursor": None,
    }
    assert client.get(f"/v1/channels/{channels['jp']}/catalog").json() == {
        "items": [],
        "next_cursor": None,
    }
    _problem(client.get("/v1/channels/999/catalog"), 404, "channel")


def test_scopes(client: TestClient, channels: dict[str, int], sqlite_db: Database) -> None:
    _create_tee(client)
    with sqlite_db.transaction() as session:
        shop = add_location(session, "shop", kind="store")
        staff = create_api_key(
            session, name="till", role="staff", location_id=shop, secret="oc_staff_secret"
        )
        web_key = create_api_key(
            session, name="web", role="channel", channel_id=channels["web"], secret="oc_web_secret"
        )
    as_staff = {"Authorization": f"Bearer {staff.secret}"}
    assert client.get("/v1/products/1", headers=as_staff).status_code == 200
    before = _counts(sqlite_db)
    _problem(
        client.post(
            "/v1/products", json=dict(TEE, handle="x", variants=[{"sku": "X"}]), headers=as_staff
        ),
        403,
        None,
    )
    _problem(
        client.put(
            f"/v1/channels/{channels['web']}/listings/1", json={"listed": True}, headers=as_staff
        ),
        403,
        None,
    )
    assert _counts(sqlite_db) == before
    as_web = {"Authorization": f"Bearer {web_key.secret}"}
    assert client.get(f"/v1/channels/{channels['web']}/catalog", headers=as_web).status_code == 200
    _problem(
        client.get(f"/v1/channels/{channels['jp']}/catalog", headers=as_web), 403, "channel_id"
    )
    _problem(client.get("/v1/products", headers={"Authorization": "Bearer nope"}), 401, None)


def test_channel_keys_write_listings_and_prices_of_their_own_channel_only(
    client: TestClient, channels: dict[str, int], sqlite_db: Database
) -> None:
    _create_tee(client)
    # A key from before scopes were bounded by role: a channel key holding catalog:write.
    with sqlite_db.transaction() as session:
        session.add(
            ApiKey(
                name="web",
                prefix="oc_web_wri",
                key_hash=hash_secret("oc_web_writer"),
                role="channel",
                channel_id=channels["web"],
                scopes=["catalog:read", "catalog:write"],
                created_at=utcnow(),
            )
        )
    as_web = {"Authorization": "Bearer oc_web_writer"}
    jp = channels["jp"]
    before = _counts(sqlite_db)
    _problem(
        client.put(f"/v1/channels/{jp}/listings/1", json={"listed": True}, headers=as_web),
        403,
        "channel_id",
    )
    _problem(
        client.put(
            f"/v1/channels/{jp}/prices/TEE-S",
            json={"amount": "2000", "currency": "JPY"},
            headers=as_web,
        ),
        403,
        "channel_id",
    )
    assert _counts(sqlite_db) == before
    own = client.put(
        f"/v1/channels/{channels['web']}/listings/1", json={"listed": True}, headers=as_web
    )
    assert own.status_code == 200, own.text
    assert own.json() == {
        "channel_id": channels["web"],
        "product_id": 1,
        "listed": True,
        "title": None,
        "description": None,
    }
