"""A report's range: whole UTC days, both ends in, at most ten years."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed


def test_a_range_is_half_open_in_time_and_counts_both_days() -> None:
    period = Period.of(date(2026, 3, 16), date(2026, 4, 15))
    assert period.start == datetime(2026, 3, 16)
    assert period.end == datetime(2026, 4, 16)
    assert period.days == 31
    assert Period.of(date(2026, 1, 1), date(2026, 1, 1)).days == 1


@pytest.mark.parametrize(
    ("first", "last", "fine"),
    [
        (date(2016, 1, 1), date(2025, 12, 31), True),
        (date(2016, 1, 1), date(2026, 1, 1), False),
        (date(2016, 2, 29), date(2026, 2, 28), True),  # ten years from a leap day
        (date(2016, 2, 29), date(2026, 3, 1), False),
        (date(2026, 1, 2), date(2026, 1, 1), False),
    ],
)
def test_ranges_end_after_they_start_and_span_ten_years_at_most(
    first: date, last: date, fine: bool
) -> None:
    if fine:
        assert Period.of(first, last).last == last
        return
    with pytest.raises(ValidationFailed) as refused:
        Period.of(first, last)
    assert refused.value.field == "to"


def test_the_fields_named_are_the_callers() -> None:
    with pytest.raises(ValidationFailed) as refused:
        Period.of(date(2026, 1, 2), date(2026, 1, 1), fields=("first", "last"))
    assert refused.value.field == "last"
    assert refused.value.detail == "the range ends before it starts"
