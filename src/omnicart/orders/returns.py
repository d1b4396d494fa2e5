"""Returns, exchanges and refunds, in any channel for an order of any channel.

A return names order lines, units and reasons. When it arrives somewhere, each unit is
restocked at that location or written off, through the stock ledger. Refunds are
recorded against the order (partial or full). Below the channel's returnless threshold
the customer keeps the goods and is refunded at once. An exchange opens a replacement
order that draws on stock like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import SkuInfo, resolve_skus
from omnicart.db.engine import Database
from omnicart.inventory.ledger import Provenance, apply_changes
from omnicart.inventory.model import MovementKind, StockChange
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from omnicart.kernel.money import Money
from omnicart.orders import placement
from omnicart.orders.model import (
    CANCELLED,
    RETURNABLE,
    Fulfil,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    check_text,
    check_totals,
    check_transition,
    fingerprint,
    status_after,
)
from omnicart.orders.service import (
    cancel_in,
    create_order,
    customer_of,
    in_transaction,
    lock_order,
)
from omnicart.orders.tables import Order, OrderLine, Payment, Return, ReturnLine
from omnicart.orders.views import OrderView, order_lines, order_view, segment_order


@dataclass(frozen=True, slots=True)
class ReturnLineRequest:
    """Units of one order line (by its number) coming back, and why."""

    line_no: int
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReturnLineView:
    """A returned line and what became of its units."""

    line_no: int
    sku: str
    quantity: int
    reason: str
    restocked: int
    written_off: int


@dataclass(frozen=True, slots=True)
class ReturnView:
    """A return with its lines, value and refunds."""

    id: int
    order_id: int
    channel_id: int
    status: str
    returnless: bool
    received_location_id: int | None
    exchange_order_id: int | None
    value: Decimal
    currency: str
    refunded: Decimal
    created_at: datetime
    received_at: datetime | None
    lines: list[ReturnLineView] = field(default_factory=list)


def _return_view(session: Session, row: Return) -> ReturnView:
    lines = session.execute(
        select(ReturnLine, OrderLine.line_no, OrderLine.sku)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(ReturnLine.return_id == row.id)
        .order_by(ReturnLine.id)
    ).all()
    # Added up here: SQLite would add the stored amounts up as floats.
    refunded = sum(
        session.scalars(
            select(Payment.amount).where(Payment.return_id == row.id, Payment.kind == "refund")
        ),
        Decimal(0),
    )
    return ReturnView(
        id=row.id,
        order_id=row.order_id,
        channel_id=row.channel_id,
        status=row.status,
        returnless=row.returnless,
        received_location_id=row.received_location_id,
        exchange_order_id=row.exchange_order_id,
        value=row.value,
        currency=row.currency,
        refunded=refunded,
        created_at=row.created_at,
        received_at=row.received_at,
        lines=[
            ReturnLineView(
                line_no, sku, line.quantity, line.reason, line.restocked, line.written_off
            )
            for line, line_no, sku in lines
        ],
    )


def _requested(session: Session, order_id: int) -> dict[int, int]:
    """Units already on open (not yet received) returns, by order line."""
    rows = session.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(Return, Return.id == ReturnLine.return_id)
        .where(Return.order_id == order_id, Return.status == "requested")
        .group_by(ReturnLine.order_line_id)
    )
    return {line_id: int(units) for line_id, units in rows}


def _line_value(line: OrderLine, units: int) -> Decimal:
    """What `units` of a line were worth to the customer (its total, pro rata)."""
    return line.total * units / line.quantity


def open_return(
    db: Database,
    *,
    order_id: int,
    channel_id: int,
    lines: Sequence[ReturnLineRequest],
    exchange: Sequence[tuple[str, int]] = (),
    actor: str = "system",
) -> ReturnView:
    """Open a return in `channel_id` (any of the merchant's channels) for an order.

    Below the order's channel's returnless threshold the return is refunded at once and
    nothing is sent back; with `exchange`, a replacement order is placed at once.
    """
    if not lines:
        raise ValidationFailed("a return names at least one line", field="lines")

    def work(session: Session) -> ReturnView:
        placement.channel_row(session, channel_id)
        order = lock_order(session, order_id)
        if order.status not in RETURNABLE:
            raise Conflict(
                f"order {order_id} is {order.status}; only orders of which units were "
                "shipped or collected take returns",
                field="status",
                status_now=order.status,
            )
        by_no = {line.line_no: line for line in order_lines(session, order.id)}
        pending = _requested(session, order.id)
        value = Decimal(0)
        rows: list[tuple[OrderLine, ReturnLineRequest]] = []
        for index, request in enumerate(lines):
            where = f"lines.{index}"
            line = by_no.get(request.line_no)
            if line is None:
                raise NotFound(
                    f"order {order_id} has no line {request.line_no}", field=f"{where}.line_no"
                )
            reason = request.reason.strip()
            if not reason or len(reason) > 300:
                raise ValidationFailed(
                    "give a reason of 1 to 300 characters", field=f"{where}.reason"
                )
            open_units = line.fulfilled - line.returned - pending.get(line.id, 0)
            if isinstance(request.quantity, bool) or not 1 <= request.quantity <= open_units:
                raise ValidationFailed(
                    f"line {line.line_no} ({line.sku}) has {open_units} unit(s) that can "
                    f"still be returned, not {request.quantity}",
                    field=f"{where}.quantity",
                )
            pending[line.id] = pending.get(line.id, 0) + request.quantity
            value += _line_value(line, request.quantity)
            rows.append((line, request))
        value = Money.rounded(value, order.currency).amount
        order_rules = placement.order_rules(session, order.channel_id)
        threshold = order_rules.returnless_below if order_rules is not None else None
        returnless = threshold is not None and value < threshold and not exchange
        now = utcnow()
        row = Return(
            order_id=order.id,
            channel_id=channel_id,
            status="requested",
            returnless=returnless,
            value=value,
            currency=order.currency,
            actor=actor,
            created_at=now,
        )
        session.add(row)
        session.flush()
        session.add_all(
            ReturnLine(
                return_id=row.id,
                order_line_id=line.id,
                quantity=request.quantity,
                reason=request.reason.strip(),
                restocked=0,
                written_off=0,
            )
            for line, request in rows
        )
        session.flush()
        if returnless:
            # Not worth the trip back: the customer keeps the goods and is refunded.
            _close_lines(session, order, row, actor=actor, reason="returnless refund")
            _refund(
                session, order, row, amount=value, method=_first_method(session, order), actor=actor
            )
        if exchange:
            row.exchange_order_id = _exchange(session, order, row, exchange, actor=actor)
        session.flush()
        return _return_view(session, row)

    return in_transaction(db, work)


def _first_method(session: Session, order: Order) -> str:
    method = session.scalar(
        select(Payment.method)
        .where(Payment.order_id == order.id, Payment.kind == "payment")
        .order_by(Payment.id)
    )
    return method or "store_credit"


def _close_lines(session: Session, order: Order, row: Return, *, actor: str, reason: str) -> None:
    """Count the return's units as returned on the order and move its status."""
    for line in session.scalars(select(ReturnLine).where(ReturnLine.return_id == row.id)):
        order_line = session.get_one(OrderLine, line.order_line_id)
        order_line.returned += line.quantity
    session.flush()
    target = status_after(
        [(line.quantity, line.fulfilled, line.returned) for line in order_lines(session, order.id)]
    )
    if target != order.status:
        check_transition(order.status, target, order_id=order.id)
        placement.move(session, order, target, actor=actor, reason=reason)
    row.status = "received"
    row.received_at = utcnow()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a returned line's units on arrival."""

    line_no: int
    restock: int
    write_off: int = 0


def receive_return(
    db: Database,
    *,
    return_id: int,
    location_id: int,
    outcomes: Sequence[Outcome] = (),
    actor: str = "system",
    staff_location: int | None = None,
) -> ReturnView:
    """The return arrived at `location_id`: restock or write off each unit there.

    Without outcomes every unit is restocked. Restocked units go back on sale where they
    arrived; written-off units enter and leave the ledger there, so it still tells the
    whole story.
    """
    if staff_location is not None and staff_location != location_id:
        raise Forbidden(
            "this API key may only receive returns at its own store", field="location_id"
        )

    def work(session: Session) -> ReturnView:
        row = session.scalar(select(Return).where(Return.id == return_id).with_for_update())
        if row is None:
            raise NotFound(f"return {return_id} does not exist", field="return_id")
        if row.status != "requested":
            raise Conflict(f"return {return_id} is {row.status}", field="return_id")
        order = lock_order(session, row.order_id)
        placement.location_row(session, location_id)
        lines = session.execute(
            select(ReturnLine, OrderLine)
            .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
            .where(ReturnLine.return_id == row.id)
        ).all()
        wanted = {o.line_no: o for o in outcomes}
        unknown = sorted(set(wanted) - {ol.line_no for _, ol in lines})
        if unknown:
            raise ValidationFailed(
                f"return {return_id} has no line(s) {', '.join(map(str, unknown))}",
                field="outcomes",
            )
        infos = resolve_skus(session, sorted({ol.sku for _, ol in lines}))
        restock: list[StockChange] = []
        write_off: list[StockChange] = []
        for line, order_line in lines:
            outcome = wanted.get(order_line.line_no, Outcome(order_line.line_no, line.quantity))
            if (
                outcome.restock < 0
                or outcome.write_off < 0
                or (outcome.restock + outcome.write_off != line.quantity)
            ):
                raise ValidationFailed(
                    f"line {order_line.line_no}: restock + write_off must be the "
                    f"{line.quantity} unit(s) returned",
                    field="outcomes",
                )
            line.restocked, line.written_off = outcome.restock, outcome.write_off
            for variant_id, units in _stock_units(infos[order_line.sku], line.quantity):
                arrived = StockChange(variant_id, location_id, on_hand=units)
                share = units * outcome.write_off // line.quantity
                restock.append(arrived)
                if share:
                    write_off.append(StockChange(variant_id, location_id, on_hand=-share))
        why = f"return {row.id} of order {order.id}"
        conn = session.connection()
        apply_changes(
            conn, restock, Provenance(MovementKind.RETURN_RESTOCK, actor=actor, reason=why)
        )
        if write_off:
            apply_changes(
                conn,
                write_off,
                Provenance(MovementKind.WRITE_OFF, actor=actor, reason=f"{why}: damaged"),
            )
        row.received_location_id = location_id
        _close_lines(session, order, row, actor=actor, reason=f"return {row.id} received")
        session.flush()
        placement.announce(
            session,
            "Return Received",
            order,
            {
                "order_id": str(order.id),
                "return_id": row.id,
                "channel_id": row.channel_id,
                "location_id": location_id,
                "products": [
                    {
                        "sku": order_line.sku,
                        "quantity": line.quantity,
                        "restocked": line.restocked,
                        "written_off": line.written_off,
                        "reason": line.reason,
                    }
                    for line, order_line in lines
                ],
            },
        )
        return _return_view(session, row)

    return in_transaction(db, work)


def _stock_units(info: SkuInfo, units: int) -> list[tuple[int, int]]:
    """Stock-bearing variants and units for `units` of a SKU (a kit's components)."""
    if info.is_bundle:
        return [(component, per * units) for component, per in info.components]
    return [(info.variant_id, units)]


def _refund(
    session: Session,
    order: Order,
    row: Return,
    *,
    amount: Decimal,
    method: str,
    actor: str,
    reference: str = "",
) -> None:
    payments = session.scalars(select(Payment).where(Payment.order_id == order.id))
    paid = refunded = Decimal(0)
    for payment in payments:
        if payment.kind == "payment":
            paid += payment.amount
        else:
            refunded += payment.amount
    if amount <= 0:
        raise ValidationFailed("a refund is more than zero", field="amount")
    if amount > paid - refunded:
        raise ValidationFailed(
            f"order {order.id} has {paid - refunded} {order.currency} left to refund, not {amount}",
            field="amount",
        )
    placement.record_payments(
        session, order, [(method, amount, reference)], kind="refund", return_id=row.id
    )
    if row.status == "received":
        row.status = "refunded"
    session.flush()
    described = segment_order(session, order)
    placement.announce(
        session,
        "Order Refunded",
        order,
        {**described, "total": str(amount), "return_id": row.id, "method": method, "actor": actor},
    )


def refund_return(
    db: Database,
    *,
    return_id: int,
    amount: Decimal | None = None,
    method: str | None = None,
    reference: str = "",
    actor: str = "system",
) -> ReturnView:
    """Record a refund for a return: its value by default, or a part of it."""

    def work(session: Session) -> ReturnView:
        row = session.scalar(select(Return).where(Return.id == return_id).with_for_update())
        if row is None:
            raise NotFound(f"return {return_id} does not exist", field="return_id")
        order = lock_order(session, row.order_id)
        already = _return_view(session, row).refunded
        value = (
            row.value - already
            if amount is None
            else Money.exact(amount, order.currency, field="amount").amount
        )
        if already + value > row.value:
            raise ValidationFailed(
                f"return {return_id} is worth {row.value}; {already} is refunded already",
                field="amount",
            )
        chosen = check_text(
            method or _first_method(session, order), "method", where="method", required=True
        )
        _refund(
            session,
            order,
            row,
            amount=value,
            method=chosen,
            actor=actor,
            reference=check_text(reference, "reference", where="reference"),
        )
        return _return_view(session, row)

    return in_transaction(db, work)


def _exchange(
    session: Session,
    order: Order,
    row: Return,
    exchange: Sequence[tuple[str, int]],
    *,
    actor: str,
) -> int:
    """A replacement order on the original channel, paid by the returned goods' value."""
    setup = placement.load_setup(session, order.channel_id)
    channel = setup.channel
    price_of = placement.channel_prices(session, channel.id, [sku for sku, _ in exchange])
    draft_lines = tuple(
        LineDraft(sku=sku, quantity=quantity, unit_price=price_of.get(sku, Decimal(0)))
        for sku, quantity in exchange
    )
    gross = sum((line.unit_price * line.quantity for line in draft_lines), Decimal(0))
    credit = min(gross, row.value)
    draft = OrderDraft(
        currency=order.currency,
        lines=draft_lines,
        payments=(
            (
                PaymentDraft(
                    "exchange", Money.rounded(credit, order.currency).amount, f"return {row.id}"
                ),
            )
            if credit > 0
            else ()
        ),
        customer=customer_of(order),
    )
    fulfil = Fulfil(
        mode="pickup" if order.fulfilment_mode == "pickup" else "ship",
        pickup_location_id=order.pickup_location_id if order.fulfilment_mode == "pickup" else None,
        address=order.shipping_address,
    )
    replacement = create_order(
        session,
        setup=setup,
        source="exchange",
        draft=draft,
        totals=check_totals(draft),
        fulfil=fulfil,
        actor=actor,
        payload_hash=fingerprint({"exchange_of_return": row.id}),
        external_id=f"exchange:{row.id}",
        exchange_of_id=order.id,
    )
    return replacement.order.id


def get_return(db: Database, *, return_id: int) -> ReturnView:
    """One return."""
    with db.reading() as session:
        row = session.get(Return, return_id)
        if row is None:
            raise NotFound(f"return {return_id} does not exist", field="return_id")
        return _return_view(session, row)


# --- what an external channel did to its own order (connectors) -------------------------


@dataclass(frozen=True, slots=True)
class ChannelRefund:
    """Money (and units) a channel gave back on one of its orders, as it reported it."""

    channel_id: int
    external_id: str
    refund_id: str
    amount: Decimal
    lines: tuple[tuple[str, int], ...] = ()  # (sku, units) the channel refunded
    restock: bool = False  # the units are coming back
    method: str | None = None


def _channel_order(session: Session, channel_id: int, external_id: str) -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.channel_id == channel_id, Order.external_id == external_id)
        .with_for_update()
    )
    if order is None:
        raise NotFound(f"the channel's order {external_id!r} is unknown", field="external_id")
    return order


def record_channel_refund(
    db: Database, *, refund: ChannelRefund, actor: str = "system"
) -> ReturnView | None:
    """Record, once (by its refund id), a refund a channel made on its order.

    Units that reached the customer become a return: restocked ones are expected back (a
    return to receive where they arrive), the others are counted returned at once. Units
    that had not left are flagged on the order (ship fewer, or cancel them). The money is
    a refund payment, on the return when there is one. Answers the return, or None when
    only money was refunded (or nothing: a refund of no money opens no return).
    """
    reference = f"channel refund {refund.refund_id}"[:200]

    def work(session: Session) -> ReturnView | None:
        order = _channel_order(session, refund.channel_id, refund.external_id)
        done = session.scalar(
            select(Payment).where(
                Payment.order_id == order.id,
                Payment.kind == "refund",
                Payment.reference == reference,
            )
        )
        if done is not None:
            row = session.get(Return, done.return_id) if done.return_id else None
            return _return_view(session, row) if row is not None else None
        amount = Money.exact(refund.amount, order.currency, field="amount").amount
        if amount <= 0:
            return None
        method = check_text(
            refund.method or _first_method(session, order), "method", where="method", required=True
        )
        pending = _requested(session, order.id)
        taken: list[tuple[OrderLine, int]] = []
        unshipped: list[str] = []
        lines = order_lines(session, order.id)
        for sku, units in refund.lines:
            remaining = units
            for line in (line for line in lines if line.sku == sku):
                take = min(line.fulfilled - line.returned - pending.get(line.id, 0), remaining)
                if take > 0:
                    taken.append((line, take))
                    pending[line.id] = pending.get(line.id, 0) + take
                    remaining -= take
            if remaining > 0:
                unshipped.append(f"{sku} x{remaining}")
        if unshipped:
            order.flags = [
                *(order.flags or []),
                {
                    "code": "refunded_before_shipping",
                    "detail": f"refund {refund.refund_id} by the channel covers units not "
                    f"shipped yet: {', '.join(unshipped)}; ship fewer or cancel them",
                },
            ]
        if not taken:
            placement.record_payments(session, order, [(method, amount, reference)], kind="refund")
            session.flush()
            placement.announce(
                session,
                "Order Refunded",
                order,
                {**segment_order(session, order), "total": str(amount), "method": method},
            )
            return None
        row = Return(
            order_id=order.id,
            channel_id=order.channel_id,
            status="requested",
            returnless=not refund.restock,
            value=Money.rounded(
                sum((_line_value(line, units) for line, units in taken), Decimal(0)),
                order.currency,
            ).amount,
            currency=order.currency,
            actor=actor,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.add_all(
            ReturnLine(
                return_id=row.id,
                order_line_id=line.id,
                quantity=units,
                reason=f"refunded by the channel (refund {refund.refund_id})"[:300],
                restocked=0,
                written_off=0,
            )
            for line, units in taken
        )
        session.flush()
        if not refund.restock:
            _close_lines(session, order, row, actor=actor, reason="refunded by the channel")
        _refund(session, order, row, amount=amount, method=method, actor=actor, reference=reference)
        return _return_view(session, row)

    return in_transaction(db, work)


def cancel_channel_order(
    db: Database, *, channel_id: int, external_id: str, reason: str, actor: str = "system"
) -> OrderView:
    """Cancel a channel's order known only by its id there (the channel deleted it)."""

    def work(session: Session) -> OrderView:
        order = _channel_order(session, channel_id, external_id)
        if order.status == CANCELLED:
            return order_view(session, order, replayed=True)
        cancel_in(session, order, actor=actor, reason=reason)
        return order_view(session, order)

    return in_transaction(db, work)


def return_ids_of(session: Session, *, order_id: int) -> list[int]:
    """The ids of an order's returns, oldest first."""
    stmt = select(Return.id).where(Return.order_id == order_id).order_by(Return.id)
    return list(session.scalars(stmt))
