"""Reservations: hold stock for a channel, then release, expire, allocate or ship it.

A live hold can also move part of itself elsewhere (`move_hold_in`) or become an
allocation where it is (`allocate_hold_in`): its units were promised when it passed the
channel's rules, so only units that move pass them again.

Each use case is one transaction; every stock change goes through `ledger.apply_changes`
(or, for plain reservations on PostgreSQL, `pg_fast`, which applies the same rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from omnicart.catalog.lookup import describe_variants, refuse_unlisted, resolve_skus
from omnicart.catalog.tables import Variant
from omnicart.channels.policy import ChannelPolicy, load_channel_policy
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.inventory import pg_fast
from omnicart.inventory.checks import check_lines, request_hash
from omnicart.inventory.ledger import (
    Provenance,
    ReservationStatus,
    StaleStock,
    apply_changes,
    insert_ignoring_duplicates,
    lock_stock,
    locked_here,
    read_stock,
    transaction_memo,
)
from omnicart.inventory.model import (
    BufferPolicy,
    MovementKind,
    StockChange,
    StockFigures,
    plan_holds,
)
from omnicart.inventory.planning import (
    HoldRequest,
    NewHolds,
    demand_of,
    pool_for,
    split_holds,
)
from omnicart.inventory.tables import (
    Reservation,
    ReservationLine,
)
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omnicart.settings import get_settings

reservation_table = cast(Table, Reservation.__table__)
reservation_line_table = cast(Table, ReservationLine.__table__)
_insert_lines = insert(reservation_line_table)


@dataclass(frozen=True, slots=True)
class ReservationLineView:
    """Units of one stock-bearing SKU held at one location for a requested SKU."""

    sku: str
    requested_sku: str
    location_id: int
    quantity: int
    shipped: int = 0


@dataclass(frozen=True, slots=True)
class ReservationView:
    """A reservation as callers see it."""

    id: int
    channel_id: int
    idempotency_key: str
    status: str
    reference: str
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None
    lines: list[ReservationLineView] = field(default_factory=list)
    replayed: bool = False


def _reservation_view(
    session: Session, row: Reservation, *, replayed: bool = False
) -> ReservationView:
    lines = session.execute(
        select(ReservationLine, Variant.sku)
        .join(Variant, Variant.id == ReservationLine.variant_id)
        .where(ReservationLine.reservation_id == row.id)
        .order_by(ReservationLine.id)
    ).all()
    return ReservationView(
        id=row.id,
        channel_id=row.channel_id,
        idempotency_key=row.idempotency_key,
        status=row.status,
        reference=row.reference,
        expires_at=row.expires_at,
        created_at=row.created_at,
        closed_at=row.closed_at,
        lines=[
            ReservationLineView(
                sku=sku,
                requested_sku=line.requested_sku,
                location_id=line.location_id,
                quantity=line.quantity,
                shipped=line.shipped,
            )
            for line, sku in lines
        ],
        replayed=replayed,
    )


def _this_transaction(session: Session, name: str) -> dict[int, Any]:
    """A cache that lives as long as the session's current transaction (what it holds
    was read under locks that last exactly that long)."""
    cache: dict[int, Any] = transaction_memo(session.info, session.get_transaction(), name)
    return cache


def _lock_reservation(
    session: Session, reservation_id: int, *, channel_id: int | None
) -> Reservation:
    # Locked once per transaction: the steps of one use case (is the hold live, move
    # it, allocate it) share the row and its lock instead of asking again.
    locked = _this_transaction(session, "locked_reservations")
    if reservation_id not in locked:
        # Its lines come with it: every step that locks a reservation reads them next.
        _keep_locked(
            session,
            reservation_id,
            session.execute(
                select(Reservation, ReservationLine)
                .outerjoin(ReservationLine, ReservationLine.reservation_id == Reservation.id)
                .where(Reservation.id == reservation_id)
                .order_by(ReservationLine.id)
                .with_for_update(of=Reservation)
            ).all(),
        )
    return _visible(locked.get(reservation_id), reservation_id, channel_id)


def _keep_locked(session: Session, reservation_id: int, found: Sequence[Any]) -> None:
    """Keep a reservation just locked and its lines, read as (row, line or None) pairs
    ordered by line, for the rest of the transaction (nothing: it does not exist)."""
    if found:
        _this_transaction(session, "locked_reservations")[reservation_id] = found[0][0]
        _this_transaction(session, "reservation_holds")[reservation_id] = [
            line for _, line, *_ in found if line is not None
        ]


def _visible(row: Reservation | None, reservation_id: int, channel_id: int | None) -> Reservation:
    """`row`, unless it is missing or another channel's (`channel_id`) to ask about."""
    # A channel asking about another channel's reservation learns nothing about it.
    if row is None or (channel_id is not None and row.channel_id != channel_id):
        raise NotFound(f"reservation {reservation_id} does not exist", field="reservation_id")
    return row


def _holds_of(session: Session, reservation_id: int) -> list[ReservationLine]:
    """A locked reservation's lines (read once per transaction: only `_move` adds or
    removes lines of an existing reservation, and it forgets them; changes to a line's
    figures show in the session's own objects)."""
    known = _this_transaction(session, "reservation_holds")
    holds: list[ReservationLine] | None = known.get(reservation_id)
    if holds is None:
        holds = list(
            session.scalars(
                select(ReservationLine)
                .where(ReservationLine.reservation_id == reservation_id)
                .order_by(ReservationLine.id)
            )
        )
        known[reservation_id] = holds
    return list(holds)


def reserve_stock(
    db: Database,
    *,
    channel_id: int,
    lines: Sequence[tuple[str, int]],
    idempotency_key: str,
    location_id: int | None = None,
    ttl_seconds: int | None = None,
    reference: str = "",
    actor: str = "system",
) -> ReservationView:
    """Hold stock for a channel until it expires, is released or is allocated.

    Idempotent on (channel, idempotency_key): a repeat returns the first reservation;
    a repeat with a different request is a Conflict. Without `location_id` the units come
    from the channel's shipping locations; with one (store pickup) from that location.
    """
    if not idempotency_key:
        raise ValidationFailed(
            "an idempotency key is required (the Idempotency-Key header or the field), so a "
            "retried request cannot hold stock twice",
            field="idempotency_key",
        )
    if len(idempotency_key) > 200:
        raise ValidationFailed(
            "idempotency_key must be at most 200 characters", field="idempotency_key"
        )
    check_lines(lines)
    ttl = ttl_seconds if ttl_seconds is not None else get_settings().reservation_ttl_seconds
    if not 1 <= ttl <= 7 * 24 * 3600:
        raise ValidationFailed("ttl_seconds must be between 1 and 604800", field="ttl_seconds")
    fingerprint = request_hash(
        channel=channel_id, lines=sorted(lines), location=location_id, reference=reference
    )

    request = HoldRequest(
        channel_id=channel_id,
        lines=tuple(lines),
        key=idempotency_key,
        location_id=location_id,
        ttl=ttl,
        reference=reference,
        actor=actor,
        fingerprint=fingerprint,
    )

    def attempt(lock_first: bool) -> ReservationView:
        with db.connection() as conn:
            made = reserve_in(conn, request, lock_first=lock_first)
            return made if isinstance(made, ReservationView) else _new_view(request, made)

    try:
        return retrying(lambda: attempt(False))
    except StaleStock:
        # The optimistic plan lost a race for the last units: plan again under locks.
        return retrying(lambda: attempt(True))


def next_reservation_id() -> ColumnElement[int]:
    """SQL that draws the next reservation id (PostgreSQL), for a caller that writes it in
    its own row in the same statement and then holds with `HoldRequest(id=...)`.

    The sequence is the one behind reservations.id, found through the table's name, so
    the connection's search_path picks the schema as it does for every other statement.
    """
    sequence = func.pg_get_serial_sequence(reservation_table.name, reservation_table.c.id.name)
    return func.nextval(sequence, type_=BigInteger)


def reserve_in(
    conn: Connection,
    request: HoldRequest,
    *,
    lock_first: bool,
    policy: ChannelPolicy | None = None,
) -> ReservationView | NewHolds:
    """Make (or replay) the reservation of `request` in the caller's transaction.

    Without `lock_first`, an unbuffered channel's plan is made on unlocked figures and
    StaleStock is raised when it lost a race: the caller rolls back and redoes it locked.
    `policy` is the channel's, when the caller has just read it in this transaction.
    """
    if conn.dialect.name == "postgresql":
        # The same rules in fewer statements; None hands the request to the general path.
        fast = (
            pg_fast.place(conn, request, policy)
            if lock_first
            else pg_fast.reserve(conn, request, policy)
        )
        if fast is not None:
            return fast
    return _reserve_general(conn, request, lock_first=lock_first, policy=policy)


def _reserve_general(
    conn: Connection,
    request: HoldRequest,
    *,
    lock_first: bool,
    policy: ChannelPolicy | None,
) -> ReservationView | NewHolds:
    """`reserve_in` on any database, in SQLAlchemy Core statements."""
    channel_id, lines, key = request.channel_id, request.lines, request.key
    now = utcnow()
    # Claim the key before anything else: a repeat is answered with the first reservation
    # whatever has changed since (stock sold out, channel paused), and a concurrent twin
    # waits here, then finds our row.
    # The claim's columns are HoldRequest.claim's keys (with an id when one was drawn).
    claiming = insert_ignoring_duplicates(conn, reservation_table, returning=reservation_table.c.id)
    new_id = conn.execute(claiming, request.claim(now)).scalar()
    if new_id is None:
        session = Session(bind=conn)
        existing = session.scalar(
            select(Reservation).where(
                Reservation.channel_id == channel_id, Reservation.idempotency_key == key
            )
        )
        if existing is None:  # the twin rolled back between our insert and read
            raise Conflict(
                "a concurrent request with this key failed; retry", field="idempotency_key"
            )
        if existing.request_hash != request.fingerprint:
            raise Conflict(
                "idempotency_key was already used for a different request",
                field="idempotency_key",
            )
        return _reservation_view(session, existing, replayed=True)
    if policy is None or policy.channel_id != channel_id:
        policy = load_channel_policy(conn, channel_id=channel_id)
    skus = [sku for sku, _ in lines]
    infos = resolve_skus(conn, skus, listed_on_channel=channel_id)
    unlisted = tuple(sku for sku in dict.fromkeys(skus) if not infos[sku].listed)
    if not request.flag_unlisted:
        refuse_unlisted(policy.code, skus, unlisted)
    demand, parts = demand_of(lines, infos)
    pool = pool_for(policy, request.location_id, routed=request.pool)
    by_id = {info.variant_id: info for info in infos.values()}
    missing_ids = [v for v in demand if v not in by_id]
    if missing_ids:
        by_id.update(describe_variants(conn, missing_ids))
    buffer = BufferPolicy(policy.percent_shown, policy.units_held_back)
    keys = [(v, loc) for v in demand for loc in pool]
    # A buffer is a rule over all the channel's locations at once, so it needs them all
    # locked; without one, each row's own guarded UPDATE is the whole rule, and reading
    # unlocked keeps hot rows locked for one statement instead of the whole plan.
    locked = lock_stock(conn, keys) if lock_first or buffer != BufferPolicy() else None
    figures = locked if locked is not None else read_stock(conn, keys)
    plan = plan_holds(
        demand=demand,
        available={k: f.available for k, f in figures.items()},
        locations=pool,
        policy=buffer,
        sku_of={v: by_id[v].sku for v in demand},
        prefer_single=request.prefer_single,
    )
    holds = split_holds(plan, parts)
    conn.execute(
        _insert_lines,
        [
            {
                "reservation_id": new_id,
                "variant_id": v,
                "location_id": loc,
                "quantity": q,
                "shipped": 0,
                "requested_sku": sku,
            }
            for sku, v, loc, q in holds
        ],
    )
    apply_changes(
        conn,
        [
            StockChange(h.variant_id, h.location_id, allocated=h.quantity)
            if request.allocate
            else StockChange(h.variant_id, h.location_id, reserved=h.quantity)
            for h in plan
        ],
        Provenance(
            MovementKind.ALLOCATION if request.allocate else MovementKind.RESERVATION,
            actor=request.actor,
            channel_id=channel_id,
            reservation_id=new_id,
            reason=request.reference,
        ),
        locked=locked,
        variants=by_id,
        lock=locked is not None,
    )
    return NewHolds(
        new_id,
        now,
        now + timedelta(seconds=request.ttl),
        holds,
        {v: by_id[v].sku for v in demand},
        unlisted,
    )


def lock_rows(
    session: Session,
    *,
    skus: Sequence[str],
    location_ids: Sequence[int],
    reservation_ids: Sequence[int] = (),
) -> None:
    """Lock, in the one fixed order, every stock row a multi-step use case may touch: the
    SKUs' (for bundles, their components') rows at these locations and at those the
    reservations hold. Freeing one hold and making another in one transaction locks
    rows twice; taking them all first means it never waits holding rows out of order.
    """
    conn = session.connection()
    # A reservation this transaction has locked has its lines read once (and kept);
    # another's are read as they are now.
    locked = _this_transaction(session, "locked_reservations")
    others = [r for r in reservation_ids if r not in locked]
    held = [h for r in reservation_ids if r in locked for h in _holds_of(session, r)]
    if set(skus) <= {h.requested_sku for h in held}:
        # Held already: the lines name each SKU's stock-bearing variants (a kit's parts).
        variants = {h.variant_id for h in held if h.requested_sku in skus}
    else:
        infos = resolve_skus(conn, list(skus))
        variants = set(demand_of([(sku, 1) for sku in skus], infos)[0])
    keys = {(v, loc) for v in variants for loc in location_ids}
    keys |= {(h.variant_id, h.location_id) for h in held}
    if others:
        keys |= {
            (v, loc)
            for v, loc in conn.execute(
                select(ReservationLine.variant_id, ReservationLine.location_id).where(
                    ReservationLine.reservation_id.in_(others)
                )
            )
        }
    lock_stock(conn, keys)


def _new_view(request: HoldRequest, made: NewHolds) -> ReservationView:
    return ReservationView(
        id=made.id,
        channel_id=request.channel_id,
        idempotency_key=request.key,
        status="active",
        reference=request.reference,
        expires_at=made.expires_at,
        created_at=made.created_at,
        closed_at=None,
        lines=[
            ReservationLineView(sku=made.skus[v], requested_sku=sku, location_id=loc, quantity=q)
            for sku, v, loc, q in made.holds
        ],
    )


@dataclass(frozen=True, slots=True)
class Closing:
    """A reservation leaving one status for another, and the ledger kind that records it."""

    kind: MovementKind
    from_status: str
    to_status: str


RELEASE = Closing(MovementKind.RELEASE, "active", "released")
EXPIRE = Closing(MovementKind.EXPIRY, "active", "expired")
ALLOCATE = Closing(MovementKind.ALLOCATION, "active", "allocated")
DEALLOCATE = Closing(MovementKind.DEALLOCATION, "allocated", "released")


def close_in(
    session: Session,
    closing: Closing,
    *,
    reservation_id: int,
    channel_id: int | None,
    actor: str,
    reason: str,
    only_if_expired_at: datetime | None = None,
    refuse_if_expired: bool = False,
) -> ReservationView:
    """Move a reservation as `closing` says, in the caller's transaction, and describe it.

    Its holds change by the closing's kind (release, expiry, allocation or deallocation)
    through the ledger; asking again for the state it is already in is a replay.
    """
    row, replayed = close_quietly(
        session,
        closing,
        reservation_id=reservation_id,
        channel_id=channel_id,
        actor=actor,
        reason=reason,
        only_if_expired_at=only_if_expired_at,
        refuse_if_expired=refuse_if_expired,
    )
    return _reservation_view(session, row, replayed=replayed)


def close_quietly(
    session: Session,
    closing: Closing,
    *,
    reservation_id: int,
    channel_id: int | None,
    actor: str,
    reason: str,
    only_if_expired_at: datetime | None = None,
    refuse_if_expired: bool = False,
) -> tuple[Reservation, bool]:
    """`close_in` for a caller that needs no description: (the row, whether it was
    already so)."""
    kind, from_status, to_status = closing.kind, closing.from_status, closing.to_status
    row = _lock_reservation(session, reservation_id, channel_id=channel_id)
    if row.status != from_status:
        if row.status == to_status:
            return row, True
        raise Conflict(
            f"reservation {reservation_id} is {row.status}, not {from_status}",
            field="reservation_id",
            status_now=row.status,
        )
    if only_if_expired_at is not None and row.expires_at > only_if_expired_at:
        return row, False
    if refuse_if_expired and row.expires_at <= utcnow():
        # Checked under the row lock: a hold that has lapsed is not an order's stock,
        # even if the sweeper has not freed it yet.
        raise Conflict(
            f"reservation {reservation_id} expired at {row.expires_at.isoformat()}",
            field="reservation_id",
            status_now="expired",
        )
    holds = _holds_of(session, row.id)
    if kind in (MovementKind.RELEASE, MovementKind.EXPIRY):
        changes = [StockChange(h.variant_id, h.location_id, reserved=-h.quantity) for h in holds]
    elif kind is MovementKind.ALLOCATION:
        changes = [
            StockChange(h.variant_id, h.location_id, reserved=-h.quantity, allocated=h.quantity)
            for h in holds
        ]
    else:  # deallocation: what was allocated and not shipped goes back on sale
        changes = [
            StockChange(h.variant_id, h.location_id, allocated=-(h.quantity - h.shipped))
            for h in holds
            if h.quantity > h.shipped
        ]
    status = ReservationStatus(to_status, None if to_status == "allocated" else utcnow())
    apply_changes(
        session.connection(),
        changes,
        Provenance(
            kind,
            actor=actor,
            channel_id=row.channel_id,
            reservation_id=row.id,
            reason=reason,
        ),
        status=status,
    )
    # Written with the stock change (on PostgreSQL in its one statement): the session's
    # row says what the database holds and has no UPDATE of its own to send.
    for name, value in status.values().items():
        set_committed_value(row, name, value)
    session.flush()  # what else the use case left pending goes out before its next step
    return row, False


Hold = tuple[str, int, int, int]  # requested sku, variant, location, units


def live_hold_in(session: Session, *, reservation_id: int, channel_id: int) -> bool:
    """Lock a reservation and say whether it is still a hold: active and not expired.

    It is locked before any stock row, as the expiry sweep locks it, so the answer stays
    true until commit: the sweep cannot expire it meanwhile.
    """
    return _is_live(_lock_reservation(session, reservation_id, channel_id=channel_id))


def _is_live(row: Reservation) -> bool:
    return row.status == "active" and row.expires_at > utcnow()


def lock_hold(
    session: Session,
    *,
    reservation_id: int,
    channel_id: int,
    skus: Sequence[str],
    location_ids: Sequence[int],
) -> bool:
    """`live_hold_in`, then `lock_rows` of `skus` at `location_ids` and of the hold's own
    rows: the same locks, taken in the same order and kept for the transaction as those
    two leave them, and the same answer. On PostgreSQL one statement, when every SKU is
    among the hold's (a cart checking out its own hold); elsewhere the two calls.
    """
    locked = _this_transaction(session, "locked_reservations")
    if session.connection().dialect.name != "postgresql" or reservation_id in locked:
        live = live_hold_in(session, reservation_id=reservation_id, channel_id=channel_id)
        lock_rows(session, skus=skus, location_ids=location_ids, reservation_ids=[reservation_id])
        return live
    found = session.execute(
        pg_fast.LOCK_HOLD,
        {
            "reservation_id": reservation_id,
            "channel_id": channel_id,
            "skus": sorted(set(skus)),
            "locations": sorted(set(location_ids)),
        },
    ).all()
    _keep_locked(session, reservation_id, found)
    row = _visible(locked.get(reservation_id), reservation_id, channel_id)
    if found[0].covered:
        locked_here(session.connection()).update(
            {
                (variant_id, location_id): StockFigures(on_hand, reserved, allocated)
                for variant_id, location_id, on_hand, reserved, allocated in found[0].stock or ()
            }
        )
    else:  # a SKU the hold does not name: its rows are found as lock_rows finds them
        lock_rows(session, skus=skus, location_ids=location_ids, reservation_ids=[reservation_id])
    return _is_live(row)


def move_hold_in(
    session: Session,
    *,
    reservation_id: int,
    policy: ChannelPolicy,
    to: Sequence[int],
    prefer_single: bool = True,
    actor: str,
    reason: str,
) -> list[Hold]:
    """Move the units an active hold keeps outside the locations `to` into them: freed
    where they are, held again within `to` (in that priority order) under the channel's
    rules, its buffer included, as a new reservation would be. Units already held within
    `to` stay where they are. Nothing is written if they do not fit; returns the holds.
    """
    row = _lock_reservation(session, reservation_id, channel_id=policy.channel_id)
    if row.status != "active":
        raise Conflict(
            f"reservation {reservation_id} is {row.status}, not active",
            field="reservation_id",
            status_now=row.status,
        )
    holds = _holds_of(session, row.id)
    moving = [h for h in holds if h.location_id not in to]
    if moving:
        _move(
            session,
            row,
            holds=holds,
            moving=moving,
            policy=policy,
            to=to,
            prefer_single=prefer_single,
            actor=actor,
            reason=reason,
        )
    return [
        (h.requested_sku, h.variant_id, h.location_id, h.quantity)
        for h in _holds_of(session, row.id)
    ]


def _move(
    session: Session,
    row: Reservation,
    *,
    holds: list[ReservationLine],
    moving: list[ReservationLine],
    policy: ChannelPolicy,
    to: Sequence[int],
    prefer_single: bool,
    actor: str,
    reason: str,
) -> None:
    conn = session.connection()
    demand: dict[int, int] = {}
    for hold in moving:
        demand[hold.variant_id] = demand.get(hold.variant_id, 0) + hold.quantity
    variants = describe_variants(conn, list(demand))
    # Both ends locked at once, in the one fixed order; the freed rows lie outside `to`,
    # so the figures read here are the ones the new holds are planned on.
    locked = lock_stock(
        conn,
        {(h.variant_id, h.location_id) for h in moving} | {(v, loc) for v in demand for loc in to},
    )
    plan = plan_holds(
        demand=demand,
        available={k: f.available for k, f in locked.items()},
        locations=tuple(to),
        policy=BufferPolicy(policy.percent_shown, policy.units_held_back),
        sku_of={v: variants[v].sku for v in demand},
        prefer_single=prefer_single,
    )
    provenance = Provenance(
        MovementKind.RELEASE,
        actor=actor,
        channel_id=row.channel_id,
        reservation_id=row.id,
        reason=reason,
    )
    apply_changes(
        conn,
        [StockChange(h.variant_id, h.location_id, reserved=-h.quantity) for h in moving],
        provenance,
        locked=locked,
        variants=variants,
    )
    apply_changes(
        conn,
        [StockChange(h.variant_id, h.location_id, reserved=h.quantity) for h in plan],
        replace(provenance, kind=MovementKind.RESERVATION),
        locked=locked,
        variants=variants,
    )
    staying = {(h.requested_sku, h.variant_id, h.location_id): h for h in holds if h not in moving}
    _this_transaction(session, "reservation_holds").pop(row.id, None)
    for hold in moving:
        session.delete(hold)
    parts = [(h.requested_sku, h.variant_id, h.quantity) for h in moving]
    for sku, variant_id, location_id, units in split_holds(plan, parts):
        kept = staying.get((sku, variant_id, location_id))
        if kept is not None:
            kept.quantity += units
        else:
            session.add(
                ReservationLine(
                    reservation_id=row.id,
                    variant_id=variant_id,
                    location_id=location_id,
                    quantity=units,
                    shipped=0,
                    requested_sku=sku,
                )
            )
    session.flush()


def allocate_hold_in(
    session: Session,
    *,
    reservation_id: int,
    policy: ChannelPolicy,
    at: Sequence[int],
    prefer_single: bool = True,
    actor: str,
    reason: str,
) -> list[Hold]:
    """Turn a live hold into an allocation, in the caller's transaction.

    The units it holds within the locations `at` become allocated where they are,
    without the channel's buffer again: the hold passed it, and a sale on another
    channel since then cannot take them back. Only units held elsewhere are moved into
    `at` first (`move_hold_in`), under the rules. A hold that has expired is refused.
    Returns the allocated holds.
    """
    row = _lock_reservation(session, reservation_id, channel_id=policy.channel_id)
    if row.status == "active" and row.expires_at <= utcnow():
        # A lapsed hold is not a promise any more: its units are sold under the rules.
        raise Conflict(
            f"reservation {reservation_id} expired at {row.expires_at.isoformat()}",
            field="reservation_id",
            status_now="expired",
        )
    move_hold_in(
        session,
        reservation_id=reservation_id,
        policy=policy,
        to=at,
        prefer_single=prefer_single,
        actor=actor,
        reason=reason,
    )
    close_quietly(
        session,
        ALLOCATE,
        reservation_id=reservation_id,
        channel_id=policy.channel_id,
        actor=actor,
        reason=reason,
    )
    return [
        (h.requested_sku, h.variant_id, h.location_id, h.quantity)
        for h in _holds_of(session, reservation_id)
    ]


def _close_reservation(
    db: Database,
    closing: Closing,
    *,
    reservation_id: int,
    channel_id: int | None,
    actor: str,
    reason: str,
    only_if_expired_at: datetime | None = None,
    refuse_if_expired: bool = False,
) -> ReservationView:
    """`close_in` as a transaction of its own, run again if the database asks."""

    def attempt() -> ReservationView:
        with db.transaction() as session:
            return close_in(
                session,
                closing,
                reservation_id=reservation_id,
                channel_id=channel_id,
                actor=actor,
                reason=reason,
                only_if_expired_at=only_if_expired_at,
                refuse_if_expired=refuse_if_expired,
            )

    return retrying(attempt)


def release_reservation(
    db: Database,
    *,
    reservation_id: int,
    channel_id: int | None = None,
    actor: str = "system",
    reason: str = "",
) -> ReservationView:
    """Give a reservation's units back to sale (repeating it is harmless)."""
    return _close_reservation(
        db, RELEASE, reservation_id=reservation_id, channel_id=channel_id, actor=actor,
        reason=reason,
    )  # fmt: skip


def allocate_reservation(
    db: Database,
    *,
    reservation_id: int,
    channel_id: int | None = None,
    actor: str = "system",
    reason: str = "",
) -> ReservationView:
    """Turn a live reservation into an allocation (the order is committed)."""
    return _close_reservation(
        db, ALLOCATE, reservation_id=reservation_id, channel_id=channel_id, actor=actor,
        reason=reason, refuse_if_expired=True,
    )  # fmt: skip


def deallocate_reservation(
    db: Database,
    *,
    reservation_id: int,
    channel_id: int | None = None,
    actor: str = "system",
    reason: str = "",
) -> ReservationView:
    """Put an allocation's unshipped units back on sale (an order was cancelled)."""
    return _close_reservation(
        db, DEALLOCATE, reservation_id=reservation_id, channel_id=channel_id, actor=actor,
        reason=reason,
    )  # fmt: skip


def _per_unit(session: Session, skus: Sequence[str]) -> dict[str, dict[int, int]]:
    """Stock-bearing variants and units of each per unit of a requested SKU."""
    infos = resolve_skus(session, sorted(set(skus)))
    return {
        sku: dict(info.components) if info.is_bundle else {info.variant_id: 1}
        for sku, info in infos.items()
    }


def _whole_units(session: Session, holds: Sequence[ReservationLine]) -> dict[str, int]:
    """Whole units of each requested SKU the unshipped part of `holds` makes up (a kit:
    as many as its scarcest component allows)."""
    left: dict[tuple[str, int], int] = {}
    for h in holds:
        key = (h.requested_sku, h.variant_id)
        left[key] = left.get(key, 0) + h.quantity - h.shipped
    per = _per_unit(session, [sku for sku, _ in left])
    return {
        sku: min(left.get((sku, variant), 0) // each for variant, each in parts.items())
        for sku, parts in per.items()
    }


def held_here(session: Session, *, reservation_id: int, location_id: int) -> dict[str, int]:
    """Units of each requested SKU allocated at `location_id` and not shipped yet."""
    holds = [
        h
        for h in _holds_of(session, reservation_id)
        if h.location_id == location_id and h.quantity > h.shipped
    ]
    return {sku: n for sku, n in _whole_units(session, holds).items() if n > 0}


def _chosen_units(
    session: Session, holds: Sequence[ReservationLine], units: Mapping[str, int]
) -> list[tuple[ReservationLine, int]]:
    """(hold, units leaving it) for `units` of each requested SKU, from `holds`."""
    held = _whole_units(session, holds)
    per = _per_unit(session, list(units))
    leaving: list[tuple[ReservationLine, int]] = []
    for sku, count in sorted(units.items()):
        if count < 1 or count > held.get(sku, 0):
            raise ValidationFailed(
                f"{held.get(sku, 0)} unit(s) of {sku} are held here to ship, not {count}",
                field=f"units.{sku}",
            )
        for variant_id, each in per[sku].items():
            need = count * each
            for h in holds:
                if need and h.requested_sku == sku and h.variant_id == variant_id:
                    take = min(need, h.quantity - h.shipped)
                    if take:
                        leaving.append((h, take))
                        need -= take
    return leaving


def ship_in(
    session: Session,
    *,
    reservation_id: int,
    actor: str,
    reason: str,
    location_id: int | None = None,
    only_here: bool = False,
    units: Mapping[str, int] | None = None,
) -> list[ReservationLineView]:
    """Ship the unshipped allocated units (those at `location_id` when `only_here`).

    They leave on-hand stock through the ledger; once every unit has left, the
    reservation is shipped. Without `only_here`, a `location_id` (a store's staff)
    refuses a reservation holding units elsewhere. `units` ships only that many units
    of each requested SKU (a kit: that many kits), from `location_id` with `only_here`;
    more than is held there is refused (`held_here` tells what is). Returns what was
    shipped now.
    """
    row = _lock_reservation(session, reservation_id, channel_id=None)
    if row.status != "allocated":
        raise Conflict(
            f"reservation {reservation_id} is {row.status}, not allocated",
            field="reservation_id",
        )
    unshipped = [h for h in _holds_of(session, row.id) if h.quantity > h.shipped]
    holds = [h for h in unshipped if not only_here or h.location_id == location_id]
    if not holds:
        where = f" at location {location_id}" if only_here else ""
        raise Conflict(
            f"reservation {reservation_id} has nothing left to ship{where}",
            field="reservation_id",
        )
    elsewhere = sorted({h.location_id for h in holds} - {location_id})
    if location_id is not None and elsewhere:
        raise Forbidden(
            f"reservation {reservation_id} holds units at location(s) "
            f"{', '.join(map(str, elsewhere))}, not at this key's location",
            field="reservation_id",
        )
    leaving = (
        [(h, h.quantity - h.shipped) for h in holds]
        if units is None
        else _chosen_units(session, holds, units)
    )
    variants = describe_variants(session, [h.variant_id for h, _ in leaving])
    for hold, take in leaving:
        hold.shipped += take
    # Once every unit has left, the reservation is shipped: said with the stock change.
    closing = (
        ReservationStatus("shipped", utcnow())
        if all(h.shipped >= h.quantity for h in unshipped)
        else None
    )
    apply_changes(
        session.connection(),
        [
            StockChange(h.variant_id, h.location_id, on_hand=-take, allocated=-take)
            for h, take in leaving
        ],
        Provenance(
            MovementKind.SHIPMENT,
            actor=actor,
            channel_id=row.channel_id,
            reservation_id=row.id,
            reason=reason,
        ),
        variants=variants,
        status=closing,
    )
    skus = {v: info.sku for v, info in variants.items()}
    shipped = [
        ReservationLineView(
            sku=skus[h.variant_id],
            requested_sku=h.requested_sku,
            location_id=h.location_id,
            quantity=take,
            shipped=take,
        )
        for h, take in leaving
    ]
    if closing is not None:  # written above: the session has nothing of it to send
        for name, value in closing.values().items():
            set_committed_value(row, name, value)
    session.flush()
    return shipped


def ship_allocation(
    db: Database,
    *,
    reservation_id: int,
    actor: str = "system",
    reason: str = "",
    at_location_id: int | None = None,
) -> ReservationView:
    """Ship every unshipped allocated unit: it leaves on-hand stock; the status is shipped.

    `at_location_id` (a store's staff) refuses a reservation holding units elsewhere.
    """

    def attempt() -> ReservationView:
        with db.transaction() as session:
            ship_in(
                session,
                reservation_id=reservation_id,
                actor=actor,
                reason=reason,
                location_id=at_location_id,
            )
            row = _lock_reservation(session, reservation_id, channel_id=None)
            return _reservation_view(session, row)

    return retrying(attempt)


def expire_reservations(db: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """Release active reservations whose expiry has passed; returns how many."""
    moment = now or utcnow()
    with db.reading() as session:
        due = list(
            session.scalars(
                select(Reservation.id)
                .where(Reservation.status == "active", Reservation.expires_at <= moment)
                .order_by(Reservation.expires_at)
                .limit(limit)
            )
        )
    expired = 0
    for reservation_id in due:
        try:
            view = _close_reservation(
                db,
                EXPIRE,
                reservation_id=reservation_id,
                channel_id=None,
                actor="system:expiry",
                reason="hold expired",
                only_if_expired_at=moment,
            )
        except Conflict:
            continue  # released or allocated since it was listed: nothing left to free
        expired += view.status == "expired" and not view.replayed
    return expired


def get_reservation(
    db: Database, *, reservation_id: int, channel_id: int | None = None
) -> ReservationView:
    """One reservation with its lines."""
    with db.reading() as session:
        row = session.get(Reservation, reservation_id)
        if row is None or (channel_id is not None and row.channel_id != channel_id):
            raise NotFound(f"reservation {reservation_id} does not exist", field="reservation_id")
        return _reservation_view(session, row)
