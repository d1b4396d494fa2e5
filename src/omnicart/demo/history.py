"""The demo's past year: what every channel sold, got back and cost over the 365 days
before today, so that every figure of `omnicart analytics channels` has something to count.

It goes in the way a merchant brings their past:

- orders, returns and refunds through the history import (`analytics.history`), one
  import per channel: its orders of the year and the units customers sent back;
- behaviour on the tracked channels through the tracking ingest, at the times it
  happened: sessions that viewed, added to the cart, checked out and ordered (with the
  order's id), sessions that only browsed, and the logins that tie a loyalty card to
  a web account;
- ad spend as Google Ads, Meta and plain exports, unit costs, channel fees, fixed costs
  and ECB reference rates through the cost importers, from CSV files written beside the
  demo's database (`var/demo-past-year/`), which `omnicart import …` reads as well.

Customers: logins shared by the own online channels (web, app, Instagram, WhatsApp), a
fifth of them with a loyalty card they also show at a till (both stores take the same
card), till customers with a card only, anonymous till sales, and each marketplace's and
vendor shop's own buyers. Deterministic (one seeded generator); the days move with today.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from omnicart.analytics.channels import ChannelReport, channel_figures
from omnicart.analytics.history import import_history
from omnicart.analytics.history_model import PastCancellation, PastHistory, PastLine, PastOrder
from omnicart.analytics.history_write import SOURCE
from omnicart.analytics.importers import import_cost_file
from omnicart.analytics.importers_spend import import_spend_file
from omnicart.analytics.omnichannel import OmnichannelReport, omnichannel_report
from omnicart.analytics.period import Period
from omnicart.analytics.rates import import_rates_file
from omnicart.analytics.warehouse import open_model
from omnicart.channels.service import list_channels
from omnicart.cli_support import money_amount
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.orders.placement import channel_prices
from omnicart.orders.tables import Order
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.service import create_tracking_source

SEED: Final = 2025
DAYS: Final = 365
REPORTING: Final = "EUR"
OWN: Final = ("web", "app", "instagram", "whatsapp")  # one login across these
TRACKED: Final = ("web", "app", "instagram")  # their sites and app send events
TILLS: Final = ("pos-warsaw", "square-gdansk")  # both take the loyalty card
SHOPPERS: Final = 300
CARD_ONLY: Final = 120
VISITORS: Final = 400  # devices that browse without logging in
CAMPAIGN_SOURCE: Final = {"google": ("google", "cpc"), "meta": ("facebook", "paid_social")}
BATCH: Final = 250  # tracking calls per batch
BROWSING: Final = 5  # sessions without an order per session with one


@dataclass(frozen=True, slots=True)
class Plan:
    """One channel's year: orders, who buys, what comes back, and what it costs."""

    orders: int
    named: int  # % of its orders naming the customer (a till: the card was shown)
    returned: int  # % of named orders with units sent back
    fees: tuple[str, str, str]  # commission %, payment %, fixed payment fee
    fixed: tuple[tuple[str, int], ...]  # (label, amount a month)
    campaigns: tuple[tuple[str, str, str], ...]  # (export layout, campaign, spend a day)
    buyers: str  # "shoppers", "till" or the prefix of the channel's own buyers


PLANS: Final = {
    "web": Plan(340, 92, 9, ("0", "1.4", "0.99"), (("hosting", 75), ("web team", 600)),
                (("google", "Brand search", "3"), ("google", "Shopping - all products", "6")),
                "shoppers"),
    "app": Plan(180, 100, 6, ("0", "1.4", "0.99"), (("app stores and hosting", 100),
                ("app team", 250)), (("meta", "App retargeting", "5"),), "shoppers"),
    "pos-warsaw": Plan(350, 40, 8, ("0", "0.9", "0"), (("rent", 600), ("staff", 650)),
                       (("plain", "Local radio", "2.5"),), "till"),
    "allegro": Plan(210, 100, 7, ("10.5", "0", "0"), (("Allegro subscription", 99),),
                    (("plain", "Allegro Ads - promoted offers", "4"),), "allegro-buyer"),
    "instagram": Plan(80, 100, 11, ("0", "1.4", "0.99"), (("content creator", 200),),
                      (("meta", "Instagram - new collection", "6"),), "shoppers"),
    "whatsapp": Plan(50, 100, 10, ("0", "1.4", "0.99"), (("chat agent", 125),),
                     (("meta", "Click to WhatsApp", "1"),), "shoppers"),
    "shopify": Plan(120, 100, 8, ("0", "1.9", "1.00"), (("Shopify plan", 75),),
                    (("google", "Performance Max", "5"),), "shopify-customer"),
    "woocommerce": Plan(70, 100, 10, ("0", "1.5", "0.25"), (("hosting", 8),),
                        (("google", "EU search", "0.8"),), "woo-customer"),
    "square-gdansk": Plan(190, 45, 10, ("0", "1.75", "0"), (("rent", 450), ("staff", 500)),
                          (("plain", "Gdańsk leaflets", "1.5"),), "till"),
    "amazon-de": Plan(110, 100, 10, ("15", "0", "0"), (("Amazon professional seller", 39),),
                      (("plain", "Sponsored Products", "1.5"),), "amazon-buyer"),
}  # fmt: skip
MONTH_FACTOR: Final = {1: 0.8, 2: 0.8, 3: 0.9, 4: 1.0, 5: 1.0, 6: 0.9, 7: 0.9, 8: 0.9,
                       9: 1.0, 10: 1.1, 11: 1.5, 12: 1.8}  # fmt: skip


@dataclass
class PastYear:
    """What the past year holds, for the report and for tests."""

    first: date
    last: date
    folder: Path  # the cost files it imported
    orders: dict[str, int] = field(default_factory=dict)  # per channel
    returns: dict[str, int] = field(default_factory=dict)
    tracked_events: int = 0
    imported: dict[str, int] = field(default_factory=dict)  # cost rows per kind
    report: ChannelReport | None = None
    omnichannel: OmnichannelReport | None = None


@dataclass(frozen=True, slots=True)
class _Channel:
    id: int
    code: str
    currency: str
    plan: Plan
    prices: dict[str, Decimal]


# --------------------------------------------------------------------------- who buys


def _buyers(
    rng: random.Random, plans: dict[str, Plan]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Per channel the customer refs that buy there, each repeated as often as they buy
    (a weighted pool); and which logins hold which loyalty card."""
    pool: dict[str, list[str]] = defaultdict(list)
    cards: dict[str, str] = {}
    for i in range(SHOPPERS):
        ref, often = f"shopper-{i:04d}", rng.choice((1, 1, 1, 1, 2, 2, 3, 4, 6))
        home = rng.choices(OWN, weights=(55, 28, 11, 6))[0]
        pool[home] += [ref] * 3 * often
        if rng.random() < 0.3:  # also buys on a second own channel
            pool[rng.choice([c for c in OWN if c != home])] += [ref] * 2 * often
        if rng.random() < 0.2:  # has a loyalty card and shops in a store too
            card = f"LC-{20_000 + i}"
            cards[ref] = card
            stores = list(TILLS) if rng.random() < 0.2 else [rng.choice(TILLS)]
            for till in stores:
                pool[till] += [f"card:{card}"] * often
    for i in range(CARD_ONLY):
        pool[rng.choice(TILLS)] += [f"card:LC-{30_000 + i}"] * rng.choice((1, 1, 2, 3))
    for code, plan in plans.items():
        if plan.buyers not in ("shoppers", "till"):
            for i in range(max(plan.orders // 2, 1)):
                pool[code] += [f"{plan.buyers}-{i:04d}"] * rng.choice((1, 1, 1, 2, 3))
    return pool, cards


# --------------------------------------------------------------------------- orders


def _title(sku: str) -> str:
    product, _, rest = sku.partition("-")
    colour, _, size = rest.partition("-")
    return f"{colour.title()} {product.lower()}, {size}" if size else sku


def _day_weights(first: date, *, till: bool) -> list[float]:
    weights = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        weight = MONTH_FACTOR[day.month]
        if till:  # Saturdays are busy; Polish shops close on most Sundays
            weight *= {5: 1.5, 6: 0.0}.get(day.weekday(), 1.0)
        elif day.weekday() >= 5:
            weight *= 1.2
        weights.append(weight)
    return weights


def _orders(
    rng: random.Random, channel: _Channel, pool: list[str], first: date, now: datetime
) -> tuple[list[PastOrder], list[PastCancellation]]:
    """A channel's orders of the year and the units sent back, in time order."""
    plan, skus = channel.plan, sorted(channel.prices)
    till = channel.code in TILLS
    country = "DE" if channel.currency == "EUR" else "PL"
    days = sorted(rng.choices(range(DAYS), _day_weights(first, till=till), k=plan.orders))
    orders: list[PastOrder] = []
    returns: list[PastCancellation] = []
    for n, offset in enumerate(days, start=1):
        hour = rng.randint(10, 19) if till else rng.choice((8, 10, 12, 13, 17, 19, 20, 21, 22))
        at = datetime.combine(
            first + timedelta(days=offset),
            time(hour, rng.randint(0, 59), rng.randint(0, 59)),
            tzinfo=UTC,
        )
        ref = rng.choice(pool) if pool and rng.random() * 100 < plan.named else None
        picked = rng.sample(skus, min(len(skus), rng.choices((1, 2, 3), (60, 30, 10))[0]))
        lines = tuple(
            PastLine(sku, _title(sku), rng.choices((1, 2, 3), (80, 17, 3))[0], channel.prices[sku])
            for sku in picked
        )
        number = f"{channel.code.upper()}-{first.year}-{n:05d}"
        orders.append(PastOrder(number, at, ref, lines, country))
        # Drawn for every order, so that today's date changes which orders come back only
        # where a return would lie in the future.
        back = at + timedelta(days=rng.randint(3, 21), hours=rng.randint(0, 8))
        line, share, sent_back = rng.choice(lines), rng.random(), rng.random() * 100
        if ref and sent_back < plan.returned and back < now:
            units = 1 + int(share * line.quantity)
            returns.append(
                PastCancellation(f"C{number}", back, ref, line.sku, line.title, units,
                                 line.unit_price, country)
            )  # fmt: skip
    return orders, returns


# --------------------------------------------------------------------------- costs


def _csv(path: Path, rows: Sequence[Sequence[object]], *, titles: Sequence[str] = ()) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        for line in titles:
            handle.write(line + "\n")
        csv.writer(handle).writerows(rows)
    return path


def _spend(rng: random.Random, average: str, day: date) -> Decimal:
    factor = MONTH_FACTOR[day.month] * rng.uniform(0.6, 1.4)
    return (Decimal(average) * Decimal(str(round(factor, 3)))).quantize(Decimal("0.01"))


def _spend_files(
    rng: random.Random, channels: list[_Channel], first: date, last: date, folder: Path
) -> list[tuple[Path, str | None]]:
    """Ad spend per channel, campaign and day, as each ad platform exports it."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    plain: list[list[object]] = [["date", "channel", "campaign", "spend", "currency"]]
    files: list[tuple[Path, str | None]] = []
    for channel in channels:
        google: list[list[object]] = [
            ["Day", "Campaign", "Campaign state", "Clicks", "Impr.", "Currency code", "Cost"]
        ]
        meta: list[list[object]] = [
            ["Day", "Campaign name", f"Amount spent ({channel.currency})", "Impressions"]
        ]
        for layout, campaign, average in channel.plan.campaigns:
            for day in days:
                cost = _spend(rng, average, day)
                clicks = int(cost * 3)
                if layout == "google":
                    google.append([day, campaign, "Enabled", clicks, f"{clicks * 31:,}",
                                   channel.currency, f"{cost:,}"])  # fmt: skip
                elif layout == "meta":
                    meta.append([day, campaign, cost, clicks * 45])
                else:
                    plain.append([day, channel.code, campaign, cost, channel.currency])
        if len(google) > 1:
            span = f'"{first:%B} {first.day}, {first.year} - {last:%B} {last.day}, {last.year}"'
            path = _csv(folder / f"google-ads-{channel.code}.csv", google,
                        titles=("Campaign report", span))  # fmt: skip
            files.append((path, channel.code))
        if len(meta) > 1:
            files.append((_csv(folder / f"meta-ads-{channel.code}.csv", meta), channel.code))
    files.append((_csv(folder / "spend.csv", plain), None))
    return files


def _cost_files(
    rng: random.Random, channels: list[_Channel], first: date, last: date, folder: Path
) -> dict[str, Path]:
    """Unit costs, fees, fixed costs and ECB rates, each as its importer reads them."""
    since = first - timedelta(days=14)
    web = next(c for c in channels if c.code == "web")
    costs: list[list[object]] = [["sku", "valid_from", "cost", "currency"]]
    middle = first + timedelta(days=DAYS // 2)
    for sku, price in sorted(web.prices.items()):
        cost = (price * Decimal(str(rng.uniform(0.34, 0.46)))).quantize(Decimal("0.01"))
        costs.append([sku, since, cost, "PLN"])
        if rng.random() < 0.25:  # the supplier raised its price mid-year
            costs.append([sku, middle, (cost * Decimal("1.08")).quantize(Decimal("0.01")), "PLN"])
    fees: list[list[object]] = [
        ["channel", "valid_from", "commission_pct", "payment_pct", "payment_fixed", "currency"]
    ]
    fixed: list[list[object]] = [["channel", "month", "label", "amount", "currency"]]
    months = sorted({(first + timedelta(days=n)).strftime("%Y-%m") for n in range(DAYS)})
    for channel in channels:
        fees.append([channel.code, since, *channel.plan.fees, channel.currency])
        for month in months:
            for label, amount in channel.plan.fixed:
                fixed.append([channel.code, month, label, amount, channel.currency])
    rates: list[list[object]] = []
    pln, usd = 4.30, 1.08
    for n in range((last - since).days + 2):
        day = since + timedelta(days=n)
        pln = min(max(pln + rng.gauss(0, 0.006), 4.15), 4.45)
        usd = min(max(usd + rng.gauss(0, 0.004), 1.02), 1.16)
        if day.weekday() < 5:  # the ECB publishes on TARGET business days
            rates.append([day, f"{usd:.4f}", f"{pln:.4f}", ""])
    return {
        "costs": _csv(folder / "unit-costs.csv", costs),
        "fees": _csv(folder / "fees.csv", fees),
        "fixed-costs": _csv(folder / "fixed-costs.csv", fixed),
        "rates": _csv(folder / "eurofxref-hist.csv", [["Date", "USD", "PLN", ""], *rates[::-1]]),
    }


def _import_costs(
    db: Database, rng: random.Random, channels: list[_Channel], year: PastYear
) -> None:
    year.folder.mkdir(parents=True, exist_ok=True)
    spend = 0
    for path, code in _spend_files(rng, channels, year.first, year.last, year.folder):
        spend += import_spend_file(db, path, channel=code).counts.rows
    year.imported["spend"] = spend
    files = _cost_files(rng, channels, year.first, year.last, year.folder)
    for kind in ("costs", "fees", "fixed-costs"):
        year.imported[kind] = import_cost_file(db, files[kind], kind=kind).rows
    year.imported["rates"] = import_rates_file(db, files["rates"]).counts.rows


# --------------------------------------------------------------------------- behaviour


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _context(rng: random.Random, channel: _Channel) -> dict[str, Any]:
    """Where a session came from: an ad campaign of the channel, or a referrer."""
    campaigns = [(layout, name) for layout, name, _ in channel.plan.campaigns]
    if campaigns and rng.random() < 0.45:
        layout, name = rng.choice(campaigns)
        source, medium = CAMPAIGN_SOURCE.get(layout, ("newsletter", "email"))
        return {"campaign": {"source": source, "medium": medium, "name": name}}
    referrer = rng.choice(("https://www.google.com/", "https://www.instagram.com/", ""))
    return {"page": {"referrer": referrer}} if referrer else {}


def _visitor(rng: random.Random, ref: str | None) -> dict[str, str]:
    """Who a session is: a logged-in customer by their login (the site tracks them on its
    server), anyone else by one of the devices that come and go without logging in."""
    return {"userId": ref} if ref else {"anonymousId": f"visitor-{rng.randrange(VISITORS)}"}


def _session(
    who: dict[str, str], steps: list[tuple[str, datetime, dict[str, Any]]], context: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {"type": "track", "event": event, **who, "timestamp": _at(at), "properties": properties,
         "context": context}
        for event, at, properties in steps
    ]  # fmt: skip


def _behaviour(
    rng: random.Random,
    channel: _Channel,
    orders: list[tuple[int, PastOrder]],
    pool: list[str],
    first: date,
) -> list[dict[str, Any]]:
    """Tracked sessions of one channel: one per order (viewed, added, checked out,
    ordered) and five times as many that only browsed or left a cart."""
    calls: list[dict[str, Any]] = []
    skus = sorted(channel.prices)
    for order_id, order in orders:
        sku = order.lines[0].sku
        who = _visitor(rng, order.customer_ref)
        viewed = {"sku": sku, "product_id": sku, "price": float(channel.prices[sku])}
        total = sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
        steps = [
            ("Product Viewed", order.ordered_at - timedelta(minutes=14), viewed),
            ("Product Added", order.ordered_at - timedelta(minutes=9), viewed),
            ("Checkout Started", order.ordered_at - timedelta(minutes=4), {}),
            ("Order Completed", order.ordered_at,
             {"order_id": str(order_id), "total": float(total), "currency": channel.currency}),
        ]  # fmt: skip
        calls += _session(who, steps, _context(rng, channel))
    for _ in range(BROWSING * len(orders)):
        who = _visitor(rng, rng.choice(pool) if pool and rng.random() < 0.4 else None)
        start = datetime.combine(
            first + timedelta(days=rng.randrange(DAYS)),
            time(rng.randint(7, 22), rng.randint(0, 59)),
            tzinfo=UTC,
        )
        sku = rng.choice(skus)
        viewed = {"sku": sku, "product_id": sku, "price": float(channel.prices[sku])}
        steps = [("Product Viewed", start, viewed)]
        if rng.random() < 0.35:
            steps.append(("Product Added", start + timedelta(minutes=3), viewed))
            if rng.random() < 0.3:
                steps.append(("Checkout Started", start + timedelta(minutes=6), {}))
        calls += _session(who, steps, _context(rng, channel))
    return calls


def _logins(cards: dict[str, str], first: date) -> list[dict[str, Any]]:
    """Each card holder logged in once with the card on their web account."""
    moment = datetime.combine(first, time(9), tzinfo=UTC)
    return [
        {"type": "identify", "userId": ref, "traits": {"loyalty_card": card},
         "timestamp": _at(moment)}
        for ref, card in sorted(cards.items())
    ]  # fmt: skip


def _track(
    db: Database, events_path: Path, channel_id: int, name: str, calls: list[dict[str, Any]]
) -> None:
    with db.transaction() as session:
        key = create_tracking_source(session, channel_id=channel_id, name=name).write_key
    ingest = Ingestor(db=db, events_path=events_path, flush=False)
    try:
        for start in range(0, len(calls), BATCH):
            batch = calls[start : start + BATCH]
            for n, call in enumerate(batch, start=start):
                call["messageId"] = f"past-{channel_id}-{n}"
            body = orjson.dumps({"batch": batch})
            parsed = ingest.accept_sync(body=body, kind="batch", write_key=key)
            if parsed.rejected:  # the demo's own calls: a refusal is a bug here
                raise AssertionError(f"tracking refused {parsed.rejected[0]}")
    finally:
        ingest.stop()


def _order_ids(db: Database, channel_id: int) -> dict[str, int]:
    with db.reading() as session:
        rows = session.execute(
            select(Order.external_id, Order.id).where(
                Order.channel_id == channel_id, Order.source == SOURCE
            )
        )
        return {str(number): int(order_id) for number, order_id in rows}


# --------------------------------------------------------------------------- the year


def _channels(db: Database, skus: Sequence[str]) -> list[_Channel]:
    with db.reading() as session:
        return [
            _Channel(view.id, view.code, view.currency, PLANS[view.code],
                     channel_prices(session, view.id, list(skus)))
            for view in list_channels(session, limit=100)
            if view.code in PLANS
        ]  # fmt: skip


def write_past_year(
    db: Database,
    *,
    events_path: Path,
    folder: Path,
    skus: Sequence[str],
    tick: Callable[[], None],
) -> PastYear:
    """Write a year of every channel's orders, returns, behaviour and costs."""
    rng = random.Random(SEED)
    now = utcnow()
    today = now.date()
    year = PastYear(first=today - timedelta(days=DAYS), last=today - timedelta(days=1),
                    folder=folder)  # fmt: skip
    channels = _channels(db, skus)
    pool, cards = _buyers(rng, {c.code: c.plan for c in channels})
    calls: dict[str, list[dict[str, Any]]] = {}
    for channel in channels:
        if not channel.prices:
            continue
        orders, returns = _orders(rng, channel, pool[channel.code], year.first, now)
        summary = import_history(
            db,
            PastHistory(channel.currency, sum(len(o.lines) for o in orders) + len(returns),
                        orders, returns),
            channel_code=channel.code,
            source_name="the demo's past year",
        )  # fmt: skip
        year.orders[channel.code] = summary.orders_created
        year.returns[channel.code] = summary.returns_created
        if channel.code in TRACKED:
            ids = _order_ids(db, channel.id)
            placed = [(ids[o.external_id], o) for o in orders]
            calls[channel.code] = _behaviour(rng, channel, placed, pool[channel.code], year.first)
        tick()
    calls["web"] = _logins(cards, year.first) + calls.get("web", [])
    by_code = {c.code: c for c in channels}
    for code, tracked in calls.items():
        _track(db, events_path, by_code[code].id, f"{code}, past year", tracked)
        year.tracked_events += len(tracked)
    tick()
    _import_costs(db, rng, channels, year)
    tick()
    return year


def read_past_year(db: Database, *, events_path: Path, year: PastYear) -> None:
    """The year's per-channel figures (in EUR) and its omnichannel customers, read from
    the analytic model brought up to date with the event store and the database."""
    period = Period.of(year.first, year.last)
    # Without catching up identity resolution first: linking every order of the year to a
    # customer profile costs about 10 ms of CPU an order, more than the rest of the demo.
    # The demo does it before it serves (`resolve_past_year`); until then a customer is the
    # login, loyalty card or buyer id their orders name.
    with open_model(db=db, events_path=events_path, catch_up_first=False) as model:
        year.report = channel_figures(model, first=year.first, last=year.last, currency=REPORTING)
        year.omnichannel = omnichannel_report(model, period=period, currency=REPORTING)


def resolve_past_year(db: Database, *, events_path: Path) -> None:
    """Let identity resolution link the year's orders and logins to customer profiles, and
    the analytic model follow: what the worker would do first once the demo serves."""
    with open_model(db=db, events_path=events_path):
        pass


# --------------------------------------------------------------------------- the report

COLUMNS: Final = (  # figure, heading
    ("orders", "orders"), ("net_sales", "net sales"), ("total_cost", "costs"),
    ("net_profit", "net profit"), ("roi", "ROI"), ("roas", "ROAS"), ("aov", "AOV"),
    ("conversion_rate", "conversion"), ("return_rate", "returns"),
)  # fmt: skip


def _cell(value: object, name: str) -> str:
    if value is None:
        return "–"
    if name in ("net_sales", "total_cost", "net_profit", "aov"):
        return money_amount(value, REPORTING)  # type: ignore[arg-type]
    if name in ("roi", "conversion_rate", "return_rate"):
        return f"{value} %"
    return str(value)


def omnichannel_customers(year: PastYear) -> int:
    """Customers of the year who bought on two or more channels."""
    assert year.omnichannel is not None
    return next(g.group_customers for g in year.omnichannel.groups if g.group == "omnichannel")


def report_past_year(console: Console, year: PastYear, *, database_url: str, events: Path) -> None:
    """The year's per-channel ROI table in EUR, what went in, and where to see the rest."""
    report = year.report
    assert report is not None
    assert year.omnichannel is not None
    table = Table(title=f"The past year per channel, {year.first} to {year.last} (UTC), "
                        f"in {REPORTING}: what each channel earns after every cost")  # fmt: skip
    table.add_column("channel")
    for _, heading in COLUMNS:
        table.add_column(heading, justify="right")
    for channel in report.channels:
        table.add_row(
            channel.code,
            *[_cell(channel.value(name, reporting=True), name) for name, _ in COLUMNS],
        )
    table.add_row(
        "[bold]all channels[/bold]", *[_cell(report.total_value(name), name) for name, _ in COLUMNS]
    )
    console.print(table)
    groups = {g.group: g for g in year.omnichannel.groups}
    omni, single = groups["omnichannel"], groups["single_channel"]

    def per_customer(group: Any) -> str:
        money = next((m for m in group.by_currency if m.currency == REPORTING), None)
        value = money.sales_per_customer if money else None
        return "–" if value is None else f"{money_amount(value, REPORTING)} {REPORTING}"

    got = year.imported
    console.print(
        f"[green]✔ a year of history:[/green] {sum(year.orders.values())} orders on "
        f"{len(year.orders)} channels, {sum(year.returns.values())} of them partly returned "
        f"and refunded, {year.tracked_events} tracked events; from the files in {year.folder}: "
        f"{got.get('spend', 0)} ad spend rows (Google Ads, Meta and plain exports), "
        f"{got.get('costs', 0)} unit costs, {got.get('fees', 0)} channel fees, "
        f"{got.get('fixed-costs', 0)} fixed costs, {got.get('rates', 0)} ECB rates."
    )
    console.print(
        f"[green]✔ omnichannel:[/green] {omni.group_customers} of "
        f"{omni.group_customers + single.group_customers} customers bought on 2 or more "
        f"channels, {per_customer(omni)} net sales each against {per_customer(single)} for "
        "single-channel ones (a customer is the login, loyalty card or buyer id their orders "
        "name; once identity resolution has linked the year's orders to profiles, as the "
        "demo does before it serves, web logins join the loyalty cards shown at the tills)."
    )
    span = f"--from {year.first} --to {year.last}"
    console.print(
        f"more of the same year: OMNICART_DATABASE_URL={database_url} "
        f"OMNICART_EVENTS_PATH={events} omnicart analytics "
        f"channels|cohorts|omnichannel|funnel|attribution|clv {span}; while it serves: "
        f"GET /v1/analytics/channels, /cohorts, /customers/omnichannel, /funnels, "
        f"/attribution, /clv?from={year.first}&to={year.last}",
        soft_wrap=True,
    )
