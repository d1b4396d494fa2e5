"""Catalog rules on plain values: SKUs, handles, attributes, bundles, channel prices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnicart.catalog import model
from omnicart.catalog.model import BundlePart
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.money import Money


@pytest.mark.parametrize(
    ("raw", "expected"), [("TEE-RED-M", "TEE-RED-M"), ("  a1.b_c/d  ", "a1.b_c/d"), ("9", "9")]
)
def test_valid_skus_are_stripped(raw: str, expected: str) -> None:
    assert model.validate_sku(raw) == expected


_SKU_CHARS = "may hold only letters, digits and . _ / - and must start with a letter or digit"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "a SKU is required"),
        ("   ", "a SKU is required"),
        ("A B", f"SKU 'A B' {_SKU_CHARS}"),
        ("-A", f"SKU '-A' {_SKU_CHARS}"),
        ("A*2", f"SKU 'A*2' {_SKU_CHARS}"),
        ("X" * 121, "SKU is longer than 120 characters"),
    ],
)
def test_bad_skus_are_refused_naming_the_field(raw: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.validate_sku(raw, field="variants.0.sku")
    assert caught.value.detail == reason
    assert caught.value.field == "variants.0.sku"


def test_handle_must_be_a_lower_case_slug() -> None:
    assert model.validate_handle(" classic-tee-2 ") == "classic-tee-2"
    for bad in ("Classic", "a--b", "-a", "a b", "a_b"):
        with pytest.raises(ValidationFailed) as caught:
            model.validate_handle(bad)
        assert caught.value.field == "handle"


def test_title_must_not_be_blank_or_too_long() -> None:
    assert model.validate_title("  Tee ") == "Tee"
    with pytest.raises(ValidationFailed, match="must not be blank"):
        model.validate_title("  ")
    with pytest.raises(ValidationFailed, match="is longer than 300 characters"):
        model.validate_title("x" * 301)
    assert model.validate_variant_title("  ") == ""


def test_gtin_blank_is_none_and_bad_check_digit_names_gtin() -> None:
    assert model.optional_gtin(None) is None
    assert model.optional_gtin("  ") is None
    assert model.optional_gtin(" 4006381333931 ") == "4006381333931"
    with pytest.raises(ValidationFailed) as caught:
        model.optional_gtin("4006381333932")
    assert caught.value.field == "gtin"
    assert caught.value.detail == "GTIN '4006381333932' has check digit 2, expected 1"


def test_low_stock_threshold_may_not_be_negative() -> None:
    assert model.validate_low_stock_threshold(None) is None
    assert model.validate_low_stock_threshold(0) == 0
    with pytest.raises(ValidationFailed) as caught:
        model.validate_low_stock_threshold(-1)
    assert caught.value.field == "low_stock_threshold"


def test_parse_attributes() -> None:
    assert model.parse_attributes("") == {}
    assert model.parse_attributes(" size = M ;colour=red") == {"size": "M", "colour": "red"}
    assert model.parse_attributes("note=a=b") == {"note": "a=b"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("size", "'size' is not key=value; write key=value;key=value"),
        (
            "size=M;;colour=red",
            "'size=M;;colour=red' has an empty entry; write key=value;key=value",
        ),
        ("size=M;size=L", "attribute 'size' is given twice"),
        ("=M", "attribute names must not be blank"),
    ],
)
def test_parse_attributes_refuses_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.parse_attributes(text)
    assert caught.value.detail == reason
    assert caught.value.field == "attributes"


def test_parse_bundle_spec() -> None:
    assert model.parse_bundle_spec("") == ()
    assert model.parse_bundle_spec("A*2; B-1 * 1") == (BundlePart("A", 2), BundlePart("B-1", 1))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("A", "'A' is not SKU*units; write SKU*units;SKU*units"),
        ("A*", "'A*' is not SKU*units; write SKU*units;SKU*units"),
        ("*2", "'*2' is not SKU*units; write SKU*units;SKU*units"),
        ("A*two", "units 'two' of 'A' is not a whole number"),
        ("A*1.5", "units '1.5' of 'A' is not a whole number"),
        ("A*2;", "'' is not SKU*units; write SKU*units;SKU*units"),
    ],
)
def test_parse_bundle_spec_refuses_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.parse_bundle_spec(text)
    assert caught.value.detail == reason
    assert caught.value.field == "bundle_components"


def test_bundle_parts_accept_distinct_positive_components() -> None:
    parts = model.check_bundle_parts(
        bundle_sku="KIT", parts=[BundlePart(" A ", 2), BundlePart("B", 1)]
    )
    assert parts == (BundlePart("A", 2), BundlePart("B", 1))


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([], "a bundle needs at least one component"),
        ([BundlePart("A", 0)], "component 'A' has 0 units; a bundle needs 1 to 1,000,000 of each"),
        (
            [BundlePart("A", -2)],
            "component 'A' has -2 units; a bundle needs 1 to 1,000,000 of each",
        ),
        ([BundlePart("KIT", 1)], "bundle 'KIT' cannot contain itself"),
        (
            [BundlePart("A", 1), BundlePart("A", 2)],
            "component 'A' is given twice; give its total units once",
        ),
    ],
)
def test_bundle_parts_refused(parts: list[BundlePart], reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.check_bundle_parts(bundle_sku="KIT", parts=parts)
    assert caught.value.detail == reason
    assert caught.value.field == "components"


def test_bundles_do_not_nest() -> None:
    model.check_bundles_do_not_nest(bundle_sku="KIT", component_bundles=[], containing_bundles=[])
    with pytest.raises(ValidationFailed) as inner:
        model.check_bundles_do_not_nest(
            bundle_sku="KIT", component_bundles=["PACK", "BOX"], containing_bundles=[]
        )
    assert inner.value.detail == "bundle 'KIT' cannot contain another bundle: BOX, PACK"
    with pytest.raises(ValidationFailed) as outer:
        model.check_bundles_do_not_nest(
            bundle_sku="KIT", component_bundles=[], containing_bundles=["MEGA"]
        )
    assert (
        outer.value.detail == "'KIT' is a component of bundle MEGA, so it cannot be a bundle itself"
    )


def test_check_unique_is_a_conflict() -> None:
    model.check_unique(["A", None, "B", None], what="SKU", field="sku")
    with pytest.raises(Conflict) as caught:
        model.check_unique(["A", "B", "A"], what="SKU", field="sku")
    assert caught.value.detail == "SKU 'A' is given twice"
    assert caught.value.field == "sku"


def test_channel_price_is_exact_in_the_channel_currency() -> None:
    eur = model.channel_price(
        amount="12.5", currency="eur", channel_currency="EUR", channel_code="web"
    )
    assert eur == Money(Decimal("12.50"), "EUR")
    assert str(eur.amount) == "12.50"
    jpy = model.channel_price(amount=1200, currency=None, channel_currency="JPY", channel_code="jp")
    assert str(jpy.amount) == "1200"
    kwd = model.channel_price(
        amount="1.125", currency=None, channel_currency="KWD", channel_code="kw"
    )
    assert str(kwd.amount) == "1.125"


def test_channel_price_refuses_too_many_decimals_for_the_currency() -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.channel_price(
            amount="1200.5", currency="JPY", channel_currency="JPY", channel_code="jp"
        )
    assert caught.value.field == "amount"
    assert caught.value.detail == "1200.5 has more than 0 decimal places, the most JPY allows"
    with pytest.raises(ValidationFailed) as eur:
        model.channel_price(
            amount="9.999", currency=None, channel_currency="EUR", channel_code="web"
        )
    assert eur.value.detail == "9.999 has more than 2 decimal places, the most EUR allows"


def test_channel_price_refuses_another_currency_naming_currency() -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.channel_price(amount="10", currency="USD", channel_currency="EUR", channel_code="web")
    assert caught.value.field == "currency"
    assert caught.value.detail == "channel 'web' sells in EUR, not USD"
    with pytest.raises(ValidationFailed) as unknown:
        model.channel_price(
            amount="10", currency="EURO", channel_currency="EUR", channel_code="web"
        )
    assert unknown.value.field == "currency"


def test_channel_price_refuses_negative_and_non_numbers() -> None:
    with pytest.raises(ValidationFailed) as negative:
        model.channel_price(amount="-1", currency=None, channel_currency="EUR", channel_code="w")
    assert (negative.value.field, negative.value.detail) == (
        "amount",
        "price -1.00 must not be negative",
    )
    with pytest.raises(ValidationFailed) as text:
        model.channel_price(amount="abc", currency=None, channel_currency="EUR", channel_code="w")
    assert text.value.field == "amount"


def test_stored_price_shows_the_currency_minor_units() -> None:
    assert str(model.stored_price(Decimal("12.5000"), "EUR").amount) == "12.50"
    assert str(model.stored_price(Decimal("1.2E+3"), "JPY").amount) == "1200"


@pytest.mark.parametrize("value", [-1, 1_000_001, 2**63, True])
def test_low_stock_threshold_is_bounded(value: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.validate_low_stock_threshold(value)
    assert caught.value.field == "low_stock_threshold"


def test_low_stock_threshold_bounds_pass() -> None:
    assert model.validate_low_stock_threshold(0) == 0
    assert model.validate_low_stock_threshold(1_000_000) == 1_000_000
    assert model.validate_low_stock_threshold(None) is None


@pytest.mark.parametrize("units", [1_000_001, 2**63, True])
def test_bundle_units_are_bounded(units: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        model.check_bundle_parts(bundle_sku="KIT", parts=[BundlePart("A", units)])
    assert caught.value.field == "components"


@pytest.mark.parametrize("spec", ["A*٢", "A*²", "A*1_000", "A*99999999999999999999999"])
def test_bundle_spec_units_are_ascii_whole_numbers(spec: str) -> None:
    with pytest.raises(ValidationFailed, match="is not a whole number"):
        model.parse_bundle_spec(spec)
