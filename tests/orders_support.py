"""A small merchant for order tests: a warehouse, two stores, four channels, priced SKUs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from omnicart.catalog.tables import ChannelPrice
from omnicart.db.engine import Database
from omnicart.inventory import service as inventory
from omnicart.inventory.queries import reconcile
from omnicart.inventory.tables import StockLevel
from omnicart.orders.model import Fulfil, LineDraft, OrderDraft, PaymentDraft
from omnicart.orders.service import ExternalOrder
from tests.support import add_channel, add_location, add_variant

WARSAW = (52.2297, 21.0122)
KRAKOW = (50.0647, 19.9450)
GDANSK = (54.3520, 18.6466)


@dataclass(frozen=True)
class Shop:
    """Ids of the seeded merchant."""

    warehouse: int
    krakow: int
    gdansk: int
    web: int
    market: int
    pos: int
    variants: dict[str, int]


def seed_shop(
    db: Database,
    *,
    stock: dict[str, tuple[int, int, int]] | None = None,
    web_held_back: int = 0,
) -> Shop:
    """Warehouse in Warsaw; stores in Kraków (ships from store, pickup) and Gdańsk (pickup).

    `stock` gives units per SKU as (warehouse, krakow, gdansk); default A and B. Every SKU
    is listed and priced on every channel; the web channel never shows its last
    `web_held_back` units (its buffer).
    """
    stock = stock or {"A": (10, 4, 2), "B": (5, 0, 3)}
    with db.transaction() as session:
        wh = add_location(session, "wh", lat=WARSAW[0], lon=WARSAW[1], priority=10)
        krk = add_location(session, "krk", kind="store", pickup=True, lat=KRAKOW[0], lon=KRAKOW[1])
        gdn = add_location(session, "gdn", kind="store", pickup=True, lat=GDANSK[0], lon=GDANSK[1])
        web = add_channel(
            session, "web", ship=(wh, krk), pickup=(krk, gdn), units_held_back=web_held_back
        )
        market = add_channel(session, "market", kind="marketplace", ship=(wh,))
        pos = add_channel(session, "pos", kind="pos", pickup=(krk, gdn))
        variants = {sku: add_variant(session, sku) for sku in stock}
        for variant_id in variants.values():
            for channel_id in (web, market, pos):
                session.add(
                    ChannelPrice(
                        channel_id=channel_id,
                        variant_id=variant_id,
                        amount=Decimal("19.99"),
                        currency="EUR",
                    )
                )
    for sku, (at_wh, at_krk, at_gdn) in stock.items():
        for location, units in ((wh, at_wh), (krk, at_krk), (gdn, at_gdn)):
            if units:
                inventory.receive_stock(db, location_id=location, lines=[(sku, units)])
    return Shop(wh, krk, gdn, web, market, pos, variants)


def market_order(
    shop: Shop,
    external_id: str,
    lines: list[tuple[str, int]],
    *,
    price: str = "19.99",
    shipping: str = "0",
    cancelled: bool = False,
    destination: tuple[float, float] | None = WARSAW,
) -> ExternalOrder:
    """A paid marketplace order whose totals add up."""
    draft_lines = tuple(LineDraft(sku, q, Decimal(price)) for sku, q in lines)
    total = sum((Decimal(price) * q for _, q in lines), Decimal(0)) + Decimal(shipping)
    address = (
        {"city": "X", "latitude": destination[0], "longitude": destination[1]}
        if destination
        else {"city": "X"}
    )
    payload = {"id": external_id, "lines": lines, "price": price, "cancelled": cancelled}
    return ExternalOrder(
        channel_id=shop.market,
        external_id=external_id,
        draft=OrderDraft(
            currency="EUR",
            lines=draft_lines,
            shipping=Decimal(shipping),
            total=total,
            payments=(PaymentDraft("marketplace", total),),
        ),
        fulfil=Fulfil(mode="ship", address=address),
        cancelled=cancelled,
        payload=payload,
    )


def figures(db: Database, shop: Shop, sku: str, location: int) -> tuple[int, int, int]:
    """(on hand, reserved, allocated) of a SKU at a location."""
    with db.reading() as session:
        row = session.get(StockLevel, (shop.variants[sku], location))
        return (row.on_hand, row.reserved, row.allocated) if row else (0, 0, 0)


def assert_reconciles(db: Database) -> None:
    """Stock figures, the ledger and the holds agree."""
    with db.reading() as session:
        assert reconcile(session) == []


def all_stock(db: Database) -> list[tuple[int, int, int, int, int]]:
    """Every stock row, to compare before and after a refused request."""
    with db.reading() as session:
        return [
            (r.variant_id, r.location_id, r.on_hand, r.reserved, r.allocated)
            for r in session.scalars(select(StockLevel).order_by(StockLevel.variant_id))
        ]
