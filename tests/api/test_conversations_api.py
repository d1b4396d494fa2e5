"""Conversations over HTTP: a contact opens a case, the next continues it, handovers
and the customer's thread; refusals are problem+json and change nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from tests.orders_support import seed_shop

ANN = "ann.kowalska@poczta.pl"


def _problem(response: Any, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json().get("field") == field


def test_a_case_over_http(client: TestClient) -> None:
    opened = client.post(
        "/v1/conversations",
        json={"customer": {"email": ANN}, "channel": "chat", "body": "Where is my parcel?"},
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["status"], case["channel"], case["assignee"]) == ("open", "chat", None)
    continued = client.post(
        "/v1/conversations",
        json={
            "customer": {"email": ANN, "phone": "+48601234567"},
            "channel": "phone",
            "body": "Calling about the parcel",
        },
    )
    assert (continued.status_code, continued.json()["id"]) == (200, case["id"])
    reply = client.post(
        f"/v1/conversations/{case['id']}/messages",
        json={"channel": "phone", "direction": "out", "body": "A new one ships today"},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "pending"
    assert reply.json()["messages"][-1]["author"].startswith("key:")  # the caller
    handed = client.post(
        f"/v1/conversations/{case['id']}/handover",
        json={"to_channel": "whatsapp", "to_assignee": "agent:bob", "summary": "Send tracking"},
    )
    assert handed.status_code == 200, handed.text
    got = client.get(f"/v1/conversations/{case['id']}").json()
    assert [(m["channel"], m["direction"]) for m in got["messages"]] == [
        ("chat", "in"),
        ("phone", "in"),
        ("phone", "out"),
    ]
    assert [(h["from_channel"], h["to_channel"], h["summary"]) for h in got["handovers"]] == [
        ("chat", "whatsapp", "Send tracking")
    ]
    thread = client.get(f"/v1/customers/{case['customer_id']}/conversations")
    assert [c["id"] for c in thread.json()] == [case["id"]]
    closed = client.post(f"/v1/conversations/{case['id']}/status", json={"status": "closed"})
    assert closed.json()["status"] == "closed"


def test_refusals_are_problems_and_change_nothing(client: TestClient, sqlite_db: Database) -> None:
    case = client.post(
        "/v1/conversations",
        json={"customer": {"email": ANN}, "channel": "email", "body": "Hello"},
    ).json()
    url = f"/v1/conversations/{case['id']}"
    _problem(
        client.post(
            "/v1/conversations",
            json={"customer": {"email": ANN}, "channel": "fax", "body": "x"},
        ),
        422,
        "channel",
    )
    _problem(
        client.post("/v1/conversations", json={"customer": {}, "channel": "chat", "body": "x"}),
        422,
        "customer",
    )
    _problem(
        client.post(
            "/v1/conversations",
            json={"customer": {"email": "test@example.com"}, "channel": "chat", "body": "x"},
        ),
        422,
        "customer",
    )
    _problem(
        client.post(
            "/v1/conversations",
            json={"customer": {"email": ANN}, "channel": "chat", "body": "x", "extra": 1},
        ),
        422,
        "extra",
    )
    _problem(client.post(f"{url}/messages", json={"channel": "chat", "body": "  "}), 422, "body")
    _problem(client.post(f"{url}/handover", json={"to_channel": "phone"}), 422, "summary")
    _problem(
        client.post(f"{url}/handover", json={"to_channel": "email", "summary": "same place"}),
        422,
        "to_channel",
    )
    _problem(client.get("/v1/conversations/999"), 404, "conversation_id")
    _problem(client.get("/v1/customers/999/conversations"), 404, "customer_id")
    assert client.get(url).json() == case
    client.post(f"{url}/status", json={"status": "closed"})
    _problem(
        client.post(f"{url}/messages", json={"channel": "chat", "body": "hi"}),
        409,
        "conversation_id",
    )
    _problem(client.post(f"{url}/status", json={"status": "open"}), 409, "status")
    assert len(client.get(url).json()["messages"]) == 1


def test_scopes_guard_conversations(client: TestClient, sqlite_db: Database) -> None:
    shop = seed_shop(sqlite_db)
    with sqlite_db.transaction() as session:
        create_api_key(
            session,
            name="krk",
            role="staff",
            location_id=shop.krakow,
            scopes=["orders:read"],
            secret="oc_krk",
        )
    staff = {"Authorization": "Bearer oc_krk"}
    refused = client.post(
        "/v1/conversations",
        json={"customer": {"email": ANN}, "channel": "in_store", "body": "x"},
        headers=staff,
    )
    _problem(refused, 403, None)
    assert client.get("/v1/customers/1/conversations").status_code == 404
