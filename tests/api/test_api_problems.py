"""Every failure leaves as problem+json: out-of-range numbers, over-long text, NUL bytes,
broken constraints, HTTP errors and malformed JSON; nothing is written by a refused request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from omnicart.api.problems import _explain_integrity, _Violation
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.catalog.tables import Variant
from omnicart.db.engine import Database
from omnicart.inventory import service as inventory
from omnicart.inventory.tables import Reservation
from omnicart.locations.tables import Location
from tests.conftest import ADMIN_SECRET
from tests.support import add_channel, add_location, add_variant

PROBLEM = "application/problem+json"
TOO_BIG = 2**63  # one past the largest BIGINT


@pytest.fixture
def pg_client(pg_db: Database) -> Iterator[TestClient]:
    """An admin API client over this test's own PostgreSQL schema."""
    with pg_db.transaction() as session:
        create_api_key(session, name="test-admin", role="admin", secret=ADMIN_SECRET)
    app = create_app(db=pg_db, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as test_client:
        yield test_client


def _problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body.get("field") == field
    return body


def _count(db: Database, table: type[Any]) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_client(request: pytest.FixtureRequest) -> TestClient:
    """The test runs once over SQLite and once over PostgreSQL."""
    name = "client" if request.param == "sqlite" else "pg_client"
    test_client: TestClient = request.getfixturevalue(name)
    return test_client


def test_path_id_beyond_bigint_is_422(any_client: TestClient) -> None:
    body = _problem(any_client.get(f"/v1/locations/{TOO_BIG}"), 422, "location_id")
    # Refused by the parameter's documented bounds, before anything reaches a driver.
    detail = "Input should be less than or equal to 9223372036854775807"
    assert body["detail"] == f"location_id: {detail}"
    assert body["errors"] == [{"field": "location_id", "detail": detail}]


def test_query_param_beyond_bigint_is_422(any_client: TestClient) -> None:
    body = _problem(any_client.get(f"/v1/stock?location_id={TOO_BIG}"), 422, "location_id")
    assert body["type"] == "https://omnicart.dev/problems/validation-failed"
    detail = "Input should be less than or equal to 9223372036854775807"
    assert body["detail"] == f"location_id: {detail}"


@pytest.mark.postgres
def test_priority_beyond_int32_is_422_and_writes_nothing(
    pg_client: TestClient, pg_db: Database
) -> None:
    response = pg_client.post(
        "/v1/locations",
        json={"code": "wro", "name": "Wrocław", "kind": "warehouse", "priority": 2**62},
    )
    body = _problem(response, 422, "priority")
    assert body["detail"] == (
        "priority must be a whole number from 0 to 1,000,000 (lower is tried first)"
    )
    assert _count(pg_db, Location) == 0


@pytest.mark.postgres
def test_overlong_reservation_reference_is_422_and_writes_nothing(
    pg_client: TestClient, pg_db: Database
) -> None:
    with pg_db.transaction() as session:
        wro = add_location(session, "wro")
        web = add_channel(session, "web", ship=(wro,))
        add_variant(session, "TEE")
    inventory.receive_stock(pg_db, location_id=wro, lines=[("TEE", 5)], reason="delivery")
    response = pg_client.post(
        "/v1/reservations",
        json={"channel_id": web, "lines": [{"sku": "TEE", "quantity": 1}], "reference": "r" * 300},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 422
    assert _count(pg_db, Reservation) == 0


@pytest.mark.postgres
def test_nul_byte_in_a_variant_title_is_422_and_writes_nothing(
    pg_client: TestClient, pg_db: Database
) -> None:
    product = {"handle": "tee", "title": "Tee", "variants": [{"sku": "TEE", "title": "a\x00b"}]}
    # Refused by the input model, naming the field, before anything reaches the driver.
    body = _problem(pg_client.post("/v1/products", json=product), 422, "variants.0.title")
    assert body["detail"] == "variants.0.title: text must not contain NUL (\\u0000) characters"
    assert _count(pg_db, Variant) == 0


def test_broken_constraints_are_explained_by_field(db: Database) -> None:
    with db.transaction() as session:
        add_variant(session, "TEE")
    with pytest.raises(IntegrityError) as duplicate, db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO variants (product_id, sku, title, attributes, is_bundle, created_at)"
                " SELECT product_id, sku, title, attributes, is_bundle, created_at FROM variants"
            )
        )
    assert _explain_integrity(duplicate.value) == _Violation(
        "sku", "another variants entry already has this sku"
    )
    with pytest.raises(IntegrityError) as negative, db.transaction() as session:
        session.execute(text("UPDATE variants SET low_stock_threshold = -1"))
    assert _explain_integrity(negative.value) == _Violation(
        "low_stock_threshold",
        "low_stock_threshold breaks the rule "
        "'low_stock_threshold IS NULL OR low_stock_threshold >= 0'",
    )


def test_method_not_allowed_keeps_allow(client: TestClient) -> None:
    response = client.delete("/healthz")
    body = _problem(response, 405, None)
    assert body["detail"] == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


def test_malformed_json_names_the_body(client: TestClient) -> None:
    response = client.post(
        "/v1/locations", content=b'{"code": "wro",', headers={"content-type": "application/json"}
    )
    body = _problem(response, 422, "body")
    assert body["errors"][0]["field"] == "body"
    assert body["detail"].startswith("body: the body is not valid JSON")
