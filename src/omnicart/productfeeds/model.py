"""What one listed variant on one channel becomes in a product feed.

Pure rules over plain values: which attributes each vendor's feed carries and in what
order, the availability rule, how a price is written, where links come from, and why a
variant is left out of a feed (a feed the vendor would refuse helps nobody; the variant is
reported as skipped, with its reason, instead).

Links and images are never invented. A variant's `link` and `image_link` are catalog
attributes (the variant's own, else its product's); a channel may instead give a link
template such as `https://shop.example/products/{handle}`. A variant with no link or no
image cannot be in a valid Google or Meta feed, so it is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import quote, urlsplit

from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import Money, in_minor_units


class FeedFormat(StrEnum):
    """The feeds Omnicart writes."""

    GOOGLE_XML = "google-xml"
    GOOGLE_TSV = "google-tsv"
    META_CSV = "meta-csv"

    @property
    def vendor(self) -> str:
        """Whose rules the feed follows: "google" or "meta"."""
        return "meta" if self is FeedFormat.META_CSV else "google"


# Google's attribute names (the TSV header; `g:` elements in XML), required ones first.
GOOGLE_ATTRIBUTES: Final = (
    "id",
    "title",
    "description",
    "link",
    "image_link",
    "availability",
    "price",
    "condition",
    "brand",
    "gtin",
    "mpn",
    "identifier_exists",
    "item_group_id",
    "color",
    "size",
    "gender",
    "age_group",
    "material",
    "pattern",
    "google_product_category",
    "product_type",
)
# Meta's catalog columns: the required fields first, then identifiers, variants, stock.
META_COLUMNS: Final = (
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
    "mpn",
    "item_group_id",
    "color",
    "size",
    "gender",
    "age_group",
    "material",
    "pattern",
    "google_product_category",
    "product_type",
    "quantity_to_sell_on_facebook",
)
IN_STOCK: Final = "in stock"
OUT_OF_STOCK: Final = "out of stock"
CONDITIONS: Final = ("new", "refurbished", "used")
# Google caps `id` at 50 characters, Meta at 100; a catalog SKU may have 120.
MAX_ID: Final = {"google": 50, "meta": 100}
MAX_URL: Final = 2000
MAX_TEMPLATE: Final = 500
# Catalog attributes copied into the feed under the same name (or the alias's).
_COPIED: Final = (
    "brand",
    "mpn",
    "color",
    "size",
    "gender",
    "age_group",
    "material",
    "pattern",
    "google_product_category",
    "product_type",
)
_ALIASES: Final = {"colour": "color"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TEMPLATE_FIELDS: Final = ("handle", "sku")


@dataclass(frozen=True, slots=True)
class FeedSource:
    """What the catalog and inventory say of one listed variant on one channel.

    `title` and `description` are the channel's (its override, else the product's);
    `attributes` are the product's with the variant's own on top; `in_group` says the
    product has several variants; `sellable` is the channel's available-to-promise.
    """

    sku: str
    handle: str
    title: str
    variant_title: str
    description: str
    gtin: str | None
    attributes: Mapping[str, str]
    in_group: bool
    price: Money | None
    sellable: int
    category_path: str | None = None


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of a feed: its attributes in the format's order, blank ones left out."""

    sku: str
    attributes: tuple[tuple[str, str], ...]

    def value(self, name: str) -> str:
        """The attribute's value, or "" when the item has none."""
        return next((v for k, v in self.attributes if k == name), "")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A listed variant left out of a feed, and why."""

    sku: str
    reason: str


def availability(sellable: int) -> str:
    """`in stock` while the channel may sell a unit, else `out of stock` (sold out)."""
    return IN_STOCK if sellable > 0 else OUT_OF_STOCK


def price_text(price: Money) -> str:
    """A price as both vendors write it: the currency's minor units, then its code."""
    return f"{in_minor_units(price.amount, price.currency)} {price.currency}"


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host, no whitespace, at most MAX_URL characters."""
    if not value or len(value) > MAX_URL or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def validate_storefront_url(value: str, *, field: str = "storefront_url") -> str:
    """The shop's home page: an absolute http(s) URL."""
    url = value.strip()
    if not is_web_url(url):
        raise ValidationFailed(
            f"{url[:60]!r} is not an absolute http(s) URL of at most {MAX_URL} characters",
            field=field,
        )
    return url


def validate_link_template(value: str, *, field: str = "link_template") -> str:
    """A product page URL with `{handle}` and/or `{sku}` placeholders and no others."""
    template = value.strip()
    if len(template) > MAX_TEMPLATE:
        raise ValidationFailed(f"is longer than {MAX_TEMPLATE} characters", field=field)
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({n for n in names if n not in _TEMPLATE_FIELDS})
    if unknown:
        raise ValidationFailed(
            f"unknown placeholder {{{unknown[0]}}}; use {{handle}} or {{sku}}", field=field
        )
    if not names:
        raise ValidationFailed(
            "a link template names the product: use {handle} or {sku}", field=field
        )
    if not is_web_url(render_link(template, handle="h", sku="s")):
        raise ValidationFailed(
            f"{template[:60]!r} does not make an absolute http(s) URL", field=field
        )
    return template


def render_link(template: str, *, handle: str, sku: str) -> str:
    """The template with its placeholders filled, each value percent-encoded."""
    values = {"handle": quote(handle, safe=""), "sku": quote(sku, safe="")}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _feed_attributes(source_attributes: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in source_attributes.items():
        name = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if value.strip():
            found[name] = value.strip()
    return found


def _title(source: FeedSource) -> str:
    variant = source.variant_title.strip()
    if variant and variant.casefold() != source.title.casefold():
        return f"{source.title} - {variant}"
    return source.title


def _link(source: FeedSource, given: dict[str, str], template: str | None) -> str | Skipped:
    link = given.get("link")
    if link is None and template is not None:
        link = render_link(template, handle=source.handle, sku=source.sku)
    if link is None:
        return Skipped(
            source.sku, "no link: set the `link` attribute or the channel's link template"
        )
    if not is_web_url(link):
        return Skipped(source.sku, f"link {link[:60]!r} is not an absolute http(s) URL")
    return link


def _image(source: FeedSource, given: dict[str, str]) -> str | Skipped:
    image = given.get("image_link")
    if image is None:
        return Skipped(source.sku, "no image: set the `image_link` attribute")
    if not is_web_url(image):
        return Skipped(source.sku, f"image_link {image[:60]!r} is not an absolute http(s) URL")
    return image


def build_item(
    source: FeedSource, fmt: FeedFormat, *, link_template: str | None
) -> FeedItem | Skipped:
    """The variant as an item of the format's feed, or why it cannot be one."""
    vendor = fmt.vendor
    given = _feed_attributes(source.attributes)
    if len(source.sku) > MAX_ID[vendor]:
        return Skipped(
            source.sku, f"SKU is longer than {MAX_ID[vendor]} characters, {vendor}'s limit for id"
        )
    if source.price is None:
        return Skipped(source.sku, "no price on this channel")
    if not source.description.strip():
        return Skipped(source.sku, "no description (the channel's or the product's)")
    link = _link(source, given, link_template)
    if isinstance(link, Skipped):
        return link
    image = _image(source, given)
    if isinstance(image, Skipped):
        return image
    condition = given.get("condition", "new").lower()
    if condition not in CONDITIONS:
        return Skipped(
            source.sku, f"condition {condition[:30]!r} is not one of {', '.join(CONDITIONS)}"
        )
    brand, mpn = given.get("brand", ""), given.get("mpn", "")
    if vendor == "meta" and not (brand or mpn or source.gtin):
        return Skipped(source.sku, "no brand, GTIN or MPN: Meta requires one of them")
    values: dict[str, str] = {name: given[name] for name in _COPIED if name in given}
    values |= {
        "id": source.sku,
        "title": _title(source),
        "description": source.description,
        "link": link,
        "image_link": image,
        "availability": availability(source.sellable),
        "price": price_text(source.price),
        "condition": condition,
        "gtin": source.gtin or "",
        "item_group_id": source.handle if source.in_group else "",
    }
    if "product_type" not in given and source.category_path:
        values["product_type"] = source.category_path
    if vendor == "google":
        # Google's rule: GTIN, or brand with MPN, identify a product; else say there are none.
        values["identifier_exists"] = "yes" if source.gtin or (brand and mpn) else "no"
        order = GOOGLE_ATTRIBUTES
    else:
        values["quantity_to_sell_on_facebook"] = str(max(source.sellable, 0))
        order = META_COLUMNS
    return FeedItem(
        sku=source.sku,
        attributes=tuple((name, values[name]) for name in order if values.get(name)),
    )


def category_paths(categories: Mapping[str, tuple[str, str | None]]) -> dict[str, str]:
    """Each category's path of names, root first ("Home > Kitchen"), by slug.

    `categories` maps a slug to (name, parent slug).
    """
    paths: dict[str, str] = {}
    for slug in categories:
        names: list[str] = []
        seen: set[str] = set()
        current: str | None = slug
        while current is not None and current in categories and current not in seen:
            seen.add(current)
            name, parent = categories[current]
            names.append(name)
            current = parent
        paths[slug] = " > ".join(reversed(names))
    return paths
