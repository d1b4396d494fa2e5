"""The demo's vendors: a Shopify store, a WooCommerce shop, Square tills in the Gdańsk store
and an Amazon seller account, each a simulator on loopback (`connectors/simulators`)
connected to a channel of its own through a connector, as a merchant connects one.

They sell at the same time as Omnicart's own channels: Shopify, WooCommerce and Square
send signed webhooks (received by the inbox service the webhook route calls), Amazon's
orders of the last hour wait to be polled, web, app and Allegro orders go through the
order book, and the connectors' background round runs all the while (deliveries, polls,
stock and price pushes). Then the rounds run until every figure is acknowledged, and
each shop's stock figure is read from the simulator next to what Omnicart says that
channel may sell.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Final

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from omnicart.catalog.service import get_variant, set_channel_price, set_listing
from omnicart.channels import service as channels
from omnicart.connectors import inbox, push, service
from omnicart.connectors.base import Inbound
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.simulators.amazon import AmazonItem, AmazonSimulator
from omnicart.connectors.simulators.server import LoopbackServer
from omnicart.connectors.simulators.shopify import ShopifySimulator
from omnicart.connectors.simulators.square import SquareLine, SquareSimulator
from omnicart.connectors.simulators.woocommerce import WooCommerceSimulator
from omnicart.db.engine import Database
from omnicart.inventory import queries
from omnicart.inventory import service as inventory
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import Customer, Fulfil, LineDraft, OrderDraft, PaymentDraft
from omnicart.orders.placement import channel_prices
from omnicart.orders.tables import Order

VENDOR_CHANNELS: Final = [  # code, name, kind, currency, % shown, held back, ships, pickup
    ("shopify", "Shopify store", "web", "PLN", 100, 0, ("wh-central",), ()),
    ("woocommerce", "WooCommerce EU shop", "web", "EUR", 100, 1, ("wh-central",), ()),
    ("square-gdansk", "Gdańsk store tills (Square)", "pos", "PLN", 100, 0, (), ("store-gdansk",)),
    ("amazon-de", "Amazon.de", "marketplace", "EUR", 80, 2, ("wh-central", "3pl-south"), ()),
]
VENDOR_OF: Final = {"shopify": "Shopify", "woocommerce": "WooCommerce",
                    "square-gdansk": "Square", "amazon-de": "Amazon"}  # fmt: skip
ASSORTMENT: Final = {  # what each shop sells; some SKUs on several, one sold out everywhere
    "shopify": ("HOODIE-BLACK-M", "HOODIE-BLACK-L", "TEE-WHITE-M", "CAP-BLACK-S",
                "JACKET-OLIVE-L"),
    "woocommerce": ("SCARF-OLIVE-S", "BAG-BLACK-M", "GLOVE-NAVY-L", "TEE-WHITE-M"),
    "square-gdansk": ("SOCK-WHITE-M", "BELT-BLACK-L", "CAP-OLIVE-M", "TEE-NAVY-L"),
    "amazon-de": ("SNEAKER-WHITE-L", "BAG-NAVY-S", "HOODIE-BLACK-M", "TEE-WHITE-M"),
}  # fmt: skip
SOLD_OUT: Final = "JACKET-OLIVE-L"  # its last units went in the burst: nobody orders it
ORDERS: Final = {"shopify": 12, "woocommerce": 8, "square-gdansk": 10, "amazon-de": 8}
OWN_SALES: Final = {"web": 8, "app": 5, "allegro": 6}  # Omnicart's own, at the same time
# What Omnicart's own channels sell in the race: SKUs the vendors' shops sell too.
SHARED: Final = ("TEE-WHITE-M", "HOODIE-BLACK-M", "BAG-NAVY-S", "SCARF-OLIVE-S", "HOODIE-BLACK-L")
TILL_STOCK: Final = 8  # units of each Square SKU the Gdańsk store receives for its tills
PLN_PER_EUR: Final = Decimal("4.3")
SETTLE_SECONDS: Final = 60.0
HOOK: Final = "http://127.0.0.1:8000/v1/connectors/{id}/webhooks"  # where vendors post


@dataclass
class VendorDay:
    """What the vendors did, for the report and for tests."""

    channels: dict[str, int] = field(default_factory=dict)  # vendor channel code -> id
    connectors: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # orders each vendor sent
    ordered: dict[tuple[str, str], int] = field(default_factory=dict)  # units per channel, SKU
    taken: dict[str, int] = field(default_factory=dict)  # orders in the book, per channel
    own_sales: dict[str, int] = field(default_factory=dict)
    attention: int = 0  # deliveries needing a person's look
    settled: bool = False  # every figure acknowledged by its vendor
    # (channel, SKU, what the vendor's shop shows, what Omnicart says the channel may sell)
    figures: list[tuple[str, str, int | None, int]] = field(default_factory=list)


class Shops:
    """The four vendor simulators, serving on loopback until `stop`."""

    def __init__(self) -> None:
        self.shopify = ShopifySimulator(shop="omnicart-demo", currency="PLN")
        self.woo = WooCommerceSimulator(currency="EUR")
        self.square = SquareSimulator(location_id="L-GDANSK", merchant_id="M-OMNICART-DEMO")
        self.amazon = AmazonSimulator(seller_id="A2OMNICARTDEMO", marketplace_id="A1PA6795UKMFR9")
        self.square_url = self.amazon_url = ""  # once started
        self._servers: list[Callable[[], None]] = []

    def start(self) -> Shops:
        """Serve every shop."""
        self.shopify.start()
        self.woo.start()
        self._servers += [self.shopify.stop, self.woo.stop]
        square, amazon = LoopbackServer(self.square.app), LoopbackServer(self.amazon.app)
        self.square_url, self.amazon_url = square.start().url, amazon.start().url
        self._servers += [square.stop, amazon.stop]
        return self

    def stop(self) -> None:
        """Stop serving (the connectors' pushes then wait and retry)."""
        for stop in self._servers:
            stop()
        self._servers.clear()

    def figure(self, code: str, sku: str) -> int | None:
        """The stock figure a shop shows of a SKU (None: it never got one)."""
        if code == "shopify":
            return self.shopify.available(sku)
        if code == "woocommerce":
            return self.woo.stock(sku)
        if code == "square-gdansk":
            return self.square.count(f"VAR-{sku}")
        return self.amazon.quantity(sku)


def _price(pln: Decimal, currency: str) -> Decimal:
    """The channel's price: the web price, or its euro equivalent ending in .99."""
    if currency == "PLN":
        return pln
    return (pln / PLN_PER_EUR).quantize(Decimal(1), rounding=ROUND_HALF_UP) - Decimal("0.01")


def _open_channels(db: Database, locations: dict[str, int], web: int) -> dict[str, int]:
    """The vendors' channels, their products listed and priced (from the web prices)."""
    ids: dict[str, int] = {}
    with db.transaction() as session:
        for code, name, kind, currency, shown, held, ship, pick in VENDOR_CHANNELS:
            channel = channels.create_channel(
                session, code=code, name=name, kind=kind, currency=currency,
                buffer_percent_shown=shown, buffer_units=held,
            )  # fmt: skip
            channels.set_channel_locations(
                session,
                channel_id=channel.id,
                ship_location_ids=[locations[c] for c in ship],
                pickup_location_ids=[locations[c] for c in pick],
            )
            ids[code] = channel.id
            web_prices = channel_prices(session, web, list(ASSORTMENT[code]))
            for sku in ASSORTMENT[code]:
                product = get_variant(session, sku=sku).product_id
                set_listing(session, channel_id=channel.id, product_id=product, listed=True)
                amount = _price(web_prices[sku], currency)
                set_channel_price(
                    session, channel_id=channel.id, sku=sku, amount=amount, currency=currency
                )
    return ids


def _stock_shops(shops: Shops, prices: dict[str, dict[str, Decimal]]) -> None:
    """Each shop's catalog: the SKUs it sells, at its prices, with no stock figure yet."""
    for sku, price in prices["shopify"].items():
        shops.shopify.add_product(sku, price=str(price), available=0)
    for sku, price in prices["woocommerce"].items():
        shops.woo.add_product(sku, price=str(price), stock=0)
    for sku, price in prices["square-gdansk"].items():
        shops.square.add_variation(f"VAR-{sku}", sku=sku, price=int(price * 100), currency="PLN")
    for sku in prices["amazon-de"]:
        shops.amazon.add_listing(sku, quantity=0, title=sku.replace("-", " ").title())


def _connect(db: Database, shops: Shops, ids: dict[str, int], http: httpx.Client) -> dict[str, int]:
    """A connector per vendor channel, its products mapped by SKU."""
    start_after = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drafts = {
        "shopify": (shops.shopify.url, shops.shopify.connector()),
        "woocommerce": (shops.woo.url, shops.woo.connector()),
        "square-gdansk": (shops.square_url, {
            "credentials": {"access_token": shops.square.access_token,
                            "signature_key": shops.square.signature_key},
            "options": {"location_id": shops.square.location_id, "store": "store-gdansk"}}),
        "amazon-de": (shops.amazon_url, {
            "credentials": {"client_id": shops.amazon.client_id,
                            "client_secret": shops.amazon.client_secret,
                            "refresh_token": shops.amazon.refresh_token},
            "options": {"region": "eu", "seller_id": shops.amazon.seller_id,
                        "marketplace_ids": shops.amazon.marketplace_id,
                        "lwa_url": f"{shops.amazon_url}/auth/o2/token",
                        "start_after": start_after, "currency": "EUR"}}),
    }  # fmt: skip
    connectors: dict[str, int] = {}
    for code, (url, spec) in drafts.items():
        view = service.add_connector(
            db,
            draft=service.ConnectorDraft(
                channel_id=ids[code],
                vendor={"square-gdansk": "square", "amazon-de": "amazon"}.get(code, code),
                credentials=dict(spec["credentials"]),
                options=dict(spec["options"]),
                base_url=url,
            ),
        )
        service.match_mapping(db, connector_id=view.id, http=http)
        connectors[code] = view.id
    return connectors


# --------------------------------------------------------------------------- the race


def _lines(rng: random.Random, code: str) -> list[tuple[str, int]]:
    skus = [sku for sku in ASSORTMENT[code] if sku != SOLD_OUT]
    return [(sku, rng.choice((1, 1, 2))) for sku in rng.sample(skus, rng.randint(1, 2))]


def _receive(db: Database, connector: int, body: bytes, headers: dict[str, str]) -> None:
    inbox.receive(
        db,
        connector_id=connector,
        inbound=Inbound(
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            url=HOOK.format(id=connector),
        ),
    )


def _shopify(db: Database, shops: Shops, day: VendorDay, plan: list[list[tuple[str, int]]]) -> None:
    for n, lines in enumerate(plan):
        payload = shops.shopify.order_payload(5001 + n, lines, email=f"shopify-buyer{n}@mail.pl")
        body, headers = shops.shopify.webhook("orders/create", payload)
        _receive(db, day.connectors["shopify"], body, headers)
        time.sleep(0.01)


def _woo(db: Database, shops: Shops, day: VendorDay, plan: list[list[tuple[str, int]]]) -> None:
    for n, lines in enumerate(plan):
        payload = shops.woo.order_payload(801 + n, lines, email=f"woo-buyer{n}@mail.de")
        body, headers = shops.woo.webhook("order.created", payload)
        _receive(db, day.connectors["woocommerce"], body, headers)
        time.sleep(0.01)


def _square(db: Database, shops: Shops, day: VendorDay, plan: list[list[tuple[str, int]]]) -> None:
    connector = day.connectors["square-gdansk"]
    for n, lines in enumerate(plan):
        sale = [
            SquareLine(f"VAR-{sku}", units, shops.square.price(f"VAR-{sku}"))
            for sku, units in lines
        ]
        shops.square.add_order(f"GDN-{n + 1:04d}", sale, currency="PLN")
        body = shops.square.event(f"GDN-{n + 1:04d}", "order.created")
        _receive(db, connector, body, shops.square.signed(HOOK.format(id=connector), body))
        time.sleep(0.01)


def _amazon(shops: Shops, prices: dict[str, Decimal], plan: list[list[tuple[str, int]]]) -> None:
    """Amazon's orders of the last hour: settled, waiting for the connector's poll."""
    now = datetime.now(UTC)
    for n, lines in enumerate(plan):
        placed = now - timedelta(minutes=60 - 6 * n)
        items = [AmazonItem(sku, units, prices[sku], title=sku) for sku, units in lines]
        shops.amazon.add_order(f"302-0000000-{n + 1:07d}", items, updated=placed, currency="EUR")


def _own_sale(db: Database, channel: str, channel_id: int, n: int, rng: random.Random) -> None:
    """An order of Omnicart's own channels for what the vendors sell too."""
    lines = [(sku, 1) for sku in rng.sample(SHARED, 2)]
    address = {"city": "Łódź", "latitude": 51.76, "longitude": 19.46}
    if channel == "allegro":
        with db.reading() as session:
            prices = channel_prices(session, channel_id, [sku for sku, _ in lines])
        drafts = tuple(LineDraft(sku, units, prices[sku]) for sku, units in lines)
        total = sum((d.unit_price * d.quantity for d in drafts), Decimal(0))
        orders.ingest_order(
            db,
            orders.ExternalOrder(
                channel_id=channel_id,
                external_id=f"ALG-8{n:06d}",
                draft=OrderDraft(
                    currency="PLN",
                    lines=drafts,
                    total=total,
                    payments=(PaymentDraft("allegro-pay", total),),
                    customer=Customer(ref=f"allegro-buyer-{n}"),
                ),
                fulfil=Fulfil(mode="ship", address=address),
            ),
            actor="allegro",
        )
        return
    cart = checkout.create_cart(db, channel_id=channel_id, lines=lines)
    total = cart.subtotal + Decimal("12.99")
    checkout.checkout(
        db,
        cart_id=cart.id,
        request=checkout.Checkout(
            fulfil=Fulfil(mode="ship", address=address),
            customer=Customer(email=f"{channel}-race{n}@poczta.pl"),
            shipping=Decimal("12.99"),
            payments=(PaymentDraft("card", total),),
            total=total,
        ),
        actor=f"{channel}-shopper",
    )


def _rounds(db: Database, http: httpx.Client, stop: threading.Event) -> None:
    """The connectors' background round, as the worker runs it, until told to stop."""
    while not stop.is_set():
        if not service.run_round(db, http=http):
            stop.wait(0.05)


def _settle(db: Database, http: httpx.Client) -> bool:
    """Rounds until nothing is left to process or push; whether every figure got there."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        busy = service.run_round(db, http=http)
        if not busy and push.pending(db) == 0 and not inbox.list_deliveries(db, status="pending"):
            return True
        if not busy:
            time.sleep(0.05)
    return False


def _race(
    db: Database, shops: Shops, day: VendorDay, own: dict[str, int], http: httpx.Client
) -> None:
    rng = random.Random(11)
    plans = {code: [_lines(rng, code) for _ in range(n)] for code, n in ORDERS.items()}
    for code, plan in plans.items():
        day.sent[code] = len(plan)
        for lines in plan:
            for sku, units in lines:
                day.ordered[code, sku] = day.ordered.get((code, sku), 0) + units
    with db.reading() as session:
        amazon = channel_prices(session, day.channels["amazon-de"], list(ASSORTMENT["amazon-de"]))
    _amazon(shops, amazon, plans["amazon-de"])
    stop = threading.Event()
    worker = threading.Thread(target=_rounds, args=(db, http, stop), name="demo-connectors")
    worker.start()
    try:
        jobs: list[Callable[[], None]] = [
            lambda: _shopify(db, shops, day, plans["shopify"]),
            lambda: _woo(db, shops, day, plans["woocommerce"]),
            lambda: _square(db, shops, day, plans["square-gdansk"]),
        ]
        for channel, count in OWN_SALES.items():
            for n in range(count):
                picks = random.Random(f"{channel}-{n}")
                jobs.append(partial(_own_sale, db, channel, own[channel], n, picks))
            day.own_sales[channel] = count
        with ThreadPoolExecutor(max_workers=8) as pool:
            for job in [pool.submit(j) for j in jobs]:
                job.result()
    finally:
        stop.set()
        worker.join()


def run_vendor_day(
    db: Database,
    *,
    locations: dict[str, int],
    channels_by_code: dict[str, int],
    tick: Callable[[], None],
) -> tuple[VendorDay, Shops]:
    """Open the vendors' channels, connect their shops, race them against Omnicart's own
    channels and settle every figure; the tally and the shops (still serving)."""
    day = VendorDay()
    day.channels = _open_channels(db, locations, channels_by_code["web"])
    inventory.receive_stock(
        db,
        location_id=locations["store-gdansk"],
        lines=[(sku, TILL_STOCK) for sku in ASSORTMENT["square-gdansk"]],
        reason="delivery for the Square tills",
    )
    with db.reading() as session:
        prices = {
            code: channel_prices(session, day.channels[code], list(ASSORTMENT[code]))
            for code in day.channels
        }
    shops = Shops().start()
    try:
        _stock_shops(shops, prices)
        tick()
        http = vendor_http()
        day.connectors = _connect(db, shops, day.channels, http)
        tick()
        _race(db, shops, day, channels_by_code, http)
        tick()
        day.settled = _settle(db, http)
        _tally(db, shops, day, locations["store-gdansk"])
        tick()
    except BaseException:
        shops.stop()
        raise
    return day, shops


def _tally(db: Database, shops: Shops, day: VendorDay, store: int) -> None:
    with db.reading() as session:
        for code, channel_id in day.channels.items():
            day.taken[code] = int(
                session.scalar(
                    select(func.count()).select_from(Order).where(Order.channel_id == channel_id)
                )
                or 0
            )
            skus = list(ASSORTMENT[code])
            if code == "square-gdansk":  # the tills sell the store's own shelves
                says = queries.location_availability(
                    session, location_id=store, skus=skus, channel_id=channel_id
                )
            else:
                says = queries.channel_availability(session, channel_id=channel_id, skus=skus)
            day.figures += [(code, sku, shops.figure(code, sku), says[sku]) for sku in skus]
    day.attention = len(inbox.list_deliveries(db, attention=True, limit=500))


def report_vendor_day(console: Console, day: VendorDay) -> None:
    """Per vendor and SKU: what its shop shows next to what Omnicart says it may sell."""
    table = Table(title="Vendors after the race: each shop shows what Omnicart says it may sell")
    for column in ("vendor", "channel", "sku", "ordered there", "Omnicart says", "shop shows", ""):
        table.add_column(
            column, justify="left" if column in ("vendor", "channel", "sku") else "right"
        )
    for code, sku, shown, says in day.figures:
        table.add_row(
            VENDOR_OF[code], code, sku, str(day.ordered.get((code, sku), 0)), str(says),
            "–" if shown is None else str(shown), "✔" if shown == says else "[red]✘[/red]",
        )  # fmt: skip
    console.print(table)
    equal = sum(1 for _, _, shown, says in day.figures if shown == says)
    mood = "green" if equal == len(day.figures) and day.settled else "red"
    sent = ", ".join(f"{VENDOR_OF[c]} {n}" for c, n in day.sent.items())
    own = ", ".join(f"{c} {n}" for c, n in day.own_sales.items())
    console.print(
        f"[{mood}]✔ vendors in step:[/{mood}] {sum(day.sent.values())} vendor orders ({sent}; "
        f"Amazon's polled, the others by signed webhooks) arrived while Omnicart's own channels "
        f"took {sum(day.own_sales.values())} ({own}); {sum(day.taken.values())} are in the "
        f"order book, {day.attention} need attention; {equal} of {len(day.figures)} shop "
        "figures equal what Omnicart says the channel may sell."
    )
