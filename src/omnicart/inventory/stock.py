"""Stock operations: receipts, returns, write-offs, adjustments, counts and transfers.

Each use case is one transaction; every stock change goes through `ledger.apply_changes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import resolve_skus
from omnicart.catalog.tables import Variant
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.inventory.checks import MAX_STOCK_LINES, check_lines, location_exists, stock_bearing
from omnicart.inventory.ledger import (
    Provenance,
    apply_changes,
    ensure_rows,
    lock_stock,
)
from omnicart.inventory.model import (
    MovementKind,
    StockChange,
    StockFigures,
    check_quantity,
)
from omnicart.inventory.tables import (
    StockCount,
    StockCountLine,
    Transfer,
    TransferLine,
)
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import (
    Conflict,
    Forbidden,
    InsufficientStock,
    NotFound,
    ValidationFailed,
)


def _stock_change_use_case(
    db: Database,
    *,
    location_id: int,
    lines: Sequence[tuple[str, int]],
    kind: MovementKind,
    sign: int,
    actor: str,
    reason: str,
) -> dict[str, int]:
    check_lines(lines, most=MAX_STOCK_LINES)

    def attempt() -> dict[str, int]:
        with db.transaction() as session:
            location_exists(session, location_id)
            infos = resolve_skus(session, [sku for sku, _ in lines], share_lock=True)
            changes = [
                StockChange(
                    stock_bearing(infos, sku, f"lines.{i}.sku").variant_id,
                    location_id,
                    on_hand=sign * quantity,
                )
                for i, (sku, quantity) in enumerate(lines)
            ]
            after = apply_changes(
                session.connection(),
                changes,
                Provenance(kind, actor=actor, reason=reason),
                variants={info.variant_id: info for info in infos.values()},
            )
            return {sku: after[(infos[sku].variant_id, location_id)].on_hand for sku, _ in lines}

    return retrying(attempt)


def receive_stock(
    db: Database,
    *,
    location_id: int,
    lines: Sequence[tuple[str, int]],
    actor: str = "system",
    reason: str = "",
) -> dict[str, int]:
    """Goods arrived at a location; returns on-hand units per SKU after."""
    return _stock_change_use_case(
        db,
        location_id=location_id,
        lines=lines,
        kind=MovementKind.RECEIPT,
        sign=1,
        actor=actor,
        reason=reason,
    )


def restock_return(
    db: Database,
    *,
    location_id: int,
    lines: Sequence[tuple[str, int]],
    actor: str = "system",
    reason: str = "",
) -> dict[str, int]:
    """Returned units go back on sale where they arrived."""
    return _stock_change_use_case(
        db,
        location_id=location_id,
        lines=lines,
        kind=MovementKind.RETURN_RESTOCK,
        sign=1,
        actor=actor,
        reason=reason,
    )


def write_off_stock(
    db: Database,
    *,
    location_id: int,
    lines: Sequence[tuple[str, int]],
    reason: str,
    actor: str = "system",
) -> dict[str, int]:
    """Damaged or lost units leave stock (only units nobody holds)."""
    if not reason.strip():
        raise ValidationFailed("a write-off needs a reason", field="reason")
    return _stock_change_use_case(
        db,
        location_id=location_id,
        lines=lines,
        kind=MovementKind.WRITE_OFF,
        sign=-1,
        actor=actor,
        reason=reason,
    )


def adjust_stock(
    db: Database, *, location_id: int, sku: str, delta: int, reason: str, actor: str = "system"
) -> int:
    """Correct on-hand units by `delta` (never below what is held); returns on-hand after."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ValidationFailed("delta must be a non-zero whole number", field="delta")
    if not reason.strip():
        raise ValidationFailed("an adjustment needs a reason", field="reason")
    check_quantity(abs(delta), field="delta")
    try:
        result = _stock_change_use_case(
            db,
            location_id=location_id,
            lines=[(sku, abs(delta))],
            kind=MovementKind.ADJUSTMENT,
            sign=1 if delta > 0 else -1,
            actor=actor,
            reason=reason,
        )
    except InsufficientStock as exc:
        exc.field = "delta"  # the caller sent a delta, not a quantity
        raise
    return result[sku]


@dataclass(frozen=True, slots=True)
class CountLineView:
    """The outcome of counting one SKU."""

    sku: str
    expected: int
    counted: int
    variance: int


def record_count(
    db: Database,
    *,
    location_id: int,
    lines: Sequence[tuple[str, int]],
    actor: str = "system",
    note: str = "",
) -> tuple[int, list[CountLineView]]:
    """A cycle count: on-hand becomes what was counted, the variance is recorded.

    A count below the units already promised (reserved or allocated) there is refused:
    those holds must be released first, so no order is silently left without stock.
    """
    if not lines:
        raise ValidationFailed("at least one line is required", field="lines")
    for index, (_sku, counted) in enumerate(lines):
        check_quantity(counted, field=f"lines.{index}.counted", allow_zero=True)
    if len({sku for sku, _ in lines}) != len(lines):
        raise ValidationFailed("each SKU may appear once per count", field="lines")

    def attempt() -> tuple[int, list[CountLineView]]:
        with db.transaction() as session:
            location_exists(session, location_id)
            infos = resolve_skus(session, [sku for sku, _ in lines], share_lock=True)
            conn = session.connection()
            keys = [
                (stock_bearing(infos, sku, f"lines.{i}.sku").variant_id, location_id)
                for i, (sku, _) in enumerate(lines)
            ]
            # Rows are created before they are locked, so a receipt racing with the count
            # for a SKU new to this location is either counted or waits, never both.
            locked = _fresh_rows(conn, keys)
            count = StockCount(location_id=location_id, actor=actor, note=note, created_at=utcnow())
            session.add(count)
            session.flush()
            views: list[CountLineView] = []
            changes: list[StockChange] = []
            for (sku, counted), key in zip(lines, keys, strict=True):
                expected = locked[key].on_hand if key in locked else 0
                views.append(CountLineView(sku, expected, counted, counted - expected))
                session.add(
                    StockCountLine(
                        count_id=count.id,
                        variant_id=key[0],
                        expected=expected,
                        counted=counted,
                        variance=counted - expected,
                    )
                )
                if counted != expected:
                    changes.append(StockChange(key[0], location_id, on_hand=counted - expected))
            if changes:
                apply_changes(
                    conn,
                    changes,
                    Provenance(
                        MovementKind.COUNT,
                        actor=actor,
                        reason=note or "cycle count",
                        count_id=count.id,
                    ),
                    locked=locked,
                    variants={info.variant_id: info for info in infos.values()},
                )
            session.flush()
            return count.id, views

    return retrying(attempt)


def _fresh_rows(
    conn: Connection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], StockFigures]:
    """Lock the rows of `keys`, creating any that do not exist yet."""
    ensure_rows(conn, keys)
    return lock_stock(conn, keys)


@dataclass(frozen=True, slots=True)
class TransferView:
    """A transfer and its lines (sku, quantity)."""

    id: int
    from_location_id: int
    to_location_id: int
    status: str
    created_at: datetime
    received_at: datetime | None
    lines: list[tuple[str, int]]


def _transfer_view(session: Session, row: Transfer) -> TransferView:
    lines = session.execute(
        select(Variant.sku, TransferLine.quantity)
        .join(Variant, Variant.id == TransferLine.variant_id)
        .where(TransferLine.transfer_id == row.id)
        .order_by(TransferLine.id)
    ).all()
    return TransferView(
        row.id,
        row.from_location_id,
        row.to_location_id,
        row.status,
        row.created_at,
        row.received_at,
        [(s, q) for s, q in lines],
    )


def create_transfer(
    db: Database,
    *,
    from_location_id: int,
    to_location_id: int,
    lines: Sequence[tuple[str, int]],
    actor: str = "system",
    note: str = "",
) -> TransferView:
    """Send stock from one location to another; in transit it is sellable nowhere."""
    check_lines(lines, most=MAX_STOCK_LINES)
    if from_location_id == to_location_id:
        raise ValidationFailed("a transfer needs two different locations", field="to_location_id")

    def attempt() -> TransferView:
        with db.transaction() as session:
            location_exists(session, from_location_id, field_name="from_location_id")
            location_exists(session, to_location_id, field_name="to_location_id")
            infos = resolve_skus(session, [sku for sku, _ in lines], share_lock=True)
            transfer = Transfer(
                from_location_id=from_location_id,
                to_location_id=to_location_id,
                status="in_transit",
                actor=actor,
                note=note,
                created_at=utcnow(),
            )
            session.add(transfer)
            session.flush()
            changes = []
            for index, (sku, quantity) in enumerate(lines):
                variant_id = stock_bearing(infos, sku, f"lines.{index}.sku").variant_id
                session.add(
                    TransferLine(transfer_id=transfer.id, variant_id=variant_id, quantity=quantity)
                )
                changes.append(StockChange(variant_id, from_location_id, on_hand=-quantity))
            apply_changes(
                session.connection(),
                changes,
                Provenance(
                    MovementKind.TRANSFER_OUT, actor=actor, reason=note, transfer_id=transfer.id
                ),
                variants={info.variant_id: info for info in infos.values()},
            )
            session.flush()
            return _transfer_view(session, transfer)

    return retrying(attempt)


def receive_transfer(
    db: Database, *, transfer_id: int, actor: str = "system", at_location_id: int | None = None
) -> TransferView:
    """Units of a transfer arrive at its destination and go on sale there.

    `at_location_id` (a store's staff) refuses a transfer bound for another location.
    """

    def attempt() -> TransferView:
        with db.transaction() as session:
            transfer = session.scalar(
                select(Transfer).where(Transfer.id == transfer_id).with_for_update()
            )
            if transfer is None:
                raise NotFound(f"transfer {transfer_id} does not exist", field="transfer_id")
            if at_location_id is not None and transfer.to_location_id != at_location_id:
                raise Forbidden(
                    f"transfer {transfer_id} arrives at location {transfer.to_location_id}, "
                    "not at this key's location",
                    field="transfer_id",
                )
            if transfer.status != "in_transit":
                raise Conflict(f"transfer {transfer_id} was already received", field="transfer_id")
            lines = list(
                session.scalars(select(TransferLine).where(TransferLine.transfer_id == transfer.id))
            )
            apply_changes(
                session.connection(),
                [
                    StockChange(line.variant_id, transfer.to_location_id, on_hand=line.quantity)
                    for line in lines
                ],
                Provenance(MovementKind.TRANSFER_IN, actor=actor, transfer_id=transfer.id),
            )
            for line in lines:
                line.received = line.quantity
            transfer.status = "received"
            transfer.received_at = utcnow()
            session.flush()
            return _transfer_view(session, transfer)

    return retrying(attempt)
