"""`omnicart demo`: a demo merchant, a burst of concurrent reservations from every channel
at a few scarce SKUs, a stock report that shows nothing was oversold, then an order day
(orders from every channel at once, routed, shipped, picked up and returned elsewhere),
then the API.

Everything it does goes through the same services, importers and API a merchant uses.
"""

from __future__ import annotations

import csv
import random
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from omnicart.auth.service import create_api_key
from omnicart.catalog.importer import import_catalog_rows, read_catalog_csv
from omnicart.channels import service as channels
from omnicart.db.engine import Database
from omnicart.db.migrate import open_upgraded
from omnicart.demo.customers import CustomerDay, report_customer_day, run_customer_day
from omnicart.demo.history import PastYear, read_past_year, report_past_year, write_past_year
from omnicart.demo.orders import OrderDay, report_order_day, run_order_day
from omnicart.demo.vendors import Shops, VendorDay, report_vendor_day, run_vendor_day
from omnicart.inventory import queries, service
from omnicart.kernel.errors import InsufficientStock
from omnicart.kernel.gtin import gtin_check_digit
from omnicart.locations import service as locations
from omnicart.users.service import create_user

LOCATIONS = [  # code, name, kind, city, lat, lon, pickup, ship_from_store, priority
    ("wh-central", "Central warehouse", "warehouse", "Łódź", 51.76, 19.46, False, False, 10),
    ("3pl-south", "South 3PL partner", "3pl", "Kraków", 50.06, 19.94, False, False, 20),
    ("store-warsaw", "Warsaw store", "store", "Warsaw", 52.23, 21.01, True, True, 30),
    ("store-gdansk", "Gdańsk store", "store", "Gdańsk", 54.35, 18.65, True, True, 40),
    ("store-poznan", "Poznań store", "store", "Poznań", 52.41, 16.93, True, False, 50),
]
CHANNELS = [  # code, name, kind, % shown, units held back, ships from, pickup at
    (
        "web",
        "Web store",
        "web",
        100,
        0,
        ("wh-central", "3pl-south", "store-warsaw"),
        ("store-warsaw", "store-gdansk", "store-poznan"),
    ),
    ("app", "Mobile app", "app", 100, 0, ("wh-central", "3pl-south"), ("store-warsaw",)),
    ("pos-warsaw", "Warsaw store till", "pos", 100, 0, ("store-warsaw",), ("store-warsaw",)),
    ("allegro", "Allegro", "marketplace", 80, 2, ("wh-central", "3pl-south"), ()),
    ("instagram", "Instagram shop", "social", 50, 1, ("wh-central",), ()),
    ("whatsapp", "WhatsApp orders", "messaging", 90, 1, ("wh-central",), ()),
]
PRODUCTS = ["tee", "hoodie", "cap", "sneaker", "jacket", "scarf", "sock", "belt", "bag", "glove"]
COLOURS = ["black", "white", "navy", "olive"]
SIZES = ["s", "m", "l", "xl", "xxl", "3xl"]
SCARCE = {  # sku: {location: units}
    "SNEAKER-BLACK-M": {"wh-central": 6, "store-warsaw": 2},
    "JACKET-OLIVE-L": {"wh-central": 4},
    "CAP-NAVY-S": {"3pl-south": 5, "store-warsaw": 3},
}
WORKERS_PER_CHANNEL = 8
CONSOLE_EMAIL = "owner@demo.omnicart.example"


@dataclass
class DemoResult:
    """What the demo did, for the report and for tests."""

    database_url: str  # its event store is at events_path_for(database_url)
    admin_key: str
    channel_keys: dict[str, str]
    skus: int
    # The owner's console sign-in; the password is generated for this run, shown once.
    console_email: str = CONSOLE_EMAIL
    console_password: str = ""
    in_stock: dict[str, int] = field(default_factory=dict)
    granted: dict[str, dict[str, int]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    discrepancies: int = 0
    order_day: OrderDay = field(default_factory=OrderDay)
    customer_day: CustomerDay = field(default_factory=CustomerDay)
    vendor_day: VendorDay = field(default_factory=VendorDay)
    past_year: PastYear | None = None
    shops: Shops | None = None  # the vendors' simulators, when kept serving


def _gtin(n: int) -> str:
    body = f"590{n:09d}"  # 590: GS1 Poland
    return body + str(gtin_check_digit(body))


def write_catalog_csv(path: Path) -> int:
    """The demo catalog: 240 variants of 10 products x 4 colours x 6 sizes, plus kits."""
    header = [
        "handle",
        "product_title",
        "description",
        "category",
        "sku",
        "gtin",
        "variant_title",
        "attributes",
        "bundle_components",
    ]
    header += [f"price:{code}" for code, *_ in CHANNELS]
    header += [f"listed:{code}" for code, *_ in CHANNELS]  # sales follow listings
    rows: list[list[str]] = []
    n = 0
    for product in PRODUCTS:
        for colour in COLOURS:
            for size in SIZES:
                n += 1
                base = Decimal(19 + 7 * PRODUCTS.index(product)) + Decimal("0.99")
                prices = [
                    str(base + (Decimal(10) if code == "allegro" else 0)) for code, *_ in CHANNELS
                ]
                rows.append(
                    [
                        f"{product}-{colour}",
                        f"{colour.title()} {product}",
                        f"A {colour} {product} from the demo collection.",
                        "",
                        f"{product}-{colour}-{size}".upper(),
                        _gtin(n),
                        size.upper(),
                        f"colour={colour};size={size}",
                        "",
                        *prices,
                        *["yes"] * len(CHANNELS),
                    ]
                )
    for i, (a, b) in enumerate([("TEE-BLACK-M", "CAP-BLACK-S"), ("SOCK-WHITE-M", "SOCK-NAVY-M")]):
        rows.append(
            [
                f"kit-{i}",
                f"Gift kit {i + 1}",
                "Two items, one box.",
                "",
                f"KIT-{i + 1}",
                "",
                "",
                "",
                f"{a}*1;{b}*2",
                *["49.00"] * len(CHANNELS),
                *["yes"] * len(CHANNELS),
            ]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def events_path_for(url: str) -> Path:
    """The demo's event store: beside its database file."""
    return Path(make_url(url).database or "var/demo.db").parent / "demo-events.duckdb"


def _fresh_database(url: str) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
    return open_upgraded(url)


def _hammer(
    db: Database, channel_id: int, worker: int, go: threading.Barrier, tick: Callable[[], None]
) -> tuple[dict[str, int], int]:
    rng = random.Random(worker)
    granted: dict[str, int] = defaultdict(int)
    refused = 0
    open_skus = sorted(SCARCE)
    go.wait()
    attempt = 0
    while open_skus:
        sku = rng.choice(open_skus)
        attempt += 1
        quantity = 1 if attempt % 3 else 2
        try:
            r = service.reserve_stock(
                db,
                channel_id=channel_id,
                lines=[(sku, quantity)],
                idempotency_key=f"demo-{channel_id}-{worker}-{attempt}",
            )
            granted[sku] += sum(line.quantity for line in r.lines)
        except InsufficientStock:
            refused += 1
            if quantity == 1:
                open_skus.remove(sku)
        tick()
    return granted, refused


def run_demo(url: str, console: Console, *, keep_shops: bool = False) -> DemoResult:
    """Build the demo merchant, run the burst, print the report; return what happened.

    With `keep_shops` the vendors' simulators keep serving (the caller stops them), so
    the connectors keep pushing to them while the demo serves the API."""
    db = _fresh_database(url)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        setup = progress.add_task("demo merchant", total=4)
        with db.transaction() as session:
            ids = {
                code: locations.create_location(
                    session,
                    code=code,
                    name=name,
                    kind=kind,
                    city=city,
                    country="PL",
                    latitude=lat,
                    longitude=lon,
                    pickup=pickup,
                    ship_from_store=sfs,
                    priority=priority,
                ).id
                for code, name, kind, city, lat, lon, pickup, sfs, priority in LOCATIONS
            }
            channel_ids: dict[str, int] = {}
            for code, name, kind, shown, held, ship, pick in CHANNELS:
                channel = channels.create_channel(
                    session,
                    code=code,
                    name=name,
                    kind=kind,
                    currency="PLN",
                    buffer_percent_shown=shown,
                    buffer_units=held,
                )
                channels.set_channel_locations(
                    session,
                    channel_id=channel.id,
                    ship_location_ids=[ids[c] for c in ship],
                    pickup_location_ids=[ids[c] for c in pick],
                )
                channel_ids[code] = channel.id
        progress.advance(setup)
        catalog_path = Path(make_url(url).database or "var/demo.db").parent / "demo-catalog.csv"
        skus = write_catalog_csv(catalog_path)
        with db.transaction() as session:
            import_catalog_rows(session, read_catalog_csv(catalog_path))
        progress.advance(setup)
        rng = random.Random(7)
        everything = [f"{p}-{c}-{s}".upper() for p in PRODUCTS for c in COLOURS for s in SIZES]
        plenty = [sku for sku in everything if sku not in SCARCE]
        service.receive_stock(
            db,
            location_id=ids["wh-central"],
            reason="opening stock",
            lines=[(sku, rng.randint(20, 200)) for sku in plenty],
        )
        for store in ("store-warsaw", "store-gdansk", "store-poznan", "3pl-south"):
            service.receive_stock(
                db,
                location_id=ids[store],
                reason="opening stock",
                lines=[(sku, rng.randint(0, 12) + 1) for sku in rng.sample(plenty, 60)],
            )
        for sku, places in SCARCE.items():
            for place, units in places.items():
                service.receive_stock(
                    db, location_id=ids[place], lines=[(sku, units)], reason="last units"
                )
        progress.advance(setup)
        with db.transaction() as session:
            admin = create_api_key(
                session,
                name="demo-admin",
                role="admin",
                secret=f"oc_demo_{secrets.token_urlsafe(16)}",
            )
            keys = {
                code: create_api_key(
                    session,
                    name=f"{code}-key",
                    role="channel",
                    channel_id=cid,
                    secret=f"oc_{code}_{secrets.token_urlsafe(12)}",
                ).secret
                for code, cid in channel_ids.items()
            }
            console_password = secrets.token_urlsafe(12)
            create_user(session, email=CONSOLE_EMAIL, password=console_password, role="admin")
        progress.advance(setup)

        jobs = [(code, w) for code in channel_ids for w in range(WORKERS_PER_CHANNEL)]
        burst = progress.add_task(f"burst: {len(jobs)} concurrent workers", total=None)
        lock = threading.Lock()

        def tick() -> None:
            with lock:
                progress.advance(burst)

        go = threading.Barrier(len(jobs))
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            outcomes = list(
                pool.map(
                    lambda job: (
                        job[0],
                        _hammer(db, channel_ids[job[0]], hash(job) % 99_991, go, tick),
                    ),
                    jobs,
                )
            )
        progress.update(burst, total=progress.tasks[burst].completed)
        orders = progress.add_task("order day: every channel at once", total=None)
        day = run_order_day(
            db, locations=ids, channels=channel_ids, tick=lambda: progress.advance(orders)
        )
        progress.update(orders, total=progress.tasks[orders].completed)
        people = progress.add_task("customers across channels", total=None)
        events_path = events_path_for(url)
        customer_day = run_customer_day(
            db,
            events_path=events_path,
            locations=ids,
            channels=channel_ids,
            tick=lambda: progress.advance(people),
        )
        progress.update(people, total=progress.tasks[people].completed)
        vendors = progress.add_task("vendors: Shopify, WooCommerce, Square, Amazon", total=None)
        vendor_day, shops = run_vendor_day(
            db, locations=ids, channels_by_code=channel_ids, tick=lambda: progress.advance(vendors)
        )
        if not keep_shops:
            shops.stop()
        progress.update(vendors, total=progress.tasks[vendors].completed)
        past = progress.add_task("a year of history on every channel", total=None)
        past_year = write_past_year(
            db,
            events_path=events_path,
            folder=events_path.parent / "demo-past-year",
            skus=everything,
            tick=lambda: progress.advance(past),
        )
        read_past_year(db, events_path=events_path, year=past_year)
        progress.advance(past)
        progress.update(past, total=progress.tasks[past].completed)

    result = DemoResult(
        database_url=url,
        admin_key=admin.secret,
        channel_keys=keys,
        skus=skus,
        console_password=console_password,
        order_day=day,
        customer_day=customer_day,
        vendor_day=vendor_day,
        past_year=past_year,
        shops=shops if keep_shops else None,
    )
    for code, (granted, refused) in outcomes:
        per = result.granted.setdefault(code, defaultdict(int))
        for sku, units in granted.items():
            per[sku] += units
        result.refused[code] = result.refused.get(code, 0) + refused
    result.in_stock = {sku: sum(p.values()) for sku, p in SCARCE.items()}
    _report(db, console, result, ids, channel_ids)
    report_order_day(console, day)
    report_customer_day(db, console, customer_day, events_path)
    report_vendor_day(console, vendor_day)
    report_past_year(console, past_year, database_url=url, events=events_path)
    result.discrepancies += day.discrepancies
    result.discrepancies += sum(1 for *_, shown, says in vendor_day.figures if shown != says)
    db.dispose()
    return result


def _report(
    db: Database,
    console: Console,
    result: DemoResult,
    ids: dict[str, int],
    channel_ids: dict[str, int],
) -> None:
    by_channel = Table(title="Burst: units of the scarce SKUs granted per channel")
    by_channel.add_column("channel")
    by_channel.add_column("buffer")
    for sku in SCARCE:
        by_channel.add_column(sku, justify="right")
    by_channel.add_column("refusals", justify="right")
    for code, _name, _kind, shown, held, *_ in CHANNELS:
        granted = result.granted.get(code, {})
        by_channel.add_row(
            code,
            f"{shown}% / keep {held}",
            *[str(granted.get(sku, 0)) for sku in SCARCE],
            str(result.refused.get(code, 0)),
        )
    total = {sku: sum(g.get(sku, 0) for g in result.granted.values()) for sku in SCARCE}
    by_channel.add_row(
        "[bold]all channels[/bold]",
        "",
        *[f"[bold]{total[sku]}[/bold] of {result.in_stock[sku]}" for sku in SCARCE],
        "",
    )
    console.print(by_channel)

    names = {v: k for k, v in ids.items()}
    stock = Table(title="Stock of the scarce SKUs per location after the burst")
    for column in ("sku", "location", "on hand", "reserved", "allocated", "available"):
        stock.add_column(column, justify="left" if column in ("sku", "location") else "right")
    with db.reading() as session:
        for sku in SCARCE:
            for row in queries.stock_rows(session, sku=sku):
                stock.add_row(
                    sku,
                    names[row.location_id],
                    str(row.on_hand),
                    str(row.reserved),
                    str(row.allocated),
                    str(row.available),
                )
        discrepancies = queries.reconcile(session)
        atp = {
            code: queries.channel_availability(session, channel_id=cid, skus=list(SCARCE))
            for code, cid in channel_ids.items()
        }
        plenty = queries.channel_availability(
            session, channel_id=channel_ids["allegro"], skus=["TEE-BLACK-M", "KIT-1"]
        )
    console.print(stock)
    result.discrepancies = len(discrepancies)
    oversold = [sku for sku in SCARCE if total[sku] > result.in_stock[sku]]
    if oversold or discrepancies:
        console.print(
            f"[red]oversold: {', '.join(oversold) or 'nothing'}; "
            f"{len(discrepancies)} stock figures disagree with the ledger[/red]"
        )
    else:
        left = sorted({units for per_sku in atp.values() for units in per_sku.values()})
        console.print(
            f"[green]✔ nothing oversold:[/green] every scarce unit was granted exactly once "
            f"({sum(total.values())} of {sum(result.in_stock.values())}); the ledger reconciles; "
            f"available-to-promise of the scarce SKUs is now {' or '.join(map(str, left))} "
            f"on every channel. Allegro still sees TEE-BLACK-M x{plenty['TEE-BLACK-M']} "
            f"and KIT-1 x{plenty['KIT-1']} (after its 80% / keep-2 buffer)."
        )
