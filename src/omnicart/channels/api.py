"""HTTP routes for channels: parse, call the service, serialise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from omnicart.api.deps import DbDep, require
from omnicart.api.pagination import MAX_PAGE, Page, decode_cursor, next_cursor
from omnicart.auth.service import Principal
from omnicart.channels import service
from omnicart.channels.schemas import ChannelIn, ChannelLocationsIn, ChannelOut, ChannelPatch

router = APIRouter(tags=["channels"])
Reader = Annotated[Principal, Depends(require("channels:read"))]
Writer = Annotated[Principal, Depends(require("channels:write"))]


@router.post("/channels", status_code=status.HTTP_201_CREATED)
def create_channel(body: ChannelIn, db: DbDep, principal: Writer) -> ChannelOut:
    """Create a channel."""
    with db.transaction() as session:
        view = service.create_channel(session, **body.model_dump(), principal=principal)
    return ChannelOut.model_validate(view)


@router.get("/channels")
def list_channels(
    db: DbDep,
    principal: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
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
def get_channel(channel_id: int, db: DbDep, principal: Reader) -> ChannelOut:
    """One channel with the locations serving it."""
    with db.transaction() as session:
        view = service.get_channel(session, channel_id=channel_id, principal=principal)
    return ChannelOut.model_validate(view)


@router.patch("/channels/{channel_id}")
def update_channel(channel_id: int, body: ChannelPatch, db: DbDep, principal: Writer) -> ChannelOut:
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
def set_channel_locations(
    channel_id: int, body: ChannelLocationsIn, db: DbDep, principal: Writer
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
