"""Shared pieces of the benchmarks: Zipf demand, percentiles, throwaway schemas."""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from omnicart.inventory.tables import StockLevel


class Zipf:
    """Draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s (hot items first)."""

    def __init__(self, n: int, s: float) -> None:
        weights = [1.0 / (k + 1) ** s for k in range(n)]
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> int:
        """One rank."""
        return bisect.bisect_left(self._cumulative, rng.random() * self._total)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values fall (nearest rank)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def require_postgres(url: str) -> None:
    """Benchmarks measure the production database; refuse anything else."""
    if make_url(url).get_backend_name() != "postgresql":
        raise SystemExit(f"this benchmark runs on PostgreSQL; got {url!r}")


@contextmanager
def scratch_schema(url: str, name: str) -> Iterator[str]:
    """A PostgreSQL schema that exists for the duration of the block."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"bad schema name {name!r}")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def oversold_rows(session: Session) -> int:
    """Stock rows where more is promised than is on hand, or any figure is negative."""
    bad = session.scalar(
        select(func.count())
        .select_from(StockLevel)
        .where(
            (StockLevel.on_hand < StockLevel.reserved + StockLevel.allocated)
            | (StockLevel.on_hand < 0)
            | (StockLevel.reserved < 0)
            | (StockLevel.allocated < 0)
        )
    )
    return int(bad or 0)


# table -> (rows written, the columns filled in them)
Footprint = dict[str, tuple[int, tuple[str, ...]]]


def current_xid(conn: psycopg.Connection[Any]) -> int:
    """A transaction id; every transaction that begins afterwards has a larger one."""
    row = conn.execute("SELECT pg_current_xact_id()::text::bigint % 4294967296").fetchone()
    assert row is not None
    return int(row[0])


def written_since(conn: psycopg.Connection[Any], xid: int) -> Footprint:
    """Rows of every table of the connection's schema written (inserted or updated) by
    transactions from `xid` on, read from each row's `xmin`; for small, quiet schemas."""
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    ).fetchall()
    out: Footprint = {}
    for (table,) in tables:
        cur = conn.execute(
            f'SELECT * FROM "{table}" WHERE xmin::text::bigint >= %s',  # noqa: S608 -- catalog names
            (xid,),
        )
        rows = cur.fetchall()
        if rows:
            names = [c.name for c in cur.description or ()]
            filled = {n for row in rows for n, v in zip(names, row, strict=True) if v is not None}
            out[table] = (len(rows), tuple(sorted(filled)))
    return out
