"""`omnicart demo` end to end (without serving), run once for the module: every scarce
unit granted exactly once, the order and customers' days, the vendors' shops in step with
Omnicart after racing its own channels, and a year of history whose per-channel figures
equal a computation made here from the order book and the ECB file."""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select

from omnicart.app import create_app
from omnicart.channels.tables import Channel
from omnicart.customers.service import channels_per_customer, customer_360
from omnicart.db.engine import Database
from omnicart.demo.cli import print_access
from omnicart.demo.history import PLANS, omnichannel_customers
from omnicart.demo.merchant import CHANNELS, SCARCE, DemoResult, events_path_for, run_demo
from omnicart.demo.vendors import ASSORTMENT, SOLD_OUT, VENDOR_CHANNELS
from omnicart.inventory.queries import channel_availability, location_availability
from omnicart.locations.service import location_id_for_code
from omnicart.orders.tables import Order, OrderLine, Payment
from tests.console.support import sign_in

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Run:
    result: DemoResult
    out: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("demo")
    with (folder / "out.txt").open("w") as handle:
        result = run_demo(f"sqlite:///{folder / 'demo.db'}", Console(file=handle, width=120))
    return Run(result, (folder / "out.txt").read_text())


@pytest.fixture
def db(demo: Run) -> Iterator[Database]:
    database = Database.from_url(demo.result.database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.mark.slow
def test_demo_grants_each_scarce_unit_once(demo: Run, db: Database) -> None:
    result, out = demo.result, demo.out
    granted = {sku: sum(per.get(sku, 0) for per in result.granted.values()) for sku in SCARCE}
    assert granted == {sku: sum(places.values()) for sku, places in SCARCE.items()}
    assert result.discrepancies == 0
    assert result.skus >= 200
    assert len(result.channel_keys) >= 5
    assert "nothing oversold" in out
    day = result.order_day
    # Orders from every channel, taken at once; only the order for a sold-out SKU is refused.
    assert set(day.placed) == {"web", "app", "instagram", "whatsapp", "pos-warsaw", "allegro"}
    assert day.placed["instagram"] == 4
    assert set(day.refused) == {"instagram"}
    assert sum(day.placed.values()) == 53
    assert day.redelivered_same == 12  # every marketplace order arrived twice: one order each
    assert len(day.cancelled) == 1
    assert day.shipped_orders > 0
    assert day.collected > 0
    assert [(bought, via) for _, bought, via, _ in day.returns] == [
        ("web", "pos-warsaw"), ("web", "pos-warsaw"), ("web", "pos-warsaw"), ("app", "web"),
    ]  # fmt: skip
    assert day.discrepancies == 0
    # The summary and the table are one computation, and agree with the database: every
    # order placed before the customers' day (it, the vendors and the past year report
    # their own).
    first_later = min(result.customer_day.till_orders.values())
    with db.reading() as session:
        taken, cancelled = session.execute(
            select(func.count(), func.count().filter(Order.status == "cancelled")).where(
                Order.id < first_later
            )
        ).one()
    assert (taken, cancelled) == (53, 1)
    assert sum(row.orders for row in day.per_channel) == taken
    assert (
        f"order day reconciles: {taken} orders from 6 channels ({cancelled} cancelled, 1 refused)"
    ) in " ".join(out.split())
    assert re.search(r"│ pos-warsaw +│ +10 │", out)  # the 6 customers' till sales come later
    # Money with its minor units, and no Python lists anywhere.
    assert re.search(r"│ instagram .*│ +0\.00 PLN │", out)
    assert not re.search(r"(?<![\d.])\d+ (PLN|EUR)", out)
    assert not re.search(r"\[[0-9'\"]", out), out
    flat = " ".join(out.split())  # sentences as printed, whatever the console wrapped
    assert "available-to-promise of the scarce SKUs is now 0 on every channel" in flat
    assert "Fulfilment per location" in out
    people = result.customer_day
    # Each person who browsed the app, logged in and bought at the till with the card the
    # app knows is one profile; their call continued their chat case.
    assert len(set(people.journeys.values())) == len(people.journeys) == 6
    assert people.continued == 6
    assert len(people.returns) == 3
    assert len(set(people.strangers)) == 2  # the shared store tablet fused nobody
    assert people.across_channels >= 6
    assert f"{people.across_channels} of {people.profiles} customer profiles" in out


@pytest.mark.slow
def test_demo_people_are_one_profile_each_across_channels(demo: Run, db: Database) -> None:
    result = demo.result
    with db.reading() as session:
        touched = channels_per_customer(session)
    events_path = events_path_for(result.database_url)
    for name, profile_id in result.customer_day.journeys.items():
        view = customer_360(db, customer_id=profile_id, events_path=events_path)
        kinds = {identity.kind for identity in view.identities}
        assert {"user_id", "anonymous_id", "email", "phone", "loyalty_card"} <= kinds, name
        assert {"app", "pos-warsaw"} <= touched[profile_id], name
        assert [o.channel_code for o in view.orders] == ["pos-warsaw"], name
        assert view.timeline, name  # the app events, attributed to the person
        assert [m.channel for c in view.conversations for m in c.messages] == ["chat", "phone"]


@pytest.mark.slow
def test_the_printed_console_login_signs_in(demo: Run, db: Database) -> None:
    out = io.StringIO()
    print_access(Console(file=out, width=200), demo.result, base="http://127.0.0.1:8000")
    printed = out.getvalue()
    assert "console:     http://127.0.0.1:8000/console" in printed
    email = re.search(r"sign in as:\s+(\S+)", printed)
    password = re.search(r"password:\s+(\S+)", printed)
    assert email is not None
    assert password is not None
    with TestClient(create_app(db=db, sweep=False)) as client:
        sign_in(client, email[1], password[1])
        # The owner: every page, the connections of the demo's vendors among them.
        page = client.get("/console/connectors")
        assert page.status_code == 200
        assert "shopify" in page.text


# --- the vendors ------------------------------------------------------------------------


@pytest.mark.slow
def test_every_vendor_shop_shows_what_omnicart_says_its_channel_may_sell(
    demo: Run, db: Database
) -> None:
    vendors = demo.result.vendor_day
    codes = [code for code, *_ in VENDOR_CHANNELS]
    assert vendors.settled
    # Every order each vendor sent is in the order book, once, and none waits for a person.
    assert vendors.taken == vendors.sent == {
        "shopify": 12, "woocommerce": 8, "square-gdansk": 10, "amazon-de": 8
    }  # fmt: skip
    assert vendors.attention == 0
    assert sum(vendors.own_sales.values()) == 19
    assert [(code, sku) for code, sku, *_ in vendors.figures] == [
        (code, sku) for code in codes for sku in ASSORTMENT[code]
    ]
    # What Omnicart says, read again here: the channel's sellable units (a till's store
    # shelves), after its buffer; each shop shows exactly that.
    with db.reading() as session:
        ids = {row.code: row.id for row in session.execute(select(Channel.code, Channel.id))}
        gdansk = location_id_for_code(session, code="store-gdansk")
        says = {}
        for code in codes:
            if code == "square-gdansk":
                found = location_availability(
                    session, location_id=gdansk, skus=list(ASSORTMENT[code]), channel_id=ids[code]
                )
            else:
                found = channel_availability(
                    session, channel_id=ids[code], skus=list(ASSORTMENT[code])
                )
            says.update({(code, sku): units for sku, units in found.items()})
    assert {(c, s): shown for c, s, shown, _ in vendors.figures} == says
    assert {(c, s): said for c, s, _, said in vendors.figures} == says
    assert says["shopify", SOLD_OUT] == 0
    # The race moved stock: shops show less than they started from (the tills' delivery).
    assert says["square-gdansk", "SOCK-WHITE-M"] < 8 + 13
    assert all(units > 0 for (code, _), units in vendors.ordered.items() if code in codes)
    flat = " ".join(demo.out.split())
    assert "17 of 17 shop figures equal what Omnicart says the channel may sell" in flat
    assert "Amazon's polled, the others by signed webhooks" in flat


# --- the past year ----------------------------------------------------------------------


def _rates(path: Path) -> tuple[list[date], list[Decimal]]:
    """PLN per EUR by day, as the ECB file the demo imported says."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    days = sorted((date.fromisoformat(r["Date"]), Decimal(r["PLN"])) for r in rows)
    return [d for d, _ in days], [rate for _, rate in days]


def _to_eur(
    amount: Decimal, currency: str, day: date, rates: tuple[list[date], list[Decimal]]
) -> Decimal:
    if currency != "EUR":
        days, values = rates
        with localcontext() as context:
            context.prec = 60
            amount = amount / values[bisect_right(days, day) - 1]
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@pytest.mark.slow
def test_a_year_of_history_on_every_channel(demo: Run, db: Database) -> None:
    year = demo.result.past_year
    assert year is not None
    codes = [code for code, *_ in CHANNELS] + [code for code, *_ in VENDOR_CHANNELS]
    assert set(codes) == set(PLANS)
    assert year.orders == {code: PLANS[code].orders for code in codes}
    assert all(year.returns[code] > 0 for code in codes)
    assert (year.last - year.first).days == 364
    assert year.imported["spend"] > 3000
    assert year.imported["rates"] > 250
    start = datetime.combine(year.first, time(), tzinfo=UTC)
    end = datetime.combine(year.last + timedelta(days=1), time(), tzinfo=UTC)
    with db.reading() as session:
        # Customers (by the login, card or buyer id their orders name) on 2+ channels.
        several = session.scalar(
            select(func.count()).select_from(
                select(Order.customer_ref)
                .where(
                    Order.customer_ref.is_not(None),
                    Order.created_at >= start,
                    Order.created_at < end,
                )
                .group_by(Order.customer_ref)
                .having(func.count(Order.channel_id.distinct()) >= 2)
                .subquery()
            )
        )
        first_of_year = session.scalar(select(func.min(Order.created_at)))
    assert several is not None
    assert several > 20
    # The demo reads the model before identity resolution has linked the year's orders
    # to profiles: a customer is the reference their orders carry.
    assert omnichannel_customers(year) == several
    assert first_of_year is not None
    assert first_of_year.date() >= year.first


@pytest.mark.slow
def test_the_years_figures_equal_the_order_book(demo: Run, db: Database) -> None:
    """Net sales, orders, units and returned units of every channel, summed here from
    the order book (and converted with the ECB file's rates, day by day, as the README's
    rule says) equal the figures the demo printed."""
    year = demo.result.past_year
    assert year is not None
    assert year.report is not None
    start = datetime.combine(year.first, time(), tzinfo=UTC)
    end = datetime.combine(year.last + timedelta(days=1), time(), tzinfo=UTC)
    rates = _rates(year.folder / "eurofxref-hist.csv")
    own: dict[str, dict[str, Decimal | int]] = defaultdict(lambda: defaultdict(int))
    days: dict[tuple[str, str, date, str], Decimal] = defaultdict(Decimal)
    with db.reading() as session:
        orders = session.execute(
            select(Channel.code, Channel.currency, Order.id, Order.created_at,
                   Order.discount_total)
            .join(Channel, Channel.id == Order.channel_id)
            .where(Order.created_at >= start, Order.created_at < end,
                   Order.status != "cancelled")
        ).all()  # fmt: skip
        lines = defaultdict(list)
        for order_id, quantity, price, returned in session.execute(
            select(OrderLine.order_id, OrderLine.quantity, OrderLine.unit_price, OrderLine.returned)
        ):
            lines[order_id].append((quantity, price, returned))
        refunds: dict[int, Decimal] = defaultdict(Decimal)
        for order_id, amount in session.execute(
            select(Payment.order_id, Payment.amount).where(Payment.kind == "refund")
        ):
            refunds[order_id] += amount
    for code, currency, order_id, created, discount in orders:
        gross = sum((q * p for q, p, _ in lines[order_id]), Decimal(0))
        figures = own[code]
        figures["orders"] += 1
        figures["units"] += sum(q for q, _, _ in lines[order_id])
        figures["returned_units"] += sum(r for _, _, r in lines[order_id])
        figures["net_sales"] += gross - discount - refunds[order_id]
        day = created.astimezone(UTC).date()
        for name, amount in (("gross", gross), ("discounts", discount),
                             ("refunds", refunds[order_id])):  # fmt: skip
            days[code, currency, day, name] += amount
    eur: dict[str, Decimal] = defaultdict(Decimal)
    for (code, currency, day, name), amount in days.items():
        sign = 1 if name == "gross" else -1
        eur[code] += sign * _to_eur(amount, currency, day, rates)
    report = year.report
    for channel in report.channels:
        mine = own[channel.code]
        assert channel.value("orders") == mine["orders"] > 0, channel.code
        assert channel.value("units") == mine["units"], channel.code
        assert channel.value("returned_units") == mine["returned_units"] > 0, channel.code
        assert channel.value("net_sales") == mine["net_sales"], channel.code
        assert channel.value("net_sales", reporting=True) == eur[channel.code], channel.code
        # Every other figure of the table has something to count.
        for name in ("total_cost", "cogs", "fees", "ad_spend", "fixed_costs", "roi", "roas"):
            assert channel.value(name, reporting=True) not in (None, 0), (channel.code, name)
    assert report.total_value("net_sales") == sum(eur.values())
    tracked = {c.code: c.value("conversion_rate") for c in report.channels}
    assert all(tracked[code] not in (None, 0) for code in ("web", "app", "instagram"))
    # The table printed is this report, row by row.
    for channel in report.channels:
        net = channel.value("net_sales", reporting=True)
        assert re.search(rf"│ {re.escape(channel.code)} +│ +{channel.value('orders')} │ +{net} │",
                         demo.out), channel.code  # fmt: skip
    flat = " ".join(demo.out.split())
    assert f"{omnichannel_customers(year)} of" in flat
    assert "omnicart analytics channels|cohorts|omnichannel|funnel|attribution|clv" in flat
