"""The Segment-compatible Tracking API and the tracking source endpoints, in process."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.kernel.clock import set_clock
from omnicart.settings import Settings
from omnicart.tracking.model import to_micros
from tests.tracking_support import add_source, basic, stored, tracking_client

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def events_path(tmp_path: Path) -> Path:
    return tmp_path / "events.duckdb"


@pytest.fixture
def setup(sqlite_db: Database, events_path: Path) -> Iterator[tuple[TestClient, str, int, int]]:
    channel_id, source_id, write_key = add_source(sqlite_db)
    set_clock(lambda: NOW)
    try:
        with tracking_client(sqlite_db, events_path) as client:
            yield client, write_key, channel_id, source_id
    finally:
        set_clock(None)


def _post(client: TestClient, path: str, body: Any, key: str | None, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    all_headers = {"Content-Type": "application/json", **(basic(key) if key else {}), **headers}
    all_headers["Authorization"] = all_headers.get("Authorization", "")
    return client.post(path, content=content, headers=all_headers)


def _count(events_path: Path) -> int:
    with stored(events_path) as store:
        return store.count()


def test_track_identify_page_screen_group_alias_are_stored(
    setup: tuple[TestClient, str, int, int], events_path: Path
) -> None:
    client, key, channel_id, source_id = setup
    calls = {
        "identify": {"userId": "u1", "traits": {"email": "ann@example.com"}, "messageId": "m1"},
        "track": {
            "userId": "u1",
            "event": "Signed Up",
            "properties": {"plan": "gold"},
            "messageId": "m2",
        },
        "page": {"anonymousId": "a1", "name": "Home", "category": "Shop", "messageId": "m3"},
        "screen": {"anonymousId": "a1", "name": "Cart", "messageId": "m4"},
        "group": {"userId": "u1", "groupId": "acme", "traits": {"seats": 3}, "messageId": "m5"},
        "alias": {"userId": "u1", "previousId": "a1", "messageId": "m6"},
    }
    for kind, body in calls.items():
        response = _post(client, f"/v1/{kind}", body, key)
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True}
    client.__exit__(None, None, None)  # stop the app: its flusher lets go of the store
    with stored(events_path) as store:
        events = {e.message_id: e for e in store.find(source_id=source_id)}
        assert sorted(events) == ["m1", "m2", "m3", "m4", "m5", "m6"]
        assert events["m1"].traits == {"email": "ann@example.com"}
        assert (events["m2"].type, events["m2"].event, events["m2"].properties) == (
            "track",
            "Signed Up",
            {"plan": "gold"},
        )
        assert (events["m3"].event, events["m3"].category) == ("Home", "Shop")
        assert events["m5"].group_id == "acme"
        assert events["m6"].previous_id == "a1"
        assert {e.channel_id for e in events.values()} == {channel_id}
        assert {e.received_at for e in events.values()} == {NOW}
        assert [e.message_id for e in store.find(anonymous_id="a1")] == ["m3", "m4"]
        assert [e.message_id for e in store.find(user_id="u1", message_id="m2")] == ["m2"]


def test_batch_gzip_write_key_in_body_and_short_paths(
    setup: tuple[TestClient, str, int, int], events_path: Path
) -> None:
    client, key, _, _ = setup
    batch = {
        "writeKey": key,
        "sentAt": "2026-11-23T12:10:00Z",  # the device clock is 10 minutes fast
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "E",
                "messageId": "b1",
                "timestamp": "2026-11-23T12:09:00Z",
            },
            {"type": "identify", "userId": "u1", "messageId": "b2"},
        ],
    }
    response = _post(
        client,
        "/v1/batch",
        gzip.compress(orjson.dumps(batch)),
        None,
        **{"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    response = _post(client, "/v1/t", {"userId": "u2", "event": "Short", "messageId": "t1"}, key)
    assert response.status_code == 200
    client.__exit__(None, None, None)
    with stored(events_path) as store:
        [b1] = store.find(message_id="b1")
        assert b1.timestamp == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)  # skew removed
        assert b1.original_timestamp == datetime(2026, 11, 23, 12, 9, tzinfo=UTC)
        assert b1.sent_at == datetime(2026, 11, 23, 12, 10, tzinfo=UTC)
        assert store.count() == 3


def test_the_same_message_id_is_stored_once(
    setup: tuple[TestClient, str, int, int], events_path: Path
) -> None:
    client, key, _, _ = setup
    first = {"userId": "u1", "event": "First", "messageId": "dup"}
    assert _post(client, "/v1/track", first, key).status_code == 200
    again = {
        "batch": [{"type": "track", "userId": "u1", "event": "Second", "messageId": "dup"}] * 2
    }
    assert _post(client, "/v1/batch", again, key).status_code == 200
    client.__exit__(None, None, None)
    with stored(events_path) as store:
        [event] = store.find(message_id="dup")
        assert event.event == "First"
        assert store.count() == 1


def test_a_batch_with_some_bad_messages_keeps_the_good_ones(
    setup: tuple[TestClient, str, int, int], events_path: Path
) -> None:
    client, key, _, _ = setup
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "Order Completed",
                "messageId": "ok",
                "properties": {"order_id": "o1", "total": 27.5},
            },
            {
                "type": "track",
                "userId": "u1",
                "event": "Order Completed",
                "messageId": "bad",
                "properties": {"order_id": "o2", "total": "27.50"},
            },
        ]
    }
    response = _post(client, "/v1/batch", batch, key)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "rejected": [
            {
                "index": 1,
                "field": "batch[1].properties.total",
                "detail": (
                    "Input should be a valid number (Segment e-commerce v2 'Order Completed')"
                ),
            }
        ],
    }
    client.__exit__(None, None, None)
    with stored(events_path) as store:
        assert [e.message_id for e in store.find()] == ["ok"]


BAD_INPUT = [
    ("/v1/track", b'{"userId": "u1", "event": ', {}, 400, "malformed-body", "body"),
    ("/v1/track", b"[]", {}, 400, "malformed-body", "body"),
    (
        "/v1/track",
        orjson.dumps(
            {
                "userId": "u",
                "event": "Order Completed",
                "properties": {"products": [{"quantity": "2"}]},
            }
        ),
        {},
        400,
        "invalid-event",
        "properties.products.0.quantity",
    ),
    (
        "/v1/track",
        orjson.dumps({"userId": "u", "event": "E", "properties": {"pad": "x" * 33_000}}),
        {},
        400,
        "payload-too-large",
        "body",
    ),
    (
        "/v1/batch",
        orjson.dumps(
            {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u",
                        "event": "E",
                        "properties": {"pad": "x" * 1000},
                    }
                ]
                * 520
            }
        ),
        {},
        400,
        "payload-too-large",
        "body",
    ),
    (
        "/v1/batch",
        gzip.compress(orjson.dumps({"batch": [], "pad": "x" * 600_000})),
        {"Content-Encoding": "gzip"},
        400,
        "payload-too-large",
        "body",
    ),
    ("/v1/track", b"not gzip", {"Content-Encoding": "gzip"}, 400, "malformed-body", "body"),
    (
        "/v1/track",
        orjson.dumps({"userId": "u", "event": "E", "timestamp": "2026-11-24T12:00:00Z"}),
        {},
        400,
        "invalid-event",
        "timestamp",
    ),
    (
        "/v1/batch",
        orjson.dumps(
            {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u",
                        "event": "E",
                        "timestamp": "2030-01-01T00:00:00Z",
                    }
                ]
            }
        ),
        {},
        400,
        "invalid-event",
        "batch[0].timestamp",
    ),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "slug", "field"), BAD_INPUT)
def test_bad_input_is_a_clear_problem_and_stores_nothing(
    setup: tuple[TestClient, str, int, int],
    events_path: Path,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    slug: str,
    field: str,
) -> None:
    client, key, _, _ = setup
    response = _post(client, path, body, key, **headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/" + slug)
    assert problem["field"] == field
    client.__exit__(None, None, None)
    assert _count(events_path) == 0


@pytest.mark.parametrize(
    "auth",
    [None, "Basic " + "d2tfbm9wZTo=", "Basic !!!", "Bearer wk_whatever"],
)
def test_a_missing_or_unknown_write_key_is_refused(
    setup: tuple[TestClient, str, int, int], events_path: Path, auth: str | None
) -> None:
    client, _, _, _ = setup
    headers = {"Authorization": auth or ""}
    response = _post(client, "/v1/track", {"userId": "u", "event": "E"}, None, **headers)
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = {"userId": "u", "event": "E", "writeKey": "wk_unknown"}
    assert _post(client, "/v1/track", body, None).status_code == 401
    client.__exit__(None, None, None)
    assert _count(events_path) == 0


def test_sources_are_created_and_listed_by_admins_only(
    sqlite_db: Database, events_path: Path
) -> None:
    with tracking_client(sqlite_db, events_path) as client:
        channel = client.post(
            "/v1/channels", json={"code": "web", "name": "Web", "kind": "web", "currency": "EUR"}
        ).json()
        created = client.post(
            "/v1/tracking/sources", json={"channel_id": channel["id"], "name": "site"}
        )
        assert created.status_code == 201, created.text
        source = created.json()
        assert source["write_key"].startswith("wk_")
        assert source["prefix"] == source["write_key"][:10]
        listed = client.get("/v1/tracking/sources").json()
        assert [s["id"] for s in listed["items"]] == [source["id"]]
        assert "write_key" not in listed["items"][0]
        # the new key works at once
        ok = _post(client, "/v1/track", {"userId": "u", "event": "E"}, source["write_key"])
        assert ok.status_code == 200
        missing = client.post("/v1/tracking/sources", json={"channel_id": 999, "name": "x"})
        assert missing.status_code == 404
        with sqlite_db.transaction() as session:
            key = create_api_key(session, name="web", role="channel", channel_id=channel["id"])
        auth = {"Authorization": f"Bearer {key.secret}"}
        assert client.get("/v1/tracking/sources", headers=auth).status_code == 403
        refused = client.post(
            "/v1/tracking/sources", json={"channel_id": channel["id"], "name": "x"}, headers=auth
        )
        assert refused.status_code == 403
        assert client.get("/v1/tracking/sources").json()["items"][0]["id"] == source["id"]
        assert len(client.get("/v1/tracking/sources").json()["items"]) == 1


def test_the_openapi_document_lists_the_tracking_calls(
    setup: tuple[TestClient, str, int, int],
) -> None:
    client, _, _, _ = setup
    paths = client.get("/openapi.json").json()["paths"]
    for kind in ("identify", "track", "page", "screen", "group", "alias", "batch"):
        assert "post" in paths[f"/v1/{kind}"]
    assert "/v1/t" not in paths
    assert json.dumps(paths["/v1/tracking/sources"])
    assert to_micros(NOW) > 0


def test_the_event_store_is_the_one_the_settings_name(sqlite_db: Database, tmp_path: Path) -> None:
    _, source_id, key = add_source(sqlite_db)
    events = tmp_path / "configured" / "events.duckdb"
    settings = Settings(events_path=str(events), database_url="sqlite:///unused.db")
    app = create_app(db=sqlite_db, settings=settings, sweep=False)
    with TestClient(app) as client:
        answer = _post(client, "/v1/track", {"userId": "u", "event": "E", "messageId": "s1"}, key)
        assert answer.status_code == 200, answer.text
    with stored(events) as store:
        assert [(e.source_id, e.message_id) for e in store.find()] == [(source_id, "s1")]


def test_nul_in_any_string_is_refused_over_http_naming_the_field(
    setup: tuple[TestClient, str, int, int], events_path: Path
) -> None:
    """The raw body's `\\u0000` escape is what makes the ingest look (a body without one
    skips the walk): a NUL deep in traits, in a call and in a batch, is still refused."""
    client, key, _, _ = setup
    call = _post(
        client, "/v1/identify", {"userId": "u1", "traits": {"tags": ["ok", "a\x00b"]}}, key
    )
    assert call.status_code == 400, call.text
    assert call.json()["field"] == "traits.tags.1"
    batch = _post(
        client,
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "ok-1"},
                {"type": "track", "userId": "u\x00", "event": "Signed Up", "messageId": "bad"},
            ]
        },
        key,
    )
    assert batch.status_code == 200, batch.text
    assert [(r["index"], r["field"]) for r in batch.json()["rejected"]] == [(1, "batch[1].userId")]
    assert _count(events_path) == 1
