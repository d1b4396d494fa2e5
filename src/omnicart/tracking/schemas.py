"""Tracking source request and response bodies; a write key appears only once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from omnicart.api.inputs import Id, InputModel


class SourceIn(InputModel):
    """A new tracking source for a channel."""

    channel_id: Id = Field(description="The channel whose events this source sends.")
    name: str = Field(examples=["web store (analytics.js)"], description="1 to 200 characters.")


class SourceOut(BaseModel):
    """A source as listed: never its write key, only its first characters."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int
    name: str
    prefix: str
    active: bool
    created_at: datetime


class SourceCreated(SourceOut):
    """A newly created source; `write_key` is shown here once and cannot be read again."""

    write_key: str = Field(description="HTTP Basic user name (empty password) for /v1/track …")


class Accepted(BaseModel):
    """Segment's answer, plus the messages of a batch that were refused (if any)."""

    success: bool = True
    rejected: list[dict[str, object]] | None = Field(
        default=None, description="Refused messages of a batch: index, field and detail."
    )
