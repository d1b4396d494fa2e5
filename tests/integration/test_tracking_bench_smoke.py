"""The ingest benchmark runs end to end (short and small) and checks what it claims."""

from __future__ import annotations

import pytest

from omnicart.benchmarks.ingest import BenchConfig, run


@pytest.mark.slow
@pytest.mark.parametrize("flusher", ["thread", "process"])
def test_ingest_bench_reports_every_field_and_loses_nothing(flusher: str) -> None:
    config = BenchConfig(seconds=1.0, workers=1, clients=1, threads=2, batch=20, flusher=flusher)
    result = run(config)
    assert result["flusher"] == flusher
    assert result["acknowledged_events"] > 0
    assert result["acknowledged_events"] % 20 == 0
    assert result["stored_events"] == result["acknowledged_events"]
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["failed_batches"] == 0
    for key in (
        "events_per_s",
        "p50_ms",
        "p99_ms",
        "ratio_to_raw_duckdb",
        "raw_duckdb_events_per_s",
    ):
        assert result[key] > 0
    assert result["p99_ms"] >= result["p50_ms"]
