"""The order book under real concurrency on PostgreSQL: web checkouts, till sales and
marketplace ingests racing for the last units never oversell, refuse with the reason,
and leave no stock held for nothing; redeliveries and repeated checkouts are one order."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import func, select

from omnicart.db.engine import Database
from omnicart.inventory.tables import Reservation, ReservationLine, StockLevel
from omnicart.kernel.errors import InsufficientStock
from omnicart.orders import checkout, service
from omnicart.orders.model import Fulfil, LineDraft, PaymentDraft
from omnicart.orders.tables import Cart, Order, OrderLine
from omnicart.orders.views import OrderView
from tests.orders_support import Shop, assert_reconciles, figures, market_order, seed_shop

WEB_THREADS = 12
POS_THREADS = 10
MARKET_THREADS = 10
# 3 units in the warehouse, 2 on the Kraków store's shelves.
STOCK = {"A": (3, 2, 0)}


def _race(count: int, job: Callable[[int], object]) -> list[object]:
    """Run `job(i)` for i in range(count), all released at once by one barrier."""
    start = threading.Barrier(count)

    def run(i: int) -> object:
        start.wait()
        return job(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _outcome(fn: Callable[[], OrderView]) -> OrderView | Exception:
    try:
        return fn()
    except Exception as exc:  # every outcome is judged by the test
        return exc


def _stock_rows(db: Database) -> list[tuple[int, int, int, int]]:
    """(location, on hand, reserved, allocated) of every stock row."""
    with db.reading() as session:
        return [
            (r.location_id, r.on_hand, r.reserved, r.allocated)
            for r in session.scalars(select(StockLevel).order_by(StockLevel.location_id))
        ]


def _assert_no_orphan_holds(db: Database) -> None:
    """Every live reservation belongs to an order or to an open cart."""
    with db.reading() as session:
        live = set(
            session.scalars(
                select(Reservation.id).where(Reservation.status.in_(("active", "allocated")))
            )
        )
        of_orders = set(
            session.scalars(select(Order.reservation_id).where(Order.reservation_id.is_not(None)))
        )
        of_carts = set(
            session.scalars(
                select(Cart.reservation_id).where(
                    Cart.status == "open", Cart.reservation_id.is_not(None)
                )
            )
        )
    assert live - of_orders - of_carts == set()


def _units_by_channel(db: Database, shop: Shop) -> dict[str, int]:
    names = {shop.web: "web", shop.market: "market", shop.pos: "pos"}
    with db.reading() as session:
        rows = session.execute(
            select(Order.channel_id, func.sum(OrderLine.quantity))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .group_by(Order.channel_id)
        ).all()
    return {names[channel]: int(units) for channel, units in rows}


def test_checkouts_till_sales_and_ingests_racing_for_the_last_units(pg_db: Database) -> None:
    db = pg_db
    shop = seed_shop(db, stock=STOCK)
    # Empty carts hold nothing; each web thread fills its cart and checks out in the race.
    carts = [checkout.create_cart(db, channel_id=shop.web, lines=[]).id for _ in range(WEB_THREADS)]
    jobs = (
        [("web", i) for i in range(WEB_THREADS)]
        + [("pos", i) for i in range(POS_THREADS)]
        + [("market", i) for i in range(MARKET_THREADS)]
    )
    assert len(jobs) >= 30
    held: list[int] = []  # carts whose hold was granted

    def web(i: int) -> OrderView:
        checkout.set_cart_lines(db, cart_id=carts[i], lines=[("A", 1)])
        held.append(carts[i])
        return checkout.checkout(
            db,
            cart_id=carts[i],
            request=checkout.Checkout(
                fulfil=Fulfil(mode="ship"), payments=(PaymentDraft("card", Decimal("19.99")),)
            ),
        )

    def pos(i: int) -> OrderView:
        sale = checkout.TillSale(
            channel_id=shop.pos,
            location_id=shop.krakow,
            lines=(LineDraft("A", 1, Decimal("19.99")),),
            payments=(PaymentDraft("cash", Decimal("19.99")),),
            receipt=f"R-{i}",
        )
        return checkout.record_sale(db, sale=sale)

    def market(i: int) -> OrderView:
        return service.ingest_order(db, market_order(shop, f"M-{i}", [("A", 1)]))

    actions: dict[str, Callable[[int], OrderView]] = {"web": web, "pos": pos, "market": market}

    def attempt(index: int) -> OrderView | Exception:
        kind, i = jobs[index]
        return _outcome(lambda: actions[kind](i))

    outcomes = _race(len(jobs), attempt)

    unexpected = [o for o in outcomes if isinstance(o, Exception)]
    unexpected = [o for o in unexpected if not isinstance(o, InsufficientStock)]
    assert unexpected == [], [f"{type(o).__name__}: {o}" for o in unexpected]
    refused = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert all("not enough stock" in str(o) for o in refused), [str(o) for o in refused]
    orders = [o for o in outcomes if isinstance(o, OrderView)]
    assert not any(o.replayed for o in orders)
    assert len({o.id for o in orders}) == len(orders)
    # Web reaches both locations and more web threads ran than there are units, so one
    # of them was refused only once every unit was taken: all 5 units are sold, and
    # each order is of one unit.
    assert len(orders) == 5
    assert len(refused) == len(jobs) - 5
    assert sum(line.quantity for o in orders for line in o.lines) == 5
    # A cart whose hold was granted always became an order.
    web_orders = {o.id for o in orders if o.channel_id == shop.web}
    assert len(web_orders) == len(held)
    sold = _units_by_channel(db, shop)
    assert sum(sold.values()) == 5
    assert sold.get("pos", 0) <= 2  # only Kraków's shelves
    assert sold.get("market", 0) <= 3  # only the warehouse
    for location, on_hand, reserved, allocated in _stock_rows(db):
        assert reserved >= 0, location
        assert allocated >= 0, location
        assert on_hand >= reserved + allocated, location
    wh = figures(db, shop, "A", shop.warehouse)
    krk = figures(db, shop, "A", shop.krakow)
    assert wh == (3, 0, 3)  # every warehouse unit went to web or market orders
    till_sold = sold.get("pos", 0)
    assert krk == (2 - till_sold, 0, 2 - till_sold)
    assert wh[2] + krk[2] + till_sold == 5
    for o in orders:
        if o.channel_id == shop.pos:
            assert o.status == "completed"
        else:
            assert o.status == "confirmed"
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 5
        assert session.scalar(select(func.count()).where(Cart.status == "converted")) == len(
            web_orders
        )
    assert_reconciles(db)
    _assert_no_orphan_holds(db)


def test_one_external_order_delivered_ten_times_at_once_is_one_order(pg_db: Database) -> None:
    db = pg_db
    shop = seed_shop(db, stock=STOCK)
    delivery = market_order(shop, "M-X", [("A", 1)])
    outcomes = _race(10, lambda _: _outcome(lambda: service.ingest_order(db, delivery)))

    errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    views = [o for o in outcomes if isinstance(o, OrderView)]
    assert len({v.id for v in views}) == 1
    assert Counter(v.replayed for v in views) == {True: 9, False: 1}
    with db.reading() as session:
        ids = list(
            session.scalars(
                select(Order.id).where(Order.channel_id == shop.market, Order.external_id == "M-X")
            )
        )
        assert ids == [views[0].id]
        assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert figures(db, shop, "A", shop.warehouse) == (3, 0, 1)
    assert figures(db, shop, "A", shop.krakow) == (2, 0, 0)
    assert_reconciles(db)
    _assert_no_orphan_holds(db)


def test_one_cart_checked_out_by_eight_threads_is_one_order(pg_db: Database) -> None:
    db = pg_db
    shop = seed_shop(db, stock=STOCK)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship"), payments=(PaymentDraft("card", Decimal("19.99")),)
    )
    outcomes = _race(
        8, lambda _: _outcome(lambda: checkout.checkout(db, cart_id=cart.id, request=request))
    )

    errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    views = [o for o in outcomes if isinstance(o, OrderView)]
    assert len({v.id for v in views}) == 1
    assert Counter(v.replayed for v in views) == {True: 7, False: 1}
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.scalar(select(Order.cart_id)) == cart.id
        stored = session.get_one(Cart, cart.id)
        assert (stored.status, stored.order_id) == ("converted", views[0].id)
    rows = _stock_rows(db)
    assert sum(reserved for _, _, reserved, _ in rows) == 0
    assert sum(allocated for _, _, _, allocated in rows) == 1
    assert_reconciles(db)
    _assert_no_orphan_holds(db)


def test_alternating_versions_of_one_order_racing_leave_its_stock_matching(
    pg_db: Database,
) -> None:
    db = pg_db
    shop = seed_shop(db, stock=STOCK)
    versions = [market_order(shop, "M-U", [("A", 1 + i % 2)]) for i in range(10)]
    outcomes = _race(10, lambda i: _outcome(lambda: service.ingest_order(db, versions[i])))

    errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    views = [o for o in outcomes if isinstance(o, OrderView)]
    assert len({v.id for v in views}) == 1
    order_id = views[0].id
    final = service.get_order(db, order_id=order_id)
    assert len(final.lines) == 1
    quantity = final.lines[0].quantity
    assert quantity in (1, 2)
    # Each reply that was not a replay created or changed the order: one version each.
    assert final.version == sum(1 for v in views if not v.replayed)
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        held = session.scalar(
            select(func.sum(ReservationLine.quantity)).where(
                ReservationLine.reservation_id == final.reservation_id
            )
        )
        assert held == quantity
        live = list(
            session.scalars(
                select(Reservation.id).where(Reservation.status.in_(("active", "allocated")))
            )
        )
        assert live == [final.reservation_id]
    assert figures(db, shop, "A", shop.warehouse) == (3, 0, quantity)
    assert figures(db, shop, "A", shop.krakow) == (2, 0, 0)
    assert_reconciles(db)
    _assert_no_orphan_holds(db)
