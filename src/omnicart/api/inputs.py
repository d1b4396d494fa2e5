"""What every request body is built from: bounded whole numbers and storable text.

Every `*In` schema derives from `InputModel`, which refuses, naming the field, any string
(in a nested list or JSON object too) that no database could store, and uses the integer
types below, whose bounds the OpenAPI document shows. Rules of the business (a priority of
at most 1,000,000, a positive buffer) stay with the capabilities' models; these bounds
only keep input within what is stored, so that nothing overflows into a 500.
tests/api/test_api_inputs.py proves every body reachable from the API follows them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from omnicart.inventory.model import MAX_QUANTITY
from omnicart.kernel.text import unstorable_text

# Ids and other whole numbers are BIGINT: a signed 64-bit integer.
MAX_INT64 = 2**63 - 1

# Strict: JSON true, 1.5 or "2" is refused rather than coerced to a number.
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_INT64, description="An id.")]
Int64 = Annotated[int, Field(strict=True, ge=-MAX_INT64, le=MAX_INT64)]
Quantity = Annotated[
    int, Field(strict=True, ge=1, le=MAX_QUANTITY, description="Whole units, 1 to 1,000,000.")
]
UnitsOrZero = Annotated[
    int, Field(strict=True, ge=0, le=MAX_QUANTITY, description="Whole units, 0 to 1,000,000.")
]
UnitsDelta = Annotated[
    int,
    Field(
        strict=True,
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="Units added (+) or removed (-), at most 1,000,000 either way.",
    ),
]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(**kwargs: Any) -> Any:
    """A PATCH field that may be left out (it keeps its value) but is never null.

    Annotate it with its non-null type (`name: str = omitted()`): JSON null is then
    refused by the type, naming the field, and the document shows no null. Read it only
    when it is in `model_fields_set` (or through `model_dump(exclude_unset=True)`).
    """
    return Field(default=None, json_schema_extra=_no_default, **kwargs)


class InputModel(BaseModel):
    """Base of every request body: unknown fields and unstorable text are refused."""

    # A misspelt field is an error, not silently ignored input.
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Nested models check their own fields first; this walks strings, lists and
        # JSON objects (traits, attributes, properties), which reach the database as sent.
        if isinstance(value, BaseModel):
            return value
        found = unstorable_text(value)
        if found is not None:
            path, reason = found
            # problems.py appends `path` to the field, naming e.g. `attributes.size`.
            raise PydanticCustomError("unstorable_text", reason, {"path": path})
        return value
