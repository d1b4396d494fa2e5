"""Amazon SP-API: orders polled (Amazon sends no webhooks, so this adapter has no
`verify`), stock and prices patched on listings.

Orders come from the Orders API 2026-01-01 `searchOrders` (orders with their items in one
call) or, with the option `orders_api=v0`, from v0 `getOrders` plus `getOrderItems` per
order. Each `poll` fetches one page of a window `[after, before)` of last-update times;
`before` stays `settle_seconds` behind the clock (Amazon requires two minutes) and the
next window starts `overlap_seconds` before the last one ended, so an order whose update
Amazon indexes late is still seen. Orders seen twice are harmless: ingest is idempotent.
The cursor (a small JSON document) says which window and page come next.

Every call carries a Login with Amazon access token, cached until it expires and
refreshed on a 401/403 "Unauthorized". Calls are paced by each operation's documented
usage plan (rate, burst), updated from the `x-amzn-RateLimit-Limit` header Amazon sends;
a call the plan does not allow yet, or a 429, raises VendorUnavailable with the wait.

Credentials: `client_id`, `client_secret`, `refresh_token`. Options: `seller_id`,
`marketplace_ids` (comma-separated), `orders_api` (`2026-01-01`, the default, or `v0`),
`lwa_url` (the token endpoint; Amazon's by default), `start_after` (ISO time the first
window starts at; default a day ago), `settle_seconds` (120), `overlap_seconds` (300),
`window_seconds` (60: the least time between two windows),
`product_type` (listings patches; default `PRODUCT`), `page_size` (orders per page, 100),
`pages_per_poll` (5),
`currency` (the marketplace's: a Pending order names none until Amazon prices it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final
from urllib.parse import quote

import httpx

from omnicart.connectors import payloads
from omnicart.connectors.base import (
    Connection,
    Delivery,
    PriceFigure,
    StockFigure,
    VendorItem,
    VendorLine,
    VendorOrder,
)
from omnicart.connectors.calls import retry_after
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.kernel.errors import ValidationFailed

LWA_URL: Final = "https://api.amazon.com/auth/o2/token"
NEW_API: Final = "2026-01-01"
# Default usage plans (requests per second, burst) from the Orders and Listings Items
# API references; Amazon may grant more and says so in x-amzn-RateLimit-Limit.
USAGE_PLANS: Final[Mapping[str, tuple[float, int]]] = {
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "searchOrders": (0.0056, 20),
    "getOrder2026": (0.5, 30),
    "patchListingsItem": (5.0, 10),
    "getListingsItem": (5.0, 10),
    "searchListingsItems": (5.0, 5),
}
INCLUDED_DATA: Final = "BUYER,RECIPIENT,PROCEEDS,PROMOTION,CANCELLATION,FULFILLMENT"
TOKEN_MARGIN: Final = 60.0  # refresh a token this many seconds before Amazon expires it
# Proceeds categories that are charges besides goods: Omnicart books them as shipping.
CHARGES: Final = frozenset({"SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "DELIVERY_TIP"})


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where polling stands: the window of last-update times, the page token in it, and
    when the last finished window ended."""

    after: datetime
    before: datetime | None = None
    token: str | None = None
    ended: datetime | None = None

    def dump(self) -> str:
        """The cursor as stored."""
        return json.dumps(
            {
                "v": 1,
                "after": _iso(self.after),
                "before": _iso(self.before) if self.before else None,
                "token": self.token,
                "ended": _iso(self.ended) if self.ended else None,
            },
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str) -> Cursor:
        """A stored cursor; a corrupt one is refused (it would re-read or skip orders)."""
        try:
            data = json.loads(text)
            after = _utc(data["after"])
            before = _utc(data["before"]) if data.get("before") else None
            ended = _utc(data["ended"]) if data.get("ended") else None
            token = data.get("token")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValidationFailed(
                f"not an Amazon polling cursor: {text[:80]!r}", field="cursor"
            ) from None
        if token is not None and not isinstance(token, str):
            raise ValidationFailed("the cursor's token is not text", field="cursor")
        return cls(after, before, token, ended)

    @property
    def window_done(self) -> bool:
        """True when no page of the current window is left to fetch."""
        return self.before is None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class RateLimiter:
    """Token buckets per (connector, operation), filled at the operation's rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[int, str], list[float]] = {}  # [tokens, rate, at]

    def take(self, connector_id: int, operation: str) -> None:
        """Spend one request of the plan, or raise VendorUnavailable with the wait."""
        rate, burst = USAGE_PLANS[operation]
        with self._lock:
            now = self._clock()
            bucket = self._buckets.setdefault((connector_id, operation), [float(burst), rate, now])
            tokens, rate, at = bucket
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1.0 - 1e-9:  # float dust must not hold back a request due now
                bucket[:] = [tokens, rate, now]
                raise VendorUnavailable(
                    f"Amazon's usage plan for {operation} allows no request yet",
                    retry_after=(1.0 - tokens) / rate,
                )
            bucket[:] = [max(tokens - 1.0, 0.0), rate, now]

    def observe(self, connector_id: int, operation: str, header: str | None) -> None:
        """Take the rate Amazon says applies (x-amzn-RateLimit-Limit)."""
        rate = _positive(header)
        if rate is None:
            return
        with self._lock:
            bucket = self._buckets.get((connector_id, operation))
            if bucket is not None:
                bucket[1] = rate

    def throttled(self, connector_id: int, operation: str, header: str | None) -> float:
        """Amazon answered 429: empty the bucket; the seconds until the next request."""
        with self._lock:
            bucket = self._buckets.setdefault(
                (connector_id, operation), [0.0, USAGE_PLANS[operation][0], self._clock()]
            )
            bucket[1] = _positive(header) or bucket[1]
            bucket[0], bucket[2] = 0.0, self._clock()
            return 1.0 / bucket[1]


class AmazonAdapter:
    """The Amazon SP-API adapter and poller. One instance per process: it holds the
    access tokens and the request pacing of every connection."""

    vendor: ClassVar[str] = "amazon"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._now = now
        self.limits = RateLimiter(clock)
        self._tokens: dict[int, tuple[str, float]] = {}
        self._token_lock = threading.Lock()

    # --- one order, fetched again (re-processing) ------------------------------------

    def order(
        self, connection: Connection, delivery: Delivery, http: httpx.Client
    ) -> VendorOrder | None:
        """The order `delivery` names, fetched again (getOrder)."""
        if delivery.external_order_id is None:
            return None
        order_id = quote(delivery.external_order_id, safe="")
        if _api(connection) == NEW_API:
            answer = self._get(
                http,
                connection,
                "getOrder2026",
                f"/orders/{NEW_API}/orders/{order_id}",
                {"includedData": INCLUDED_DATA},
            )
            return order_from_2026(
                payloads.obj(answer.get("order"), "order"),
                currency=connection.options.get("currency"),
            )
        answer = self._get(http, connection, "getOrder", f"/orders/v0/orders/{order_id}", {})
        order = payloads.obj(answer.get("payload"), "payload")
        return order_from_v0(
            order,
            self._items(http, connection, str(order["AmazonOrderId"])),
            currency=connection.options.get("currency"),
        )

    # --- polling ------------------------------------------------------------------

    def poll(
        self, connection: Connection, http: httpx.Client, cursor: str | None
    ) -> tuple[list[VendorOrder], str | None]:
        """Orders updated since the cursor, a few pages at most (`pages_per_poll`, 5),
        and the cursor after the last page fetched.

        Nothing is fetched (the cursor comes back as it was) while the window would be
        empty: its end stays `settle_seconds` behind the clock. When a page after the
        first cannot be had yet (rate limit, 5xx), the pages fetched so far are answered
        with the cursor at that page, so nothing fetched is lost or skipped."""
        at = Cursor.load(cursor) if cursor else Cursor(after=self._start(connection))
        orders: list[VendorOrder] = []
        for page in range(int(_seconds(connection, "pages_per_poll", 5)) or 1):
            try:
                found, after = self._page(http, connection, at)
            except VendorUnavailable:
                if page == 0:
                    raise
                break
            orders.extend(found)
            if after == at or after.window_done:
                at = after
                break
            at = after
        return orders, at.dump()

    def _page(
        self, http: httpx.Client, connection: Connection, at: Cursor
    ) -> tuple[list[VendorOrder], Cursor]:
        if at.window_done:
            before = self._now() - timedelta(seconds=_seconds(connection, "settle_seconds", 120))
            # A new window once the last one is `window_seconds` old: asking again at
            # once would only read the overlap again.
            gap = timedelta(seconds=_seconds(connection, "window_seconds", 60))
            if before <= at.after or (at.ended is not None and before - at.ended < gap):
                return [], at
            at = replace(at, before=before)
        assert at.before is not None
        if _api(connection) == NEW_API:
            orders, token = self._search_page(http, connection, at)
        else:
            orders, token = self._v0_page(http, connection, at)
        if token:
            return orders, replace(at, token=token)
        overlap = timedelta(seconds=_seconds(connection, "overlap_seconds", 300))
        return orders, Cursor(after=max(at.after, at.before - overlap), ended=at.before)

    def _search_page(
        self, http: httpx.Client, connection: Connection, at: Cursor
    ) -> tuple[list[VendorOrder], str | None]:
        assert at.before is not None
        params = {
            "lastUpdatedAfter": _iso(at.after),
            "lastUpdatedBefore": _iso(at.before),
            "marketplaceIds": _marketplaces(connection),
            "includedData": INCLUDED_DATA,
            "maxResultsPerPage": str(_page_size(connection)),
        }
        if at.token:
            params["paginationToken"] = at.token
        answer = self._get(http, connection, "searchOrders", f"/orders/{NEW_API}/orders", params)
        currency = connection.options.get("currency")
        orders = [
            order_from_2026(o, currency=currency)
            for o in payloads.items(answer.get("orders", []), "orders")
        ]
        pagination = answer.get("pagination")
        token = pagination.get("nextToken") if isinstance(pagination, Mapping) else None
        return orders, token or None

    def _v0_page(
        self, http: httpx.Client, connection: Connection, at: Cursor
    ) -> tuple[list[VendorOrder], str | None]:
        assert at.before is not None
        params = {
            "LastUpdatedAfter": _iso(at.after),
            "LastUpdatedBefore": _iso(at.before),
            "MarketplaceIds": _marketplaces(connection),
            "MaxResultsPerPage": str(_page_size(connection)),
        }
        if at.token:
            params["NextToken"] = at.token
        answer = self._get(http, connection, "getOrders", "/orders/v0/orders", params)
        payload = payloads.obj(answer.get("payload"), "payload")
        orders = [
            order_from_v0(
                order,
                self._items(http, connection, str(order.get("AmazonOrderId"))),
                currency=connection.options.get("currency"),
            )
            for order in payloads.items(payload.get("Orders", []), "Orders")
        ]
        return orders, payload.get("NextToken") or None

    def _items(
        self, http: httpx.Client, connection: Connection, order_id: str
    ) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        params: dict[str, str] = {}
        path = f"/orders/v0/orders/{quote(order_id, safe='')}/orderItems"
        while True:
            answer = self._get(http, connection, "getOrderItems", path, params)
            payload = payloads.obj(answer.get("payload"), "payload")
            items.extend(payloads.items(payload.get("OrderItems", []), "OrderItems"))
            token = payload.get("NextToken")
            if not token:
                return items
            params = {"NextToken": str(token)}

    def _start(self, connection: Connection) -> datetime:
        start = connection.options.get("start_after")
        if not start:
            return self._now() - timedelta(days=1)
        try:
            parsed = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise VendorRefused(
                f"the Amazon option start_after is not an ISO time: {start!r}"
            ) from None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # --- stock and prices ---------------------------------------------------------

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Set each listing's seller-fulfilled quantity (patchListingsItem)."""
        for figure in figures:
            self._patch(
                http,
                connection,
                figure.vendor_product_id,
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": [
                        {"fulfillment_channel_code": "DEFAULT", "quantity": max(figure.quantity, 0)}
                    ],
                },
            )

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Set each listing's offer price in every marketplace of the connection."""
        for figure in figures:
            self._patch(
                http,
                connection,
                figure.vendor_product_id,
                {
                    "op": "replace",
                    "path": "/attributes/purchasable_offer",
                    "value": [
                        {
                            "marketplace_id": marketplace,
                            "currency": figure.currency,
                            "our_price": [{"schedule": [{"value_with_tax": float(figure.amount)}]}],
                        }
                        for marketplace in _marketplaces(connection).split(",")
                    ],
                },
            )

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        """Each listing's seller-fulfilled quantity, keyed by the item's SKU (listings
        Amazon does not have are left out)."""
        counts: dict[str, int] = {}
        for item in items:
            answer = self._request(
                http,
                connection,
                "getListingsItem",
                "GET",
                _listing_path(connection, item.vendor_product_id),
                params={
                    "marketplaceIds": _marketplaces(connection),
                    "includedData": "fulfillmentAvailability",
                },
                missing_ok=True,
            )
            if answer is None:  # no such listing: nothing to read
                continue
            quantity = 0
            for offer in payloads.items(
                answer.get("fulfillmentAvailability", []), "fulfillmentAvailability"
            ):
                if offer.get("fulfillmentChannelCode") == "DEFAULT":
                    quantity = int(offer.get("quantity") or 0)
            counts[item.sku or item.vendor_product_id] = quantity
        return counts

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        """Every listing of the seller (searchListingsItems), keyed by seller SKU."""
        seller = quote(_option(connection, "seller_id"), safe="")
        params = {
            "marketplaceIds": _marketplaces(connection),
            "includedData": "summaries,fulfillmentAvailability",
            "pageSize": "20",
        }
        items: list[VendorItem] = []
        while True:
            answer = self._get(
                http,
                connection,
                "searchListingsItems",
                f"/listings/2021-08-01/items/{seller}",
                params,
            )
            for listing in payloads.items(answer.get("items", []), "items"):
                sku = str(listing.get("sku"))
                summaries = payloads.items(listing.get("summaries", []), "summaries")
                quantity = None
                for offer in payloads.items(
                    listing.get("fulfillmentAvailability", []), "fulfillmentAvailability"
                ):
                    if offer.get("fulfillmentChannelCode") == "DEFAULT":
                        quantity = int(offer.get("quantity") or 0)
                items.append(
                    VendorItem(
                        vendor_product_id=sku,
                        vendor_variant_id=None,
                        sku=sku,
                        gtin=None,
                        title=str(summaries[0].get("itemName") or "") if summaries else "",
                        quantity=quantity,
                    )
                )
            pagination = answer.get("pagination")
            token = pagination.get("nextToken") if isinstance(pagination, Mapping) else None
            if not token:
                return items
            params = {**params, "pageToken": str(token)}

    def _patch(
        self, http: httpx.Client, connection: Connection, sku: str, patch: Mapping[str, Any]
    ) -> None:
        answer = self._request(
            http,
            connection,
            "patchListingsItem",
            "PATCH",
            _listing_path(connection, sku),
            params={"marketplaceIds": _marketplaces(connection)},
            body={
                "productType": connection.options.get("product_type", "PRODUCT"),
                "patches": [patch],
            },
        )
        assert answer is not None
        if answer.get("status") != "ACCEPTED":
            issues = "; ".join(
                str(issue.get("message"))
                for issue in payloads.items(answer.get("issues", []), "issues")
            )
            raise VendorRefused(
                f"Amazon did not accept the patch of {sku}: {answer.get('status')} {issues}"[:300]
            )

    # --- HTTP: tokens, pacing, errors ---------------------------------------------

    def _get(
        self,
        http: httpx.Client,
        connection: Connection,
        operation: str,
        path: str,
        params: Mapping[str, str],
    ) -> Mapping[str, Any]:
        answer = self._request(http, connection, operation, "GET", path, params=params)
        assert answer is not None
        return answer

    def _request(
        self,
        http: httpx.Client,
        connection: Connection,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Mapping[str, Any] | None:
        """One SP-API call, paced by the usage plan; retried once with a fresh access
        token when Amazon says the one it got is not (or no longer) valid. A 404 is
        None when `missing_ok`."""
        for attempt in (1, 2):
            token = self.access_token(connection, http)
            self.limits.take(connection.connector_id, operation)
            try:
                response = http.request(
                    method,
                    connection.base_url.rstrip("/") + path,
                    params=params,
                    json=body,
                    headers={"x-amz-access-token": token, "Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise VendorUnavailable(f"Amazon could not be reached: {exc}") from exc
            limit = response.headers.get("x-amzn-ratelimit-limit")
            if response.status_code == 429:
                wait = self.limits.throttled(connection.connector_id, operation, limit)
                raise VendorUnavailable(
                    f"Amazon throttled {operation}",
                    retry_after=retry_after(response.headers.get("retry-after")) or wait,
                )
            self.limits.observe(connection.connector_id, operation, limit)
            if response.status_code in (401, 403) and attempt == 1 and _unauthorized(response):
                self.forget_token(connection)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code >= 500:
                raise VendorUnavailable(f"Amazon answered {response.status_code} to {operation}")
            if response.status_code >= 400:
                raise VendorRefused(
                    f"Amazon refused {operation}: {response.status_code} {response.text[:300]}"
                )
            try:
                answer = response.json()
            except ValueError:
                raise VendorUnavailable(f"Amazon answered {operation} with no JSON") from None
            return payloads.obj(answer, operation)
        raise AssertionError("unreachable")  # pragma: no cover

    def access_token(self, connection: Connection, http: httpx.Client) -> str:
        """The cached Login with Amazon access token, refreshed when about to expire."""
        with self._token_lock:
            cached = self._tokens.get(connection.connector_id)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
        form = {
            "grant_type": "refresh_token",
            "refresh_token": connection.credentials.get("refresh_token", ""),
            "client_id": connection.credentials.get("client_id", ""),
            "client_secret": connection.credentials.get("client_secret", ""),
        }
        url = connection.options.get("lwa_url", LWA_URL)
        try:
            response = http.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise VendorUnavailable(f"Login with Amazon could not be reached: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise VendorUnavailable(
                f"Login with Amazon answered {response.status_code}",
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        if response.status_code != 200:
            raise VendorRefused(
                f"Login with Amazon refused the refresh token: {response.text[:200]}"
            )
        try:
            answer = response.json()
            token, lifetime = str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise VendorUnavailable("Login with Amazon answered with no access token") from None
        with self._token_lock:
            self._tokens[connection.connector_id] = (
                token,
                self._clock() + max(lifetime - TOKEN_MARGIN, 0.0),
            )
        return token

    def forget_token(self, connection: Connection) -> None:
        """Drop the cached access token (Amazon said it is not valid)."""
        with self._token_lock:
            self._tokens.pop(connection.connector_id, None)


def order_from_2026(order: Mapping[str, Any], *, currency: str | None = None) -> VendorOrder:
    """An Orders API 2026-01-01 order as Amazon sent it.

    A line's price is the product's `unitPrice`; its tax the item's TAX proceeds (the
    ITEM part of them when Amazon breaks the tax down), its discount the DISCOUNT
    proceeds. Shipping, gift wrap, COD fee, other charges and delivery tips are the
    order's charges besides goods (`shipping`), the SHIPPING part of the tax their tax.
    """
    order_id = _id(order.get("orderId"), "orderId")
    proceeds = order.get("proceeds") if isinstance(order.get("proceeds"), Mapping) else {}
    grand = (proceeds or {}).get("grandTotal")
    currency = _currency_2026(order, grand) or currency or ""
    if not currency:
        raise ValidationFailed(
            f"Amazon order {order_id} names no currency yet; set the connector's currency option",
            field="proceeds.grandTotal",
        )
    lines = []
    charges = tax_on_charges = charge_discounts = Decimal(0)
    for index, item in enumerate(payloads.items(order.get("orderItems"), "orderItems")):
        line, item_charges = _line_2026(index, item, currency)
        lines.append(line)
        charges += item_charges[0]
        tax_on_charges += item_charges[1]
        charge_discounts += item_charges[2]
    if not lines:
        raise ValidationFailed(f"Amazon order {order_id} has no items", field="orderItems")
    for breakdown in payloads.items((proceeds or {}).get("breakdowns", []), "proceeds.breakdowns"):
        if breakdown.get("type") == "DELIVERY_TIP":  # order-level, not on the items
            charges += _money(breakdown.get("subtotal"), currency, "proceeds.DELIVERY_TIP")
    fulfillment = order.get("fulfillment") if isinstance(order.get("fulfillment"), Mapping) else {}
    buyer = order.get("buyer") if isinstance(order.get("buyer"), Mapping) else {}
    recipient = order.get("recipient") if isinstance(order.get("recipient"), Mapping) else {}
    priced = any(isinstance(item.get("proceeds"), Mapping) for item in order["orderItems"])
    return VendorOrder(
        external_id=order_id,
        currency=currency,
        lines=tuple(lines),
        updated_at=payloads.when(order.get("lastUpdatedTime"), "lastUpdatedTime"),
        placed_at=payloads.when(order.get("createdTime"), "createdTime"),
        cancelled=(fulfillment or {}).get("fulfillmentStatus") == "CANCELLED",
        shipping=charges,
        shipping_tax=tax_on_charges,
        discount=charge_discounts,
        subtotal=sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        if priced
        else None,
        tax_total=sum((line.tax for line in lines), Decimal(0)) + tax_on_charges
        if priced
        else None,
        total=None if grand is None else _money(grand, currency, "proceeds.grandTotal"),
        email=(buyer or {}).get("buyerEmail") or None,
        address=_address_2026((recipient or {}).get("deliveryAddress")),
        raw=order,
    )


def order_from_v0(
    order: Mapping[str, Any], items: Sequence[Mapping[str, Any]], *, currency: str | None = None
) -> VendorOrder:
    """An Orders API v0 order with its `getOrderItems` items, as Amazon sent them.

    `ItemPrice` is the line's price (unit price x quantity); the promotion discount is
    the line's discount and `ItemTax` less `PromotionDiscountTax` its tax. Shipping and
    COD fees are charges besides goods (`shipping`), their taxes less the tax on their
    discounts `shipping_tax`, and their discounts the order's own `discount`. While an
    order is Pending Amazon gives no prices: its lines are taken at zero, so its stock
    is held at once, in `currency` (the marketplace's) as the order names none yet; the
    update that brings the prices replaces them.
    """
    order_id = _id(order.get("AmazonOrderId"), "AmazonOrderId")
    total = order.get("OrderTotal")
    currency = _currency_v0(total, items) or currency or ""
    if not currency:
        raise ValidationFailed(
            f"Amazon order {order_id} names no currency yet (Pending); set the connector's "
            "currency option",
            field="OrderTotal.CurrencyCode",
        )
    lines = []
    charges = charge_tax = charge_discounts = Decimal(0)
    for index, item in enumerate(items):
        where = f"OrderItems.{index}"
        quantity = item.get("QuantityOrdered")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationFailed(
                f"{where}.QuantityOrdered is not a positive whole number",
                field=f"{where}.QuantityOrdered",
            )

        def amount(key: str, where: str = where, item: Mapping[str, Any] = item) -> Decimal:
            value = item.get(key)
            return Decimal(0) if value is None else _money(value, currency, f"{where}.{key}")

        price = amount("ItemPrice")
        charges += amount("ShippingPrice") + amount("CODFee")
        charge_discounts += amount("ShippingDiscount") + amount("CODFeeDiscount")
        charge_tax += amount("ShippingTax") - amount("ShippingDiscountTax")
        sku = item.get("SellerSKU")
        lines.append(
            VendorLine(
                vendor_product_id=str(sku) if sku else None,
                vendor_variant_id=None,
                sku=str(sku) if sku else None,
                gtin=None,
                title=str(item.get("Title") or ""),
                quantity=quantity,
                unit_price=price / quantity,
                discount=amount("PromotionDiscount"),
                tax=amount("ItemTax") - amount("PromotionDiscountTax"),
            )
        )
    if not lines:
        raise ValidationFailed(f"Amazon order {order_id} has no items", field="OrderItems")
    buyer = order.get("BuyerInfo") if isinstance(order.get("BuyerInfo"), Mapping) else {}
    return VendorOrder(
        external_id=order_id,
        currency=currency,
        lines=tuple(lines),
        updated_at=payloads.when(order.get("LastUpdateDate"), "LastUpdateDate"),
        placed_at=payloads.when(order.get("PurchaseDate"), "PurchaseDate"),
        cancelled=order.get("OrderStatus") == "Canceled",
        shipping=charges,
        shipping_tax=charge_tax,
        discount=charge_discounts,
        total=None if total is None else _money(total, currency, "OrderTotal"),
        email=(buyer or {}).get("BuyerEmail") or None,
        address=_address_v0(order.get("ShippingAddress")),
        raw={"order": order, "items": list(items)},
    )


def _line_2026(
    index: int, item: Mapping[str, Any], currency: str
) -> tuple[VendorLine, tuple[Decimal, Decimal, Decimal]]:
    where = f"orderItems.{index}"
    quantity = item.get("quantityOrdered")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationFailed(
            f"{where}.quantityOrdered is not a positive whole number",
            field=f"{where}.quantityOrdered",
        )
    product = payloads.obj(item.get("product", {}), f"{where}.product")
    price = product.get("price") if isinstance(product.get("price"), Mapping) else {}
    unit_price = (price or {}).get("unitPrice")
    unit = Decimal(0) if unit_price is None else _money(unit_price, currency, f"{where}.unitPrice")
    tax = discount = charges = charge_tax = charge_discount = Decimal(0)
    proceeds = item.get("proceeds") if isinstance(item.get("proceeds"), Mapping) else {}
    for breakdown in payloads.items(
        (proceeds or {}).get("breakdowns", []), f"{where}.proceeds.breakdowns"
    ):
        kind = breakdown.get("type")
        value = _money(breakdown.get("subtotal"), currency, f"{where}.proceeds.{kind}")
        details = {
            d.get("subtype"): _money(
                d.get("value"), currency, f"{where}.proceeds.{kind}.{d.get('subtype')}"
            )
            for d in payloads.items(
                breakdown.get("detailedBreakdowns", []), f"{where}.detailedBreakdowns"
            )
        }
        if kind == "TAX":
            on_goods = details.get("ITEM", value if not details else Decimal(0))
            tax += on_goods
            charge_tax += value - on_goods
        elif kind == "DISCOUNT":
            # Amazon reports discounts as negative proceeds.
            on_goods = details.get("ITEM", value if not details else Decimal(0))
            discount += abs(on_goods)
            charge_discount += abs(value - on_goods)
        elif kind in CHARGES:
            charges += value
    sku = product.get("sellerSku")
    line = VendorLine(
        vendor_product_id=str(sku) if sku else None,
        vendor_variant_id=None,
        sku=str(sku) if sku else None,
        gtin=None,
        title=str(product.get("title") or ""),
        quantity=quantity,
        unit_price=unit,
        discount=discount,
        tax=tax,
    )
    return line, (charges, charge_tax, charge_discount)


def _currency_2026(order: Mapping[str, Any], grand: Any) -> str:
    if isinstance(grand, Mapping) and isinstance(grand.get("currencyCode"), str):
        return str(grand["currencyCode"])
    for item in payloads.items(order.get("orderItems"), "orderItems"):
        product = item.get("product")
        price = product.get("price") if isinstance(product, Mapping) else None
        unit = price.get("unitPrice") if isinstance(price, Mapping) else None
        if isinstance(unit, Mapping) and isinstance(unit.get("currencyCode"), str):
            return str(unit["currencyCode"])
    return ""


def _currency_v0(total: Any, items: Sequence[Mapping[str, Any]]) -> str:
    if isinstance(total, Mapping) and isinstance(total.get("CurrencyCode"), str):
        return str(total["CurrencyCode"])
    for item in items:
        price = item.get("ItemPrice")
        if isinstance(price, Mapping) and isinstance(price.get("CurrencyCode"), str):
            return str(price["CurrencyCode"])
    # A Pending order carries no money at all; its currency comes with the update.
    return ""


def _money(value: Any, currency: str, where: str) -> Decimal:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{where} is not an Amazon Money object", field=where)
    code = value.get("currencyCode", value.get("CurrencyCode"))
    amount = value.get("amount", value.get("Amount"))
    if code != currency:
        raise ValidationFailed(f"{where} is in {code}, the order in {currency}", field=where)
    return payloads.amount(amount, where)


def _address_2026(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, Mapping):
        return None
    line = ", ".join(
        str(address.get(k))
        for k in ("addressLine1", "addressLine2", "addressLine3")
        if address.get(k)
    )
    return {
        "name": str(address.get("name") or "")[:200],
        "line1": line[:300],
        "city": str(address.get("city") or "")[:120],
        "postal_code": str(address.get("postalCode") or "")[:32],
        "country": str(address.get("countryCode") or "")[:2],
    }


def _address_v0(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, Mapping):
        return None
    line = ", ".join(
        str(address.get(k))
        for k in ("AddressLine1", "AddressLine2", "AddressLine3")
        if address.get(k)
    )
    return {
        "name": str(address.get("Name") or "")[:200],
        "line1": line[:300],
        "city": str(address.get("City") or "")[:120],
        "postal_code": str(address.get("PostalCode") or "")[:32],
        "country": str(address.get("CountryCode") or "")[:2],
    }


def _unauthorized(response: httpx.Response) -> bool:
    """Amazon's answer to a missing, expired or revoked access token."""
    if response.status_code == 401:
        return True
    try:
        errors = response.json().get("errors", [])
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, Mapping) and e.get("code") == "Unauthorized" for e in errors)


def _listing_path(connection: Connection, sku: str) -> str:
    seller = quote(_option(connection, "seller_id"), safe="")
    return f"/listings/2021-08-01/items/{seller}/{quote(sku, safe='')}"


def _option(connection: Connection, name: str) -> str:
    value = connection.options.get(name, "")
    if not value:
        raise VendorRefused(f"the Amazon connector needs the option {name}")
    return value


def _marketplaces(connection: Connection) -> str:
    ids = [m.strip() for m in _option(connection, "marketplace_ids").split(",") if m.strip()]
    return ",".join(ids)


def _api(connection: Connection) -> str:
    api = connection.options.get("orders_api", NEW_API)
    if api not in (NEW_API, "v0"):
        raise VendorRefused(f"orders_api is {NEW_API} or v0, not {api!r}")
    return api


def _page_size(connection: Connection) -> int:
    return min(max(int(_seconds(connection, "page_size", 100)), 1), 100)


def _seconds(connection: Connection, name: str, default: float) -> float:
    value = connection.options.get(name)
    if value is None or value == "":
        return default
    number = _positive(value)
    if number is None and value.strip() not in ("0", "0.0"):
        raise VendorRefused(f"the Amazon option {name} must be a number of seconds, not {value!r}")
    return number or 0.0


def _positive(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(value: Any, where: str) -> str:
    found = payloads.ident(value, where)
    assert found is not None  # ident raises when a required id is missing
    return found
