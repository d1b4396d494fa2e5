"""A range cut into slices, read once (`channel_series`), gives each slice exactly the
figures `channel_figures` gives for that slice alone, on DuckDB and on ClickHouse (chDB).

The merchant is test_analytics_engines' seeded one: three channels in three currencies,
cancellations, refunds, returns, unit costs and fees that change, spend, fixed costs of
several months in three currencies, rates with gaps and tracked sessions. Ranges and
slicings are drawn at random (Hypothesis): slices of a day, slices across a month's end,
gaps between slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicart.analytics.channels import channel_figures, channel_series
from omnicart.analytics.channels_sql import SESSIONS, customers_sql
from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine
from omnicart.kernel.errors import ValidationFailed
from tests.integration.test_analytics_engines import _typed, generated, load_model

FIRST_DAY = date(2025, 12, 20)  # before the merchant's first order: empty slices too
DAYS = 140  # to 8 May 2026, past its last order
SLICINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def merchant(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The seeded merchant on each engine (read only)."""
    rows = generated(11, orders=700, events=1500)
    if request.param == "duckdb":
        engine: Engine = DuckDBEngine()
        load_model(engine, rows)
        yield engine
        return
    with ClickHouseEngine.in_process() as clickhouse:
        load_model(clickhouse, rows)
        yield clickhouse


@st.composite
def slicings(draw: st.DrawFn) -> tuple[date, date, list[tuple[date, date]]]:
    """A range and slices of it: in order, disjoint, some days between them left out."""
    first = FIRST_DAY + timedelta(days=draw(st.integers(0, DAYS - 1)))
    length = draw(st.integers(1, (FIRST_DAY + timedelta(days=DAYS) - first).days))
    last = first + timedelta(days=length - 1)
    cuts = sorted(draw(st.sets(st.integers(0, length - 1), max_size=6)) | {0, length})
    slices = []
    for start, after in pairwise(cuts):
        if draw(st.integers(0, 4)) == 0:  # a gap: this piece is no slice
            continue
        slices.append((first + timedelta(days=start), first + timedelta(days=after - 1)))
    return first, last, slices


@given(drawn=slicings(), currency=st.sampled_from(["EUR", "PLN", "GBP"]))
@SLICINGS
def test_each_slice_has_the_figures_of_its_own_report(
    merchant: Engine, drawn: tuple[date, date, list[tuple[date, date]]], currency: str
) -> None:
    first, last, slices = drawn
    series = channel_series(merchant, first=first, last=last, slices=slices, currency=currency)
    assert series.report == channel_figures(merchant, first=first, last=last, currency=currency)
    assert len(series.slices) == len(slices)
    for (slice_first, slice_last), report in zip(slices, series.slices, strict=True):
        alone = channel_figures(merchant, first=slice_first, last=slice_last, currency=currency)
        assert report == alone, (slice_first, slice_last)


def test_monthly_slices_are_not_vacuous(merchant: Engine) -> None:
    """Slices across months' ends, with buyers new to a slice and fixed costs prorated."""
    slices = [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 10), date(2026, 3, 14)),  # a gap before it; across a month's end
        (date(2026, 3, 15), date(2026, 3, 15)),  # one day
        (date(2026, 3, 16), date(2026, 4, 30)),
    ]
    first, last = date(2026, 1, 1), date(2026, 4, 30)
    series = channel_series(merchant, first=first, last=last, slices=slices, currency="EUR")
    for (slice_first, slice_last), report in zip(slices, series.slices, strict=True):
        assert report == channel_figures(
            merchant, first=slice_first, last=slice_last, currency="EUR"
        )
        assert (report.first, report.last) == (slice_first, slice_last)
    january, february, one_day, spring = series.slices
    for report in (january, february, spring):
        assert report.total_value("orders") > 50  # type: ignore[operator]
        assert report.total_value("returned_units") > 0  # type: ignore[operator]
        assert report.total_value("sessions") > 50  # type: ignore[operator]
    # Buyers new in each slice, and returning ones: they bought in an earlier slice.
    assert january.total_value("new_customers") > 0  # type: ignore[operator]
    assert spring.total_value("returning_customers") > 0  # type: ignore[operator]
    # One customer buying on two channels in a slice counts once in its total.
    by_channel = sum(c.value("customers") for c in spring.channels)  # type: ignore[misc]
    assert spring.total_value("customers") < by_channel  # type: ignore[operator]
    # A day's share of its month's fixed costs, and the months' shares in a slice across
    # them, are each prorated to the slice.
    assert one_day.total_value("fixed_costs") > 0  # type: ignore[operator]
    whole = series.report
    assert sum(s.total_value("orders") for s in series.slices) < whole.total_value("orders")  # type: ignore[misc, operator]


def test_no_slices_is_the_range_alone(merchant: Engine) -> None:
    series = channel_series(
        merchant, first=date(2026, 2, 1), last=date(2026, 2, 28), slices=[], currency="PLN"
    )
    assert series.slices == ()
    assert series.report == channel_figures(
        merchant, first=date(2026, 2, 1), last=date(2026, 2, 28), currency="PLN"
    )


@pytest.mark.parametrize(
    "slices",
    [
        [(date(2026, 1, 31), date(2026, 3, 1))],  # starts before the range
        [(date(2026, 2, 1), date(2026, 3, 1))],  # ends after it
        [(date(2026, 2, 10), date(2026, 2, 9))],  # ends before it starts
        [(date(2026, 2, 10), date(2026, 2, 20)), (date(2026, 2, 1), date(2026, 2, 5))],
        [(date(2026, 2, 1), date(2026, 2, 10)), (date(2026, 2, 10), date(2026, 2, 20))],
    ],
)
def test_slices_out_of_order_or_outside_the_range_are_a_programming_error(
    merchant: Engine, slices: list[tuple[date, date]]
) -> None:
    with pytest.raises(ValueError, match="is not a range inside"):
        channel_series(
            merchant, first=date(2026, 2, 1), last=date(2026, 2, 28), slices=slices, currency="EUR"
        )


def test_a_currency_without_a_rate_by_the_first_slices_end_is_refused_as_for_it_alone(
    engine_kind: str,
) -> None:
    """PLN's first rate is on 1 March: a report in PLN of a slice ending before cannot be
    made, alone or in a series; one from 1 March can."""
    with _empty(engine_kind) as engine:
        engine.insert("wh_channels", [(1, "market-eu", "marketplace", "EUR")])
        engine.insert("wh_rates", [(date(2026, 3, 1), "PLN", Decimal(4))])
        early = [(date(2026, 2, 20), date(2026, 2, 28)), (date(2026, 3, 1), date(2026, 3, 9))]
        with pytest.raises(ValidationFailed) as alone:
            channel_figures(engine, first=date(2026, 2, 20), last=date(2026, 2, 28), currency="PLN")
        with pytest.raises(ValidationFailed) as in_series:
            channel_series(
                engine,
                first=date(2026, 2, 20),
                last=date(2026, 3, 9),
                slices=early,
                currency="PLN",
            )
        assert alone.value.field == in_series.value.field == "currency"
        series = channel_series(
            engine,
            first=date(2026, 2, 20),
            last=date(2026, 3, 9),
            slices=early[1:],
            currency="PLN",
        )
        assert series.slices[0] == channel_figures(
            engine, first=date(2026, 3, 1), last=date(2026, 3, 9), currency="PLN"
        )


@pytest.fixture(params=["duckdb", "chdb"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _empty(kind: str) -> Iterator[Engine]:
    if kind == "duckdb":
        yield DuckDBEngine()
        return
    with ClickHouseEngine.in_process() as clickhouse:
        yield clickhouse


def test_both_engines_give_the_same_series() -> None:
    rows = generated(11, orders=700, events=1500)
    duck = DuckDBEngine()
    load_model(duck, rows)
    slices = [(date(2026, 1, 5), date(2026, 1, 11)), (date(2026, 1, 12), date(2026, 3, 2))]
    first, last = date(2026, 1, 3), date(2026, 3, 2)
    params = {
        "start": datetime(2026, 1, 3),
        "end": datetime(2026, 3, 3),
        "first": first,
        "last": last,
        "cut_first_1": slices[0][0],
        "cut_last_1": slices[0][1],
        "cut_first_2": slices[1][0],
        "cut_last_2": slices[1][1],
    }
    with ClickHouseEngine.in_process() as clickhouse:
        load_model(clickhouse, rows)
        on_duckdb = channel_series(duck, first=first, last=last, slices=slices, currency="PLN")
        assert (
            channel_series(clickhouse, first=first, last=last, slices=slices, currency="PLN")
            == on_duckdb
        )
        for sql in (customers_sql(2), SESSIONS):
            found = duck.query(sql, params)
            assert found
            assert _typed(clickhouse.query(sql, params)) == _typed(found)
