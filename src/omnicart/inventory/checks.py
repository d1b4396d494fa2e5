"""Input checks shared by the inventory use cases."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import orjson
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import SkuInfo
from omnicart.inventory.model import check_quantity
from omnicart.kernel.errors import NotFound, ValidationFailed
from omnicart.locations.tables import Location

MAX_LINES = 200  # per reservation: a cart or an order
MAX_STOCK_LINES = 10_000  # per receipt, transfer or count: a delivery or a stocktake


def check_lines(
    lines: Sequence[tuple[str, int]], *, field_name: str = "lines", most: int = MAX_LINES
) -> None:
    """At least one and at most `most` lines, each a SKU and a whole positive quantity."""
    if not lines:
        raise ValidationFailed("at least one line is required", field=field_name)
    if len(lines) > most:
        raise ValidationFailed(f"at most {most} lines per request", field=field_name)
    for index, (sku, quantity) in enumerate(lines):
        if not isinstance(sku, str) or not sku.strip():
            raise ValidationFailed("sku must not be empty", field=f"{field_name}.{index}.sku")
        check_quantity(quantity, field=f"{field_name}.{index}.quantity")


def stock_bearing(infos: Mapping[str, SkuInfo], sku: str, field_name: str) -> SkuInfo:
    info = infos[sku]
    if info.is_bundle:
        raise ValidationFailed(
            f"{sku} is a bundle: its stock is its components', change those instead",
            field=field_name,
        )
    return info


def location_exists(session: Session, location_id: int, *, field_name: str = "location_id") -> None:
    if session.get(Location, location_id) is None:
        raise NotFound(f"location {location_id} does not exist", field=field_name)


def request_hash(**parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()
