"""`omnicart bench inventory`: concurrent reservations on PostgreSQL, against two
baselines on identical data in the same run: the raw conditional stock updates alone
(`raw`), and the same writes as Omnicart's (reservation, lines, guarded updates and
ledger) sent as one statement per request (`same`, see `inventory_raw`).

Each worker is a process with its own connection. A request reserves 3 distinct SKUs
drawn from a Zipf(1.1) distribution over 10,000 SKUs stocked at 5 locations; hot SKUs
sell out during the run, so the oversell check has something to check.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from queue import Empty
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from omnicart.benchmarks import orders_raw
from omnicart.benchmarks.common import (
    Footprint,
    Zipf,
    current_xid,
    oversold_rows,
    percentile,
    require_postgres,
    scratch_schema,
    written_since,
)
from omnicart.benchmarks.inventory_raw import SameWrites
from omnicart.benchmarks.orders_raw import connect
from omnicart.catalog.tables import Listing, Product, Variant
from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.inventory import queries, service
from omnicart.inventory.tables import Movement, Reservation, StockLevel
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import InsufficientStock
from omnicart.locations.tables import Location

CHANNELS = [  # code, kind, percent shown, units held back
    ("web", "web", 100, 0),
    ("app", "app", 100, 0),
    ("allegro", "marketplace", 80, 2),
    ("instagram", "social", 90, 1),
    ("pos", "pos", 100, 0),
]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    url: str
    workers: int = 32
    processes: int = 32  # the workers are spread over this many processes, as threads
    skus: int = 10_000
    locations: int = 5
    lines: int = 3
    zipf_s: float = 1.1
    duration_s: float = 10.0
    stock_per_location: int = 2_000
    seed: int = 42


def seed_merchant(db: Database, config: BenchConfig) -> list[int]:
    """Locations, channels, SKUs and stock (with receipts in the ledger); channel ids."""
    now = utcnow()
    with db.transaction() as session:
        conn = session.connection()
        conn.execute(
            insert(Location),
            [
                {
                    "code": f"loc-{i}",
                    "name": f"Location {i}",
                    "kind": "warehouse" if i else "store",
                    "address_line": "",
                    "city": "",
                    "postal_code": "",
                    "country": "PL",
                    "ships": True,
                    "pickup": i == 0,
                    "ship_from_store": i == 0,
                    "priority": i,
                    "active": True,
                    "created_at": now,
                }
                for i in range(config.locations)
            ],
        )
        location_ids = list(session.scalars(select(Location.id).order_by(Location.priority)))
        conn.execute(
            insert(Channel),
            [
                {
                    "code": code,
                    "name": code.title(),
                    "kind": kind,
                    "currency": "EUR",
                    "buffer_percent_shown": pct,
                    "buffer_units": units,
                    "active": True,
                    "created_at": now,
                }
                for code, kind, pct, units in CHANNELS
            ],
        )
        channel_ids = list(session.scalars(select(Channel.id).order_by(Channel.id)))
        conn.execute(
            insert(ChannelLocation),
            [
                {"channel_id": c, "location_id": loc, "mode": "ship"}
                for c in channel_ids
                for loc in location_ids
            ],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "handle": f"p-{n}",
                    "title": f"Product {n}",
                    "description": "",
                    "attributes": {},
                    "created_at": now,
                }
                for n in range(config.skus)
            ],
        )
        product_ids = list(session.scalars(select(Product.id).order_by(Product.id)))
        # Sales follow listings: every channel lists every product.
        conn.execute(
            insert(Listing),
            [
                {"channel_id": c, "product_id": p, "listed": True}
                for c in channel_ids
                for p in product_ids
            ],
        )
        conn.execute(
            insert(Variant),
            [
                {
                    "product_id": pid,
                    "sku": sku_name(n),
                    "title": "",
                    "attributes": {},
                    "is_bundle": False,
                    "created_at": now,
                }
                for n, pid in enumerate(product_ids)
            ],
        )
        variant_ids = list(session.scalars(select(Variant.id).order_by(Variant.id)))
        rows = [
            {
                "variant_id": v,
                "location_id": loc,
                "on_hand": config.stock_per_location,
                "reserved": 0,
                "allocated": 0,
                "updated_at": now,
            }
            for v in variant_ids
            for loc in location_ids
        ]
        conn.execute(insert(StockLevel), rows)
        conn.execute(
            insert(Movement),
            [
                {
                    "kind": "receipt",
                    "variant_id": r["variant_id"],
                    "location_id": r["location_id"],
                    "delta_on_hand": r["on_hand"],
                    "delta_reserved": 0,
                    "delta_allocated": 0,
                    "reason": "benchmark seed",
                    "actor": "bench",
                    "created_at": now,
                }
                for r in rows
            ],
        )
    return channel_ids


def sku_name(rank: int) -> str:
    """The SKU of a Zipf rank (rank 0 is the hottest)."""
    return f"SKU-{rank:05d}"


def _draw_lines(rng: random.Random, zipf: Zipf, count: int) -> list[tuple[int, int]]:
    ranks: list[int] = []
    while len(ranks) < count:
        rank = zipf.draw(rng)
        if rank not in ranks:
            ranks.append(rank)
    return [(rank, rng.randint(1, 2)) for rank in ranks]


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """What one worker process needs."""

    config: BenchConfig
    schema: str
    kind: str  # "omnicart", "raw" or "same"
    channel_id: int
    worker: int
    location_ids: tuple[int, ...]


def _omnicart_request(job: WorkerJob) -> Callable[[int, list[tuple[int, int]]], bool]:
    db = Database.from_url(job.config.url, schema=job.schema, pool_size=1)
    db.cache.start()  # as the server's lifespan does: the channel's policy is kept

    def reserve(n: int, lines: list[tuple[int, int]]) -> bool:
        try:
            service.reserve_stock(
                db,
                channel_id=job.channel_id,
                ttl_seconds=3600,
                lines=[(sku_name(rank), qty) for rank, qty in lines],
                idempotency_key=f"w{job.worker}-{n}",
            )
        except InsufficientStock:
            return False
        return True

    return reserve


_RAW_UPDATE = (
    "UPDATE stock_levels SET reserved = reserved + %s "
    "WHERE variant_id = %s AND location_id = %s AND on_hand - reserved - allocated >= %s"
)


def _raw_request(job: WorkerJob) -> Callable[[int, list[tuple[int, int]]], bool]:
    url = make_url(job.config.url).set(drivername="postgresql")
    conn = psycopg.connect(
        url.render_as_string(hide_password=False), options=f"-csearch_path={job.schema}"
    )

    def hold(cur: psycopg.Cursor[Any], rank: int, qty: int) -> bool:
        # Variant ids are rank + 1 in the freshly seeded schema.
        for loc in job.location_ids:
            cur.execute(_RAW_UPDATE, (qty, rank + 1, loc, qty))
            if cur.rowcount == 1:
                return True
        return False

    def reserve(_n: int, lines: list[tuple[int, int]]) -> bool:
        granted = False
        with conn.transaction(), conn.cursor() as cur:
            granted = all(hold(cur, rank, qty) for rank, qty in sorted(lines))
            if not granted:
                raise psycopg.Rollback  # leaves the block with the transaction undone
        return granted

    return reserve


def _same_writes_request(job: WorkerJob) -> Callable[[int, list[tuple[int, int]]], bool]:
    same = SameWrites(
        url=job.config.url, schema=job.schema, channel_id=job.channel_id, ttl_seconds=3600
    )

    def reserve(n: int, lines: list[tuple[int, int]]) -> bool:
        return same.reserve(f"w{job.worker}-{n}", [(sku_name(rank), qty) for rank, qty in lines])

    return reserve


_REQUESTS = {"omnicart": _omnicart_request, "raw": _raw_request, "same": _same_writes_request}


def _loop(job: WorkerJob, go: Any, out: list[tuple[list[float], int, int]]) -> None:
    """One worker: its own connection, its own request stream, until the deadline."""
    reserve = _REQUESTS[job.kind](job)
    rng = random.Random(job.config.seed * 1000 + job.worker)
    zipf = Zipf(job.config.skus, job.config.zipf_s)
    go.wait()
    deadline = time.monotonic() + job.config.duration_s
    latencies: list[float] = []
    granted_units = 0
    rejected = 0
    n = 0
    while time.monotonic() < deadline:
        n += 1
        lines = _draw_lines(rng, zipf, job.config.lines)
        started = time.perf_counter()
        ok = reserve(n, lines)
        latencies.append(time.perf_counter() - started)
        if ok:
            granted_units += sum(q for _, q in lines)
        else:
            rejected += 1
    out.append((latencies, granted_units, rejected))


def _process(jobs: list[WorkerJob], ready: Any, go: Event, results: Any) -> None:
    """A process running several workers as threads (each waits on its own connection)."""
    out: list[tuple[list[float], int, int]] = []
    start = threading.Event()
    threads = [threading.Thread(target=_loop, args=(job, start, out)) for job in jobs]
    for thread in threads:
        thread.start()
    ready.put(len(jobs))
    go.wait()
    start.set()
    for thread in threads:
        thread.join()
    results.put(out)


def _run_workers(
    config: BenchConfig,
    schema: str,
    kind: str,
    channel_ids: list[int],
    location_ids: tuple[int, ...],
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    jobs = [
        WorkerJob(config, schema, kind, channel_ids[w % len(channel_ids)], w, location_ids)
        for w in range(config.workers)
    ]
    spread = max(1, min(config.processes, config.workers))
    procs = [
        ctx.Process(target=_process, args=(jobs[p::spread], ready, go, results))
        for p in range(spread)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    started = time.monotonic()
    go.set()
    latencies: list[float] = []
    granted = rejected = 0
    for _ in procs:
        try:
            reports = results.get(timeout=config.duration_s + 120)
        except Empty as exc:
            raise SystemExit("a benchmark worker did not report back") from exc
        for lat, units, rej in reports:
            latencies.extend(lat)
            granted += units
            rejected += rej
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.join(timeout=30)
    latencies.sort()
    return {
        "requests": len(latencies),
        "granted_units": granted,
        "rejected": rejected,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def _oversold(db: Database) -> tuple[int, int]:
    """Rows where more is promised than is on hand (or any figure is negative); units held."""
    with db.reading() as session:
        held = session.scalar(select(func.sum(StockLevel.reserved))) or 0
        return oversold_rows(session), int(held)


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the raw-SQL baseline and Omnicart on identical data; one result dict."""
    require_postgres(config.url)
    outcome: dict[str, Any] = {}
    writes: dict[str, Footprint] = {}
    for kind in ("raw", "same", "omnicart"):
        with scratch_schema(config.url, f"bench_inventory_{kind}_{os.getpid()}") as schema:
            db = Database.from_url(config.url, schema=schema)
            upgrade(db.engine)
            channel_ids = seed_merchant(db, config)
            with db.reading() as session:
                location_ids = tuple(
                    session.scalars(select(Location.id).order_by(Location.priority))
                )
                session.execute(text("ANALYZE"))
            db.dispose()  # no pooled connections may cross the fork
            if kind == "same":
                orders_raw.install(config.url, schema)
            if kind != "raw":
                probe = WorkerJob(config, schema, kind, channel_ids[0], -1, location_ids)
                writes[kind] = _probe_writes(probe)
            stats = _run_workers(config, schema, kind, channel_ids, location_ids)
            bad_rows, held = _oversold(db)
            probed = sum(q for _, q in _PROBE_LINES) if kind in writes else 0
            stats["oversold"] = bad_rows + abs(held - probed - stats["granted_units"])
            if kind == "omnicart":
                with db.reading() as session:
                    stats["ledger_discrepancies"] = len(queries.reconcile(session))
                    stats["reservations"] = session.scalar(
                        select(func.count()).select_from(Reservation)
                    )
            db.dispose()
            outcome[kind] = stats
    ours, raw, same = outcome["omnicart"], outcome["raw"], outcome["same"]
    return {
        "bench": "inventory",
        "database": "postgresql",
        "workers": config.workers,
        "processes": min(config.processes, config.workers),
        "skus": config.skus,
        "locations": config.locations,
        "lines_per_request": config.lines,
        "zipf_s": config.zipf_s,
        "duration_s": config.duration_s,
        "requests": ours["requests"],
        "rejected_for_stock": ours["rejected"],
        "requests_per_s": ours["requests_per_s"],
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "oversold": ours["oversold"] + raw["oversold"] + same["oversold"],
        "ledger_discrepancies": ours["ledger_discrepancies"],
        "raw_sql_requests_per_s": raw["requests_per_s"],
        "raw_sql_p99_ms": raw["p99_ms"],
        "ratio_to_raw_sql": round(ours["requests_per_s"] / max(raw["requests_per_s"], 1e-9), 3),
        "same_writes_requests_per_s": same["requests_per_s"],
        "same_writes_p99_ms": same["p99_ms"],
        "same_writes_rejected_for_stock": same["rejected"],
        "ratio_to_same_writes": round(
            ours["requests_per_s"] / max(same["requests_per_s"], 1e-9), 3
        ),
        # Rows a reservation of 2 lines writes, per table (probed before the load); the
        # same-writes baseline must write the same.
        "writes_per_2_line_request": {
            table: rows for table, (rows, _) in writes["omnicart"].items()
        },
        "same_writes": writes["omnicart"] == writes["same"],
    }


# The probe's reservation: one unit of each of the two coldest SKUs (by rank from the end).
_PROBE_LINES = ((0, 1), (1, 1))


def _probe_writes(job: WorkerJob) -> Footprint:
    """What one reservation of two cold SKUs writes on this side, before the load."""
    lines = [(sku_name(job.config.skus - 1 - rank), qty) for rank, qty in _PROBE_LINES]
    with connect(job.config.url, job.schema) as conn:
        xid = current_xid(conn)
        if job.kind == "same":
            same = SameWrites(
                url=job.config.url, schema=job.schema, channel_id=job.channel_id, ttl_seconds=3600
            )
            try:
                same.reserve("probe", lines)
            finally:
                same.close()
        else:
            db = Database.from_url(job.config.url, schema=job.schema, pool_size=1)
            try:
                service.reserve_stock(
                    db,
                    channel_id=job.channel_id,
                    ttl_seconds=3600,
                    lines=lines,
                    idempotency_key="probe",
                )
            finally:
                db.dispose()  # no pooled connections may cross the fork
        return written_since(conn, xid)
