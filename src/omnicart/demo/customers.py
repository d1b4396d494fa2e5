"""The demo's customers: people who move across channels and stay one person.

Each browses the app anonymously and logs in (Segment calls through the tracking
ingest, into the event store), buys at the Warsaw till with the loyalty card the app
knows, returns it online, and asks about it in a chat, then on the phone. Two
strangers share the Warsaw store's tablet and stay two people. Everything goes through
the services the API calls; the report counts the profiles resolved across channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from omnicart.conversations import service as conversations
from omnicart.customers import service as customers
from omnicart.db.engine import Database
from omnicart.inventory import queries
from omnicart.loyalty import service as loyalty
from omnicart.loyalty.feed import sync_loyalty
from omnicart.loyalty.model import EarnRule
from omnicart.orders import checkout, placement, returns
from omnicart.orders.model import Customer, LineDraft, PaymentDraft
from omnicart.tracking.flusher import open_current_store
from omnicart.tracking.identities import resolve_identities_once
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.service import create_tracking_source
from omnicart.tracking.store import remove_store

PEOPLE = [  # name, e-mail, phone, loyalty card
    ("Ewa Nowak", "ewa.nowak@poczta.pl", "+48 601 100 201", "LC-10001"),
    ("Jan Kowalski", "jan.kowalski@poczta.pl", "+48 601 100 202", "LC-10002"),
    ("Ola Wiśniewska", "ola.w@poczta.pl", "+48 601 100 203", "LC-10003"),
    ("Piotr Zieliński", "piotr.z@poczta.pl", "+48 601 100 204", "LC-10004"),
    ("Marta Lewandowska", "marta.l@poczta.pl", "+48 601 100 205", "LC-10005"),
    ("Tomek Wójcik", "tomek.w@poczta.pl", "+48 601 100 206", "LC-10006"),
]
STRANGERS = [("Anna", "anna.t@poczta.pl"), ("Borys", "borys.t@poczta.pl")]


@dataclass
class CustomerDay:
    """What the customers' day did, for the report and for tests."""

    journeys: dict[str, int] = field(default_factory=dict)  # person -> their profile id
    till_orders: dict[str, int] = field(default_factory=dict)
    returns: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)  # person -> support case id
    continued: int = 0  # calls that continued the person's chat case
    strangers: list[int] = field(default_factory=list)
    across_channels: int = 0
    profiles: int = 0


def _segment_calls(n: int, person: tuple[str, str, str, str]) -> list[dict[str, object]]:
    name, email, phone, card = person
    device, user = f"app-device-{n}", f"user-{n}"
    browse: list[dict[str, object]] = [
        {"type": "screen", "name": "Home", "anonymousId": device},
        {
            "type": "track",
            "event": "Product Viewed",
            "anonymousId": device,
            "properties": {"product_id": "TEE-BLACK-M", "sku": "TEE-BLACK-M", "price": 19.99},
        },
        {
            "type": "identify",
            "userId": user,
            "anonymousId": device,
            "traits": {"email": email, "phone": phone, "loyalty_card": card, "name": name},
        },
        {"type": "track", "event": "Cart Viewed", "userId": user, "anonymousId": device},
    ]
    for i, call in enumerate(browse):
        call["messageId"] = f"demo-{n}-{i}"
    return browse


def _strangers_on_the_tablet(ingest: Ingestor, key: str) -> None:
    # The same in-store tablet (one device id), two people logging in one after the other.
    calls = [
        {
            "type": "identify",
            "userId": f"tablet-user-{i}",
            "anonymousId": "warsaw-store-tablet",
            "traits": {"email": email, "name": name},
            "messageId": f"tablet-{i}",
        }
        for i, (name, email) in enumerate(STRANGERS)
    ]
    ingest.accept_sync(body=orjson.dumps({"batch": calls}), kind="batch", write_key=key)


def _till_line(db: Database, channel_id: int, store: int) -> LineDraft:
    """One unit of a SKU the store has enough of for every demo customer, at its price."""
    with db.reading() as session:
        rows = queries.stock_rows(session, location_id=store, limit=500)
        sku = next(
            r.sku for r in rows if r.available >= len(PEOPLE) and not r.sku.startswith("KIT")
        )
        price = placement.channel_prices(session, channel_id, [sku])[sku]
    return LineDraft(sku, 1, price)


def _till_sale(
    db: Database, *, channel_id: int, store: int, line: LineDraft, n: int, card: str
) -> int:
    sale = checkout.record_sale(
        db,
        sale=checkout.TillSale(
            channel_id=channel_id,
            location_id=store,
            lines=(line,),
            payments=(PaymentDraft("card", line.unit_price),),
            customer=Customer(ref=f"card:{card}"),
            receipt=f"WAW-C{n:03d}",
        ),
        actor="till-2",
    )
    return sale.id


def _resolve(db: Database, events_path: Path) -> None:
    with open_current_store(events_path, db=db) as store:
        while resolve_identities_once(store, db=db):
            pass
    customers.sync_customers(db)
    sync_loyalty(db)


def run_customer_day(
    db: Database,
    *,
    events_path: Path,
    locations: dict[str, int],
    channels: dict[str, int],
    tick: Callable[[], None],
) -> CustomerDay:
    """Walk every demo customer across channels; the day's tally."""
    remove_store(events_path)
    with db.transaction() as session:
        app_key = create_tracking_source(session, channel_id=channels["app"], name="app").write_key
        tablet_key = create_tracking_source(
            session, channel_id=channels["web"], name="store tablet"
        ).write_key
    for code in ("web", "app", "pos-warsaw"):
        loyalty.set_rules(
            db,
            channel_id=channels[code],
            rule=EarnRule(Decimal(1), Decimal("0.05"), bonuses={"first_order": 50}),
        )
    day = CustomerDay()
    ingest = Ingestor(db=db, events_path=events_path, flush=False)
    try:
        for n, person in enumerate(PEOPLE):
            calls = _segment_calls(n, person)
            ingest.accept_sync(body=orjson.dumps({"batch": calls}), kind="batch", write_key=app_key)
            tick()
        _strangers_on_the_tablet(ingest, tablet_key)
    finally:
        ingest.stop()
    _resolve(db, events_path)  # the app's logins are known before anyone reaches a till
    store = locations["store-warsaw"]
    till = channels["pos-warsaw"]
    line = _till_line(db, till, store)
    for n, (name, _email, _phone, card) in enumerate(PEOPLE):
        day.till_orders[name] = _till_sale(
            db, channel_id=till, store=store, line=line, n=n, card=card
        )
        tick()
    for n, (name, email, phone, _card) in enumerate(PEOPLE):
        order_id = day.till_orders[name]
        if n % 2 == 0:  # every other one sends it back, through the web shop
            opened = returns.open_return(
                db,
                order_id=order_id,
                channel_id=channels["web"],
                lines=[returns.ReturnLineRequest(1, 1, "colour differs from the photo")],
                actor="customer",
            )
            returns.receive_return(
                db, return_id=opened.id, location_id=locations["wh-central"], actor="warehouse"
            )
            returns.refund_return(db, return_id=opened.id, actor="customer-service")
            day.returns[name] = opened.id
        chat = conversations.start_conversation(
            db,
            contact=conversations.Contact(
                identifiers=[("email", email)],
                channel="chat",
                body=f"Where is the refund for my order {order_id}?",
            ),
        )
        call = conversations.start_conversation(
            db,
            contact=conversations.Contact(
                identifiers=[("phone", phone)],
                channel="phone",
                body="I asked in the chat yesterday, about the same order.",
            ),
        )
        day.cases[name] = chat.id
        day.continued += int(call.id == chat.id)
        tick()
    _resolve(db, events_path)
    for n, (name, *_rest) in enumerate(PEOPLE):
        day.journeys[name] = customers.find_customer(db, kind="user_id", value=f"user-{n}")
    day.strangers = [
        customers.find_customer(db, kind="user_id", value=f"tablet-user-{i}")
        for i in range(len(STRANGERS))
    ]
    with db.reading() as session:
        touched = customers.channels_per_customer(session)
    day.profiles = len(touched)
    day.across_channels = sum(1 for codes in touched.values() if len(codes) >= 2)
    return day


def report_customer_day(
    db: Database, console: Console, day: CustomerDay, events_path: Path
) -> None:
    """Per person: profile, channels, orders, loyalty, support; profiles across channels."""
    table = Table(title="Customers across channels: one person, one profile")
    for column in ("person", "profile", "channels", "orders", "points", "tier", "case"):
        table.add_column(column, justify="left" if column in ("person", "channels") else "right")
    with db.reading() as session:
        touched = customers.channels_per_customer(session)
    for name, profile_id in day.journeys.items():
        view = customers.customer_360(db, customer_id=profile_id, events_path=events_path)
        case = next((c for c in view.conversations if c.id == day.cases[name]), None)
        thread = " → ".join(m.channel for m in case.messages) if case else "-"
        table.add_row(
            name, str(view.id), ", ".join(sorted(touched.get(view.id, ()))),
            str(len(view.orders)), str(view.loyalty.balance), view.loyalty.tier, thread,
        )  # fmt: skip
    console.print(table)
    apart = len(set(day.strangers)) == len(day.strangers)
    console.print(
        f"[green]✔ {day.across_channels} of {day.profiles} customer profiles are resolved "
        f"across 2 or more channels;[/green] {day.continued} of {len(day.cases)} phone calls "
        f"continued the caller's chat case; {len(day.returns)} till purchases came back "
        "online and took their points back; the two people who shared the store tablet "
        f"{'stayed two profiles' if apart else 'were merged'}."
    )
