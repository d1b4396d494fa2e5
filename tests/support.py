"""Seed helpers for tests: a small merchant written straight into the tables."""

from __future__ import annotations

from sqlalchemy.orm import Session

from omnicart.catalog.tables import BundleComponent, Product, Variant
from omnicart.channels.tables import Channel, ChannelLocation
from omnicart.kernel.clock import utcnow
from omnicart.locations.tables import Location


def add_location(
    session: Session,
    code: str,
    *,
    kind: str = "warehouse",
    priority: int = 100,
    pickup: bool = False,
    lat: float | None = None,
    lon: float | None = None,
) -> int:
    """A location; returns its id."""
    row = Location(
        code=code,
        name=code.title(),
        kind=kind,
        priority=priority,
        ships=True,
        pickup=pickup,
        ship_from_store=kind == "store",
        latitude=lat,
        longitude=lon,
        address_line="",
        city="",
        postal_code="",
        country="PL",
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row.id


def add_channel(
    session: Session,
    code: str,
    *,
    kind: str = "web",
    currency: str = "EUR",
    percent_shown: int = 100,
    units_held_back: int = 0,
    ship: tuple[int, ...] = (),
    pickup: tuple[int, ...] = (),
) -> int:
    """A channel served by the given locations; returns its id."""
    row = Channel(
        code=code,
        name=code.title(),
        kind=kind,
        currency=currency,
        buffer_percent_shown=percent_shown,
        buffer_units=units_held_back,
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    for loc in ship:
        session.add(ChannelLocation(channel_id=row.id, location_id=loc, mode="ship"))
    for loc in pickup:
        session.add(ChannelLocation(channel_id=row.id, location_id=loc, mode="pickup"))
    session.flush()
    return row.id


def add_variant(
    session: Session,
    sku: str,
    *,
    low_stock_threshold: int | None = None,
    components: dict[int, int] | None = None,
) -> int:
    """A product with one variant (a bundle when `components` maps id -> units)."""
    product = Product(
        handle=f"p-{sku.lower()}", title=sku, description="", attributes={}, created_at=utcnow()
    )
    session.add(product)
    session.flush()
    variant = Variant(
        product_id=product.id,
        sku=sku,
        title=sku,
        attributes={},
        is_bundle=bool(components),
        low_stock_threshold=low_stock_threshold,
        created_at=utcnow(),
    )
    session.add(variant)
    session.flush()
    for component_id, quantity in (components or {}).items():
        session.add(
            BundleComponent(bundle_id=variant.id, component_id=component_id, quantity=quantity)
        )
    session.flush()
    return variant.id
