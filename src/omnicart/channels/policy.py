"""What inventory needs to know of a channel: its buffer and the locations serving it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel, ChannelLocation
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


def load_channel_policy(
    session: Session, *, channel_id: int, require_active: bool = True
) -> ChannelPolicy:
    """The policy of a channel, or NotFound / Conflict (inactive)."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} does not exist", field="channel")
    if require_active and not channel.active:
        raise Conflict(f"channel {channel.code!r} is not active", field="channel")
    rows = session.execute(
        select(ChannelLocation.location_id, ChannelLocation.mode)
        .join(Location, Location.id == ChannelLocation.location_id)
        .where(ChannelLocation.channel_id == channel_id, Location.active.is_(True))
        .order_by(Location.priority, Location.id)
    ).all()
    return ChannelPolicy(
        channel_id=channel.id,
        code=channel.code,
        currency=channel.currency,
        active=channel.active,
        percent_shown=channel.buffer_percent_shown,
        units_held_back=channel.buffer_units,
        ship_locations=tuple(r.location_id for r in rows if r.mode == "ship"),
        pickup_locations=tuple(r.location_id for r in rows if r.mode == "pickup"),
    )


def channel_id_for_code(session: Session, *, code: str) -> int:
    """Resolve a channel code to its id."""
    found = session.scalar(select(Channel.id).where(Channel.code == code))
    if found is None:
        raise NotFound(f"channel {code!r} does not exist", field="channel")
    return found
