"""Segment messages: required fields, clock-skew correction, spec types, batch rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from omnicart.tracking.model import (
    COLUMNS,
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    InvalidEvent,
    MalformedBody,
    PayloadTooLarge,
    load_body,
    parse_batch,
    parse_call,
    to_micros,
)
from omnicart.tracking.spec import SPEC_EVENTS, spec_errors

EXAMPLES = Path(__file__).resolve().parents[3] / "shared/data/segment/ecommerce-v2"
RECEIVED = to_micros(datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC))


def _row(message: dict[str, Any], kind: str = "track") -> dict[str, Any]:
    parsed = parse_call(message, kind=kind, received_us=RECEIVED)
    return dict(zip(COLUMNS, parsed.rows[0], strict=True))


def test_clock_skew_is_corrected_from_sent_at() -> None:
    # The device clock is 10 minutes fast: it says the event happened at 12:05 and was
    # sent at 12:08 (its time); the server received it at 12:00 (true time).
    row = _row(
        {
            "userId": "u1",
            "event": "Signed Up",
            "timestamp": "2026-11-23T12:05:00.000Z",
            "sentAt": "2026-11-23T12:08:00+00:00",
        }
    )
    assert row["timestamp"] == RECEIVED - 3 * 60 * 1_000_000  # 11:57, true time
    assert row["original_timestamp"] == to_micros(datetime(2026, 11, 23, 12, 5, tzinfo=UTC))
    assert row["sent_at"] == to_micros(datetime(2026, 11, 23, 12, 8, tzinfo=UTC))


def test_timestamp_without_sent_at_is_kept_and_none_means_received_at() -> None:
    row = _row({"userId": "u1", "event": "E", "timestamp": "2026-11-20T08:00:00Z"})
    assert row["timestamp"] == to_micros(datetime(2026, 11, 20, 8, tzinfo=UTC))
    row = _row({"userId": "u1", "event": "E"})
    assert row["timestamp"] == RECEIVED
    assert row["original_timestamp"] is None


def test_batch_sent_at_applies_to_every_message() -> None:
    parsed = parse_batch(
        {
            "sentAt": "2026-11-23T11:00:00Z",  # the client clock is an hour slow
            "batch": [
                {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-23T10:59:00Z"}
            ],
        },
        received_us=RECEIVED,
    )
    row = dict(zip(COLUMNS, parsed.rows[0], strict=True))
    assert row["timestamp"] == RECEIVED - 60 * 1_000_000


def test_a_timestamp_far_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidEvent) as caught:
        _row({"userId": "u1", "event": "E", "timestamp": "2027-01-01T00:00:00Z"})
    assert caught.value.field == "timestamp"
    # after correction: sent 2 h after the event, by the client's own clock
    with pytest.raises(InvalidEvent):
        _row(
            {
                "userId": "u1",
                "event": "E",
                "timestamp": "2026-11-23T14:00:00Z",
                "sentAt": "2026-11-23T12:00:00Z",
            }
        )


@pytest.mark.parametrize(
    ("kind", "message", "field"),
    [
        ("track", {"event": "E"}, "userId"),
        ("track", {"userId": "u"}, "event"),
        ("track", {"userId": "u", "event": ""}, "event"),
        ("track", {"userId": "u", "event": 5}, "event"),
        ("track", {"userId": True, "event": "E"}, "userId"),
        ("track", {"userId": "u", "event": "E", "properties": [1]}, "properties"),
        ("track", {"userId": "u", "event": "E", "messageId": "x" * 101}, "messageId"),
        ("track", {"userId": "u", "event": "E", "timestamp": "yesterday"}, "timestamp"),
        ("track", {"userId": "u", "event": "E", "timestamp": 1700000000}, "timestamp"),
        ("alias", {"userId": "u"}, "previousId"),
        ("alias", {"previousId": "a"}, "userId"),
        ("group", {"userId": "u"}, "groupId"),
        ("identify", {"traits": {"email": "a@b.c"}}, "userId"),
    ],
)
def test_invalid_calls_name_the_field(kind: str, message: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_call(message, kind=kind, received_us=RECEIVED)
    assert caught.value.field == field


def test_numeric_user_ids_become_strings_and_ids_default() -> None:
    row = _row({"userId": 42, "event": "E"})
    assert row["user_id"] == "42"
    assert len(row["message_id"]) == 36  # a made-up UUID


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"{EXAMPLES} is absent")
def test_every_published_ecommerce_v2_example_is_valid() -> None:
    names = set()
    for path in sorted(EXAMPLES.glob("*.json")):
        if path.name.startswith("_"):
            continue
        example = json.loads(path.read_text())
        names.add(example["event"])
        assert spec_errors(example["event"], example["properties"]) == [], path.name
        row = _row({"userId": "u1", **example})
        assert json.loads(row["properties"]) == example["properties"]
    assert names == set(SPEC_EVENTS)


@pytest.mark.parametrize(
    ("event", "properties", "path"),
    [
        ("Order Completed", {"order_id": 50314}, "order_id"),
        ("Order Completed", {"order_id": "o1", "total": "27.50"}, "total"),
        ("Order Completed", {"revenue": True}, "revenue"),
        ("Order Completed", {"products": [{"price": "19"}]}, "products.0.price"),
        ("Order Completed", {"products": [{"quantity": 1.5}]}, "products.0.quantity"),
        ("Order Completed", {"products": ["sku-1"]}, "products.0"),
        ("Order Refunded", {"products": {"sku": "x"}}, "products"),
        ("Product Added", {"product_id": 7}, "product_id"),
        ("Product Viewed", {"price": None, "quantity": "2"}, "quantity"),
        ("Checkout Step Viewed", {"step": "2"}, "step"),
        ("Coupon Applied", {"discount": "10%"}, "discount"),
        ("Product Reviewed", {"rating": "five"}, "rating"),
        ("Products Searched", {"query": 5}, "query"),
    ],
)
def test_spec_events_with_wrong_types_are_refused(
    event: str, properties: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        _row({"userId": "u", "event": event, "properties": properties})
    assert caught.value.field == f"properties.{path}"
    assert event in caught.value.detail


def test_custom_events_and_extra_properties_pass_as_they_are() -> None:
    row = _row({"userId": "u", "event": "Order Shipped", "properties": {"order_id": 5}})
    assert json.loads(row["properties"]) == {"order_id": 5}
    row = _row({"userId": "u", "event": "Order Completed", "properties": {"gift_note": 5}})
    assert json.loads(row["properties"]) == {"gift_note": 5}


def test_a_batch_keeps_good_messages_and_lists_bad_ones() -> None:
    parsed = parse_batch(
        {
            "context": {"app": "pos"},
            "batch": [
                {"type": "track", "userId": "u", "event": "E", "context": {"ip": "1.2.3.4"}},
                {
                    "type": "track",
                    "userId": "u",
                    "event": "Order Completed",
                    "properties": {"total": "x"},
                },
                {"type": "jump", "userId": "u"},
                {"type": "identify", "anonymousId": "a", "traits": {"big": "x" * MAX_CALL_BYTES}},
                "not an object",
                {"type": "page", "anonymousId": "a", "name": "Home", "category": "Shop"},
            ],
        },
        received_us=RECEIVED,
    )
    assert [(r.index, r.field) for r in parsed.rejected] == [
        (1, "batch[1].properties.total"),
        (2, "batch[2].type"),
        (3, "batch[3]"),
        (4, "batch[4]"),
    ]
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in parsed.rows]
    assert [r["type"] for r in rows] == ["track", "page"]
    assert json.loads(rows[0]["context"]) == {"app": "pos", "ip": "1.2.3.4"}
    assert (rows[1]["event"], rows[1]["category"]) == ("Home", "Shop")


def test_a_batch_of_only_bad_messages_is_refused() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_batch({"batch": [{"type": "track"}, {"type": "x"}]}, received_us=RECEIVED)
    assert caught.value.field == "batch[0].userId"
    assert len(caught.value.extra["rejected"]) == 2
    with pytest.raises(InvalidEvent):
        parse_batch({"batch": {"type": "track"}}, received_us=RECEIVED)
    with pytest.raises(PayloadTooLarge):
        parse_batch({"batch": [{}] * 2501}, received_us=RECEIVED)


def test_bodies_must_be_json_objects_within_the_limits() -> None:
    with pytest.raises(MalformedBody):
        load_body(b'{"userId": "u",', limit=MAX_CALL_BYTES)
    with pytest.raises(MalformedBody):
        load_body(b"[1, 2]", limit=MAX_CALL_BYTES)
    big = orjson.dumps({"userId": "u", "event": "E", "properties": {"x": "y" * MAX_CALL_BYTES}})
    with pytest.raises(PayloadTooLarge):
        load_body(big, limit=MAX_CALL_BYTES)
    assert load_body(big, limit=MAX_BATCH_BYTES)["userId"] == "u"
