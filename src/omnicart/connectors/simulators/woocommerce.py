"""A WooCommerce shop on loopback: the REST API (wc/v3) Omnicart calls, and its webhooks.

    with WooCommerceSimulator() as shop:
        product = shop.add_product("MUG", price="12.00", stock=5)
        shop.send(webhook_url, "order.created", shop.order_payload(727, [("MUG", 2)]))
        shop.stock("MUG")  # what the shop shows now

The API holds simple products and variable products with variations, each with a stock
quantity and a regular price, behind HTTP Basic (consumer key and secret) like a shop on
https; `fail()` makes it answer 429 or 500 for a while. Webhooks are signed as WooCommerce
signs them, with its headers; `ping()` sends what WooCommerce sends when a webhook is
created; `published_orders()` reads WooCommerce's own order examples and delivery logs.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
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

from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.trouble import Handler, Trouble, guarded
from omnicart.connectors.woocommerce import sign

_PREFIX = "/wp-json/wc/v3"
_BATCH_LIMIT = 100
_INVALID_ID = {
    "code": "woocommerce_rest_product_invalid_id",
    "message": "Invalid ID.",
    "data": {"status": 404},
}
_INVALID_STOCK = {
    "code": "rest_invalid_param",
    "message": "Invalid parameter(s): stock_quantity",
    "data": {"status": 400},
}
_WEBHOOK_ID = 142


def _orders_in(value: Any) -> list[dict[str, Any]]:
    """Every order object in a published example (lists, batch answers, wrapped ones,
    delivery logs whose request body is the order as a string)."""
    if isinstance(value, list):
        return [order for item in value for order in _orders_in(item)]
    if not isinstance(value, dict):
        return []
    if "line_items" in value:
        return [value]
    found: list[dict[str, Any]] = []
    for key in ("order", "orders", "create", "update", "delete"):
        found.extend(_orders_in(value.get(key)))
    body = value.get("request_body")
    if isinstance(body, str) and body.startswith("{"):
        found.extend(_orders_in(orjson.loads(body)))
    return found


def published_orders(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """WooCommerce's order examples (REST docs, real delivery logs), by file name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((data_dir / "webhooks" / "woocommerce").glob("*.json")):
        orders = _orders_in(orjson.loads(path.read_bytes()))
        if orders:
            found[path.name] = orders
    return found


class WooCommerceSimulator:
    """One WooCommerce shop. Thread-safe: the server runs in a thread while a test drives it."""

    def __init__(
        self,
        *,
        webhook_secret: str = "wc_simulated_webhook_secret",  # noqa: S107 -- a simulator's
        consumer_key: str = "ck_simulated",
        consumer_secret: str = "cs_simulated",  # noqa: S107
        currency: str = "EUR",
    ) -> None:
        self.webhook_secret = webhook_secret
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.currency = currency
        self.trouble = Trouble()
        self._lock = threading.Lock()
        self._ids = itertools.count(101)
        self.items: dict[int, dict[str, Any]] = {}  # products and variations by id
        # Every stock quantity set: (monotonic time, sku, quantity).
        self.sets: list[tuple[float, str, int]] = []
        self.calls = 0
        self.app = Starlette(
            routes=[
                Route(f"{_PREFIX}/products", self._guard(self._list)),
                Route(f"{_PREFIX}/products/batch", self._guard(self._batch), methods=["POST"]),
                Route(
                    f"{_PREFIX}/products/{{product_id:int}}/variations/batch",
                    self._guard(self._batch),
                    methods=["POST"],
                ),
                Route(
                    f"{_PREFIX}/products/{{product_id:int}}",
                    self._guard(self._product),
                    methods=["GET", "PUT"],
                ),
                Route(
                    f"{_PREFIX}/products/{{product_id:int}}/variations",
                    self._guard(self._variations),
                ),
                Route(
                    f"{_PREFIX}/products/{{product_id:int}}/variations/{{variation_id:int}}",
                    self._guard(self._variation),
                    methods=["GET", "PUT"],
                ),
            ]
        )
        self._server: LoopbackServer | None = None

    # --- running ---------------------------------------------------------------------

    def start(self) -> WooCommerceSimulator:
        """Serve on a free loopback port."""
        self._server = LoopbackServer(self.app).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> WooCommerceSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The shop's site (a connector's base_url)."""
        assert self._server is not None, "start() the simulator first"
        return self._server.url

    def connector(self) -> dict[str, Any]:
        """What `omnicart connectors add` needs to connect to this shop."""
        return {
            "vendor": "woocommerce",
            "base_url": self.url,
            "credentials": {
                "webhook_secret": self.webhook_secret,
                "consumer_key": self.consumer_key,
                "consumer_secret": self.consumer_secret,
            },
            "options": {},
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

    # --- the shop's contents ---------------------------------------------------------

    def add_product(
        self, sku: str, *, price: str = "10.00", stock: int = 0, gtin: str | None = None
    ) -> int:
        """A simple product; its id."""
        with self._lock:
            product_id = next(self._ids)
            self.items[product_id] = self._record(
                product_id, None, sku, price=price, stock=stock, gtin=gtin
            )
            return product_id

    def add_variable(
        self, name: str, variations: Sequence[tuple[str, str, int]]
    ) -> tuple[int, list[int]]:
        """A variable product with variations of (sku, price, stock); its id and theirs."""
        with self._lock:
            product_id = next(self._ids)
            ids = [next(self._ids) for _ in variations]
            self.items[product_id] = {
                **self._record(product_id, None, "", price="", stock=0, gtin=None),
                "name": name,
                "type": "variable",
                "variations": ids,
                "manage_stock": False,
                "stock_quantity": None,
            }
            for variation_id, (sku, price, stock) in zip(ids, variations, strict=True):
                self.items[variation_id] = self._record(
                    variation_id, product_id, sku, price=price, stock=stock, gtin=None
                )
            return product_id, ids

    @staticmethod
    def _record(
        item_id: int, parent: int | None, sku: str, *, price: str, stock: int, gtin: str | None
    ) -> dict[str, Any]:
        return {
            "id": item_id,
            "parent_id": parent or 0,
            "name": sku,
            "type": "variation" if parent else "simple",
            "sku": sku,
            "global_unique_id": gtin or "",
            "regular_price": price,
            "price": price,
            "manage_stock": True,
            "stock_quantity": stock,
            "variations": [],
        }

    def _by_sku(self, sku: str) -> dict[str, Any]:
        return next(item for item in self.items.values() if item["sku"] == sku)

    def ids(self, sku: str) -> tuple[int, int | None]:
        """(product id, variation id or None) of a SKU."""
        with self._lock:
            item = self._by_sku(sku)
            if item["parent_id"]:
                return item["parent_id"], item["id"]
            return item["id"], None

    def stock(self, sku: str) -> int | None:
        """The stock quantity the shop shows of a SKU."""
        with self._lock:
            found: int | None = self._by_sku(sku)["stock_quantity"]
            return found

    def set_stock(self, sku: str, quantity: int) -> None:
        """Change a quantity behind Omnicart's back (a drift for reconcile to find)."""
        with self._lock:
            self._by_sku(sku)["stock_quantity"] = quantity

    def price(self, sku: str) -> str:
        """A SKU's regular price."""
        with self._lock:
            return str(self._by_sku(sku)["regular_price"])

    # --- webhooks ----------------------------------------------------------------------

    def webhook(
        self,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        delivery_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery's body and headers, signed as WooCommerce signs them."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.3.0 Hookshot (WordPress/6.6.2)",
            "X-WC-Webhook-Source": f"{self.url}/" if self._server else "http://shop.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(body, secret or self.webhook_secret),
            "X-WC-Webhook-ID": str(_WEBHOOK_ID),
            "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
        }
        return body, headers

    def send(
        self,
        url: str,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        delivery_id: str | None = None,
        http: httpx.Client | None = None,
    ) -> httpx.Response:
        """POST a signed delivery to `url`, as WooCommerce does."""
        body, headers = self.webhook(topic, payload, delivery_id=delivery_id)
        if http is not None:
            return http.post(url, content=body, headers=headers)
        with httpx.Client(timeout=10) as client:
            return client.post(url, content=body, headers=headers)

    def ping(self, url: str, *, webhook_id: int = _WEBHOOK_ID) -> httpx.Response:
        """What WooCommerce sends when a webhook is created: a form body, no signature."""
        with httpx.Client(timeout=10) as client:
            return client.post(
                url,
                content=f"webhook_id={webhook_id}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )

    def order_payload(
        self,
        order_id: int,
        lines: Sequence[tuple[str, int]],
        *,
        status: str = "processing",
        modified: datetime | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        """An order (REST v3 shape) for the shop's own products."""
        when = (modified or datetime.now(UTC)).replace(tzinfo=None).isoformat(timespec="seconds")
        items = []
        total = Decimal(0)
        for index, (sku, quantity) in enumerate(lines):
            product_id, variation_id = self.ids(sku)
            price = Decimal(self.price(sku))
            amount = price * quantity
            total += amount
            items.append(
                {
                    "id": order_id * 100 + index,
                    "name": sku,
                    "product_id": product_id,
                    "variation_id": variation_id or 0,
                    "quantity": quantity,
                    "subtotal": f"{amount:.2f}",
                    "subtotal_tax": "0.00",
                    "total": f"{amount:.2f}",
                    "total_tax": "0.00",
                    "sku": sku,
                    "price": float(price),
                }
            )
        paid = status in ("processing", "completed")
        return {
            "id": order_id,
            "status": status,
            "currency": self.currency,
            "date_created_gmt": when,
            "date_modified_gmt": when,
            "discount_total": "0.00",
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": f"{total:.2f}",
            "total_tax": "0.00",
            "prices_include_tax": False,
            "customer_id": 0,
            "billing": {"email": email or f"buyer{order_id}@example.com"},
            "shipping": {},
            "payment_method": "bacs",
            "date_paid_gmt": when if paid else None,
            "line_items": items,
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        }

    # --- the REST API ------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()

        async def checked(request: Request) -> Response:
            self.calls += 1
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse(
                    {
                        "code": "woocommerce_rest_cannot_view",
                        "message": "Sorry, you cannot list resources.",
                        "data": {"status": 401},
                    },
                    status_code=401,
                )
            return await handler(request)

        return guarded(
            self.trouble,
            checked,
            lambda status: {
                "code": "simulated_error",
                "message": "try later",
                "data": {"status": status},
            },
        )

    def _json(self, item: dict[str, Any]) -> dict[str, Any]:
        return dict(item)

    async def _list(self, request: Request) -> Response:
        per_page = max(1, min(int(request.query_params.get("per_page", "10")), 100))
        page = max(1, int(request.query_params.get("page", "1")))
        with self._lock:
            products = [i for _, i in sorted(self.items.items()) if not i["parent_id"]]
            chosen = [self._json(i) for i in products[(page - 1) * per_page : page * per_page]]
        pages = max(1, -(-len(products) // per_page))
        headers = {"X-WP-Total": str(len(products)), "X-WP-TotalPages": str(pages)}
        return JSONResponse(chosen, headers=headers)

    async def _variations(self, request: Request) -> Response:
        product_id = int(request.path_params["product_id"])
        with self._lock:
            product = self.items.get(product_id)
            if product is None or product["parent_id"]:
                return self._missing()
            found = [self._json(self.items[i]) for i in product["variations"]]
        return JSONResponse(found, headers={"X-WP-Total": str(len(found)), "X-WP-TotalPages": "1"})

    @staticmethod
    def _missing() -> Response:
        return JSONResponse(
            {
                "code": "woocommerce_rest_product_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": 404},
            },
            status_code=404,
        )

    async def _product(self, request: Request) -> Response:
        return await self._change(request, int(request.path_params["product_id"]), parent=None)

    async def _variation(self, request: Request) -> Response:
        return await self._change(
            request,
            int(request.path_params["variation_id"]),
            parent=int(request.path_params["product_id"]),
        )

    async def _change(self, request: Request, item_id: int, *, parent: int | None) -> Response:
        body = orjson.loads(await request.body()) if request.method == "PUT" else {}
        with self._lock:
            found = self._update(item_id, body, parent=parent)
        if "error" in found:
            error = found["error"]
            return JSONResponse(error, status_code=error["data"]["status"])
        return JSONResponse(found)

    async def _batch(self, request: Request) -> Response:
        """`products/batch` and `products/<id>/variations/batch`: updates only; each
        item answers itself or its error, as WooCommerce's do (up to 100 a request)."""
        body = orjson.loads(await request.body())
        parent = request.path_params.get("product_id")
        updates = body.get("update") or []
        if len(updates) > _BATCH_LIMIT:
            return JSONResponse(
                {
                    "code": "woocommerce_rest_request_entity_too_large",
                    "message": f"Unable to accept more than {_BATCH_LIMIT} items for this request.",
                    "data": {"status": 413},
                },
                status_code=413,
            )
        with self._lock:
            answered = [
                self._update(int(change.get("id", 0)), change, parent=parent) for change in updates
            ]
        return JSONResponse({"update": answered})

    def _update(self, item_id: int, body: dict[str, Any], *, parent: int | None) -> dict[str, Any]:
        """Change one item (the caller holds the lock): the item, or {"id", "error"}."""
        item = self.items.get(item_id)
        if item is None or (item["parent_id"] or None) != parent:
            return {"id": item_id, "error": _INVALID_ID}
        if "stock_quantity" in body:
            quantity = body["stock_quantity"]
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                return {"id": item_id, "error": _INVALID_STOCK}
            item["stock_quantity"] = quantity
            item["manage_stock"] = bool(body.get("manage_stock", True))
            self.sets.append((time.monotonic(), item["sku"], quantity))
        if "regular_price" in body:
            item["regular_price"] = item["price"] = str(body["regular_price"])
        return self._json(item)
