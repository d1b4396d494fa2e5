"""Zero oversell under real concurrency: threads with their own connections, on SQLite
and on PostgreSQL. The ledger is replayed to prove every grant respected its buffer."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from omnicart.catalog.tables import Variant
from omnicart.channels.policy import load_channel_policy
from omnicart.db.engine import Database
from omnicart.inventory import queries, service
from omnicart.inventory.model import BufferPolicy
from omnicart.inventory.tables import Movement, Reservation, ReservationLine
from omnicart.kernel.errors import InsufficientStock
from tests.support import add_channel, add_location, add_variant

HOT_STOCK = {"HOT-1": {"wh": 20}, "HOT-2": {"wh": 7, "store": 5}, "HOT-3": {"wh": 3}}
WORKERS_PER_CHANNEL = 7  # 5 channels -> 35 concurrent workers


def _seed(db: Database) -> dict[str, int]:
    with db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2, pickup=True)
        for sku in HOT_STOCK:
            add_variant(s, sku)
        ids = {
            "wh": wh,
            "store": store,
            "web": add_channel(s, "web", ship=(wh, store), pickup=(store,)),
            "app": add_channel(s, "app", kind="app", ship=(wh,)),
            "allegro": add_channel(
                s,
                "allegro",
                kind="marketplace",
                currency="PLN",
                percent_shown=80,
                units_held_back=2,
                ship=(wh,),
            ),
            "instagram": add_channel(
                s, "instagram", kind="social", percent_shown=50, units_held_back=1, ship=(wh,)
            ),
            "pos": add_channel(s, "pos", kind="pos", pickup=(store,), ship=(store,)),
        }
    for sku, places in HOT_STOCK.items():
        for place, units in places.items():
            service.receive_stock(db, location_id=ids[place], lines=[(sku, units)])
    return ids


def _hammer(
    db: Database, ids: dict[str, int], channel: str, worker: int, start: threading.Barrier
) -> dict[str, int]:
    """Reserve 1-2 units of random hot SKUs until the channel is refused even one."""
    rng = random.Random(worker)
    granted: dict[str, int] = defaultdict(int)
    open_skus = set(HOT_STOCK)
    start.wait()
    attempt = 0
    while open_skus:
        sku = rng.choice(sorted(open_skus))
        quantity = 1 if attempt % 3 else 2
        attempt += 1
        try:
            r = service.reserve_stock(
                db,
                channel_id=ids[channel],
                lines=[(sku, quantity)],
                idempotency_key=f"{channel}-{worker}-{attempt}",
            )
        except InsufficientStock:
            if quantity == 1:
                open_skus.discard(sku)
            continue
        granted[sku] += sum(line.quantity for line in r.lines)
    return granted


def _replay_ledger_respects_buffers(db: Database, ids: dict[str, int]) -> None:
    """Walk the ledger in commit order and check each grant against its channel's view."""
    with db.reading() as s:
        policies = {
            cid: load_channel_policy(s, channel_id=cid)
            for name, cid in ids.items()
            if name not in ("wh", "store")
        }
        moves = s.execute(select(Movement).order_by(Movement.id)).scalars().all()
    available: dict[tuple[int, int], int] = defaultdict(int)
    by_reservation: dict[int, list[Movement]] = defaultdict(list)
    order: list[int] = []
    for m in moves:
        if m.reservation_id is None:  # the receipts, all made before the race
            available[(m.variant_id, m.location_id)] += m.delta_on_hand
            continue
        if m.reservation_id not in by_reservation:
            order.append(m.reservation_id)
        by_reservation[m.reservation_id].append(m)
    for rid in order:
        group = by_reservation[rid]
        policy = policies[group[0].channel_id or 0]
        pool = policy.ship_locations
        if {m.location_id for m in group} - set(pool):
            pool = tuple({m.location_id for m in group})
        buffer = BufferPolicy(policy.percent_shown, policy.units_held_back)
        for variant_id in {m.variant_id for m in group}:
            wanted = sum(m.delta_reserved for m in group if m.variant_id == variant_id)
            pooled = sum(available[(variant_id, loc)] for loc in pool)
            assert wanted <= buffer.sellable(pooled), (rid, policy.code, wanted, pooled)
        for m in group:
            available[(m.variant_id, m.location_id)] -= m.delta_reserved
            assert available[(m.variant_id, m.location_id)] >= 0


@pytest.mark.slow
def test_many_channels_racing_for_hot_skus_never_oversell(db: Database) -> None:
    ids = _seed(db)
    channels = ["web", "app", "allegro", "instagram", "pos"]
    jobs = [(c, i) for c in channels for i in range(WORKERS_PER_CHANNEL)]
    start = threading.Barrier(len(jobs))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(
            pool.map(lambda job: _hammer(db, ids, job[0], hash(job) % 10_000, start), jobs)
        )
    granted: dict[str, int] = defaultdict(int)
    for result in results:
        for sku, units in result.items():
            granted[sku] += units
    # Every unit was sold exactly once: the web channel (no buffer) mops up the rest.
    assert dict(granted) == {sku: sum(p.values()) for sku, p in HOT_STOCK.items()}
    with db.reading() as s:
        rows = queries.stock_rows(s)
        assert all(r.on_hand >= 0 and r.reserved >= 0 and r.allocated >= 0 for r in rows)
        assert all(r.available == 0 for r in rows)
        assert sum(r.reserved for r in rows) == sum(granted.values())
        assert queries.reconcile(s) == []
        held = s.scalars(select(ReservationLine.quantity)).all()
        assert sum(held) == sum(granted.values())
        skus = dict(s.execute(select(Variant.sku, Variant.id)).all())
    assert set(skus) == set(HOT_STOCK)
    _replay_ledger_respects_buffers(db, ids)


def test_same_reservation_delivered_ten_times_concurrently_is_one(db: Database) -> None:
    ids = _seed(db)
    start = threading.Barrier(10)

    def deliver(_: int) -> int:
        start.wait()
        return service.reserve_stock(
            db, channel_id=ids["allegro"], lines=[("HOT-1", 3)], idempotency_key="order-123"
        ).id

    with ThreadPoolExecutor(max_workers=10) as pool:
        got = set(pool.map(deliver, range(10)))
    assert len(got) == 1
    with db.reading() as s:
        assert len(s.scalars(select(Reservation)).all()) == 1
        rows = {(r.sku, r.location_id): r.reserved for r in queries.stock_rows(s)}
        assert rows[("HOT-1", ids["wh"])] == 3
        assert queries.reconcile(s) == []


def test_release_and_allocate_racing_on_one_reservation(db: Database) -> None:
    ids = _seed(db)
    r = service.reserve_stock(
        db, channel_id=ids["web"], lines=[("HOT-1", 5)], idempotency_key="contested"
    )
    start = threading.Barrier(8)

    def act(i: int) -> str:
        start.wait()
        try:
            if i % 2:
                return service.release_reservation(db, reservation_id=r.id).status
            return service.allocate_reservation(db, reservation_id=r.id).status
        except Exception as exc:  # the loser is told why
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(act, range(8)))
    final = service.get_reservation(db, reservation_id=r.id).status
    assert final in ("released", "allocated")
    assert set(outcomes) <= {final, "Conflict"}
    with db.reading() as s:
        assert queries.reconcile(s) == []


def test_repeat_of_a_reservation_that_took_the_last_units_is_a_replay(db: Database) -> None:
    ids = _seed(db)
    first = service.reserve_stock(
        db, channel_id=ids["web"], lines=[("HOT-3", 3)], idempotency_key="last-units"
    )
    again = service.reserve_stock(
        db, channel_id=ids["web"], lines=[("HOT-3", 3)], idempotency_key="last-units"
    )
    assert (again.id, again.replayed) == (first.id, True)
    start = threading.Barrier(8)

    def deliver(_: int) -> int:
        start.wait()
        return service.reserve_stock(
            db, channel_id=ids["web"], lines=[("HOT-3", 3)], idempotency_key="last-units"
        ).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(deliver, range(8))) == {first.id}
