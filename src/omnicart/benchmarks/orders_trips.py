"""What one order of each kind writes and how many round trips it costs, for Omnicart and
for the raw baseline, on their own copies of the bench data.

Omnicart's side runs in this process: the real app (`create_app`) behind Starlette's
test client, on an engine whose SQLAlchemy events count every statement sent to
PostgreSQL plus every BEGIN (one per transaction that runs a statement: psycopg sends
it before the first one), COMMIT and ROLLBACK outside autocommit (reading sessions run in
autocommit and send none); that is the count of round trips the server process makes,
taken at the driver. Each kind is placed once to warm the
process's caches, then measured on a second order; a checkout's SKUs are first put in a
cart and taken out again, so the server has priced them (as it has the SKUs a shop sells
all day; a SKU it has not priced since it started costs one read more). A checkout
counts both requests.
The baseline sends one statement per request on an autocommit connection.

What an order writes is read from PostgreSQL itself (`common.written_since`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event

from omnicart.app import create_app
from omnicart.benchmarks import inventory
from omnicart.benchmarks.common import current_xid, written_since
from omnicart.benchmarks.orders_load import CART_CHANNELS, KINDS, HttpOrders, RawOrders
from omnicart.benchmarks.orders_raw import Answer, connect
from omnicart.db.engine import Database


@contextmanager
def counting(db: Database) -> Iterator[list[int]]:
    """A one-item list holding the round trips `db`'s engine made inside the block."""
    trips = [0]

    def statement(*_args: Any, **_kwargs: Any) -> None:
        trips[0] += 1

    def boundary(conn: Connection, *_args: Any) -> None:
        # In autocommit (the reading sessions) psycopg sends no BEGIN, COMMIT or ROLLBACK.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            trips[0] += 1

    hooks: tuple[tuple[str, Callable[..., None]], ...] = (
        ("before_cursor_execute", statement),
        ("begin", boundary),
        ("commit", boundary),
        ("rollback", boundary),
    )
    for name, hook in hooks:
        event.listen(db.engine, name, hook)
    try:
        yield trips
    finally:
        for name, hook in hooks:
            event.remove(db.engine, name, hook)


def _cold_lines(skus: int, n: int) -> list[tuple[str, int]]:
    """Two SKUs from the cold end of the Zipf tail, a different pair for each order."""
    return [(inventory.sku_name(skus - 1 - (2 * n + i) % skus), 1) for i in range(2)]


def _place(orders: Any, kind: str, n: int, skus: int) -> Answer:
    lines = _cold_lines(skus, n)
    if kind == "checkout":
        return orders.checkout(CART_CHANNELS[0], lines, f"probe{n}@example.com")  # type: ignore[no-any-return]
    if kind == "marketplace":
        return orders.marketplace(f"probe-{n}", lines, f"probe-{n}")  # type: ignore[no-any-return]
    return orders.till(f"probe-{n}", lines)  # type: ignore[no-any-return]


def _probe(
    place: Callable[[str, int], Answer],
    conn: psycopg.Connection[Any],
    trips: Callable[[], int],
    prime: Callable[[str, int], None] = lambda _kind, _n: None,
) -> dict[str, dict[str, Any]]:
    """Per kind: a warm-up order, then one measured: its footprint and round trips.
    `prime` shows the measured order's SKUs to the server first, leaving stock as it is."""
    out: dict[str, dict[str, Any]] = {}
    for i, kind in enumerate(KINDS):
        warm = place(kind, 2 * i)
        prime(kind, 2 * i + 1)
        xid = current_xid(conn)
        before = trips()
        answer = place(kind, 2 * i + 1)
        out[kind] = {
            "status": (warm.status, answer.status),
            "round_trips": trips() - before,
            "writes": written_since(conn, xid),
        }
    return out


def probe_omnicart(
    db: Database,
    *,
    url: str,
    schema: str,
    key: str,
    channels: dict[str, int],
    store_id: int,
    skus: int,
) -> dict[str, dict[str, Any]]:
    """One order of each kind through the real app in this process, counted."""
    app = create_app(db=db, sweep=False)
    with TestClient(app) as client, counting(db) as trips, connect(url, schema) as conn:
        orders = HttpOrders(
            port=0, key=key, channels=channels, store_id=store_id, conn=_TestConnection(client)
        )
        return _probe(
            lambda kind, n: _place(orders, kind, n, skus),
            conn,
            lambda: trips[0],
            lambda kind, n: _prime(orders, kind, n, skus),
        )


def _prime(orders: HttpOrders, kind: str, n: int, skus: int) -> None:
    """A checkout's SKUs priced once by the server, as a shop's selling SKUs are (the
    price a process keeps per SKU); other kinds read no price."""
    if kind == "checkout":
        orders.price(CART_CHANNELS[0], _cold_lines(skus, n))


def probe_raw(
    *, url: str, schema: str, channels: dict[str, int], store_id: int, skus: int
) -> dict[str, dict[str, Any]]:
    """The same orders as the baseline's statements."""
    orders = RawOrders(url=url, schema=schema, channels=channels, store_id=store_id)
    try:
        with connect(url, schema) as conn:
            return _probe(
                lambda kind, n: _place(orders, kind, n, skus),
                conn,
                lambda: orders.placer.statements,
            )
    finally:
        orders.close()


class _TestConnection:
    """`http.client.HTTPConnection`'s request/getresponse over Starlette's test client."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._response: Any = None

    def request(self, method: str, path: str, *, body: bytes, headers: dict[str, str]) -> None:
        self._response = self.client.request(method, path, content=body, headers=headers)

    def getresponse(self) -> _TestResponse:
        return _TestResponse(self._response)

    def close(self) -> None:
        """Nothing to close."""


class _TestResponse:
    def __init__(self, response: Any) -> None:
        self.status = int(response.status_code)
        self._content = bytes(response.content)

    def read(self) -> bytes:
        return self._content
