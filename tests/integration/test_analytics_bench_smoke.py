"""`omnicart bench analytics` at a tiny size: every report equals its hand-written SQL."""

from __future__ import annotations

from omnicart.benchmarks.analytics import BenchConfig, run


def test_every_report_equals_the_hand_written_query_on_a_small_history() -> None:
    result = run(BenchConfig(orders=3_000, events=30_000, repeat=1))
    assert result["orders"] == 3_000
    assert result["events"] == 30_000
    for report in ("overview", "cohorts", "funnel"):
        assert result[report]["equal"] is True, report
        assert result[report]["ms"] > 0
        assert result[report]["hand_sql_ms"] > 0
    # The model's sessions are those a hand sessionization of every event finds.
    assert result["sessions"] > 0
    assert result["sessions_check"] == {
        "hand_sql_ms": result["sessions_check"]["hand_sql_ms"],
        "differing_rows": 0,
        "equal": True,
    }
    assert result["equal"] is True
