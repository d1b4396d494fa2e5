"""The orders benchmark runs end to end (tiny and short) and checks what it claims."""

from __future__ import annotations

import pytest

from omnicart.benchmarks.orders import BenchConfig, run
from tests.conftest import PG_URL, require_postgres


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
    for key in ("orders_per_s", "p50_ms", "p99_ms", "operations_per_s"):
        assert result[key] > 0
