"""Loyalty end to end on SQLite and PostgreSQL: points from orders of every channel,
redemption at checkout and at the till, reversal on refunds and cancellations, a balance
that never goes negative, and a sync that applies each order event exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.loyalty import service as loyalty
from omnicart.loyalty.model import InsufficientPoints
from omnicart.loyalty.service import LoyaltySummary
from omnicart.loyalty.tables import LoyaltyEntry
from omnicart.orders import checkout, fulfilment, returns
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, Fulfil, PaymentDraft
from omnicart.orders.tables import Order
from tests.loyalty_support import ANN, market_buy, sync_all, till_buy, web_buy, with_rules
from tests.orders_support import all_stock, seed_shop

D = Decimal


def _profile(db: Database, email: str = ANN) -> int:
    with db.transaction() as session:
        profile_id = observe(session, identifiers=[("email", email)], channel_id=None, source="t")
    assert profile_id is not None
    return profile_id


def _summary(db: Database, email: str = ANN) -> LoyaltySummary:
    return loyalty.customer_loyalty(db, profile_id=_profile(db, email))


def _ledger(db: Database) -> list[tuple[str, int, int, int | None]]:
    with db.reading() as session:
        rows = session.scalars(select(LoyaltyEntry).order_by(LoyaltyEntry.id))
        return [(r.kind, r.points, r.shortfall, r.order_id) for r in rows]


def _orders(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Order)) or 0)


def test_orders_of_every_channel_earn_once(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    market = market_buy(db, shop, "M-1", 2)  # 39.98 at 2 points per EUR: 79
    web = web_buy(db, shop, 1)  # 19.99: 19
    till = till_buy(db, shop, price="50.00", paid="50.00")  # 50
    anonymous = till_buy(db, shop, price="5.00", paid="5.00", email=None)
    assert sync_all(db) == 3
    assert _ledger(db) == [
        ("earn", 79, 0, market.id),
        ("earn", 19, 0, web.id),
        ("earn", 50, 0, till.id),
    ]
    assert anonymous.id not in [entry[3] for entry in _ledger(db)]
    summary = _summary(db)
    assert (summary.balance, summary.earned, summary.redeemed) == (148, 148, 0)
    assert summary.rolling_spend == D("109.97")
    assert (summary.tier, summary.next_tier, summary.spend_to_next_tier) == (
        "member",
        "silver",
        D("390.03"),
    )
    assert [e.order_id for e in summary.entries] == [till.id, web.id, market.id]
    # Exactly once: a second run, and a run after new events, apply nothing twice.
    assert sync_all(db) == 0
    web_buy(db, shop, 1)
    assert sync_all(db, batch=1) == 1
    assert _summary(db).balance == 167


def test_a_first_order_on_a_channel_with_the_bonus_earns_it(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    first = web_buy(db, shop, 1)
    web_buy(db, shop, 1)
    assert sync_all(db) == 3
    assert [(k, p) for k, p, _, _ in _ledger(db)] == [("earn", 19), ("bonus", 100), ("earn", 19)]
    assert _ledger(db)[1][3] == first.id
    profile = _profile(db)
    review = loyalty.grant_bonus(
        db, profile_id=profile, channel_id=shop.web, name="review", reference="r-1"
    )
    again = loyalty.grant_bonus(
        db, profile_id=profile, channel_id=shop.web, name="review", reference="r-1"
    )
    assert (review.points, again.id) == (25, review.id)
    assert _summary(db).balance == 163
    with pytest.raises(Exception, match="no bonus named 'birthday'"):
        loyalty.grant_bonus(
            db, profile_id=profile, channel_id=shop.web, name="birthday", reference="x"
        )


def test_points_pay_part_of_a_till_sale_and_a_web_checkout(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    market_buy(db, shop, "M-1", 2)
    sync_all(db)
    assert _summary(db).balance == 79

    sale = till_buy(db, shop, price="10.00", paid="9.50", redeem=50, receipt="R-1")
    assert (sale.total, sale.discount_total, sale.paid) == (D("9.50"), D("0.50"), D("9.50"))
    assert _summary(db).balance == 29  # spent in the sale's own transaction
    again = till_buy(db, shop, price="10.00", paid="9.50", redeem=50, receipt="R-1")
    assert (again.id, again.replayed) == (sale.id, True)
    assert _summary(db).balance == 29  # a replayed receipt spends nothing more

    web = web_buy(db, shop, 1, redeem=29, paid="19.70")
    assert (web.total, web.discount_total) == (D("19.70"), D("0.29"))
    assert _summary(db).balance == 0
    assert sync_all(db) == 2  # both earn on what was paid in money: 9 and 19
    summary = _summary(db)
    assert (summary.balance, summary.redeemed) == (28, 79)
    redeemed = [e for e in summary.entries if e.kind == "redeem"]
    assert [(e.points, e.amount, e.order_id) for e in redeemed] == [
        (-29, D("0.29"), web.id),
        (-50, D("0.50"), sale.id),
    ]


def test_a_redemption_the_balance_cannot_cover_changes_nothing(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    market_buy(db, shop, "M-1", 2)
    sync_all(db)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    stock, count, ledger = all_stock(db), _orders(db), _ledger(db)

    with pytest.raises(InsufficientPoints, match="has 79 points, not the 80"):
        till_buy(db, shop, price="10.00", paid="9.20", redeem=80)
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship"),
        customer=Customer(email=ANN),
        payments=(PaymentDraft("card", D("14.99")),),
        redeem_points=500,
    )
    with pytest.raises(InsufficientPoints):
        checkout.checkout(db, cart_id=cart.id, request=request)
    assert checkout.get_cart(db, cart_id=cart.id).status == "open"
    with pytest.raises(ValidationFailed, match=r"more than the order's 10\.00") as worth:
        till_buy(db, shop, price="10.00", paid="0", redeem=79_000)
    assert worth.value.field == "redeem_points"
    with pytest.raises(ValidationFailed, match="needs the customer"):
        till_buy(db, shop, price="10.00", paid="9.50", redeem=50, email=None)
    with pytest.raises(ValidationFailed, match=r"total is 10\.00 but .* gives 9\.50"):
        # The till forgot that the points take 0.50 off.
        till_buy(db, shop, price="10.00", paid="9.50", redeem=50, total="10.00")
    assert (all_stock(db), _orders(db), _ledger(db)) == (stock, count, ledger)
    assert _summary(db).balance == 79


def test_a_channel_without_a_program_neither_earns_nor_redeems(db: Database) -> None:
    shop = seed_shop(db)
    market_buy(db, shop, "M-1", 2)
    assert sync_all(db) == 0
    with pytest.raises(Conflict, match="no loyalty program"):
        till_buy(db, shop, price="10.00", paid="9.50", redeem=50)


def test_refunds_take_points_back_share_by_share(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    order = market_buy(db, shop, "M-1", 2)  # 79 points
    fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="DHL", tracking_number="1Z"
    )
    sync_all(db)
    for line_units in (1, 1):
        opened = returns.open_return(
            db,
            order_id=order.id,
            channel_id=shop.pos,
            lines=[returns.ReturnLineRequest(1, line_units, "too small")],
        )
        returns.receive_return(
            db, return_id=opened.id, location_id=shop.krakow, outcomes=[returns.Outcome(1, 1)]
        )
        returns.refund_return(db, return_id=opened.id)
        sync_all(db)
    reversals = [(k, p, s) for k, p, s, _ in _ledger(db) if k == "reverse"]
    assert reversals == [("reverse", -40, 0), ("reverse", -39, 0)]  # 39.5 half up, then the rest
    summary = _summary(db)
    assert (summary.balance, summary.rolling_spend) == (0, D("0"))
    assert sync_all(db) == 0


def test_spent_points_are_not_taken_below_zero_the_shortfall_is_recorded(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    order = market_buy(db, shop, "M-1", 2)  # 79 points
    sync_all(db)
    spent = loyalty.redeem(
        db, profile_id=_profile(db), channel_id=shop.web, points=70, reference="voucher-1"
    )
    assert (spent.points, spent.amount) == (-70, D("0.70"))
    with pytest.raises(Conflict, match="already made"):
        loyalty.redeem(
            db, profile_id=_profile(db), channel_id=shop.web, points=1, reference="voucher-1"
        )
    orders.cancel_order(db, order_id=order.id, reason="out of stock at the seller")
    assert sync_all(db) == 2  # the cancellation and the refund that came with it
    assert _ledger(db)[-2:] == [("reverse", -9, 70, order.id), ("reverse", 0, 0, order.id)]
    summary = _summary(db)
    assert (summary.balance, summary.shortfall) == (0, 70)


def test_a_cancelled_order_gives_back_the_points_that_paid_for_it(db: Database) -> None:
    shop = seed_shop(db)
    with_rules(db, shop)
    market_buy(db, shop, "M-1", 2)
    sync_all(db)
    web = web_buy(db, shop, 1, redeem=79, paid="19.20")
    assert _summary(db).balance == 0
    orders.cancel_order(db, order_id=web.id)
    sync_all(db)
    summary = _summary(db)
    # 79 back; the 19 the order earned are gone again (its refund took back nothing more).
    assert summary.balance == 79
    assert [(e.kind, e.points) for e in summary.entries[:3]] == [
        ("reverse", 0),
        ("reverse", 79),
        ("reverse", -19),
    ]
