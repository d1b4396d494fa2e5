"""The rules of stock: what a change may do, what a channel may see and sell.

Pure functions over plain values; the service applies them under row locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from omnicart.kernel.errors import Conflict, InsufficientStock, ValidationFailed

MAX_QUANTITY = 1_000_000


class MovementKind(StrEnum):
    """Why a ledger entry exists."""

    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    RESERVATION = "reservation"
    RELEASE = "release"
    EXPIRY = "expiry"
    ALLOCATION = "allocation"
    DEALLOCATION = "deallocation"
    SHIPMENT = "shipment"
    RETURN_RESTOCK = "return_restock"
    WRITE_OFF = "write_off"


@dataclass(frozen=True, slots=True)
class StockFigures:
    """Units of one SKU at one location."""

    on_hand: int = 0
    reserved: int = 0
    allocated: int = 0

    @property
    def available(self) -> int:
        """Units free to reserve or allocate."""
        return self.on_hand - self.reserved - self.allocated


@dataclass(frozen=True, slots=True)
class StockChange:
    """A change to one SKU at one location, in deltas of the three figures."""

    variant_id: int
    location_id: int
    on_hand: int = 0
    reserved: int = 0
    allocated: int = 0

    @property
    def key(self) -> tuple[int, int]:
        """(variant_id, location_id): the row this change touches."""
        return (self.variant_id, self.location_id)


def apply_change(figures: StockFigures, change: StockChange, *, sku: str = "") -> StockFigures:
    """The figures after `change`, or an error if any rule would break.

    The one rule every stock change obeys: no figure below zero, and never more units
    promised (reserved + allocated) than are on hand.
    """
    after = StockFigures(
        on_hand=figures.on_hand + change.on_hand,
        reserved=figures.reserved + change.reserved,
        allocated=figures.allocated + change.allocated,
    )
    label = sku or f"variant {change.variant_id}"
    if after.reserved < 0 or after.allocated < 0:
        raise Conflict(
            f"{label} at location {change.location_id}: cannot release more than is held"
        )
    if after.on_hand < 0 or after.available < 0:
        raise InsufficientStock(
            f"{label} at location {change.location_id}: {figures.available} available, "
            f"the change needs {figures.available - after.available}",
            field="quantity",
            sku=sku or None,
            available=max(figures.available, 0),
        )
    return after


def check_quantity(value: object, *, field: str = "quantity", allow_zero: bool = False) -> int:
    """A whole, positive number of units (zero where a count allows it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be a whole number of units", field=field)
    lowest = 0 if allow_zero else 1
    if value < lowest:
        raise ValidationFailed(
            f"{field} must be {'zero or more' if allow_zero else 'positive'}, got {value}",
            field=field,
        )
    if value > MAX_QUANTITY:
        raise ValidationFailed(f"{field} must be at most {MAX_QUANTITY}", field=field)
    return value


@dataclass(frozen=True, slots=True)
class BufferPolicy:
    """What share of stock a channel may see: `percent_shown` %, never the last `units`."""

    percent_shown: int = 100
    units_held_back: int = 0

    def sellable(self, available: int) -> int:
        """Units the channel may sell out of `available` (pooled over its locations)."""
        if available <= 0:
            return 0
        shown = available * self.percent_shown // 100
        return max(0, min(shown, available - self.units_held_back))


def bundle_sellable(component_sellable: Mapping[int, int], parts: Iterable[tuple[int, int]]) -> int:
    """Kits available from components: a kit of 2xA + 1xB gives min(A // 2, B)."""
    counts = [component_sellable.get(variant_id, 0) // units for variant_id, units in parts]
    return min(counts) if counts else 0


@dataclass(frozen=True, slots=True)
class PlannedHold:
    """Units of one SKU to hold at one location."""

    variant_id: int
    location_id: int
    quantity: int


def plan_holds(
    *,
    demand: Mapping[int, int],
    available: Mapping[tuple[int, int], int],
    locations: Sequence[int],
    policy: BufferPolicy,
    sku_of: Mapping[int, str],
    prefer_single: bool = True,
) -> list[PlannedHold]:
    """Choose where to hold `demand` (variant -> units) among `locations` (priority order).

    Every SKU must fit in what the channel may sell after its buffer, pooled over the
    locations; then one location serving the whole demand is preferred (unless
    `prefer_single` is off), else each SKU is taken from the first location that has it
    all, else split in priority order.
    """
    short = []
    for variant_id, wanted in sorted(demand.items()):
        pooled = sum(max(available.get((variant_id, loc), 0), 0) for loc in locations)
        sellable = policy.sellable(pooled)
        if wanted > sellable:
            short.append({"sku": sku_of[variant_id], "requested": wanted, "sellable": sellable})
    if short:
        detail = "; ".join(
            f"{s['sku']}: requested {s['requested']}, sellable {s['sellable']}" for s in short
        )
        raise InsufficientStock(
            f"not enough stock for this channel: {detail}", field="lines", shortages=short
        )
    for loc in locations if prefer_single else ():
        if all(available.get((v, loc), 0) >= q for v, q in demand.items()):
            return [PlannedHold(v, loc, q) for v, q in sorted(demand.items())]
    plan: list[PlannedHold] = []
    for variant_id, wanted in sorted(demand.items()):
        whole = next(
            (loc for loc in locations if available.get((variant_id, loc), 0) >= wanted), None
        )
        if whole is not None:
            plan.append(PlannedHold(variant_id, whole, wanted))
            continue
        remaining = wanted
        for loc in locations:
            take = min(remaining, max(available.get((variant_id, loc), 0), 0))
            if take > 0:
                plan.append(PlannedHold(variant_id, loc, take))
                remaining -= take
            if remaining == 0:
                break
    return plan


def threshold_events(*, before: int, after: int, threshold: int) -> list[str]:
    """Which stock events a change of available units from `before` to `after` raises."""
    events: list[str] = []
    if before > 0 >= after:
        events.append("StockOutOfStock")
    elif before <= 0 < after:
        events.append("StockBackInStock")
    # Entering the low band, from above it or from nothing at all.
    if 0 < after <= threshold and not 0 < before <= threshold:
        events.append("StockLow")
    return events
