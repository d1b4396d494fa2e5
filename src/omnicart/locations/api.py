"""HTTP routes for locations: parse, call the service, serialise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from omnicart.api.deps import DbDep, require
from omnicart.api.pagination import MAX_PAGE, Page, decode_cursor, next_cursor
from omnicart.auth.service import Principal
from omnicart.locations import service
from omnicart.locations.schemas import LocationIn, LocationOut, LocationPatch

router = APIRouter(tags=["locations"])
Reader = Annotated[Principal, Depends(require("locations:read"))]
Writer = Annotated[Principal, Depends(require("locations:write"))]


@router.post("/locations", status_code=status.HTTP_201_CREATED)
def create_location(body: LocationIn, db: DbDep, _: Writer) -> LocationOut:
    """Create a warehouse, store or 3PL location."""
    with db.transaction() as session:
        view = service.create_location(session, **body.model_dump())
    return LocationOut.model_validate(view)


@router.get("/locations")
def list_locations(
    db: DbDep,
    _: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
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
def get_location(location_id: int, db: DbDep, _: Reader) -> LocationOut:
    """One location."""
    with db.transaction() as session:
        view = service.get_location(session, location_id=location_id)
    return LocationOut.model_validate(view)


@router.patch("/locations/{location_id}")
def update_location(location_id: int, body: LocationPatch, db: DbDep, _: Writer) -> LocationOut:
    """Change what is given; null latitude and longitude clear the coordinates."""
    with db.transaction() as session:
        view = service.update_location(
            session, location_id=location_id, **body.model_dump(exclude_unset=True)
        )
    return LocationOut.model_validate(view)
