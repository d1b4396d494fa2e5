"""`omnicart bench console` end to end at a tiny size: a real server on the demo history,
every page and its baseline timed (and its charts, where Chromium is installed)."""

from __future__ import annotations

import orjson
import pytest

from omnicart.benchmarks.console import CHROMIUM, BenchConfig, run


@pytest.mark.slow
def test_the_console_bench_times_every_page_against_the_api() -> None:
    result = run(BenchConfig(requests=5, visits=1, browser=CHROMIUM.exists()))
    orjson.dumps(result)  # one JSON line
    assert result["missing"] == []
    assert set(result["pages"]) == {"overview", "customers", "stock"}
    assert result["pages"]["overview"]["path"] == "/console/analytics"
    assert result["pages"]["stock"]["baseline"]["requests"] == ["/v1/stock?limit=100"]
    for name, page in result["pages"].items():
        ttfb, baseline = page["ttfb"], page["baseline"]
        assert 0 < ttfb["p50_ms"] <= ttfb["p99_ms"], name
        assert 0 < baseline["p50_ms"] <= baseline["p99_ms"], name
        assert page["ratio_p50"] == round(ttfb["p50_ms"] / baseline["p50_ms"], 3), name
    browser = result["browser"]
    if CHROMIUM.exists():
        assert set(browser) == {"overview", "customers", "stock"}
        # The Overview and Customers pages draw charts (timed until drawn); Stock none.
        assert browser["overview"]["charts"] >= 1
        assert browser["customers"]["charts"] >= 1
        assert browser["stock"]["charts"] == 0
        assert all(b["p50_ms"] > 0 for b in browser.values())
    else:
        assert browser == {"skipped": f"Chromium is missing at {CHROMIUM}"}
    assert len(result["load_average"]["before"]) == 3
