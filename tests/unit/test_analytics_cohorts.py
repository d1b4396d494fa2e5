"""Cohorts and omnichannel customers on a table of orders worked out by hand, on DuckDB and
ClickHouse. The range is 1 January to 31 March 2025; channels 1 web and 2 app (EUR),
3 a store (PLN). Amounts are order_net_sales: gross − discount − refunds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest

from omnicart.analytics.cohorts import Cohort, CohortTable, cohort_table
from omnicart.analytics.currency import MissingRate
from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine
from omnicart.analytics.journeys import Amount
from omnicart.analytics.omnichannel import omnichannel_report
from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed

WEB, APP, STORE = 1, 2, 3
Q1 = Period.of(date(2025, 1, 1), date(2025, 3, 31))
D = Decimal


def order(
    order_id: int,
    channel: int,
    at: datetime,
    key: str | None,
    gross: str,
    *,
    discount: str = "0",
    cancelled: datetime | None = None,
) -> tuple[object, ...]:
    currency = "PLN" if channel == STORE else "EUR"
    zero = D(0)
    return (
        order_id, channel, at, currency, key, "x", D(gross), D(discount), zero, zero,
        D(gross) - D(discount), 1, cancelled,
    )  # fmt: skip


ORDERS = [
    # k1: web in January (90 after a 10 discount), the store in January, web in February
    # (50, 20 of it refunded later), web at the range's last instant.
    order(1, WEB, datetime(2025, 1, 5, 9), "k1", "100", discount="10"),
    order(2, STORE, datetime(2025, 1, 20, 12), "k1", "200"),
    order(3, WEB, datetime(2025, 2, 10, 12), "k1", "50"),
    order(4, WEB, datetime(2025, 3, 31, 23, 59, 59, 999999), "k1", "10"),
    # k2: the store on 31 January, 23:59:59, and again on 1 February at midnight.
    order(5, STORE, datetime(2025, 1, 31, 23, 59, 59), "k2", "300"),
    order(6, STORE, datetime(2025, 2, 1), "k2", "100"),
    # k3: first bought on 31 December 2024, so in no cohort of the range.
    order(7, WEB, datetime(2024, 12, 31, 23), "k3", "40"),
    order(8, WEB, datetime(2025, 1, 10), "k3", "60"),
    # k4: a cancelled web order in January counts nowhere; first real order in the app.
    order(9, WEB, datetime(2025, 1, 15, 10), "k4", "35", cancelled=datetime(2025, 1, 15, 11)),
    order(10, APP, datetime(2025, 2, 3), "k4", "25"),
    # k5: web and the store at the same instant: the lower order id (web) is the first.
    order(11, WEB, datetime(2025, 2, 14, 12), "k5", "70"),
    order(12, STORE, datetime(2025, 2, 14, 12), "k5", "80"),
    # k6: March on the web; its April order is after the range.
    order(13, WEB, datetime(2025, 3, 10), "k6", "15"),
    order(14, WEB, datetime(2025, 4, 1), "k6", "99"),
    # An anonymous till sale: no customer.
    order(15, STORE, datetime(2025, 1, 2), None, "999"),
    # k7: one web order in January.
    order(16, WEB, datetime(2025, 1, 7), "k7", "20"),
    # k8: first order on 10 Feb 2024 10:00; its 12 months end on 10 Feb 2025 10:00.
    order(17, WEB, datetime(2024, 2, 10, 10), "k8", "500"),
    order(18, STORE, datetime(2025, 2, 10, 9, 59, 59), "k8", "100"),  # inside the 12 months
    order(19, WEB, datetime(2025, 3, 1), "k8", "40"),
    order(20, STORE, datetime(2025, 2, 10, 10), "k8", "7"),  # exactly 12 months: outside
    # k9: first order on 1 April 2024, exactly 12 months before the range's end.
    order(21, WEB, datetime(2024, 4, 1), "k9", "30"),
    order(22, WEB, datetime(2025, 3, 15), "k9", "5"),
]
REFUNDS = [(3, datetime(2025, 3, 2), D("20"), "EUR", None)]
# 1 EUR = 4 PLN until January's end, 5 PLN from 1 February.
RATES = [(date(2024, 1, 1), "PLN", D("4")), (date(2025, 2, 1), "PLN", D("5"))]


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
    engine.insert(
        "wh_channels",
        [(1, "web", "web", "EUR"), (2, "app", "app", "EUR"), (3, "store", "pos", "PLN")],
    )
    engine.insert("wh_orders", ORDERS)
    engine.insert("wh_refunds", REFUNDS)
    engine.insert("wh_rates", RATES)


def _cohort(table: CohortTable, month: int, channel: str | None) -> Cohort:
    (found,) = [
        c for c in table.cohorts if c.month == date(2025, month, 1) and c.channel == channel
    ]
    return found


def _cells(cohort: Cohort) -> list[tuple[int, int, Decimal | None, dict[str, Decimal]]]:
    return [
        (
            m.active_customers,
            m.repeat_customers,
            m.repeat_rate,
            {a.currency: a.amount for a in m.order_net_sales},
        )
        for m in cohort.months
    ]


def test_cohorts_by_first_month_and_channel(engine: Engine) -> None:
    table = cohort_table(engine, period=Q1)
    assert [(c.month.month, c.channel, c.cohort_customers) for c in table.cohorts] == [
        (1, None, 3),  # k1, k2, k7 (k3 began in December; k4's January order was cancelled)
        (1, "store", 1),  # k2
        (1, "web", 2),  # k1, k7
        (2, None, 2),
        (2, "app", 1),  # k4
        (2, "web", 1),  # k5 (web before the store at the same instant, by order id)
        (3, None, 1),
        (3, "web", 1),  # k6
    ]
    # January on the web (k1, k7): month 0 both bought, k1 again (its till sale);
    # February k1 (50 − 20 refunded); March k1 at the range's last instant.
    assert _cells(_cohort(table, 1, "web")) == [
        (2, 1, D("0.5000"), {"EUR": D("110.00"), "PLN": D("200.00")}),
        (1, 1, D("0.5000"), {"EUR": D("30.00")}),
        (1, 1, D("0.5000"), {"EUR": D("10.00")}),
    ]
    # January in the store (k2): 31 Jan 23:59:59 is month 0, 1 Feb 00:00 month 1.
    assert _cells(_cohort(table, 1, "store")) == [
        (1, 0, D("0.0000"), {"PLN": D("300.00")}),
        (1, 1, D("1.0000"), {"PLN": D("100.00")}),
        (0, 0, D("0.0000"), {}),
    ]
    # All of January's cohort together: the sums of its channels' rows.
    assert _cells(_cohort(table, 1, None)) == [
        (3, 1, D("0.3333"), {"EUR": D("110.00"), "PLN": D("500.00")}),
        (2, 2, D("0.6667"), {"EUR": D("30.00"), "PLN": D("100.00")}),
        (1, 1, D("0.3333"), {"EUR": D("10.00")}),
    ]
    # February on the web (k5): a second order in its first month is a repeat.
    assert _cells(_cohort(table, 2, "web")) == [
        (1, 1, D("1.0000"), {"EUR": D("70.00"), "PLN": D("80.00")}),
        (0, 0, D("0.0000"), {}),
    ]
    assert _cells(_cohort(table, 2, "app")) == [
        (1, 0, D("0.0000"), {"EUR": D("25.00")}),
        (0, 0, D("0.0000"), {}),
    ]
    # March (k6): its April order is outside the range, and there is no month 1 yet.
    assert _cells(_cohort(table, 3, "web")) == [(1, 0, D("0.0000"), {"EUR": D("15.00")})]


def test_cohorts_in_a_reporting_currency(engine: Engine) -> None:
    # PLN at 4 per EUR in January, 5 from February: k1's 200 PLN → 50 EUR, k2's 300 → 75,
    # k2's 100 PLN on 1 Feb → 20, k5's 80 PLN in February → 16.
    table = cohort_table(engine, period=Q1, currency="eur")
    assert table.currency == "EUR"
    assert [m.order_net_sales for m in _cohort(table, 1, None).months] == [
        (Amount("EUR", D("235.00")),),  # 110 + 50 + 75
        (Amount("EUR", D("50.00")),),  # 30 + 20
        (Amount("EUR", D("10.00")),),
    ]
    assert _cohort(table, 2, "web").months[0].order_net_sales == (Amount("EUR", D("86.00")),)


def test_a_range_of_one_month_has_one_cohort_per_channel(engine: Engine) -> None:
    table = cohort_table(engine, period=Period.of(date(2025, 3, 1), date(2025, 3, 31)))
    assert [(c.channel, c.cohort_customers, len(c.months)) for c in table.cohorts] == [
        (None, 1, 1),
        ("web", 1, 1),
    ]


def test_omnichannel_against_single_channel(engine: Engine) -> None:
    report = omnichannel_report(engine, period=Q1)
    omni, single = report.groups
    # Omnichannel in the range: k1 (web, store), k5 (web, store), k8 (store, web).
    # Orders 4 + 2 + 3 = 9; EUR 90 + 30 + 10 + 70 + 40 = 240; PLN 200 + 80 + 100 + 7 = 387.
    assert (omni.group, omni.group_customers, omni.group_orders) == ("omnichannel", 3, 9)
    assert omni.orders_per_customer == D("3.0000")
    # Only k8 has had 12 months (first order 10 Feb 2024): 500 EUR and the 100 PLN of
    # 09:59:59 on 10 Feb 2025, not the 7 PLN at 10:00 exactly.
    assert omni.mature_customers == 1
    assert [
        (m.currency, m.order_net_sales, m.sales_per_customer, m.sales_12m, m.value_12m)
        for m in omni.by_currency
    ] == [
        ("EUR", D("240.00"), D("80.00"), D("500.00"), D("500.00")),
        ("PLN", D("387.00"), D("129.00"), D("100.00"), D("100.00")),
    ]
    # Single-channel: k2 (store), k3 (web; December's order is before the range), k4 (app;
    # the cancelled order counts nowhere), k6, k7, k9: 6 customers, 7 orders.
    assert (single.group, single.group_customers, single.group_orders) == (
        "single_channel",
        6,
        7,
    )
    assert single.orders_per_customer == D("1.1667")
    # k9's first order is exactly 12 months before the range's end: mature; its 12 months
    # hold 30 + 5 EUR. EUR in range: 60 + 25 + 15 + 20 + 5 = 125 → 20.8333… per customer.
    assert single.mature_customers == 1
    assert [
        (m.currency, m.order_net_sales, m.sales_per_customer, m.sales_12m, m.value_12m)
        for m in single.by_currency
    ] == [
        ("EUR", D("125.00"), D("20.83"), D("35.00"), D("35.00")),
        ("PLN", D("400.00"), D("66.67"), D("0"), D("0.00")),
    ]


def test_omnichannel_of_an_empty_range_is_empty() -> None:
    report = omnichannel_report(DuckDBEngine(), period=Q1)
    assert [
        (g.group, g.group_customers, g.orders_per_customer, g.by_currency) for g in report.groups
    ] == [
        ("omnichannel", 0, None, ()),
        ("single_channel", 0, None, ()),
    ]


def test_a_currency_without_rates_is_refused(engine: Engine) -> None:
    with pytest.raises(ValidationFailed) as refused:
        cohort_table(engine, period=Q1, currency="USD")
    assert refused.value.field == "currency"
    with pytest.raises(ValidationFailed) as refused:
        omnichannel_report(engine, period=Q1, currency="XYZ")
    assert refused.value.field == "currency"


def test_a_day_before_the_first_rate_is_refused() -> None:
    engine = DuckDBEngine()
    _load(engine)
    engine.connection.execute("DELETE FROM wh_rates WHERE day < DATE '2025-02-01'")
    with pytest.raises(MissingRate, match="no ECB rate for PLN on or before 2025-01-"):
        cohort_table(engine, period=Q1, currency="EUR")
