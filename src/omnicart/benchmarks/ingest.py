"""`omnicart bench ingest`: Segment batches over HTTP into the real server, then checks.

The server is `uvicorn omnicart.app:create_app` with several worker processes on a free
port, over a fresh SQLite database (one channel, one tracking source) and a fresh event
store; the flusher is a thread in each worker (the default), or with `flusher="process"`
one `omnicart events flusher` process beside them. Client processes, each with a few
threads on keep-alive connections, post batches of 100 messages (a mix of e-commerce v2
events, custom events, pages and identifies, each with a unique messageId) for a fixed
time. A batch counts once the
server answered 200: its events are then durable (in the spool). After the run the
server is stopped, the store is drained, and every acknowledged messageId is looked up.

The baseline is DuckDB by itself appending the same rows (read back as Arrow) into an
empty table with the same schema and key, 100 rows per transaction: what the store's
engine does for the same batches, without HTTP, JSON, checks or the spool.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from omnicart.benchmarks.common import percentile
from omnicart.channels.service import create_channel
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.tracking.service import create_tracking_source
from omnicart.tracking.store import SCHEMA, STORE_COLUMNS, open_store


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    seconds: float = 10.0
    workers: int = 2  # uvicorn worker processes
    clients: int = 2  # client processes
    threads: int = 12  # threads (connections) per client process
    batch: int = 100
    gzip: bool = False
    flusher: str = "thread"  # OMNICART_EVENTS_FLUSHER: "thread" or "process"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(*, database_url: str, events_path: Path, flusher: str = "thread") -> dict[str, str]:
    """The environment of a server over this database and event store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNICART_")}
    env.update(
        OMNICART_DATABASE_URL=database_url,
        OMNICART_EVENTS_PATH=str(events_path),
        OMNICART_EVENTS_FLUSHER=flusher,
        OMNICART_EXPIRY_SWEEP_SECONDS="3600",
    )
    return env


def start_flusher(*, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`omnicart events flusher` over the same store, in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-c", "from omnicart.cli import main; main()", "events", "flusher"],
        env=env,
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )


def start_server(*, port: int, env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    """uvicorn serving Omnicart, started in its own process group; waits until it answers."""
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "omnicart.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("the server did not answer within 60 s")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`omnicart worker` over the same database, in its own process group (what `omnicart
    serve` starts beside the web workers; they run with OMNICART_BACKGROUND=worker)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "omnicart", "worker"],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_server(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    """Signal the server's whole process group and wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def merchant(workdir: Path) -> Iterator[tuple[str, str]]:
    """A migrated SQLite database with one channel and a source: (URL, write key)."""
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database.from_url(url)
    try:
        upgrade(db.engine)
        with db.transaction() as session:
            channel = create_channel(session, code="web", name="Web", kind="web", currency="EUR")
            issued = create_tracking_source(session, channel_id=channel.id, name="bench")
        yield url, issued.write_key
    finally:
        db.dispose()


_PRODUCT = {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "price": 19.0}


def _message(i: int, message_id: str) -> dict[str, Any]:
    user = f"user-{i % 997}"
    match i % 5:
        case 0:
            props = {**_PRODUCT, "quantity": 1, "name": "Monopoly", "currency": "EUR"}
            return {"type": "track", "event": "Product Viewed", "properties": props}
        case 1:
            props = {**_PRODUCT, "quantity": 2, "cart_id": f"cart-{i % 997}"}
            return {"type": "track", "event": "Product Added", "properties": props}
        case 2:
            props = {
                "order_id": message_id,
                "total": 41.0,
                "revenue": 38.0,
                "tax": 3.0,
                "currency": "EUR",
                "products": [{**_PRODUCT, "quantity": 2}],
            }
            return {
                "type": "track",
                "event": "Order Completed",
                "properties": props,
                "userId": user,
            }
        case 3:
            return {"type": "page", "name": "Home", "properties": {"path": "/", "title": "Shop"}}
        case _:
            return {"type": "identify", "userId": user, "traits": {"plan": "gold"}}


def batch_body(prefix: str, start: int, size: int) -> bytes:
    """One batch of `size` messages with messageIds `{prefix}-{start}` onwards."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    batch = []
    for n in range(start, start + size):
        message_id = f"{prefix}-{n}"
        message = _message(n, message_id)
        message["messageId"] = message_id
        message["timestamp"] = now
        message.setdefault("anonymousId", f"anon-{n % 4001}")
        message["context"] = {"library": {"name": "omnicart-bench", "version": "1"}}
        batch.append(message)
    return orjson.dumps({"batch": batch, "sentAt": now})


@dataclass(frozen=True, slots=True)
class ClientJob:
    """What one client process does (picklable, for the process pool)."""

    port: int
    write_key: str
    index: int
    threads: int
    size: int
    start_at: float
    seconds: float


def _client_thread(job: ClientJob, prefix: str, out: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=60)
    auth = "Basic " + base64.b64encode(f"{job.write_key}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    latencies: list[float] = []
    batches: list[bool] = []  # batch k holds messageIds k*size .. k*size+size-1
    until = job.start_at + job.seconds
    while time.time() < until:
        body = batch_body(prefix, len(batches) * job.size, job.size)
        started = time.perf_counter()
        try:
            conn.request("POST", "/v1/batch", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            batches.append(False)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=60)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        batches.append(response.status == 200)
    conn.close()
    out.update(latencies=latencies, batches=batches)


def client_process(job: ClientJob) -> dict[str, Any]:
    """One client process: `threads` connections posting batches until the time is up."""
    while time.time() < job.start_at:
        time.sleep(0.001)
    results: list[dict[str, Any]] = [{} for _ in range(job.threads)]
    pool = [
        threading.Thread(target=_client_thread, args=(job, f"c{job.index}t{t}", results[t]))
        for t in range(job.threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    acked_ids = [
        f"c{job.index}t{t}-{k * job.size + j}"
        for t, result in enumerate(results)
        for k, ok in enumerate(result["batches"])
        if ok
        for j in range(job.size)
    ]
    return {
        "latencies": [x for r in results for x in r["latencies"]],
        "acked_ids": acked_ids,
        "failed": sum(1 for r in results for ok in r["batches"] if not ok),
        "finished": time.time(),
    }


def raw_duckdb_rate(source_db: Path, workdir: Path, *, batch: int) -> float:
    """Rows per second DuckDB itself appends the stored rows, `batch` rows a transaction."""
    with duckdb.connect(str(source_db), read_only=True) as src:
        table = src.sql(f"SELECT {', '.join(STORE_COLUMNS)} FROM events").to_arrow_table()  # noqa: S608
    target = workdir / "raw.duckdb"
    with duckdb.connect(str(target)) as conn:
        conn.execute(SCHEMA)
        columns = ", ".join(STORE_COLUMNS)
        started = time.perf_counter()
        for offset in range(0, table.num_rows, batch):
            chunk = table.slice(offset, batch)  # noqa: F841 (DuckDB reads it by name)
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO events ({columns}) SELECT * FROM chunk")  # noqa: S608
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    return table.num_rows / elapsed if elapsed > 0 else 0.0


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="omnicart-bench-ingest-") as tmp:
        workdir = Path(tmp)
        events_path = workdir / "events.duckdb"
        with merchant(workdir) as (url, write_key):
            port = free_port()
            env = server_env(database_url=url, events_path=events_path, flusher=config.flusher)
            flusher = start_flusher(env=env) if config.flusher == "process" else None
            server = start_server(port=port, env=env, workers=config.workers)
            try:
                start_at = time.time() + 1.0
                with ProcessPoolExecutor(max_workers=config.clients) as pool:
                    jobs = [
                        ClientJob(
                            port=port,
                            write_key=write_key,
                            index=i,
                            threads=config.threads,
                            size=config.batch,
                            start_at=start_at,
                            seconds=config.seconds,
                        )
                        for i in range(config.clients)
                    ]
                    futures = [pool.submit(client_process, job) for job in jobs]
                    outcomes = [f.result() for f in futures]
                load_ended = max(o["finished"] for o in outcomes)
            finally:
                stop_server(server)
                if flusher is not None:
                    stop_server(flusher)  # SIGTERM: it stores what is left, then exits
            with open_store(events_path) as store:
                drained_at = time.time()
                stored = store.conn.execute(
                    "SELECT message_id, count(*) FROM events GROUP BY message_id"
                ).fetchall()
        elapsed = load_ended - start_at
        acked = {m for o in outcomes for m in o["acked_ids"]}
        counts = dict(stored)
        lost = sum(1 for m in acked if m not in counts)
        duplicated = sum(n - 1 for n in counts.values() if n > 1)
        latencies = sorted(x for o in outcomes for x in o["latencies"])
        rate = len(acked) / elapsed if elapsed > 0 else 0.0
        raw = raw_duckdb_rate(events_path, workdir, batch=config.batch)
        return {
            "events_per_s": round(rate, 1),
            "p50_ms": round(percentile(latencies, 0.50), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "lost": lost,
            "duplicated": duplicated,
            "ratio_to_raw_duckdb": round(rate / raw, 3) if raw else 0.0,
            "raw_duckdb_events_per_s": round(raw, 1),
            "acknowledged_events": len(acked),
            "stored_events": len(counts),
            "failed_batches": sum(o["failed"] for o in outcomes),
            "drain_after_load_s": round(drained_at - load_ended, 2),
            "seconds": round(elapsed, 2),
            "server_workers": config.workers,
            "flusher": config.flusher,
            "client_connections": config.clients * config.threads,
            "batch_size": config.batch,
        }
