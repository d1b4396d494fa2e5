"""API key request and response bodies; a secret appears only in the create response."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnicart.api.inputs import Id, InputModel

Role = Literal["admin", "channel", "staff", "analyst"]


class ApiKeyIn(InputModel):
    """A new key: an admin key, a channel's key, a store staff key or an analyst's key."""

    name: str = Field(examples=["allegro-connector"], description="1 to 80 characters.")
    role: Role
    channel_id: Id | None = Field(default=None, description="Required for a channel key.")
    location_id: Id | None = Field(default=None, description="Required for a staff key.")
    scopes: list[str] | None = Field(
        default=None,
        description="Defaults to the role's scopes, which are also the most it may hold.",
    )


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret, only the first characters to recognise it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    role: Role
    channel_id: int | None
    location_id: int | None
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    """A newly created key; `secret` is shown here once and cannot be read again."""

    id: int
    name: str
    prefix: str
    role: Role
    channel_id: int | None
    location_id: int | None
    scopes: list[str]
    secret: str
