"""The one conversion rule: the day's ECB rates (or the latest earlier ones), computed
exactly, rounded half-even to the target currency's minor units; and proration."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from omnicart.analytics.channels import prorate
from omnicart.analytics.currency import MissingRate, Rates
from omnicart.analytics.period import Period

D = Decimal
RATES = Rates(
    days={"PLN": [date(2026, 3, 13), date(2026, 3, 16)], "JPY": [date(2026, 3, 13)]},
    per_eur={"PLN": [D("4.0"), D("4.2")], "JPY": [D("160")]},
)


def test_a_day_takes_its_rate_or_the_latest_earlier_one() -> None:
    assert RATES.rate("PLN", date(2026, 3, 13)) == D("4.0")
    assert RATES.rate("PLN", date(2026, 3, 15)) == D("4.0")  # a Sunday: Friday's
    assert RATES.rate("PLN", date(2026, 3, 16)) == D("4.2")
    assert RATES.rate("EUR", date(1999, 1, 1)) == 1
    with pytest.raises(MissingRate, match="PLN on or before 2026-03-12"):
        RATES.rate("PLN", date(2026, 3, 12))
    with pytest.raises(MissingRate, match="GBP"):
        RATES.rate("GBP", date(2026, 3, 16))


def test_conversion_rounds_half_even_to_the_targets_minor_units() -> None:
    day = date(2026, 3, 13)
    # 0.10 PLN / 4.0 = 0.025 EUR exactly: a tie, to the even cent
    assert RATES.convert(D("0.10"), source="PLN", target="EUR", day=day) == D("0.02")
    assert RATES.convert(D("0.14"), source="PLN", target="EUR", day=day) == D("0.04")  # 0.035
    # 100 PLN -> JPY through EUR: 100 / 4.0 x 160 = 4000 (no minor units)
    assert RATES.convert(D("100"), source="PLN", target="JPY", day=day) == D("4000")
    # 1 PLN on 16 March: 1 / 4.2 = 0.238095...
    assert RATES.convert(D("1"), source="PLN", target="EUR", day=date(2026, 3, 16)) == D("0.24")
    # Same currency: only rounded (a fee of 1.125 EUR on one day is 1.12)
    assert RATES.convert(D("1.125"), source="EUR", target="EUR", day=day) == D("1.12")
    assert RATES.convert(D("-1.135"), source="EUR", target="EUR", day=day) == D("-1.14")


def test_fixed_costs_are_prorated_by_the_months_days_in_range() -> None:
    march = date(2026, 3, 1)
    assert prorate(
        D("3100"), month=march, period=Period.of(date(2026, 3, 16), date(2026, 4, 15))
    ) == (
        date(2026, 3, 16),
        D("1600"),
    )
    whole = prorate(D("3100"), month=march, period=Period.of(date(2026, 2, 1), date(2026, 5, 1)))
    assert whole == (march, D("3100"))
    day, share = prorate(
        D("1000"), month=march, period=Period.of(date(2026, 3, 31), date(2026, 4, 2))
    )
    assert day == date(2026, 3, 31)
    assert share.quantize(D("0.000001")) == D("32.258065")  # 1000 / 31
    february = prorate(
        D("290"), month=date(2028, 2, 1), period=Period.of(date(2028, 2, 28), date(2028, 3, 5))
    )
    assert february == (date(2028, 2, 28), D("20"))  # 290 x 2 / 29 (a leap February)
