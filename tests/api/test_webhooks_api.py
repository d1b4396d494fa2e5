"""The webhooks API: subscriptions (the secret shown once), their delivery log, replays;
bad input answered 422 naming the field, with nothing changed."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.db.outbox import record_event
from omnicart.webhooks.delivery import WebhookSender
from omnicart.webhooks.model import EVENT_TYPES
from omnicart.webhooks.tables import WebhookSubscription
from tests.conftest import ADMIN_SECRET

BASE = "/v1/webhooks/subscriptions"
HOOK = "https://erp.example.com/omnicart/hooks"


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[TestClient, Database]]:
    """One app and database for the cases that send nothing (an app takes seconds to build)."""
    path = tmp_path_factory.mktemp("webhooks-api") / "omnicart.db"
    shutil.copy(sqlite_template, path)
    db = Database.from_url(f"sqlite:///{path}")
    with db.transaction() as session:
        create_api_key(session, name="test-admin", role="admin", secret=ADMIN_SECRET)
    app = create_app(db=db, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as client:
        yield client, db
    db.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.get("field") == field, body
    return body


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [
            tuple(row)
            for table in ("webhook_subscriptions", "webhook_deliveries", "webhook_attempts")
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
        ]


def _emit(db: Database, count: int) -> None:
    with db.transaction() as session:
        for n in range(1, count + 1):
            record_event(
                session,
                event_type="Order Updated",
                aggregate="order",
                aggregate_id=str(n),
                payload={"n": n},
            )


def _dead_letters(client: TestClient, db: Database, count: int) -> int:
    """A subscription to a closed port whose `count` deliveries are all dead letters."""
    url = f"http://127.0.0.1:{_closed_port()}/gone"
    made = client.post(BASE, json={"url": url, "event_types": ["order.*"], "max_attempts": 1})
    assert made.status_code == 201, made.text
    _emit(db, count)
    sender = WebhookSender(db)
    try:
        assert sender.deliver_round().dead == count
    finally:
        sender.close()
    return int(made.json()["id"])


def test_a_subscription_shows_its_secret_once(client: TestClient, sqlite_db: Database) -> None:
    body = {"url": HOOK, "event_types": ["stock.*", "order.created"], "description": "ERP"}
    made = client.post(BASE, json=body)
    assert made.status_code == 201, made.text
    created = made.json()
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    sid = created["id"]
    assert created == {
        "id": sid,
        "url": HOOK,
        "description": "ERP",
        "event_types": ["order.created", "stock.*"],
        "enabled": True,
        "max_attempts": 16,
        "pending": 0,
        "dead": 0,
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
        "previous_secret_until": None,
    }
    shown = client.get(f"{BASE}/{sid}")
    assert shown.json() == created
    listed = client.get(BASE)
    assert listed.json() == {"items": [created], "next_cursor": None}
    for answer in (shown, listed):
        assert secret not in answer.text
    # Sealed at rest: the secret is in no column, not even its base64 part.
    assert not any(secret.removeprefix("whsec_") in repr(row) for row in _rows(sqlite_db))


def test_rotating_gives_a_new_secret_once_and_keeps_the_old_one_a_while(
    shared: tuple[TestClient, Database],
) -> None:
    client, _ = shared
    made = client.post(BASE, json={"url": HOOK, "event_types": ["*"]}).json()
    rotated = client.post(f"{BASE}/{made['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["subscription_id"] == made["id"]
    assert new["secret"].startswith("whsec_")
    assert new["secret"] != made["secret"]
    shown = client.get(f"{BASE}/{made['id']}").json()
    assert shown["previous_secret_until"] == new["previous_secret_until"]
    assert new["secret"] not in client.get(BASE).text
    now = client.post(
        f"{BASE}/{made['id']}/rotate-secret", json={"previous_secret_valid_seconds": 0}
    )
    assert now.json()["previous_secret_until"] is None
    assert client.get(f"{BASE}/{made['id']}").json()["previous_secret_until"] is None
    too_long = client.post(
        f"{BASE}/{made['id']}/rotate-secret", json={"previous_secret_valid_seconds": 604801}
    )
    _problem(too_long, 422, "previous_secret_valid_seconds")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://erp.example.com/x", "event_types": ["*"]}, "url"),
        ({"url": "https://me:pw@erp.example.com/x", "event_types": ["*"]}, "url"),
        ({"url": "erp.example.com/x", "event_types": ["*"]}, "url"),
        ({"url": "https://erp.example.com/#x", "event_types": ["*"]}, "url"),
        ({"url": "", "event_types": ["*"]}, "url"),
        ({"url": "https://e.com/" + "a" * 2000, "event_types": ["*"]}, "url"),
        ({"url": HOOK, "event_types": []}, "event_types"),
        ({"url": HOOK, "event_types": ["orders.*"]}, "event_types"),
        ({"url": HOOK, "event_types": ["order.create"]}, "event_types"),
        ({"url": HOOK, "event_types": "order.*"}, "event_types"),
        ({"url": HOOK, "event_types": ["*"], "max_attempts": 0}, "max_attempts"),
        ({"url": HOOK, "event_types": ["*"], "max_attempts": 31}, "max_attempts"),
        ({"url": HOOK, "event_types": ["*"], "max_attempts": "3"}, "max_attempts"),
        ({"url": HOOK, "event_types": ["*"], "start": "yesterday"}, "start"),
        ({"url": HOOK, "event_types": ["*"], "description": "x" * 201}, "description"),
        ({"url": HOOK, "event_types": ["*"], "secret": "whsec_mine"}, "secret"),
        ({"event_types": ["*"]}, "url"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    shared: tuple[TestClient, Database], body: dict[str, Any], field: str
) -> None:
    client, db = shared
    before = _rows(db)
    _problem(client.post(BASE, json=body), 422, field)
    assert _rows(db) == before


def test_changes_pause_resume_and_refuse_bad_values(shared: tuple[TestClient, Database]) -> None:
    client, db = shared
    sid = client.post(BASE, json={"url": HOOK, "event_types": ["*"]}).json()["id"]
    paused = client.patch(f"{BASE}/{sid}", json={"enabled": False, "description": "paused"})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["enabled"], paused.json()["description"]) == (False, "paused")
    changed = client.patch(
        f"{BASE}/{sid}",
        json={"enabled": True, "url": "http://10.0.0.5:8080/in", "event_types": ["return.*"]},
    ).json()
    assert (changed["enabled"], changed["url"], changed["event_types"]) == (
        True,
        "http://10.0.0.5:8080/in",
        ["return.*"],
    )
    before = _rows(db)
    for body, field in (
        ({"url": "https://a:b@x.example/"}, "url"),
        ({"event_types": ["nope"]}, "event_types"),
        ({"enabled": None}, "enabled"),
        ({"max_attempts": 99}, "max_attempts"),
        ({"color": "red"}, "color"),
    ):
        _problem(client.patch(f"{BASE}/{sid}", json=body), 422, field)
    assert _rows(db) == before
    _problem(client.patch(f"{BASE}/999", json={"enabled": False}), 404, None)


def test_the_delivery_log_lists_dead_letters_and_replays_them(
    client: TestClient, sqlite_db: Database
) -> None:
    sid = _dead_letters(client, sqlite_db, 3)
    assert client.get(f"{BASE}/{sid}").json()["dead"] == 3
    page = client.get(f"{BASE}/{sid}/deliveries", params={"state": "dead", "limit": 2}).json()
    assert [d["seq"] for d in page["items"]] == [1, 2]
    rest = client.get(
        f"{BASE}/{sid}/deliveries", params={"state": "dead", "cursor": page["next_cursor"]}
    ).json()
    assert [d["seq"] for d in rest["items"]] == [3]
    assert rest["next_cursor"] is None
    first = page["items"][0]
    assert first["state"] == "dead"
    assert first["event_type"] == "order.updated"
    assert first["message_id"].startswith("msg_")
    assert (first["attempts"], first["last_status"], first["next_attempt_at"]) == (1, None, None)
    assert first["last_error"].startswith("ConnectError")
    [attempt] = first["log"]
    assert (attempt["number"], attempt["status_code"], attempt["outcome"]) == (1, None, "dead")
    assert attempt["error"] == first["last_error"]
    assert client.get(f"{BASE}/{sid}/deliveries/{first['id']}").json() == first

    replayed = client.post(f"{BASE}/{sid}/deliveries/{first['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    again = replayed.json()
    assert (again["state"], again["attempts"], again["message_id"]) == (
        "pending",
        0,
        first["message_id"],
    )
    assert again["next_attempt_at"] is not None
    before = _rows(sqlite_db)
    _problem(client.post(f"{BASE}/{sid}/deliveries/{first['id']}/replay"), 409, "delivery_id")
    assert _rows(sqlite_db) == before
    assert client.post(f"{BASE}/{sid}/replay-dead").json() == {"replayed": 2}
    assert client.post(f"{BASE}/{sid}/replay-dead").json() == {"replayed": 0}
    pending = client.get(f"{BASE}/{sid}/deliveries", params={"state": "pending"}).json()
    assert [d["seq"] for d in pending["items"]] == [1, 2, 3]
    assert client.get(f"{BASE}/{sid}").json()["pending"] == 3


def test_unknown_ids_are_404_and_bad_filters_422(client: TestClient, sqlite_db: Database) -> None:
    sid = _dead_letters(client, sqlite_db, 1)
    other = client.post(BASE, json={"url": HOOK, "event_types": ["*"]}).json()["id"]
    delivery = client.get(f"{BASE}/{sid}/deliveries").json()["items"][0]["id"]
    _problem(client.get(f"{BASE}/999"), 404, None)
    _problem(client.get(f"{BASE}/999/deliveries"), 404, None)
    # A delivery of another subscription is not this one's.
    _problem(client.get(f"{BASE}/{other}/deliveries/{delivery}"), 404, "delivery_id")
    _problem(client.post(f"{BASE}/{other}/deliveries/{delivery}/replay"), 404, "delivery_id")
    _problem(client.get(f"{BASE}/{sid}/deliveries", params={"state": "lost"}), 422, "state")
    _problem(client.get(f"{BASE}/{sid}/deliveries", params={"cursor": "x"}), 422, "cursor")


def test_deleting_removes_the_queue_and_the_log(client: TestClient, sqlite_db: Database) -> None:
    sid = _dead_letters(client, sqlite_db, 2)
    assert client.delete(f"{BASE}/{sid}").status_code == 204
    _problem(client.get(f"{BASE}/{sid}"), 404, None)
    _problem(client.delete(f"{BASE}/{sid}"), 404, None)
    assert _rows(sqlite_db) == []
    with sqlite_db.reading() as session:
        assert session.scalars(select(WebhookSubscription)).all() == []


def test_event_types_are_listed(shared: tuple[TestClient, Database]) -> None:
    client, _ = shared
    listed = client.get("/v1/webhooks/event-types").json()
    assert [e["type"] for e in listed] == list(EVENT_TYPES)
    assert all(e["description"] for e in listed)


def test_only_admin_keys_manage_webhooks(shared: tuple[TestClient, Database]) -> None:
    client, db = shared
    before = _rows(db)
    with db.transaction() as session:
        staff = create_api_key(session, name="ops", role="analyst").secret
    as_analyst = {"Authorization": f"Bearer {staff}"}
    _problem(client.get(BASE, headers=as_analyst), 403, None)
    _problem(
        client.post(BASE, json={"url": HOOK, "event_types": ["*"]}, headers=as_analyst), 403, None
    )
    _problem(client.get(BASE, headers={"Authorization": "Bearer nope"}), 401, None)
    assert _rows(db) == before
