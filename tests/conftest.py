"""Fixtures: a migrated SQLite file per test, a fresh PostgreSQL schema per test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade

# pytest-xdist's workers set COLUMNS=80 and LINES=24; the CLI reads COLUMNS as "a terminal
# this wide" and would cut its tables there. Tests see the CLI as a pipe does, as when
# the suite runs in one process.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

PG_URL = os.environ.get(
    "OMNICART_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADMIN_SECRET = "oc_test_admin_secret"


def _pg_unreachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {str(exc).splitlines()[0]}"
    return None


_PG_REASON = _pg_unreachable()


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) when PostgreSQL is unreachable."""
    if _PG_REASON is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {_PG_REASON}")
    pytest.skip(_PG_REASON)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database.from_url(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated SQLite database of this test's own."""
    path = tmp_path / "omnicart.db"
    shutil.copy(sqlite_template, path)
    db = Database.from_url(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    migrated = Database.from_url(PG_URL, schema=schema)
    upgrade(migrated.engine)
    migrated.dispose()
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_db(pg_schema: str) -> Iterator[Database]:
    """A Database on this test's own PostgreSQL schema."""
    db = Database.from_url(PG_URL, schema=pg_schema, pool_size=40)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """The test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    database: Database = request.getfixturevalue(name)
    return database


@pytest.fixture
def client(sqlite_db: Database) -> Iterator[TestClient]:
    """An API client over a SQLite database, authenticated as admin."""
    with sqlite_db.transaction() as session:
        create_api_key(session, name="test-admin", role="admin", secret=ADMIN_SECRET)
    app = create_app(db=sqlite_db, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as test_client:
        yield test_client
