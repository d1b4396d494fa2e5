"""The per-channel figures read from the model's costed lines (`wh_line_costs`): the hand
merchant's every figure on both engines, and a generated merchant's units and COGS equal
to those computed from the raw lines, returns and cost rows by a query of its own, on both
engines; the warehouse keeps the costed lines of real orders current through a return, a
cancellation and back-dated cost imports, and builds them for a store made before them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omnicart.analytics import channels_sql
from omnicart.analytics.channels import channel_figures
from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine
from omnicart.analytics.importers import import_cost_file
from omnicart.analytics.line_costs import ALL_LINE_COSTS
from omnicart.analytics.warehouse import RefreshCounts, refresh
from omnicart.analytics.warehouse_store import set_state
from omnicart.db.engine import Database
from omnicart.kernel.clock import set_clock
from omnicart.orders import fulfilment, returns, service
from omnicart.tracking.flusher import open_current_store
from tests.integration.test_analytics_channels import (
    FIRST,
    LAST,
    MARKET_EUR,
    TOTAL_EUR,
    WEB_EUR,
    WEB_PLN,
    load_hand_merchant,
)
from tests.integration.test_analytics_engines import RANGES, generated, load_model
from tests.orders_support import market_order, seed_shop

D = Decimal


def _as_dict(figures: object) -> dict[str, object]:
    return {f.name: f.value for f in figures}  # type: ignore[attr-defined]


@pytest.fixture(params=["duckdb", "chdb"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty model on each engine."""
    if request.param == "duckdb":
        yield DuckDBEngine()
        return
    with ClickHouseEngine.in_process() as clickhouse:
        yield clickhouse


def test_the_hand_merchants_every_figure_from_its_costed_lines(engine: Engine) -> None:
    load_hand_merchant(engine)
    # Not vacuous: the nine lines and the returned one are in the model, costed but C's.
    assert engine.query("SELECT count(*), count(cost), sum(returned) FROM wh_line_costs") == [
        (10, 9, 1)
    ]
    report = channel_figures(engine, first=FIRST, last=LAST, currency="EUR")
    web, market = report.channel("web-pl"), report.channel("market-eu")
    assert _as_dict(web.figures) == WEB_PLN
    assert _as_dict(web.reporting) == WEB_EUR
    assert _as_dict(market.figures) == MARKET_EUR
    assert _as_dict(report.total) == TOTAL_EUR


# Units sold and returned with their unit cost by channel, day and the cost's currency,
# from the raw tables in one pass of its own: every line (and returned line, negative) of
# the range's sales meets every cost row of its SKU and counts where the row holds on the
# order day; `units` counts each line once (at its SKU's first cost row, or where it has
# none, so a line costed on no day is in that row's currency here, not in none).
RAW_UNIT_DAYS = """
WITH sales AS (
    SELECT order_id, channel_id, CAST(ordered_at AS DATE) AS order_day
    FROM wh_orders
    WHERE ordered_at >= $start AND ordered_at < $end AND cancelled_at IS NULL
),
cost_periods AS (
    SELECT c.sku, c.valid_from, c.cost, c.currency,
           MIN(CASE WHEN n.valid_from > c.valid_from THEN n.valid_from END) AS valid_until,
           MIN(n.valid_from) AS first_from
    FROM wh_unit_costs AS c
    JOIN wh_unit_costs AS n ON n.sku = c.sku
    GROUP BY c.sku, c.valid_from, c.cost, c.currency
),
moved AS (
    SELECT order_id, sku, quantity, 1 AS sold FROM wh_order_lines
    UNION ALL
    SELECT order_id, sku, -1 * quantity, 0 FROM wh_returns
),
costed AS (
    SELECT s.channel_id AS channel_id, s.order_day AS order_day, m.quantity AS quantity,
           m.sold AS sold, p.currency AS currency, p.cost AS cost,
           CASE WHEN p.sku IS NULL OR p.valid_from = p.first_from THEN 1 ELSE 0 END AS once,
           CASE WHEN p.sku IS NOT NULL AND s.order_day >= p.valid_from
                     AND (p.valid_until IS NULL OR s.order_day < p.valid_until)
                THEN 1 ELSE 0 END AS holds
    FROM sales AS s
    JOIN moved AS m ON m.order_id = s.order_id
    LEFT JOIN cost_periods AS p ON p.sku = m.sku
)
SELECT channel_id, order_day AS day, currency,
       CAST(SUM(CASE WHEN holds = 1 THEN quantity * CAST(cost AS DECIMAL(38, 4)) END)
            AS DECIMAL(38, 4)) AS cogs,
       CAST(SUM(CASE WHEN sold = 1 AND once = 1 THEN quantity ELSE 0 END) AS BIGINT)
           AS line_units,
       CAST(SUM(CASE WHEN sold = 1 AND holds = 1 THEN quantity ELSE 0 END) AS BIGINT)
           AS costed_units,
       CAST(SUM(CASE WHEN sold = 0 AND once = 1 THEN -1 * quantity ELSE 0 END) AS BIGINT)
           AS returned_units
FROM costed
GROUP BY channel_id, order_day, currency
"""


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


Days = tuple[dict[tuple[int, date, str], Decimal], dict[tuple[int, date], tuple[int, ...]]]


def _days(rows: list[tuple[Any, ...]]) -> Days:
    """COGS by channel, day and currency, and units (sold, costed, returned) by channel and
    day: what the figures take of the rows."""
    cogs: dict[tuple[int, date, str], Decimal] = {}
    units: dict[tuple[int, date], tuple[int, ...]] = {}
    for channel_id, day, currency, amount, *counts in rows:
        if amount is not None:
            cogs[channel_id, day, currency] = amount
        before = units.get((channel_id, day), (0, 0, 0))
        units[channel_id, day] = tuple(a + b for a, b in zip(before, counts, strict=True))
    return cogs, units


@pytest.fixture(scope="module")
def generated_pair() -> Iterator[tuple[DuckDBEngine, ClickHouseEngine]]:
    """A generated merchant, its lines costed on each engine by that engine."""
    rows = generated(7)
    duck = DuckDBEngine()
    load_model(duck, rows)
    with ClickHouseEngine.in_process() as clickhouse:
        load_model(clickhouse, rows)
        yield duck, clickhouse


def test_a_generated_merchants_units_and_cogs_are_those_of_the_raw_lines_on_both_engines(
    generated_pair: tuple[DuckDBEngine, ClickHouseEngine],
) -> None:
    duck, clickhouse = generated_pair
    assert _typed(clickhouse.query("SELECT * FROM wh_line_costs")) == _typed(
        duck.query("SELECT * FROM wh_line_costs")
    )
    for first, last, currency in [(date(2026, 1, 10), date(2026, 4, 20), "EUR"), *RANGES]:
        params = _params(first, last)
        units = duck.query(channels_sql.UNIT_DAYS, params)
        assert _days(units) == _days(duck.query(RAW_UNIT_DAYS, params)), (first, last)
        assert _typed(clickhouse.query(channels_sql.UNIT_DAYS, params)) == _typed(units)
        on_duckdb = channel_figures(duck, first=first, last=last, currency=currency)
        assert channel_figures(clickhouse, first=first, last=last, currency=currency) == on_duckdb
    units = duck.query(channels_sql.UNIT_DAYS, _params(date(2026, 1, 10), date(2026, 4, 20)))
    # Not vacuous: costs in two currencies, returns, and SKUs whose cost changed on the way
    # (the hand merchant has a SKU without a cost).
    assert len(units) > 100
    assert {row[2] for row in units} == {"PLN", "EUR"}
    assert sum(row[6] for row in units) > 0
    costs_per_sku = "SELECT count(DISTINCT cost) AS n FROM wh_line_costs GROUP BY sku"
    assert duck.query(f"SELECT min(n), max(n) FROM ({costs_per_sku})") == [(2, 4)]


# --- the warehouse keeps them current ---------------------------------------------------

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MARCH3 = date(2025, 3, 3)


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    """The time the order book writes; a test moves it on by assigning `clock[0]`."""
    now = [T0]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


def _refresh(db: Database, events: Path) -> tuple[RefreshCounts, list[tuple[Any, ...]], bool]:
    """Refresh the store's model; what it did, its costed lines (order id, SKU, cancelled,
    units, returned, cost), and whether they equal its lines costed at once."""
    with open_current_store(events, db=db) as store:
        counts = refresh(store, db)
        kept = store.conn.execute(
            "SELECT order_id, sku, cancelled_at IS NOT NULL, units, returned, cost "
            "FROM wh_line_costs ORDER BY ALL"
        ).fetchall()
        engine = DuckDBEngine(store.conn)
        same = engine.query("SELECT * FROM wh_line_costs ORDER BY ALL") == engine.query(
            f"{ALL_LINE_COSTS} ORDER BY ALL"
        )
    return counts, kept, same


def _import_costs(db: Database, tmp_path: Path, text: str) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(f"sku,valid_from,cost,currency\n{text}", encoding="utf-8")
    import_cost_file(db, path, kind="costs")


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_refresh_keeps_real_orders_lines_costed(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    shop = seed_shop(db, stock={"A": (20, 0, 0), "B": (10, 0, 0), "C": (5, 0, 0)})
    events = tmp_path / "events.duckdb"
    _import_costs(db, tmp_path, "A,2025-01-01,8.5,EUR\nB,2025-01-01,2,EUR\n")
    first = service.ingest_order(db, market_order(shop, "M-1", [("A", 2), ("C", 1)]))
    second = service.ingest_order(db, market_order(shop, "M-2", [("B", 1)], price="5.00"))
    counts, kept, same = _refresh(db, events)
    assert (counts.rebuilt, counts.costs_copied, counts.orders) == (True, True, 2)
    assert same
    assert kept == [
        (first.id, "A", False, 2, 0, D("8.5")),
        (first.id, "C", False, 1, 0, None),  # C has no cost
        (second.id, "B", False, 1, 0, D("2")),
    ]

    # The second order comes back; then a file back-dates a cost of A (from 1 March) and
    # gives C one from the day after the orders: A's lines take the new cost, C's none.
    clock[0] = T0 + timedelta(hours=1)
    fulfilment.create_shipment(
        db, order_id=second.id, location_id=shop.warehouse, carrier="DHL", tracking_number="1Z"
    )
    opened = returns.open_return(
        db, order_id=second.id, channel_id=shop.pos, lines=[returns.ReturnLineRequest(1, 1, "x")]
    )
    returns.receive_return(
        db,
        return_id=opened.id,
        location_id=shop.krakow,
        outcomes=[returns.Outcome(1, restock=1, write_off=0)],
    )
    _import_costs(db, tmp_path, "A,2025-03-01,9,EUR\nC,2025-03-04,1,EUR\n")
    counts, kept, same = _refresh(db, events)
    assert (counts.rebuilt, counts.costs_copied, counts.returned_lines) == (False, True, 1)
    assert same
    assert kept == [
        (first.id, "A", False, 2, 0, D("9")),
        (first.id, "C", False, 1, 0, None),
        (second.id, "B", False, 0, 1, D("2")),
        (second.id, "B", False, 1, 0, D("2")),
    ]

    # Cancelled: its lines stay, marked, and count in no figure.
    clock[0] = T0 + timedelta(hours=2)
    service.cancel_order(db, order_id=first.id, reason="changed mind")
    counts, kept, same = _refresh(db, events)
    assert (counts.costs_copied, same) == (False, True)
    assert [row[:3] for row in kept if row[0] == first.id] == [
        (first.id, "A", True),
        (first.id, "C", True),
    ]
    with open_current_store(events, db=db) as store:
        model = DuckDBEngine(store.conn)
        units = model.query(channels_sql.UNIT_DAYS, _params(MARCH3, MARCH3))
    assert units == [(shop.market, MARCH3, "EUR", D("0.0000"), 1, 1, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_store_built_before_the_costed_lines_is_rebuilt_with_them(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    shop = seed_shop(db, stock={"A": (20, 0, 0), "B": (10, 0, 0)})
    events = tmp_path / "events.duckdb"
    _import_costs(db, tmp_path, "A,2025-01-01,8.5,EUR\n")
    placed = service.ingest_order(db, market_order(shop, "M-1", [("A", 2), ("B", 1)]))
    _refresh(db, events)
    # The store as the model version before the costed lines left it: no such table.
    with open_current_store(events, db=db) as store:
        store.conn.execute("DROP TABLE wh_line_costs")
        set_state(store.conn, "version", "2")
    counts, kept, same = _refresh(db, events)
    assert (counts.rebuilt, counts.costs_copied, counts.orders, same) == (True, True, 1, True)
    assert kept == [(placed.id, "A", False, 2, 0, D("8.5")), (placed.id, "B", False, 1, 0, None)]
