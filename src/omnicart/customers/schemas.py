"""Customer request and response bodies; the rules live in customers.model and services.

Amounts are decimal strings, so that no cent is lost to floating point.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool, computed_field

from omnicart.api.inputs import InputModel
from omnicart.api.outputs import AmountsByCurrency, MoneyAmount, OutputModel
from omnicart.conversations.schemas import ConversationOut


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


class ConsentsIn(_In):
    """Consent given (true) or withdrawn (false) per messaging channel, and where."""

    consents: dict[str, StrictBool] = Field(
        description="email, sms, whatsapp, push → true (given) or false (withdrawn)."
    )
    source: Annotated[str, Field(max_length=120)] = Field(
        description="Where the customer said so, e.g. 'checkout form' or 'store 12 till'."
    )
    at: datetime | None = Field(default=None, description="When; defaults to now.")


class ConsentOut(_Out):
    """Consent for one channel."""

    channel: str
    granted: bool
    source: str
    at: datetime


class ConsentsOut(_Out):
    """Consents in force and every change, oldest first."""

    customer_id: int
    current: list[ConsentOut]
    history: list[ConsentOut]


class IdentityOut(_Out):
    """One identifier of the customer."""

    kind: str
    value: str
    channel_id: int | None
    source: str
    first_seen: datetime
    last_seen: datetime


class MergeOut(_Out):
    """A profile merged into another, and why."""

    survivor_id: int
    merged_id: int
    reason: str
    source: str
    at: datetime


class CustomerOrderOut(_Out):
    """An order of the customer, from any channel."""

    id: int
    channel_id: int
    channel_code: str
    source: str
    external_id: str | None
    status: str
    currency: str
    total: MoneyAmount
    created_at: datetime


class TimelineOut(_Out):
    """A tracked event or an order, newest first."""

    at: datetime
    kind: str
    name: str
    channel_id: int
    ref: str
    properties: dict[str, Any] | None


class LoyaltyEntryOut(_Out):
    """One loyalty ledger entry."""

    id: int
    kind: str
    points: int
    order_id: int | None
    channel_id: int | None
    reason: str
    at: datetime


class LoyaltyOut(_Out):
    """Points balance, tier and history."""

    balance: int
    tier: str | None
    next_tier: str | None
    spend_to_next_tier: MoneyAmount | None
    rolling_spend: MoneyAmount
    currency: str
    earned: int
    redeemed: int
    entries: list[LoyaltyEntryOut]


class CustomerOut(_Out):
    """Customer 360. `id` is the surviving profile; `requested_id` differs from it when
    the id asked for was merged into it. `timeline` is null when the event store was busy."""

    id: int
    requested_id: int
    merged_ids: list[int]
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    traits: dict[str, Any]
    identities: list[IdentityOut]
    merges: list[MergeOut]
    consents: list[ConsentOut]
    orders: list[CustomerOrderOut]
    revenue: AmountsByCurrency = Field(description="Order totals per currency, not cancelled.")
    timeline: list[TimelineOut] | None
    loyalty: LoyaltyOut
    conversations: list[ConversationOut]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def merged(self) -> bool:
        """Whether the requested id was merged into `id`."""
        return self.id != self.requested_id


class ErasureOut(_Out):
    """What an erasure removed (counts only; the erased values are gone)."""

    customer_id: int
    profile_ids: list[int]
    counts: dict[str, int]
    actor: str
    at: datetime
