"""`omnicart demo` end to end (without serving): every scarce unit granted exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from omnicart.demo import SCARCE, run_demo


@pytest.mark.slow
def test_demo_grants_each_scarce_unit_once(tmp_path: Path) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", console)
    granted = {sku: sum(per.get(sku, 0) for per in result.granted.values()) for sku in SCARCE}
    assert granted == {sku: sum(places.values()) for sku, places in SCARCE.items()}
    assert result.discrepancies == 0
    assert result.skus >= 200
    assert len(result.channel_keys) >= 5
    assert "nothing oversold" in (tmp_path / "out.txt").read_text()
