"""`omnicart bench orders`: orders from every channel over HTTP into the real server.

The server is `uvicorn omnicart.app:create_app` with several worker processes over a
fresh PostgreSQL schema: the inventory benchmark's merchant (5 locations, 5 channels,
SKUs drawn from a Zipf distribution) with channel prices and little stock, so the hot
SKUs sell out during the run. Client processes, each with a few threads on keep-alive
connections, place orders for a fixed time, in a mix:

- checkouts on the own channels (web, app, social): a cart with its hold, then checkout;
- till sales at the store (paid and handed over at once, with a receipt number);
- marketplace orders ingested on (channel, external id), a quarter of them delivered
  again straight away and another quarter again later by another thread, as marketplaces
  do; a tenth of the till sales are sent twice with the same receipt.

One latency is one order operation as a client sees it (a checkout's two requests
together). Afterwards every acknowledged order is looked up, repeats must have answered
with the first order's id, and the stock must be neither oversold nor out of step with
the ledger.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from omnicart.auth.service import create_api_key
from omnicart.benchmarks import inventory
from omnicart.benchmarks.common import (
    Zipf,
    oversold_rows,
    percentile,
    require_postgres,
    scratch_schema,
)
from omnicart.benchmarks.ingest import free_port, server_env, start_server, stop_server
from omnicart.catalog.tables import ChannelPrice, Variant
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.inventory import queries
from omnicart.inventory.tables import StockLevel
from omnicart.locations.tables import Location
from omnicart.orders.tables import Order

PRICE = Decimal("19.99")
SCHEMA = "bench_orders"
CART_CHANNELS = ("web", "app", "instagram")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    url: str
    seconds: float = 10.0
    workers: int = 2  # uvicorn worker processes
    clients: int = 2  # client processes
    threads: int = 8  # threads (connections) per client process
    skus: int = 2_000
    stock_per_location: int = 20
    lines: int = 2  # the most lines an order has
    seed: int = 7


@dataclass(frozen=True, slots=True)
class ClientJob:
    """What one client process does (picklable, for the process pool)."""

    config: BenchConfig
    port: int
    key: str
    index: int
    start_at: float
    channels: dict[str, int]
    store_id: int


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


def _lines(rng: random.Random, zipf: Zipf, most: int) -> list[tuple[str, int]]:
    ranks: set[int] = set()
    want = rng.randint(1, most)
    while len(ranks) < want:
        ranks.add(zipf.draw(rng))
    return [(inventory.sku_name(rank), rng.randint(1, 2)) for rank in sorted(ranks)]


def _priced(lines: list[tuple[str, int]]) -> tuple[list[dict[str, Any]], str]:
    total = sum((PRICE * q for _, q in lines), Decimal(0))
    return [{"sku": s, "quantity": q, "unit_price": str(PRICE)} for s, q in lines], str(total)


class _Client:
    """One keep-alive connection and what it saw."""

    def __init__(self, job: ClientJob) -> None:
        self.job = job
        self.conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {job.key}", "Content-Type": "application/json"}
        self.errors: list[str] = []

    def call(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One request; (status, JSON body); status 0 when the connection failed."""
        try:
            self.conn.request(method, path, body=orjson.dumps(body), headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.job.port, timeout=60)
            self.errors.append(f"{method} {path}: {exc!r}")
            return 0, {}
        data = orjson.loads(raw) if raw else {}
        if response.status >= 400 and response.status != 409 and len(self.errors) < 5:
            self.errors.append(f"{method} {path}: {response.status} {data}")
        return response.status, data


@dataclass
class _Seen:
    """What one thread saw."""

    latencies: list[float]
    kinds: dict[str, int]
    created: list[int]  # order ids answered 201
    answers: dict[str, set[int]]  # idempotency key -> order ids answered for it
    rejected: int = 0
    failed: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)


def _record(seen: _Seen, key: str | None, status: int, body: dict[str, Any]) -> None:
    if status == 201:
        seen.created.append(body["id"])
    if status in (200, 201) and key is not None:
        seen.answers.setdefault(key, set()).add(body["id"])
    elif status == 409:
        seen.rejected += 1
    elif status not in (200, 201):
        seen.failed += 1


def _checkout(client: _Client, rng: random.Random, lines: list[tuple[str, int]]) -> tuple[int, Any]:
    channel = client.job.channels[rng.choice(CART_CHANNELS)]
    wanted = [{"sku": s, "quantity": q} for s, q in lines]
    status, cart = client.call("POST", "/v1/carts", {"channel_id": channel, "lines": wanted})
    if status != 201:
        return status, cart
    _, total = _priced(lines)
    body = {
        "customer": {"email": f"shopper{rng.randint(1, 5000)}@example.com"},
        "fulfilment": {"mode": "ship", "address": {"city": "Warsaw", "country": "PL"}},
        "payments": [{"method": "card", "amount": total}],
    }
    return client.call("POST", f"/v1/carts/{cart['id']}/checkout", body)


def _thread(
    job: ClientJob, thread: int, later: list[tuple[str, dict[str, Any]]], seen: _Seen
) -> None:
    client = _Client(job)
    rng = random.Random(job.config.seed * 10_000 + job.index * 100 + thread)
    zipf = Zipf(job.config.skus, 1.1)
    market = job.channels["allegro"]
    n = 0
    until = job.start_at + job.config.seconds
    while time.time() < until:
        n += 1
        lines = _lines(rng, zipf, job.config.lines)
        priced, total = _priced(lines)
        roll = rng.random()
        started = time.perf_counter()
        if roll < 0.4:
            kind, key = "checkout", None
            status, body = _checkout(client, rng, lines)
            _record(seen, key, status, body)
        elif roll < 0.7:
            kind = "marketplace"
            key = f"m{job.index}-{thread}-{n}"
            path = f"/v1/channels/{market}/orders/{quote(key)}"
            order = {
                "currency": "EUR",
                "lines": priced,
                "total": total,
                "payments": [{"method": "allegro", "amount": total}],
                "customer": {"ref": f"buyer-{rng.randint(1, 5000)}"},
            }
            status, body = client.call("PUT", path, order)
            _record(seen, key, status, body)
            if status in (200, 201):
                again = rng.random()
                if again < 0.25:
                    seen.repeats += 1
                    _record(seen, key, *client.call("PUT", path, order))
                elif again < 0.5:
                    later.append((path, order))
        else:
            kind = "till"
            key = f"r{job.index}-{thread}-{n}"
            sale = {
                "channel_id": job.channels["pos"],
                "location_id": job.store_id,
                "receipt": key,
                "lines": priced,
                "payments": [{"method": "cash", "amount": total}],
            }
            status, body = client.call("POST", "/v1/pos/sales", sale)
            _record(seen, key, status, body)
            if status in (200, 201) and rng.random() < 0.1:
                seen.repeats += 1
                _record(seen, key, *client.call("POST", "/v1/pos/sales", sale))
        seen.latencies.append((time.perf_counter() - started) * 1000)
        seen.kinds[kind] += 1
        if later and rng.random() < 0.3:
            with contextlib.suppress(IndexError):
                path, order = later.pop(rng.randrange(len(later)))
                seen.repeats += 1
                _record(seen, path.rsplit("/", 1)[-1], *client.call("PUT", path, order))
    client.conn.close()
    seen.errors = client.errors


def client_process(job: ClientJob) -> dict[str, Any]:
    """One client process: `threads` connections placing orders until the time is up."""
    while time.time() < job.start_at:
        time.sleep(0.001)
    later: list[tuple[str, dict[str, Any]]] = []  # list.append/pop are atomic under the GIL
    seen = [_Seen([], defaultdict(int), [], {}) for _ in range(job.config.threads)]
    pool = [
        threading.Thread(target=_thread, args=(job, t, later, seen[t]))
        for t in range(job.config.threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    answers: dict[str, list[int]] = defaultdict(list)
    for s in seen:
        for key, ids in s.answers.items():
            answers[key].extend(ids)
    kinds: dict[str, int] = defaultdict(int)
    for s in seen:
        for kind, count in s.kinds.items():
            kinds[kind] += count
    return {
        "latencies": [x for s in seen for x in s.latencies],
        "created": [i for s in seen for i in s.created],
        "answers": {k: sorted(set(v)) for k, v in answers.items()},
        "rejected": sum(s.rejected for s in seen),
        "failed": sum(s.failed for s in seen),
        "kinds": dict(kinds),
        "repeats": sum(s.repeats for s in seen),
        "errors": [e for s in seen for e in s.errors],
        "finished": time.time(),
    }


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


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict."""
    require_postgres(config.url)
    with scratch_schema(config.url, SCHEMA), tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(config.url, schema=SCHEMA, pool_size=2)
        try:
            upgrade(db.engine)
            channels, store_id, key = seed(db, config)
            env = server_env(
                database_url=server_url(config.url, SCHEMA),
                events_path=Path(tmp) / "events.duckdb",
            )
            env["OMNICART_POOL_SIZE"] = str(max(4, config.clients * config.threads))
            port = free_port()
            server = start_server(port=port, env=env, workers=config.workers)
            try:
                start_at = time.time() + 1.0
                jobs = [
                    ClientJob(config, port, key, i, start_at, channels, store_id)
                    for i in range(config.clients)
                ]
                with ProcessPoolExecutor(max_workers=config.clients) as pool:
                    outcomes = list(pool.map(client_process, jobs))
            finally:
                stop_server(server)
            elapsed = max(o["finished"] for o in outcomes) - start_at
            created = {i for o in outcomes for i in o["created"]}
            answers: dict[str, list[int]] = defaultdict(list)
            for o in outcomes:
                for k, ids in o["answers"].items():
                    answers[k].extend(ids)
            checks = _checks(db, created, {k: sorted(set(v)) for k, v in answers.items()})
        finally:
            db.dispose()
    latencies = sorted(x for o in outcomes for x in o["latencies"])
    kinds: dict[str, int] = defaultdict(int)
    for o in outcomes:
        for kind, count in o["kinds"].items():
            kinds[kind] += count
    return {
        "bench": "orders",
        "database": "postgresql",
        "orders_per_s": round(len(created) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "oversold": checks["oversold"],
        "duplicates": checks["duplicates"],
        "lost": checks["lost"],
        "ledger_discrepancies": checks["ledger_discrepancies"],
        "orders": len(created),
        "operations": len(latencies),
        "operations_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "checkouts": kinds["checkout"],
        "till_sales": kinds["till"],
        "marketplace_orders": kinds["marketplace"],
        "repeats_sent": sum(o["repeats"] for o in outcomes),
        "rejected_for_stock": sum(o["rejected"] for o in outcomes),
        "failed": sum(o["failed"] for o in outcomes),
        "errors": [e for o in outcomes for e in o["errors"]][:5],
        "stock_rows_sold_out": checks["stock_rows_sold_out"],
        "seconds": round(elapsed, 2),
        "server_workers": config.workers,
        "client_connections": config.clients * config.threads,
    }
