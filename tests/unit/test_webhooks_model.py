"""The pure rules of outbound webhooks: event names, patterns, URLs, the retry schedule,
what an attempt leads to, and the body."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks import Webhook

from omnicart.kernel.errors import ValidationFailed
from omnicart.webhooks.model import (
    DEAD,
    DELIVERED,
    EVENT_TYPES,
    PENDING,
    Answer,
    after_attempt,
    check_endpoint_url,
    check_event_types,
    event_body,
    matches,
    may_replay,
    new_message_id,
    new_secret,
    parse_retry_after,
    retry_delay,
    webhook_type,
)

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("aggregate", "event_type", "payload", "expected"),
    [
        ("order", "Order Completed", {}, "order.created"),
        ("order", "Order Updated", {}, "order.updated"),
        ("order", "Order Cancelled", {}, "order.cancelled"),
        ("order", "Order Routed", {}, "order.routed"),
        ("order", "Order Refunded", {}, "order.refunded"),
        ("order", "Order Refunded", {"return_id": None}, "order.refunded"),
        ("order", "Order Refunded", {"return_id": 7}, "return.refunded"),
        ("order", "Shipment Created", {}, "order.shipment_created"),
        ("order", "Pickup Ready", {}, "order.pickup_ready"),
        ("order", "Picked Up", {}, "order.picked_up"),
        ("order", "Return Received", {"return_id": 7}, "return.received"),
        ("stock", "StockLow", {}, "stock.low"),
        ("stock", "StockOutOfStock", {}, "stock.out_of_stock"),
        ("stock", "StockBackInStock", {}, "stock.back_in_stock"),
        # Events the outbox gains later reach their family by rule.
        ("stock", "StockSellableChanged", {}, "stock.sellable_changed"),
        ("customer", "Customer Merged", {}, "customer.merged"),
        ("customer", "CustomerErased", {}, "customer.erased"),
        ("customer", "Customer", {}, "customer.changed"),
        ("connector", "Delivery Parked", {}, None),
    ],
)
def test_outbox_events_get_their_webhook_type(
    aggregate: str, event_type: str, payload: dict[str, object], expected: str | None
) -> None:
    assert webhook_type(aggregate=aggregate, event_type=event_type, payload=payload) == expected


def test_every_catalogued_type_is_one_an_outbox_event_becomes() -> None:
    names = [
        ("order", "Order Completed", {}),
        ("order", "Order Updated", {}),
        ("order", "Order Cancelled", {}),
        ("order", "Order Routed", {}),
        ("order", "Order Refunded", {}),
        ("order", "Shipment Created", {}),
        ("order", "Pickup Ready", {}),
        ("order", "Picked Up", {}),
        ("order", "Return Received", {}),
        ("order", "Order Refunded", {"return_id": 1}),
        ("stock", "StockLow", {}),
        ("stock", "StockOutOfStock", {}),
        ("stock", "StockBackInStock", {}),
    ]
    made = {webhook_type(aggregate=a, event_type=e, payload=p) for a, e, p in names}
    assert made == set(EVENT_TYPES)


def test_event_types_are_checked_sorted_and_once_each() -> None:
    assert check_event_types(["stock.*", "order.created", "stock.*"]) == (
        "order.created",
        "stock.*",
    )
    assert check_event_types(["*"]) == ("*",)
    assert check_event_types(["customer.*", "return.*"]) == ("customer.*", "return.*")


@pytest.mark.parametrize(
    "patterns",
    [[], ["order.create"], ["orders.*"], ["order"], ["ORDER.*"], ["*.*"], ["x"] * 51],
)
def test_unknown_event_types_are_refused_naming_the_field(patterns: list[str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_event_types(patterns)
    assert refused.value.field == "event_types"


def test_patterns_match_exact_types_family_wildcards_and_everything() -> None:
    assert matches(["order.*"], "order.created")
    assert not matches(["order.*"], "return.received")
    assert matches(["stock.low"], "stock.low")
    assert not matches(["stock.low"], "stock.out_of_stock")
    assert matches(["*"], "customer.merged")
    assert matches(["return.refunded", "stock.*"], "stock.back_in_stock")
    assert not matches([], "order.created")


@pytest.mark.parametrize(
    "url",
    [
        "https://erp.example.com/hooks",
        "http://127.0.0.1:8080/omnicart?token=abc",
        "HTTPS://Example.com",
        "http://[::1]:9000/in",
    ],
)
def test_http_and_https_urls_are_accepted_as_given(url: str) -> None:
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "example.com/hooks",
        "https://user:pass@example.com/hooks",
        "https://token@example.com/hooks",
        "https:///nohost",
        "https://example.com:99999/",
        "https://example.com:0/",
        "https://example.com:port/",
        "https://exa mple.com/",
        "https://example.com/\nx",
        "https://example.com/#frag",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_bad_urls_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_endpoint_url(url)
    assert refused.value.field == "url"


def test_the_retry_schedule_doubles_from_a_second_to_at_most_an_hour() -> None:
    waits = [retry_delay(n).total_seconds() for n in range(1, 17)]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600, 3600]
    assert retry_delay(10_000) == timedelta(hours=1)


def test_a_longer_retry_after_wins_up_to_an_hour() -> None:
    assert retry_delay(1, timedelta(seconds=30)) == timedelta(seconds=30)
    assert retry_delay(5, timedelta(seconds=3)) == timedelta(seconds=16)
    assert retry_delay(2, timedelta(days=3)) == timedelta(hours=1)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", now=NOW) == timedelta(seconds=120)
    assert parse_retry_after(" 0 ", now=NOW) == timedelta(0)
    assert parse_retry_after("Mon, 30 Nov 2026 12:05:00 GMT", now=NOW) == timedelta(minutes=5)
    assert parse_retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now=NOW) == timedelta(0)
    for unreadable in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(unreadable, now=NOW) is None


def test_an_attempt_delivers_retries_or_dead_letters() -> None:
    ok = after_attempt(succeeded=True, attempts=3, max_attempts=3, now=NOW)
    assert (ok.state, ok.next_attempt_at) == (DELIVERED, None)
    again = after_attempt(succeeded=False, attempts=3, max_attempts=4, now=NOW)
    assert (again.state, again.next_attempt_at) == (PENDING, NOW + timedelta(seconds=4))
    asked = after_attempt(
        succeeded=False, attempts=1, max_attempts=4, now=NOW, retry_after=timedelta(minutes=2)
    )
    assert asked.next_attempt_at == NOW + timedelta(minutes=2)
    last = after_attempt(succeeded=False, attempts=4, max_attempts=4, now=NOW)
    assert (last.state, last.next_attempt_at) == (DEAD, None)
    gone = after_attempt(succeeded=False, attempts=1, max_attempts=16, now=NOW, final=True)
    assert gone.state == DEAD
    injected = after_attempt(
        succeeded=False, attempts=1, max_attempts=2, now=NOW, delay=lambda n, _: timedelta(0)
    )
    assert injected.next_attempt_at == NOW


def test_only_a_2xx_answer_succeeds() -> None:
    assert Answer(200, None, 1).succeeded
    assert Answer(204, None, 1).succeeded
    for status in (None, 100, 301, 304, 400, 410, 429, 500, 503):
        assert not Answer(status, "x", 1).succeeded


def test_finished_deliveries_are_replayed_pending_ones_are_not() -> None:
    assert may_replay(DEAD)
    assert may_replay(DELIVERED)
    assert not may_replay(PENDING)


def test_secrets_and_message_ids_have_the_spec_s_shape() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    Webhook(secret)  # the reference implementation takes it
    assert new_secret() != secret
    message_id = new_message_id()
    assert message_id.startswith("msg_")
    assert len(message_id) == 28
    assert new_message_id() != message_id


def test_the_body_is_type_timestamp_and_data() -> None:
    body = event_body(
        event_type="stock.low",
        occurred_at=datetime(2026, 11, 30, 6, 30, 1, 250000, tzinfo=UTC),
        data={"sku": "TEE", "available": 2},
    )
    assert orjson.loads(body) == {
        "type": "stock.low",
        "timestamp": "2026-11-30T06:30:01.250000Z",
        "data": {"sku": "TEE", "available": 2},
    }
