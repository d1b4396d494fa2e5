"""The client load of `omnicart bench orders`, the same for Omnicart and the raw baseline.

Client processes, each with a few threads, place orders for a fixed time in a mix. A
thread draws the same orders from the same seed whichever side it drives: over HTTP to
Omnicart's server on a keep-alive connection, or as the baseline's statements on its
own PostgreSQL connection.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from omnicart.benchmarks import inventory
from omnicart.benchmarks.common import Zipf
from omnicart.benchmarks.orders_raw import Answer, RawPlacer

PRICE = Decimal("19.99")
CART_CHANNELS = ("web", "app", "instagram")
MARKET = "allegro"
TILL = "pos"
KINDS = ("checkout", "marketplace", "till")
MIXES = ("all", *KINDS)
ADDRESS = {"city": "Warsaw", "country": "PL"}


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What the clients do (picklable, for the process pool)."""

    seconds: float
    skus: int
    lines: int  # the most lines an order has
    seed: int
    mix: str  # "all" or one kind


@dataclass(frozen=True, slots=True)
class ClientJob:
    """What one client process does."""

    load: LoadConfig
    target: str  # "omnicart" (HTTP) or "raw" (PostgreSQL)
    index: int
    threads: int
    start_at: float
    channels: dict[str, int]
    store_id: int
    port: int = 0  # omnicart
    key: str = ""  # omnicart
    url: str = ""  # raw
    schema: str = ""  # raw


def priced(lines: list[tuple[str, int]]) -> tuple[list[dict[str, Any]], Decimal]:
    """Order lines at the bench price, and their total."""
    total = sum((PRICE * q for _, q in lines), Decimal(0))
    return [{"sku": s, "quantity": q, "unit_price": str(PRICE)} for s, q in lines], total


def marketplace_body(lines: list[tuple[str, int]], customer_ref: str) -> dict[str, Any]:
    """A marketplace's order document."""
    rows, total = priced(lines)
    return {
        "currency": "EUR",
        "lines": rows,
        "total": str(total),
        "payments": [{"method": MARKET, "amount": str(total)}],
        "customer": {"ref": customer_ref},
    }


def till_body(
    channel_id: int, store_id: int, receipt: str, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    """A till sale."""
    rows, total = priced(lines)
    return {
        "channel_id": channel_id,
        "location_id": store_id,
        "receipt": receipt,
        "lines": rows,
        "payments": [{"method": "cash", "amount": str(total)}],
    }


def checkout_body(email: str, total: Decimal) -> dict[str, Any]:
    """A cart's checkout."""
    return {
        "customer": {"email": email},
        "fulfilment": {"mode": "ship", "address": ADDRESS},
        "payments": [{"method": "card", "amount": str(total)}],
    }


class Orders(Protocol):
    """One connection placing orders of each kind."""

    errors: list[str]

    def checkout(self, channel: str, lines: list[tuple[str, int]], email: str) -> Answer:
        """A cart with its hold, then its checkout (a refused cart answers 409)."""

    def marketplace(self, external_id: str, lines: list[tuple[str, int]], ref: str) -> Answer:
        """A marketplace order (again: the first one's id)."""

    def till(self, receipt: str, lines: list[tuple[str, int]]) -> Answer:
        """A till sale (again: the first one's id)."""

    def close(self) -> None:
        """Close the connection."""


class HttpOrders:
    """Orders over one keep-alive HTTP connection to Omnicart's server."""

    def __init__(
        self,
        *,
        port: int,
        key: str,
        channels: dict[str, int],
        store_id: int,
        conn: Any = None,  # something with HTTPConnection's request/getresponse/close
    ) -> None:
        self.port = port
        self.channels = channels
        self.store_id = store_id
        self.conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.errors: list[str] = []

    def call(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One request; (status, JSON body); status 0 when the connection failed."""
        try:
            self.conn.request(method, path, body=orjson.dumps(body), headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.errors.append(f"{method} {path}: {exc!r}")
            return 0, {}
        data = orjson.loads(raw) if raw else {}
        if response.status >= 400 and response.status != 409 and len(self.errors) < 5:
            self.errors.append(f"{method} {path}: {response.status} {data}")
        return response.status, data

    def _answer(self, status: int, body: dict[str, Any]) -> Answer:
        return Answer(status, body.get("id") if status in (200, 201) else None)

    def checkout(self, channel: str, lines: list[tuple[str, int]], email: str) -> Answer:
        wanted = [{"sku": s, "quantity": q} for s, q in lines]
        status, cart = self.call(
            "POST", "/v1/carts", {"channel_id": self.channels[channel], "lines": wanted}
        )
        if status != 201:
            return self._answer(status, cart)
        _, total = priced(lines)
        body = checkout_body(email, total)
        return self._answer(*self.call("POST", f"/v1/carts/{cart['id']}/checkout", body))

    def price(self, channel: str, lines: list[tuple[str, int]]) -> None:
        """Put `lines` in a cart and empty it again: the server has priced them once (as it
        has the SKUs a shop sells all day), and their stock is as it was."""
        wanted = [{"sku": s, "quantity": q} for s, q in lines]
        status, cart = self.call(
            "POST", "/v1/carts", {"channel_id": self.channels[channel], "lines": wanted}
        )
        if status == 201:
            self.call("PUT", f"/v1/carts/{cart['id']}/lines", {"lines": []})

    def marketplace(self, external_id: str, lines: list[tuple[str, int]], ref: str) -> Answer:
        path = f"/v1/channels/{self.channels[MARKET]}/orders/{quote(external_id)}"
        return self._answer(*self.call("PUT", path, marketplace_body(lines, ref)))

    def till(self, receipt: str, lines: list[tuple[str, int]]) -> Answer:
        body = till_body(self.channels[TILL], self.store_id, receipt, lines)
        return self._answer(*self.call("POST", "/v1/pos/sales", body))

    def close(self) -> None:
        self.conn.close()


class RawOrders:
    """The same orders as the raw baseline's statements on one PostgreSQL connection."""

    def __init__(self, *, url: str, schema: str, channels: dict[str, int], store_id: int) -> None:
        self.placer = RawPlacer(url=url, schema=schema, store_id=store_id)
        self.channels = channels
        self.store_id = store_id
        self.errors = self.placer.errors

    def checkout(self, channel: str, lines: list[tuple[str, int]], email: str) -> Answer:
        cart = self.placer.cart(channel=channel, lines=lines)
        if cart.status != 201 or cart.id is None:
            return cart
        _, total = priced(lines)
        return self.placer.checkout(
            channel=channel,
            cart_id=cart.id,
            lines=lines,
            total=total,
            email=email,
            address=ADDRESS,
            body=checkout_body(email, total),
        )

    def marketplace(self, external_id: str, lines: list[tuple[str, int]], ref: str) -> Answer:
        return self.placer.marketplace(
            channel=MARKET,
            external_id=external_id,
            lines=lines,
            total=priced(lines)[1],
            customer_ref=ref,
            body=marketplace_body(lines, ref),
        )

    def till(self, receipt: str, lines: list[tuple[str, int]]) -> Answer:
        return self.placer.till(
            channel=TILL,
            receipt=receipt,
            lines=lines,
            total=priced(lines)[1],
            body=till_body(self.channels[TILL], self.store_id, receipt, lines),
        )

    def close(self) -> None:
        self.placer.close()


def open_orders(job: ClientJob) -> Orders:
    """The connection a thread of this job places orders on."""
    if job.target == "raw":
        return RawOrders(
            url=job.url, schema=job.schema, channels=job.channels, store_id=job.store_id
        )
    return HttpOrders(port=job.port, key=job.key, channels=job.channels, store_id=job.store_id)


@dataclass
class _Seen:
    """What one thread saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    created: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    answers: dict[str, set[int]] = field(default_factory=dict)  # key -> order ids answered
    rejected: int = 0
    failed: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)


def _record(seen: _Seen, kind: str, key: str | None, answer: Answer) -> None:
    if answer.status == 201 and answer.id is not None:
        seen.created[kind].append(answer.id)
    if answer.status in (200, 201) and key is not None and answer.id is not None:
        seen.answers.setdefault(key, set()).add(answer.id)
    elif answer.status == 409:
        seen.rejected += 1
    elif answer.status not in (200, 201):
        seen.failed += 1


def draw_lines(rng: random.Random, zipf: Zipf, most: int) -> list[tuple[str, int]]:
    """An order's lines: distinct SKUs drawn by popularity, 1 or 2 units each."""
    ranks: set[int] = set()
    want = rng.randint(1, most)
    while len(ranks) < want:
        ranks.add(zipf.draw(rng))
    return [(inventory.sku_name(rank), rng.randint(1, 2)) for rank in sorted(ranks)]


def _kind(rng: random.Random, mix: str) -> str:
    roll = rng.random()
    if mix != "all":
        return mix
    return "checkout" if roll < 0.4 else "marketplace" if roll < 0.7 else "till"


def _thread(
    job: ClientJob, thread: int, later: list[tuple[str, list[tuple[str, int]], str]], seen: _Seen
) -> None:
    orders = open_orders(job)
    rng = random.Random(job.load.seed * 10_000 + job.index * 100 + thread)
    zipf = Zipf(job.load.skus, 1.1)
    n = 0
    until = job.start_at + job.load.seconds
    while time.time() < until:
        n += 1
        lines = draw_lines(rng, zipf, job.load.lines)
        kind = _kind(rng, job.load.mix)
        started = time.perf_counter()
        if kind == "checkout":
            channel = rng.choice(CART_CHANNELS)
            email = f"shopper{rng.randint(1, 5000)}@example.com"
            _record(seen, kind, None, orders.checkout(channel, lines, email))
        elif kind == "marketplace":
            key, ref = f"m{job.index}-{thread}-{n}", f"buyer-{rng.randint(1, 5000)}"
            answer = orders.marketplace(key, lines, ref)
            _record(seen, kind, key, answer)
            if answer.status in (200, 201):
                again = rng.random()
                if again < 0.25:
                    seen.repeats += 1
                    _record(seen, kind, key, orders.marketplace(key, lines, ref))
                elif again < 0.5:
                    later.append((key, lines, ref))
        else:
            key = f"r{job.index}-{thread}-{n}"
            answer = orders.till(key, lines)
            _record(seen, kind, key, answer)
            if answer.status in (200, 201) and rng.random() < 0.1:
                seen.repeats += 1
                _record(seen, kind, key, orders.till(key, lines))
        seen.latencies[kind].append((time.perf_counter() - started) * 1000)
        if later and rng.random() < 0.3:
            with contextlib.suppress(IndexError):  # another thread took the last one
                key, old_lines, ref = later.pop(rng.randrange(len(later)))
                seen.repeats += 1
                _record(seen, "marketplace", key, orders.marketplace(key, old_lines, ref))
    orders.close()
    seen.errors = orders.errors


def client_process(job: ClientJob) -> dict[str, Any]:
    """One client process: `threads` connections placing orders until the time is up."""
    while time.time() < job.start_at:
        time.sleep(0.001)
    later: list[tuple[str, list[tuple[str, int]], str]] = []  # append/pop are atomic
    seen = [_Seen() for _ in range(job.threads)]
    pool = [
        threading.Thread(target=_thread, args=(job, t, later, seen[t])) for t in range(job.threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    answers: dict[str, list[int]] = defaultdict(list)
    for s in seen:
        for key, ids in s.answers.items():
            answers[key].extend(ids)
    return {
        "latencies": {k: [x for s in seen for x in s.latencies[k]] for k in KINDS},
        "created": {k: [i for s in seen for i in s.created[k]] for k in KINDS},
        "answers": {k: sorted(set(v)) for k, v in answers.items()},
        "rejected": sum(s.rejected for s in seen),
        "failed": sum(s.failed for s in seen),
        "repeats": sum(s.repeats for s in seen),
        "errors": [e for s in seen for e in s.errors],
        "finished": time.time(),
    }
