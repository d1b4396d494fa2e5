"""An order's rows read in one statement on PostgreSQL (`views.read_rows`) are exactly what
the ORM's four queries answer, and a row the session already holds is that object, its
unflushed changes and all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.orm import Session

from omnicart.db.engine import Database
from omnicart.orders import checkout, service, views
from omnicart.orders.model import Fulfil, LineDraft, PaymentDraft
from omnicart.orders.tables import Fulfilment, Order, OrderLine, OrderTransition, Payment
from tests.orders_support import market_order, seed_shop

pytestmark = pytest.mark.postgres


def _values(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in inspect(type(obj)).column_attrs}


def _by_orm(session: Session, order_id: int) -> dict[str, list[dict[str, Any]]]:
    def rows(model: Any, order: Any) -> list[dict[str, Any]]:
        found = session.scalars(select(model).where(model.order_id == order_id).order_by(order))
        return [_values(r) for r in found]

    return {
        "lines": rows(OrderLine, OrderLine.line_no),
        "payments": rows(Payment, Payment.id),
        "transitions": rows(OrderTransition, OrderTransition.id),
        "fulfilments": rows(Fulfilment, Fulfilment.id),
    }


def test_one_statement_reads_what_the_orm_reads(pg_db: Database) -> None:
    shop = seed_shop(pg_db, stock={"A": (10, 4, 2), "B": (5, 3, 3)})
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 2, Decimal("10.00")), LineDraft("B", 1, Decimal("0.05"))),
        payments=(
            PaymentDraft("cash", Decimal("15.00")),
            PaymentDraft("card", Decimal("5.05"), "T-1"),
        ),
        receipt="R-9",
    )
    order_id = checkout.record_sale(pg_db, sale=sale).id
    with pg_db.reading() as session:
        order = session.get_one(Order, order_id)
        read = views.read_rows(session, order)
        ours = {
            "lines": [_values(r) for r in read.lines],
            "payments": [_values(r) for r in read.payments],
            "transitions": [_values(r) for r in read.transitions],
            "fulfilments": [_values(r) for r in read.fulfilments],
        }
    with pg_db.reading() as session:
        theirs = _by_orm(session, order_id)
    assert repr(ours) == repr(theirs)  # the same values, to each Decimal's places
    assert [len(v) for v in ours.values()] == [2, 2, 4, 1]
    assert {type(v) for line in ours["lines"] for k, v in line.items() if k == "unit_price"} == {
        Decimal
    }
    assert ours["fulfilments"][0]["items"] == theirs["fulfilments"][0]["items"]


def test_a_row_the_session_holds_is_answered_as_it_is_held(pg_db: Database) -> None:
    shop = seed_shop(pg_db)
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 1, Decimal("10.00")),),
        payments=(PaymentDraft("cash", Decimal("10.00")),),
        receipt="R-10",
    )
    order_id = checkout.record_sale(pg_db, sale=sale).id
    with pg_db.transaction() as session:
        order = session.get_one(Order, order_id)
        line = session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).one()
        line.title = "changed, not flushed"
        read = views.read_rows(session, order)
        assert read.lines == [line]
        assert read.lines[0].title == "changed, not flushed"
        # The other rows are the session's now, as a query would have made them.
        assert all(p in session for p in read.payments)
        session.rollback()


def test_a_redelivered_order_is_answered_in_five_round_trips(pg_db: Database) -> None:
    shop = seed_shop(pg_db)
    pg_db.cache.start()
    try:
        assert pg_db.cache.wait_live()
        order = market_order(shop, "M-5", [("A", 1), ("B", 1)])
        first = service.ingest_order(pg_db, order)
        trips: list[str] = []

        def note(conn: Connection, *args: Any) -> None:
            trips.append(str(args[1]) if args and isinstance(args[1], str) else "BEGIN/COMMIT")

        event.listen(pg_db.engine, "before_cursor_execute", note)
        event.listen(pg_db.engine, "begin", note)
        event.listen(pg_db.engine, "commit", note)
        again = service.ingest_order(pg_db, order)
    finally:
        pg_db.cache.stop()
    assert (again.id, again.replayed) == (first.id, True)
    assert len(again.lines) == 2
    # BEGIN; the order's claim, refused; the order, locked; its rows in one statement; COMMIT
    assert len(trips) == 5, trips


@pytest.mark.postgres
def test_a_checkout_costs_twelve_round_trips_for_both_requests(pg_db: Database) -> None:
    shop = seed_shop(pg_db, stock={"A": (10, 4, 2), "B": (5, 0, 3), "C": (3, 0, 0)})
    pay = checkout.Checkout(fulfil=Fulfil(mode="ship"))
    pg_db.cache.start()
    try:
        assert pg_db.cache.wait_live()
        # The first cart of A and B warms what the process keeps: the channel's setup and
        # its prices of A and B.
        warm = checkout.create_cart(pg_db, channel_id=shop.web, lines=[("A", 1), ("B", 1)])
        checkout.checkout(pg_db, cart_id=warm.id, request=pay)
        trips: list[str] = []

        def note(conn: Connection, *args: Any) -> None:
            trips.append(str(args[1]) if args and isinstance(args[1], str) else "BEGIN/COMMIT")

        for name in ("before_cursor_execute", "begin", "commit"):
            event.listen(pg_db.engine, name, note)
        cart = checkout.create_cart(pg_db, channel_id=shop.web, lines=[("A", 1), ("B", 1)])
        created = len(trips)
        order = checkout.checkout(pg_db, cart_id=cart.id, request=pay)
        placed = len(trips) - created
        # A SKU this process has not priced yet costs one read, when its cart is made.
        trips.clear()
        cold = checkout.create_cart(pg_db, channel_id=shop.web, lines=[("C", 1)])
        cold_trips = len(trips)
    finally:
        pg_db.cache.stop()
    assert [line.sku for line in order.lines] == ["A", "B"]
    assert order.status == "pending"
    assert cold.lines[0].unit_price is not None
    # BEGIN; the cart with its hold's id drawn; the stock rows locked; the hold; COMMIT
    assert created == 5, trips
    # BEGIN; the cart locked; its hold and stock rows locked; the order's claim; the
    # allocation with the hold's status; the order's rows with the cart converted; COMMIT
    assert placed == 7, trips
    assert cold_trips == 6, trips


@pytest.mark.postgres
def test_a_till_sale_of_skus_sold_before_costs_nine_round_trips(pg_db: Database) -> None:
    shop = seed_shop(pg_db)

    def sale(receipt: str) -> checkout.TillSale:
        return checkout.TillSale(
            channel_id=shop.pos,
            location_id=shop.krakow,
            lines=(LineDraft("A", 1, Decimal("10.00")),),
            payments=(PaymentDraft("cash", Decimal("10.00")),),
            receipt=receipt,
        )

    pg_db.cache.start()
    try:
        assert pg_db.cache.wait_live()
        checkout.record_sale(pg_db, sale=sale("R-1"))  # the channel and A are known now
        trips: list[str] = []

        def note(conn: Connection, *args: Any) -> None:
            trips.append(str(args[1]) if args and isinstance(args[1], str) else "BEGIN/COMMIT")

        for name in ("before_cursor_execute", "begin", "commit"):
            event.listen(pg_db.engine, name, note)
        order = checkout.record_sale(pg_db, sale=sale("R-2"))
    finally:
        pg_db.cache.stop()
    assert order.status == "completed"
    # BEGIN; the order's claim; the SKUs and stock rows locked; the allocation; the order
    # written handed over; its reservation locked; the shipment with the reservation's
    # status; the lines' shipped units; COMMIT
    assert len(trips) == 9, trips
