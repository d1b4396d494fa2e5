"""Location request and response bodies; rules live in locations.model, not here."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnicart.api.inputs import InputModel, Int64, omitted

LocationKind = Literal["warehouse", "store", "3pl"]


class LocationIn(InputModel):
    """A new warehouse, store or 3PL location."""

    code: str = Field(
        description="Slug of a-z, 0-9, '-' and '_'; unique.",
        pattern=r"^[a-z0-9_-]{1,64}$",
        examples=["wro-1"],
    )
    name: str = Field(examples=["Wrocław warehouse"])
    kind: LocationKind
    address_line: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = Field(default="", description="ISO 3166-1 alpha-2, e.g. PL.")
    latitude: float | None = Field(default=None, description="-90 to 90, with longitude.")
    longitude: float | None = Field(default=None, description="-180 to 180, with latitude.")
    ships: bool = True
    pickup: bool = False
    ship_from_store: bool = Field(default=False, description="Stores only: ships online orders.")
    priority: Int64 = Field(default=100, description="Lower is tried first; 0 to 1,000,000.")
    active: bool = True


class LocationPatch(InputModel):
    """Changes to a location; fields left out stay as they are (code and kind are fixed).

    Only the coordinates may be null (clearing them); no other field may.
    """

    name: str = omitted()
    address_line: str = omitted()
    city: str = omitted()
    postal_code: str = omitted()
    country: str = omitted(description="ISO 3166-1 alpha-2, e.g. PL.")
    latitude: float | None = Field(default=None, description="null clears (with longitude).")
    longitude: float | None = Field(default=None, description="null clears (with latitude).")
    ships: bool = omitted()
    pickup: bool = omitted()
    ship_from_store: bool = omitted()
    priority: Int64 = omitted(description="Lower is tried first; 0 to 1,000,000.")
    active: bool = omitted()


class LocationOut(BaseModel):
    """A location as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: LocationKind
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
