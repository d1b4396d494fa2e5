"""A channel's top products and return reasons, every figure computed by hand, on DuckDB and
on ClickHouse (chDB).

First the hand merchant of test_analytics_channels (a PLN web shop and a EUR marketplace,
16 March to 15 April 2026, ECB rates with gaps); then small merchants made for one rule
each: the discount shared out by value and summed exactly before rounding, ties, and
reasons trimmed, blank, missing and several in one return.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest

from omnicart.analytics.channels import channel_figures
from omnicart.analytics.currency import MissingRate
from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine, Param
from omnicart.analytics.line_costs import build_line_costs
from omnicart.analytics.period import Period
from omnicart.analytics.products import PRODUCT_SALES, TopProducts, top_products
from omnicart.analytics.return_reasons import RETURN_REASONS, ReturnReasons, return_reasons
from omnicart.kernel.errors import ValidationFailed
from tests.integration.test_analytics_channels import (
    FIRST,
    LAST,
    MARKET,
    WEB,
    load_hand_merchant,
    order,
    t,
)
from tests.integration.test_analytics_engines import _typed, generated

D = Decimal
RANGE = Period(FIRST, LAST)


@contextmanager
def _engine(kind: str) -> Iterator[Engine]:
    if kind == "duckdb":
        yield DuckDBEngine()
        return
    with ClickHouseEngine.in_process() as clickhouse:
        yield clickhouse


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def merchant(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The hand merchant on each engine (read only)."""
    with _engine(request.param) as loaded:
        load_hand_merchant(loaded)
        yield loaded


@pytest.fixture(params=["duckdb", "chdb"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty model on each engine, with the marketplace channel and no rates (EUR)."""
    with _engine(request.param) as empty:
        empty.insert("wh_channels", [(MARKET, "market-eu", "marketplace", "EUR")])
        yield empty


def _rows(report: TopProducts) -> list[tuple[object, ...]]:
    return [
        (p.sku, p.product_units, p.product_returned_units, p.product_net_sales, p.product_share)
        for p in report.products
    ]


# ------------------------------------------------------------------------ top products


def test_the_web_shops_products_in_eur(merchant: Engine) -> None:
    report = top_products(merchant, channel_id=WEB, period=RANGE, currency="eur")
    # Orders 1, 2 and 3 (4 is cancelled; 5 and 6 are outside the range). PLN, each day's
    # sum converted at its day's rate: 16 Mar 4.2, 17 Mar takes 16 Mar's, 20 Mar 4.3.
    # A: order 1, 2 × 100 less its whole discount 20 (its only line) = 180 PLN on 16 Mar
    #    = 42.857… → 42.86; order 3, 50 − 5 = 45 PLN on 20 Mar = 10.465… → 10.47: 53.33.
    # B: order 2, 3 × 100, one unit returned: 300 × 2/3 = 200 PLN on 17 Mar → 47.62.
    # All SKUs: 100.95 (the channel's net sales too: its refund is the returned unit's
    # value). Shares: 53.33 / 100.95 = 52.828… %, 47.62 / 100.95 = 47.171… %.
    assert _rows(report) == [
        ("A", 3, 0, D("53.33"), D("52.83")),
        ("B", 3, 1, D("47.62"), D("47.17")),
    ]
    assert (report.currency, report.skus, report.product_units) == ("EUR", 2, 6)
    assert (report.product_returned_units, report.product_net_sales) == (1, D("100.95"))
    figures = channel_figures(merchant, first=FIRST, last=LAST, currency="EUR").channel("web-pl")
    assert report.product_units == figures.value("units")
    assert report.product_returned_units == figures.value("returned_units")


def test_the_web_shops_products_in_its_own_currency(merchant: Engine) -> None:
    report = top_products(merchant, channel_id=WEB, period=RANGE, currency="PLN")
    # A: 180 + 45 = 225; B: 200; 225 / 425 = 52.941… %, 200 / 425 = 47.058… %
    assert _rows(report) == [
        ("A", 3, 0, D("225.00"), D("52.94")),
        ("B", 3, 1, D("200.00"), D("47.06")),
    ]
    assert report.product_net_sales == D("425.00")


def test_the_top_n_of_the_marketplace(merchant: Engine) -> None:
    report = top_products(merchant, channel_id=MARKET, period=RANGE, currency="EUR", limit=2)
    # A 80 (order 7); C 60 − 6 = 54 (order 8); B 10 (order 9, the range's last instant).
    # Of 144: 55.555… %, 37.5 %, 6.944… %; the top two are listed, all three counted.
    assert _rows(report) == [
        ("A", 2, 0, D("80.00"), D("55.56")),
        ("C", 1, 0, D("54.00"), D("37.50")),
    ]
    assert (report.skus, report.product_units, report.product_net_sales) == (3, 4, D("144.00"))
    whole = top_products(merchant, channel_id=MARKET, period=RANGE, currency="EUR")
    assert _rows(whole)[2] == ("B", 1, 0, D("10.00"), D("6.94"))
    # In PLN: 80 × 4.3 (20 Mar) = 344; 54 × 4.25 (2 Apr) = 229.50; 10 × 4.25 = 42.50.
    pln = top_products(merchant, channel_id=MARKET, period=RANGE, currency="PLN")
    assert [p.product_net_sales for p in pln.products] == [D("344.00"), D("229.50"), D("42.50")]


def test_a_range_or_channel_without_sales_has_no_products(merchant: Engine) -> None:
    empty = top_products(
        merchant, channel_id=WEB, period=Period(date(2026, 5, 1), date(2026, 5, 31)), currency="EUR"
    )
    assert (empty.products, empty.skus, empty.product_units) == ((), 0, 0)
    assert empty.product_net_sales == D("0.00")
    nobody = top_products(merchant, channel_id=99, period=RANGE, currency="EUR")
    assert nobody.products == ()


def test_the_discount_is_shared_by_value_and_each_day_summed_before_rounding(
    engine: Engine,
) -> None:
    engine.insert(
        "wh_orders",
        [
            order(1, MARKET, "2026-03-20 10:00", "c1", gross="30", discount="1", units=3),
            order(2, MARKET, "2026-03-20 11:00", "c2", gross="30", discount="1", units=3),
            order(3, MARKET, "2026-03-21 11:00", "c2", gross="30", discount="1", units=3),
            # Equal net sales to D's below, fewer units: listed after it.
            order(4, MARKET, "2026-03-22 09:00", None, gross="5", units=1),
            order(5, MARKET, "2026-03-22 09:30", None, gross="5", units=5),
        ],
    )
    engine.insert(
        "wh_order_lines",
        [
            (1, 1, "A", 1, D("10")),
            (1, 2, "B", 2, D("10")),
            (2, 1, "A", 1, D("10")),
            (2, 2, "B", 2, D("10")),
            (3, 1, "A", 1, D("10")),
            (3, 2, "B", 1, D("5")),
            (3, 3, "B", 1, D("15")),  # the same SKU at two prices in one order
            (4, 1, "E", 1, D("5")),
            (5, 1, "D", 5, D("1")),
        ],
    )
    # B of order 3 comes back once (valued at its average price, 10); a SKU the order
    # does not hold cannot be valued and is no return of the order's products.
    engine.insert(
        "wh_returns",
        [(3, 1, t("2026-03-25 10:00"), "B", 1, "size"), (3, 1, t("2026-03-25 10:00"), "Z", 4, "")],
    )
    report = top_products(engine, channel_id=MARKET, period=RANGE, currency="EUR")
    # Each order of 30 gives 1 of discount: A bears 10 × 29/30 = 9.666…, B 20 × 29/30
    # = 19.333…. 20 March (orders 1, 2), summed exactly: A 19.333… → 19.33 (not 9.67 +
    # 9.67 = 19.34), B 38.666… → 38.67. 21 March (order 3): A 9.666… → 9.67; B kept 1 of
    # 2 units: 20 × 1/2 × 29/30 = 9.666… → 9.67.
    assert _rows(report) == [
        ("B", 6, 1, D("48.34"), D("55.35")),  # 38.67 + 9.67; / 87.34 = 0.55346…
        ("A", 3, 0, D("29.00"), D("33.20")),  # 19.33 + 9.67; 0.33203…
        ("D", 5, 0, D("5.00"), D("5.72")),  # 0.05724…
        ("E", 1, 0, D("5.00"), D("5.72")),
    ]
    assert report.product_net_sales == D("87.34")


def test_the_shares_are_of_the_sum_of_the_skus(engine: Engine) -> None:
    """Shares round on their own: they need not add up to 100."""
    engine.insert(
        "wh_orders",
        [order(n, MARKET, "2026-03-20 10:00", None, gross="1", units=1) for n in (1, 2, 3)],
    )
    engine.insert("wh_order_lines", [(n, 1, sku, 1, D("1")) for n, sku in enumerate("XYZ", 1)])
    report = top_products(engine, channel_id=MARKET, period=RANGE, currency="EUR")
    assert [p.product_share for p in report.products] == [D("33.33")] * 3
    assert [p.sku for p in report.products] == ["X", "Y", "Z"]  # a tie: by SKU


@pytest.mark.parametrize(("currency", "limit", "field"), [("XYZ", 10, "currency"),
                                                          ("EUR", 0, "limit"),
                                                          ("EUR", 101, "limit")])  # fmt: skip
def test_bad_input_names_the_parameter(
    merchant: Engine, currency: str, limit: int, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        top_products(merchant, channel_id=WEB, period=RANGE, currency=currency, limit=limit)
    assert refused.value.field == field


def test_a_currency_without_rates_is_refused(merchant: Engine) -> None:
    with pytest.raises(ValidationFailed) as refused:
        top_products(merchant, channel_id=WEB, period=RANGE, currency="USD")
    assert refused.value.field == "currency"


def test_a_day_without_a_rate_is_refused(engine: Engine) -> None:
    engine.insert("wh_orders", [order(1, MARKET, "2026-03-12 10:00", None, gross="4", units=1)])
    engine.insert("wh_order_lines", [(1, 1, "A", 1, D("4"))])
    engine.insert("wh_rates", [(date(2026, 3, 13), "PLN", D("4.0"))])
    with pytest.raises(MissingRate, match="PLN on or before 2026-03-12"):
        top_products(
            engine, channel_id=MARKET, period=Period(date(2026, 3, 1), LAST), currency="PLN"
        )
    later = top_products(engine, channel_id=MARKET, period=RANGE, currency="PLN")
    assert later.products == ()


# ---------------------------------------------------------------------- return reasons


def _reasons(report: ReturnReasons) -> list[tuple[object, ...]]:
    return [(r.reason, r.reason_returns, r.reason_units, r.reason_share) for r in report.reasons]


def test_the_hand_merchants_return_reasons(merchant: Engine) -> None:
    web = return_reasons(merchant, channel_id=WEB, period=RANGE)
    # Order 2's unit of B came back on 18 April, after the range: its order is of the range.
    assert _reasons(web) == [("size", 1, 1, D("100.00"))]
    assert web.returned_units == 1
    market = return_reasons(merchant, channel_id=MARKET, period=RANGE)
    assert (market.reasons, market.returned_units) == ((), 0)


def test_reasons_are_trimmed_and_blank_is_none_given(engine: Engine) -> None:
    engine.insert(
        "wh_orders",
        [
            order(1, MARKET, "2026-03-20 10:00", "c1", gross="10", units=3),
            order(2, MARKET, "2026-03-21 10:00", "c2", gross="10", units=5),
            order(3, MARKET, "2026-04-15 10:00", "c3", gross="10", units=1),
            order(4, MARKET, "2026-03-22 10:00", "c4", gross="10", units=5, cancelled="2026-03-23"),
            order(5, MARKET, "2026-03-15 23:00", "c5", gross="10", units=1),  # before
            order(6, WEB, "2026-03-20 10:00", "c6", gross="10", units=7),  # another channel
        ],
    )
    received = t("2026-03-25 10:00")
    engine.insert(
        "wh_returns",
        [
            (1, 10, received, "A", 2, "size"),
            (1, 10, received, "B", 1, " size "),  # the same reason, trimmed
            (2, 11, received, "A", 1, "damaged"),
            (2, 11, received, "B", 2, ""),  # blank: none given
            (2, 11, received, "C", 1, None),
            (2, 12, t("2026-05-02 10:00"), "A", 1, "Size"),  # after the range; its own case
            (3, 13, received, "A", 1, "damaged"),
            (4, 14, received, "A", 5, "size"),  # of a cancelled order: no sale
            (5, 15, received, "A", 1, "damaged"),  # of an order before the range
            (6, 16, received, "A", 7, "size"),  # of the other channel
        ],
    )
    report = return_reasons(engine, channel_id=MARKET, period=RANGE)
    # size: return 10, 2 + 1 units; none given: return 11, 2 + 1; damaged: returns 11
    # and 13, a unit each; Size: return 12. Of 9 units: 33.33 %, 33.33 %, 22.22 %, 11.11 %.
    # Equal units and returns: a reason before none given.
    assert _reasons(report) == [
        ("size", 1, 3, D("33.33")),
        (None, 1, 3, D("33.33")),
        ("damaged", 2, 2, D("22.22")),
        ("Size", 1, 1, D("11.11")),
    ]
    assert report.returned_units == 9
    build_line_costs(engine)  # as the warehouse's refresh keeps them
    figures = channel_figures(engine, first=FIRST, last=LAST, currency="EUR")
    assert figures.channel("market-eu").value("returned_units") == 9
    april = return_reasons(engine, channel_id=MARKET, period=Period(date(2026, 4, 1), LAST))
    assert _reasons(april) == [("damaged", 1, 1, D("100.00"))]


# ------------------------------------------------------------------------ both engines


def test_both_engines_answer_alike_on_a_seeded_merchant() -> None:
    """The seeded merchant of test_analytics_engines: each channel's products and reasons,
    value for value, and the statements' rows type for type."""
    rows = generated(5, orders=600, events=0)
    duck = DuckDBEngine()
    for table, values in rows.items():
        duck.insert(table, values)
    period = Period(date(2026, 1, 10), date(2026, 4, 20))
    params: dict[str, Param] = {"channel": 1, "start": period.start, "end": period.end}
    with ClickHouseEngine.in_process() as clickhouse:
        for table, values in rows.items():
            clickhouse.insert(table, values)
        for channel_id in (1, 2, 3):
            products = top_products(duck, channel_id=channel_id, period=period, currency="GBP")
            assert products.skus == 5  # not vacuous: every SKU sold, some came back
            assert products.product_returned_units > 0
            assert (
                top_products(clickhouse, channel_id=channel_id, period=period, currency="GBP")
                == products
            )
            reasons = return_reasons(duck, channel_id=channel_id, period=period)
            assert reasons.returned_units > 0
            assert return_reasons(clickhouse, channel_id=channel_id, period=period) == reasons
        for sql in (PRODUCT_SALES, RETURN_REASONS):
            assert _typed(clickhouse.query(sql, params)) == _typed(duck.query(sql, params))
