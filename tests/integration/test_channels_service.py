"""Channel use cases on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicart.auth.service import Principal
from omnicart.channels.policy import load_channel_policy
from omnicart.channels.service import (
    create_channel,
    get_channel,
    list_channels,
    set_channel_locations,
    update_channel,
)
from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omnicart.locations.service import create_location, update_location


def _channel(db: Database, code: str = "allegro", **extra: Any) -> int:
    with db.transaction() as session:
        return create_channel(
            session,
            code=code,
            name=code.title(),
            kind="marketplace",
            currency="PLN",
            **extra,
        ).id


def _location(db: Database, code: str, kind: str = "warehouse", **flags: Any) -> int:
    with db.transaction() as session:
        return create_location(session, code=code, name=code, kind=kind, **flags).id


def _snapshot(db: Database, channel_id: int) -> dict[str, object]:
    with db.reading() as session:
        return asdict(get_channel(session, channel_id=channel_id))


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        channels = session.scalar(select(func.count()).select_from(Channel)) or 0
        links = session.scalar(select(func.count()).select_from(ChannelLocation)) or 0
    return channels, links


def _channel_key(channel_id: int) -> Principal:
    return Principal(
        key_id=7,
        name="allegro",
        role="channel",
        scopes=frozenset({"channels:read", "channels:write"}),
        channel_id=channel_id,
    )


def test_create_channel_with_allegro_buffer(db: Database) -> None:
    with db.transaction() as session:
        view = create_channel(
            session,
            code="allegro",
            name=" Allegro ",
            kind="marketplace",
            currency="pln",
            buffer_percent_shown=80,
            buffer_units=2,
        )
    stored = _snapshot(db, view.id)
    assert stored == asdict(view)
    assert {
        k: stored[k]
        for k in (
            "code",
            "name",
            "kind",
            "currency",
            "buffer_percent_shown",
            "buffer_units",
            "active",
            "ship_location_ids",
            "pickup_location_ids",
        )
    } == {
        "code": "allegro",
        "name": "Allegro",
        "kind": "marketplace",
        "currency": "PLN",
        "buffer_percent_shown": 80,
        "buffer_units": 2,
        "active": True,
        "ship_location_ids": (),
        "pickup_location_ids": (),
    }


def test_duplicate_code_is_a_conflict_and_changes_nothing(db: Database) -> None:
    _channel(db)
    with pytest.raises(Conflict) as caught, db.transaction() as session:
        create_channel(session, code="allegro", name="Again", kind="web", currency="EUR")
    assert caught.value.field == "code"
    assert _counts(db) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Allegro"}, "code"),
        ({"currency": "ABC"}, "currency"),
        ({"kind": "tv"}, "kind"),
        ({"buffer_percent_shown": 120}, "buffer_percent_shown"),
        ({"buffer_units": -2}, "buffer_units"),
    ],
)
def test_invalid_channel_is_rejected_and_nothing_is_stored(
    db: Database, changes: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"code": "web", "name": "Web", "kind": "web", "currency": "EUR"}
    arguments.update(changes)
    with pytest.raises(ValidationFailed) as caught, db.transaction() as session:
        create_channel(session, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert _counts(db) == (0, 0)


def test_update_changes_name_active_and_buffer(db: Database) -> None:
    channel_id = _channel(db)
    before = _snapshot(db, channel_id)
    with db.transaction() as session:
        update_channel(
            session,
            channel_id=channel_id,
            name="Allegro PL",
            active=False,
            buffer_percent_shown=75,
            buffer_units=3,
            currency="pln",
        )
    assert _snapshot(db, channel_id) == {
        **before,
        "name": "Allegro PL",
        "active": False,
        "buffer_percent_shown": 75,
        "buffer_units": 3,
    }


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"currency": "EUR"}, Conflict, "currency"),
        ({"currency": "XXQ"}, ValidationFailed, "currency"),
        ({"buffer_percent_shown": 101}, ValidationFailed, "buffer_percent_shown"),
        ({"buffer_units": -1}, ValidationFailed, "buffer_units"),
        ({"name": " "}, ValidationFailed, "name"),
    ],
)
def test_rejected_update_changes_nothing(
    db: Database, changes: dict[str, object], error: type[Exception], field: str
) -> None:
    channel_id = _channel(db)
    before = _snapshot(db, channel_id)
    with pytest.raises(error) as caught, db.transaction() as session:
        update_channel(session, channel_id=channel_id, **{"name": "Changed", **changes})  # type: ignore[arg-type]
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert _snapshot(db, channel_id) == before


def test_unknown_channel_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as caught, db.reading() as session:
        get_channel(session, channel_id=404)
    assert caught.value.field == "channel_id"


def test_set_channel_locations_replaces_both_sets(db: Database) -> None:
    channel_id = _channel(db)
    warehouse = _location(db, "wro")
    store = _location(db, "krk", kind="store", pickup=True, ship_from_store=True)
    third = _location(db, "3pl", kind="3pl")
    with db.transaction() as session:
        view = set_channel_locations(
            session,
            channel_id=channel_id,
            ship_location_ids=[store, warehouse, store],
            pickup_location_ids=[store],
        )
    assert (view.ship_location_ids, view.pickup_location_ids) == ((warehouse, store), (store,))
    with db.transaction() as session:
        view = set_channel_locations(
            session, channel_id=channel_id, ship_location_ids=[third], pickup_location_ids=[]
        )
    assert (view.ship_location_ids, view.pickup_location_ids) == ((third,), ())
    assert _snapshot(db, channel_id) == asdict(view)
    with db.reading() as session:
        policy = load_channel_policy(session, channel_id=channel_id)
    assert (policy.ship_locations, policy.pickup_locations) == ((third,), ())


@pytest.mark.parametrize(
    ("ship", "pickup", "error", "field"),
    [
        (["wro", "nope"], [], NotFound, "ship_location_ids.1"),
        ([], ["wro"], Conflict, "pickup_location_ids.0"),
        (["shelf-only"], [], Conflict, "ship_location_ids.0"),
        (["no-ship"], [], Conflict, "ship_location_ids.0"),
        (["wro"], ["closed"], Conflict, "pickup_location_ids.0"),
    ],
)
def test_locations_that_cannot_serve_are_rejected_and_nothing_changes(
    db: Database, ship: list[str], pickup: list[str], error: type[Exception], field: str
) -> None:
    channel_id = _channel(db)
    ids = {
        "wro": _location(db, "wro"),
        "shelf-only": _location(db, "shelf-only", kind="store", pickup=True),
        "no-ship": _location(db, "no-ship", ships=False),
        "closed": _location(db, "closed", kind="store", pickup=True, active=False),
        "nope": 9999,
    }
    with db.transaction() as session:
        set_channel_locations(
            session, channel_id=channel_id, ship_location_ids=[ids["wro"]], pickup_location_ids=[]
        )
    before = _snapshot(db, channel_id)
    with pytest.raises(error) as caught, db.transaction() as session:
        set_channel_locations(
            session,
            channel_id=channel_id,
            ship_location_ids=[ids[c] for c in ship],
            pickup_location_ids=[ids[c] for c in pickup],
        )
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert _snapshot(db, channel_id) == before
    assert _counts(db) == (1, 1)


def test_deactivated_location_drops_out_of_the_policy(db: Database) -> None:
    channel_id = _channel(db)
    warehouse = _location(db, "wro")
    with db.transaction() as session:
        set_channel_locations(
            session, channel_id=channel_id, ship_location_ids=[warehouse], pickup_location_ids=[]
        )
        update_location(session, location_id=warehouse, active=False)
    with db.reading() as session:
        assert load_channel_policy(session, channel_id=channel_id).ship_locations == ()


def test_list_channels_walks_by_id(db: Database) -> None:
    ids = [_channel(db, code=f"c{n}") for n in range(5)]
    seen: list[int] = []
    after_id = 0
    with db.reading() as session:
        while page := list_channels(session, after_id=after_id, limit=2):
            seen.extend(v.id for v in page)
            after_id = page[-1].id
    assert seen == ids


def test_a_channel_key_sees_and_changes_only_its_own_channel(db: Database) -> None:
    own, other = _channel(db, "allegro"), _channel(db, "amazon")
    key = _channel_key(own)
    with db.reading() as session:
        assert [v.id for v in list_channels(session, principal=key)] == [own]
        assert list_channels(session, after_id=own, principal=key) == []
        assert get_channel(session, channel_id=own, principal=key).id == own
        with pytest.raises(Forbidden) as caught:
            get_channel(session, channel_id=other, principal=key)
        assert caught.value.field == "channel_id"
    before = _snapshot(db, other)
    with pytest.raises(Forbidden), db.transaction() as session:
        update_channel(session, channel_id=other, name="Mine now", principal=key)
    with pytest.raises(Forbidden), db.transaction() as session:
        create_channel(session, code="new", name="New", kind="web", currency="EUR", principal=key)
    assert _snapshot(db, other) == before
    assert _counts(db) == (2, 0)
