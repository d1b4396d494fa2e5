"""Loyalty rules as merchants run them, on SQLite and PostgreSQL: points earned once an
order is paid, a partial refund taking back exactly what the refunded part earned,
points expiring oldest first, and one first-order bonus per person after a merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from omnicart.kernel.clock import set_clock
from omnicart.loyalty import service as loyalty
from omnicart.loyalty.expiry import expire_points
from omnicart.loyalty.tables import LoyaltyEntry
from omnicart.orders import checkout, fulfilment, returns
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, Fulfil, PaymentDraft
from omnicart.orders.views import OrderView
from tests.loyalty_support import ANN, market_buy, sync_all, till_buy, web_buy, with_rules
from tests.orders_support import Shop, seed_shop

D = Decimal
PHONE = "+48601234567"


def _profile(db: Database, *identifiers: tuple[str, str]) -> int:
    with db.transaction() as session:
        found = observe(
            session, identifiers=identifiers or [("email", ANN)], channel_id=None, source="t"
        )
    assert found is not None
    return found


def _balance(db: Database) -> int:
    return loyalty.customer_loyalty(db, profile_id=_profile(db)).balance


def _ledger(db: Database) -> list[tuple[str, int, int]]:
    with db.reading() as session:
        rows = session.scalars(select(LoyaltyEntry).order_by(LoyaltyEntry.id))
        return [(r.kind, r.points, r.shortfall) for r in rows]


def _unpaid_web_order(db: Database, shop: Shop, units: int) -> OrderView:
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", units)])
    request = checkout.Checkout(fulfil=Fulfil(mode="ship"), customer=Customer(email=ANN))
    return checkout.checkout(db, cart_id=cart.id, request=request)


def _ship_everything(db: Database, shop: Shop, order: OrderView) -> None:
    assert order.routing is not None
    ids = {"wh": shop.warehouse, "krk": shop.krakow, "gdn": shop.gdansk}
    for code in sorted({step["location"] for step in order.routing["plan"]}):
        fulfilment.create_shipment(
            db, order_id=order.id, location_id=ids[code], carrier="DHL", tracking_number="1Z"
        )


def _refund_units(db: Database, shop: Shop, order_id: int, units: int) -> None:
    opened = returns.open_return(
        db,
        order_id=order_id,
        channel_id=shop.web,
        lines=[returns.ReturnLineRequest(1, units, "too small")],
    )
    returns.refund_return(db, return_id=opened.id)


def test_points_are_earned_once_the_order_is_paid(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    order = _unpaid_web_order(db, shop, 2)  # 39.98, nothing paid yet
    assert order.status == "pending"
    sync_all(db)
    assert _ledger(db) == []  # placed, not paid: nothing earned
    half = orders.record_payment(db, order_id=order.id, payment=PaymentDraft("card", D("20")))
    assert half.status == "pending"
    sync_all(db)
    assert _ledger(db) == []  # partly paid: still nothing
    orders.record_payment(db, order_id=order.id, payment=PaymentDraft("card", D("19.98")))
    assert sync_all(db) == 2
    assert _ledger(db) == [("earn", 39, 0), ("bonus", 100, 0)]
    assert _balance(db) == 139
    # An order never paid, then cancelled, earns nothing and takes nothing back.
    never = _unpaid_web_order(db, shop, 1)
    orders.cancel_order(db, order_id=never.id)
    sync_all(db)
    assert _ledger(db) == [("earn", 39, 0), ("bonus", 100, 0)]
    assert _balance(db) == 139


def test_a_partial_refund_takes_back_exactly_what_the_refunded_part_earned(
    db: Database,
) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    order = web_buy(db, shop, 3)  # 59.97: 59 points and the first-order bonus of 100
    _ship_everything(db, shop, order)
    sync_all(db)
    assert _balance(db) == 159
    _refund_units(db, shop, order.id, 1)
    sync_all(db)
    # Two units kept earn floor(59 x 2/3) = 39; the bonus stays with the order.
    assert _ledger(db)[-1] == ("reverse", -20, 0)
    assert _balance(db) == 139
    _refund_units(db, shop, order.id, 1)
    sync_all(db)
    # One unit kept earns floor(19.67) = 19, as one unit of 19.99 earns on its own.
    assert _ledger(db)[-1] == ("reverse", -20, 0)
    assert _balance(db) == 119
    _refund_units(db, shop, order.id, 1)
    sync_all(db)
    # The last refund takes the rest and the bonus: nothing of the order is kept.
    assert _ledger(db)[-1] == ("reverse", -119, 0)
    assert _balance(db) == 0


def test_points_expire_oldest_first_once(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    try:
        set_clock(lambda: start)
        market_buy(db, shop, "M-1", 2)  # 79 points
        sync_all(db)
        set_clock(lambda: start + timedelta(days=10))
        market_buy(db, shop, "M-2", 1)  # 39 points
        sync_all(db)
        set_clock(lambda: start + timedelta(days=20))
        loyalty.redeem(
            db, profile_id=_profile(db), channel_id=shop.web, points=50, reference="voucher"
        )
        assert _balance(db) == 68
        # Not configured: points never expire.
        assert expire_points(db, now=start + timedelta(days=1000)) == 0
        # Day 30: the first lot expires with what the redemption left of it, 79 - 50.
        at_30 = start + timedelta(days=30)
        set_clock(lambda: at_30)
        assert expire_points(db, days=30) == 1
        assert _ledger(db)[-1] == ("expire", -29, 0)
        assert _balance(db) == 39
        assert expire_points(db, days=30) == 0  # once: a second sweep expires nothing
        assert _balance(db) == 39
        # Day 40: the second lot expires whole.
        set_clock(lambda: start + timedelta(days=40))
        assert expire_points(db, days=30) == 1
        assert _ledger(db)[-1] == ("expire", -39, 0)
        assert _balance(db) == 0
        assert expire_points(db, days=30) == 0
        assert [kind for kind, _, _ in _ledger(db)] == [
            "earn",
            "earn",
            "redeem",
            "expire",
            "expire",
        ]
    finally:
        set_clock(None)


def test_two_first_order_bonuses_become_one_when_the_profiles_merge(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    web_buy(db, shop, 1)  # Ann by e-mail: 19 + the first-order bonus
    till_buy(db, shop, price="50.00", paid="50.00", email=None, phone=PHONE)  # 50 + bonus
    sync_all(db)
    by_email, by_phone = _profile(db), _profile(db, ("phone", PHONE))
    assert by_email != by_phone
    assert _ledger(db) == [("earn", 19, 0), ("bonus", 100, 0), ("earn", 50, 0), ("bonus", 100, 0)]
    # Ann gives both at the till: one person, whose second bonus is taken back.
    survivor = _profile(db, ("email", ANN), ("phone", PHONE))
    assert _ledger(db)[-1] == ("reverse", -100, 0)
    assert loyalty.customer_loyalty(db, profile_id=survivor).balance == 169
    # Seen together again, and synced again: the bonus is taken back once.
    _profile(db, ("phone", PHONE), ("email", ANN))
    sync_all(db)
    assert len(_ledger(db)) == 5
    assert loyalty.customer_loyalty(db, profile_id=by_phone).balance == 169
