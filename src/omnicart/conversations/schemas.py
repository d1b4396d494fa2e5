"""Conversation request and response bodies; the rules live in conversations.model."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from omnicart.api.inputs import Id, InputModel
from omnicart.api.outputs import OutputModel

ContactChannel = Literal["chat", "email", "phone", "whatsapp", "in_store"]
Direction = Literal["in", "out", "note"]
Status = Literal["open", "pending", "closed"]


class _In(InputModel):
    pass


class _Out(OutputModel):
    pass


class CustomerIdentifiersIn(_In):
    """Who the customer is: any identifiers the channel knows (at least one)."""

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    user_id: str | None = Field(default=None, max_length=200)
    loyalty_card: str | None = Field(default=None, max_length=200)
    pos_customer: str | None = Field(default=None, max_length=200)
    marketplace_buyer: str | None = Field(default=None, max_length=200)
    anonymous_id: str | None = Field(default=None, max_length=200)

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) of every identifier given."""
        return [(kind, value) for kind, value in self.model_dump().items() if value]


class ContactIn(_In):
    """A customer getting in touch; continues their open case or opens one."""

    customer: CustomerIdentifiersIn
    channel: ContactChannel
    body: str = Field(max_length=20_000)
    direction: Direction = "in"
    author: str | None = Field(default=None, max_length=120)
    subject: str = Field(default="", max_length=200)
    channel_id: Id | None = Field(
        default=None, description="The sales channel the contact came through, if any."
    )
    name: str | None = Field(default=None, max_length=200, description="Kept as a trait.")


class MessageIn(_In):
    """A message on a case: from the customer (in), to them (out) or a staff note."""

    channel: ContactChannel
    body: str = Field(max_length=20_000)
    direction: Direction = "in"
    author: str | None = Field(
        default=None, max_length=120, description="Defaults to the customer or the caller."
    )


class HandoverIn(_In):
    """Pass the case to another channel and/or person with what they need to know."""

    to_channel: ContactChannel
    to_assignee: str | None = Field(default=None, max_length=120)
    summary: str = Field(max_length=4_000)


class StatusIn(_In):
    """A case's new status."""

    status: Status


class MessageOut(_Out):
    """A message (body and author are empty once erased)."""

    id: int
    channel: ContactChannel
    direction: Direction
    author: str
    body: str
    at: datetime
    erased: bool


class HandoverOut(_Out):
    """A handover."""

    id: int
    from_channel: str
    to_channel: str
    from_assignee: str | None
    to_assignee: str | None
    by: str
    summary: str
    at: datetime


class ConversationOut(_Out):
    """A case and its whole thread."""

    id: int
    customer_id: int
    status: Status
    subject: str
    channel: ContactChannel
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    messages: list[MessageOut]
    handovers: list[HandoverOut]
