"""A cart's hold is a promise: at checkout it becomes the order's allocation where it is,
without the channel's buffer again, and only what routing cannot draw from moves, under
the rules. Proven in flows on SQLite and PostgreSQL, and racing on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from omnicart.catalog.tables import ChannelPrice
from omnicart.channels.policy import load_channel_policy
from omnicart.db.engine import Database
from omnicart.inventory.reservations import move_hold_in
from omnicart.inventory.service import reserve_stock
from omnicart.inventory.tables import Movement, Reservation, ReservationLine
from omnicart.kernel.errors import InsufficientStock
from omnicart.orders import checkout, service
from omnicart.orders.model import Fulfil, LineDraft, PaymentDraft
from omnicart.orders.tables import Cart, Order
from omnicart.orders.views import OrderView
from tests.orders_support import (
    Shop,
    all_stock,
    assert_reconciles,
    figures,
    market_order,
    seed_shop,
)
from tests.support import add_variant

PAID = (PaymentDraft("card", Decimal("19.99")),)


def _ledger(db: Database, reservation_id: int) -> list[tuple[str, int, int, int]]:
    """(kind, location, reserved delta, allocated delta) of a reservation's entries."""
    with db.reading() as session:
        return [
            (r.kind, r.location_id, r.delta_reserved, r.delta_allocated)
            for r in session.execute(
                select(Movement)
                .where(Movement.reservation_id == reservation_id)
                .order_by(Movement.id)
            ).scalars()
        ]


def _hold_of(db: Database, cart_id: int) -> int:
    with db.reading() as session:
        hold = session.scalar(select(Cart.reservation_id).where(Cart.id == cart_id))
    assert hold is not None
    return hold


def _count(db: Database, what: type[Movement] | type[Order] | type[Reservation]) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(what)) or 0


def _move(
    db: Database, shop: Shop, reservation_id: int, *, to: tuple[int, ...]
) -> list[tuple[str, int, int, int]]:
    with db.transaction() as session:
        policy = load_channel_policy(session.connection(), channel_id=shop.web)
        return move_hold_in(
            session, reservation_id=reservation_id, policy=policy, to=to, actor="t", reason="m"
        )


def test_a_held_cart_checks_out_after_another_channel_sold_down_to_the_buffer(
    db: Database,
) -> None:
    # Web never shows the last unit: of 2, it may sell 1, and the cart holds that one.
    shop = seed_shop(db, stock={"A": (2, 0, 0)}, web_held_back=1)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    hold = _hold_of(db, cart.id)
    with pytest.raises(InsufficientStock, match="A: requested 1, sellable 0"):
        checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    # The marketplace has no buffer: it sells the unit web holds back.
    service.ingest_order(db, market_order(shop, "M-1", [("A", 1)]))
    assert figures(db, shop, "A", shop.warehouse) == (2, 1, 1)

    order = checkout.checkout(
        db, cart_id=cart.id, request=checkout.Checkout(fulfil=Fulfil(mode="ship"), payments=PAID)
    )

    assert order.status == "confirmed"
    assert order.reservation_id == hold  # the hold itself became the order's allocation
    assert order.routing is not None
    assert order.routing["plan"] == [{"sku": "A", "location": "wh", "quantity": 1}]
    assert figures(db, shop, "A", shop.warehouse) == (2, 0, 2)
    assert _ledger(db, hold) == [
        ("reservation", shop.warehouse, 1, 0),
        ("allocation", shop.warehouse, -1, 1),
    ]
    with db.reading() as session:
        stored = session.get_one(Reservation, hold)
        assert (stored.status, stored.closed_at) == ("allocated", None)
    after = checkout.get_cart(db, cart_id=cart.id)
    assert (after.status, after.order_id, after.hold_status) == ("converted", order.id, None)
    assert_reconciles(db)


def test_a_held_kit_checks_out_as_its_parts_allocated_where_they_are_held(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (5, 0, 0), "B": (3, 0, 0)})
    with db.transaction() as session:
        kit = add_variant(session, "KIT", components={shop.variants["A"]: 2, shop.variants["B"]: 1})
        session.add(
            ChannelPrice(
                channel_id=shop.web, variant_id=kit, amount=Decimal("39.99"), currency="EUR"
            )
        )
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("KIT", 2), ("B", 1)])
    hold = _hold_of(db, cart.id)
    assert figures(db, shop, "A", shop.warehouse) == (5, 4, 0)
    assert figures(db, shop, "B", shop.warehouse) == (3, 3, 0)

    paid = (PaymentDraft("card", Decimal("99.97")),)
    order = checkout.checkout(
        db, cart_id=cart.id, request=checkout.Checkout(fulfil=Fulfil(mode="ship"), payments=paid)
    )

    assert (order.status, order.reservation_id) == ("confirmed", hold)
    assert figures(db, shop, "A", shop.warehouse) == (5, 0, 4)
    assert figures(db, shop, "B", shop.warehouse) == (3, 0, 3)
    with db.reading() as session:
        lines = session.execute(
            select(ReservationLine.requested_sku, ReservationLine.quantity)
            .where(ReservationLine.reservation_id == hold)
            .order_by(ReservationLine.id)
        ).all()
    assert sorted(tuple(line) for line in lines) == [("B", 1), ("KIT", 2), ("KIT", 4)]
    assert_reconciles(db)


def test_checkout_for_pickup_moves_the_hold_to_the_store(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (5, 0, 2)})
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    hold = _hold_of(db, cart.id)
    assert figures(db, shop, "A", shop.warehouse) == (5, 1, 0)  # the warehouse ranks first

    order = checkout.checkout(
        db,
        cart_id=cart.id,
        request=checkout.Checkout(
            fulfil=Fulfil(mode="pickup", pickup_location_id=shop.gdansk), payments=PAID
        ),
    )

    assert order.reservation_id == hold
    assert order.routing is not None
    assert order.routing["plan"] == [{"sku": "A", "location": "gdn", "quantity": 1}]
    assert figures(db, shop, "A", shop.warehouse) == (5, 0, 0)
    assert figures(db, shop, "A", shop.gdansk) == (2, 0, 1)
    assert _ledger(db, hold) == [
        ("reservation", shop.warehouse, 1, 0),
        ("release", shop.warehouse, -1, 0),
        ("reservation", shop.gdansk, 1, 0),
        ("allocation", shop.gdansk, -1, 1),
    ]
    assert_reconciles(db)


def test_moving_part_of_a_hold_keeps_the_rest_where_it_is(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (1, 1, 2)})
    held = reserve_stock(db, channel_id=shop.web, lines=[("A", 2)], idempotency_key="k-1")
    assert sorted((x.location_id, x.quantity) for x in held.lines) == [
        (shop.warehouse, 1),
        (shop.krakow, 1),
    ]

    holds = _move(db, shop, held.id, to=(shop.krakow, shop.gdansk))

    a = shop.variants["A"]
    assert holds == [("A", a, shop.krakow, 1), ("A", a, shop.gdansk, 1)]
    assert figures(db, shop, "A", shop.warehouse) == (1, 0, 0)
    assert figures(db, shop, "A", shop.krakow) == (1, 1, 0)
    assert figures(db, shop, "A", shop.gdansk) == (2, 1, 0)
    assert _ledger(db, held.id) == [
        ("reservation", shop.warehouse, 1, 0),
        ("reservation", shop.krakow, 1, 0),
        ("release", shop.warehouse, -1, 0),
        ("reservation", shop.gdansk, 1, 0),
    ]
    assert_reconciles(db)


def test_a_move_the_destination_cannot_take_under_the_buffer_changes_nothing(
    db: Database,
) -> None:
    shop = seed_shop(db, stock={"A": (3, 0, 1)}, web_held_back=1)
    held = reserve_stock(db, channel_id=shop.web, lines=[("A", 1)], idempotency_key="k-1")
    stock, entries = all_stock(db), _count(db, Movement)

    # One unit in Gdańsk, and web never sells the last one.
    with pytest.raises(InsufficientStock, match="A: requested 1, sellable 0"):
        _move(db, shop, held.id, to=(shop.gdansk,))

    assert all_stock(db) == stock
    assert _count(db, Movement) == entries
    with db.reading() as session:
        lines = session.scalars(
            select(ReservationLine).where(ReservationLine.reservation_id == held.id)
        ).all()
        assert [(x.location_id, x.quantity) for x in lines] == [(shop.warehouse, 1)]
    assert_reconciles(db)


CARTS = 5
MARKET_THREADS = 8
POS_THREADS = 8


def _race(count: int, job: Callable[[int], object]) -> list[object]:
    start = threading.Barrier(count)

    def run(i: int) -> object:
        start.wait()
        try:
            return job(i)
        except Exception as exc:  # every outcome is judged by the test
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _sale(shop: Shop, i: int) -> checkout.TillSale:
    return checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 1, Decimal("19.99")),),
        payments=(PaymentDraft("cash", Decimal("19.99")),),
        receipt=f"R-{i}",
    )


@pytest.mark.postgres
def test_held_carts_check_out_while_other_channels_sell_the_rest(pg_db: Database) -> None:
    db = pg_db
    # Web sees 8 - 1 units and its carts hold 5 of them, all in the warehouse; the
    # marketplace (warehouse) and the Kraków till race for the 3 nobody holds.
    shop = seed_shop(db, stock={"A": (6, 2, 0)}, web_held_back=1)
    carts = [
        checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)]).id for _ in range(CARTS)
    ]
    assert figures(db, shop, "A", shop.warehouse) == (6, CARTS, 0)
    jobs = (
        [("web", i) for i in range(CARTS)]
        + [("market", i) for i in range(MARKET_THREADS)]
        + [("pos", i) for i in range(POS_THREADS)]
    )
    actions: dict[str, Callable[[int], OrderView]] = {
        "web": lambda i: checkout.checkout(
            db,
            cart_id=carts[i],
            request=checkout.Checkout(fulfil=Fulfil(mode="ship"), payments=PAID),
        ),
        "market": lambda i: service.ingest_order(db, market_order(shop, f"M-{i}", [("A", 1)])),
        "pos": lambda i: checkout.record_sale(db, sale=_sale(shop, i)),
    }

    outcomes = _race(len(jobs), lambda n: actions[jobs[n][0]](jobs[n][1]))

    by_kind: dict[str, list[object]] = {"web": [], "market": [], "pos": []}
    for (kind, _), outcome in zip(jobs, outcomes, strict=True):
        by_kind[kind].append(outcome)
    # Every held cart became an order, whatever the others sold meanwhile.
    assert [type(o).__name__ for o in by_kind["web"]] == ["OrderView"] * CARTS
    for kind, sold in (("market", 1), ("pos", 2)):
        orders = [o for o in by_kind[kind] if isinstance(o, OrderView)]
        refused = [o for o in by_kind[kind] if not isinstance(o, OrderView)]
        assert len(orders) == sold, kind
        assert all(isinstance(o, InsufficientStock) for o in refused), [str(o) for o in refused]
    assert figures(db, shop, "A", shop.warehouse) == (6, 0, 6)
    assert figures(db, shop, "A", shop.krakow) == (0, 0, 0)  # both sold over the counter
    assert _count(db, Order) == CARTS + 3
    with db.reading() as session:
        assert session.scalar(select(func.count()).where(Cart.status == "converted")) == CARTS
    assert_reconciles(db)
