"""The connectors benchmark's world: a merchant with one store, the four webhook vendors'
simulators on loopback (each connected to a channel of its own), and the webhooks each
vendor sends.

Every channel sells from the one store (the web shops ship from it, Square's tills sell
at it), so a unit held or sold anywhere changes the figure every vendor should hold. Two
sets of SKUs: the `MOVE-` ones only the benchmark's stock changes touch (holds on
Omnicart's own web shop: their figures are known exactly, so the time until a vendor
holds each is measured), the `ORD-` ones the vendors' own orders sell. Nothing puts
stock back during a run, so every figure only goes down: a vendor receiving a figure
above one it already received got a stale one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import httpx
import orjson
from sqlalchemy import insert, select

from omnicart.auth.service import create_api_key
from omnicart.benchmarks.connectors_clients import Hook
from omnicart.catalog.tables import Listing, Product, Variant
from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.connectors import service
from omnicart.connectors.simulators.bigcommerce import BigCommerceSimulator, SimLine
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.shopify import ShopifySimulator
from omnicart.connectors.simulators.square import SquareLine, SquareSimulator
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.db.engine import Database
from omnicart.inventory.stock import receive_stock
from omnicart.kernel.clock import utcnow
from omnicart.locations.tables import Location

STOCK = 1_000_000  # units of every SKU: nothing sells out, every figure stays distinct
PRICE = Decimal("10.00")
CURRENCY = "EUR"
STORE = "store"
VENDORS = ("shopify", "woocommerce", "bigcommerce", "square")
REDELIVERED = 0.1  # share of deliveries that are a vendor sending one again (same id)
UPDATED = 0.1  # share that are an update of an order sent before (a new delivery id)

# (monotonic time, SKU, figure): a figure a vendor simulator took.
Taken = tuple[float, str, int]


def moving_sku(n: int) -> str:
    """The n-th SKU only the benchmark's stock changes touch."""
    return f"MOVE-{n:04d}"


def order_sku(n: int) -> str:
    """The n-th SKU the vendors' orders sell."""
    return f"ORD-{n:04d}"


@dataclass(frozen=True, slots=True)
class Merchant:
    """Ids of the seeded merchant and its admin key."""

    store_id: int
    own_channel: int  # Omnicart's own web shop, whose checkouts are the stock changes
    channels: dict[str, int]  # vendor -> the channel its connector sells for
    key: str


def seed(db: Database, *, skus: Sequence[str]) -> Merchant:
    """One store serving every channel, the SKUs listed everywhere, STOCK units of each."""
    now = utcnow()
    with db.transaction() as session:
        store = Location(
            code=STORE,
            name="Store",
            kind="store",
            ships=True,
            pickup=True,
            ship_from_store=True,
            priority=0,
            active=True,
            created_at=now,
        )
        session.add(store)
        session.flush()
        kinds = {"shopify": "web", "woocommerce": "web", "bigcommerce": "web", "square": "pos"}
        channels: dict[str, Channel] = {}
        for code, kind in (*kinds.items(), ("web", "web")):
            channels[code] = Channel(
                code=code,
                name=code.title(),
                kind=kind,
                currency=CURRENCY,
                buffer_percent_shown=100,
                buffer_units=0,
                active=True,
                created_at=now,
            )
            session.add(channels[code])
        session.flush()
        session.add_all(
            ChannelLocation(
                channel_id=row.id,
                location_id=store.id,
                mode="pickup" if row.kind == "pos" else "ship",
            )
            for row in channels.values()
        )
        conn = session.connection()
        conn.execute(
            insert(Product),
            [
                {
                    "handle": sku.lower(),
                    "title": sku,
                    "description": "",
                    "attributes": {},
                    "created_at": now,
                }
                for sku in skus
            ],
        )
        products = dict(session.execute(select(Product.handle, Product.id)).all())
        conn.execute(
            insert(Listing),
            [
                {"channel_id": row.id, "product_id": product, "listed": True}
                for row in channels.values()
                for product in products.values()
            ],
        )
        conn.execute(
            insert(Variant),
            [
                {
                    "product_id": products[sku.lower()],
                    "sku": sku,
                    "title": sku,
                    "attributes": {},
                    "is_bundle": False,
                    "created_at": now,
                }
                for sku in skus
            ],
        )
        key = create_api_key(session, name="bench", role="admin").secret
        merchant = Merchant(
            store_id=store.id,
            own_channel=channels["web"].id,
            channels={vendor: channels[vendor].id for vendor in VENDORS},
            key=key,
        )
    receive_stock(db, location_id=merchant.store_id, lines=[(sku, STOCK) for sku in skus])
    return merchant


# --- the vendors ---------------------------------------------------------------------


class Vendor(Protocol):
    """A vendor simulator as the benchmark drives it."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def add(self, sku: str, index: int) -> None: ...

    def draft(self, channel_id: int) -> service.ConnectorDraft: ...

    def webhook_options(self, url: str) -> dict[str, str]: ...

    def held(self, sku: str) -> int | None: ...

    def taken(self) -> list[Taken]: ...

    def order(
        self, number: int, lines: Sequence[tuple[str, int]], *, version: int
    ) -> tuple[str, str, bytes, dict[str, str]]: ...


def _draft(channel_id: int, spec: dict[str, Any]) -> service.ConnectorDraft:
    return service.ConnectorDraft(
        channel_id=channel_id,
        vendor=spec["vendor"],
        credentials=spec["credentials"],
        options=spec["options"],
        base_url=spec["base_url"],
    )


def _at(version: int) -> datetime:
    """When version `version` of an order was made: each one a second after the last."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=version)


class ShopifyVendor:
    """A Shopify store; its own `sets` are the figures it took."""

    name = "shopify"

    def __init__(self) -> None:
        self.sim = ShopifySimulator(currency=CURRENCY)

    def start(self) -> None:
        """Serve on loopback."""
        self.sim.start()

    def stop(self) -> None:
        """Stop serving."""
        self.sim.stop()

    def add(self, sku: str, index: int) -> None:
        """A product of one variant for the SKU."""
        self.sim.add_product(sku, price=str(PRICE), available=0)

    def draft(self, channel_id: int) -> service.ConnectorDraft:
        """The connector of the store."""
        return _draft(channel_id, self.sim.connector())

    def webhook_options(self, url: str) -> dict[str, str]:
        """Nothing: Shopify signs the body only."""
        return {}

    def held(self, sku: str) -> int | None:
        """What the store shows available."""
        return self.sim.available(sku)

    def taken(self) -> list[Taken]:
        """Every level set so far."""
        return list(self.sim.sets)

    def order(
        self, number: int, lines: Sequence[tuple[str, int]], *, version: int
    ) -> tuple[str, str, bytes, dict[str, str]]:
        """orders/create (version 0) or orders/updated: (delivery id, order id, body, headers)."""
        order_id = 100_000 + number
        payload = self.sim.order_payload(order_id, list(lines), updated_at=_at(version))
        topic = "orders/updated" if version else "orders/create"
        delivery_id = f"shopify-{order_id}-{version}"
        body, headers = self.sim.webhook(topic, payload, webhook_id=delivery_id)
        return delivery_id, str(order_id), body, headers


class WooCommerceVendor:
    """A WooCommerce shop; its own `sets` are the figures it took."""

    name = "woocommerce"

    def __init__(self) -> None:
        self.sim = WooCommerceSimulator(currency=CURRENCY)

    def start(self) -> None:
        """Serve on loopback."""
        self.sim.start()

    def stop(self) -> None:
        """Stop serving."""
        self.sim.stop()

    def add(self, sku: str, index: int) -> None:
        """A simple product for the SKU."""
        self.sim.add_product(sku, price=str(PRICE), stock=0)

    def draft(self, channel_id: int) -> service.ConnectorDraft:
        """The connector of the shop."""
        return _draft(channel_id, self.sim.connector())

    def webhook_options(self, url: str) -> dict[str, str]:
        """Nothing: WooCommerce signs the body only."""
        return {}

    def held(self, sku: str) -> int | None:
        """The shop's stock quantity."""
        return self.sim.stock(sku)

    def taken(self) -> list[Taken]:
        """Every stock quantity set so far."""
        return list(self.sim.sets)

    def order(
        self, number: int, lines: Sequence[tuple[str, int]], *, version: int
    ) -> tuple[str, str, bytes, dict[str, str]]:
        """order.created (version 0) or order.updated: (delivery id, order id, body, headers)."""
        order_id = 200_000 + number
        payload = self.sim.order_payload(order_id, list(lines), modified=_at(version))
        topic = "order.updated" if version else "order.created"
        delivery_id = f"woo-{order_id}-{version}"
        body, headers = self.sim.webhook(topic, payload, delivery_id=delivery_id)
        return delivery_id, str(order_id), body, headers


class _Recorder:
    """ASGI middleware noting, when a stock push is answered 2xx, each figure it set (the
    BigCommerce and Square simulators keep only their latest counts)."""

    def __init__(
        self, app: Any, *, path: str, figures: Callable[[Any], list[tuple[str, int]]]
    ) -> None:
        self.app = app
        self.path = path
        self.figures = figures
        self.sets: list[Taken] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(self.path):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def receiving() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                at = time.monotonic()
                found = self.figures(orjson.loads(b"".join(chunks)))
                self.sets.extend((at, sku, units) for sku, units in found)
            await send(message)

        await self.app(scope, receiving, sending)


class BigCommerceVendor:
    """A BigCommerce store (light webhooks: Omnicart fetches the order)."""

    name = "bigcommerce"

    def __init__(self) -> None:
        self.sim = BigCommerceSimulator()
        self.recorder = _Recorder(
            self.sim.app, path="/v3/inventory/adjustments/absolute", figures=self._figures
        )
        self.server = LoopbackServer(self.recorder)
        self.variants: dict[str, tuple[int, int]] = {}  # sku -> (product id, variant id)

    def _figures(self, body: Any) -> list[tuple[str, int]]:
        return [
            (self.sim.variants[item["variant_id"]]["sku"], int(item["quantity"]))
            for item in body.get("items", [])
            if "variant_id" in item
        ]

    def start(self) -> None:
        """Serve on loopback."""
        self.server.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def add(self, sku: str, index: int) -> None:
        """A catalog variant for the SKU."""
        ids = (50_000 + index, 70_000 + index)
        self.variants[sku] = ids
        self.sim.add_variant(variant_id=ids[1], product_id=ids[0], sku=sku, price=PRICE)

    def draft(self, channel_id: int) -> service.ConnectorDraft:
        """The connector of the store (its inventory at location 1)."""
        return service.ConnectorDraft(
            channel_id=channel_id,
            vendor="bigcommerce",
            credentials={
                "client_secret": self.sim.client_secret,
                "access_token": self.sim.access_token,
            },
            options={"store_hash": self.sim.store_hash, "location_id": "1"},
            base_url=self.sim.api_root(self.server.url),
        )

    def webhook_options(self, url: str) -> dict[str, str]:
        """Nothing: Standard Webhooks sign the body only."""
        return {}

    def held(self, sku: str) -> int | None:
        """The on-hand count pushed for the SKU's variant."""
        return self.sim.stock(self.variants[sku][1])

    def taken(self) -> list[Taken]:
        """Every count set so far."""
        return list(self.recorder.sets)

    def order(
        self, number: int, lines: Sequence[tuple[str, int]], *, version: int
    ) -> tuple[str, str, bytes, dict[str, str]]:
        """The order in the store and store/order/created (version 0) or .../updated."""
        order_id = 300_000 + number
        if not version:
            self.sim.add_order(
                order_id,
                [
                    SimLine(*self.variants[sku], sku=sku, quantity=quantity, price=PRICE)
                    for sku, quantity in lines
                ],
                currency=CURRENCY,
            )
        scope = "store/order/updated" if version else "store/order/created"
        delivery_id = f"msg_bc_{order_id}_{version}"
        headers, body = self.sim.webhook(scope, order_id, message_id=delivery_id)
        return delivery_id, str(order_id), body, headers


class SquareVendor:
    """A Square seller whose tills sell at the store (light webhooks: Omnicart fetches)."""

    name = "square"

    def __init__(self) -> None:
        self.sim = SquareSimulator()
        self.recorder = _Recorder(
            self.sim.app, path="/v2/inventory/changes/batch-create", figures=self._figures
        )
        self.server = LoopbackServer(self.recorder)
        self.variations: dict[str, str] = {}
        self.webhook_url = ""

    def _figures(self, body: Any) -> list[tuple[str, int]]:
        found = []
        for change in body.get("changes", []):
            count = change["physical_count"]
            data = self.sim.catalog[count["catalog_object_id"]]["item_variation_data"]
            found.append((data["sku"], int(count["quantity"])))
        return found

    def start(self) -> None:
        """Serve on loopback."""
        self.server.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def add(self, sku: str, index: int) -> None:
        """A catalog item variation for the SKU."""
        self.variations[sku] = f"VAR-{index}"
        self.sim.add_variation(
            self.variations[sku], sku=sku, price=int(PRICE * 100), currency=CURRENCY
        )

    def draft(self, channel_id: int) -> service.ConnectorDraft:
        """The connector of the seller, selling at the store."""
        return service.ConnectorDraft(
            channel_id=channel_id,
            vendor="square",
            credentials={
                "access_token": self.sim.access_token,
                "signature_key": self.sim.signature_key,
            },
            options={
                "location_id": self.sim.location_id,
                "store": STORE,
            },
            base_url=self.server.url,
        )

    def webhook_options(self, url: str) -> dict[str, str]:
        """Square signs the URL it posts to with the body: the subscription's URL."""
        self.webhook_url = url
        return {"notification_url": url}

    def held(self, sku: str) -> int | None:
        """The IN_STOCK count Square holds."""
        return self.sim.count(self.variations[sku])

    def taken(self) -> list[Taken]:
        """Every count set so far."""
        return list(self.recorder.sets)

    def order(
        self, number: int, lines: Sequence[tuple[str, int]], *, version: int
    ) -> tuple[str, str, bytes, dict[str, str]]:
        """A till sale in Square and order.created (version 0) or order.updated."""
        order_id = f"BENCHSQ{number:07d}"
        if not version:
            self.sim.add_order(
                order_id,
                [
                    SquareLine(self.variations[sku], quantity, int(PRICE * 100))
                    for sku, quantity in lines
                ],
                currency=CURRENCY,
            )
        body = self.sim.event(order_id, "order.updated" if version else "order.created")
        delivery_id = str(orjson.loads(body)["event_id"])
        return delivery_id, order_id, body, self.sim.signed(self.webhook_url, body)


def vendors() -> list[Vendor]:
    """One simulator of each webhook vendor, not started."""
    return [ShopifyVendor(), WooCommerceVendor(), BigCommerceVendor(), SquareVendor()]


def connect(
    db: Database, vendor: Vendor, *, channel_id: int, webhook_base: str, skus: Sequence[str]
) -> int:
    """The vendor's products for `skus`, its connector, and the catalog mapped by SKU
    (which queues every figure); the connector's id."""
    for index, sku in enumerate(skus):
        vendor.add(sku, index)
    view = service.add_connector(db, draft=vendor.draft(channel_id))
    options = vendor.webhook_options(f"{webhook_base}{webhook_path(view.id)}")
    if options:
        service.update_connector(db, connector_id=view.id, options=options)
    with httpx.Client(timeout=30) as http:
        report = service.match_mapping(db, connector_id=view.id, http=http)
    if report.unmatched or report.matched != len(skus):
        raise RuntimeError(f"{vendor.name}: {report.matched} of {len(skus)} SKUs mapped")
    return view.id


def webhook_path(connector_id: int) -> str:
    """Omnicart's webhook route of a connector."""
    return f"/v1/connectors/{connector_id}/webhooks"


def hooks(
    vendor: Vendor, *, connector_id: int, count: int, skus: Sequence[str], seed: int
) -> list[Hook]:
    """`count` deliveries as the vendor sends them: new orders of 1-2 lines of `skus`,
    some sent again, and updates of earlier orders (the same lines, a newer version)."""
    rng = random.Random(seed)
    made: list[Hook] = []
    orders: list[tuple[int, list[tuple[str, int]], int]] = []  # number, lines, versions
    path = webhook_path(connector_id)
    for _ in range(count):
        roll = rng.random()
        if made and roll < REDELIVERED:
            made.append(replace(rng.choice(made[-20:]), repeat=True))
            continue
        if orders and roll < REDELIVERED + UPDATED:
            at = rng.randrange(max(0, len(orders) - 50), len(orders))
            number, lines, versions = orders[at]
            orders[at] = (number, lines, versions + 1)
            version = versions
        else:
            picked = rng.sample(list(skus), rng.randint(1, 2))
            lines = [(sku, rng.randint(1, 2)) for sku in sorted(picked)]
            number = len(orders)
            orders.append((number, lines, 1))
            version = 0
        delivery_id, external_id, body, headers = vendor.order(number, lines, version=version)
        made.append(Hook(vendor.name, path, delivery_id, external_id, body, tuple(headers.items())))
    return made
