"""The connectors benchmark runs end to end (tiny and short) and checks what it claims;
its lag and staleness counters are checked on figures made up here."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnicart.benchmarks.connectors import BenchConfig, run, stale_figures, sync_lags
from tests.conftest import PG_URL, require_postgres

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "webhooks"
KEYS = {
    "deliveries_per_s",
    "ack_p50_ms",
    "ack_p99_ms",
    "processed_lost",
    "duplicated",
    "stock_sync_lag_p50_ms",
    "stock_sync_lag_p99_ms",
    "stale_pushes",
    "ack_ratio_to_bare_insert",
    "bare_insert_ack_p99_ms",
    "final_mismatches",
    "unsynced_changes",
    "lag_p99_ms_by_vendor",
}


@pytest.mark.slow
def test_connectors_bench_loses_doubles_and_stales_nothing() -> None:
    require_postgres()
    if not DATA.is_dir():
        pytest.skip(f"the vendors' published payloads are not at {DATA}")
    result = run(
        BenchConfig(
            url=PG_URL,
            seconds=2.0,
            rate=10.0,
            webhooks=8.0,
            workers=1,
            moving_skus=8,
            order_skus=6,
            sender_threads=1,
            change_threads=2,
        )
    )
    assert set(result) >= KEYS, KEYS - set(result)
    assert result["background"] == "worker"
    assert result["errors"] == []
    assert (result["deliveries_failed"], result["stock_changes_failed"]) == (0, 0)
    assert result["deliveries_acked"] > 0
    assert result["orders_stored"] == result["orders_expected"] > 0
    assert (result["processed_lost"], result["duplicated"], result["stale_pushes"]) == (0, 0, 0)
    assert (result["final_mismatches"], result["unsynced_changes"]) == (0, 0)
    # Every change was timed at every one of the four vendors.
    assert result["lag_samples"] == 4 * result["stock_changes"] > 0
    assert set(result["load_average"]) == {"before", "after"}
    assert all(len(result["load_average"][when]) == 3 for when in ("before", "after"))
    assert set(result["lag_p99_ms_by_vendor"]) == {
        "shopify",
        "woocommerce",
        "bigcommerce",
        "square",
    }


def test_a_figure_above_one_already_taken_is_stale() -> None:
    sets = [(1.0, "A", 9), (2.0, "B", 5), (3.0, "A", 8), (4.0, "A", 9), (5.0, "A", 7)]
    assert stale_figures(sets) == 1
    assert stale_figures([(1.0, "A", 9), (2.0, "A", 9), (3.0, "A", 8)]) == 0


def test_a_change_is_synced_when_its_figure_or_a_lower_one_arrives() -> None:
    taken = {"shop": [(10.0, "A", 9), (12.0, "A", 7), (13.0, "A", 8)]}
    changes = [(9.5, "A", 9), (10.5, "A", 8), (11.0, "A", 7), (11.5, "A", 6)]
    found = sync_lags(changes, taken, end=20.0)
    # 9 at 10.0; 8 first held at 12.0 (7 is newer); 7 at 12.0; 6 never (until the end).
    assert [round(x) for x in found["by_vendor"]["shop"]] == [500, 1500, 1000, 8500]
    assert found["unsynced"] == 1
