"""The connectors benchmark's clients, each a process of its own: the vendors posting
webhooks, and shoppers' checkouts holding one unit at a time (the stock changes).

Both keep a schedule (open loop: a slow answer does not slow what is offered) and start
at the same wall-clock moment; times they record are `time.monotonic()`, one clock for
every process of the machine, so they compare with the simulators' own.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from omnicart.db.engine import Database
from omnicart.inventory.reservations import reserve_stock

TIMEOUT = 60
IDLE_S = 3.0  # uvicorn closes a keep-alive connection idle for 5 s
HOLD_SECONDS = 86_400  # no hold expires during a run: stock only goes down


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook delivery as the vendor sends it."""

    vendor: str
    path: str  # Omnicart's webhook route of the vendor's connector
    delivery_id: str
    external_id: str  # the order it is about
    body: bytes
    headers: tuple[tuple[str, str], ...]
    repeat: bool = False  # the vendor sending an earlier delivery again


@dataclass(frozen=True, slots=True)
class SendJob:
    """Every vendor's deliveries, each vendor's sent at `rate` a second over `threads`
    connections of its own."""

    port: int
    hooks: dict[str, tuple[Hook, ...]]
    rate: float  # deliveries a second, per vendor
    threads: int
    start_at: float  # time.time()
    seconds: float


@dataclass(frozen=True, slots=True)
class ChangeJob:
    """Stock changes at `rate` a second: holds of one unit for a channel; thread t owns
    every `threads`-th SKU, so each SKU's changes are one after another and its figure
    after each is known."""

    url: str
    schema: str
    channel_id: int
    skus: tuple[str, ...]
    stock: int
    rate: float
    threads: int
    start_at: float
    seconds: float
    seed: int = 11


@dataclass
class _Seen:
    latencies: list[float] = field(default_factory=list)  # ms
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    last: float = 0.0  # time.time() the last request was sent


class _Connection:
    """One keep-alive connection to the server: opened again when it was idle long enough
    for the server to close it, and after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.used_at = time.monotonic()

    def _reopen(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed."""
        if time.monotonic() - self.used_at > IDLE_S:
            self._reopen()
        self.used_at = time.monotonic()
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._reopen()
            return 0, repr(exc).encode()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _on_schedule(
    start_at: float, seconds: float, every: float, first: int, step: int
) -> Iterator[int]:
    """The indexes first, first+step, … whose moment (start_at + index * every) falls in
    the run, each yielded once its moment has come."""
    index = first
    while True:
        due = start_at + index * every
        if due >= start_at + seconds:
            return
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        yield index
        index += step


def _wait_for(start_at: float) -> None:
    while time.time() < start_at:
        time.sleep(0.001)


def ready(seconds: float) -> float:
    """Nothing, after a moment: run once in each process before the clock starts."""
    time.sleep(seconds)
    return time.time()


def _threads(count: int, work: Callable[[int], None]) -> None:
    pool = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def send_process(job: SendJob) -> dict[str, Any]:
    """Post every vendor's deliveries on schedule; what each answer was."""
    _wait_for(job.start_at)
    seen: dict[tuple[str, int], _Seen] = {}
    acked: dict[tuple[str, int], list[tuple[str, str, bool]]] = {}
    vendors = sorted(job.hooks)

    def work(number: int) -> None:
        vendor, thread = vendors[number // job.threads], number % job.threads
        mine, done = _Seen(), acked.setdefault((vendor, thread), [])
        seen[vendor, thread] = mine
        hooks = job.hooks[vendor]
        conn = _Connection(job.port)
        for index in _on_schedule(job.start_at, job.seconds, 1 / job.rate, thread, job.threads):
            if index >= len(hooks):
                break
            hook = hooks[index]
            mine.last = time.time()
            started = time.perf_counter()
            status, answer = conn.post(hook.path, hook.body, dict(hook.headers))
            if 200 <= status < 300:
                mine.latencies.append((time.perf_counter() - started) * 1000)
                done.append((hook.delivery_id, hook.external_id, hook.repeat))
            else:
                mine.failed += 1
                if len(mine.errors) < 3:
                    mine.errors.append(f"{vendor} {status}: {answer[:200]!r}")
        conn.close()

    _threads(len(vendors) * job.threads, work)
    return {
        "latencies": {
            v: [x for (w, _), s in seen.items() if w == v for x in s.latencies] for v in vendors
        },
        "acked": {v: [a for (w, _), got in acked.items() if w == v for a in got] for v in vendors},
        "failed": sum(s.failed for s in seen.values()),
        "errors": [e for s in seen.values() for e in s.errors],
        "last_sent": max((s.last for s in seen.values()), default=0.0),
        "finished": time.time(),
    }


def change_process(job: ChangeJob) -> dict[str, Any]:
    """Hold one unit at a time on schedule, as a checkout does (`reserve_stock`, the
    function the API calls); (monotonic time it returned, SKU, the figure after it) of
    each change whose figure is known."""
    db = Database.from_url(job.url, schema=job.schema, pool_size=job.threads)
    _wait_for(job.start_at)
    changes: list[list[tuple[float, str, int]]] = [[] for _ in range(job.threads)]
    seen = [_Seen() for _ in range(job.threads)]

    def work(thread: int) -> None:
        rng = random.Random(job.seed * 1000 + thread)
        own: Sequence[str] = job.skus[thread :: job.threads]
        held = dict.fromkeys(own, 0)
        unsure: set[str] = set()  # a failed hold may have happened: the figure is unknown
        schedule = _on_schedule(job.start_at, job.seconds, 1 / job.rate, thread, job.threads)
        for index in schedule:
            sku = rng.choice(own)
            seen[thread].last = time.time()
            started = time.perf_counter()
            try:
                reserve_stock(
                    db,
                    channel_id=job.channel_id,
                    lines=[(sku, 1)],
                    idempotency_key=f"bench-{index}",
                    ttl_seconds=HOLD_SECONDS,
                )
            except Exception as exc:
                unsure.add(sku)
                seen[thread].failed += 1
                if len(seen[thread].errors) < 3:
                    seen[thread].errors.append(f"reserve_stock: {type(exc).__name__}: {exc}")
                continue
            committed = time.monotonic()
            seen[thread].latencies.append((time.perf_counter() - started) * 1000)
            held[sku] += 1
            if sku not in unsure:
                changes[thread].append((committed, sku, job.stock - held[sku]))

    try:
        _threads(job.threads, work)
    finally:
        db.dispose()
    return {
        "changes": [c for per_thread in changes for c in per_thread],
        "latencies": [x for s in seen for x in s.latencies],
        "failed": sum(s.failed for s in seen),
        "errors": [e for s in seen for e in s.errors],
        "last_sent": max((s.last for s in seen), default=0.0),
        "finished": time.time(),
    }
