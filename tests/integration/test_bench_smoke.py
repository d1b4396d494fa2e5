"""The inventory benchmark runs end to end (tiny and short) and checks what it claims."""

from __future__ import annotations

import pytest

from omnicart.benchmarks.inventory import BenchConfig, run
from tests.conftest import PG_URL, require_postgres


@pytest.mark.slow
def test_inventory_bench_reports_every_field_and_no_oversell() -> None:
    require_postgres()
    result = run(
        BenchConfig(
            url=PG_URL,
            workers=4,
            processes=2,
            skus=60,
            locations=2,
            duration_s=1.0,
            stock_per_location=3,
        )
    )
    assert result["requests"] > 0
    assert result["oversold"] == 0
    assert result["ledger_discrepancies"] == 0
    assert result["rejected_for_stock"] > 0  # 3 units a row: the hot SKUs sell out
    for key in ("requests_per_s", "p50_ms", "p99_ms", "ratio_to_raw_sql", "raw_sql_requests_per_s"):
        assert result[key] >= 0
    assert result["same_writes_requests_per_s"] > 0
    assert result["same_writes_rejected_for_stock"] > 0  # its guard refuses too
    assert result["ratio_to_same_writes"] > 0
    # One reservation of 2 SKUs: its row, 2 lines, 2 stock rows and 2 ledger rows, and
    # the same-writes baseline writes the same rows and columns.
    assert result["writes_per_2_line_request"] == {
        "reservations": 1,
        "reservation_lines": 2,
        "stock_levels": 2,
        "stock_movements": 2,
    }
    assert result["same_writes"] is True
