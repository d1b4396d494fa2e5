"""The orders benchmark runs end to end (tiny and short) and checks what it claims."""

from __future__ import annotations

import pytest

from omnicart.benchmarks.orders import BenchConfig, run
from omnicart.benchmarks.orders_load import KINDS
from tests.conftest import PG_URL, require_postgres

# What each kind of order writes, per table, as Omnicart writes it today. The baseline
# must write the same (the bench compares them on every run); an order path that writes
# more or less changes this table on purpose.
ORDER_ROWS = {"orders": 1, "order_lines": 2, "payments": 1, "outbox_events": 2}
STOCK_ROWS = {"reservations": 1, "reservation_lines": 2, "stock_levels": 2}


@pytest.mark.slow
def test_orders_bench_reports_every_field_and_nothing_oversold_or_twice() -> None:
    require_postgres()
    result = run(
        BenchConfig(
            url=PG_URL, seconds=2.0, workers=1, clients=1, threads=4, skus=40, stock_per_location=2
        )
    )
    assert result["orders"] > 0
    assert result["checkouts"] > 0
    assert result["till_sales"] > 0
    assert result["marketplace_orders"] > 0
    assert result["repeats_sent"] > 0
    assert (result["oversold"], result["duplicates"], result["lost"]) == (0, 0, 0)
    assert result["ledger_discrepancies"] == 0
    assert result["failed"] == 0, result["errors"]
    assert result["rejected_for_stock"] > 0  # 2 units a row: the hot SKUs sell out
    raw = [result[f"raw_sql_{k}"] for k in ("oversold", "duplicates", "lost", "failed")]
    assert raw == [0, 0, 0, 0], result["errors"]
    assert result["raw_sql_ledger_discrepancies"] == 0
    assert result["raw_sql_rejected_for_stock"] > 0
    for key in ("orders_per_s", "p50_ms", "p99_ms", "operations_per_s", "raw_sql_orders_per_s"):
        assert result[key] > 0
    assert result["ratio_to_raw_sql"] > 0
    assert set(result["kinds"]) == set(KINDS)
    for kind, figures in result["kinds"].items():
        assert figures["orders_per_s"] > 0, kind
        assert figures["p99_ms"] > 0, kind
        assert figures["ratio_to_raw_sql"] > 0, kind
        assert figures["same_writes"], result["raw_sql_writes_differ"]
        assert figures["round_trips"] > figures["raw_sql_round_trips"] >= 1, kind
    assert result["raw_sql_writes_differ"] == {}
    writes = result["writes_per_order"]
    assert writes["marketplace"] == {
        **ORDER_ROWS,
        **STOCK_ROWS,
        "order_transitions": 2,
        "stock_movements": 2,
    }
    assert writes["checkout"] == {
        **ORDER_ROWS,
        **STOCK_ROWS,
        "order_transitions": 2,
        "stock_movements": 4,
        "carts": 1,
    }
    assert writes["till"] == {
        **ORDER_ROWS,
        **STOCK_ROWS,
        "order_transitions": 4,
        "stock_movements": 4,
        "fulfilments": 1,
    }
    # A checkout's two requests are counted together, and one statement each at the baseline.
    assert result["kinds"]["checkout"]["raw_sql_round_trips"] == 2


@pytest.mark.slow
def test_orders_bench_runs_one_kind_on_the_connections_asked() -> None:
    require_postgres()
    result = run(
        BenchConfig(
            url=PG_URL,
            seconds=1.0,
            workers=1,
            clients=2,
            connections=3,
            skus=40,
            stock_per_location=5,
            mix="marketplace",
        )
    )
    assert result["client_connections"] == 3
    assert result["marketplace_orders"] > 0
    assert (result["checkouts"], result["till_sales"]) == (0, 0)
    assert (result["oversold"], result["duplicates"], result["lost"]) == (0, 0, 0)
    assert result["kinds"]["marketplace"]["ratio_to_raw_sql"] > 0
    assert result["kinds"]["checkout"]["ratio_to_raw_sql"] is None  # no baseline orders
