"""`omnicart bench orders`: orders from every channel over HTTP into the real server,
against a raw-SQL baseline writing the same rows, on identical data in the same run.

The server is `uvicorn omnicart.app:create_app` with several worker processes and, as
`omnicart serve` runs it, one `omnicart worker` process doing the background rounds, over a
fresh PostgreSQL schema: the inventory benchmark's merchant (3 locations, 5 channels,
SKUs drawn from a Zipf distribution) with channel prices and little stock, so the hot
SKUs sell out during the run. Client processes, each with a few threads on keep-alive
connections, place orders for a fixed time, in a mix (`orders_load`):

- checkouts on the own channels (web, app, social): a cart with its hold, then checkout;
- till sales at the store (paid and handed over at once, with a receipt number);
- marketplace orders ingested on (channel, external id), a quarter of them delivered
  again straight away and another quarter again later by another thread, as marketplaces
  do; a tenth of the till sales are sent twice with the same receipt.

The baseline (`orders_raw`) runs first, on a second schema seeded the same way: the same
client processes and threads draw the same orders and send each request's writes as one
statement straight to PostgreSQL. Before either load, one order of each kind is placed on
both copies (`orders_trips`): its round trips are counted and the rows each side wrote
are compared table by table.

One latency is one order operation as a client sees it (a checkout's two requests
together). Afterwards every acknowledged order is looked up, repeats must have answered
with the first order's id, and the stock must be neither oversold nor out of step with
the ledger, on both copies.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from omnicart.auth.service import create_api_key
from omnicart.benchmarks import inventory, orders_raw, orders_trips
from omnicart.benchmarks.common import (
    Footprint,
    oversold_rows,
    percentile,
    require_postgres,
    scratch_schema,
)
from omnicart.benchmarks.ingest import (
    free_port,
    server_env,
    start_server,
    start_worker,
    stop_server,
)
from omnicart.benchmarks.orders_load import (
    KINDS,
    MIXES,
    PRICE,
    ClientJob,
    LoadConfig,
    client_process,
)
from omnicart.catalog.tables import ChannelPrice, Variant
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.inventory import queries
from omnicart.inventory.tables import StockLevel
from omnicart.locations.tables import Location
from omnicart.orders.tables import Order


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    url: str
    seconds: float = 10.0
    workers: int = 2  # uvicorn worker processes
    clients: int = 2  # client processes
    threads: int = 8  # threads (connections) per client process
    connections: int | None = None  # all clients' connections together; overrides threads
    skus: int = 2_000
    stock_per_location: int = 20
    lines: int = 2  # the most lines an order has
    mix: str = "all"  # or one of orders_load.KINDS alone
    seed: int = 7

    def threads_per_client(self) -> list[int]:
        """Connections of each client process."""
        if self.connections is None:
            return [self.threads] * self.clients
        clients = min(self.clients, self.connections)
        base, extra = divmod(self.connections, clients)
        return [base + (1 if i < extra else 0) for i in range(clients)]


SCHEMA = "bench_orders"


def server_url(url: str, schema: str) -> str:
    """The URL of `url` with every connection's search path set to `schema`."""
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def seed(db: Database, config: BenchConfig) -> tuple[dict[str, int], int, str]:
    """The merchant, channel prices and an admin key: (channel ids, store id, key)."""
    seeded = inventory.BenchConfig(
        url=config.url,
        skus=config.skus,
        locations=3,
        stock_per_location=config.stock_per_location,
    )
    inventory.seed_merchant(db, seeded)
    with db.transaction() as session:
        channels = {code: i + 1 for i, (code, *_) in enumerate(inventory.CHANNELS)}
        variant_ids = list(session.scalars(select(Variant.id)))
        session.connection().execute(
            insert(ChannelPrice),
            [
                {"channel_id": c, "variant_id": v, "amount": PRICE, "currency": "EUR"}
                for c in channels.values()
                for v in variant_ids
            ],
        )
        store_id = session.scalars(select(Location.id).where(Location.kind == "store")).one()
        key = create_api_key(session, name="bench", role="admin").secret
    return channels, store_id, key


def _checks(db: Database, created: set[int], answers: dict[str, list[int]]) -> dict[str, int]:
    """Oversold rows, ledger mismatches, lost orders and duplicates, from the database."""
    with db.reading() as session:
        stored = set(session.scalars(select(Order.id)))
        twice = session.execute(
            select(func.count())
            .select_from(Order)
            .where(Order.external_id.is_not(None))
            .group_by(Order.channel_id, Order.external_id)
            .having(func.count() > 1)
        ).all()
        oversold = oversold_rows(session)
        mismatches = len(queries.reconcile(session))
        sold_out = session.scalar(
            select(func.count())
            .select_from(StockLevel)
            .where(StockLevel.on_hand == StockLevel.reserved + StockLevel.allocated)
        )
    split_answers = sum(len(ids) - 1 for ids in answers.values())
    return {
        "oversold": oversold,
        "ledger_discrepancies": mismatches,
        "lost": len(created - stored),
        "duplicates": sum(n - 1 for (n,) in twice) + split_answers,
        "orders_stored": len(stored),
        "stock_rows_sold_out": int(sold_out or 0),
    }


def _prepare(config: BenchConfig, schema: str) -> tuple[Database, dict[str, int], int, str]:
    """A migrated, seeded and analysed copy of the bench data: (db, channels, store, key)."""
    db = Database.from_url(config.url, schema=schema, pool_size=2)
    upgrade(db.engine)
    channels, store_id, key = seed(db, config)
    with db.transaction() as session:
        session.execute(text("ANALYZE"))
    return db, channels, store_id, key


def _load(config: BenchConfig, jobs: list[ClientJob]) -> dict[str, Any]:
    """Run the client processes; what they saw, merged, and the seconds they ran."""
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(client_process, jobs))
    answers: dict[str, set[int]] = defaultdict(set)
    for o in outcomes:
        for k, ids in o["answers"].items():
            answers[k].update(ids)
    return {
        "elapsed": max(o["finished"] for o in outcomes) - jobs[0].start_at,
        "latencies": {k: sorted(x for o in outcomes for x in o["latencies"][k]) for k in KINDS},
        "created": {k: [i for o in outcomes for i in o["created"][k]] for k in KINDS},
        "answers": {k: sorted(v) for k, v in answers.items()},
        "rejected": sum(o["rejected"] for o in outcomes),
        "failed": sum(o["failed"] for o in outcomes),
        "repeats": sum(o["repeats"] for o in outcomes),
        "errors": [e for o in outcomes for e in o["errors"]][:5],
    }


def _jobs(
    config: BenchConfig, target: str, channels: dict[str, int], store_id: int, **where: Any
) -> list[ClientJob]:
    load = LoadConfig(config.seconds, config.skus, config.lines, config.seed, config.mix)
    start_at = time.time() + 1.0
    return [
        ClientJob(load, target, i, threads, start_at, channels, store_id, **where)
        for i, threads in enumerate(config.threads_per_client())
    ]


def _side(
    config: BenchConfig, target: str, schema: str, tmp: Path
) -> tuple[dict[str, Any], dict[str, int], dict[str, dict[str, Any]]]:
    """One copy of the data: probe each kind, run the load, check; (load, checks, probes)."""
    db, channels, store_id, key = _prepare(config, schema)
    try:
        if target == "raw":
            orders_raw.install(config.url, schema)
            probes = orders_trips.probe_raw(
                url=config.url,
                schema=schema,
                channels=channels,
                store_id=store_id,
                skus=config.skus,
            )
            seen = _load(
                config, _jobs(config, target, channels, store_id, url=config.url, schema=schema)
            )
        else:
            probes = orders_trips.probe_omnicart(
                db,
                url=config.url,
                schema=schema,
                key=key,
                channels=channels,
                store_id=store_id,
                skus=config.skus,
            )
            db.dispose()  # no pooled connections may cross into the server's lifetime
            env = server_env(
                database_url=server_url(config.url, schema), events_path=tmp / "events.duckdb"
            )
            env["OMNICART_POOL_SIZE"] = str(max(4, sum(config.threads_per_client())))
            # As `omnicart serve` runs: the background rounds in one worker process.
            env["OMNICART_BACKGROUND"] = "worker"
            worker = start_worker(env, tmp / "worker.log")
            port = free_port()
            try:
                server = start_server(port=port, env=env, workers=config.workers)
                try:
                    seen = _load(
                        config, _jobs(config, target, channels, store_id, port=port, key=key)
                    )
                finally:
                    stop_server(server)
            finally:
                stop_server(worker)
        created = {i for ids in seen["created"].values() for i in ids}
        checks = _checks(db, created, seen["answers"])
    finally:
        db.dispose()
    return seen, checks, probes


def _figures(seen: dict[str, Any]) -> dict[str, Any]:
    """Orders per second and latencies, overall and per kind."""
    elapsed = seen["elapsed"]

    def rate(n: int) -> float:
        return round(n / elapsed, 1) if elapsed > 0 else 0.0

    every = sorted(x for k in KINDS for x in seen["latencies"][k])
    return {
        "orders_per_s": rate(sum(len(v) for v in seen["created"].values())),
        "p50_ms": round(percentile(every, 0.50), 2),
        "p99_ms": round(percentile(every, 0.99), 2),
        "operations": len(every),
        "kinds": {
            k: {
                "orders": len(seen["created"][k]),
                "orders_per_s": rate(len(seen["created"][k])),
                "p99_ms": round(percentile(seen["latencies"][k], 0.99), 2),
            }
            for k in KINDS
        },
    }


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs > 0 else None


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the baseline, then Omnicart, each on its own identical copy; the figures."""
    require_postgres(config.url)
    if config.mix not in MIXES:
        raise ValueError(f"mix must be one of {', '.join(MIXES)}")
    tag = os.getpid()
    with (
        scratch_schema(config.url, f"{SCHEMA}_raw_{tag}") as raw_schema,
        scratch_schema(config.url, f"{SCHEMA}_{tag}") as schema,
        tempfile.TemporaryDirectory() as tmp,
    ):
        raw_seen, raw_checks, raw_probes = _side(config, "raw", raw_schema, Path(tmp))
        seen, checks, probes = _side(config, "omnicart", schema, Path(tmp))
    ours, raw = _figures(seen), _figures(raw_seen)
    kinds = {
        k: {
            **ours["kinds"][k],
            "round_trips": probes[k]["round_trips"],
            "ratio_to_raw_sql": _ratio(
                ours["kinds"][k]["orders_per_s"], raw["kinds"][k]["orders_per_s"]
            ),
            "raw_sql_orders_per_s": raw["kinds"][k]["orders_per_s"],
            "raw_sql_p99_ms": raw["kinds"][k]["p99_ms"],
            "raw_sql_round_trips": raw_probes[k]["round_trips"],
            "same_writes": probes[k]["writes"] == raw_probes[k]["writes"],
        }
        for k in KINDS
    }
    return {
        "bench": "orders",
        "database": "postgresql",
        "mix": config.mix,
        "orders_per_s": ours["orders_per_s"],
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "oversold": checks["oversold"],
        "duplicates": checks["duplicates"],
        "lost": checks["lost"],
        "kinds": kinds,
        "ratio_to_raw_sql": _ratio(ours["orders_per_s"], raw["orders_per_s"]),
        "raw_sql_orders_per_s": raw["orders_per_s"],
        "raw_sql_p50_ms": raw["p50_ms"],
        "raw_sql_p99_ms": raw["p99_ms"],
        "raw_sql_oversold": raw_checks["oversold"],
        "raw_sql_duplicates": raw_checks["duplicates"],
        "raw_sql_lost": raw_checks["lost"],
        "raw_sql_ledger_discrepancies": raw_checks["ledger_discrepancies"],
        "raw_sql_operations_per_s": _per_s(raw["operations"], raw_seen["elapsed"]),
        "raw_sql_rejected_for_stock": raw_seen["rejected"],
        "raw_sql_failed": raw_seen["failed"],
        "ledger_discrepancies": checks["ledger_discrepancies"],
        "orders": sum(v["orders"] for v in ours["kinds"].values()),
        "operations": ours["operations"],
        "operations_per_s": _per_s(ours["operations"], seen["elapsed"]),
        "checkouts": ours["kinds"]["checkout"]["orders"],
        "till_sales": ours["kinds"]["till"]["orders"],
        "marketplace_orders": ours["kinds"]["marketplace"]["orders"],
        "repeats_sent": seen["repeats"],
        "rejected_for_stock": seen["rejected"],
        "failed": seen["failed"],
        "errors": (seen["errors"] + raw_seen["errors"])[:5],
        "stock_rows_sold_out": checks["stock_rows_sold_out"],
        "seconds": round(seen["elapsed"], 2),
        "server_workers": config.workers,
        "client_connections": sum(config.threads_per_client()),
        "round_trips_counted": "in-process, at the driver (statements + BEGIN/COMMIT/ROLLBACK)",
        # Rows each kind of order writes, per table (the baseline's too where they differ).
        "writes_per_order": {k: _rows(probes[k]["writes"]) for k in KINDS},
        "raw_sql_writes_differ": {
            k: raw_probes[k]["writes"] for k in KINDS if not kinds[k]["same_writes"]
        },
    }


def _per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _rows(writes: Footprint) -> dict[str, int]:
    return {table: rows for table, (rows, _columns) in writes.items()}
