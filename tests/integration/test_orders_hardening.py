"""Orders as merchants fulfil them, on SQLite and PostgreSQL: a channel's times bounded
by the allowed clock skew, and returns of what left while the rest is still to leave."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from omnicart.db.engine import Database
from omnicart.kernel.clock import MAX_FUTURE_SKEW, utcnow
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.orders import fulfilment, returns, service
from omnicart.orders.tables import Order
from tests.orders_support import all_stock, assert_reconciles, figures, market_order, seed_shop


def _orders(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Order)) or 0)


def test_an_order_from_the_year_9999_is_refused_and_nothing_is_stored(db: Database) -> None:
    shop = seed_shop(db)
    before = all_stock(db)
    far = replace(
        market_order(shop, "M-1", [("A", 2)]), updated_at=datetime(9999, 12, 31, tzinfo=UTC)
    )
    with pytest.raises(ValidationFailed, match="in the future; at most 60 minutes") as refused:
        service.ingest_order(db, far)
    assert refused.value.field == "updated_at"
    assert refused.value.status == 422
    assert (all_stock(db), _orders(db)) == (before, 0)
    # A time zone that pushes it past year 9999 in UTC is refused the same way.
    beyond = replace(far, updated_at=datetime.fromisoformat("9999-12-31T23:30:00-05:00"))
    with pytest.raises(ValidationFailed) as overflow:
        service.ingest_order(db, beyond)
    assert overflow.value.field == "updated_at"
    assert (all_stock(db), _orders(db)) == (before, 0)


def test_a_far_future_update_cannot_pin_an_order_its_cancellation_still_applies(
    db: Database,
) -> None:
    shop = seed_shop(db)
    now = utcnow()
    first = service.ingest_order(db, replace(market_order(shop, "M-2", [("A", 2)]), updated_at=now))
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 2)
    pinned = replace(
        market_order(shop, "M-2", [("A", 1)]), updated_at=datetime(9999, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(ValidationFailed):
        service.ingest_order(db, pinned)
    assert service.get_order(db, order_id=first.id).version == 1
    # A little ahead of our clock (within the skew) is accepted ...
    ahead = now + MAX_FUTURE_SKEW - timedelta(minutes=1)
    cancel = replace(market_order(shop, "M-2", [("A", 2)], cancelled=True), updated_at=ahead)
    cancelled = service.ingest_order(db, cancel)
    # ... and the real cancellation frees the stock.
    assert cancelled.status == "cancelled"
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 0)
    assert_reconciles(db)


def test_a_time_without_a_zone_is_taken_as_utc(db: Database) -> None:
    shop = seed_shop(db)
    naive = utcnow().replace(tzinfo=None)
    order = service.ingest_order(
        db, replace(market_order(shop, "M-3", [("A", 1)]), updated_at=naive)
    )
    assert order.status == "confirmed"
    too_far = naive + MAX_FUTURE_SKEW + timedelta(minutes=5)
    with pytest.raises(ValidationFailed) as refused:
        service.ingest_order(db, replace(market_order(shop, "M-4", [("A", 1)]), updated_at=too_far))
    assert refused.value.field == "updated_at"
    assert _orders(db) == 1


def test_units_that_left_may_be_returned_while_the_rest_is_still_to_leave(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (10, 2, 0), "B": (5, 0, 0)})
    order = service.ingest_order(
        db, replace(market_order(shop, "M-5", [("A", 12), ("B", 1)]), channel_id=shop.web)
    )
    assert order.routing is not None
    assert sorted((s["location"], s["sku"], s["quantity"]) for s in order.routing["plan"]) == [
        ("krk", "A", 2),
        ("wh", "A", 10),
        ("wh", "B", 1),
    ]
    part = fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="DHL", tracking_number="1Z"
    )
    assert part.status == "partially_fulfilled"
    assert [(line.quantity, line.fulfilled) for line in part.lines] == [(12, 10), (1, 1)]
    # Only units that left may come back: 10 of line 1, not the 2 still in Kraków.
    with pytest.raises(ValidationFailed, match="has 10 unit") as beyond:
        returns.open_return(
            db,
            order_id=order.id,
            channel_id=shop.pos,
            lines=[returns.ReturnLineRequest(1, 11, "too many")],
        )
    assert beyond.value.field == "lines.0.quantity"
    opened = returns.open_return(
        db,
        order_id=order.id,
        channel_id=shop.pos,
        lines=[returns.ReturnLineRequest(2, 1, "broken")],
    )
    assert opened.value == Decimal("19.99")
    returns.receive_return(db, return_id=opened.id, location_id=shop.krakow)
    returns.refund_return(db, return_id=opened.id)
    mid = service.get_order(db, order_id=order.id)
    # Two units are still owed: the order stays partially fulfilled, its return counted.
    assert mid.status == "partially_fulfilled"
    assert [(line.fulfilled, line.returned) for line in mid.lines] == [(10, 0), (1, 1)]
    assert mid.refunded == Decimal("19.99")
    done = fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.krakow, carrier="DHL", tracking_number="2Z"
    )
    # Everything left; what came back shows.
    assert done.status == "partially_returned"
    assert [(t.from_status, t.to_status) for t in done.transitions][-2:] == [
        ("confirmed", "partially_fulfilled"),
        ("partially_fulfilled", "partially_returned"),
    ]
    with pytest.raises(Conflict, match="partially_returned and cannot become completed"):
        service.complete_order(db, order_id=order.id)
    assert figures(db, shop, "B", shop.krakow) == (1, 0, 0)  # restocked where it arrived
    assert_reconciles(db)
