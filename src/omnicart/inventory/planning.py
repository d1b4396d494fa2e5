"""Turning a reservation request into holds: which locations, how many units where."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from omnicart.catalog.lookup import SkuInfo
from omnicart.channels.policy import ChannelPolicy
from omnicart.inventory.model import PlannedHold
from omnicart.kernel.errors import Conflict, ValidationFailed


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """A checked reservation request: what both reservation paths work from."""

    channel_id: int
    lines: tuple[tuple[str, int], ...]
    key: str
    location_id: int | None
    ttl: int
    reference: str
    actor: str
    fingerprint: str
    # Where routing chose to draw from, in order of preference; empty = the channel's own.
    pool: tuple[int, ...] = ()
    prefer_single: bool = True
    # An order's units are allocated at once (one ledger entry per row, no expiry);
    # a cart's or a channel's hold is reserved and may expire.
    allocate: bool = False
    # A SKU the channel does not list is refused, except in an order another channel
    # already sold (an external order): that is taken, and the SKUs are handed back.
    flag_unlisted: bool = False
    # The caller made `key` in this transaction (an order's first allocation): no earlier
    # request can hold it, so a refusal for stock is final, never a repeat's answer.
    new_key: bool = False
    # The reservation's id, when the caller drew it beforehand (`next_reservation_id`)
    # to write it in its own row in the same statement; None: the table draws it.
    id: int | None = None

    def claim(self, now: datetime) -> dict[str, Any]:
        """The reservation row that claims the idempotency key (with its `id`, if drawn)."""
        drawn = {} if self.id is None else {"id": self.id}
        return {
            **drawn,
            "channel_id": self.channel_id,
            "idempotency_key": self.key,
            "request_hash": self.fingerprint,
            "status": "allocated" if self.allocate else "active",
            "reference": self.reference,
            "actor": self.actor,
            "expires_at": now + timedelta(seconds=self.ttl),
            "created_at": now,
        }


@dataclass(frozen=True, slots=True)
class NewHolds:
    """A reservation just made: its id, times and holds (requested sku, variant, location,
    units), with the SKU of each variant."""

    id: int
    created_at: datetime
    expires_at: datetime
    holds: list[tuple[str, int, int, int]]
    skus: dict[int, str]
    unlisted: tuple[str, ...] = ()  # requested SKUs the channel does not list (flagged)


def pool_for(
    policy: ChannelPolicy, location_id: int | None, *, routed: tuple[int, ...] = ()
) -> tuple[int, ...]:
    """The locations a request may draw on: those routing chose (each must serve the
    channel), else the chosen one (pickup), else the channel's shipping locations."""
    if routed:
        serving = policy.serving_locations
        strangers = [loc for loc in routed if loc not in serving]
        if strangers:
            raise Conflict(
                f"location(s) {', '.join(map(str, strangers))} do not serve channel "
                f"{policy.code!r}",
                field="location_id",
            )
        return routed
    if location_id is not None:
        if location_id not in policy.serving_locations:
            raise Conflict(
                f"location {location_id} does not serve channel {policy.code!r}",
                field="location_id",
            )
        return (location_id,)
    if not policy.ship_locations:
        raise Conflict(f"channel {policy.code!r} has no active shipping location", field="channel")
    return policy.ship_locations


def demand_of(
    lines: Sequence[tuple[str, int]], infos: Mapping[str, SkuInfo]
) -> tuple[dict[int, int], list[tuple[str, int, int]]]:
    """Units per stock-bearing variant, and (requested sku, variant, units) parts."""
    demand: dict[int, int] = defaultdict(int)
    parts: list[tuple[str, int, int]] = []
    for index, (sku, quantity) in enumerate(lines):
        info = infos[sku]
        if info.is_bundle:
            if not info.components:
                raise ValidationFailed(
                    f"bundle {sku} has no components", field=f"lines.{index}.sku"
                )
            for component_id, units in info.components:
                demand[component_id] += units * quantity
                parts.append((sku, component_id, units * quantity))
        else:
            demand[info.variant_id] += quantity
            parts.append((sku, info.variant_id, quantity))
    return dict(demand), parts


def split_holds(
    plan: Sequence[PlannedHold], parts: Sequence[tuple[str, int, int]]
) -> list[tuple[str, int, int, int]]:
    """Give each requested SKU its share of the planned holds: (sku, variant, loc, qty)."""
    remaining: dict[int, list[list[int]]] = defaultdict(list)
    for hold in plan:
        remaining[hold.variant_id].append([hold.location_id, hold.quantity])
    result: list[tuple[str, int, int, int]] = []
    for requested_sku, variant_id, units in parts:
        need = units
        for slot in remaining[variant_id]:
            if need == 0:
                break
            take = min(need, slot[1])
            if take:
                result.append((requested_sku, variant_id, slot[0], take))
                slot[1] -= take
                need -= take
    return result
