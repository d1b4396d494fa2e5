"""Outbound webhook request and response bodies; a secret appears only where it is made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from omnicart.api.inputs import InputModel, omitted
from omnicart.api.outputs import OutputModel
from omnicart.webhooks.model import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_PATTERNS,
    MAX_URL,
    MOST_ATTEMPTS,
)

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL,
        examples=["https://erp.example.com/omnicart/webhooks"],
        description="Where deliveries are POSTed: http or https, no user:password@.",
    ),
]
EventTypes = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(
        min_length=1,
        max_length=MAX_PATTERNS,
        examples=[["order.*", "stock.out_of_stock"]],
        description=(
            "`*`, a family's wildcard (`order.*`, `return.*`, `stock.*`, `customer.*`) or "
            "types of GET /v1/webhooks/event-types."
        ),
    ),
]
Description = Annotated[str, Field(max_length=200, description="A note for people.")]
MaxAttempts = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=MOST_ATTEMPTS,
        description=(
            "Attempts before a delivery is dead-lettered; retries wait 1 s, doubling, at "
            "most an hour (16 attempts: about four hours)."
        ),
    ),
]
State = Literal["pending", "delivered", "dead"]


class SubscriptionIn(InputModel):
    """A new subscription: an endpoint of the merchant's own systems and its events."""

    url: Url
    event_types: EventTypes
    description: Description = ""
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS
    start: str = Field(
        default="now",
        max_length=500,
        description=(
            "Which events it receives: `now` (those from now on), `beginning` (every "
            "event the outbox holds), or a `next_cursor` of GET /v1/events (those after it)."
        ),
    )


class SubscriptionChange(InputModel):
    """Fields to change; those left out keep their value. `enabled: false` pauses it."""

    url: Url = omitted()
    event_types: EventTypes = omitted()
    description: Description = omitted()
    max_attempts: MaxAttempts = omitted()
    enabled: bool = omitted(description="false: nothing is queued or sent until true again.")


class RotateIn(InputModel):
    """How long the old secret keeps signing beside the new one."""

    previous_secret_valid_seconds: int = Field(
        default=86400,
        strict=True,
        ge=0,
        le=7 * 86400,
        description="0 to 7 days; 0 stops the old secret at once (e.g. after a leak).",
    )


class SubscriptionOut(OutputModel):
    """A subscription; never its secret. `pending` and `dead` count its deliveries."""

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    max_attempts: int
    pending: int
    dead: int
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None = Field(
        description="Until when the secret before the last rotation still signs too."
    )


class SubscriptionCreated(SubscriptionOut):
    """A new subscription; `secret` (`whsec_…`) is shown here once and never again."""

    secret: str


class SecretOut(OutputModel):
    """A new secret, shown here once; the old one signs too until `previous_secret_until`."""

    subscription_id: int
    secret: str
    previous_secret_until: datetime | None


class AttemptOut(OutputModel):
    """One request to the subscriber: its answer's status (null: none came) and time."""

    number: int
    at: datetime
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int
    outcome: Literal["delivered", "retrying", "dead", "stale"]


class DeliveryOut(OutputModel):
    """An event in a subscription's queue; `message_id` is its `webhook-id` header."""

    id: int
    subscription_id: int
    seq: int = Field(description="Its place in the subscription's queue (event order).")
    message_id: str
    event_id: int = Field(description="The outbox event it carries (GET /v1/events).")
    event_type: str
    state: State
    attempts: int = Field(description="Attempts since it was queued or last replayed.")
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut]


class ReplayedOut(OutputModel):
    """How many dead letters were queued again."""

    replayed: int


class EventTypeOut(OutputModel):
    """An event type a subscription can name."""

    type: str
    description: str
