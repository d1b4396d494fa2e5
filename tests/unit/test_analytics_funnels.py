"""Funnels on a table of events whose answer is worked out by hand, on DuckDB and ClickHouse.

Channels: 1 web, 2 app, 3 a store (pos). Steps: Product Viewed → Product Added →
Checkout Started → Order Completed, window 24 hours, March 2025.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine
from omnicart.analytics.funnels import check_funnel, funnel, funnel_sql, parse_window
from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed

WEB, APP, STORE = 1, 2, 3
VIEWED, ADDED, CHECKOUT, ORDERED = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
)
STEPS = [VIEWED, ADDED, CHECKOUT, ORDERED]
MARCH = Period.of(date(2025, 3, 1), date(2025, 3, 31))
DAY = timedelta(days=1)


def t(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A time in March 2025 (day 32 is 1 April)."""
    return datetime(2025, 3, 1, hour, minute, second, micro) + (day - 1) * DAY


def event(
    at: datetime,
    channel: int,
    key: str | None,
    name: str,
    *,
    source: str | None = None,
    anonymous: str | None = None,
) -> tuple[object, ...]:
    return (at, channel, key, anonymous, "track", name, source, None, None, None, None)


def order(
    order_id: int, channel: int, at: datetime, key: str, *, cancelled: datetime | None = None
) -> tuple[object, ...]:
    ten = Decimal("10.00")
    zero = Decimal(0)
    return (order_id, channel, at, "PLN", key, "till", ten, zero, zero, zero, ten, 1, cancelled)


EVENTS = [
    # c1 (web): every step within minutes; its first event carries utm_source=google.
    event(t(1, 10), WEB, "c1", VIEWED, source="google"),
    event(t(1, 10, 5), WEB, "c1", ADDED),
    event(t(1, 10, 10), WEB, "c1", CHECKOUT),
    event(t(1, 10, 15), WEB, "c1", ORDERED),
    # c2 (web): viewed and added, then bought at the till the same day without a checkout:
    # the store purchase does not skip the missing step (reaches step 2).
    event(t(2, 9), WEB, "c2", VIEWED),
    event(t(2, 9, 30), WEB, "c2", ADDED),
    # c3 (app): came from a newsletter (an earlier page), checked out in the app and
    # bought in the store that evening: the till sale completes the funnel (step 4).
    event(t(1, 8), APP, "c3", "Newsletter Opened", source=" Newsletter "),
    event(t(3, 12), APP, "c3", VIEWED),
    event(t(3, 12, 1), APP, "c3", ADDED),
    event(t(3, 12, 2), APP, "c3", CHECKOUT),
    # c4 (web): Order Completed exactly 24 hours after entering: inside (step 4). Its
    # campaign source comes after entering, so its source segment is (none).
    event(t(4), WEB, "c4", VIEWED),
    event(t(4, 1), WEB, "c4", ADDED, source="bing"),
    event(t(4, 2), WEB, "c4", CHECKOUT),
    event(t(5), WEB, "c4", ORDERED),
    # c5 (web): Order Completed 24 hours and a microsecond after: outside (step 3).
    event(t(5), WEB, "c5", VIEWED),
    event(t(5, 1), WEB, "c5", ADDED),
    event(t(5, 2), WEB, "c5", CHECKOUT),
    event(t(6, micro=1), WEB, "c5", ORDERED),
    # c6 (web): checkout before adding: out of order, so it stops at step 2 even though
    # it then completed an order (which needs the checkout first).
    event(t(6, 10), WEB, "c6", VIEWED),
    event(t(6, 10, 5), WEB, "c6", CHECKOUT),
    event(t(6, 10, 10), WEB, "c6", ADDED),
    event(t(6, 10, 20), WEB, "c6", ORDERED),
    # c7 (web): viewed in February too; enters at its first view in March, and its add
    # before that view does not count (step 1).
    event(t(0, 23, 59, 59), WEB, "c7", VIEWED),
    event(t(7, 7), WEB, "c7", ADDED),
    event(t(7, 8), WEB, "c7", VIEWED),
    # c8 (web): enters on the last day; its add on 1 April is within the window (step 2).
    event(t(31, 23), WEB, "c8", VIEWED),
    event(t(32, 1), WEB, "c8", ADDED),
    # c9: its view is at 1 April 00:00, the first instant after the range: not entered.
    event(t(32), WEB, "c9", VIEWED),
    # An anonymous visitor of the app (no customer key): a subject of its own (step 1).
    event(t(8), APP, None, VIEWED, anonymous="x"),
    # c10: views at the same instant in the app and on the web: enters once, on the lower
    # channel id (web); adding at that very instant counts (step 2).
    event(t(9, 10), APP, "c10", VIEWED),
    event(t(9, 10), WEB, "c10", VIEWED),
    event(t(9, 10), WEB, "c10", ADDED),
    # c11 (web): checked out; its till sale was cancelled, so it completes nothing (step 3).
    event(t(10, 10), WEB, "c11", VIEWED),
    event(t(10, 10, 1), WEB, "c11", ADDED),
    event(t(10, 10, 2), WEB, "c11", CHECKOUT),
    # c12 (web): a returning customer (ordered in February) who only looked (step 1).
    event(t(11, 10), WEB, "c12", VIEWED),
]
ORDERS = [
    order(1, STORE, t(2, 18), "c2"),
    order(2, STORE, t(3, 20), "c3"),
    order(3, STORE, t(10, 11), "c11", cancelled=t(10, 12)),
    order(4, WEB, datetime(2025, 2, 15, 12), "c12"),  # before entering: returning
    order(5, WEB, datetime(2025, 2, 1), "c6", cancelled=datetime(2025, 2, 2)),  # still new
]


# One model per engine for the module: the tests only read it.
@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    model: Engine
    if request.param == "duckdb":
        model = DuckDBEngine()
        _load(model)
        yield model
        return
    with ClickHouseEngine.in_process() as clickhouse:
        _load(clickhouse)
        yield clickhouse


def _load(engine: Engine) -> None:
    engine.insert("wh_channels", [(1, "web", "web", "EUR"), (2, "app", "app", "EUR")])
    engine.insert("wh_channels", [(3, "store", "pos", "PLN")])
    engine.insert("wh_events", EVENTS)
    engine.insert("wh_orders", ORDERS)


def _table(
    engine: Engine, steps: list[str], window: timedelta, segment: str | None = None
) -> dict[tuple[str | None, str | None], list[int]]:
    found = funnel(engine, period=MARCH, steps=steps, window=window, segment=segment)
    return {(r.channel, r.segment): [s.funnel_subjects for s in r.steps] for r in found.rows}


def test_the_four_step_funnel_by_hand(engine: Engine) -> None:
    # Entered (12): c1 c2 c3 c4 c5 c6 c7 c8 x c10 c11 c12 (not c9).
    # Added (9): c1 c2 c3 c4 c5 c6 c8 c10 c11.  Checkout (5): c1 c3 c4 c5 c11.
    # Order Completed (3): c1, c3 (the till sale), c4 (exactly 24 h).
    # Entry channels: app is c3 and x; the web is the other ten.
    assert _table(engine, STEPS, DAY) == {
        (None, None): [12, 9, 5, 3],
        ("app", None): [2, 1, 1, 1],
        ("web", None): [10, 8, 4, 2],
    }


def test_drop_off_and_conversion_per_step(engine: Engine) -> None:
    found = funnel(engine, period=MARCH, steps=STEPS, window=DAY)
    total = found.rows[0]
    assert (total.channel, total.segment) == (None, None)
    assert [(s.step, s.drop_off) for s in total.steps] == [
        (VIEWED, 0),
        (ADDED, 3),
        (CHECKOUT, 4),
        (ORDERED, 2),
    ]
    # 9/12, 5/9 = 0.5555… → 0.5556, 3/5; from the first: 9/12, 5/12 = 0.41666…, 3/12.
    assert [s.step_conversion for s in total.steps] == [
        Decimal("1.0000"),
        Decimal("0.7500"),
        Decimal("0.5556"),
        Decimal("0.6000"),
    ]
    assert [s.funnel_conversion for s in total.steps] == [
        Decimal("1.0000"),
        Decimal("0.7500"),
        Decimal("0.4167"),
        Decimal("0.2500"),
    ]


def test_a_store_purchase_completes_an_online_funnel(engine: Engine) -> None:
    # Entry at Product Added in March: c1 c2 c3 c4 c5 c6 c7 c10 c11 (c8 added in April).
    # Order Completed within 12 h: c1 (10 min), c2 (the till, 8 h 30), c3 (the till,
    # 7 h 59), c6 (10 min); not c4 (23 h), c5 (23 h), c7, c10, c11 (cancelled sale).
    assert _table(engine, [ADDED, ORDERED], timedelta(hours=12)) == {
        (None, None): [9, 4],
        ("app", None): [1, 1],
        ("web", None): [8, 3],
    }


def test_the_window_edge_is_inclusive(engine: Engine) -> None:
    # c4's order is exactly 24 h after entering: in with 24 h, out with 23 h 59 min.
    assert _table(engine, STEPS, DAY)[None, None][3] == 3
    shorter = _table(engine, STEPS, DAY - timedelta(minutes=1))
    assert shorter[None, None] == [12, 9, 5, 2]


def test_segments_by_first_source(engine: Engine) -> None:
    # c1: google (its entry event); c3: newsletter (an earlier event, trimmed, lower case);
    # c4's bing came after entering: (none); everyone else (none).
    assert _table(engine, STEPS, DAY, "source") == {
        (None, None): [12, 9, 5, 3],
        ("app", "(none)"): [1, 0, 0, 0],
        ("app", "newsletter"): [1, 1, 1, 1],
        ("web", "(none)"): [9, 7, 3, 1],
        ("web", "google"): [1, 1, 1, 1],
    }


def test_segments_new_and_returning(engine: Engine) -> None:
    # Only c12 ordered before entering (c6's February order was cancelled; c2's and c3's
    # till sales came after they entered).
    assert _table(engine, STEPS, DAY, "customer") == {
        (None, None): [12, 9, 5, 3],
        ("app", "new"): [2, 1, 1, 1],
        ("web", "new"): [9, 8, 4, 2],
        ("web", "returning"): [1, 0, 0, 0],
    }


def test_an_empty_model_gives_a_row_of_zeros() -> None:
    found = funnel(DuckDBEngine(), period=MARCH, steps=[VIEWED, ADDED], window=DAY)
    assert [(r.channel, [s.funnel_subjects for s in r.steps]) for r in found.rows] == [
        (None, [0, 0])
    ]
    assert found.rows[0].steps[1].step_conversion is None


def test_funnel_sql_names_the_store_step_only_when_asked() -> None:
    assert "wh_orders" in funnel_sql(2, store_step=1, segment=None)
    assert "wh_orders" not in funnel_sql(2, store_step=None, segment=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("365d", 365 * DAY)],
)
def test_windows_are_written_in_minutes_hours_or_days(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["0d", "366d", "7w", "d", "-1h", "1.5h", "9999999999d", ""])
def test_bad_windows_are_refused_naming_the_window(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_window(text)
    assert refused.value.field == "window"


@pytest.mark.parametrize(
    ("steps", "segment", "field"),
    [
        ([VIEWED], None, "steps"),
        ([f"e{i}" for i in range(11)], None, "steps"),
        ([VIEWED, VIEWED], None, "steps"),
        ([VIEWED, " "], None, "steps"),
        ([VIEWED, "x" * 201], None, "steps"),
        ([VIEWED, "a\x00b"], None, "steps"),
        ([VIEWED, ADDED], "country", "segment"),
    ],
)
def test_bad_funnels_are_refused_naming_the_parameter(
    steps: list[str], segment: str | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_funnel(steps, DAY, segment)
    assert refused.value.field == field
