"""One seeded merchant per test module (argon2 makes users slow to create on purpose)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from omnicart.app import create_app
from omnicart.db.engine import Database
from omnicart.settings import Settings
from tests.console.support import World, seed_world


@pytest.fixture(scope="module")
def world_db(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Database, World]]:
    """A migrated SQLite database with the console world, shared by a module's tests."""
    path = tmp_path_factory.mktemp("console") / "omnicart.db"
    shutil.copy(sqlite_template, path)
    db = Database.from_url(f"sqlite:///{path}")
    world = seed_world(db)
    yield db, world
    db.dispose()


@pytest.fixture(scope="module")
def console_app(
    world_db: tuple[Database, World], tmp_path_factory: pytest.TempPathFactory
) -> FastAPI:
    """The app over the module's world, its event store (the analytics pages' model) in a
    folder of its own, never ./var."""
    events = tmp_path_factory.mktemp("console-events") / "events.duckdb"
    settings = Settings(events_path=str(events), events_flusher="process")
    return create_app(db=world_db[0], settings=settings, sweep=False)
