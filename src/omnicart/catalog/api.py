"""HTTP routes for catalog: parse, call the service in one transaction, serialise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath, SkuPath
from omnicart.auth.access import Named, access
from omnicart.catalog import service
from omnicart.catalog.schemas import (
    BundleIn,
    CategoryIn,
    CategoryOut,
    ChannelProductOut,
    ListingIn,
    ListingOut,
    PriceIn,
    PriceOut,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    VariantIn,
    VariantOut,
    VariantPatchIn,
)

CATALOG_READ = access("catalog:read", "channel", "staff")
# A channel's key reads its own channel's listings and prices; staff read any channel's.
CHANNEL_CATALOG = access("catalog:read", "channel", "staff", channel=Named("path", "channel_id"))
# Only keys made before scopes were bounded by role hold catalog:write as a channel's key.
CHANNEL_CATALOG_WRITE = access("catalog:write", "channel", channel=Named("path", "channel_id"))
router = APIRouter(tags=["catalog"])


@router.post("/categories", status_code=status.HTTP_201_CREATED)
@guard(access("catalog:write"))
def create_category(body: CategoryIn, db: DbDep, principal: Caller) -> CategoryOut:
    """Create a category, optionally under a parent."""
    with db.transaction() as session:
        view = service.create_category(session, slug=body.slug, name=body.name, parent=body.parent)
    return CategoryOut.model_validate(view)


@router.get("/categories")
@guard(CATALOG_READ)
def list_categories(db: DbDep, principal: Caller) -> list[CategoryOut]:
    """Every category."""
    with db.reading() as session:
        views = service.list_categories(session)
    return [CategoryOut.model_validate(v) for v in views]


@router.post("/products", status_code=status.HTTP_201_CREATED)
@guard(access("catalog:write"))
def create_product(body: ProductIn, db: DbDep, principal: Caller) -> ProductOut:
    """Create a product with its variants."""
    with db.transaction() as session:
        view = service.create_product(
            session,
            handle=body.handle,
            title=body.title,
            description=body.description,
            category=body.category,
            attributes=body.attributes,
            variants=[v.to_draft() for v in body.variants],
        )
    return ProductOut.model_validate(view)


@router.get("/products")
@guard(CATALOG_READ)
def list_products(
    db: DbDep,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = 50,
    category: Annotated[
        str | None, Query(min_length=1, max_length=120, description="Only this category's.")
    ] = None,
) -> Page[ProductOut]:
    """Products by ascending id, one page at a time."""
    after = decode_cursor(cursor)
    with db.reading() as session:
        views = service.list_products(session, after=after, limit=limit, category=category)
    return Page[ProductOut](
        items=[ProductOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.get("/products/{product_id}")
@guard(CATALOG_READ)
def get_product(product_id: IdPath, db: DbDep, principal: Caller) -> ProductOut:
    """One product with its variants."""
    with db.reading() as session:
        view = service.get_product(session, product_id=product_id)
    return ProductOut.model_validate(view)


@router.patch("/products/{product_id}")
@guard(access("catalog:write"))
def update_product(
    product_id: IdPath, body: ProductPatchIn, db: DbDep, principal: Caller
) -> ProductOut:
    """Change the fields given; the others stay as they are."""
    with db.transaction() as session:
        view = service.update_product(session, product_id=product_id, **body.changes())
    return ProductOut.model_validate(view)


@router.post("/products/{product_id}/variants", status_code=status.HTTP_201_CREATED)
@guard(access("catalog:write"))
def add_variant(product_id: IdPath, body: VariantIn, db: DbDep, principal: Caller) -> VariantOut:
    """Add a variant (SKU) to a product."""
    with db.transaction() as session:
        view = service.add_variant(session, product_id=product_id, variant=body.to_draft())
    return VariantOut.model_validate(view)


@router.get("/variants/{sku}")
@guard(CATALOG_READ)
def get_variant(sku: SkuPath, db: DbDep, principal: Caller) -> VariantOut:
    """One variant by SKU."""
    with db.reading() as session:
        view = service.get_variant(session, sku=sku)
    return VariantOut.model_validate(view)


@router.patch("/variants/{sku}")
@guard(access("catalog:write"))
def update_variant(sku: SkuPath, body: VariantPatchIn, db: DbDep, principal: Caller) -> VariantOut:
    """Change the fields given; the others stay as they are."""
    with db.transaction() as session:
        view = service.update_variant(session, sku=sku, **body.changes())
    return VariantOut.model_validate(view)


@router.put("/variants/{sku}/bundle")
@guard(access("catalog:write"))
def define_bundle(sku: SkuPath, body: BundleIn, db: DbDep, principal: Caller) -> VariantOut:
    """Make the SKU a bundle of exactly these components."""
    with db.transaction() as session:
        view = service.define_bundle(session, sku=sku, components=body.parts())
    return VariantOut.model_validate(view)


@router.put("/channels/{channel_id}/listings/{product_id}")
@guard(CHANNEL_CATALOG_WRITE)
def set_listing(
    channel_id: IdPath, product_id: IdPath, body: ListingIn, db: DbDep, principal: Caller
) -> ListingOut:
    """List or unlist a product on a channel, with optional channel-specific text."""
    with db.transaction() as session:
        view = service.set_listing(
            session,
            channel_id=channel_id,
            product_id=product_id,
            listed=body.listed,
            title=body.title,
            description=body.description,
            principal=principal,
        )
    return ListingOut.model_validate(view)


@router.get("/channels/{channel_id}/listings/{product_id}")
@guard(CHANNEL_CATALOG)
def get_listing(channel_id: IdPath, product_id: IdPath, db: DbDep, principal: Caller) -> ListingOut:
    """A product's listing on a channel."""
    with db.reading() as session:
        view = service.get_listing(
            session, channel_id=channel_id, product_id=product_id, principal=principal
        )
    return ListingOut.model_validate(view)


@router.put("/channels/{channel_id}/prices/{sku}")
@guard(CHANNEL_CATALOG_WRITE)
def set_channel_price(
    channel_id: IdPath, sku: SkuPath, body: PriceIn, db: DbDep, principal: Caller
) -> PriceOut:
    """Set a variant's price on a channel (in the channel's currency)."""
    with db.transaction() as session:
        view = service.set_channel_price(
            session,
            channel_id=channel_id,
            sku=sku,
            amount=body.amount,
            currency=body.currency,
            principal=principal,
        )
    return PriceOut.model_validate(view)


@router.get("/channels/{channel_id}/prices/{sku}")
@guard(CHANNEL_CATALOG)
def get_channel_price(channel_id: IdPath, sku: SkuPath, db: DbDep, principal: Caller) -> PriceOut:
    """A variant's price on a channel."""
    with db.reading() as session:
        view = service.get_channel_price(
            session, channel_id=channel_id, sku=sku, principal=principal
        )
    return PriceOut.model_validate(view)


@router.get("/channels/{channel_id}/catalog")
@guard(CHANNEL_CATALOG)
def list_channel_catalog(
    channel_id: IdPath, db: DbDep, principal: Caller, cursor: Cursor = None, limit: Limit = 50
) -> Page[ChannelProductOut]:
    """Products listed on the channel, with its titles and prices, one page at a time."""
    after = decode_cursor(cursor)
    with db.reading() as session:
        views = service.list_channel_catalog(
            session, channel_id=channel_id, after=after, limit=limit, principal=principal
        )
    return Page[ChannelProductOut](
        items=[ChannelProductOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.product_id for v in views], limit),
    )


@router.get("/channels/{channel_id}/catalog/{product_id}")
@guard(CHANNEL_CATALOG)
def get_channel_view(
    channel_id: IdPath, product_id: IdPath, db: DbDep, principal: Caller
) -> ChannelProductOut:
    """One product as the channel shows it (404 when not listed there)."""
    with db.reading() as session:
        view = service.get_channel_view(
            session, channel_id=channel_id, product_id=product_id, principal=principal
        )
    return ChannelProductOut.model_validate(view)
