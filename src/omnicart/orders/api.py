"""HTTP routes for the order book: parse, check who may act, call the service, serialise.

Who may act where: a channel's key creates and sees orders of its own channel only
(others' are 404 to it); a store staff key sells at its own till and handles pickups,
shipments and returns at its own store only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath, IdQuery
from omnicart.auth.access import Named, Owned, access
from omnicart.orders import checkout, fulfilment, returns, service
from omnicart.orders.owners import cart_owners, channel_stores, order_owners, return_owners
from omnicart.orders.schemas import (
    CartIn,
    CartLinesIn,
    CartOut,
    CheckoutIn,
    ExternalOrderIn,
    OrderOut,
    OrderRulesIn,
    OrderRulesOut,
    OrderStatus,
    OrderSummaryOut,
    PaymentIn,
    PickupCodeIn,
    ReasonIn,
    ReceiveIn,
    RefundIn,
    ReturnIn,
    ReturnOut,
    SaleIn,
    ShipmentIn,
    line_drafts,
)

router = APIRouter(tags=["orders"])


ORDER = Owned("order", "order_id", order_owners)
CART = Owned("cart", "cart_id", cart_owners)
RETURN = Owned("return", "return_id", return_owners)
# A store's staff opens returns through a channel its store serves.
SERVED_CHANNEL = Owned("channel", "channel_id", channel_stores, source="body")


def _out(view: object, response: Response, *, created: bool = True) -> OrderOut:
    replayed = getattr(view, "replayed", False)
    response.status_code = status.HTTP_200_OK if replayed or not created else 201
    return OrderOut.model_validate(view)


@router.put(
    "/channels/{channel_id}/orders/{external_id}",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": OrderOut, "description": "A redelivery, an update or a cancellation"}
    },
)
@guard(access("orders:write", "channel", channel=Named("path", "channel_id")))
def ingest_order(
    channel_id: IdPath,
    external_id: Annotated[str, Path(min_length=1, max_length=200)],
    *,
    body: ExternalOrderIn,
    db: DbDep,
    principal: Caller,
    response: Response,
) -> OrderOut:
    """Take an external channel's order, idempotently on (channel, external id).

    The same payload again returns the same order (200); a changed one updates it; status
    `cancelled` cancels it and frees its stock. 201 when the order is new.
    """
    view = service.ingest_order(
        db, body.order(channel_id=channel_id, external_id=external_id), actor=principal.actor
    )
    created = not view.replayed and view.version == 1 and view.status != "cancelled"
    return _out(view, response, created=created)


@router.get("/orders")
@guard(
    access("orders:read", "channel", "staff", channel=Named("query", "channel_id", fill_own=True))
)
def list_orders(
    *,
    db: DbDep,
    principal: Caller,
    channel_id: IdQuery = None,
    order_status: Annotated[OrderStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[OrderSummaryOut]:
    """Orders, newest first; a channel's key sees only its own channel's."""
    rows = service.list_orders(
        db,
        channel_id=channel_id,
        status=order_status,
        after_id=decode_cursor(cursor) or None,
        limit=limit,
    )
    return Page[OrderSummaryOut](
        items=[OrderSummaryOut.model_validate(row) for row in rows],
        next_cursor=next_cursor([row.id for row in rows], limit),
    )


@router.get("/orders/{order_id}")
@guard(access("orders:read", "channel", "staff", channel=ORDER))
def get_order(order_id: IdPath, db: DbDep, principal: Caller) -> OrderOut:
    """One order: lines, payments, status history, routing decision and fulfilments."""
    view = service.get_order(db, order_id=order_id, channel_id=principal.own_channel)
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/payments")
@guard(access("orders:write", "channel", "staff", channel=ORDER, store=ORDER))
def record_payment(order_id: IdPath, body: PaymentIn, db: DbDep, principal: Caller) -> OrderOut:
    """Money received; paid in full, a pending order is confirmed."""
    view = service.record_payment(
        db,
        order_id=order_id,
        payment=body.model(),
        actor=principal.actor,
        channel_id=principal.own_channel,
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/cancel")
@guard(access("orders:write", "channel", "staff", channel=ORDER, store=ORDER))
def cancel_order(
    order_id: IdPath, db: DbDep, principal: Caller, body: ReasonIn | None = None
) -> OrderOut:
    """Cancel an order nothing of which has left; its units go back on sale."""
    view = service.cancel_order(
        db,
        order_id=order_id,
        actor=principal.actor,
        reason=body.reason if body else "",
        channel_id=principal.own_channel,
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/complete")
@guard(access("orders:write", "channel", "staff", channel=ORDER, store=ORDER))
def complete_order(order_id: IdPath, db: DbDep, principal: Caller) -> OrderOut:
    """Close a fulfilled order."""
    view = service.complete_order(
        db, order_id=order_id, actor=principal.actor, channel_id=principal.own_channel
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/shipments", tags=["fulfilment"])
@guard(
    access("orders:write", "channel", "staff", channel=ORDER, store=Named("body", "location_id"))
)
def create_shipment(order_id: IdPath, body: ShipmentIn, db: DbDep, principal: Caller) -> OrderOut:
    """Ship from one location: everything the order holds there, or only the chosen lines
    and quantities (a store's staff: from its own store)."""
    chosen = (
        None
        if body.lines is None
        else [fulfilment.ShipmentLine(x.line_no, x.quantity) for x in body.lines]
    )
    view = fulfilment.create_shipment(
        db,
        order_id=order_id,
        location_id=body.location_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=principal.actor,
        channel_id=principal.own_channel,
        lines=chosen,
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/pickup/ready", tags=["fulfilment"])
@guard(access("orders:write", "staff", store=ORDER))
def pickup_ready(order_id: IdPath, db: DbDep, principal: Caller) -> OrderOut:
    """The pickup store has the order ready: a code and a deadline are issued."""
    view = fulfilment.mark_ready(
        db, order_id=order_id, actor=principal.actor, staff_location=principal.own_store
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/pickup/collect", tags=["fulfilment"])
@guard(access("orders:write", "staff", store=ORDER))
def pickup_collect(order_id: IdPath, body: PickupCodeIn, db: DbDep, principal: Caller) -> OrderOut:
    """The customer collected the order with its code."""
    view = fulfilment.collect(
        db,
        order_id=order_id,
        code=body.code,
        actor=principal.actor,
        staff_location=principal.own_store,
    )
    return OrderOut.model_validate(view)


@router.post("/carts", status_code=status.HTTP_201_CREATED, tags=["checkout"])
@guard(access("orders:write", "channel", channel=Named("body", "channel_id")))
def create_cart(body: CartIn, db: DbDep, principal: Caller) -> CartOut:
    """A cart on an own channel; its units are held until the hold expires."""
    view = checkout.create_cart(
        db,
        channel_id=body.channel_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
    )
    return CartOut.model_validate(view)


@router.get("/carts/{cart_id}", tags=["checkout"])
@guard(access("orders:read", "channel", channel=CART))
def get_cart(cart_id: IdPath, db: DbDep, principal: Caller) -> CartOut:
    """A cart and its hold."""
    view = checkout.get_cart(db, cart_id=cart_id, channel_id=principal.own_channel)
    return CartOut.model_validate(view)


@router.put("/carts/{cart_id}/lines", tags=["checkout"])
@guard(access("orders:write", "channel", channel=CART))
def set_cart_lines(cart_id: IdPath, body: CartLinesIn, db: DbDep, principal: Caller) -> CartOut:
    """Replace the cart's lines; the hold is made anew for them, all or nothing."""
    view = checkout.set_cart_lines(
        db,
        cart_id=cart_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
        channel_id=principal.own_channel,
    )
    return CartOut.model_validate(view)


@router.post(
    "/carts/{cart_id}/checkout",
    status_code=status.HTTP_201_CREATED,
    tags=["checkout"],
    responses={
        200: {"model": OrderOut, "description": "A repeat: the order this cart already became"}
    },
)
@guard(access("orders:write", "channel", channel=CART))
def checkout_cart(
    cart_id: IdPath, body: CheckoutIn, db: DbDep, principal: Caller, response: Response
) -> OrderOut:
    """Turn the cart into an order (a repeat returns the same order, 200)."""
    view = checkout.checkout(
        db,
        cart_id=cart_id,
        request=checkout.Checkout(
            fulfil=body.fulfilment.model(),
            customer=body.customer.model(),
            shipping=body.shipping,
            shipping_tax=body.shipping_tax,
            tax=body.tax,
            discount=body.discount,
            payments=tuple(p.model() for p in body.payments),
            total=body.total,
            redeem_points=body.redeem_points,
        ),
        actor=principal.actor,
        channel_id=principal.own_channel,
    )
    return _out(view, response)


@router.post(
    "/pos/sales",
    status_code=status.HTTP_201_CREATED,
    tags=["pos"],
    responses={
        200: {
            "model": OrderOut,
            "description": "A repeat of the receipt: the sale already recorded",
        }
    },
)
@guard(access("orders:write", "staff", store=Named("body", "location_id")))
def record_sale(body: SaleIn, db: DbDep, principal: Caller, response: Response) -> OrderOut:
    """A till sale: paid, handed over and completed at once from the store's shelves."""
    view = checkout.record_sale(
        db,
        sale=checkout.TillSale(
            channel_id=body.channel_id,
            location_id=body.location_id,
            lines=line_drafts(body.lines),
            payments=tuple(p.model() for p in body.payments),
            customer=body.customer.model(),
            taxes_included=body.taxes_included,
            total=body.total,
            receipt=body.receipt,
            redeem_points=body.redeem_points,
        ),
        actor=principal.actor,
    )
    return _out(view, response)


@router.post("/orders/{order_id}/returns", status_code=status.HTTP_201_CREATED, tags=["returns"])
@guard(
    access(
        "orders:write",
        "channel",
        "staff",
        channel=Named("body", "channel_id"),
        store=SERVED_CHANNEL,
    )
)
def open_return(order_id: IdPath, body: ReturnIn, db: DbDep, principal: Caller) -> ReturnOut:
    """Open a return in any channel for an order of any channel."""
    view = returns.open_return(
        db,
        order_id=order_id,
        channel_id=body.channel_id,
        lines=[returns.ReturnLineRequest(x.line_no, x.quantity, x.reason) for x in body.lines],
        exchange=[(x.sku, x.quantity) for x in body.exchange],
        actor=principal.actor,
    )
    return ReturnOut.model_validate(view)


@router.get("/returns/{return_id}", tags=["returns"])
@guard(access("orders:read", "channel", "staff", channel=RETURN))
def get_return(return_id: IdPath, db: DbDep, principal: Caller) -> ReturnOut:
    """One return."""
    return ReturnOut.model_validate(returns.get_return(db, return_id=return_id))


@router.post("/returns/{return_id}/receive", tags=["returns"])
@guard(access("orders:write", "staff", store=Named("body", "location_id")))
def receive_return(return_id: IdPath, body: ReceiveIn, db: DbDep, principal: Caller) -> ReturnOut:
    """The return arrived: each unit is restocked there or written off."""
    view = returns.receive_return(
        db,
        return_id=return_id,
        location_id=body.location_id,
        outcomes=[returns.Outcome(o.line_no, o.restock, o.write_off) for o in body.outcomes],
        actor=principal.actor,
        staff_location=principal.own_store,
    )
    return ReturnOut.model_validate(view)


@router.post("/returns/{return_id}/refund", tags=["returns"])
@guard(access("orders:write", "channel", "staff", channel=RETURN, store=RETURN))
def refund_return(
    return_id: IdPath, db: DbDep, principal: Caller, body: RefundIn | None = None
) -> ReturnOut:
    """Record a refund for a return (its whole value unless an amount is given)."""
    request = body or RefundIn()
    view = returns.refund_return(
        db,
        return_id=return_id,
        amount=request.amount,
        method=request.method,
        reference=request.reference,
        actor=principal.actor,
    )
    return ReturnOut.model_validate(view)


@router.get("/channels/{channel_id}/order-rules", tags=["channels"])
@guard(access("orders:read", "channel", "staff", channel=Named("path", "channel_id")))
def get_order_rules(channel_id: IdPath, db: DbDep, principal: Caller) -> OrderRulesOut:
    """How the channel's orders are routed, held for pickup and refunded."""
    return OrderRulesOut.model_validate(
        service.get_order_rules(db, channel_id=channel_id), from_attributes=True
    )


@router.put("/channels/{channel_id}/order-rules", tags=["channels"])
@guard(access("channels:write"))
def set_order_rules(
    channel_id: IdPath, body: OrderRulesIn, db: DbDep, principal: Caller
) -> OrderRulesOut:
    """Replace the channel's routing rules, pickup window and returnless threshold."""
    view = service.set_order_rules(
        db,
        rules=service.RulesView(
            channel_id=channel_id,
            rules=list(body.rules),
            prefer_single_location=body.prefer_single_location,
            location_costs=dict(body.location_costs),
            pickup_window_hours=body.pickup_window_hours,
            returnless_below=body.returnless_below,
        ),
    )
    return OrderRulesOut.model_validate(view, from_attributes=True)
