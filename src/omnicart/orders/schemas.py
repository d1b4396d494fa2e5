"""Order book request and response bodies; the rules live in orders.model and the services.

Amounts are decimals (send them as JSON strings, e.g. "19.99", or numbers); responses
give them as strings so that no cent is lost to floating point.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from omnicart.api.inputs import Id, InputModel, Int64, Quantity, UnitsOrZero
from omnicart.api.outputs import MoneyAmount, OutputModel
from omnicart.orders.model import Customer, Fulfil, LineDraft, OrderDraft, PaymentDraft
from omnicart.orders.service import ExternalOrder

Amount = Annotated[Decimal, Field(description="A decimal amount in the order's currency.")]
RedeemPoints = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=10_000_000,
        description="Loyalty points of the customer taken off the order at the channel's "
        "point value; refused (and nothing happens) when their balance is short.",
    ),
]


OrderStatus = Literal[
    "pending",
    "confirmed",
    "partially_fulfilled",
    "fulfilled",
    "completed",
    "partially_returned",
    "returned",
    "cancelled",
]
FulfilmentMode = Literal["ship", "pickup", "in_store"]


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


class CustomerIn(_In):
    """Who the order is for, as the channel knows them."""

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    ref: str | None = Field(default=None, max_length=200, description="The channel's customer id.")

    def model(self) -> Customer:
        """As the service takes it."""
        return Customer(self.email, self.phone, self.ref)


class AddressIn(_In):
    """A shipping address; coordinates let routing pick the nearest location."""

    name: str = Field(default="", max_length=200)
    line1: str = Field(default="", max_length=300)
    city: str = Field(default="", max_length=120)
    postal_code: str = Field(default="", max_length=32)
    country: str = Field(default="", max_length=2)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class FulfilmentIn(_In):
    """Ship to an address, or pick up at a store."""

    mode: Literal["ship", "pickup"] = "ship"
    pickup_location_id: Id | None = None
    address: AddressIn | None = None

    def model(self) -> Fulfil:
        """As the service takes it."""
        return Fulfil(
            mode=self.mode,
            pickup_location_id=self.pickup_location_id,
            address=self.address.model_dump() if self.address else None,
        )


class PaymentIn(_In):
    """Money paid, by what means."""

    method: str = Field(max_length=40, examples=["card"])
    amount: Amount
    reference: str = Field(default="", max_length=200)

    def model(self) -> PaymentDraft:
        """As the service takes it."""
        return PaymentDraft(self.method, self.amount, self.reference)


class OrderLineIn(_In):
    """A line as the channel sent it; `total` is checked when given."""

    sku: str = Field(max_length=120)
    title: str = Field(default="", max_length=300)
    quantity: Quantity
    unit_price: Amount
    discount: Amount = Decimal(0)
    tax: Amount = Decimal(0)
    total: Amount | None = None


def line_drafts(lines: list[OrderLineIn]) -> tuple[LineDraft, ...]:
    """Lines as the service takes them."""
    return tuple(
        LineDraft(
            line.sku,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.total,
            line.title,
        )
        for line in lines
    )


class ExternalOrderIn(_In):
    """An order from an external channel (marketplace, other web shop)."""

    currency: str = Field(min_length=3, max_length=3)
    status: Literal["open", "cancelled"] = "open"
    updated_at: datetime | None = Field(
        default=None,
        description="The channel's version time; older deliveries are ignored. At most an "
        "hour (the allowed clock skew) ahead of the server's clock, else a 422.",
    )
    lines: list[OrderLineIn]
    shipping: Amount = Decimal(0)
    shipping_tax: Amount = Decimal(0)
    discount: Amount = Decimal(0)
    taxes_included: bool = False
    subtotal: Amount | None = None
    tax_total: Amount | None = None
    discount_total: Amount | None = None
    total: Amount | None = None
    payments: list[PaymentIn] = Field(default_factory=list)
    customer: CustomerIn = Field(default_factory=CustomerIn)
    fulfilment: FulfilmentIn = Field(default_factory=FulfilmentIn)

    def order(self, *, channel_id: int, external_id: str) -> ExternalOrder:
        """The order this body describes, as the channel sent it (the API and the CLI)."""
        return ExternalOrder(
            channel_id=channel_id,
            external_id=external_id,
            draft=self.draft(),
            fulfil=self.fulfilment.model(),
            cancelled=self.status == "cancelled",
            updated_at=self.updated_at,
            payload=self.model_dump(mode="json"),
        )

    def draft(self) -> OrderDraft:
        """The lines and amounts as the service takes them."""
        return OrderDraft(
            currency=self.currency,
            lines=line_drafts(self.lines),
            shipping=self.shipping,
            shipping_tax=self.shipping_tax,
            discount=self.discount,
            taxes_included=self.taxes_included,
            subtotal=self.subtotal,
            tax_total=self.tax_total,
            discount_total=self.discount_total,
            total=self.total,
            payments=tuple(p.model() for p in self.payments),
            customer=self.customer.model(),
        )


class CartLineIn(_In):
    """Units of one SKU in a cart."""

    sku: str = Field(max_length=120)
    quantity: Quantity


class CartIn(_In):
    """A new cart on an own channel."""

    channel_id: Id
    lines: list[CartLineIn] = Field(default_factory=list)


class CartLinesIn(_In):
    """A cart's lines, replacing what it had."""

    lines: list[CartLineIn]


class CheckoutIn(_In):
    """The shopper's choices; amounts as the storefront computed them."""

    fulfilment: FulfilmentIn = Field(default_factory=FulfilmentIn)
    customer: CustomerIn = Field(default_factory=CustomerIn)
    shipping: Amount = Decimal(0)
    shipping_tax: Amount = Decimal(0)
    tax: Amount = Decimal(0)
    discount: Amount = Decimal(0)
    payments: list[PaymentIn] = Field(default_factory=list)
    total: Amount | None = Field(default=None, description="Checked when given.")
    redeem_points: RedeemPoints = 0


class SaleIn(_In):
    """A sale at a store's till, paid in full."""

    channel_id: Id
    location_id: Id
    receipt: str | None = Field(default=None, max_length=200, description="Makes it repeat-safe.")
    lines: list[OrderLineIn]
    payments: list[PaymentIn]
    taxes_included: bool = True
    total: Amount | None = None
    customer: CustomerIn = Field(default_factory=CustomerIn)
    redeem_points: RedeemPoints = 0


class ReasonIn(_In):
    """Why."""

    reason: str = Field(default="", max_length=300)


class ShipmentLineIn(_In):
    """Units of one order line to ship."""

    line_no: Int64
    quantity: Quantity


class ShipmentIn(_In):
    """Ship from one location: everything the order holds there, or the chosen lines."""

    location_id: Id
    carrier: str = Field(max_length=80)
    tracking_number: str = Field(default="", max_length=120)
    lines: list[ShipmentLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Units of chosen lines; left out, everything held at the location ships.",
    )


class PickupCodeIn(_In):
    """The code the customer shows at the store."""

    # Printable ASCII: the codes handed out are digits, and anything else is a typo.
    code: str = Field(max_length=16, pattern=r"^[\x20-\x7e]*$", examples=["042917"])


class ReturnLineIn(_In):
    """Units of one order line coming back."""

    line_no: Int64
    quantity: Quantity
    reason: str = Field(max_length=300)


class ReturnIn(_In):
    """A return opened in any channel; `exchange` lines open a replacement order."""

    channel_id: Id
    lines: list[ReturnLineIn]
    exchange: list[CartLineIn] = Field(default_factory=list)


class OutcomeIn(_In):
    """What became of a returned line's units."""

    line_no: Int64
    restock: UnitsOrZero
    write_off: UnitsOrZero = 0


class ReceiveIn(_In):
    """A return arrived at a location."""

    location_id: Id
    outcomes: list[OutcomeIn] = Field(default_factory=list)


class RefundIn(_In):
    """A refund: the return's value by default."""

    amount: Amount | None = None
    method: str | None = Field(default=None, max_length=40)
    reference: str = Field(default="", max_length=200)


class OrderRulesIn(_In):
    """How a channel's orders are routed, held for pickup and refunded."""

    rules: list[Literal["nearest", "cheapest", "priority"]] = Field(
        examples=[["nearest", "priority"]]
    )
    prefer_single_location: bool = True
    location_costs: dict[str, Amount] = Field(
        default_factory=dict, description="Cost of shipping from each location, by code."
    )
    pickup_window_hours: Annotated[int, Field(strict=True, ge=1, le=24 * 60)] = 72
    returnless_below: Amount | None = Field(
        default=None, description="Returns worth less than this are refunded without a trip back."
    )


class OrderRulesOut(OrderRulesIn):
    """A channel's order rules."""

    channel_id: int


class LineOut(_Out):
    """An order line."""

    line_no: int
    sku: str
    title: str
    quantity: int
    unit_price: MoneyAmount
    discount: MoneyAmount
    tax: MoneyAmount
    total: MoneyAmount
    fulfilled: int
    returned: int


class PaymentOut(_Out):
    """A payment or refund."""

    kind: str
    method: str
    amount: MoneyAmount
    currency: str
    reference: str
    return_id: int | None
    created_at: datetime


class TransitionOut(_Out):
    """A status change."""

    from_status: str | None
    to_status: str
    actor: str
    reason: str
    at: datetime


class FulfilmentOut(_Out):
    """A shipment, pickup or till sale."""

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


class OrderOut(_Out):
    """An order with everything about it."""

    id: int
    channel_id: int
    channel_code: str
    source: str
    external_id: str | None
    status: OrderStatus
    currency: str
    taxes_included: bool
    subtotal: MoneyAmount
    discount_total: MoneyAmount
    shipping_total: MoneyAmount
    tax_total: MoneyAmount
    total: MoneyAmount
    paid: MoneyAmount
    refunded: MoneyAmount
    customer_email: str | None
    customer_phone: str | None
    customer_ref: str | None
    fulfilment_mode: FulfilmentMode
    pickup_location_id: int | None
    shipping_address: dict[str, Any] | None
    reservation_id: int | None
    routing: dict[str, Any] | None
    exchange_of_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    flags: list[dict[str, Any]] = Field(
        description="What a person should check, each {code, detail, ...}: `unlisted` "
        "(with `skus`) when an external channel sold SKUs it does not list; empty when none."
    )
    lines: list[LineOut]
    payments: list[PaymentOut]
    transitions: list[TransitionOut]
    fulfilments: list[FulfilmentOut]


class OrderSummaryOut(_Out):
    """An order in a list."""

    id: int
    channel_id: int
    source: str
    external_id: str | None
    status: OrderStatus
    currency: str
    total: MoneyAmount
    created_at: datetime


class CartLineOut(_Out):
    """A cart line at the channel's price."""

    sku: str
    quantity: int
    unit_price: MoneyAmount | None


class CartOut(_Out):
    """A cart and its hold."""

    id: int
    channel_id: int
    status: str
    currency: str
    lines: list[CartLineOut]
    subtotal: MoneyAmount
    hold_status: str | None
    hold_expires_at: datetime | None
    order_id: int | None


class ReturnLineOut(_Out):
    """A returned line."""

    line_no: int
    sku: str
    quantity: int
    reason: str
    restocked: int
    written_off: int


class ReturnOut(_Out):
    """A return."""

    id: int
    order_id: int
    channel_id: int
    status: str
    returnless: bool
    received_location_id: int | None
    exchange_order_id: int | None
    value: MoneyAmount
    currency: str
    refunded: MoneyAmount
    created_at: datetime
    received_at: datetime | None
    lines: list[ReturnLineOut]
