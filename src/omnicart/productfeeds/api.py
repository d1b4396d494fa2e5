"""HTTP routes for product feeds: parse, call the service, serialise.

A vendor fetches a feed with a feed token in the URL (Google Merchant Center and Meta
fetch a URL on a schedule and send no API key); admins make, rotate and revoke the tokens.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath
from omnicart.auth.access import PUBLIC, Named, access
from omnicart.productfeeds import service
from omnicart.productfeeds.model import FeedFormat
from omnicart.productfeeds.schemas import (
    FeedCheckOut,
    FeedSettingsIn,
    FeedSettingsOut,
    FeedTokenCreated,
    FeedTokenIn,
    FeedTokenOut,
    SkippedOut,
)

MEDIA_TYPES: Final = {
    FeedFormat.GOOGLE_XML: "application/rss+xml",
    FeedFormat.GOOGLE_TSV: "text/tab-separated-values",
    FeedFormat.META_CSV: "text/csv",
}
FormatPath = Annotated[
    FeedFormat, Path(alias="format", description="google-xml, google-tsv or meta-csv.")
]
FeedToken = Annotated[
    str | None,
    Query(max_length=200, description="A live feed token of the channel."),
]
_FEED_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The feed, streamed: RSS 2.0 XML, tab-separated or comma-separated text.",
        "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()},
    }
}
router = APIRouter(tags=["feeds"])


@router.get(
    "/feeds/{channel_id}/{format}",
    response_class=StreamingResponse,
    responses=_FEED_RESPONSE,
)
@guard(PUBLIC)
def get_feed(channel_id: IdPath, fmt: FormatPath, db: DbDep, token: FeedToken = None) -> Response:
    """The channel's product feed, for Google Merchant Center or Meta to fetch on a schedule.

    Needs `?token=` a live feed token of the channel (not an API key): a missing, unknown,
    revoked or other channel's token is a 401. Lists every variant of the products the
    channel lists, at its prices, `in stock` while it may sell a unit.
    """
    chunks = service.serve_feed(db, channel_id=channel_id, fmt=fmt, token=token)
    return StreamingResponse(chunks, media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8")


@router.get("/channels/{channel_id}/feeds/{format}/check", tags=["channels"])
@guard(access("catalog:read", "channel", "staff", channel=Named("path", "channel_id")))
def check_feed(
    channel_id: IdPath, fmt: FormatPath, db: DbDep, principal: Caller, limit: Limit = 100
) -> FeedCheckOut:
    """How many items the channel's feed has now, and which listed variants it leaves out,
    why (no price, no link or image, no description, …)."""
    report = service.check_feed(db, channel_id=channel_id, fmt=fmt)
    return FeedCheckOut(
        channel_id=channel_id,
        format=fmt.value,
        items=report.items,
        skipped_total=len(report.skipped),
        skipped=[SkippedOut(sku=s.sku, reason=s.reason) for s in report.skipped[:limit]],
    )


@router.post(
    "/channels/{channel_id}/feed-tokens", status_code=status.HTTP_201_CREATED, tags=["channels"]
)
@guard(access("channels:write"))
def create_feed_token(
    channel_id: IdPath, body: FeedTokenIn, db: DbDep, principal: Caller
) -> FeedTokenCreated:
    """Make a feed token; the response carries it, the only time it is shown."""
    with db.transaction() as session:
        issued = service.create_feed_token(
            session, channel_id=channel_id, name=body.name, rotate=body.rotate
        )
    view = issued.view
    return FeedTokenCreated(
        id=view.id,
        channel_id=view.channel_id,
        name=view.name,
        prefix=view.prefix,
        created_at=view.created_at,
        token=issued.token,
        feed_urls={
            fmt.value: f"/v1/feeds/{channel_id}/{fmt.value}?token={issued.token}"
            for fmt in FeedFormat
        },
        revoked_token_ids=list(issued.revoked),
    )


@router.get("/channels/{channel_id}/feed-tokens", tags=["channels"])
@guard(access("channels:write"))
def list_feed_tokens(
    channel_id: IdPath, db: DbDep, principal: Caller, cursor: Cursor = None, limit: Limit = 50
) -> Page[FeedTokenOut]:
    """The channel's feed tokens by ascending id, revoked ones included; never the tokens."""
    with db.reading() as session:
        views = service.list_feed_tokens(
            session, channel_id=channel_id, after=decode_cursor(cursor), limit=limit
        )
    items = [FeedTokenOut.model_validate(v) for v in views]
    return Page[FeedTokenOut](items=items, next_cursor=next_cursor([t.id for t in items], limit))


@router.delete(
    "/channels/{channel_id}/feed-tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["channels"],
)
@guard(access("channels:write"))
def revoke_feed_token(
    channel_id: IdPath, token_id: IdPath, db: DbDep, principal: Caller
) -> Response:
    """Revoke a feed token; fetching with it fails at once (revoking twice is harmless)."""
    with db.transaction() as session:
        service.revoke_feed_token(session, channel_id=channel_id, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/channels/{channel_id}/feed-settings", tags=["channels"])
@guard(access("channels:read", "channel", channel=Named("path", "channel_id")))
def get_feed_settings(channel_id: IdPath, db: DbDep, principal: Caller) -> FeedSettingsOut:
    """The channel's storefront URL and product link template (null until set)."""
    with db.reading() as session:
        view = service.get_feed_settings(session, channel_id=channel_id)
    return FeedSettingsOut.model_validate(view)


@router.put("/channels/{channel_id}/feed-settings", tags=["channels"])
@guard(access("channels:write"))
def set_feed_settings(
    channel_id: IdPath, body: FeedSettingsIn, db: DbDep, principal: Caller
) -> FeedSettingsOut:
    """Replace the channel's storefront URL and product link template."""
    with db.transaction() as session:
        view = service.set_feed_settings(
            session,
            channel_id=channel_id,
            storefront_url=body.storefront_url,
            link_template=body.link_template,
        )
    return FeedSettingsOut.model_validate(view)
