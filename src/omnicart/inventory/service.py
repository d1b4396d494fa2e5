"""Inventory use cases (being written)."""

from __future__ import annotations

from omnicart.db.engine import Database


def expire_reservations(db: Database) -> int:
    """Release every active reservation past its expiry; returns how many."""
    del db
    return 0
