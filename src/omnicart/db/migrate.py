"""Run Alembic migrations programmatically (CLI, tests, demo), and check that a database
is reachable and at this version's schema before a command uses it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from omnicart.db.engine import Database

UPGRADE = "run `omnicart db upgrade`"
BACKENDS = ("sqlite", "postgresql")


class DatabaseNotReady(Exception):
    """The database cannot be used as it is; the message names the problem and the fix."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "omnicart:migrations")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The schema revision this version of Omnicart works with."""
    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision` (idempotent); a SQLite file's
    folder is made here, the one place a database is created."""
    _make_sqlite_folder(engine.url)
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the database behind `engine` back to `revision`."""
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def open_current(url: str) -> Database:
    """The database at `url`, checked to be reachable and at this version's schema.

    Nothing is created: a SQLite file that does not exist is reported, not made.
    Raises DatabaseNotReady with one line naming the problem and the fix.
    """
    parsed = _parse(url)
    file = _sqlite_file(parsed)
    if file is not None and not file.exists():
        raise DatabaseNotReady(f"there is no database at {file}; {UPGRADE} to create it")
    db = _database(url, parsed)
    try:
        _check_revision(db, parsed)
    except BaseException:
        db.dispose()
        raise
    return db


def open_upgraded(url: str) -> Database:
    """The database at `url`, created or migrated to this version's schema first."""
    parsed = _parse(url)
    db = _database(url, parsed)
    try:
        upgrade(db.engine)
    except SQLAlchemyError as exc:
        db.dispose()
        raise _unreachable(parsed, exc) from None
    except BaseException:
        db.dispose()
        raise
    return db


def check_reachable(url: str) -> None:
    """Connect once to the database at `url` (which need not hold Omnicart's schema, as
    for the benchmarks, which make their own); DatabaseNotReady if that fails."""
    parsed = _parse(url)
    db = _database(url, parsed)
    try:
        with db.engine.connect():
            pass
    except SQLAlchemyError as exc:
        raise _unreachable(parsed, exc) from None
    finally:
        db.dispose()


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseNotReady(
            f"{url!r} is not a database URL; use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/name (OMNICART_DATABASE_URL or --database-url)"
        ) from None
    if parsed.get_backend_name() not in BACKENDS:
        raise DatabaseNotReady(
            f"{_shown(parsed)} is not a SQLite or PostgreSQL URL, the databases Omnicart "
            "runs on (OMNICART_DATABASE_URL or --database-url)"
        )
    return parsed


def _database(url: str, parsed: URL) -> Database:
    try:
        return Database.from_url(url)
    except (ArgumentError, ImportError) as exc:  # e.g. a driver that is not installed
        raise DatabaseNotReady(
            f"cannot use {_shown(parsed)}: {_first_line(exc)}; for PostgreSQL write "
            "postgresql+psycopg://…"
        ) from None


def _check_revision(db: Database, parsed: URL) -> None:
    try:
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except SQLAlchemyError as exc:
        raise _unreachable(parsed, exc) from None
    head = head_revision()
    if current == (head,):
        return
    where = _shown(parsed)
    if not current:
        raise DatabaseNotReady(f"the database at {where} has no Omnicart schema; {UPGRADE}")
    known = ScriptDirectory.from_config(alembic_config())
    if all(_known(known, revision) for revision in current):
        raise DatabaseNotReady(
            f"the database at {where} has schema {', '.join(current)}, this Omnicart needs "
            f"{head}; {UPGRADE}"
        )
    raise DatabaseNotReady(
        f"the database at {where} has schema {', '.join(current)}, newer than this Omnicart "
        f"knows ({head}); upgrade Omnicart to use it"
    )


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def _unreachable(parsed: URL, exc: SQLAlchemyError) -> DatabaseNotReady:
    reason = _first_line(getattr(exc, "orig", None) or exc)
    return DatabaseNotReady(
        f"cannot connect to the database at {_shown(parsed)}: {reason}; check "
        f"OMNICART_DATABASE_URL (or --database-url), then {UPGRADE}"
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__


def _shown(parsed: URL) -> str:
    """The URL without its password."""
    return parsed.render_as_string(hide_password=True)


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)


def _make_sqlite_folder(url: URL) -> None:
    file = _sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
