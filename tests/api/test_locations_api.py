"""/v1/locations over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.locations.tables import Location

PROBLEM = "application/problem+json"
WAREHOUSE = {
    "code": "wro-1",
    "name": "Wrocław warehouse",
    "kind": "warehouse",
    "address_line": "ul. Magazynowa 1",
    "city": "Wrocław",
    "postal_code": "50-001",
    "country": "PL",
    "latitude": 51.1079,
    "longitude": 17.0385,
}


def _count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Location)) or 0


def _assert_problem(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["field"] == field
    assert body["errors"][0]["field"] == field
    return body


def test_create_get_and_patch(client: TestClient) -> None:
    created = client.post("/v1/locations", json=WAREHOUSE)
    assert created.status_code == 201
    body = created.json()
    location_id = body.pop("id")
    assert body.pop("created_at")
    assert body == {
        **WAREHOUSE,
        "ships": True,
        "pickup": False,
        "ship_from_store": False,
        "priority": 100,
        "active": True,
    }

    patched = client.patch(
        f"/v1/locations/{location_id}", json={"priority": 1, "latitude": None, "longitude": None}
    )
    assert patched.status_code == 200
    fetched = client.get(f"/v1/locations/{location_id}").json()
    assert fetched == patched.json()
    assert (fetched["priority"], fetched["latitude"], fetched["longitude"], fetched["name"]) == (
        1,
        None,
        None,
        "Wrocław warehouse",
    )


def test_invalid_coordinates_are_a_problem_naming_the_field(
    client: TestClient, sqlite_db: Database
) -> None:
    response = client.post("/v1/locations", json={**WAREHOUSE, "latitude": 95})
    body = _assert_problem(response, 422, "latitude")
    assert body["type"] == "https://omnicart.dev/problems/validation-failed"
    assert _count(sqlite_db) == 0


def test_duplicate_code_is_409(client: TestClient, sqlite_db: Database) -> None:
    assert client.post("/v1/locations", json=WAREHOUSE).status_code == 201
    _assert_problem(client.post("/v1/locations", json=WAREHOUSE), 409, "code")
    assert _count(sqlite_db) == 1


def test_patch_rejects_nulls_fixed_fields_and_unknown_ids(client: TestClient) -> None:
    location_id = client.post("/v1/locations", json=WAREHOUSE).json()["id"]
    before = client.get(f"/v1/locations/{location_id}").json()
    _assert_problem(client.patch(f"/v1/locations/{location_id}", json={"name": None}), 422, "name")
    _assert_problem(
        client.patch(f"/v1/locations/{location_id}", json={"kind": "store"}), 422, "kind"
    )
    _assert_problem(
        client.patch(f"/v1/locations/{location_id}", json={"ship_from_store": True}),
        422,
        "ship_from_store",
    )
    _assert_problem(client.patch("/v1/locations/999", json={"name": "x"}), 404, "location_id")
    assert client.get(f"/v1/locations/{location_id}").json() == before


def test_pagination_walks_every_location_once(client: TestClient) -> None:
    codes = [f"loc-{n:02d}" for n in range(7)]
    for code in codes:
        assert client.post("/v1/locations", json={**WAREHOUSE, "code": code}).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/locations", params=params).json()
        pages += 1
        seen.extend(item["code"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == codes
    assert pages == 3
    _assert_problem(client.get("/v1/locations", params={"cursor": "garbage!"}), 422, "cursor")
    _assert_problem(client.get("/v1/locations", params={"limit": 0}), 422, "limit")


def test_staff_key_reads_but_cannot_write(client: TestClient, sqlite_db: Database) -> None:
    location_id = client.post("/v1/locations", json=WAREHOUSE).json()["id"]
    with sqlite_db.transaction() as session:
        secret = create_api_key(session, name="staff", role="staff", location_id=location_id).secret
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/v1/locations/{location_id}", headers=headers).status_code == 200
    response = client.post("/v1/locations", json={**WAREHOUSE, "code": "x"}, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert _count(sqlite_db) == 1
