"""The order book end to end on SQLite and PostgreSQL: ingest, checkout, till, pickup,
shipping, returns in another channel, and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.inventory.tables import Movement, Reservation
from omnicart.kernel.clock import set_clock, utcnow
from omnicart.kernel.errors import Conflict, Forbidden, InsufficientStock, ValidationFailed
from omnicart.orders import checkout, fulfilment, returns, service
from omnicart.orders.model import Customer, Fulfil, LineDraft, PaymentDraft
from omnicart.orders.tables import Order
from tests.orders_support import (
    KRAKOW,
    all_stock,
    assert_reconciles,
    figures,
    market_order,
    seed_shop,
)


def _events(db: Database, order_id: int) -> list[str]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(OutboxEvent.event_type)
                .where(OutboxEvent.aggregate == "order", OutboxEvent.aggregate_id == str(order_id))
                .order_by(OutboxEvent.id)
            )
        )


def test_marketplace_order_is_ingested_once_updated_and_cancelled(db: Database) -> None:
    shop = seed_shop(db)
    first = service.ingest_order(db, market_order(shop, "M-1", [("A", 3)]))
    assert first.status == "confirmed"
    assert first.paid == first.total == Decimal("59.97")
    assert first.routing is not None
    assert first.routing["plan"] == [{"sku": "A", "location": "wh", "quantity": 3}]
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 3)

    again = service.ingest_order(db, market_order(shop, "M-1", [("A", 3)]))
    assert (again.id, again.replayed) == (first.id, True)
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 3)

    updated = service.ingest_order(db, market_order(shop, "M-1", [("A", 5), ("B", 1)]))
    assert updated.id == first.id
    assert updated.version == 2
    assert [(line.sku, line.quantity) for line in updated.lines] == [("A", 5), ("B", 1)]
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 5)
    assert figures(db, shop, "B", shop.warehouse) == (5, 0, 1)

    cancelled = service.ingest_order(
        db, market_order(shop, "M-1", [("A", 5), ("B", 1)], cancelled=True)
    )
    assert cancelled.status == "cancelled"
    assert cancelled.refunded == cancelled.paid
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 0)
    assert figures(db, shop, "B", shop.warehouse) == (5, 0, 0)
    assert _events(db, first.id) == [
        "Order Completed",
        "Order Routed",
        "Order Routed",
        "Order Updated",
        "Order Cancelled",
        "Order Refunded",
    ]
    assert [(t.from_status, t.to_status) for t in cancelled.transitions] == [
        (None, "pending"),
        ("pending", "confirmed"),
        ("confirmed", "cancelled"),
    ]
    assert_reconciles(db)


def test_order_that_does_not_fit_is_refused_and_changes_nothing(db: Database) -> None:
    shop = seed_shop(db)
    before = all_stock(db)
    with pytest.raises(InsufficientStock, match=r"A: requested 11, sellable 10"):
        service.ingest_order(db, market_order(shop, "M-2", [("A", 11)]))
    bad = market_order(shop, "M-3", [("A", 1)])
    wrong_total = type(bad)(
        channel_id=bad.channel_id,
        external_id=bad.external_id,
        draft=type(bad.draft)(
            currency="EUR",
            lines=bad.draft.lines,
            total=Decimal("20.00"),
        ),
        fulfil=bad.fulfil,
    )
    with pytest.raises(ValidationFailed, match=r"total is 20\.00 but"):
        service.ingest_order(db, wrong_total)
    assert all_stock(db) == before
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_checkout_turns_a_cart_into_an_order_once(db: Database) -> None:
    shop = seed_shop(db)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 2)])
    assert cart.hold_status == "active"
    cart = checkout.set_cart_lines(db, cart_id=cart.id, lines=[("A", 1), ("B", 2)])
    assert cart.subtotal == Decimal("59.97")
    assert figures(db, shop, "A", shop.warehouse) == (10, 1, 0)
    request = checkout.Checkout(
        fulfil=Fulfil(mode="ship", address={"latitude": KRAKOW[0], "longitude": KRAKOW[1]}),
        customer=Customer(email="Ann@Example.com"),
        shipping=Decimal("5.00"),
        tax=Decimal("1.50"),
        payments=(PaymentDraft("card", Decimal("66.47")),),
        total=Decimal("66.47"),
    )
    order = checkout.checkout(db, cart_id=cart.id, request=request)
    assert order.status == "confirmed"
    assert order.customer_email == "ann@example.com"
    assert order.tax_total == Decimal("1.50")
    # Nearest to Kraków: the Kraków store ships from store, but has no B, so the
    # warehouse, which has everything, serves the whole order.
    assert order.routing is not None
    assert {p["location"] for p in order.routing["plan"]} == {"wh"}
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 1)
    again = checkout.checkout(db, cart_id=cart.id, request=request)
    assert (again.id, again.replayed) == (order.id, True)
    assert_reconciles(db)


def test_checkout_after_the_hold_expired_re_reserves_or_says_why(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (1, 0, 0)})
    late = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    request = checkout.Checkout(fulfil=Fulfil(mode="ship"))
    start = utcnow()
    set_clock(lambda: start + timedelta(hours=2))
    try:
        # Expired but nobody took the unit: checkout holds it again.
        order = checkout.checkout(db, cart_id=late.id, request=request)
        assert order.status == "pending"  # nothing paid yet
        assert figures(db, shop, "A", shop.warehouse) == (1, 0, 1)
    except InsufficientStock:
        pytest.fail("the expired hold should have been placed again")
    finally:
        set_clock(None)


def test_expired_hold_whose_units_were_sold_fails_with_the_reason(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (1, 0, 0)})
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("A", 1)])
    start = utcnow()
    set_clock(lambda: start + timedelta(hours=2))
    try:
        from omnicart.inventory.service import expire_reservations

        expire_reservations(db)
        service.ingest_order(db, market_order(shop, "M-9", [("A", 1)]))
        with pytest.raises(InsufficientStock, match="hold had expired"):
            checkout.checkout(
                db, cart_id=cart.id, request=checkout.Checkout(fulfil=Fulfil(mode="ship"))
            )
    finally:
        set_clock(None)
    assert checkout.get_cart(db, cart_id=cart.id).status == "open"


def test_till_sale_is_paid_fulfilled_and_completed_from_the_store(db: Database) -> None:
    shop = seed_shop(db)
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 2, Decimal("10.00")),),
        payments=(PaymentDraft("cash", Decimal("20.00")),),
        receipt="R-1",
    )
    order = checkout.record_sale(db, sale=sale)
    assert order.status == "completed"
    assert [f.kind for f in order.fulfilments] == ["in_store"]
    assert figures(db, shop, "A", shop.krakow) == (2, 0, 0)
    assert checkout.record_sale(db, sale=sale).replayed
    assert figures(db, shop, "A", shop.krakow) == (2, 0, 0)
    unpaid = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 1, Decimal("10.00")),),
        payments=(PaymentDraft("cash", Decimal("5.00")),),
    )
    with pytest.raises(ValidationFailed, match="paid in full"):
        checkout.record_sale(db, sale=unpaid)
    assert_reconciles(db)


def test_a_till_sale_is_answered_as_written_and_its_units_leave_through_the_ledger(
    db: Database,
) -> None:
    shop = seed_shop(db, stock={"A": (10, 4, 2), "B": (5, 2, 3)})
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=shop.krakow,
        lines=(LineDraft("A", 2, Decimal("10.00")), LineDraft("B", 1, Decimal("4.50"))),
        payments=(PaymentDraft("card", Decimal("24.50"), "T-9"),),
        receipt="R-9",
    )
    answer = checkout.record_sale(db, sale=sale)
    # The answer was built from what was written; read back, the order is the same.
    assert answer == service.get_order(db, order_id=answer.id)
    assert answer.status == "completed"
    assert [(t.from_status, t.to_status, t.reason) for t in answer.transitions] == [
        (None, "pending", "received from pos"),
        ("pending", "confirmed", "paid in full"),
        ("confirmed", "fulfilled", "handed over at the till"),
        ("fulfilled", "completed", "till sale"),
    ]
    assert [(line.sku, line.quantity, line.fulfilled) for line in answer.lines] == [
        ("A", 2, 2),
        ("B", 1, 1),
    ]
    (handed,) = answer.fulfilments
    assert (handed.kind, handed.status, handed.location_id) == (
        "in_store",
        "picked_up",
        shop.krakow,
    )
    assert handed.items == [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]
    assert figures(db, shop, "A", shop.krakow) == (2, 0, 0)
    assert figures(db, shop, "B", shop.krakow) == (1, 0, 0)
    with db.reading() as session:
        order = session.get_one(Order, answer.id)
        held = session.get_one(Reservation, order.reservation_id)
        assert (held.status, held.closed_at is not None) == ("shipped", True)
        kinds = session.scalars(
            select(Movement.kind).where(Movement.reservation_id == held.id).order_by(Movement.id)
        ).all()
    assert kinds == ["allocation", "allocation", "shipment", "shipment"]
    assert_reconciles(db)


def test_pickup_in_store_with_code_and_window(db: Database) -> None:
    shop = seed_shop(db)

    def pickup_cart() -> int:
        cart = checkout.create_cart(db, channel_id=shop.web, lines=[("B", 1)])
        request = checkout.Checkout(
            fulfil=Fulfil(mode="pickup", pickup_location_id=shop.gdansk),
            payments=(PaymentDraft("card", Decimal("19.99")),),
        )
        return checkout.checkout(db, cart_id=cart.id, request=request).id

    order_id = pickup_cart()
    assert figures(db, shop, "B", shop.gdansk) == (3, 0, 1)
    with pytest.raises(Forbidden):
        fulfilment.mark_ready(db, order_id=order_id, staff_location=shop.krakow)
    ready = fulfilment.mark_ready(db, order_id=order_id, staff_location=shop.gdansk)
    code = ready.fulfilments[0].pickup_code
    assert code is not None
    with pytest.raises(Forbidden, match="code"):
        fulfilment.collect(db, order_id=order_id, code="not-it")
    done = fulfilment.collect(db, order_id=order_id, code=code, staff_location=shop.gdansk)
    assert done.status == "fulfilled"
    assert figures(db, shop, "B", shop.gdansk) == (2, 0, 0)

    forgotten = pickup_cart()
    fulfilment.mark_ready(db, order_id=forgotten)
    assert fulfilment.expire_pickups(db, now=utcnow() + timedelta(days=4)) == 1
    assert service.get_order(db, order_id=forgotten).status == "cancelled"
    assert figures(db, shop, "B", shop.gdansk) == (2, 0, 0)
    assert _events(db, order_id)[-2:] == ["Pickup Ready", "Picked Up"]
    assert_reconciles(db)


def test_bought_on_the_web_returned_in_a_store(db: Database) -> None:
    shop = seed_shop(db)
    order = service.ingest_order(db, market_order(shop, "M-5", [("A", 2), ("B", 1)]))
    shipped = fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="DHL", tracking_number="1Z"
    )
    assert shipped.status == "fulfilled"
    assert figures(db, shop, "A", shop.warehouse) == (8, 0, 0)
    opened = returns.open_return(
        db,
        order_id=order.id,
        channel_id=shop.pos,
        lines=[
            returns.ReturnLineRequest(1, 2, "too small"),
            returns.ReturnLineRequest(2, 1, "broken"),
        ],
    )
    assert opened.value == Decimal("59.97")
    received = returns.receive_return(
        db,
        return_id=opened.id,
        location_id=shop.krakow,
        outcomes=[returns.Outcome(1, restock=2), returns.Outcome(2, restock=0, write_off=1)],
    )
    assert received.received_location_id == shop.krakow
    assert figures(db, shop, "A", shop.krakow) == (6, 0, 0)  # 4 + 2 restocked
    assert figures(db, shop, "B", shop.krakow) == (0, 0, 0)  # arrived, written off
    refunded = returns.refund_return(db, return_id=opened.id)
    assert refunded.refunded == Decimal("59.97")
    final = service.get_order(db, order_id=order.id)
    assert final.status == "returned"
    assert final.refunded == Decimal("59.97")
    assert _events(db, order.id)[-2:] == ["Return Received", "Order Refunded"]
    with pytest.raises(Conflict, match="is returned"):
        returns.open_return(
            db,
            order_id=order.id,
            channel_id=shop.web,
            lines=[returns.ReturnLineRequest(1, 1, "again")],
        )
    assert_reconciles(db)


def test_invalid_transitions_are_refused_and_change_nothing(db: Database) -> None:
    shop = seed_shop(db)
    order = service.ingest_order(db, market_order(shop, "M-6", [("A", 1)]))
    before = all_stock(db)
    with pytest.raises(Conflict, match="confirmed and cannot become completed"):
        service.complete_order(db, order_id=order.id)
    with pytest.raises(Conflict, match="only orders of which units were shipped or collected"):
        returns.open_return(
            db, order_id=order.id, channel_id=shop.web, lines=[returns.ReturnLineRequest(1, 1, "x")]
        )
    fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="UPS", tracking_number=""
    )
    with pytest.raises(Conflict, match="fulfilled and cannot become cancelled"):
        service.cancel_order(db, order_id=order.id)
    with pytest.raises(Conflict, match="only pending or confirmed"):
        service.ingest_order(db, market_order(shop, "M-6", [("A", 2)]))
    assert service.get_order(db, order_id=order.id).status == "fulfilled"
    assert all_stock(db) != before  # the shipment did move stock; refusals did not
    assert_reconciles(db)


def test_returnless_refund_below_the_threshold_and_an_exchange(db: Database) -> None:
    shop = seed_shop(db)
    service.set_order_rules(
        db,
        rules=service.RulesView(
            channel_id=shop.market,
            rules=["priority"],
            prefer_single_location=True,
            location_costs={},
            pickup_window_hours=72,
            returnless_below=Decimal("25.00"),
        ),
    )
    cheap = service.ingest_order(db, market_order(shop, "M-7", [("A", 1)]))
    fulfilment.create_shipment(
        db, order_id=cheap.id, location_id=shop.warehouse, carrier="DHL", tracking_number=""
    )
    stock = all_stock(db)
    # Worth less than the channel's threshold: refunded at once, nothing comes back.
    kept = returns.open_return(
        db,
        order_id=cheap.id,
        channel_id=shop.web,
        lines=[returns.ReturnLineRequest(1, 1, "dented")],
    )
    assert (kept.returnless, kept.value, kept.refunded) == (
        True,
        Decimal("19.99"),
        Decimal("19.99"),
    )
    assert all_stock(db) == stock
    after = service.get_order(db, order_id=cheap.id)
    assert (after.status, after.refunded) == ("returned", Decimal("19.99"))

    # With an exchange the goods come back, and a linked replacement order takes new stock.
    order = service.ingest_order(db, market_order(shop, "M-8", [("A", 2)]))
    fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="DHL", tracking_number=""
    )
    swapped = returns.open_return(
        db,
        order_id=order.id,
        channel_id=shop.pos,
        lines=[returns.ReturnLineRequest(1, 1, "wrong colour")],
        exchange=[("B", 1)],
    )
    assert swapped.returnless is False
    assert swapped.exchange_order_id is not None
    replacement = service.get_order(db, order_id=swapped.exchange_order_id)
    assert (replacement.source, replacement.exchange_of_id) == ("exchange", order.id)
    assert [(line.sku, line.quantity, line.unit_price) for line in replacement.lines] == [
        ("B", 1, Decimal("19.99"))
    ]
    assert (replacement.status, replacement.paid) == ("confirmed", Decimal("19.99"))
    assert figures(db, shop, "B", shop.warehouse) == (5, 0, 1)
    assert_reconciles(db)
