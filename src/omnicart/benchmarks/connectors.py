"""`omnicart bench connectors`: vendors' webhooks into the real server while stock
moves, and how soon every vendor holds the new figures.

The world (`connectors_world`): one store serving five channels over a fresh PostgreSQL
database (the run's own, made and dropped on the server of the URL given); Shopify,
WooCommerce, BigCommerce and Square simulators on loopback, each the connector of a
channel, their catalogs mapped by SKU. The server is `uvicorn
omnicart.app:create_app` with two worker processes and, as in production, one `omnicart
worker` process doing the background work (`background="inline"`: the web workers do it).

For a fixed time, open loop (`connectors_clients`):
- the vendors post webhooks at `webhooks` a second together: new orders, a tenth of them
  sent again with the same delivery id, a tenth updates of earlier orders. An ack is the
  time from sending a delivery to its 2xx;
- shoppers' checkouts on Omnicart's own web shop hold one unit at a time at `rate` a
  second (the stock changes: `reserve_stock`, the function the API calls, in a process of
  their own), of SKUs nothing else sells, so the figure every vendor should hold after
  each is known. The lag of a change is from its commit to the moment a vendor simulator
  took that figure or a newer (lower) one; one per vendor per change.

Afterwards the inbox is drained, and: every acknowledged delivery must be one processed
inbox row and its order exactly one order (`processed_lost`, `duplicated`); no vendor may
ever have been sent a figure above one it had already taken (`stale_pushes`: nothing puts
stock back, so a higher one is older); and every vendor must end holding exactly what
Omnicart says its channel may sell (`final_mismatches`).

The baseline, in the same run before it: the same webhooks on the same schedule to a bare
ASGI endpoint (`connectors_bare`) storing each raw body with one INSERT into a copy of the
inbox table, served the same way, with no stock changes and no background work beside it.

The machine's load average before and after the run is in the figures (`load_average`):
on a shared machine, what else ran shows there.
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from omnicart.benchmarks.common import percentile, require_postgres, scratch_schema
from omnicart.benchmarks.connectors_bare import BARE_TABLE
from omnicart.benchmarks.connectors_clients import (
    ChangeJob,
    Hook,
    SendJob,
    change_process,
    ready,
    send_process,
)
from omnicart.benchmarks.connectors_world import (
    STOCK,
    Merchant,
    Taken,
    Vendor,
    connect,
    hooks,
    moving_sku,
    order_sku,
    seed,
    vendors,
    webhook_path,
)
from omnicart.benchmarks.ingest import free_port, server_env, start_worker, stop_server
from omnicart.benchmarks.orders import server_url
from omnicart.connectors import push
from omnicart.connectors.simulators.bigcommerce import DATA
from omnicart.connectors.tables import Connector, InboxDelivery
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.orders.tables import Order
from omnicart.settings import get_settings

WARM_UP = 10  # deliveries per connector before the clock starts
WARM_UP_AT_ONCE = 8
START_LEAD_S = 0.5  # the clients are up: time to hand them their jobs
START_LIMIT_S = 180.0
BARE_APP = "omnicart.benchmarks.connectors_bare:create_app"
STALL_S = 60.0  # the drain gives up once nothing has moved for this long


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    url: str
    # 600 deliveries at the default rate: the ack's p99 is then the 6th slowest, not the
    # 2nd slowest of 200 (one hiccup of the machine's disk or scheduler).
    seconds: float = 60.0
    rate: float = 100.0  # stock changes (holds of one unit) a second
    webhooks: float = 10.0  # deliveries a second, the four vendors together
    workers: int = 2  # uvicorn worker processes
    background: str = "worker"  # "worker": one `omnicart worker`; "inline": in the server
    moving_skus: int = 200  # SKUs the stock changes touch
    order_skus: int = 100  # SKUs the vendors' orders sell
    sender_threads: int = 2  # connections per vendor
    change_threads: int = 4
    seed: int = 7


@dataclass
class _World:
    schema: str
    db: Database
    config: BenchConfig
    env: dict[str, str]
    vendors: list[Vendor]
    connectors: dict[str, int]  # vendor -> connector id
    merchant: Merchant
    moving: list[str]
    ordered: list[str]


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict."""
    require_postgres(config.url)
    if config.background not in ("worker", "inline"):
        raise ValueError(f"background is worker or inline, not {config.background!r}")
    if not DATA.is_dir():
        raise SystemExit(f"this benchmark needs the vendors' published payloads at {DATA}")
    moving = [moving_sku(n) for n in range(config.moving_skus)]
    ordered = [order_sku(n) for n in range(config.order_skus)]
    sims = vendors()
    # The machine may be shared: what else ran is part of the figures.
    load_before = _load_average()
    # A database of this run's own, as a shop has: the stock feed waits for every running
    # transaction of its database (omnicart.db.feed), so another user's transaction left
    # open in a shared one would hold every figure back. A schema in it, as every run has.
    schema = f"bench_connectors_{os.getpid()}"
    with (
        _scratch_database(config.url) as url,
        scratch_schema(url, schema),
        tempfile.TemporaryDirectory(prefix="omnicart-bench-connectors-") as tmp,
        _serving(sims),
    ):
        config = replace(config, url=url)
        db = Database.from_url(config.url, schema=schema, pool_size=4)
        try:
            upgrade(db.engine)
            merchant = seed(db, skus=[*moving, *ordered])
            port = free_port()
            connectors = {
                vendor.name: connect(
                    db,
                    vendor,
                    channel_id=merchant.channels[vendor.name],
                    webhook_base=f"http://127.0.0.1:{port}",
                    skus=[*moving, *ordered],
                )
                for vendor in sims
            }
            env = _env(config, schema, Path(tmp))
            world = _World(schema, db, config, env, sims, connectors, merchant, moving, ordered)
            bare = _baseline(world)
            measured = _measure(world, port=port, workdir=Path(tmp))
        finally:
            db.dispose()
    report = _report(config, measured, bare)
    report["load_average"] = {"before": load_before, "after": _load_average()}
    return report


@contextlib.contextmanager
def _scratch_database(url: str) -> Iterator[str]:
    """A database of its own on the server of `url` for the block; its URL."""
    name = f"omnicart_bench_connectors_{os.getpid()}"
    server = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def _load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes ([] where there is none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


@contextlib.contextmanager
def _serving(sims: Sequence[Vendor]) -> Iterator[None]:
    """The simulators serving on loopback for the duration of the block."""
    started: list[Vendor] = []
    try:
        for vendor in sims:
            vendor.start()
            started.append(vendor)
        yield
    finally:
        for vendor in started:
            vendor.stop()


def _env(config: BenchConfig, schema: str, workdir: Path) -> dict[str, str]:
    env = server_env(
        database_url=server_url(config.url, schema), events_path=workdir / "events.duckdb"
    )
    env["OMNICART_BACKGROUND"] = config.background
    # The credentials were sealed here: the server and the worker open them with the same key.
    key = get_settings().connector_key
    if key:
        env["OMNICART_CONNECTOR_KEY"] = key
    return env


def _hooks(world: _World) -> dict[str, tuple[Hook, ...]]:
    """Each vendor's deliveries for one run (signed now: BigCommerce's expire)."""
    config = world.config
    count = math.ceil(config.webhooks / len(world.vendors) * config.seconds) + 1
    return {
        vendor.name: tuple(
            hooks(
                vendor,
                connector_id=world.connectors[vendor.name],
                count=count,
                skus=world.ordered,
                seed=config.seed * 100 + number,
            )
        )
        for number, vendor in enumerate(world.vendors)
    }


def _send_job(
    world: _World, made: dict[str, tuple[Hook, ...]], port: int, start_at: float
) -> SendJob:
    config = world.config
    return SendJob(
        port=port,
        hooks=made,
        rate=config.webhooks / len(world.vendors),
        threads=config.sender_threads,
        start_at=start_at,
        seconds=config.seconds,
    )


def _clients(
    count: int, jobs_from: Callable[[float], Sequence[SendJob | ChangeJob]]
) -> tuple[float, list[dict[str, Any]]]:
    """Run `count` jobs, each in a process of its own (spawned: the simulators' threads
    run here), all started before the clock does: (when they start, time.time(); results)."""
    with ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn")) as pool:
        list(pool.map(ready, [0.2] * count))
        start_at = time.time() + START_LEAD_S
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(send_process, job)
            if isinstance(job, SendJob)
            else pool.submit(change_process, job)
            for job in jobs_from(start_at)
        ]
        return start_at, [future.result() for future in futures]


# --- the baseline: the same webhooks into a bare INSERT ----------------------------------


def _baseline(world: _World) -> dict[str, Any]:
    """The same webhooks, on the same schedule, into the bare endpoint; its ack times."""
    with world.db.transaction() as session:
        inbox = InboxDelivery.__tablename__
        session.execute(text(f'CREATE TABLE "{BARE_TABLE}" (LIKE "{inbox}" INCLUDING ALL)'))
    port = free_port()
    server = _serve(BARE_APP, port=port, env=world.env, workers=world.config.workers)
    try:
        _poke(port, [webhook_path(0)] * WARM_UP)
        with world.db.transaction() as session:
            session.execute(text(f'DELETE FROM "{BARE_TABLE}"'))  # noqa: S608
        made = _hooks(world)
        start_at, (sent,) = _clients(1, lambda start_at: [_send_job(world, made, port, start_at)])
    finally:
        stop_server(server)
    with world.db.reading() as session:
        stored = int(session.scalar(text(f'SELECT count(*) FROM "{BARE_TABLE}"')) or 0)  # noqa: S608
    latencies = sorted(x for per_vendor in sent["latencies"].values() for x in per_vendor)
    elapsed = max(world.config.seconds, sent["last_sent"] - start_at)
    return {
        "acked": len(latencies),
        "per_s": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "failed": sent["failed"],
        "stored": stored,
        "errors": sent["errors"],
    }


def _serve(app: str, *, port: int, env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    """uvicorn serving the app factory `app` in its own process group; waits until it
    answers (up to START_LIMIT_S: on a busy machine two workers take a while to start)."""
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
        [
            sys.executable,
            *("-m", "uvicorn", app, "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--no-access-log", "--log-level", "warning"),
        ],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{app} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"{app} did not answer within {START_LIMIT_S:.0f} s")


# --- the run ----------------------------------------------------------------------------


def _warm_up(port: int, world: _World) -> None:
    """Deliveries refused before anything is stored (no signature), so the first
    measured ones are not the server's first."""
    _poke(port, [webhook_path(connector) for connector in world.connectors.values()] * WARM_UP)


def _poke(port: int, paths: Sequence[str]) -> None:
    """POST `{}` to each path, each on a new connection, several at once: requests in
    flight together are taken by different server processes, so every one gets some."""

    def post(path: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=b"{}")
            conn.getresponse().read()
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=WARM_UP_AT_ONCE) as pool:
        list(pool.map(post, paths))


def _measure(world: _World, *, port: int, workdir: Path) -> dict[str, Any]:
    """Omnicart's server and worker, its first figures sent; the webhooks and the stock
    changes; the drain; what every client, the database and the simulators saw."""
    config = world.config
    log = workdir / "worker.log"
    worker = start_worker(world.env, log) if config.background == "worker" else None
    server: subprocess.Popen[bytes] | None = None

    def alive() -> None:
        if worker is not None and worker.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the worker exited with {worker.returncode}: {tail}")

    try:
        server = _serve("omnicart.app:create_app", port=port, env=world.env, workers=config.workers)
        skus = [*world.moving, *world.ordered]
        # The worker starts, takes its lease and sends every first figure.
        _, mismatches = _settle(world, skus=skus, alive=alive, stall_s=START_LIMIT_S)
        if mismatches:
            raise RuntimeError(f"the vendors did not get their first figures: {mismatches} off")
        _warm_up(port, world)
        made = _hooks(world)

        def jobs(start_at: float) -> list[SendJob | ChangeJob]:
            changes = ChangeJob(
                url=config.url,
                schema=world.schema,
                channel_id=world.merchant.own_channel,
                skus=tuple(world.moving),
                stock=STOCK,
                rate=config.rate,
                threads=config.change_threads,
                start_at=start_at,
                seconds=config.seconds,
            )
            return [_send_job(world, made, port, start_at), changes]

        start_at, (sent, moved) = _clients(2, jobs)
        load_ended = max(sent["finished"], moved["finished"])
        backlog = _pending_deliveries(world.db)
        drained_at, mismatches = _settle(world, skus=skus, alive=alive)
    finally:
        if server is not None:
            stop_server(server)
        if worker is not None:
            stop_server(worker)
    taken = {vendor.name: sorted(vendor.taken()) for vendor in world.vendors}
    return {
        "sent": sent,
        "moved": moved,
        "start_at": start_at,
        "load_ended": load_ended,
        "backlog": backlog,
        "drain_s": drained_at - load_ended,
        "mismatches": mismatches,
        "deliveries": _deliveries(world, sent["acked"]),
        "lags": sync_lags(moved["changes"], taken, end=time.monotonic()),
        "stale": {name: stale_figures(sets) for name, sets in taken.items()},
        "taken": sum(len(sets) for sets in taken.values()),
    }


def _pending_deliveries(db: Database) -> int:
    with db.reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(InboxDelivery)
                .where(InboxDelivery.status == "pending")
            )
            or 0
        )


def _settle(
    world: _World, *, skus: Sequence[str], alive: Callable[[], None], stall_s: float = STALL_S
) -> tuple[float, int]:
    """Wait until nothing is pending and every vendor holds Omnicart's figure of every SKU,
    for as long as the backlog keeps shrinking: (when, time.time(); figures still off)."""
    backlog, moved_at = -1, time.monotonic()
    while True:
        alive()
        pending = _pending_deliveries(world.db) + push.pending(world.db)
        off = _mismatches(world, skus) if not pending else -1
        if pending == 0 and off == 0:
            return time.time(), 0
        if pending != backlog:
            backlog, moved_at = pending, time.monotonic()
        elif time.monotonic() - moved_at > stall_s:
            return time.time(), off if off >= 0 else _mismatches(world, skus)
        time.sleep(0.2)


def _mismatches(world: _World, skus: Sequence[str]) -> int:
    """Figures a vendor holds that are not what Omnicart says its channel may sell."""
    off = 0
    with world.db.reading() as session:
        for vendor in world.vendors:
            connector = session.get_one(Connector, world.connectors[vendor.name])
            wanted = push.current_stock(session, connector, skus)
            off += sum(1 for sku in skus if vendor.held(sku) != wanted.get(sku))
    return off


# --- what the figures say ---------------------------------------------------------------


def _deliveries(world: _World, acked: dict[str, list[tuple[str, str, bool]]]) -> dict[str, Any]:
    """Whether every acknowledged delivery became one processed inbox row and its order
    exactly one order; orders stored twice anywhere."""
    with world.db.reading() as session:
        rows = {
            (row.connector_id, row.delivery_id): row
            for row in session.execute(
                select(
                    InboxDelivery.connector_id,
                    InboxDelivery.delivery_id,
                    InboxDelivery.status,
                    InboxDelivery.order_id,
                    InboxDelivery.reason,
                    InboxDelivery.received_at,
                    InboxDelivery.processed_at,
                )
            )
        }
        counts = {
            (channel, external): int(n)
            for channel, external, n in session.execute(
                select(Order.channel_id, Order.external_id, func.count())
                .where(Order.external_id.is_not(None))
                .group_by(Order.channel_id, Order.external_id)
            )
        }
    lost, unprocessed = 0, 0
    reasons: list[str] = []
    expected: set[tuple[int, str]] = set()
    for vendor, got in acked.items():
        connector, channel = world.connectors[vendor], world.merchant.channels[vendor]
        expected.update((channel, external_id) for _, external_id, _ in got)
        for delivery_id in sorted({delivery_id for delivery_id, _, _ in got}):
            row = rows.get((connector, delivery_id))
            if row is not None and row.status == "done" and row.order_id is not None:
                continue
            lost += 1
            if row is not None and row.status != "done":
                unprocessed += 1
                if row.reason and len(reasons) < 3:
                    reasons.append(f"{vendor} {row.status}: {row.reason}")
    missing_orders = sum(1 for key in expected if counts.get(key, 0) == 0)
    done = [r for r in rows.values() if r.status == "done" and r.processed_at is not None]
    span = (
        (max(r.processed_at for r in done) - min(r.received_at for r in done)).total_seconds()
        if done
        else 0.0
    )
    return {
        "processed_lost": lost + missing_orders,
        "unprocessed": unprocessed,
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "orders_expected": len(expected),
        "orders_stored": sum(1 for key in expected if counts.get(key, 0) > 0),
        "processed_per_s": len(done) / span if span > 0 else 0.0,
        "reasons": reasons,
    }


def sync_lags(
    changes: Sequence[tuple[float, str, int]], taken: dict[str, list[Taken]], *, end: float
) -> dict[str, Any]:
    """Per vendor and change, ms from the change to the vendor first holding that figure
    or a lower one; a change never reached counts until `end` (and as unsynced)."""
    lags: dict[str, list[float]] = defaultdict(list)
    unsynced = 0
    for vendor, sets in taken.items():
        # Per SKU: when each figure arrived and the lowest figure held by then (negated,
        # so it only grows and bisects).
        arrivals: dict[str, tuple[list[float], list[int]]] = {}
        for at, sku, figure in sets:
            times, lowest = arrivals.setdefault(sku, ([], []))
            times.append(at)
            lowest.append(max(lowest[-1], -figure) if lowest else -figure)
        for changed, sku, figure in changes:
            times, lowest = arrivals.get(sku, ([], []))
            index = bisect.bisect_left(lowest, -figure)
            if index < len(times):
                lags[vendor].append(max(0.0, times[index] - changed) * 1000)
            else:
                unsynced += 1
                lags[vendor].append((end - changed) * 1000)
    return {"by_vendor": dict(lags), "unsynced": unsynced}


def stale_figures(sets: Sequence[Taken]) -> int:
    """Figures above one the vendor had already taken of the same SKU (figures only go
    down during a run, so a higher one is older)."""
    lowest: dict[str, int] = {}
    stale = 0
    for _, sku, figure in sets:
        if sku in lowest and figure > lowest[sku]:
            stale += 1
        lowest[sku] = min(figure, lowest.get(sku, figure))
    return stale


def _report(config: BenchConfig, measured: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    sent, moved, deliveries = measured["sent"], measured["moved"], measured["deliveries"]
    # The schedule's length, or longer when a client could not keep it.
    last = max(sent["last_sent"], moved["last_sent"])
    elapsed = max(config.seconds, last - measured["start_at"])
    acks = sorted(x for per_vendor in sent["latencies"].values() for x in per_vendor)
    lags_by_vendor = measured["lags"]["by_vendor"]
    lags = sorted(x for per_vendor in lags_by_vendor.values() for x in per_vendor)
    changes = sorted(moved["latencies"])
    ack_p99 = percentile(acks, 0.99)

    def per_s(count: int) -> float:
        return round(count / elapsed, 1) if elapsed > 0 else 0.0

    return {
        "bench": "connectors",
        "database": "postgresql",
        "background": config.background,
        "stock_change": "a one-unit hold (reserve_stock) on Omnicart's own web shop",
        "deliveries_per_s": per_s(len(acks)),
        "ack_p50_ms": round(percentile(acks, 0.50), 2),
        "ack_p99_ms": round(ack_p99, 2),
        "processed_lost": deliveries["processed_lost"],
        "duplicated": deliveries["duplicated"],
        "stock_sync_lag_p50_ms": round(percentile(lags, 0.50), 1),
        "stock_sync_lag_p99_ms": round(percentile(lags, 0.99), 1),
        "stale_pushes": sum(measured["stale"].values()),
        "ack_ratio_to_bare_insert": round(ack_p99 / bare["p99"], 2) if bare["p99"] else 0.0,
        "bare_insert_ack_p50_ms": round(bare["p50"], 2),
        "bare_insert_ack_p99_ms": round(bare["p99"], 2),
        "bare_insert_deliveries_per_s": round(bare["per_s"], 1),
        "bare_insert_rows": bare["stored"],
        "final_mismatches": measured["mismatches"],
        "unsynced_changes": measured["lags"]["unsynced"],
        "stock_changes": len(changes),
        "stock_changes_per_s": per_s(len(changes)),
        "stock_changes_offered_per_s": config.rate,
        "deliveries_offered_per_s": config.webhooks,
        "deliveries_acked": len(acks),
        "deliveries_failed": sent["failed"] + bare["failed"],
        "redeliveries_acked": sum(
            1 for got in sent["acked"].values() for *_, repeat in got if repeat
        ),
        "orders_expected": deliveries["orders_expected"],
        "orders_stored": deliveries["orders_stored"],
        "unprocessed": deliveries["unprocessed"],
        "processed_per_s": round(deliveries["processed_per_s"], 1),
        "inbox_backlog_at_load_end": measured["backlog"],
        "drain_after_load_s": round(measured["drain_s"], 2),
        "lag_samples": len(lags),
        "lag_p99_ms_by_vendor": {
            vendor: round(percentile(sorted(values), 0.99), 1)
            for vendor, values in sorted(lags_by_vendor.items())
        },
        "ack_p99_ms_by_vendor": {
            vendor: round(percentile(sorted(values), 0.99), 1)
            for vendor, values in sorted(sent["latencies"].items())
        },
        "stock_change_p99_ms": round(percentile(changes, 0.99), 2),
        "stock_changes_failed": moved["failed"],
        "figures_pushed": measured["taken"],
        "errors": [*sent["errors"], *moved["errors"], *bare["errors"], *deliveries["reasons"]][:5],
        "seconds": round(elapsed, 2),
        "server_workers": config.workers,
    }
