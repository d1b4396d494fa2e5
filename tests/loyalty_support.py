"""Seed helpers for loyalty tests: rules on the shop's channels, orders with customers."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import func, select

from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.loyalty import service as loyalty
from omnicart.loyalty.feed import CONSUMER, sync_loyalty
from omnicart.loyalty.model import EarnRule
from omnicart.loyalty.tables import LoyaltyFeedCursor
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, Fulfil, LineDraft, PaymentDraft
from omnicart.orders.views import OrderView
from tests.orders_support import Shop, market_order

ANN = "ann.kowalska@poczta.pl"


def with_rules(db: Database, shop: Shop) -> None:
    """1 point per EUR, a point worth 0.01 EUR; web and POS give a first-order bonus."""
    for channel_id in (shop.web, shop.pos):
        loyalty.set_rules(
            db,
            channel_id=channel_id,
            rule=EarnRule(D1, Decimal("0.01"), bonuses={"first_order": 100, "review": 25}),
        )
    loyalty.set_rules(db, channel_id=shop.market, rule=EarnRule(Decimal(2), Decimal("0.01")))


D1 = Decimal(1)


def market_buy(
    db: Database, shop: Shop, external_id: str, units: int, *, email: str = ANN
) -> OrderView:
    """A paid marketplace order of `units` x A at 19.99 for `email`."""
    order = market_order(shop, external_id, [("A", units)])
    draft = replace(order.draft, customer=Customer(email=email))
    return orders.ingest_order(db, replace(order, draft=draft))


def web_buy(
    db: Database, shop: Shop, units: int, *, email: str = ANN, redeem: int = 0, paid: str = ""
) -> OrderView:
    """A web checkout of `units` x A, paid in full (less what points pay)."""
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", units)])
    amount = Decimal(paid) if paid else Decimal("19.99") * units
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship"),
        customer=Customer(email=email),
        payments=(PaymentDraft("card", amount),) if amount else (),
        redeem_points=redeem,
    )
    return checkout.checkout(db, cart_id=cart.id, request=request)


def till_buy(
    db: Database,
    shop: Shop,
    *,
    price: str,
    paid: str,
    email: str | None = ANN,
    phone: str | None = None,
    redeem: int = 0,
    receipt: str | None = None,
    total: str | None = None,
) -> OrderView:
    """A till sale in Kraków of one A at `price`, `paid` in cash."""
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 1, Decimal(price)),),
        payments=(PaymentDraft("cash", Decimal(paid)),) if Decimal(paid) else (),
        customer=Customer(email=email, phone=phone),
        redeem_points=redeem,
        receipt=receipt,
        total=Decimal(total) if total else None,
    )
    return checkout.record_sale(db, sale=sale)


def _behind(db: Database) -> int:
    """Outbox events past the loyalty cursor."""
    with db.reading() as session:
        cursor = session.get(LoyaltyFeedCursor, CONSUMER)
        tx_id, event_id = (cursor.tx_id, cursor.event_id) if cursor else (0, 0)
        later = (
            (OutboxEvent.tx_id > tx_id)
            | ((OutboxEvent.tx_id == tx_id) & (OutboxEvent.id > event_id))
            if db.dialect == "postgresql"
            else OutboxEvent.id > event_id
        )
        return int(session.scalar(select(func.count()).where(later)) or 0)


def sync_all(db: Database, *, batch: int = 200) -> int:
    """`sync_loyalty` until it has read every event written so far.

    On PostgreSQL the feed holds back events while any older transaction of the server
    is still running (tests of other suites may be); this waits for them, up to 30 s.
    """
    written = sync_loyalty(db, batch=batch)
    deadline = time.monotonic() + 30
    while _behind(db) and time.monotonic() < deadline:
        time.sleep(0.05)
        written += sync_loyalty(db, batch=batch)
    assert not _behind(db), "the loyalty feed did not catch up"
    return written
