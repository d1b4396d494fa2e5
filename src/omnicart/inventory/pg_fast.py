"""Reservations on PostgreSQL in four statements on the driver's cursor.

The rules are the ones every other path uses (`model.plan_holds`, `model.plan_fits`,
`BufferPolicy`, and `ledger.stock_guard` inside the UPDATE); only the SQL is shaped for
PostgreSQL: statements are built with SQLAlchemy once, compiled once, and run on the
psycopg cursor of the caller's transaction, so a reservation costs a handful of round
trips and little Python. Anything unusual (bundles, a SKU the channel does not list, an
idempotent replay) returns None and the caller continues on the general path in the same
transaction, which has written nothing yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    BigInteger,
    ClauseElement,
    Connection,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from omnicart.catalog.lookup import SkuInfo, check_all_found, listed_on
from omnicart.catalog.tables import Variant
from omnicart.channels.policy import POLICY_QUERY, ChannelPolicy, policy_from_rows
from omnicart.inventory.ledger import (
    Key,
    StaleStock,
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
    plan_fits,
    plan_holds,
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

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
_ids = ARRAY(BigInteger)
_ints = ARRAY(Integer)
_texts = ARRAY(String)
st = stock_table


@dataclass(frozen=True, slots=True)
class _Sql:
    text: str
    defaults: dict[str, Any]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values}


def _ints_literal(values: Sequence[int]) -> str:
    # psycopg adapts lists element by element in Python; a PostgreSQL array literal,
    # cast in the SQL, costs a string join. Ints need no quoting.
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def _texts_literal(values: Sequence[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _compile(statement: ClauseElement) -> _Sql:
    compiled = statement.compile(dialect=_DIALECT)
    return _Sql(str(compiled), {k: v for k, v in compiled.params.items() if v is not None})


_SKUS_AND_STOCK = _compile(
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
        and_(
            st.c.variant_id == Variant.id, st.c.location_id == any_(bindparam("pool", type_=_ids))
        ),
    )
    .where(Variant.sku == any_(bindparam("skus", type_=_texts)))
)

_claimed = (
    postgresql.insert(Reservation)
    .values(
        {
            name: bindparam(name)
            for name in (
                "channel_id",
                "idempotency_key",
                "request_hash",
                "status",
                "reference",
                "actor",
                "expires_at",
                "created_at",
            )
        }
    )
    .on_conflict_do_nothing()
    .returning(Reservation.id)
    .cte("claimed")
)
_CLAIM = _compile(
    select(_claimed.c.id).add_cte(
        postgresql.insert(ReservationLine)
        .from_select(
            ["reservation_id", "variant_id", "location_id", "quantity", "shipped", "requested_sku"],
            select(
                _claimed.c.id,
                func.unnest(bindparam("line_variants", type_=_ids)),
                func.unnest(bindparam("line_locations", type_=_ids)),
                func.unnest(bindparam("line_quantities", type_=_ints)),
                literal(0),
                func.unnest(bindparam("line_skus", type_=_texts)),
            ).select_from(_claimed),
        )
        .cte("lines")
    )
)

_LOCK = _compile(
    select(st.c.variant_id, st.c.location_id, st.c.on_hand, st.c.reserved, st.c.allocated)
    .where(
        st.c.variant_id == any_(bindparam("variants", type_=_ids)),
        st.c.location_id == any_(bindparam("locations", type_=_ids)),
    )
    .order_by(st.c.variant_id, st.c.location_id)
    .with_for_update()
)

_wanted = select(
    func.unnest(bindparam("variants", type_=_ids)).label("variant_id"),
    func.unnest(bindparam("locations", type_=_ids)).label("location_id"),
    func.unnest(bindparam("d_reserved", type_=_ints)).label("d_reserved"),
).cte("wanted")
_changed = (
    update(st)
    .where(
        st.c.variant_id == _wanted.c.variant_id,
        st.c.location_id == _wanted.c.location_id,
        stock_guard(0, _wanted.c.d_reserved, 0),
    )
    .values(reserved=st.c.reserved + _wanted.c.d_reserved, updated_at=bindparam("now"))
    .returning(
        st.c.variant_id,
        st.c.location_id,
        st.c.on_hand,
        st.c.reserved,
        st.c.allocated,
        _wanted.c.d_reserved,
    )
    .cte("changed")
)
# One statement changes the rows and appends their ledger entries, so the row locks are
# held for a single round trip plus the commit.
_HOLD = _compile(
    select(
        _changed.c.variant_id,
        _changed.c.location_id,
        _changed.c.on_hand,
        _changed.c.reserved,
        _changed.c.allocated,
    ).add_cte(
        postgresql.insert(movement_table)
        .from_select(
            [
                "kind",
                "variant_id",
                "location_id",
                "delta_on_hand",
                "delta_reserved",
                "delta_allocated",
                "reason",
                "actor",
                "channel_id",
                "reservation_id",
                "created_at",
            ],
            select(
                literal(MovementKind.RESERVATION.value),
                _changed.c.variant_id,
                _changed.c.location_id,
                literal(0),
                _changed.c.d_reserved,
                literal(0),
                bindparam("reason", type_=String),
                bindparam("actor", type_=String),
                bindparam("channel_id", type_=BigInteger),
                bindparam("reservation_id", type_=BigInteger),
                bindparam("now"),
            ),
        )
        .cte("ledger")
    )
)
_POLICY = _compile(POLICY_QUERY)


def reserve(conn: Connection, request: HoldRequest) -> NewHolds | None:
    """Reserve on PostgreSQL, or None when the general path must handle the request.

    A refusal (no stock, a paused channel) may be the repeat of a request that already
    holds its units, so refusals go to the general path, which claims the key first.
    Driver errors are raised as SQLAlchemy's, so retries and the API's error mapping
    see them as they see every other database error.
    """
    try:
        return _reserve(conn, request)
    except (InsufficientStock, Conflict):
        return None
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def _reserve(conn: Connection, request: HoldRequest) -> NewHolds | None:
    channel_id, lines, location_id = request.channel_id, request.lines, request.location_id
    cursor = conn.connection.dbapi_connection.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr]
    cursor.execute(_POLICY.text, _POLICY.params({"channel_id": channel_id}))
    policy: ChannelPolicy = policy_from_rows(cursor.fetchall(), channel_id=channel_id)
    pool: tuple[int, ...] = pool_for(policy, location_id, routed=request.pool)
    wanted = sorted({sku for sku, _ in lines})
    cursor.execute(
        _SKUS_AND_STOCK.text,
        _SKUS_AND_STOCK.params(
            {
                "skus": _texts_literal(wanted),
                "pool": _ints_literal(pool),
                "channel_id": channel_id,
            }
        ),
    )
    rows = cursor.fetchall()
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
    buffer = BufferPolicy(policy.percent_shown, policy.units_held_back)
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
    cursor.execute(
        _CLAIM.text,
        _CLAIM.params(
            {
                **request.claim(now),
                "line_variants": _ints_literal([h[1] for h in holds]),
                "line_locations": _ints_literal([h[2] for h in holds]),
                "line_quantities": _ints_literal([h[3] for h in holds]),
                "line_skus": _texts_literal([h[0] for h in holds]),
            }
        ),
    )
    claimed = cursor.fetchone()
    if claimed is None:  # a replay: the general path answers with the first reservation
        return None
    ordered = sorted(plan, key=lambda h: (h.variant_id, h.location_id))
    if buffer != BufferPolicy():
        # A buffer is a rule over the channel's locations together: lock them and check
        # the plan still fits before changing anything.
        cursor.execute(
            _LOCK.text,
            _LOCK.params(
                {
                    "variants": _ints_literal(sorted(demand)),
                    "locations": _ints_literal(sorted(pool)),
                }
            ),
        )
        locked = {
            (r.variant_id, r.location_id): r.on_hand - r.reserved - r.allocated
            for r in cursor.fetchall()
        }
        if not plan_fits(ordered, demand=demand, available=locked, locations=pool, policy=buffer):
            raise StaleStock
    cursor.execute(
        _HOLD.text,
        _HOLD.params(
            {
                "variants": _ints_literal([h.variant_id for h in ordered]),
                "locations": _ints_literal([h.location_id for h in ordered]),
                "d_reserved": _ints_literal([h.quantity for h in ordered]),
                "now": now,
                "reason": request.reference,
                "actor": request.actor,
                "channel_id": channel_id,
                "reservation_id": claimed.id,
            }
        ),
    )
    changed = cursor.fetchall()
    if len(changed) != len(ordered):
        raise StaleStock  # a row ran short since it was read: redo the request locked
    after: dict[Key, StockFigures] = {
        (r.variant_id, r.location_id): StockFigures(r.on_hand, r.reserved, r.allocated)
        for r in changed
    }
    held = {(h.variant_id, h.location_id): h.quantity for h in ordered}
    before = {
        k: StockFigures(f.on_hand, f.reserved - held[k], f.allocated) for k, f in after.items()
    }
    record_threshold_events(
        conn, before, after, {info.variant_id: info for info in infos.values()}, now
    )
    return NewHolds(claimed.id, now, now + timedelta(seconds=request.ttl), holds, names)
