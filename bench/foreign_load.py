"""Load on another database of the same PostgreSQL server, which Omnicart's feeds must
not wait for: a scratch database with one transaction held open (it wrote a row, so it
has a transaction id) while a thread keeps committing writes there.

    .venv/bin/python bench/foreign_load.py --seconds 900   # beside `CI=true make test`

The database (`omnicart_foreign_<random>`) is dropped when time is up or on Ctrl-C /
SIGTERM. Tests use `ForeignLoad` as a context manager.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import uuid
from types import FrameType, TracebackType

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = os.environ.get(
    "OMNICART_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class ForeignLoad:
    """A scratch database on the server of `url`, busy while the context is open."""

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.name = f"omnicart_foreign_{uuid.uuid4().hex[:12]}"
        self._server = create_engine(url, isolation_level="AUTOCOMMIT")
        self._url = make_url(url).set(database=self.name)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="foreign-load", daemon=True)
        self.failure: BaseException | None = None
        self.held_xid = 0  # the long transaction's id, once it has one
        self.writes = 0  # transactions committed there so far

    def __enter__(self) -> ForeignLoad:
        with self._server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self._engine: Engine = create_engine(self._url, pool_size=2)
        self._thread.start()
        if not self._ready.wait(30) or self.failure is not None:
            raise RuntimeError(f"the load on {self.name} did not start") from self.failure

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        if hasattr(self, "_engine"):
            self._engine.dispose()
        with self._server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._server.dispose()

    @property
    def running(self) -> bool:
        """Whether the load is still being applied."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            with self._engine.connect() as setup:
                setup.execute(text("CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz)"))
                setup.commit()
            with self._engine.connect() as held:
                # The long transaction: it wrote, so it has an id, and it never ends.
                held.execute(text("INSERT INTO load (at) VALUES (now())"))
                self.held_xid = int(held.scalar(text("SELECT pg_current_xact_id()::text")) or 0)
                self._ready.set()
                while not self._stop.is_set():
                    with self._engine.begin() as short:
                        short.execute(text("INSERT INTO load (at) VALUES (now())"))
                        time.sleep(0.005)  # keep a short transaction running most of the time
                    self.writes += 1
                    if self.writes % 100 == 0:
                        held.execute(text("INSERT INTO load (at) VALUES (now())"))
                held.rollback()
        except BaseException as exc:  # reported by __enter__, or ends the load early
            self.failure = exc
            self._ready.set()


def main() -> None:
    """Hold the load for --seconds (or until Ctrl-C / SIGTERM), then drop the database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    load = ForeignLoad(args.url)
    with load:
        print(f"{load.name}: transaction {load.held_xid} held open, writing", flush=True)
        try:
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline and load.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        if load.failure is not None:
            print(f"the load stopped early: {load.failure!r}", flush=True)
    print(f"{load.name}: {load.writes} transactions committed; dropped", flush=True)


if __name__ == "__main__":
    main()
