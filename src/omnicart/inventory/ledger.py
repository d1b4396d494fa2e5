"""The one path every stock change takes: lock rows in a fixed order, check the rule,
apply a guarded UPDATE, append ledger entries, and write threshold events to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import SkuInfo, describe_variants
from omnicart.db.outbox import OutboxEvent
from omnicart.db.types import UTCDateTime
from omnicart.inventory.model import (
    MovementKind,
    StockChange,
    StockFigures,
    apply_change,
    threshold_events,
)
from omnicart.inventory.pg_sql import IDS, INTS, compile_pg, ints_literal
from omnicart.inventory.tables import Movement, Reservation, StockLevel
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, OmnicartError
from omnicart.settings import get_settings

stock_table = cast(Table, StockLevel.__table__)
movement_table = cast(Table, Movement.__table__)
outbox_table = cast(Table, OutboxEvent.__table__)
reservation_table = cast(Table, Reservation.__table__)

Key = tuple[int, int]

_LOCKED_HERE = "omnicart_locked_stock"


def transaction_memo(info: dict[Any, Any], transaction: object, name: str) -> dict[Any, Any]:
    """A dict kept in `info` (a session's or a connection's) under `name` for as long as
    `transaction` lasts: what it holds was read under locks that last exactly that long."""
    kept = info.get(name)
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        info[name] = kept
    memo: dict[Any, Any] = kept[1]
    return memo


def locked_here(conn: Connection) -> dict[Key, StockFigures]:
    """The stock rows this transaction holds locked (it locked or changed them), with their
    figures as they are now in it. Every writer of stock rows keeps it current
    (`apply_changes`, `pg_fast`); a rolled-back savepoint empties it (`_forget_locked`).
    A row it names needs no second read while the transaction lasts: nobody else can
    change it, and its own changes are recorded here."""
    transaction = conn.get_transaction()
    if transaction is None:  # autocommit: no lock outlives its statement
        return {}
    return transaction_memo(conn.info, transaction, _LOCKED_HERE)


@sa_event.listens_for(Engine, "rollback_savepoint")
def _forget_locked(conn: Connection, *_args: Any) -> None:
    # What the savepoint changed is undone: the figures kept may be those it wrote.
    conn.info.pop(_LOCKED_HERE, None)


def stock_guard(d_on_hand: Any, d_reserved: Any, d_allocated: Any) -> ColumnElement[bool]:
    """The stock rule in SQL, for a row about to change by the given deltas.

    Every UPDATE of stock carries it, so the row itself refuses an oversell even if a
    caller's check were wrong; it mirrors `model.apply_change`.
    """
    return and_(
        stock_table.c.on_hand + d_on_hand
        >= stock_table.c.reserved + d_reserved + stock_table.c.allocated + d_allocated,
        stock_table.c.reserved + d_reserved >= 0,
        stock_table.c.allocated + d_allocated >= 0,
    )


_guarded_update_many = (
    update(stock_table)
    .where(
        stock_table.c.variant_id == bindparam("k_variant"),
        stock_table.c.location_id == bindparam("k_location"),
        stock_guard(bindparam("d_on_hand"), bindparam("d_reserved"), bindparam("d_allocated")),
    )
    .values(
        on_hand=stock_table.c.on_hand + bindparam("d_on_hand"),
        reserved=stock_table.c.reserved + bindparam("d_reserved"),
        allocated=stock_table.c.allocated + bindparam("d_allocated"),
        updated_at=bindparam("now"),
    )
)
_guarded_update = _guarded_update_many.returning(
    stock_table.c.on_hand, stock_table.c.reserved, stock_table.c.allocated
)


_plain_select = (
    select(
        stock_table.c.variant_id,
        stock_table.c.location_id,
        stock_table.c.on_hand,
        stock_table.c.reserved,
        stock_table.c.allocated,
    )
    .where(
        stock_table.c.variant_id.in_(bindparam("variants", expanding=True)),
        stock_table.c.location_id.in_(bindparam("locations", expanding=True)),
    )
    .order_by(stock_table.c.variant_id, stock_table.c.location_id)
)
_locking_select = _plain_select.with_for_update()
_insert_ignoring: dict[tuple[str, str, str | None], Any] = {}
_insert_movements = insert(movement_table)

# The ledger columns every stock change writes, as its statements list them.
MOVEMENT_COLUMNS = (
    "kind", "variant_id", "location_id", "delta_on_hand", "delta_reserved",
    "delta_allocated", "reason", "actor", "channel_id", "reservation_id",
)  # fmt: skip

# On PostgreSQL, rows already locked change and their ledger entries are appended in one
# statement: the guarded UPDATE of each row by its total, and one entry per change.
_totals = select(
    func.unnest(bindparam("variants", type_=IDS)).label("variant_id"),
    func.unnest(bindparam("locations", type_=IDS)).label("location_id"),
    func.unnest(bindparam("d_on_hand", type_=INTS)).label("d_on_hand"),
    func.unnest(bindparam("d_reserved", type_=INTS)).label("d_reserved"),
    func.unnest(bindparam("d_allocated", type_=INTS)).label("d_allocated"),
).cte("totals")
_changed = (
    update(stock_table)
    .where(
        stock_table.c.variant_id == _totals.c.variant_id,
        stock_table.c.location_id == _totals.c.location_id,
        stock_guard(_totals.c.d_on_hand, _totals.c.d_reserved, _totals.c.d_allocated),
    )
    .values(
        on_hand=stock_table.c.on_hand + _totals.c.d_on_hand,
        reserved=stock_table.c.reserved + _totals.c.d_reserved,
        allocated=stock_table.c.allocated + _totals.c.d_allocated,
        updated_at=bindparam("now"),
    )
    .returning(stock_table.c.variant_id)
    .cte("changed")
)
_entries = (
    postgresql.insert(movement_table)
    .from_select(
        [*MOVEMENT_COLUMNS, "transfer_id", "count_id", "created_at"],
        select(
            bindparam("kind", type_=String),
            func.unnest(bindparam("m_variants", type_=IDS)),
            func.unnest(bindparam("m_locations", type_=IDS)),
            func.unnest(bindparam("m_on_hand", type_=INTS)),
            func.unnest(bindparam("m_reserved", type_=INTS)),
            func.unnest(bindparam("m_allocated", type_=INTS)),
            bindparam("reason", type_=String),
            bindparam("actor", type_=String),
            bindparam("channel_id", type_=BigInteger),
            bindparam("reservation_id", type_=BigInteger),
            bindparam("transfer_id", type_=BigInteger),
            bindparam("count_id", type_=BigInteger),
            bindparam("now"),
        ),
    )
    .cte("entries")
)
_PG_CHANGE = compile_pg(select(func.count()).select_from(_changed).add_cte(_entries))
# A reservation closing (released, expired, allocated) changes its rows and its own status
# in that same statement; `closed_at` is kept when the new status does not close it.
_closed = (
    update(reservation_table)
    .where(reservation_table.c.id == bindparam("reservation_id", type_=BigInteger))
    .values(
        status=bindparam("status", type_=String),
        closed_at=func.coalesce(
            bindparam("closed_at", type_=UTCDateTime), reservation_table.c.closed_at
        ),
    )
    .cte("closed")
)
_PG_CHANGE_AND_STATUS = compile_pg(
    select(func.count()).select_from(_changed).add_cte(_entries).add_cte(_closed)
)


@dataclass(frozen=True, slots=True)
class ReservationStatus:
    """The status a change leaves its reservation in (`closed_at`: when it closed, if it
    did), written with the change."""

    status: str
    closed_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """The reservation's columns this status sets."""
        if self.closed_at is None:
            return {"status": self.status}
        return {"status": self.status, "closed_at": self.closed_at}


class StaleStock(Exception):
    """A change planned on figures read without a lock no longer fits; redo it locked."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who and what caused a change, copied onto each ledger entry."""

    kind: MovementKind
    actor: str = "system"
    reason: str = ""
    channel_id: int | None = None
    reservation_id: int | None = None
    transfer_id: int | None = None
    count_id: int | None = None

    def columns(self) -> dict[str, Any]:
        """What each ledger entry of this change says of it, by column."""
        return {
            "reason": self.reason,
            "actor": self.actor,
            "channel_id": self.channel_id,
            "reservation_id": self.reservation_id,
            "transfer_id": self.transfer_id,
            "count_id": self.count_id,
        }


def insert_ignoring_duplicates(
    conn: Connection, table: Table, *, returning: Column[Any] | None = None
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING [RETURNING `returning`] for the connection's
    dialect (built once: building it per call costs more than running it)."""
    key = (conn.dialect.name, table.name, None if returning is None else returning.key)
    if key not in _insert_ignoring:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing()
        _insert_ignoring[key] = statement if returning is None else statement.returning(returning)
    return _insert_ignoring[key]


def lock_stock(conn: Connection, keys: Iterable[Key]) -> dict[Key, StockFigures]:
    """Lock the stock rows of `keys` (ordered by variant, location, so no deadlock).

    On SQLite the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    """
    wanted = set(keys)
    if not wanted:
        return {}
    memo = locked_here(conn)
    if wanted <= memo.keys():  # locked already in this transaction: nothing to ask
        return {k: memo[k] for k in wanted}
    params = {
        "variants": sorted({v for v, _ in wanted}),
        "locations": sorted({loc for _, loc in wanted}),
    }
    found = {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in conn.execute(_locking_select, params)
    }
    memo.update(found)
    return found


def read_stock(conn: Connection, keys: Iterable[Key]) -> dict[Key, StockFigures]:
    """The stock rows of `keys` as they are now, without locking them."""
    wanted = set(keys)
    params = {
        "variants": sorted({v for v, _ in wanted}),
        "locations": sorted({loc for _, loc in wanted}),
    }
    return {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in conn.execute(_plain_select, params)
        if (r.variant_id, r.location_id) in wanted
    }


def ensure_rows(conn: Connection, keys: Iterable[Key]) -> None:
    """Give `keys` stock rows of zeros where they have none (in key order)."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    now = utcnow()
    conn.execute(
        insert_ignoring_duplicates(conn, stock_table),
        [
            {
                "variant_id": v,
                "location_id": loc,
                "on_hand": 0,
                "reserved": 0,
                "allocated": 0,
                "updated_at": now,
            }
            for v, loc in wanted
        ],
    )


def apply_changes(
    conn: Connection,
    changes: Sequence[StockChange],
    provenance: Provenance,
    *,
    locked: Mapping[Key, StockFigures] | None = None,
    variants: Mapping[int, SkuInfo] | None = None,
    lock: bool = True,
    status: ReservationStatus | None = None,
) -> dict[Key, StockFigures]:
    """Apply `changes` under the stock rule; returns the figures after, per row.

    With `lock` (the default) the rows are locked in a fixed order and the rule is
    checked first, so a refusal names the SKU and what is available. `locked` passes
    rows the caller already locked. Without `lock`, each row is changed by one guarded
    UPDATE alone (the rule in SQL) and StaleStock is raised if any row refuses: the
    caller rolls back and redoes the use case locked. Either way the ledger entries are
    written in the same transaction, and nothing is written if the rule refuses.
    `status` is written onto the provenance's reservation with the change (on
    PostgreSQL, with rows locked, in the change's one statement).
    """
    if status is not None and provenance.reservation_id is None:
        raise ValueError("a reservation status needs the provenance's reservation_id")
    if not changes:
        _write_status(conn, provenance, status)
        return {}
    now = utcnow()
    totals: dict[Key, StockChange] = {}
    for change in changes:
        prior = totals.get(change.key, StockChange(*change.key))
        totals[change.key] = StockChange(
            change.variant_id,
            change.location_id,
            prior.on_hand + change.on_hand,
            prior.reserved + change.reserved,
            prior.allocated + change.allocated,
        )
    known = variants

    def named() -> Mapping[int, SkuInfo]:
        # The SKUs are read only when a refusal or a threshold event needs their names.
        nonlocal known
        if known is None:
            with Session(bind=conn) as session:
                known = describe_variants(session, [v for v, _ in totals])
        return known

    before: dict[Key, StockFigures] = {}
    after: dict[Key, StockFigures] = {}
    if lock:
        if locked is None:
            ensure_rows(conn, [k for k, c in totals.items() if c.on_hand > 0])
            locked = lock_stock(conn, totals)
        for key in sorted(totals):
            before[key] = locked.get(key, StockFigures())
            try:
                after[key] = apply_change(before[key], totals[key])
            except OmnicartError:
                variant = named().get(key[0])
                if variant is not None:  # the same refusal, naming the SKU
                    apply_change(before[key], totals[key], sku=variant.sku)
                raise
        ensure_rows(conn, [k for k in totals if k not in locked])
    if lock:
        if conn.dialect.name == "postgresql":
            changed = _change_locked_pg(conn, totals, changes, provenance, now, status=status)
        else:
            params = [
                {
                    "k_variant": v,
                    "k_location": loc,
                    "d_on_hand": c.on_hand,
                    "d_reserved": c.reserved,
                    "d_allocated": c.allocated,
                    "now": now,
                }
                for (v, loc), c in sorted(totals.items())
            ]
            changed = conn.execute(_guarded_update_many, params).rowcount
            _append_ledger(conn, changes, provenance, now)
            _write_status(conn, provenance, status)
        if changed != len(totals):
            # Only reachable if a row was changed without its lock: refuse, never guess.
            raise Conflict("stock changed concurrently; nothing was written, try again")
        locked_here(conn).update(after)
        if _crossed(before, after):
            record_threshold_events(conn, before, after, named(), now)
        return after
    for (variant_id, location_id), c in sorted(totals.items()):
        row = conn.execute(
            _guarded_update,
            {
                "k_variant": variant_id,
                "k_location": location_id,
                "d_on_hand": c.on_hand,
                "d_reserved": c.reserved,
                "d_allocated": c.allocated,
                "now": now,
            },
        ).first()
        if row is None:
            raise StaleStock
        key = (variant_id, location_id)
        after[key] = StockFigures(row.on_hand, row.reserved, row.allocated)
        before[key] = StockFigures(
            row.on_hand - c.on_hand, row.reserved - c.reserved, row.allocated - c.allocated
        )
    locked_here(conn).update(after)  # each row changed is locked by its UPDATE
    _append_ledger(conn, changes, provenance, now)
    _write_status(conn, provenance, status)
    if _crossed(before, after):
        record_threshold_events(conn, before, after, named(), now)
    return after


def _change_locked_pg(
    conn: Connection,
    totals: Mapping[Key, StockChange],
    changes: Sequence[StockChange],
    provenance: Provenance,
    now: datetime,
    *,
    status: ReservationStatus | None,
) -> int:
    """`_PG_CHANGE`: the locked rows changed by their totals and one ledger entry per
    change (and the reservation's `status`, if given), in one statement; how many rows
    changed."""
    keys = sorted(totals)
    statement, closing = (
        (_PG_CHANGE, {})
        if status is None
        else (
            _PG_CHANGE_AND_STATUS,
            {"status": status.status, "closed_at": status.closed_at},
        )
    )
    rows = statement.run(
        conn,
        {
            **closing,
            "variants": ints_literal([v for v, _ in keys]),
            "locations": ints_literal([loc for _, loc in keys]),
            "d_on_hand": ints_literal([totals[k].on_hand for k in keys]),
            "d_reserved": ints_literal([totals[k].reserved for k in keys]),
            "d_allocated": ints_literal([totals[k].allocated for k in keys]),
            "now": now,
            "kind": provenance.kind.value,
            "m_variants": ints_literal([c.variant_id for c in changes]),
            "m_locations": ints_literal([c.location_id for c in changes]),
            "m_on_hand": ints_literal([c.on_hand for c in changes]),
            "m_reserved": ints_literal([c.reserved for c in changes]),
            "m_allocated": ints_literal([c.allocated for c in changes]),
            **provenance.columns(),
        },
    )
    return int(rows[0][0])


def _write_status(
    conn: Connection, provenance: Provenance, status: ReservationStatus | None
) -> None:
    """Write `status` onto the provenance's reservation, as a statement of its own."""
    if status is not None:
        conn.execute(
            update(reservation_table)
            .where(reservation_table.c.id == provenance.reservation_id)
            .values(status.values())
        )


def _crossed(before: Mapping[Key, StockFigures], after: Mapping[Key, StockFigures]) -> bool:
    """Whether some row's change raises a threshold event under some threshold: only then
    are the SKUs' own thresholds read (a release of units still on sale raises none)."""
    for key, now in after.items():
        was, now_available = before[key].available, now.available
        if was == now_available:
            continue
        # An event depends on the threshold only through how it compares with the units
        # before and after: one threshold from each range those two cut covers them all.
        low, high = sorted((was, now_available))
        if any(
            threshold_events(before=was, after=now_available, threshold=max(t, 0))
            for t in (low - 1, low, high)
        ):
            return True
    return False


def _append_ledger(
    conn: Connection, changes: Sequence[StockChange], provenance: Provenance, now: datetime
) -> None:
    # Written after the rows changed, while their locks are held, so ledger ids follow
    # the order in which each row's changes really happened.
    conn.execute(
        _insert_movements,
        [
            {
                "kind": provenance.kind.value,
                "variant_id": c.variant_id,
                "location_id": c.location_id,
                "delta_on_hand": c.on_hand,
                "delta_reserved": c.reserved,
                "delta_allocated": c.allocated,
                **provenance.columns(),
                "created_at": now,
            }
            for c in changes
        ],
    )


def record_threshold_events(
    conn: Connection,
    before: Mapping[Key, StockFigures],
    after: Mapping[Key, StockFigures],
    info: Mapping[int, SkuInfo],
    now: datetime,
) -> None:
    """Write StockLow / StockOutOfStock / StockBackInStock events for rows that crossed."""
    crossing = [k for k in sorted(after) if before[k].available != after[k].available]
    default = get_settings().low_stock_threshold
    rows: list[dict[str, Any]] = []
    for key in crossing:
        variant = info.get(key[0])
        if variant is None:
            continue
        threshold = (
            variant.low_stock_threshold if variant.low_stock_threshold is not None else default
        )
        for event in threshold_events(
            before=before[key].available, after=after[key].available, threshold=threshold
        ):
            rows.append(
                {
                    "event_type": event,
                    "aggregate": "stock",
                    "aggregate_id": f"{variant.sku}@{key[1]}",
                    "payload": {
                        "sku": variant.sku,
                        "variant_id": key[0],
                        "location_id": key[1],
                        "available": after[key].available,
                        "on_hand": after[key].on_hand,
                        "threshold": threshold,
                    },
                    "occurred_at": now,
                    "published_at": None,
                }
            )
    if rows:
        conn.execute(insert(outbox_table), rows)
