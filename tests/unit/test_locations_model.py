"""Location rules without a database."""

from __future__ import annotations

import pytest

from omnicart.kernel.errors import ValidationFailed
from omnicart.locations.model import (
    LocationDraft,
    check_location,
    missing_capability,
    validate_code,
    validate_country,
)


def _draft(**changes: object) -> LocationDraft:
    values: dict[str, object] = {"code": "wro-1", "name": "Wrocław", "kind": "warehouse"}
    values.update(changes)
    return LocationDraft(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["a", "wro-1", "store_02", "x" * 64])
def test_slug_codes_are_accepted(code: str) -> None:
    assert validate_code(code) == code


@pytest.mark.parametrize("code", ["", "Wro", "wro 1", "wro/1", "żabka", "x" * 65])
def test_codes_that_are_not_slugs_are_rejected(code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_code(code)
    assert caught.value.field == "code"


def test_country_is_upper_cased_and_may_be_empty() -> None:
    assert validate_country(" pl ") == "PL"
    assert validate_country("") == ""


@pytest.mark.parametrize("country", ["XX", "POL", "EU", "ZZ", "1"])
def test_unknown_countries_are_rejected(country: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_country(country)
    assert caught.value.field == "country"


def test_check_location_normalises() -> None:
    draft = check_location(_draft(name="  Wrocław  ", country="pl", city=" Wrocław "))
    assert (draft.name, draft.country, draft.city) == ("Wrocław", "PL", "Wrocław")


@pytest.mark.parametrize(
    ("latitude", "longitude"), [(-90.0, -180.0), (90.0, 180.0), (51.1, 17.03), (None, None)]
)
def test_coordinates_within_range_are_accepted(
    latitude: float | None, longitude: float | None
) -> None:
    draft = check_location(_draft(latitude=latitude, longitude=longitude))
    assert (draft.latitude, draft.longitude) == (latitude, longitude)


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [
        (90.5, 0.0, "latitude"),
        (-91.0, 0.0, "latitude"),
        (0.0, 180.01, "longitude"),
        (0.0, -181.0, "longitude"),
        (float("nan"), 0.0, "latitude"),
        (10.0, None, "longitude"),
        (None, 10.0, "latitude"),
    ],
)
def test_coordinates_out_of_range_name_the_field(
    latitude: float | None, longitude: float | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_location(_draft(latitude=latitude, longitude=longitude))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "shop"}, "kind"),
        ({"name": "  "}, "name"),
        ({"priority": -1}, "priority"),
        ({"ship_from_store": True}, "ship_from_store"),
        ({"kind": "store", "ships": False, "ship_from_store": True}, "ship_from_store"),
        ({"postal_code": "9" * 33}, "postal_code"),
    ],
)
def test_broken_rules_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_location(_draft(**changes))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("changes", "mode", "missing"),
    [
        ({}, "ship", None),
        ({"ships": False}, "ship", "ships"),
        ({}, "pickup", "pickup"),
        ({"pickup": True}, "pickup", None),
        ({"kind": "store"}, "ship", "ship_from_store"),
        ({"kind": "store", "ship_from_store": True}, "ship", None),
        ({"kind": "3pl"}, "ship", None),
    ],
)
def test_missing_capability(changes: dict[str, object], mode: str, missing: str | None) -> None:
    assert missing_capability(_draft(**changes), mode) == missing
