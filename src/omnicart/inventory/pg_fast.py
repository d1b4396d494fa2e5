"""Reservations and orders' allocations on PostgreSQL in a few statements each.

The rules are the ones every other path uses (`model.plan_holds`, `BufferPolicy`,
and `ledger.stock_guard` inside the UPDATE); only the SQL is shaped for
PostgreSQL: statements are built with SQLAlchemy once, compiled once, and run as they are
(`exec_driver_sql`) in the caller's transaction, so a reservation costs a handful of round
trips and little Python. Anything unusual (bundles, a SKU the channel does not list, an
idempotent replay) returns None and the caller continues on the general path in the same
transaction, which has written nothing yet. `LOCK_HOLD` (a hold and its stock rows locked
at once) loads ORM rows, so it runs through the caller's session instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from omnicart.catalog.lookup import SkuInfo, check_all_found, listed_on
from omnicart.catalog.tables import Variant
from omnicart.channels.policy import POLICY_QUERY, ChannelPolicy, policy_from_rows
from omnicart.db.cache import cache_of
from omnicart.inventory.ledger import (
    MOVEMENT_COLUMNS,
    Key,
    StaleStock,
    locked_here,
    movement_table,
    record_threshold_events,
    stock_guard,
    stock_table,
)
from omnicart.inventory.model import (
    BufferPolicy,
    MovementKind,
    PlannedHold,
    StockFigures,
    plan_holds,
)
from omnicart.inventory.pg_sql import (
    IDS,
    INTS,
    TEXTS,
    Compiled,
    compile_pg,
    ints_literal,
    texts_literal,
)
from omnicart.inventory.planning import (
    HoldRequest,
    NewHolds,
    demand_of,
    pool_for,
    split_holds,
)
from omnicart.inventory.tables import Reservation, ReservationLine
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, InsufficientStock

st = stock_table


_SKUS_AND_STOCK = compile_pg(
    select(
        Variant.id,
        Variant.sku,
        Variant.is_bundle,
        Variant.low_stock_threshold,
        st.c.location_id,
        st.c.on_hand,
        st.c.reserved,
        st.c.allocated,
        listed_on(bindparam("channel_id", type_=BigInteger)).label("listed"),
    )
    .select_from(Variant)
    .outerjoin(
        st,
        and_(st.c.variant_id == Variant.id, st.c.location_id == any_(bindparam("pool", type_=IDS))),
    )
    .where(Variant.sku == any_(bindparam("skus", type_=TEXTS)))
)

_CLAIM_COLUMNS = (
    "channel_id",
    "idempotency_key",
    "request_hash",
    "status",
    "reference",
    "actor",
    "expires_at",
    "created_at",
)
# The SKUs, whether the channel lists them, and their stock rows in the pool, locked in
# (variant, location) order, in one statement: an order's allocation is planned on them.
_locked = (
    select(st.c.variant_id, st.c.location_id, st.c.on_hand, st.c.reserved, st.c.allocated)
    .where(
        st.c.variant_id.in_(
            select(Variant.id).where(Variant.sku == any_(bindparam("skus", type_=TEXTS)))
        ),
        st.c.location_id == any_(bindparam("pool", type_=IDS)),
    )
    .order_by(st.c.variant_id, st.c.location_id)
    .with_for_update()
    .cte("locked")
)
_SKUS_AND_LOCKED_STOCK = compile_pg(
    select(
        Variant.id,
        Variant.sku,
        Variant.is_bundle,
        Variant.low_stock_threshold,
        _locked.c.location_id,
        _locked.c.on_hand,
        _locked.c.reserved,
        _locked.c.allocated,
        listed_on(bindparam("channel_id", type_=BigInteger)).label("listed"),
    )
    .select_from(Variant)
    .outerjoin(_locked, _locked.c.variant_id == Variant.id)
    .where(Variant.sku == any_(bindparam("skus", type_=TEXTS)))
)

_wanted = select(
    func.unnest(bindparam("variants", type_=IDS)).label("variant_id"),
    func.unnest(bindparam("locations", type_=IDS)).label("location_id"),
    func.unnest(bindparam("d_reserved", type_=INTS)).label("d_reserved"),
    func.unnest(bindparam("d_allocated", type_=INTS)).label("d_allocated"),
).cte("wanted")


def _stock_write(reservation: Any, *extra: Any) -> Any:
    """The guarded UPDATE of the wanted rows and their ledger entries, as one statement
    answering the changed rows: `reservation` is the reservation id (a bound parameter,
    or a claiming CTE's column, listed in `extra` as a FROM of the UPDATE)."""
    changed = (
        update(st)
        .where(
            st.c.variant_id == _wanted.c.variant_id,
            st.c.location_id == _wanted.c.location_id,
            stock_guard(0, _wanted.c.d_reserved, _wanted.c.d_allocated),
            *extra,
        )
        .values(
            reserved=st.c.reserved + _wanted.c.d_reserved,
            allocated=st.c.allocated + _wanted.c.d_allocated,
            updated_at=bindparam("now"),
        )
        .returning(
            st.c.variant_id,
            st.c.location_id,
            st.c.on_hand,
            st.c.reserved,
            st.c.allocated,
            _wanted.c.d_reserved,
            _wanted.c.d_allocated,
            reservation.label("reservation_id"),
        )
        .cte("changed")
    )
    ledger = (
        postgresql.insert(movement_table)
        .from_select(
            [*MOVEMENT_COLUMNS, "created_at"],
            select(
                bindparam("kind", type_=String),
                changed.c.variant_id,
                changed.c.location_id,
                literal(0),
                changed.c.d_reserved,
                changed.c.d_allocated,
                bindparam("reason", type_=String),
                bindparam("actor", type_=String),
                bindparam("channel_id", type_=BigInteger),
                changed.c.reservation_id,
                bindparam("now"),
            ),
        )
        .cte("ledger")
    )
    return changed, ledger


def _claiming(columns: tuple[str, ...]) -> Compiled:
    """`_PLACE` for a reservation row written with `columns`: it claims the reservation,
    writes its lines, changes the rows (guarded) and appends the ledger, in one
    statement; nothing changes unless the claim succeeds, so a reservation already made
    under the key answers no row at all."""
    claimed = (
        postgresql.insert(Reservation)
        .values({name: bindparam(name) for name in columns})
        .on_conflict_do_nothing()
        .returning(Reservation.id)
        .cte("claimed")
    )
    lines = (
        postgresql.insert(ReservationLine)
        .from_select(
            ["reservation_id", "variant_id", "location_id", "quantity", "shipped",
             "requested_sku"],
            select(
                claimed.c.id,
                func.unnest(bindparam("line_variants", type_=IDS)),
                func.unnest(bindparam("line_locations", type_=IDS)),
                func.unnest(bindparam("line_quantities", type_=INTS)),
                literal(0),
                func.unnest(bindparam("line_skus", type_=TEXTS)),
            ).select_from(claimed),
        )
        .cte("lines")
    )  # fmt: skip
    placed, placed_ledger = _stock_write(claimed.c.id, claimed.c.id.is_not(None))
    place = select(
        claimed.c.id, placed.c.variant_id, placed.c.location_id, placed.c.on_hand,
        placed.c.reserved, placed.c.allocated,
    ).select_from(claimed.outerjoin(placed, literal(True)))  # fmt: skip
    return compile_pg(place.add_cte(lines).add_cte(placed_ledger))


# Each compiled once: the table draws the id, or the caller drew it (`HoldRequest.id`).
_PLACE = _claiming(_CLAIM_COLUMNS)
_PLACE_DRAWN = _claiming(("id", *_CLAIM_COLUMNS))


def _place_of(request: HoldRequest) -> Compiled:
    return _PLACE if request.id is None else _PLACE_DRAWN


# A cart's hold and the stock rows its checkout may touch, locked in one statement
# (`reservations.lock_hold`). The reservation is locked first, as the expiry sweep locks
# it before its stock rows: every stock row the statement locks is found through the
# hold's lines, which are read through the locked reservation, so no stock row can be
# locked before it. The stock rows are then locked in (variant, location) order, as
# `ledger.lock_stock` locks them: the lines' variants at the given locations and at the
# lines' own, and only when every SKU asked for is among the lines' (the caller looks
# the others up and locks them all in one statement instead; `covered` says which).
# Each row locked is read as it is once locked; a row first inserted by a transaction
# that committed while this one waited is not seen, and is locked when a later step asks
# for it (`ledger.locked_here` does not name it).
_hold = (
    select(Reservation)
    .where(Reservation.id == bindparam("reservation_id", type_=BigInteger))
    .with_for_update()
    .cte("hold")
)
_hold_lines = (
    select(ReservationLine).where(ReservationLine.reservation_id == _hold.c.id).cte("hold_lines")
)
_asked = func.unnest(bindparam("skus", type_=TEXTS)).column_valued("asked_sku")
_covered = ~exists().where(_asked.not_in(select(_hold_lines.c.requested_sku)))
_hold_stock = (
    select(st.c.variant_id, st.c.location_id, st.c.on_hand, st.c.reserved, st.c.allocated)
    .where(
        st.c.variant_id.in_(select(_hold_lines.c.variant_id)),
        or_(
            st.c.location_id == any_(bindparam("locations", type_=IDS)),
            st.c.location_id.in_(select(_hold_lines.c.location_id)),
        ),
        # Another channel's hold is not found (`reservations._visible`): lock nothing.
        exists().where(_hold.c.channel_id == bindparam("channel_id", type_=BigInteger)),
        _covered,
    )
    .order_by(st.c.variant_id, st.c.location_id)
    .with_for_update(of=st)
    .cte("hold_stock")
)
_held_row = aliased(Reservation, _hold)
_held_line = aliased(ReservationLine, _hold_lines)
LOCK_HOLD = (
    select(
        _held_row,
        _held_line,
        _covered.label("covered"),
        # Every row carries them all: (variant, location, on hand, reserved, allocated).
        select(
            func.array_agg(
                postgresql.array(
                    [
                        _hold_stock.c.variant_id,
                        _hold_stock.c.location_id,
                        _hold_stock.c.on_hand,
                        _hold_stock.c.reserved,
                        _hold_stock.c.allocated,
                    ]
                )
            )
        )
        .scalar_subquery()
        .label("stock"),
    )
    .select_from(_held_row)
    .outerjoin(_held_line, _held_line.reservation_id == _held_row.id)
    .order_by(_held_line.id)
)
_POLICY = compile_pg(POLICY_QUERY)
_POLICY_TABLES = frozenset({"channels", "channel_locations", "locations"})


def reserve(
    conn: Connection, request: HoldRequest, policy: ChannelPolicy | None = None
) -> NewHolds | None:
    """Reserve on PostgreSQL, or None when the general path must handle the request.

    A refusal (no stock, a paused channel) may be the repeat of a request that already
    holds its units, so refusals go to the general path, which claims the key first.
    """
    try:
        return _reserve(conn, request, _policy_of(conn, request, policy))
    except (InsufficientStock, Conflict):
        return None


def _policy_of(
    conn: Connection, request: HoldRequest, policy: ChannelPolicy | None
) -> ChannelPolicy:
    """The request's channel's policy: the caller's, if it read it, or read now."""
    if policy is not None and policy.channel_id == request.channel_id:
        return policy
    channel_id = request.channel_id

    def read() -> ChannelPolicy:
        return policy_from_rows(
            _POLICY.run(conn, {"channel_id": channel_id}), channel_id=channel_id
        )

    cache = cache_of(conn.engine)
    if cache is None:
        return read()
    return cache.get(("policy", channel_id), tables=_POLICY_TABLES, load=read)


def _reserve(conn: Connection, request: HoldRequest, policy: ChannelPolicy) -> NewHolds | None:
    buffer = BufferPolicy(policy.percent_shown, policy.units_held_back)
    if buffer != BufferPolicy():
        # A buffer is a rule over the channel's locations together, which a guarded
        # UPDATE of each row cannot check: plan on the rows locked, as an order does.
        return _place(conn, request, policy)
    channel_id, lines, location_id = request.channel_id, request.lines, request.location_id
    pool: tuple[int, ...] = pool_for(policy, location_id, routed=request.pool)
    wanted = sorted({sku for sku, _ in lines})
    rows = _SKUS_AND_STOCK.run(
        conn,
        {
            "skus": texts_literal(wanted),
            "pool": ints_literal(pool),
            "channel_id": channel_id,
        },
    )
    check_all_found(wanted, {r.sku for r in rows})
    # An unlisted SKU is refused (or flagged) by the general path, by the one rule.
    if any(r.is_bundle or not r.listed for r in rows):
        return None
    infos = {r.sku: SkuInfo(r.id, r.sku, False, r.low_stock_threshold) for r in rows}
    figures = {
        (r.id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in rows
        if r.location_id is not None
    }
    demand, parts = demand_of(lines, infos)
    names = {info.variant_id: info.sku for info in infos.values()}
    plan: list[PlannedHold] = plan_holds(
        demand=demand,
        available={k: f.available for k, f in figures.items()},
        locations=pool,
        policy=buffer,
        sku_of=names,
        prefer_single=request.prefer_single,
    )
    holds: list[tuple[str, int, int, int]] = split_holds(plan, parts)
    now = utcnow()
    ordered = sorted(plan, key=lambda h: (h.variant_id, h.location_id))
    claim = {
        **request.claim(now),
        "line_variants": ints_literal([h[1] for h in holds]),
        "line_locations": ints_literal([h[2] for h in holds]),
        "line_quantities": ints_literal([h[3] for h in holds]),
        "line_skus": texts_literal([h[0] for h in holds]),
    }
    hold = {
        "variants": ints_literal([h.variant_id for h in ordered]),
        "locations": ints_literal([h.location_id for h in ordered]),
        "d_reserved": ints_literal([h.quantity for h in ordered]),
        "d_allocated": ints_literal([0] * len(ordered)),
        "kind": MovementKind.RESERVATION.value,
        "now": now,
        "reason": request.reference,
        "actor": request.actor,
    }
    # Claim, lines, the guarded change and the ledger in one statement: a row that ran
    # short since it was read refuses, and the request is redone locked.
    changed = _place_of(request).run(conn, {**claim, **hold})
    if not changed:  # a replay: the general path answers with the first reservation
        return None
    if len(changed) != len(ordered) or changed[0].variant_id is None:
        raise StaleStock
    reservation_id = changed[0].id
    after: dict[Key, StockFigures] = {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in changed
    }
    locked_here(conn).update(after)  # each row changed is locked by its UPDATE
    held = {(h.variant_id, h.location_id): h.quantity for h in ordered}
    before = {
        k: StockFigures(f.on_hand, f.reserved - held[k], f.allocated) for k, f in after.items()
    }
    record_threshold_events(
        conn, before, after, {info.variant_id: info for info in infos.values()}, now
    )
    return NewHolds(reservation_id, now, now + timedelta(seconds=request.ttl), holds, names)


def place(
    conn: Connection, request: HoldRequest, policy: ChannelPolicy | None = None
) -> NewHolds | None:
    """Allocate (or hold) a request's units on PostgreSQL under row locks, in two
    statements (plus the channel's policy when the caller has not read it): the SKUs
    with their pool's stock rows locked, then the reservation, its lines, the rows'
    change and the ledger at once. None when the general path must handle the request
    (bundles, a SKU the channel does not list, a key already used, a refusal that may be
    a repeat's): nothing has been written then, and the locks taken are ones it takes too.
    """
    try:
        return _place(conn, request, _policy_of(conn, request, policy))
    except InsufficientStock:
        if request.new_key:  # not a repeat: the general path would refuse it the same way
            raise
        return None
    except Conflict:
        return None


def _place(conn: Connection, request: HoldRequest, policy: ChannelPolicy) -> NewHolds | None:
    channel_id = request.channel_id
    pool = pool_for(policy, request.location_id, routed=request.pool)
    wanted = sorted({sku for sku, _ in request.lines})
    rows = _SKUS_AND_LOCKED_STOCK.run(
        conn,
        {"skus": texts_literal(wanted), "pool": ints_literal(pool), "channel_id": channel_id},
    )
    check_all_found(wanted, {r.sku for r in rows})
    if any(r.is_bundle or not r.listed for r in rows):
        return None
    infos = {r.sku: SkuInfo(r.id, r.sku, False, r.low_stock_threshold) for r in rows}
    before = {
        (r.id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in rows
        if r.location_id is not None
    }
    locked_here(conn).update(before)
    demand, parts = demand_of(request.lines, infos)
    names = {info.variant_id: info.sku for info in infos.values()}
    plan: list[PlannedHold] = plan_holds(
        demand=demand,
        available={k: f.available for k, f in before.items()},
        locations=pool,
        policy=BufferPolicy(policy.percent_shown, policy.units_held_back),
        sku_of=names,
        prefer_single=request.prefer_single,
    )
    holds = split_holds(plan, parts)
    ordered = sorted(plan, key=lambda h: (h.variant_id, h.location_id))
    quantities = [h.quantity for h in ordered]
    zeros = [0] * len(ordered)
    now = utcnow()
    changed = _place_of(request).run(
        conn,
        {
            **request.claim(now),
            "line_variants": ints_literal([h[1] for h in holds]),
            "line_locations": ints_literal([h[2] for h in holds]),
            "line_quantities": ints_literal([h[3] for h in holds]),
            "line_skus": texts_literal([h[0] for h in holds]),
            "variants": ints_literal([h.variant_id for h in ordered]),
            "locations": ints_literal([h.location_id for h in ordered]),
            "d_reserved": ints_literal(zeros if request.allocate else quantities),
            "d_allocated": ints_literal(quantities if request.allocate else zeros),
            "kind": (
                MovementKind.ALLOCATION if request.allocate else MovementKind.RESERVATION
            ).value,
            "now": now,
            "reason": request.reference,
            "actor": request.actor,
        },
    )
    if not changed:  # the key was taken: the general path answers with its reservation
        return None
    if len(changed) != len(ordered) or changed[0].variant_id is None:
        raise StaleStock  # cannot happen on rows locked above; never write half a plan
    after: dict[Key, StockFigures] = {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in changed
    }
    locked_here(conn).update(after)
    record_threshold_events(
        conn, {k: before[k] for k in after}, after, {i.variant_id: i for i in infos.values()}, now
    )
    return NewHolds(changed[0].id, now, now + timedelta(seconds=request.ttl), holds, names)
