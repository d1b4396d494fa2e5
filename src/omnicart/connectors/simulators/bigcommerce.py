"""A BigCommerce store on loopback: the V2 order endpoints, V3 refunds, inventory and
catalog variants the adapter calls, and Standard Webhooks-signed order webhooks.

Orders are built from BigCommerce's published examples (`shared/data/webhooks/
bigcommerce`): the published orders with the published products and shipping addresses,
and `add_order` makes new ones from the same templates with figures that add up. Pushes
set per-variant on-hand counts and prices that tests read back. `trouble` answers 429
(with BigCommerce's X-Rate-Limit-* headers) or 500 for a while.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

import httpx
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnicart.connectors.bigcommerce import webhook_key
from omnicart.connectors.simulators.trouble import Trouble, guarded

DATA: Final = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "webhooks"
SCOPE_FILES: Final = {
    "store/order/created": "webhook_store_order_created.json",
    "store/order/updated": "webhook_store_order_updated.json",
    "store/order/statusUpdated": "webhook_store_order_statusUpdated.json",
    "store/order/archived": "webhook_store_order_archived.json",
    "store/order/refund/created": "webhook_store_order_refund_created.json",
}
RATE_HEADERS: Final = {
    "X-Rate-Limit-Time-Reset-Ms": "1500",
    "X-Rate-Limit-Time-Window-Ms": "30000",
    "X-Rate-Limit-Requests-Left": "0",
    "X-Rate-Limit-Requests-Quota": "150",
}
FOUR: Final = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class SimLine:
    """A product line of an order `add_order` makes; amounts exclude tax."""

    product_id: int
    variant_id: int | None
    sku: str
    quantity: int
    price: Decimal
    tax: Decimal = Decimal(0)  # the line's tax, all units
    discount: Decimal = Decimal(0)
    name: str = ""


def _money(value: Decimal) -> str:
    return str(value.quantize(FOUR))


class BigCommerceSimulator:
    """One store. Thread-safe: the server runs in a thread while a test drives it."""

    def __init__(
        self,
        *,
        store_hash: str = "omnicart-sim",
        access_token: str = "bc-access-token",  # noqa: S107 -- the simulator's own
        client_secret: str = "bc-client-secret",  # noqa: S107 -- the simulator's own
        data_dir: Path | None = None,
    ) -> None:
        self.store_hash = store_hash
        self.access_token = access_token
        self.client_secret = client_secret
        self.trouble = Trouble()
        self._lock = threading.RLock()
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[int, list[dict[str, Any]]] = {}
        self.addresses: dict[int, list[dict[str, Any]]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.product_prices: dict[int, Decimal] = {}
        self.on_hand: dict[tuple[int, str, int], int] = {}  # (location, kind, id) -> units
        self.adjustments: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self._modified: dict[int, datetime] = {}
        self._data = data_dir if data_dir is not None else DATA / "bigcommerce"
        self._templates = self._load_templates()
        self.app = Starlette(routes=self._routes())

    # --- what tests and the demo drive -------------------------------------------

    def fail(self, status: int, *, count: int | None = None, seconds: float | None = None) -> None:
        """Answer `status` (429 with BigCommerce's rate-limit headers, or a 5xx) to the
        next `count` API requests, or for `seconds`."""
        self.trouble.start(
            status, count=count, seconds=seconds, headers=RATE_HEADERS if status == 429 else None
        )

    def api_root(self, server_url: str) -> str:
        """The connector's base_url when the simulator serves at `server_url`."""
        return f"{server_url.rstrip('/')}/stores/{self.store_hash}"

    @property
    def published(self) -> bool:
        """Whether BigCommerce's published examples were found and loaded."""
        return self._data.is_dir()

    def load_published_orders(self) -> list[int]:
        """Serve the published orders (218, 247, 100), each with the published products
        and shipping addresses; their ids."""
        ids: list[int] = []
        for name in (
            "orders_v2_order_Resp_Response.json",
            "orders_v2_order_Resp_Multiple_Items.json",
        ):
            ids.append(self._put_published(self._read(name)))
        for order in self._read("orders_v2_orderCollection_Resp_response.json"):
            ids.append(self._put_published(order))
        return ids

    def add_variant(
        self, *, variant_id: int, product_id: int, sku: str, price: Decimal, upc: str = ""
    ) -> None:
        """A catalog variant (stock and prices are pushed to variants)."""
        with self._lock:
            self.variants[variant_id] = {
                "id": variant_id,
                "product_id": product_id,
                "sku": sku,
                "upc": upc,
                "gtin": upc,
                "price": float(price),
                "inventory_level": 0,
            }

    def add_order(
        self,
        order_id: int,
        lines: Sequence[SimLine],
        *,
        status_id: int = 11,
        shipping: Decimal = Decimal(0),
        shipping_tax: Decimal = Decimal(0),
        currency: str = "USD",
        payment_status: str = "captured",
        email: str = "shopper@example.com",
    ) -> dict[str, Any]:
        """An order whose figures add up, from the published order and product templates."""
        now = datetime.now(UTC)
        with self._lock:
            order = copy.deepcopy(self._templates["order"])
            order.pop('currency_code"', None)
            order.update({"id": order_id, "date_created": format_datetime(now), "fees": []})
            order.update(self._header(lines, status_id, shipping, shipping_tax, currency))
            order["payment_status"] = payment_status
            order["is_deleted"] = False
            order["billing_address"] = {**order.get("billing_address", {}), "email": email}
            self.orders[order_id] = order
            self.products[order_id] = [
                self._product(order_id, index, line) for index, line in enumerate(lines)
            ]
            self.addresses[order_id] = [
                {**a, "order_id": order_id} for a in copy.deepcopy(self._templates["addresses"])[:1]
            ]
            self.refunds.setdefault(order_id, [])
            self._touch(order_id)
            return copy.deepcopy(order)

    def update_order(
        self, order_id: int, *, status_id: int | None = None, lines: Sequence[SimLine] | None = None
    ) -> None:
        """Change an order's status or lines (its date_modified moves on)."""
        with self._lock:
            order = self.orders[order_id]
            if lines is not None:
                shipping = Decimal(str(order["shipping_cost_ex_tax"]))
                shipping_tax = Decimal(str(order["shipping_cost_tax"]))
                order.update(
                    self._header(
                        lines,
                        order["status_id"],
                        shipping,
                        shipping_tax,
                        order["default_currency_code"],
                    )
                )
                self.products[order_id] = [
                    self._product(order_id, i, line) for i, line in enumerate(lines)
                ]
            if status_id is not None:
                order["status_id"] = status_id
            self._touch(order_id)

    def archive_order(self, order_id: int) -> None:
        """The merchant archives (deletes) the order."""
        with self._lock:
            self.orders[order_id]["is_deleted"] = True
            self._touch(order_id)

    def add_refund(
        self, order_id: int, *, amount: Decimal, items: Sequence[tuple[int, int]] = ()
    ) -> int:
        """A refund of `amount` on the order, of (order product id, units) items; its id."""
        with self._lock:
            refund_id = 1 + sum(len(r) for r in self.refunds.values())
            self.refunds.setdefault(order_id, []).append(
                {
                    "id": refund_id,
                    "order_id": order_id,
                    "user_id": 0,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "reason": "simulated refund",
                    "total_amount": float(amount),
                    "total_tax": 0,
                    "uses_merchant_override_values": False,
                    "items": [
                        {
                            "item_type": "PRODUCT",
                            "item_id": item,
                            "quantity": units,
                            "requested_amount": None,
                        }
                        for item, units in items
                    ],
                    "payments": [
                        {
                            "id": refund_id,
                            "provider_id": "storecredit",
                            "amount": float(amount),
                            "offline": False,
                        }
                    ],
                }
            )
            order = self.orders[order_id]
            order["refunded_amount"] = _money(
                Decimal(str(order.get("refunded_amount") or 0)) + amount
            )
            self._touch(order_id)
            return refund_id

    def stock(self, variant_id: int, *, location_id: int = 1) -> int | None:
        """The on-hand count pushed for a variant at a location (None: never set)."""
        with self._lock:
            return self.on_hand.get((location_id, "variant", variant_id))

    def price(self, variant_id: int) -> Decimal:
        """A variant's price as the catalog holds it."""
        with self._lock:
            return Decimal(str(self.variants[variant_id]["price"]))

    def webhook(
        self,
        scope: str,
        order_id: int,
        *,
        message_id: str | None = None,
        at: datetime | None = None,
        refund_id: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A signed delivery of `scope` for the order: (headers, body)."""
        when = at or datetime.now(UTC)
        template = self._templates["webhooks"].get(scope) or {
            "scope": scope,
            "data": {"type": "order"},
        }
        payload = copy.deepcopy(template)
        payload.update(
            {
                "scope": scope,
                "store_id": "1025646",
                "producer": f"stores/{self.store_hash}",
                "created_at": int(when.timestamp()),
            }
        )
        payload["data"]["id"] = order_id
        if scope == "store/order/refund/created":
            payload["data"]["refund"] = {"refund_id": refund_id or 1}
        if scope == "store/order/statusUpdated":
            status = self.orders.get(order_id, {}).get("status_id", 11)
            payload["data"]["status"] = {"previous_status_id": 0, "new_status_id": status}
        body = json.dumps(payload).encode()
        msg_id = message_id or f"msg_{uuid.uuid4().hex}"
        signature = Webhook(webhook_key(self.client_secret)).sign(msg_id, when, body.decode())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        }
        return headers, body

    def send(
        self,
        url: str,
        scope: str,
        order_id: int,
        *,
        http: httpx.Client | None = None,
        message_id: str | None = None,
        refund_id: int | None = None,
    ) -> httpx.Response:
        """POST a signed delivery of `scope` to Omnicart's webhook URL."""
        headers, body = self.webhook(scope, order_id, message_id=message_id, refund_id=refund_id)
        if http is not None:
            return http.post(url, content=body, headers=headers)
        with httpx.Client(timeout=30) as client:
            return client.post(url, content=body, headers=headers)

    # --- the API ------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        prefix = "/stores/{store_hash}"

        def api(path: str, handler: Any, methods: list[str]) -> Route:
            return Route(
                prefix + path,
                guarded(self.trouble, self._authorised(handler), _error_body),
                methods=methods,
            )

        return [
            api("/v2/orders/{order_id:int}", self._get_order, ["GET"]),
            api("/v2/orders/{order_id:int}/products", self._get_products, ["GET"]),
            api("/v2/orders/{order_id:int}/shipping_addresses", self._get_addresses, ["GET"]),
            api("/v3/orders/{order_id:int}/payment_actions/refunds", self._get_refunds, ["GET"]),
            api("/v3/inventory/adjustments/absolute", self._put_absolute, ["PUT"]),
            api("/v3/inventory/items", self._get_inventory, ["GET"]),
            api("/v3/catalog/variants", self._variants, ["GET", "PUT"]),
            api("/v3/catalog/products", self._put_products, ["PUT"]),
        ]

    def _authorised(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.requests.append((request.method, request.url.path))
            if request.headers.get("x-auth-token") != self.access_token:
                return JSONResponse(
                    [{"status": 401, "message": "You are not authorised."}], status_code=401
                )
            if request.path_params.get("store_hash") != self.store_hash:
                return JSONResponse([{"status": 404, "message": "No such store."}], status_code=404)
            response: Response = await handler(request)
            return response

        return endpoint

    async def _get_order(self, request: Request) -> Response:
        with self._lock:
            order = self.orders.get(request.path_params["order_id"])
            if order is None:
                return _not_found()
            return JSONResponse(copy.deepcopy(order))

    async def _get_products(self, request: Request) -> Response:
        return self._v2_page(request, self.products)

    async def _get_addresses(self, request: Request) -> Response:
        return self._v2_page(request, self.addresses)

    def _v2_page(self, request: Request, source: Mapping[int, list[dict[str, Any]]]) -> Response:
        order_id = request.path_params["order_id"]
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", "50"))
        with self._lock:
            if order_id not in self.orders:
                return _not_found()
            rows = copy.deepcopy(source.get(order_id, []))[(page - 1) * limit : page * limit]
        return JSONResponse(rows) if rows else Response(status_code=204)

    async def _get_refunds(self, request: Request) -> Response:
        with self._lock:
            order_id = request.path_params["order_id"]
            if order_id not in self.orders:
                return JSONResponse({"status": 404, "title": "Order not found"}, status_code=404)
            return JSONResponse({"data": copy.deepcopy(self.refunds.get(order_id, [])), "meta": {}})

    async def _put_absolute(self, request: Request) -> Response:
        body = await request.json()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _unprocessable("items is required")
        with self._lock:
            changes: list[tuple[tuple[int, str, int], int]] = []
            for item in items:
                location, quantity = item.get("location_id"), item.get("quantity")
                if not isinstance(location, int) or not isinstance(quantity, int) or quantity < 0:
                    return _unprocessable("location_id and a quantity of 0 or more are required")
                if "variant_id" in item:
                    if item["variant_id"] not in self.variants:
                        return _unprocessable(
                            f"Item with variant_id {item['variant_id']} not found"
                        )
                    changes.append(((location, "variant", item["variant_id"]), quantity))
                elif "product_id" in item:
                    changes.append(((location, "product", item["product_id"]), quantity))
                else:
                    return _unprocessable("one of sku, variant_id or product_id is required")
            for key, quantity in changes:
                self.on_hand[key] = quantity
                if key[1] == "variant":
                    self.variants[key[2]]["inventory_level"] = quantity
            self.adjustments.extend(copy.deepcopy(items))
        return JSONResponse({"transaction_id": uuid.uuid4().hex})

    async def _get_inventory(self, request: Request) -> Response:
        params = request.query_params
        variant_ids = {int(v) for v in params.get("variant_id:in", "").split(",") if v}
        locations = {int(v) for v in params.get("location_ids", "1").split(",") if v}
        with self._lock:
            data = [
                {
                    "identity": {
                        "sku": v["sku"],
                        "variant_id": v["id"],
                        "product_id": v["product_id"],
                    },
                    "locations": [
                        {
                            "location_id": location,
                            "location_code": f"LOC-{location}",
                            "location_name": f"Location {location}",
                            "available_to_sell": self.on_hand.get(
                                (location, "variant", v["id"]), 0
                            ),
                            "total_inventory_onhand": self.on_hand.get(
                                (location, "variant", v["id"]), 0
                            ),
                            "location_enabled": True,
                            "settings": {
                                "safety_stock": 0,
                                "is_in_stock": True,
                                "warning_level": 0,
                            },
                        }
                        for location in sorted(locations)
                    ],
                }
                for v in self.variants.values()
                if v["id"] in variant_ids
            ]
        meta = {
            "pagination": {
                "total": len(data),
                "count": len(data),
                "per_page": 1000,
                "current_page": 1,
                "total_pages": 1,
            }
        }
        return JSONResponse({"data": data, "meta": meta})

    async def _variants(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await request.json()
            if not isinstance(body, list):
                return _unprocessable("a list of variants is required")
            with self._lock:
                for change in body:
                    if change.get("id") not in self.variants:
                        return _unprocessable(f"variant {change.get('id')} not found")
                for change in body:
                    if "price" in change:
                        self.variants[change["id"]]["price"] = change["price"]
                return JSONResponse(
                    {"data": [copy.deepcopy(self.variants[c["id"]]) for c in body], "meta": {}}
                )
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", "50"))
        with self._lock:
            rows = [copy.deepcopy(v) for _, v in sorted(self.variants.items())]
        pages = max(1, -(-len(rows) // limit))
        meta = {
            "pagination": {
                "total": len(rows),
                "count": len(rows[(page - 1) * limit : page * limit]),
                "per_page": limit,
                "current_page": page,
                "total_pages": pages,
            }
        }
        return JSONResponse({"data": rows[(page - 1) * limit : page * limit], "meta": meta})

    async def _put_products(self, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, list):
            return _unprocessable("a list of products is required")
        with self._lock:
            for change in body:
                if "price" in change:
                    self.product_prices[int(change["id"])] = Decimal(str(change["price"]))
        return JSONResponse({"data": body, "meta": {}})

    # --- building orders ------------------------------------------------------------

    def _header(
        self,
        lines: Sequence[SimLine],
        status_id: int,
        shipping: Decimal,
        shipping_tax: Decimal,
        currency: str,
    ) -> dict[str, Any]:
        subtotal = sum((line.price * line.quantity for line in lines), Decimal(0))
        discount = sum((line.discount for line in lines), Decimal(0))
        item_tax = sum((line.tax for line in lines), Decimal(0))
        tax = item_tax + shipping_tax
        total_ex = subtotal - discount + shipping
        return {
            "status_id": status_id,
            "subtotal_ex_tax": _money(subtotal),
            "subtotal_inc_tax": _money(subtotal + item_tax),
            "subtotal_tax": _money(item_tax),
            "base_shipping_cost": _money(shipping),
            "shipping_cost_ex_tax": _money(shipping),
            "shipping_cost_inc_tax": _money(shipping + shipping_tax),
            "shipping_cost_tax": _money(shipping_tax),
            "handling_cost_ex_tax": "0.0000",
            "handling_cost_inc_tax": "0.0000",
            "handling_cost_tax": "0.0000",
            "wrapping_cost_ex_tax": "0.0000",
            "wrapping_cost_inc_tax": "0.0000",
            "wrapping_cost_tax": "0.0000",
            "total_ex_tax": _money(total_ex),
            "total_inc_tax": _money(total_ex + tax),
            "total_tax": _money(tax),
            "items_total": sum(line.quantity for line in lines),
            "is_tax_inclusive_pricing": False,
            "discount_amount": _money(discount),
            "coupon_discount": "0.0000",
            "refunded_amount": "0.0000",
            "currency_code": currency,
            "default_currency_code": currency,
            "store_default_currency_code": currency,
        }

    def _product(self, order_id: int, index: int, line: SimLine) -> dict[str, Any]:
        product: dict[str, Any] = copy.deepcopy(self._templates["product"])
        product.update(
            {
                "id": order_id * 100 + index + 1,
                "order_id": order_id,
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "name": line.name or line.sku,
                "sku": line.sku,
                "upc": "",
                "quantity": line.quantity,
                "base_price": _money(line.price),
                "price_ex_tax": _money(line.price),
                "price_inc_tax": _money(line.price + line.tax / line.quantity),
                "price_tax": _money(line.tax / line.quantity),
                "base_total": _money(line.price * line.quantity),
                "total_ex_tax": _money(line.price * line.quantity),
                "total_inc_tax": _money(line.price * line.quantity + line.tax),
                "total_tax": _money(line.tax),
                "applied_discounts": (
                    [
                        {
                            "id": "coupon",
                            "amount": _money(line.discount),
                            "name": "Coupon",
                            "code": None,
                            "target": "order",
                        }
                    ]
                    if line.discount
                    else []
                ),
                "discounted_total_inc_tax": _money(
                    line.price * line.quantity + line.tax - line.discount
                ),
                "parent_order_product_id": None,
                "is_bundled_product": False,
                "product_options": [],
            }
        )
        return product

    def _touch(self, order_id: int) -> None:
        # date_modified has one-second resolution: every change moves it on by at least one.
        previous = self._modified.get(order_id)
        now = datetime.now(UTC).replace(microsecond=0)
        if previous is not None and now <= previous:
            now = previous + timedelta(seconds=1)
        self._modified[order_id] = now
        self.orders[order_id]["date_modified"] = format_datetime(now)

    def _put_published(self, order: Mapping[str, Any]) -> int:
        with self._lock:
            order_id = int(order["id"])
            self.orders[order_id] = copy.deepcopy(dict(order))
            self.products[order_id] = [
                {**p, "order_id": order_id} for p in copy.deepcopy(self._templates["products"])
            ]
            self.addresses[order_id] = [
                {**a, "order_id": order_id} for a in copy.deepcopy(self._templates["addresses"])
            ]
            self.refunds.setdefault(order_id, [])
            return order_id

    def _load_templates(self) -> dict[str, Any]:
        if not self.published:
            return {"order": {}, "product": {}, "products": [], "addresses": [], "webhooks": {}}
        products = self._read("orders_v2_orderProductsCollection_Resp_response.json")
        return {
            "order": self._read("orders_v2_order_Resp_Response.json"),
            "product": products[0],
            "products": products,
            "addresses": self._read("orders_v2_orderShippingAddressCollection_Resp_response.json"),
            "webhooks": {scope: self._read(name) for scope, name in SCOPE_FILES.items()},
        }

    def _read(self, name: str) -> Any:
        return json.loads((self._data / name).read_text())


def _error_body(status: int) -> object:
    return [
        {"status": status, "message": "Too many requests" if status == 429 else "Internal error"}
    ]


def _not_found() -> Response:
    return JSONResponse(
        [{"status": 404, "message": "The requested resource was not found."}], status_code=404
    )


def _unprocessable(title: str) -> Response:
    return JSONResponse(
        {"status": 422, "title": title, "type": "about:blank", "errors": {}}, status_code=422
    )
