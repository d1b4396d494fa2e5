"""Product feed rules: the item each format gets from a variant, why a variant is skipped,
availability and prices, links, and writers whose output parses back to what went in."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from decimal import Decimal

import pytest

from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import Money
from omnicart.productfeeds.google import G_NAMESPACE, RssChannel, write_rss, write_tsv, xml_text
from omnicart.productfeeds.meta import write_csv
from omnicart.productfeeds.model import (
    GOOGLE_ATTRIBUTES,
    META_COLUMNS,
    FeedFormat,
    FeedItem,
    FeedSource,
    Skipped,
    availability,
    build_item,
    category_paths,
    price_text,
    render_link,
    validate_link_template,
    validate_storefront_url,
)

G = f"{{{G_NAMESPACE}}}"
TEE = FeedSource(
    sku="TEE-RED-M",
    handle="tee",
    title="Tee",
    variant_title="Red / M",
    description="Organic cotton.",
    gtin="4006381333931",
    attributes={
        "brand": "Acme",
        "colour": "red",
        "size": "M",
        "link": "https://shop.example/tee",
        "image_link": "https://img.example/tee.jpg",
        "care": "30°C",  # not a feed attribute: left out
    },
    in_group=True,
    price=Money(Decimal("15.00"), "USD"),
    sellable=4,
    category_path="Apparel > Tops",
)


def _item(source: FeedSource, fmt: FeedFormat, template: str | None = None) -> FeedItem:
    built = build_item(source, fmt, link_template=template)
    assert isinstance(built, FeedItem), built
    return built


def _reason(source: FeedSource, fmt: FeedFormat, template: str | None = None) -> str:
    built = build_item(source, fmt, link_template=template)
    assert isinstance(built, Skipped), built
    assert built.sku == source.sku
    return built.reason


def test_a_google_item_has_its_attributes_in_order() -> None:
    assert _item(TEE, FeedFormat.GOOGLE_TSV).attributes == (
        ("id", "TEE-RED-M"),
        ("title", "Tee - Red / M"),
        ("description", "Organic cotton."),
        ("link", "https://shop.example/tee"),
        ("image_link", "https://img.example/tee.jpg"),
        ("availability", "in stock"),
        ("price", "15.00 USD"),
        ("condition", "new"),
        ("brand", "Acme"),
        ("gtin", "4006381333931"),
        ("identifier_exists", "yes"),
        ("item_group_id", "tee"),
        ("color", "red"),
        ("size", "M"),
        ("product_type", "Apparel > Tops"),
    )
    # Both Google formats carry the same item.
    assert _item(TEE, FeedFormat.GOOGLE_XML) == _item(TEE, FeedFormat.GOOGLE_TSV)


def test_a_meta_item_carries_its_quantity_and_no_google_only_attribute() -> None:
    item = _item(replace(TEE, sellable=0), FeedFormat.META_CSV)
    assert [name for name, _ in item.attributes] == [
        "id",
        "title",
        "description",
        "availability",
        "condition",
        "price",
        "link",
        "image_link",
        "brand",
        "gtin",
        "item_group_id",
        "color",
        "size",
        "product_type",
        "quantity_to_sell_on_facebook",
    ]
    assert item.value("availability") == "out of stock"
    assert item.value("quantity_to_sell_on_facebook") == "0"
    assert item.value("identifier_exists") == ""


@pytest.mark.parametrize(
    ("sellable", "expected"), [(-3, "out of stock"), (0, "out of stock"), (1, "in stock")]
)
def test_availability_follows_what_the_channel_may_sell(sellable: int, expected: str) -> None:
    assert availability(sellable) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("15", "USD", "15.00 USD"),
        ("9.5", "EUR", "9.50 EUR"),
        ("1500", "JPY", "1500 JPY"),
        ("1.5", "BHD", "1.500 BHD"),
        ("0", "PLN", "0.00 PLN"),
    ],
)
def test_prices_are_written_with_the_currency_minor_units(
    amount: str, currency: str, expected: str
) -> None:
    assert price_text(Money.rounded(amount, currency)) == expected


def test_identifiers_say_whether_they_exist() -> None:
    def exists(gtin: str | None, **attributes: str) -> str:
        source = replace(TEE, gtin=gtin, attributes={**TEE.attributes, **attributes})
        source = replace(
            source, attributes={k: v for k, v in source.attributes.items() if v != "-"}
        )
        return _item(source, FeedFormat.GOOGLE_TSV).value("identifier_exists")

    assert exists("4006381333931", brand="-") == "yes"
    assert exists(None, mpn="AC-1") == "yes"  # brand and MPN
    assert exists(None) == "no"  # a brand alone identifies nothing
    assert exists(None, brand="-", mpn="AC-1") == "no"


def test_titles_name_the_variant_and_groups_name_the_product() -> None:
    single = replace(TEE, variant_title="", in_group=False)
    item = _item(single, FeedFormat.GOOGLE_TSV)
    assert (item.value("title"), item.value("item_group_id")) == ("Tee", "")
    same = replace(TEE, variant_title="tee")  # a variant titled like its product
    assert _item(same, FeedFormat.GOOGLE_TSV).value("title") == "Tee"


def test_links_come_from_the_attributes_then_the_channel_template() -> None:
    template = "https://shop.example/products/{handle}?variant={sku}"
    assert _item(TEE, FeedFormat.META_CSV, template).value("link") == "https://shop.example/tee"
    no_link = replace(TEE, sku="TEE/RED M", attributes={**TEE.attributes, "link": ""})
    assert (
        _item(no_link, FeedFormat.META_CSV, template).value("link")
        == "https://shop.example/products/tee?variant=TEE%2FRED%20M"
    )
    assert render_link("https://x.example/{handle}/{other}", handle="h", sku="s") == (
        "https://x.example/h/{other}"
    )


def test_attributes_are_matched_without_regard_to_case_and_condition_is_taken() -> None:
    source = replace(
        TEE, attributes={**TEE.attributes, "Brand": "Zeta", "CONDITION": "Refurbished"}
    )
    item = _item(source, FeedFormat.GOOGLE_TSV)
    assert (item.value("brand"), item.value("condition")) == ("Zeta", "refurbished")


@pytest.mark.parametrize(
    ("change", "fmt", "reason"),
    [
        ({"price": None}, FeedFormat.GOOGLE_XML, "no price on this channel"),
        (
            {"description": "  "},
            FeedFormat.META_CSV,
            "no description (the channel's or the product's)",
        ),
        (
            {"attributes": {"image_link": "https://img.example/t.jpg", "brand": "A"}},
            FeedFormat.GOOGLE_TSV,
            "no link: set the `link` attribute or the channel's link template",
        ),
        (
            {"attributes": {**TEE.attributes, "link": "shop.example/tee"}},
            FeedFormat.GOOGLE_TSV,
            "link 'shop.example/tee' is not an absolute http(s) URL",
        ),
        (
            {"attributes": {"link": "https://shop.example/t", "brand": "A"}},
            FeedFormat.META_CSV,
            "no image: set the `image_link` attribute",
        ),
        (
            {"attributes": {**TEE.attributes, "image_link": "ftp://img.example/t.jpg"}},
            FeedFormat.META_CSV,
            "image_link 'ftp://img.example/t.jpg' is not an absolute http(s) URL",
        ),
        (
            {"attributes": {**TEE.attributes, "condition": "as new"}},
            FeedFormat.GOOGLE_TSV,
            "condition 'as new' is not one of new, refurbished, used",
        ),
        (
            {"gtin": None, "attributes": {**TEE.attributes, "brand": ""}},
            FeedFormat.META_CSV,
            "no brand, GTIN or MPN: Meta requires one of them",
        ),
        (
            {"sku": "S" * 51},
            FeedFormat.GOOGLE_TSV,
            "SKU is longer than 50 characters, google's limit for id",
        ),
    ],
)
def test_a_variant_a_vendor_would_refuse_is_skipped_with_its_reason(
    change: dict[str, object], fmt: FeedFormat, reason: str
) -> None:
    assert _reason(replace(TEE, **change), fmt) == reason  # type: ignore[arg-type]


def test_limits_and_rules_differ_by_vendor() -> None:
    long_sku = replace(TEE, sku="S" * 51)
    assert _item(long_sku, FeedFormat.META_CSV).value("id") == "S" * 51
    anonymous = replace(TEE, gtin=None, attributes={**TEE.attributes, "brand": ""})
    assert _item(anonymous, FeedFormat.GOOGLE_TSV).value("identifier_exists") == "no"


def test_storefront_urls_and_link_templates_are_checked() -> None:
    assert validate_storefront_url(" https://shop.example ") == "https://shop.example"
    assert (
        validate_link_template("https://shop.example/p/{handle}")
        == "https://shop.example/p/{handle}"
    )
    refused = {
        "storefront_url": ["shop.example", "javascript:alert(1)", "https://", "https://a b.pl"],
        "link_template": [
            "https://shop.example/p",  # names no product
            "https://shop.example/{id}",
            "/products/{handle}",
            "https://shop.example/" + "x" * 500 + "{sku}",
        ],
    }
    for value in refused["storefront_url"]:
        with pytest.raises(ValidationFailed) as caught:
            validate_storefront_url(value)
        assert caught.value.field == "storefront_url", value
    for value in refused["link_template"]:
        with pytest.raises(ValidationFailed) as caught:
            validate_link_template(value)
        assert caught.value.field == "link_template", value


def test_category_paths_run_from_the_root_and_survive_a_loop() -> None:
    paths = category_paths(
        {
            "home": ("Home", None),
            "kitchen": ("Kitchen", "home"),
            "mugs": ("Mugs & Cups", "kitchen"),
            "a": ("A", "b"),
            "b": ("B", "a"),
        }
    )
    assert paths["mugs"] == "Home > Kitchen > Mugs & Cups"
    assert paths["home"] == "Home"
    assert paths["a"] == "B > A"


def test_xml_text_keeps_what_xml_can_carry() -> None:
    assert xml_text("a\r\nb\rc\td\x01e\x0bf\ufffeg 😀") == "a\nb\nc\tdefg 😀"


HOSTILE = "Tee \"Deluxe\" <b>&amp;</b> 'quoted'\ttabbed\nnext line, comma; żółć 😀 ]]>"


def test_hostile_text_round_trips_through_every_writer() -> None:
    item = _item(
        replace(TEE, title=HOSTILE, variant_title="", description=HOSTILE), FeedFormat.GOOGLE_XML
    )
    channel = RssChannel(title='Shop "A" & <B>', link="https://shop.example", description="x")
    root = ET.fromstring("".join(write_rss([item], channel=channel)).encode())
    assert root.findtext("channel/title") == 'Shop "A" & <B>'
    parsed = root.find("channel/item")
    assert parsed is not None
    assert parsed.findtext(f"{G}title") == HOSTILE
    assert parsed.findtext(f"{G}description") == HOSTILE

    rows = list(csv.reader(io.StringIO("".join(write_tsv([item])), newline=""), delimiter="\t"))
    assert rows[0] == list(GOOGLE_ATTRIBUTES)
    assert dict(zip(rows[0], rows[1], strict=True))["title"] == HOSTILE

    meta = _item(replace(TEE, title=HOSTILE, variant_title=""), FeedFormat.META_CSV)
    rows = list(csv.reader(io.StringIO("".join(write_csv([meta])), newline="")))
    assert rows[0] == list(META_COLUMNS)
    assert dict(zip(rows[0], rows[1], strict=True))["title"] == HOSTILE
    assert len(rows) == 2


def test_writers_hand_on_large_feeds_in_pieces() -> None:
    items = [_item(replace(TEE, sku=f"SKU-{n}"), FeedFormat.GOOGLE_TSV) for n in range(2000)]
    chunks = list(write_tsv(iter(items)))
    assert len(chunks) > 3
    assert all(len(chunk) < 70 * 1024 for chunk in chunks)
    assert "".join(chunks).count("\n") == 2001
    xml_chunks = list(write_rss(iter(items), channel=RssChannel("S", "https://s.example", "d")))
    assert len(xml_chunks) > 3
    assert len(ET.fromstring("".join(xml_chunks).encode()).findall("channel/item")) == 2000
