"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from omnicart.auth.service import create_api_key
from omnicart.auth.tables import ApiKey
from omnicart.db.engine import Database
from omnicart.db.migrate import downgrade, upgrade
from omnicart.db.registry import metadata
from tests.support import add_channel, add_location


def test_migrated_schema_matches_models(db: Database) -> None:
    upgrade(db.engine)  # a second run changes nothing
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": db.dialect == "sqlite"}
        )
        assert compare_metadata(context, metadata) == []


def test_downgrade_to_base_and_back(db: Database) -> None:
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(db.engine)
    assert set(metadata.tables) <= set(inspect(db.engine).get_table_names())


def test_keys_made_with_old_defaults_get_the_new_scopes(db: Database) -> None:
    downgrade(db.engine, "0006")
    old_channel = ["catalog:read", "channels:read", "inventory:read", "reservations:write"]
    old_staff = ["catalog:read", "locations:read", "inventory:read", "inventory:write"]
    narrow = ["catalog:read"]
    with db.transaction() as session:
        channel_id = add_channel(session, "web")
        store = add_location(session, "krk", kind="store")
        keys = {
            name: create_api_key(
                session, name=name, role=role, scopes=scopes, channel_id=channel, location_id=loc
            ).id
            for name, role, scopes, channel, loc in [
                ("channel", "channel", old_channel, channel_id, None),
                ("staff", "staff", old_staff, None, store),
                ("narrow", "channel", narrow, channel_id, None),
            ]
        }
    upgrade(db.engine)
    with db.reading() as session:
        scopes = {name: session.get_one(ApiKey, key_id).scopes for name, key_id in keys.items()}
    assert scopes == {
        "channel": [*old_channel, "orders:read", "orders:write"],
        "staff": [*old_staff, "orders:read", "orders:write", "customers:read", "customers:write"],
        "narrow": narrow,
    }
