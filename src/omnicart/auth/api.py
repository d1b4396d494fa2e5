"""HTTP routes for API keys: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath
from omnicart.auth import service
from omnicart.auth.access import access
from omnicart.auth.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from omnicart.channels.service import get_channel
from omnicart.locations.service import get_location

router = APIRouter(tags=["auth"])


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
@guard(access("keys:write"))
def create_api_key(body: ApiKeyIn, db: DbDep, principal: Caller) -> ApiKeyCreated:
    """Create a key; the response carries its secret, the only time it is shown."""
    with db.transaction() as session:
        # create_api_key leaves existence to the foreign key; checking first turns a
        # dangling id into a 404 naming the field instead of a bare 409.
        if body.role == "channel" and body.channel_id is not None:
            get_channel(session, channel_id=body.channel_id)
        if body.role == "staff" and body.location_id is not None:
            get_location(session, location_id=body.location_id)
        issued = service.create_api_key(
            session,
            name=body.name,
            role=body.role,
            channel_id=body.channel_id,
            location_id=body.location_id,
            scopes=body.scopes,
            principal=principal,
        )
    key = issued.principal
    return ApiKeyCreated(
        id=issued.id,
        name=key.name,
        prefix=issued.secret[:10],
        role=key.role,
        channel_id=key.channel_id,
        location_id=key.location_id,
        scopes=sorted(key.scopes),
        secret=issued.secret,
    )


@router.get("/api-keys")
@guard(access("keys:write"))
def list_api_keys(
    db: DbDep,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ApiKeyOut]:
    """Keys by ascending id, revoked ones included; never their secrets."""
    after_id = decode_cursor(cursor)
    with db.transaction() as session:
        # The service lists every key; a merchant has tens, so paging here is cheap.
        rows = [row for row in service.list_api_keys(session) if row.id > after_id][:limit]
        items = [ApiKeyOut.model_validate(row) for row in rows]
    return Page[ApiKeyOut](items=items, next_cursor=next_cursor([k.id for k in items], limit))


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
@guard(access("keys:write"))
def revoke_api_key(key_id: IdPath, db: DbDep, principal: Caller) -> Response:
    """Revoke a key; it stops working at once (revoking twice is harmless)."""
    with db.transaction() as session:
        service.revoke_api_key(session, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
