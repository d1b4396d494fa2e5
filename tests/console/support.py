"""A small merchant with console users of every role, and signing in as one of them.

Two stores: "own" is Kraków (krk), "other" is Gdańsk (gdn); each has sold one order at
its till. A marketplace order ships from the warehouse (at neither store).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from fastapi.testclient import TestClient

from omnicart.db.engine import Database
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import LineDraft, PaymentDraft
from omnicart.users.service import create_user
from tests.orders_support import Shop, market_order, seed_shop

PASSWORD = "correct horse battery"
EMAILS = {
    "admin": "owner@shop.example",
    "analyst": "analyst@shop.example",
    "own_staff": "krk@shop.example",
    "other_staff": "gdn@shop.example",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass(frozen=True)
class World:
    """Ids of what the console tests look at."""

    shop: Shop
    own_order: int  # sold at the own store's till
    other_order: int  # sold at the other store's till
    shipped_order: int  # a marketplace order from the warehouse


def _till_sale(db: Database, shop: Shop, location: int, receipt: str) -> int:
    sale = checkout.TillSale(
        channel_id=shop.pos,
        location_id=location,
        lines=(LineDraft("A", 1, Decimal("19.99")),),
        payments=(PaymentDraft("cash", Decimal("19.99")),),
        receipt=receipt,
    )
    return checkout.record_sale(db, sale=sale).id


def seed_world(db: Database) -> World:
    """The shop of tests/orders_support.py, three orders and a user of every role."""
    shop = seed_shop(db)
    own = _till_sale(db, shop, shop.krakow, "R-KRK-1")
    other = _till_sale(db, shop, shop.gdansk, "R-GDN-1")
    shipped = orders.ingest_order(db, market_order(shop, "M-1", [("B", 1)])).id
    with db.transaction() as session:
        for who, email in EMAILS.items():
            role = "staff" if who.endswith("staff") else who
            store = shop.krakow if who == "own_staff" else shop.gdansk
            create_user(
                session,
                email=email,
                password=PASSWORD,
                role=role,
                location_id=store if role == "staff" else None,
            )
    return World(shop, own, other, shipped)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a browser does; the client keeps the cookie."""
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    done = client.post(
        "/console/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
