"""Inventory use cases on SQLite and PostgreSQL: exact figures, ledger, events."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from omnicart.catalog.tables import Variant
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.inventory import queries, reservations, service
from omnicart.inventory.tables import Movement, Reservation, StockLevel
from omnicart.kernel.clock import set_clock, utcnow
from omnicart.kernel.errors import (
    Conflict,
    Forbidden,
    InsufficientStock,
    NotFound,
    ValidationFailed,
)
from tests.support import add_channel, add_location, add_variant


@pytest.fixture
def merchant(db: Database) -> dict[str, int]:
    with db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2, pickup=True)
        a = add_variant(s, "A")
        b = add_variant(s, "B", low_stock_threshold=2)
        add_variant(s, "KIT", components={a: 2, b: 1})
        web = add_channel(s, "web", ship=(wh, store), pickup=(store,))
        allegro = add_channel(
            s,
            "allegro",
            kind="marketplace",
            currency="PLN",
            percent_shown=80,
            units_held_back=2,
            ship=(wh,),
        )
    service.receive_stock(db, location_id=wh, lines=[("A", 10), ("B", 3)])
    service.receive_stock(db, location_id=store, lines=[("A", 4)])
    return {"wh": wh, "store": store, "web": web, "allegro": allegro}


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as s:
        return (
            s.scalar(select(func.count()).select_from(Movement)) or 0,
            s.scalar(select(func.count()).select_from(Reservation)) or 0,
        )


def test_channel_availability_applies_buffer_and_bundles(
    db: Database, merchant: dict[str, int]
) -> None:
    with db.reading() as s:
        web = queries.channel_availability(s, channel_id=merchant["web"], skus=["A", "B", "KIT"])
        allegro = queries.channel_availability(
            s, channel_id=merchant["allegro"], skus=["A", "B", "KIT"]
        )
        store = queries.location_availability(s, location_id=merchant["store"], skus=["A"])
    assert web == {"A": 14, "B": 3, "KIT": 3}
    # Allegro sees the warehouse only: A min(10*80%=8, 10-2=8)=8; B min(2, 1)=1; KIT min(4, 1)=1
    assert allegro == {"A": 8, "B": 1, "KIT": 1}
    assert store == {"A": 4}


def test_reserve_release_allocate_ship_and_ledger(db: Database, merchant: dict[str, int]) -> None:
    r = service.reserve_stock(
        db, channel_id=merchant["web"], lines=[("KIT", 2)], idempotency_key="cart-1"
    )
    assert r.status == "active"
    assert sorted((ln.sku, ln.requested_sku, ln.location_id, ln.quantity) for ln in r.lines) == [
        ("A", "KIT", merchant["wh"], 4),
        ("B", "KIT", merchant["wh"], 2),
    ]
    again = service.reserve_stock(
        db, channel_id=merchant["web"], lines=[("KIT", 2)], idempotency_key="cart-1"
    )
    assert again.id == r.id
    assert again.replayed
    with pytest.raises(Conflict):
        service.reserve_stock(
            db, channel_id=merchant["web"], lines=[("KIT", 1)], idempotency_key="cart-1"
        )
    service.allocate_reservation(db, reservation_id=r.id)
    shipped = service.ship_allocation(db, reservation_id=r.id)
    assert [ln.shipped for ln in shipped.lines] == [4, 2]
    with db.reading() as s:
        rows = {
            (x.sku, x.location_id): (x.on_hand, x.reserved, x.allocated)
            for x in queries.stock_rows(s)
        }
        assert rows[("A", merchant["wh"])] == (6, 0, 0)
        assert rows[("B", merchant["wh"])] == (1, 0, 0)
        assert queries.reconcile(s) == []
        events = [e.event_type for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    # A arrived at the store with 4 (threshold 5: low at once); B went 3 -> 1 at the
    # warehouse (threshold 2).
    assert events == [
        "StockBackInStock",
        "StockBackInStock",
        "StockBackInStock",
        "StockLow",
        "StockLow",
    ]


def test_insufficient_stock_changes_nothing(db: Database, merchant: dict[str, int]) -> None:
    before = _counts(db)
    with pytest.raises(InsufficientStock) as info:
        service.reserve_stock(
            db, channel_id=merchant["allegro"], lines=[("A", 9)], idempotency_key="too-many"
        )
    assert info.value.extra["shortages"] == [{"sku": "A", "requested": 9, "sellable": 8}]
    assert _counts(db) == before


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([("NOPE", 1)], NotFound),
        ([("A", 0)], ValidationFailed),
        ([("A", -1)], ValidationFailed),
        ([("A", 1.5)], ValidationFailed),
        ([], ValidationFailed),
    ],
)
def test_bad_reservation_input_changes_nothing(
    db: Database, merchant: dict[str, int], lines: list[tuple[str, int]], error: type
) -> None:
    before = _counts(db)
    with pytest.raises(error):
        service.reserve_stock(db, channel_id=merchant["web"], lines=lines, idempotency_key="k")
    with pytest.raises(NotFound):
        service.reserve_stock(db, channel_id=999, lines=[("A", 1)], idempotency_key="k")
    assert _counts(db) == before


def test_expiry_frees_holds(db: Database, merchant: dict[str, int]) -> None:
    r = service.reserve_stock(
        db, channel_id=merchant["web"], lines=[("A", 3)], idempotency_key="cart-x", ttl_seconds=60
    )
    assert service.expire_reservations(db) == 0
    later = utcnow() + timedelta(seconds=61)
    set_clock(lambda: later)
    try:
        with pytest.raises(Conflict):
            service.allocate_reservation(db, reservation_id=r.id)
        assert service.expire_reservations(db) == 1
    finally:
        set_clock(None)
    assert service.get_reservation(db, reservation_id=r.id).status == "expired"
    with db.reading() as s:
        assert queries.reconcile(s) == []
        assert queries.channel_availability(s, channel_id=merchant["web"], skus=["A"]) == {"A": 14}


def test_transfer_and_count(db: Database, merchant: dict[str, int]) -> None:
    t = service.create_transfer(
        db, from_location_id=merchant["wh"], to_location_id=merchant["store"], lines=[("A", 5)]
    )
    with db.reading() as s:
        assert queries.in_transit(s) == {"A": 5}
        assert queries.channel_availability(s, channel_id=merchant["web"], skus=["A"]) == {"A": 9}
    service.receive_transfer(db, transfer_id=t.id)
    with pytest.raises(Conflict):
        service.receive_transfer(db, transfer_id=t.id)
    count_id, lines = service.record_count(
        db, location_id=merchant["store"], lines=[("A", 7), ("B", 1)]
    )
    assert [(x.sku, x.expected, x.counted, x.variance) for x in lines] == [
        ("A", 9, 7, -2),
        ("B", 0, 1, 1),
    ]
    service.reserve_stock(
        db,
        channel_id=merchant["web"],
        lines=[("A", 7)],
        idempotency_key="hold-store",
        location_id=merchant["store"],
    )
    with pytest.raises(InsufficientStock):
        service.record_count(db, location_id=merchant["store"], lines=[("A", 6)])
    with db.reading() as s:
        assert queries.in_transit(s) == {}
        assert queries.reconcile(s) == []
    assert count_id > 0


def test_postgres_fast_path_serves_plain_reservations(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a plain reservation never needs the general path; odd SKUs survive."""
    odd = 'A"B,{C}\\D'
    with pg_db.transaction() as s:
        wh = add_location(s, "wh")
        add_variant(s, odd)
        web = add_channel(s, "web", ship=(wh,))
    service.receive_stock(pg_db, location_id=wh, lines=[(odd, 5)])

    def general_path(*_a: object, **_k: object) -> None:
        raise AssertionError("the general path was used")

    monkeypatch.setattr(reservations, "_reserve_general", general_path)
    r = service.reserve_stock(pg_db, channel_id=web, lines=[(odd, 2)], idempotency_key="k1")
    assert [(ln.sku, ln.requested_sku, ln.quantity) for ln in r.lines] == [(odd, odd, 2)]
    with pg_db.reading() as s:
        assert queries.reconcile(s) == []
        assert queries.channel_availability(s, channel_id=web, skus=[odd]) == {odd: 3}
    with pytest.raises(AssertionError):  # a replay is answered by the general path
        service.reserve_stock(pg_db, channel_id=web, lines=[(odd, 2)], idempotency_key="k1")


def test_shipped_reservation_cannot_be_deallocated(db: Database, merchant: dict[str, int]) -> None:
    r = service.reserve_stock(
        db, channel_id=merchant["web"], lines=[("A", 2)], idempotency_key="ship-me"
    )
    service.allocate_reservation(db, reservation_id=r.id)
    shipped = service.ship_allocation(db, reservation_id=r.id)
    assert shipped.status == "shipped"
    before = _counts(db)
    with pytest.raises(Conflict) as info:
        service.deallocate_reservation(db, reservation_id=r.id)
    assert info.value.extra["status_now"] == "shipped"
    with pytest.raises(Conflict):
        service.ship_allocation(db, reservation_id=r.id)
    assert _counts(db) == before
    with db.reading() as s:
        assert queries.reconcile(s) == []
        assert [x.id for x in queries.list_reservations(s, status="shipped")] == [r.id]
        assert queries.list_reservations(s, status="allocated") == []


def test_ship_at_a_location_refuses_holds_elsewhere(db: Database, merchant: dict[str, int]) -> None:
    r = service.reserve_stock(
        db, channel_id=merchant["web"], lines=[("A", 1)], idempotency_key="at-wh"
    )
    service.allocate_reservation(db, reservation_id=r.id)
    before = _counts(db)
    with pytest.raises(Forbidden):
        service.ship_allocation(db, reservation_id=r.id, at_location_id=merchant["store"])
    assert _counts(db) == before
    assert (
        service.ship_allocation(db, reservation_id=r.id, at_location_id=merchant["wh"]).status
        == "shipped"
    )


def test_expiry_sweep_skips_a_hold_released_meanwhile(
    db: Database, merchant: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    held = [
        service.reserve_stock(
            db,
            channel_id=merchant["web"],
            lines=[("A", 1)],
            idempotency_key=f"sweep-{n}",
            ttl_seconds=5,
        ).id
        for n in range(3)
    ]
    real_close = reservations._close_reservation
    calls: list[int] = []

    def released_first(
        database: Database, closing: reservations.Closing, **kwargs: object
    ) -> service.ReservationView:
        if not calls:  # the customer releases the first hold after the sweep listed it
            calls.append(1)
            real_close(
                db,
                reservations.RELEASE,
                reservation_id=held[0],
                channel_id=None,
                actor="customer",
                reason="",
            )
        return real_close(database, closing, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reservations, "_close_reservation", released_first)
    assert service.expire_reservations(db, now=utcnow() + timedelta(seconds=6)) == 2
    statuses = [service.get_reservation(db, reservation_id=r).status for r in held]
    assert statuses == ["released", "expired", "expired"]
    with db.reading() as s:
        assert queries.reconcile(s) == []


def test_fast_path_database_errors_surface_as_sqlalchemy_errors(pg_db: Database) -> None:
    from sqlalchemy.exc import DBAPIError

    with pg_db.transaction() as s:
        wh = add_location(s, "wh")
        add_variant(s, "A")
        web = add_channel(s, "web", ship=(wh,))
    service.receive_stock(pg_db, location_id=wh, lines=[("A", 5)])
    with pytest.raises(DBAPIError):  # mapped to 422 by the API, retried when retryable
        service.reserve_stock(
            pg_db, channel_id=web, lines=[("A", 1)], idempotency_key="k", reference="x" * 300
        )


def test_events_recorded_through_the_orm_reach_the_feed(db: Database) -> None:
    from omnicart.db.outbox import list_events, record_event

    with db.transaction() as s:
        record_event(s, event_type="Test", aggregate="t", aggregate_id="1", payload={"a": 1})
    # A feed shows a row once every transaction of this database that began before it has
    # ended; other sessions' transactions in the test database may still be running.
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while not seen and time.monotonic() < deadline:
        with db.reading() as s:
            seen = [e.event_type for e in list_events(s)]
        if not seen:
            time.sleep(0.05)
    assert seen == ["Test"]


def test_reconciling_one_location_or_sku_reads_only_its_rows_and_finds_the_same(
    db: Database, merchant: dict[str, int]
) -> None:
    reservations.reserve_stock(
        db, channel_id=merchant["web"], lines=[("A", 2)], idempotency_key="r1"
    )
    with db.transaction() as s:
        # Two rows off the ledger, at two locations, behind the ledger's back.
        s.execute(update(StockLevel).values(on_hand=StockLevel.on_hand + 1))
    with db.reading() as s:
        every = queries.reconcile(s)
        a = s.scalar(select(Variant.id).where(Variant.sku == "A"))
        for location in (merchant["wh"], merchant["store"]):
            assert queries.reconcile(s, location_id=location) == [
                d for d in every if d.location_id == location
            ]
        assert queries.reconcile(s, variant_id=a, location_id=merchant["store"]) == [
            d for d in every if d.variant_id == a and d.location_id == merchant["store"]
        ]
    assert {d.location_id for d in every} == {merchant["wh"], merchant["store"]}
