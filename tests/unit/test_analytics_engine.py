"""One SQL text for both engines: parameters bound as typed literals, DuckDB's types
written as ClickHouse's, the model's DDL transpiled, rows typed before they are sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from omnicart.analytics.engine import (
    arrow_rows,
    check_engine_setting,
    clickhouse_create_statements,
    render,
)
from omnicart.settings import Settings

SQL = "SELECT * FROM wh_orders WHERE ordered_at >= $start AND gross > $least AND code = $code"
PARAMS = {"start": datetime(2026, 3, 1, 12, 30, 0, 5), "least": Decimal("1.50"), "code": "it's"}


def test_parameters_are_bound_as_typed_literals_in_each_dialect() -> None:
    assert render(SQL, PARAMS, dialect="duckdb") == (
        "SELECT * FROM wh_orders WHERE ordered_at >= CAST('2026-03-01 12:30:00.000005' AS "
        "TIMESTAMP) AND gross > CAST('1.50' AS DECIMAL(3, 2)) AND code = 'it''s'"
    )
    # Microseconds and the zone survive; a decimal is never a Float64 there.
    assert render(SQL, PARAMS, dialect="clickhouse") == (
        "SELECT * FROM wh_orders WHERE ordered_at >= CAST('2026-03-01 12:30:00.000005' AS "
        "Nullable(DateTime64(6, 'UTC'))) AND gross > CAST('1.50' AS Nullable(Decimal(3, 2))) "
        "AND code = 'it''s'"
    )


def test_an_aware_time_is_bound_as_utc_and_dates_as_date32() -> None:
    sql = "SELECT 1 WHERE $at < $day"
    aware = datetime(2026, 3, 1, 13, 0, tzinfo=UTC).astimezone()
    rendered = render(sql, {"at": aware, "day": date(1950, 1, 2)}, dialect="clickhouse")
    assert "'2026-03-01 13:00:00.000000'" in rendered
    assert "CAST('1950-01-02' AS Nullable(Date32))" in rendered


def test_a_missing_parameter_is_refused() -> None:
    with pytest.raises(KeyError, match=r"\$least"):
        render(SQL, {"start": PARAMS["start"], "code": "x"}, dialect="duckdb")


def test_the_models_ddl_keeps_not_null_columns_plain() -> None:
    ddl = {s.split(" (")[0].split()[-1]: s for s in clickhouse_create_statements()}
    assert ddl["wh_orders"].startswith(
        "CREATE TABLE IF NOT EXISTS wh_orders (order_id Int64, channel_id Int64, "
        "ordered_at DateTime64(6, 'UTC'), currency String, customer_key Nullable(String), "
    )
    assert "cancelled_at Nullable(DateTime64(6, 'UTC'))" in ddl["wh_orders"]
    assert "gross Decimal(18, 4)," in ddl["wh_orders"]
    assert "per_eur Decimal(18, 6)" in ddl["wh_rates"]
    assert "month Date32" in ddl["wh_fixed_costs"]
    assert ddl["wh_rates"].endswith("ENGINE = MergeTree ORDER BY tuple()")


def test_rows_take_the_models_types_and_money_is_never_a_float() -> None:
    table = arrow_rows("wh_spend", [("2026-03-01", 1, "spring", "12.5", "EUR")])
    assert table.to_pylist() == [
        {"day": date(2026, 3, 1), "channel_id": 1, "campaign": "spring",
         "spend": Decimal("12.5000"), "currency": "EUR"}
    ]  # fmt: skip
    with pytest.raises(TypeError, match="float"):
        arrow_rows("wh_spend", [(date(2026, 3, 1), 1, "spring", 12.5, "EUR")])
    with pytest.raises(ValueError, match="row 1 has 4 values"):
        arrow_rows("wh_spend", [(date(2026, 3, 1), 1, "spring", "1")])


@pytest.mark.parametrize(
    "value",
    ["duckdb", "chdb", "clickhouse://u:p@ch.example:8123/shop", "clickhouses://ch.example/db"],
)
def test_engine_settings_name_an_engine(value: str) -> None:
    assert check_engine_setting(value) == value
    assert Settings(analytics_engine=value).analytics_engine == value


@pytest.mark.parametrize("value", ["sqlite", "clickhouse://", "postgres://x/y", ""])
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="duckdb"):
        check_engine_setting(value)
    with pytest.raises(ValidationError):
        Settings(analytics_engine=value)
