"""Property-based: random sequences of receive / reserve / release / expire / allocate /
ship / transfer / count / adjust / write-off keep every invariant after every step."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.inventory import queries, service
from omnicart.inventory.model import BufferPolicy
from omnicart.kernel.clock import set_clock
from omnicart.kernel.errors import Conflict, InsufficientStock
from tests.support import add_channel, add_location, add_variant

SKUS = ["A", "B", "C"]
_TEMPLATE: list[Path] = []


def _template() -> Path:
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp()) / "template.db"
        db = Database.from_url(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


class InventoryMachine(RuleBasedStateMachine):
    """Drives the real service on a real SQLite file and checks the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        shutil.copy(_template(), self.dir / "db.sqlite")
        self.db = Database.from_url(f"sqlite:///{self.dir / 'db.sqlite'}")
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        set_clock(lambda: self.now)
        self.total: dict[str, int] = defaultdict(int)  # units owned: on hand + in transit
        self.active: list[int] = []
        self.allocated: list[int] = []
        self.transfers: list[int] = []

    @initialize()
    def seed(self) -> None:
        with self.db.transaction() as s:
            self.locs = [
                add_location(s, "wh", priority=1),
                add_location(s, "store", kind="store", priority=2, pickup=True),
            ]
            for sku in SKUS:
                add_variant(s, sku)
            self.channels = {
                add_channel(s, "web", ship=tuple(self.locs)): BufferPolicy(),
                add_channel(
                    s,
                    "allegro",
                    kind="marketplace",
                    percent_shown=80,
                    units_held_back=2,
                    ship=(self.locs[0],),
                ): BufferPolicy(80, 2),
            }

    def teardown(self) -> None:
        set_clock(None)
        self.db.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _snapshot(self) -> list[tuple[object, ...]]:
        with self.db.reading() as s:
            return [
                (r.sku, r.location_id, r.on_hand, r.reserved, r.allocated)
                for r in queries.stock_rows(s, limit=1000)
            ]

    def _refused(self, call: object) -> bool:
        """Run a call that may be refused; a refusal must change nothing."""
        before = self._snapshot()
        try:
            call()  # type: ignore[operator]
        except (InsufficientStock, Conflict):
            assert self._snapshot() == before
            return True
        return False

    @rule(sku=st.sampled_from(SKUS), loc=st.integers(0, 1), qty=st.integers(1, 20))
    def receive(self, sku: str, loc: int, qty: int) -> None:
        service.receive_stock(self.db, location_id=self.locs[loc], lines=[(sku, qty)])
        self.total[sku] += qty

    @rule(
        sku=st.sampled_from(SKUS),
        other=st.sampled_from(SKUS),
        qty=st.integers(1, 8),
        channel=st.integers(0, 1),
        ttl=st.integers(1, 120),
    )
    def reserve(self, sku: str, other: str, qty: int, channel: int, ttl: int) -> None:
        channel_id = list(self.channels)[channel]
        lines = [(sku, qty)] if sku == other else [(sku, qty), (other, 1)]
        result: list[int] = []

        def call() -> None:
            result.append(
                service.reserve_stock(
                    self.db,
                    channel_id=channel_id,
                    lines=lines,
                    ttl_seconds=ttl,
                    idempotency_key=f"k{len(self.active) + len(self.allocated)}-{self.now}-{sku}"
                    f"{other}{qty}",
                ).id
            )

        if not self._refused(call):
            self.active.append(result[0])

    @precondition(lambda self: self.active)
    @rule(pick=st.integers(0, 100))
    def release(self, pick: int) -> None:
        rid = self.active.pop(pick % len(self.active))
        view = service.release_reservation(self.db, reservation_id=rid)
        assert view.status in ("released", "expired")

    @rule(seconds=st.integers(1, 150))
    def time_passes_and_holds_expire(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        service.expire_reservations(self.db)
        still = []
        for rid in self.active:
            if service.get_reservation(self.db, reservation_id=rid).status == "active":
                still.append(rid)
        self.active = still

    @precondition(lambda self: self.active)
    @rule(pick=st.integers(0, 100))
    def allocate(self, pick: int) -> None:
        rid = self.active.pop(pick % len(self.active))
        service.allocate_reservation(self.db, reservation_id=rid)
        self.allocated.append(rid)

    @precondition(lambda self: self.allocated)
    @rule(pick=st.integers(0, 100))
    def ship(self, pick: int) -> None:
        rid = self.allocated.pop(pick % len(self.allocated))
        view = service.ship_allocation(self.db, reservation_id=rid)
        for line in view.lines:
            self.total[line.sku] -= line.quantity

    @rule(sku=st.sampled_from(SKUS), src=st.integers(0, 1), qty=st.integers(1, 10))
    def transfer(self, sku: str, src: int, qty: int) -> None:
        made: list[int] = []

        def call() -> None:
            made.append(
                service.create_transfer(
                    self.db,
                    from_location_id=self.locs[src],
                    to_location_id=self.locs[1 - src],
                    lines=[(sku, qty)],
                ).id
            )

        if not self._refused(call):
            self.transfers.append(made[0])

    @precondition(lambda self: self.transfers)
    @rule()
    def transfer_arrives(self) -> None:
        service.receive_transfer(self.db, transfer_id=self.transfers.pop(0))

    @rule(sku=st.sampled_from(SKUS), loc=st.integers(0, 1), counted=st.integers(0, 30))
    def count(self, sku: str, loc: int, counted: int) -> None:
        out: list[int] = []

        def call() -> None:
            _, lines = service.record_count(
                self.db, location_id=self.locs[loc], lines=[(sku, counted)]
            )
            out.append(lines[0].variance)

        if not self._refused(call):
            self.total[sku] += out[0]

    @rule(sku=st.sampled_from(SKUS), loc=st.integers(0, 1), delta=st.integers(-10, 10).filter(bool))
    def adjust(self, sku: str, loc: int, delta: int) -> None:
        def call() -> None:
            service.adjust_stock(
                self.db, location_id=self.locs[loc], sku=sku, delta=delta, reason="property test"
            )

        if not self._refused(call):
            self.total[sku] += delta

    @rule(sku=st.sampled_from(SKUS), loc=st.integers(0, 1), qty=st.integers(1, 5))
    def write_off(self, sku: str, loc: int, qty: int) -> None:
        def call() -> None:
            service.write_off_stock(
                self.db, location_id=self.locs[loc], lines=[(sku, qty)], reason="damaged"
            )

        if not self._refused(call):
            self.total[sku] -= qty

    @invariant()
    def figures_hold(self) -> None:
        if not hasattr(self, "locs"):
            return
        with self.db.reading() as s:
            rows = queries.stock_rows(s, limit=1000)
            assert queries.reconcile(s) == []
            transit = queries.in_transit(s)
            for sku in SKUS:
                on_hand = sum(r.on_hand for r in rows if r.sku == sku)
                assert on_hand + transit.get(sku, 0) == self.total[sku]
            for r in rows:
                assert min(r.on_hand, r.reserved, r.allocated, r.available) >= 0
            for channel_id, policy in self.channels.items():
                seen = queries.channel_availability(s, channel_id=channel_id, skus=SKUS)
                pool = self.locs if policy == BufferPolicy() else self.locs[:1]
                for sku in SKUS:
                    pooled = sum(
                        r.available for r in rows if r.sku == sku and r.location_id in pool
                    )
                    assert seen[sku] == policy.sellable(pooled)


@pytest.mark.slow
def test_inventory_invariants_hold_under_random_operations() -> None:
    run = InventoryMachine.TestCase
    run.settings = settings(
        max_examples=30,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()
