"""RudderStack's own Python library, pointed at a running Omnicart server, changing only
the host: its identify sends the traits in `context.traits`, and they reach the profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from rudderstack.analytics import Client

from omnicart.tracking.store import open_store
from tests.tracking_support import customer_when, served_merchant


@pytest.mark.slow
def test_an_identify_sent_with_rudder_sdk_python_reaches_the_profile(tmp_path: Path) -> None:
    errors: list[Exception] = []
    with served_merchant(tmp_path) as served:
        client = Client(
            served.write_key,
            host=served.host,
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
        person = customer_when(
            served,
            user_id="user-9",
            ready=lambda p: (
                any(i["kind"] == "email" for i in p["identities"]) and bool(p["timeline"])
            ),
        )
    assert errors == []
    with open_store(served.events_path) as store:
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
