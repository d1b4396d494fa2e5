"""BigCommerce: order webhooks signed as Standard Webhooks, orders fetched from the V2
API, stock set with V3 absolute inventory adjustments, prices on catalog variants.

A webhook is light (`data.id` only): `order` fetches the order, its products and its
shipping addresses (and, for refunds, the V3 refunds). The signing key is the app's
client secret, base64-encoded as Standard Webhooks keys are (BigCommerce's own sample
does the same).

`base_url` is the store's API root, `https://api.bigcommerce.com/stores/{store_hash}`.
Credentials: `access_token` (the `X-Auth-Token`), `client_secret` (webhooks). Options:
`location_id` (the inventory location Omnicart sets; default 1, the default location).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from omnicart.connectors import payloads
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
from omnicart.connectors.calls import retry_after
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.kernel.errors import Unauthorized, ValidationFailed
from omnicart.kernel.money import to_decimal

TOPICS: Final[Mapping[str, DeliveryKind]] = {
    "store/order/created": "order",
    "store/order/updated": "order",
    "store/order/statusUpdated": "order",
    "store/order/archived": "cancel",
    "store/order/refund/created": "refund",
}
# BigCommerce's order statuses (GET /v2/order_statuses).
INCOMPLETE: Final = 0
CANCELLED_STATUSES: Final = frozenset({5, 6})  # Cancelled, Declined
STATUS_NAMES: Final = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
# Payment states in which the shopper's money has been taken.
PAID_STATES: Final = frozenset({"captured", "paid", "partially refunded", "refunded"})
PAGE: Final = 250
ADJUSTMENTS_PER_CALL: Final = 2000


def webhook_key(client_secret: str) -> str:
    """The Standard Webhooks key BigCommerce signs with: the client secret, base64."""
    return base64.b64encode(client_secret.encode()).decode()


class BigCommerceAdapter:
    """The BigCommerce adapter; stateless, one instance serves every connection."""

    vendor: ClassVar[str] = "bigcommerce"

    def verify(self, connection: Connection, inbound: Inbound) -> Delivery:
        """Check the Standard Webhooks signature and timestamp, then read the scope."""
        secret = connection.credentials.get("client_secret", "")
        if not secret:
            raise Unauthorized("the BigCommerce connector has no client_secret")
        try:
            Webhook(webhook_key(secret)).verify(
                inbound.body, dict(inbound.headers), json_parse=False
            )
        except (WebhookVerificationError, ValueError, binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the webhook-signature does not match this body") from None
        payload = payloads.obj(payloads.parse_json(inbound.body), "body")
        scope = _id(payload.get("scope"), "scope")
        kind: DeliveryKind = TOPICS.get(scope, "ignored")
        order_id = None
        if kind != "ignored":
            data = payloads.obj(payload.get("data"), "data")
            order_id = _id(data.get("id"), "data.id")
        delivery_id = inbound.headers["webhook-id"]
        return Delivery(delivery_id, scope, kind, order_id, payload)

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None:
        """The order the webhook names: the order, its products and shipping addresses
        from the V2 API, and its refunds from V3 when it has any."""
        if delivery.kind == "ignored" or delivery.external_order_id is None:
            return None
        order_id = delivery.external_order_id
        order = _object(_call(http, connection, "GET", f"/v2/orders/{order_id}"), "order")
        products = _pages(http, connection, f"/v2/orders/{order_id}/products")
        addresses = _pages(http, connection, f"/v2/orders/{order_id}/shipping_addresses")
        refunds: list[Mapping[str, Any]] = []
        if delivery.kind == "refund" or _refunded(order):
            answer = _object(
                _call(http, connection, "GET", f"/v3/orders/{order_id}/payment_actions/refunds"),
                "refunds",
            )
            refunds = payloads.items(answer.get("data", []), "data")
        vendor = order_from_bigcommerce(order, products, addresses, refunds)
        if vendor is not None and delivery.kind == "cancel" and not vendor.cancelled:
            # An archived order is gone from the store: nothing of it is sold any more.
            return VendorOrder(**{**_fields(vendor), "cancelled": True})
        return vendor

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Set each item's on-hand count at the location (absolute adjustments)."""
        location = _location(connection)
        items = [
            {"location_id": location, **_identity(figure), "quantity": max(figure.quantity, 0)}
            for figure in figures
        ]
        for start in range(0, len(items), ADJUSTMENTS_PER_CALL):
            _call(
                http,
                connection,
                "PUT",
                "/v3/inventory/adjustments/absolute",
                json={
                    "reason": "Omnicart stock sync",
                    "items": items[start : start + ADJUSTMENTS_PER_CALL],
                },
            )

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        """The on-hand count at the location of each item BigCommerce knows there, keyed
        by the item's SKU (its variant or product id when it has none)."""
        location = _location(connection)
        key = {
            ("variant", item.vendor_variant_id)
            if item.vendor_variant_id
            else ("product", item.vendor_product_id): item.sku
            or item.vendor_variant_id
            or item.vendor_product_id
            for item in items
        }
        counts: dict[str, int] = {}
        variants = ",".join(ident for kind, ident in key if kind == "variant")
        products = ",".join(ident for kind, ident in key if kind == "product")
        for kind, ids in (("variant", variants), ("product", products)):
            if not ids:
                continue
            page = 1
            while True:
                params = {
                    f"{kind}_id:in": ids,
                    "location_ids": str(location),
                    "page": str(page),
                    "limit": "1000",
                }
                answer = _object(
                    _call(http, connection, "GET", "/v3/inventory/items", params=params), "items"
                )
                for found in payloads.items(answer.get("data", []), "data"):
                    identity = payloads.obj(found.get("identity", {}), "identity")
                    target = key.get((kind, str(identity.get(f"{kind}_id"))))
                    for at in payloads.items(found.get("locations", []), "locations"):
                        if target is not None and at.get("location_id") == location:
                            counts[target] = int(at.get("total_inventory_onhand") or 0)
                if page >= _total_pages(answer):
                    break
                page += 1
        return counts

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Set each variant's price (products without variants: the product's)."""
        variants = [
            {"id": int(f.vendor_variant_id), "price": _wire(f.amount)}
            for f in figures
            if f.vendor_variant_id
        ]
        products = [
            {"id": int(f.vendor_product_id), "price": _wire(f.amount)}
            for f in figures
            if not f.vendor_variant_id
        ]
        if variants:
            _call(http, connection, "PUT", "/v3/catalog/variants", json=variants)
        if products:
            _call(http, connection, "PUT", "/v3/catalog/products", json=products)

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        """Every variant in the catalog, with its SKU, UPC/GTIN, stock and price."""
        items: list[VendorItem] = []
        page = 1
        while True:
            params = {"page": str(page), "limit": str(PAGE)}
            answer = _object(
                _call(http, connection, "GET", "/v3/catalog/variants", params=params), "variants"
            )
            for variant in payloads.items(answer.get("data", []), "data"):
                price = variant.get("price")
                items.append(
                    VendorItem(
                        vendor_product_id=str(variant.get("product_id")),
                        vendor_variant_id=str(variant.get("id")),
                        sku=variant.get("sku") or None,
                        gtin=variant.get("gtin") or variant.get("upc") or None,
                        title=str(variant.get("sku") or ""),
                        quantity=variant.get("inventory_level"),
                        price=None if price is None else to_decimal(price, field="price"),
                    )
                )
            if page >= _total_pages(answer):
                return items
            page += 1


def order_from_bigcommerce(
    order: Mapping[str, Any],
    products: Sequence[Mapping[str, Any]],
    addresses: Sequence[Mapping[str, Any]] = (),
    refunds: Sequence[Mapping[str, Any]] = (),
) -> VendorOrder | None:
    """A V2 order with its products as the vendor sent them; None while Incomplete.

    Amounts are taken on the store's tax basis: excluding tax, or including it when the
    store prices with tax. A product's discount is the sum of its `applied_discounts`
    (BigCommerce spreads coupon, automatic and manual discounts over the products); the
    order's charges besides goods (shipping, handling, gift wrapping and fees) are its
    `shipping`, their taxes its `shipping_tax`. The currency is the transactional one
    (`default_currency_code`), which every amount is in.
    """
    status = order.get("status_id")
    if status == INCOMPLETE:
        return None
    order_id = _id(order.get("id"), "id")
    currency = order.get("default_currency_code") or order.get("currency_code")
    if not isinstance(currency, str) or not currency:
        raise ValidationFailed(
            "the BigCommerce order names no currency", field="default_currency_code"
        )
    inclusive = bool(order.get("is_tax_inclusive_pricing"))
    lines = tuple(_line(index, product, inclusive) for index, product in enumerate(products))
    if not lines:
        raise ValidationFailed(f"BigCommerce order {order_id} has no products", field="products")
    basis = "inc_tax" if inclusive else "ex_tax"
    charges = sum(
        (
            _dec(order.get(f"{kind}_cost_{basis}"), f"{kind}_cost_{basis}")
            for kind in ("shipping", "handling", "wrapping")
        ),
        Decimal(0),
    )
    charge_tax = sum(
        (
            _dec(order.get(f"{kind}_cost_tax"), f"{kind}_cost_tax")
            for kind in ("shipping", "handling", "wrapping")
        ),
        Decimal(0),
    )
    for index, fee in enumerate(payloads.items(order.get("fees") or [], "fees")):
        where = f"fees.{index}"
        charges += _fee_cost(fee, inclusive, where)
        charge_tax += _dec(fee.get("cost_tax"), f"{where}.cost_tax")
    by_product_id = {str(p.get("id")): line for p, line in zip(products, lines, strict=True)}
    billing = (
        order.get("billing_address") if isinstance(order.get("billing_address"), Mapping) else {}
    )
    payment_method = str(order.get("payment_method") or "other")
    total = _dec(order.get("total_inc_tax"), "total_inc_tax")
    paid = str(order.get("payment_status") or "").lower() in PAID_STATES
    return VendorOrder(
        external_id=order_id,
        currency=currency.upper(),
        lines=lines,
        updated_at=_rfc2822(order.get("date_modified"), "date_modified"),
        placed_at=_rfc2822(order.get("date_created"), "date_created"),
        cancelled=status in CANCELLED_STATUSES or bool(order.get("is_deleted")),
        shipping=charges,
        shipping_tax=charge_tax,
        taxes_included=inclusive,
        subtotal=_dec(order.get(f"subtotal_{basis}"), f"subtotal_{basis}"),
        tax_total=_dec(order.get("total_tax"), "total_tax"),
        total=total,
        payments=((payment_method, total),) if paid and total > 0 else (),
        email=(billing or {}).get("email") or None,
        phone=(billing or {}).get("phone") or None,
        customer_ref=str(order["customer_id"]) if order.get("customer_id") else None,
        address=_address(addresses[0]) if addresses else None,
        refunds=tuple(
            _refund(index, refund, by_product_id) for index, refund in enumerate(refunds)
        ),
        raw={"order": order, "products": list(products), "shipping_addresses": list(addresses)},
    )


def _line(index: int, product: Mapping[str, Any], inclusive: bool) -> VendorLine:
    where = f"products.{index}"
    quantity = product.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed(f"{where}.quantity is not a whole number", field=f"{where}.quantity")
    price_key = "price_inc_tax" if inclusive else "price_ex_tax"
    discounts = payloads.items(product.get("applied_discounts") or [], f"{where}.applied_discounts")
    variant = product.get("variant_id")
    total = product.get("discounted_total_inc_tax")
    return VendorLine(
        vendor_product_id=str(product["product_id"]) if product.get("product_id") else None,
        vendor_variant_id=str(variant) if variant else None,
        sku=product.get("sku") or None,
        gtin=product.get("upc") or None,
        title=str(product.get("name") or ""),
        quantity=quantity,
        unit_price=_dec(product.get(price_key), f"{where}.{price_key}"),
        discount=sum(
            (_dec(d.get("amount"), f"{where}.applied_discounts.amount") for d in discounts),
            Decimal(0),
        ),
        tax=_dec(product.get("total_tax"), f"{where}.total_tax"),
        total=None if total is None else _dec(total, f"{where}.discounted_total_inc_tax"),
    )


def _refund(index: int, refund: Mapping[str, Any], lines: Mapping[str, VendorLine]) -> VendorRefund:
    where = f"refunds.{index}"
    units = []
    for item in payloads.items(refund.get("items") or [], f"{where}.items"):
        line = lines.get(str(item.get("item_id")))
        quantity = item.get("quantity")
        if (
            item.get("item_type") == "PRODUCT"
            and line is not None
            and isinstance(quantity, int)
            and quantity > 0
        ):
            units.append((line, quantity))
    created = refund.get("created")
    return VendorRefund(
        refund_id=_id(refund.get("id"), f"{where}.id"),
        amount=_dec(refund.get("total_amount"), f"{where}.total_amount"),
        lines=tuple(units),
        restock=False,
        at=datetime.fromisoformat(str(created)).astimezone(UTC) if created else None,
    )


def _fee_cost(fee: Mapping[str, Any], inclusive: bool, where: str) -> Decimal:
    if inclusive:
        return _dec(fee.get("cost_inc_tax"), f"{where}.cost_inc_tax")
    # BigCommerce documents both spellings of the fee's cost without tax.
    key = "cost_ex_tax" if "cost_ex_tax" in fee else "cost_exc_tax"
    return _dec(fee.get(key), f"{where}.{key}")


def _address(address: Mapping[str, Any]) -> dict[str, Any]:
    name = " ".join(str(address.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    line = ", ".join(
        s for s in (str(address.get("street_1") or ""), str(address.get("street_2") or "")) if s
    )
    return {
        "name": name[:200],
        "line1": line[:300],
        "city": str(address.get("city") or "")[:120],
        "postal_code": str(address.get("zip") or "")[:32],
        "country": str(address.get("country_iso2") or "")[:2],
    }


def _refunded(order: Mapping[str, Any]) -> bool:
    try:
        return to_decimal(order.get("refunded_amount") or 0) > 0
    except ValidationFailed:
        return False


def _fields(order: VendorOrder) -> dict[str, Any]:
    return {name: getattr(order, name) for name in VendorOrder.__dataclass_fields__}


def _identity(figure: StockFigure) -> dict[str, int]:
    if figure.vendor_variant_id:
        return {"variant_id": int(figure.vendor_variant_id)}
    return {"product_id": int(figure.vendor_product_id)}


def _wire(amount: Decimal) -> float:
    # The catalog API takes prices as JSON numbers; an amount of money (15 digits at
    # most, a few decimals) prints back exactly from a float's shortest repr.
    return float(amount)


def _location(connection: Connection) -> int:
    value = connection.options.get("location_id", "1")
    if not value.isdigit():
        raise VendorRefused(f"the BigCommerce location_id must be a number, not {value!r}")
    return int(value)


def _total_pages(answer: Mapping[str, Any]) -> int:
    meta = answer.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, Mapping) else None
    pages = pagination.get("total_pages") if isinstance(pagination, Mapping) else None
    return pages if isinstance(pages, int) else 1


def _rfc2822(value: Any, where: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value)).astimezone(UTC)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{where} is not an RFC 2822 date: {value!r}", field=where) from None


def _dec(value: Any, where: str) -> Decimal:
    return payloads.amount(value, where, default=Decimal(0))


def _id(value: Any, where: str) -> str:
    found = payloads.ident(value, where)
    assert found is not None  # ident raises when a required id is missing
    return found


def _object(answer: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise VendorUnavailable(f"BigCommerce answered the {what} request with no JSON object")
    return answer


def _pages(http: httpx.Client, connection: Connection, path: str) -> list[Mapping[str, Any]]:
    """A V2 sub-resource list, page by page (V2 answers 204 past the last page)."""
    found: list[Mapping[str, Any]] = []
    page = 1
    while True:
        answer = _call(
            http, connection, "GET", path, params={"page": str(page), "limit": str(PAGE)}
        )
        batch = [] if answer is None else _vendor_list(answer, path)
        found.extend(batch)
        if len(batch) < PAGE:
            return found
        page += 1


def _vendor_list(answer: Any, path: str) -> list[Mapping[str, Any]]:
    if not isinstance(answer, list) or not all(isinstance(item, Mapping) for item in answer):
        raise VendorUnavailable(f"BigCommerce answered {path} with no list")
    return answer


def _call(
    http: httpx.Client,
    connection: Connection,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    """One BigCommerce API call; the parsed JSON, or None for 204 No Content."""
    headers = {
        "X-Auth-Token": connection.credentials.get("access_token", ""),
        "Accept": "application/json",
    }
    url = connection.base_url.rstrip("/") + path
    try:
        response = http.request(method, url, json=json, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise VendorUnavailable(f"BigCommerce could not be reached: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise VendorUnavailable(
            f"BigCommerce answered {response.status_code} to {method} {path}",
            retry_after=_retry_after(response),
        )
    if response.status_code == 404 and method == "GET" and path.startswith("/v2/orders/"):
        raise VendorRefused(f"BigCommerce has no {path.removeprefix('/v2/')}")
    if response.status_code >= 400:
        raise VendorRefused(
            f"BigCommerce refused {method} {path}: {response.status_code} {response.text[:300]}"
        )
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise VendorUnavailable(f"BigCommerce answered {method} {path} with no JSON") from None


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After, else BigCommerce's window reset (X-Rate-Limit-Time-Reset-Ms)."""
    wait = retry_after(response.headers.get("retry-after"))
    if wait is not None:
        return wait
    reset = retry_after(response.headers.get("x-rate-limit-time-reset-ms"))
    return None if reset is None else reset / 1000.0
