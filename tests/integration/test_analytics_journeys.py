"""Journeys and attribution from the analytic model, worked out by hand, on DuckDB and
ClickHouse; and the analytics routes of cohorts, omnichannel customers, funnels and
attribution over a real order book and event store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine, Engine
from omnicart.analytics.importers_spend import import_spend_file
from omnicart.analytics.journeys import (
    JOURNEY_ROWS_SQL,
    AttributionReport,
    attribution_report,
    build_journeys,
)
from omnicart.analytics.period import Period
from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.kernel.clock import set_clock
from omnicart.orders import checkout, service
from omnicart.orders.model import Customer, Fulfil, PaymentDraft
from omnicart.settings import Settings
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.service import create_tracking_source
from tests.cli_run import Ran, omnicart
from tests.orders_support import market_order, seed_shop

D = Decimal
WEB, APP, STORE = 1, 2, 3
MARCH = Period.of(date(2025, 3, 1), date(2025, 3, 31))


def at(day: int, hour: int = 0, minute: int = 0, micro: int = 0) -> datetime:
    """A time in 2025, day 1 being 1 March (0 is 28 February)."""
    return datetime(2025, 3, 1, hour, minute, 0, micro) + timedelta(days=day - 1)


def ev(
    when: datetime,
    channel: int,
    key: str | None,
    *,
    source: str | None = None,
    referrer: str | None = None,
    anonymous: str | None = None,
) -> tuple[object, ...]:
    return (when, channel, key, anonymous, "page", None, source, None, None, referrer, None)


def order(
    order_id: int, channel: int, when: datetime, key: str, amount: str, *, cancelled: bool = False
) -> tuple[object, ...]:
    zero, value = D(0), D(amount)
    gone = when + timedelta(hours=1) if cancelled else None
    return (order_id, channel, when, "EUR", key, "x", value, zero, zero, zero, value, 1, gone)


EVENTS = [
    # c1: a google visit (two events 20 minutes apart: one session), a Facebook visit the
    # next day (an event exactly 30 minutes later with a bing UTM is the same session, so
    # no touch), then a purchase in the store: journey google → facebook.com → store.
    ev(at(1, 12), WEB, "c1", source=" Google "),
    ev(at(1, 12, 20), WEB, "c1"),
    ev(at(2, 12), WEB, "c1", referrer="https://www.Facebook.com/ads?x=1"),
    ev(at(2, 12, 30), WEB, "c1", source="bing"),
    # c2: an app campaign tagged with the app channel's code, then a direct web visit at
    # the very instant of the web order: journey app → direct. Its google visit on
    # 25 February is beyond the 7-day lookback.
    ev(at(-3, 9), WEB, "c2", source="google"),
    ev(at(4, 9, 10), APP, "c2", source="app"),
    ev(at(5, 9, 10), WEB, "c2"),
    # c3: a touch 10 days before its order: the order is unattributed.
    ev(at(10, 9), WEB, "c3", source="google"),
    # c4: google, then 30 minutes and 1 µs without an event: a new session from Facebook.
    ev(at(12, 10), WEB, "c4", source="google"),
    ev(at(12, 10, 30, micro=1), WEB, "c4", referrer="https://facebook.com/"),
    # An anonymous app visitor (no UTM, no referrer: direct).
    ev(at(15), APP, None, anonymous="z"),
    # c5: google, and an order that was cancelled: no conversion.
    ev(at(16, 10), WEB, "c5", source="google"),
]
ORDERS = [
    order(1, STORE, at(3, 12), "c1", "60"),
    order(2, WEB, at(5, 9, 10), "c2", "40"),
    order(3, WEB, at(20), "c3", "30"),
    order(4, WEB, at(16, 11), "c5", "25", cancelled=True),
]
SPEND = [
    (date(2025, 3, 5), APP, "install", D("10"), "EUR"),
    (date(2025, 3, 1), STORE, "flyers", D("30"), "EUR"),
    (date(2025, 2, 28), APP, "before", D("5"), "EUR"),  # outside the range
    (date(2025, 4, 1), STORE, "after", D("100"), "EUR"),  # outside the range
]


def _load(engine: Engine) -> None:
    engine.insert(
        "wh_channels",
        [(1, "web", "web", "EUR"), (2, "app", "app", "EUR"), (3, "store", "pos", "EUR")],
    )
    engine.insert("wh_events", EVENTS)
    engine.insert("wh_orders", ORDERS)
    engine.insert("wh_spend", SPEND)


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


@pytest.fixture(scope="module")
def report(engine: Engine) -> AttributionReport:
    return attribution_report(engine, period=MARCH, lookback_days=7, half_life_days=D(1))


def test_journeys_from_the_model(engine: Engine) -> None:
    week = timedelta(days=7)
    params = {"since": MARCH.start - week, "start": MARCH.start, "end": MARCH.end}
    found = build_journeys(engine.query(JOURNEY_ROWS_SQL, params), period=MARCH, lookback=week)
    paths = [([(t.channel, t.at) for t in j.touches], j.converted, j.value) for j in found.journeys]
    assert paths == [
        ([("direct", at(15))], False, D(0)),  # the anonymous visitor, keyed az
        (
            [("google", at(1, 12)), ("facebook.com", at(2, 12)), ("store", at(3, 12))],
            True,
            D("60"),
        ),
        ([("app", at(4, 9, 10)), ("direct", at(5, 9, 10))], True, D("40")),
        ([("google", at(12, 10)), ("facebook.com", at(12, 10, 30, micro=1))], False, D(0)),
        ([("google", at(16, 10))], False, D(0)),
    ]
    assert [(c.order_id, c.at) for c in found.unattributed] == [(3, at(20))]


def _credits(report: AttributionReport, model: str) -> dict[str, tuple[Decimal, Decimal]]:
    found = {}
    for channel in report.channels:
        (credit,) = [c for c in channel.credits if c.model == model]
        (eur,) = credit.by_currency
        found[channel.channel] = (credit.attributed_conversions, eur.attributed_sales)
    return found


def _roas(report: AttributionReport, model: str) -> dict[str, Decimal | None]:
    found = {}
    for channel in report.channels:
        (credit,) = [c for c in channel.credits if c.model == model]
        found[channel.channel] = credit.by_currency[0].attributed_roas
    return found


def test_attribution_totals(report: AttributionReport) -> None:
    # Orders of the range: c1's 60, c2's 40, c3's 30 (no touch within 7 days); c5's cancelled.
    assert (report.conversions, report.converting_journeys, report.journeys) == (3, 2, 5)
    assert [(a.currency, a.amount) for a in report.order_net_sales] == [("EUR", D("130.00"))]
    assert report.unattributed_conversions == 1
    assert [(a.currency, a.amount) for a in report.unattributed_sales] == [("EUR", D("30.00"))]
    # Spend in the range of the channels whose codes are touch channels: app 10, store 30.
    spend = {c.channel: [(a.currency, a.amount) for a in c.ad_spend] for c in report.channels}
    assert spend == {
        "app": [("EUR", D("10.00"))],
        "direct": [],
        "facebook.com": [],
        "google": [],
        "store": [("EUR", D("30.00"))],
    }


# Converting journeys: J1 google → facebook.com → store (60 EUR), J2 app → direct (40 EUR).
HAND = {
    "first_touch": {
        "app": (D("1.0000"), D("40.00")),
        "direct": (D("0.0000"), D("0.00")),
        "facebook.com": (D("0.0000"), D("0.00")),
        "google": (D("1.0000"), D("60.00")),
        "store": (D("0.0000"), D("0.00")),
    },
    "last_touch": {
        "app": (D("0.0000"), D("0.00")),
        "direct": (D("1.0000"), D("40.00")),
        "facebook.com": (D("0.0000"), D("0.00")),
        "google": (D("0.0000"), D("0.00")),
        "store": (D("1.0000"), D("60.00")),
    },
    # J1 thirds, J2 halves. 3 × 0.3333 leaves 0.0001, given to the first name of the tie.
    "linear": {
        "app": (D("0.5000"), D("20.00")),
        "direct": (D("0.5000"), D("20.00")),
        "facebook.com": (D("0.3334"), D("20.00")),
        "google": (D("0.3333"), D("20.00")),
        "store": (D("0.3333"), D("20.00")),
    },
    # Half-life 1 day. J1: ages 2, 1, 0 days → 1/4, 1/2, 1 → 1/7, 2/7, 4/7 of 60 EUR
    # (8.571…, 17.142…, 34.285…). J2: ages 1 and 0 days → 1/3, 2/3 of 40 (13.33…, 26.66…).
    # Conversions to 4 places: 0.14285…, 0.28571…, 0.57142…, 0.33333…, 0.66666… floor to
    # a sum 0.0002 short; the largest remainders (direct .67, google .57) take it. Cents:
    # floors 857 + 1714 + 3428 + 1333 + 2666 = 9998; direct (.67) and store (.57) take 2.
    "time_decay": {
        "app": (D("0.3333"), D("13.33")),
        "direct": (D("0.6667"), D("26.67")),
        "facebook.com": (D("0.2857"), D("17.14")),
        "google": (D("0.1429"), D("8.57")),
        "store": (D("0.5714"), D("34.29")),
    },
    # J1: 40 % google, 20 % facebook.com, 40 % store; J2 (two touches): 50/50.
    "position_based": {
        "app": (D("0.5000"), D("20.00")),
        "direct": (D("0.5000"), D("20.00")),
        "facebook.com": (D("0.2000"), D("12.00")),
        "google": (D("0.4000"), D("24.00")),
        "store": (D("0.4000"), D("24.00")),
    },
    # Paths: J1 start→google→facebook.com→store→conv, J2 start→app→direct→conv,
    # c4 start→google→facebook.com→null, z start→direct→null, c5 start→google→null.
    # P(start→google) 3/5, →app 1/5, →direct 1/5; google→fb 2/3, →null 1/3;
    # fb→store 1/2, →null 1/2; store→conv 1; app→direct 1; direct→conv 1/2, →null 1/2.
    # From store 1, fb 1/2, google 1/3, direct 1/2, app 1/2:
    # P(conversion) = 3/5·1/3 + 1/5·1/2 + 1/5·1/2 = 2/5.
    # Without google, facebook.com or store: 1/5 → removal effect 1/2 each; without
    # direct (app then reaches nothing): 3/5·1/3 = 1/5 → 1/2; without app:
    # 1/5 + 1/5·1/2 = 3/10 → 1/4. Shares: 2/9 each, app 1/9, of 2 conversions and
    # 100 EUR: 0.4444… and 22.22…, app 0.2222… and 11.11…; the remainders go by name.
    "markov": {
        "app": (D("0.2222"), D("11.11")),
        "direct": (D("0.4445"), D("22.23")),
        "facebook.com": (D("0.4445"), D("22.22")),
        "google": (D("0.4444"), D("22.22")),
        "store": (D("0.4444"), D("22.22")),
    },
    # v(S) counts J1 when {google, facebook.com, store} ⊆ S and J2 when {app, direct} ⊆ S.
    # A channel of J1 adds J1's worth only to coalitions already holding the other two:
    # the sum of |S|!(5-|S|-1)!/5! over those S (with or without app and direct) is 1/3.
    # So each J1 channel gets 1/3 (20 EUR), each J2 channel 1/2 (20 EUR): as linear here.
    "shapley": {
        "app": (D("0.5000"), D("20.00")),
        "direct": (D("0.5000"), D("20.00")),
        "facebook.com": (D("0.3334"), D("20.00")),
        "google": (D("0.3333"), D("20.00")),
        "store": (D("0.3333"), D("20.00")),
    },
}


@pytest.mark.parametrize("model", list(HAND))
def test_every_model_credits_channels_as_by_hand(report: AttributionReport, model: str) -> None:
    assert report.models == tuple(HAND)
    assert _credits(report, model) == HAND[model]


def test_roas_per_model(report: AttributionReport) -> None:
    # attributed_sales / ad_spend: app 10 EUR, store 30 EUR; no spend, no ROAS.
    assert _roas(report, "first_touch") == {
        "app": D("4.0000"),
        "direct": None,
        "facebook.com": None,
        "google": None,
        "store": D("0.0000"),
    }
    expected = {
        "last_touch": (D("0.0000"), D("2.0000")),
        "linear": (D("2.0000"), D("0.6667")),
        "time_decay": (D("1.3330"), D("1.1430")),
        "position_based": (D("2.0000"), D("0.8000")),
        "markov": (D("1.1110"), D("0.7407")),
        "shapley": (D("2.0000"), D("0.6667")),
    }
    for model, (app, store) in expected.items():
        roas = _roas(report, model)
        assert (roas["app"], roas["store"]) == (app, store), model


def test_a_longer_lookback_reaches_older_touches(engine: Engine) -> None:
    # With 14 days, c3's google visit (10 days before) attributes its order, and c2's
    # journey starts with the google visit of 25 February.
    report = attribution_report(engine, period=MARCH, lookback_days=14, half_life_days=D(1))
    assert (report.unattributed_conversions, report.converting_journeys) == (0, 3)
    assert _credits(report, "first_touch")["google"] == (D("3.0000"), D("130.00"))


@pytest.mark.parametrize(
    ("lookback", "half_life", "field"),
    [
        (0, D(7), "lookback_days"),
        (366, D(7), "lookback_days"),
        (30, D(0), "half_life_days"),
        (30, D("366"), "half_life_days"),
        (30, D("0.000000000001"), "half_life_days"),  # under a microsecond
    ],
)
def test_bad_windows_are_refused(lookback: int, half_life: Decimal, field: str) -> None:
    from omnicart.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        attribution_report(
            DuckDBEngine(), period=MARCH, lookback_days=lookback, half_life_days=half_life
        )
    assert refused.value.field == field


# ------------------------------------------------------------- the routes, end to end

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ADMIN = "oc_journeys_admin_secret"
ANALYST = "oc_journeys_analyst_secret"
BOB = Customer(email="bob@example.com", ref="bob")
ANN = Customer(email="ann@example.com", ref="ann")
RANGE = {"from": "2025-03-01", "to": "2025-03-31"}


@pytest.fixture
def served(sqlite_db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """Bob browses the web shop from a Google ad and buys there; Ann orders on the
    marketplace, which spent 10 EUR on ads that day."""
    now = [T0]
    set_clock(lambda: now[0])
    try:
        shop = seed_shop(sqlite_db)
        with sqlite_db.transaction() as session:
            web_key = create_tracking_source(session, channel_id=shop.web, name="web").write_key
            create_api_key(session, name="admin", role="admin", secret=ADMIN)
            create_api_key(session, name="analyst", role="analyst", secret=ANALYST)
        events = tmp_path / "events.duckdb"
        campaign = {"source": "google", "medium": "cpc", "name": "spring"}
        calls: list[dict[str, Any]] = [
            {
                "type": "page",
                "anonymousId": "d1",
                "minutes": -60,
                "context": {"campaign": campaign},
            },
            {
                "type": "identify",
                "userId": "bob",
                "anonymousId": "d1",
                "minutes": -59,
                "traits": {"email": "bob@example.com"},
            },
            {"type": "track", "event": "Product Viewed", "userId": "bob", "minutes": -58},
            {"type": "track", "event": "Product Added", "userId": "bob", "minutes": -50},
            {"type": "track", "event": "Checkout Started", "userId": "bob", "minutes": -45},
            {"type": "track", "event": "Product Viewed", "anonymousId": "d9", "minutes": -30},
        ]
        batch = []
        for number, call in enumerate(calls):
            minutes = call.pop("minutes")
            stamp = (T0 + timedelta(minutes=minutes)).isoformat()
            batch.append({"messageId": f"m{number}", "timestamp": stamp, **call})
        ingest = Ingestor(db=sqlite_db, events_path=events, flush=False)
        ingest.accept_sync(body=orjson.dumps({"batch": batch}), kind="batch", write_key=web_key)
        ingest.stop()
        cart = checkout.create_cart(sqlite_db, channel_id=shop.web, lines=[("A", 2)])
        request = checkout.Checkout(
            fulfil=Fulfil(mode="ship"),
            customer=BOB,
            discount=Decimal("2.00"),
            payments=(PaymentDraft("card", Decimal("37.98")),),
            total=Decimal("37.98"),
        )
        checkout.checkout(sqlite_db, cart_id=cart.id, request=request)
        now[0] = T0 + timedelta(hours=1)
        found = market_order(shop, "M-1", [("A", 2)])
        draft = dataclasses.replace(found.draft, customer=ANN)
        service.ingest_order(sqlite_db, dataclasses.replace(found, draft=draft))
        spend = tmp_path / "spend.csv"
        spend.write_text("date,channel,campaign,spend,currency\n2025-03-03,market,ads,10,EUR\n")
        import_spend_file(sqlite_db, spend)
        settings = Settings(events_path=str(events), events_flusher="process", admin_key=None)
        app = create_app(db=sqlite_db, settings=settings, sweep=False)
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            yield client
    finally:
        set_clock(None)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API over a merchant with nothing sold yet (one app for the module: its cases
    only read)."""
    directory = tmp_path_factory.mktemp("journeys-empty")
    db = Database.from_url(f"sqlite:///{directory / 'empty.db'}")
    upgrade(db.engine)
    with db.transaction() as session:
        create_api_key(session, name="admin", role="admin", secret=ADMIN)
        create_api_key(session, name="analyst", role="analyst", secret=ANALYST)
    events = directory / "events.duckdb"
    settings = Settings(events_path=str(events), events_flusher="process", admin_key=None)
    app = create_app(db=db, settings=settings, sweep=False)
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            yield client
    finally:
        db.dispose()


def _get(client: TestClient, path: str, **params: Any) -> Any:
    answer = client.get(f"/v1/analytics/{path}", params={**RANGE, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.slow
def test_the_routes_over_a_real_order_book_and_event_store(
    served: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
    funnel = _get(served, "funnels", steps=steps, window="1h")
    # Bob viewed, added and checked out within the hour (his order is a web order, which
    # only a tracked Order Completed would complete); d9 only viewed.
    assert funnel["steps"] == steps
    assert funnel["window_seconds"] == 3600
    assert [
        (row["channel"], [s["funnel_subjects"] for s in row["steps"]]) for row in funnel["rows"]
    ] == [(None, [2, 1, 1, 0]), ("web", [2, 1, 1, 0])]
    assert {d["name"] for d in funnel["definitions"]} == {
        "funnel_subjects",
        "drop_off",
        "step_conversion",
        "funnel_conversion",
    }

    cohorts = _get(served, "cohorts")
    # Bob: 2 × 19.99 − 2.00 = 37.98 on the web; Ann: 2 × 19.99 = 39.98 on the marketplace.
    assert (cohorts["from"], cohorts["to"], cohorts["currency"]) == (
        "2025-03-01",
        "2025-03-31",
        None,
    )
    assert [
        (c["month"], c["channel"], c["cohort_customers"], c["months"][0]["order_net_sales"])
        for c in cohorts["cohorts"]
    ] == [
        ("2025-03-01", None, 2, [{"currency": "EUR", "amount": "77.96"}]),
        ("2025-03-01", "market", 1, [{"currency": "EUR", "amount": "39.98"}]),
        ("2025-03-01", "web", 1, [{"currency": "EUR", "amount": "37.98"}]),
    ]

    omni = _get(served, "customers/omnichannel")
    assert [(g["group"], g["group_customers"], g["group_orders"]) for g in omni["groups"]] == [
        ("omnichannel", 0, 0),
        ("single_channel", 2, 2),
    ]
    assert omni["groups"][1]["by_currency"][0]["sales_per_customer"] == "38.98"

    attribution = _get(served, "attribution", lookback_days=7, half_life_days="2.5")
    # Bob's page view from the Google ad (an anonymous visit, tied to him by his identify
    # call) is his journey's touch; Ann's marketplace order is its own (offline) touch;
    # d9's direct visit converted nothing (a path to null), so it is credited nothing.
    assert (attribution["conversions"], attribution["unattributed_conversions"]) == (2, 0)
    assert (attribution["journeys"], attribution["converting_journeys"]) == (3, 2)
    assert attribution["half_life_days"] == "2.5"
    credits = {
        c["channel"]: {m["model"]: m["by_currency"] for m in c["credits"]}
        for c in attribution["channels"]
    }
    assert sorted(credits) == ["direct", "google", "market"]
    # Markov pools the sales: removal effects google 1/2, market 1/2, direct 0 share
    # 77.96 EUR half and half. Every other model credits each journey to its one touch.
    for model in attribution["models"]:
        market, google = ("38.98", "38.98") if model == "markov" else ("39.98", "37.98")
        assert credits["direct"][model] == [
            {"currency": "EUR", "attributed_sales": "0.00", "attributed_roas": None}
        ], model
        roas = {"39.98": "3.9980", "38.98": "3.8980"}[market]  # over the market's 10 EUR
        assert credits["market"][model] == [
            {"currency": "EUR", "attributed_sales": market, "attributed_roas": roas}
        ], model
        assert credits["google"][model] == [
            {"currency": "EUR", "attributed_sales": google, "attributed_roas": None}
        ], model

    # The commands print the API's bodies with --json, from the same refreshed model.
    bodies = {"funnel": funnel, "cohorts": cohorts, "omnichannel": omni}
    bodies["attribution"] = attribution
    options = {
        "funnel": [arg for step in steps for arg in ("--step", step)] + ["--window", "1h"],
        "attribution": ["--lookback-days", "7", "--half-life-days", "2.5"],
    }
    for command, body in bodies.items():
        printed = _command(served, capsys, command, "--json", *options.get(command, []))
        assert printed.code == 0, printed.err
        assert orjson.loads(printed.out) == body, command
    table = _command(served, capsys, "cohorts")
    assert table.code == 0, table.err
    assert "2025-03" in table.out
    assert "39.98 EUR" in table.out
    refused = _command(served, capsys, "funnel", "--step", "A", "--step", "B", "--window", "7w")
    assert refused.code == 2
    assert refused.err.startswith("error (--window): the window is a whole number")


def _command(served: TestClient, capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """`omnicart analytics ARGS` over the served app's database and event store."""
    state = served.app.state  # type: ignore[attr-defined]
    url = state.db.engine.url.render_as_string(hide_password=False)
    where = ["--database-url", url, "--events-path", state.settings.events_path]
    dates = ["--from", "2025-03-01", "--to", "2025-03-31"]
    return omnicart(capsys, "analytics", args[0], *dates, *where, *args[1:])


def test_an_analyst_may_read_the_figures_of_an_empty_merchant(empty: TestClient) -> None:
    analyst = {"Authorization": f"Bearer {ANALYST}"}
    answer = empty.get("/v1/analytics/cohorts", params=RANGE, headers=analyst)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cohorts"] == []
    omni = empty.get("/v1/analytics/customers/omnichannel", params=RANGE, headers=analyst)
    assert [g["group_customers"] for g in omni.json()["groups"]] == [0, 0]
    answer = empty.get(
        "/v1/analytics/attribution", params={**RANGE, "currency": "PLN"}, headers=analyst
    )
    assert (answer.json()["conversions"], answer.json()["channels"]) == (0, [])


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("cohorts", {"from": "2025-03-31", "to": "2025-03-01"}, "to"),
        ("cohorts", {"from": "2025-02-30"}, "from"),
        ("cohorts", {"currency": "EURO"}, "currency"),
        ("cohorts", {"currency": "XYZ"}, "currency"),
        ("customers/omnichannel", {"to": "yesterday"}, "to"),
        ("funnels", {"steps": ["Product Viewed"]}, "steps"),
        ("funnels", {"steps": ["A", "A"]}, "steps"),
        ("funnels", {"steps": ["A", "B"], "window": "7w"}, "window"),
        ("funnels", {"steps": ["A", "B"], "window": "0h"}, "window"),
        ("funnels", {"steps": ["A", "B"], "segment": "country"}, "segment"),
        ("attribution", {"lookback_days": 0}, "lookback_days"),
        ("attribution", {"lookback_days": 400}, "lookback_days"),
        ("attribution", {"half_life_days": "0"}, "half_life_days"),
        ("attribution", {"half_life_days": "NaN"}, "half_life_days"),
        ("cohorts", {"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ("attribution", {"from": "2025-01-01", "to": "9999-12-31"}, "to"),
        ("funnels", {"from": "0001-01-01", "steps": ["A", "B"]}, "from"),
    ],
)
def test_bad_input_is_422_naming_the_parameter(
    empty: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    answer = empty.get(f"/v1/analytics/{path}", params={**RANGE, **params})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field
