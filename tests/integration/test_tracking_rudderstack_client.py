"""RudderStack's own Python library, pointed at a running Omnicart server, changing only
the host: its identify sends the traits in `context.traits`, and they reach the profile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rudderstack.analytics import Client

from omnicart.auth.service import create_api_key
from omnicart.benchmarks.ingest import free_port, merchant, server_env, start_server, stop_server
from omnicart.db.engine import Database
from omnicart.tracking.store import open_store


@pytest.mark.slow
def test_an_identify_sent_with_rudder_sdk_python_reaches_the_profile(tmp_path: Path) -> None:
    events_path = tmp_path / "events.duckdb"
    with merchant(tmp_path) as (url, write_key):
        admin_key = _admin_key(url)
        port = free_port()
        server = start_server(
            port=port, env=server_env(database_url=url, events_path=events_path), workers=2
        )
        errors: list[Exception] = []
        try:
            client = Client(
                write_key,
                host=f"http://127.0.0.1:{port}",
                on_error=lambda error, _batch: errors.append(error),
            )
            client.identify(
                "user-9",
                {"email": "Ewa@Poczta.pl", "plan": "gold", "loyaltyCard": "LC-9"},
                anonymous_id="device-9",
                message_id="r-1",
            )
            client.track("user-9", "Signed Up", {"via": "web"}, message_id="r-2")
            client.flush()
            client.join()
            person = _with_email(port, admin_key, user_id="user-9")
        finally:
            stop_server(server)
    assert errors == []
    with open_store(events_path) as store:
        events = {e.message_id: e for e in store.find()}
    assert sorted(events) == ["r-1", "r-2"]
    identify = events["r-1"]
    # Stored as sent: RudderStack's client leaves the top-level traits out.
    assert identify.traits is None
    assert identify.context is not None
    assert identify.context["traits"] == {
        "email": "Ewa@Poczta.pl",
        "plan": "gold",
        "loyaltyCard": "LC-9",
    }
    assert identify.context["library"]["name"] == "analytics-python"

    kinds = {(i["kind"], i["value"]) for i in person["identities"]}
    assert kinds == {
        ("user_id", "user-9"),
        ("anonymous_id", "device-9"),
        ("email", "ewa@poczta.pl"),  # identifiers are normalised
        ("loyalty_card", "LC9"),
    }
    assert person["traits"] == {"plan": "gold"}
    assert {entry["ref"] for entry in person["timeline"]} >= {"r-1", "r-2"}


def _admin_key(url: str) -> str:
    db = Database.from_url(url)
    try:
        with db.transaction() as session:
            return create_api_key(session, name="test-admin", role="admin").secret
    finally:
        db.dispose()


def _with_email(port: int, key: str, *, user_id: str) -> dict[str, Any]:
    """The customer 360 of `user_id`, once the server has given it an e-mail."""
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/customers",
            params={"user_id": user_id},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        if answer.status_code == 200:
            person: dict[str, Any] = answer.json()
            if any(i["kind"] == "email" for i in person["identities"]) and person["timeline"]:
                return person
        assert time.monotonic() < deadline, f"no e-mail on the profile in time: {answer.text}"
        time.sleep(0.2)
