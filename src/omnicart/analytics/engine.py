"""Where metrics run: DuckDB (the embedded default) or ClickHouse, one SQL text for both.

Every metric is written once, in DuckDB's SQL dialect, against the analytic model
(`schema.TABLES`). `DuckDBEngine` runs it as written; `ClickHouseEngine` transpiles it with
SQLGlot and runs it on ClickHouse (chDB, the in-process engine, in tests; a server in
production). Parameters are named (`$start`) and bound as literals by SQLGlot, so both
engines receive the same statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import duckdb
import sqlglot
from sqlglot import exp

from omnicart.analytics.schema import create_statements

Param = str | int | Decimal | date | datetime | None


class Engine(Protocol):
    """An analytic engine holding the model's tables."""

    name: str

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[tuple[Any, ...]]:
        """Rows of `sql` (DuckDB dialect, named `$params`)."""
        ...


def _literal(value: Param) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.strftime("%Y-%m-%d %H:%M:%S.%f")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | Decimal):
        return exp.Literal.number(str(value))
    return exp.Literal.string(value)


def render(sql: str, params: Mapping[str, Param] | None, *, dialect: str) -> str:
    """`sql` (DuckDB dialect) with its `$params` bound, written in `dialect`."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    values = dict(params or {})

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter | exp.Placeholder):
            name = node.name
            if name not in values:
                raise KeyError(f"no value for the parameter ${name}")
            return _literal(values[name])
        return node

    return tree.transform(bind).sql(dialect=dialect)


class DuckDBEngine:
    """The model's tables in a DuckDB connection (in memory or the event store's)."""

    name = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.connection = connection or duckdb.connect()
        for statement in create_statements():
            self.connection.execute(statement)

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[tuple[Any, ...]]:
        """Rows of `sql`, run as written (parameters bound the same way as on ClickHouse)."""
        return self.connection.execute(render(sql, params, dialect="duckdb")).fetchall()

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to a model table (tests and loaders)."""
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            self.connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608
