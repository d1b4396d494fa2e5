"""Engines and transactions: SQLite serialises writers, PostgreSQL uses row locks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from omnicart.db.cache import CACHE, ProcessCache

READ_ONLY = "omnicart_read_only"


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        # Deleted and overwritten values are zeroed, not left in free pages: an erasure
        # must not leave a person's data readable in the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads stock and
        # then writes it can never interleave with another writer. Read-only work begins
        # deferred, so with WAL it reads a snapshot without queueing behind writers.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 20, schema: str | None = None) -> Engine:
    """An engine for the URL; making one creates nothing (`migrate.upgrade` does).

    `schema` (PostgreSQL only) puts every table in that schema via the search path,
    which is how tests and benchmarks stay out of each other's way.
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        _prepare_sqlite(engine)
        return engine
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    # Many-row INSERTs as one multi-VALUES statement: psycopg's executemany would enter
    # pipeline mode for each batch, costing extra round trips on the hottest paths.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


# Read helpers shared by capabilities accept either a session or a bare connection.
Executor = Session | Connection


class Database:
    """An engine plus a session factory; each use case runs in `transaction()`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Rows every request reads (API keys, channel setups): kept while the app runs.
        self.cache = ProcessCache(engine)
        self.sessions = sessionmaker(
            engine, expire_on_commit=False, autoflush=False, info={CACHE: self.cache}
        )
        reads = engine.execution_options(**{READ_ONLY: True})
        if engine.dialect.name == "postgresql":
            # Each query its own statement-level transaction: no BEGIN and ROLLBACK round
            # trips around a lookup. Under READ COMMITTED every statement of a reading
            # session already saw its own snapshot, so nothing a reader sees changes.
            reads = reads.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = sessionmaker(
            reads, expire_on_commit=False, autoflush=False, info={CACHE: self.cache}
        )

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 20, schema: str | None = None) -> Database:
        """A database for a SQLAlchemy URL."""
        return cls(make_engine(url, pool_size=pool_size, schema=schema))

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One unit of work on a bare connection (hot paths that need no ORM objects)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed (nor may it write)."""
        with self._read_sessions() as session:
            try:
                yield session
            finally:
                # Detach first so objects read here stay usable after the rollback.
                session.expunge_all()
                session.rollback()

    def dispose(self) -> None:
        """Stop the cache's listener and close every pooled connection."""
        self.cache.stop()
        self.engine.dispose()
