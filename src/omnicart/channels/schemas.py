"""Channel request and response bodies; rules live in channels.model, not here."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator


class ChannelIn(BaseModel):
    """A new channel."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Slug of a-z, 0-9, '-' and '_'; unique.", examples=["allegro"])
    name: str = Field(examples=["Allegro"])
    kind: str = Field(description="web, app, pos, marketplace, social or messaging.")
    currency: str = Field(description="ISO 4217 code; fixed once created.", examples=["PLN"])
    # Strict ints: JSON true must not pass for 1.
    buffer_percent_shown: StrictInt = Field(
        default=100, description="Share of stock shown to the channel, 0 to 100."
    )
    buffer_units: StrictInt = Field(
        default=0, description="Units never shown to the channel, 0 to 1,000,000."
    )
    active: bool = True


class ChannelPatch(BaseModel):
    """Changes to a channel; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    active: bool | None = None
    buffer_percent_shown: StrictInt | None = None
    buffer_units: StrictInt | None = None
    currency: str | None = Field(
        default=None, description="Accepted only when equal to the current currency."
    )

    @field_validator("name", "active", "buffer_percent_shown", "buffer_units", "currency")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Leaving a field out keeps it; an explicit null would be read the same way and
        # hide a client bug.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class ChannelLocationsIn(BaseModel):
    """The full sets of locations serving a channel; they replace the current ones."""

    model_config = ConfigDict(extra="forbid")

    ship_location_ids: list[StrictInt] = Field(
        default_factory=list, description="Locations shipping orders of this channel."
    )
    pickup_location_ids: list[StrictInt] = Field(
        default_factory=list, description="Locations where this channel's customers pick up."
    )


class ChannelOut(BaseModel):
    """A channel as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: str
    currency: str
    buffer_percent_shown: int
    buffer_units: int
    active: bool
    created_at: datetime
    ship_location_ids: list[int]
    pickup_location_ids: list[int]
