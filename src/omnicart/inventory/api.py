"""HTTP routes for inventory: parse, check who may act, call the service, serialise.

Who may act where: a channel's key acts and looks only for its own channel (others'
reservations are 404 to it); a store staff key changes stock only at its own location.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import StringConstraints

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import MAX_PAGE, Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import SKU_MAX, IdInQuery, IdPath, IdQuery, NameQuery, SkuQuery
from omnicart.auth.access import Named, Owned, access
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import list_events as list_outbox_events
from omnicart.inventory import queries, service
from omnicart.inventory.owners import reservation_owners, transfer_destination
from omnicart.inventory.schemas import (
    AdjustmentIn,
    ChannelAvailabilityOut,
    CountIn,
    CountLineOut,
    CountOut,
    DiscrepancyOut,
    EventOut,
    InTransitOut,
    LocationAvailabilityOut,
    MovementOut,
    OnHandOut,
    ReasonIn,
    ReservationIn,
    ReservationOut,
    ReservationSummaryOut,
    SkuUnitsOut,
    StockChangeOut,
    StockLinesIn,
    StockRowOut,
    TransferIn,
    TransferLineOut,
    TransferOut,
)
from omnicart.inventory.tables import Movement
from omnicart.kernel.errors import ValidationFailed

router = APIRouter(tags=["inventory"])
# Raw figures, the ledger and the event feed span every channel; a channel sees its own
# reservations and its available-to-promise, never other channels' business.
STOCK_FIGURES = access("inventory:read", "staff")
RESERVATION = Owned("reservation", "reservation_id", reservation_owners)
Skus = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=SKU_MAX)]],
    Query(min_length=1, max_length=MAX_PAGE, description="A SKU; repeat for more."),
]
ReservationStatus = Literal["active", "released", "expired", "allocated", "shipped"]


# ---------------------------------------------------------------- reservations


@router.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    tags=["reservations"],
    responses={200: {"model": ReservationOut, "description": "A repeat of its key: the first one"}},
)
@guard(access("reservations:write", "channel", channel=Named("body", "channel_id")))
def reserve_stock(
    body: ReservationIn,
    response: Response,
    db: DbDep,
    principal: Caller,
    idempotency_header: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> ReservationOut:
    """Hold stock for a channel; repeating a request with its key returns the first (200)."""
    if body.idempotency_key and idempotency_header and body.idempotency_key != idempotency_header:
        raise ValidationFailed(
            "the Idempotency-Key header and idempotency_key differ", field="idempotency_key"
        )
    view = service.reserve_stock(
        db,
        channel_id=body.channel_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        idempotency_key=body.idempotency_key or idempotency_header or "",
        location_id=body.location_id,
        ttl_seconds=body.ttl_seconds,
        reference=body.reference,
        actor=principal.actor,
    )
    if view.replayed:
        response.status_code = status.HTTP_200_OK
    return ReservationOut.model_validate(view)


@router.get("/reservations", tags=["reservations"])
@guard(
    access(
        "inventory:read", "channel", "staff", channel=Named("query", "channel_id", fill_own=True)
    )
)
def list_reservations(
    *,
    db: DbDep,
    principal: Caller,
    channel_id: IdQuery = None,
    status_: Annotated[ReservationStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ReservationSummaryOut]:
    """Reservations by ascending id; a channel's key sees only its own channel's."""
    with db.reading() as session:
        rows = queries.list_reservations(
            session,
            channel_id=channel_id,
            status=status_,
            after_id=decode_cursor(cursor),
            limit=limit,
        )
    return Page[ReservationSummaryOut](
        items=[ReservationSummaryOut.model_validate(r) for r in rows],
        next_cursor=next_cursor([r.id for r in rows], limit),
    )


@router.get("/reservations/{reservation_id}", tags=["reservations"])
@guard(access("inventory:read", "channel", "staff", channel=RESERVATION))
def get_reservation(reservation_id: IdPath, db: DbDep, principal: Caller) -> ReservationOut:
    """One reservation with its holds."""
    view = service.get_reservation(
        db, reservation_id=reservation_id, channel_id=principal.own_channel
    )
    return ReservationOut.model_validate(view)


@router.post("/reservations/{reservation_id}/release", tags=["reservations"])
@guard(access("reservations:write", "channel", channel=RESERVATION))
def release_reservation(
    reservation_id: IdPath, db: DbDep, principal: Caller, body: ReasonIn | None = None
) -> ReservationOut:
    """Give a reservation's units back to sale (repeating it is harmless)."""
    view = service.release_reservation(
        db,
        reservation_id=reservation_id,
        channel_id=principal.own_channel,
        actor=principal.actor,
        reason=body.reason if body else "",
    )
    return ReservationOut.model_validate(view)


@router.post("/reservations/{reservation_id}/allocate", tags=["reservations"])
@guard(access("reservations:write", "channel", channel=RESERVATION))
def allocate_reservation(
    reservation_id: IdPath, db: DbDep, principal: Caller, body: ReasonIn | None = None
) -> ReservationOut:
    """Turn a live reservation into an allocation: the order is committed."""
    view = service.allocate_reservation(
        db,
        reservation_id=reservation_id,
        channel_id=principal.own_channel,
        actor=principal.actor,
        reason=body.reason if body else "",
    )
    return ReservationOut.model_validate(view)


@router.post("/reservations/{reservation_id}/deallocate", tags=["reservations"])
@guard(access("reservations:write", "channel", channel=RESERVATION))
def deallocate_reservation(
    reservation_id: IdPath, db: DbDep, principal: Caller, body: ReasonIn | None = None
) -> ReservationOut:
    """Put an allocation's unshipped units back on sale (the order was cancelled)."""
    view = service.deallocate_reservation(
        db,
        reservation_id=reservation_id,
        channel_id=principal.own_channel,
        actor=principal.actor,
        reason=body.reason if body else "",
    )
    return ReservationOut.model_validate(view)


@router.post("/reservations/{reservation_id}/ship", tags=["reservations"])
@guard(access("inventory:write", "staff", store=RESERVATION))
def ship_allocation(
    reservation_id: IdPath, db: DbDep, principal: Caller, body: ReasonIn | None = None
) -> ReservationOut:
    """Ship every unshipped allocated unit: it leaves on-hand stock."""
    view = service.ship_allocation(
        db,
        reservation_id=reservation_id,
        actor=principal.actor,
        reason=body.reason if body else "",
        # A store's staff ships only what is held at its store.
        at_location_id=principal.own_store,
    )
    return ReservationOut.model_validate(view)


# ---------------------------------------------------------------- availability


@router.get("/availability", tags=["availability"])
@guard(access("inventory:read", "channel", "staff", channel=Named("query", "channel_id")))
def channel_availability(
    channel_id: IdInQuery, sku: Skus, db: DbDep, principal: Caller
) -> ChannelAvailabilityOut:
    """Units of each SKU a channel may sell: its shipping locations, after its buffer."""
    with db.reading() as session:
        units = queries.channel_availability(session, channel_id=channel_id, skus=sku)
    return ChannelAvailabilityOut(
        channel_id=channel_id,
        items=[SkuUnitsOut(sku=s, available=units[s]) for s in dict.fromkeys(sku)],
    )


@router.get("/locations/{location_id}/availability", tags=["availability"])
@guard(
    access(
        "inventory:read", "channel", "staff", channel=Named("query", "channel_id", fill_own=True)
    )
)
def location_availability(
    location_id: IdPath,
    sku: Skus,
    db: DbDep,
    principal: Caller,
    channel_id: IdQuery = None,
) -> LocationAvailabilityOut:
    """Units free at one location (store pickup); with a channel, after its buffer.

    A channel's key always sees a store through its own buffer, never the raw figures.
    """
    with db.reading() as session:
        units = queries.location_availability(
            session, location_id=location_id, skus=sku, channel_id=channel_id
        )
    return LocationAvailabilityOut(
        location_id=location_id,
        channel_id=channel_id,
        items=[SkuUnitsOut(sku=s, available=units[s]) for s in dict.fromkeys(sku)],
    )


# ---------------------------------------------------------------- stock operations


def _on_hand(location_id: IdPath, after: dict[str, int]) -> StockChangeOut:
    return StockChangeOut(
        location_id=location_id,
        items=[OnHandOut(sku=sku, on_hand=units) for sku, units in after.items()],
    )


@router.post("/stock/receipts", tags=["stock"])
@guard(access("inventory:write", "staff", store=Named("body", "location_id")))
def receive_stock(body: StockLinesIn, db: DbDep, principal: Caller) -> StockChangeOut:
    """Goods arrived at a location; returns on-hand units per SKU after."""
    after = service.receive_stock(
        db,
        location_id=body.location_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
        reason=body.reason,
    )
    return _on_hand(body.location_id, after)


@router.post("/stock/write-offs", tags=["stock"])
@guard(access("inventory:write", "staff", store=Named("body", "location_id")))
def write_off_stock(body: StockLinesIn, db: DbDep, principal: Caller) -> StockChangeOut:
    """Damaged or lost units leave stock (a reason is required)."""
    after = service.write_off_stock(
        db,
        location_id=body.location_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
        reason=body.reason,
    )
    return _on_hand(body.location_id, after)


@router.post("/stock/adjustments", tags=["stock"])
@guard(access("inventory:write", "staff", store=Named("body", "location_id")))
def adjust_stock(body: AdjustmentIn, db: DbDep, principal: Caller) -> StockChangeOut:
    """Correct on-hand units by `delta` (never below what is held)."""
    on_hand = service.adjust_stock(
        db,
        location_id=body.location_id,
        sku=body.sku,
        delta=body.delta,
        reason=body.reason,
        actor=principal.actor,
    )
    return _on_hand(body.location_id, {body.sku: on_hand})


@router.post("/stock/counts", status_code=status.HTTP_201_CREATED, tags=["stock"])
@guard(access("inventory:write", "staff", store=Named("body", "location_id")))
def record_count(body: CountIn, db: DbDep, principal: Caller) -> CountOut:
    """A cycle count: on-hand becomes what was counted; returns the variances."""
    count_id, lines = service.record_count(
        db,
        location_id=body.location_id,
        lines=[(line.sku, line.counted) for line in body.lines],
        actor=principal.actor,
        note=body.note,
    )
    return CountOut(
        count_id=count_id,
        location_id=body.location_id,
        lines=[CountLineOut.model_validate(line) for line in lines],
    )


def _transfer_out(view: service.TransferView) -> TransferOut:
    return TransferOut(
        id=view.id,
        from_location_id=view.from_location_id,
        to_location_id=view.to_location_id,
        status=view.status,
        created_at=view.created_at,
        received_at=view.received_at,
        lines=[TransferLineOut(sku=sku, quantity=q) for sku, q in view.lines],
    )


@router.post("/transfers", status_code=status.HTTP_201_CREATED, tags=["stock"])
@guard(access("inventory:write", "staff", store=Named("body", "from_location_id")))
def create_transfer(body: TransferIn, db: DbDep, principal: Caller) -> TransferOut:
    """Send stock to another location; in transit it is sellable nowhere."""
    view = service.create_transfer(
        db,
        from_location_id=body.from_location_id,
        to_location_id=body.to_location_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
        note=body.note,
    )
    return _transfer_out(view)


@router.post("/transfers/{transfer_id}/receive", tags=["stock"])
@guard(
    access("inventory:write", "staff", store=Owned("transfer", "transfer_id", transfer_destination))
)
def receive_transfer(transfer_id: IdPath, db: DbDep, principal: Caller) -> TransferOut:
    """A transfer's units arrive at its destination and go on sale there."""
    view = service.receive_transfer(
        db,
        transfer_id=transfer_id,
        actor=principal.actor,
        at_location_id=principal.own_store,
    )
    return _transfer_out(view)


# ---------------------------------------------------------------- reports


@router.get("/stock", tags=["stock"])
@guard(STOCK_FIGURES)
def list_stock(
    *,
    db: DbDep,
    principal: Caller,
    location_id: IdQuery = None,
    sku: SkuQuery = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[StockRowOut]:
    """Stock figures by SKU and location; the cursor moves by SKU (variant id)."""
    with db.reading() as session:
        rows = queries.stock_rows(
            session,
            location_id=location_id,
            sku=sku,
            after_variant_id=decode_cursor(cursor),
            limit=limit,
        )
    skus = sorted({r.variant_id for r in rows})
    return Page[StockRowOut](
        items=[StockRowOut.model_validate(r) for r in rows],
        next_cursor=next_cursor(skus, limit),
    )


@router.get("/stock/in-transit", tags=["stock"])
@guard(STOCK_FIGURES)
def in_transit(db: DbDep, principal: Caller) -> list[InTransitOut]:
    """Units on their way between locations, per SKU."""
    with db.reading() as session:
        units = queries.in_transit(session)
    return [InTransitOut(sku=sku, quantity=q) for sku, q in sorted(units.items())]


@router.get("/movements", tags=["stock"])
@guard(STOCK_FIGURES)
def list_movements(
    *,
    db: DbDep,
    principal: Caller,
    sku: SkuQuery = None,
    location_id: IdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[MovementOut]:
    """The stock ledger, oldest entry first."""
    with db.reading() as session:
        start = FeedPosition.decode(cursor)
        rows = queries.list_movements(
            session, sku=sku, location_id=location_id, after=start, limit=limit
        )
    # A feed always hands back where to resume, so a reader can poll for what comes next.
    last = position_of(rows[-1][0].tx_id, rows[-1][0].id) if rows else start
    return Page[MovementOut](
        items=[_movement_out(m, s) for m, s in rows], next_cursor=last.encode()
    )


def _movement_out(row: Movement, sku: str) -> MovementOut:
    return MovementOut(
        id=row.id,
        kind=row.kind,
        sku=sku,
        location_id=row.location_id,
        delta_on_hand=row.delta_on_hand,
        delta_reserved=row.delta_reserved,
        delta_allocated=row.delta_allocated,
        reason=row.reason,
        actor=row.actor,
        channel_id=row.channel_id,
        reservation_id=row.reservation_id,
        transfer_id=row.transfer_id,
        count_id=row.count_id,
        created_at=row.created_at,
    )


@router.get("/inventory/reconciliation", tags=["stock"])
@guard(STOCK_FIGURES)
def reconcile(db: DbDep, principal: Caller) -> list[DiscrepancyOut]:
    """Every disagreement between stock figures, the ledger and the holds; empty = healthy."""
    with db.reading() as session:
        found = queries.reconcile(session)
    return [DiscrepancyOut.model_validate(d) for d in found]


@router.get("/events", tags=["stock"])
@guard(STOCK_FIGURES)
def list_events(
    db: DbDep,
    principal: Caller,
    event_type: NameQuery = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EventOut]:
    """Domain events (StockLow, StockOutOfStock, StockBackInStock, ...), oldest first."""
    with db.reading() as session:
        start = FeedPosition.decode(cursor)
        rows = list_outbox_events(session, event_type=event_type, after=start, limit=limit)
    last = position_of(rows[-1].tx_id, rows[-1].id) if rows else start
    return Page[EventOut](
        items=[EventOut.model_validate(e) for e in rows], next_cursor=last.encode()
    )
