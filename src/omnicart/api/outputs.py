"""What response bodies share: amounts printed with their currency's minor units.

A body with a `currency` field prints every `MoneyAmount` in it, and in the objects it
holds that have no currency of their own (an order's lines), with that currency's
decimals: `"24.00"` for EUR, `"2400"` for JPY, `"24.000"` for BHD.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import in_minor_units


def _printed(amount: Decimal, currency: str) -> Decimal:
    try:
        return in_minor_units(amount, currency)
    except ValidationFailed:  # a code no longer in use: its decimals are unknown, keep as stored
        return amount


class _MinorUnits:
    """Marks an amount printed in the currency of the body that holds it."""


MoneyAmount = Annotated[Decimal, _MinorUnits()]


def _by_currency(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    return {code: _printed(amount, code) for code, amount in amounts.items()}


AmountsByCurrency = Annotated[dict[str, Decimal], AfterValidator(_by_currency)]
"""Amounts keyed by their ISO 4217 currency (revenue per currency)."""


def _is_money(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> bool:
    if any(isinstance(m, _MinorUnits) for m in metadata):
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _is_money(base, extra)
    if origin is Union or type(annotation).__name__ == "UnionType":
        return any(_is_money(arg) for arg in get_args(annotation))
    return False


@cache
def _money_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        name
        for name, field in model.model_fields.items()
        if _is_money(field.annotation, field.metadata)
    )


def _print_in(model: BaseModel, currency: str) -> None:
    for name in _money_fields(type(model)):
        value = getattr(model, name)
        if isinstance(value, Decimal):
            object.__setattr__(model, name, _printed(value, currency))
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            # An object with a currency of its own (a payment) has printed its amounts.
            if isinstance(item, OutputModel) and "currency" not in type(item).model_fields:
                _print_in(item, currency)


class OutputModel(BaseModel):
    """Base of every response body built from the service's views."""

    model_config = ConfigDict(from_attributes=True)

    @model_validator(mode="after")
    def _minor_units(self) -> OutputModel:
        currency = getattr(self, "currency", None)
        if isinstance(currency, str) and len(currency) == 3:
            _print_in(self, currency)
        return self
