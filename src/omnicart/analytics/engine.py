"""Where metrics run: DuckDB (the embedded default) or ClickHouse, one SQL text for both.

Every metric is written once, in DuckDB's SQL dialect, against the analytic model
(`schema.TABLES`). `DuckDBEngine` runs it as written; `ClickHouseEngine` transpiles it with
SQLGlot and runs it on ClickHouse (chDB, the in-process engine, in tests; a server in
production). Parameters are named (`$start`) and bound as literals by SQLGlot, so both
engines receive the same statement.

Both engines answer the same Python values: `Decimal` for DECIMAL, `date` for DATE, a naive
UTC `datetime` for TIMESTAMP, `int` for integers and counts, `str`, and `None` for NULL.
DuckDB's own values are the reference; ClickHouse's Arrow answers are brought to them in one
place (`_python_rows`). ClickHouse runs with settings that give it standard SQL's meaning
where the two differ (`CLICKHOUSE_SETTINGS`); metric SQL still avoids a few constructs whose
meaning differs (division, float literals, window defaults; see `analytics/channels_sql.py`).
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from omnicart.analytics.schema import TABLES, create_statements

Param = str | int | Decimal | date | datetime | None
Rows = list[tuple[Any, ...]]

# ClickHouse's defaults differ from standard SQL (and DuckDB) in ways a metric would see:
# an outer join's missing side reads 0 instead of NULL, SUM over no rows is 0 instead of
# NULL, an alias shadows a column of the same name in WHERE, and times follow the server's
# zone. These settings give every query the standard meaning.
CLICKHOUSE_SETTINGS: dict[str, str | int] = {
    "session_timezone": "UTC",
    "join_use_nulls": 1,
    "aggregate_functions_null_for_empty": 1,
    "prefer_column_name_to_alias": 1,
}


class Engine(Protocol):
    """An analytic engine holding the model's tables."""

    name: str

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> Rows:
        """Rows of `sql` (DuckDB dialect, named `$params`)."""
        ...

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (values in the table's column order) to a model table."""
        ...

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table whose columns are the model table's, in order."""
        ...


# ----------------------------------------------------------------------- the model's columns


@dataclass(frozen=True, slots=True)
class Column:
    """A model table's column: its name, DuckDB type and whether it may be NULL."""

    name: str
    type: exp.DataType
    nullable: bool


@cache
def model_columns() -> dict[str, tuple[Column, ...]]:
    """Every model table's columns, read from `schema.create_statements()` by SQLGlot."""
    tables: dict[str, tuple[Column, ...]] = {}
    for statement in create_statements():
        create = sqlglot.parse_one(statement, read="duckdb")
        assert isinstance(create, exp.Create)
        schema = create.this
        assert isinstance(schema, exp.Schema)
        columns = []
        for definition in schema.expressions:
            assert isinstance(definition, exp.ColumnDef)
            kind = definition.args["kind"]
            not_null = any(
                isinstance(c.args.get("kind"), exp.NotNullColumnConstraint)
                for c in definition.args.get("constraints") or []
            )
            columns.append(Column(definition.name, kind, nullable=not not_null))
        tables[schema.this.name] = tuple(columns)
    return tables


def _arrow_type(dtype: exp.DataType) -> pa.DataType:
    kind = dtype.this
    if kind == exp.DataType.Type.BIGINT:
        return pa.int64()
    if kind in exp.DataType.TEXT_TYPES:
        return pa.string()
    if kind == exp.DataType.Type.DECIMAL:
        precision, scale = (int(p.name) for p in dtype.expressions)
        return pa.decimal128(precision, scale)
    if kind == exp.DataType.Type.DATE:
        return pa.date32()
    if kind in {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ}:
        return pa.timestamp("us")
    raise TypeError(f"the model has no Arrow type for {dtype.sql('duckdb')}")


@cache
def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a model table (what `insert_arrow` takes)."""
    return pa.schema(
        pa.field(c.name, _arrow_type(c.type), nullable=c.nullable) for c in model_columns()[table]
    )


def _utc_naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _coercer(arrow: pa.DataType) -> Callable[[Any], Any]:
    """How a Python value becomes the column's: lenient on form, never on meaning."""
    if pa.types.is_decimal(arrow):
        # A float would carry binary noise into money: refuse it rather than guess.
        def to_decimal(value: Any) -> Decimal:
            if isinstance(value, float):
                raise TypeError(f"money is never a float: {value!r}")
            return value if isinstance(value, Decimal) else Decimal(str(value))

        return to_decimal
    if pa.types.is_timestamp(arrow):
        return lambda v: _utc_naive(datetime.fromisoformat(v) if isinstance(v, str) else v)
    if pa.types.is_date(arrow):
        return lambda v: date.fromisoformat(v) if isinstance(v, str) else v
    if pa.types.is_integer(arrow):
        return int
    return str


def arrow_rows(table: str, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """`rows` (values in the table's column order) as an Arrow table of the model's types."""
    schema = arrow_schema(table)
    width = len(schema)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"{table} row {number} has {len(row)} values, not {width}")
    arrays = []
    for index, field in enumerate(schema):
        coerce = _coercer(field.type)
        values = [None if row[index] is None else coerce(row[index]) for row in rows]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# ----------------------------------------------------------------------------- one SQL text


def _literal(value: Param) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, datetime):
        stamp = _utc_naive(value).strftime("%Y-%m-%d %H:%M:%S.%f")
        return exp.cast(exp.Literal.string(stamp), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, Decimal):
        # A bare 1.5 is a Float64 on ClickHouse: decimals keep their exact type.
        _, digits, exponent = value.as_tuple()
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        precision = min(38, max(len(digits), scale + 1))
        return exp.cast(exp.Literal.string(str(value)), f"DECIMAL({precision}, {scale})")
    return exp.Literal.string(value)


# DuckDB's TIMESTAMP is microseconds, no zone; its DATE spans any year. SQLGlot's defaults
# for ClickHouse (DateTime: seconds; Date: 1970-2149) would round or clamp them.
_CLICKHOUSE_TYPES = {
    exp.DataType.Type.TIMESTAMP: "DateTime64(6, 'UTC')",
    exp.DataType.Type.TIMESTAMPNTZ: "DateTime64(6, 'UTC')",  # DuckDB's TIMESTAMP, parsed
    exp.DataType.Type.DATE: "Date32",
}


def _clickhouse_type(dtype: exp.DataType) -> exp.DataType:
    name = _CLICKHOUSE_TYPES.get(dtype.this)
    if name is None:
        return dtype
    built = exp.DataType.build(name, dialect="clickhouse")
    built.set("nullable", None)  # written Nullable(...) in casts, like every other type
    return built


def _in_dialect(tree: exp.Expression, dialect: str) -> str:
    if dialect == "clickhouse":
        tree = tree.transform(
            lambda node: _clickhouse_type(node) if isinstance(node, exp.DataType) else node
        )
    return tree.sql(dialect=dialect)


def _marker(name: str) -> str:
    return f"__omnicart_parameter_{name}__"


@lru_cache(maxsize=512)
def _template(sql: str, dialect: str) -> tuple[str, frozenset[str]]:
    """`sql` transpiled once, each `$name` left as a marker string for `render` to fill."""
    names: set[str] = set()

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter | exp.Placeholder):
            names.add(node.name)
            return exp.Literal.string(_marker(node.name))
        return node

    text = _in_dialect(sqlglot.parse_one(sql, read="duckdb").transform(mark), dialect)
    for name in names:
        if f"'{_marker(name)}'" not in text:  # the transpiler moved it: never guess
            raise RuntimeError(f"the parameter ${name} did not survive transpiling")
    return text, frozenset(names)


def render(sql: str, params: Mapping[str, Param] | None, *, dialect: str) -> str:
    """`sql` (DuckDB dialect) with its `$params` bound, written in `dialect`.

    Parsing and transpiling are done once per statement (they cost more than the queries
    of a small model); each call only writes its values in, as literals of `dialect`.
    """
    text, names = _template(sql, dialect)
    values = dict(params or {})
    for name in names:
        if name not in values:
            raise KeyError(f"no value for the parameter ${name}")
        literal = _in_dialect(_literal(values[name]), dialect)
        text = text.replace(f"'{_marker(name)}'", literal)
    return text


def clickhouse_create_statements(*, engine: str = "MergeTree ORDER BY tuple()") -> list[str]:
    """The model's CREATE TABLE statements for ClickHouse (NOT NULL columns stay plain)."""
    statements = []
    for table, columns in model_columns().items():
        parts = []
        for column in columns:
            dtype = _clickhouse_type(column.type.copy())
            dtype.set("nullable", False)
            written = dtype.sql(dialect="clickhouse")
            parts.append(f"{column.name} {f'Nullable({written})' if column.nullable else written}")
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(parts)}) ENGINE = {engine}"
        )
    return statements


# ------------------------------------------------------------------------------------ DuckDB


class DuckDBEngine:
    """The model's tables in a DuckDB connection (in memory or the event store's)."""

    name = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.connection = connection or duckdb.connect()
        for statement in create_statements():
            self.connection.execute(statement)

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> Rows:
        """Rows of `sql`, run as written (parameters bound the same way as on ClickHouse)."""
        return self.connection.execute(render(sql, params, dialect="duckdb")).fetchall()

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to a model table (tests and loaders), column by column through Arrow."""
        if rows:
            self.insert_arrow(table, arrow_rows(table, rows))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table of the model table's columns."""
        if table not in TABLES:
            raise KeyError(f"{table} is not a table of the analytic model")
        incoming = data.cast(arrow_schema(table))
        name = f"incoming_{uuid.uuid4().hex}"
        self.connection.register(name, incoming)
        try:
            self.connection.execute(f"INSERT INTO {table} SELECT * FROM {name}")  # noqa: S608
        finally:
            self.connection.unregister(name)

    def export(self, table: str) -> pa.Table:
        """A model table's rows as Arrow (to load the same rows into another engine)."""
        if table not in TABLES:
            raise KeyError(f"{table} is not a table of the analytic model")
        exported: pa.Table = self.connection.sql(f"SELECT * FROM {table}").to_arrow_table()  # noqa: S608
        return exported.cast(arrow_schema(table))


# -------------------------------------------------------------------------------- ClickHouse


class _Backend(Protocol):
    def execute(self, sql: str) -> None: ...
    def arrow(self, sql: str) -> pa.Table: ...
    def insert_arrow(self, table: str, data: pa.Table) -> None: ...
    def close(self) -> None: ...


class _ChdbBackend:
    """chDB: ClickHouse in this process. Its sessions share one server, so each engine
    works in a database of its own, dropped when the engine closes."""

    def __init__(self) -> None:
        try:
            from chdb import session  # a dev dependency: imported only when chosen
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError("in-process ClickHouse needs chDB: pip install chdb") from None

        self.session = session.Session()
        self.database = f"omnicart_{uuid.uuid4().hex}"
        for name, value in CLICKHOUSE_SETTINGS.items():
            self.session.query(f"SET {name} = {_setting_literal(value)}")
        self.session.query(f"CREATE DATABASE {self.database}")
        self.session.query(f"USE {self.database}")

    def execute(self, sql: str) -> None:
        self.session.query(sql)

    def arrow(self, sql: str) -> pa.Table:
        table: pa.Table = self.session.query(sql, "ArrowTable")
        return table

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        with self.session.send_insert(f"INSERT INTO {table}", "ArrowStream") as inserter:
            inserter.append(sink.getvalue())
            inserter.finish()

    def close(self) -> None:
        try:
            self.session.query(f"DROP DATABASE IF EXISTS {self.database}")
        finally:
            self.session.close()


class _ServerBackend:
    """A ClickHouse server over HTTP(S) through clickhouse-connect (the `clickhouse` extra)."""

    def __init__(self, url: str) -> None:
        try:
            import clickhouse_connect
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "a ClickHouse server needs clickhouse-connect: pip install 'omnicart[clickhouse]'"
            ) from None
        parts = urlsplit(url)
        self.client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if parts.scheme == "clickhouses" else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
            secure=parts.scheme == "clickhouses",
            settings=dict(CLICKHOUSE_SETTINGS),
        )

    def execute(self, sql: str) -> None:
        self.client.command(sql)

    def arrow(self, sql: str) -> pa.Table:
        table: pa.Table = self.client.query_arrow(sql, use_strings=True)
        return table

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.client.insert_arrow(table, data)

    def close(self) -> None:
        self.client.close()


def _setting_literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else f"'{value}'"


def _python_rows(table: pa.Table) -> Rows:
    """ClickHouse's Arrow answer as DuckDB's Python values (the one place types are mended)."""
    columns = []
    for column in table.columns:
        plain = column
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            # DateTime64(6, 'UTC') arrives zoned; the model's times are naive UTC.
            plain = column.cast(pa.timestamp(column.type.unit))
        columns.append(plain.to_pylist())
    return list(zip(*columns, strict=True)) if columns else []


class ClickHouseEngine:
    """The model's tables on ClickHouse: chDB in this process, or a server.

    Queries are the DuckDB-dialect metric SQL transpiled by SQLGlot (`render`); answers are
    the same Python values DuckDB gives. Close it when done (`with ClickHouseEngine...`).
    """

    name = "clickhouse"

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend
        for statement in clickhouse_create_statements():
            backend.execute(statement)

    @classmethod
    def in_process(cls) -> ClickHouseEngine:
        """A fresh, empty model in chDB (in-process ClickHouse), in a database of its own."""
        return cls(_ChdbBackend())

    @classmethod
    def connect(cls, url: str) -> ClickHouseEngine:
        """The model on the server at `clickhouse://user:password@host:8123/database`
        (`clickhouses://` for HTTPS); its tables are created if missing."""
        return cls(_ServerBackend(url))

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> Rows:
        """Rows of `sql` (DuckDB dialect), transpiled to ClickHouse."""
        return _python_rows(self._backend.arrow(render(sql, params, dialect="clickhouse")))

    def execute(self, statement: str) -> None:
        """Run a ClickHouse statement as written (DDL; no transpiling)."""
        self._backend.execute(statement)

    def raw_rows(self, sql: str) -> Rows:
        """Rows of a query written in ClickHouse's own dialect."""
        return _python_rows(self._backend.arrow(sql))

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to a model table, sent as one Arrow stream."""
        if rows:
            self.insert_arrow(table, arrow_rows(table, rows))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table of the model table's columns."""
        if table not in TABLES:
            raise KeyError(f"{table} is not a table of the analytic model")
        if data.num_rows:
            self._backend.insert_arrow(table, data.cast(arrow_schema(table)))

    def close(self) -> None:
        """Let go of the server (chDB: drop this engine's database)."""
        self._backend.close()

    def __enter__(self) -> ClickHouseEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------- choosing one


def copy_model(source: DuckDBEngine, target: Engine) -> None:
    """Load every row of `source`'s model into `target` (which should start empty)."""
    for table in TABLES:
        target.insert_arrow(table, source.export(table))


def model_fingerprint(source: DuckDBEngine) -> str:
    """A digest of every row of `source`'s model: equal digests, equal models."""
    parts = []
    for table in TABLES:
        rows = source.query(f"SELECT COUNT(*), SUM(hash(t)) FROM {table} AS t")  # noqa: S608
        parts.append(f"{table}:{rows[0][0]}:{rows[0][1]}")
    return "|".join(parts)


_LOADS = "omnicart_model_loads"
_SYNC = threading.Lock()


def sync_model(source: DuckDBEngine, target: ClickHouseEngine) -> bool:
    """Make `target`'s model hold exactly `source`'s rows; whether it had to reload.

    The target keeps the fingerprint of what it last loaded, so an unchanged model costs
    one digest and one small read; a changed one is reloaded whole. Within a process
    loads take turns; two processes loading one server at once is not guarded against
    (run analytics requests from one process, or load after each refresh from a job).
    """
    fingerprint = model_fingerprint(source)
    with _SYNC:
        target.execute(
            f"CREATE TABLE IF NOT EXISTS {_LOADS} (fingerprint String) "
            "ENGINE = MergeTree ORDER BY tuple()"
        )
        loaded = target.raw_rows(f"SELECT fingerprint FROM {_LOADS}")  # noqa: S608
        if loaded == [(fingerprint,)]:
            return False
        target.execute(f"TRUNCATE TABLE {_LOADS}")
        for table in TABLES:
            target.execute(f"TRUNCATE TABLE {table}")
        copy_model(source, target)
        target.execute(f"INSERT INTO {_LOADS} VALUES ('{fingerprint}')")  # noqa: S608
        return True


def check_engine_setting(value: str) -> str:
    """`value` if it names an engine: `duckdb`, `chdb`, or a `clickhouse://` URL."""
    if value in {"duckdb", "chdb"}:
        return value
    parts = urlsplit(value)
    if parts.scheme in {"clickhouse", "clickhouses"} and parts.hostname:
        return value
    raise ValueError(
        "the analytics engine is `duckdb`, `chdb` or "
        "`clickhouse://user:password@host:8123/database`"
    )


@contextmanager
def engine_for(setting: str, model: DuckDBEngine) -> Iterator[Engine]:
    """The engine `setting` (OMNICART_ANALYTICS_ENGINE) names, holding `model`'s rows.

    `duckdb` is `model` itself. `chdb` copies the model into an in-process ClickHouse for
    the duration (to check a deployment's figures on ClickHouse; it costs a full copy). A
    server URL gets the model loaded when it changed since its last load (`sync_model`).
    """
    kind = check_engine_setting(setting)
    if kind == "duckdb":
        yield model
        return
    if kind == "chdb":
        with ClickHouseEngine.in_process() as engine:
            copy_model(model, engine)
            yield engine
        return
    with ClickHouseEngine.connect(setting) as engine:
        sync_model(model, engine)
        yield engine
