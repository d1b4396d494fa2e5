"""Orders as the services hand them out, and as their events describe them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    Numeric,
    Table,
    Text,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import TypeDecorator

from omnicart.channels.tables import Channel
from omnicart.db.cache import CACHE
from omnicart.orders.tables import Fulfilment, Order, OrderLine, OrderTransition, Payment


@dataclass(frozen=True, slots=True)
class LineView:
    """One order line with what has been fulfilled and returned of it."""

    id: int
    line_no: int
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    fulfilled: int
    returned: int


@dataclass(frozen=True, slots=True)
class PaymentView:
    """A payment or a refund."""

    id: int
    kind: str
    method: str
    amount: Decimal
    currency: str
    reference: str
    return_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransitionView:
    """One recorded status change."""

    from_status: str | None
    to_status: str
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FulfilmentView:
    """A shipment, a pickup or a till sale, at one location."""

    id: int
    location_id: int
    kind: str
    status: str
    carrier: str
    tracking_number: str
    pickup_code: str | None
    pickup_deadline: datetime | None
    items: list[dict[str, Any]]
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order with its lines, payments, history and fulfilments."""

    id: int
    channel_id: int
    channel_code: str
    source: str
    external_id: str | None
    status: str
    currency: str
    taxes_included: bool
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    paid: Decimal
    refunded: Decimal
    customer_email: str | None
    customer_phone: str | None
    customer_ref: str | None
    fulfilment_mode: str
    pickup_location_id: int | None
    shipping_address: dict[str, Any] | None
    reservation_id: int | None
    routing: dict[str, Any] | None
    exchange_of_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    flags: list[dict[str, Any]] = field(default_factory=list)
    lines: list[LineView] = field(default_factory=list)
    payments: list[PaymentView] = field(default_factory=list)
    transitions: list[TransitionView] = field(default_factory=list)
    fulfilments: list[FulfilmentView] = field(default_factory=list)
    replayed: bool = False


def order_lines(session: Session, order_id: int) -> list[OrderLine]:
    """An order's lines in their order."""
    return list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


def _channel_code(session: Session, order: Order, known: str | None) -> str:
    if known is not None:
        return known
    channel_id = order.channel_id

    def read() -> str:
        return session.scalar(select(Channel.code).where(Channel.id == channel_id)) or ""

    cache = session.info.get(CACHE)
    if cache is None:
        return read()
    code: str = cache.get(("channel-code", channel_id), tables={"channels"}, load=read)
    return code


@dataclass(slots=True)
class OrderRows:
    """An order and all its rows, as this transaction holds them: read once (`read_rows`),
    or kept by the use case that just wrote them, so the answer needs no read-back."""

    order: Order
    lines: list[OrderLine] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    transitions: list[OrderTransition] = field(default_factory=list)
    fulfilments: list[Fulfilment] = field(default_factory=list)


def read_rows(session: Session, order: Order) -> OrderRows:
    """The order's rows, read in the caller's transaction (one query on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return _read_rows_pg(session, order)
    return OrderRows(
        order=order,
        lines=order_lines(session, order.id),
        payments=list(
            session.scalars(
                select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)
            )
        ),
        transitions=list(
            session.scalars(
                select(OrderTransition)
                .where(OrderTransition.order_id == order.id)
                .order_by(OrderTransition.id)
            )
        ),
        fulfilments=list(
            session.scalars(
                select(Fulfilment).where(Fulfilment.order_id == order.id).order_by(Fulfilment.id)
            )
        ),
    )


# An order's lines, payments, transitions and fulfilments as JSON, in one round trip.
_ROWS_OF = (OrderLine, Payment, OrderTransition, Fulfilment)


def _as_json(part: int, model: type[Any]) -> Any:
    rows = cast(Table, model.__table__).alias("t")
    return select(
        literal(part).label("part"),
        sql_cast(func.row_to_json(rows.table_valued()), Text).label("row"),
    ).where(rows.c.order_id == bindparam("order_id"))


_ROWS_PG = union_all(*(_as_json(k, model) for k, model in enumerate(_ROWS_OF)))


def _read_rows_pg(session: Session, order: Order) -> OrderRows:
    found: list[list[Any]] = [[] for _ in _ROWS_OF]
    for part, row in session.execute(_ROWS_PG, {"order_id": order.id}):
        found[part].append(_as_object(session, _ROWS_OF[part], row))
    lines, payments, transitions, fulfilments = found
    return OrderRows(
        order=order,
        lines=sorted(lines, key=lambda line: line.line_no),
        payments=sorted(payments, key=lambda p: p.id),
        transitions=sorted(transitions, key=lambda t: t.id),
        fulfilments=sorted(fulfilments, key=lambda f: f.id),
    )


def _as_object(session: Session, model: type[Any], row: str) -> Any:
    """The session's object of this row (as a query would answer: one the session holds
    already, unflushed changes and all), else one made from the row's JSON."""
    values = json.loads(row, parse_float=Decimal)
    key = identity_key(model, (values["id"],))
    held = session.identity_map.get(key)
    if held is not None:
        return held
    columns = sa_inspect(model).columns
    dialect = session.get_bind().dialect
    made = model(
        **{name: _typed(columns[name].type, value, dialect) for name, value in values.items()}
    )
    make_transient_to_detached(made)
    session.add(made)
    return made


def _typed(kind: Any, value: Any, dialect: Any) -> Any:
    """A JSON value as the column's type answers it from the driver (its decorator's own
    processing included)."""
    if value is None:
        return None
    base = kind.impl if isinstance(kind, TypeDecorator) else kind
    if isinstance(base, DateTime):
        value = datetime.fromisoformat(value)
    elif isinstance(base, Date):
        value = date.fromisoformat(value)
    elif isinstance(base, Numeric) and not isinstance(base, Float):
        value = Decimal(value)
    if isinstance(kind, TypeDecorator):
        return kind.process_result_value(value, dialect)
    return value


def order_view(
    session: Session, order: Order, *, replayed: bool = False, channel_code: str | None = None
) -> OrderView:
    """Everything about one order, read in the caller's transaction."""
    code = _channel_code(session, order, channel_code)
    return view_of(read_rows(session, order), channel_code=code, replayed=replayed)


def view_of(rows: OrderRows, *, channel_code: str, replayed: bool = False) -> OrderView:
    """The order as the services hand it out, from its rows (nothing is read)."""
    order, payments = rows.order, rows.payments
    return OrderView(
        id=order.id,
        channel_id=order.channel_id,
        channel_code=channel_code,
        source=order.source,
        external_id=order.external_id,
        status=order.status,
        currency=order.currency,
        taxes_included=order.taxes_included,
        subtotal=order.subtotal,
        discount_total=order.discount_total,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        total=order.total,
        paid=sum((p.amount for p in payments if p.kind == "payment"), Decimal(0)),
        refunded=sum((p.amount for p in payments if p.kind == "refund"), Decimal(0)),
        customer_email=order.customer_email,
        customer_phone=order.customer_phone,
        customer_ref=order.customer_ref,
        fulfilment_mode=order.fulfilment_mode,
        pickup_location_id=order.pickup_location_id,
        shipping_address=order.shipping_address,
        reservation_id=order.reservation_id,
        routing=order.routing,
        exchange_of_id=order.exchange_of_id,
        version=order.version,
        created_at=order.created_at,
        updated_at=order.updated_at,
        flags=list(order.flags or []),
        lines=[
            LineView(
                id=line.id,
                line_no=line.line_no,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                tax=line.tax,
                total=line.total,
                fulfilled=line.fulfilled,
                returned=line.returned,
            )
            for line in sorted(rows.lines, key=lambda line: line.line_no)
        ],
        payments=[
            PaymentView(
                id=p.id,
                kind=p.kind,
                method=p.method,
                amount=p.amount,
                currency=p.currency,
                reference=p.reference,
                return_id=p.return_id,
                created_at=p.created_at,
            )
            for p in payments
        ],
        transitions=[
            TransitionView(t.from_status, t.to_status, t.actor, t.reason, t.at)
            for t in rows.transitions
        ],
        fulfilments=[
            FulfilmentView(
                id=f.id,
                location_id=f.location_id,
                kind=f.kind,
                status=f.status,
                carrier=f.carrier,
                tracking_number=f.tracking_number,
                pickup_code=f.pickup_code,
                pickup_deadline=f.pickup_deadline,
                items=list(f.items),
                created_at=f.created_at,
                closed_at=f.closed_at,
            )
            for f in rows.fulfilments
        ],
        replayed=replayed,
    )


def segment_order(
    session: Session, order: Order, *, channel_code: str | None = None
) -> dict[str, Any]:
    """An order as Segment's e-commerce v2 spec shapes it, read in the caller's
    transaction (see `segment_payload`)."""
    code = _channel_code(session, order, channel_code)
    return segment_payload(order, order_lines(session, order.id), channel_code=code)


def segment_payload(
    order: Order, lines: Sequence[OrderLine], *, channel_code: str
) -> dict[str, Any]:
    """An order as Segment's e-commerce v2 spec shapes it (Order Completed and kin).

    `affiliation` is the channel's code; amounts are decimal strings so that no cent is
    lost on the way (a consumer that wants the spec's numbers converts them).
    """
    revenue = order.subtotal - order.discount_total
    return {
        "order_id": str(order.id),
        "external_id": order.external_id,
        "affiliation": channel_code,
        "channel_id": order.channel_id,
        "source": order.source,
        "status": order.status,
        "subtotal": str(order.subtotal),
        "revenue": str(revenue),
        "total": str(order.total),
        "shipping": str(order.shipping_total),
        "tax": str(order.tax_total),
        "discount": str(order.discount_total),
        "currency": order.currency,
        "customer": {
            "email": order.customer_email,
            "phone": order.customer_phone,
            "ref": order.customer_ref,
        },
        "fulfilment_mode": order.fulfilment_mode,
        "products": [
            {
                "sku": line.sku,
                "name": line.title,
                "price": str(line.unit_price),
                "quantity": line.quantity,
                "position": line.line_no,
            }
            for line in sorted(lines, key=lambda line: line.line_no)
        ],
    }
