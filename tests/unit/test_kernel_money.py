"""Money: exact and rounded amounts within NUMERIC(19, 4), currencies in use today only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import Money, validate_currency


@pytest.mark.parametrize("code", ["EUR", "PLN", "JPY", "KWD", "USD", "GBP", "eur "])
def test_currencies_in_use_are_accepted(code: str) -> None:
    assert validate_currency(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["XXX", "XTS", "DEM", "XAU", "EURO", ""])
def test_test_codes_metals_and_withdrawn_currencies_are_refused(code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_currency(code, field="price.currency")
    assert caught.value.field == "price.currency"
    assert caught.value.detail == f"{code!r} is not the ISO 4217 code of a currency in use"


@pytest.mark.parametrize(
    "amount", ["1e30", "1e1000000", "1000000000000000", "-1000000000000000.00", "1E+15"]
)
@pytest.mark.parametrize("make", [Money.exact, Money.rounded])
def test_more_than_15_integer_digits_are_refused(amount: str, make: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make(amount, "EUR", field="price")  # type: ignore[operator]
    assert caught.value.field == "price"
    assert caught.value.detail == "amount has more than 15 digits before the decimal point"


def test_rounding_into_a_16th_digit_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="more than 15 digits"):
        Money.rounded("999999999999999.995", "EUR")


def test_largest_amounts_pass() -> None:
    assert Money.exact("999999999999999.99", "EUR").amount == Decimal("999999999999999.99")
    assert Money.rounded("999999999999999.994", "EUR").amount == Decimal("999999999999999.99")


def test_tiny_exponent_is_a_validation_error_not_an_exception() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Money.exact("1e-1000000", "EUR")
    assert caught.value.field == "amount"
    assert Money.rounded("1e-1000000", "EUR") == Money(Decimal("0.00"), "EUR")


def test_long_input_is_not_silently_rounded() -> None:
    # 31 significant digits: more than Decimal's default precision of 28.
    with pytest.raises(ValidationFailed, match="more than 2 decimal places"):
        Money.exact("1.000000000000000000000000000001", "EUR")


@pytest.mark.parametrize("amount", ["-0", "-0.00", "0e30", "-0E-2"])
def test_negative_zero_is_zero(amount: str) -> None:
    money = Money.exact(amount, "EUR")
    assert str(money.amount) == "0.00"
    assert not money.amount.is_signed()


def test_rounded_negative_zero_is_zero() -> None:
    money = Money.rounded("-0.001", "EUR")
    assert str(money.amount) == "0.00"
    assert not money.amount.is_signed()


def test_minor_units_still_apply() -> None:
    assert Money.exact("12.5", "EUR") == Money(Decimal("12.50"), "EUR")
    assert Money.exact("1.000", "KWD").amount == Decimal("1.000")
    with pytest.raises(ValidationFailed, match="more than 0 decimal places"):
        Money.exact("1.5", "JPY")
