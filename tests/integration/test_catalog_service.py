"""Catalog use cases on SQLite and PostgreSQL: exact results, and nothing written on refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from omnicart.catalog import service
from omnicart.catalog.model import KEEP, BundlePart, VariantDraft
from omnicart.catalog.tables import (
    BundleComponent,
    Category,
    ChannelPrice,
    Listing,
    Product,
    Variant,
)
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.kernel.money import Money
from tests.support import add_channel

TABLES = (Category, Product, Variant, BundleComponent, Listing, ChannelPrice)


def _counts(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in TABLES
        }


def _tee(
    db: Database, handle: str = "classic-tee", skus: tuple[str, ...] = ("TEE-S", "TEE-M")
) -> int:
    with db.transaction() as session:
        return service.create_product(
            session,
            handle=handle,
            title="Classic tee",
            variants=[VariantDraft(sku=s, title=s.title()) for s in skus],
        ).id


def _channels(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return add_channel(session, "web", currency="EUR"), add_channel(
            session, "jp", currency="JPY"
        )


def test_create_category_tree(db: Database) -> None:
    with db.transaction() as session:
        top = service.create_category(session, slug="clothing", name=" Clothing ")
        tees = service.create_category(session, slug="tees", name="Tees", parent="clothing")
    assert (top.slug, top.name, top.parent) == ("clothing", "Clothing", None)
    assert (tees.slug, tees.parent) == ("tees", "clothing")
    with db.reading() as session:
        listed = service.list_categories(session)
    assert [(c.slug, c.parent) for c in listed] == [("clothing", None), ("tees", "clothing")]


def test_category_conflicts_and_unknown_parent(db: Database) -> None:
    with db.transaction() as session:
        service.create_category(session, slug="tees", name="Tees")
    before = _counts(db)
    with pytest.raises(Conflict) as dup, db.transaction() as session:
        service.create_category(session, slug="tees", name="Again")
    assert dup.value.field == "slug"
    with pytest.raises(NotFound) as parent, db.transaction() as session:
        service.create_category(session, slug="socks", name="Socks", parent="nope")
    assert (parent.value.field, parent.value.detail) == ("parent", "category 'nope' does not exist")
    assert _counts(db) == before


def test_create_product_with_variants(db: Database) -> None:
    with db.transaction() as session:
        service.create_category(session, slug="tees", name="Tees")
        view = service.create_product(
            session,
            handle="classic-tee",
            title=" Classic tee ",
            description="Soft cotton",
            category="tees",
            attributes={"material": "cotton"},
            variants=[
                VariantDraft(
                    sku="TEE-S",
                    title="Small",
                    gtin="4006381333931",
                    attributes={"size": "S"},
                    low_stock_threshold=3,
                ),
                VariantDraft(sku="TEE-M"),
            ],
        )
    assert (view.handle, view.title, view.description, view.category) == (
        "classic-tee",
        "Classic tee",
        "Soft cotton",
        "tees",
    )
    assert view.attributes == {"material": "cotton"}
    small, medium = view.variants
    assert (small.sku, small.gtin, small.title, small.attributes, small.low_stock_threshold) == (
        "TEE-S",
        "4006381333931",
        "Small",
        {"size": "S"},
        3,
    )
    assert (medium.sku, medium.gtin, medium.is_bundle, medium.components) == (
        "TEE-M",
        None,
        False,
        (),
    )
    with db.reading() as session:
        assert service.get_product(session, product_id=view.id) == view


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"variants": [VariantDraft(sku="TEE-S", gtin="4006381333932")]}, ValidationFailed, "gtin"),
        ({"variants": [VariantDraft(sku="OLD-1")]}, Conflict, "sku"),
        ({"variants": [VariantDraft(sku="N-1"), VariantDraft(sku="N-1")]}, Conflict, "sku"),
        ({"variants": [VariantDraft(sku="N-1", gtin="4006381333931")]}, Conflict, "gtin"),
        ({"variants": []}, ValidationFailed, "variants"),
        ({"variants": [VariantDraft(sku="N 1")]}, ValidationFailed, "sku"),
        ({"variants": [VariantDraft(sku="N-1")], "category": "nope"}, NotFound, "category"),
        ({"variants": [VariantDraft(sku="N-1")], "handle": "old"}, Conflict, "handle"),
        (
            {"variants": [VariantDraft(sku="N-1", low_stock_threshold=-1)]},
            ValidationFailed,
            "low_stock_threshold",
        ),
    ],
)
def test_create_product_refusals_write_nothing(
    db: Database, kwargs: dict[str, object], error: type[Exception], field: str
) -> None:
    with db.transaction() as session:
        service.create_product(
            session,
            handle="old",
            title="Old",
            variants=[VariantDraft(sku="OLD-1", gtin="4006381333931")],
        )
    before = _counts(db)
    arguments: dict[str, object] = {"handle": "new-tee", "title": "New"} | kwargs
    with pytest.raises(error) as caught, db.transaction() as session:
        service.create_product(session, **arguments)  # type: ignore[arg-type]
    assert getattr(caught.value, "field", None) == field
    assert _counts(db) == before


def test_duplicate_sku_is_a_conflict_with_a_precise_message(db: Database) -> None:
    _tee(db)
    with pytest.raises(Conflict) as caught, db.transaction() as session:
        service.add_variant(session, product_id=1, variant=VariantDraft(sku="TEE-S"))
    assert caught.value.detail == "SKU 'TEE-S' already exists"


def test_add_variant_and_unknown_product(db: Database) -> None:
    product_id = _tee(db)
    with db.transaction() as session:
        view = service.add_variant(
            session,
            product_id=product_id,
            variant=VariantDraft(sku="TEE-L", title="Large", attributes={"size": "L"}),
        )
    assert (view.product_id, view.sku, view.title, view.attributes) == (
        product_id,
        "TEE-L",
        "Large",
        {"size": "L"},
    )
    before = _counts(db)
    with pytest.raises(NotFound) as caught, db.transaction() as session:
        service.add_variant(session, product_id=999, variant=VariantDraft(sku="X-1"))
    assert (caught.value.field, caught.value.detail) == ("product", "product 999 does not exist")
    assert _counts(db) == before


def test_update_product_changes_only_given_fields(db: Database) -> None:
    product_id = _tee(db)
    with db.transaction() as session:
        service.create_category(session, slug="tees", name="Tees")
        service.update_product(session, product_id=product_id, description="New", category="tees")
    with db.transaction() as session:
        view = service.update_product(
            session, product_id=product_id, title="Renamed", category=None, description=KEEP
        )
    assert (view.title, view.description, view.category) == ("Renamed", "New", None)
    with pytest.raises(NotFound) as caught, db.transaction() as session:
        service.update_product(session, product_id=product_id, category="nope")
    assert caught.value.field == "category"
    with db.reading() as session:
        assert service.get_product(session, product_id=product_id).category is None


def test_update_variant_gtin_rules(db: Database) -> None:
    _tee(db)
    with db.transaction() as session:
        view = service.update_variant(
            session, sku="TEE-S", gtin="4006381333931", low_stock_threshold=2
        )
    assert (view.gtin, view.low_stock_threshold, view.title) == ("4006381333931", 2, "Tee-S")
    with pytest.raises(Conflict) as taken, db.transaction() as session:
        service.update_variant(session, sku="TEE-M", gtin="4006381333931")
    assert (taken.value.field, taken.value.detail) == (
        "gtin",
        "GTIN 4006381333931 is already used by SKU 'TEE-S'",
    )
    with pytest.raises(ValidationFailed) as bad, db.transaction() as session:
        service.update_variant(session, sku="TEE-M", gtin="4006381333932")
    assert bad.value.field == "gtin"
    with pytest.raises(NotFound) as unknown, db.transaction() as session:
        service.update_variant(session, sku="NOPE", title="x")
    assert (unknown.value.field, unknown.value.detail) == ("sku", "SKU 'NOPE' does not exist")
    with db.transaction() as session:
        cleared = service.update_variant(session, sku="TEE-S", gtin=None, low_stock_threshold=None)
    assert (cleared.gtin, cleared.low_stock_threshold) == (None, None)


def test_list_products_pages_by_id(db: Database) -> None:
    ids = [_tee(db, handle=f"tee-{i}", skus=(f"T{i}",)) for i in range(5)]
    with db.reading() as session:
        first = service.list_products(session, limit=2)
        second = service.list_products(session, after=first[-1].id, limit=2)
        third = service.list_products(session, after=second[-1].id, limit=2)
    assert [p.id for p in first + second + third] == ids
    assert [v.sku for v in third[0].variants] == ["T4"]


def test_define_bundle(db: Database) -> None:
    _tee(db, skus=("A", "B", "KIT"))
    with db.transaction() as session:
        view = service.define_bundle(
            session, sku="KIT", components=[BundlePart("B", 1), BundlePart("A", 2)]
        )
    assert view.is_bundle
    assert view.components == (BundlePart("A", 2), BundlePart("B", 1))
    with db.transaction() as session:
        again = service.define_bundle(session, sku="KIT", components=[BundlePart("A", 3)])
    assert again.components == (BundlePart("A", 3),)
    assert _counts(db)["bundle_components"] == 1


@pytest.mark.parametrize(
    ("sku", "parts", "error", "detail"),
    [
        ("KIT", [BundlePart("KIT", 1)], ValidationFailed, "bundle 'KIT' cannot contain itself"),
        (
            "KIT",
            [BundlePart("A", 0)],
            ValidationFailed,
            "component 'A' has 0 units; a bundle needs 1 to 1,000,000 of each",
        ),
        (
            "KIT",
            [BundlePart("A", -1)],
            ValidationFailed,
            "component 'A' has -1 units; a bundle needs 1 to 1,000,000 of each",
        ),
        ("KIT", [], ValidationFailed, "a bundle needs at least one component"),
        ("KIT", [BundlePart("ZZZ", 1)], NotFound, "unknown component SKU: ZZZ"),
        (
            "KIT",
            [BundlePart("PACK", 1)],
            ValidationFailed,
            "bundle 'KIT' cannot contain another bundle: PACK",
        ),
        (
            "A",
            [BundlePart("B", 1)],
            ValidationFailed,
            "'A' is a component of bundle PACK, so it cannot be a bundle itself",
        ),
        ("NOPE", [BundlePart("A", 1)], NotFound, "SKU 'NOPE' does not exist"),
    ],
)
def test_define_bundle_refusals_write_nothing(
    db: Database, sku: str, parts: list[BundlePart], error: type[Exception], detail: str
) -> None:
    _tee(db, skus=("A", "B", "KIT", "PACK"))
    with db.transaction() as session:
        service.define_bundle(session, sku="PACK", components=[BundlePart("A", 2)])
    before = _counts(db)
    with pytest.raises(error) as caught, db.transaction() as session:
        service.define_bundle(session, sku=sku, components=parts)
    assert caught.value.detail == detail  # type: ignore[attr-defined]
    assert _counts(db) == before
    with db.reading() as session:
        assert not service.get_variant(session, sku="KIT").is_bundle


def test_channel_prices(db: Database) -> None:
    web, jp = _channels(db)
    _tee(db)
    with db.transaction() as session:
        eur = service.set_channel_price(
            session, channel_id=web, sku="TEE-S", amount="12.5", currency="EUR"
        )
        yen = service.set_channel_price(
            session, channel_id=jp, sku="TEE-S", amount=Decimal("1200"), currency="JPY"
        )
    assert eur.price == Money(Decimal("12.50"), "EUR")
    assert str(yen.price.amount) == "1200"
    with db.reading() as session:
        stored = service.get_channel_price(session, channel_id=web, sku="TEE-S")
    assert str(stored.price.amount) == "12.50"
    assert stored.price.currency == "EUR"
    with db.transaction() as session:
        service.set_channel_price(session, channel_id=web, sku="TEE-S", amount="13", currency="EUR")
    with db.reading() as session:
        assert (
            str(service.get_channel_price(session, channel_id=web, sku="TEE-S").price.amount)
            == "13.00"
        )
    assert _counts(db)["channel_prices"] == 2


@pytest.mark.parametrize(
    ("channel", "sku", "amount", "currency", "error", "field"),
    [
        ("jp", "TEE-S", "1200.5", "JPY", ValidationFailed, "amount"),
        ("web", "TEE-S", "9.999", "EUR", ValidationFailed, "amount"),
        ("web", "TEE-S", "10", "USD", ValidationFailed, "currency"),
        ("web", "TEE-S", "-1", "EUR", ValidationFailed, "amount"),
        ("web", "NOPE", "10", "EUR", NotFound, "sku"),
        ("none", "TEE-S", "10", "EUR", NotFound, "channel"),
    ],
)
def test_channel_price_refusals_write_nothing(
    db: Database,
    channel: str,
    sku: str,
    amount: str,
    currency: str,
    error: type[Exception],
    field: str,
) -> None:
    web, jp = _channels(db)
    _tee(db)
    channel_id = {"web": web, "jp": jp, "none": 999}[channel]
    before = _counts(db)
    with pytest.raises(error) as caught, db.transaction() as session:
        service.set_channel_price(
            session, channel_id=channel_id, sku=sku, amount=amount, currency=currency
        )
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert _counts(db) == before


def test_listing_and_channel_view(db: Database) -> None:
    web, jp = _channels(db)
    product_id = _tee(db)
    with db.transaction() as session:
        service.set_channel_price(
            session, channel_id=web, sku="TEE-S", amount="19.99", currency="EUR"
        )
    with pytest.raises(NotFound) as never, db.reading() as session:
        service.get_channel_view(session, channel_id=web, product_id=product_id)
    assert (never.value.field, never.value.detail) == (
        "product",
        f"product {product_id} is not listed on channel 'web'",
    )
    with db.transaction() as session:
        listing = service.set_listing(
            session, channel_id=web, product_id=product_id, listed=True, title="Tee — web edition"
        )
    assert (listing.listed, listing.title, listing.description) == (True, "Tee — web edition", None)
    with db.reading() as session:
        view = service.get_channel_view(session, channel_id=web, product_id=product_id)
    assert (view.title, view.description, view.handle) == ("Tee — web edition", "", "classic-tee")
    assert [(v.sku, v.price) for v in view.variants] == [
        ("TEE-S", Money(Decimal("19.99"), "EUR")),
        ("TEE-M", None),
    ]
    with db.transaction() as session:
        service.set_listing(session, channel_id=web, product_id=product_id, listed=False)
    with pytest.raises(NotFound), db.reading() as session:
        service.get_channel_view(session, channel_id=web, product_id=product_id)
    with db.reading() as session:
        assert service.list_channel_catalog(session, channel_id=web) == []
        assert service.get_listing(session, channel_id=jp, product_id=product_id).listed is False


def test_channel_catalog_lists_only_listed_products_in_pages(db: Database) -> None:
    web, _ = _channels(db)
    ids = [_tee(db, handle=f"tee-{i}", skus=(f"T{i}",)) for i in range(4)]
    with db.transaction() as session:
        for product_id in ids[:3]:
            service.set_listing(
                session, channel_id=web, product_id=product_id, listed=True, description="Web text"
            )
        service.set_listing(session, channel_id=web, product_id=ids[1], listed=False)
        service.set_channel_price(session, channel_id=web, sku="T2", amount="5", currency="EUR")
    with db.reading() as session:
        page = service.list_channel_catalog(session, channel_id=web, limit=1)
        rest = service.list_channel_catalog(session, channel_id=web, after=page[-1].product_id)
    assert [p.product_id for p in page + rest] == [ids[0], ids[2]]
    assert rest[0].description == "Web text"
    assert [(v.sku, str(v.price.amount) if v.price else None) for v in rest[0].variants] == [
        ("T2", "5.00")
    ]


def test_set_listing_refusals(db: Database) -> None:
    web, _ = _channels(db)
    product_id = _tee(db)
    before = _counts(db)
    with pytest.raises(NotFound) as product, db.transaction() as session:
        service.set_listing(session, channel_id=web, product_id=999, listed=True)
    assert product.value.field == "product"
    with pytest.raises(NotFound) as channel, db.transaction() as session:
        service.set_listing(session, channel_id=999, product_id=product_id, listed=True)
    assert channel.value.field == "channel"
    with pytest.raises(ValidationFailed) as title, db.transaction() as session:
        service.set_listing(session, channel_id=web, product_id=product_id, listed=True, title=" ")
    assert title.value.field == "title"
    assert _counts(db) == before
