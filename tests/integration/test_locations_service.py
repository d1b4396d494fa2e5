"""Location use cases on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicart.channels.tables import ChannelLocation
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.locations.service import (
    create_location,
    get_location,
    get_locations,
    list_locations,
    location_id_for_code,
    update_location,
)
from omnicart.locations.tables import Location
from tests.support import add_channel


def _count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Location)) or 0


def _snapshot(db: Database, location_id: int) -> dict[str, object]:
    with db.reading() as session:
        return asdict(get_location(session, location_id=location_id))


def _store(db: Database, code: str = "krk-store", **flags: Any) -> int:
    with db.transaction() as session:
        return create_location(
            session,
            code=code,
            name="Kraków store",
            kind="store",
            pickup=True,
            ship_from_store=True,
            **flags,
        ).id


def test_create_location_stores_every_field(db: Database) -> None:
    with db.transaction() as session:
        view = create_location(
            session,
            code="wro-1",
            name=" Wrocław warehouse ",
            kind="warehouse",
            address_line="ul. Magazynowa 1",
            city="Wrocław",
            postal_code="50-001",
            country="pl",
            latitude=51.1079,
            longitude=17.0385,
            priority=10,
        )
    with db.reading() as session:
        stored = get_location(session, location_id=view.id)
    assert stored == view
    assert (stored.code, stored.name, stored.kind, stored.country) == (
        "wro-1",
        "Wrocław warehouse",
        "warehouse",
        "PL",
    )
    assert (stored.latitude, stored.longitude, stored.priority) == (51.1079, 17.0385, 10)
    assert (stored.ships, stored.pickup, stored.ship_from_store, stored.active) == (
        True,
        False,
        False,
        True,
    )
    assert stored.created_at.tzinfo is not None


def test_duplicate_code_is_a_conflict_and_changes_nothing(db: Database) -> None:
    _store(db)
    with pytest.raises(Conflict) as caught, db.transaction() as session:
        create_location(session, code="krk-store", name="Other", kind="warehouse")
    assert caught.value.field == "code"
    assert _count(db) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "KRK"}, "code"),
        ({"latitude": 91.0, "longitude": 0.0}, "latitude"),
        ({"latitude": 0.0, "longitude": -180.5}, "longitude"),
        ({"country": "XX"}, "country"),
        ({"kind": "depot"}, "kind"),
    ],
)
def test_invalid_location_is_rejected_and_nothing_is_stored(
    db: Database, changes: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"code": "krk", "name": "Kraków", "kind": "warehouse"}
    arguments.update(changes)
    with pytest.raises(ValidationFailed) as caught, db.transaction() as session:
        create_location(session, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert _count(db) == 0


def test_update_changes_only_what_is_given(db: Database) -> None:
    location_id = _store(db)
    before = _snapshot(db, location_id)
    with db.transaction() as session:
        updated = update_location(
            session,
            location_id=location_id,
            name="Kraków Rynek",
            latitude=50.06,
            longitude=19.94,
            priority=5,
        )
    after = _snapshot(db, location_id)
    assert asdict(updated) == after
    assert after == {
        **before,
        "name": "Kraków Rynek",
        "latitude": 50.06,
        "longitude": 19.94,
        "priority": 5,
    }

    with db.transaction() as session:
        update_location(session, location_id=location_id, latitude=None, longitude=None)
    assert _snapshot(db, location_id) == {**after, "latitude": None, "longitude": None}


def test_invalid_update_changes_nothing(db: Database) -> None:
    location_id = _store(db)
    before = _snapshot(db, location_id)
    with pytest.raises(ValidationFailed) as caught, db.transaction() as session:
        update_location(session, location_id=location_id, name="New", latitude=120.0, longitude=0.0)
    assert caught.value.field == "latitude"
    assert _snapshot(db, location_id) == before


def test_update_unknown_location_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as caught, db.transaction() as session:
        update_location(session, location_id=999, name="x")
    assert caught.value.field == "location_id"


@pytest.mark.parametrize(
    ("mode", "changes", "field"),
    [
        ("ship", {"ships": False, "ship_from_store": False}, "ships"),
        ("ship", {"ship_from_store": False}, "ship_from_store"),
        ("pickup", {"pickup": False}, "pickup"),
    ],
)
def test_capability_in_use_cannot_be_dropped(
    db: Database, mode: str, changes: dict[str, bool], field: str
) -> None:
    location_id = _store(db)
    with db.transaction() as session:
        add_channel(session, "web", **{mode: (location_id,)})  # type: ignore[arg-type]
    before = _snapshot(db, location_id)
    with pytest.raises(Conflict) as caught, db.transaction() as session:
        update_location(session, location_id=location_id, **changes)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert _snapshot(db, location_id) == before


def test_capability_not_in_use_can_be_dropped_and_serving_location_deactivated(
    db: Database,
) -> None:
    location_id = _store(db)
    with db.transaction() as session:
        add_channel(session, "web", pickup=(location_id,))
    with db.transaction() as session:
        view = update_location(
            session, location_id=location_id, ship_from_store=False, active=False
        )
    assert (view.ship_from_store, view.active, view.pickup) == (False, False, True)
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ChannelLocation)) == 1


def test_list_locations_walks_by_id(db: Database) -> None:
    ids = [_store(db, code=f"s-{n}") for n in range(5)]
    seen: list[int] = []
    after_id = 0
    with db.reading() as session:
        while page := list_locations(session, after_id=after_id, limit=2):
            assert len(page) <= 2
            seen.extend(v.id for v in page)
            after_id = page[-1].id
    assert seen == ids


def test_lookups(db: Database) -> None:
    first, second = _store(db, code="a"), _store(db, code="b")
    with db.reading() as session:
        assert location_id_for_code(session, code="b") == second
        assert sorted(get_locations(session, location_ids=[second, first, 404])) == [
            first,
            second,
        ]
        with pytest.raises(NotFound) as caught:
            location_id_for_code(session, code="nope", field="ship")
        assert caught.value.field == "ship"
        with pytest.raises(NotFound):
            get_location(session, location_id=404)
