"""Square POS: `order.created` / `order.updated` webhooks, orders fetched with
BatchRetrieveOrders, stock as PHYSICAL_COUNT inventory changes, prices on catalog
variations.

Square signs a webhook with base64 HMAC-SHA256 over the notification URL followed by the
raw body, keyed by the subscription's signature key. The event only names the order (id,
state, version), so `order` fetches it. Amounts are integer minor units of the money's
currency (`{"amount": 1599, "currency": "USD"}`).

Square orders are till sales in a store (the connector's channel is a POS channel): an
order becomes Omnicart's once Square says it is COMPLETED; OPEN and DRAFT orders are not
sales yet, and an open order cancelled at the till never was one.

A Square order line names the catalog *variation* it sold (`catalog_object_id`), the
thing that has a SKU, a price and a stock count; this adapter uses the variation id as
the vendor's product id throughout (order lines, catalog, stock, prices).

Credentials: `access_token` (API calls), `signature_key` (webhooks). Options:
`location_id` (the Square location whose stock Omnicart sets; required for stock),
`notification_url` (the URL the subscription was registered with, when the request
reaches Omnicart under another one, behind a proxy), `square_version`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

import httpx

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
from omnicart.connectors.calls import call, json_of
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.kernel.errors import Unauthorized, ValidationFailed
from omnicart.kernel.money import minor_units

SIGNATURE_HEADER: Final = "x-square-hmacsha256-signature"
SQUARE_VERSION: Final = "2025-01-23"
ORDER_EVENTS: Final = {"order.created": "order_created", "order.updated": "order_updated"}
# Square caps one BatchChangeInventory call at 100 changes and one batch read at 1,000 ids.
CHANGES_PER_CALL: Final = 100
IDS_PER_READ: Final = 1000
REFUNDED: Final = frozenset({"APPROVED", "COMPLETED"})


def signature(*, key: str, url: str, body: bytes) -> str:
    """The `x-square-hmacsha256-signature` Square sends for `body` posted to `url`."""
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_valid(*, key: str, url: str, body: bytes, header: str) -> bool:
    """Whether `header` is Square's signature of `body` at `url` (constant time)."""
    return hmac.compare_digest(signature(key=key, url=url, body=body), header.strip())


class SquareAdapter:
    """The Square adapter; stateless, one instance serves every connection."""

    vendor: ClassVar[str] = "square"

    def verify(self, connection: Connection, inbound: Inbound) -> Delivery:
        """Check the signature over URL + body, then say which order the event names."""
        key = connection.credentials.get("signature_key", "")
        header = inbound.headers.get(SIGNATURE_HEADER, "")
        url = connection.options.get("notification_url") or inbound.url
        if (
            not key
            or not header
            or not signature_valid(key=key, url=url, body=inbound.body, header=header)
        ):
            raise Unauthorized("the x-square-hmacsha256-signature does not match this body")
        payload = payloads.obj(payloads.parse_json(inbound.body), "body")
        # An authentic delivery that names no event is kept (by its body's hash) and
        # ignored; an order event must name its order.
        event_type = payloads.text(payload.get("type"), limit=120)
        event_id = payloads.ident(payload.get("event_id"), "event_id", required=False)
        event_id = event_id or payloads.body_id(inbound.body)
        if event_type not in ORDER_EVENTS:
            kind: DeliveryKind = "ping" if event_type == "webhooks.test_notification" else "ignored"
            return Delivery(event_id, event_type, kind, None, payload)
        data = payloads.obj(payload.get("data"), "data")
        event = payloads.obj(data.get("object", {}), "data.object").get(ORDER_EVENTS[event_type])
        order_id = (event or {}).get("order_id") if isinstance(event, Mapping) else None
        order_id = order_id or data.get("id")
        return Delivery(event_id, event_type, "order", _id(order_id, "data.id"), payload)

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None:
        """The till sale the event names, fetched with BatchRetrieveOrders; None until
        Square has completed it."""
        if delivery.kind in ("ping", "ignored") or delivery.external_order_id is None:
            return None
        answer = _call(
            http,
            connection,
            "POST",
            "/v2/orders/batch-retrieve",
            json={"order_ids": [delivery.external_order_id]},
        )
        for found in payloads.items(answer.get("orders", []), "orders"):
            if found.get("id") == delivery.external_order_id:
                order = order_from_square(found)
                # A till sale is one once Square completes it (paid, handed over): an
                # open order is not a sale yet, and one cancelled open was never one.
                return order if found.get("state") == "COMPLETED" else None
        raise VendorRefused(f"Square has no order {delivery.external_order_id!r}")

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Set each variation's count at the location with PHYSICAL_COUNT changes.

        Square applies counts by `occurred_at`: a count older than the one it holds does
        not replace it, so a late retry can never set an older figure."""
        location = _location(connection)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        changes = [
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": _variation(figure.vendor_product_id, figure),
                    "state": "IN_STOCK",
                    "location_id": location,
                    "quantity": str(max(figure.quantity, 0)),
                    "occurred_at": now,
                },
            }
            for figure in figures
        ]
        for start in range(0, len(changes), CHANGES_PER_CALL):
            _call(
                http,
                connection,
                "POST",
                "/v2/inventory/changes/batch-create",
                json={
                    "idempotency_key": str(uuid.uuid4()),
                    "changes": changes[start : start + CHANGES_PER_CALL],
                    "ignore_unchanged_counts": True,
                },
            )

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        """The IN_STOCK count of each item at the location, keyed by the item's SKU
        (its variation id when it has none)."""
        location = _location(connection)
        by_id = {_item_id(item): item.sku or _item_id(item) for item in items}
        counts = dict.fromkeys(by_id.values(), 0)
        ids = list(by_id)
        for start in range(0, len(ids), IDS_PER_READ):
            body: dict[str, Any] = {
                "catalog_object_ids": ids[start : start + IDS_PER_READ],
                "location_ids": [location],
                "states": ["IN_STOCK"],
            }
            while True:
                answer = _call(
                    http, connection, "POST", "/v2/inventory/counts/batch-retrieve", json=body
                )
                for count in payloads.items(answer.get("counts", []), "counts"):
                    object_id = str(count.get("catalog_object_id"))
                    if object_id in by_id and count.get("location_id") == location:
                        counts[by_id[object_id]] = payloads.whole(
                            count.get("quantity"), "counts.quantity"
                        )
                cursor = answer.get("cursor")
                if not cursor:
                    break
                body = {**body, "cursor": cursor}
        return counts

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Set `price_money` on each catalog variation (read, change, upsert: Square
        upserts whole objects at their current version)."""
        if not figures:
            return
        wanted = {_variation(f.vendor_product_id, f): f for f in figures}
        answer = _call(
            http,
            connection,
            "POST",
            "/v2/catalog/batch-retrieve",
            json={"object_ids": list(wanted), "include_related_objects": False},
        )
        objects = []
        for found in payloads.items(answer.get("objects", []), "objects"):
            figure = wanted.get(str(found.get("id")))
            if figure is None or found.get("type") != "ITEM_VARIATION":
                continue
            data = dict(payloads.obj(found.get("item_variation_data", {}), "item_variation_data"))
            data["pricing_type"] = "FIXED_PRICING"
            data["price_money"] = {
                "amount": to_minor(figure.amount, figure.currency),
                "currency": figure.currency,
            }
            objects.append({**found, "item_variation_data": data})
        missing = sorted(set(wanted) - {str(o["id"]) for o in objects})
        if missing:
            raise VendorRefused(f"Square has no catalog variation {', '.join(missing)}")
        _call(
            http,
            connection,
            "POST",
            "/v2/catalog/batch-upsert",
            json={"idempotency_key": str(uuid.uuid4()), "batches": [{"objects": objects}]},
        )

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        """Every item variation, with its SKU, UPC and price."""
        items: list[VendorItem] = []
        cursor: str | None = None
        while True:
            params = {"types": "ITEM_VARIATION", **({"cursor": cursor} if cursor else {})}
            answer = _call(http, connection, "GET", "/v2/catalog/list", params=params)
            for found in payloads.items(answer.get("objects", []), "objects"):
                data = payloads.obj(found.get("item_variation_data", {}), "item_variation_data")
                price = data.get("price_money")
                items.append(
                    VendorItem(
                        vendor_product_id=str(found.get("id")),
                        vendor_variant_id=None,
                        sku=data.get("sku") or None,
                        gtin=data.get("upc") or None,
                        title=str(data.get("name") or ""),
                        price=_money(price, None, "price_money")[0]
                        if isinstance(price, Mapping)
                        else None,
                    )
                )
            cursor = answer.get("cursor")
            if not cursor:
                return items


def order_from_square(order: Mapping[str, Any]) -> VendorOrder | None:
    """A Square order as the vendor sent it; None for a DRAFT (not yet an order).

    A line's unit price is its gross sales (base price and modifiers) per unit; its
    discount and tax are Square's apportioned totals for the line, so order-level
    discounts already sit on the lines. Service charges and tips are the order's
    charges besides goods (`shipping`), their taxes its `shipping_tax`. Quantities must
    be whole units: Omnicart does not sell by weight.
    """
    state = order.get("state")
    if state == "DRAFT":
        return None
    order_id = _id(order.get("id"), "id")
    currency = _currency(order)
    lines = tuple(
        _line(index, line, currency)
        for index, line in enumerate(payloads.items(order.get("line_items"), "line_items"))
    )
    if not lines:
        raise ValidationFailed(f"Square order {order_id} has no line items", field="line_items")
    charges = _money_or_zero(order.get("total_service_charge_money"), currency, "service")
    tip = _money_or_zero(order.get("total_tip_money"), currency, "total_tip_money")
    charge_tax = sum(
        (
            _money_or_zero(charge.get("total_tax_money"), currency, "service_charges.tax")
            for charge in payloads.items(order.get("service_charges", []), "service_charges")
        ),
        Decimal(0),
    )
    return VendorOrder(
        external_id=order_id,
        currency=currency,
        lines=lines,
        updated_at=payloads.when(order.get("updated_at"), "updated_at"),
        placed_at=payloads.when(order.get("created_at"), "created_at"),
        cancelled=state == "CANCELED",
        shipping=charges + tip,
        shipping_tax=charge_tax,
        taxes_included=any(
            tax.get("type") == "INCLUSIVE"
            for tax in payloads.items(order.get("taxes", []), "taxes")
        ),
        tax_total=_optional_money(order.get("total_tax_money"), currency, "total_tax_money"),
        discount_total=_optional_money(
            order.get("total_discount_money"), currency, "total_discount_money"
        ),
        total=_optional_money(order.get("total_money"), currency, "total_money"),
        payments=tuple(
            (
                str(tender.get("type", "OTHER")).lower(),
                _money(tender.get("amount_money"), currency, "tenders.amount_money")[0],
            )
            for tender in payloads.items(order.get("tenders", []), "tenders")
        ),
        customer_ref=order.get("customer_id") or None,
        refunds=_refunds(order, currency),
        raw=order,
    )


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor units, refused when it has more decimals."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise ValidationFailed(f"{amount} has more decimals than {currency} allows", field="amount")
    return int(scaled)


def from_minor(amount: int, currency: str) -> Decimal:
    """Minor units as an amount of the currency: 1599 USD is 15.99."""
    return Decimal(amount).scaleb(-minor_units(currency))


def _line(index: int, line: Mapping[str, Any], currency: str) -> VendorLine:
    where = f"line_items.{index}"
    quantity = _whole(line.get("quantity"), f"{where}.quantity")
    if "gross_sales_money" in line:
        gross = _money(line["gross_sales_money"], currency, f"{where}.gross_sales_money")[0]
        unit = gross / quantity
    else:
        unit = _money(line.get("base_price_money"), currency, f"{where}.base_price_money")[0]
        for mod_index, modifier in enumerate(
            payloads.items(line.get("modifiers", []), f"{where}.modifiers")
        ):
            unit += _money_or_zero(
                modifier.get("base_price_money"), currency, f"{where}.modifiers.{mod_index}"
            )
    title = str(line.get("name") or "")
    if line.get("variation_name"):
        title = f"{title} ({line['variation_name']})" if title else str(line["variation_name"])
    object_id = line.get("catalog_object_id")
    return VendorLine(
        vendor_product_id=str(object_id) if object_id else None,
        vendor_variant_id=None,
        sku=None,
        gtin=None,
        title=title,
        quantity=quantity,
        unit_price=unit,
        discount=_money_or_zero(line.get("total_discount_money"), currency, f"{where}.discount"),
        tax=_money_or_zero(line.get("total_tax_money"), currency, f"{where}.total_tax_money"),
        total=_optional_money(line.get("total_money"), currency, f"{where}.total_money"),
    )


def _refunds(order: Mapping[str, Any], currency: str) -> tuple[VendorRefund, ...]:
    # Square keeps an itemised return on a return order of its own; the original order
    # lists the money refunded, so refunds here carry amounts only.
    refunds = []
    for index, refund in enumerate(payloads.items(order.get("refunds", []), "refunds")):
        if refund.get("status") not in REFUNDED:
            continue
        refunds.append(
            VendorRefund(
                refund_id=_id(refund.get("id"), f"refunds.{index}.id"),
                amount=_money(refund.get("amount_money"), currency, f"refunds.{index}")[0],
                at=payloads.when(refund.get("created_at"), f"refunds.{index}.created_at"),
            )
        )
    return tuple(refunds)


def _currency(order: Mapping[str, Any]) -> str:
    for key in ("total_money", "net_amounts"):
        money = order.get(key)
        if isinstance(money, Mapping) and isinstance(money.get("currency"), str):
            return str(money["currency"])
    for line in payloads.items(order.get("line_items"), "line_items"):
        for key in ("base_price_money", "total_money"):
            money = line.get(key)
            if isinstance(money, Mapping) and isinstance(money.get("currency"), str):
                return str(money["currency"])
    raise ValidationFailed("the Square order names no currency", field="total_money.currency")


def _money(value: Any, currency: str | None, where: str) -> tuple[Decimal, str]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{where} is not a Square Money object", field=where)
    amount, code = value.get("amount"), value.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(code, str):
        raise ValidationFailed(f"{where} needs an integer amount and a currency", field=where)
    if currency is not None and code != currency:
        raise ValidationFailed(
            f"{where} is in {code}, the order in {currency}", field=f"{where}.currency"
        )
    return from_minor(amount, code), code


def _money_or_zero(value: Any, currency: str, where: str) -> Decimal:
    return Decimal(0) if value is None else _money(value, currency, where)[0]


def _optional_money(value: Any, currency: str, where: str) -> Decimal | None:
    return None if value is None else _money(value, currency, where)[0]


def _whole(value: Any, where: str) -> int:
    units = payloads.whole(value, where)
    if units < 1:
        raise ValidationFailed(f"{where} must be at least one unit (got {value!r})", field=where)
    return units


def _id(value: Any, where: str) -> str:
    found = payloads.ident(value, where)
    assert found is not None  # ident raises when a required id is missing
    return found


def _location(connection: Connection) -> str:
    location = connection.options.get("location_id", "")
    if not location:
        raise VendorRefused("the Square connector needs the option location_id for stock")
    return location


def _variation(value: str | None, figure: StockFigure | PriceFigure) -> str:
    if not value:
        raise VendorRefused(f"SKU {figure.sku} has no Square catalog variation id")
    return value


def _item_id(item: VendorItem) -> str:
    return item.vendor_product_id


def _call(
    http: httpx.Client,
    connection: Connection,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
) -> Mapping[str, Any]:
    """One Square API call (429/5xx/transport errors: VendorUnavailable)."""
    headers = {
        "Authorization": f"Bearer {connection.credentials.get('access_token', '')}",
        "Square-Version": connection.options.get("square_version", SQUARE_VERSION),
        "Accept": "application/json",
    }
    url = connection.base_url.rstrip("/") + path
    try:
        response = call(http, method, url, json=json, params=params, headers=headers)
    except VendorRefused as refused:
        if "VERSION_MISMATCH" in str(refused):
            # The catalog object changed between our read and our upsert: read again.
            raise VendorUnavailable(f"Square's catalog changed meanwhile: {refused}") from None
        raise
    answer = json_of(response)
    if not isinstance(answer, Mapping):
        raise VendorUnavailable(f"Square answered {method} {path} with no JSON object")
    return answer
