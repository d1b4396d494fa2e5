"""Segment messages: what a valid one is, and the row it becomes. Pure: no I/O.

The rules follow Segment's HTTP Tracking API:

- a call's body is at most 32 KB, a batch's at most 500 KB with at most 32 KB per event
  and at most 2,500 events (sizes are of the JSON, after any gzip is undone);
- every message needs `userId` or `anonymousId`, except `alias`, which needs `userId`
  and `previousId`; `track` needs `event`, `group` needs `groupId`;
- `timestamp` is corrected for the client's clock: with `sentAt` it becomes
  `receivedAt - (sentAt - timestamp)`; without `sentAt` it is taken as sent; without a
  `timestamp` it is `receivedAt`. The timestamp as sent is kept as `originalTimestamp`;
- `messageId` (at most 100 characters) de-duplicates per source; one is made up when a
  message has none, so such a message is never de-duplicated.

Omnicart adds one rule: a corrected timestamp more than `kernel.clock.MAX_FUTURE_SKEW`
(an hour) after `receivedAt` is a client bug (an event cannot happen after it was sent),
so the message is refused.
Times travel as integer microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson

from omnicart.kernel.clock import MAX_FUTURE_SKEW
from omnicart.kernel.errors import OmnicartError
from omnicart.kernel.text import unstorable_text
from omnicart.tracking.spec import spec_errors

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2_500
MAX_MESSAGE_ID = 100
MAX_ID = 1_000
MAX_FUTURE_US = MAX_FUTURE_SKEW // timedelta(microseconds=1)
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# One stored row, in this order (source, channel and receivedAt are per request).
# Events the order book writes (delivered from its outbox) are stored under this source id.
OUTBOX_SOURCE_ID = 0
COLUMNS = (
    "message_id",
    "type",
    "event",
    "category",
    "user_id",
    "anonymous_id",
    "group_id",
    "previous_id",
    "timestamp",
    "original_timestamp",
    "sent_at",
    "properties",
    "traits",
    "context",
    "integrations",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_new_id: Callable[[], str] = lambda: str(uuid.uuid4())  # noqa: E731


class TrackingError(OmnicartError):
    """A refused tracking call. Its problem document also carries Segment's own error
    fields, `code` and `message`, which Segment's client libraries print."""

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, field=field, code=self.type_slug, message=detail, **extra)


class InvalidEvent(TrackingError):
    """A message breaks the tracking spec (missing id, wrong type, bad timestamp)."""

    status = 400
    type_slug = "invalid-event"
    title = "Invalid event"


class PayloadTooLarge(TrackingError):
    """A body or one event is over Segment's size limits."""

    status = 400
    type_slug = "payload-too-large"
    title = "Payload too large"


class MalformedBody(TrackingError):
    """The body is not JSON (or not gzip, when it says it is)."""

    status = 400
    type_slug = "malformed-body"
    title = "Malformed body"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One message of a batch that was not accepted, and why."""

    index: int
    field: str
    detail: str


@dataclass(slots=True)
class Parsed:
    """The messages of one request, checked: rows to store and rejected messages."""

    rows: list[list[Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class _Bad(Exception):
    """Internal signal: a message is refused; never leaves this module."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    """The aware UTC datetime of epoch microseconds."""
    return _EPOCH + timedelta(microseconds=value)


def _time(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(name, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(name, f"{value[:40]!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # ISO 8601 without an offset: taken as UTC
    return to_micros(parsed)


def _ident(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad(key, "must be a string")
    text = str(value)
    if len(text) > MAX_ID:
        raise _Bad(key, f"must be at most {MAX_ID} characters")
    return text


def _text(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(key, "must be a string")
    return value


def _object(value: object, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(name, "must be a JSON object")
    return value


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _merged(outer: dict[str, Any] | None, inner: dict[str, Any] | None) -> dict[str, Any] | None:
    if not outer:
        return inner
    return {**outer, **inner} if inner else outer


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a request gives every message in it: the time it arrived, batch defaults."""

    received_us: int
    sent_us: int | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    # Whether a message may hold NUL: False when the raw JSON body has no `\u0000` escape
    # (orjson already refuses lone surrogates), so the hot path skips the walk.
    may_hold_nul: bool = True
    new_id: ClassVar[Callable[[], str]] = _new_id


def normalise(message: object, *, kind: str | None, envelope: Envelope) -> list[Any]:
    """The row of one message (COLUMNS order), or _Bad naming the field at fault.

    `kind` is the call's type from the path (`track` for /v1/track); None in a batch,
    where each message names its own `type`.
    """
    if not isinstance(message, dict):
        raise _Bad("", "each message must be a JSON object")
    # Ids and traits reach PostgreSQL (customer linking), which refuses NUL in text and
    # JSONB: refused here, the message can never stall the feed that links it.
    if envelope.may_hold_nul and (unstorable := unstorable_text(message)) is not None:
        raise _Bad(*unstorable)
    if kind is None:
        kind = message.get("type")
        if kind not in MESSAGE_TYPES:
            raise _Bad("type", f"must be one of {', '.join(MESSAGE_TYPES)}")
    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        message_id = Envelope.new_id()
    elif not isinstance(message_id, str):
        raise _Bad("messageId", "must be a string")
    elif len(message_id) > MAX_MESSAGE_ID:
        raise _Bad("messageId", f"must be at most {MAX_MESSAGE_ID} characters")
    user_id = _ident(message, "userId")
    anonymous_id = _ident(message, "anonymousId")
    group_id = _ident(message, "groupId")
    previous_id = _ident(message, "previousId")
    event = category = None
    if kind == "alias":
        if user_id is None:
            raise _Bad("userId", "an alias needs userId")
        if previous_id is None:
            raise _Bad("previousId", "an alias needs previousId")
    elif user_id is None and anonymous_id is None:
        raise _Bad("userId", "a message needs userId or anonymousId")
    if kind == "track":
        event = _text(message, "event")
        if not event:
            raise _Bad("event", "a track call needs an event name")
    elif kind in ("page", "screen"):
        event = _text(message, "name")
        category = _text(message, "category")
    elif kind == "group" and group_id is None:
        raise _Bad("groupId", "a group call needs groupId")
    properties = _object(message.get("properties"), "properties")
    if event is not None and kind == "track" and properties:
        problems = spec_errors(event, properties)
        if problems:
            path, reason = problems[0]
            raise _Bad(f"properties.{path}", f"{reason} (Segment e-commerce v2 '{event}')")
    traits = _object(message.get("traits"), "traits")
    context = _merged(envelope.context, _object(message.get("context"), "context"))
    integrations = _merged(
        envelope.integrations, _object(message.get("integrations"), "integrations")
    )
    original = _time(message.get("timestamp"), "timestamp")
    sent = _time(message.get("sentAt"), "sentAt")
    if sent is None:
        sent = envelope.sent_us
    received = envelope.received_us
    if original is None:
        timestamp = received
    elif sent is None:
        timestamp = original
    else:
        timestamp = received - (sent - original)
    if timestamp > received + MAX_FUTURE_US:
        raise _Bad(
            "timestamp",
            f"is {(timestamp - received) // 60_000_000} minutes after the server received "
            "it (after clock-skew correction); at most "
            f"{MAX_FUTURE_SKEW // timedelta(minutes=1)} are allowed",
        )
    return [
        message_id,
        kind,
        event,
        category,
        user_id,
        anonymous_id,
        group_id,
        previous_id,
        timestamp,
        original,
        sent,
        _json(properties),
        _json(traits),
        _json(context),
        _json(integrations),
    ]


def load_body(body: bytes, *, limit: int) -> dict[str, Any]:
    """The JSON object of a request body of at most `limit` bytes."""
    if len(body) > limit:
        raise PayloadTooLarge(
            f"the body is {len(body)} bytes; at most {limit} are accepted", field="body"
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object", field="body")
    return data


def may_hold_nul(body: bytes | None) -> bool:
    """Whether a JSON body (None: unknown) can hold a NUL in one of its strings."""
    return body is None or b"\\u0000" in body


def parse_call(
    data: dict[str, Any], *, kind: str, received_us: int, body: bytes | None = None
) -> Parsed:
    """One identify/track/page/screen/group/alias call: its row, or InvalidEvent.

    `body` is the raw JSON the call came in, when known (see `may_hold_nul`)."""
    envelope = Envelope(received_us=received_us, may_hold_nul=may_hold_nul(body))
    try:
        row = normalise(data, kind=kind, envelope=envelope)
    except _Bad as bad:
        raise InvalidEvent(f"{bad.field}: {bad.detail}", field=bad.field) from None
    return Parsed(rows=[row])


def _batch_row(message: object, envelope: Envelope, *, measure: bool) -> list[Any]:
    if measure and len(orjson.dumps(message)) > MAX_CALL_BYTES:
        raise _Bad("", f"an event is at most {MAX_CALL_BYTES} bytes")
    return normalise(message, kind=None, envelope=envelope)


def parse_batch(
    data: dict[str, Any],
    *,
    received_us: int,
    body_bytes: int | None = None,
    body: bytes | None = None,
) -> Parsed:
    """A batch: the rows of its valid messages and the reasons for the others.

    As Segment does, one bad message does not fail the batch; the response lists it.
    A batch whose every message is bad is refused with InvalidEvent, storing nothing.
    `body_bytes` is the size of the JSON body, when known: no message of a body of at
    most MAX_CALL_BYTES can be over that limit, so they are not measured one by one.
    """
    messages = data.get("batch")
    if not isinstance(messages, list):
        raise InvalidEvent("batch: must be an array of messages", field="batch")
    if len(messages) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(
            f"a batch holds at most {MAX_BATCH_EVENTS} messages; this one has {len(messages)}",
            field="batch",
        )
    if unstorable := unstorable_text({k: v for k, v in data.items() if k != "batch"}):
        field, detail = unstorable
        raise InvalidEvent(f"{field}: {detail}", field=field)
    try:
        envelope = Envelope(
            received_us=received_us,
            sent_us=_time(data.get("sentAt"), "sentAt"),
            context=_object(data.get("context"), "context"),
            integrations=_object(data.get("integrations"), "integrations"),
            may_hold_nul=may_hold_nul(body),
        )
    except _Bad as bad:
        raise InvalidEvent(f"{bad.field}: {bad.detail}", field=bad.field) from None
    parsed = Parsed()
    measure = body_bytes is None or body_bytes > MAX_CALL_BYTES
    for index, message in enumerate(messages):
        try:
            parsed.rows.append(_batch_row(message, envelope, measure=measure))
        except _Bad as bad:
            where = f"batch[{index}]" + (f".{bad.field}" if bad.field else "")
            parsed.rejected.append(Rejected(index=index, field=where, detail=bad.detail))
    if messages and not parsed.rows:
        first = parsed.rejected[0]
        raise InvalidEvent(
            f"every message of the batch was refused; first: {first.field}: {first.detail}",
            field=first.field,
            rejected=[
                {"index": r.index, "field": r.field, "detail": r.detail} for r in parsed.rejected
            ],
        )
    return parsed
