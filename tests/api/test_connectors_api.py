"""The connectors API: connecting a vendor (credentials in, never out), the vendor-signed
webhook route (401 and nothing stored on a bad signature), the inbox and its needs
attention list, mapping, stock sync state and reconcile, against a loopback simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicart.channels.tables import ChannelLocation
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.db.engine import Database
from omnicart.inventory.service import receive_stock
from tests.connectors_support import counts, process
from tests.support import add_channel, add_location, add_variant

SECRETS = ("wc_simulated_webhook_secret", "ck_simulated", "cs_simulated")


@pytest.fixture
def shop() -> Iterator[WooCommerceSimulator]:
    with WooCommerceSimulator(currency="EUR") as simulator:
        simulator.add_product("MUG", price="12.00", stock=0)
        simulator.add_product("NOT-OURS", stock=3)
        yield simulator


@pytest.fixture
def channels(sqlite_db: Database) -> dict[str, int]:
    with sqlite_db.transaction() as session:
        warehouse = add_location(session, "wh")
        found = {
            "woo": add_channel(session, "woo", ship=(warehouse,)),
            "web": add_channel(session, "web", ship=(warehouse,)),
            "pos": add_channel(session, "pos", kind="pos"),
        }
        add_variant(session, "MUG")
    receive_stock(sqlite_db, location_id=warehouse, lines=[("MUG", 8)])
    return found


def _add(client: TestClient, channel_id: int, shop: WooCommerceSimulator) -> dict[str, Any]:
    spec = shop.connector()
    answer = client.post("/v1/connectors", json={**spec, "channel_id": channel_id})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_a_connector_holds_its_credentials_and_never_shows_them(
    client: TestClient, channels: dict[str, int], shop: WooCommerceSimulator
) -> None:
    made = _add(client, channels["woo"], shop)
    assert made["credential_names"] == ["consumer_key", "consumer_secret", "webhook_secret"]
    assert made["webhook_path"] == f"/v1/connectors/{made['id']}/webhooks"
    answers = [
        client.get("/v1/connectors"),
        client.get(f"/v1/connectors/{made['id']}"),
        client.patch(f"/v1/connectors/{made['id']}", json={"options": {"note": "x"}}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        _no_secrets(answer.text)
    assert answers[2].json()["options"] == {"note": "x"}
    checked = client.post(f"/v1/connectors/{made['id']}/test")
    assert checked.json() == {
        "ok": True,
        "detail": "woocommerce answered with 2 item(s)",
        "items": 2,
    }


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"vendor": "ebay"}, 422, "vendor"),
        ({"credentials": {"webhook_secret": "s"}}, 422, "credentials.consumer_key"),
        ({"base_url": "ftp://shop.example"}, 422, "base_url"),
        ({"base_url": None}, 422, "base_url"),
        ({"channel_id": 999}, 404, "channel_id"),
        ({"channel": "pos"}, 409, "channel_id"),
        ({"channel": "twice"}, 409, "channel_id"),
    ],
)
def test_a_connector_that_cannot_be_is_refused_naming_the_field(
    client: TestClient,
    channels: dict[str, int],
    shop: WooCommerceSimulator,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    if change.get("channel") == "twice":
        _add(client, channels["woo"], shop)
    before = client.get("/v1/connectors").json()["items"]
    body = {**shop.connector(), "channel_id": channels["woo"], **change}
    if change.get("channel") == "pos":
        body["channel_id"] = channels["pos"]
    body.pop("channel", None)
    answer = client.post("/v1/connectors", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field
    assert client.get("/v1/connectors").json()["items"] == before


def test_webhooks_are_stored_once_and_a_bad_signature_stores_nothing(
    client: TestClient, sqlite_db: Database, channels: dict[str, int], shop: WooCommerceSimulator
) -> None:
    made = _add(client, channels["woo"], shop)
    hook = made["webhook_path"]
    body, headers = shop.webhook(
        "order.created", shop.order_payload(1, [("MUG", 2)]), delivery_id="a"
    )
    first = client.post(hook, content=body, headers=headers)
    again = client.post(hook, content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == {"delivery": 1, "duplicate": False, "status": "pending", "reason": None}
    assert again.json()["duplicate"] is True

    forged = client.post(hook, content=body.replace(b'"24.00"', b'"1.00"'), headers=headers)
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["field"] == "x-wc-webhook-signature"
    unsigned = client.post(hook, content=body, headers={"X-WC-Webhook-Topic": "order.created"})
    assert unsigned.status_code == 401
    ping = client.post(hook, content=b"webhook_id=142")
    assert ping.json() == {"delivery": None, "duplicate": False, "status": "ping", "reason": None}
    missing = client.post("/v1/connectors/99/webhooks", content=body, headers=headers)
    assert missing.status_code == 404
    assert counts(sqlite_db) == (1, 0)

    process(sqlite_db)
    inbox = client.get(f"/v1/connectors/{made['id']}/deliveries").json()["items"]
    assert [(d["status"], d["topic"], d["external_order_id"]) for d in inbox] == [
        ("done", "order.created", "1")
    ]
    assert counts(sqlite_db) == (1, 1)


def test_needs_attention_retry_and_dismiss(
    client: TestClient, sqlite_db: Database, channels: dict[str, int], shop: WooCommerceSimulator
) -> None:
    made = _add(client, channels["woo"], shop)
    hook = made["webhook_path"]
    orders = [shop.order_payload(n, [("NOT-OURS", 1)]) for n in (1, 2)]
    for number, order in enumerate(orders):
        body, headers = shop.webhook("order.created", order, delivery_id=f"d{number}")
        assert client.post(hook, content=body, headers=headers).status_code == 200
    malformed, headers = shop.webhook("order.created", b"{not json", delivery_id="bad")
    assert client.post(hook, content=malformed, headers=headers).json()["status"] == "parked"
    process(sqlite_db)
    attention = client.get("/v1/connectors/attention").json()["items"]
    assert [(d["reason_code"], d["status"]) for d in attention] == [
        ("unknown_sku", "parked"),
        ("unknown_sku", "parked"),
        ("unreadable", "parked"),
    ]
    assert attention[0]["reason"].startswith("line 1 (product ")

    # The merchant adds the product and maps it; a retry takes the parked orders.
    with sqlite_db.transaction() as session:
        add_variant(session, "NOT-OURS", listed=False)
        warehouse = add_location(session, "wh2")
        session.add(ChannelLocation(channel_id=channels["woo"], location_id=warehouse, mode="ship"))
    receive_stock(sqlite_db, location_id=warehouse, lines=[("NOT-OURS", 5)])
    product, _ = shop.ids("NOT-OURS")
    mapping = {"items": [{"vendor_product_id": str(product), "sku": "NOT-OURS"}]}
    assert client.put(f"/v1/connectors/{made['id']}/mapping", json=mapping).status_code == 200
    bad = attention[2]["id"]
    dismissed = client.post(f"/v1/connectors/{made['id']}/deliveries/{bad}/dismiss")
    assert dismissed.json()["status"] == "dismissed"
    retried = client.post(f"/v1/connectors/{made['id']}/deliveries/retry", json={})
    assert retried.json() == {"requeued": 2}
    process(sqlite_db)
    # Unlisted on the channel (nothing was listed for it): taken, and flagged for a person.
    flagged = client.get("/v1/connectors/attention").json()["items"]
    assert [(d["status"], d["reason_code"]) for d in flagged] == [("done", "flagged")] * 2
    for item in flagged:
        client.post(f"/v1/connectors/{made['id']}/deliveries/{item['id']}/dismiss")
    assert client.get("/v1/connectors/attention").json()["items"] == []
    again = client.post(f"/v1/connectors/{made['id']}/deliveries/{bad}/dismiss")
    assert again.status_code == 409


def test_mapping_stock_state_and_reconcile(
    client: TestClient, sqlite_db: Database, channels: dict[str, int], shop: WooCommerceSimulator
) -> None:
    made = _add(client, channels["woo"], shop)
    matched = client.post(f"/v1/connectors/{made['id']}/mapping/match").json()
    assert (matched["items"], matched["matched"], matched["kept"]) == (2, 1, 0)
    assert [i["sku"] for i in matched["unmatched"]] == ["NOT-OURS"]
    listed = client.get(f"/v1/connectors/{made['id']}/mapping").json()["items"]
    assert [(m["sku"], m["matched_by"]) for m in listed] == [("MUG", "sku")]
    process(sqlite_db, everything=True)
    state = client.get(f"/v1/connectors/{made['id']}/stock").json()["items"]
    assert [(s["sku"], s["wanted"], s["sent"], s["in_sync"]) for s in state] == [
        ("MUG", "8", "8", True)
    ]
    assert shop.stock("MUG") == 8
    shop.set_stock("MUG", 1)
    report = client.post(f"/v1/connectors/{made['id']}/reconcile").json()
    assert report["drifted"] == [{"sku": "MUG", "vendor": 1, "omnicart": 8, "in_flight": False}]
    assert (report["queued"], report["sent"]) == (1, 1)
    assert shop.stock("MUG") == 8
    shop.stop()
    down = client.post(f"/v1/connectors/{made['id']}/reconcile")
    assert down.status_code == 409
    assert down.json()["detail"].startswith("the vendor could not be asked")
    assert client.post(f"/v1/connectors/{made['id']}/test").json()["ok"] is False
