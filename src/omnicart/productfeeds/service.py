"""Product feed use cases: feed tokens, a channel's feed settings, and the feeds themselves.

A feed is read from the other capabilities' own functions: the channel's listed products
with its titles, descriptions and prices (catalog), and what it may sell (inventory's
available-to-promise). It is written as it is read, a page of products at a time, each
page in a read of its own: a feed of any size never sits in memory, and a vendor that
downloads slowly holds no database connection while it does.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.auth.service import hash_secret
from omnicart.catalog.model import ChannelProductView
from omnicart.catalog.service import list_categories, list_channel_catalog
from omnicart.channels.service import get_channel
from omnicart.db.engine import Database
from omnicart.inventory.queries import channel_availability
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from omnicart.productfeeds import model
from omnicart.productfeeds.google import RssChannel, write_rss, write_tsv
from omnicart.productfeeds.meta import write_csv
from omnicart.productfeeds.model import FeedFormat, FeedItem, FeedSource, Skipped
from omnicart.productfeeds.tables import FeedSettings, FeedToken

# Products per read; their SKUs are asked for in batches of AVAILABILITY_BATCH.
PAGE: Final = 100
AVAILABILITY_BATCH: Final = 500
MAX_TOKEN_NAME: Final = 80
# Feed tokens read "ft_…" so that one pasted in the wrong place is recognised.
TOKEN_PREFIX: Final = "ft_"  # noqa: S105 -- a prefix, not a secret


# --- feed tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedTokenView:
    """A feed token as listed: never the token, only its first characters."""

    id: int
    channel_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedFeedToken:
    """A new token: `token` is shown here once; `revoked` lists the tokens it replaced."""

    token: str
    view: FeedTokenView
    revoked: tuple[int, ...] = ()


def _token_view(row: FeedToken) -> FeedTokenView:
    return FeedTokenView(
        id=row.id,
        channel_id=row.channel_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_feed_token(
    session: Session, *, channel_id: int, name: str = "feed", rotate: bool = False
) -> IssuedFeedToken:
    """A new token for the channel's feeds; with `rotate`, its other live tokens stop
    working in the same transaction (hand the vendor the new URL first)."""
    get_channel(session, channel_id=channel_id)
    name = name.strip()
    if not 1 <= len(name) <= MAX_TOKEN_NAME:
        raise ValidationFailed(f"name must be 1 to {MAX_TOKEN_NAME} characters", field="name")
    now = utcnow()
    revoked: tuple[int, ...] = ()
    if rotate:
        revoked = tuple(
            session.scalars(
                update(FeedToken)
                .where(FeedToken.channel_id == channel_id, FeedToken.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(FeedToken.id)
            )
        )
    plain = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    row = FeedToken(
        channel_id=channel_id,
        name=name,
        prefix=plain[:10],
        token_hash=hash_secret(plain),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedFeedToken(token=plain, view=_token_view(row), revoked=tuple(sorted(revoked)))


def list_feed_tokens(
    session: Session, *, channel_id: int, after: int = 0, limit: int = 50
) -> list[FeedTokenView]:
    """Up to `limit` of the channel's tokens with ids above `after`, revoked ones too."""
    get_channel(session, channel_id=channel_id)
    rows = session.scalars(
        select(FeedToken)
        .where(FeedToken.channel_id == channel_id, FeedToken.id > after)
        .order_by(FeedToken.id)
        .limit(limit)
    )
    return [_token_view(row) for row in rows]


def revoke_feed_token(session: Session, *, channel_id: int, token_id: int) -> FeedTokenView:
    """Revoke one of the channel's tokens; it stops working at once (twice is harmless)."""
    row = session.get(FeedToken, token_id, with_for_update=True)
    if row is None or row.channel_id != channel_id:
        raise NotFound(
            f"feed token {token_id} does not exist on channel {channel_id}", field="token_id"
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _token_view(row)


def check_feed_token(session: Session, *, channel_id: int, token: str | None) -> None:
    """Unauthorized unless `token` is a live token of this channel.

    The answer is the same for a missing token, an unknown one, another channel's and a
    revoked one, and for a channel that does not exist: a token cannot probe channels.
    """
    if token:
        row = session.scalar(select(FeedToken).where(FeedToken.token_hash == hash_secret(token)))
        if row is not None and row.channel_id == channel_id and row.revoked_at is None:
            return
    raise Unauthorized("a live feed token of this channel is required (?token=...)", field="token")


# --- feed settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedSettingsView:
    """A channel's shop home page (the RSS channel's link) and its product link template."""

    channel_id: int
    storefront_url: str | None
    link_template: str | None
    updated_at: datetime | None


def get_feed_settings(session: Session, *, channel_id: int) -> FeedSettingsView:
    """The channel's feed settings (both unset until set)."""
    get_channel(session, channel_id=channel_id)
    row = session.get(FeedSettings, channel_id)
    if row is None:
        return FeedSettingsView(channel_id, None, None, None)
    return FeedSettingsView(channel_id, row.storefront_url, row.link_template, row.updated_at)


def set_feed_settings(
    session: Session,
    *,
    channel_id: int,
    storefront_url: str | None,
    link_template: str | None,
) -> FeedSettingsView:
    """Replace the channel's feed settings (None clears one)."""
    get_channel(session, channel_id=channel_id)
    values = {
        "storefront_url": None
        if storefront_url is None
        else model.validate_storefront_url(storefront_url),
        "link_template": None
        if link_template is None
        else model.validate_link_template(link_template),
        "updated_at": utcnow(),
    }
    row = session.get(FeedSettings, channel_id)
    if row is None:
        try:
            with session.begin_nested():
                row = FeedSettings(channel_id=channel_id, **values)
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another transaction wrote the channel's first settings; ours replace them.
            row = session.get(FeedSettings, channel_id, populate_existing=True)
            if row is None:
                raise
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return FeedSettingsView(channel_id, row.storefront_url, row.link_template, row.updated_at)


# --- feeds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """What a feed needs before its first item: the channel, its settings, categories."""

    channel_id: int
    code: str
    name: str
    currency: str
    fmt: FeedFormat
    storefront_url: str | None
    link_template: str | None
    category_paths: dict[str, str]


@dataclass
class FeedReport:
    """What an export wrote and what it left out, filled in as the feed streams."""

    items: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def keep(self, entries: Iterable[FeedItem | Skipped]) -> Iterator[FeedItem]:
        """The items of `entries`; the skipped ones are noted here."""
        for entry in entries:
            if isinstance(entry, Skipped):
                self.skipped.append(entry)
            else:
                self.items += 1
                yield entry


def plan_feed(session: Session, *, channel_id: int, fmt: FeedFormat) -> FeedPlan:
    """Everything a feed reads once; NotFound for an unknown channel, Conflict for an
    RSS feed of a channel without a storefront URL (RSS names the shop's home page)."""
    channel = get_channel(session, channel_id=channel_id)
    settings = get_feed_settings(session, channel_id=channel_id)
    if fmt is FeedFormat.GOOGLE_XML and settings.storefront_url is None:
        raise Conflict(
            f"channel {channel.code!r} has no storefront URL, which an RSS feed names; "
            "set it in the channel's feed settings",
            field="storefront_url",
        )
    categories = {c.slug: (c.name, c.parent) for c in list_categories(session)}
    return FeedPlan(
        channel_id=channel.id,
        code=channel.code,
        name=channel.name,
        currency=channel.currency,
        fmt=fmt,
        storefront_url=settings.storefront_url,
        link_template=settings.link_template,
        category_paths=model.category_paths(categories),
    )


def _sellable(session: Session, channel_id: int, skus: Sequence[str]) -> dict[str, int]:
    units: dict[str, int] = {}
    for start in range(0, len(skus), AVAILABILITY_BATCH):
        batch = skus[start : start + AVAILABILITY_BATCH]
        units |= channel_availability(session, channel_id=channel_id, skus=batch)
    return units


def _sources(
    plan: FeedPlan, products: Sequence[ChannelProductView], sellable: dict[str, int]
) -> Iterator[FeedSource]:
    for product in products:
        path = plan.category_paths.get(product.category) if product.category else None
        for variant in product.variants:
            yield FeedSource(
                sku=variant.sku,
                handle=product.handle,
                title=product.title,
                variant_title=variant.title,
                description=product.description,
                gtin=variant.gtin,
                attributes={**product.attributes, **variant.attributes},
                in_group=len(product.variants) > 1,
                price=variant.price,
                sellable=sellable.get(variant.sku, 0),
                category_path=path,
            )


def feed_entries(
    db: Database, plan: FeedPlan, *, page_size: int = PAGE
) -> Iterator[FeedItem | Skipped]:
    """Every variant of every product the channel lists, by product id: an item of the
    plan's format, or why it is skipped. A product not listed there is not read at all."""
    after = 0
    while True:
        with db.reading() as session:
            products = list_channel_catalog(
                session, channel_id=plan.channel_id, after=after, limit=page_size
            )
            skus = [v.sku for p in products for v in p.variants]
            sellable = _sellable(session, plan.channel_id, skus)
        for source in _sources(plan, products, sellable):
            yield model.build_item(source, plan.fmt, link_template=plan.link_template)
        if len(products) < page_size:
            return
        after = products[-1].product_id


def write_feed(plan: FeedPlan, items: Iterable[FeedItem]) -> Iterator[str]:
    """The items in the plan's format, as chunks of text."""
    if plan.fmt is FeedFormat.GOOGLE_XML:
        assert plan.storefront_url is not None  # plan_feed refuses an RSS feed without it
        channel = RssChannel(
            title=plan.name,
            link=plan.storefront_url,
            description=f"Products of {plan.name}, prices in {plan.currency}",
        )
        return write_rss(items, channel=channel)
    if plan.fmt is FeedFormat.GOOGLE_TSV:
        return write_tsv(items)
    return write_csv(items)


def export_feed(
    db: Database, *, channel_id: int, fmt: FeedFormat, report: FeedReport
) -> Iterator[str]:
    """The channel's feed as chunks of text, read as they are taken; `report` counts the
    items and collects the skipped ones meanwhile. Refusals (an unknown channel, an RSS
    feed without a storefront URL) are raised here, before the first chunk."""
    with db.reading() as session:
        plan = plan_feed(session, channel_id=channel_id, fmt=fmt)
    return write_feed(plan, report.keep(feed_entries(db, plan)))


def check_feed(db: Database, *, channel_id: int, fmt: FeedFormat) -> FeedReport:
    """How many items the channel's feed has now, and which variants it leaves out, why."""
    report = FeedReport()
    with db.reading() as session:
        plan = plan_feed(session, channel_id=channel_id, fmt=fmt)
    for _ in report.keep(feed_entries(db, plan)):
        pass
    return report


def serve_feed(
    db: Database, *, channel_id: int, fmt: FeedFormat, token: str | None
) -> Iterator[str]:
    """The feed a vendor fetches with its token: Unauthorized unless the token is a live
    one of this channel, checked before anything about the channel is read."""
    with db.reading() as session:
        check_feed_token(session, channel_id=channel_id, token=token)
    return export_feed(db, channel_id=channel_id, fmt=fmt, report=FeedReport())
