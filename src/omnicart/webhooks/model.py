"""The rules of outbound webhooks, free of the database and of HTTP.

- Which events exist for subscribers, named from the outbox's events (`webhook_type`) and
  which of them a subscription's patterns take (`check_event_types`, `matches`).
- What a subscriber's URL may be (`check_endpoint_url`).
- The retry schedule: 1 s after the first failed attempt, doubling, at most an hour apart;
  a subscriber's `Retry-After` may ask for a longer wait, up to an hour (`retry_delay`).
  After a subscription's `max_attempts` failed attempts a delivery is dead-lettered.
- Order: each subscription has one queue, in the order its events became final in the
  outbox. Only the queue's head, its pending delivery with the lowest `seq`, is ever
  sent; the next one waits until the head was delivered or dead-lettered. A dead letter
  no longer holds the queue. A replayed delivery goes back to its own place in the queue:
  it is sent before any later event still waiting, and it is the only way a subscriber
  gets an event after a later one (its `webhook-id` tells it which event it is).
- The body, as Standard Webhooks recommends: `{"type", "timestamp", "data"}`.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import orjson

from omnicart.kernel.clock import as_utc
from omnicart.kernel.errors import ValidationFailed

State = Literal["pending", "delivered", "dead"]
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
STATES: Final = (PENDING, DELIVERED, DEAD)

FIRST_RETRY: Final = timedelta(seconds=1)
LONGEST_WAIT: Final = timedelta(hours=1)
# 16 attempts: 1 s, 2 s, … 34 min, then three waits of an hour: about four hours in all.
DEFAULT_MAX_ATTEMPTS: Final = 16
MOST_ATTEMPTS: Final = 30
MAX_URL: Final = 2000
MAX_PATTERNS: Final = 50
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 -- the format's prefix, not a secret
SECRET_BYTES: Final = 32

FAMILIES: Final = ("order", "return", "stock", "customer")
# Every event a subscriber can name, and what it means. Event types the outbox gains later
# reach subscribers of their family's wildcard (`stock.*`) by `webhook_type`'s rule.
EVENT_TYPES: Final[Mapping[str, str]] = {
    "order.created": "An order was placed: a checkout, a till sale or a channel's order.",
    "order.updated": "An order changed (a channel's update, a payment).",
    "order.cancelled": "An order was cancelled; its stock is free again.",
    "order.routed": "An order's lines were assigned to the locations that fulfil them.",
    "order.refunded": "Money went back to the customer outside a return.",
    "order.shipment_created": "Lines of an order left a location with a carrier.",
    "order.pickup_ready": "A pickup order is ready at its store.",
    "order.picked_up": "The customer collected a pickup order.",
    "return.received": "A return arrived at a location (restocked or written off).",
    "return.refunded": "A return was refunded.",
    "stock.low": "A SKU's available units at a location fell to its low-stock threshold.",
    "stock.out_of_stock": "A SKU has no available units left at a location.",
    "stock.back_in_stock": "A SKU that had none has available units again at a location.",
}
# The outbox's own names (Segment's for orders, the ledger's for stock).
_OUTBOX_NAMES: Final[Mapping[str, str]] = {
    "Order Completed": "order.created",
    "Order Updated": "order.updated",
    "Order Cancelled": "order.cancelled",
    "Order Routed": "order.routed",
    "Order Refunded": "order.refunded",
    "Shipment Created": "order.shipment_created",
    "Pickup Ready": "order.pickup_ready",
    "Picked Up": "order.picked_up",
    "Return Received": "return.received",
    "StockLow": "stock.low",
    "StockOutOfStock": "stock.out_of_stock",
    "StockBackInStock": "stock.back_in_stock",
}
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f]")


def webhook_type(*, aggregate: str, event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The type subscribers see for an outbox event; None for events of no family.

    A refund of a return is `return.refunded` (its payload names the return); an event
    not in the catalogue is `<aggregate>.<its words in snake case>` (`StockSellableChanged`
    of the stock aggregate: `stock.sellable_changed`).
    """
    if event_type == "Order Refunded" and payload.get("return_id") is not None:
        return "return.refunded"
    known = _OUTBOX_NAMES.get(event_type)
    if known is not None:
        return known
    if aggregate not in FAMILIES:
        return None
    words = [w.lower() for w in _WORDS.findall(event_type)]
    if words and words[0] == aggregate:
        words = words[1:]
    return f"{aggregate}.{'_'.join(words) or 'changed'}"


def check_event_types(patterns: Sequence[str]) -> tuple[str, ...]:
    """A subscription's event types, checked: each is `*` (every family), a family's
    wildcard (`order.*`) or a type of the catalogue (`order.created`); sorted, once each."""
    if not patterns:
        raise ValidationFailed("name at least one event type, e.g. order.*", field="event_types")
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(
            f"at most {MAX_PATTERNS} event types per subscription", field="event_types"
        )
    wildcards = {"*", *(f"{family}.*" for family in FAMILIES)}
    for pattern in patterns:
        if pattern not in wildcards and pattern not in EVENT_TYPES:
            families = ", ".join(f"{f}.*" for f in FAMILIES)
            raise ValidationFailed(
                f"unknown event type {pattern!r}: use *, {families} or a type of "
                "GET /v1/webhooks/event-types",
                field="event_types",
            )
    return tuple(sorted(set(patterns)))


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription with these patterns takes events of this type."""
    family = event_type.split(".", 1)[0]
    return any(p in ("*", f"{family}.*", event_type) for p in patterns)


def check_endpoint_url(url: str) -> str:
    """A subscriber's URL: http or https, a host, no credentials, no fragment."""
    if not url or len(url) > MAX_URL:
        raise ValidationFailed(f"a URL of 1 to {MAX_URL} characters", field="url")
    if _UNSAFE_URL.search(url):
        raise ValidationFailed("a URL has no spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number raises here
    except ValueError:
        raise ValidationFailed("not a valid URL", field="url") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValidationFailed("the URL must be http:// or https://", field="url")
    if not parts.hostname:
        raise ValidationFailed("the URL names no host", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "the URL may not carry credentials (user:password@); "
            "subscribers authenticate deliveries by their signature",
            field="url",
        )
    if port == 0:
        raise ValidationFailed("the URL's port must be 1 to 65535", field="url")
    if parts.fragment:
        raise ValidationFailed("a URL's #fragment is never sent; leave it out", field="url")
    return url


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` and base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A delivery's `webhook-id`: the same for every attempt and replay of it."""
    return "msg_" + base64.b32encode(secrets.token_bytes(15)).decode().lower()


def retry_delay(attempts: int, retry_after: timedelta | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 s, doubling, at most an hour; a
    longer wait the subscriber asked for with Retry-After wins, up to an hour."""
    doublings = min(max(attempts - 1, 0), 20)  # past the cap long before 2**20 s
    wait = min(FIRST_RETRY * (1 << doublings), LONGEST_WAIT)
    if retry_after is not None:
        wait = max(wait, min(retry_after, LONGEST_WAIT))
    return wait


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait; None when absent or
    unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=min(int(text), 10 * 365 * 86400))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return max(moment - now, timedelta(0))


RetryDelay = Callable[[int, timedelta | None], timedelta]


@dataclass(frozen=True, slots=True)
class AfterAttempt:
    """Where a delivery stands after an attempt."""

    state: State
    next_attempt_at: datetime | None


def after_attempt(
    *,
    succeeded: bool,
    attempts: int,
    max_attempts: int,
    now: datetime,
    retry_after: timedelta | None = None,
    final: bool = False,
    delay: RetryDelay = retry_delay,
) -> AfterAttempt:
    """The state after the `attempts`-th attempt (counted since the last replay): a 2xx
    delivers it; a failure waits for the next try, or is dead-lettered after the last one
    (`final`: a failure no retry can mend)."""
    if succeeded:
        return AfterAttempt(DELIVERED, None)
    if final or attempts >= max_attempts:
        return AfterAttempt(DEAD, None)
    return AfterAttempt(PENDING, now + delay(attempts, retry_after))


def may_replay(state: str) -> bool:
    """A delivery is replayed once it has finished (delivered or dead-lettered)."""
    return state in (DELIVERED, DEAD)


def event_body(*, event_type: str, occurred_at: datetime, data: Any) -> bytes:
    """The JSON a subscriber receives for an event."""
    stamp = as_utc(occurred_at).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": event_type, "timestamp": stamp, "data": data})


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: the subscriber's status (None when no answer came), an
    error for the log, how long it took and the wait it asked for."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: timedelta | None = None
    # A failure no retry can mend (the event is gone): dead-lettered at once.
    final: bool = False

    @property
    def succeeded(self) -> bool:
        """Any 2xx delivers; everything else is a failure."""
        return self.status_code is not None and 200 <= self.status_code < 300
