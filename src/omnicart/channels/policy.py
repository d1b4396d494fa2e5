"""What inventory needs to know of a channel: its buffer and the locations serving it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.db.engine import Executor
from omnicart.kernel.errors import Conflict, NotFound
from omnicart.locations.tables import Location


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """A channel's stock view: buffer policy and serving locations (ids, priority order)."""

    channel_id: int
    code: str
    currency: str
    active: bool
    percent_shown: int
    units_held_back: int
    ship_locations: tuple[int, ...]
    pickup_locations: tuple[int, ...]

    @property
    def serving_locations(self) -> tuple[int, ...]:
        """Every location that serves the channel, shipping or for pickup (by id)."""
        return tuple(sorted({*self.ship_locations, *self.pickup_locations}))


# Public so a driver-level hot path can run the same query; see inventory.pg_fast.
POLICY_QUERY = (
    select(
        Channel.id,
        Channel.code,
        Channel.currency,
        Channel.active,
        Channel.buffer_percent_shown,
        Channel.buffer_units,
        Location.id.label("location_id"),
        Location.priority,
        ChannelLocation.mode,
    )
    .select_from(Channel)
    .outerjoin(ChannelLocation, ChannelLocation.channel_id == Channel.id)
    .outerjoin(
        Location, and_(Location.id == ChannelLocation.location_id, Location.active.is_(True))
    )
    .where(Channel.id == bindparam("channel_id"))
)


def load_channel_policy(
    session: Executor, *, channel_id: int, require_active: bool = True
) -> ChannelPolicy:
    """The policy of a channel, or NotFound / Conflict (inactive). One query."""
    rows = session.execute(POLICY_QUERY, {"channel_id": channel_id}).all()
    return policy_from_rows(rows, channel_id=channel_id, require_active=require_active)


def policy_from_rows(
    rows: Sequence[Any], *, channel_id: int, require_active: bool = True
) -> ChannelPolicy:
    """Build the policy from the rows of POLICY_QUERY (any driver's named rows)."""
    if not rows:
        raise NotFound(f"channel {channel_id} does not exist", field="channel")
    first = rows[0]
    if require_active and not first.active:
        raise Conflict(f"channel {first.code!r} is not active", field="channel")
    serving = sorted((r.priority, r.location_id, r.mode) for r in rows if r.location_id is not None)
    return ChannelPolicy(
        channel_id=first.id,
        code=first.code,
        currency=first.currency,
        active=first.active,
        percent_shown=first.buffer_percent_shown,
        units_held_back=first.buffer_units,
        ship_locations=tuple(loc for _, loc, mode in serving if mode == "ship"),
        pickup_locations=tuple(loc for _, loc, mode in serving if mode == "pickup"),
    )


def channel_id_for_code(session: Session, *, code: str) -> int:
    """Resolve a channel code to its id."""
    found = session.scalar(select(Channel.id).where(Channel.code == code))
    if found is None:
        raise NotFound(f"channel {code!r} does not exist", field="channel")
    return found
