"""Own channels' carts and checkout, and a store till's sales.

A cart holds its units with an expiring reservation, made anew whenever its lines
change. At checkout a live hold becomes the order's allocation in one locked step, where
it is (only units routing cannot draw from are placed again): the hold passed the
channel's buffer, so a sale on another channel since cannot take its units back. A hold
that lapsed is placed again if the stock is still there, or refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import refuse_unlisted
from omnicart.channels.policy import ChannelPolicy
from omnicart.db.engine import Database
from omnicart.inventory.checks import check_lines
from omnicart.inventory.planning import HoldRequest, NewHolds
from omnicart.inventory.reservations import (
    RELEASE,
    close_quietly,
    lock_hold,
    next_reservation_id,
    reserve_in,
    ship_in,
)
from omnicart.inventory.tables import Reservation
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, InsufficientStock, NotFound, ValidationFailed
from omnicart.loyalty.service import quote_redemption, redeem_on_order
from omnicart.orders import placement
from omnicart.orders.model import (
    Customer,
    Fulfil,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    check_totals,
    fingerprint,
    with_redemption,
)
from omnicart.orders.placement import SetupChannel
from omnicart.orders.service import check_fulfil, create_order, in_transaction
from omnicart.orders.tables import Cart, Order
from omnicart.orders.views import OrderView, order_view, view_of
from omnicart.settings import get_settings

CART_KINDS = ("web", "app", "social", "messaging")


@dataclass(frozen=True, slots=True)
class CartLineView:
    """A SKU in a cart, at the channel's price."""

    sku: str
    quantity: int
    unit_price: Decimal | None


@dataclass(frozen=True, slots=True)
class CartView:
    """A cart, its lines and how long its units are held."""

    id: int
    channel_id: int
    status: str
    currency: str
    lines: list[CartLineView]
    subtotal: Decimal
    hold_status: str | None
    hold_expires_at: datetime | None
    order_id: int | None


@dataclass(frozen=True, slots=True)
class _Held:
    """A cart's hold as its view shows it."""

    status: str
    expires_at: datetime


def _cart_view(session: Session, cart: Cart, *, held: _Held | None = None) -> CartView:
    """The cart's view; `held`: its hold as just made (else it is read)."""
    skus = [line["sku"] for line in cart.lines]
    prices = placement.channel_prices(session, cart.channel_id, skus)
    hold: _Held | Reservation | None = held
    if hold is None and cart.reservation_id:
        hold = session.get(Reservation, cart.reservation_id)
    lines = [CartLineView(x["sku"], x["quantity"], prices.get(x["sku"])) for x in cart.lines]
    return CartView(
        id=cart.id,
        channel_id=cart.channel_id,
        status=cart.status,
        currency=cart.currency,
        lines=lines,
        subtotal=sum(
            ((line.unit_price or Decimal(0)) * line.quantity for line in lines), Decimal(0)
        ),
        hold_status=hold.status if hold else None,
        hold_expires_at=hold.expires_at if hold else None,
        order_id=cart.order_id,
    )


def _release_hold(session: Session, cart: Cart, *, actor: str, reason: str) -> None:
    if cart.reservation_id is None:
        return
    hold = session.get(Reservation, cart.reservation_id)
    if hold is not None and hold.status == "active":
        close_quietly(
            session,
            RELEASE,
            reservation_id=hold.id,
            channel_id=cart.channel_id,
            actor=actor,
            reason=reason,
        )
    cart.reservation_id = None


def _hold(
    session: Session, cart: Cart, *, actor: str, policy: ChannelPolicy | None = None
) -> _Held | None:
    """Hold the cart's lines under its revision (None: it has none). A hold id the cart
    drew with its row (`next_reservation_id`) is the hold's."""
    lines = [(line["sku"], line["quantity"]) for line in cart.lines]
    if not lines:
        return None
    key = f"cart:{cart.id}:r{cart.revision}"
    made = reserve_in(
        session.connection(),
        HoldRequest(
            channel_id=cart.channel_id,
            lines=tuple(lines),
            key=key,
            location_id=None,
            ttl=get_settings().reservation_ttl_seconds,
            reference=f"cart {cart.id}",
            actor=actor,
            fingerprint=key,
            id=cart.reservation_id,
        ),
        lock_first=True,
        policy=policy,
    )
    cart.reservation_id = made.id  # the drawn id, when there was one: nothing to write
    return _Held("active" if isinstance(made, NewHolds) else made.status, made.expires_at)


def _checked_lines(lines: Sequence[tuple[str, int]]) -> list[dict[str, object]]:
    check_lines(lines)
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    return [{"sku": sku, "quantity": quantity} for sku, quantity in merged.items()]


def create_cart(
    db: Database, *, channel_id: int, lines: Sequence[tuple[str, int]], actor: str = "system"
) -> CartView:
    """A new cart on an own channel, its units held for the reservation TTL."""
    wanted = _checked_lines(lines) if lines else []

    def work(session: Session) -> CartView:
        setup = placement.load_setup(session, channel_id, kinds=CART_KINDS)
        channel = setup.channel
        now = utcnow()
        values = {
            "channel_id": channel.id,
            "status": "open",
            "currency": channel.currency,
            "revision": 1 if wanted else 0,
            "reservation_id": None,
            "order_id": None,
            "lines": wanted,
            "created_at": now,
            "updated_at": now,
        }
        drawn = wanted and session.get_bind().dialect.name == "postgresql"
        # On PostgreSQL the hold's id is drawn with the cart's row: it is written once.
        cart_id, values["reservation_id"] = session.execute(
            insert(Cart)
            .values({**values, **({"reservation_id": next_reservation_id()} if drawn else {})})
            .returning(Cart.id, Cart.reservation_id)
        ).one()
        cart = placement.as_written(session, Cart, cart_id, values)
        held = _hold(session, cart, actor=actor, policy=setup.policy)
        session.flush()
        return _cart_view(session, cart, held=held)

    return in_transaction(db, work)


def _open_cart(session: Session, cart_id: int, channel_id: int | None) -> Cart:
    cart = session.scalar(select(Cart).where(Cart.id == cart_id).with_for_update())
    if cart is None or (channel_id is not None and cart.channel_id != channel_id):
        raise NotFound(f"cart {cart_id} does not exist", field="cart_id")
    return cart


def set_cart_lines(
    db: Database,
    *,
    cart_id: int,
    lines: Sequence[tuple[str, int]],
    actor: str = "system",
    channel_id: int | None = None,
) -> CartView:
    """Replace a cart's lines; its hold is made anew for them (all or nothing)."""
    wanted = _checked_lines(lines) if lines else []

    def work(session: Session) -> CartView:
        cart = _open_cart(session, cart_id, channel_id)
        if cart.status != "open":
            raise Conflict(f"cart {cart_id} is {cart.status}", field="cart_id")
        _release_hold(session, cart, actor=actor, reason=f"cart {cart.id} changed")
        cart.lines = wanted
        cart.updated_at = utcnow()
        if wanted:
            cart.revision += 1
        held = _hold(session, cart, actor=actor)
        session.flush()
        return _cart_view(session, cart, held=held)

    return in_transaction(db, work)


def get_cart(db: Database, *, cart_id: int, channel_id: int | None = None) -> CartView:
    """A cart and its hold."""
    with db.reading() as session:
        cart = session.get(Cart, cart_id)
        if cart is None or (channel_id is not None and cart.channel_id != channel_id):
            raise NotFound(f"cart {cart_id} does not exist", field="cart_id")
        return _cart_view(session, cart)


@dataclass(frozen=True, slots=True)
class Checkout:
    """What the shopper chose at checkout; amounts as the storefront computed them."""

    fulfil: Fulfil
    customer: Customer = field(default_factory=Customer)
    shipping: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    payments: tuple[PaymentDraft, ...] = ()
    total: Decimal | None = None
    redeem_points: int = 0  # loyalty points the customer spends on this order


def _points_value(session: Session, channel: SetupChannel, points: int) -> Decimal:
    if not points:
        return Decimal(0)
    return quote_redemption(
        session, channel_id=channel.id, currency=channel.currency, points=points
    )


def _redeem(session: Session, order: Order, points: int, value: Decimal, actor: str) -> None:
    # In the order's transaction: short of points, the order is not placed either.
    if points:
        redeem_on_order(
            session,
            order_id=order.id,
            channel_id=order.channel_id,
            currency=order.currency,
            points=points,
            value=value,
            actor=actor,
        )


def checkout(
    db: Database,
    *,
    cart_id: int,
    request: Checkout,
    actor: str = "system",
    channel_id: int | None = None,
) -> OrderView:
    """Turn a cart into an order (once: a repeat returns that order)."""
    check_fulfil(request.fulfil)

    def work(session: Session) -> OrderView:
        cart = _open_cart(session, cart_id, channel_id)
        if cart.status == "converted" and cart.order_id is not None:
            return order_view(session, session.get_one(Order, cart.order_id), replayed=True)
        if not cart.lines:
            raise ValidationFailed(f"cart {cart_id} is empty", field="lines")
        setup = placement.load_setup(session, cart.channel_id, kinds=CART_KINDS)
        channel = setup.channel
        skus = [line["sku"] for line in cart.lines]
        price_list = placement.price_list(session, channel.id, skus)
        prices = price_list.prices
        unpriced = [sku for sku in skus if sku not in prices]
        if unpriced:
            raise Conflict(
                f"no price on channel {channel.code!r} for: {', '.join(unpriced)}",
                field="lines",
                skus=unpriced,
            )
        points_value = _points_value(session, channel, request.redeem_points)
        draft = OrderDraft(
            currency=channel.currency,
            lines=tuple(
                LineDraft(
                    sku=line["sku"], quantity=line["quantity"], unit_price=prices[line["sku"]]
                )
                for line in cart.lines
            ),
            shipping=request.shipping,
            shipping_tax=request.shipping_tax,
            order_tax=request.tax,
            discount=request.discount,
            total=request.total,
            payments=request.payments,
            customer=request.customer,
        )
        draft = with_redemption(draft, points_value)
        totals = check_totals(draft)
        # Sales follow listings, also of a cart filled before its product was unlisted.
        refuse_unlisted(channel.code, skus, price_list.unlisted)
        hold_id = cart.reservation_id
        if hold_id is None:
            live = False
            placement.lock_for_replacement(session, policy=setup.policy, skus=skus, holds=[])
        else:  # the hold, then every stock row placing the order may touch, locked at once
            live = lock_hold(
                session,
                reservation_id=hold_id,
                channel_id=channel.id,
                skus=skus,
                location_ids=setup.policy.serving_locations,
            )
        if not live:  # a lapsed hold promises nothing: free it, place the order anew
            _release_hold(session, cart, actor=actor, reason=f"cart {cart.id} hold lapsed")
        try:
            written = create_order(
                session,
                setup=setup,
                source="checkout",
                draft=draft,
                totals=totals,
                fulfil=request.fulfil,
                actor=actor,
                payload_hash=fingerprint({"cart": cart.id}),
                cart=cart,
                hold_id=hold_id if live else None,
            )
        except InsufficientStock as exc:
            if not live:
                raise InsufficientStock(
                    f"the cart's hold had expired and its units are no longer there: {exc.detail}",
                    field="lines",
                    **exc.extra,
                ) from exc
            raise
        if written.rows is None:  # the cart's order, made by a concurrent twin of this request
            return order_view(session, written.order, channel_code=channel.code, replayed=True)
        _redeem(session, written.order, request.redeem_points, points_value, actor)
        return view_of(written.rows, channel_code=channel.code)

    return in_transaction(db, work)


@dataclass(frozen=True, slots=True)
class TillSale:
    """A sale at a store's till: paid and handed over at once."""

    channel_id: int
    location_id: int
    lines: tuple[LineDraft, ...]
    payments: tuple[PaymentDraft, ...]
    customer: Customer = field(default_factory=Customer)
    taxes_included: bool = True
    total: Decimal | None = None
    receipt: str | None = None
    redeem_points: int = 0  # loyalty points the customer spends on this sale


def record_sale(db: Database, *, sale: TillSale, actor: str = "system") -> OrderView:
    """A POS sale: an order paid, fulfilled and completed at once from the store's stock.

    Idempotent on the till's receipt number when it sends one.
    """

    def work(session: Session) -> OrderView:
        setup = placement.load_setup(session, sale.channel_id, kinds=("pos",))
        channel = setup.channel
        points_value = _points_value(session, channel, sale.redeem_points)
        draft = OrderDraft(
            currency=channel.currency,
            lines=sale.lines,
            payments=sale.payments,
            customer=sale.customer,
            taxes_included=sale.taxes_included,
            total=sale.total,
        )
        draft = with_redemption(draft, points_value)
        written = create_order(
            session,
            setup=setup,
            source="pos",
            draft=draft,
            totals=check_totals(draft),
            fulfil=Fulfil(mode="in_store", pickup_location_id=sale.location_id),
            actor=actor,
            payload_hash=fingerprint({"receipt": sale.receipt}),
            external_id=sale.receipt,
            handed_over=True,
        )
        order, rows = written.order, written.rows
        if rows is None:
            return order_view(session, order, replayed=True, channel_code=channel.code)
        _redeem(session, order, sale.redeem_points, points_value, actor)
        assert order.reservation_id is not None
        # Written as handed over: its units leave the shelf now, through the ledger.
        ship_in(
            session,
            reservation_id=order.reservation_id,
            actor=actor,
            reason=f"sold at the till, order {order.id}",
        )
        return view_of(rows, channel_code=channel.code)

    return in_transaction(db, work)
