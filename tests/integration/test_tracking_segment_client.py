"""Segment's own Python library, pointed at a running Omnicart server, changing only the host."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from segment.analytics.client import Client
from segment.analytics.request import APIError

from omnicart.tracking.store import open_store
from tests.tracking_support import customer_when, served_merchant


@pytest.mark.slow
@pytest.mark.parametrize("gzip", [False, True])
def test_events_sent_with_segment_analytics_python_arrive_intact(
    tmp_path: Path, gzip: bool
) -> None:
    errors: list[Exception] = []
    with served_merchant(tmp_path) as served:
        client = Client(
            served.write_key,
            host=served.host,
            gzip=gzip,
            sync_mode=True,
            on_error=lambda error, _batch: errors.append(error),
        )
        happened = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
        order = {
            "order_id": "50314b8e9bcf000000000000",
            "total": 27.5,
            "revenue": 22.5,
            "shipping": 3,
            "tax": 2,
            "discount": 2.5,
            "currency": "USD",
            "products": [
                {
                    "product_id": "507f1f77bcf86cd799439011",
                    "sku": "45790-32",
                    "price": 19,
                    "quantity": 1,
                },
                {
                    "product_id": "505bd76785ebb509fc183733",
                    "sku": "46493-32",
                    "price": 3,
                    "quantity": 2,
                },
            ],
        }
        client.identify("user-7", {"email": "ann@poczta.pl", "plan": "gold"}, message_id="s-1")
        client.track(
            "user-7",
            "Order Completed",
            order,
            timestamp=happened,
            message_id="s-2",
            context={"ip": "203.0.113.9"},
        )
        client.page("user-7", "Docs", "Tracking", {"path": "/docs"}, message_id="s-3")
        client.screen(anonymous_id="device-1", name="Cart", message_id="s-4")
        client.group("user-7", "acme", {"seats": 12}, message_id="s-5")
        client.alias("device-1", "user-7", message_id="s-6")
        # a wrong type for a spec event is refused (400, never retried)
        with pytest.raises(APIError) as refused:
            client.track("user-7", "Order Completed", {"total": "lots"}, message_id="s-7")
        client.flush()
        person = customer_when(
            served,
            user_id="user-7",
            # The server ties device-1 (the alias) to her in the background.
            ready=lambda p: (
                "device-1" in {i["value"] for i in p["identities"] if i["kind"] == "anonymous_id"}
                and bool(p["timeline"])
            ),
        )
    assert errors == []
    assert refused.value.status == 400
    assert refused.value.code == "invalid-event"
    assert "properties.total" in refused.value.message
    with open_store(served.events_path) as store:
        events = {e.message_id: e for e in store.find()}
    assert sorted(events) == ["s-1", "s-2", "s-3", "s-4", "s-5", "s-6"]
    assert events["s-1"].traits == {"email": "ann@poczta.pl", "plan": "gold"}
    completed = events["s-2"]
    assert (completed.type, completed.event, completed.user_id) == (
        "track",
        "Order Completed",
        "user-7",
    )
    assert completed.properties == order
    assert completed.original_timestamp == happened
    assert completed.context is not None
    assert completed.context["ip"] == "203.0.113.9"
    assert completed.context["library"]["name"] == "analytics-python"
    assert completed.sent_at is not None
    assert (events["s-3"].event, events["s-3"].category) == ("Tracking", "Docs")
    assert events["s-3"].properties == {"path": "/docs"}
    assert (events["s-4"].event, events["s-4"].anonymous_id) == ("Cart", "device-1")
    assert (events["s-5"].group_id, events["s-5"].traits) == ("acme", {"seats": 12})
    assert (events["s-6"].previous_id, events["s-6"].user_id) == ("device-1", "user-7")

    # Attributed to the right person: the server resolved user-7, her e-mail (identify) and
    # device-1 (alias) to one profile, whose timeline holds her events.
    kinds = {(i["kind"], i["value"]) for i in person["identities"]}
    assert {
        ("user_id", "user-7"),
        ("email", "ann@poczta.pl"),
        ("anonymous_id", "device-1"),
    } <= kinds
    assert person["traits"]["plan"] == "gold"
    timeline = {entry["ref"] for entry in person["timeline"]}
    assert {"s-1", "s-2", "s-3", "s-4", "s-5", "s-6"} <= timeline
