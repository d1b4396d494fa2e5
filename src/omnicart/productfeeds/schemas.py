"""Product feed request and response bodies; a feed token appears only when it is made."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from omnicart.api.inputs import InputModel
from omnicart.api.outputs import OutputModel
from omnicart.productfeeds.model import MAX_TEMPLATE, MAX_URL


class FeedTokenIn(InputModel):
    """A new feed token for the channel; `rotate` revokes its other live tokens at once."""

    name: str = Field(
        default="feed", max_length=200, examples=["google"], description="1 to 80 characters."
    )
    rotate: bool = Field(default=False, description="Revoke the channel's other live tokens.")


class FeedTokenOut(OutputModel):
    """A feed token as listed: never the token, only its first characters."""

    id: int
    channel_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class FeedTokenCreated(OutputModel):
    """A new feed token: `token` is shown here once and cannot be read again."""

    id: int
    channel_id: int
    name: str
    prefix: str
    created_at: datetime
    token: str = Field(description="Fetch the feeds with `?token=` this value.")
    feed_urls: dict[str, str] = Field(
        description="The path of each of the channel's feeds, token included."
    )
    revoked_token_ids: list[int] = Field(description="Tokens this one replaced (`rotate`).")


class FeedSettingsIn(InputModel):
    """Replace the channel's feed settings; a field left out or null is cleared."""

    storefront_url: str | None = Field(
        default=None,
        max_length=MAX_URL,
        examples=["https://shop.example"],
        description="The shop's home page, named by the RSS feed (required for google-xml).",
    )
    link_template: str | None = Field(
        default=None,
        max_length=MAX_TEMPLATE,
        examples=["https://shop.example/products/{handle}"],
        description="A product page URL with {handle} and/or {sku}; a variant's or "
        "product's `link` attribute comes first.",
    )


class FeedSettingsOut(OutputModel):
    """The channel's feed settings (null until set)."""

    channel_id: int
    storefront_url: str | None
    link_template: str | None
    updated_at: datetime | None


class SkippedOut(OutputModel):
    """A listed variant the feed leaves out, and why."""

    sku: str
    reason: str


class FeedCheckOut(OutputModel):
    """What the channel's feed holds now: its items, and the variants it leaves out."""

    channel_id: int
    format: str
    items: int = Field(description="Items the feed has.")
    skipped_total: int = Field(description="Listed variants the feed leaves out.")
    skipped: list[SkippedOut] = Field(description="The first `limit` of them, by product.")
