"""WooCommerce: order webhooks in, stock and prices out (REST API wc/v3).

A webhook (`order.created`, `order.updated`, `order.restored`, `order.deleted`) is signed
in `X-WC-Webhook-Signature`: the base64 HMAC-SHA256 of the raw body with the webhook's
secret; `X-WC-Webhook-Topic` says what it is and `X-WC-Webhook-Delivery-ID` names it. When
a webhook is created WooCommerce pings its URL with a form body `webhook_id=<id>` and no
signature: that is answered 200 and stored nowhere. Bodies come in the REST API's shape
(wc/v3) or, from old shops, the legacy API's (`{"order": {...}}`); both are read.

Connector: credentials `webhook_secret`, `consumer_key` and `consumer_secret` (REST API,
HTTP Basic); the base URL is the shop's own site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from omnicart.connectors import payloads as p
from omnicart.connectors.base import (
    Connection,
    Delivery,
    DeliveryKind,
    Inbound,
    PriceFigure,
    StockFigure,
    VendorItem,
    VendorLine,
    VendorOrder,
    VendorRefund,
)
from omnicart.connectors.calls import call, json_of
from omnicart.connectors.errors import VendorRefused
from omnicart.kernel.errors import Unauthorized, ValidationFailed

TOPICS: dict[str, DeliveryKind] = {
    "order.created": "order",
    "order.updated": "order",
    "order.restored": "order",
    "order.deleted": "cancel",
}
_PING = re.compile(rb"webhook_id=([0-9]{1,19})")
_CANCELLED = frozenset({"cancelled", "failed", "trash"})
_PAID = frozenset({"processing", "completed", "refunded"})
_PAGE = 100
_BATCH_LIMIT = 100  # the most objects one batch request takes


def sign(body: bytes, secret: str) -> str:
    """The X-WC-Webhook-Signature of a body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _line(raw: Mapping[str, Any], field: str) -> VendorLine:
    quantity = p.whole(raw.get("quantity"), f"{field}.quantity")
    if quantity <= 0:
        raise ValidationFailed(f"{field}.quantity must be positive", field=f"{field}.quantity")
    # WooCommerce keeps line amounts without tax; `subtotal` is before coupons.
    subtotal = p.amount(raw.get("subtotal"), f"{field}.subtotal")
    total = p.amount(raw.get("total"), f"{field}.total")
    variation = raw.get("variation_id")
    return VendorLine(
        vendor_product_id=p.ident(raw.get("product_id"), f"{field}.product_id", required=False),
        vendor_variant_id=p.ident(variation, f"{field}.variation_id", required=False),
        sku=p.text(raw.get("sku"), limit=120).strip() or None,
        gtin=p.text(raw.get("global_unique_id"), limit=64).strip() or None,
        title=p.text(raw.get("name")),
        quantity=quantity,
        unit_price=subtotal / quantity,
        discount=subtotal - total,
        tax=p.amount(raw.get("total_tax"), f"{field}.total_tax", default=Decimal(0)),
    )


def _address(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping) or not any(raw.values()):
        return None
    street = " ".join(p.text(raw.get(k)) for k in ("address_1", "address_2") if raw.get(k))
    name = f"{raw.get('first_name') or ''} {raw.get('last_name') or ''}".strip()
    return {
        "name": p.text(name, limit=200),
        "line1": street[:300],
        "city": p.text(raw.get("city"), limit=120),
        "postal_code": p.text(raw.get("postcode"), limit=32),
        "country": p.text(raw.get("country"), limit=2),
    }


def unwrap(payload: Any) -> Mapping[str, Any]:
    """The order object of a delivery (the legacy API wraps it in `order`)."""
    found = p.obj(payload, "body")
    inner = found.get("order")
    return p.obj(inner, "order") if isinstance(inner, Mapping) else found


def order_of(raw: Mapping[str, Any], *, deleted: bool = False) -> VendorOrder:
    """A WooCommerce order (REST v3 or legacy shape) as a VendorOrder."""
    external_id = p.ident(raw.get("id"), "id") or ""
    status = str(raw.get("status") or "")
    if deleted and "line_items" not in raw:
        return VendorOrder(external_id=external_id, currency="", lines=(), cancelled=True, raw=raw)
    if "line_items" not in raw:
        raise ValidationFailed("the order has no line_items", field="line_items")
    lines = [
        _line(item, f"line_items.{i}")
        for i, item in enumerate(p.items(raw["line_items"], "line_items"))
    ]
    fees = p.items(raw.get("fee_lines"), "fee_lines", required=False)
    fee_total = sum((p.amount(f.get("total"), "fee_lines.total") for f in fees), Decimal(0))
    if fee_total > 0:
        raise ValidationFailed(
            f"the order has fees of {fee_total}; Omnicart's orders hold no fee lines",
            field="fee_lines",
        )
    legacy = "date_modified_gmt" not in raw and "updated_at" in raw
    shipping = p.amount(
        raw.get("total_shipping" if legacy else "shipping_total"),
        "shipping_total",
        default=Decimal(0),
    )
    shipping_tax = p.amount(raw.get("shipping_tax"), "shipping_tax", default=Decimal(0))
    total_tax = p.amount(raw.get("total_tax"), "total_tax", default=Decimal(0))
    line_taxes = sum((line.tax for line in lines), Decimal(0))
    order_tax = Decimal(0)
    if line_taxes + shipping_tax != total_tax:
        # The shop rounds tax once per order ("round at subtotal"): the lines' rounded
        # taxes do not add up to it, so the order's tax is kept whole, on the order.
        lines = [
            VendorLine(
                line.vendor_product_id,
                line.vendor_variant_id,
                line.sku,
                line.gtin,
                line.title,
                line.quantity,
                line.unit_price,
                line.discount,
            )
            for line in lines
        ]
        order_tax = total_tax - shipping_tax
    # Negative fees are discounts on the whole order.
    discount = -fee_total
    total = p.amount(raw.get("total"), "total")
    billing = raw.get("billing_address" if legacy else "billing")
    billing = billing if isinstance(billing, Mapping) else {}
    if legacy:
        found = raw.get("payment_details")
        details: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        paid = bool(details.get("paid"))
        method = p.text(details.get("method_id"), limit=40)
    else:
        paid = raw.get("date_paid_gmt") not in (None, "") or status in _PAID
        method = p.text(raw.get("payment_method"), limit=40)
    refunds = tuple(
        VendorRefund(
            refund_id=p.ident(r.get("id"), f"refunds.{i}.id") or "",
            amount=abs(p.amount(r.get("total"), f"refunds.{i}.total")),
        )
        for i, r in enumerate(p.items(raw.get("refunds"), "refunds", required=False))
    )
    customer_id = raw.get("customer_id")
    updated = raw.get("updated_at") if legacy else raw.get("date_modified_gmt")
    created = raw.get("created_at") if legacy else raw.get("date_created_gmt")
    discount_total = p.amount(
        raw.get("total_discount" if legacy else "discount_total"),
        "discount_total",
        default=Decimal(0),
    )
    return VendorOrder(
        external_id=external_id,
        currency=p.text(raw.get("currency"), limit=3),
        lines=tuple(lines),
        updated_at=p.when(updated, "date_modified_gmt"),
        placed_at=p.when(created, "date_created_gmt"),
        cancelled=deleted or status in _CANCELLED,
        shipping=shipping,
        shipping_tax=shipping_tax,
        discount=discount,
        order_tax=order_tax,
        # Line and shipping amounts are without tax whatever the shop shows its buyers.
        taxes_included=False,
        subtotal=p.amount(raw.get("subtotal"), "subtotal") if legacy else None,
        tax_total=total_tax,
        discount_total=discount_total + discount,
        total=total,
        payments=((method or "woocommerce", total),) if paid and total > 0 else (),
        email=p.text(billing.get("email"), limit=254) or None,
        phone=p.text(billing.get("phone"), limit=32) or None,
        customer_ref=p.ident(customer_id, "customer_id", required=False),
        address=_address(raw.get("shipping_address" if legacy else "shipping")),
        refunds=refunds,
        raw=raw,
    )


class WooCommerceAdapter:
    """WooCommerce's webhooks and REST API (wc/v3)."""

    vendor: ClassVar[str] = "woocommerce"

    def verify(self, connection: Connection, inbound: Inbound) -> Delivery:
        """Check X-WC-Webhook-Signature over the raw body (a ping carries none)."""
        given = inbound.headers.get("x-wc-webhook-signature", "").strip()
        if not given:
            ping = _PING.fullmatch(inbound.body.strip())
            if ping is not None:
                webhook = ping.group(1).decode()
                return Delivery(f"ping:{webhook}", "ping", "ping", None, {"webhook_id": webhook})
            raise Unauthorized("X-WC-Webhook-Signature is missing", field="x-wc-webhook-signature")
        secret = connection.credentials.get("webhook_secret", "")
        if not secret or not hmac.compare_digest(
            sign(inbound.body, secret).encode(), given.encode()
        ):
            raise Unauthorized(
                "X-WC-Webhook-Signature does not match the body", field="x-wc-webhook-signature"
            )
        topic = inbound.headers.get("x-wc-webhook-topic", "").strip()
        delivery_id = inbound.headers.get("x-wc-webhook-delivery-id", "").strip()
        order = unwrap(p.parse_json(inbound.body))
        kind: DeliveryKind = TOPICS.get(topic, "ignored")
        external_id = p.ident(order.get("id"), "id") if kind != "ignored" else None
        if kind == "order" and str(order.get("status") or "") in _CANCELLED:
            kind = "cancel"
        return Delivery(
            (delivery_id or p.body_id(inbound.body))[:200],
            topic[:120] or "unknown",
            kind,
            external_id,
            order,
        )

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None:
        """The order a delivery carries (WooCommerce sends it whole; a deletion its id)."""
        if delivery.kind not in ("order", "cancel"):
            return None
        return order_of(unwrap(delivery.payload), deleted=delivery.topic == "order.deleted")

    # --- the REST API ----------------------------------------------------------------

    def _url(self, connection: Connection, path: str) -> str:
        return f"{connection.base_url.rstrip('/')}/wp-json/wc/v3/{path}"

    def _auth(self, connection: Connection) -> tuple[str, str]:
        creds = connection.credentials
        return creds.get("consumer_key", ""), creds.get("consumer_secret", "")

    def _item_path(self, product_id: str, variant_id: str | None) -> str:
        if variant_id:
            return f"products/{product_id}/variations/{variant_id}"
        return f"products/{product_id}"

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Set the stock quantities (stock managed by the shop) with the batch endpoints,
        up to 100 items a call: `products/batch` for simple products, one product's
        `variations/batch` for its variations."""
        batches: dict[str, list[dict[str, Any]]] = {}
        for figure in figures:
            path = (
                f"products/{figure.vendor_product_id}/variations/batch"
                if figure.vendor_variant_id
                else "products/batch"
            )
            batches.setdefault(path, []).append(
                {
                    "id": int(figure.vendor_variant_id or figure.vendor_product_id),
                    "manage_stock": True,
                    "stock_quantity": figure.quantity,
                }
            )
        for path, updates in batches.items():
            for start in range(0, len(updates), _BATCH_LIMIT):
                answer = json_of(
                    call(
                        http,
                        "POST",
                        self._url(connection, path),
                        auth=self._auth(connection),
                        json={"update": updates[start : start + _BATCH_LIMIT]},
                    )
                )
                failed = [
                    item
                    for item in (answer.get("update") or [] if isinstance(answer, dict) else [])
                    if isinstance(item, dict) and item.get("error")
                ]
                if failed:
                    raise VendorRefused(f"WooCommerce refused {path}: {str(failed)[:300]}")

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Set each product's (or variation's) regular price."""
        for figure in figures:
            call(
                http,
                "PUT",
                self._url(
                    connection, self._item_path(figure.vendor_product_id, figure.vendor_variant_id)
                ),
                auth=self._auth(connection),
                json={"regular_price": str(figure.amount)},
            )

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        """Each item's stock quantity (items whose stock the shop does not manage are left out)."""
        found: dict[str, int] = {}
        for item in items:
            answer = json_of(
                call(
                    http,
                    "GET",
                    self._url(
                        connection, self._item_path(item.vendor_product_id, item.vendor_variant_id)
                    ),
                    auth=self._auth(connection),
                )
            )
            if item.sku and isinstance(answer.get("stock_quantity"), int):
                found[item.sku] = answer["stock_quantity"]
        return found

    def _pages(
        self, connection: Connection, http: httpx.Client, path: str
    ) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        page = 1
        while True:
            response = call(
                http,
                "GET",
                self._url(connection, path),
                auth=self._auth(connection),
                params={"per_page": str(_PAGE), "page": str(page)},
            )
            batch = json_of(response)
            if not isinstance(batch, list) or not batch:
                return found
            found.extend(item for item in batch if isinstance(item, Mapping))
            pages = response.headers.get("x-wp-totalpages", "")
            if (pages.isdigit() and page >= int(pages)) or len(batch) < _PAGE:
                return found
            page += 1

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        """Every simple product and every variation of variable products."""
        found: list[VendorItem] = []
        for product in self._pages(connection, http, "products"):
            product_id = str(product["id"])
            if product.get("type") == "variable":
                for variation in self._pages(connection, http, f"products/{product_id}/variations"):
                    found.append(_item(product_id, variation, product.get("name")))
            else:
                found.append(_item(product_id, product, None))
        return found


def _item(product_id: str, raw: Mapping[str, Any], parent_name: Any) -> VendorItem:
    is_variation = parent_name is not None
    price = raw.get("regular_price")
    return VendorItem(
        vendor_product_id=product_id,
        vendor_variant_id=str(raw["id"]) if is_variation else None,
        sku=(raw.get("sku") or "").strip() or None,
        gtin=(raw.get("global_unique_id") or "").strip() or None,
        title=p.text(parent_name if is_variation else raw.get("name")),
        quantity=raw.get("stock_quantity") if isinstance(raw.get("stock_quantity"), int) else None,
        price=Decimal(str(price)) if price not in (None, "") else None,
    )
