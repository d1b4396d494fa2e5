"""Placing an order: route it, hold and allocate its stock, write it, announce it.

Everything here runs inside the caller's transaction, so an order and its stock are
written together or not at all: no order without its units, no units held for no order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Column,
    CompoundSelect,
    Table,
    bindparam,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from omnicart.catalog.lookup import listed_on
from omnicart.catalog.tables import ChannelPrice, Variant
from omnicart.channels.policy import POLICY_QUERY, ChannelPolicy, policy_from_rows
from omnicart.channels.tables import Channel
from omnicart.db.cache import CACHE
from omnicart.db.outbox import OutboxEvent, record_event
from omnicart.inventory.ledger import insert_ignoring_duplicates
from omnicart.inventory.planning import HoldRequest, NewHolds
from omnicart.inventory.reservations import (
    DEALLOCATE,
    allocate_hold_in,
    close_quietly,
    lock_rows,
    reserve_in,
)
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound
from omnicart.locations.tables import Location
from omnicart.orders import routing
from omnicart.orders.model import CheckedLine, Fulfil, OrderPlan, Totals
from omnicart.orders.tables import (
    Cart,
    Fulfilment,
    Order,
    OrderLine,
    OrderRules,
    OrderTransition,
    Payment,
)
from omnicart.orders.views import OrderRows, segment_payload

order_table = cast(Table, Order.__table__)
# A hold that became an allocation no longer expires; this only bounds the claim row.
_ORDER_HOLD_TTL = 3600


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an order's units are held, and the routing decision that put them there."""

    reservation_id: int
    holds: list[tuple[str, int, int, int]]  # requested sku, variant, location, units
    routing: dict[str, Any]
    flags: list[dict[str, Any]] = field(default_factory=list)  # what a person should check


@dataclass(frozen=True, slots=True)
class SetupChannel:
    """The facts of a channel an order uses (kept between requests: no ORM row)."""

    id: int
    code: str
    currency: str
    kind: str
    active: bool


_C = TypeVar("_C", Channel, SetupChannel)
_M = TypeVar("_M", Order, Cart)


def channel_row(session: Session, channel_id: int, *, kinds: Sequence[str] = ()) -> Channel:
    """The channel, active and (when `kinds` is given) of one of those kinds."""
    return _usable(session.get(Channel, channel_id), channel_id, kinds)


def _usable(channel: _C | None, channel_id: int, kinds: Sequence[str]) -> _C:
    """`channel` if it exists, is active and (when `kinds` is given) of one of those kinds."""
    if channel is None:
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    if not channel.active:
        raise Conflict(f"channel {channel.code!r} is not active", field="channel_id")
    if kinds and channel.kind not in kinds:
        raise Conflict(
            f"channel {channel.code!r} is a {channel.kind} channel; this takes "
            f"{', '.join(kinds)} channels",
            field="channel_id",
        )
    return channel


def location_row(session: Session, location_id: int) -> Location:
    """An active location, or NotFound / Conflict."""
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(f"location {location_id} does not exist", field="location_id")
    if not location.active:
        raise Conflict(f"location {location.code!r} is not active", field="location_id")
    return location


def channel_prices(session: Session, channel_id: int, skus: Sequence[str]) -> dict[str, Decimal]:
    """The channel's price of each SKU that has one."""
    return price_list(session, channel_id, skus).prices


@dataclass(frozen=True, slots=True)
class PriceList:
    """The channel's price of each SKU that has one, and those of the SKUs (known ones, in
    the order asked) the channel does not list."""

    prices: dict[str, Decimal]
    unlisted: list[str]


# What a channel's price of a SKU is read from: a change to any of them drops the kept ones.
_PRICE_TABLES = frozenset({"variants", "channel_prices", "listings"})


def price_list(session: Session, channel_id: int, skus: Sequence[str]) -> PriceList:
    """`channel_prices` and `catalog.lookup.unlisted_skus` of `skus`, in one query (or
    kept by the process since, per SKU: `db.cache`)."""
    wanted = list(dict.fromkeys(skus))
    cache = session.info.get(CACHE)
    if cache is None:
        read = _read_prices(session, channel_id, [("price", channel_id, s) for s in wanted])
    else:
        read = cache.get_many(
            [("price", channel_id, sku) for sku in wanted],
            tables=_PRICE_TABLES,
            load=lambda keys: _read_prices(session, channel_id, keys),
        )
    priced = {key[2]: value for key, value in read.items()}
    return PriceList(
        {sku: amount for sku, (amount, _) in priced.items() if amount is not None},
        [sku for sku in wanted if sku in priced and not priced[sku][1]],
    )


_PriceKey = tuple[str, int, str]  # ("price", channel, sku)


def _read_prices(
    session: Session, channel_id: int, keys: list[_PriceKey]
) -> dict[_PriceKey, tuple[Decimal | None, bool]]:
    """(the channel's price or None, whether the channel lists it) of each known SKU."""
    rows = session.execute(
        select(Variant.sku, ChannelPrice.amount, listed_on(channel_id).label("listed"))
        .outerjoin(
            ChannelPrice,
            (ChannelPrice.variant_id == Variant.id) & (ChannelPrice.channel_id == channel_id),
        )
        .where(Variant.sku.in_([sku for _, _, sku in keys]))
    ).all()
    return {("price", channel_id, row.sku): (row.amount, bool(row.listed)) for row in rows}


def order_rules(session: Session, channel_id: int) -> OrderRules | None:
    """The channel's stored order rules (None: it set none, the defaults apply)."""
    return session.get(OrderRules, channel_id)


def _site(row: Any) -> routing.Site:
    return routing.Site(
        id=row.location_id,
        code=row.location_code,
        kind=row.location_kind,
        ships=row.ships,
        ship_from_store=row.ship_from_store,
        pickup=row.pickup,
        priority=row.priority,
        latitude=row.latitude,
        longitude=row.longitude,
    )


_SITE_COLUMNS = (
    Location.code.label("location_code"),
    Location.kind.label("location_kind"),
    Location.ships,
    Location.ship_from_store,
    Location.pickup,
    Location.latitude,
    Location.longitude,
)


def _sites(session: Session, ids: Sequence[int]) -> list[routing.Site]:
    rows = session.execute(
        select(Location.id.label("location_id"), Location.priority, *_SITE_COLUMNS).where(
            Location.id.in_(ids)
        )
    )
    by_id = {row.location_id: _site(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


@dataclass(frozen=True, slots=True)
class Setup:
    """What placing an order on a channel needs: its stock policy, routing rules and the
    locations serving it."""

    channel: SetupChannel
    policy: ChannelPolicy
    rules: routing.Rules
    sites: dict[int, routing.Site]


# The channel's policy query, widened by the channel itself, its routing rules and its
# serving locations' routing facts: one round trip for all of them.
_SETUP_QUERY = POLICY_QUERY.add_columns(
    Channel.kind,
    *_SITE_COLUMNS,
    OrderRules.channel_id.label("rules_of"),
    OrderRules.rules,
    OrderRules.prefer_single_location,
    OrderRules.location_costs,
).outerjoin(OrderRules, OrderRules.channel_id == Channel.id)


# What a setup is read from: a change to any of them drops the kept setups.
_SETUP_TABLES = frozenset({"channels", "channel_locations", "locations", "order_rules"})


def load_setup(session: Session, channel_id: int, *, kinds: Sequence[str] = ()) -> Setup:
    """The channel and its placement setup, read in one query (or kept by the process
    since, `db.cache`); the channel refused as `channel_row` refuses it (absent, inactive,
    or not of one of `kinds`)."""
    cache = session.info.get(CACHE)
    if cache is None:
        setup = _read_setup(session, channel_id)
    else:
        setup = cache.get(
            ("setup", channel_id),
            tables=_SETUP_TABLES,
            load=lambda: _read_setup(session, channel_id),
        )
    _usable(setup.channel, channel_id, kinds)
    return setup


def _read_setup(session: Session, channel_id: int) -> Setup:
    rows = session.execute(_SETUP_QUERY, {"channel_id": channel_id}).all()
    if not rows:
        _usable(None, channel_id, ())  # refuses
    first = rows[0]
    channel = SetupChannel(first.id, first.code, first.currency, first.kind, first.active)
    _usable(channel, channel_id, ())
    policy = policy_from_rows(rows, channel_id=channel_id)
    rules = (
        routing.Rules()
        if first.rules_of is None
        else routing.Rules(
            ranking=tuple(first.rules),
            prefer_single_location=first.prefer_single_location,
            costs={code: Decimal(str(cost)) for code, cost in first.location_costs.items()},
        )
    )
    sites = {row.location_id: _site(row) for row in rows if row.location_id is not None}
    return Setup(channel, policy, rules, sites)


def place_stock(
    session: Session,
    *,
    setup: Setup,
    lines: Sequence[tuple[str, int]],
    fulfil: Fulfil,
    key: str,
    actor: str,
    reference: str,
    hold_id: int | None = None,
    flag_unlisted: bool = False,
) -> Placement:
    """Route the order and allocate its units where routing chose (one step, one ledger
    entry per stock row).

    With `hold_id` (a cart's live hold of these lines) the hold itself becomes the
    order's allocation: units held where routing may draw stay and are allocated there;
    only the rest is placed again. With `flag_unlisted` (an order another channel
    already sold) SKUs the channel does not list are taken, and flagged on the order.
    """
    policy, rules = setup.policy, setup.rules
    sites, ranked = _route(session, setup, fulfil)
    flags: list[dict[str, Any]] = []
    if hold_id is not None:
        holds = allocate_hold_in(
            session,
            reservation_id=hold_id,
            policy=policy,
            at=ranked.location_ids,
            prefer_single=rules.prefer_single_location,
            actor=actor,
            reason=reference,
        )
        reservation_id = hold_id
    else:
        request = HoldRequest(
            channel_id=policy.channel_id,
            lines=tuple(lines),
            key=key,
            location_id=None,
            ttl=_ORDER_HOLD_TTL,
            reference=reference,
            actor=actor,
            fingerprint=key,
            pool=ranked.location_ids,
            prefer_single=rules.prefer_single_location,
            allocate=True,
            flag_unlisted=flag_unlisted,
            new_key=True,  # the order was claimed just now, under this key's id
        )
        made = reserve_in(session.connection(), request, lock_first=True, policy=policy)
        if not isinstance(made, NewHolds):  # the key is new per order version: never a replay
            raise Conflict(f"stock for {reference} was already placed; retry", field="order")
        holds, reservation_id = made.holds, made.id
        if made.unlisted:
            flags.append(
                {
                    "code": "unlisted",
                    "detail": f"sold by channel {policy.code!r}, which does not list: "
                    f"{', '.join(made.unlisted)}",
                    "skus": list(made.unlisted),
                }
            )
    codes = {site.id: site.code for site in sites}
    decision = (
        {
            "mode": "in_store",
            "rules": [],
            "plan": [{"sku": s, "location": codes[loc], "quantity": q} for s, _, loc, q in holds],
            "reason": f"sold at the till of {sites[0].code}",
        }
        if fulfil.mode == "in_store"
        else routing.explain(
            ranked,
            mode=fulfil.mode,
            rules=rules,
            holds=[(s, loc, q) for s, _, loc, q in holds],
            codes=codes,
        )
    )
    return Placement(reservation_id, holds, decision, flags)


def _route(
    session: Session, setup: Setup, fulfil: Fulfil
) -> tuple[list[routing.Site], routing.Ranked]:
    """The candidate sites and their ranking for this order."""
    policy, rules = setup.policy, setup.rules
    if fulfil.mode == "in_store":
        store = fulfil.pickup_location_id
        known = setup.sites.get(store) if store else None
        sites = [known] if known else _sites(session, (store,) if store else ())
    else:
        candidates = policy.pickup_locations if fulfil.mode == "pickup" else policy.ship_locations
        sites = [setup.sites[i] for i in candidates]
    if fulfil.mode == "in_store":
        # A till sells what is on its own shelves, whatever the store's other flags say.
        if not sites:
            raise Conflict(
                f"location {fulfil.pickup_location_id} does not serve channel {policy.code!r}",
                field="location_id",
            )
        return sites, routing.Ranked((sites[0].id,), ({"location": sites[0].code},), ())
    ranked = routing.rank(
        sites,
        mode=fulfil.mode,
        rules=rules,
        pickup_location_id=fulfil.pickup_location_id,
        destination=fulfil.destination,
    )
    return sites, ranked


def lock_for_replacement(
    session: Session, *, policy: ChannelPolicy, skus: Sequence[str], holds: Sequence[int | None]
) -> None:
    """Before freeing `holds` and placing `skus` anew in one transaction: lock every stock
    row either step may touch, in the one fixed order (see `reservations.lock_rows`)."""
    lock_rows(
        session,
        skus=skus,
        location_ids=policy.serving_locations,
        reservation_ids=[h for h in holds if h is not None],
    )


def release_placement(session: Session, order: Order, *, actor: str, reason: str) -> None:
    """Put an order's unshipped units back on sale (cancelled, or replaced by an update)."""
    if order.reservation_id is None:
        return
    close_quietly(
        session,
        DEALLOCATE,
        reservation_id=order.reservation_id,
        channel_id=None,
        actor=actor,
        reason=reason,
    )


@dataclass(frozen=True, slots=True)
class Written:
    """A planned order after `write_order`: its rows as written, or (`rows` None) the
    order that was already there for the same channel order, cart or receipt, locked."""

    order: Order
    rows: OrderRows | None


def write_order(
    session: Session,
    *,
    setup: Setup,
    plan: OrderPlan,
    actor: str,
    hold_id: int | None = None,
    cart: Cart | None = None,
) -> Written:
    """Write a planned order: the one place a new order is written.

    Claim it (unless its channel order, cart or receipt has one already), place its
    stock (`hold_id`: a live hold of its lines, which becomes its allocation), then
    write its rows and events; an order made from `cart` converts the cart in the same
    write. Nothing is read back: the rows are known.
    """
    new_id = _claim(session, plan.row)
    if new_id is None:
        return Written(_claimed_before(session, plan.row), None)
    order = as_written(session, Order, new_id, plan.row)
    placed = place_stock(
        session,
        setup=setup,
        lines=plan.stock,
        fulfil=plan.fulfil,
        key=f"order:{order.id}:v1",
        actor=actor,
        reference=f"order {order.id}",
        hold_id=hold_id,
        flag_unlisted=plan.flag_unlisted,
    )
    order.reservation_id = placed.reservation_id
    order.routing = placed.routing
    order.flags = placed.flags or None
    rows = OrderRows(order)
    rows.lines = lines_of(order.id, plan.lines, fulfilled=plan.handed_over)
    rows.payments = payments_of(order, plan.payments)
    rows.transitions = [
        transition(order, status, actor=actor, reason=reason, opening=index == 0)
        for index, (status, reason) in enumerate(plan.statuses)
    ]
    if plan.handed_over:
        rows.fulfilments = [_handover(order, plan, actor=actor)]
    events = [
        ("Order Completed", segment_payload(order, rows.lines, channel_code=setup.channel.code)),
        ("Order Routed", {"order_id": str(order.id), **placed.routing}),
    ]
    _write_rows(session, rows, events, cart=cart)
    return Written(order, rows)


def _handover(order: Order, plan: OrderPlan, *, actor: str) -> Fulfilment:
    """A till sale's fulfilment: every line handed over in the store, now."""
    assert plan.fulfil.pickup_location_id is not None  # a till sells in its own store
    return Fulfilment(
        order_id=order.id,
        location_id=plan.fulfil.pickup_location_id,
        kind="in_store",
        status="picked_up",
        carrier="",
        tracking_number="",
        pickup_code=None,
        pickup_deadline=None,
        items=[{"sku": line.sku, "quantity": line.quantity} for line in plan.lines],
        actor=actor,
        created_at=order.updated_at,
        closed_at=order.updated_at,
    )


def _claim(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT the order unless (channel, external id) or its cart already has one."""
    conn = session.connection()
    claim = insert_ignoring_duplicates(conn, order_table, returning=order_table.c.id)
    return conn.execute(claim, values).scalar()


def _claimed_before(session: Session, values: dict[str, Any]) -> Order:
    """The order that took the claim of `values` first, locked."""
    cart_id = values["cart_id"]
    clause = (
        Order.cart_id == cart_id
        if cart_id is not None
        else (Order.channel_id == values["channel_id"])
        & (Order.external_id == values["external_id"])
    )
    existing = session.scalar(select(Order).where(clause).with_for_update())
    if existing is None:  # a concurrent twin rolled back after our insert was refused
        raise Conflict("a concurrent request for this order failed; retry", field="order")
    return existing


def as_written(session: Session, model: type[_M], row_id: int, values: dict[str, Any]) -> _M:
    """The row just inserted with `values` under `row_id`, as this session's own object:
    every column is known, so nothing is read back."""
    row = model(id=row_id, **values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def write_lines(session: Session, order_id: int, totals: Totals) -> list[OrderLine]:
    """The order's lines as checked, added to the session."""
    lines = lines_of(order_id, totals.lines)
    session.add_all(lines)
    return lines


def lines_of(
    order_id: int, checked: Sequence[CheckedLine], *, fulfilled: bool = False
) -> list[OrderLine]:
    """The order's lines as checked (not yet in any session); `fulfilled`: every unit
    has reached the customer (a till sale)."""
    return [
        OrderLine(
            order_id=order_id,
            line_no=index + 1,
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount=line.discount,
            tax=line.tax,
            total=line.total,
            fulfilled=line.quantity if fulfilled else 0,
            returned=0,
        )
        for index, line in enumerate(checked)
    ]


def record_payments(
    session: Session,
    order: Order,
    payments: Sequence[tuple[str, Decimal, str]],
    *,
    kind: str = "payment",
    return_id: int | None = None,
) -> list[Payment]:
    """Payments (or refunds) of (method, amount, reference) in the order's currency."""
    rows = payments_of(order, payments, kind=kind, return_id=return_id)
    session.add_all(rows)
    return rows


def payments_of(
    order: Order,
    payments: Sequence[tuple[str, Decimal, str]],
    *,
    kind: str = "payment",
    return_id: int | None = None,
) -> list[Payment]:
    """The payment rows of (method, amount, reference) (not yet in any session)."""
    now = utcnow()
    return [
        Payment(
            order_id=order.id,
            kind=kind,
            method=method,
            amount=amount,
            currency=order.currency,
            reference=reference,
            return_id=return_id,
            created_at=now,
        )
        for method, amount, reference in payments
    ]


def move(
    session: Session,
    order: Order,
    to_status: str,
    *,
    actor: str,
    reason: str = "",
    opening: bool = False,
) -> OrderTransition:
    """Record a status change (the caller has checked it is allowed); the `opening`
    transition of a new order comes from no status."""
    made = transition(order, to_status, actor=actor, reason=reason, opening=opening)
    session.add(made)
    return made


def transition(
    order: Order, to_status: str, *, actor: str, reason: str = "", opening: bool = False
) -> OrderTransition:
    """Move the order to `to_status`; the transition's row (not yet in any session)."""
    now = utcnow()
    made = OrderTransition(
        order_id=order.id,
        from_status=None if opening else order.status,
        to_status=to_status,
        actor=actor,
        reason=reason[:300],
        at=now,
    )
    order.status = to_status
    order.updated_at = now
    return made


# What placing changes on a claimed order; written with its other rows.
_PLACED = ("status", "reservation_id", "routing", "flags", "updated_at")
_line_table = cast(Table, OrderLine.__table__)
_payment_table = cast(Table, Payment.__table__)
_transition_table = cast(Table, OrderTransition.__table__)
_outbox_table = cast(Table, OutboxEvent.__table__)
_cart_table = cast(Table, Cart.__table__)
_fulfilment_table = cast(Table, Fulfilment.__table__)
# What converting a cart changes on it; written with its order.
_CONVERTED = ("status", "order_id", "reservation_id", "updated_at")


def _write_rows(
    session: Session,
    rows: OrderRows,
    events: Sequence[tuple[str, dict[str, Any]]],
    *,
    cart: Cart | None,
) -> None:
    """Write a claimed order as placed, with its lines, payments, transitions and events,
    and convert the `cart` it was made from: its hold is the order's allocation now.

    On PostgreSQL in one statement (data-modifying CTEs), the rows then joining the
    session as written; elsewhere through the session's unit of work.
    """
    order = rows.order
    now = utcnow()
    converted = (
        dict(zip(_CONVERTED, ("converted", order.id, None, now), strict=True))
        if cart is not None
        else {}
    )
    if session.get_bind().dialect.name != "postgresql":
        session.add_all([*rows.lines, *rows.payments, *rows.transitions, *rows.fulfilments])
        for event_type, payload in events:
            announce(session, event_type, order, payload)
        for key, value in converted.items():
            setattr(cart, key, value)
        session.flush()
        return
    placed = {key: getattr(order, key) for key in _PLACED}
    params: dict[str, Any] = {"order_id": order.id}
    params.update({f"o_{key}": value for key, value in placed.items()})
    if cart is not None:
        params.update({"converted_cart": cart.id, **{f"c_{k}": v for k, v in converted.items()}})
    for prefix, table, written_rows in (
        ("l", _line_table, rows.lines),
        ("p", _payment_table, rows.payments),
        ("t", _transition_table, rows.transitions),
        ("f", _fulfilment_table, rows.fulfilments),
    ):
        for index, row in enumerate(written_rows):
            params.update({f"{prefix}{index}_{key}": value for key, value in _columns(table, row)})
    for index, (event_type, payload) in enumerate(events):
        params.update(
            {
                f"e{index}_event_type": event_type,
                f"e{index}_aggregate": "order",
                f"e{index}_aggregate_id": str(order.id),
                f"e{index}_payload": payload,
                f"e{index}_occurred_at": now,
                f"e{index}_published_at": None,
            }
        )
    shape = (len(rows.lines), len(rows.payments), len(rows.transitions), len(events))
    written = _order_write(*shape, len(rows.fulfilments), cart is not None)
    ids: dict[tuple[str, int], int] = {
        (kind, n): row_id for kind, row_id, n in session.execute(written, params)
    }
    for line in rows.lines:
        line.id = ids["line", line.line_no]
    for index, payment in enumerate(rows.payments):
        payment.id = ids["payment", index]
    for index, fulfilment in enumerate(rows.fulfilments):
        fulfilment.id = ids["fulfilment", index]
    for row in [*rows.lines, *rows.payments, *rows.fulfilments]:
        make_transient_to_detached(row)
        session.add(row)
    # Written above: nothing is left for the session to do.
    for key, value in placed.items():
        set_committed_value(order, key, value)
    for key, value in converted.items():
        set_committed_value(cart, key, value)


def _columns(table: Table, row: Any) -> list[tuple[str, Any]]:
    return [(c.key, getattr(row, c.key)) for c in _written_columns(table)]


def _written_columns(table: Table) -> list[Column[Any]]:
    # Not the id (the sequence's) nor a column the database fills (a feed's tx_id).
    return [c for c in table.columns if c.key != "id" and c.server_default is None]


def _row_of(table: Table, prefix: str) -> dict[str, Any]:
    return {c.key: bindparam(f"{prefix}_{c.key}", type_=c.type) for c in _written_columns(table)}


def _insert_each(table: Table, prefix: str, count: int) -> list[Any]:
    """One INSERT CTE per row of `table` (from `<prefix><i>_<column>`), each answering its
    row's id."""
    return [
        pg_insert(table)
        .values(_row_of(table, f"{prefix}{index}"))
        .returning(table.c.id)
        .cte(f"{table.name}_{index}")
        for index in range(count)
    ]


def _insert_rows(table: Table, prefix: str, count: int) -> Any:
    """INSERT of `count` rows from bound parameters `<prefix><i>_<column>`, in that order.

    As INSERT … SELECT … UNION ALL …, not a multi-row VALUES, which SQLAlchemy would
    compile again for every order."""
    columns = _written_columns(table)
    rows = [
        select(*(bindparam(f"{prefix}{index}_{c.key}", type_=c.type) for c in columns))
        for index in range(count)
    ]
    source = rows[0] if count == 1 else union_all(*rows)
    return pg_insert(table).from_select([c.key for c in columns], source)


@cache
def _order_write(  # noqa: PLR0917 -- the shape of the order written
    lines: int, payments: int, transitions: int, events: int, fulfilments: int, cart: bool
) -> CompoundSelect[Any]:
    """The one statement writing a placed order of this shape (built once per shape, so
    SQLAlchemy compiles it once): the order's placed columns, its lines, payments,
    transitions, events and fulfilments (a till sale's), and (`cart`) its cart
    converted; it answers each line's id (by line_no), each payment's and each
    fulfilment's."""
    written_lines = (
        _insert_rows(_line_table, "l", lines)
        .returning(_line_table.c.id, _line_table.c.line_no)
        .cte("lines")
    )
    # One INSERT per payment (an order has one or two) and per fulfilment: each id comes
    # back with its kind and index.
    written_each = {
        "payment": _insert_each(_payment_table, "p", payments),
        "fulfilment": _insert_each(_fulfilment_table, "f", fulfilments),
    }
    placed = {key: bindparam(f"o_{key}", type_=order_table.c[key].type) for key in _PLACED}
    converted = (
        [
            update(_cart_table)
            .where(_cart_table.c.id == bindparam("converted_cart"))
            .values(
                {key: bindparam(f"c_{key}", type_=_cart_table.c[key].type) for key in _CONVERTED}
            )
            .cte("converted")
        ]
        if cart
        else []
    )
    return union_all(
        select(
            literal("line").label("kind"), written_lines.c.id, written_lines.c.line_no.label("n")
        ),
        *(
            select(literal(kind), written.c.id, literal(index))
            for kind, each in written_each.items()
            for index, written in enumerate(each)
        ),
    ).add_cte(
        update(order_table)
        .where(order_table.c.id == bindparam("order_id"))
        .values(placed)
        .cte("placed"),
        _insert_rows(_transition_table, "t", transitions).cte("transitions"),
        _insert_rows(_outbox_table, "e", events).cte("events"),
        *converted,
    )


def announce(session: Session, event_type: str, order: Order, payload: dict[str, Any]) -> None:
    """An order event in the outbox of this transaction."""
    record_event(
        session,
        event_type=event_type,
        aggregate="order",
        aggregate_id=str(order.id),
        payload=payload,
    )
