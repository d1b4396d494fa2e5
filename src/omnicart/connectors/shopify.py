"""Shopify: order webhooks in, stock and prices out (Admin REST API; stock figures by
the GraphQL Admin API's `inventorySetQuantities`, many items a call).

Webhooks `orders/create`, `orders/updated`, `orders/paid`, `orders/cancelled` and
`refunds/create` are signed in `X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the
raw body with the app's client secret; `X-Shopify-Webhook-Id` names the delivery (the
same on Shopify's retries). OAuth redirects and app-proxy calls are signed in their query
string instead (`verify_query_hmac`).

Connector: credentials `client_secret` (webhooks, OAuth) and `access_token` (Admin API);
options `shop` (the myshopify name) and `location_id` (where Omnicart's figure is set),
optionally `api_version`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

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
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.kernel.errors import Unauthorized, ValidationFailed

API_VERSION = "2024-10"
TOPICS: dict[str, DeliveryKind] = {
    "orders/create": "order",
    "orders/updated": "order",
    "orders/paid": "order",
    "orders/fulfilled": "order",
    "orders/partially_fulfilled": "order",
    "orders/edited": "order",
    "orders/cancelled": "cancel",
    "refunds/create": "refund",
}
# Money received for an order, by its financial status.
_PAID = frozenset({"paid", "partially_refunded", "refunded"})
_NEXT_PAGE = re.compile(r'<([^>]+)>;\s*rel="next"')
_INVENTORY_BATCH = 50
_SET_QUANTITIES_BATCH = 250  # the most quantities one inventorySetQuantities takes
SET_QUANTITIES = (
    "mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {"
    " inventorySetQuantities(input: $input) {"
    " inventoryAdjustmentGroup { reason }"
    " userErrors { code field message } } }"
)


def sign(body: bytes, secret: str) -> str:
    """The X-Shopify-Hmac-Sha256 of a body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _check_graphql(answer: Any, mutation: str) -> None:
    """A GraphQL answer's failures: throttling (retried later) and errors (refused)."""
    if not isinstance(answer, dict):
        raise VendorUnavailable(f"Shopify answered {mutation} with no JSON object")
    errors = answer.get("errors")
    if errors:
        codes = {
            str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)
        }
        if "THROTTLED" in codes:
            raise VendorUnavailable(f"Shopify throttled {mutation}")
        raise VendorRefused(f"Shopify refused {mutation}: {str(errors)[:300]}")
    found = (answer.get("data") or {}).get(mutation)
    if not isinstance(found, dict):
        raise VendorUnavailable(f"Shopify answered {mutation} without its result")
    if found.get("userErrors"):
        raise VendorRefused(f"Shopify refused {mutation}: {str(found['userErrors'])[:300]}")


def _escape(text: str, *, key: bool) -> str:
    escaped = text.replace("%", "%25").replace("&", "%26")
    return escaped.replace("=", "%3D") if key else escaped


def query_message(params: Mapping[str, Any] | str) -> str:
    """What Shopify signs in an OAuth or app-proxy query: every parameter but `hmac` and
    `signature`, sorted, as key=value joined by '&'; a list parameter (`ids[]`) is written
    once, as a JSON array of strings (`ids=["2", "1"]`); '&', '=' and '%' are escaped."""
    pairs: dict[str, Any] = {}
    if isinstance(params, str):
        for name, value in parse_qsl(params.lstrip("?"), keep_blank_values=True):
            if name.endswith("[]"):
                pairs.setdefault(name, []).append(value)
            else:
                pairs[name] = value
    else:
        pairs = dict(params)
    parts: list[tuple[str, str]] = []
    for name, value in pairs.items():
        if name in ("hmac", "signature"):
            continue
        if isinstance(value, list | tuple):
            key = name.removesuffix("[]")
            written = json.dumps([str(v) for v in value])
        else:
            key, written = name, str(value)
        parts.append((_escape(key, key=True), _escape(written, key=False)))
    return "&".join(f"{k}={v}" for k, v in sorted(parts))


def query_hmac(params: Mapping[str, Any] | str, secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in an OAuth or app-proxy query's `hmac`."""
    return hmac.new(secret.encode(), query_message(params).encode(), hashlib.sha256).hexdigest()


def verify_query_hmac(params: Mapping[str, Any] | str, secret: str) -> bool:
    """Whether an OAuth redirect's or app-proxy call's query carries Shopify's signature."""
    if isinstance(params, str):
        given = [v for k, v in parse_qsl(params.lstrip("?"), keep_blank_values=True) if k == "hmac"]
        signature = given[0] if given else ""
    else:
        signature = str(params.get("hmac", ""))
    if not signature:
        return False
    return hmac.compare_digest(query_hmac(params, secret).encode(), signature.lower().encode())


def _shop_domain(shop: str) -> str:
    name = shop.strip().lower()
    return name if "." in name else f"{name}.myshopify.com"


def _line(raw: Mapping[str, Any], field: str) -> VendorLine:
    quantity = p.whole(raw.get("quantity"), f"{field}.quantity")
    allocations = p.items(
        raw.get("discount_allocations"), f"{field}.discount_allocations", required=False
    )
    if allocations:
        discount = sum(
            (
                p.amount(a.get("amount"), f"{field}.discount_allocations.amount")
                for a in allocations
            ),
            Decimal(0),
        )
    else:
        discount = p.amount(
            raw.get("total_discount"), f"{field}.total_discount", default=Decimal(0)
        )
    taxes = p.items(raw.get("tax_lines"), f"{field}.tax_lines", required=False)
    return VendorLine(
        vendor_product_id=p.ident(raw.get("product_id"), f"{field}.product_id", required=False),
        vendor_variant_id=p.ident(raw.get("variant_id"), f"{field}.variant_id", required=False),
        sku=p.text(raw.get("sku"), limit=120).strip() or None,
        gtin=None,
        title=p.text(raw.get("name") or raw.get("title")),
        quantity=quantity,
        unit_price=p.amount(raw.get("price"), f"{field}.price"),
        discount=discount,
        tax=sum((p.amount(t.get("price"), f"{field}.tax_lines.price") for t in taxes), Decimal(0)),
    )


def _address(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    street = " ".join(p.text(raw.get(k)) for k in ("address1", "address2") if raw.get(k))
    found: dict[str, Any] = {
        "name": p.text(
            raw.get("name") or f"{raw.get('first_name') or ''} {raw.get('last_name') or ''}",
            limit=200,
        ).strip(),
        "line1": street[:300],
        "city": p.text(raw.get("city"), limit=120),
        "postal_code": p.text(raw.get("zip"), limit=32),
        "country": p.text(raw.get("country_code"), limit=2),
    }
    for name in ("latitude", "longitude"):
        try:
            found[name] = float(raw[name]) if raw.get(name) not in (None, "") else None
        except (TypeError, ValueError):
            found[name] = None
    return found


def _refund(raw: Mapping[str, Any], field: str) -> VendorRefund:
    lines: list[tuple[VendorLine, int]] = []
    restock = bool(raw.get("restock"))
    for index, item in enumerate(
        p.items(raw.get("refund_line_items"), f"{field}.refund_line_items", required=False)
    ):
        where = f"{field}.refund_line_items.{index}"
        units = p.whole(item.get("quantity"), f"{where}.quantity")
        lines.append(
            (_line(p.obj(item.get("line_item"), f"{where}.line_item"), f"{where}.line_item"), units)
        )
        restock = restock or item.get("restock_type") == "return"
    refunded = Decimal(0)
    for index, transaction in enumerate(
        p.items(raw.get("transactions"), f"{field}.transactions", required=False)
    ):
        if transaction.get("kind") == "refund" and transaction.get("status") in ("success", None):
            refunded += p.amount(transaction.get("amount"), f"{field}.transactions.{index}.amount")
    return VendorRefund(
        refund_id=p.ident(raw.get("id"), f"{field}.id") or "",
        amount=refunded,
        lines=tuple(lines),
        restock=restock,
        at=p.when(raw.get("created_at"), f"{field}.created_at"),
    )


def order_of(raw: Mapping[str, Any]) -> VendorOrder:
    """A Shopify Order object (a webhook's body, or `order` of the REST API) as a VendorOrder."""
    if "line_items" not in raw:
        raise ValidationFailed("the order has no line_items", field="line_items")
    lines = tuple(
        _line(item, f"line_items.{i}")
        for i, item in enumerate(p.items(raw["line_items"], "line_items"))
    )
    shipping_lines = p.items(raw.get("shipping_lines"), "shipping_lines", required=False)
    shipping = sum(
        (p.amount(s.get("price"), "shipping_lines.price") for s in shipping_lines), Decimal(0)
    )
    shipping_tax = sum(
        (
            p.amount(t.get("price"), "shipping_lines.tax_lines.price")
            for s in shipping_lines
            for t in p.items(s.get("tax_lines"), "shipping_lines.tax_lines", required=False)
        ),
        Decimal(0),
    )
    total_tax = p.amount(raw.get("total_tax"), "total_tax", default=Decimal(0))
    total_discounts = p.amount(raw.get("total_discounts"), "total_discounts", default=Decimal(0))
    line_taxes = sum((line.tax for line in lines), Decimal(0))
    line_discounts = sum((line.discount for line in lines), Decimal(0))
    # Tax Shopify gave the order as a whole (older orders carry it on the order only).
    order_tax = max(total_tax - line_taxes - shipping_tax, Decimal(0))
    total = p.amount(raw.get("total_price"), "total_price")
    status = str(raw.get("financial_status") or "")
    payments: tuple[tuple[str, Decimal], ...] = ()
    gateways = raw.get("payment_gateway_names") or [raw.get("gateway") or "shopify"]
    method = (
        p.text(gateways[0] if isinstance(gateways, list) and gateways else "shopify", limit=40)
        or "shopify"
    )
    if status in _PAID and total > 0:
        payments = ((method, total),)
    elif status == "partially_paid" and raw.get("total_outstanding") is not None:
        paid = total - p.amount(raw.get("total_outstanding"), "total_outstanding")
        payments = ((method, paid),) if paid > 0 else ()
    listed = raw.get("total_line_items_price")
    subtotal = None if listed is None else p.amount(listed, "total_line_items_price")
    customer = raw.get("customer") if isinstance(raw.get("customer"), Mapping) else {}
    currency = p.text(raw.get("currency"), limit=3)
    if not currency:
        raise ValidationFailed("the order has no currency", field="currency")
    return VendorOrder(
        external_id=p.ident(raw.get("id"), "id") or "",
        currency=currency,
        lines=lines,
        updated_at=p.when(raw.get("updated_at"), "updated_at"),
        placed_at=p.when(raw.get("created_at"), "created_at"),
        cancelled=raw.get("cancelled_at") not in (None, ""),
        shipping=shipping,
        shipping_tax=shipping_tax,
        discount=max(total_discounts - line_discounts, Decimal(0)),
        order_tax=order_tax,
        taxes_included=bool(raw.get("taxes_included")),
        subtotal=subtotal,
        tax_total=total_tax,
        discount_total=total_discounts,
        total=total,
        payments=payments,
        email=p.text(raw.get("email") or raw.get("contact_email"), limit=254) or None,
        phone=p.text(raw.get("phone"), limit=32) or None,
        customer_ref=p.ident(customer.get("id"), "customer.id", required=False)
        if customer
        else None,
        address=_address(raw.get("shipping_address")),
        refunds=tuple(
            _refund(r, f"refunds.{i}")
            for i, r in enumerate(p.items(raw.get("refunds"), "refunds", required=False))
        ),
        raw=raw,
    )


class ShopifyAdapter:
    """Shopify's webhooks and Admin REST API."""

    vendor: ClassVar[str] = "shopify"

    def verify(self, connection: Connection, inbound: Inbound) -> Delivery:
        """Check X-Shopify-Hmac-Sha256 over the raw body, then read the delivery."""
        given = inbound.headers.get("x-shopify-hmac-sha256", "")
        if not given:
            raise Unauthorized("X-Shopify-Hmac-Sha256 is missing", field="x-shopify-hmac-sha256")
        secret = connection.credentials.get("client_secret", "")
        if not secret or not hmac.compare_digest(
            sign(inbound.body, secret).encode(), given.strip().encode()
        ):
            raise Unauthorized(
                "X-Shopify-Hmac-Sha256 does not match the body", field="x-shopify-hmac-sha256"
            )
        shop = connection.options.get("shop")
        domain = inbound.headers.get("x-shopify-shop-domain")
        if shop and domain and domain.strip().lower() != _shop_domain(shop):
            raise Unauthorized(
                f"the delivery is for shop {domain!r}, not this connector's",
                field="x-shopify-shop-domain",
            )
        topic = inbound.headers.get("x-shopify-topic", "").strip()
        delivery_id = (
            inbound.headers.get("x-shopify-webhook-id", "").strip()
            or inbound.headers.get("x-shopify-event-id", "").strip()
            or p.body_id(inbound.body)
        )
        payload = p.obj(p.parse_json(inbound.body), "body")
        kind: DeliveryKind = TOPICS.get(topic, "ignored")
        order_key = "order_id" if kind == "refund" else "id"
        external_id = (
            p.ident(payload.get(order_key), order_key, required=False)
            if kind != "ignored"
            else None
        )
        if kind != "ignored" and external_id is None:
            raise ValidationFailed(
                f"a {topic} delivery names no order ({order_key})", field=order_key
            )
        return Delivery(delivery_id[:200], topic[:120] or "unknown", kind, external_id, payload)

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None:
        """The order a delivery carries (Shopify sends it whole; a refund names its order)."""
        payload = p.obj(delivery.payload, "body")
        if delivery.kind == "refund":
            transactions = p.items(payload.get("transactions"), "transactions", required=False)
            currency = next(
                (p.text(t.get("currency"), limit=3) for t in transactions if t.get("currency")), ""
            )
            return VendorOrder(
                external_id=delivery.external_order_id or "",
                currency=currency,
                lines=(),
                refunds=(_refund(payload, "refund"),),
                raw=payload,
            )
        if delivery.kind in ("order", "cancel"):
            return order_of(payload)
        return None

    # --- the Admin API ---------------------------------------------------------------

    def _url(self, connection: Connection, path: str) -> str:
        version = connection.options.get("api_version") or API_VERSION
        return f"{connection.base_url.rstrip('/')}/admin/api/{version}/{path}"

    def _headers(self, connection: Connection) -> dict[str, str]:
        return {"X-Shopify-Access-Token": connection.credentials.get("access_token", "")}

    def _location(self, connection: Connection) -> int:
        location = connection.options.get("location_id", "")
        if not location.isdigit():
            raise VendorRefused("the connector has no Shopify location_id option")
        return int(location)

    def _inventory_item(
        self, connection: Connection, http: httpx.Client, figure: StockFigure
    ) -> int:
        if figure.stock_ref and figure.stock_ref.isdigit():
            return int(figure.stock_ref)
        if not figure.vendor_variant_id:
            raise VendorRefused(f"SKU {figure.sku} is mapped to no Shopify variant")
        found = json_of(
            call(
                http,
                "GET",
                self._url(connection, f"variants/{figure.vendor_variant_id}.json"),
                headers=self._headers(connection),
            )
        )
        return int(found["variant"]["inventory_item_id"])

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Set the available quantities at the connector's location, up to 250 items a
        call (GraphQL `inventorySetQuantities`, absolute figures: Omnicart's figure is the
        one that counts, so no compare-and-set)."""
        location = f"gid://shopify/Location/{self._location(connection)}"
        quantities = [
            {
                "inventoryItemId": f"gid://shopify/InventoryItem/"
                f"{self._inventory_item(connection, http, figure)}",
                "locationId": location,
                "quantity": figure.quantity,
            }
            for figure in figures
        ]
        for start in range(0, len(quantities), _SET_QUANTITIES_BATCH):
            answer = json_of(
                call(
                    http,
                    "POST",
                    self._url(connection, "graphql.json"),
                    headers=self._headers(connection),
                    json={
                        "query": SET_QUANTITIES,
                        "variables": {
                            "input": {
                                "name": "available",
                                "reason": "correction",
                                "ignoreCompareQuantity": True,
                                "quantities": quantities[start : start + _SET_QUANTITIES_BATCH],
                            }
                        },
                    },
                )
            )
            _check_graphql(answer, "inventorySetQuantities")

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Set each variant's price."""
        for figure in figures:
            if not figure.vendor_variant_id:
                raise VendorRefused(f"SKU {figure.sku} is mapped to no Shopify variant")
            call(
                http,
                "PUT",
                self._url(connection, f"variants/{figure.vendor_variant_id}.json"),
                headers=self._headers(connection),
                json={
                    "variant": {"id": int(figure.vendor_variant_id), "price": str(figure.amount)}
                },
            )

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        """The available quantity of each item at the connector's location."""
        location = self._location(connection)
        by_ref = {item.stock_ref: item.sku for item in items if item.stock_ref and item.sku}
        refs = sorted(by_ref)
        found: dict[str, int] = {}
        for start in range(0, len(refs), _INVENTORY_BATCH):
            batch = refs[start : start + _INVENTORY_BATCH]
            answer = json_of(
                call(
                    http,
                    "GET",
                    self._url(connection, "inventory_levels.json"),
                    headers=self._headers(connection),
                    params={"inventory_item_ids": ",".join(batch), "location_ids": str(location)},
                )
            )
            for level in answer.get("inventory_levels", []):
                sku = by_ref.get(str(level.get("inventory_item_id")))
                if sku is not None and isinstance(level.get("available"), int):
                    found[sku] = level["available"]
        return found

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        """Every variant of every product, following Shopify's page links."""
        url: str | None = self._url(connection, "products.json")
        params: dict[str, str] | None = {"limit": "250"}
        found: list[VendorItem] = []
        while url is not None:
            response = call(http, "GET", url, headers=self._headers(connection), params=params)
            for product in json_of(response).get("products", []):
                for variant in product.get("variants", []):
                    found.append(
                        VendorItem(
                            vendor_product_id=str(product["id"]),
                            vendor_variant_id=str(variant["id"]),
                            sku=(variant.get("sku") or "").strip() or None,
                            gtin=(variant.get("barcode") or "").strip() or None,
                            title=" - ".join(
                                t for t in (product.get("title"), variant.get("title")) if t
                            ),
                            quantity=variant.get("inventory_quantity"),
                            price=Decimal(str(variant["price"]))
                            if variant.get("price") is not None
                            else None,
                            stock_ref=str(variant["inventory_item_id"])
                            if variant.get("inventory_item_id")
                            else None,
                        )
                    )
            following = _NEXT_PAGE.search(response.headers.get("link", ""))
            url, params = (following.group(1), None) if following else (None, None)
        return found
