"""The same metric suite on DuckDB and on ClickHouse (chDB) gives identical results.

A seeded generator makes a merchant of three channels in three currencies with every kind
of row the model holds (cancellations, refunds, returns, unit costs and fees that change,
spend, fixed costs, rates with gaps, tracked sessions); the per-channel figures and each
of their SQL statements must come out equal, value for value and type for type.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from omnicart.analytics import channels_sql
from omnicart.analytics.channels import channel_figures
from omnicart.analytics.engine import (
    ClickHouseEngine,
    DuckDBEngine,
    Engine,
    copy_model,
    engine_for,
    sync_model,
)
from omnicart.analytics.line_costs import build_line_costs
from omnicart.analytics.schema import TABLES
from omnicart.analytics.sessions import build_sessions

D = Decimal
START = date(2026, 1, 1)
DAYS = 120
CHANNELS = [(1, "web-pl", "web", "PLN"), (2, "market-eu", "marketplace", "EUR"),
            (3, "shop-uk", "pos", "GBP")]  # fmt: skip
SKUS = ["A", "B", "C", "D", "E"]
EVENTS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return D(rng.randint(low * 100, high * 100)) / 100


def _moment(rng: random.Random) -> datetime:
    day = START + timedelta(days=rng.randrange(DAYS))
    return datetime.combine(day, datetime.min.time()) + timedelta(
        seconds=rng.randrange(86400), microseconds=rng.randrange(1_000_000)
    )


def generated(
    seed: int, orders: int = 1500, events: int = 4000
) -> dict[str, list[tuple[Any, ...]]]:
    """A merchant's model rows, the same for the same seed."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    rows["wh_channels"] = list(CHANNELS)
    customers = [f"c{n}" for n in range(300)]
    for order_id in range(1, orders + 1):
        channel_id, _, _, currency = rng.choice(CHANNELS)
        at = _moment(rng)
        lines = [
            (rng.choice(SKUS), rng.randint(1, 4), _money(rng, 5, 120))
            for _ in range(rng.randint(1, 3))
        ]
        gross = sum((q * p for _, q, p in lines), D(0))
        discount = _money(rng, 0, 10) if rng.random() < 0.3 else D(0)
        shipping = _money(rng, 0, 15) if rng.random() < 0.5 else D(0)
        total = gross - discount + shipping
        units = sum(q for _, q, _ in lines)
        cancelled = at + timedelta(hours=2) if rng.random() < 0.05 else None
        key = rng.choice(customers) if rng.random() < 0.85 else None
        rows["wh_orders"].append((order_id, channel_id, at, currency, key, "web", gross, discount,
                                  D(0), shipping, total, units, cancelled))  # fmt: skip
        for line_no, (sku, quantity, price) in enumerate(lines, start=1):
            rows["wh_order_lines"].append((order_id, line_no, sku, quantity, price))
        if rng.random() < 0.1:
            sku, quantity, price = lines[0]
            back = rng.randint(1, quantity)
            received = at + timedelta(days=rng.randint(1, 20))
            rows["wh_returns"].append((order_id, order_id, received, sku, back, "size"))
            rows["wh_refunds"].append((order_id, received, back * price, currency, order_id))
        elif rng.random() < 0.03:
            rows["wh_refunds"].append(
                (order_id, at + timedelta(days=1), _money(rng, 1, 5), currency, None)
            )
    visitors = [*customers[:100], *(None for _ in range(30))]
    for _ in range(events):
        key = rng.choice(visitors)
        anonymous = None if key else f"anon{rng.randrange(60)}"
        at = _moment(rng)
        event = rng.choice(EVENTS)
        rows["wh_events"].append((at, rng.choice([1, 2]), key, anonymous, "track", event,
                                  None, None, None, None, None))  # fmt: skip
        # a burst of follow-ups inside and around the 30-minute gap
        for minutes in (5, 29, 31, 95)[: rng.randint(0, 4)]:
            follow = at + timedelta(minutes=minutes)
            rows["wh_events"].append(
                (follow, 1, key, anonymous, "page", None, None, None, None, None, None)
            )
    for sku in SKUS:
        for months in range(0, 4, rng.randint(1, 3)):
            rows["wh_unit_costs"].append(
                (
                    sku,
                    date(2025, 12 + months, 1)
                    if months == 0
                    else date(2026, months, rng.randint(1, 28)),
                    _money(rng, 2, 40),
                    rng.choice(["PLN", "EUR"]),
                )
            )
    for channel_id, *_ in CHANNELS:
        rows["wh_fees"].append(
            (channel_id, date(2025, 12, 1), D(rng.randint(0, 15)), D("1.5"), D("0.30"), "EUR")
        )
        rows["wh_fees"].append((channel_id, date(2026, 2, 14), D("12.5"), D("2"), D("0.25"), "EUR"))
        for month in range(1, 6):
            rows["wh_fixed_costs"].append(
                (
                    channel_id,
                    date(2026, month, 1),
                    "rent",
                    _money(rng, 100, 3000),
                    rng.choice(["PLN", "EUR", "GBP"]),
                )
            )
        for offset in range(0, DAYS, 3):
            rows["wh_spend"].append(
                (
                    START + timedelta(days=offset),
                    channel_id,
                    "always",
                    _money(rng, 0, 80),
                    rng.choice(["PLN", "EUR"]),
                )
            )
    for offset in range(-10, DAYS + 10):
        day = START + timedelta(days=offset)
        if day.weekday() < 5:  # the ECB publishes on working days only
            rows["wh_rates"].append((day, "PLN", D(f"4.{rng.randint(1000, 3999)}")))
            rows["wh_rates"].append((day, "GBP", D(f"0.8{rng.randint(1000, 9999)}")))
    return rows


def load_model(engine: Engine, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """`generated` rows in the model, with the tables the warehouse's refresh derives from
    them (sessions, costed lines), derived by the engine itself."""
    for table, values in rows.items():
        engine.insert(table, values)
    build_sessions(engine)
    build_line_costs(engine)


@pytest.fixture(scope="module", params=[7, pytest.param(2026, marks=pytest.mark.slow)])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[DuckDBEngine, ClickHouseEngine]]:
    rows = generated(request.param)
    duck = DuckDBEngine()
    load_model(duck, rows)
    with ClickHouseEngine.in_process() as clickhouse:
        load_model(clickhouse, rows)  # the same SQL, deriving the tables on ClickHouse
        yield duck, clickhouse


RANGES = [
    (date(2026, 1, 1), date(2026, 4, 30), "EUR"),
    (date(2026, 2, 14), date(2026, 3, 3), "PLN"),
    (date(2026, 3, 1), date(2026, 3, 1), "GBP"),
]


@pytest.mark.parametrize(("first", "last", "currency"), RANGES)
def test_the_figures_are_equal_on_both_engines(
    pair: tuple[DuckDBEngine, ClickHouseEngine], first: date, last: date, currency: str
) -> None:
    duck, clickhouse = pair
    on_duckdb = channel_figures(duck, first=first, last=last, currency=currency)
    on_clickhouse = channel_figures(clickhouse, first=first, last=last, currency=currency)
    assert on_clickhouse == on_duckdb
    # Not vacuous: every channel sold, returned and was tracked in the long range.
    if (first, last) == (date(2026, 1, 1), date(2026, 4, 30)):
        for channel in on_duckdb.channels:
            assert channel.value("orders") > 100  # type: ignore[operator]
            assert channel.value("refunds") > 0  # type: ignore[operator]
            assert channel.value("fees") > 0  # type: ignore[operator]
        assert on_duckdb.channel("web-pl").value("sessions") > 100  # type: ignore[operator]


def _params(first: date, last: date) -> dict[str, Any]:
    return {
        "start": datetime.combine(first, datetime.min.time()),
        "end": datetime.combine(last + timedelta(days=1), datetime.min.time()),
        "first": first,
        "last": last,
        "first_month": first.replace(day=1),
    }


def _typed(rows: list[tuple[Any, ...]]) -> list[tuple[tuple[type, Any], ...]]:
    return sorted((tuple((type(v), v) for v in row) for row in rows), key=repr)


@pytest.mark.parametrize(
    "statement",
    [
        "SALES_DAYS",
        "FEE_PERIODS",
        "UNIT_DAYS",
        "AD_SPEND",
        "FIXED_COSTS",
        "CUSTOMERS",
        "SESSIONS",
        "CHANNELS",
    ],
)
def test_each_statement_gives_the_same_rows_and_types(
    pair: tuple[DuckDBEngine, ClickHouseEngine], statement: str
) -> None:
    duck, clickhouse = pair
    sql = getattr(channels_sql, statement)
    params = _params(date(2026, 1, 10), date(2026, 4, 20))
    rows = duck.query(sql, params)
    assert rows
    assert _typed(clickhouse.query(sql, params)) == _typed(rows)


def test_both_engines_sessionize_the_events_alike(
    pair: tuple[DuckDBEngine, ClickHouseEngine],
) -> None:
    duck, clickhouse = pair
    sessions = duck.query("SELECT * FROM wh_sessions")
    # Not vacuous: bursts of 5 and 29 minutes join a session, 31 and 95 open new ones.
    assert len(sessions) > 1000
    assert {row[4] for row in sessions} >= {1, 2, 3}
    assert _typed(clickhouse.query("SELECT * FROM wh_sessions")) == _typed(sessions)


def test_every_model_type_comes_back_the_same() -> None:
    row = (datetime(2026, 3, 1, 12, 0, 0, 5), 1, None, "a1", "track", "Order Completed",
           "news", None, None, "https://x.example/é", 2**53 + 1)  # fmt: skip
    sql = (
        "SELECT *, CAST(occurred_at AS DATE) AS day, CAST(order_id AS DECIMAL(38, 8)) AS d "
        "FROM wh_events"
    )
    duck = DuckDBEngine()
    duck.insert("wh_events", [row])
    with ClickHouseEngine.in_process() as clickhouse:
        clickhouse.insert("wh_events", [row])
        assert _typed(clickhouse.query(sql)) == _typed(duck.query(sql))
    assert duck.query(sql)[0][-2:] == (date(2026, 3, 1), D(2**53 + 1))


@pytest.mark.slow
def test_copy_and_sync_load_the_same_model(pair: tuple[DuckDBEngine, ClickHouseEngine]) -> None:
    duck, _ = pair
    report = channel_figures(duck, first=date(2026, 1, 1), last=date(2026, 4, 30), currency="EUR")
    with ClickHouseEngine.in_process() as target:
        assert sync_model(duck, target) is True
        assert sync_model(duck, target) is False  # unchanged: nothing reloaded
        assert (
            channel_figures(target, first=date(2026, 1, 1), last=date(2026, 4, 30), currency="EUR")
            == report
        )
        extra = DuckDBEngine()
        copy_model(duck, extra)
        extra.insert("wh_spend", [(date(2026, 1, 5), 1, "late", D("10"), "EUR")])
        assert sync_model(extra, target) is True  # changed: reloaded whole, not appended
        assert channel_figures(
            target, first=date(2026, 1, 1), last=date(2026, 4, 30), currency="EUR"
        ) == channel_figures(extra, first=date(2026, 1, 1), last=date(2026, 4, 30), currency="EUR")
    with engine_for("chdb", duck) as copied:
        assert isinstance(copied, ClickHouseEngine)
        assert (
            channel_figures(copied, first=date(2026, 1, 1), last=date(2026, 4, 30), currency="EUR")
            == report
        )
    with engine_for("duckdb", duck) as same:
        assert same is duck
