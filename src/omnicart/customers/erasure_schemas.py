"""Bodies of the erasure progress and report routes, and of the look-up by POST."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from omnicart.api.inputs import Id, InputModel
from omnicart.api.outputs import MoneyAmount, OutputModel
from omnicart.customers.schemas import ErasureOut

Identifier = Annotated[str | None, Field(default=None, min_length=1, max_length=254)]


class CustomerSearchIn(InputModel):
    """Exactly one identifier, in the body so that it stays out of URLs and access logs."""

    email: Identifier = None
    phone: Identifier = None
    user_id: Identifier = None
    loyalty_card: Identifier = None
    pos_customer: Identifier = None
    anonymous_id: Identifier = None
    order_id: Id | None = None


class ErasureStartedOut(ErasureOut):
    """What an erasure removed, and whether its event-store step is still to finish."""

    erasure_id: int
    state: str = Field(description='"done", or "pending" while its last step is retried.')


class ErasureStatusOut(OutputModel):
    """Where an erasure stands: counts and times only, never an erased value."""

    id: int
    customer_id: int
    actor: str
    at: datetime
    state: str = Field(description='"pending", "done", or "superseded" by a later erasure.')
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    finished_at: datetime | None
    counts: dict[str, int]


class ErasedPartOut(OutputModel):
    """One place the erasure reached and how many rows or events it changed there."""

    where: str
    what: str
    how: str
    count: int


class KeptOrdersOut(OutputModel):
    """Orders kept anonymously in one currency (revenue stays right)."""

    currency: str
    orders: int
    total: MoneyAmount


class ErasureReportOut(OutputModel):
    """An erasure report for the person or a regulator; it holds no personal value."""

    erasure_id: int
    customer_id: int
    profile_ids: list[int]
    requested_by: str
    erased_at: datetime
    state: str
    finished_at: datetime | None
    erased: list[ErasedPartOut]
    kept_orders: list[KeptOrdersOut]
    kept_loyalty_accounts: int
    kept_loyalty_points: int
    complete: bool
    generated_at: datetime
