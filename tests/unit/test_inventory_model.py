"""The stock rules as pure functions: buffers, bundles, plans, the change rule, events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicart.inventory.ledger import _crossed
from omnicart.inventory.model import (
    BufferPolicy,
    PlannedHold,
    StockChange,
    StockFigures,
    apply_change,
    bundle_sellable,
    check_quantity,
    plan_holds,
    threshold_events,
)
from omnicart.kernel.errors import Conflict, InsufficientStock, ValidationFailed


@pytest.mark.parametrize(
    ("available", "percent", "units", "sellable"),
    [
        (10, 80, 2, 8),  # "show 80 %, never the last 2": min(8, 8)
        (3, 80, 2, 1),  # min(2, 1)
        (2, 80, 2, 0),
        (0, 100, 0, 0),
        (7, 100, 0, 7),
        (7, 50, 1, 3),
        (-1, 100, 0, 0),
    ],
)
def test_buffer_policy_sellable(available: int, percent: int, units: int, sellable: int) -> None:
    assert BufferPolicy(percent, units).sellable(available) == sellable


@given(st.integers(-5, 10_000), st.integers(0, 100), st.integers(0, 50))
def test_a_buffer_never_shows_more_than_there_is(available: int, percent: int, units: int) -> None:
    sellable = BufferPolicy(percent, units).sellable(available)
    assert 0 <= sellable <= max(available, 0)
    assert sellable <= max(available - units, 0)


def test_bundle_is_limited_by_its_scarcest_component() -> None:
    assert bundle_sellable({1: 9, 2: 3}, [(1, 2), (2, 1)]) == 3  # min(9 // 2, 3)
    assert bundle_sellable({1: 9, 2: 3}, [(1, 4), (2, 1)]) == 2
    assert bundle_sellable({1: 9}, [(1, 2), (2, 1)]) == 0
    assert bundle_sellable({}, []) == 0


def test_apply_change_refuses_oversell_and_over_release() -> None:
    figures = StockFigures(on_hand=5, reserved=2, allocated=1)
    assert apply_change(figures, StockChange(1, 1, reserved=2)) == StockFigures(5, 4, 1)
    with pytest.raises(InsufficientStock):
        apply_change(figures, StockChange(1, 1, reserved=3), sku="A")
    with pytest.raises(InsufficientStock):
        apply_change(figures, StockChange(1, 1, on_hand=-3))
    with pytest.raises(Conflict):
        apply_change(figures, StockChange(1, 1, reserved=-3))


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, 1_000_001])
def test_check_quantity_refuses(value: object) -> None:
    with pytest.raises(ValidationFailed):
        check_quantity(value)


def test_plan_prefers_one_location_for_everything() -> None:
    available = {(1, 10): 5, (2, 10): 0, (1, 20): 5, (2, 20): 5}
    plan = plan_holds(
        demand={1: 2, 2: 1},
        available=available,
        locations=(10, 20),
        policy=BufferPolicy(),
        sku_of={1: "A", 2: "B"},
    )
    assert plan == [PlannedHold(1, 20, 2), PlannedHold(2, 20, 1)]


def test_plan_splits_when_no_location_has_it_all() -> None:
    available = {(1, 10): 2, (1, 20): 3}
    plan = plan_holds(
        demand={1: 4},
        available=available,
        locations=(10, 20),
        policy=BufferPolicy(),
        sku_of={1: "A"},
    )
    assert plan == [PlannedHold(1, 10, 2), PlannedHold(1, 20, 2)]


def test_plan_respects_the_buffer_over_the_pool() -> None:
    available = {(1, 10): 5, (1, 20): 5}
    with pytest.raises(InsufficientStock) as info:
        plan_holds(
            demand={1: 9},
            available=available,
            locations=(10, 20),
            policy=BufferPolicy(80, 2),
            sku_of={1: "A"},
        )
    assert info.value.extra["shortages"] == [{"sku": "A", "requested": 9, "sellable": 8}]


@pytest.mark.parametrize(
    ("before", "after", "threshold", "events"),
    [
        (10, 0, 5, ["StockOutOfStock"]),
        (0, 3, 5, ["StockBackInStock", "StockLow"]),
        (0, 9, 5, ["StockBackInStock"]),
        (9, 4, 5, ["StockLow"]),
        (4, 3, 5, []),  # already low: no repeat
        (3, 8, 5, []),
        (6, 5, 5, ["StockLow"]),
        (1, 0, 0, ["StockOutOfStock"]),
    ],
)
def test_threshold_events(before: int, after: int, threshold: int, events: list[str]) -> None:
    assert threshold_events(before=before, after=after, threshold=threshold) == events


@given(
    before=st.integers(min_value=-5, max_value=30),
    after=st.integers(min_value=-5, max_value=30),
    threshold=st.integers(min_value=0, max_value=40),
)
def test_a_change_that_raises_an_event_under_any_threshold_reads_the_thresholds(
    before: int, after: int, threshold: int
) -> None:
    # The ledger reads the SKUs' own thresholds only when `_crossed` says some threshold
    # could raise an event: it must never say no where a real threshold would raise one.
    key = (1, 1)
    was = {key: StockFigures(on_hand=30, reserved=30 - before)}
    now = {key: StockFigures(on_hand=30, reserved=30 - after)}
    if threshold_events(before=before, after=after, threshold=threshold):
        assert _crossed(was, now)
