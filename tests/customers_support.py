"""What the customers tests share: Ewa, who buys on a marketplace and at a till, a
stranger, the feed synced to its end, and a scan of the whole database for a value."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal

from sqlalchemy import String, cast, func, inspect, select
from sqlalchemy.types import JSON
from sqlalchemy.types import String as StringType

from omnicart.customers import service
from omnicart.customers.linking import ORDERS_FEED
from omnicart.customers.tables import CustomerFeedCursor
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.db.registry import metadata
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, LineDraft, PaymentDraft
from omnicart.orders.tables import Order
from tests.orders_support import Shop, market_order, seed_shop

EMAIL, PHONE, BUYER, CARD = "Ewa.Kowalska@Poczta.PL", "601 234 567", "allegro-ewa", "card:LC-77"
NAME, STREET = "Ewa Kowalska", "ul. Długa 7"


def market(
    shop: Shop, external_id: str, customer: Customer, name: str, street: str
) -> orders.ExternalOrder:
    order = market_order(shop, external_id, [("A", 1)], price="25.00")
    fulfil = dataclasses.replace(
        order.fulfil,
        address={"name": name, "street": street, "city": "Kraków", "country": "PL"},
    )
    return dataclasses.replace(
        order, draft=dataclasses.replace(order.draft, customer=customer), fulfil=fulfil
    )


def till(db: Database, shop: Shop, customer: Customer, receipt: str) -> int:
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 2, Decimal("19.99")),),
        payments=(PaymentDraft("card", Decimal("39.98")),),
        customer=customer,
        receipt=receipt,
    )
    return checkout.record_sale(db, sale=sale).id


def seed(db: Database) -> tuple[Shop, list[int]]:
    """Ewa buys on the marketplace (email, phone, buyer id), then at the till with her
    loyalty card and email; a stranger buys too."""
    shop = seed_shop(db)
    first = orders.ingest_order(
        db, market(shop, "m-1", Customer(email=EMAIL, phone=PHONE, ref=BUYER), NAME, STREET)
    ).id
    second = till(db, shop, Customer(email=EMAIL.lower(), ref=CARD), "r-1")
    other = orders.ingest_order(
        db,
        market(
            shop, "m-2", Customer(email="jan@firma.pl", ref="allegro-jan"), "Jan Nowak", "Polna 1"
        ),
    ).id
    anonymous = till(db, shop, Customer(), "r-2")
    return shop, [first, second, other, anonymous]


def sync(db: Database) -> int:
    """Sync until the feed has passed the last outbox event. On PostgreSQL the feed holds
    back events of transactions newer than any still running in the cluster (another
    test's, even), so one pass may stop short."""
    read = 0
    deadline = time.monotonic() + 30
    while True:
        read += service.sync_customers(db)
        with db.reading() as session:
            last = session.scalar(select(func.max(OutboxEvent.id)))
            cursor = session.get(CustomerFeedCursor, ORDERS_FEED)
        if cursor is not None and cursor.event_id == last:
            return read
        assert time.monotonic() < deadline, "the outbox feed never settled"
        time.sleep(0.05)


def revenue(db: Database) -> list[tuple[int, str, Decimal]]:
    with db.reading() as session:
        return [
            (o.id, o.currency, o.total) for o in session.scalars(select(Order).order_by(Order.id))
        ]


def personal_values_left(db: Database, values: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, value) where a personal value still appears in any text or
    JSON column of any table."""
    found = []
    with db.reading() as session:
        tables = set(inspect(session.get_bind()).get_table_names()) & set(metadata.tables)
        for name in sorted(tables):
            table = metadata.tables[name]
            for column in table.columns:
                if not isinstance(column.type, StringType | JSON) and "JSON" not in repr(
                    column.type
                ):
                    continue
                text = cast(column, String)
                for value in values:
                    hits = session.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(func.lower(text).contains(value.lower(), autoescape=True))
                    )
                    if hits:
                        found.append((name, column.name, value))
    return found
