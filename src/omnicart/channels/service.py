"""Channel use cases; each runs inside the caller's one transaction.

`principal` is who asks (None for operators at the CLI): a channel's key sees and
changes only its own channel, whatever scopes it was given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.auth.service import Principal
from omnicart.channels.model import (
    ChannelDraft,
    ChannelView,
    check_channel,
    check_currency_kept,
    check_serving,
)
from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, Forbidden, NotFound
from omnicart.locations.service import get_locations


def _check_own(principal: Principal | None, channel_id: int) -> None:
    if principal is not None and principal.role == "channel":
        principal.require_channel(channel_id, field_name="channel_id")


def _served_by(session: Session, channel_ids: Iterable[int]) -> dict[int, dict[str, list[int]]]:
    served: dict[int, dict[str, list[int]]] = defaultdict(lambda: {"ship": [], "pickup": []})
    ids = list(channel_ids)
    if ids:
        rows = session.execute(
            select(ChannelLocation.channel_id, ChannelLocation.location_id, ChannelLocation.mode)
            .where(ChannelLocation.channel_id.in_(ids))
            .order_by(ChannelLocation.channel_id, ChannelLocation.location_id)
        )
        for channel_id, location_id, mode in rows:
            served[channel_id][mode].append(location_id)
    return served


def _views(session: Session, rows: Sequence[Channel]) -> list[ChannelView]:
    served = _served_by(session, (row.id for row in rows))
    return [
        ChannelView(
            id=row.id,
            code=row.code,
            name=row.name,
            kind=row.kind,
            currency=row.currency,
            buffer_percent_shown=row.buffer_percent_shown,
            buffer_units=row.buffer_units,
            active=row.active,
            created_at=row.created_at,
            ship_location_ids=tuple(served[row.id]["ship"]),
            pickup_location_ids=tuple(served[row.id]["pickup"]),
        )
        for row in rows
    ]


def _load(session: Session, channel_id: int, *, lock: bool = False) -> Channel:
    row = session.get(Channel, channel_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    return row


def create_channel(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    currency: str,
    buffer_percent_shown: int = 100,
    buffer_units: int = 0,
    active: bool = True,
    principal: Principal | None = None,
) -> ChannelView:
    """Create a channel; its code must be a new slug and its currency ISO 4217."""
    if principal is not None and principal.role == "channel":
        raise Forbidden("a channel's API key cannot create channels")
    draft = check_channel(
        ChannelDraft(
            code=code,
            name=name,
            kind=kind,
            currency=currency,
            buffer_percent_shown=buffer_percent_shown,
            buffer_units=buffer_units,
            active=active,
        )
    )
    taken = Conflict(f"a channel with code {draft.code!r} already exists", field="code")
    if session.scalar(select(Channel.id).where(Channel.code == draft.code)) is not None:
        raise taken
    row = Channel(
        code=draft.code,
        name=draft.name,
        kind=draft.kind,
        currency=draft.currency,
        buffer_percent_shown=draft.buffer_percent_shown,
        buffer_units=draft.buffer_units,
        active=draft.active,
        created_at=utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction took the code between our check and our insert.
        raise taken from None
    return _views(session, [row])[0]


def update_channel(
    session: Session,
    *,
    channel_id: int,
    name: str | None = None,
    active: bool | None = None,
    buffer_percent_shown: int | None = None,
    buffer_units: int | None = None,
    currency: str | None = None,
    principal: Principal | None = None,
) -> ChannelView:
    """Change name, active flag or buffer; `currency` may only repeat the current one."""
    _check_own(principal, channel_id)
    row = _load(session, channel_id, lock=True)
    if currency is not None:
        check_currency_kept(row.currency, currency)
    draft = check_channel(
        ChannelDraft(
            code=row.code,
            name=row.name if name is None else name,
            kind=row.kind,
            currency=row.currency,
            buffer_percent_shown=(
                row.buffer_percent_shown if buffer_percent_shown is None else buffer_percent_shown
            ),
            buffer_units=row.buffer_units if buffer_units is None else buffer_units,
            active=row.active if active is None else active,
        )
    )
    row.name = draft.name
    row.active = draft.active
    row.buffer_percent_shown = draft.buffer_percent_shown
    row.buffer_units = draft.buffer_units
    session.flush()
    return _views(session, [row])[0]


def get_channel(
    session: Session, *, channel_id: int, principal: Principal | None = None
) -> ChannelView:
    """One channel with its serving locations, or NotFound."""
    _check_own(principal, channel_id)
    return _views(session, [_load(session, channel_id)])[0]


def list_channels(
    session: Session,
    *,
    after_id: int = 0,
    limit: int = 50,
    principal: Principal | None = None,
) -> list[ChannelView]:
    """Up to `limit` channels with ids above `after_id`, ascending (keyset pagination)."""
    query = select(Channel).where(Channel.id > after_id).order_by(Channel.id).limit(limit)
    if principal is not None and principal.role == "channel":
        query = query.where(Channel.id == principal.channel_id)
    return _views(session, list(session.scalars(query)))


def _unique(ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def set_channel_locations(
    session: Session,
    *,
    channel_id: int,
    ship_location_ids: Sequence[int],
    pickup_location_ids: Sequence[int],
    principal: Principal | None = None,
) -> ChannelView:
    """Replace the locations that ship to and offer pickup for a channel's customers."""
    _check_own(principal, channel_id)
    row = _load(session, channel_id, lock=True)
    ship, pickup = _unique(ship_location_ids), _unique(pickup_location_ids)
    locations = get_locations(session, location_ids=[*ship, *pickup], lock=True)
    check_serving(mode="ship", location_ids=ship, locations=locations, field="ship_location_ids")
    check_serving(
        mode="pickup", location_ids=pickup, locations=locations, field="pickup_location_ids"
    )
    session.execute(delete(ChannelLocation).where(ChannelLocation.channel_id == channel_id))
    session.add_all(
        [ChannelLocation(channel_id=channel_id, location_id=i, mode="ship") for i in ship]
        + [ChannelLocation(channel_id=channel_id, location_id=i, mode="pickup") for i in pickup]
    )
    session.flush()
    return _views(session, [row])[0]
