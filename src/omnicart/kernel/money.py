"""Money as Decimal plus an ISO 4217 currency, rounded to the currency's minor units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies

from omnicart.kernel.errors import ValidationFailed

# Amounts are stored as NUMERIC(19, 4): 15 digits before the decimal point at most.
MAX_INTEGER_DIGITS = 15


@lru_cache(maxsize=1)
def _tender_currencies() -> frozenset[str]:
    # Only money that is legal tender somewhere today: ISO 4217 also lists test codes
    # (XTS), "no currency" (XXX), funds and withdrawn currencies (DEM) that no shop sells in.
    today = date.today()  # noqa: DTZ011 -- a calendar date; CLDR keys tender periods by date
    territories = get_global("territory_currencies").keys()
    return frozenset(
        code
        for territory in territories
        for code in get_territory_currencies(territory, today, tender=True)
    )


def validate_currency(code: str, *, field: str = "currency") -> str:
    """Return the upper-cased ISO 4217 code, or raise unless it is legal tender somewhere."""
    upper = code.strip().upper()
    if len(upper) != 3 or upper not in _tender_currencies():
        raise ValidationFailed(
            f"{code!r} is not the ISO 4217 code of a currency in use", field=field
        )
    return upper


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Number of decimal places the currency uses (JPY 0, EUR 2, KWD 3); kept per code,
    since every amount of every order asks."""
    return int(get_currency_precision(validate_currency(currency)))


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse a number without ever passing through float."""
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{value!r} is not a decimal number", field=field) from None
    if not result.is_finite():
        raise ValidationFailed(f"{value!r} is not a finite number", field=field)
    return result


def _check_magnitude(value: Decimal, *, field: str) -> None:
    # adjusted() is the exponent of the leading digit; a zero written as 0E+30 is still 0.
    if not value.is_zero() and value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValidationFailed(
            f"amount has more than {MAX_INTEGER_DIGITS} digits before the decimal point",
            field=field,
        )


def _quantized(value: Decimal, places: int, *, field: str) -> Decimal:
    """`value` to `places` decimals, half-even, within the stored range; never -0."""
    _check_magnitude(value, field=field)
    try:
        result = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise ValidationFailed(f"{value} cannot be represented as an amount", field=field) from None
    _check_magnitude(result, field=field)  # rounding may carry into a 16th digit
    return result.copy_abs() if result.is_zero() else result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency; construct with `Money.exact` or `Money.rounded`."""

    amount: Decimal
    currency: str

    @classmethod
    def exact(cls, amount: object, currency: str, *, field: str = "amount") -> Money:
        """Money from input that must already fit the currency's minor units."""
        code = validate_currency(currency)
        value = to_decimal(amount, field=field)
        places = minor_units(code)
        _check_magnitude(value, field=field)
        # Count decimals from the digits themselves: normalize() could round long input.
        _, digits, exponent = value.as_tuple()
        if isinstance(exponent, int) and exponent < 0 and not value.is_zero():
            trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
            if -exponent - trailing_zeros > places:
                raise ValidationFailed(
                    f"{value} has more than {places} decimal places, the most {code} allows",
                    field=field,
                )
        return cls(_quantized(value, places, field=field), code)

    @classmethod
    def rounded(cls, amount: object, currency: str, *, field: str = "amount") -> Money:
        """Money from a computed amount, rounded half-even to the currency's minor units."""
        code = validate_currency(currency)
        value = to_decimal(amount, field=field)
        return cls(_quantized(value, minor_units(code), field=field), code)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def plain(value: Decimal) -> Decimal:
    """The shortest plain form of a number: 20.0000 and 20.00 both read 20, never 2E+1."""
    short = value.normalize()
    exponent = short.as_tuple().exponent
    return short.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else short


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` written with exactly the currency's decimals: 24 EUR reads 24.00, 5 JPY 5.

    An amount with more decimals than the currency has (a rate, a computed share) is kept
    as it is: printing must never round money.
    """
    places = minor_units(currency)
    padded = amount.quantize(Decimal(1).scaleb(-places))
    return padded if padded == amount else amount
