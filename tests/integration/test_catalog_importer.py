"""The catalog CSV importer on SQLite and PostgreSQL: all rows or none, every problem named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from omnicart.catalog import service
from omnicart.catalog.importer import (
    CatalogImportRejected,
    ImportSummary,
    RowError,
    import_catalog_file,
)
from omnicart.catalog.model import BundlePart, VariantDraft
from omnicart.catalog.tables import (
    BundleComponent,
    Category,
    ChannelPrice,
    Listing,
    Product,
    Variant,
)
from omnicart.db.engine import Database
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import Money
from tests.support import add_channel

GOOD = (
    "handle,product_title,description,category,sku,gtin,variant_title,attributes,"
    "low_stock_threshold,bundle_components,price:web,price:jp,listed:web,listed:jp\n"
    "classic-tee,Classic tee,Soft cotton,tees,TEE-S,4006381333931,Small,size=S;colour=red,"
    "3,,19.99,2000,yes,no\n"
    "classic-tee,,,,TEE-M,,Medium,size=M,,,19.5 EUR,2100,,\n"
    "tee-pack,Tee pack,Two small and one medium,,PACK-3,,,,,TEE-S*2;TEE-M*1,35,,yes,\n"
)

TABLES = (Category, Product, Variant, BundleComponent, Listing, ChannelPrice)


def _counts(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in TABLES
        }


@pytest.fixture
def channels(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        service.create_category(session, slug="tees", name="Tees")
        return {
            "web": add_channel(session, "web", currency="EUR"),
            "jp": add_channel(session, "jp", currency="JPY"),
        }


def _file(tmp_path: Path, text: str, name: str = "catalog.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_is_imported(db: Database, channels: dict[str, int], tmp_path: Path) -> None:
    summary = import_catalog_file(db, _file(tmp_path, GOOD))
    assert summary == ImportSummary(
        rows=3,
        products_created=2,
        products_updated=0,
        variants_created=3,
        variants_updated=0,
        bundles_defined=1,
        prices_set=5,
        listings_set=3,
    )
    assert _counts(db) == {
        "categories": 1,
        "products": 2,
        "variants": 3,
        "bundle_components": 2,
        "listings": 3,
        "channel_prices": 5,
    }
    web, jp = channels["web"], channels["jp"]
    with db.reading() as session:
        tee = service.list_products(session)[0]
        pack = service.get_variant(session, sku="PACK-3")
        view = service.get_channel_view(session, channel_id=web, product_id=tee.id)
        jp_listing = service.get_listing(session, channel_id=jp, product_id=tee.id)
        yen = service.get_channel_price(session, channel_id=jp, sku="TEE-M")
    assert (tee.handle, tee.title, tee.description, tee.category) == (
        "classic-tee",
        "Classic tee",
        "Soft cotton",
        "tees",
    )
    small, medium = tee.variants
    assert (small.sku, small.gtin, small.title, small.attributes, small.low_stock_threshold) == (
        "TEE-S",
        "4006381333931",
        "Small",
        {"size": "S", "colour": "red"},
        3,
    )
    assert (medium.sku, medium.gtin, medium.attributes, medium.low_stock_threshold) == (
        "TEE-M",
        None,
        {"size": "M"},
        None,
    )
    assert pack.is_bundle
    assert pack.components == (BundlePart("TEE-M", 1), BundlePart("TEE-S", 2))
    assert [(v.sku, v.price) for v in view.variants] == [
        ("TEE-S", Money(Decimal("19.99"), "EUR")),
        ("TEE-M", Money(Decimal("19.50"), "EUR")),
    ]
    assert jp_listing.listed is False
    assert str(yen.price.amount) == "2100"


def test_reimport_is_idempotent_and_updates_only_what_changed(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    path = _file(tmp_path, GOOD)
    import_catalog_file(db, path)
    after_first = _counts(db)
    again = import_catalog_file(db, path)
    assert again == ImportSummary(
        rows=3,
        products_created=0,
        products_updated=0,
        variants_created=0,
        variants_updated=0,
        bundles_defined=0,
        prices_set=0,
        listings_set=0,
    )
    assert _counts(db) == after_first
    changed = GOOD.replace("19.99", "17.00").replace("TEE-S*2;TEE-M*1", "TEE-S*3")
    summary = import_catalog_file(db, _file(tmp_path, changed, "changed.csv"))
    assert (summary.prices_set, summary.bundles_defined, summary.variants_updated) == (1, 1, 0)
    with db.reading() as session:
        assert service.get_variant(session, sku="PACK-3").components == (BundlePart("TEE-S", 3),)
        price = service.get_channel_price(session, channel_id=channels["web"], sku="TEE-S")
    assert str(price.price.amount) == "17.00"


def test_columns_absent_leave_stored_values_alone(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    import_catalog_file(db, _file(tmp_path, GOOD))
    # Only titles and a price; GTINs, bundles, listings and the jp prices stay as they are.
    summary = import_catalog_file(
        db,
        _file(
            tmp_path,
            (
                "handle,product_title,sku,price:web\n"
                "classic-tee,Classic tee v2,TEE-S,\n"
                "tee-pack,Tee pack,PACK-3,36\n"
            ),
            "partial.csv",
        ),
    )
    assert (summary.products_updated, summary.variants_updated, summary.prices_set) == (1, 0, 1)
    with db.reading() as session:
        tee = service.get_product(session, product_id=1)
        pack = service.get_variant(session, sku="PACK-3")
    assert tee.title == "Classic tee v2"
    assert tee.description == "Soft cotton"
    assert tee.variants[0].gtin == "4006381333931"
    assert pack.is_bundle
    # A present but blank bundle column makes the SKU a plain variant again.
    import_catalog_file(
        db,
        _file(
            tmp_path,
            (
                "handle,product_title,sku,bundle_components,gtin\n"
                "tee-pack,Tee pack,PACK-3,,\n"
                "classic-tee,Classic tee v2,TEE-S,,\n"
            ),
            "unbundle.csv",
        ),
    )
    with db.reading() as session:
        assert not service.get_variant(session, sku="PACK-3").is_bundle
        assert service.get_variant(session, sku="TEE-S").gtin is None
    assert _counts(db)["bundle_components"] == 0


BAD = """\
handle,product_title,sku,gtin,bundle_components,price:jp,price:web,price:nowhere,category
classic-tee,Classic tee,TEE-S,4006381333932,,2000,10,1,tees
classic-tee,,TEE-M,,,2100.5,,,
classic-tee,,TEE-S,,,,,,
pack,Pack,PACK-1,,TEE-S*two,,,,
pack,Pack X,PACK-2,,PACK-2*1,,,,
other,Other,,,,,,,
other2,Other 2,O-2,,TEE-S*2;,,10 USD,,nope
kit,Kit,KIT-1,,TEE-S*0,,,,
kit2,Kit 2,KIT-2,,TEE-M*1;GHOST*1,,,,
Bad Handle,X,X-1,,,,,,
short,row
"""


def test_bad_rows_are_all_reported_and_nothing_is_written(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    before = _counts(db)
    with pytest.raises(CatalogImportRejected) as caught:
        import_catalog_file(db, _file(tmp_path, BAD))
    assert caught.value.errors == [
        RowError(1, "price:nowhere", "unknown channel 'nowhere'"),
        RowError(2, "gtin", "GTIN '4006381333932' has check digit 2, expected 1"),
        RowError(3, "price:jp", "2100.5 has more than 0 decimal places, the most JPY allows"),
        RowError(4, "sku", "SKU 'TEE-S' is already on row 2"),
        RowError(5, "bundle_components", "units 'two' of 'TEE-S' is not a whole number"),
        RowError(6, "product_title", "differs from row 5 of product 'pack'"),
        RowError(6, "bundle_components", "bundle 'PACK-2' cannot contain itself"),
        RowError(7, "sku", "a SKU is required"),
        RowError(8, "bundle_components", "'' is not SKU*units; write SKU*units;SKU*units"),
        RowError(8, "price:web", "channel 'web' sells in EUR, not USD"),
        RowError(8, "category", "category 'nope' does not exist"),
        RowError(
            9,
            "bundle_components",
            "component 'TEE-S' has 0 units; a bundle needs 1 to 1,000,000 of each",
        ),
        RowError(10, "bundle_components", "unknown component SKU: GHOST"),
        RowError(
            11,
            "handle",
            "handle 'Bad Handle' must be lower-case letters and digits separated by single hyphens",
        ),
        RowError(12, "(row)", "has 2 cells but the header has 9 columns"),
    ]
    assert caught.value.detail == "15 problems in the file; nothing was imported"
    assert caught.value.field == "file"
    assert _counts(db) == before


def test_one_bad_row_among_good_ones_writes_nothing(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    before = _counts(db)
    text = GOOD + "late-one,Late,,,LATE-1,,,,,,,1.5,,\n"
    with pytest.raises(CatalogImportRejected) as caught:
        import_catalog_file(db, _file(tmp_path, text))
    assert caught.value.errors == [
        RowError(5, "price:jp", "1.5 has more than 0 decimal places, the most JPY allows")
    ]
    assert _counts(db) == before


def test_missing_required_column_is_reported_on_the_header(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    before = _counts(db)
    text = "handle,product_title,gtin,colour\nclassic-tee,Classic tee,4006381333931,red\n"
    with pytest.raises(CatalogImportRejected) as caught:
        import_catalog_file(db, _file(tmp_path, text))
    assert caught.value.errors == [
        RowError(1, "colour", "unknown column"),
        RowError(1, "sku", "required column is missing"),
    ]
    assert _counts(db) == before


def test_rows_clashing_with_stored_data(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    with db.transaction() as session:
        service.create_product(
            session,
            handle="stored",
            title="Stored",
            variants=[
                VariantDraft(sku="A", gtin="4006381333931"),
                VariantDraft(sku="B"),
                VariantDraft(sku="PACK"),
            ],
        )
        service.define_bundle(session, sku="PACK", components=[BundlePart("A", 1)])
    before = _counts(db)
    text = (
        "handle,product_title,sku,gtin,bundle_components\n"
        "moved,Moved,B,,\n"
        "fresh,Fresh,C,4006381333931,\n"
        "fresh,,A2,,PACK*1\n"
        "stored,Stored,A,4006381333931,B*2\n"
    )
    with pytest.raises(CatalogImportRejected) as caught:
        import_catalog_file(db, _file(tmp_path, text))
    assert caught.value.errors == [
        RowError(2, "sku", "SKU 'B' belongs to product 'stored'"),
        RowError(3, "gtin", "GTIN 4006381333931 already belongs to SKU 'A'"),
        RowError(4, "bundle_components", "bundle 'A2' cannot contain another bundle: PACK"),
        RowError(5, "gtin", "GTIN 4006381333931 is already on row 3"),
        RowError(
            5,
            "bundle_components",
            "'A' is a component of bundle PACK, so it cannot be a bundle itself",
        ),
    ]
    assert _counts(db) == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty; the first row must be the header"),
        (b"handle,sku\n\xff\xfe,x\n", "is not UTF-8 text (byte 0xff at offset 11)"),
        (b'handle,sku\n"unclosed,x\n', "is not valid CSV"),
    ],
)
def test_unreadable_files_are_refused_before_anything_is_written(
    db: Database, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as caught:
        import_catalog_file(db, path)
    assert caught.value.field == "file"
    assert reason in caught.value.detail
    with pytest.raises(ValidationFailed, match="cannot read"):
        import_catalog_file(db, tmp_path / "missing.csv")


def test_byte_order_mark_and_blank_lines_are_accepted(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfhandle,product_title,sku\r\n\r\ntee,Tee,T-1\r\n")
    assert import_catalog_file(db, path).variants_created == 1


def test_thousands_of_rows_in_bulk(db: Database, channels: dict[str, int], tmp_path: Path) -> None:
    # More rows than one IN (...) chunk holds, so every bulk lookup and write is chunked.
    lines = ["handle,product_title,sku,price:web,listed:web,bundle_components"]
    for i in range(1500):
        lines.append(f"p-{i // 3},Product {i // 3},SKU-{i:05d},{i}.50,yes,")
    lines.append("kit,Kit,KIT-1,9,no,SKU-00000*2;SKU-01499*1")
    path = _file(tmp_path, "\n".join(lines) + "\n")
    summary = import_catalog_file(db, path)
    assert summary == ImportSummary(
        rows=1501,
        products_created=501,
        products_updated=0,
        variants_created=1501,
        variants_updated=0,
        bundles_defined=1,
        prices_set=1501,
        listings_set=501,
    )
    assert import_catalog_file(db, path).prices_set == 0
    with db.reading() as session:
        price = service.get_channel_price(session, channel_id=channels["web"], sku="SKU-01499")
        kit = service.get_variant(session, sku="KIT-1")
    assert str(price.price.amount) == "1499.50"
    assert kit.components == (BundlePart("SKU-00000", 2), BundlePart("SKU-01499", 1))


def test_unreadable_numbers_become_row_errors_and_nothing_is_written(
    db: Database, channels: dict[str, int], tmp_path: Path
) -> None:
    text = (
        "handle,product_title,sku,gtin,low_stock_threshold,bundle_components,price:web\n"
        "tee,Tee,TEE-S,٤٠٠٦٣٨١٣٣٣٩٣١,,,\n"
        "tee,,TEE-M,,9223372036854775808,,\n"
        "tee,,TEE-L,,,,1e30\n"
        "tee,,TEE-XL,,1000001,,1e1000000\n"
        "pack,Pack,PACK,,,TEE-S*1000001,\n"
    )
    before = _counts(db)
    with pytest.raises(CatalogImportRejected) as caught:
        import_catalog_file(db, _file(tmp_path, text))
    too_big = "amount has more than 15 digits before the decimal point"
    assert caught.value.errors == [
        RowError(2, "gtin", "GTIN '٤٠٠٦٣٨١٣٣٣٩٣١' must be 8, 12, 13 or 14 digits"),
        RowError(3, "low_stock_threshold", "must be from 0 to 1,000,000"),
        RowError(4, "price:web", too_big),
        RowError(5, "low_stock_threshold", "must be from 0 to 1,000,000"),
        RowError(5, "price:web", too_big),
        RowError(
            6,
            "bundle_components",
            "component 'TEE-S' has 1000001 units; a bundle needs 1 to 1,000,000 of each",
        ),
    ]
    assert _counts(db) == before
