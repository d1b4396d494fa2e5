"""Per-channel figures of a merchant whose every figure is computed by hand below.

Two channels in two currencies (a PLN web shop with tracking, a EUR marketplace), from
16 March to 15 April 2026 (both days included), reported in EUR. The merchant has a refund
and a return, fees with a change of terms mid-range, ad spend inside and outside the range,
fixed costs of two months partly in range, a unit cost that changes mid-range, a SKU without
a unit cost, a cancelled order, orders just outside both ends, a customer who buys on both
channels, and ECB rates with gaps (an amount takes the latest earlier rate).

Each expected value is written out by hand with its arithmetic; the test runs the same
suite on DuckDB and on ClickHouse (chDB).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicart.analytics.channels import ChannelReport, channel_figures
from omnicart.analytics.currency import MissingRate
from omnicart.analytics.definitions import DEFINITIONS, definitions_table
from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine, model_columns
from omnicart.analytics.line_costs import build_line_costs
from omnicart.analytics.schema import TABLES
from omnicart.analytics.sessions import build_sessions
from omnicart.analytics.warehouse import open_model
from omnicart.analytics.warehouse_store import WORK_TABLES
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.kernel.errors import ValidationFailed
from omnicart.settings import Settings
from tests.cli_run import omnicart
from tests.conftest import ADMIN_SECRET

D = Decimal
FIRST, LAST = date(2026, 3, 16), date(2026, 4, 15)
WEB, MARKET = 1, 2
CHANNELS = [(WEB, "web-pl", "web", "PLN"), (MARKET, "market-eu", "marketplace", "EUR")]


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def order(
    order_id: int,
    channel_id: int,
    at: str,
    customer: str | None,
    *,
    gross: str,
    units: int,
    discount: str = "0",
    shipping: str = "0",
    cancelled: str | None = None,
) -> tuple[object, ...]:
    """A wh_orders row; its total is gross - discount + shipping (no tax)."""
    currency = "PLN" if channel_id == WEB else "EUR"
    total = D(gross) - D(discount) + D(shipping)
    return (
        order_id, channel_id, t(at), currency, customer, "web", D(gross), D(discount), D(0),
        D(shipping), total, units, t(cancelled) if cancelled else None,
    )  # fmt: skip


def load_hand_merchant(engine: Engine, *, channels: bool = True) -> None:
    """The merchant of this module, written into the model's tables (`channels=False`:
    all but wh_channels, which the warehouse copies from the operational database)."""
    if channels:
        engine.insert("wh_channels", CHANNELS)
    orders = [
        order(1, WEB, "2026-03-16 10:00", "c1", gross="200", discount="20", shipping="15", units=2),
        order(2, WEB, "2026-03-17 12:00", "c2", gross="300", units=3),
        order(3, WEB, "2026-03-20 09:00", None, gross="50", discount="5", shipping="10", units=1),
        # cancelled: no sale, and its refund is no refund of a sale
        order(4, WEB, "2026-03-18 08:00", "c3", gross="500", units=5, cancelled="2026-03-19"),
        # a second before the range: makes c2 a returning customer
        order(5, WEB, "2026-03-15 23:59:59", "c2", gross="100", units=1),
        # the first instant after the range
        order(6, WEB, "2026-04-16 00:00", "c9", gross="700", units=7),
        order(7, MARKET, "2026-03-20 15:00", "c1", gross="80", shipping="5", units=2),
        order(8, MARKET, "2026-04-02 08:00", "c4", gross="60", discount="6", units=1),
        # the last instant of the range
        order(9, MARKET, "2026-04-15 23:59:59.999999", "c5", gross="10", units=1),
    ]
    engine.insert("wh_orders", orders)
    engine.insert(
        "wh_order_lines",
        [
            (1, 1, "A", 2, D("100")),
            (2, 1, "B", 3, D("100")),
            (3, 1, "A", 1, D("50")),
            (4, 1, "A", 5, D("100")),
            (5, 1, "B", 1, D("100")),
            (6, 1, "A", 7, D("100")),
            (7, 1, "A", 2, D("40")),
            (8, 1, "C", 1, D("60")),
            (9, 1, "B", 1, D("10")),
        ],
    )
    # Refunded after the range: still a refund of an order of the range.
    engine.insert(
        "wh_refunds",
        [
            (2, t("2026-04-20 10:00"), D("100"), "PLN", 1),
            (4, t("2026-03-19 08:00"), D("500"), "PLN", None),
        ],
    )
    engine.insert("wh_returns", [(2, 1, t("2026-04-18 10:00"), "B", 1, "size")])
    engine.insert(
        "wh_unit_costs",
        [
            ("A", date(2026, 1, 1), D("30"), "PLN"),
            ("A", date(2026, 3, 18), D("35"), "PLN"),
            ("B", date(2026, 1, 1), D("40"), "PLN"),
        ],
    )
    engine.insert(
        "wh_fees",
        [
            (WEB, date(2026, 3, 1), D("0"), D("2"), D("1"), "PLN"),
            (MARKET, date(2026, 1, 1), D("10"), D("0"), D("0"), "EUR"),
            (MARKET, date(2026, 4, 1), D("12"), D("1"), D("0.30"), "EUR"),
        ],
    )
    engine.insert(
        "wh_spend",
        [
            (date(2026, 3, 15), WEB, "spring", D("999"), "PLN"),
            (date(2026, 3, 16), WEB, "spring", D("100"), "PLN"),
            (date(2026, 3, 31), WEB, "spring", D("50"), "PLN"),
            (date(2026, 4, 16), WEB, "spring", D("999"), "PLN"),
            (date(2026, 4, 1), MARKET, "brand", D("20"), "EUR"),
        ],
    )
    engine.insert(
        "wh_fixed_costs",
        [
            (WEB, date(2026, 2, 1), "rent", D("9999"), "PLN"),
            (WEB, date(2026, 3, 1), "rent", D("3100"), "PLN"),
            (WEB, date(2026, 4, 1), "rent", D("3000"), "PLN"),
            (MARKET, date(2026, 3, 1), "staff", D("620"), "EUR"),
            (MARKET, date(2026, 5, 1), "staff", D("9999"), "EUR"),
        ],
    )
    engine.insert(
        "wh_rates",
        [
            (date(2026, 3, 13), "PLN", D("4.0")),
            (date(2026, 3, 16), "PLN", D("4.2")),
            (date(2026, 3, 20), "PLN", D("4.3")),
            (date(2026, 4, 1), "PLN", D("4.25")),
            (date(2026, 3, 16), "EUR", D("1")),
        ],
    )
    web_events = [
        # c1: one session that orders (gaps of 10, 15 and 25 minutes), then one after 31
        ("2026-03-15 23:50", "c1", None, "page", None),  # before the range
        ("2026-03-16 09:00", "c1", None, "page", None),
        ("2026-03-16 09:10", "c1", None, "track", "Product Added"),
        ("2026-03-16 09:25", "c1", None, "track", "Checkout Started"),
        ("2026-03-16 09:50", "c1", None, "track", "Order Completed"),
        ("2026-03-16 10:21", "c1", None, "page", None),
        # an anonymous visitor: a gap of exactly 30 minutes stays in the session; abandons
        ("2026-03-17 10:00", None, "x1", "page", None),
        ("2026-03-17 10:30", None, "x1", "track", "Product Added"),
        # c2: a cart abandoned, then 59 minutes later another session that orders
        ("2026-03-17 11:00", "c2", None, "track", "Product Added"),
        ("2026-03-17 11:59", "c2", None, "track", "Order Completed"),
        # nobody: not a visitor
        ("2026-03-17 12:00", None, None, "page", None),
    ]
    engine.insert(
        "wh_events",
        [
            (t(at), WEB, key, anonymous, kind, event, None, None, None, None, None)
            for at, key, anonymous, kind, event in web_events
        ],
    )
    # The derived tables, as the warehouse's refresh keeps them.
    build_sessions(engine)
    build_line_costs(engine)


# Every figure by hand. WEB in PLN: orders 1, 2, 3 (4 cancelled, 5 and 6 outside).
WEB_PLN = {
    "orders": 3,
    "units": 6,  # 2 + 3 + 1
    "gross_sales": D("550.00"),  # 200 + 300 + 50
    "discounts": D("25.00"),  # 20 + 5
    "refunds": D("100.00"),  # order 2
    "net_sales": D("425.00"),  # 550 - 25 - 100
    "returned_units": 1,
    "return_rate": D("16.67"),  # 1 / 6
    # A x2 at 30 (16 Mar) + B x3 at 40 - B x1 returned at 40 + A x1 at 35 (from 18 Mar)
    "cogs": D("175.00"),
    "uncosted_units": 0,
    # 2 % of the total + 1.00 per order: 4.90 + 7.00 + 2.10
    "fees": D("14.00"),
    "shipping": D("25.00"),  # 15 + 10
    "ad_spend": D("150.00"),  # 100 (16 Mar) + 50 (31 Mar)
    # March: 3100 x 16/31 = 1600; April: 3000 x 15/30 = 1500
    "fixed_costs": D("3100.00"),
    "total_cost": D("3439.00"),  # 175 + 14 + 150 + 3100
    "net_profit": D("-3014.00"),  # 425 - 3439
    "roi": D("-87.64"),  # -3014 / 3439 x 100 = -87.6417...
    "roas": D("2.8333"),  # 425 / 150
    "aov": D("141.67"),  # 425 / 3
    "customers": 2,  # c1, c2 (order 3 is anonymous)
    "new_customers": 1,  # c1; c2 first bought on 15 March
    "returning_customers": 1,
    "cpa": D("150.00"),  # 150 / 1
    "sessions": 5,  # c1: 2, x1: 1, c2: 2
    "ordering_sessions": 2,
    "conversion_rate": D("40.00"),
    "cart_sessions": 3,  # c1's first, x1's, c2's first
    "abandoned_carts": 2,  # x1's, c2's first
    "cart_abandonment_rate": D("66.67"),
}
# WEB in EUR: each day's PLN sum / that day's rate (17 Mar takes 16 Mar's 4.2, 31 Mar
# takes 20 Mar's 4.3), rounded half-even to cents.
WEB_EUR = {
    **WEB_PLN,
    "gross_sales": D("130.68"),  # 200/4.2 = 47.62, 300/4.2 = 71.43, 50/4.3 = 11.63
    "discounts": D("5.92"),  # 20/4.2 = 4.76, 5/4.3 = 1.16
    "refunds": D("23.81"),  # 100/4.2 (the order's day, 17 March)
    "net_sales": D("100.95"),
    "cogs": D("41.48"),  # 60/4.2 = 14.29, (120 - 40)/4.2 = 19.05, 35/4.3 = 8.14
    "fees": D("3.33"),  # 4.90/4.2 = 1.17, 7.00/4.2 = 1.67, 2.10/4.3 = 0.49
    "shipping": D("5.90"),  # 15/4.2 = 3.57, 10/4.3 = 2.33
    "ad_spend": D("35.44"),  # 100/4.2 = 23.81, 50/4.3 = 11.63
    "fixed_costs": D("733.89"),  # 1600/4.2 (16 Mar) = 380.95, 1500/4.25 (1 Apr) = 352.94
    "total_cost": D("814.14"),  # 41.48 + 3.33 + 35.44 + 733.89
    "net_profit": D("-713.19"),
    "roi": D("-87.60"),  # -713.19 / 814.14 x 100 = -87.5998...
    "roas": D("2.8485"),  # 100.95 / 35.44
    "aov": D("33.65"),  # 100.95 / 3
    "cpa": D("35.44"),
}
# MARKET in EUR (its own currency and the report's): orders 7, 8, 9.
MARKET_EUR = {
    "orders": 3,
    "units": 4,
    "gross_sales": D("150.00"),  # 80 + 60 + 10
    "discounts": D("6.00"),
    "refunds": D("0.00"),
    "net_sales": D("144.00"),
    "returned_units": 0,
    "return_rate": D("0.00"),
    # A x2 at 35 PLN = 70/4.3 = 16.28 (20 Mar); B x1 at 40 PLN = 40/4.25 = 9.41 (15 Apr)
    "cogs": D("25.69"),
    "uncosted_units": 1,  # C has no unit cost
    # 10 % x 80 = 8.00; from 1 April 12 % of net sales + 1 % of the total + 0.30:
    # 12 % x 54 + 1 % x 54 + 0.30 = 7.32; 12 % x 10 + 1 % x 10 + 0.30 = 1.60
    "fees": D("16.92"),
    "shipping": D("5.00"),
    "ad_spend": D("20.00"),
    "fixed_costs": D("320.00"),  # 620 x 16/31
    "total_cost": D("382.61"),  # 25.69 + 16.92 + 20 + 320
    "net_profit": D("-238.61"),  # 144 - 382.61
    "roi": D("-62.36"),  # -238.61 / 382.61 x 100 = -62.3637...
    "roas": D("7.2000"),  # 144 / 20
    "aov": D("48.00"),
    "customers": 3,  # c1, c4, c5: each first bought in the range
    "new_customers": 3,
    "returning_customers": 0,
    "cpa": D("6.67"),  # 20 / 3
    "sessions": 0,
    "ordering_sessions": 0,
    "conversion_rate": None,  # no tracked sessions
    "cart_sessions": 0,
    "abandoned_carts": 0,
    "cart_abandonment_rate": None,
}
TOTAL_EUR = {
    "orders": 6,
    "units": 10,
    "gross_sales": D("280.68"),  # 130.68 + 150
    "discounts": D("11.92"),
    "refunds": D("23.81"),
    "net_sales": D("244.95"),
    "returned_units": 1,
    "return_rate": D("10.00"),  # 1 / 10
    "cogs": D("67.17"),  # 41.48 + 25.69
    "uncosted_units": 1,
    "fees": D("20.25"),  # 3.33 + 16.92
    "shipping": D("10.90"),
    "ad_spend": D("55.44"),
    "fixed_costs": D("1053.89"),
    "total_cost": D("1196.75"),
    "net_profit": D("-951.80"),
    "roi": D("-79.53"),  # -951.80 / 1196.75 x 100 = -79.5320...
    "roas": D("4.4183"),  # 244.95 / 55.44
    "aov": D("40.82"),  # 244.95 / 6 = 40.825: half-even
    "customers": 4,  # c1 (on both channels, once), c2, c4, c5
    "new_customers": 3,  # c1, c4, c5
    "returning_customers": 1,  # c2
    "cpa": D("18.48"),  # 55.44 / 3
    "sessions": 5,
    "ordering_sessions": 2,
    "conversion_rate": D("40.00"),
    "cart_sessions": 3,
    "abandoned_carts": 2,
    "cart_abandonment_rate": D("66.67"),
    "mer": D("4.4183"),  # net sales of all channels / ad spend of all channels
}


@contextmanager
def _engine(kind: str) -> Iterator[Engine]:
    if kind == "duckdb":
        yield DuckDBEngine()
        return
    with ClickHouseEngine.in_process() as clickhouse:
        yield clickhouse


@pytest.fixture(params=["duckdb", "chdb"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty model on each engine."""
    with _engine(request.param) as empty:
        yield empty


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def merchant(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The hand merchant on each engine (read only: tests that add rows use `engine`)."""
    with _engine(request.param) as loaded:
        load_hand_merchant(loaded)
        yield loaded


@pytest.fixture(scope="module")
def report(merchant: Engine) -> ChannelReport:
    return channel_figures(merchant, first=FIRST, last=LAST, currency="EUR")


def _as_dict(figures: object) -> dict[str, object]:
    return {f.name: f.value for f in figures}  # type: ignore[attr-defined]


def test_every_figure_of_each_channel_equals_the_hand_figure(report: ChannelReport) -> None:
    web, market = report.channel("web-pl"), report.channel("market-eu")
    assert (web.currency, market.currency, report.currency) == ("PLN", "EUR", "EUR")
    assert _as_dict(web.figures) == WEB_PLN
    assert _as_dict(web.reporting) == WEB_EUR
    assert _as_dict(market.figures) == MARKET_EUR
    assert _as_dict(market.reporting) == MARKET_EUR
    assert _as_dict(report.total) == TOTAL_EUR


def test_every_figure_carries_its_definition_and_the_currency_of_its_money(
    report: ChannelReport,
) -> None:
    units = {d.name: d.unit for d in DEFINITIONS}
    web = report.channel("web-pl")
    for figure in web.figures:
        assert figure.unit == units[figure.name]
        in_money = figure.unit == "money" or figure.name in {"roi", "roas"}
        assert figure.currency == ("PLN" if in_money else None), figure.name
    for figure in report.total:
        in_money = figure.unit == "money" or figure.name in {"roi", "roas", "mer"}
        assert figure.currency == ("EUR" if in_money else None), figure.name
    # Money is written with the currency's minor units, exactly (0 as 0.00).
    blocks = [report.total, *(b for c in report.channels for b in (c.figures, c.reporting))]
    money = [f for block in blocks for f in block if f.unit == "money" and f.value is not None]
    assert len(money) == 5 * 13  # 13 money figures in 5 blocks, none null here
    assert {f.value.as_tuple().exponent for f in money} == {-2}  # type: ignore[union-attr]
    # Every definition but the all-channel MER is a channel figure; MER is the total's.
    # The channel figures are the definitions list's first section, up to `mer`.
    names = [d.name for d in DEFINITIONS]
    channel_figures_names = names[: names.index("mer") + 1]
    assert [f.name for f in report.total] == channel_figures_names
    assert [f.name for f in web.figures] == [n for n in channel_figures_names if n != "mer"]


def test_a_report_in_the_channels_other_currency_converts_each_day(merchant: Engine) -> None:
    report = channel_figures(merchant, first=FIRST, last=LAST, currency="pln")
    market = report.channel("market-eu")
    assert report.currency == "PLN"
    # 80 x 4.3 (20 Mar) + 60 x 4.25 (2 Apr) + 10 x 4.25 (15 Apr)
    assert market.value("gross_sales", reporting=True) == D("641.50")
    # 6 x 4.25 (2 Apr)
    assert market.value("discounts", reporting=True) == D("25.50")
    # In its own currency nothing changes; the web shop's PLN is its own again.
    assert market.value("gross_sales") == D("150.00")
    assert report.channel("web-pl").value("net_sales", reporting=True) == D("425.00")


def test_one_day_ranges_and_the_range_edges(merchant: Engine) -> None:
    engine = merchant
    last_day = channel_figures(engine, first=LAST, last=LAST, currency="EUR")
    assert last_day.channel("market-eu").value("orders") == 1  # 23:59:59.999999
    assert last_day.channel("web-pl").value("orders") == 0
    after = channel_figures(engine, first=date(2026, 4, 16), last=date(2026, 4, 16), currency="EUR")
    assert after.channel("web-pl").value("orders") == 1  # 00:00:00 of the next day
    # 30 April: one day of April's rent, 3000 / 30 = 100 PLN.
    april_30 = channel_figures(
        engine, first=date(2026, 4, 30), last=date(2026, 4, 30), currency="EUR"
    )
    assert april_30.channel("web-pl").value("fixed_costs") == D("100.00")


@pytest.mark.parametrize(
    ("first", "last", "currency", "field"),
    [
        (LAST, FIRST, "EUR", "to"),
        (date(2016, 3, 16), date(2026, 3, 16), "EUR", "to"),
        (FIRST, LAST, "XYZ", "currency"),
        (FIRST, LAST, "USD", "currency"),  # a currency in use, but the model has no rate
    ],
)
def test_a_range_or_currency_that_cannot_be_reported_names_the_parameter(
    merchant: Engine, first: date, last: date, currency: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        channel_figures(merchant, first=first, last=last, currency=currency)
    assert refused.value.field == field


def test_ten_years_is_the_longest_range(engine: Engine) -> None:
    report = channel_figures(
        engine, first=date(2016, 3, 16), last=date(2026, 3, 15), currency="EUR"
    )
    assert report.channels == ()


def test_costs_in_a_third_currency_are_converted_at_their_days_rate(engine: Engine) -> None:
    engine.insert("wh_channels", [(MARKET, "market-eu", "marketplace", "EUR")])
    engine.insert("wh_orders", [order(7, MARKET, "2026-03-20 15:00", "c1", gross="80", units=2)])
    engine.insert("wh_order_lines", [(7, 1, "A", 2, D("40"))])
    engine.insert("wh_unit_costs", [("A", date(2026, 1, 1), D("10"), "GBP")])
    engine.insert("wh_rates", [(date(2026, 3, 19), "GBP", D("0.8"))])
    build_line_costs(engine)
    report = channel_figures(engine, first=FIRST, last=LAST, currency="EUR")
    # 2 x 10 GBP on 20 March, at 19 March's 0.8 GBP per EUR: 25 EUR
    assert report.channel("market-eu").value("cogs") == D("25.00")


def test_a_channel_currency_without_a_rate_for_a_day_is_refused(engine: Engine) -> None:
    load_hand_merchant(engine)
    # PLN's first rate is 13 March: an order of 12 March cannot be converted.
    engine.insert(
        "wh_orders",
        [
            (
                10,
                WEB,
                t("2026-03-12 10:00"),
                "PLN",
                "c7",
                "web",
                D("1"),
                D("0"),
                D("0"),
                D("0"),
                D("1"),
                1,
                None,
            )
        ],
    )
    with pytest.raises(MissingRate, match="PLN on or before 2026-03-12"):
        channel_figures(engine, first=date(2026, 3, 12), last=LAST, currency="EUR")


# ------------------------------------------------------------------ the API and the CLI


def _json(figures: dict[str, object], currency: str) -> list[dict[str, object]]:
    """The API's figures for hand values: counts as numbers, the rest as decimal strings."""
    units = {d.name: d.unit for d in DEFINITIONS}
    money = {"roi", "roas", "mer"}
    return [
        {
            "definition": name,
            "unit": units[name],
            "value": value if value is None or isinstance(value, int) else str(value),
            "currency": currency if units[name] == "money" or name in money else None,
        }
        for name, value in figures.items()
    ]


EXPECTED = {
    "from": "2026-03-16",
    "to": "2026-04-15",
    "currency": "EUR",
    "channels": [
        {"channel_id": WEB, "code": "web-pl", "kind": "web", "currency": "PLN",
         "figures": _json(WEB_PLN, "PLN"), "reporting": _json(WEB_EUR, "EUR")},
        {"channel_id": MARKET, "code": "market-eu", "kind": "marketplace", "currency": "EUR",
         "figures": _json(MARKET_EUR, "EUR"), "reporting": _json(MARKET_EUR, "EUR")},
    ],
    "total": _json(TOTAL_EUR, "EUR"),
}  # fmt: skip
ANALYST_SECRET = "oc_test_analyst_secret"
RANGE = {"from": "2026-03-16", "to": "2026-04-15", "currency": "EUR"}


@dataclass(frozen=True)
class Shop:
    client: TestClient
    database_url: str
    events: Path


@pytest.fixture(scope="module")
def shop(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The hand merchant behind the API: its channels in the operational database, its
    model rows in the event store's model (built once by the warehouse, then written).
    Reading figures changes neither, so the module's tests share them."""
    tmp_path = tmp_path_factory.mktemp("shop")
    shutil.copy(sqlite_template, tmp_path / "omnicart.db")
    sqlite_db = Database.from_url(f"sqlite:///{tmp_path / 'omnicart.db'}")
    with sqlite_db.transaction() as session:
        create_api_key(session, name="admin", role="admin", secret=ADMIN_SECRET)
        create_api_key(session, name="analyst", role="analyst", secret=ANALYST_SECRET)
    events = tmp_path / "events.duckdb"
    settings = Settings(events_path=str(events), events_flusher="process", admin_key=None)
    app = create_app(db=sqlite_db, settings=settings, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as client:
        for _, code, kind, currency in CHANNELS:
            body = {"code": code, "name": code, "kind": kind, "currency": currency}
            assert client.post("/v1/channels", json=body).status_code == 201
        # The warehouse builds the (empty) model and copies the channels; the merchant's
        # rows go in after: with no new events or cost imports a refresh keeps them.
        with open_model(db=sqlite_db, events_path=events) as model:
            assert model.query("SELECT * FROM wh_channels ORDER BY channel_id") == CHANNELS
            _write_into_store(model)
        yield Shop(client, str(sqlite_db.engine.url), events)
    sqlite_db.dispose()


def _write_into_store(model: DuckDBEngine) -> None:
    """The merchant's rows (but its channels) in the store's model, its sessions and costed
    lines with them. Two of the model's tables are views there over the warehouse's work
    tables, written with the columns a refresh needs: an order whose buyer names nobody,
    already in its latest state."""
    staging = DuckDBEngine()
    load_hand_merchant(staging, channels=False)
    for table in TABLES:
        rows = staging.export(table)
        if table == "wh_channels" or not rows.num_rows:
            continue
        if table not in WORK_TABLES:
            model.insert_arrow(table, rows)
            continue
        work, _ = WORK_TABLES[table]
        columns = ", ".join(c.name for c in model_columns()[table])
        extra, values = ("", "")
        if table == "wh_orders":
            extra, values = (", named, last_at, last_seq", ", FALSE, ordered_at, 0")
        model.connection.register("incoming", rows)
        model.connection.execute(
            f"INSERT INTO {work} ({columns}{extra}) SELECT {columns}{values} FROM incoming"
        )
        model.connection.unregister("incoming")


def test_the_api_answers_every_figure_with_its_definition_and_currency(shop: Shop) -> None:
    answer = shop.client.get("/v1/analytics/channels", params=RANGE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    channels: list[dict[str, Any]] = EXPECTED["channels"]  # type: ignore[assignment]
    for got, wanted in zip(body["channels"], channels, strict=True):
        for block in ("figures", "reporting"):
            for figure, expected in zip(got[block], wanted[block], strict=True):
                assert figure == expected, (got["code"], block)
    assert body == EXPECTED
    analyst = shop.client.get(
        "/v1/analytics/channels",
        params=RANGE,
        headers={"Authorization": f"Bearer {ANALYST_SECRET}"},
    )
    assert analyst.json() == EXPECTED


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**RANGE, "from": "2026-04-16"}, "to"),  # from after to
        ({**RANGE, "from": "2016-04-15"}, "to"),  # over ten years
        ({**RANGE, "currency": "XYZ"}, "currency"),
        ({**RANGE, "currency": "EURO"}, "currency"),
        ({**RANGE, "currency": "USD"}, "currency"),  # no ECB rate known
        ({**RANGE, "from": "2026-02-30"}, "from"),
        ({"to": "2026-04-15"}, "from"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(
    shop: Shop, params: dict[str, str], field: str
) -> None:
    answer = shop.client.get("/v1/analytics/channels", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


@pytest.mark.slow  # five runs of the command, three of them refreshing the model
def test_the_cli_prints_the_table_and_the_apis_body(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--database-url", shop.database_url, "--events-path", str(shop.events)]
    ran = omnicart(capsys, "analytics", "channels", "--from", "2026-03-16", "--to", "2026-04-15",
                   "--json", *where)  # fmt: skip
    assert ran.code == 0, ran.err
    assert json.loads(ran.out) == EXPECTED
    ran = omnicart(capsys, "analytics", "channels", "--from", "2026-03-16", "--to", "2026-04-15",
                   *where)  # fmt: skip
    assert ran.code == 0, ran.err
    rows = {line.split("│")[1].strip(): line for line in ran.out.splitlines() if "│" in line}
    cells = [cell.strip() for cell in rows["net_sales"].split("│")[1:-1]]
    assert cells == ["net_sales", "100.95", "144.00", "244.95"]
    cells = [cell.strip() for cell in rows["conversion_rate"].split("│")[1:-1]]
    assert cells == ["conversion_rate", "40.00 %", "–", "40.00 %"]
    own = omnicart(capsys, "analytics", "channels", "--from", "2026-03-16", "--to", "2026-04-15",
                   "--own", *where)  # fmt: skip
    assert "web-pl (PLN)" in own.out
    assert "425.00" in own.out
    refused = omnicart(capsys, "analytics", "channels", "--from", "2026-04-16", "--to",
                       "2026-04-15", *where)  # fmt: skip
    assert (refused.code, refused.err.strip()) == (
        2,
        "error (--to): the range ends before it starts",
    )
    refused = omnicart(capsys, "analytics", "channels", "--from", "2026-03-16", "--to",
                       "2026-04-15", "--currency", "XYZ", *where)  # fmt: skip
    assert refused.code == 2
    assert refused.err.startswith("error (--currency):")


def test_the_cli_prints_the_definitions(capsys: pytest.CaptureFixture[str]) -> None:
    ran = omnicart(capsys, "analytics", "definitions", "--markdown")
    assert ran.code == 0
    assert ran.out.strip() == definitions_table()
