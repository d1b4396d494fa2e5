"""Statements shaped for PostgreSQL, built with SQLAlchemy once and run as compiled.

`pg_fast` (reservations and orders' allocations) and `ledger` (every stock change) send
these through `exec_driver_sql`, so SQLAlchemy's events and error mapping see them like
any statement while no statement is compiled per call. Arrays go as PostgreSQL array
literals cast in the SQL: a string join instead of psycopg adapting each element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ClauseElement, Connection, Integer, Row, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
IDS = ARRAY(BigInteger)
INTS = ARRAY(Integer)
TEXTS = ARRAY(String)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement's SQL text and its constant parameters."""

    text: str
    defaults: dict[str, Any]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values}

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Sequence[Row[Any]]:
        """Run the compiled text on `conn` as it is (SQLAlchemy's events and error
        mapping see it like any statement), answering its rows."""
        return conn.exec_driver_sql(self.text, self.params(values)).all()


def compile_pg(statement: ClauseElement) -> Compiled:
    """`statement` compiled once for PostgreSQL (psycopg)."""
    compiled = statement.compile(dialect=DIALECT)
    return Compiled(str(compiled), {k: v for k, v in compiled.params.items() if v is not None})


def ints_literal(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of ints (they need no quoting)."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def texts_literal(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings, each quoted."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"
