"""The one small interface every vendor adapter implements, and the shapes it speaks.

A vendor adapter knows its vendor's signatures, payloads and HTTP API; it knows nothing of
Omnicart's tables. The connectors core (inbox, processing, SKU mapping, stock and price
push) drives every adapter the same way:

- `verify(connection, inbound)` checks a webhook delivery's signature over the raw bytes
  and says what it is (`Delivery`); a bad signature raises `Unauthorized`, a body that is
  not the vendor's JSON raises `ValidationFailed`. The signature is checked first, so a
  ValidationFailed means an authentic delivery: the core keeps it, parked with the reason;
- `order(connection, delivery, http)` turns a delivery into the vendor's order as a
  `VendorOrder` (fetching it first when the webhook only names it, as BigCommerce and
  Square do), or None when the delivery carries no order (a ping);
- `push_stock` / `push_prices` send figures; `read_stock` reads them back (reconcile);
- `catalog` lists the vendor's products and variants (automatic SKU/GTIN mapping).

What the core does with each `Delivery.kind` (verify runs when the delivery arrives; the
rest runs later, from the inbox, so `order` may fetch and may raise VendorUnavailable):

- "order": `order()` gives the whole order; it is ingested (created, or updated when its
  `updated_at` is newer than the one applied), then every refund in `refunds` is recorded
  once (by `refund_id`);
- "cancel": the same, with `cancelled=True`; when the vendor sends only the order's id
  (WooCommerce's order.deleted), `order()` may answer a VendorOrder with no lines and
  `cancelled=True`: the core cancels the order it knows by `external_id`;
- "refund": `order()` answers a VendorOrder (`external_id`, `currency`, lines may be
  empty) whose `refunds` hold the refund: the core records each on the order it knows;
- "ping": answered 2xx and stored nowhere; "ignored" (a topic Omnicart does not take):
  stored as done and answered 2xx; `order()` is called for neither.

A delivery for an order the core does not know yet (a cancellation or refund that came
before the order) is tried again later, then parked in "needs attention". An order of a
POS channel (kind "pos", e.g. Square) is recorded as a till sale at the store the
connector's `store` option names (a location code), idempotent on `external_id`.

SKU mapping: the core matches a line to an Omnicart SKU by the vendor's
(vendor_product_id, vendor_variant_id) in its mapping, else by `sku`, else by `gtin`.
`catalog` answers the vendor's own SKUs/GTINs (`VendorItem.sku` is the vendor's). The
`VendorItem`s the core hands to `read_stock`, and the figures to `push_*`, are built from
the mapping: there `sku` is Omnicart's SKU, and `read_stock` answers {item.sku: quantity}
for the items it could read (leave out those it could not). `stock_ref` is the vendor's
id of the stock-bearing record when it is not the variant (Shopify's inventory_item_id);
`catalog` fills it and the core keeps it in the mapping.

Polling vendors (Amazon SP-API) implement `Poller` instead of webhooks: the core keeps
each connector's cursor (committed only after the orders it returned are stored in the
inbox) and processes polled orders like webhook orders.
Amounts are Decimal in the order's currency, exactly as the vendor sent them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

import httpx

DeliveryKind = Literal["order", "refund", "cancel", "ping", "ignored"]


@dataclass(frozen=True, slots=True)
class Connection:
    """One merchant's account at a vendor, as an adapter needs it (credentials decrypted)."""

    connector_id: int
    channel_id: int
    vendor: str
    base_url: str  # the vendor's API base URL (a simulator's in tests)
    credentials: Mapping[str, str]  # e.g. client_secret, access_token, signature_key
    options: Mapping[str, str] = field(default_factory=dict)  # e.g. shop, location_id


@dataclass(frozen=True, slots=True)
class Inbound:
    """A webhook delivery exactly as it arrived."""

    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    url: str  # the full URL the vendor called (Square signs it)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a verified delivery is."""

    delivery_id: str  # the vendor's id of this delivery, for de-duplication
    topic: str  # the vendor's topic / event type, e.g. "orders/create"
    kind: DeliveryKind
    external_order_id: str | None
    payload: Any  # the parsed JSON body


@dataclass(frozen=True, slots=True)
class VendorLine:
    """A line of a vendor's order; the core maps (product_id, variant_id) or sku/gtin to a SKU."""

    vendor_product_id: str | None
    vendor_variant_id: str | None
    sku: str | None
    gtin: str | None
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VendorRefund:
    """Money (and possibly units) the vendor gave back on an order."""

    refund_id: str
    amount: Decimal
    lines: tuple[tuple[VendorLine, int], ...] = ()  # (the order's line, units refunded)
    restock: bool = False
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VendorOrder:
    """A vendor's order, in the terms of Omnicart's `OrderDraft` (orders.model)."""

    external_id: str
    currency: str
    lines: tuple[VendorLine, ...]
    updated_at: datetime | None = None  # the vendor's version: older deliveries lose
    placed_at: datetime | None = None
    cancelled: bool = False
    shipping: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)  # order-level discount not spread on lines
    order_tax: Decimal = Decimal(0)
    taxes_included: bool = False
    subtotal: Decimal | None = None
    tax_total: Decimal | None = None
    discount_total: Decimal | None = None
    total: Decimal | None = None
    payments: tuple[tuple[str, Decimal], ...] = ()  # (method, amount)
    email: str | None = None
    phone: str | None = None
    customer_ref: str | None = None
    address: Mapping[str, Any] | None = None
    refunds: tuple[VendorRefund, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VendorItem:
    """A product or variant as the vendor lists it (for mapping, stock and prices)."""

    vendor_product_id: str
    vendor_variant_id: str | None
    sku: str | None
    gtin: str | None
    title: str = ""
    quantity: int | None = None
    price: Decimal | None = None
    stock_ref: str | None = None  # e.g. Shopify's inventory_item_id


@dataclass(frozen=True, slots=True)
class StockFigure:
    """The quantity a channel may sell of one SKU, addressed by the vendor's ids."""

    sku: str
    vendor_product_id: str
    vendor_variant_id: str | None
    quantity: int
    stock_ref: str | None = None  # e.g. Shopify's inventory_item_id


@dataclass(frozen=True, slots=True)
class PriceFigure:
    """A channel price of one SKU, addressed by the vendor's ids."""

    sku: str
    vendor_product_id: str
    vendor_variant_id: str | None
    amount: Decimal
    currency: str


class Adapter(Protocol):
    """One vendor. Raise `omnicart.connectors.errors.VendorUnavailable` (with Retry-After
    when the vendor said it) for 429/5xx/transport errors, so the core retries with backoff."""

    vendor: ClassVar[str]

    def verify(self, connection: Connection, inbound: Inbound) -> Delivery: ...

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None: ...

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None: ...

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None: ...

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]: ...

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]: ...


class Poller(Protocol):
    """A vendor without webhooks: orders are polled with a cursor that survives restarts."""

    vendor: ClassVar[str]

    def poll(
        self, connection: Connection, http: httpx.Client, cursor: str | None
    ) -> tuple[list[VendorOrder], str | None]: ...
