"""Product feeds from a real catalog, stock and order book, on SQLite and PostgreSQL.

A small shop: a web channel in EUR with listed, unlisted and never-listed products,
channel titles, a sold-out SKU (its last unit sold through the order book) and products
a vendor would refuse (no image, no price). Each feed must parse, carry every attribute
the vendor requires (read from the summaries in ../shared/data/product-feeds at test
time) for every item, list only listed products, and say sold out where nothing is left.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from omnicart.catalog import service as catalog
from omnicart.catalog.model import BundlePart, VariantDraft
from omnicart.channels.service import create_channel, set_channel_locations
from omnicart.db.engine import Database
from omnicart.inventory.service import receive_stock
from omnicart.kernel.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from omnicart.locations.service import create_location
from omnicart.orders.model import Fulfil, LineDraft, OrderDraft, PaymentDraft
from omnicart.orders.service import ExternalOrder, ingest_order
from omnicart.productfeeds import service
from omnicart.productfeeds.google import G_NAMESPACE
from omnicart.productfeeds.model import FeedFormat, Skipped
from tests.cli_run import omnicart

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "product-feeds"
G = f"{{{G_NAMESPACE}}}"
HOSTILE = "Mug \"Grande\" <b> & 'co'\ttab\nline two, żółć 😀"


@dataclass(frozen=True)
class Shop:
    web: int
    code: str
    warehouse: int


def _sell_last_unit(db: Database, channel_id: int, sku: str) -> None:
    """An order for the SKU's last unit on the channel, through the order book."""
    price = Decimal("15.50")
    ingest_order(
        db,
        ExternalOrder(
            channel_id=channel_id,
            external_id=f"last-{sku}",
            draft=OrderDraft(
                currency="EUR",
                lines=(LineDraft(sku, 1, price),),
                total=price,
                payments=(PaymentDraft("card", price),),
            ),
            fulfil=Fulfil(mode="ship", address={"city": "Warszawa"}),
        ),
    )


def build_shop(db: Database) -> Shop:
    """The small catalog every test here starts from."""
    with db.transaction() as s:
        wh = create_location(s, code="wh", name="Warehouse", kind="warehouse").id
        web = create_channel(s, code="web", name="Web shop", kind="web", currency="EUR").id
        set_channel_locations(s, channel_id=web, ship_location_ids=[wh], pickup_location_ids=[])
        catalog.create_category(s, slug="home", name="Home")
        catalog.create_category(s, slug="kitchen", name="Kitchen", parent="home")
        brand = {"brand": "Acme"}

        def product(handle: str, variants: list[VariantDraft], **fields: object) -> int:
            view = catalog.create_product(
                s,
                handle=handle,
                title=handle.title(),
                description=f"The {handle}.",
                variants=variants,
                **fields,  # type: ignore[arg-type]
            )
            return view.id

        tee = product(
            "tee",
            [
                VariantDraft(
                    sku="TEE-S", title="S", gtin="4006381333931", attributes={"colour": "red"}
                ),
                VariantDraft(sku="TEE-M", title="M", attributes={"size": "M"}),
            ],
            attributes={**brand, "image_link": "https://img.example/tee.jpg"},
        )
        mug = product(
            "mug",
            [VariantDraft(sku="MUG")],
            category="kitchen",
            attributes={
                **brand,
                "mpn": "MUG-1",
                "link": "https://shop.example/mug?a=1&b=2",
                "image_link": "https://img.example/mug.jpg",
            },
        )
        cap = product("cap", [VariantDraft(sku="CAP")], attributes=brand)
        sock = product("sock", [VariantDraft(sku="SOCK")], attributes=brand)
        bag = product("bag", [VariantDraft(sku="BAG")], attributes=brand)  # no image
        pin = product(
            "pin", [VariantDraft(sku="PIN")], attributes={**brand, "image_link": "https://i.ex/p"}
        )
        catalog.set_listing(
            s,
            channel_id=web,
            product_id=tee,
            listed=True,
            title="Tee for the web",
            description="Our softest tee.",
        )
        for listed in (mug, bag, pin):
            catalog.set_listing(s, channel_id=web, product_id=listed, listed=True)
        # Listed once, then taken off the channel: not in its feed.
        catalog.set_listing(s, channel_id=web, product_id=cap, listed=True)
        catalog.set_listing(s, channel_id=web, product_id=cap, listed=False)
        for sku, amount in (
            ("TEE-S", "15"),
            ("TEE-M", "15.5"),
            ("MUG", "9.99"),
            ("CAP", "12"),
            ("SOCK", "4"),
            ("BAG", "30"),
        ):
            catalog.set_channel_price(s, channel_id=web, sku=sku, amount=amount, currency=None)
        assert sock  # priced and stocked, never listed on the channel
        service.set_feed_settings(
            s,
            channel_id=web,
            storefront_url="https://shop.example",
            link_template="https://shop.example/products/{handle}",
        )
    receive_stock(db, location_id=wh, lines=[("TEE-S", 3), ("TEE-M", 1), ("CAP", 5), ("SOCK", 5)])
    _sell_last_unit(db, web, "TEE-M")
    return Shop(web=web, code="web", warehouse=wh)


def _export(db: Database, channel_id: int, fmt: FeedFormat) -> tuple[str, service.FeedReport]:
    report = service.FeedReport()
    body = "".join(service.export_feed(db, channel_id=channel_id, fmt=fmt, report=report))
    return body, report


def parse(fmt: FeedFormat, body: str) -> list[dict[str, str]]:
    """A feed's items as {attribute: value}, blank values left out."""
    if fmt is FeedFormat.GOOGLE_XML:
        root = ET.fromstring(body.encode())
        assert root.tag == "rss"
        assert root.get("version") == "2.0"
        return [
            {child.tag.removeprefix(G): child.text or "" for child in item}
            for item in root.findall("channel/item")
        ]
    delimiter = "\t" if fmt is FeedFormat.GOOGLE_TSV else ","
    rows = list(csv.DictReader(io.StringIO(body, newline=""), delimiter=delimiter, strict=True))
    return [{k: v for k, v in row.items() if v} for row in rows]


def _required(fmt: FeedFormat) -> list[tuple[str, ...]]:
    """Each required attribute as its alternatives ("brand (or gtin / mpn)": any one)."""
    if fmt.vendor == "google":
        path = DATA / "google-merchant-center" / "required_attributes_summary.json"
        key = "required_always"
    else:
        path = DATA / "meta-catalog" / "required_fields_summary.json"
        key = "required_fields"
    if not path.exists():
        pytest.skip(f"the vendors' required attributes are not here: {path}")
    names: list[str] = json.loads(path.read_text())[key]
    alternatives = []
    for name in names:
        first, _, rest = name.partition(" (or ")
        alternatives.append((first, *(n.strip(" )") for n in rest.split("/") if n.strip(" )"))))
    return alternatives


@pytest.fixture
def shop(db: Database) -> Shop:
    return build_shop(db)


def test_every_feed_parses_and_has_what_the_vendor_requires(db: Database, shop: Shop) -> None:
    for fmt in FeedFormat:
        _check_feed(db, shop, fmt)


def _check_feed(db: Database, shop: Shop, fmt: FeedFormat) -> None:
    body, report = _export(db, shop.web, fmt)
    items = parse(fmt, body)
    required = _required(fmt)
    assert len(required) >= 7
    for item in items:
        for alternatives in required:
            assert any(item.get(name) for name in alternatives), (item["id"], alternatives)
    # Only listed products: the unlisted cap and the never-listed sock are absent.
    assert [i["id"] for i in items] == ["TEE-S", "TEE-M", "MUG"]
    assert report.items == 3
    assert report.skipped == [
        Skipped("BAG", "no image: set the `image_link` attribute"),
        Skipped("PIN", "no price on this channel"),
    ]
    by_id = {i["id"]: i for i in items}
    # The last TEE-M went through the order book; MUG never had stock.
    assert {k: v["availability"] for k, v in by_id.items()} == {
        "TEE-S": "in stock",
        "TEE-M": "out of stock",
        "MUG": "out of stock",
    }
    assert {k: v["price"] for k, v in by_id.items()} == {
        "TEE-S": "15.00 EUR",
        "TEE-M": "15.50 EUR",
        "MUG": "9.99 EUR",
    }
    # The channel's title and description; the product's where it has none.
    assert by_id["TEE-M"]["title"] == "Tee for the web - M"
    assert by_id["TEE-M"]["description"] == "Our softest tee."
    assert (by_id["MUG"]["title"], by_id["MUG"]["description"]) == ("Mug", "The mug.")


EXPECTED_TSV = (
    "id\ttitle\tdescription\tlink\timage_link\tavailability\tprice\tcondition\tbrand\tgtin\t"
    "mpn\tidentifier_exists\titem_group_id\tcolor\tsize\tgender\tage_group\tmaterial\tpattern\t"
    "google_product_category\tproduct_type\n"
    "TEE-S\tTee for the web - S\tOur softest tee.\thttps://shop.example/products/tee\t"
    "https://img.example/tee.jpg\tin stock\t15.00 EUR\tnew\tAcme\t4006381333931\t\tyes\ttee\t"
    "red\t\t\t\t\t\t\t\n"
    "TEE-M\tTee for the web - M\tOur softest tee.\thttps://shop.example/products/tee\t"
    "https://img.example/tee.jpg\tout of stock\t15.50 EUR\tnew\tAcme\t\t\tno\ttee\t\tM\t\t\t\t"
    "\t\t\n"
    "MUG\tMug\tThe mug.\thttps://shop.example/mug?a=1&b=2\thttps://img.example/mug.jpg\t"
    "out of stock\t9.99 EUR\tnew\tAcme\t\tMUG-1\tyes\t\t\t\t\t\t\t\t\tHome > Kitchen\n"
)
EXPECTED_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0">\n'
    "<channel>\n"
    "<title>Web shop</title>\n"
    "<link>https://shop.example</link>\n"
    "<description>Products of Web shop, prices in EUR</description>\n"
    "<item><g:id>TEE-S</g:id><g:title>Tee for the web - S</g:title>"
    "<g:description>Our softest tee.</g:description>"
    "<g:link>https://shop.example/products/tee</g:link>"
    "<g:image_link>https://img.example/tee.jpg</g:image_link>"
    "<g:availability>in stock</g:availability><g:price>15.00 EUR</g:price>"
    "<g:condition>new</g:condition><g:brand>Acme</g:brand><g:gtin>4006381333931</g:gtin>"
    "<g:identifier_exists>yes</g:identifier_exists><g:item_group_id>tee</g:item_group_id>"
    "<g:color>red</g:color></item>\n"
    "<item><g:id>TEE-M</g:id><g:title>Tee for the web - M</g:title>"
    "<g:description>Our softest tee.</g:description>"
    "<g:link>https://shop.example/products/tee</g:link>"
    "<g:image_link>https://img.example/tee.jpg</g:image_link>"
    "<g:availability>out of stock</g:availability><g:price>15.50 EUR</g:price>"
    "<g:condition>new</g:condition><g:brand>Acme</g:brand>"
    "<g:identifier_exists>no</g:identifier_exists><g:item_group_id>tee</g:item_group_id>"
    "<g:size>M</g:size></item>\n"
    "<item><g:id>MUG</g:id><g:title>Mug</g:title><g:description>The mug.</g:description>"
    "<g:link>https://shop.example/mug?a=1&amp;b=2</g:link>"
    "<g:image_link>https://img.example/mug.jpg</g:image_link>"
    "<g:availability>out of stock</g:availability><g:price>9.99 EUR</g:price>"
    "<g:condition>new</g:condition><g:brand>Acme</g:brand><g:mpn>MUG-1</g:mpn>"
    "<g:identifier_exists>yes</g:identifier_exists>"
    "<g:product_type>Home &gt; Kitchen</g:product_type></item>\n"
    "</channel>\n"
    "</rss>\n"
)
EXPECTED_CSV = (
    "id,title,description,availability,condition,price,link,image_link,brand,gtin,mpn,"
    "item_group_id,color,size,gender,age_group,material,pattern,google_product_category,"
    "product_type,quantity_to_sell_on_facebook\r\n"
    "TEE-S,Tee for the web - S,Our softest tee.,in stock,new,15.00 EUR,"
    "https://shop.example/products/tee,https://img.example/tee.jpg,Acme,4006381333931,,tee,"
    "red,,,,,,,,3\r\n"
    "TEE-M,Tee for the web - M,Our softest tee.,out of stock,new,15.50 EUR,"
    "https://shop.example/products/tee,https://img.example/tee.jpg,Acme,,,tee,,M,,,,,,,0\r\n"
    "MUG,Mug,The mug.,out of stock,new,9.99 EUR,https://shop.example/mug?a=1&b=2,"
    "https://img.example/mug.jpg,Acme,,MUG-1,,,,,,,,,Home > Kitchen,0\r\n"
)


def test_the_exact_feed_of_a_small_catalog(db: Database, shop: Shop) -> None:
    assert _export(db, shop.web, FeedFormat.GOOGLE_TSV)[0] == EXPECTED_TSV
    assert _export(db, shop.web, FeedFormat.GOOGLE_XML)[0] == EXPECTED_XML
    assert _export(db, shop.web, FeedFormat.META_CSV)[0] == EXPECTED_CSV


def test_a_sold_out_sku_turns_out_of_stock_and_back(db: Database, shop: Shop) -> None:
    def availability() -> dict[str, str]:
        items = parse(FeedFormat.META_CSV, _export(db, shop.web, FeedFormat.META_CSV)[0])
        return {i["id"]: i["availability"] for i in items}

    assert availability()["MUG"] == "out of stock"
    receive_stock(db, location_id=shop.warehouse, lines=[("MUG", 1)])
    assert availability()["MUG"] == "in stock"
    _sell_last_unit(db, shop.web, "MUG")
    assert availability() == {"TEE-S": "in stock", "TEE-M": "out of stock", "MUG": "out of stock"}


def test_a_bundle_is_offered_as_often_as_its_components_allow(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        kit = catalog.create_product(
            s,
            handle="kit",
            title="Two tees",
            description="Two small tees.",
            attributes={"brand": "Acme", "image_link": "https://img.example/kit.jpg"},
            variants=[VariantDraft(sku="KIT")],
        ).id
        catalog.define_bundle(s, sku="KIT", components=[BundlePart("TEE-S", 2)])
        catalog.set_listing(s, channel_id=shop.web, product_id=kit, listed=True)
        catalog.set_channel_price(s, channel_id=shop.web, sku="KIT", amount="25", currency=None)
    items = {
        i["id"]: i
        for i in parse(FeedFormat.META_CSV, _export(db, shop.web, FeedFormat.META_CSV)[0])
    }
    # Three TEE-S make one kit of two.
    assert (items["KIT"]["availability"], items["KIT"]["quantity_to_sell_on_facebook"]) == (
        "in stock",
        "1",
    )
    assert items["TEE-S"]["quantity_to_sell_on_facebook"] == "3"


def test_prices_follow_the_channels_currency_and_minor_units(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        jp = create_channel(s, code="jp", name="Tokyo", kind="web", currency="JPY").id
        set_channel_locations(
            s, channel_id=jp, ship_location_ids=[shop.warehouse], pickup_location_ids=[]
        )
        mug = catalog.get_variant(s, sku="MUG").product_id
        catalog.set_listing(s, channel_id=jp, product_id=mug, listed=True, title="マグカップ")
        catalog.set_channel_price(s, channel_id=jp, sku="MUG", amount="1500", currency="JPY")
    receive_stock(db, location_id=shop.warehouse, lines=[("MUG", 2)])
    items = parse(FeedFormat.GOOGLE_TSV, _export(db, jp, FeedFormat.GOOGLE_TSV)[0])
    assert [(i["id"], i["title"], i["price"], i["availability"]) for i in items] == [
        ("MUG", "マグカップ", "1500 JPY", "in stock")
    ]


def test_hostile_text_round_trips(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        mug = catalog.get_variant(s, sku="MUG").product_id
        catalog.set_listing(
            s, channel_id=shop.web, product_id=mug, listed=True, title=HOSTILE, description=HOSTILE
        )
    for fmt in FeedFormat:
        items = {i["id"]: i for i in parse(fmt, _export(db, shop.web, fmt)[0])}
        assert items["MUG"]["title"] == HOSTILE, fmt
        assert items["MUG"]["description"] == HOSTILE, fmt
        assert items["MUG"]["link"] == "https://shop.example/mug?a=1&b=2", fmt


def test_pages_of_products_make_the_same_feed(db: Database, shop: Shop) -> None:
    with db.reading() as s:
        plan = service.plan_feed(s, channel_id=shop.web, fmt=FeedFormat.META_CSV)
    whole = list(service.feed_entries(db, plan))
    assert [e.sku for e in whole] == ["TEE-S", "TEE-M", "MUG", "BAG", "PIN"]
    for size in (1, 2, 3):
        assert list(service.feed_entries(db, plan, page_size=size)) == whole


def test_an_rss_feed_names_the_storefront(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        service.set_feed_settings(s, channel_id=shop.web, storefront_url=None, link_template=None)
    with pytest.raises(Conflict) as refused:
        _export(db, shop.web, FeedFormat.GOOGLE_XML)
    assert refused.value.field == "storefront_url"
    # Without the template, the tee has no link: skipped; the mug has its own.
    body, report = _export(db, shop.web, FeedFormat.GOOGLE_TSV)
    assert [i["id"] for i in parse(FeedFormat.GOOGLE_TSV, body)] == ["MUG"]
    assert report.skipped[0] == Skipped(
        "TEE-S", "no link: set the `link` attribute or the channel's link template"
    )
    with pytest.raises(NotFound):
        _export(db, 999, FeedFormat.GOOGLE_TSV)


def test_feed_settings_are_checked_and_replaced(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        view = service.get_feed_settings(s, channel_id=shop.web)
    assert (view.storefront_url, view.link_template) == (
        "https://shop.example",
        "https://shop.example/products/{handle}",
    )
    with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
        service.set_feed_settings(
            s, channel_id=shop.web, storefront_url="https://b.example", link_template="/p/{sku}"
        )
    assert refused.value.field == "link_template"
    with db.reading() as s:
        assert service.get_feed_settings(s, channel_id=shop.web) == view  # nothing changed
    with db.transaction() as s:
        service.set_feed_settings(
            s, channel_id=shop.web, storefront_url="https://b.example", link_template=None
        )
    with db.reading() as s:
        changed = service.get_feed_settings(s, channel_id=shop.web)
    assert (changed.storefront_url, changed.link_template) == ("https://b.example", None)


def test_feed_tokens_are_stored_hashed_rotated_and_revoked(db: Database, shop: Shop) -> None:
    with db.transaction() as s:
        first = service.create_feed_token(s, channel_id=shop.web, name="google")
        second = service.create_feed_token(s, channel_id=shop.web, name="meta")
        other = create_channel(s, code="b2b", name="B2B", kind="web", currency="EUR").id
    assert first.token.startswith("ft_")
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM product_feed_tokens")).all()
    assert not any(first.token in map(str, row) for row in stored)

    def works(token: str, channel_id: int = shop.web) -> bool:
        with db.reading() as s:
            try:
                service.check_feed_token(s, channel_id=channel_id, token=token)
            except Unauthorized:
                return False
            return True

    assert works(first.token)
    assert works(second.token)
    assert not works(first.token, other)  # another channel's token
    assert not works("")
    assert not works("ft_not-a-token")
    with db.transaction() as s:
        third = service.create_feed_token(s, channel_id=shop.web, rotate=True)
    assert third.revoked == (first.view.id, second.view.id)
    assert (works(first.token), works(second.token), works(third.token)) == (False, False, True)
    with db.transaction() as s:
        service.revoke_feed_token(s, channel_id=shop.web, token_id=third.view.id)
        again = service.revoke_feed_token(s, channel_id=shop.web, token_id=third.view.id)
    assert again.revoked_at is not None
    assert not works(third.token)
    with pytest.raises(NotFound), db.transaction() as s:
        service.revoke_feed_token(s, channel_id=other, token_id=first.view.id)
    with db.reading() as s:
        listed = service.list_feed_tokens(s, channel_id=shop.web)
    assert [(t.name, t.revoked_at is not None) for t in listed] == [
        ("google", True),
        ("meta", True),
        ("feed", True),
    ]
    assert listed[0].prefix == first.token[:10]


def test_the_cli_exports_a_feed_and_lists_what_it_skipped(
    sqlite_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_shop(sqlite_db)
    url = str(sqlite_db.engine.url)
    (tmp_path / "feeds").mkdir()
    out = tmp_path / "feeds" / "google.tsv"
    ran = omnicart(
        capsys, "feeds", "export", "web", "--format", "google-tsv", "--output", str(out),
        "--database-url", url,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert out.read_text(encoding="utf-8") == EXPECTED_TSV
    assert [p.name for p in out.parent.iterdir()] == ["google.tsv"]  # no partial file left
    assert f"wrote 3 items (google-tsv, channel web) to {out}; skipped 2" in ran.err
    assert "BAG" in ran.err
    assert "no image: set the `image_link` attribute" in ran.err

    ran = omnicart(capsys, "feeds", "export", "web", "--format", "meta-csv", "--database-url", url)
    assert (ran.code, ran.out) == (0, EXPECTED_CSV)

    ran = omnicart(capsys, "feeds", "export", "nope", "--format", "meta-csv", "--database-url", url)
    assert ran.code == 2
    assert "error (CHANNEL): channel 'nope' does not exist" in ran.err


def test_the_cli_issues_lists_and_revokes_tokens_and_sets_settings(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    build_shop(sqlite_db)
    url = str(sqlite_db.engine.url)
    ran = omnicart(capsys, "feeds", "token", "web", "--name", "google", "--database-url", url)
    assert ran.code == 0
    token = ran.out.strip()
    assert token.startswith("ft_")
    assert token not in ran.err  # printed once, on stdout only
    with sqlite_db.reading() as s:
        service.check_feed_token(s, channel_id=1, token=token)
    ran = omnicart(capsys, "feeds", "tokens", "web", "--database-url", url)
    assert token[:10] in ran.out
    assert token not in ran.out
    ran = omnicart(capsys, "feeds", "revoke", "web", "1", "--database-url", url)
    assert ran.code == 0
    with pytest.raises(Unauthorized), sqlite_db.reading() as s:
        service.check_feed_token(s, channel_id=1, token=token)

    ran = omnicart(capsys, "feeds", "settings", "web", "--link-template", "", "--database-url", url)
    assert ran.code == 0
    assert "storefront URL: https://shop.example" in ran.out
    assert "link template:  -" in ran.out
    ran = omnicart(
        capsys, "feeds", "settings", "web", "--storefront-url", "shop", "--database-url", url
    )
    assert ran.code == 2
    assert "error (--storefront-url)" in ran.err
