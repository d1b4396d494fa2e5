"""The demo's order day: orders from every channel at once, routed, shipped, picked up in
store and returned through another channel than they were bought in.

Everything goes through the order book's services, the same ones the API calls.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from omnicart.cli_support import money
from omnicart.db.engine import Database
from omnicart.inventory import queries
from omnicart.kernel.errors import Conflict, InsufficientStock
from omnicart.orders import checkout, fulfilment, placement, reports, returns, service
from omnicart.orders.model import FULFILLED, Customer, Fulfil, LineDraft, OrderDraft, PaymentDraft
from omnicart.orders.views import OrderView

# Where the demo's customers live: shipping to them is routed to the nearest location.
CITIES = [("Warsaw", 52.23, 21.01), ("Gdańsk", 54.35, 18.65), ("Kraków", 50.06, 19.94),
          ("Łódź", 51.76, 19.46), ("Poznań", 52.41, 16.93), ("Wrocław", 51.11, 17.03)]  # fmt: skip
ORDERS_PER_CHANNEL = {  # channel: orders placed at once
    "web": 14,
    "app": 8,
    "instagram": 5,
    "whatsapp": 5,
    "pos-warsaw": 10,
    "allegro": 12,
}
CART_CHANNELS = ("web", "app", "instagram", "whatsapp")


@dataclass
class OrderDay:
    """What the order day did, for the report and for tests."""

    placed: dict[str, int] = field(default_factory=dict)
    refused: dict[str, list[str]] = field(default_factory=dict)
    redelivered_same: int = 0
    cancelled: list[int] = field(default_factory=list)
    shipped_orders: int = 0
    collected: int = 0
    returns: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, bought, via, at
    discrepancies: int = 0
    # Read from the database as the day ends (the customers' day adds orders afterwards):
    # the report's tables and its summary are all built from these.
    per_channel: list[reports.ChannelOrders] = field(default_factory=list)
    per_location: list[reports.LocationFulfilment] = field(default_factory=list)


@dataclass(frozen=True)
class _Shop:
    db: Database
    locations: dict[str, int]
    channels: dict[str, int]
    stocked: dict[str, list[str]]  # location code -> SKUs with units there


def _stocked(db: Database, locations: dict[str, int]) -> dict[str, list[str]]:
    with db.reading() as session:
        rows = queries.stock_rows(session, limit=10_000)
    codes = {v: k for k, v in locations.items()}
    found: dict[str, list[str]] = {code: [] for code in locations}
    for row in rows:
        if row.available >= 3 and not row.sku.startswith("KIT"):
            found[codes[row.location_id]].append(row.sku)
    return found


def _lines(rng: random.Random, skus: list[str]) -> list[tuple[str, int]]:
    return [(sku, rng.randint(1, 2)) for sku in rng.sample(skus, rng.randint(1, 3))]


def _priced(shop: _Shop, channel: str, lines: list[tuple[str, int]]) -> tuple[LineDraft, ...]:
    with shop.db.reading() as session:
        prices = placement.channel_prices(session, shop.channels[channel], [s for s, _ in lines])
    return tuple(LineDraft(sku, q, prices[sku]) for sku, q in lines)


def _cart_order(shop: _Shop, channel: str, n: int, rng: random.Random) -> OrderView:
    pickup = channel == "web" and n % 3 == 0
    store = rng.choice(["store-warsaw", "store-gdansk"]) if pickup else None
    lines = _lines(rng, shop.stocked[store] if store else shop.stocked["wh-central"])
    if channel == "instagram" and n == 0:
        lines = [("JACKET-OLIVE-L", 1)]  # its last units went in the burst: refused
    cart = checkout.create_cart(shop.db, channel_id=shop.channels[channel], lines=lines)
    if pickup and store:
        fulfil = Fulfil(mode="pickup", pickup_location_id=shop.locations[store])
        shipping = Decimal(0)
    else:
        city, lat, lon = rng.choice(CITIES)
        fulfil = Fulfil(mode="ship", address={"city": city, "latitude": lat, "longitude": lon})
        shipping = Decimal("12.99")
    total = cart.subtotal + shipping
    return checkout.checkout(
        shop.db,
        cart_id=cart.id,
        request=checkout.Checkout(
            fulfil=fulfil,
            customer=Customer(email=f"customer{rng.randint(1, 40)}@poczta.pl"),
            shipping=shipping,
            payments=(PaymentDraft("card", total),),
            total=total,
        ),
        actor=f"{channel}-shopper",
    )


def _till_sale(shop: _Shop, n: int, rng: random.Random) -> OrderView:
    lines = _priced(shop, "pos-warsaw", _lines(rng, shop.stocked["store-warsaw"]))
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return checkout.record_sale(
        shop.db,
        sale=checkout.TillSale(
            channel_id=shop.channels["pos-warsaw"],
            location_id=shop.locations["store-warsaw"],
            lines=lines,
            payments=(PaymentDraft("card", total),),
            receipt=f"WAW-{n:04d}",
        ),
        actor="till-1",
    )


def _marketplace_order(
    shop: _Shop, n: int, rng: random.Random
) -> tuple[service.ExternalOrder, list[OrderView]]:
    lines = _priced(shop, "allegro", _lines(rng, shop.stocked["wh-central"]))
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    city, lat, lon = rng.choice(CITIES)
    order = service.ExternalOrder(
        channel_id=shop.channels["allegro"],
        external_id=f"ALG-{7_000_000 + n}",
        draft=OrderDraft(
            currency="PLN",
            lines=lines,
            total=total,
            payments=(PaymentDraft("allegro-pay", total),),
            customer=Customer(ref=f"allegro-buyer-{rng.randint(1, 30)}"),
        ),
        fulfil=Fulfil(mode="ship", address={"city": city, "latitude": lat, "longitude": lon}),
        payload={"id": n, "lines": [[d.sku, d.quantity] for d in lines]},
    )
    # Marketplaces deliver webhooks at least once: every order arrives twice, concurrently.
    with ThreadPoolExecutor(max_workers=2) as pair:
        views = list(
            pair.map(lambda _: service.ingest_order(shop.db, order, actor="allegro"), [0, 1])
        )
    return order, views


def _take_orders(
    shop: _Shop, day: OrderDay, tick: Callable[[], None]
) -> dict[str, list[OrderView]]:
    jobs = [(channel, n) for channel, count in ORDERS_PER_CHANNEL.items() for n in range(count)]
    go = threading.Barrier(len(jobs))
    lock = threading.Lock()
    taken: dict[str, list[OrderView]] = {channel: [] for channel in ORDERS_PER_CHANNEL}
    sent: list[service.ExternalOrder] = []

    def place(job: tuple[str, int]) -> None:
        channel, n = job
        rng = random.Random(f"{channel}-{n}")
        go.wait()
        try:
            if channel == "pos-warsaw":
                views = [_till_sale(shop, n, rng)]
            elif channel == "allegro":
                order, views = _marketplace_order(shop, n, rng)
                sent.append(order)
            else:
                views = [_cart_order(shop, channel, n, rng)]
        except (InsufficientStock, Conflict) as exc:
            with lock:
                day.refused.setdefault(channel, []).append(exc.detail)
            tick()
            return
        with lock:
            taken[channel].append(views[0])
            if len(views) == 2 and views[0].id == views[1].id:
                day.redelivered_same += 1
        tick()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(place, jobs))
    day.placed = {channel: len(views) for channel, views in taken.items()}
    # The buyer cancels one marketplace order: the channel sends it again as cancelled.
    first = min(sent, key=lambda o: o.external_id)
    cancelled = service.ingest_order(
        shop.db,
        replace(first, cancelled=True, payload={**(first.payload or {}), "status": "cancelled"}),
        actor="allegro",
    )
    day.cancelled.append(cancelled.id)
    taken["allegro"] = [v for v in taken["allegro"] if v.id != cancelled.id]
    return taken


def _fulfil(shop: _Shop, day: OrderDay, taken: dict[str, list[OrderView]]) -> list[OrderView]:
    """Ship most shipping orders from where routing put them; hand over most pickups."""
    fulfilled: list[OrderView] = []
    pickups = shipments = 0
    for channel, views in taken.items():
        if channel == "pos-warsaw":
            continue
        for view in sorted(views, key=lambda v: v.id):
            if view.fulfilment_mode == "pickup":
                ready = fulfilment.mark_ready(shop.db, order_id=view.id, actor="store-staff")
                pickups += 1
                if pickups % 3 == 0:
                    continue  # left waiting for its customer
                code = next(f.pickup_code for f in ready.fulfilments if f.kind == "pickup")
                assert code is not None
                done = fulfilment.collect(shop.db, order_id=view.id, code=code, actor="store")
                day.collected += 1
                fulfilled.append(done)
                continue
            shipments += 1
            if shipments % 4 == 0:
                continue  # not shipped yet
            plan = (view.routing or {}).get("plan", [])
            current = view
            for location in dict.fromkeys(p["location"] for p in plan):
                current = fulfilment.create_shipment(
                    shop.db,
                    order_id=view.id,
                    location_id=shop.locations[location],
                    carrier="InPost" if location.startswith("store") else "DHL",
                    tracking_number=f"TRK{view.id:06d}{location[:3].upper()}",
                    actor="warehouse",
                )
            day.shipped_orders += 1
            fulfilled.append(current)
    return fulfilled


def _return_elsewhere(shop: _Shop, day: OrderDay, fulfilled: list[OrderView]) -> None:
    """Online orders come back at the Warsaw store's counter; one app order by post."""
    online = [v for v in fulfilled if v.channel_code == "web" and v.status == FULFILLED]
    for k, view in enumerate(online[:3]):
        line = view.lines[0]
        opened = returns.open_return(
            shop.db,
            order_id=view.id,
            channel_id=shop.channels["pos-warsaw"],
            lines=[returns.ReturnLineRequest(line.line_no, line.quantity, "wrong size")],
            actor="store-staff",
        )
        damaged = 1 if k == 2 else 0
        returns.receive_return(
            shop.db,
            return_id=opened.id,
            location_id=shop.locations["store-warsaw"],
            outcomes=[returns.Outcome(line.line_no, line.quantity - damaged, damaged)],
            actor="store-staff",
        )
        returns.refund_return(shop.db, return_id=opened.id, actor="store-staff")
        day.returns.append((opened.id, "web", "pos-warsaw", "store-warsaw"))
    app = [v for v in fulfilled if v.channel_code == "app" and v.status == FULFILLED]
    for view in app[:1]:
        line = view.lines[-1]
        opened = returns.open_return(
            shop.db,
            order_id=view.id,
            channel_id=shop.channels["web"],
            lines=[returns.ReturnLineRequest(line.line_no, 1, "changed my mind")],
            actor="customer",
        )
        returns.receive_return(
            shop.db, return_id=opened.id, location_id=shop.locations["wh-central"], actor="wh"
        )
        returns.refund_return(shop.db, return_id=opened.id, actor="customer-service")
        day.returns.append((opened.id, "app", "web", "wh-central"))


def run_order_day(
    db: Database,
    *,
    locations: dict[str, int],
    channels: dict[str, int],
    tick: Callable[[], None],
) -> OrderDay:
    """Take, route, fulfil and return orders across every channel; the day's tally."""
    shop = _Shop(db, locations, channels, _stocked(db, locations))
    service.set_order_rules(
        db,
        rules=service.RulesView(
            channel_id=channels["allegro"],
            rules=["cheapest", "nearest"],
            prefer_single_location=True,
            location_costs={"wh-central": Decimal("9.50"), "3pl-south": Decimal("7.20")},
            pickup_window_hours=72,
            returnless_below=None,
        ),
    )
    day = OrderDay()
    taken = _take_orders(shop, day, tick)
    fulfilled = _fulfil(shop, day, taken)
    _return_elsewhere(shop, day, fulfilled)
    with db.reading() as session:
        day.discrepancies = len(queries.reconcile(session))
        day.per_channel = reports.orders_per_channel(session)
        day.per_location = reports.fulfilment_per_location(session)
    return day


def report_order_day(console: Console, day: OrderDay) -> None:
    """Orders per channel, fulfilment per location, returns, and whether stock reconciles,
    as the database held them when the order day ended."""
    orders = Table(title="Order day: orders per channel (taken concurrently)")
    for column in ("channel", "orders", "refused", "cancelled", "units", "revenue", "refunded"):
        orders.add_column(column, justify="left" if column == "channel" else "right")
    for row in day.per_channel:
        orders.add_row(
            row.channel, str(row.orders), str(len(day.refused.get(row.channel, []))),
            str(row.cancelled), str(row.units), money(row.revenue, row.currency),
            money(row.refunded, row.currency),
        )  # fmt: skip
    console.print(orders)
    places = Table(
        title="Fulfilment per location: units shipped, picked up, sold at the till, and "
        "returned (back on sale or damaged); 'waiting': pickup orders ready at the store"
    )
    for column in ("location", "shipped", "parcels", "picked", "waiting", "till", "back",
                   "damaged"):  # fmt: skip
        if column == "location":
            places.add_column(column, no_wrap=True)
        else:
            places.add_column(column, justify="right")
    for p in day.per_location:
        places.add_row(
            p.location, str(p.shipped), str(p.shipments), str(p.picked_up),
            str(p.ready_for_pickup), str(p.sold_in_store), str(p.returned_restocked),
            str(p.returned_written_off),
        )  # fmt: skip
    console.print(places)
    for channel, reasons in sorted(day.refused.items()):
        console.print(f"refused on {channel}: {reasons[0]}")
    for order_id in day.cancelled:
        console.print(f"order {order_id} cancelled by the marketplace: its stock is back on sale")
    for return_id, bought, via, at in day.returns:
        console.print(
            f"return {return_id}: bought on {bought}, returned through {via}, received at {at}"
        )
    if day.discrepancies:
        console.print(f"[red]stock does not reconcile: {day.discrepancies} discrepancies[/red]")
    else:
        taken = sum(row.orders for row in day.per_channel)
        cancelled = sum(row.cancelled for row in day.per_channel)
        refused = sum(len(reasons) for reasons in day.refused.values())
        console.print(
            f"[green]✔ order day reconciles:[/green] {taken} orders from "
            f"{len(day.per_channel)} channels ({cancelled} cancelled, {refused} refused), "
            f"{day.redelivered_same} marketplace redeliveries answered with the same order, "
            f"{day.shipped_orders} shipped, {day.collected} picked up, {len(day.returns)} "
            "returned in another channel; stock agrees with the ledger."
        )
