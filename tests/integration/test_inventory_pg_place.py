"""An order's allocation on PostgreSQL in two statements (`pg_fast.place`) writes what the
general path (`reserve_in`) writes, row for row, and hands back to it, having written
nothing, whenever it cannot place the request itself."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text

from omnicart.channels.policy import load_channel_policy
from omnicart.db.engine import Database
from omnicart.inventory import pg_fast
from omnicart.inventory.planning import HoldRequest, NewHolds
from omnicart.inventory.reservations import reserve_in
from omnicart.inventory.tables import Movement, Reservation, ReservationLine, StockLevel
from omnicart.kernel.errors import InsufficientStock
from tests.orders_support import Shop, seed_shop

pytestmark = pytest.mark.postgres


def _request(shop: Shop, key: str, lines: list[tuple[str, int]], **extra: Any) -> HoldRequest:
    values: dict[str, Any] = {
        "channel_id": shop.market,
        "lines": tuple(lines),
        "key": key,
        "location_id": None,
        "ttl": 900,
        "reference": f"order {key}",
        "actor": "test",
        "fingerprint": key,
        "pool": (shop.warehouse,),
        "allocate": True,
        **extra,
    }
    return HoldRequest(**values)


def _written(conn: Connection, reservation_id: int, sku: str) -> dict[str, Any]:
    """What a reservation wrote, without ids and times, its SKU's variant named `v`."""
    variant = {sku: "v"}

    def named(variant_id: int) -> str:
        found = conn.execute(
            text("SELECT sku FROM variants WHERE id = :id"), {"id": variant_id}
        ).scalar_one()
        return variant.get(str(found), str(found))

    reservation = conn.execute(
        select(
            Reservation.status, Reservation.reference, Reservation.actor, Reservation.channel_id
        ).where(Reservation.id == reservation_id)
    ).one()
    lines = conn.execute(
        select(
            ReservationLine.variant_id,
            ReservationLine.location_id,
            ReservationLine.quantity,
            ReservationLine.shipped,
        ).where(ReservationLine.reservation_id == reservation_id)
    ).all()
    ledger = conn.execute(
        select(
            Movement.kind,
            Movement.variant_id,
            Movement.location_id,
            Movement.delta_on_hand,
            Movement.delta_reserved,
            Movement.delta_allocated,
            Movement.reason,
            Movement.actor,
            Movement.channel_id,
        ).where(Movement.reservation_id == reservation_id)
    ).all()
    stock = conn.execute(
        select(StockLevel.location_id, StockLevel.on_hand, StockLevel.allocated)
        .join_from(StockLevel, ReservationLine, ReservationLine.variant_id == StockLevel.variant_id)
        .where(ReservationLine.reservation_id == reservation_id)
    ).all()
    return {
        "reservation": (reservation[0], reservation[1].split()[0], *reservation[2:]),
        "lines": sorted((named(v), loc, q, s) for v, loc, q, s in lines),
        "ledger": sorted(
            (k, named(v), loc, *deltas, reason.split()[0], actor, ch)
            for k, v, loc, *deltas, reason, actor, ch in ledger
        ),
        "stock": sorted(tuple(row) for row in stock),
    }


def _counts(conn: Connection) -> tuple[int, ...]:
    return tuple(
        int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in (Reservation, ReservationLine, Movement)
    )


def test_the_two_statement_allocation_writes_what_the_general_path_writes(
    pg_db: Database,
) -> None:
    shop = seed_shop(pg_db, stock={"A": (6, 0, 0), "B": (6, 0, 0)})
    with pg_db.connection() as conn:
        policy = load_channel_policy(conn, channel_id=shop.market)
        fast = pg_fast.place(conn, _request(shop, "fast", [("A", 4)]), policy)
        general = reserve_in(conn, _request(shop, "general", [("B", 4)]), lock_first=True)
    assert isinstance(fast, NewHolds)
    assert isinstance(general, NewHolds)
    assert fast.holds == [("A", shop.variants["A"], shop.warehouse, 4)]
    with pg_db.connection() as conn:
        ours, theirs = _written(conn, fast.id, "A"), _written(conn, general.id, "B")
    assert ours == theirs
    assert ours["stock"] == [(shop.warehouse, 6, 4)]
    assert ours["ledger"] == [
        ("allocation", "v", shop.warehouse, 0, 0, 4, "order", "test", shop.market)
    ]


def test_what_it_cannot_place_it_hands_back_having_written_nothing(pg_db: Database) -> None:
    shop = seed_shop(pg_db, stock={"A": (6, 0, 0)})
    with pg_db.connection() as conn:
        policy = load_channel_policy(conn, channel_id=shop.market)
        assert isinstance(pg_fast.place(conn, _request(shop, "k1", [("A", 1)]), policy), NewHolds)
        before = _counts(conn)
        # The key is taken: the general path answers with the first reservation.
        assert pg_fast.place(conn, _request(shop, "k1", [("A", 1)]), policy) is None
        assert _counts(conn) == before
        # A SKU the channel does not list: the general path refuses or flags it.
        conn.execute(
            text("UPDATE listings SET listed = false WHERE channel_id = :c"), {"c": shop.market}
        )
        assert pg_fast.place(conn, _request(shop, "k2", [("A", 1)]), policy) is None
        assert _counts(conn) == before
        stock = conn.execute(
            select(StockLevel.allocated).where(StockLevel.location_id == shop.warehouse)
        ).scalar_one()
    assert stock == 1


def test_a_refusal_under_a_new_key_is_final_and_the_general_paths_own(pg_db: Database) -> None:
    shop = seed_shop(pg_db, stock={"A": (2, 0, 0)})
    too_many = [("A", 3)]
    with pg_db.connection() as conn:
        policy = load_channel_policy(conn, channel_id=shop.market)
        before = _counts(conn)
        # A key that may be a repeat's: handed to the general path.
        assert pg_fast.place(conn, _request(shop, "maybe", too_many), policy) is None
        with pytest.raises(InsufficientStock) as fast:
            pg_fast.place(conn, _request(shop, "new", too_many, new_key=True), policy)
        assert _counts(conn) == before
    with pytest.raises(InsufficientStock) as general, pg_db.connection() as conn:
        reserve_in(conn, _request(shop, "general", too_many), lock_first=True)
    assert (fast.value.detail, fast.value.extra) == (general.value.detail, general.value.extra)
