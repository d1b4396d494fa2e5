"""The rules of a channel: its identity, currency, buffer policy and serving locations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.kernel.money import validate_currency
from omnicart.locations.model import LocationView, missing_capability, validate_code, validate_name

CHANNEL_KINDS: Final = ("web", "app", "pos", "marketplace", "social", "messaging")
# buffer_units is a 32-bit column; no shop holds back anywhere near this many units.
MAX_BUFFER_UNITS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class ChannelDraft:
    """Everything a merchant says about a channel, before or after a change.

    The buffer reads "show `buffer_percent_shown` % of stock, never the last
    `buffer_units` units" (Allegro: 80 and 2).
    """

    code: str
    name: str
    kind: str
    currency: str
    buffer_percent_shown: int = 100
    buffer_units: int = 0
    active: bool = True


def _not_int(value: object) -> bool:
    # bool is an int to Python; True units is a client bug, not 1.
    return isinstance(value, bool) or not isinstance(value, int)


def check_channel(draft: ChannelDraft) -> ChannelDraft:
    """The draft normalised (trimmed name, upper-cased currency), or ValidationFailed."""
    validate_code(draft.code)
    if draft.kind not in CHANNEL_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(CHANNEL_KINDS)}", field="kind")
    if _not_int(draft.buffer_percent_shown) or not 0 <= draft.buffer_percent_shown <= 100:
        raise ValidationFailed(
            "buffer_percent_shown is the share of stock shown: 0 to 100",
            field="buffer_percent_shown",
        )
    if _not_int(draft.buffer_units) or not 0 <= draft.buffer_units <= MAX_BUFFER_UNITS:
        raise ValidationFailed(
            f"buffer_units must be a whole number from 0 to {MAX_BUFFER_UNITS:,}",
            field="buffer_units",
        )
    return replace(
        draft, name=validate_name(draft.name), currency=validate_currency(draft.currency)
    )


def check_currency_kept(current: str, requested: str) -> None:
    """A channel's currency is fixed once created: prices and orders are in it."""
    if validate_currency(requested) != current:
        raise Conflict(f"a channel's currency cannot change (it is {current})", field="currency")


def check_serving(
    *,
    mode: str,
    location_ids: Sequence[int],
    locations: dict[int, LocationView],
    field: str,
) -> None:
    """Every location exists, is active and has the capability `mode` needs."""
    for index, location_id in enumerate(location_ids):
        where = f"{field}.{index}"
        location = locations.get(location_id)
        if location is None:
            raise NotFound(f"location {location_id} does not exist", field=where)
        if not location.active:
            raise Conflict(f"location {location.code!r} is not active", field=where)
        lacking = missing_capability(location, mode)
        if lacking is not None:
            raise Conflict(
                f"location {location.code!r} cannot serve {mode}: {lacking} is off",
                field=where,
            )


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A stored channel with the ids of the locations serving it, ascending."""

    id: int
    code: str
    name: str
    kind: str
    currency: str
    buffer_percent_shown: int
    buffer_units: int
    active: bool
    created_at: datetime
    ship_location_ids: tuple[int, ...]
    pickup_location_ids: tuple[int, ...]
