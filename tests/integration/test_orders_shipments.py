"""Shipments of chosen lines and quantities, on SQLite and PostgreSQL: what ships is
what was chosen, never more than a line still owes or the location holds for it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound, ValidationFailed
from omnicart.orders import fulfilment, service
from omnicart.orders.fulfilment import ShipmentLine
from tests.orders_support import all_stock, assert_reconciles, figures, market_order, seed_shop


def _lines(db: Database, order_id: int) -> list[tuple[str, int, int]]:
    order = service.get_order(db, order_id=order_id)
    return [(line.sku, line.quantity, line.fulfilled) for line in order.lines]


def test_a_shipment_of_chosen_lines_ships_only_those_units(db: Database) -> None:
    shop = seed_shop(db)
    order = service.ingest_order(db, market_order(shop, "M-1", [("A", 3), ("B", 2), ("A", 1)]))
    assert figures(db, shop, "A", shop.warehouse) == (10, 0, 4)
    first = fulfilment.create_shipment(
        db,
        order_id=order.id,
        location_id=shop.warehouse,
        carrier="DHL",
        tracking_number="1Z",
        lines=[ShipmentLine(3, 1), ShipmentLine(1, 2)],
    )
    assert first.status == "partially_fulfilled"
    assert _lines(db, order.id) == [("A", 3, 2), ("B", 2, 0), ("A", 1, 1)]
    assert first.fulfilments[-1].items == [{"sku": "A", "quantity": 3}]
    assert figures(db, shop, "A", shop.warehouse) == (7, 0, 1)
    assert figures(db, shop, "B", shop.warehouse) == (5, 0, 2)
    # Without lines, the rest of what the warehouse holds ships: one A, two B.
    rest = fulfilment.create_shipment(
        db, order_id=order.id, location_id=shop.warehouse, carrier="DHL", tracking_number="2Z"
    )
    assert rest.status == "fulfilled"
    assert _lines(db, order.id) == [("A", 3, 3), ("B", 2, 2), ("A", 1, 1)]
    assert figures(db, shop, "A", shop.warehouse) == (6, 0, 0)
    assert figures(db, shop, "B", shop.warehouse) == (3, 0, 0)
    assert_reconciles(db)


def test_more_than_a_line_owes_or_the_location_holds_is_refused(db: Database) -> None:
    shop = seed_shop(db, stock={"A": (10, 2, 0), "B": (5, 0, 0)})
    order = service.ingest_order(
        db, replace(market_order(shop, "M-2", [("A", 12), ("B", 2)]), channel_id=shop.web)
    )
    stock, lines = all_stock(db), _lines(db, order.id)

    def ship(location: int, *chosen: ShipmentLine) -> None:
        fulfilment.create_shipment(
            db,
            order_id=order.id,
            location_id=location,
            carrier="DHL",
            tracking_number="",
            lines=list(chosen),
        )

    # Kraków holds 2 of line 1's 12.
    with pytest.raises(ValidationFailed, match=r"has 2 unit\(s\) to ship from") as held:
        ship(shop.krakow, ShipmentLine(1, 3))
    assert held.value.field == "lines.0.quantity"
    # Line 2 owes 2 units.
    with pytest.raises(ValidationFailed, match=r"line 2 \(B\) has 2 unit") as owed:
        ship(shop.warehouse, ShipmentLine(1, 1), ShipmentLine(2, 3))
    assert owed.value.field == "lines.1.quantity"
    with pytest.raises(ValidationFailed) as zero:
        ship(shop.warehouse, ShipmentLine(2, 0))
    assert zero.value.field == "lines.0.quantity"
    with pytest.raises(NotFound) as unknown:
        ship(shop.warehouse, ShipmentLine(9, 1))
    assert unknown.value.field == "lines.0.line_no"
    with pytest.raises(ValidationFailed) as twice:
        ship(shop.warehouse, ShipmentLine(2, 1), ShipmentLine(2, 1))
    assert twice.value.field == "lines.1.line_no"
    with pytest.raises(ValidationFailed) as empty:
        ship(shop.warehouse)
    assert empty.value.field == "lines"
    assert (all_stock(db), _lines(db, order.id)) == (stock, lines)
    assert service.get_order(db, order_id=order.id).status == "confirmed"
    # What Kraków holds ships, then the warehouse's part of line 1 in two shipments.
    ship(shop.krakow, ShipmentLine(1, 2))
    ship(shop.warehouse, ShipmentLine(1, 9))
    with pytest.raises(ValidationFailed, match=r"has 1 unit\(s\)"):
        ship(shop.warehouse, ShipmentLine(1, 2))
    done = fulfilment.create_shipment(
        db,
        order_id=order.id,
        location_id=shop.warehouse,
        carrier="DHL",
        tracking_number="",
        lines=[ShipmentLine(2, 2), ShipmentLine(1, 1)],
    )
    assert done.status == "fulfilled"
    assert figures(db, shop, "A", shop.warehouse) == (0, 0, 0)
    assert figures(db, shop, "A", shop.krakow) == (0, 0, 0)
    assert_reconciles(db)
