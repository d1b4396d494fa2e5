"""The world the authorization table runs in: a small merchant with one object of every
kind the routes act on, API keys of every kind of caller, and a valid request for every
operation of the OpenAPI document.

Two sides: "own" is channel A and store S1 with their objects, "other" is channel B and
store S2 with theirs; the callers `own_channel` and `own_staff` belong to the own side,
`other_channel` and `other_staff` to the other, `read_only` is channel A's, `analyst` an
analyst's key (no channel, no store). The
world is seeded once into a SQLite template file (`make_template`); each case runs on a
copy of it (`copy_world`) by pointing one long-lived app at the copy (`use_database`).
`harness()` does all of that: `Harness.fresh()` gives a case its copy, `Harness.send()`
sends a request as one of `CALLERS`, and `snapshot()` shows whether any table changed.

Every request in `REQUESTS` succeeds with its `success` status when the admin key sends
it on a fresh copy; tests/api/test_authz_world.py proves that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import inspect

from omnicart.app import create_app
from omnicart.auth.service import DEFAULT_SCOPES, create_api_key
from omnicart.connectors import inbox
from omnicart.connectors.calls import vendor_http
from omnicart.customers.linking import sync_customers
from omnicart.db.engine import Database
from omnicart.db.migrate import upgrade
from omnicart.settings import Settings
from omnicart.tracking.ingest import Ingestor, WriteKeys
from omnicart.webhooks.delivery import WebhookSender

Target = Literal["own", "other"]
TARGETS: tuple[Target, Target] = ("own", "other")
ADMIN_SECRET = "oc_authz_admin_secret"
WRONG_SECRET = "oc_authz_no_such_key"
PRICE = "20.00"
# The world's reservations outlive any test run: a copy is used long after the template
# was built, and a lapsed hold would change what the cases see. (A cart's hold lasts the
# shop's default, 15 minutes from the build; its checkout places the units again anyway.)
HOLD_SECONDS = 7 * 24 * 3600
CONNECTOR_SECRET = "authz-webhook-secret"


Caller = Literal[
    "none",
    "wrong",
    "admin",
    "own_channel",
    "other_channel",
    "own_staff",
    "other_staff",
    "read_only",
    "analyst",
]
CALLERS: tuple[Caller, ...] = get_args(Caller)


@dataclass(frozen=True)
class Keys:
    """The secrets of every kind of caller (`wrong` exists nowhere)."""

    admin: str
    own_channel: str
    other_channel: str
    own_staff: str
    other_staff: str
    read_only: str
    analyst: str
    wrong: str = WRONG_SECRET

    def secret(self, caller: Caller) -> str | None:
        """The caller's secret; None for "none", who sends no key at all."""
        return None if caller == "none" else str(getattr(self, caller))


@dataclass(frozen=True)
class Side:
    """One side's channel, store and objects ("own": channel A and store S1)."""

    channel_id: int  # a web channel: ships from the store (then the warehouse), pickups there
    store_id: int
    product_id: int  # listed and priced on both web channels and the POS channel
    sku: str
    bundle_sku: str  # a variant with no stock and no orders, free to become a bundle
    write_key: str  # of the channel's tracking source
    customer_email: str
    customer_id: int  # bought on the channel; has consents, points and a conversation
    conversation_id: int  # the customer's open case, through the channel
    external_order_id: int  # unpaid ("pending"), its unit allocated at the store
    confirmed_order_id: int  # paid, its unit allocated at the store, nothing shipped
    cart_id: int  # open, holding one unit of the channel
    pickup_order_id: int  # paid, to be picked up at the store, not yet ready
    ready_order_id: int  # paid pickup order at the store, marked ready
    pickup_code: str  # of ready_order_id
    till_sale_id: int  # a POS sale at the store
    fulfilled_order_id: int  # paid, shipped from the store, nothing returned
    returned_order_id: int  # paid, 3 units shipped from the store, two returns opened
    open_return_id: int  # one unit of returned_order_id, not yet received
    received_return_id: int  # one unit received (restocked) at the store, not refunded
    reservation_id: int  # live, held at the store
    allocation_id: int  # allocated, held at the store
    # In transit from the other store to this one, as staff receive where it arrives:
    # own.transfer_id goes S2 -> S1, other.transfer_id S1 -> S2.
    transfer_id: int
    spare_key_id: int  # a channel key of the channel that no caller uses (to revoke)
    feed_token: str  # a live product feed token of the channel
    feed_token_id: int


@dataclass(frozen=True)
class World:
    """Ids and secrets of the seeded merchant."""

    warehouse_id: int
    pos_channel_id: int
    own: Side
    other: Side
    keys: Keys
    erasure_id: int  # a third person, erased (not a side's: erasure is the merchant's)
    # A webhook subscription to a port nobody listens on; its deliveries are dead letters.
    webhook_subscription_id: int
    webhook_delivery_id: int
    # Channel A's WooCommerce connector (its vendor unreachable), and a delivery of it
    # parked for an unknown product.
    connector_id: int
    connector_delivery_id: int

    def side(self, target: Target) -> Side:
        """The side a request aims at."""
        return self.own if target == "own" else self.other


@dataclass(frozen=True)
class RequestSpec:
    """A concrete request and what the admin gets for it on a fresh copy of the world."""

    path: str
    success: int
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    # Whether the admin's success changes the database. The tracking calls are writes
    # that change none: their events go to the spool of the event store, not to tables.
    # None: it may (an analytics read first lets order linking and identity resolution,
    # the background's own steps, catch up with what the world holds).
    changes: bool | None = True
    # A raw body and headers of its own (a vendor's signed webhook), instead of `json`.
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- seeding


def _ok(response: Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def _sale_body(sku: str, *, quantity: int = 1, paid: bool = True) -> dict[str, Any]:
    total = str(Decimal(PRICE) * quantity)
    return {
        "currency": "EUR",
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": PRICE}],
        "total": total,
        "payments": [{"method": "card", "amount": total}] if paid else [],
    }


class _Seeder:
    """Seeds through the API as admin: the requests are the documented ones."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        return _ok(self.client.post(path, json=body), status)

    def put(self, path: str, body: Any, status: int = 200) -> Any:
        return _ok(self.client.put(path, json=body), status)

    def location(self, code: str, kind: str, priority: int) -> int:
        store = kind == "store"
        body = {
            "code": code,
            "name": code.upper(),
            "kind": kind,
            "country": "PL",
            "pickup": store,
            "ship_from_store": store,
            "priority": priority,
        }
        return int(self.post("/v1/locations", body, 201)["id"])

    def channel(self, code: str, kind: str, ship: list[int], pickup: list[int]) -> int:
        body = {"code": code, "name": code.upper(), "kind": kind, "currency": "EUR"}
        channel_id = int(self.post("/v1/channels", body, 201)["id"])
        places = {"ship_location_ids": ship, "pickup_location_ids": pickup}
        self.put(f"/v1/channels/{channel_id}/locations", places)
        return channel_id

    def product(self, handle: str, sku: str) -> int:
        body = {"handle": handle, "title": handle.title(), "variants": [{"sku": sku}]}
        return int(self.post("/v1/products", body, 201)["id"])

    def sell(self, channel_id: int, product_id: int, sku: str) -> None:
        self.put(f"/v1/channels/{channel_id}/listings/{product_id}", {"listed": True})
        price = {"amount": PRICE, "currency": "EUR"}
        self.put(f"/v1/channels/{channel_id}/prices/{sku}", price)

    def checkout(self, channel_id: int, store_id: int, sku: str, email: str) -> dict[str, Any]:
        cart = self.post(
            "/v1/carts", {"channel_id": channel_id, "lines": [{"sku": sku, "quantity": 1}]}, 201
        )
        body = {
            "fulfilment": {"mode": "pickup", "pickup_location_id": store_id},
            "customer": {"email": email},
            "payments": [{"method": "card", "amount": PRICE}],
        }
        order: dict[str, Any] = self.post(f"/v1/carts/{cart['id']}/checkout", body, 201)
        return order

    def reservation(self, channel_id: int, store_id: int, sku: str, key: str) -> int:
        body = {
            "channel_id": channel_id,
            "lines": [{"sku": sku, "quantity": 1}],
            "idempotency_key": key,
            "location_id": store_id,
            "ttl_seconds": HOLD_SECONDS,
        }
        return int(self.post("/v1/reservations", body, 201)["id"])

    def key(self, name: str, **fields: Any) -> tuple[int, str]:
        made = self.post("/v1/api-keys", {"name": name, **fields}, 201)
        return int(made["id"]), str(made["secret"])


@dataclass
class _Half:
    """What one side has while it is being seeded."""

    name: str
    channel_id: int
    store_id: int
    product_id: int
    sku: str
    bundle_sku: str
    email: str
    ids: dict[str, Any] = field(default_factory=dict)


def _seed_orders(seed: _Seeder, half: _Half, pos_channel: int) -> None:
    """Orders, returns, carts and holds of one side (customers come later)."""
    channel, store, sku, email = half.channel_id, half.store_id, half.sku, half.email
    ids = half.ids
    unpaid = {**_sale_body(sku, paid=False), "customer": {"email": email}}
    order = seed.put(f"/v1/channels/{channel}/orders/ext-{half.name}", unpaid, 201)
    ids["external_order_id"] = order["id"]
    ids["cart_id"] = seed.post(
        "/v1/carts", {"channel_id": channel, "lines": [{"sku": sku, "quantity": 1}]}, 201
    )["id"]
    ids["pickup_order_id"] = seed.checkout(channel, store, sku, email)["id"]
    ready = seed.checkout(channel, store, sku, email)["id"]
    made_ready = seed.post(f"/v1/orders/{ready}/pickup/ready")
    ids["ready_order_id"] = ready
    ids["pickup_code"] = made_ready["fulfilments"][0]["pickup_code"]
    sale = {
        "channel_id": pos_channel,
        "location_id": store,
        "receipt": f"till-{half.name}",
        "lines": [{"sku": sku, "quantity": 1, "unit_price": PRICE}],
        "payments": [{"method": "cash", "amount": PRICE}],
        "customer": {"email": email},
    }
    ids["till_sale_id"] = seed.post("/v1/pos/sales", sale, 201)["id"]
    for name, units in (("confirmed", 1), ("fulfilled", 1), ("returned", 3)):
        paid = {**_sale_body(sku, quantity=units), "customer": {"email": email}}
        url = f"/v1/channels/{channel}/orders/{name}-{half.name}"
        ids[f"{name}_order_id"] = seed.put(url, paid, 201)["id"]
    for name in ("fulfilled", "returned"):
        shipment = {"location_id": store, "carrier": "dpd"}
        seed.post(f"/v1/orders/{ids[f'{name}_order_id']}/shipments", shipment)
    returned = ids["returned_order_id"]
    one = {"channel_id": channel, "lines": [{"line_no": 1, "quantity": 1, "reason": "size"}]}
    received = seed.post(f"/v1/orders/{returned}/returns", one, 201)["id"]
    seed.post(f"/v1/returns/{received}/receive", {"location_id": store})
    ids["received_return_id"] = received
    ids["open_return_id"] = seed.post(f"/v1/orders/{returned}/returns", one, 201)["id"]
    ids["reservation_id"] = seed.reservation(channel, store, sku, f"live-{half.name}")
    allocation = seed.reservation(channel, store, sku, f"allocated-{half.name}")
    seed.post(f"/v1/reservations/{allocation}/allocate")
    ids["allocation_id"] = allocation


def _seed_customer(seed: _Seeder, half: _Half) -> None:
    """The side's customer (linked from its orders): consents, points, a conversation."""
    ids = half.ids
    found = _ok(seed.client.get("/v1/customers", params={"email": half.email}))
    customer = found["id"]
    ids["customer_id"] = customer
    consents = {"consents": {"email": True, "sms": False}, "source": "checkout form"}
    seed.put(f"/v1/customers/{customer}/consents", consents)
    bonus = {"channel_id": half.channel_id, "name": "review", "reference": f"seed-{half.name}"}
    seed.post(f"/v1/customers/{customer}/loyalty/bonuses", bonus, 201)
    contact = {
        "customer": {"email": half.email},
        "channel": "email",
        "body": "Where is my parcel?",
        "subject": "parcel",
        "channel_id": half.channel_id,
    }
    ids["conversation_id"] = seed.post("/v1/conversations", contact, 201)["id"]


def _seed_webhooks(seed: _Seeder, db: Database) -> tuple[int, int]:
    """A subscription to the returns (from the beginning) whose every delivery failed its
    one attempt: (its id, its first delivery's id)."""
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/hooks"
    body = {"url": url, "event_types": ["return.*"], "max_attempts": 1, "start": "beginning"}
    subscription = int(seed.post("/v1/webhooks/subscriptions", body, 201)["id"])
    sender = WebhookSender(db)
    try:
        sender.deliver_round()
    finally:
        sender.close()
    dead = _ok(seed.client.get(f"/v1/webhooks/subscriptions/{subscription}/deliveries"))
    assert [d["state"] for d in dead["items"]] == ["dead", "dead"], dead
    return subscription, int(dead["items"][0]["id"])


def connector_delivery(product_id: int, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    """A WooCommerce order webhook for the world's connector, signed: (body, headers)."""
    line = {"product_id": product_id, "quantity": 1, "subtotal": PRICE, "total": PRICE}
    order = {"id": product_id, "currency": "EUR", "total": PRICE, "line_items": [line]}
    body = orjson.dumps(order)
    digest = hmac.new(CONNECTOR_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }
    return body, headers


def _seed_connector(seed: _Seeder, db: Database, channel_id: int) -> tuple[int, int]:
    """A WooCommerce connector of the channel, one product mapped, and a delivery for an
    unknown product, parked: (the connector's id, the delivery's)."""
    body = {
        "channel_id": channel_id,
        "vendor": "woocommerce",
        "base_url": "http://127.0.0.1:9",
        "credentials": {
            "webhook_secret": CONNECTOR_SECRET,
            "consumer_key": "ck",
            "consumer_secret": "cs",
        },
    }
    connector = int(seed.post("/v1/connectors", body, 201)["id"])
    mapping = {"items": [{"vendor_product_id": "1", "sku": "TEE"}]}
    seed.put(f"/v1/connectors/{connector}/mapping", mapping)
    content, headers = connector_delivery(999, "seed-1")
    hooks = f"/v1/connectors/{connector}/webhooks"
    delivery = _ok(seed.client.post(hooks, content=content, headers=headers))["delivery"]
    inbox.process_due(db, http=vendor_http())
    return connector, int(delivery)


def _seed_erasure(seed: _Seeder, channel_id: int) -> int:
    """A person who wrote in once and asked to be erased; the erasure's id."""
    contact = {
        "customer": {"email": "gone@erased.pl"},
        "channel": "email",
        "body": "Please erase me",
        "subject": "erasure",
        "channel_id": channel_id,
    }
    seed.post("/v1/conversations", contact, 201)
    found = _ok(seed.client.post("/v1/customers/search", json={"email": "gone@erased.pl"}))
    erased = seed.post(f"/v1/customers/{found['id']}/erase")
    return int(erased["erasure_id"])


def build_world(db: Database) -> World:
    """Seed a migrated, empty database with the world; its ids and secrets."""
    with db.transaction() as session:
        create_api_key(session, name="authz-admin", role="admin", secret=ADMIN_SECRET)
    headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    # Seeding sends no tracking events; the folder only keeps the app out of ./var.
    with (
        tempfile.TemporaryDirectory() as events,
        TestClient(make_app(db, Path(events)), headers=headers) as client,
    ):
        seed = _Seeder(client)
        warehouse = seed.location("wh", "warehouse", 50)
        s1 = seed.location("s1", "store", 1)
        s2 = seed.location("s2", "store", 2)
        # Routing by priority sends A's orders to S1 and B's to S2 (stores before the
        # warehouse), so each side's orders hold stock at its own store.
        a = seed.channel("chan-a", "web", [s1, warehouse], [s1])
        b = seed.channel("chan-b", "web", [s2, warehouse], [s2])
        pos = seed.channel("pos", "pos", [], [s1, s2])
        halves = [
            _Half("own", a, s1, seed.product("tee", "TEE"), "TEE", "KIT-A", "ann@kowalska.pl"),
            _Half("other", b, s2, seed.product("mug", "MUG"), "MUG", "KIT-B", "bob@nowak.pl"),
        ]
        for half in halves:
            seed.product(half.bundle_sku.lower(), half.bundle_sku)
        for channel in (a, b, pos):
            for half in halves:
                seed.sell(channel, half.product_id, half.sku)
            rules = {"points_per_unit": "1", "point_value": "0.01", "bonuses": {"review": 25}}
            seed.put(f"/v1/channels/{channel}/loyalty-rules", rules)
        for channel in (a, b):
            seed.put(f"/v1/channels/{channel}/order-rules", {"rules": ["priority"]})
        stock = [{"sku": half.sku, "quantity": 30} for half in halves]
        for location in (warehouse, s1, s2):
            seed.post("/v1/stock/receipts", {"location_id": location, "lines": stock})
        for half in halves:
            source = {"channel_id": half.channel_id, "name": f"site {half.name}"}
            half.ids["write_key"] = seed.post("/v1/tracking/sources", source, 201)["write_key"]
            _seed_orders(seed, half, pos)
        sync_customers(db)
        for half, there in ((halves[0], s2), (halves[1], s1)):
            _seed_customer(seed, half)
            # In transit to this side's store from the other store (S1 -> S2 is the
            # other side's, S2 -> S1 the own side's): staff receive at the destination.
            moved = {
                "from_location_id": there,
                "to_location_id": half.store_id,
                "lines": [{"sku": half.sku, "quantity": 2}],
            }
            half.ids["transfer_id"] = seed.post("/v1/transfers", moved, 201)["id"]
            half.ids["spare_key_id"] = seed.key(
                f"spare-{half.name}", role="channel", channel_id=half.channel_id
            )[0]
            feed = seed.post(f"/v1/channels/{half.channel_id}/feed-tokens", {"name": "g"}, 201)
            half.ids["feed_token"], half.ids["feed_token_id"] = feed["token"], feed["id"]
        erasure_id = _seed_erasure(seed, a)
        webhooks = _seed_webhooks(seed, db)
        connector = _seed_connector(seed, db, a)
        _, own_channel = seed.key("own-channel", role="channel", channel_id=a)
        _, other_channel = seed.key("other-channel", role="channel", channel_id=b)
        _, own_staff = seed.key("own-staff", role="staff", location_id=s1)
        _, other_staff = seed.key("other-staff", role="staff", location_id=s2)
        reads = [s for s in DEFAULT_SCOPES["channel"] if s.endswith(":read")]
        _, read_only = seed.key("read-only", role="channel", channel_id=a, scopes=reads)
        _, analyst = seed.key("analyst", role="analyst")
    sides = [
        Side(
            channel_id=half.channel_id,
            store_id=half.store_id,
            product_id=half.product_id,
            sku=half.sku,
            bundle_sku=half.bundle_sku,
            customer_email=half.email,
            **half.ids,
        )
        for half in halves
    ]
    keys = Keys(
        ADMIN_SECRET, own_channel, other_channel, own_staff, other_staff, read_only, analyst
    )
    return World(warehouse, pos, sides[0], sides[1], keys, erasure_id, *webhooks, *connector)


# ------------------------------------------------------------------ copies and the app


def make_template(path: Path) -> World:
    """Migrate a new SQLite file at `path` and seed the world into it."""
    db = Database.from_url(f"sqlite:///{path}")
    try:
        upgrade(db.engine)
        return build_world(db)
    finally:
        # Disposing checkpoints the WAL into the file, so a plain copy holds everything.
        db.dispose()


def copy_world(template: Path, path: Path) -> Database:
    """A Database on a fresh copy of the template (the caller disposes it)."""
    shutil.copyfile(template, path)
    return Database.from_url(f"sqlite:///{path}")


def make_app(db: Database, events_dir: Path) -> FastAPI:
    """The app the cases share; `use_database` points it at each case's copy."""
    events = events_dir / "events.duckdb"
    # No flusher thread: tracking calls only spool, and nothing outlives a case's copy.
    settings = Settings(events_path=str(events), events_flusher="process", admin_key=None)
    app = create_app(db=db, settings=settings, sweep=False)
    app.state.tracking = Ingestor(db=db, events_path=events, flush=False)
    return app


def use_database(app: FastAPI, db: Database) -> None:
    """Serve `db` from now on: the routes' database and the tracking write keys."""
    app.state.db = db
    app.state.tracking.keys = WriteKeys(db)


@dataclass(frozen=True)
class Harness:
    """One world, one app and one client for many cases, each on its own copy."""

    world: World
    template: Path
    app: FastAPI
    client: TestClient

    @contextmanager
    def fresh(self, directory: Path) -> Iterator[Database]:
        """A fresh copy of the world in `directory`, served by the app until the next."""
        db = copy_world(self.template, directory / "case.db")
        use_database(self.app, db)
        try:
            yield db
        finally:
            db.dispose()

    def send(self, method: str, spec: RequestSpec, caller: Caller) -> Response:
        """Send the request as `caller` (see `CALLERS`)."""
        secret = self.world.keys.secret(caller)
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        answer: Response = self.client.request(
            method,
            spec.path,
            params=spec.params,
            json=spec.json if spec.content is None else None,
            content=spec.content,
            headers={**headers, **spec.headers},
        )
        return answer


@contextmanager
def harness(directory: Path) -> Iterator[Harness]:
    """Build the world's template in `directory` and serve it (one per test module)."""
    template = directory / "world.db"
    world = make_template(template)
    db = copy_world(template, directory / "first.db")
    app = make_app(db, directory)
    try:
        with TestClient(app) as client:
            yield Harness(world, template, app, client)
    finally:
        app.state.db.dispose()
        db.dispose()


# --------------------------------------------------------------------------- snapshot


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, to compare before and after a request.

    Nothing is left out: API keys keep no last-used time, and no table records reads.
    Plain SQL, uncompiled: this runs twice per case, over every table.
    """
    with db.engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        return {
            name: sorted(
                (tuple(row) for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"')),
                key=repr,
            )
            for name in names
        }


# --------------------------------------------------------------------------- requests

Build = Callable[[World, Target], RequestSpec]


def _read(path: Callable[[World, Target], str], **params: Any) -> Build:
    def build(world: World, target: Target) -> RequestSpec:
        return RequestSpec(path(world, target), 200, dict(params), changes=False)

    return build


def _figures(path: Callable[[World, Target], str], **params: Any) -> Build:
    def build(world: World, target: Target) -> RequestSpec:
        return RequestSpec(path(world, target), 200, dict(params), changes=None)

    return build


def _write(
    path: Callable[[World, Target], str],
    body: Callable[[World, Target], Any] | None = None,
    success: int = 200,
) -> Build:
    def build(world: World, target: Target) -> RequestSpec:
        return RequestSpec(path(world, target), success, json=body(world, target) if body else None)

    return build


def _fixed(path: str) -> Callable[[World, Target], str]:
    return lambda _w, _t: path


def _track(kind: str, message: dict[str, Any]) -> Build:
    def build(world: World, target: Target) -> RequestSpec:
        side = world.side(target)
        if kind == "batch":
            body: dict[str, Any] = {
                "writeKey": side.write_key,
                "batch": [{"type": "track", "messageId": f"b-{target}", **message}],
            }
        else:
            body = {"writeKey": side.write_key, "messageId": f"{kind}-{target}", **message}
        return RequestSpec(f"/v1/{kind}", 200, json=body, changes=False)

    return build


def _s(world: World, target: Target) -> Side:
    return world.side(target)


def _lines(world: World, target: Target, quantity: int = 1) -> list[dict[str, Any]]:
    return [{"sku": _s(world, target).sku, "quantity": quantity}]


def _hooks(world: World, suffix: str = "") -> str:
    return f"/v1/webhooks/subscriptions/{world.webhook_subscription_id}{suffix}"


def _connector(suffix: str = "") -> Callable[[World, Target], str]:
    return lambda w, _t: f"/v1/connectors/{w.connector_id}{suffix}"


def _channel_read(suffix: str = "", **params: Any) -> Build:
    return _read(lambda w, t: f"/v1/channels/{_s(w, t).channel_id}{suffix}", **params)


def _order_path(attr: str, suffix: str) -> Callable[[World, Target], str]:
    return lambda w, t: f"/v1/orders/{getattr(_s(w, t), attr)}{suffix}"


def _till_sale(world: World, target: Target) -> dict[str, Any]:
    side = world.side(target)
    return {
        "channel_id": world.pos_channel_id,
        "location_id": side.store_id,
        "receipt": f"case-{target}",
        "lines": [{"sku": side.sku, "quantity": 1, "unit_price": PRICE}],
        "payments": [{"method": "cash", "amount": PRICE}],
    }


REQUESTS: dict[tuple[str, str], Build] = {
    ("GET", "/healthz"): _read(_fixed("/healthz")),
    # --- tracking
    ("POST", "/v1/tracking/sources"): _write(
        _fixed("/v1/tracking/sources"),
        lambda w, t: {"channel_id": _s(w, t).channel_id, "name": "another site"},
        201,
    ),
    ("GET", "/v1/tracking/sources"): _read(_fixed("/v1/tracking/sources")),
    ("POST", "/v1/identify"): _track("identify", {"userId": "u1", "traits": {"plan": "pro"}}),
    ("POST", "/v1/track"): _track("track", {"userId": "u1", "event": "Viewed"}),
    ("POST", "/v1/page"): _track("page", {"anonymousId": "a1", "name": "Home"}),
    ("POST", "/v1/screen"): _track("screen", {"anonymousId": "a1", "name": "Home"}),
    ("POST", "/v1/group"): _track("group", {"userId": "u1", "groupId": "g1"}),
    ("POST", "/v1/alias"): _track("alias", {"userId": "u2", "previousId": "u1"}),
    ("POST", "/v1/batch"): _track("batch", {"userId": "u1", "event": "Viewed"}),
    # --- channels
    ("POST", "/v1/channels"): _write(
        _fixed("/v1/channels"),
        lambda _w, t: {"code": f"new-{t}", "name": "New", "kind": "web", "currency": "EUR"},
        201,
    ),
    ("GET", "/v1/channels"): _read(_fixed("/v1/channels")),
    ("GET", "/v1/channels/{channel_id}"): _channel_read(),
    ("PATCH", "/v1/channels/{channel_id}"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}", lambda _w, _t: {"name": "Renamed"}
    ),
    ("PUT", "/v1/channels/{channel_id}/locations"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/locations",
        # The channel's own store and the warehouse ship; pickups now at both stores.
        lambda w, t: {
            "ship_location_ids": [_s(w, t).store_id, w.warehouse_id],
            "pickup_location_ids": [w.own.store_id, w.other.store_id],
        },
    ),
    # --- locations
    ("POST", "/v1/locations"): _write(
        _fixed("/v1/locations"),
        lambda _w, t: {"code": f"loc-{t}", "name": "New", "kind": "warehouse"},
        201,
    ),
    ("GET", "/v1/locations"): _read(_fixed("/v1/locations")),
    ("GET", "/v1/locations/{location_id}"): _read(
        lambda w, t: f"/v1/locations/{_s(w, t).store_id}"
    ),
    ("PATCH", "/v1/locations/{location_id}"): _write(
        lambda w, t: f"/v1/locations/{_s(w, t).store_id}", lambda _w, _t: {"name": "Renamed"}
    ),
    # --- catalog
    ("GET", "/v1/categories"): _read(_fixed("/v1/categories")),
    ("POST", "/v1/categories"): _write(
        _fixed("/v1/categories"), lambda _w, t: {"slug": f"cat-{t}", "name": "Cat"}, 201
    ),
    ("POST", "/v1/products"): _write(
        _fixed("/v1/products"),
        lambda _w, t: {"handle": f"new-{t}", "title": "New", "variants": [{"sku": f"NEW-{t}"}]},
        201,
    ),
    ("GET", "/v1/products"): _read(_fixed("/v1/products")),
    ("GET", "/v1/products/{product_id}"): _read(lambda w, t: f"/v1/products/{_s(w, t).product_id}"),
    ("PATCH", "/v1/products/{product_id}"): _write(
        lambda w, t: f"/v1/products/{_s(w, t).product_id}", lambda _w, _t: {"title": "Renamed"}
    ),
    ("POST", "/v1/products/{product_id}/variants"): _write(
        lambda w, t: f"/v1/products/{_s(w, t).product_id}/variants",
        lambda w, t: {"sku": f"{_s(w, t).sku}-XL"},
        201,
    ),
    ("GET", "/v1/variants/{sku}"): _read(lambda w, t: f"/v1/variants/{_s(w, t).sku}"),
    ("PATCH", "/v1/variants/{sku}"): _write(
        lambda w, t: f"/v1/variants/{_s(w, t).sku}", lambda _w, _t: {"title": "Renamed"}
    ),
    ("PUT", "/v1/variants/{sku}/bundle"): _write(
        lambda w, t: f"/v1/variants/{_s(w, t).bundle_sku}/bundle",
        lambda w, _t: {
            "components": [{"sku": w.own.sku, "units": 1}, {"sku": w.other.sku, "units": 2}]
        },
    ),
    ("PUT", "/v1/channels/{channel_id}/listings/{product_id}"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/listings/{_s(w, t).product_id}",
        lambda _w, _t: {"listed": True, "title": "On sale"},
    ),
    ("GET", "/v1/channels/{channel_id}/listings/{product_id}"): _read(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/listings/{_s(w, t).product_id}"
    ),
    ("PUT", "/v1/channels/{channel_id}/prices/{sku}"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/prices/{_s(w, t).sku}",
        lambda _w, _t: {"amount": "21.50", "currency": "EUR"},
    ),
    ("GET", "/v1/channels/{channel_id}/prices/{sku}"): _read(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/prices/{_s(w, t).sku}"
    ),
    ("GET", "/v1/channels/{channel_id}/catalog"): _channel_read("/catalog"),
    ("GET", "/v1/channels/{channel_id}/catalog/{product_id}"): _read(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/catalog/{_s(w, t).product_id}"
    ),
    # --- reservations and availability
    ("POST", "/v1/reservations"): _write(
        _fixed("/v1/reservations"),
        lambda w, t: {
            "channel_id": _s(w, t).channel_id,
            "lines": _lines(w, t),
            "idempotency_key": f"case-{t}",
        },
        201,
    ),
    ("GET", "/v1/reservations"): lambda w, t: RequestSpec(
        "/v1/reservations", 200, {"channel_id": _s(w, t).channel_id}, changes=False
    ),
    ("GET", "/v1/reservations/{reservation_id}"): _read(
        lambda w, t: f"/v1/reservations/{_s(w, t).reservation_id}"
    ),
    ("POST", "/v1/reservations/{reservation_id}/release"): _write(
        lambda w, t: f"/v1/reservations/{_s(w, t).reservation_id}/release"
    ),
    ("POST", "/v1/reservations/{reservation_id}/allocate"): _write(
        lambda w, t: f"/v1/reservations/{_s(w, t).reservation_id}/allocate"
    ),
    ("POST", "/v1/reservations/{reservation_id}/deallocate"): _write(
        lambda w, t: f"/v1/reservations/{_s(w, t).allocation_id}/deallocate"
    ),
    ("POST", "/v1/reservations/{reservation_id}/ship"): _write(
        lambda w, t: f"/v1/reservations/{_s(w, t).allocation_id}/ship"
    ),
    ("GET", "/v1/availability"): lambda w, t: RequestSpec(
        "/v1/availability",
        200,
        {"channel_id": _s(w, t).channel_id, "sku": _s(w, t).sku},
        changes=False,
    ),
    ("GET", "/v1/locations/{location_id}/availability"): lambda w, t: RequestSpec(
        f"/v1/locations/{_s(w, t).store_id}/availability",
        200,
        {"sku": _s(w, t).sku},
        changes=False,
    ),
    # --- stock
    ("POST", "/v1/stock/receipts"): _write(
        _fixed("/v1/stock/receipts"),
        lambda w, t: {"location_id": _s(w, t).store_id, "lines": _lines(w, t, 5)},
    ),
    ("POST", "/v1/stock/write-offs"): _write(
        _fixed("/v1/stock/write-offs"),
        lambda w, t: {"location_id": _s(w, t).store_id, "lines": _lines(w, t), "reason": "broken"},
    ),
    ("POST", "/v1/stock/adjustments"): _write(
        _fixed("/v1/stock/adjustments"),
        lambda w, t: {
            "location_id": _s(w, t).store_id,
            "sku": _s(w, t).sku,
            "delta": -1,
            "reason": "miscounted",
        },
    ),
    ("POST", "/v1/stock/counts"): _write(
        _fixed("/v1/stock/counts"),
        lambda w, t: {
            "location_id": _s(w, t).store_id,
            "lines": [{"sku": _s(w, t).sku, "counted": 25}],
        },
        201,
    ),
    ("POST", "/v1/transfers"): _write(
        _fixed("/v1/transfers"),
        lambda w, t: {
            "from_location_id": _s(w, t).store_id,
            "to_location_id": w.warehouse_id,
            "lines": _lines(w, t),
        },
        201,
    ),
    ("POST", "/v1/transfers/{transfer_id}/receive"): _write(
        lambda w, t: f"/v1/transfers/{_s(w, t).transfer_id}/receive"
    ),
    ("GET", "/v1/stock"): lambda w, t: RequestSpec(
        "/v1/stock", 200, {"location_id": _s(w, t).store_id}, changes=False
    ),
    ("GET", "/v1/stock/in-transit"): _read(_fixed("/v1/stock/in-transit")),
    ("GET", "/v1/movements"): lambda w, t: RequestSpec(
        "/v1/movements", 200, {"location_id": _s(w, t).store_id}, changes=False
    ),
    ("GET", "/v1/inventory/reconciliation"): _read(_fixed("/v1/inventory/reconciliation")),
    ("GET", "/v1/events"): _read(_fixed("/v1/events")),
    # --- orders
    ("PUT", "/v1/channels/{channel_id}/orders/{external_id}"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/orders/case-{t}",
        lambda w, t: _sale_body(_s(w, t).sku),
        201,
    ),
    ("GET", "/v1/orders"): lambda w, t: RequestSpec(
        "/v1/orders", 200, {"channel_id": _s(w, t).channel_id}, changes=False
    ),
    ("GET", "/v1/orders/{order_id}"): _read(_order_path("external_order_id", "")),
    ("POST", "/v1/orders/{order_id}/payments"): _write(
        _order_path("external_order_id", "/payments"),
        lambda _w, _t: {"method": "card", "amount": PRICE},
    ),
    ("POST", "/v1/orders/{order_id}/cancel"): _write(
        _order_path("external_order_id", "/cancel"), lambda _w, _t: {"reason": "changed mind"}
    ),
    ("POST", "/v1/orders/{order_id}/complete"): _write(
        _order_path("fulfilled_order_id", "/complete")
    ),
    ("POST", "/v1/orders/{order_id}/shipments"): _write(
        _order_path("confirmed_order_id", "/shipments"),
        lambda w, t: {"location_id": _s(w, t).store_id, "carrier": "dpd"},
    ),
    ("POST", "/v1/orders/{order_id}/pickup/ready"): _write(
        _order_path("pickup_order_id", "/pickup/ready")
    ),
    ("POST", "/v1/orders/{order_id}/pickup/collect"): _write(
        _order_path("ready_order_id", "/pickup/collect"),
        lambda w, t: {"code": _s(w, t).pickup_code},
    ),
    ("POST", "/v1/carts"): _write(
        _fixed("/v1/carts"),
        lambda w, t: {"channel_id": _s(w, t).channel_id, "lines": _lines(w, t)},
        201,
    ),
    ("GET", "/v1/carts/{cart_id}"): _read(lambda w, t: f"/v1/carts/{_s(w, t).cart_id}"),
    ("PUT", "/v1/carts/{cart_id}/lines"): _write(
        lambda w, t: f"/v1/carts/{_s(w, t).cart_id}/lines",
        lambda w, t: {"lines": _lines(w, t, 2)},
    ),
    ("POST", "/v1/carts/{cart_id}/checkout"): _write(
        lambda w, t: f"/v1/carts/{_s(w, t).cart_id}/checkout",
        lambda _w, _t: {"payments": [{"method": "card", "amount": PRICE}]},
        201,
    ),
    ("POST", "/v1/pos/sales"): _write(_fixed("/v1/pos/sales"), _till_sale, 201),
    ("POST", "/v1/orders/{order_id}/returns"): _write(
        _order_path("fulfilled_order_id", "/returns"),
        lambda w, t: {
            "channel_id": _s(w, t).channel_id,
            "lines": [{"line_no": 1, "quantity": 1, "reason": "too big"}],
        },
        201,
    ),
    ("GET", "/v1/returns/{return_id}"): _read(
        lambda w, t: f"/v1/returns/{_s(w, t).open_return_id}"
    ),
    ("POST", "/v1/returns/{return_id}/receive"): _write(
        lambda w, t: f"/v1/returns/{_s(w, t).open_return_id}/receive",
        lambda w, t: {"location_id": _s(w, t).store_id},
    ),
    ("POST", "/v1/returns/{return_id}/refund"): _write(
        lambda w, t: f"/v1/returns/{_s(w, t).received_return_id}/refund"
    ),
    ("GET", "/v1/channels/{channel_id}/order-rules"): _channel_read("/order-rules"),
    ("PUT", "/v1/channels/{channel_id}/order-rules"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/order-rules",
        lambda _w, _t: {"rules": ["priority"], "pickup_window_hours": 48},
    ),
    # --- customers
    ("GET", "/v1/customers"): lambda w, t: RequestSpec(
        "/v1/customers", 200, {"email": _s(w, t).customer_email}, changes=False
    ),
    ("POST", "/v1/customers/search"): lambda w, t: RequestSpec(
        "/v1/customers/search", 200, json={"email": _s(w, t).customer_email}, changes=False
    ),
    ("GET", "/v1/customers/erasures/{erasure_id}"): _read(
        lambda w, _t: f"/v1/customers/erasures/{w.erasure_id}"
    ),
    ("GET", "/v1/customers/erasures/{erasure_id}/report"): _read(
        lambda w, _t: f"/v1/customers/erasures/{w.erasure_id}/report"
    ),
    ("POST", "/v1/customers/suppressions/lift"): _write(
        _fixed("/v1/customers/suppressions/lift"),
        lambda _w, _t: {"kind": "email", "value": "gone@erased.pl", "reason": "came back"},
    ),
    ("GET", "/v1/customers/{customer_id}"): _read(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}"
    ),
    ("GET", "/v1/customers/{customer_id}/consents"): _read(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/consents"
    ),
    ("PUT", "/v1/customers/{customer_id}/consents"): _write(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/consents",
        lambda _w, _t: {"consents": {"sms": True}, "source": "store till"},
    ),
    ("GET", "/v1/customers/{customer_id}/export"): _read(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/export"
    ),
    ("POST", "/v1/customers/{customer_id}/erase"): _write(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/erase"
    ),
    # --- loyalty
    ("GET", "/v1/customers/{customer_id}/loyalty"): _read(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/loyalty"
    ),
    ("POST", "/v1/customers/{customer_id}/loyalty/bonuses"): _write(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/loyalty/bonuses",
        lambda w, t: {"channel_id": _s(w, t).channel_id, "name": "review", "reference": "r-2"},
        201,
    ),
    ("POST", "/v1/customers/{customer_id}/loyalty/redemptions"): _write(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/loyalty/redemptions",
        lambda w, t: {"channel_id": _s(w, t).channel_id, "points": 10, "reference": "v-1"},
        201,
    ),
    ("POST", "/v1/loyalty/sync"): _write(_fixed("/v1/loyalty/sync")),
    ("GET", "/v1/loyalty/program"): _read(_fixed("/v1/loyalty/program")),
    ("PUT", "/v1/loyalty/program"): _write(
        _fixed("/v1/loyalty/program"),
        lambda _w, _t: {"currency": "EUR", "tiers": [{"name": "gold", "min_spend": "500"}]},
    ),
    ("GET", "/v1/channels/{channel_id}/loyalty-rules"): _channel_read("/loyalty-rules"),
    ("PUT", "/v1/channels/{channel_id}/loyalty-rules"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/loyalty-rules",
        lambda _w, _t: {"points_per_unit": "2", "point_value": "0.01"},
    ),
    # --- conversations
    ("POST", "/v1/conversations"): _write(
        _fixed("/v1/conversations"),
        lambda w, t: {
            "customer": {"email": f"new-{t}@poczta.pl"},
            "channel": "email",
            "body": "Hello",
            "channel_id": _s(w, t).channel_id,
        },
        201,
    ),
    ("GET", "/v1/conversations/{conversation_id}"): _read(
        lambda w, t: f"/v1/conversations/{_s(w, t).conversation_id}"
    ),
    ("POST", "/v1/conversations/{conversation_id}/messages"): _write(
        lambda w, t: f"/v1/conversations/{_s(w, t).conversation_id}/messages",
        lambda _w, _t: {"channel": "email", "body": "Any news?"},
        201,
    ),
    ("POST", "/v1/conversations/{conversation_id}/handover"): _write(
        lambda w, t: f"/v1/conversations/{_s(w, t).conversation_id}/handover",
        lambda _w, _t: {"to_channel": "phone", "summary": "call back", "to_assignee": "ola"},
    ),
    ("POST", "/v1/conversations/{conversation_id}/status"): _write(
        lambda w, t: f"/v1/conversations/{_s(w, t).conversation_id}/status",
        lambda _w, _t: {"status": "pending"},
    ),
    ("GET", "/v1/customers/{customer_id}/conversations"): _read(
        lambda w, t: f"/v1/customers/{_s(w, t).customer_id}/conversations"
    ),
    # --- product feeds: a vendor fetches with the channel's feed token, not an API key
    ("GET", "/v1/feeds/{channel_id}/{format}"): lambda w, t: RequestSpec(
        f"/v1/feeds/{_s(w, t).channel_id}/google-tsv",
        200,
        {"token": _s(w, t).feed_token},
        changes=False,
    ),
    ("GET", "/v1/channels/{channel_id}/feeds/{format}/check"): _channel_read(
        "/feeds/meta-csv/check"
    ),
    ("POST", "/v1/channels/{channel_id}/feed-tokens"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/feed-tokens",
        lambda _w, _t: {"name": "meta", "rotate": True},
        201,
    ),
    ("GET", "/v1/channels/{channel_id}/feed-tokens"): _channel_read("/feed-tokens"),
    ("DELETE", "/v1/channels/{channel_id}/feed-tokens/{token_id}"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/feed-tokens/{_s(w, t).feed_token_id}",
        success=204,
    ),
    ("GET", "/v1/channels/{channel_id}/feed-settings"): _channel_read("/feed-settings"),
    ("PUT", "/v1/channels/{channel_id}/feed-settings"): _write(
        lambda w, t: f"/v1/channels/{_s(w, t).channel_id}/feed-settings",
        lambda _w, _t: {
            "storefront_url": "https://shop.example",
            "link_template": "https://shop.example/products/{handle}",
        },
    ),
    # --- analytics: figures of the refreshed model
    ("GET", "/v1/analytics/channels"): _figures(
        _fixed("/v1/analytics/channels"), **{"from": "2026-01-01", "to": "2026-12-31"}
    ),
    ("GET", "/v1/analytics/cohorts"): _figures(
        _fixed("/v1/analytics/cohorts"), **{"from": "2026-01-01", "to": "2026-12-31"}
    ),
    ("GET", "/v1/analytics/customers/omnichannel"): _figures(
        _fixed("/v1/analytics/customers/omnichannel"), **{"from": "2026-01-01", "to": "2026-12-31"}
    ),
    ("GET", "/v1/analytics/funnels"): _figures(
        _fixed("/v1/analytics/funnels"),
        **{"from": "2026-01-01", "to": "2026-12-31", "steps": ["Viewed", "Order Completed"]},
    ),
    ("GET", "/v1/analytics/attribution"): _figures(
        _fixed("/v1/analytics/attribution"), **{"from": "2026-01-01", "to": "2026-12-31"}
    ),
    # The world's few buyers are too few to fit CLV's models: 409 past the access check.
    ("GET", "/v1/analytics/clv"): lambda _w, _t: RequestSpec(
        "/v1/analytics/clv", 409, {"from": "2026-01-01", "to": "2026-12-31"}, changes=None
    ),
    # --- outbound webhooks: the merchant's own systems, admins only
    ("GET", "/v1/webhooks/event-types"): _read(_fixed("/v1/webhooks/event-types")),
    ("POST", "/v1/webhooks/subscriptions"): _write(
        _fixed("/v1/webhooks/subscriptions"),
        lambda _w, _t: {"url": "https://erp.example.com/hooks", "event_types": ["order.*"]},
        201,
    ),
    ("GET", "/v1/webhooks/subscriptions"): _read(_fixed("/v1/webhooks/subscriptions")),
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}"): _read(lambda w, _t: _hooks(w)),
    ("PATCH", "/v1/webhooks/subscriptions/{subscription_id}"): _write(
        lambda w, _t: _hooks(w), lambda _w, _t: {"enabled": False}
    ),
    ("DELETE", "/v1/webhooks/subscriptions/{subscription_id}"): _write(
        lambda w, _t: _hooks(w), success=204
    ),
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/rotate-secret"): _write(
        lambda w, _t: _hooks(w, "/rotate-secret")
    ),
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries"): _read(
        lambda w, _t: _hooks(w, "/deliveries")
    ),
    ("GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}"): _read(
        lambda w, _t: _hooks(w, f"/deliveries/{w.webhook_delivery_id}")
    ),
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"): (
        _write(lambda w, _t: _hooks(w, f"/deliveries/{w.webhook_delivery_id}/replay"))
    ),
    ("POST", "/v1/webhooks/subscriptions/{subscription_id}/replay-dead"): _write(
        lambda w, _t: _hooks(w, "/replay-dead")
    ),
    # --- connectors: admins only; a vendor calls its webhook with its signature, no key
    ("POST", "/v1/connectors"): _write(
        _fixed("/v1/connectors"),
        lambda w, _t: {
            "channel_id": w.other.channel_id,
            "vendor": "woocommerce",
            "base_url": "https://shop.example",
            "credentials": {"webhook_secret": "s", "consumer_key": "k", "consumer_secret": "c"},
        },
        201,
    ),
    ("GET", "/v1/connectors"): _read(_fixed("/v1/connectors")),
    ("GET", "/v1/connectors/attention"): _read(_fixed("/v1/connectors/attention")),
    ("GET", "/v1/connectors/{connector_id}"): _read(_connector()),
    ("PATCH", "/v1/connectors/{connector_id}"): _write(
        _connector(), lambda _w, _t: {"options": {"note": "spring sale"}}
    ),
    # The world's vendor cannot be reached: the test answers so, and changes nothing.
    ("POST", "/v1/connectors/{connector_id}/test"): lambda w, _t: RequestSpec(
        _connector("/test")(w, _t), 200, changes=False
    ),
    ("GET", "/v1/connectors/{connector_id}/mapping"): _read(_connector("/mapping")),
    ("PUT", "/v1/connectors/{connector_id}/mapping"): _write(
        _connector("/mapping"),
        lambda w, t: {"items": [{"vendor_product_id": "2", "sku": _s(w, t).sku}]},
    ),
    ("POST", "/v1/connectors/{connector_id}/mapping/match"): lambda w, _t: RequestSpec(
        _connector("/mapping/match")(w, _t), 409, changes=False
    ),
    ("GET", "/v1/connectors/{connector_id}/deliveries"): _read(_connector("/deliveries")),
    ("POST", "/v1/connectors/{connector_id}/deliveries/retry"): _write(
        _connector("/deliveries/retry"), lambda _w, _t: {}
    ),
    ("POST", "/v1/connectors/{connector_id}/deliveries/{delivery_id}/dismiss"): _write(
        lambda w, _t: (
            f"/v1/connectors/{w.connector_id}/deliveries/{w.connector_delivery_id}/dismiss"
        )
    ),
    ("POST", "/v1/connectors/{connector_id}/reconcile"): lambda w, _t: RequestSpec(
        _connector("/reconcile")(w, _t), 409, changes=False
    ),
    ("GET", "/v1/connectors/{connector_id}/stock"): _read(_connector("/stock")),
    ("POST", "/v1/connectors/{connector_id}/webhooks"): lambda w, t: RequestSpec(
        _connector("/webhooks")(w, t),
        200,
        content=connector_delivery(1, f"hook-{t}")[0],
        headers=connector_delivery(1, f"hook-{t}")[1],
    ),
    # --- API keys
    ("POST", "/v1/api-keys"): _write(
        _fixed("/v1/api-keys"),
        lambda w, t: {"name": f"new-{t}", "role": "channel", "channel_id": _s(w, t).channel_id},
        201,
    ),
    ("GET", "/v1/api-keys"): _read(_fixed("/v1/api-keys")),
    ("DELETE", "/v1/api-keys/{key_id}"): _write(
        lambda w, t: f"/v1/api-keys/{_s(w, t).spare_key_id}", success=204
    ),
}
