"""/v1/channels over HTTP, including what a channel's key may see."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.auth.service import create_api_key
from omnicart.channels.tables import Channel
from omnicart.db.engine import Database

PROBLEM = "application/problem+json"
ALLEGRO = {
    "code": "allegro",
    "name": "Allegro",
    "kind": "marketplace",
    "currency": "PLN",
    "buffer_percent_shown": 80,
    "buffer_units": 2,
}


def _count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Channel)) or 0


def _assert_problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body.get("field") == field
    if field is not None:
        assert body["errors"][0]["field"] == field
    return body


def _channel_key(db: Database, channel_id: int) -> dict[str, str]:
    with db.transaction() as session:
        secret = create_api_key(
            session, name="allegro", role="channel", channel_id=channel_id
        ).secret
    return {"Authorization": f"Bearer {secret}"}


def _create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/channels", json={**ALLEGRO, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_and_get(client: TestClient) -> None:
    body = _create(client)
    channel_id = body.pop("id")
    assert body.pop("created_at")
    assert body == {**ALLEGRO, "active": True, "ship_location_ids": [], "pickup_location_ids": []}
    fetched = client.get(f"/v1/channels/{channel_id}").json()
    assert {k: v for k, v in fetched.items() if k not in ("id", "created_at")} == body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Allegro PL"}, "code"),
        ({"currency": "ZZZ"}, "currency"),
        ({"kind": "tv"}, "kind"),
        ({"buffer_percent_shown": 101}, "buffer_percent_shown"),
        ({"buffer_units": -1}, "buffer_units"),
        ({"buffer_units": "many"}, "buffer_units"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_channel_is_a_problem_naming_the_field(
    client: TestClient, sqlite_db: Database, changes: dict[str, Any], field: str
) -> None:
    _assert_problem(client.post("/v1/channels", json={**ALLEGRO, **changes}), 422, field)
    assert _count(sqlite_db) == 0


def test_duplicate_code_is_409(client: TestClient, sqlite_db: Database) -> None:
    _create(client)
    _assert_problem(client.post("/v1/channels", json=ALLEGRO), 409, "code")
    assert _count(sqlite_db) == 1


def test_patch_allows_buffer_and_refuses_a_new_currency(client: TestClient) -> None:
    channel_id = _create(client)["id"]
    patched = client.patch(
        f"/v1/channels/{channel_id}",
        json={"buffer_percent_shown": 90, "active": False, "currency": "PLN"},
    )
    assert patched.status_code == 200
    assert (patched.json()["buffer_percent_shown"], patched.json()["active"]) == (90, False)
    before = client.get(f"/v1/channels/{channel_id}").json()
    _assert_problem(
        client.patch(f"/v1/channels/{channel_id}", json={"name": "New", "currency": "EUR"}),
        409,
        "currency",
    )
    _assert_problem(client.patch(f"/v1/channels/{channel_id}", json={"kind": "web"}), 422, "kind")
    _assert_problem(client.patch("/v1/channels/999", json={"name": "x"}), 404, "channel_id")
    assert client.get(f"/v1/channels/{channel_id}").json() == before


def test_put_locations(client: TestClient) -> None:
    channel_id = _create(client)["id"]
    warehouse = client.post(
        "/v1/locations", json={"code": "wro", "name": "Wrocław", "kind": "warehouse"}
    ).json()["id"]
    store = client.post(
        "/v1/locations", json={"code": "krk", "name": "Kraków", "kind": "store", "pickup": True}
    ).json()["id"]
    response = client.put(
        f"/v1/channels/{channel_id}/locations",
        json={"ship_location_ids": [warehouse], "pickup_location_ids": [store]},
    )
    assert response.status_code == 200
    assert (response.json()["ship_location_ids"], response.json()["pickup_location_ids"]) == (
        [warehouse],
        [store],
    )
    # The store has no ship_from_store, so it may not ship this channel's orders.
    rejected = client.put(
        f"/v1/channels/{channel_id}/locations",
        json={"ship_location_ids": [store], "pickup_location_ids": []},
    )
    _assert_problem(rejected, 409, "ship_location_ids.0")
    unknown = client.put(
        f"/v1/channels/{channel_id}/locations",
        json={"ship_location_ids": [], "pickup_location_ids": [store, 77]},
    )
    _assert_problem(unknown, 404, "pickup_location_ids.1")
    assert client.get(f"/v1/channels/{channel_id}").json() == response.json()


def test_pagination_walks_every_channel_once(client: TestClient) -> None:
    codes = [f"ch-{n:02d}" for n in range(6)]
    for code in codes:
        _create(client, code=code)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/channels", params=params).json()
        seen.extend(item["code"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == codes


def test_missing_key_is_401_problem(client: TestClient) -> None:
    response = TestClient(client.app).get("/v1/channels")
    _assert_problem(response, 401, None)
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/channels", headers={"Authorization": "Bearer oc_nope"})
    _assert_problem(wrong, 401, None)


def test_channel_key_cannot_create_channels(client: TestClient, sqlite_db: Database) -> None:
    headers = _channel_key(sqlite_db, _create(client)["id"])
    response = client.post("/v1/channels", json={**ALLEGRO, "code": "x"}, headers=headers)
    body = _assert_problem(response, 403, None)
    assert body["type"] == "https://omnicart.dev/problems/forbidden"
    assert _count(sqlite_db) == 1


def test_channel_key_reads_only_its_own_channel(client: TestClient, sqlite_db: Database) -> None:
    own = _create(client)
    other = _create(client, code="amazon", name="Amazon")
    headers = _channel_key(sqlite_db, own["id"])
    listed = client.get("/v1/channels", headers=headers).json()
    assert listed == {"items": [own], "next_cursor": None}
    assert client.get(f"/v1/channels/{own['id']}", headers=headers).json() == own
    _assert_problem(client.get(f"/v1/channels/{other['id']}", headers=headers), 403, "channel_id")


def test_openapi_is_3_1_and_documents_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"post", "get"} <= set(spec["paths"]["/v1/channels"])
    assert {"get", "patch"} <= set(spec["paths"]["/v1/channels/{channel_id}"])
    assert "put" in spec["paths"]["/v1/channels/{channel_id}/locations"]
    assert "delete" in spec["paths"]["/v1/api-keys/{key_id}"]
