"""The rules of a location: what it is, where it is, and what it can do."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Final, Protocol

from babel import Locale

from omnicart.kernel.errors import ValidationFailed

LOCATION_KINDS: Final = ("warehouse", "store", "3pl")
CODE_PATTERN: Final = re.compile(r"[a-z0-9_-]{1,64}")
NAME_MAX: Final = 200
# priority is a 32-bit column; a million ranks is more than any merchant has locations.
PRIORITY_MAX: Final = 1_000_000
# Column widths of the locations table; longer text would fail on PostgreSQL only.
TEXT_LIMITS: Final = {"address_line": 300, "city": 120, "postal_code": 32}
# CLDR lists groupings and placeholders beside real countries; none is an address.
_NOT_COUNTRIES: Final = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})


class Unset(Enum):
    """Marks an update argument the caller did not give (None may be a real value)."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


def validate_code(code: str, *, field: str = "code") -> str:
    """Return `code` when it is a slug of a-z, 0-9, '-' and '_' (at most 64), else raise."""
    if not CODE_PATTERN.fullmatch(code):
        raise ValidationFailed(
            f"{code!r} is not a code: use 1 to 64 of a-z, 0-9, '-' and '_'", field=field
        )
    return code


def validate_name(name: str, *, field: str = "name") -> str:
    """Return the trimmed name, or raise when it is empty or longer than 200 characters."""
    trimmed = name.strip()
    if not trimmed or len(trimmed) > NAME_MAX:
        raise ValidationFailed(f"name must be 1 to {NAME_MAX} characters", field=field)
    return trimmed


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    codes = {code for code in Locale("en").territories if isinstance(code, str)}
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha()) - _NOT_COUNTRIES


def validate_country(country: str, *, field: str = "country") -> str:
    """The upper-cased ISO 3166-1 alpha-2 code; empty means not yet known."""
    upper = country.strip().upper()
    if upper and upper not in _countries():
        raise ValidationFailed(f"{country!r} is not an ISO 3166-1 alpha-2 country", field=field)
    return upper


class Capabilities(Protocol):
    """What `missing_capability` needs to know of a location."""

    @property
    def kind(self) -> str: ...
    @property
    def ships(self) -> bool: ...
    @property
    def pickup(self) -> bool: ...
    @property
    def ship_from_store(self) -> bool: ...


def missing_capability(location: Capabilities, mode: str) -> str | None:
    """The flag a location lacks to serve a channel for `mode`, or None when it can."""
    if mode == "pickup":
        return None if location.pickup else "pickup"
    if not location.ships:
        return "ships"
    # A store's stock is for its shelves unless the merchant opted it into shipping.
    if location.kind == "store" and not location.ship_from_store:
        return "ship_from_store"
    return None


@dataclass(frozen=True, slots=True)
class LocationDraft:
    """Everything a merchant says about a location, before or after a change."""

    code: str
    name: str
    kind: str
    address_line: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""
    latitude: float | None = None
    longitude: float | None = None
    ships: bool = True
    pickup: bool = False
    ship_from_store: bool = False
    priority: int = 100
    active: bool = True


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise ValidationFailed("give latitude and longitude together, or neither", field=missing)
    # `not (a <= x <= b)` also rejects NaN, which compares false with everything.
    if latitude is not None and (not math.isfinite(latitude) or not -90 <= latitude <= 90):
        raise ValidationFailed(f"latitude {latitude} is not within -90..90", field="latitude")
    if longitude is not None and (not math.isfinite(longitude) or not -180 <= longitude <= 180):
        raise ValidationFailed(f"longitude {longitude} is not within -180..180", field="longitude")


def check_location(draft: LocationDraft) -> LocationDraft:
    """The draft normalised (trimmed, upper-cased country), or ValidationFailed naming the field."""
    validate_code(draft.code)
    if draft.kind not in LOCATION_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(LOCATION_KINDS)}", field="kind")
    texts = {name: getattr(draft, name).strip() for name in TEXT_LIMITS}
    for name, value in texts.items():
        if len(value) > TEXT_LIMITS[name]:
            raise ValidationFailed(
                f"{name} is longer than {TEXT_LIMITS[name]} characters", field=name
            )
    _check_coordinates(draft.latitude, draft.longitude)
    priority = draft.priority
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not 0 <= priority <= PRIORITY_MAX
    ):
        raise ValidationFailed(
            f"priority must be a whole number from 0 to {PRIORITY_MAX:,} (lower is tried first)",
            field="priority",
        )
    if draft.ship_from_store and draft.kind != "store":
        raise ValidationFailed("ship_from_store applies to stores only", field="ship_from_store")
    if draft.ship_from_store and not draft.ships:
        raise ValidationFailed("a store ships from store only if it ships", field="ship_from_store")
    return replace(
        draft,
        name=validate_name(draft.name),
        country=validate_country(draft.country),
        **texts,
    )


@dataclass(frozen=True, slots=True)
class LocationView:
    """A stored location as the service hands it out."""

    id: int
    code: str
    name: str
    kind: str
    address_line: str
    city: str
    postal_code: str
    country: str
    latitude: float | None
    longitude: float | None
    ships: bool
    pickup: bool
    ship_from_store: bool
    priority: int
    active: bool
    created_at: datetime
