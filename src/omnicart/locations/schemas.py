"""Location request and response bodies; rules live in locations.model, not here."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator


class LocationIn(BaseModel):
    """A new warehouse, store or 3PL location."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Slug of a-z, 0-9, '-' and '_'; unique.", examples=["wro-1"])
    name: str = Field(examples=["Wrocław warehouse"])
    kind: str = Field(description="warehouse, store or 3pl.")
    address_line: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = Field(default="", description="ISO 3166-1 alpha-2, e.g. PL.")
    latitude: float | None = Field(default=None, description="-90 to 90, with longitude.")
    longitude: float | None = Field(default=None, description="-180 to 180, with latitude.")
    ships: bool = True
    pickup: bool = False
    ship_from_store: bool = Field(default=False, description="Stores only: ships online orders.")
    # Strict: JSON true must not pass for 1.
    priority: StrictInt = Field(default=100, description="Lower is tried first; 0 to 1,000,000.")
    active: bool = True


class LocationPatch(BaseModel):
    """Changes to a location; fields left out stay as they are (code and kind are fixed)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    address_line: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = Field(default=None, description="null clears (with longitude).")
    longitude: float | None = Field(default=None, description="null clears (with latitude).")
    ships: bool | None = None
    pickup: bool | None = None
    ship_from_store: bool | None = None
    priority: StrictInt | None = None
    active: bool | None = None

    @field_validator(
        "name",
        "address_line",
        "city",
        "postal_code",
        "country",
        "ships",
        "pickup",
        "ship_from_store",
        "priority",
        "active",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Leaving a field out keeps it; an explicit null would be read the same way and
        # hide a client bug.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class LocationOut(BaseModel):
    """A location as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

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
