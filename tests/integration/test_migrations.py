"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from omnicart.db.engine import Database
from omnicart.db.migrate import downgrade, upgrade
from omnicart.db.registry import metadata


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
