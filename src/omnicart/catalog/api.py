"""HTTP routes for catalog: parse, call the service in one transaction, serialise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from omnicart.api.deps import DbDep, require
from omnicart.api.pagination import MAX_PAGE, Page, decode_cursor, next_cursor
from omnicart.auth.service import Principal
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

router = APIRouter(tags=["catalog"])

Reader = Annotated[Principal, Depends(require("catalog:read"))]
Writer = Annotated[Principal, Depends(require("catalog:write"))]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.post("/categories", status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryIn, db: DbDep, _: Writer) -> CategoryOut:
    """Create a category, optionally under a parent."""
    with db.transaction() as session:
        view = service.create_category(session, slug=body.slug, name=body.name, parent=body.parent)
    return CategoryOut.model_validate(view)


@router.get("/categories")
def list_categories(db: DbDep, _: Reader) -> list[CategoryOut]:
    """Every category."""
    with db.reading() as session:
        views = service.list_categories(session)
    return [CategoryOut.model_validate(v) for v in views]


@router.post("/products", status_code=status.HTTP_201_CREATED)
def create_product(body: ProductIn, db: DbDep, _: Writer) -> ProductOut:
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
def list_products(
    db: DbDep,
    _: Reader,
    cursor: Cursor = None,
    limit: Limit = 50,
    category: Annotated[str | None, Query(description="Only this category's.")] = None,
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
def get_product(product_id: int, db: DbDep, _: Reader) -> ProductOut:
    """One product with its variants."""
    with db.reading() as session:
        view = service.get_product(session, product_id=product_id)
    return ProductOut.model_validate(view)


@router.patch("/products/{product_id}")
def update_product(product_id: int, body: ProductPatchIn, db: DbDep, _: Writer) -> ProductOut:
    """Change the fields given; the others stay as they are."""
    with db.transaction() as session:
        view = service.update_product(session, product_id=product_id, **body.changes())
    return ProductOut.model_validate(view)


@router.post("/products/{product_id}/variants", status_code=status.HTTP_201_CREATED)
def add_variant(product_id: int, body: VariantIn, db: DbDep, _: Writer) -> VariantOut:
    """Add a variant (SKU) to a product."""
    with db.transaction() as session:
        view = service.add_variant(session, product_id=product_id, variant=body.to_draft())
    return VariantOut.model_validate(view)


@router.get("/variants/{sku}")
def get_variant(sku: str, db: DbDep, _: Reader) -> VariantOut:
    """One variant by SKU."""
    with db.reading() as session:
        view = service.get_variant(session, sku=sku)
    return VariantOut.model_validate(view)


@router.patch("/variants/{sku}")
def update_variant(sku: str, body: VariantPatchIn, db: DbDep, _: Writer) -> VariantOut:
    """Change the fields given; the others stay as they are."""
    with db.transaction() as session:
        view = service.update_variant(session, sku=sku, **body.changes())
    return VariantOut.model_validate(view)


@router.put("/variants/{sku}/bundle")
def define_bundle(sku: str, body: BundleIn, db: DbDep, _: Writer) -> VariantOut:
    """Make the SKU a bundle of exactly these components."""
    with db.transaction() as session:
        view = service.define_bundle(session, sku=sku, components=body.parts())
    return VariantOut.model_validate(view)


@router.put("/channels/{channel_id}/listings/{product_id}")
def set_listing(
    channel_id: int, product_id: int, body: ListingIn, db: DbDep, principal: Writer
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
def get_listing(channel_id: int, product_id: int, db: DbDep, principal: Reader) -> ListingOut:
    """A product's listing on a channel."""
    with db.reading() as session:
        view = service.get_listing(
            session, channel_id=channel_id, product_id=product_id, principal=principal
        )
    return ListingOut.model_validate(view)


@router.put("/channels/{channel_id}/prices/{sku}")
def set_channel_price(
    channel_id: int, sku: str, body: PriceIn, db: DbDep, principal: Writer
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
def get_channel_price(channel_id: int, sku: str, db: DbDep, principal: Reader) -> PriceOut:
    """A variant's price on a channel."""
    with db.reading() as session:
        view = service.get_channel_price(
            session, channel_id=channel_id, sku=sku, principal=principal
        )
    return PriceOut.model_validate(view)


@router.get("/channels/{channel_id}/catalog")
def list_channel_catalog(
    channel_id: int, db: DbDep, principal: Reader, cursor: Cursor = None, limit: Limit = 50
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
def get_channel_view(
    channel_id: int, product_id: int, db: DbDep, principal: Reader
) -> ChannelProductOut:
    """One product as the channel shows it (404 when not listed there)."""
    with db.reading() as session:
        view = service.get_channel_view(
            session, channel_id=channel_id, product_id=product_id, principal=principal
        )
    return ChannelProductOut.model_validate(view)
