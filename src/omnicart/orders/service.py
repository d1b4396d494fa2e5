"""The order book's use cases: ingest a channel's order, pay, cancel, complete, read.

Each use case is one transaction; stock moves only through inventory's reservation
rules (see `placement`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.kernel.clock import check_not_future, utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.kernel.money import Money
from omnicart.locations.tables import Location
from omnicart.orders import placement, routing
from omnicart.orders.model import (
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    PENDING,
    Customer,
    Fulfil,
    OrderDraft,
    PaymentDraft,
    Totals,
    amounts_of,
    check_customer,
    check_text,
    check_totals,
    check_transition,
    fingerprint,
    paid_in_full,
    plan_order,
)
from omnicart.orders.owners import at_store
from omnicart.orders.privacy import screen_customer
from omnicart.orders.tables import Cart, Order, OrderLine, OrderRules, Payment
from omnicart.orders.views import (
    OrderView,
    order_view,
    segment_order,
    view_of,
)

T = TypeVar("T")
# Channels whose orders arrive from elsewhere; a till's sales come through POS.
INGEST_KINDS = ("web", "app", "marketplace", "social", "messaging")


def in_transaction(db: Database, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction, retried on serialisation failures and deadlocks."""

    def attempt() -> T:
        with db.transaction() as session:
            return work(session)

    return retrying(attempt)


def lock_order(session: Session, order_id: int, *, channel_id: int | None = None) -> Order:
    """The order, locked for this transaction (others' orders are 404 to a channel key)."""
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or (channel_id is not None and order.channel_id != channel_id):
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    return order


def check_fulfil(fulfil: Fulfil) -> Fulfil:
    """A known mode; a pickup names its store; coordinates, when given, are numbers."""
    if fulfil.mode not in ("ship", "pickup"):
        raise ValidationFailed("fulfilment mode must be ship or pickup", field="fulfilment.mode")
    if fulfil.mode == "pickup" and fulfil.pickup_location_id is None:
        raise ValidationFailed(
            "a pickup order names its pickup_location_id", field="fulfilment.pickup_location_id"
        )
    if fulfil.mode == "ship" and fulfil.pickup_location_id is not None:
        raise ValidationFailed(
            "a shipped order has no pickup location", field="fulfilment.pickup_location_id"
        )
    return fulfil


def create_order(
    session: Session,
    *,
    setup: placement.Setup,
    source: str,
    draft: OrderDraft,
    totals: Totals,
    fulfil: Fulfil,
    actor: str,
    payload_hash: str,
    external_id: str | None = None,
    cart: Cart | None = None,
    source_updated_at: datetime | None = None,
    exchange_of_id: int | None = None,
    hold_id: int | None = None,
    handed_over: bool = False,
) -> placement.Written:
    """A new order on `setup`'s channel (read in this transaction by
    `placement.load_setup`) from its checked draft: its customer screened, then planned
    (`model.plan_order`) and written (`placement.write_order`). `hold_id` is a live hold
    of the order's lines (the `cart`'s), which becomes its allocation; `handed_over`: a
    till sale, completed at once."""
    channel = setup.channel
    customer, address = screen_customer(
        session,
        channel_kind=channel.kind,
        channel_id=channel.id,
        customer=check_customer(draft.customer),
        address=fulfil.address,
    )
    plan = plan_order(
        channel_id=channel.id,
        currency=channel.currency,
        source=source,
        draft=draft,
        totals=totals,
        customer=customer,
        fulfil=replace(fulfil, address=address),
        payload_hash=payload_hash,
        now=utcnow(),
        external_id=external_id,
        cart_id=cart.id if cart is not None else None,
        source_updated_at=source_updated_at,
        exchange_of_id=exchange_of_id,
        handed_over=handed_over,
    )
    return placement.write_order(
        session, setup=setup, plan=plan, actor=actor, hold_id=hold_id, cart=cart
    )


@dataclass(frozen=True, slots=True)
class ExternalOrder:
    """An order as an external channel sends it (marketplace, other web shop)."""

    channel_id: int
    external_id: str
    draft: OrderDraft
    fulfil: Fulfil
    cancelled: bool = False
    updated_at: datetime | None = None
    payload: dict[str, Any] | None = None


def ingest_order(db: Database, order: ExternalOrder, *, actor: str = "system") -> OrderView:
    """Take a channel's order idempotently on (channel, external id).

    A redelivery returns the same order; a changed payload updates it (lines that change
    move its stock under the same rules); `cancelled` cancels it and frees its stock.
    A delivery older (by `updated_at`) than the one applied is answered with the order
    as it is. An `updated_at` further ahead than `kernel.clock.MAX_FUTURE_SKEW` is
    refused: it would outrank every later real update and cancellation.
    """
    external_id = check_text(order.external_id, "external_id", where="external_id", required=True)
    if order.updated_at is not None:
        order = replace(order, updated_at=check_not_future(order.updated_at, field="updated_at"))
    check_fulfil(order.fulfil)
    payload_hash = placement_hash(order)

    def work(session: Session) -> OrderView:
        setup = placement.load_setup(session, order.channel_id, kinds=INGEST_KINDS)
        channel = setup.channel
        if order.draft.currency.upper() != channel.currency:
            raise ValidationFailed(
                f"channel {channel.code!r} sells in {channel.currency}, not {order.draft.currency}",
                field="currency",
            )
        totals = check_totals(order.draft)
        if order.cancelled:  # only ever a change of an order already here
            existing = session.scalar(
                select(Order)
                .where(Order.channel_id == channel.id, Order.external_id == external_id)
                .with_for_update()
            )
            if existing is None:
                raise Conflict(
                    f"order {external_id!r} is unknown, so it cannot be cancelled",
                    field="status",
                )
        else:  # most deliveries are new orders: claim first, look only when taken
            written = create_order(
                session,
                setup=setup,
                source="external",
                draft=order.draft,
                totals=totals,
                fulfil=order.fulfil,
                actor=actor,
                payload_hash=payload_hash,
                external_id=external_id,
                source_updated_at=order.updated_at,
            )
            if written.rows is not None:
                return view_of(written.rows, channel_code=channel.code)
            existing = written.order
        return _redelivered(session, existing, order, totals, payload_hash, actor, channel.code)

    return in_transaction(db, work)


def placement_hash(order: ExternalOrder) -> str:
    """What identifies one version of a channel's order."""
    return fingerprint(order.payload or {"external_id": order.external_id, "repr": repr(order)})


def _redelivered(  # noqa: PLR0917 -- one private step of ingest_order
    session: Session,
    existing: Order,
    order: ExternalOrder,
    totals: Totals,
    payload_hash: str,
    actor: str,
    code: str,  # the channel's
) -> OrderView:
    def view(*, replayed: bool = False) -> OrderView:
        return order_view(session, existing, replayed=replayed, channel_code=code)

    if existing.payload_hash == payload_hash:
        return view(replayed=True)
    if (
        order.updated_at is not None
        and existing.source_updated_at is not None
        and order.updated_at <= existing.source_updated_at
    ):
        return view(replayed=True)  # an older version, late
    if order.cancelled:
        if existing.status == CANCELLED:
            return view(replayed=True)
        cancel_in(session, existing, actor=actor, reason="cancelled by the channel")
        existing.payload_hash = payload_hash
        existing.source_updated_at = order.updated_at
        return view()
    if existing.status not in (PENDING, CONFIRMED):
        raise Conflict(
            f"order {existing.id} is {existing.status}; only pending or confirmed orders "
            "can be changed",
            field="status",
            status_now=existing.status,
        )
    _apply_update(session, existing, order, totals, actor)
    existing.payload_hash = payload_hash
    existing.source_updated_at = order.updated_at
    return view()


def _apply_update(
    session: Session, existing: Order, order: ExternalOrder, totals: Totals, actor: str
) -> None:
    old_lines = list(session.scalars(select(OrderLine).where(OrderLine.order_id == existing.id)))
    units = sorted((line.sku, line.quantity) for line in old_lines)
    wanted = sorted((line.sku, line.quantity) for line in totals.lines)
    moved = (
        units != wanted
        or order.fulfil.mode != existing.fulfilment_mode
        or order.fulfil.pickup_location_id != existing.pickup_location_id
    )
    existing.version += 1
    if moved:
        # Free the old units and hold the new ones in this one transaction: the rows
        # stay locked between the two, so nobody else can take what is freed meanwhile.
        setup = placement.load_setup(session, existing.channel_id)
        placement.lock_for_replacement(
            session,
            policy=setup.policy,
            skus=sorted({sku for sku, _ in units} | {sku for sku, _ in wanted}),
            holds=[existing.reservation_id],
        )
        placement.release_placement(
            session, existing, actor=actor, reason=f"order {existing.id} changed"
        )
        placed = placement.place_stock(
            session,
            setup=setup,
            lines=[(line.sku, line.quantity) for line in totals.lines],
            fulfil=order.fulfil,
            key=f"order:{existing.id}:v{existing.version}",
            actor=actor,
            reference=f"order {existing.id}",
            flag_unlisted=True,
        )
        existing.reservation_id = placed.reservation_id
        existing.routing = placed.routing
        existing.flags = placed.flags or None
        placement.announce(
            session, "Order Routed", existing, {"order_id": str(existing.id), **placed.routing}
        )
    for line in old_lines:
        session.delete(line)
    session.flush()
    placement.write_lines(session, existing.id, totals)
    # A late update of an erased person's order must not write their data back.
    customer, address = screen_customer(
        session,
        channel_kind=session.get_one(Channel, existing.channel_id).kind,
        channel_id=existing.channel_id,
        customer=check_customer(order.draft.customer),
        address=order.fulfil.address,
    )
    for name, value in amounts_of(totals).items():
        setattr(existing, name, value)
    existing.taxes_included = order.draft.taxes_included
    existing.customer_email = customer.email
    existing.customer_phone = customer.phone
    existing.customer_ref = customer.ref
    existing.fulfilment_mode = order.fulfil.mode
    existing.pickup_location_id = order.fulfil.pickup_location_id
    existing.shipping_address = address
    existing.updated_at = utcnow()
    for payment in session.scalars(
        select(Payment).where(Payment.order_id == existing.id, Payment.kind == "payment")
    ):
        session.delete(payment)
    placement.record_payments(
        session,
        existing,
        [(p.method.strip(), p.amount, p.reference.strip()) for p in order.draft.payments],
    )
    if existing.status == PENDING and paid_in_full(totals.paid, totals.total):
        placement.move(session, existing, CONFIRMED, actor=actor, reason="paid in full")
    session.flush()
    placement.announce(session, "Order Updated", existing, segment_order(session, existing))


def cancel_in(session: Session, order: Order, *, actor: str, reason: str) -> None:
    """Cancel an order nothing of which has left: its units go back on sale, what was
    paid is recorded as refunded."""
    check_transition(order.status, CANCELLED, order_id=order.id)
    placement.release_placement(session, order, actor=actor, reason=reason or "order cancelled")
    placement.move(session, order, CANCELLED, actor=actor, reason=reason)
    paid = list(
        session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id))
    )
    net: dict[str, Decimal] = {}
    for payment in paid:
        sign = 1 if payment.kind == "payment" else -1
        net[payment.method] = net.get(payment.method, Decimal(0)) + sign * payment.amount
    refunds = [(method, amount, "cancelled") for method, amount in net.items() if amount > 0]
    placement.record_payments(session, order, refunds, kind="refund")
    session.flush()
    described = segment_order(session, order)
    placement.announce(session, "Order Cancelled", order, {**described, "reason": reason})
    if refunds:
        placement.announce(
            session,
            "Order Refunded",
            order,
            {**described, "total": str(sum((r[1] for r in refunds), Decimal(0)))},
        )


def cancel_order(
    db: Database,
    *,
    order_id: int,
    actor: str = "system",
    reason: str = "",
    channel_id: int | None = None,
) -> OrderView:
    """Cancel an order that has not started leaving (pending or confirmed)."""

    def work(session: Session) -> OrderView:
        order = lock_order(session, order_id, channel_id=channel_id)
        if order.status == CANCELLED:
            return order_view(session, order, replayed=True)
        cancel_in(session, order, actor=actor, reason=reason)
        return order_view(session, order)

    return in_transaction(db, work)


def record_payment(
    db: Database,
    *,
    order_id: int,
    payment: PaymentDraft,
    actor: str = "system",
    channel_id: int | None = None,
) -> OrderView:
    """Money received for an order; paid in full, a pending order is confirmed.

    Announces "Order Updated" with the order's new status."""

    def work(session: Session) -> OrderView:
        order = lock_order(session, order_id, channel_id=channel_id)
        if order.status == CANCELLED:
            raise Conflict(f"order {order_id} is cancelled", field="status", status_now=CANCELLED)
        paid = paid_so_far(session, order.id)
        method = check_text(payment.method, "method", where="method", required=True)
        reference = check_text(payment.reference, "reference", where="reference")
        amount = Money.exact(payment.amount, order.currency, field="amount").amount
        if amount <= 0:
            raise ValidationFailed("a payment is more than zero", field="amount")
        if paid + amount > order.total:
            raise ValidationFailed(
                f"order {order_id} is {order.total} {order.currency} and {paid} is paid; "
                f"{amount} more would overpay it",
                field="amount",
            )
        placement.record_payments(session, order, [(method, amount, reference)])
        if order.status == PENDING and paid_in_full(paid + amount, order.total):
            placement.move(session, order, CONFIRMED, actor=actor, reason="paid in full")
        session.flush()
        # Consumers learn that the order's money changed (loyalty earns once it is paid).
        placement.announce(session, "Order Updated", order, segment_order(session, order))
        return order_view(session, order)

    return in_transaction(db, work)


def paid_so_far(session: Session, order_id: int) -> Decimal:
    """Payments received for an order, refunds not deducted."""
    # Added up here, as Decimals: SQLite would add the stored amounts up as floats.
    amounts = session.scalars(
        select(Payment.amount).where(Payment.order_id == order_id, Payment.kind == "payment")
    )
    return sum(amounts, Decimal(0))


def complete_order(
    db: Database, *, order_id: int, actor: str = "system", channel_id: int | None = None
) -> OrderView:
    """Close a fulfilled order: everything reached the customer."""

    def work(session: Session) -> OrderView:
        order = lock_order(session, order_id, channel_id=channel_id)
        if order.status == COMPLETED:
            return order_view(session, order, replayed=True)
        check_transition(order.status, COMPLETED, order_id=order.id)
        placement.move(session, order, COMPLETED, actor=actor, reason="completed")
        return order_view(session, order)

    return in_transaction(db, work)


def get_order(db: Database, *, order_id: int, channel_id: int | None = None) -> OrderView:
    """One order with everything about it."""
    with db.reading() as session:
        order = session.get(Order, order_id)
        if order is None or (channel_id is not None and order.channel_id != channel_id):
            raise NotFound(f"order {order_id} does not exist", field="order_id")
        return order_view(session, order)


def list_orders(
    db: Database,
    *,
    channel_id: int | None = None,
    status: str | None = None,
    location_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Order]:
    """Orders newest first (by id), optionally of one channel, status or store."""
    with db.reading() as session:
        stmt = select(Order).order_by(Order.id.desc()).limit(limit)
        if channel_id is not None:
            stmt = stmt.where(Order.channel_id == channel_id)
        if status is not None:
            stmt = stmt.where(Order.status == status)
        if location_id is not None:
            stmt = stmt.where(at_store(location_id))
        if after_id is not None:
            stmt = stmt.where(Order.id < after_id)
        return list(session.scalars(stmt))


def customer_of(order: Order) -> Customer:
    """The order's customer reference."""
    return Customer(order.customer_email, order.customer_phone, order.customer_ref)


@dataclass(frozen=True, slots=True)
class RulesView:
    """A channel's order rules as stored (defaults when it set none)."""

    channel_id: int
    rules: list[str]
    prefer_single_location: bool
    location_costs: dict[str, Decimal]
    pickup_window_hours: int
    returnless_below: Decimal | None


def get_order_rules(db: Database, *, channel_id: int) -> RulesView:
    """How the channel's orders are routed, held for pickup and refunded."""
    with db.reading() as session:
        placement.channel_row(session, channel_id)
        row = session.get(OrderRules, channel_id)
        if row is None:
            return RulesView(channel_id, list(routing.DEFAULT_RULES), True, {}, 72, None)
        return RulesView(
            channel_id,
            list(row.rules),
            row.prefer_single_location,
            {code: Decimal(str(cost)) for code, cost in row.location_costs.items()},
            row.pickup_window_hours,
            row.returnless_below,
        )


def set_order_rules(db: Database, *, rules: RulesView) -> RulesView:
    """Replace a channel's order rules; location codes in costs must exist."""
    ranking = routing.check_rules(rules.rules, rules.location_costs)
    if not 1 <= rules.pickup_window_hours <= 24 * 60:
        raise ValidationFailed("pickup_window_hours is 1 to 1440", field="pickup_window_hours")
    if rules.returnless_below is not None and rules.returnless_below < 0:
        raise ValidationFailed("returnless_below must not be negative", field="returnless_below")

    def work(session: Session) -> None:
        channel = placement.channel_row(session, rules.channel_id)
        known = set(session.scalars(select(Location.code)))
        unknown = sorted(set(rules.location_costs) - known)
        if unknown:
            raise NotFound(f"unknown location(s): {', '.join(unknown)}", field="location_costs")
        row = session.get(OrderRules, channel.id) or OrderRules(channel_id=channel.id)
        row.rules = list(ranking)
        row.prefer_single_location = rules.prefer_single_location
        row.location_costs = {
            code: str(Money.exact(cost, channel.currency, field=f"location_costs.{code}").amount)
            for code, cost in rules.location_costs.items()
        }
        row.pickup_window_hours = rules.pickup_window_hours
        row.returnless_below = (
            None
            if rules.returnless_below is None
            else Money.exact(rules.returnless_below, channel.currency).amount
        )
        row.updated_at = utcnow()
        session.add(row)

    in_transaction(db, work)
    return get_order_rules(db, channel_id=rules.channel_id)
