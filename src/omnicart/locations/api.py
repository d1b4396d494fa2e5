"""HTTP routes for locations: parse, call the service, serialise."""

from __future__ import annotations

from fastapi import APIRouter, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath
from omnicart.auth.access import access
from omnicart.locations import service
from omnicart.locations.schemas import LocationIn, LocationOut, LocationPatch

router = APIRouter(tags=["locations"])


@router.post("/locations", status_code=status.HTTP_201_CREATED)
@guard(access("locations:write"))
def create_location(body: LocationIn, db: DbDep, principal: Caller) -> LocationOut:
    """Create a warehouse, store or 3PL location."""
    with db.transaction() as session:
        view = service.create_location(session, **body.model_dump())
    return LocationOut.model_validate(view)


@router.get("/locations")
@guard(access("locations:read", "staff"))
def list_locations(
    db: DbDep,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LocationOut]:
    """Locations by ascending id."""
    after_id = decode_cursor(cursor)
    with db.transaction() as session:
        views = service.list_locations(session, after_id=after_id, limit=limit)
    return Page[LocationOut](
        items=[LocationOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.get("/locations/{location_id}")
@guard(access("locations:read", "staff"))
def get_location(location_id: IdPath, db: DbDep, principal: Caller) -> LocationOut:
    """One location."""
    with db.transaction() as session:
        view = service.get_location(session, location_id=location_id)
    return LocationOut.model_validate(view)


@router.patch("/locations/{location_id}")
@guard(access("locations:write"))
def update_location(
    location_id: IdPath, body: LocationPatch, db: DbDep, principal: Caller
) -> LocationOut:
    """Change what is given; null latitude and longitude clear the coordinates."""
    with db.transaction() as session:
        view = service.update_location(
            session, location_id=location_id, **body.model_dump(exclude_unset=True)
        )
    return LocationOut.model_validate(view)
