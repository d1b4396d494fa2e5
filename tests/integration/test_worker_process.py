"""`omnicart worker` killed mid-round: another takes over once the lease lapses, and every
order is linked, earns its points and reaches the event store exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select, text

from omnicart.customers.tables import CustomerOrderLink
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.loyalty.tables import LoyaltyEntry
from omnicart.worker.lease import holder_of
from omnicart.worker.runner import LEASE_NAME
from tests.loyalty_support import market_buy, with_rules
from tests.orders_support import seed_shop

pytestmark = pytest.mark.slow
ORDERS = 60


def _url(db: Database) -> str:
    url = db.engine.url
    if db.dialect == "sqlite":
        return f"sqlite:///{url.database}"
    with db.reading() as session:
        schema = session.execute(text("SHOW search_path")).scalar_one()
    rendered = url.render_as_string(hide_password=False)
    return f"{rendered}?options=-csearch_path%3D{schema}"


def _count(db: Database, statement: object) -> int:
    with db.reading() as session:
        return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


class Workers:
    """`omnicart worker` processes over one database and event store."""

    def __init__(self, db: Database, events: Path) -> None:
        self.env = {
            **os.environ,
            "OMNICART_DATABASE_URL": _url(db),
            "OMNICART_EVENTS_PATH": str(events),
            "OMNICART_EXPIRY_SWEEP_SECONDS": "0.1",
            "OMNICART_WORKER_LEASE_SECONDS": "2",
        }
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "-m", "omnicart", "worker"],
            env=self.env,
        )
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.started:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def workers(db: Database, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(db, tmp_path / "events.duckdb")
    try:
        yield running
    finally:
        running.stop_all()


def _wait(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_a_killed_worker_is_replaced_and_nothing_is_lost_or_done_twice(
    db: Database, workers: Workers, tmp_path: Path
) -> None:
    shop = seed_shop(db, stock={"A": (ORDERS, 0, 0)})
    with_rules(db, shop)
    for n in range(ORDERS):
        market_buy(db, shop, f"M-{n}", 1, email=f"buyer{n}@poczta.pl")
    links = select(func.count()).select_from(CustomerOrderLink)
    earned = select(func.count()).select_from(LoyaltyEntry).where(LoyaltyEntry.kind == "earn")
    points = select(func.coalesce(func.sum(LoyaltyEntry.points), 0))

    first = workers.start()
    _wait(lambda: _count(db, links) > 0, timeout=60, what="the first worker to start")
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = (_count(db, links), _count(db, earned))
    lease = holder_of(db, LEASE_NAME)
    assert lease is not None

    # Two replacements at once: one takes the lapsed lease, the other stands by.
    workers.start()
    workers.start()
    _wait(
        lambda: _count(db, links) == ORDERS and _count(db, earned) == ORDERS,
        timeout=90,
        what="every order linked and rewarded",
    )
    taken = holder_of(db, LEASE_NAME)
    assert taken is not None
    assert taken.epoch > lease.epoch
    assert taken.holder != lease.holder
    workers.stop_all()

    assert killed_at[0] < ORDERS or killed_at[1] < ORDERS  # it was killed with work left
    # Marketplace: 2 points per EUR of 19.99, once per order.
    assert _count(db, points) == ORDERS * int(Decimal("19.99") * 2)
    # The order book's events reach the event store (stock events are passed over).
    outboxed = _count(
        db, select(func.count()).select_from(OutboxEvent).where(OutboxEvent.aggregate == "order")
    )
    with duckdb.connect(str(tmp_path / "events.duckdb"), read_only=True) as store:
        stored, distinct = store.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM events WHERE source_id = 0"
        ).fetchone() or (0, 0)
    assert stored == distinct == outboxed


def test_serve_keeps_one_worker_running_beside_the_web_workers(sqlite_db: Database) -> None:
    from omnicart.worker.supervise import Supervisor

    env = Workers(sqlite_db, Path(str(sqlite_db.engine.url.database)).with_suffix(".duckdb")).env
    supervisor = Supervisor(env, restart_after_s=0.1)
    supervisor.start()
    try:
        _wait(lambda: holder_of(sqlite_db, LEASE_NAME) is not None, timeout=60, what="a leader")
        first = holder_of(sqlite_db, LEASE_NAME)
        pid = supervisor.pid
        assert first is not None
        assert pid is not None
        assert first.holder.split(":")[1] == str(pid)
        # The rounds yield the CPU to requests: the worker runs nicer than the web workers.
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == max(own, 10)
        os.kill(pid, signal.SIGKILL)
        # Started again, it takes the lease over once the killed one's has lapsed.
        _wait(
            lambda: (
                (lease := holder_of(sqlite_db, LEASE_NAME)) is not None
                and lease.epoch > first.epoch
            ),
            timeout=60,
            what="the restarted worker to lead",
        )
        assert supervisor.restarts == 1
    finally:
        supervisor.stop()
    assert supervisor.pid is not None


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("web_workers", [1, 2])
def test_serve_stopped_by_sigterm_stops_its_worker(
    sqlite_db: Database, tmp_path: Path, web_workers: int
) -> None:
    env = Workers(sqlite_db, tmp_path / "events.duckdb").env
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = subprocess.Popen(
        [sys.executable, "-m", "omnicart", "serve", "--port", str(port),
         "--workers", str(web_workers)],
        env=env,
    )  # fmt: skip
    worker: list[int] = []
    try:

        def started() -> bool:
            worker[:] = [
                child
                for child in _children(serve.pid)
                if "worker" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            ]
            return bool(worker)

        _wait(started, timeout=60, what="the worker process")
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
        # Not left behind, adopted by init: stopped with the server.
        _wait(lambda: not _alive(worker[0]), timeout=20, what="the worker to stop")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        for pid in worker:  # never leave one running, whatever failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
