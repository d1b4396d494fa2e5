"""The read side of inventory: available-to-promise, stock reports, the ledger, and the
reconciliation of stock figures against the ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import SkuInfo, resolve_skus
from omnicart.catalog.tables import Variant
from omnicart.channels.policy import load_channel_policy
from omnicart.db.feed import FeedPosition, feed_window
from omnicart.inventory.model import BufferPolicy, bundle_sellable
from omnicart.inventory.tables import (
    Movement,
    Reservation,
    ReservationLine,
    StockLevel,
    Transfer,
    TransferLine,
)
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.locations.tables import Location


def _pooled(
    session: Session, variant_ids: Sequence[int], locations: Sequence[int]
) -> dict[int, int]:
    if not variant_ids or not locations:
        return {}
    rows = session.execute(
        select(
            StockLevel.variant_id,
            func.sum(StockLevel.on_hand - StockLevel.reserved - StockLevel.allocated),
        )
        .where(StockLevel.variant_id.in_(variant_ids), StockLevel.location_id.in_(locations))
        .group_by(StockLevel.variant_id)
    ).all()
    return {int(v): int(total or 0) for v, total in rows}


def _sellable(
    session: Session, infos: dict[str, SkuInfo], locations: Sequence[int], policy: BufferPolicy
) -> dict[str, int]:
    needed = {i.variant_id for i in infos.values() if not i.is_bundle}
    needed |= {c for i in infos.values() for c, _ in i.components}
    pooled = _pooled(session, sorted(needed), locations)
    per_variant = {v: policy.sellable(pooled.get(v, 0)) for v in needed}
    return {
        sku: bundle_sellable(per_variant, info.components)
        if info.is_bundle
        else per_variant[info.variant_id]
        for sku, info in infos.items()
    }


def channel_availability(
    session: Session, *, channel_id: int, skus: Sequence[str]
) -> dict[str, int]:
    """Units each SKU may be sold on a channel: its shipping locations, after its buffer."""
    policy = load_channel_policy(session, channel_id=channel_id, require_active=False)
    if not policy.active:
        return dict.fromkeys(skus, 0)
    infos = resolve_skus(session, list(skus), field="sku")
    return _sellable(
        session,
        infos,
        policy.ship_locations,
        BufferPolicy(policy.percent_shown, policy.units_held_back),
    )


def location_availability(
    session: Session, *, location_id: int, skus: Sequence[str], channel_id: int | None = None
) -> dict[str, int]:
    """Units free at one location (store pickup); with a channel, after that channel's buffer."""
    if session.get(Location, location_id) is None:
        raise NotFound(f"location {location_id} does not exist", field="location_id")
    policy = BufferPolicy()
    if channel_id is not None:
        channel = load_channel_policy(session, channel_id=channel_id)
        if location_id not in channel.serving_locations:
            raise Conflict(
                f"location {location_id} does not serve channel {channel.code!r}",
                field="location_id",
            )
        policy = BufferPolicy(channel.percent_shown, channel.units_held_back)
    infos = resolve_skus(session, list(skus), field="sku")
    return _sellable(session, infos, (location_id,), policy)


@dataclass(frozen=True, slots=True)
class StockRow:
    """Stock figures of one SKU at one location."""

    variant_id: int
    sku: str
    location_id: int
    on_hand: int
    reserved: int
    allocated: int

    @property
    def available(self) -> int:
        """Units free to sell at this location."""
        return self.on_hand - self.reserved - self.allocated


def stock_rows(
    session: Session,
    *,
    location_id: int | None = None,
    sku: str | None = None,
    after_variant_id: int = 0,
    limit: int = 100,
) -> list[StockRow]:
    """Stock figures of up to `limit` SKUs (all their locations), by variant id then location.

    Pages hold whole SKUs, so `after_variant_id` = the last row's variant id continues
    exactly where a page ended.
    """
    variants = select(StockLevel.variant_id).where(StockLevel.variant_id > after_variant_id)
    if location_id is not None:
        variants = variants.where(StockLevel.location_id == location_id)
    if sku is not None:
        variants = variants.join(Variant, Variant.id == StockLevel.variant_id).where(
            Variant.sku == sku
        )
    page = variants.distinct().order_by(StockLevel.variant_id).limit(limit).subquery()
    stmt = (
        select(StockLevel, Variant.sku)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(StockLevel.variant_id.in_(select(page.c.variant_id)))
        .order_by(StockLevel.variant_id, StockLevel.location_id)
    )
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    return [
        StockRow(s.variant_id, name, s.location_id, s.on_hand, s.reserved, s.allocated)
        for s, name in session.execute(stmt)
    ]


def in_transit(session: Session) -> dict[str, int]:
    """Units on their way between locations, per SKU."""
    rows = session.execute(
        select(Variant.sku, func.sum(TransferLine.quantity - TransferLine.received))
        .join(Transfer, Transfer.id == TransferLine.transfer_id)
        .join(Variant, Variant.id == TransferLine.variant_id)
        .where(Transfer.status == "in_transit")
        .group_by(Variant.sku)
    ).all()
    return {sku: int(total) for sku, total in rows if total}


def list_movements(
    session: Session,
    *,
    sku: str | None = None,
    location_id: int | None = None,
    after: FeedPosition | None = None,
    limit: int = 100,
) -> list[tuple[Movement, str]]:
    """Ledger entries in the order they became final, with their SKU; skips none."""
    stmt = feed_window(
        select(Movement, Variant.sku).join(Variant, Variant.id == Movement.variant_id),
        tx_column=Movement.tx_id,
        id_column=Movement.id,
        position=after or FeedPosition(),
        dialect=session.get_bind().dialect.name,
    ).limit(limit)
    if sku is not None:
        stmt = stmt.where(Variant.sku == sku)
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    return [(m, s) for m, s in session.execute(stmt)]


def list_reservations(
    session: Session,
    *,
    channel_id: int | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Reservation]:
    """Reservations, oldest first."""
    if status is not None and status not in (
        "active",
        "released",
        "expired",
        "allocated",
        "shipped",
    ):
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    stmt = select(Reservation).where(Reservation.id > after_id).order_by(Reservation.id)
    if channel_id is not None:
        stmt = stmt.where(Reservation.channel_id == channel_id)
    if status is not None:
        stmt = stmt.where(Reservation.status == status)
    return list(session.scalars(stmt.limit(limit)))


_S = TypeVar("_S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A stock row whose figures disagree with the ledger or the holds."""

    variant_id: int
    location_id: int
    figure: str
    stock: int
    expected: int
    source: str


def reconcile(
    session: Session, *, location_id: int | None = None, variant_id: int | None = None
) -> list[Discrepancy]:
    """Every disagreement between stock figures, the ledger and the holds (none = healthy);
    of one location's and/or one variant's rows only, when given (read only for them)."""

    def only(stmt: _S, variant: Any, location: Any) -> _S:
        if location_id is not None:
            stmt = stmt.where(location == location_id)
        if variant_id is not None:
            stmt = stmt.where(variant == variant_id)
        return stmt

    ledger = {
        (r.variant_id, r.location_id): (int(r.h), int(r.r), int(r.a))
        for r in session.execute(
            only(
                select(
                    Movement.variant_id,
                    Movement.location_id,
                    func.sum(Movement.delta_on_hand).label("h"),
                    func.sum(Movement.delta_reserved).label("r"),
                    func.sum(Movement.delta_allocated).label("a"),
                ),
                Movement.variant_id,
                Movement.location_id,
            ).group_by(Movement.variant_id, Movement.location_id)
        )
    }
    holds: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in session.execute(
        only(
            select(
                ReservationLine.variant_id,
                ReservationLine.location_id,
                Reservation.status,
                func.sum(ReservationLine.quantity - ReservationLine.shipped).label("q"),
            )
            .join(Reservation, Reservation.id == ReservationLine.reservation_id)
            .where(Reservation.status.in_(("active", "allocated"))),
            ReservationLine.variant_id,
            ReservationLine.location_id,
        ).group_by(ReservationLine.variant_id, ReservationLine.location_id, Reservation.status)
    ):
        holds[(r.variant_id, r.location_id)][0 if r.status == "active" else 1] += int(r.q)
    found: list[Discrepancy] = []
    stock = {
        (s.variant_id, s.location_id): s
        for s in session.scalars(
            only(select(StockLevel), StockLevel.variant_id, StockLevel.location_id)
        )
    }
    for key in sorted(set(stock) | set(ledger) | set(holds)):
        row = stock.get(key)
        figures = (row.on_hand, row.reserved, row.allocated) if row else (0, 0, 0)
        sums = ledger.get(key, (0, 0, 0))
        for name, have, want in zip(
            ("on_hand", "reserved", "allocated"), figures, sums, strict=True
        ):
            if have != want:
                found.append(Discrepancy(key[0], key[1], name, have, want, "ledger"))
        held = holds.get(key, [0, 0])
        if figures[1] != held[0]:
            found.append(
                Discrepancy(key[0], key[1], "reserved", figures[1], held[0], "active reservations")
            )
        if figures[2] != held[1]:
            found.append(
                Discrepancy(key[0], key[1], "allocated", figures[2], held[1], "allocations")
            )
        if figures[0] < figures[1] + figures[2] or min(figures) < 0:
            found.append(
                Discrepancy(
                    key[0], key[1], "available", figures[0] - figures[1] - figures[2], 0, "oversold"
                )
            )
    return found


def holds_stock(session: Session, *, variant_id: int) -> bool:
    """Whether any location has units of the variant on hand, reserved or allocated."""
    found = session.scalar(
        select(StockLevel.variant_id)
        .where(
            StockLevel.variant_id == variant_id,
            (StockLevel.on_hand != 0) | (StockLevel.reserved != 0) | (StockLevel.allocated != 0),
        )
        .limit(1)
    )
    return found is not None


RECENT_MOVEMENTS = 20


def recent_movements(
    session: Session, *, location_id: int | None, limit: int = RECENT_MOVEMENTS
) -> list[tuple[Movement, str]]:
    """The newest ledger entries (at one location, or everywhere), newest first."""
    stmt = (
        select(Movement, Variant.sku)
        .join(Variant, Variant.id == Movement.variant_id)
        .order_by(Movement.id.desc())
        .limit(limit)
    )
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    return [(m, s) for m, s in session.execute(stmt)]


@dataclass(frozen=True, slots=True)
class TransitLine:
    """Units of one SKU sent by a transfer and not yet received."""

    transfer_id: int
    from_location_id: int
    to_location_id: int
    sku: str
    units: int
    sent_at: datetime


def transit_lines(
    session: Session, *, location_id: int | None = None, sku: str | None = None, limit: int = 100
) -> list[TransitLine]:
    """Lines of transfers on their way, oldest first; at a location: sent from or to it."""
    stmt = (
        select(Transfer, Variant.sku, TransferLine.quantity - TransferLine.received)
        .join(TransferLine, TransferLine.transfer_id == Transfer.id)
        .join(Variant, Variant.id == TransferLine.variant_id)
        .where(Transfer.status == "in_transit", TransferLine.quantity > TransferLine.received)
        .order_by(Transfer.id, TransferLine.id)
        .limit(limit)
    )
    if location_id is not None:
        stmt = stmt.where(
            (Transfer.from_location_id == location_id) | (Transfer.to_location_id == location_id)
        )
    if sku is not None:
        stmt = stmt.where(Variant.sku == sku)
    return [
        TransitLine(t.id, t.from_location_id, t.to_location_id, name, int(units), t.created_at)
        for t, name, units in session.execute(stmt)
    ]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """How many stock rows were compared, and each disagreement with its SKU."""

    checked: int
    discrepancies: list[tuple[Discrepancy, str]]


def reconcile_rows(
    session: Session, *, location_id: int | None = None, sku: str | None = None
) -> Reconciliation:
    """`reconcile` of one location's and/or one SKU's rows, with the SKUs named."""
    variant_id = None
    if sku is not None:
        variant_id = session.scalar(select(Variant.id).where(Variant.sku == sku))
        if variant_id is None:
            return Reconciliation(0, [])
    rows = select(func.count()).select_from(StockLevel)
    if location_id is not None:
        rows = rows.where(StockLevel.location_id == location_id)
    if variant_id is not None:
        rows = rows.where(StockLevel.variant_id == variant_id)
    found = reconcile(session, location_id=location_id, variant_id=variant_id)
    ids = {d.variant_id for d in found}
    names = {
        int(v): name
        for v, name in (
            session.execute(select(Variant.id, Variant.sku).where(Variant.id.in_(ids)))
            if ids
            else []
        )
    }
    return Reconciliation(
        int(session.scalar(rows) or 0),
        [(d, names.get(d.variant_id, str(d.variant_id))) for d in found],
    )
