"""Location use cases; each runs inside the caller's one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.channels.tables import ChannelLocation
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound
from omnicart.locations.model import (
    UNSET,
    LocationDraft,
    LocationView,
    Unset,
    check_location,
    missing_capability,
)
from omnicart.locations.tables import Location


def _view(row: Location) -> LocationView:
    return LocationView(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        address_line=row.address_line,
        city=row.city,
        postal_code=row.postal_code,
        country=row.country,
        latitude=row.latitude,
        longitude=row.longitude,
        ships=row.ships,
        pickup=row.pickup,
        ship_from_store=row.ship_from_store,
        priority=row.priority,
        active=row.active,
        created_at=row.created_at,
    )


def _draft(row: Location) -> LocationDraft:
    view = _view(row)
    return LocationDraft(
        **{name: getattr(view, name) for name in LocationDraft.__dataclass_fields__}
    )


def _ensure_code_free(session: Session, code: str) -> None:
    if session.scalar(select(Location.id).where(Location.code == code)) is not None:
        raise Conflict(f"a location with code {code!r} already exists", field="code")


def create_location(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    address_line: str = "",
    city: str = "",
    postal_code: str = "",
    country: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    ships: bool = True,
    pickup: bool = False,
    ship_from_store: bool = False,
    priority: int = 100,
    active: bool = True,
) -> LocationView:
    """Create a warehouse, store or 3PL location; its code must be a new slug."""
    draft = check_location(
        LocationDraft(
            code=code,
            name=name,
            kind=kind,
            address_line=address_line,
            city=city,
            postal_code=postal_code,
            country=country,
            latitude=latitude,
            longitude=longitude,
            ships=ships,
            pickup=pickup,
            ship_from_store=ship_from_store,
            priority=priority,
            active=active,
        )
    )
    _ensure_code_free(session, draft.code)
    row = Location(**{n: getattr(draft, n) for n in LocationDraft.__dataclass_fields__})
    row.created_at = utcnow()
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction took the code between our check and our insert.
        raise Conflict(f"a location with code {code!r} already exists", field="code") from None
    return _view(row)


def _modes_served(session: Session, location_id: int) -> set[str]:
    # Read here rather than through channels' service: channels already depends on
    # locations, and the reverse import would be circular.
    return set(
        session.scalars(
            select(ChannelLocation.mode).where(ChannelLocation.location_id == location_id)
        )
    )


def update_location(
    session: Session,
    *,
    location_id: int,
    name: str | Unset = UNSET,
    address_line: str | Unset = UNSET,
    city: str | Unset = UNSET,
    postal_code: str | Unset = UNSET,
    country: str | Unset = UNSET,
    latitude: float | Unset | None = UNSET,
    longitude: float | Unset | None = UNSET,
    ships: bool | Unset = UNSET,
    pickup: bool | Unset = UNSET,
    ship_from_store: bool | Unset = UNSET,
    priority: int | Unset = UNSET,
    active: bool | Unset = UNSET,
) -> LocationView:
    """Change what is given (code and kind are fixed); a capability in use cannot be dropped."""
    row = _locked(session, location_id)
    given = {
        "name": name,
        "address_line": address_line,
        "city": city,
        "postal_code": postal_code,
        "country": country,
        "latitude": latitude,
        "longitude": longitude,
        "ships": ships,
        "pickup": pickup,
        "ship_from_store": ship_from_store,
        "priority": priority,
        "active": active,
    }
    changes: dict[str, Any] = {key: value for key, value in given.items() if value is not UNSET}
    draft = check_location(replace(_draft(row), **changes))
    for mode in sorted(_modes_served(session, location_id)):
        lacking = missing_capability(draft, mode)
        if lacking is not None:
            raise Conflict(
                f"location {row.code!r} serves channels for {mode}; "
                f"remove it from them before turning {lacking} off",
                field=lacking,
            )
    for key in changes:
        setattr(row, key, getattr(draft, key))
    session.flush()
    return _view(row)


def _locked(session: Session, location_id: int) -> Location:
    row = session.get(Location, location_id, with_for_update=True)
    if row is None:
        raise NotFound(f"location {location_id} does not exist", field="location_id")
    return row


def get_location(session: Session, *, location_id: int) -> LocationView:
    """One location, or NotFound."""
    row = session.get(Location, location_id)
    if row is None:
        raise NotFound(f"location {location_id} does not exist", field="location_id")
    return _view(row)


def get_locations(
    session: Session, *, location_ids: Iterable[int], lock: bool = False
) -> dict[int, LocationView]:
    """The locations among `location_ids` that exist, by id (unknown ids are left out).

    `lock` holds them (FOR SHARE, in id order) until the transaction ends, so that a
    concurrent `update_location` cannot drop a capability the caller is relying on.
    """
    wanted = sorted(set(location_ids))
    if not wanted:
        return {}
    query = select(Location).where(Location.id.in_(wanted)).order_by(Location.id)
    if lock:
        query = query.with_for_update(read=True)
    return {row.id: _view(row) for row in session.scalars(query)}


def location_id_for_code(session: Session, *, code: str, field: str = "location") -> int:
    """Resolve a location code to its id, or NotFound naming `field`."""
    found = session.scalar(select(Location.id).where(Location.code == code))
    if found is None:
        raise NotFound(f"location {code!r} does not exist", field=field)
    return found


def list_locations(session: Session, *, after_id: int = 0, limit: int = 50) -> list[LocationView]:
    """Up to `limit` locations with ids above `after_id`, ascending (keyset pagination)."""
    rows = session.scalars(
        select(Location).where(Location.id > after_id).order_by(Location.id).limit(limit)
    )
    return [_view(row) for row in rows]
