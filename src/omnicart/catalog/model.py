"""Catalog rules: what a SKU, handle, GTIN, bundle, attribute set and channel price may be.

Pure functions over plain values, shared by the service, the API and the CSV importer, so
each rule is answered in exactly one place. Every failure is a `ValidationFailed` naming
the offending field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.gtin import validate_gtin
from omnicart.kernel.money import Money, validate_currency

MAX_SKU = 120
MAX_HANDLE = 200
MAX_SLUG = 120
MAX_TITLE = 300
MAX_NAME = 200
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 500
# Thresholds and bundle units are 32-bit columns; no shop counts anywhere near this.
MAX_UNITS = 1_000_000

# SKUs travel through CSV cells, URLs and bundle specs ("SKU*2;SKU*1"), so separators
# and whitespace are kept out of them.
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# int() also reads "٤", "1_000" and " 7 "; text from files must be plain ASCII digits.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


class Keep(enum.Enum):
    """Marker for "leave this field as it is" in partial updates (None may mean clear)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class BundlePart:
    """`units` of the component SKU go into one bundle."""

    sku: str
    units: int


@dataclass(frozen=True, slots=True)
class VariantDraft:
    """A variant as given by a caller, before it is checked and stored."""

    sku: str
    title: str = ""
    gtin: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    low_stock_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class CategoryView:
    """A category as callers see it."""

    id: int
    slug: str
    name: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class VariantView:
    """A variant as callers see it; `components` is empty unless it is a bundle."""

    id: int
    product_id: int
    sku: str
    gtin: str | None
    title: str
    attributes: dict[str, str]
    is_bundle: bool
    low_stock_threshold: int | None
    components: tuple[BundlePart, ...] = ()


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product with its variants."""

    id: int
    handle: str
    title: str
    description: str
    category: str | None
    attributes: dict[str, str]
    created_at: datetime
    variants: tuple[VariantView, ...]


@dataclass(frozen=True, slots=True)
class ListingView:
    """Whether a product is listed on a channel, and its channel-specific text."""

    channel_id: int
    product_id: int
    listed: bool
    title: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class PriceView:
    """A variant's price on one channel."""

    channel_id: int
    sku: str
    price: Money


@dataclass(frozen=True, slots=True)
class ChannelVariantView:
    """A variant as a channel shows it: its price there, if it has one."""

    sku: str
    gtin: str | None
    title: str
    attributes: dict[str, str]
    is_bundle: bool
    price: Money | None


@dataclass(frozen=True, slots=True)
class ChannelProductView:
    """A listed product as a channel shows it: override text, channel prices."""

    channel_id: int
    product_id: int
    handle: str
    title: str
    description: str
    category: str | None
    attributes: dict[str, str]
    variants: tuple[ChannelVariantView, ...]


def validate_sku(value: str, *, field: str = "sku") -> str:
    """The SKU stripped; letters, digits and `._/-` only, starting with a letter or digit."""
    sku = value.strip()
    if not sku:
        raise ValidationFailed("a SKU is required", field=field)
    if len(sku) > MAX_SKU:
        raise ValidationFailed(f"SKU is longer than {MAX_SKU} characters", field=field)
    if not _SKU.fullmatch(sku):
        raise ValidationFailed(
            f"SKU {sku!r} may hold only letters, digits and . _ / - "
            "and must start with a letter or digit",
            field=field,
        )
    return sku


def _validate_slug(value: str, *, what: str, limit: int, field: str) -> str:
    slug = value.strip()
    if not slug:
        raise ValidationFailed(f"a {what} is required", field=field)
    if len(slug) > limit:
        raise ValidationFailed(f"{what} is longer than {limit} characters", field=field)
    if not _SLUG.fullmatch(slug):
        raise ValidationFailed(
            f"{what} {slug!r} must be lower-case letters and digits separated by single hyphens",
            field=field,
        )
    return slug


def validate_handle(value: str, *, field: str = "handle") -> str:
    """A product handle: a lower-case, hyphenated slug (it appears in channel URLs)."""
    return _validate_slug(value, what="handle", limit=MAX_HANDLE, field=field)


def validate_category_slug(value: str, *, field: str = "slug") -> str:
    """A category slug: lower-case letters and digits separated by hyphens."""
    return _validate_slug(value, what="category slug", limit=MAX_SLUG, field=field)


def validate_title(value: str, *, field: str = "title", limit: int = MAX_TITLE) -> str:
    """A non-blank title, stripped, at most `limit` characters."""
    title = value.strip()
    if not title:
        raise ValidationFailed("must not be blank", field=field)
    if len(title) > limit:
        raise ValidationFailed(f"is longer than {limit} characters", field=field)
    return title


def validate_variant_title(value: str, *, field: str = "title") -> str:
    """A variant title may be blank (the product title then stands for it)."""
    title = value.strip()
    if len(title) > MAX_TITLE:
        raise ValidationFailed(f"is longer than {MAX_TITLE} characters", field=field)
    return title


def optional_gtin(value: str | None, *, field: str = "gtin") -> str | None:
    """None for a missing or blank GTIN, else the GTIN checked by its check digit."""
    if value is None or not value.strip():
        return None
    return validate_gtin(value, field=field)


def parse_whole_number(text: str, *, field: str) -> int:
    """A whole number written in ASCII digits (an optional sign), or ValidationFailed."""
    if not _WHOLE_NUMBER.fullmatch(text) or len(text) > 20:
        raise ValidationFailed(f"{text[:30]!r} is not a whole number", field=field)
    return int(text)


def validate_units(value: int, *, field: str, least: int = 0) -> int:
    """A count of units from `least` to MAX_UNITS; bool is not a number here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("must be a whole number", field=field)
    if not least <= value <= MAX_UNITS:
        raise ValidationFailed(f"must be from {least} to {MAX_UNITS:,}", field=field)
    return value


def validate_low_stock_threshold(
    value: int | None, *, field: str = "low_stock_threshold"
) -> int | None:
    """None (use the shop's default) or a whole number of units, 0 to MAX_UNITS."""
    return None if value is None else validate_units(value, field=field)


def validate_attributes(values: Mapping[str, str], *, field: str = "attributes") -> dict[str, str]:
    """Free attributes: non-blank keys, text values, keys and values stripped."""
    result: dict[str, str] = {}
    for raw_key, raw_value in values.items():
        key = raw_key.strip()
        if not key:
            raise ValidationFailed("attribute names must not be blank", field=field)
        if len(key) > MAX_ATTRIBUTE_KEY:
            raise ValidationFailed(
                f"attribute name {key[:20]!r}… is longer than {MAX_ATTRIBUTE_KEY} characters",
                field=field,
            )
        if key in result:
            raise ValidationFailed(f"attribute {key!r} is given twice", field=field)
        value = raw_value.strip()
        if len(value) > MAX_ATTRIBUTE_VALUE:
            raise ValidationFailed(
                f"attribute {key!r} is longer than {MAX_ATTRIBUTE_VALUE} characters",
                field=field,
            )
        result[key] = value
    return result


def parse_attributes(text: str, *, field: str = "attributes") -> dict[str, str]:
    """Attributes written as `key=value;key=value` (blank text: none)."""
    pairs: dict[str, str] = {}
    if not text.strip():
        return pairs
    for piece in text.split(";"):
        if not piece.strip():
            raise ValidationFailed(
                f"{text!r} has an empty entry; write key=value;key=value", field=field
            )
        key, sep, value = piece.partition("=")
        if not sep:
            raise ValidationFailed(
                f"{piece.strip()!r} is not key=value; write key=value;key=value", field=field
            )
        if key.strip() in pairs:
            raise ValidationFailed(f"attribute {key.strip()!r} is given twice", field=field)
        pairs[key.strip()] = value
    return validate_attributes(pairs, field=field)


def parse_bundle_spec(text: str, *, field: str = "bundle_components") -> tuple[BundlePart, ...]:
    """Components written as `SKU*units;SKU*units` (blank text: none)."""
    if not text.strip():
        return ()
    parts: list[BundlePart] = []
    for piece in text.split(";"):
        sku, sep, units = piece.strip().rpartition("*")
        if not sep or not sku.strip() or not units.strip():
            raise ValidationFailed(
                f"{piece.strip()!r} is not SKU*units; write SKU*units;SKU*units", field=field
            )
        try:
            count = parse_whole_number(units.strip(), field=field)
        except ValidationFailed:
            raise ValidationFailed(
                f"units {units.strip()[:30]!r} of {sku.strip()!r} is not a whole number",
                field=field,
            ) from None
        parts.append(BundlePart(sku=validate_sku(sku, field=field), units=count))
    return tuple(parts)


def check_bundle_parts(
    *, bundle_sku: str, parts: Iterable[BundlePart], field: str = "components"
) -> tuple[BundlePart, ...]:
    """At least one component, each a different SKU, not the bundle, in 1 to MAX_UNITS units."""
    checked: list[BundlePart] = []
    seen: set[str] = set()
    for part in parts:
        sku = validate_sku(part.sku, field=field)
        if isinstance(part.units, bool) or not 1 <= part.units <= MAX_UNITS:
            raise ValidationFailed(
                f"component {sku!r} has {part.units} units; "
                f"a bundle needs 1 to {MAX_UNITS:,} of each",
                field=field,
            )
        if sku == bundle_sku:
            raise ValidationFailed(f"bundle {bundle_sku!r} cannot contain itself", field=field)
        if sku in seen:
            raise ValidationFailed(
                f"component {sku!r} is given twice; give its total units once", field=field
            )
        seen.add(sku)
        checked.append(BundlePart(sku=sku, units=part.units))
    if not checked:
        raise ValidationFailed("a bundle needs at least one component", field=field)
    return tuple(checked)


def check_bundles_do_not_nest(
    *,
    bundle_sku: str,
    component_bundles: Iterable[str],
    containing_bundles: Iterable[str],
    field: str = "components",
) -> None:
    """A bundle's components are plain SKUs, and a bundle is no other bundle's component.

    Inventory derives a bundle's availability from its components' stock in one step;
    nesting would need a recursive derivation, so it is refused here.
    """
    nested = sorted(component_bundles)
    if nested:
        raise ValidationFailed(
            f"bundle {bundle_sku!r} cannot contain another bundle: {', '.join(nested)}",
            field=field,
        )
    parents = sorted(containing_bundles)
    if parents:
        raise ValidationFailed(
            f"{bundle_sku!r} is a component of bundle {', '.join(parents)}, "
            "so it cannot be a bundle itself",
            field=field,
        )


def check_unique(values: Iterable[str | None], *, what: str, field: str) -> None:
    """Raise Conflict when a value (SKU, GTIN) appears twice in one request."""
    seen: set[str] = set()
    for value in values:
        if value is None:
            continue
        if value in seen:
            raise Conflict(f"{what} {value!r} is given twice", field=field)
        seen.add(value)


def channel_price(
    *, amount: object, currency: str | None, channel_currency: str, channel_code: str
) -> Money:
    """A price for a channel: in the channel's currency, exact to its minor units, not negative.

    `currency` may be omitted (the channel's is meant); if given it must be the channel's.
    """
    if currency is not None:
        given = validate_currency(currency, field="currency")
        if given != channel_currency:
            raise ValidationFailed(
                f"channel {channel_code!r} sells in {channel_currency}, not {given}",
                field="currency",
            )
    price = Money.exact(amount, channel_currency, field="amount")
    if price.amount < 0:
        raise ValidationFailed(f"price {price.amount} must not be negative", field="amount")
    return price


def stored_price(amount: Decimal, currency: str) -> Money:
    """A price read back from storage, shown with exactly the currency's minor units."""
    return Money.rounded(amount, currency)
