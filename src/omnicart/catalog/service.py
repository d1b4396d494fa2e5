"""Catalog use cases: each runs inside the caller's one transaction; no HTTP types here.

`principal` is who asks (None for operators at the CLI and importers): a channel's key
sees and changes listings and prices only of its own channel, whatever its scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from omnicart.auth.service import Principal
from omnicart.catalog import model
from omnicart.catalog.model import (
    KEEP,
    BundlePart,
    CategoryView,
    ChannelProductView,
    ChannelVariantView,
    Keep,
    ListingView,
    PriceView,
    ProductView,
    VariantDraft,
    VariantView,
)
from omnicart.catalog.tables import (
    BundleComponent,
    Category,
    ChannelPrice,
    Listing,
    Product,
    Variant,
)
from omnicart.channels.policy import load_channel_policy
from omnicart.inventory.queries import holds_stock
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed

T = TypeVar("T")


def _check_own_channel(principal: Principal | None, channel_id: int) -> None:
    # Staff and admins see every channel; a channel's key only its own.
    if principal is not None and principal.role == "channel":
        principal.require_channel(channel_id, field_name="channel")


# Unique constraints a concurrent writer can win, as PostgreSQL and SQLite name them.
_UNIQUE_FIELDS = {
    "uq_products_handle": "handle",
    "products.handle": "handle",
    "uq_categories_slug": "slug",
    "categories.slug": "slug",
    "uq_variants_sku": "sku",
    "variants.sku": "sku",
    "uq_variants_gtin": "gtin",
    "variants.gtin": "gtin",
}


def _taken_field(exc: IntegrityError) -> str | None:
    message = str(exc.orig)
    return next((f for name, f in _UNIQUE_FIELDS.items() if name in message), None)


def _insert_once(
    session: Session, write: Callable[[], T], *, taken: Callable[[str], Conflict]
) -> T:
    """Run `write` (which adds and flushes) in a savepoint; a lost race becomes `taken(field)`.

    The checks before an insert cannot see a row another transaction has not yet
    committed; the unique constraint can, and the savepoint keeps this transaction usable.
    """
    try:
        with session.begin_nested():
            return write()
    except IntegrityError as exc:
        field = _taken_field(exc)
        if field is None:
            raise
        raise taken(field) from None


# --- categories -------------------------------------------------------------------------


def create_category(
    session: Session, *, slug: str, name: str, parent: str | None = None
) -> CategoryView:
    """A new category, optionally under the parent with slug `parent`."""
    slug = model.validate_category_slug(slug)
    name = model.validate_title(name, field="name", limit=model.MAX_NAME)
    parent_id = _category_id(session, parent, field="parent") if parent else None
    if session.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        raise Conflict(f"category {slug!r} already exists", field="slug")
    row = Category(slug=slug, name=name, parent_id=parent_id)

    def write() -> None:
        session.add(row)
        session.flush()

    _insert_once(
        session, write, taken=lambda f: Conflict(f"category {slug!r} already exists", field=f)
    )
    return CategoryView(id=row.id, slug=slug, name=name, parent=parent)


def list_categories(session: Session) -> list[CategoryView]:
    """Every category, by id (the tree is small enough to return whole)."""
    parent = aliased(Category)
    rows = session.execute(
        select(Category.id, Category.slug, Category.name, parent.slug.label("parent"))
        .outerjoin(parent, parent.id == Category.parent_id)
        .order_by(Category.id)
    ).all()
    return [CategoryView(id=r.id, slug=r.slug, name=r.name, parent=r.parent) for r in rows]


def _category_id(session: Session, slug: str, *, field: str = "category") -> int:
    found = session.scalar(select(Category.id).where(Category.slug == slug.strip()))
    if found is None:
        raise NotFound(f"category {slug.strip()!r} does not exist", field=field)
    return found


# --- products and variants --------------------------------------------------------------


def create_product(
    session: Session,
    *,
    handle: str,
    title: str,
    variants: Sequence[VariantDraft],
    description: str = "",
    category: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> ProductView:
    """A new product with its variants (at least one), written together."""
    handle = model.validate_handle(handle)
    title = model.validate_title(title)
    attrs = model.validate_attributes(attributes or {})
    category_id = _category_id(session, category) if category else None
    if not variants:
        raise ValidationFailed("a product needs at least one variant", field="variants")
    drafts = [_checked_draft(d) for d in variants]
    model.check_unique((d.sku for d in drafts), what="SKU", field="sku")
    model.check_unique((d.gtin for d in drafts), what="GTIN", field="gtin")
    if session.scalar(select(Product.id).where(Product.handle == handle)) is not None:
        raise Conflict(f"a product with handle {handle!r} already exists", field="handle")
    _refuse_taken(session, drafts)
    now = utcnow()
    product = Product(
        handle=handle,
        title=title,
        description=description.strip(),
        category_id=category_id,
        attributes=attrs,
        created_at=now,
    )

    def write() -> None:
        session.add(product)
        session.flush()
        session.add_all(_variant_row(product.id, d, now) for d in drafts)
        session.flush()

    _insert_once(session, write, taken=lambda f: _taken_conflict(f, handle=handle))
    return get_product(session, product_id=product.id)


def _taken_conflict(field: str, *, handle: str = "") -> Conflict:
    if field == "handle":
        return Conflict(f"a product with handle {handle!r} already exists", field=field)
    return Conflict(f"that {field.upper()} was just taken by another variant", field=field)


def add_variant(session: Session, *, product_id: int, variant: VariantDraft) -> VariantView:
    """A new variant (SKU) of an existing product."""
    _product(session, product_id)
    draft = _checked_draft(variant)
    _refuse_taken(session, [draft])
    row = _variant_row(product_id, draft, utcnow())

    def write() -> None:
        session.add(row)
        session.flush()

    _insert_once(session, write, taken=_taken_conflict)
    return _variant_views(session, [row])[0]


def update_product(
    session: Session,
    *,
    product_id: int,
    title: str | Keep = KEEP,
    description: str | Keep = KEEP,
    category: str | Keep | None = KEEP,
    attributes: Mapping[str, str] | Keep = KEEP,
) -> ProductView:
    """Change the given fields of a product; `category=None` removes its category."""
    product = _product(session, product_id)
    if not isinstance(title, Keep):
        product.title = model.validate_title(title)
    if not isinstance(description, Keep):
        product.description = description.strip()
    if not isinstance(category, Keep):
        product.category_id = _category_id(session, category) if category else None
    if not isinstance(attributes, Keep):
        product.attributes = model.validate_attributes(attributes)
    session.flush()
    return get_product(session, product_id=product_id)


def update_variant(
    session: Session,
    *,
    sku: str,
    title: str | Keep = KEEP,
    gtin: str | Keep | None = KEEP,
    attributes: Mapping[str, str] | Keep = KEEP,
    low_stock_threshold: int | Keep | None = KEEP,
) -> VariantView:
    """Change the given fields of a variant; `gtin=None` removes its GTIN."""
    row = _variant(session, sku)
    if not isinstance(title, Keep):
        row.title = model.validate_variant_title(title)
    if not isinstance(gtin, Keep):
        code = model.optional_gtin(gtin)
        if code is not None and code != row.gtin:
            _refuse_gtin(session, code)
        row.gtin = code
    if not isinstance(attributes, Keep):
        row.attributes = model.validate_attributes(attributes)
    if not isinstance(low_stock_threshold, Keep):
        row.low_stock_threshold = model.validate_low_stock_threshold(low_stock_threshold)
    session.flush()
    return _variant_views(session, [row])[0]


def get_product(session: Session, *, product_id: int) -> ProductView:
    """A product with its variants, or NotFound."""
    return _product_views(session, [_product(session, product_id)])[0]


def get_variant(session: Session, *, sku: str) -> VariantView:
    """A variant by SKU (with its bundle components), or NotFound."""
    return _variant_views(session, [_variant(session, sku)])[0]


def list_products(
    session: Session, *, after: int = 0, limit: int = 50, category: str | None = None
) -> list[ProductView]:
    """Up to `limit` products with ids above `after`, ascending; optionally one category's."""
    query = select(Product).where(Product.id > after).order_by(Product.id).limit(limit)
    if category:
        query = query.where(Product.category_id == _category_id(session, category))
    return _product_views(session, list(session.scalars(query)))


def _checked_draft(draft: VariantDraft) -> VariantDraft:
    return VariantDraft(
        sku=model.validate_sku(draft.sku),
        title=model.validate_variant_title(draft.title),
        gtin=model.optional_gtin(draft.gtin),
        attributes=model.validate_attributes(draft.attributes),
        low_stock_threshold=model.validate_low_stock_threshold(draft.low_stock_threshold),
    )


def _refuse_taken(session: Session, drafts: Sequence[VariantDraft]) -> None:
    skus = [d.sku for d in drafts]
    taken = session.scalars(select(Variant.sku).where(Variant.sku.in_(skus))).first()
    if taken is not None:
        raise Conflict(f"SKU {taken!r} already exists", field="sku")
    for draft in drafts:
        if draft.gtin is not None:
            _refuse_gtin(session, draft.gtin)


def _refuse_gtin(session: Session, gtin: str) -> None:
    owner = session.scalar(select(Variant.sku).where(Variant.gtin == gtin))
    if owner is not None:
        raise Conflict(f"GTIN {gtin} is already used by SKU {owner!r}", field="gtin")


def _variant_row(product_id: int, draft: VariantDraft, now: datetime) -> Variant:
    return Variant(
        product_id=product_id,
        sku=draft.sku,
        gtin=draft.gtin,
        title=draft.title,
        attributes=dict(draft.attributes),
        is_bundle=False,
        low_stock_threshold=draft.low_stock_threshold,
        created_at=now,
    )


def _product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist", field="product")
    return product


def _variant(session: Session, sku: str) -> Variant:
    row = session.scalar(select(Variant).where(Variant.sku == sku.strip()))
    if row is None:
        raise NotFound(f"SKU {sku.strip()!r} does not exist", field="sku")
    return row


def _components_of(session: Session, bundle_ids: list[int]) -> dict[int, tuple[BundlePart, ...]]:
    if not bundle_ids:
        return {}
    parts: dict[int, list[BundlePart]] = {}
    rows = session.execute(
        select(BundleComponent.bundle_id, Variant.sku, BundleComponent.quantity)
        .join(Variant, Variant.id == BundleComponent.component_id)
        .where(BundleComponent.bundle_id.in_(bundle_ids))
        .order_by(BundleComponent.bundle_id, Variant.sku)
    )
    for bundle_id, sku, quantity in rows:
        parts.setdefault(bundle_id, []).append(BundlePart(sku=sku, units=quantity))
    return {k: tuple(v) for k, v in parts.items()}


def _variant_views(session: Session, rows: Sequence[Variant]) -> list[VariantView]:
    components = _components_of(session, [r.id for r in rows if r.is_bundle])
    return [
        VariantView(
            id=r.id,
            product_id=r.product_id,
            sku=r.sku,
            gtin=r.gtin,
            title=r.title,
            attributes=dict(r.attributes),
            is_bundle=r.is_bundle,
            low_stock_threshold=r.low_stock_threshold,
            components=components.get(r.id, ()),
        )
        for r in rows
    ]


def _category_slugs(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Category.id, Category.slug).where(Category.id.in_(ids)))
    return {r.id: r.slug for r in rows}


def _product_views(session: Session, products: Sequence[Product]) -> list[ProductView]:
    # Three queries per page whatever its size: variants, their components, categories.
    ids = [p.id for p in products]
    variants = (
        list(
            session.scalars(select(Variant).where(Variant.product_id.in_(ids)).order_by(Variant.id))
        )
        if ids
        else []
    )
    by_product: dict[int, list[VariantView]] = {}
    for view in _variant_views(session, variants):
        by_product.setdefault(view.product_id, []).append(view)
    slugs = _category_slugs(session, {p.category_id for p in products if p.category_id})
    return [
        ProductView(
            id=p.id,
            handle=p.handle,
            title=p.title,
            description=p.description,
            category=slugs.get(p.category_id) if p.category_id else None,
            attributes=dict(p.attributes),
            created_at=p.created_at,
            variants=tuple(by_product.get(p.id, ())),
        )
        for p in products
    ]


# --- bundles ----------------------------------------------------------------------------


def define_bundle(session: Session, *, sku: str, components: Sequence[BundlePart]) -> VariantView:
    """Make `sku` a bundle of exactly these components (replacing any it had)."""
    bundle = _variant(session, sku)
    parts = model.check_bundle_parts(bundle_sku=bundle.sku, parts=components)
    # Locked so a receipt of this SKU (which reads it FOR SHARE) cannot slip in between
    # the check below and the commit.
    session.execute(select(Variant.id).where(Variant.id == bundle.id).with_for_update())
    if holds_stock(session, variant_id=bundle.id):
        # A bundle's stock is derived from its components; units of its own would be
        # stranded, neither sellable nor counted.
        raise Conflict(
            f"SKU {bundle.sku!r} holds stock; move or write off its units before "
            "making it a bundle",
            field="sku",
        )
    wanted = [p.sku for p in parts]
    found = {
        r.sku: r
        for r in session.execute(
            select(Variant.id, Variant.sku, Variant.is_bundle).where(Variant.sku.in_(wanted))
        )
    }
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFound(f"unknown component SKU: {', '.join(missing)}", field="components")
    parent = aliased(Variant)
    containing = session.scalars(
        select(parent.sku)
        .join(BundleComponent, BundleComponent.bundle_id == parent.id)
        .where(BundleComponent.component_id == bundle.id)
    )
    model.check_bundles_do_not_nest(
        bundle_sku=bundle.sku,
        component_bundles=[s for s in wanted if found[s].is_bundle],
        containing_bundles=list(containing),
    )
    session.execute(delete(BundleComponent).where(BundleComponent.bundle_id == bundle.id))
    session.add_all(
        BundleComponent(bundle_id=bundle.id, component_id=found[p.sku].id, quantity=p.units)
        for p in parts
    )
    bundle.is_bundle = True
    session.flush()
    return _variant_views(session, [bundle])[0]


# --- channels: listings and prices ------------------------------------------------------


def set_listing(
    session: Session,
    *,
    channel_id: int,
    product_id: int,
    listed: bool,
    title: str | None = None,
    description: str | None = None,
    principal: Principal | None = None,
) -> ListingView:
    """List or unlist a product on a channel, with optional channel-specific text."""
    _check_own_channel(principal, channel_id)
    load_channel_policy(session, channel_id=channel_id, require_active=False)
    _product(session, product_id)
    title = model.validate_title(title) if title is not None else None
    description = description.strip() if description is not None else None
    _upsert(
        session,
        Listing,
        {"channel_id": channel_id, "product_id": product_id},
        {"listed": listed, "title": title, "description": description},
    )
    return ListingView(
        channel_id=channel_id,
        product_id=product_id,
        listed=listed,
        title=title,
        description=description,
    )


def _upsert(
    session: Session,
    table: type[Listing] | type[ChannelPrice],
    key: dict[str, int],
    values: dict[str, object],
) -> None:
    """Insert the row or change it: two first writes of one key both succeed, last wins."""
    identity = tuple(key.values())
    row = session.get(table, identity)
    if row is None:
        try:
            with session.begin_nested():
                session.add(table(**key, **values))
                session.flush()
        except IntegrityError:
            # Another transaction inserted the same key first; update its row instead.
            row = session.get(table, identity, populate_existing=True)
            if row is None:
                raise
        else:
            return
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def get_listing(
    session: Session, *, channel_id: int, product_id: int, principal: Principal | None = None
) -> ListingView:
    """A product's listing on a channel (not listed when never set)."""
    _check_own_channel(principal, channel_id)
    load_channel_policy(session, channel_id=channel_id, require_active=False)
    _product(session, product_id)
    row = session.get(Listing, (channel_id, product_id))
    if row is None:
        return ListingView(
            channel_id=channel_id,
            product_id=product_id,
            listed=False,
            title=None,
            description=None,
        )
    return ListingView(
        channel_id=channel_id,
        product_id=product_id,
        listed=row.listed,
        title=row.title,
        description=row.description,
    )


def set_channel_price(
    session: Session,
    *,
    channel_id: int,
    sku: str,
    amount: Decimal | str,
    currency: str | None,
    principal: Principal | None = None,
) -> PriceView:
    """Set a variant's price on a channel, in the channel's currency, exact to its minor units."""
    _check_own_channel(principal, channel_id)
    policy = load_channel_policy(session, channel_id=channel_id, require_active=False)
    variant = _variant(session, sku)
    price = model.channel_price(
        amount=amount,
        currency=currency,
        channel_currency=policy.currency,
        channel_code=policy.code,
    )
    _upsert(
        session,
        ChannelPrice,
        {"channel_id": channel_id, "variant_id": variant.id},
        {"amount": price.amount, "currency": price.currency},
    )
    return PriceView(channel_id=channel_id, sku=variant.sku, price=price)


def get_channel_price(
    session: Session, *, channel_id: int, sku: str, principal: Principal | None = None
) -> PriceView:
    """A variant's price on a channel, or NotFound when it has none there."""
    _check_own_channel(principal, channel_id)
    load_channel_policy(session, channel_id=channel_id, require_active=False)
    variant = _variant(session, sku)
    row = session.get(ChannelPrice, (channel_id, variant.id))
    if row is None:
        raise NotFound(f"SKU {variant.sku!r} has no price on channel {channel_id}", field="sku")
    return PriceView(
        channel_id=channel_id,
        sku=variant.sku,
        price=model.stored_price(row.amount, row.currency),
    )


def get_channel_view(
    session: Session, *, channel_id: int, product_id: int, principal: Principal | None = None
) -> ChannelProductView:
    """A product as a channel shows it, or NotFound when it is not listed there."""
    _check_own_channel(principal, channel_id)
    policy = load_channel_policy(session, channel_id=channel_id, require_active=False)
    product = _product(session, product_id)
    listing = session.get(Listing, (channel_id, product_id))
    if listing is None or not listing.listed:
        raise NotFound(
            f"product {product_id} is not listed on channel {policy.code!r}", field="product"
        )
    return _channel_views(session, channel_id, [(product, listing)])[0]


def list_channel_catalog(
    session: Session,
    *,
    channel_id: int,
    after: int = 0,
    limit: int = 50,
    principal: Principal | None = None,
) -> list[ChannelProductView]:
    """Up to `limit` products listed on the channel with ids above `after`, ascending."""
    _check_own_channel(principal, channel_id)
    load_channel_policy(session, channel_id=channel_id, require_active=False)
    rows = session.execute(
        select(Product, Listing)
        .join(Listing, Listing.product_id == Product.id)
        .where(Listing.channel_id == channel_id, Listing.listed.is_(True), Product.id > after)
        .order_by(Product.id)
        .limit(limit)
    ).all()
    return _channel_views(session, channel_id, [(r[0], r[1]) for r in rows])


def _channel_views(
    session: Session, channel_id: int, pairs: Sequence[tuple[Product, Listing]]
) -> list[ChannelProductView]:
    ids = [p.id for p, _ in pairs]
    variants: dict[int, list[ChannelVariantView]] = {}
    if ids:
        rows = session.execute(
            select(Variant, ChannelPrice.amount, ChannelPrice.currency)
            .outerjoin(
                ChannelPrice,
                (ChannelPrice.variant_id == Variant.id) & (ChannelPrice.channel_id == channel_id),
            )
            .where(Variant.product_id.in_(ids))
            .order_by(Variant.id)
        )
        for variant, amount, currency in rows:
            price = model.stored_price(amount, currency) if amount is not None else None
            variants.setdefault(variant.product_id, []).append(
                ChannelVariantView(
                    sku=variant.sku,
                    gtin=variant.gtin,
                    title=variant.title,
                    attributes=dict(variant.attributes),
                    is_bundle=variant.is_bundle,
                    price=price,
                )
            )
    slugs = _category_slugs(session, {p.category_id for p, _ in pairs if p.category_id})
    return [
        ChannelProductView(
            channel_id=channel_id,
            product_id=p.id,
            handle=p.handle,
            # An override replaces the text on this channel only; unset falls back.
            title=listing.title or p.title,
            description=listing.description if listing.description is not None else p.description,
            category=slugs.get(p.category_id) if p.category_id else None,
            attributes=dict(p.attributes),
            variants=tuple(variants.get(p.id, ())),
        )
        for p, listing in pairs
    ]
