"""The analytics pages show what the analytics API and functions answer, for the same filters.

The merchant is the hand merchant of tests/integration/test_analytics_channels.py (a PLN
web shop with tracking and a EUR marketplace, 16 March to 15 April 2026, with ECB rates),
and a second return to the web shop with no reason given, behind the app with console
users and API keys; two of its SKUs in the catalog; and one person, Ewa, known by her
e-mail and loyalty card, for the Customer 360.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from omnicart.analytics.channels import channel_figures
from omnicart.analytics.cohorts import cohort_table
from omnicart.analytics.funnels import funnel, parse_window
from omnicart.analytics.history import import_history
from omnicart.analytics.history_cdnow import read_cdnow
from omnicart.analytics.journeys import attribution_report
from omnicart.analytics.line_costs import build_line_costs
from omnicart.analytics.omnichannel import omnichannel_report
from omnicart.analytics.period import Period
from omnicart.analytics.products import top_products
from omnicart.analytics.rates import import_rates_file
from omnicart.analytics.reading import open_analytics
from omnicart.analytics.return_reasons import return_reasons
from omnicart.analytics.warehouse import open_model
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.catalog.model import VariantDraft
from omnicart.catalog.service import create_product
from omnicart.console.analytics_data import DEFAULT_STEPS, slices
from omnicart.console.numbers import viewer_locale
from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from omnicart.settings import Settings
from omnicart.users.service import create_user
from tests.conftest import ADMIN_SECRET
from tests.console.support import PASSWORD, csrf_of, sign_in
from tests.integration.test_analytics_channels import CHANNELS, _write_into_store, t
from tests.integration.test_analytics_history import _purchases as clv_purchases
from tests.support import add_channel

ANALYST_KEY = "oc_test_console_analyst"
ADMIN, ANALYST, STAFF = "owner@shop.example", "analyst@shop.example", "krk@shop.example"
RANGE = {"from": "2026-03-16", "to": "2026-04-15", "currency": "EUR"}
FIRST, LAST = date(2026, 3, 16), date(2026, 4, 15)
EWA = "ewa.kowalska@poczta.pl"


@dataclass(frozen=True)
class Shop:
    app: FastAPI
    db: Database
    settings: Settings
    ewa: int


@pytest.fixture(scope="module")
def shop(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The hand merchant in the model, its channels in the database, users and keys."""
    tmp = tmp_path_factory.mktemp("console-analytics")
    shutil.copy(sqlite_template, tmp / "omnicart.db")
    db = Database.from_url(f"sqlite:///{tmp / 'omnicart.db'}")
    with db.transaction() as session:
        create_api_key(session, name="admin", role="admin", secret=ADMIN_SECRET)
        create_api_key(session, name="analyst", role="analyst", secret=ANALYST_KEY)
        for email, role in ((ADMIN, "admin"), (ANALYST, "analyst")):
            create_user(session, email=email, password=PASSWORD, role=role, location_id=None)
    settings = Settings(events_path=str(tmp / "events.duckdb"), events_flusher="process")
    app = create_app(db=db, settings=settings, sweep=False)
    admin = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    with TestClient(app, headers=admin) as api:
        for _, code, kind, currency in CHANNELS:
            body = {"code": code, "name": code, "kind": kind, "currency": currency}
            assert api.post("/v1/channels", json=body).status_code == 201
        with db.transaction() as session:
            ewa = observe(
                session,
                identifiers=[("email", EWA), ("loyalty_card", "LC-77")],
                channel_id=None,
                source="test",
                traits={"name": "Ewa Kowalska"},
            )
        assert ewa is not None
        with db.transaction() as session:
            create_product(
                session,
                handle="linen-shirt",
                title="Linen shirt",
                variants=[VariantDraft("A", "M")],
            )
            create_product(session, handle="mug", title="Mug", variants=[VariantDraft("B")])
        with open_model(db=db, events_path=Path(settings.events_path)) as model:
            _write_into_store(model)
            # Order 3's unit of A came back, with no reason given.
            model.insert("wh_returns", [(3, 2, t("2026-03-28 10:00"), "A", 1, None)])
            # The costed lines are derived from every line and return: build them again.
            model.connection.execute("DELETE FROM wh_line_costs")
            build_line_costs(model)
        yield Shop(app, db, settings, ewa)
    db.dispose()


@pytest.fixture(scope="module")
def analyst(shop: Shop) -> Iterator[TestClient]:
    with TestClient(shop.app) as client:
        sign_in(client, ANALYST)
        yield client


@pytest.fixture(scope="module")
def admin(shop: Shop) -> Iterator[TestClient]:
    with TestClient(shop.app) as client:
        sign_in(client, ADMIN)
        yield client


def _csv(client: TestClient, url: str, params: dict[str, str] | None = None) -> list[list[str]]:
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(answer.text)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _api(client: TestClient, params: dict[str, str]) -> dict[str, Any]:
    answer = client.get(
        "/v1/analytics/channels",
        params=params,
        headers={"Authorization": f"Bearer {ANALYST_KEY}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _api_rows(body: dict[str, Any], names: list[str]) -> list[list[str]]:
    """The API's answer as the console's CSV writes it: a row per channel, then the total."""
    rows = []
    for channel in body["channels"]:
        figures = {f["definition"]: f["value"] for f in channel["reporting"]}
        rows.append([channel["code"], body["currency"], *(_text(figures[n]) for n in names)])
    total = {f["definition"]: f["value"] for f in body["total"]}
    rows.append(["total", body["currency"], *(_text(total[n]) for n in names)])
    return rows


# ------------------------------------------------------------------------ the Overview


@pytest.mark.parametrize(
    "params",
    [
        RANGE,
        {"from": "2026-03-16", "to": "2026-03-20", "currency": "PLN"},
        {"from": "2026-04-01", "to": "2026-04-15", "currency": "EUR"},
    ],
)
def test_the_overview_shows_the_apis_figures(analyst: TestClient, params: dict[str, str]) -> None:
    table = _csv(analyst, "/console/analytics/channels.csv", params)
    header, rows = table[0], table[1:]
    assert header[:2] == ["channel", "currency"]
    assert rows == _api_rows(_api(analyst, params), header[2:])
    assert header[2:] == [
        "orders", "net_sales", "total_cost", "net_profit", "roi", "roas", "aov",
        "conversion_rate", "return_rate",
    ]  # fmt: skip


def test_a_filter_changes_the_figures(analyst: TestClient) -> None:
    whole = _csv(analyst, "/console/analytics/channels.csv", RANGE)
    april = _csv(analyst, "/console/analytics/channels.csv", {**RANGE, "from": "2026-04-01"})
    assert whole[1:] != april[1:]
    # The range's net sales by hand (test_analytics_channels): 100.95 + 144.00 EUR.
    assert [r[3] for r in whole[1:]] == ["100.95", "144.00", "244.95"]
    only = _csv(analyst, "/console/analytics/channels.csv", {**RANGE, "channel": "market-eu"})
    assert only[1:] == [whole[2]]  # one channel, and no total


def test_the_overview_page_formats_for_the_viewers_locale(analyst: TestClient) -> None:
    english = analyst.get("/console/analytics", params=RANGE)
    assert english.status_code == 200
    html = english.text
    assert "€100.95" in html
    assert "€244.95" in html
    assert "40.00%" in html  # web-pl's conversion rate
    polish = analyst.get(
        "/console/analytics", params=RANGE, headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}
    ).text
    assert "100,95\xa0€" in polish
    assert "244,95\xa0€" in polish
    assert "40,00%" in polish
    # In PLN, money has its own symbol and minor units.
    pln = analyst.get("/console/analytics", params={**RANGE, "currency": "PLN"}).text
    assert "PLN425.00" in pln  # web-pl's net sales in its own currency


def test_each_header_links_to_its_definition(analyst: TestClient) -> None:
    html = analyst.get("/console/analytics", params=RANGE).text
    for name in ("orders", "net_sales", "total_cost", "net_profit", "roi", "roas", "aov"):
        assert f'href="/console/definitions#{name}"' in html
    definitions = analyst.get("/console/definitions").text
    for name in ("net_sales", "total_cost", "roi", "conversion_rate", "return_rate"):
        assert f'id="{name}"' in definitions
    assert "net_sales − total_cost" in definitions
    rows = _csv(analyst, "/console/definitions.csv")
    assert ["roas", "ratio", "net_sales / ad_spend."] in rows


def test_the_charts_carry_the_series_of_each_week(analyst: TestClient) -> None:
    html = analyst.get("/console/analytics", params=RANGE).text
    # No inline script runs: the data sits in JSON blocks, the code in files of this server.
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts, "the page draws no chart"
    for attributes in scripts:
        assert 'type="application/json"' in attributes or 'src="/console/' in attributes
    assert '<script src="/console/plotly.min.js" defer>' in html
    series = _csv(analyst, "/console/analytics/series.csv", RANGE)
    # 16 March 2026 is a Monday: five weeks, the last one cut at 15 April.
    weeks = sorted({(r[0], r[1]) for r in series[1:]})
    assert weeks == [
        ("2026-03-16", "2026-03-22"), ("2026-03-23", "2026-03-29"), ("2026-03-30", "2026-04-05"),
        ("2026-04-06", "2026-04-12"), ("2026-04-13", "2026-04-15"),
    ]  # fmt: skip
    # The weeks' figures are the API's for each week.
    for first, last in weeks:
        body = _api(analyst, {"from": first, "to": last, "currency": "EUR"})
        for channel in body["channels"]:
            figures = {f["definition"]: f["value"] for f in channel["reporting"]}
            row = next(r for r in series[1:] if r[0] == first and r[2] == channel["code"])
            assert row[4:] == [figures["net_sales"], figures["net_profit"], figures["ad_spend"]]


def test_plotly_is_served_from_the_package(analyst: TestClient) -> None:
    answer = analyst.get("/console/plotly.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    shipped = Path(str(files("plotly") / "package_data" / "plotly.min.js")).read_bytes()
    assert answer.content == shipped
    css = analyst.get("/console/plotly.css")
    assert css.headers["content-type"].startswith("text/css")
    # plotly.js's own rules (its main SVG layers stack), read from the same bundle.
    assert ".js-plotly-plot .plotly .main-svg{position:absolute;" in css.text
    html = analyst.get("/console/analytics", params=RANGE).text
    assert 'id="plotly.js-style-global" class="no-inline-styles"' in html


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({**RANGE, "from": "2026-04-16"}, "to", 422),  # ends before it starts
        ({**RANGE, "from": "16.03.2026"}, "from", 422),
        ({**RANGE, "currency": "XYZ"}, "currency", 422),
        ({**RANGE, "currency": "USD"}, "currency", 422),  # no ECB rate known
        ({**RANGE, "channel": "nowhere"}, "channel", 422),
    ],
)
def test_bad_filters_are_refused_at_their_field(
    analyst: TestClient, params: dict[str, str], field: str, status: int
) -> None:
    answer = analyst.get("/console/analytics", params=params)
    assert answer.status_code == status
    assert f'id="{field}-error"' in answer.text
    assert "Download CSV" not in answer.text  # no figures for filters that cannot be read


def test_slices_are_weeks_months_or_years() -> None:
    grain, cuts = slices(Period(date(2026, 1, 15), date(2026, 3, 2)))
    assert grain == "week"
    assert cuts[0] == ("2026-01-15", date(2026, 1, 15), date(2026, 1, 18))
    assert cuts[-1] == ("2026-03-02", date(2026, 3, 2), date(2026, 3, 2))
    grain, cuts = slices(Period(date(2025, 12, 20), date(2026, 4, 15)))
    assert grain == "month"
    assert [c[0] for c in cuts] == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]
    assert cuts[0][1:] == (date(2025, 12, 20), date(2025, 12, 31))
    grain, cuts = slices(Period(date(2020, 6, 1), date(2026, 4, 15)))
    assert grain == "year"
    assert len(cuts) == 7


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("", "en"),
        ("pl", "pl"),
        ("pl-PL,pl;q=0.9,en-US;q=0.8", "pl"),
        ("de-DE,de;q=0.9,pl;q=0.5,en;q=0.7", "en"),
        ("de, pl;q=0.1", "pl"),
        ("pl;q=0, en", "en"),
        ("fr;q=oops", "en"),
    ],
)
def test_the_locale_comes_from_accept_language(header: str, locale: str) -> None:
    request = Request({"type": "http", "headers": [(b"accept-language", header.encode())]})
    assert viewer_locale(request) == locale


# ------------------------------------------------------------------ the channel page


def test_the_channel_page_shows_the_funnel_and_attribution(shop: Shop, analyst: TestClient) -> None:
    period = Period(FIRST, LAST)
    with open_analytics(db=shop.db, settings=shop.settings) as engine:
        entered = funnel(engine, period=period, steps=DEFAULT_STEPS, window=parse_window("7d"))
        credits = attribution_report(engine, period=period, currency="EUR")
    web = next(r for r in entered.rows if r.channel == "web-pl")
    rows = _csv(analyst, "/console/channels/web-pl/funnel.csv", RANGE)
    assert rows[1:] == [
        [s.step, str(s.funnel_subjects), str(s.drop_off), _text(s.step_conversion),
         _text(s.funnel_conversion)]
        for s in web.steps
    ]  # fmt: skip
    # c1 and c2 (and the anonymous x1) added to cart on the web; two ordered.
    assert [r[1] for r in rows[1:]] == ["3", "1", "1"]
    attribution = _csv(analyst, "/console/channels/market-eu/attribution.csv", RANGE)
    expected = [
        [t.channel, c.model, str(c.attributed_conversions), str(s.attributed_sales),
         _text(s.attributed_roas), s.currency]
        for t in credits.channels for c in t.credits for s in c.by_currency
    ]  # fmt: skip
    assert attribution[1:] == expected
    assert any(r[0] == "market-eu" for r in expected)
    html = analyst.get("/console/channels/market-eu", params=RANGE).text
    assert "first_touch" in html
    assert "Funnel of visitors who entered here" in html


def test_the_channel_pages_figures_are_the_apis(analyst: TestClient) -> None:
    body = _api(analyst, RANGE)
    web = next(c for c in body["channels"] if c["code"] == "web-pl")
    rows = _csv(analyst, "/console/channels/web-pl/figures.csv", RANGE)
    assert rows[1:] == [
        [f["definition"], f["unit"], _text(f["value"]), _text(f["currency"]), _text(o["value"]),
         _text(o["currency"])]
        for f, o in zip(web["reporting"], web["figures"], strict=True)
    ]  # fmt: skip
    html = analyst.get("/console/channels/web-pl", params=RANGE).text
    assert "PLN425.00" in html  # net sales in the channel's own currency beside EUR's


CHANNEL_FILTERS = [
    RANGE,
    {"from": "2026-03-17", "to": "2026-04-15", "currency": "PLN"},
    {"from": "2026-04-01", "to": "2026-04-15", "currency": "EUR"},
]


@pytest.mark.parametrize("params", CHANNEL_FILTERS)
@pytest.mark.parametrize("code", ["web-pl", "market-eu"])
def test_the_channel_pages_products_and_reasons_are_the_analytics_functions(
    shop: Shop, analyst: TestClient, code: str, params: dict[str, str]
) -> None:
    period = Period(date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
    with open_analytics(db=shop.db, settings=shop.settings) as engine:
        report = channel_figures(
            engine, first=period.first, last=period.last, currency=params["currency"]
        )
        channel_id = report.channel(code).channel_id
        products = top_products(
            engine, channel_id=channel_id, period=period, currency=params["currency"]
        )
        reasons = return_reasons(engine, channel_id=channel_id, period=period)
    names = {"A": "Linen shirt (M)", "B": "Mug"}  # the catalog's; C is in none
    rows = _csv(analyst, f"/console/channels/{code}/products.csv", params)
    assert rows[0] == ["sku", "name", "product_units", "product_returned_units",
                       "product_net_sales", "currency", "product_share"]  # fmt: skip
    assert rows[1:] == [
        [p.sku, names.get(p.sku, ""), str(p.product_units), str(p.product_returned_units),
         str(p.product_net_sales), products.currency, _text(p.product_share)]
        for p in products.products
    ]  # fmt: skip
    rows = _csv(analyst, f"/console/channels/{code}/reasons.csv", params)
    assert rows[0] == ["reason", "reason_returns", "reason_units", "reason_share"]
    assert rows[1:] == [
        [_text(r.reason), str(r.reason_returns), str(r.reason_units), _text(r.reason_share)]
        for r in reasons.reasons
    ]


def test_the_web_shops_top_products_and_return_reasons(analyst: TestClient) -> None:
    # By hand (test_analytics_products): A 180 PLN (16 Mar, 4.2) = 42.86 EUR, order 3's
    # unit returned keeps nothing of it; B 300 × 2/3 = 200 PLN (17 Mar) = 47.62 EUR.
    # Of 90.48 EUR: 52.630… % and 47.369… %.
    rows = _csv(analyst, "/console/channels/web-pl/products.csv", RANGE)
    assert rows[1:] == [
        ["B", "Mug", "3", "1", "47.62", "EUR", "52.63"],
        ["A", "Linen shirt (M)", "3", "1", "42.86", "EUR", "47.37"],
    ]
    # A unit each, one return each: the reason given first.
    rows = _csv(analyst, "/console/channels/web-pl/reasons.csv", RANGE)
    assert rows[1:] == [["size", "1", "1", "50.00"], ["", "1", "1", "50.00"]]
    html = analyst.get("/console/channels/web-pl", params=RANGE).text
    for shown in ("Top products", "Linen shirt (M)", "€47.62", "52.63%", "Return reasons",
                  "No reason given", "/console/channels/web-pl/products.csv?from=2026-03-16",
                  "/console/channels/web-pl/reasons.csv?from=2026-03-16"):  # fmt: skip
        assert shown in html, shown
    # The marketplace's C is in no catalog: no name; nothing of it came back.
    rows = _csv(analyst, "/console/channels/market-eu/products.csv", RANGE)
    assert [r[:2] for r in rows[1:]] == [["A", "Linen shirt (M)"], ["C", ""], ["B", "Mug"]]
    market = analyst.get("/console/channels/market-eu", params=RANGE).text
    assert "Nothing sold on this channel in the range came back." in market
    assert _csv(analyst, "/console/channels/market-eu/reasons.csv", RANGE) == [
        ["reason", "reason_returns", "reason_units", "reason_share"]
    ]


def test_a_range_without_sales_says_so(analyst: TestClient) -> None:
    april = {**RANGE, "from": "2026-04-01"}
    html = analyst.get("/console/channels/web-pl", params=april).text
    assert "Nothing was sold on this channel in the range." in html
    assert "Nothing sold on this channel in the range came back." in html
    assert _csv(analyst, "/console/channels/web-pl/products.csv", april)[1:] == []


def test_an_unknown_channel_is_not_found(analyst: TestClient) -> None:
    assert analyst.get("/console/channels/nowhere", params=RANGE).status_code == 404


def test_bad_funnel_steps_are_refused_at_their_field(analyst: TestClient) -> None:
    answer = analyst.get(
        "/console/channels/web-pl", params={**RANGE, "steps": "Order Completed", "window": "7d"}
    )
    assert answer.status_code == 422
    assert 'id="steps-error"' in answer.text
    answer = analyst.get("/console/channels/web-pl", params={**RANGE, "window": "forever"})
    assert answer.status_code == 422
    assert 'id="window-error"' in answer.text


# ------------------------------------------------------------------ the customers page


def test_the_customers_page_shows_cohorts_and_omnichannel(shop: Shop, analyst: TestClient) -> None:
    period = Period(FIRST, LAST)
    with open_analytics(db=shop.db, settings=shop.settings) as engine:
        cohorts = cohort_table(engine, period=period, currency="EUR")
        groups = omnichannel_report(engine, period=period, currency="EUR")
    rows = _csv(analyst, "/console/customers/cohorts.csv", RANGE)
    assert rows[1:] == [
        [c.month.isoformat(), "all", str(c.cohort_customers), str(m.month),
         str(m.active_customers), str(m.repeat_customers), _text(m.repeat_rate),
         str(m.order_net_sales[0].amount if m.order_net_sales else 0), "EUR"]
        for c in cohorts.cohorts if c.channel is None for m in c.months
    ]  # fmt: skip
    assert rows[1:]
    rows = _csv(analyst, "/console/customers/omnichannel.csv", RANGE)
    assert rows[1:] == [
        [g.group, str(g.group_customers), str(g.group_orders), _text(g.orders_per_customer),
         str(g.mature_customers), str(m.order_net_sales), _text(m.sales_per_customer),
         str(m.sales_12m), _text(m.value_12m), m.currency]
        for g in groups.groups for m in g.by_currency
    ]  # fmt: skip
    # c1 bought on both channels in the range.
    assert rows[1][:2] == ["omnichannel", "1"]
    html = analyst.get("/console/customers", params=RANGE).text
    assert 'class="heatmap"' in html
    assert "heat-" in html
    # The analyst reads figures, not people: no search.
    assert "/console/customers/search" not in html


def test_a_channels_cohorts(analyst: TestClient) -> None:
    rows = _csv(analyst, "/console/customers/cohorts.csv", {**RANGE, "channel": "market-eu"})
    assert {r[1] for r in rows[1:]} == {"market-eu"}


def test_the_search_leads_to_the_customer_360(shop: Shop, admin: TestClient) -> None:
    page = admin.get("/console/customers", params=RANGE)
    assert "/console/customers/search" in page.text
    token = csrf_of(page.text)
    found = admin.post(
        "/console/customers/search",
        data={"csrf_token": token, "kind": "email", "value": "Ewa.Kowalska@Poczta.PL"},
        follow_redirects=False,
    )
    assert found.status_code == 303
    assert found.headers["location"] == f"/console/customers/{shop.ewa}"
    card = admin.post(
        "/console/customers/search",
        data={"csrf_token": token, "kind": "loyalty_card", "value": "LC-77"},
        follow_redirects=False,
    )
    assert card.headers["location"] == f"/console/customers/{shop.ewa}"
    view = admin.get(f"/console/customers/{shop.ewa}")
    assert view.status_code == 200
    assert EWA in view.text
    assert "Ewa Kowalska" in view.text
    identities = _csv(admin, f"/console/customers/{shop.ewa}/identities.csv")
    assert sorted(r[:2] for r in identities[1:]) == [
        ["email", EWA],
        ["loyalty_card", "LC77"],
    ]  # as normalised on arrival


@pytest.mark.parametrize(
    ("kind", "value", "status"),
    [
        ("email", "nobody@poczta.pl", 404),
        ("email", "nobody@shop.example", 422),
        ("email", "", 422),
        ("ssn", "1", 422),
    ],
)
def test_a_search_that_finds_nobody_says_so_at_the_field(
    admin: TestClient, kind: str, value: str, status: int
) -> None:
    token = csrf_of(admin.get("/console/customer-search").text)
    answer = admin.post(
        "/console/customers/search",
        data={"csrf_token": token, "kind": kind, "value": value},
        follow_redirects=False,
    )
    assert answer.status_code == status
    assert re.search(r'id="(value|kind)-error"', answer.text)


def test_money_values_in_the_api_are_decimal_strings(analyst: TestClient) -> None:
    # The comparison above reads the CSV's Decimals as the API writes them.
    body = _api(analyst, RANGE)
    total = {f["definition"]: f["value"] for f in body["total"]}
    assert Decimal(total["net_sales"]) == Decimal("244.95")


# -------------------------------------------------- the customers page: predicted value


CLV_RANGE = {"from": "1997-01-01", "to": "1997-06-30", "currency": "USD"}
CLV_EDGES = (Decimal(0), Decimal(10), Decimal(50), Decimal(100), Decimal(500))


@pytest.fixture(scope="module")
def clv_analyst(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A USD shop with the 30 customers of the CLV API's test imported as history, an
    analyst signed in to the console and the analyst's key for the API."""
    tmp = tmp_path_factory.mktemp("console-clv")
    shutil.copy(sqlite_template, tmp / "omnicart.db")
    db = Database.from_url(f"sqlite:///{tmp / 'omnicart.db'}")
    with db.transaction() as session:
        add_channel(session, "us-web", currency="USD")
        create_api_key(session, name="analyst", role="analyst", secret=ANALYST_KEY)
        create_user(session, email=ANALYST, password=PASSWORD, role="analyst", location_id=None)
    path = tmp / "history.txt"
    path.write_text(
        "".join(
            f"{ref} {day:%Y%m%d} 1 {value}\n"
            for ref, rows in clv_purchases().items()
            for day, value in rows
        )
    )
    import_history(db, read_cdnow(path), channel_code="us-web", source_name=path.name)
    # The cohort figures beside the CLV report in a currency with ECB rates.
    rates = tmp / "eurofxref-hist.csv"
    rates.write_text("Date,USD,\n1997-01-02,1.2500,\n")
    import_rates_file(db, rates)
    settings = Settings(events_path=str(tmp / "events.duckdb"), events_flusher="process")
    with TestClient(create_app(db=db, settings=settings, sweep=False)) as client:
        sign_in(client, ANALYST)
        yield client
    db.dispose()


def _bands_by_hand(values: list[Decimal]) -> list[list[str]]:
    """The CSV's rows computed here: each value in the first band whose top it reaches."""
    bounds = [(None, CLV_EDGES[0]), *zip(CLV_EDGES, (*CLV_EDGES[1:], None), strict=True)]
    rows = []
    for low, high in bounds:
        inside = [
            v for v in values
            if (low is None or v > low) and (high is None or v <= high)
        ]  # fmt: skip
        share = (Decimal(len(inside)) / len(values)).quantize(Decimal("0.0001"))
        rows.append(
            [
                _text(low),
                _text(high),
                str(len(inside)),
                str(share),
                str(sum(inside, Decimal(0))),
                "USD",
            ]
        )
    return rows


def test_the_customers_page_shows_the_clv_distribution_of_the_api(clv_analyst: TestClient) -> None:
    api = clv_analyst.get(
        "/v1/analytics/clv",
        params={**CLV_RANGE, "horizon_weeks": "52", "limit": "1000"},
        headers={"Authorization": f"Bearer {ANALYST_KEY}"},
    )
    assert api.status_code == 200, api.text
    body = api.json()
    values = [Decimal(v["clv_expected_value"]) for v in body["values"]]
    assert len(values) == body["customers"] > 10
    rows = _csv(clv_analyst, "/console/customers/clv.csv", CLV_RANGE)
    assert rows[0] == ["over", "up_to", "customers", "share", "predicted_value_12m", "currency"]
    assert rows[1:] == _bands_by_hand(values)
    # The customers spread over more than one band: the test would see a band swap.
    assert sum(1 for r in rows[1:] if r[2] != "0") > 1
    # The model is fitted on demand: the page offers it, and shows it when asked.
    plain = clv_analyst.get("/console/customers", params=CLV_RANGE).text
    assert "/console/customers/clv.csv?" not in plain
    assert "chart-clv" not in plain
    assert (
        'href="/console/customers?from=1997-01-01&amp;to=1997-06-30&amp;currency=USD&amp;clv=1'
        in plain
    )
    html = clv_analyst.get("/console/customers", params={**CLV_RANGE, "clv": "1"}).text
    assert "/console/customers/clv.csv?" in html
    assert '<input type="hidden" name="clv" value="1">' in html
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    median = median.quantize(Decimal("0.01"))
    assert f"Median: ${median:,}; total: ${sum(values, Decimal(0)):,}." in html
    chart = re.search(r'<script type="application/json" id="chart-clv-data">(.*?)</script>', html)
    assert chart is not None
    drawn = json.loads(chart.group(1))
    assert drawn["kind"] == "bar"
    assert drawn["traces"][0]["y"] == [int(r[2]) for r in rows[1:]]
    assert drawn["traces"][0]["x"][0] == "$0.00"
    assert drawn["traces"][0]["x"][-1] == "over $500.00"
    polish = clv_analyst.get(
        "/console/customers", params={**CLV_RANGE, "clv": "1"}, headers={"Accept-Language": "pl"}
    )
    assert "Przewidywana wartość klientów w ciągu najbliższych 12 miesięcy" in polish.text


def test_a_range_too_small_to_fit_clv_says_so(analyst: TestClient) -> None:
    # The hand merchant has a handful of customers: too few for BG/NBD.
    page = analyst.get("/console/customers", params={**RANGE, "clv": "1"})
    assert page.status_code == 200
    assert 'class="heatmap"' in page.text  # the rest of the page stands
    assert "The customer lifetime value model cannot be fitted for this range: Too few" in page.text
    assert "/console/customers/clv.csv" not in page.text
    assert "chart-clv" not in page.text
    csv_answer = analyst.get("/console/customers/clv.csv", params=RANGE)
    assert csv_answer.status_code == 409
    assert 'id="from-error"' in csv_answer.text


def test_a_bad_clv_switch_is_refused_and_changes_nothing(analyst: TestClient) -> None:
    page = analyst.get("/console/customers", params={**RANGE, "clv": "yes"})
    assert page.status_code == 422
    assert "clv" in page.text
    assert "chart-clv" not in page.text
