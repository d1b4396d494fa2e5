"""HTTP routes for channels: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath
from omnicart.auth.access import Named, access
from omnicart.channels import service
from omnicart.channels.schemas import ChannelIn, ChannelLocationsIn, ChannelOut, ChannelPatch

router = APIRouter(tags=["channels"])


@router.post("/channels", status_code=status.HTTP_201_CREATED)
@guard(access("channels:write"))
def create_channel(body: ChannelIn, db: DbDep, principal: Caller) -> ChannelOut:
    """Create a channel."""
    with db.transaction() as session:
        view = service.create_channel(session, **body.model_dump(), principal=principal)
    return ChannelOut.model_validate(view)


@router.get("/channels")
@guard(access("channels:read", "channel"))
def list_channels(
    db: DbDep,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ChannelOut]:
    """Channels by ascending id; a channel's key sees only its own."""
    after_id = decode_cursor(cursor)
    with db.transaction() as session:
        views = service.list_channels(session, after_id=after_id, limit=limit, principal=principal)
    return Page[ChannelOut](
        items=[ChannelOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.get("/channels/{channel_id}")
@guard(access("channels:read", "channel", channel=Named("path", "channel_id")))
def get_channel(channel_id: IdPath, db: DbDep, principal: Caller) -> ChannelOut:
    """One channel with the locations serving it."""
    with db.transaction() as session:
        view = service.get_channel(session, channel_id=channel_id, principal=principal)
    return ChannelOut.model_validate(view)


@router.patch("/channels/{channel_id}")
@guard(access("channels:write"))
def update_channel(
    channel_id: IdPath, body: ChannelPatch, db: DbDep, principal: Caller
) -> ChannelOut:
    """Change a channel's name, active flag or stock buffer (currency is fixed)."""
    with db.transaction() as session:
        view = service.update_channel(
            session,
            channel_id=channel_id,
            **body.model_dump(exclude_unset=True),
            principal=principal,
        )
    return ChannelOut.model_validate(view)


@router.put("/channels/{channel_id}/locations")
@guard(access("channels:write"))
def set_channel_locations(
    channel_id: IdPath, body: ChannelLocationsIn, db: DbDep, principal: Caller
) -> ChannelOut:
    """Replace the locations that ship for and offer pickup to a channel."""
    with db.transaction() as session:
        view = service.set_channel_locations(
            session,
            channel_id=channel_id,
            ship_location_ids=body.ship_location_ids,
            pickup_location_ids=body.pickup_location_ids,
            principal=principal,
        )
    return ChannelOut.model_validate(view)
