"""The warehouse build: real orders, returns, refunds and cancellations placed through the
order book, delivered from the outbox into a real event store, tracked events sent
through the tracking ingest, and cost files imported; every model row is asserted
exactly, then again after more events (only the new ones are read, updates applied,
customer keys following identity resolution), after the store lost the model, and
copied into another engine."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from omnicart.analytics.engine import ClickHouseEngine, DuckDBEngine
from omnicart.analytics.importers import import_cost_file
from omnicart.analytics.importers_spend import import_spend_file
from omnicart.analytics.rates import import_rates_file
from omnicart.analytics.schema import TABLES
from omnicart.analytics.warehouse import RefreshCounts, load_into, open_model, refresh
from omnicart.customers.erasure import erase_customer
from omnicart.customers.service import find_customer
from omnicart.customers.tables import CustomerOrderLink
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.kernel.clock import set_clock
from omnicart.orders import checkout, fulfilment, returns, service
from omnicart.orders.model import Customer, Fulfil, PaymentDraft
from omnicart.orders.service import ExternalOrder
from omnicart.tracking.flusher import open_current_store
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.outbox import OUTBOX_SOURCE_ID
from omnicart.tracking.service import create_tracking_source
from omnicart.tracking.store import open_store
from tests.orders_support import Shop, market_order, seed_shop

pytestmark = pytest.mark.slow  # each builds a merchant's day of orders and events

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ANN = Customer(email="ann@poczta.pl", phone="+48 600 100 200", ref="cust-ann")
BOB = Customer(email="bob@poczta.pl", ref="bob")
EUR = "EUR"


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _h(hours: float) -> datetime:
    return _naive(T0 + timedelta(hours=hours))


def _m(minutes: int) -> datetime:
    return _naive(T0 + timedelta(minutes=minutes))


@pytest.fixture
def clock() -> Iterator[list[datetime]]:
    """The time the order book writes; a test moves it on by assigning `clock[0]`."""
    now = [T0]
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


def _for(order: ExternalOrder, customer: Customer) -> ExternalOrder:
    return dataclasses.replace(order, draft=dataclasses.replace(order.draft, customer=customer))


def _keys(db: Database, shop: Shop) -> tuple[str, str]:
    """Write keys of tracking sources on the web shop and on the store's tablet (pos)."""
    with db.transaction() as session:
        web = create_tracking_source(session, channel_id=shop.web, name="web").write_key
        pos = create_tracking_source(session, channel_id=shop.pos, name="tablet").write_key
    return web, pos


def _track(db: Database, events: Path, key: str, calls: list[dict[str, Any]]) -> None:
    ingest = Ingestor(db=db, events_path=events, flush=False)
    batch = [{"messageId": f"{key[-6:]}-{c['timestamp']}", **c} for c in calls]
    ingest.accept_sync(body=orjson.dumps({"batch": batch}), kind="batch", write_key=key)
    ingest.stop()


def _at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _settle(db: Database, events: Path) -> RefreshCounts:
    """Refresh until every order event of the outbox is in the store and every order that
    names somebody is linked (PostgreSQL's feeds hold back rows while other transactions
    of the database run); the refreshes' counts added up."""
    total: RefreshCounts | None = None
    deadline = time.monotonic() + 30
    while True:
        with db.reading() as session:
            outbox = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.aggregate == "order")
            )
            linked = set(session.scalars(select(CustomerOrderLink.order_id)))
        with open_current_store(events, db=db, timeout=10) as store:
            counts = refresh(store, db)
            delivered = store.count(source_id=OUTBOX_SOURCE_ID)
            keyed = {
                r[0]
                for r in store.conn.execute(
                    "SELECT order_id FROM wh_orders WHERE customer_key LIKE 'c%'"
                ).fetchall()
            }
        total = counts if total is None else _add(total, counts)
        if (delivered == outbox and linked == keyed) or time.monotonic() > deadline:
            return total
        time.sleep(0.2)


def _add(a: RefreshCounts, b: RefreshCounts) -> RefreshCounts:
    return RefreshCounts(
        rebuilt=a.rebuilt or b.rebuilt,
        events=a.events + b.events,
        orders=a.orders + b.orders,
        refunds=a.refunds + b.refunds,
        returned_lines=a.returned_lines + b.returned_lines,
        tracked=a.tracked + b.tracked,
        rekeyed=a.rekeyed + b.rekeyed,
        costs_copied=a.costs_copied or b.costs_copied,
    )


def _model(db: Database, events: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every model table's rows, sorted, as the engine over the store reads them."""
    with open_model(db=db, events_path=events, catch_up_first=False) as engine:
        return _rows(engine)


def _rows(engine: DuckDBEngine) -> dict[str, list[tuple[Any, ...]]]:
    return {t: engine.query(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


@dataclasses.dataclass(frozen=True)
class World:
    shop: Shop
    events: Path
    ann: int  # order ids
    anon: int
    bob: int
    gone: int
    cat: int
    phone_only: int
    return_id: int
    web_key: str


def _world(db: Database, tmp_path: Path, clock: list[datetime]) -> World:
    """Orders of Ann (updated later), of nobody (returned and refunded), of Bob (web
    checkout), one cancelled, Cat's and one naming only a phone; tracked events on the web
    and on the store's tablet; and every kind of cost file."""
    shop = seed_shop(db, stock={"A": (20, 4, 2), "B": (10, 0, 3)})
    web_key, pos_key = _keys(db, shop)
    ann = service.ingest_order(db, _for(market_order(shop, "M-1", [("A", 2)]), ANN))
    clock[0] = T0 + timedelta(hours=1)
    service.ingest_order(db, _for(market_order(shop, "M-1", [("A", 3)]), ANN))
    # An address of no one (example.com): the order names nobody usable.
    nobody = Customer(email="nobody@example.com")
    anon = service.ingest_order(
        db, _for(market_order(shop, "M-2", [("B", 1)], price="5.00"), nobody)
    )
    fulfilment.create_shipment(
        db, order_id=anon.id, location_id=shop.warehouse, carrier="DHL", tracking_number="1Z"
    )
    opened = returns.open_return(
        db,
        order_id=anon.id,
        channel_id=shop.pos,
        lines=[returns.ReturnLineRequest(1, 1, "broken")],
    )
    returns.receive_return(
        db,
        return_id=opened.id,
        location_id=shop.krakow,
        outcomes=[returns.Outcome(1, restock=0, write_off=1)],
    )
    returns.refund_return(db, return_id=opened.id)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 2)])
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship"),
        customer=BOB,
        shipping=Decimal("5.00"),
        tax=Decimal("1.50"),
        discount=Decimal("2.00"),
        payments=(PaymentDraft("card", Decimal("44.48")),),
        total=Decimal("44.48"),
    )
    bob = checkout.checkout(db, cart_id=cart.id, request=request)
    clock[0] = T0 + timedelta(hours=2)
    gone = service.ingest_order(db, market_order(shop, "M-3", [("A", 1)]))
    service.ingest_order(db, market_order(shop, "M-3", [("A", 1)], cancelled=True))
    cat = service.ingest_order(
        db, _for(market_order(shop, "M-4", [("B", 1)]), Customer(email="cat@poczta.pl"))
    )
    phone_only = service.ingest_order(
        db, _for(market_order(shop, "M-5", [("B", 1)]), Customer(phone="+48 601 234 567"))
    )
    events = tmp_path / "events.duckdb"
    campaign = {"source": "google", "medium": "cpc", "name": "spring"}
    _track(
        db,
        events,
        web_key,
        [
            {
                "type": "page",
                "anonymousId": "d1",
                "timestamp": _at(10),
                "context": {"campaign": campaign, "page": {"referrer": "https://www.google.com/"}},
            },
            {
                "type": "identify",
                "userId": "bob",
                "anonymousId": "d1",
                "timestamp": _at(11),
                "traits": {"email": "bob@poczta.pl"},
            },
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "bob",
                "timestamp": _at(12),
                "properties": {"order_id": str(bob.id), "revenue": 39.98},
            },
            {"type": "track", "event": "Product Viewed", "anonymousId": "d9", "timestamp": _at(13)},
            {"type": "track", "event": "Product Viewed", "userId": "zed", "timestamp": _at(14)},
        ],
    )
    _track(
        db,
        events,
        pos_key,
        [
            {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": "tablet-1",
                "timestamp": _at(15),
            }
        ],
    )
    _costs(db, tmp_path)
    ids = (ann.id, anon.id, bob.id, gone.id, cat.id, phone_only.id, opened.id)
    return World(shop, events, *ids, web_key=web_key)


def _costs(db: Database, tmp_path: Path) -> None:
    files = {
        "spend.csv": "date,channel,campaign,spend,currency\n"
        "2025-03-03,web,spring,25.50,EUR\n2025-03-03,market,ads,10,EUR\n",
        "costs.csv": "sku,valid_from,cost,currency\nA,2025-01-01,8.5,EUR\nB,2025-01-01,2,EUR\n",
        "fees.csv": "channel,valid_from,commission_pct,payment_pct,payment_fixed,currency\n"
        "market,2025-01-01,12,1.5,0.30,EUR\n",
        "fixed.csv": "channel,month,label,amount,currency\npos,2025-03,rent,1200,EUR\n",
        "rates.csv": "Date,USD,PLN,\n2025-03-04,1.0621,4.1838,\n2025-03-03,1.0465,4.1775,\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    import_spend_file(db, tmp_path / "spend.csv")
    import_cost_file(db, tmp_path / "costs.csv", kind="costs")
    import_cost_file(db, tmp_path / "fees.csv", kind="fees")
    import_cost_file(db, tmp_path / "fixed.csv", kind="fixed-costs")
    import_rates_file(db, tmp_path / "rates.csv")


def _money(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def _order(
    order_id: int,
    channel: int,
    at: datetime,
    key: str | None,
    source: str,
    money: tuple[Decimal, ...],
    units: int,
    cancelled: datetime | None = None,
) -> tuple[Any, ...]:
    return (order_id, channel, at, EUR, key, source, *money, units, cancelled)


def test_refresh_fills_every_model_table_exactly(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    w = _world(db, tmp_path, clock)
    counts = _settle(db, w.events)
    ann = f"c{find_customer(db, kind='email', value='ann@poczta.pl')}"
    bob = f"c{find_customer(db, kind='user_id', value='bob')}"
    cat = f"c{find_customer(db, kind='email', value='cat@poczta.pl')}"
    phone = f"c{find_customer(db, kind='phone', value='+48 601 234 567')}"
    market, web, pos = w.shop.market, w.shop.web, w.shop.pos
    model = _model(db, w.events)
    assert model["wh_channels"] == [
        (web, "web", "web", EUR),
        (market, "market", "marketplace", EUR),
        (pos, "pos", "pos", EUR),
    ]
    assert model["wh_orders"] == [
        _order(w.ann, market, _h(0), ann, "external", _money("59.97", "0", "0", "0", "59.97"), 3),
        _order(w.anon, market, _h(1), None, "external", _money("5", "0", "0", "0", "5"), 1),
        _order(w.bob, web, _h(1), bob, "checkout", _money("39.98", "2", "1.5", "5", "44.48"), 2),
        _order(
            w.gone,
            market,
            _h(2),
            None,
            "external",
            _money("19.99", "0", "0", "0", "19.99"),
            1,
            _h(2),
        ),
        _order(w.cat, market, _h(2), cat, "external", _money("19.99", "0", "0", "0", "19.99"), 1),
        _order(
            w.phone_only,
            market,
            _h(2),
            phone,
            "external",
            _money("19.99", "0", "0", "0", "19.99"),
            1,
        ),
    ]
    assert model["wh_order_lines"] == [
        (w.ann, 1, "A", 3, Decimal("19.99")),
        (w.anon, 1, "B", 1, Decimal("5")),
        (w.bob, 1, "A", 2, Decimal("19.99")),
        (w.gone, 1, "A", 1, Decimal("19.99")),
        (w.cat, 1, "B", 1, Decimal("19.99")),
        (w.phone_only, 1, "B", 1, Decimal("19.99")),
    ]
    assert model["wh_refunds"] == [
        (w.anon, _h(1), Decimal("5"), EUR, w.return_id),
        (w.gone, _h(2), Decimal("19.99"), EUR, None),
    ]
    assert model["wh_returns"] == [(w.anon, w.return_id, _h(1), "B", 1, "broken")]
    none5 = (None, None, None, None, None)
    assert model["wh_events"] == [
        (
            _m(10),
            web,
            bob,
            "d1",
            "page",
            None,
            "google",
            "cpc",
            "spring",
            "https://www.google.com/",
            None,
        ),
        (_m(11), web, bob, "d1", "identify", *none5, None),
        (_m(12), web, bob, None, "track", "Order Completed", None, None, None, None, w.bob),
        (_m(13), web, "ad9", "d9", "track", "Product Viewed", *none5[:4], None),
        (_m(14), web, "uzed", None, "track", "Product Viewed", *none5[:4], None),
        # The store's tablet is shared by strangers: its device id names nobody.
        (_m(15), pos, None, "tablet-1", "track", "Product Viewed", *none5[:4], None),
    ]
    # Bob's three events are one session that ordered; the tablet's device is the visitor.
    assert model["wh_sessions"] == sorted(
        [
            (web, bob, _m(10), _m(12), 3, 1, 0),
            (web, "ad9", _m(13), _m(13), 1, 0, 0),
            (web, "uzed", _m(14), _m(14), 1, 0, 0),
            (pos, "atablet-1", _m(15), _m(15), 1, 0, 0),
        ]
    )
    march3, march4 = date(2025, 3, 3), date(2025, 3, 4)
    assert model["wh_spend"] == [
        (march3, web, "spring", Decimal("25.5"), EUR),
        (march3, market, "ads", Decimal("10"), EUR),
    ]
    assert model["wh_unit_costs"] == [
        ("A", date(2025, 1, 1), Decimal("8.5"), EUR),
        ("B", date(2025, 1, 1), Decimal("2"), EUR),
    ]
    assert model["wh_fees"] == [
        (market, date(2025, 1, 1), Decimal("12"), Decimal("1.5"), Decimal("0.3"), EUR)
    ]
    assert model["wh_fixed_costs"] == [(pos, date(2025, 3, 1), "rent", Decimal("1200"), EUR)]
    assert model["wh_rates"] == [
        (march3, EUR, Decimal(1)),
        (march3, "PLN", Decimal("4.1775")),
        (march3, "USD", Decimal("1.0465")),
        (march4, EUR, Decimal(1)),
        (march4, "PLN", Decimal("4.1838")),
        (march4, "USD", Decimal("1.0621")),
    ]
    assert counts.rebuilt
    assert counts.costs_copied
    assert (counts.orders, counts.refunds, counts.returned_lines, counts.tracked) == (6, 2, 1, 6)
    with open_store(w.events) as store:
        assert counts.events == store.count()
    # Nothing new: a refresh reads nothing and changes nothing.
    assert _settle(db, w.events) == RefreshCounts(False, 0, 0, 0, 0, 0, 0, False)
    assert _model(db, w.events) == model


def test_a_second_refresh_reads_only_new_events_and_brings_rows_up_to_date(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    w = _world(db, tmp_path, clock)
    _settle(db, w.events)
    before = _model(db, w.events)
    with open_store(w.events) as store:
        stored = store.count()
    clock[0] = T0 + timedelta(hours=3)
    # Zed logs in on the device seen before: both now resolve to one customer.
    zed_logs_in = {"type": "identify", "userId": "zed", "anonymousId": "d9", "timestamp": _at(170)}
    _track(db, w.events, w.web_key, [zed_logs_in])
    service.ingest_order(db, _for(market_order(w.shop, "M-1", [("A", 1)]), ANN))
    again = service.ingest_order(db, _for(market_order(w.shop, "M-6", [("B", 2)]), ANN))
    service.cancel_order(db, order_id=w.bob, reason="changed mind")
    # An order naming Cat's e-mail and the phone of the phone-only order: one person.
    both = Customer(email="cat@poczta.pl", phone="+48 601 234 567")
    merged = service.ingest_order(db, _for(market_order(w.shop, "M-7", [("B", 1)]), both))

    counts = _settle(db, w.events)
    ann = f"c{find_customer(db, kind='email', value='ann@poczta.pl')}"
    cat = f"c{find_customer(db, kind='email', value='cat@poczta.pl')}"
    zed = f"c{find_customer(db, kind='user_id', value='zed')}"
    with open_store(w.events) as store:
        assert counts.events == store.count() - stored  # only the new events were read
    assert (counts.rebuilt, counts.orders, counts.refunds, counts.tracked) == (False, 3, 1, 1)
    # d9's and zed's events (2), the phone-only order moved to Cat (1), and the two new
    # orders keyed by their customer once linked (2).
    assert counts.rekeyed == 5
    assert counts.costs_copied is False
    after = _model(db, w.events)
    market, web = w.shop.market, w.shop.web
    one = _money("19.99", "0", "0", "0", "19.99")
    two = _money("39.98", "0", "0", "0", "39.98")
    bob_row = next(r for r in before["wh_orders"] if r[0] == w.bob)
    assert after["wh_orders"] == sorted(
        [
            _order(w.ann, market, _h(0), ann, "external", one, 1),
            *(r for r in before["wh_orders"] if r[0] in (w.anon, w.gone, w.cat)),
            (*bob_row[:-1], _h(3)),
            _order(w.phone_only, market, _h(2), cat, "external", one, 1),
            _order(again.id, market, _h(3), ann, "external", two, 2),
            _order(merged.id, market, _h(3), cat, "external", one, 1),
        ]
    )
    assert after["wh_order_lines"] == sorted(
        [
            (w.ann, 1, "A", 1, Decimal("19.99")),
            *(r for r in before["wh_order_lines"] if r[0] != w.ann),
            (again.id, 1, "B", 2, Decimal("19.99")),
            (merged.id, 1, "B", 1, Decimal("19.99")),
        ]
    )
    assert after["wh_refunds"] == sorted(
        [*before["wh_refunds"], (w.bob, _h(3), Decimal("44.48"), EUR, None)]
    )
    assert after["wh_returns"] == before["wh_returns"]
    none4 = (None, None, None, None)
    assert after["wh_events"] == sorted(
        [
            *before["wh_events"][:3],
            (_m(13), web, zed, "d9", "track", "Product Viewed", *none4, None),
            (_m(14), web, zed, None, "track", "Product Viewed", *none4, None),
            before["wh_events"][5],
            (_m(170), web, zed, "d9", "identify", None, *none4, None),
        ]
    )
    # d9's and zed's sessions became one of zed's; the identify call, 156 minutes later,
    # opened another.
    assert after["wh_sessions"] == sorted(
        [
            *(r for r in before["wh_sessions"] if r[1] not in ("ad9", "uzed")),
            (web, zed, _m(13), _m(14), 2, 0, 0),
            (web, zed, _m(170), _m(170), 1, 0, 0),
        ]
    )
    for table in ("wh_channels", "wh_spend", "wh_unit_costs", "wh_fees", "wh_fixed_costs"):
        assert after[table] == before[table]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_store_without_the_model_is_rebuilt_and_the_model_copies_to_another_engine(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    w = _world(db, tmp_path, clock)
    _settle(db, w.events)
    before = _model(db, w.events)
    with open_store(w.events) as store:
        store.compact()  # as an erasure does: the file is rewritten with the events only
        tables = {r[0] for r in store.conn.execute("SHOW TABLES").fetchall()}
        assert not tables & set(TABLES)
    with open_current_store(w.events, db=db) as store:
        counts = refresh(store, db)
    assert (counts.rebuilt, counts.costs_copied, counts.orders, counts.tracked) == (
        True,
        True,
        6,
        6,
    )
    assert _model(db, w.events) == before

    copy = DuckDBEngine()
    copied = load_into(copy, db=db, events_path=w.events)
    assert copied == {table: len(rows) for table, rows in before.items()}
    assert _rows(copy) == before
    with ClickHouseEngine.in_process() as clickhouse:
        assert load_into(clickhouse, db=db, events_path=w.events) == copied
        for table, rows in before.items():
            assert clickhouse.query(f"SELECT count(*) FROM {table}") == [(len(rows),)]
        assert clickhouse.query(
            "SELECT order_id, customer_key, total, ordered_at, cancelled_at FROM wh_orders "
            "ORDER BY order_id"
        ) == [(r[0], r[4], r[10], r[2], r[12]) for r in before["wh_orders"]]

    # A new spend file reaches the model at the next refresh, and only then is copied.
    (tmp_path / "more.csv").write_text(
        "date,channel,campaign,spend,currency\n2025-03-04,web,spring,4.5,EUR\n", encoding="utf-8"
    )
    import_spend_file(db, tmp_path / "more.csv")
    with open_current_store(w.events, db=db) as store:
        assert refresh(store, db).costs_copied
        assert refresh(store, db).costs_copied is False
        assert store.conn.execute("SELECT sum(spend) FROM wh_spend").fetchone() == (
            Decimal("40.0000"),
        )


def test_a_session_open_when_a_refresh_ends_is_extended_by_the_next(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    w = _world(db, tmp_path, clock)
    _settle(db, w.events)
    web = w.shop.web
    assert (web, "ad9", _m(13), _m(13), 1, 0, 0) in _model(db, w.events)["wh_sessions"]
    # 27 minutes after d9's last event, then exactly 30 after that: one session; then 31.
    added = {"type": "track", "event": "Product Added", "anonymousId": "d9", "timestamp": _at(40)}
    _track(db, w.events, w.web_key, [added])
    _settle(db, w.events)
    viewed = {"type": "page", "anonymousId": "d9", "timestamp": _at(70)}
    later = {"type": "page", "anonymousId": "d9", "timestamp": _at(101)}
    _track(db, w.events, w.web_key, [viewed, later])
    _settle(db, w.events)
    d9 = [r for r in _model(db, w.events)["wh_sessions"] if r[1] == "ad9"]
    assert d9 == [
        (web, "ad9", _m(13), _m(70), 3, 0, 1),
        (web, "ad9", _m(101), _m(101), 1, 0, 0),
    ]


def test_links_are_read_for_new_orders(db: Database, tmp_path: Path, clock: list[datetime]) -> None:
    """An order linked before its events reach the store is keyed all the same."""
    w = _world(db, tmp_path, clock)
    _settle(db, w.events)
    dave = service.ingest_order(
        db, _for(market_order(w.shop, "M-8", [("A", 1)]), Customer(email="dave@poczta.pl"))
    )
    from omnicart.customers.linking import sync_customers

    deadline = time.monotonic() + 30
    while True:  # linked in the operational database first (PostgreSQL may hold it back)
        sync_customers(db)
        with db.reading() as session:
            if session.get(CustomerOrderLink, dave.id) or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    _settle(db, w.events)
    key = f"c{find_customer(db, kind='email', value='dave@poczta.pl')}"
    orders = _model(db, w.events)["wh_orders"]
    assert [r[4] for r in orders if r[0] == dave.id] == [key]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_after_an_erasure_the_model_is_rebuilt_without_the_persons_identifiers(
    db: Database, tmp_path: Path, clock: list[datetime]
) -> None:
    w = _world(db, tmp_path, clock)
    _settle(db, w.events)
    before = _model(db, w.events)
    bob = find_customer(db, kind="user_id", value="bob")
    erase_customer(db, customer_id=bob, actor="dpo", events_path=w.events)
    counts = _settle(db, w.events)
    with open_store(w.events) as store:
        [(pseudonym,)] = store.conn.execute(
            "SELECT DISTINCT user_id FROM events WHERE user_id LIKE 'erased-%'"
        ).fetchall()
    after = _model(db, w.events)
    assert counts.rebuilt
    # Bob's order keeps its customer (the emptied profile): revenue, cohorts and repeat
    # purchases stay as they were. His events now name his pseudonym, all of them one person.
    assert after["wh_orders"] == before["wh_orders"]
    erased = f"u{pseudonym}"
    assert after["wh_events"] == [
        (*before["wh_events"][0][:2], erased, pseudonym, *before["wh_events"][0][4:]),
        (*before["wh_events"][1][:2], erased, pseudonym, *before["wh_events"][1][4:]),
        (*before["wh_events"][2][:2], erased, *before["wh_events"][2][3:]),
        *before["wh_events"][3:],
    ]
    bobs = f"c{bob}"
    assert after["wh_sessions"] == sorted(
        (r[0], erased, *r[2:]) if r[1] == bobs else r for r in before["wh_sessions"]
    )
    assert any(r[1] == bobs for r in before["wh_sessions"])
    assert not any("bob" in str(row) for rows in after.values() for row in rows)
