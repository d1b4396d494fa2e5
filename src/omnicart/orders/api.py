"""HTTP routes for the order book: parse, check who may act, call the service, serialise.

Who may act where: a channel's key creates and sees orders of its own channel only
(others' are 404 to it); a store staff key sells at its own till and handles pickups,
shipments and returns at its own store only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from omnicart.api.deps import DbDep, require
from omnicart.auth.service import Principal
from omnicart.kernel.errors import Forbidden
from omnicart.orders import checkout, fulfilment, returns, service
from omnicart.orders.schemas import (
    CartIn,
    CartLinesIn,
    CartOut,
    CheckoutIn,
    ExternalOrderIn,
    OrderOut,
    OrderRulesIn,
    OrderRulesOut,
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
Reader = Annotated[Principal, Depends(require("orders:read"))]
Writer = Annotated[Principal, Depends(require("orders:write"))]
Admin = Annotated[Principal, Depends(require("channels:write"))]


def _channel_scope(principal: Principal) -> int | None:
    return principal.channel_id if principal.role == "channel" else None


def _staff_location(principal: Principal) -> int | None:
    return principal.location_id if principal.role == "staff" else None


def _out(view: object, response: Response, *, created: bool = True) -> OrderOut:
    replayed = getattr(view, "replayed", False)
    response.status_code = status.HTTP_200_OK if replayed or not created else 201
    return OrderOut.model_validate(view)


@router.put(
    "/channels/{channel_id}/orders/{external_id}",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A redelivery, an update or a cancellation"}},
)
def ingest_order(
    channel_id: int,
    external_id: str,
    *,
    body: ExternalOrderIn,
    db: DbDep,
    principal: Writer,
    response: Response,
) -> OrderOut:
    """Take an external channel's order, idempotently on (channel, external id).

    The same payload again returns the same order (200); a changed one updates it; status
    `cancelled` cancels it and frees its stock. 201 when the order is new.
    """
    principal.require_channel(channel_id)
    view = service.ingest_order(
        db, body.order(channel_id=channel_id, external_id=external_id), actor=principal.actor
    )
    created = not view.replayed and view.version == 1 and view.status != "cancelled"
    return _out(view, response, created=created)


@router.get("/orders")
def list_orders(
    *,
    db: DbDep,
    principal: Reader,
    channel_id: int | None = None,
    order_status: Annotated[str | None, Query(alias="status")] = None,
    before_id: int | None = Query(default=None, description="Page on: orders older than this id."),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OrderSummaryOut]:
    """Orders, newest first."""
    scope = _channel_scope(principal)
    if scope is not None:
        channel_id = scope
    rows = service.list_orders(
        db, channel_id=channel_id, status=order_status, after_id=before_id, limit=limit
    )
    return [OrderSummaryOut.model_validate(row) for row in rows]


@router.get("/orders/{order_id}")
def get_order(order_id: int, db: DbDep, principal: Reader) -> OrderOut:
    """One order: lines, payments, status history, routing decision and fulfilments."""
    view = service.get_order(db, order_id=order_id, channel_id=_channel_scope(principal))
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/payments")
def record_payment(order_id: int, body: PaymentIn, db: DbDep, principal: Writer) -> OrderOut:
    """Money received; paid in full, a pending order is confirmed."""
    view = service.record_payment(
        db,
        order_id=order_id,
        payment=body.model(),
        actor=principal.actor,
        channel_id=_channel_scope(principal),
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/cancel")
def cancel_order(
    order_id: int, db: DbDep, principal: Writer, body: ReasonIn | None = None
) -> OrderOut:
    """Cancel an order nothing of which has left; its units go back on sale."""
    view = service.cancel_order(
        db,
        order_id=order_id,
        actor=principal.actor,
        reason=body.reason if body else "",
        channel_id=_channel_scope(principal),
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/complete")
def complete_order(order_id: int, db: DbDep, principal: Writer) -> OrderOut:
    """Close a fulfilled order."""
    view = service.complete_order(
        db, order_id=order_id, actor=principal.actor, channel_id=_channel_scope(principal)
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/shipments", tags=["fulfilment"])
def create_shipment(order_id: int, body: ShipmentIn, db: DbDep, principal: Writer) -> OrderOut:
    """Ship what the order holds at one location (a store's staff: its own store)."""
    if principal.role != "channel":
        principal.require_location(body.location_id, field_name="location_id")
    view = fulfilment.create_shipment(
        db,
        order_id=order_id,
        location_id=body.location_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=principal.actor,
        channel_id=_channel_scope(principal),
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/pickup/ready", tags=["fulfilment"])
def pickup_ready(order_id: int, db: DbDep, principal: Writer) -> OrderOut:
    """The pickup store has the order ready: a code and a deadline are issued."""
    _staff_or_admin(principal)
    view = fulfilment.mark_ready(
        db, order_id=order_id, actor=principal.actor, staff_location=_staff_location(principal)
    )
    return OrderOut.model_validate(view)


@router.post("/orders/{order_id}/pickup/collect", tags=["fulfilment"])
def pickup_collect(order_id: int, body: PickupCodeIn, db: DbDep, principal: Writer) -> OrderOut:
    """The customer collected the order with its code."""
    _staff_or_admin(principal)
    view = fulfilment.collect(
        db,
        order_id=order_id,
        code=body.code,
        actor=principal.actor,
        staff_location=_staff_location(principal),
    )
    return OrderOut.model_validate(view)


def _staff_or_admin(principal: Principal) -> None:
    # Pickups and returns are handled at a store; a channel's key has no store.
    if principal.role == "channel":
        raise Forbidden("only a store's staff (or an admin) acts on pickups and returns")


@router.post("/carts", status_code=status.HTTP_201_CREATED, tags=["checkout"])
def create_cart(body: CartIn, db: DbDep, principal: Writer) -> CartOut:
    """A cart on an own channel; its units are held until the hold expires."""
    principal.require_channel(body.channel_id, field_name="channel_id")
    view = checkout.create_cart(
        db,
        channel_id=body.channel_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
    )
    return CartOut.model_validate(view)


@router.get("/carts/{cart_id}", tags=["checkout"])
def get_cart(cart_id: int, db: DbDep, principal: Reader) -> CartOut:
    """A cart and its hold."""
    view = checkout.get_cart(db, cart_id=cart_id, channel_id=_channel_scope(principal))
    return CartOut.model_validate(view)


@router.put("/carts/{cart_id}/lines", tags=["checkout"])
def set_cart_lines(cart_id: int, body: CartLinesIn, db: DbDep, principal: Writer) -> CartOut:
    """Replace the cart's lines; the hold is made anew for them, all or nothing."""
    view = checkout.set_cart_lines(
        db,
        cart_id=cart_id,
        lines=[(line.sku, line.quantity) for line in body.lines],
        actor=principal.actor,
        channel_id=_channel_scope(principal),
    )
    return CartOut.model_validate(view)


@router.post("/carts/{cart_id}/checkout", status_code=status.HTTP_201_CREATED, tags=["checkout"])
def checkout_cart(
    cart_id: int, body: CheckoutIn, db: DbDep, principal: Writer, response: Response
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
        channel_id=_channel_scope(principal),
    )
    return _out(view, response)


@router.post("/pos/sales", status_code=status.HTTP_201_CREATED, tags=["pos"])
def record_sale(body: SaleIn, db: DbDep, principal: Writer, response: Response) -> OrderOut:
    """A till sale: paid, handed over and completed at once from the store's shelves."""
    principal.require_location(body.location_id, field_name="location_id")
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
def open_return(order_id: int, body: ReturnIn, db: DbDep, principal: Writer) -> ReturnOut:
    """Open a return in any channel for an order of any channel."""
    if principal.role == "channel":
        principal.require_channel(body.channel_id, field_name="channel_id")
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
def get_return(return_id: int, db: DbDep, _: Reader) -> ReturnOut:
    """One return."""
    return ReturnOut.model_validate(returns.get_return(db, return_id=return_id))


@router.post("/returns/{return_id}/receive", tags=["returns"])
def receive_return(return_id: int, body: ReceiveIn, db: DbDep, principal: Writer) -> ReturnOut:
    """The return arrived: each unit is restocked there or written off."""
    _staff_or_admin(principal)
    view = returns.receive_return(
        db,
        return_id=return_id,
        location_id=body.location_id,
        outcomes=[returns.Outcome(o.line_no, o.restock, o.write_off) for o in body.outcomes],
        actor=principal.actor,
        staff_location=_staff_location(principal),
    )
    return ReturnOut.model_validate(view)


@router.post("/returns/{return_id}/refund", tags=["returns"])
def refund_return(
    return_id: int, db: DbDep, principal: Writer, body: RefundIn | None = None
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
def get_order_rules(channel_id: int, db: DbDep, _: Reader) -> OrderRulesOut:
    """How the channel's orders are routed, held for pickup and refunded."""
    return OrderRulesOut.model_validate(
        service.get_order_rules(db, channel_id=channel_id), from_attributes=True
    )


@router.put("/channels/{channel_id}/order-rules", tags=["channels"])
def set_order_rules(channel_id: int, body: OrderRulesIn, db: DbDep, _: Admin) -> OrderRulesOut:
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
