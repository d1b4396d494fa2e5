"""Channel request and response bodies; rules live in channels.model, not here."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnicart.api.inputs import Id, InputModel, Int64, omitted

ChannelKind = Literal["web", "app", "pos", "marketplace", "social", "messaging"]


class ChannelIn(InputModel):
    """A new channel."""

    code: str = Field(
        description="Slug of a-z, 0-9, '-' and '_'; unique.",
        pattern=r"^[a-z0-9_-]{1,64}$",
        examples=["allegro"],
    )
    name: str = Field(examples=["Allegro"])
    kind: ChannelKind
    currency: str = Field(description="ISO 4217 code; fixed once created.", examples=["PLN"])
    buffer_percent_shown: Int64 = Field(
        default=100, description="Share of stock shown to the channel, 0 to 100."
    )
    buffer_units: Int64 = Field(
        default=0, description="Units never shown to the channel, 0 to 1,000,000."
    )
    active: bool = True


class ChannelPatch(InputModel):
    """Changes to a channel; fields left out stay as they are (none may be null)."""

    name: str = omitted()
    active: bool = omitted()
    buffer_percent_shown: Int64 = omitted(description="0 to 100.")
    buffer_units: Int64 = omitted(description="0 to 1,000,000.")
    currency: str = omitted(description="Accepted only when equal to the current currency.")


class ChannelLocationsIn(InputModel):
    """The full sets of locations serving a channel; they replace the current ones."""

    ship_location_ids: list[Id] = Field(
        default_factory=list, description="Locations shipping orders of this channel."
    )
    pickup_location_ids: list[Id] = Field(
        default_factory=list, description="Locations where this channel's customers pick up."
    )


class ChannelOut(BaseModel):
    """A channel as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: ChannelKind
    currency: str
    buffer_percent_shown: int
    buffer_units: int
    active: bool
    created_at: datetime
    ship_location_ids: list[int]
    pickup_location_ids: list[int]
