"""Seed helpers for tests: a small merchant written straight into the tables.

Sales follow listings, so by default the merchant lists every product on every channel:
`add_variant` lists its product on the channels there are, `add_channel` lists the
products there are. `listed=False` makes a product (or a channel) list nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from omnicart.catalog.tables import BundleComponent, Listing, Product, Variant
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
    listed: bool = True,
) -> int:
    """A channel served by the given locations (listing every product, unless not
    `listed`); returns its id."""
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
    if listed:
        for product_id in session.scalars(select(Product.id)):
            session.add(Listing(channel_id=row.id, product_id=product_id, listed=True))
    session.flush()
    return row.id


def add_variant(
    session: Session,
    sku: str,
    *,
    low_stock_threshold: int | None = None,
    components: dict[int, int] | None = None,
    listed: bool = True,
) -> int:
    """A product with one variant (a bundle when `components` maps id -> units), listed
    on every channel there is unless not `listed`; returns the variant's id."""
    product = Product(
        handle=f"p-{sku.lower()}", title=sku, description="", attributes={}, created_at=utcnow()
    )
    session.add(product)
    session.flush()
    if listed:
        for channel_id in session.scalars(select(Channel.id)):
            session.add(Listing(channel_id=channel_id, product_id=product.id, listed=True))
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


def set_listed(session: Session, *, channel_id: int, sku: str, listed: bool) -> None:
    """List (or unlist) the product of `sku` on a channel."""
    product_id = session.scalar(select(Variant.product_id).where(Variant.sku == sku))
    assert product_id is not None, sku
    row = session.get(Listing, (channel_id, product_id))
    if row is None:
        session.add(Listing(channel_id=channel_id, product_id=product_id, listed=listed))
    else:
        row.listed = listed
    session.flush()
