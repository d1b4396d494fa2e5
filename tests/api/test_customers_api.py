"""The customers API: Customer 360, lookup, consents, export and erasure; problem+json
for bad input; personal data only for keys with the customers scopes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicart.auth.service import create_api_key
from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from tests.support import add_channel, add_location


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if field is not None:
        assert body["field"] == field
    return body


@pytest.fixture
def ewa(sqlite_db: Database) -> int:
    with sqlite_db.transaction() as session:
        channel_id = add_channel(session, "web")
        profile = observe(
            session,
            identifiers=[("email", "ewa@shop.pl"), ("user_id", "u-7")],
            channel_id=channel_id,
            source="test",
            traits={"name": "Ewa"},
        )
    assert profile is not None
    return profile


def test_customer_360_and_lookup(client: TestClient, ewa: int) -> None:
    response = client.get(f"/v1/customers/{ewa}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["requested_id"], body["merged"]) == (ewa, ewa, False)
    assert body["traits"] == {"name": "Ewa"}
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("email", "ewa@shop.pl"),
        ("user_id", "u-7"),
    }
    assert body["orders"] == []
    assert body["loyalty"]["balance"] == 0
    assert body["conversations"] == []
    found = client.get("/v1/customers", params={"email": " EWA@shop.pl"})
    assert found.status_code == 200
    assert found.json()["id"] == ewa


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({}, 422, "query"),
        ({"email": "a@shop.pl", "phone": "601234567"}, 422, "query"),
        ({"phone": "12"}, 422, "phone"),
        ({"email": "nobody@shop.pl"}, 404, "email"),
    ],
)
def test_lookup_problems(
    client: TestClient, ewa: int, params: dict[str, str], status: int, field: str
) -> None:
    _problem(client.get("/v1/customers", params=params), status, field)


def test_unknown_customer_is_404(client: TestClient) -> None:
    _problem(client.get("/v1/customers/424242"), 404, "customer_id")


def test_consents_put_and_history(client: TestClient, ewa: int) -> None:
    response = client.put(
        f"/v1/customers/{ewa}/consents",
        json={"consents": {"email": True, "whatsapp": False}, "source": "checkout form"},
    )
    assert response.status_code == 200, response.text
    assert [(c["channel"], c["granted"]) for c in response.json()["current"]] == [
        ("email", True),
        ("whatsapp", False),
    ]
    history = client.get(f"/v1/customers/{ewa}/consents").json()["history"]
    assert [c["source"] for c in history] == ["checkout form", "checkout form"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"consents": {"fax": True}, "source": "x"}, "channel"),
        ({"consents": {"email": "yes"}, "source": "x"}, "consents.email"),
        ({"consents": {}, "source": "x"}, "consents"),
        ({"consents": {"email": True}, "source": ""}, "source"),
        ({"consents": {"email": True}}, "source"),
        ({"consents": {"email": True}, "source": "x", "at": "2026-01-01T10:00:00"}, "at"),
    ],
)
def test_bad_consents_change_nothing(
    client: TestClient, ewa: int, body: dict[str, Any], field: str
) -> None:
    _problem(client.put(f"/v1/customers/{ewa}/consents", json=body), 422, field)
    assert client.get(f"/v1/customers/{ewa}/consents").json()["history"] == []


def test_export_and_erase(client: TestClient, ewa: int) -> None:
    export = client.get(f"/v1/customers/{ewa}/export")
    assert export.status_code == 200
    assert export.json()["profile"]["traits"] == {"name": "Ewa"}
    erased = client.post(f"/v1/customers/{ewa}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["counts"]["identities"] == 2
    after = client.get(f"/v1/customers/{ewa}").json()
    assert (after["identities"], after["traits"]) == ([], {})
    assert after["erased_at"] is not None
    assert "ewa@shop.pl" not in client.get(f"/v1/customers/{ewa}/export").text
    _problem(
        client.put(
            f"/v1/customers/{ewa}/consents", json={"consents": {"sms": True}, "source": "x"}
        ),
        409,
        "customer_id",
    )


def test_customers_need_their_scopes(client: TestClient, sqlite_db: Database, ewa: int) -> None:
    with sqlite_db.transaction() as session:
        channel_id = add_channel(session, "market", kind="marketplace")
        store = add_location(session, "krk", kind="store")
        create_api_key(
            session, name="chan", role="channel", channel_id=channel_id, secret="oc_chan_key"
        )
        create_api_key(session, name="staff", role="staff", location_id=store, secret="oc_staff")
    channel = {"Authorization": "Bearer oc_chan_key"}
    _problem(client.get(f"/v1/customers/{ewa}", headers=channel), 403)
    _problem(client.post(f"/v1/customers/{ewa}/erase", headers=channel), 403)
    staff = {"Authorization": "Bearer oc_staff"}
    assert client.get(f"/v1/customers/{ewa}", headers=staff).status_code == 200
    refused = _problem(client.post(f"/v1/customers/{ewa}/erase", headers=staff), 403)
    assert refused["detail"] == "only an admin key may call this route"
    assert client.get(f"/v1/customers/{ewa}").json()["erased_at"] is None
    _problem(client.get(f"/v1/customers/{ewa}", headers={"Authorization": ""}), 401)
