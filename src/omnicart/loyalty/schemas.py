"""Loyalty request and response bodies; the rules live in loyalty.model and the services.

Amounts and rates are decimals (send them as JSON strings, e.g. "0.01"); responses give
them as strings. Points are whole numbers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from omnicart.api.inputs import Id, InputModel
from omnicart.api.outputs import MoneyAmount, OutputModel
from omnicart.loyalty.model import EarnRule, Program, Tier

Points = Annotated[int, Field(strict=True, ge=1, le=10_000_000, description="Whole points.")]
Rate = Annotated[Decimal, Field(ge=0, description="A decimal, at most 4 decimal places.")]


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


class LoyaltyRulesIn(_In):
    """How a channel's orders earn points and what its points are worth."""

    active: bool = True
    points_per_unit: Rate = Field(
        examples=["1"], description="Points per unit of the channel's currency (rounded down)."
    )
    point_value: Rate = Field(
        examples=["0.01"], description="Money one point takes off an order, channel currency."
    )
    spend_rate: Rate | None = Field(
        default=None,
        description="What one unit of the channel's currency counts towards tiers in the "
        "program's currency (default: 1 when they are the same currency, else nothing).",
    )
    bonuses: dict[str, Points] = Field(
        default_factory=dict,
        examples=[{"first_order": 100, "review": 50}],
        description="Named bonus events; `first_order` is awarded on a customer's first order.",
    )

    def model(self) -> EarnRule:
        """As the service takes it."""
        return EarnRule(
            points_per_unit=self.points_per_unit,
            point_value=self.point_value,
            spend_rate=self.spend_rate,
            bonuses=dict(self.bonuses),
            active=self.active,
        )


class LoyaltyRulesOut(_Out):
    """A channel's loyalty rules; `configured` is false for a channel that has none."""

    channel_id: int
    currency: str
    active: bool
    points_per_unit: Decimal
    point_value: Decimal
    spend_rate: Decimal | None
    bonuses: dict[str, int]
    configured: bool


class TierIn(_In):
    """A tier and the rolling spend that reaches it."""

    name: str = Field(max_length=40)
    min_spend: Rate


class ProgramIn(_In):
    """Tiers by spend over the last `window_days` days, in the program's currency."""

    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    window_days: Annotated[int, Field(strict=True, ge=1, le=3660)] = 365
    tiers: list[TierIn] = Field(max_length=20)

    def model(self) -> Program:
        """As the service takes it."""
        return Program(
            self.currency, self.window_days, tuple(Tier(t.name, t.min_spend) for t in self.tiers)
        )


class TierOut(_Out):
    """A tier."""

    name: str
    min_spend: MoneyAmount


class ProgramOut(_Out):
    """The program's tiers, lowest first."""

    currency: str
    window_days: int
    tiers: list[TierOut]


class BonusIn(_In):
    """A named bonus event of the channel's rules, once per customer and reference."""

    channel_id: Id
    name: str = Field(max_length=40, examples=["review"])
    reference: str = Field(max_length=80, examples=["review-981"])


class RedemptionIn(_In):
    """Points spent outside an order (a voucher), once per channel and reference."""

    channel_id: Id
    points: Points
    reference: str = Field(max_length=100, examples=["voucher-2291"])


class EntryOut(_Out):
    """A ledger entry: points in (positive) or out (negative)."""

    id: int
    profile_id: int
    kind: str
    points: int
    shortfall: int
    order_id: int | None
    channel_id: int | None
    amount: MoneyAmount | None
    currency: str | None
    spend: Decimal
    reason: str
    actor: str
    at: datetime


class LoyaltyOut(_Out):
    """A customer's points across their merged profiles."""

    customer_id: int
    profile_ids: list[int]
    balance: int
    tier: str | None
    next_tier: str | None
    spend_to_next_tier: MoneyAmount | None
    rolling_spend: MoneyAmount
    currency: str
    window_days: int
    earned: int
    redeemed: int
    shortfall: int = Field(description="Points refunds could not take back: already spent.")
    entries: list[EntryOut] = Field(description="The latest 200 entries, newest first.")


class SyncOut(BaseModel):
    """What a sync of the order feed wrote."""

    entries: int
