"""Races on real PostgreSQL: the same points spent at once in several channels are spent
once, and syncs running side by side apply each order event once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from omnicart.loyalty import service as loyalty
from omnicart.loyalty.feed import sync_loyalty
from omnicart.loyalty.model import InsufficientPoints
from omnicart.loyalty.tables import LoyaltyEntry
from tests.loyalty_support import ANN, market_buy, sync_all, till_buy, with_rules
from tests.orders_support import assert_reconciles, seed_shop

pytestmark = pytest.mark.postgres


def _race(work: list[Callable[[], object]]) -> list[object]:
    start = threading.Barrier(len(work))

    def run(job: Callable[[], object]) -> object:
        start.wait()
        try:
            return job()
        except InsufficientPoints as exc:
            return exc

    with ThreadPoolExecutor(len(work)) as pool:
        return list(pool.map(run, work))


def test_concurrent_redemptions_never_overdraw(pg_db: Database) -> None:
    db = pg_db
    shop = seed_shop(db, stock={"A": (10, 20, 2)})
    with_rules(db, shop)
    market_buy(db, shop, "M-1", 3)  # 59.97 at 2 points per EUR: 119
    sync_all(db)
    with db.transaction() as session:
        profile = observe(session, identifiers=[("email", ANN)], channel_id=None, source="t")
    assert profile is not None

    def voucher(n: int) -> Callable[[], object]:
        return lambda: loyalty.redeem(
            db, profile_id=profile, channel_id=shop.web, points=30, reference=f"v-{n}"
        )

    def sale() -> object:
        return till_buy(db, shop, price="10.00", paid="9.70", redeem=30)

    results = _race([voucher(n) for n in range(4)] + [sale] * 4)
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(results) - len(refused), len(refused)) == (3, 5)  # 119 // 30
    summary = loyalty.customer_loyalty(db, profile_id=profile)
    assert (summary.balance, summary.redeemed) == (29, 90)
    assert_reconciles(db)  # refused sales left no stock behind


def test_syncs_side_by_side_apply_each_event_once(pg_db: Database) -> None:
    db = pg_db
    shop = seed_shop(db, stock={"A": (40, 0, 0)})
    with_rules(db, shop)
    for n in range(12):
        market_buy(db, shop, f"M-{n}", 1, email=f"buyer{n}@poczta.pl")
    written = _race([lambda: sync_loyalty(db, batch=3) for _ in range(4)])
    assert sum(int(str(w)) for w in written) + sync_all(db) == 12
    with db.reading() as session:
        keys = list(session.scalars(select(LoyaltyEntry.entry_key)))
    assert len(keys) == len(set(keys)) == 12
