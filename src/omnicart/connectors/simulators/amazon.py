"""An Amazon seller on loopback: Login with Amazon's token endpoint, the Orders API (v0
`getOrders` / `getOrder` / `getOrderItems` and 2026-01-01 `searchOrders` / `getOrder`) and
the Listings Items API the adapter calls.

Orders are Amazon's published examples and sandbox responses (`shared/data/webhooks/
amazon-sp-api`) plus orders `add_order` makes in both APIs' shapes. Lists are paged with
opaque tokens and filtered by last-update time as Amazon does (`lastUpdatedBefore` at least
`min_settle_seconds` in the past). Access tokens expire (`token_lifetime`, or at once with
`expire_tokens`); an expired one is answered 403 "Unauthorized". `rate_limits` makes an
operation answer 429 beyond its (rate, burst), and every answer of a limited operation
carries `x-amzn-RateLimit-Limit`; `trouble` answers 429 or 500 for a while.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnicart.connectors.simulators.trouble import Trouble, guarded

DATA: Final = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "webhooks"
STATUS_2026: Final = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
}
V0_LISTS: Final = (
    "ordersV0_getOrders_200_sandbox1.json",
    "ordersV0_getOrders_200_sandbox2.json",
)
NEW_FILES: Final = (
    "orders2026-01-01_searchOrders_200_example.json",
    "orders2026-01-01_searchOrders_200_sandbox1.json",
    "orders2026-01-01_searchOrders_200_sandbox2.json",
    "orders2026-01-01_searchOrders_200_sandbox3.json",
    "orders2026-01-01_getOrder_200_example.json",
    "orders2026-01-01_getOrder_200_sandbox1.json",
    "orders2026-01-01_getOrder_200_sandbox2.json",
    "orders2026-01-01_getOrder_200_sandbox3.json",
)


@dataclass(frozen=True, slots=True)
class AmazonItem:
    """An item of an order `add_order` makes; amounts for all its units."""

    sku: str
    quantity: int
    unit_price: Decimal
    tax: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    asin: str = "B000SIM000"
    title: str = ""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _errors(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"errors": [{"code": code, "message": message}]},
        status_code=status,
        headers=dict(headers or {}),
    )


class AmazonSimulator:
    """One selling partner. Thread-safe: the server runs in a thread while a test drives it."""

    def __init__(
        self,
        *,
        client_id: str = "amzn1.application-oa2-client.sim",
        client_secret: str = "sim-lwa-client-secret",  # noqa: S107 -- the simulator's own
        refresh_token: str = "Atzr|sim-refresh-token",  # noqa: S107 -- the simulator's own
        seller_id: str = "A1SIMSELLER",
        marketplace_id: str = "ATVPDKIKX0DER",
        token_lifetime: float = 3600.0,
        min_settle_seconds: float = 120.0,
        rate_limits: Mapping[str, tuple[float, int]] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.token_lifetime = token_lifetime
        self.min_settle_seconds = min_settle_seconds
        self.rate_limits = dict(rate_limits or {})
        self.trouble = Trouble()
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # access token -> when it expires (monotonic)
        self._buckets: dict[str, list[float]] = {}
        self.token_requests = 0
        self.denied = 0  # API calls refused for a missing or expired access token
        self.calls: list[tuple[str, str]] = []  # (operation, query string)
        self.v0_orders: dict[str, dict[str, Any]] = {}
        self.v0_items: dict[str, list[dict[str, Any]]] = {}
        self.new_orders: dict[str, dict[str, Any]] = {}
        self.listings: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self._data = data_dir if data_dir is not None else DATA / "amazon-sp-api"
        self.app = Starlette(routes=self._routes())

    # --- what tests and the demo drive -------------------------------------------

    @property
    def published(self) -> bool:
        """Whether Amazon's published examples were found."""
        return self._data.is_dir()

    def fail(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        rate: float | None = None,
    ) -> None:
        """Answer `status` to the next `count` API requests, or for `seconds`; a 429
        says `rate` in x-amzn-RateLimit-Limit."""
        headers = {"x-amzn-RateLimit-Limit": str(rate)} if rate is not None else None
        self.trouble.start(status, count=count, seconds=seconds, headers=headers)

    def expire_tokens(self) -> None:
        """Every access token handed out stops working (as an hour passing would)."""
        with self._lock:
            self._tokens.clear()

    def load_published_orders(self) -> tuple[list[str], list[str]]:
        """Serve the published orders: the v0 sandbox orders with the sandbox items, and
        every 2026-01-01 order; (v0 ids, 2026-01-01 ids)."""
        items = self._read("ordersV0_getOrderItems_200_sandbox1.json")["response"]["payload"][
            "OrderItems"
        ]
        v0_ids: list[str] = []
        for name in V0_LISTS:
            for order in self._read(name)["response"]["payload"]["Orders"]:
                if order.get("OrderTotal"):  # priced (not Pending): the sandbox items fit it
                    self.put_v0_order(order, items)
                    v0_ids.append(order["AmazonOrderId"])
        new_ids: list[str] = []
        for name in NEW_FILES:
            loaded = self._read(name)
            answer = loaded.get("response", loaded)
            for order in answer.get("orders") or [answer.get("order")]:
                self.put_new_order(order)
                new_ids.append(order["orderId"])
        return v0_ids, list(dict.fromkeys(new_ids))

    def put_v0_order(self, order: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> None:
        """Serve a v0 order and its items as given."""
        with self._lock:
            order_id = str(order["AmazonOrderId"])
            self.v0_orders[order_id] = copy.deepcopy(dict(order))
            self.v0_items[order_id] = [copy.deepcopy(dict(i)) for i in items]

    def put_new_order(self, order: Mapping[str, Any]) -> None:
        """Serve a 2026-01-01 order as given."""
        with self._lock:
            self.new_orders[str(order["orderId"])] = copy.deepcopy(dict(order))

    def add_order(
        self,
        order_id: str,
        items: Sequence[AmazonItem],
        *,
        updated: datetime,
        created: datetime | None = None,
        status: str = "Unshipped",
        currency: str = "USD",
    ) -> None:
        """An order whose figures add up, served by both Orders APIs."""
        created = created or updated
        self.put_v0_order(
            self._v0_order(
                order_id, items, created=created, updated=updated, status=status, currency=currency
            ),
            [self._v0_item(order_id, index, item, currency) for index, item in enumerate(items)],
        )
        self.put_new_order(
            self._new_order(
                order_id, items, created=created, updated=updated, status=status, currency=currency
            )
        )

    def update_order(self, order_id: str, *, updated: datetime, status: str) -> None:
        """Change an order's status (and last-update time) in both APIs."""
        with self._lock:
            if order_id in self.v0_orders:
                self.v0_orders[order_id].update(
                    {"OrderStatus": status, "LastUpdateDate": _iso(updated)}
                )
            if order_id in self.new_orders:
                order = self.new_orders[order_id]
                order["lastUpdatedTime"] = _iso(updated)
                order.setdefault("fulfillment", {})["fulfillmentStatus"] = STATUS_2026[status]

    def add_listing(
        self, sku: str, *, quantity: int = 0, title: str = "", asin: str = "B000SIM000"
    ) -> None:
        """A listing of the seller (stock and prices are patched on listings)."""
        with self._lock:
            self.listings[sku] = {
                "quantity": quantity,
                "price": None,
                "currency": None,
                "title": title or sku,
                "asin": asin,
            }

    def quantity(self, sku: str) -> int:
        """A listing's seller-fulfilled quantity."""
        with self._lock:
            return int(self.listings[sku]["quantity"])

    def price(self, sku: str) -> Decimal | None:
        """A listing's offer price, as last patched."""
        with self._lock:
            value = self.listings[sku]["price"]
            return None if value is None else Decimal(str(value))

    # --- the API ------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        def api(path: str, operation: str, handler: Any, methods: list[str]) -> Route:
            endpoint = guarded(self.trouble, self._authorised(operation, handler), _error_body)
            return Route(path, endpoint, methods=methods)

        return [
            Route("/auth/o2/token", self._token, methods=["POST"]),
            api("/orders/v0/orders", "getOrders", self._get_orders, ["GET"]),
            api("/orders/v0/orders/{order_id}", "getOrder", self._get_order_v0, ["GET"]),
            api(
                "/orders/v0/orders/{order_id}/orderItems", "getOrderItems", self._get_items, ["GET"]
            ),
            api("/orders/2026-01-01/orders", "searchOrders", self._search_orders, ["GET"]),
            api(
                "/orders/2026-01-01/orders/{order_id}", "getOrder2026", self._get_order_new, ["GET"]
            ),
            api(
                "/listings/2021-08-01/items/{seller_id}",
                "searchListingsItems",
                self._search_listings,
                ["GET"],
            ),
            api(
                "/listings/2021-08-01/items/{seller_id}/{sku}",
                "listingsItem",
                self._listing,
                ["GET", "PATCH"],
            ),
        ]

    async def _token(self, request: Request) -> Response:
        # x-www-form-urlencoded, read by hand: no multipart parser needed for it.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        with self._lock:
            self.token_requests += 1
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return JSONResponse(
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed",
                    },
                    status_code=401,
                )
            if (
                form.get("grant_type") != "refresh_token"
                or form.get("refresh_token") != self.refresh_token
            ):
                return JSONResponse(
                    {
                        "error": "invalid_grant",
                        "error_description": "The request has an invalid grant parameter",
                    },
                    status_code=400,
                )
            token = f"Atza|sim-{uuid.uuid4().hex}"
            self._tokens[token] = time.monotonic() + self.token_lifetime
        return JSONResponse(
            {
                "access_token": token,
                "refresh_token": self.refresh_token,
                "token_type": "bearer",
                "expires_in": int(self.token_lifetime),
            }
        )

    def _authorised(self, operation: str, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            op = operation
            if operation == "listingsItem":
                op = "patchListingsItem" if request.method == "PATCH" else "getListingsItem"
            with self._lock:
                self.calls.append((op, request.url.query))
                expires = self._tokens.get(request.headers.get("x-amz-access-token", ""))
                if expires is None or expires <= time.monotonic():
                    self.denied += 1
                    return _errors(403, "Unauthorized", "Access to requested resource is denied.")
                limit = self._take(op)
            if limit is not None and limit[0] is False:
                return _errors(
                    429,
                    "QuotaExceeded",
                    "You exceeded your quota for the requested resource.",
                    limit[1],
                )
            response: Response = await handler(request)
            if limit is not None:
                response.headers.update(limit[1])
            return response

        return endpoint

    def _take(self, operation: str) -> tuple[bool, dict[str, str]] | None:
        plan = self.rate_limits.get(operation)
        if plan is None:
            return None
        rate, burst = plan
        now = time.monotonic()
        bucket = self._buckets.setdefault(operation, [float(burst), now])
        bucket[0] = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        headers = {"x-amzn-RateLimit-Limit": str(rate)}
        if bucket[0] < 1:
            return False, headers
        bucket[0] -= 1
        return True, headers

    async def _get_orders(self, request: Request) -> Response:
        params = request.query_params
        if not params.get("MarketplaceIds"):
            return _errors(400, "InvalidInput", "MarketplaceIds is required")
        window = self._window(params.get("LastUpdatedAfter"), params.get("LastUpdatedBefore"))
        if isinstance(window, Response):
            return window
        with self._lock:
            found = self._in_window(
                self.v0_orders.values(),
                window,
                updated="LastUpdateDate",
                key="AmazonOrderId",
                marketplaces=params.get("MarketplaceIds", ""),
                market_key="MarketplaceId",
            )
        page = self._page(
            found, params.get("NextToken"), int(params.get("MaxResultsPerPage", "100")), "v0"
        )
        if isinstance(page, Response):
            return page
        rows, token = page
        payload: dict[str, Any] = {
            "Orders": rows,
            "LastUpdatedBefore": params.get("LastUpdatedBefore"),
        }
        if token:
            payload["NextToken"] = token
        return JSONResponse({"payload": payload})

    async def _get_order_v0(self, request: Request) -> Response:
        with self._lock:
            order = self.v0_orders.get(request.path_params["order_id"])
            if order is None:
                return _errors(404, "NotFound", "no such order")
            return JSONResponse({"payload": copy.deepcopy(order)})

    async def _get_items(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        with self._lock:
            if order_id not in self.v0_items:
                return _errors(404, "NotFound", "no such order")
            items = copy.deepcopy(self.v0_items[order_id])
        start = int(request.query_params.get("NextToken") or 0)
        payload: dict[str, Any] = {
            "AmazonOrderId": order_id,
            "OrderItems": items[start : start + 2],
        }
        if start + 2 < len(items):  # two items a page: the adapter must follow NextToken
            payload["NextToken"] = str(start + 2)
        return JSONResponse({"payload": payload})

    async def _search_orders(self, request: Request) -> Response:
        params = request.query_params
        if params.get("createdAfter") and params.get("lastUpdatedAfter"):
            return _errors(
                400, "InvalidInput", "give exactly one of createdAfter and lastUpdatedAfter"
            )
        window = self._window(params.get("lastUpdatedAfter"), params.get("lastUpdatedBefore"))
        if isinstance(window, Response):
            return window
        with self._lock:
            found = self._in_window(
                self.new_orders.values(),
                window,
                updated="lastUpdatedTime",
                key="orderId",
                marketplaces=params.get("marketplaceIds", ""),
                market_key=None,
            )
        page = self._page(
            found,
            params.get("paginationToken"),
            int(params.get("maxResultsPerPage", "100")),
            "2026",
            params,
        )
        if isinstance(page, Response):
            return page
        rows, token = page
        answer: dict[str, Any] = {
            "orders": rows,
            "lastUpdatedBefore": params.get("lastUpdatedBefore"),
        }
        if token:
            answer["pagination"] = {"nextToken": token}
        return JSONResponse(answer)

    async def _get_order_new(self, request: Request) -> Response:
        with self._lock:
            order = self.new_orders.get(request.path_params["order_id"])
            if order is None:
                return _errors(404, "NotFound", "no such order")
            return JSONResponse({"order": copy.deepcopy(order)})

    async def _listing(self, request: Request) -> Response:
        if request.path_params["seller_id"] != self.seller_id:
            return _errors(403, "Unauthorized", "not this seller")
        if not request.query_params.get("marketplaceIds"):
            return _errors(400, "InvalidInput", "marketplaceIds is required")
        sku = request.path_params["sku"]
        with self._lock:
            listing = self.listings.get(sku)
            if listing is None:
                return _errors(404, "NOT_FOUND", f"SKU {sku} not found")
            if request.method == "GET":
                return JSONResponse(self._listing_view(sku, listing))
        body = await request.json()
        issues: list[dict[str, Any]] = []
        with self._lock:
            for patch in body.get("patches", []):
                value = patch.get("value") or [{}]
                if patch.get("path") == "/attributes/fulfillment_availability":
                    quantity = value[0].get("quantity")
                    if not isinstance(quantity, int) or quantity < 0:
                        issues.append(
                            {
                                "code": "90220",
                                "message": "quantity must be a whole number",
                                "severity": "ERROR",
                            }
                        )
                        continue
                    listing["quantity"] = quantity
                elif patch.get("path") == "/attributes/purchasable_offer":
                    schedule = value[0].get("our_price", [{}])[0].get("schedule", [{}])[0]
                    listing["price"] = schedule.get("value_with_tax")
                    listing["currency"] = value[0].get("currency")
                else:
                    issues.append(
                        {
                            "code": "90000",
                            "message": f"unknown path {patch.get('path')}",
                            "severity": "ERROR",
                        }
                    )
            if not issues:
                self.patches.append((sku, copy.deepcopy(body)))
        return JSONResponse(
            {
                "sku": sku,
                "status": "INVALID" if issues else "ACCEPTED",
                "submissionId": uuid.uuid4().hex,
                "issues": issues,
            }
        )

    async def _search_listings(self, request: Request) -> Response:
        if request.path_params["seller_id"] != self.seller_id:
            return _errors(403, "Unauthorized", "not this seller")
        size = int(request.query_params.get("pageSize", "10"))
        start = int(request.query_params.get("pageToken") or 0)
        with self._lock:
            rows = [
                self._listing_view(sku, listing) for sku, listing in sorted(self.listings.items())
            ]
        answer: dict[str, Any] = {"numberOfResults": len(rows), "items": rows[start : start + size]}
        if start + size < len(rows):
            answer["pagination"] = {"nextToken": str(start + size)}
        return JSONResponse(answer)

    # --- lists ---------------------------------------------------------------------

    def _window(
        self, after: str | None, before: str | None
    ) -> tuple[datetime, datetime] | Response:
        if not after:
            return _errors(400, "InvalidInput", "a lastUpdatedAfter (or createdAfter) is required")
        latest = datetime.now(UTC) - timedelta(seconds=self.min_settle_seconds)
        try:
            start = _parse(after)
            end = _parse(before) if before else latest
        except ValueError:
            return _errors(400, "InvalidInput", "dates must be ISO 8601")
        if end > latest + timedelta(seconds=1):
            return _errors(
                400, "InvalidInput", "lastUpdatedBefore must be at least two minutes before now"
            )
        return start, end

    @staticmethod
    def _in_window(
        orders: Any,
        window: tuple[datetime, datetime],
        *,
        updated: str,
        key: str,
        marketplaces: str,
        market_key: str | None,
    ) -> list[dict[str, Any]]:
        wanted = set(marketplaces.split(",")) if marketplaces else set()
        found = [
            copy.deepcopy(order)
            for order in orders
            if window[0] <= _parse(order[updated]) <= window[1]
            and (market_key is None or not wanted or order.get(market_key) in wanted)
        ]
        return sorted(found, key=lambda order: (_parse(order[updated]), order[key]))

    @staticmethod
    def _page(
        found: list[dict[str, Any]], token: str | None, size: int, api: str, params: Any = None
    ) -> tuple[list[dict[str, Any]], str | None] | Response:
        digest = ""
        if params is not None:  # 2026-01-01: a token is only good with the same query
            fixed = sorted(
                (k, v)
                for k, v in params.items()
                if k not in ("paginationToken", "maxResultsPerPage", "includedData")
            )
            digest = hashlib.sha256(json.dumps(fixed).encode()).hexdigest()[:16]
        start = 0
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start, token_digest, token_api = int(state["o"]), state["q"], state["a"]
            except (ValueError, KeyError, TypeError):
                return _errors(400, "InvalidInput", "invalid pagination token")
            if token_api != api or token_digest != digest:
                return _errors(400, "InvalidInput", "the token belongs to another query")
        size = min(max(size, 1), 100)
        rows = found[start : start + size]
        if start + size >= len(found):
            return rows, None
        state = {"o": start + size, "q": digest, "a": api}
        return rows, base64.urlsafe_b64encode(json.dumps(state).encode()).decode()

    # --- building orders ------------------------------------------------------------

    def _v0_order(
        self,
        order_id: str,
        items: Sequence[AmazonItem],
        *,
        created: datetime,
        updated: datetime,
        status: str,
        currency: str,
    ) -> dict[str, Any]:
        total = sum((i.unit_price * i.quantity + i.tax + i.shipping for i in items), Decimal(0))
        order: dict[str, Any] = {
            "AmazonOrderId": order_id,
            "PurchaseDate": _iso(created),
            "LastUpdateDate": _iso(updated),
            "OrderStatus": status,
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": sum(i.quantity for i in items),
            "PaymentMethod": "Other",
            "MarketplaceId": self.marketplace_id,
            "OrderType": "StandardOrder",
            "IsBusinessOrder": False,
            "IsPrime": False,
        }
        if status != "Pending":
            order["OrderTotal"] = {"CurrencyCode": currency, "Amount": str(total)}
        return order

    def _v0_item(
        self, order_id: str, index: int, item: AmazonItem, currency: str
    ) -> dict[str, Any]:
        def money(value: Decimal) -> dict[str, str]:
            return {"CurrencyCode": currency, "Amount": str(value)}

        return {
            "ASIN": item.asin,
            "SellerSKU": item.sku,
            "OrderItemId": f"{order_id.replace('-', '')}{index:02d}",
            "Title": item.title or item.sku,
            "QuantityOrdered": item.quantity,
            "QuantityShipped": 0,
            "ItemPrice": money(item.unit_price * item.quantity),
            "ItemTax": money(item.tax),
            "ShippingPrice": money(item.shipping),
            "PromotionDiscount": money(Decimal("0.00")),
        }

    def _new_order(
        self,
        order_id: str,
        items: Sequence[AmazonItem],
        *,
        created: datetime,
        updated: datetime,
        status: str,
        currency: str,
    ) -> dict[str, Any]:
        def money(value: Decimal) -> dict[str, str]:
            return {"amount": str(value), "currencyCode": currency}

        order_items = []
        for index, item in enumerate(items):
            price = item.unit_price * item.quantity
            breakdowns: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": money(price)}]
            if item.shipping:
                breakdowns.append({"type": "SHIPPING", "subtotal": money(item.shipping)})
            if item.tax:
                breakdowns.append(
                    {
                        "type": "TAX",
                        "subtotal": money(item.tax),
                        "detailedBreakdowns": [{"subtype": "ITEM", "value": money(item.tax)}],
                    }
                )
            order_items.append(
                {
                    "orderItemId": f"{order_id.replace('-', '')}{index:02d}",
                    "quantityOrdered": item.quantity,
                    "product": {
                        "asin": item.asin,
                        "title": item.title or item.sku,
                        "sellerSku": item.sku,
                        "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                        "price": {"unitPrice": money(item.unit_price)},
                    },
                    "proceeds": {
                        "proceedsTotal": money(price + item.tax + item.shipping),
                        "breakdowns": breakdowns,
                    },
                    "fulfillment": {"quantityFulfilled": 0, "quantityUnfulfilled": item.quantity},
                }
            )
        total = sum((i.unit_price * i.quantity + i.tax + i.shipping for i in items), Decimal(0))
        return {
            "orderId": order_id,
            "createdTime": _iso(created),
            "lastUpdatedTime": _iso(updated),
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": self.marketplace_id,
                "marketplaceName": "Amazon.com",
            },
            "proceeds": {"grandTotal": money(total)},
            "fulfillment": {"fulfillmentStatus": STATUS_2026[status], "fulfilledBy": "MERCHANT"},
            "orderItems": order_items,
        }

    def _listing_view(self, sku: str, listing: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "sku": sku,
            "summaries": [
                {
                    "marketplaceId": self.marketplace_id,
                    "asin": listing["asin"],
                    "productType": "PRODUCT",
                    "itemName": listing["title"],
                    "status": ["BUYABLE"],
                }
            ],
            "fulfillmentAvailability": [
                {"fulfillmentChannelCode": "DEFAULT", "quantity": listing["quantity"]}
            ],
        }

    def _read(self, name: str) -> Any:
        return json.loads((self._data / name).read_text())


def _error_body(status: int) -> object:
    if status == 429:
        return {
            "errors": [
                {
                    "code": "QuotaExceeded",
                    "message": "You exceeded your quota for the requested resource.",
                }
            ]
        }
    return {"errors": [{"code": "InternalFailure", "message": "We encountered an internal error."}]}
