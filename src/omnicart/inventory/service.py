"""Inventory use cases, one transaction each: the names the API, CLI, importers and other
capabilities call. Reservations live in `reservations`, stock operations in `stock`."""

from __future__ import annotations

from omnicart.inventory.reservations import (
    ReservationLineView,
    ReservationView,
    allocate_reservation,
    deallocate_reservation,
    expire_reservations,
    get_reservation,
    release_reservation,
    reserve_stock,
    ship_allocation,
)
from omnicart.inventory.stock import (
    CountLineView,
    TransferView,
    adjust_stock,
    create_transfer,
    receive_stock,
    receive_transfer,
    record_count,
    restock_return,
    write_off_stock,
)

__all__ = [
    "CountLineView",
    "ReservationLineView",
    "ReservationView",
    "TransferView",
    "adjust_stock",
    "allocate_reservation",
    "create_transfer",
    "deallocate_reservation",
    "expire_reservations",
    "get_reservation",
    "receive_stock",
    "receive_transfer",
    "record_count",
    "release_reservation",
    "reserve_stock",
    "restock_return",
    "ship_allocation",
    "write_off_stock",
]
