"""A Shopify store on loopback: the Admin REST endpoints Omnicart calls, and its webhooks.

    with ShopifySimulator() as shop:
        shop.add_product("TEE-M", price="20.00", available=3)
        shop.send(webhook_url, "orders/create", shop.order_payload(1001, [("TEE-M", 1)]))
        shop.available("TEE-M")  # what the store shows now

The API holds products with variants (each with its inventory item), one location's
inventory levels and variant prices; it answers like Shopify (`X-Shopify-Access-Token`,
`Link` page headers, 429 with Retry-After) and `fail()` makes it answer 429 or 500 for a
while. Webhooks are signed as Shopify signs them, with its headers; `published_orders()`
reads Shopify's own order fixtures from the shared data folder.
"""

from __future__ import annotations

import base64
import copy
import itertools
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnicart.connectors.shopify import API_VERSION, sign
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.trouble import Handler, Trouble, guarded

_ERRORS = {
    401: "[API] Invalid API key or access token (unrecognized login or wrong password)",
    429: "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service.",
    500: "Internal Server Error",
}


@dataclass
class Variant:
    """A variant of the store, with its inventory item."""

    id: int
    product_id: int
    sku: str
    title: str
    price: str
    barcode: str | None
    inventory_item_id: int


def published_orders(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Shopify's order fixtures (from its Python SDK), by file name: the orders in each."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((data_dir / "webhooks" / "shopify").glob("*order*.json")):
        if "draft" in path.name or "risk" in path.name:
            continue
        data = orjson.loads(path.read_bytes())
        orders = data.get("orders") or ([data["order"]] if "order" in data else [])
        found[path.name] = orders
    return found


class ShopifySimulator:
    """One Shopify store. Thread-safe: the server runs in a thread while a test drives it."""

    def __init__(
        self,
        *,
        client_secret: str = "shpss_simulated_client_secret",  # noqa: S107 -- a simulator's
        access_token: str = "shpat_simulated_access_token",  # noqa: S107
        shop: str = "omnicart-sim",
        location_id: int = 655441491,
        currency: str = "EUR",
    ) -> None:
        self.client_secret = client_secret
        self.access_token = access_token
        self.shop = shop
        self.location_id = location_id
        self.currency = currency
        self.trouble = Trouble()
        self._lock = threading.Lock()
        self._ids = itertools.count(1_000_001)
        self.variants: dict[int, Variant] = {}
        self.products: dict[int, str] = {}
        self.levels: dict[int, int] = {}  # inventory item -> available at the location
        # Every inventory level set: (monotonic time, sku, available).
        self.sets: list[tuple[float, str, int]] = []
        self.calls = 0
        prefix = "/admin/api/{version}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/products.json", self._guard(self._products)),
                Route(
                    f"{prefix}/variants/{{variant_id:int}}.json",
                    self._guard(self._variant),
                    methods=["GET", "PUT"],
                ),
                Route(
                    f"{prefix}/inventory_levels/set.json",
                    self._guard(self._set_level),
                    methods=["POST"],
                ),
                Route(f"{prefix}/inventory_levels.json", self._guard(self._levels)),
                Route(f"{prefix}/graphql.json", self._guard(self._graphql), methods=["POST"]),
            ]
        )
        self._server: LoopbackServer | None = None

    # --- running ---------------------------------------------------------------------

    def start(self) -> ShopifySimulator:
        """Serve on a free loopback port."""
        self._server = LoopbackServer(self.app).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> ShopifySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The store's base URL (a connector's base_url)."""
        assert self._server is not None, "start() the simulator first"
        return self._server.url

    def connector(self) -> dict[str, Any]:
        """What `omnicart connectors add` needs to connect to this store."""
        return {
            "vendor": "shopify",
            "base_url": self.url,
            "credentials": {"client_secret": self.client_secret, "access_token": self.access_token},
            "options": {"shop": self.shop, "location_id": str(self.location_id)},
        }

    def fail(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer `status` (429 or 500) to the next `count` API calls, or for `seconds`."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.trouble.start(status, count=count, seconds=seconds, headers=headers)

    # --- the store's contents --------------------------------------------------------

    def add_product(
        self,
        sku: str,
        *,
        price: str = "10.00",
        available: int = 0,
        barcode: str | None = None,
        title: str | None = None,
    ) -> Variant:
        """A product with one variant, its inventory tracked at the location."""
        with self._lock:
            product_id, variant_id, item_id = next(self._ids), next(self._ids), next(self._ids)
            self.products[product_id] = title or sku
            variant = Variant(variant_id, product_id, sku, "Default Title", price, barcode, item_id)
            self.variants[variant_id] = variant
            self.levels[item_id] = available
            return variant

    def variant(self, sku: str) -> Variant:
        """The variant with this SKU."""
        with self._lock:
            return next(v for v in self.variants.values() if v.sku == sku)

    def available(self, sku: str) -> int:
        """What the store shows as available of a SKU at the location."""
        variant = self.variant(sku)
        with self._lock:
            return self.levels[variant.inventory_item_id]

    def set_available(self, sku: str, available: int) -> None:
        """Change a level behind Omnicart's back (a drift for reconcile to find)."""
        variant = self.variant(sku)
        with self._lock:
            self.levels[variant.inventory_item_id] = available

    def price(self, sku: str) -> str:
        """A variant's price."""
        return self.variant(sku).price

    # --- webhooks ----------------------------------------------------------------------

    def webhook(
        self,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery's body and headers, signed as Shopify signs them."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret or self.client_secret),
            "X-Shopify-Shop-Domain": f"{self.shop}.myshopify.com",
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }
        return body, headers

    def send(
        self,
        url: str,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        http: httpx.Client | None = None,
    ) -> httpx.Response:
        """POST a signed delivery to `url`, as Shopify does."""
        body, headers = self.webhook(topic, payload, webhook_id=webhook_id)
        if http is not None:
            return http.post(url, content=body, headers=headers)
        with httpx.Client(timeout=10) as client:
            return client.post(url, content=body, headers=headers)

    def order_payload(
        self,
        order_id: int,
        lines: Sequence[tuple[str, int]],
        *,
        updated_at: datetime | None = None,
        cancelled: bool = False,
        paid: bool = True,
        email: str | None = None,
    ) -> dict[str, Any]:
        """An orders/create (or updated, cancelled) body for the store's own variants."""
        when = (updated_at or datetime.now(UTC)).isoformat()
        items = []
        subtotal = Decimal(0)
        for index, (sku, quantity) in enumerate(lines):
            variant = self.variant(sku)
            subtotal += Decimal(variant.price) * quantity
            items.append(
                {
                    "id": order_id * 100 + index,
                    "product_id": variant.product_id,
                    "variant_id": variant.id,
                    "sku": variant.sku,
                    "title": self.products[variant.product_id],
                    "name": self.products[variant.product_id],
                    "price": variant.price,
                    "quantity": quantity,
                    "total_discount": "0.00",
                    "tax_lines": [],
                    "fulfillment_status": None,
                }
            )
        return {
            "id": order_id,
            "name": f"#{order_id}",
            "email": email or f"buyer{order_id}@example.com",
            "created_at": when,
            "updated_at": when,
            "cancelled_at": when if cancelled else None,
            "currency": self.currency,
            "financial_status": "paid" if paid else "pending",
            "taxes_included": False,
            "total_line_items_price": str(subtotal),
            "subtotal_price": str(subtotal),
            "total_discounts": "0.00",
            "total_tax": "0.00",
            "total_price": str(subtotal),
            "gateway": "shopify_payments",
            "line_items": items,
            "shipping_lines": [],
            "tax_lines": [],
            "refunds": [],
            "customer": {"id": 9_000_000 + order_id},
        }

    # --- the Admin API -----------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        async def checked(request: Request) -> Response:
            self.calls += 1
            if request.headers.get("x-shopify-access-token") != self.access_token:
                return JSONResponse({"errors": _ERRORS[401]}, status_code=401)
            return await handler(request)

        return guarded(
            self.trouble, checked, lambda status: {"errors": _ERRORS.get(status, "Error")}
        )

    def _variant_json(self, variant: Variant) -> dict[str, Any]:
        return {
            "id": variant.id,
            "product_id": variant.product_id,
            "title": variant.title,
            "sku": variant.sku,
            "price": variant.price,
            "barcode": variant.barcode,
            "inventory_item_id": variant.inventory_item_id,
            "inventory_management": "shopify",
            "inventory_quantity": self.levels.get(variant.inventory_item_id, 0),
        }

    async def _products(self, request: Request) -> Response:
        limit = min(int(request.query_params.get("limit", "50")), 250)
        cursor = request.query_params.get("page_info")
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        with self._lock:
            ids = sorted(self.products)
            page = ids[start : start + limit]
            products = [
                {
                    "id": product_id,
                    "title": self.products[product_id],
                    "variants": [
                        self._variant_json(v)
                        for v in self.variants.values()
                        if v.product_id == product_id
                    ],
                }
                for product_id in page
            ]
        headers = {}
        if start + limit < len(ids):
            following = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            following_url = request.url.replace(query=f"limit={limit}&page_info={following}")
            headers["Link"] = f'<{following_url}>; rel="next"'
        return JSONResponse({"products": products}, headers=headers)

    async def _variant(self, request: Request) -> Response:
        variant_id = int(request.path_params["variant_id"])
        # Read before taking the lock: awaiting under a thread lock would let this event
        # loop run another handler that blocks on it, and stop the loop for good.
        body = orjson.loads(await request.body()) if request.method == "PUT" else {}
        with self._lock:
            variant = self.variants.get(variant_id)
            if variant is None:
                return JSONResponse({"errors": "Not Found"}, status_code=404)
            if request.method == "PUT":
                price = body.get("variant", {}).get("price")
                if price is not None:
                    variant.price = str(Decimal(str(price)))
            return JSONResponse({"variant": self._variant_json(variant)})

    async def _set_level(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        item, location, available = (
            body.get("inventory_item_id"),
            body.get("location_id"),
            body.get("available"),
        )
        if location != self.location_id:
            return JSONResponse(
                {"errors": ["Inventory item is not stocked at the location"]}, status_code=422
            )
        if not isinstance(available, int):
            return JSONResponse({"errors": {"available": ["must be an integer"]}}, status_code=422)
        with self._lock:
            if item not in self.levels:
                return JSONResponse({"errors": ["Inventory item does not exist"]}, status_code=422)
            self.levels[item] = available
            sku = next(v.sku for v in self.variants.values() if v.inventory_item_id == item)
            self.sets.append((time.monotonic(), sku, available))
        level = {
            "inventory_item_id": item,
            "location_id": location,
            "available": available,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        return JSONResponse({"inventory_level": level})

    async def _graphql(self, request: Request) -> Response:
        """The one GraphQL mutation Omnicart sends: `inventorySetQuantities` (absolute
        quantities of many items; all or nothing, as Shopify applies it)."""
        body = orjson.loads(await request.body())
        query = str(body.get("query", ""))
        if "inventorySetQuantities" not in query:
            return JSONResponse({"errors": [{"message": "the simulator answers no such query"}]})
        given = (body.get("variables") or {}).get("input") or {}
        errors: list[dict[str, Any]] = []
        if given.get("name") != "available" or not given.get("reason"):
            errors.append({"code": "INVALID_NAME", "field": ["input"], "message": "bad input"})
        wanted: list[tuple[int, int]] = []
        with self._lock:
            for index, quantity in enumerate(given.get("quantities") or []):
                item = _gid(quantity.get("inventoryItemId"), "InventoryItem")
                location = _gid(quantity.get("locationId"), "Location")
                units = quantity.get("quantity")
                field = ["input", "quantities", str(index)]
                if location != self.location_id:
                    errors.append(
                        {"code": "INVALID_LOCATION", "field": field, "message": "bad location"}
                    )
                elif item is None or item not in self.levels:
                    errors.append(
                        {"code": "INVALID_INVENTORY_ITEM", "field": field, "message": "no item"}
                    )
                elif not isinstance(units, int) or isinstance(units, bool):
                    errors.append({"code": "INVALID_QUANTITY", "field": field, "message": "int"})
                else:
                    wanted.append((item, units))
            if not errors:
                at = time.monotonic()
                sku_of = {v.inventory_item_id: v.sku for v in self.variants.values()}
                for item, units in wanted:
                    self.levels[item] = units
                    self.sets.append((at, sku_of[item], units))
        group = None if errors else {"reason": given.get("reason")}
        result = {"inventoryAdjustmentGroup": group, "userErrors": errors}
        return JSONResponse({"data": {"inventorySetQuantities": result}})

    async def _levels(self, request: Request) -> Response:
        wanted = [
            int(i)
            for i in request.query_params.get("inventory_item_ids", "").split(",")
            if i.strip().isdigit()
        ]
        locations = [
            int(i)
            for i in request.query_params.get("location_ids", "").split(",")
            if i.strip().isdigit()
        ]
        with self._lock:
            levels = [
                {
                    "inventory_item_id": item,
                    "location_id": self.location_id,
                    "available": self.levels[item],
                }
                for item in wanted
                if item in self.levels and (not locations or self.location_id in locations)
            ]
        return JSONResponse({"inventory_levels": levels})


def _gid(value: Any, kind: str) -> int | None:
    """The number in a GraphQL global id `gid://shopify/{kind}/{number}`."""
    prefix = f"gid://shopify/{kind}/"
    if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
        return int(value[len(prefix) :])
    return None


def with_changes(payload: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of an order payload with some fields changed (a later version of it)."""
    found = copy.deepcopy(dict(payload))
    found.update(changes)
    return found
