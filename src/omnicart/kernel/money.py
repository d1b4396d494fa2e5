"""Money as Decimal plus an ISO 4217 currency, rounded to the currency's minor units."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from omnicart.kernel.errors import ValidationFailed


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def validate_currency(code: str, *, field: str = "currency") -> str:
    """Return the upper-cased ISO 4217 code, or raise when it is not a currency."""
    upper = code.strip().upper()
    if len(upper) != 3 or upper not in _known_currencies():
        raise ValidationFailed(f"{code!r} is not an ISO 4217 currency code", field=field)
    return upper


def minor_units(currency: str) -> int:
    """Number of decimal places the currency uses (JPY 0, EUR 2, KWD 3)."""
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
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ValidationFailed(
                f"{value} has more than {places} decimal places, the most {code} allows",
                field=field,
            )
        return cls(value.quantize(Decimal(1).scaleb(-places)), code)

    @classmethod
    def rounded(cls, amount: object, currency: str) -> Money:
        """Money from a computed amount, rounded half-even to the currency's minor units."""
        code = validate_currency(currency)
        value = to_decimal(amount)
        quantum = Decimal(1).scaleb(-minor_units(code))
        return cls(value.quantize(quantum, rounding=ROUND_HALF_EVEN), code)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
