"""Query parameters of the console's filter forms: an "all" choice arrives as empty text."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator, Field

from omnicart.api.params import MAX_ID, SKU_MAX
from omnicart.orders.schemas import OrderStatus


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Blank = BeforeValidator(_blank_is_none)
IdFilter = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | None, Blank, Query()]
SkuFilter = Annotated[Annotated[str, Field(max_length=SKU_MAX)] | None, Blank, Query()]
StatusFilter = Annotated[OrderStatus | None, Blank, Query()]
