"""Integer body fields are whole numbers within their columns' range: JSON true, 2**31 and
2**63 are 422 naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.catalog.tables import BundleComponent, Product, Variant
from omnicart.channels.tables import Channel
from omnicart.db.engine import Database
from omnicart.locations.tables import Location

PROBLEM = "application/problem+json"
WRO = {"code": "wro", "name": "Wrocław", "kind": "warehouse"}
WEB = {"code": "web", "name": "Web", "kind": "web", "currency": "EUR"}


def _problem(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field


def _counts(db: Database) -> tuple[int, ...]:
    with db.reading() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Location, Channel, Product, Variant, BundleComponent)
        )


@pytest.mark.parametrize("value", [True, 1_000_001, 2**31, 2**63, -1])
def test_location_priority(client: TestClient, sqlite_db: Database, value: object) -> None:
    _problem(client.post("/v1/locations", json={**WRO, "priority": value}), "priority")
    assert _counts(sqlite_db) == (0, 0, 0, 0, 0)
    created = client.post("/v1/locations", json={**WRO, "priority": 1_000_000})
    assert created.status_code == 201, created.text
    patch = client.patch(f"/v1/locations/{created.json()['id']}", json={"priority": value})
    _problem(patch, "priority")
    assert client.get(f"/v1/locations/{created.json()['id']}").json()["priority"] == 1_000_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("buffer_units", True),
        ("buffer_units", 1_000_001),
        ("buffer_units", 2**63),
        ("buffer_percent_shown", True),
        ("buffer_percent_shown", 2**63),
    ],
)
def test_channel_buffer(client: TestClient, sqlite_db: Database, field: str, value: object) -> None:
    _problem(client.post("/v1/channels", json={**WEB, field: value}), field)
    assert _counts(sqlite_db) == (0, 0, 0, 0, 0)


def test_channel_location_ids_are_not_booleans(client: TestClient) -> None:
    channel = client.post("/v1/channels", json=WEB).json()
    response = client.put(
        f"/v1/channels/{channel['id']}/locations", json={"ship_location_ids": [True]}
    )
    _problem(response, "ship_location_ids.0")


@pytest.mark.parametrize("value", [True, 1_000_001, 2**63])
def test_variant_low_stock_threshold(
    client: TestClient, sqlite_db: Database, value: object
) -> None:
    product = {
        "handle": "tee",
        "title": "Tee",
        "variants": [{"sku": "TEE", "low_stock_threshold": value}],
    }
    response = client.post("/v1/products", json=product)
    # The schema refuses what no column holds, naming the very field; the catalog's rule
    # (at most 1,000,000) refuses the rest.
    field = "low_stock_threshold" if value == 1_000_001 else "variants.0.low_stock_threshold"
    _problem(response, field)
    assert _counts(sqlite_db) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("units", [True, 1_000_001, 2**63])
def test_bundle_units(client: TestClient, sqlite_db: Database, units: object) -> None:
    product = {"handle": "kit", "title": "Kit", "variants": [{"sku": "KIT"}, {"sku": "PART"}]}
    assert client.post("/v1/products", json=product).status_code == 201
    body = {"components": [{"sku": "PART", "units": units}]}
    response = client.put("/v1/variants/KIT/bundle", json=body)
    _problem(response, "components.0.units")
    assert _counts(sqlite_db) == (0, 0, 1, 2, 0)
