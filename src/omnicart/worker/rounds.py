"""The background rounds: what runs, in this order, each round.

Each step is one or more short transactions that claim their own work (conditional
updates, feed positions committed with the work), so a round cut short by a crash is
simply run again: nothing is lost, nothing is done twice. That is also why a step is safe
in several processes at once; the worker's lease only keeps them from racing for nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from omnicart.customers.erasure_steps import finish_erasures
from omnicart.customers.service import sync_customers
from omnicart.db.engine import Database
from omnicart.inventory.service import expire_reservations
from omnicart.loyalty.expiry import expire_points
from omnicart.loyalty.feed import sync_loyalty
from omnicart.orders.fulfilment import expire_pickups

log = logging.getLogger(__name__)

Step = Callable[[Database], int]

ROUNDS: tuple[tuple[str, Step], ...] = (
    # Expiry is what frees holds left behind by crashed or abandoned clients.
    ("expiring reservations", expire_reservations),
    # Pickup orders nobody collected in their window go back on sale too.
    ("expiring pickups", expire_pickups),
    # Orders of every channel attach to their customer, then earn (or lose) points.
    ("attaching orders to customers", sync_customers),
    ("loyalty from orders", sync_loyalty),
    # Points past the program's validity lapse (only when the setting turns expiry on).
    ("expiring loyalty points", expire_points),
    # Erasures whose event-store step failed are retried, with backoff, until done.
    ("finishing erasures", finish_erasures),
)


def run_round(db: Database, steps: tuple[tuple[str, Step], ...] = ROUNDS) -> int:
    """Run every step once; the work done. A failing step is logged and the others run."""
    done = 0
    for what, step in steps:
        try:
            done += step(db)
        except Exception:
            log.exception("%s failed; retrying next round", what)
    return done
