"""Inventory request and response bodies; the rules live in inventory.model and the service.

Quantities are strict integers from 1 to 1,000,000 (counts from 0): `1.5`, `"2"`, `true`
or `0` are refused here, naming the field, rather than being rounded or coerced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from omnicart.api.inputs import Id, InputModel, Int64, Quantity, UnitsDelta, UnitsOrZero
from omnicart.api.outputs import OutputModel

# Reasons and notes are kept on ledger entries, counts and transfers (300 characters).
Text300 = Annotated[str, Field(max_length=300)]


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


# ---------------------------------------------------------------- reservations


class LineIn(_In):
    """Units of one SKU."""

    sku: str = Field(examples=["TSHIRT-RED-M"])
    quantity: Quantity


class ReservationIn(_In):
    """A hold on stock for a channel (a cart, a pending marketplace order)."""

    channel_id: Id
    lines: list[LineIn]
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="Repeat-safe key, unique per channel; or the `Idempotency-Key` header.",
    )
    location_id: Id | None = Field(
        default=None, description="Hold at this location only (store pickup)."
    )
    ttl_seconds: Int64 | None = Field(
        default=None,
        description="How long the hold lasts, 1 to 604,800; the shop's default if left out.",
    )
    reference: str = Field(
        default="", max_length=200, description="The caller's cart or order reference."
    )


class ReservationLineOut(_Out):
    """Units of one stock-bearing SKU held at one location."""

    sku: str
    requested_sku: str = Field(description="The SKU asked for (a bundle for its components).")
    location_id: int
    quantity: int
    shipped: int


class ReservationOut(_Out):
    """A reservation with its holds."""

    id: int
    channel_id: int
    idempotency_key: str
    status: str
    reference: str
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None
    lines: list[ReservationLineOut]


class ReservationSummaryOut(_Out):
    """A reservation in a list (its holds: GET /reservations/{id})."""

    id: int
    channel_id: int
    idempotency_key: str
    status: str
    reference: str
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None


class ReasonIn(_In):
    """Why a reservation changes state (kept on the ledger entries)."""

    reason: Text300 = ""


# ---------------------------------------------------------------- availability


class SkuUnitsOut(BaseModel):
    """Units of one SKU."""

    sku: str
    available: int


class ChannelAvailabilityOut(BaseModel):
    """What a channel may sell: its shipping locations pooled, after its buffer."""

    channel_id: int
    items: list[SkuUnitsOut]


class LocationAvailabilityOut(BaseModel):
    """What is free at one location; with a channel, after that channel's buffer."""

    location_id: int
    channel_id: int | None
    items: list[SkuUnitsOut]


# ---------------------------------------------------------------- stock operations


class StockLinesIn(_In):
    """Units of several SKUs at one location."""

    location_id: Id
    lines: list[LineIn]
    reason: Text300 = ""


class AdjustmentIn(_In):
    """A correction of on-hand units at one location."""

    location_id: Id
    sku: str
    delta: UnitsDelta
    reason: Text300


class CountLineIn(_In):
    """What was counted of one SKU."""

    sku: str
    counted: UnitsOrZero


class CountIn(_In):
    """A cycle count at one location: on-hand becomes what was counted."""

    location_id: Id
    lines: list[CountLineIn]
    note: Text300 = ""


class OnHandOut(BaseModel):
    """On-hand units of one SKU after a change."""

    sku: str
    on_hand: int


class StockChangeOut(BaseModel):
    """On-hand units at a location after a receipt, write-off or adjustment."""

    location_id: int
    items: list[OnHandOut]


class CountLineOut(_Out):
    """The outcome of counting one SKU."""

    sku: str
    expected: int
    counted: int
    variance: int = Field(description="counted - expected")


class CountOut(BaseModel):
    """A recorded cycle count."""

    count_id: int
    location_id: int
    lines: list[CountLineOut]


# ---------------------------------------------------------------- transfers


class TransferIn(_In):
    """Stock sent from one location to another."""

    from_location_id: Id
    to_location_id: Id
    lines: list[LineIn]
    note: Text300 = ""


class TransferLineOut(BaseModel):
    """Units of one SKU in a transfer."""

    sku: str
    quantity: int


class TransferOut(BaseModel):
    """A transfer and its lines."""

    id: int
    from_location_id: int
    to_location_id: int
    status: str
    created_at: datetime
    received_at: datetime | None
    lines: list[TransferLineOut]


# ---------------------------------------------------------------- reports


class StockRowOut(_Out):
    """Stock figures of one SKU at one location."""

    variant_id: int
    sku: str
    location_id: int
    on_hand: int
    reserved: int
    allocated: int
    available: int


class InTransitOut(BaseModel):
    """Units of one SKU on their way between locations."""

    sku: str
    quantity: int


class MovementOut(_Out):
    """One ledger entry."""

    id: int
    kind: str
    sku: str
    location_id: int
    delta_on_hand: int
    delta_reserved: int
    delta_allocated: int
    reason: str
    actor: str
    channel_id: int | None
    reservation_id: int | None
    transfer_id: int | None
    count_id: int | None
    created_at: datetime


class DiscrepancyOut(_Out):
    """A stock figure that disagrees with the ledger or the holds."""

    variant_id: int
    location_id: int
    figure: str
    stock: int
    expected: int
    source: str


class EventOut(_Out):
    """A domain event from the outbox."""

    id: int
    event_type: str
    aggregate: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: datetime
    published_at: datetime | None
