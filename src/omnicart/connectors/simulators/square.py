"""A Square seller on loopback: the Orders, Inventory and Catalog endpoints the adapter
calls, and `order.created` / `order.updated` webhooks signed over URL + body.

Orders come from Square's published examples (`shared/data/webhooks/square`), and
`add_order` makes till sales from the same templates with figures that add up. Inventory
holds a physical count per (variation, location) and, as Square does, a count that
occurred before the one it holds does not replace it. `trouble` answers 429 or 500.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnicart.connectors.simulators.trouble import Trouble, guarded
from omnicart.connectors.square import SIGNATURE_HEADER, signature

DATA: Final = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "webhooks"
ORDER_FILES: Final = (
    "create-order-response.example.json",
    "retrieve-order-response.example.json",
    "update-order-response.example.json",
    "pay-order-response.example.json",
)


@dataclass(frozen=True, slots=True)
class SquareLine:
    """A line of a till sale `add_order` makes; amounts in minor units."""

    variation_id: str
    quantity: int
    unit: int
    tax: int = 0
    discount: int = 0
    name: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


class SquareSimulator:
    """One seller account. Thread-safe: the server runs in a thread while a test drives it."""

    def __init__(
        self,
        *,
        access_token: str = "sq-access-token",  # noqa: S107 -- the simulator's own
        signature_key: str = "sq-signature-key",
        location_id: str = "SIMLOC1",
        merchant_id: str = "SIMMERCHANT1",
        data_dir: Path | None = None,
    ) -> None:
        self.access_token = access_token
        self.signature_key = signature_key
        self.location_id = location_id
        self.merchant_id = merchant_id
        self.trouble = Trouble()
        self.page_size = 100
        self._lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.catalog: dict[str, dict[str, Any]] = {}
        self.counts: dict[tuple[str, str], tuple[int, str]] = {}  # -> (units, occurred_at)
        self.changes: list[dict[str, Any]] = []
        self._replies: dict[str, Any] = {}  # idempotency key -> answer
        self._data = data_dir if data_dir is not None else DATA / "square"
        self.app = Starlette(routes=self._routes())

    # --- what tests and the demo drive -------------------------------------------

    @property
    def published(self) -> bool:
        """Whether Square's published examples were found."""
        return self._data.is_dir()

    def fail(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer `status` to the next `count` API requests, or for `seconds`."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self.trouble.start(status, count=count, seconds=seconds, headers=headers)

    def load_published_orders(self) -> list[str]:
        """Serve every published order (the placeholder ones too); their ids."""
        found = [self._read(name)["order"] for name in ORDER_FILES]
        found += self._read("batch-retrieve-orders-response.example.json")["orders"]
        found.append(self._read("order.example.json"))
        for order in found:
            self.put_order(order)
        return [order["id"] for order in found]

    def put_order(self, order: dict[str, Any]) -> None:
        """Serve `order` as it is (published orders share ids: the last one put wins)."""
        with self._lock:
            self.orders[order["id"]] = copy.deepcopy(order)

    def add_variation(
        self, variation_id: str, *, sku: str, price: int, currency: str = "USD", upc: str = ""
    ) -> None:
        """A catalog item variation (what order lines name, what stock and prices set)."""
        with self._lock:
            self.catalog[variation_id] = {
                "type": "ITEM_VARIATION",
                "id": variation_id,
                "version": 1,
                "is_deleted": False,
                "present_at_all_locations": True,
                "item_variation_data": {
                    "item_id": f"ITEM-{variation_id}",
                    "name": sku,
                    "sku": sku,
                    "upc": upc,
                    "pricing_type": "FIXED_PRICING",
                    "price_money": _money(price, currency),
                    "track_inventory": True,
                },
            }

    def add_order(
        self,
        order_id: str,
        lines: Sequence[SquareLine],
        *,
        state: str = "COMPLETED",
        currency: str = "USD",
    ) -> dict[str, Any]:
        """A till sale whose figures add up, paid in cash when completed."""
        with self._lock:
            order = {
                "id": order_id,
                "location_id": self.location_id,
                "source": {"name": "Square Point of Sale"},
                "created_at": _now(),
                "version": 0,
            }
            self.orders[order_id] = order
            self._set_lines(order, lines, currency)
            self._bump(order, state)
            return copy.deepcopy(order)

    def update_order(
        self, order_id: str, *, state: str | None = None, lines: Sequence[SquareLine] | None = None
    ) -> dict[str, Any]:
        """Change an order (its version and updated_at move on)."""
        with self._lock:
            order = self.orders[order_id]
            if lines is not None:
                self._set_lines(order, lines, order["total_money"]["currency"])
            self._bump(order, state or order["state"])
            return copy.deepcopy(order)

    def count(self, variation_id: str, location_id: str | None = None) -> int | None:
        """The IN_STOCK count Square holds for a variation (None: never counted)."""
        with self._lock:
            found = self.counts.get((variation_id, location_id or self.location_id))
            return None if found is None else found[0]

    def price(self, variation_id: str) -> int:
        """A variation's price in minor units."""
        with self._lock:
            data = self.catalog[variation_id]["item_variation_data"]
            return int(data["price_money"]["amount"])

    def event(self, order_id: str, event_type: str = "order.updated") -> bytes:
        """The body of an `order.created` / `order.updated` event for the order."""
        name = event_type.replace(".", "_")
        with self._lock:
            order = self.orders[order_id]
            data_object = copy.deepcopy(self._event_template(event_type))
            data_object.update(
                {
                    "order_id": order_id,
                    "version": order.get("version", 1),
                    "location_id": order.get("location_id", self.location_id),
                    "state": order.get("state", "OPEN"),
                    "created_at": order.get("created_at", _now()),
                }
            )
            if event_type == "order.updated":
                data_object["updated_at"] = order.get("updated_at", _now())
        event = {
            "merchant_id": self.merchant_id,
            "type": event_type,
            "event_id": str(uuid.uuid4()),
            "created_at": _now(),
            "data": {"type": name, "id": order_id, "object": {name: data_object}},
        }
        return json.dumps(event).encode()

    def signed(self, url: str, body: bytes) -> dict[str, str]:
        """The headers Square sends with `body` posted to `url`."""
        return {
            SIGNATURE_HEADER: signature(key=self.signature_key, url=url, body=body),
            "content-type": "application/json",
        }

    def send(
        self,
        url: str,
        order_id: str,
        event_type: str = "order.updated",
        *,
        http: httpx.Client | None = None,
    ) -> httpx.Response:
        """POST a signed event for the order to Omnicart's notification URL."""
        body = self.event(order_id, event_type)
        headers = self.signed(url, body)
        if http is not None:
            return http.post(url, content=body, headers=headers)
        with httpx.Client(timeout=30) as client:
            return client.post(url, content=body, headers=headers)

    # --- the API ------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        def api(path: str, handler: Any, methods: list[str]) -> Route:
            return Route(
                path, guarded(self.trouble, self._authorised(handler), _error_body), methods=methods
            )

        return [
            api("/v2/orders/batch-retrieve", self._batch_retrieve, ["POST"]),
            api("/v2/orders/{order_id}", self._retrieve, ["GET"]),
            api("/v2/inventory/changes/batch-create", self._change_inventory, ["POST"]),
            api("/v2/inventory/counts/batch-retrieve", self._read_counts, ["POST"]),
            api("/v2/catalog/batch-retrieve", self._catalog_read, ["POST"]),
            api("/v2/catalog/batch-upsert", self._catalog_upsert, ["POST"]),
            api("/v2/catalog/list", self._catalog_list, ["GET"]),
        ]

    def _authorised(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                return _errors(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "bad access token")
            response: Response = await handler(request)
            return response

        return endpoint

    async def _batch_retrieve(self, request: Request) -> Response:
        body = await request.json()
        ids = body.get("order_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            return _errors(400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "order_ids")
        with self._lock:
            orders = [copy.deepcopy(self.orders[i]) for i in ids if i in self.orders]
        return JSONResponse({"orders": orders})

    async def _retrieve(self, request: Request) -> Response:
        with self._lock:
            order = self.orders.get(request.path_params["order_id"])
            if order is None:
                return _errors(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "no such order")
            return JSONResponse({"order": copy.deepcopy(order)})

    async def _change_inventory(self, request: Request) -> Response:
        body = await request.json()
        key = body.get("idempotency_key") if isinstance(body, dict) else None
        changes = body.get("changes") if isinstance(body, dict) else None
        if not key or not isinstance(changes, list) or not 1 <= len(changes) <= 100:
            return _errors(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "changes (1 to 100)")
        with self._lock:
            if key in self._replies:
                return JSONResponse(self._replies[key])
            for change in changes:
                count = (
                    change.get("physical_count") if change.get("type") == "PHYSICAL_COUNT" else None
                )
                if (
                    not isinstance(count, dict)
                    or count.get("catalog_object_id") not in self.catalog
                ):
                    return _errors(400, "INVALID_REQUEST_ERROR", "NOT_FOUND", "catalog_object_id")
                if count.get("state") != "IN_STOCK" or not str(count.get("quantity", "")).isdigit():
                    return _errors(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "quantity")
            touched = []
            for change in changes:
                count = change["physical_count"]
                at = (count["catalog_object_id"], count.get("location_id") or self.location_id)
                held = self.counts.get(at)
                occurred = str(count.get("occurred_at") or _now())
                if held is None or occurred >= held[1]:  # an older count does not replace
                    self.counts[at] = (int(count["quantity"]), occurred)
                self.changes.append(copy.deepcopy(change))
                touched.append(at)
            answer = {"counts": [self._count(at) for at in dict.fromkeys(touched)]}
            self._replies[key] = answer
        return JSONResponse(answer)

    async def _read_counts(self, request: Request) -> Response:
        body = await request.json()
        ids = set(body.get("catalog_object_ids") or [])
        locations = set(body.get("location_ids") or [self.location_id])
        start = int(body.get("cursor") or 0)
        with self._lock:
            found = [
                self._count(at)
                for at in sorted(self.counts)
                if (not ids or at[0] in ids) and at[1] in locations
            ]
        page = found[start : start + self.page_size]
        answer: dict[str, Any] = {"counts": page}
        if start + self.page_size < len(found):
            answer["cursor"] = str(start + self.page_size)
        return JSONResponse(answer)

    async def _catalog_read(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            objects = [
                copy.deepcopy(self.catalog[i])
                for i in body.get("object_ids", [])
                if i in self.catalog
            ]
        return JSONResponse({"objects": objects})

    async def _catalog_upsert(self, request: Request) -> Response:
        body = await request.json()
        objects = [o for batch in body.get("batches", []) for o in batch.get("objects", [])]
        with self._lock:
            for obj in objects:
                held = self.catalog.get(obj.get("id"))
                if held is None:
                    return _errors(400, "INVALID_REQUEST_ERROR", "NOT_FOUND", str(obj.get("id")))
                if obj.get("version") != held["version"]:
                    return _errors(400, "INVALID_REQUEST_ERROR", "VERSION_MISMATCH", str(obj["id"]))
            for obj in objects:
                stored = copy.deepcopy(obj)
                stored["version"] = self.catalog[obj["id"]]["version"] + 1
                self.catalog[obj["id"]] = stored
            answer = [copy.deepcopy(self.catalog[o["id"]]) for o in objects]
        return JSONResponse({"objects": answer, "id_mappings": []})

    async def _catalog_list(self, request: Request) -> Response:
        start = int(request.query_params.get("cursor") or 0)
        with self._lock:
            found = [copy.deepcopy(o) for _, o in sorted(self.catalog.items())]
        answer: dict[str, Any] = {"objects": found[start : start + self.page_size]}
        if start + self.page_size < len(found):
            answer["cursor"] = str(start + self.page_size)
        return JSONResponse(answer)

    # --- building orders ------------------------------------------------------------

    def _set_lines(self, order: dict[str, Any], lines: Sequence[SquareLine], currency: str) -> None:
        items: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            gross = line.unit * line.quantity
            items.append(
                {
                    "uid": f"{order['id']}-{index + 1}",
                    "name": line.name or line.variation_id,
                    "quantity": str(line.quantity),
                    "catalog_object_id": line.variation_id,
                    "base_price_money": _money(line.unit, currency),
                    "variation_total_price_money": _money(gross, currency),
                    "gross_sales_money": _money(gross, currency),
                    "total_discount_money": _money(line.discount, currency),
                    "total_tax_money": _money(line.tax, currency),
                    "total_service_charge_money": _money(0, currency),
                    "total_money": _money(gross - line.discount + line.tax, currency),
                }
            )
        total = sum(line.unit * line.quantity - line.discount + line.tax for line in lines)
        order.update(
            {
                "line_items": items,
                "taxes": [
                    {
                        "uid": "sales-tax",
                        "name": "Sales Tax",
                        "type": "ADDITIVE",
                        "scope": "LINE_ITEM",
                    }
                ],
                "total_money": _money(total, currency),
                "total_tax_money": _money(sum(line.tax for line in lines), currency),
                "total_discount_money": _money(sum(line.discount for line in lines), currency),
                "total_tip_money": _money(0, currency),
                "total_service_charge_money": _money(0, currency),
            }
        )

    def _bump(self, order: dict[str, Any], state: str) -> None:
        previous = order.get("updated_at")
        now = datetime.now(UTC)
        if previous and now.isoformat() <= previous.replace("Z", "+00:00"):
            now = datetime.fromisoformat(previous.replace("Z", "+00:00")) + timedelta(
                milliseconds=1
            )
        order["updated_at"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        order["version"] = int(order.get("version", 0)) + 1
        order["state"] = state
        if state == "COMPLETED":
            order["closed_at"] = order["updated_at"]
            order["tenders"] = [
                {
                    "id": f"TENDER-{order['id']}",
                    "location_id": order["location_id"],
                    "type": "CASH",
                    "amount_money": copy.deepcopy(order["total_money"]),
                }
            ]

    def _count(self, at: tuple[str, str]) -> dict[str, Any]:
        units, _ = self.counts[at]
        return {
            "catalog_object_id": at[0],
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": at[1],
            "quantity": str(units),
            "calculated_at": _now(),
        }

    def _event_template(self, event_type: str) -> dict[str, Any]:
        name = (
            "order-created.example.json"
            if event_type == "order.created"
            else "order-updated.example.json"
        )
        if self.published:
            loaded: dict[str, Any] = self._read(name)
            return loaded
        return {}

    def _read(self, name: str) -> Any:
        return json.loads((self._data / name).read_text())


def _errors(status: int, category: str, code: str, detail: str) -> Response:
    return JSONResponse(
        {"errors": [{"category": category, "code": code, "detail": detail}]}, status_code=status
    )


def _error_body(status: int) -> object:
    if status == 429:
        return {
            "errors": [
                {"category": "RATE_LIMIT_ERROR", "code": "RATE_LIMITED", "detail": "slow down"}
            ]
        }
    return {
        "errors": [
            {"category": "API_ERROR", "code": "INTERNAL_SERVER_ERROR", "detail": "simulated"}
        ]
    }
