"""/v1/api-keys over HTTP, and what keys may do."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.auth.service import DEFAULT_SCOPES, Principal, create_api_key, hash_secret
from omnicart.auth.tables import ApiKey
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Forbidden

PROBLEM = "application/problem+json"


def _count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(ApiKey)) or 0


def _assert_problem(response: Any, status: int, field: str | None) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    assert response.json().get("field") == field


def _channel_id(client: TestClient) -> int:
    response = client.post(
        "/v1/channels",
        json={"code": "allegro", "name": "Allegro", "kind": "marketplace", "currency": "PLN"},
    )
    channel_id: int = response.json()["id"]
    return channel_id


def test_create_returns_the_secret_once_and_list_never_does(client: TestClient) -> None:
    channel_id = _channel_id(client)
    created = client.post(
        "/v1/api-keys", json={"name": "allegro", "role": "channel", "channel_id": channel_id}
    )
    assert created.status_code == 201
    body = created.json()
    secret = body.pop("secret")
    assert secret.startswith("oc_")
    assert set(body) == {"id", "name", "prefix", "role", "channel_id", "location_id", "scopes"}
    assert (body["prefix"], body["role"], body["channel_id"], body["location_id"]) == (
        secret[:10],
        "channel",
        channel_id,
        None,
    )
    assert body["scopes"] == sorted(DEFAULT_SCOPES["channel"])

    listed = client.get("/v1/api-keys").json()
    assert [k["name"] for k in listed["items"]] == ["test-admin", "allegro"]
    assert secret not in str(listed)
    assert all("secret" not in k and "key_hash" not in k for k in listed["items"])
    assert listed["items"][1]["revoked_at"] is None

    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/v1/channels/{channel_id}", headers=headers).status_code == 200


def test_revoked_key_is_401(client: TestClient) -> None:
    created = client.post("/v1/api-keys", json={"name": "ops", "role": "admin"}).json()
    # A client without the admin bearer token, so that only X-API-Key is presented.
    ops = TestClient(client.app, headers={"X-API-Key": created["secret"]})
    assert ops.get("/v1/channels").status_code == 200
    assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    _assert_problem(ops.get("/v1/channels"), 401, None)
    listed = client.get("/v1/api-keys").json()["items"]
    assert listed[1]["revoked_at"] is not None
    _assert_problem(client.delete("/v1/api-keys/999"), 404, "key_id")


def test_missing_key_is_401(client: TestClient) -> None:
    bare = TestClient(client.app)
    for method, path in [
        ("get", "/v1/api-keys"),
        ("post", "/v1/channels"),
        ("get", "/v1/locations"),
    ]:
        response = bare.request(method, path, json={})
        _assert_problem(response, 401, None)
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_channel_key_cannot_manage_keys(client: TestClient, sqlite_db: Database) -> None:
    channel_id = _channel_id(client)
    secret = client.post(
        "/v1/api-keys", json={"name": "allegro", "role": "channel", "channel_id": channel_id}
    ).json()["secret"]
    headers = {"Authorization": f"Bearer {secret}"}
    before = _count(sqlite_db)
    response = client.post("/v1/api-keys", json={"name": "evil", "role": "admin"}, headers=headers)
    _assert_problem(response, 403, None)
    _assert_problem(client.get("/v1/api-keys", headers=headers), 403, None)
    assert _count(sqlite_db) == before


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"name": "x", "role": "root"}, 422, "role"),
        ({"name": "x", "role": "channel"}, 422, "channel"),
        ({"name": "x", "role": "staff"}, 422, "location"),
        ({"name": "x", "role": "channel", "channel_id": 404}, 404, "channel_id"),
        ({"name": "x", "role": "staff", "location_id": 404}, 404, "location_id"),
        ({"name": "x", "role": "admin", "scopes": ["everything"]}, 422, "scopes"),
        ({"role": "admin"}, 422, "name"),
    ],
)
def test_invalid_key_requests_are_problems_and_create_nothing(
    client: TestClient, sqlite_db: Database, payload: dict[str, Any], status: int, field: str
) -> None:
    _assert_problem(client.post("/v1/api-keys", json=payload), status, field)
    assert _count(sqlite_db) == 1


def test_key_list_pages_walk_every_key_once(client: TestClient) -> None:
    names = ["test-admin"] + [f"k{n}" for n in range(4)]
    for name in names[1:]:
        assert client.post("/v1/api-keys", json={"name": name, "role": "admin"}).status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/api-keys", params=params).json()
        seen.extend(k["name"] for k in page["items"])
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == names


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (
            {"name": "x", "role": "channel", "scopes": ["catalog:read", "catalog:write"]},
            (
                "a channel key may not hold: catalog:write; it may hold "
                "catalog:read, channels:read, inventory:read, reservations:write, "
                "orders:read, orders:write"
            ),
        ),
        (
            {"name": "x", "role": "staff", "scopes": ["keys:write"]},
            (
                "a staff key may not hold: keys:write; it may hold "
                "catalog:read, locations:read, inventory:read, inventory:write, "
                "orders:read, orders:write, customers:read, customers:write"
            ),
        ),
    ],
)
def test_scopes_beyond_the_role_are_refused(
    client: TestClient, sqlite_db: Database, payload: dict[str, Any], detail: str
) -> None:
    if payload["role"] == "channel":
        payload["channel_id"] = _channel_id(client)
    else:
        created = client.post(
            "/v1/locations", json={"code": "wro", "name": "Wrocław", "kind": "store"}
        )
        payload["location_id"] = created.json()["id"]
    response = client.post("/v1/api-keys", json=payload)
    _assert_problem(response, 422, "scopes")
    assert response.json()["detail"] == detail
    assert _count(sqlite_db) == 1


@pytest.mark.parametrize("name", ["", "   ", "n" * 81])
def test_key_names_are_1_to_80_characters(
    client: TestClient, sqlite_db: Database, name: str
) -> None:
    response = client.post("/v1/api-keys", json={"name": name, "role": "admin"})
    _assert_problem(response, 422, "name")
    assert response.json()["detail"] == "name must be 1 to 80 characters"
    assert _count(sqlite_db) == 1
    assert client.post("/v1/api-keys", json={"name": "n" * 80, "role": "admin"}).status_code == 201


def test_a_non_admin_key_holding_keys_write_cannot_mint_keys(
    client: TestClient, sqlite_db: Database
) -> None:
    channel_id = _channel_id(client)
    # A key written before scopes were bounded by role: a channel key with keys:write.
    with sqlite_db.transaction() as session:
        session.add(
            ApiKey(
                name="legacy",
                prefix="oc_legacy_",
                key_hash=hash_secret("oc_legacy_secret"),
                role="channel",
                channel_id=channel_id,
                scopes=[*DEFAULT_SCOPES["channel"], "keys:write"],
                created_at=utcnow(),
            )
        )
    before = _count(sqlite_db)
    headers = {"Authorization": "Bearer oc_legacy_secret"}
    response = client.post("/v1/api-keys", json={"name": "mine", "role": "admin"}, headers=headers)
    _assert_problem(response, 403, None)
    assert response.json()["detail"] == "only an admin key may call this route"
    _assert_problem(client.get("/v1/api-keys", headers=headers), 403, None)
    _assert_problem(client.delete("/v1/api-keys/1", headers=headers), 403, None)
    assert _count(sqlite_db) == before
    with sqlite_db.reading() as session:
        assert session.scalar(select(ApiKey.revoked_at).where(ApiKey.id == 1)) is None


def test_the_service_refuses_non_admin_creators(sqlite_db: Database) -> None:
    staff = Principal(key_id=9, name="staff", role="staff", scopes=frozenset({"keys:write"}))
    with pytest.raises(Forbidden), sqlite_db.transaction() as session:
        create_api_key(session, name="x", role="admin", principal=staff)
    assert _count(sqlite_db) == 0
