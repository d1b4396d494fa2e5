"""Stock and prices out: every connector's vendor holds what Omnicart says its channel may
sell, and at what price.

For each (connector, SKU) one row says the figure the vendor should hold (`wanted`, with a
sequence number that grows with every change) and the last one it acknowledged. So:

- bursts coalesce: a change overwrites `wanted`, and a push sends whatever is wanted when
  it runs, never the figures in between;
- nothing stale is sent: one push at a time per row (claimed for a lease longer than a
  call to the vendor may take, and a push whose lease is running out is not sent), always
  of the newest figure; a figure that changes during a push is sent again after it;
- failures back off: 429/5xx wait twice as long each time (at least what Retry-After
  asked), a refusal (4xx) waits until the figure changes or an hour has passed.

Figures change when stock moves: `refresh_from_feed` follows the ledger's movements (a
feed that skips none, see `omnicart.db.feed`) and recomputes the channel's
available-to-promise (`inventory.queries.channel_availability`) of the mapped SKUs that
moved, bundles included. What moves no stock (a buffer or a price changed) is caught by
`refresh_all`, run every minute for stock and every few seconds for prices. Every writer
of `wanted` first locks the one feed row, so a figure computed later is written later.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, cast
from weakref import WeakKeyDictionary

import httpx
import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Engine,
    String,
    Subquery,
    Table,
    case,
    column,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from omnicart.catalog.tables import BundleComponent, Variant
from omnicart.channels.tables import Channel
from omnicart.connectors import registry
from omnicart.connectors.base import PriceFigure, StockFigure
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import known_skus, mapped
from omnicart.connectors.sealing import connection_of
from omnicart.connectors.tables import Connector, PushFeed, PushState, SkuMapping
from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.inventory.ledger import insert_ignoring_duplicates
from omnicart.inventory.queries import (
    channel_availability,
    list_movements,
    location_availability,
)
from omnicart.inventory.tables import Movement
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound
from omnicart.kernel.money import in_minor_units
from omnicart.locations.service import location_id_for_code
from omnicart.orders.placement import channel_prices
from omnicart.settings import get_settings

log = logging.getLogger(__name__)

STOCK, PRICE = "stock", "price"
Kind = Literal["stock", "price"]
KINDS = (STOCK, PRICE)
_FEED_ID = 1
SENDERS = 4  # vendors' batches sent at once
BATCH = 100  # figures per call of an adapter (each adapter splits further as its API needs)
STOCK_REFRESH = timedelta(seconds=60)
PRICE_REFRESH = timedelta(seconds=5)
BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0
REFUSED_WAIT = timedelta(hours=1)
push_table = cast(Table, PushState.__table__)


def _figures(session: Session, rows: Sequence[tuple[str, str, int]]) -> Subquery:
    """(sku, wanted, seq) rows as a table to UPDATE ... FROM: one JSON parameter, so the
    statement is the same (and compiled once) whatever the number of rows."""
    payload = orjson.dumps([{"sku": s, "wanted": w, "seq": q} for s, w, q in rows]).decode()
    if session.get_bind().dialect.name == "postgresql":
        found = (
            func.json_to_recordset(cast_(literal(payload, String), JSON))
            .table_valued(
                column("sku", String), column("wanted", String), column("seq", BigInteger)
            )
            .render_derived(name="figures", with_types=True)
        )
        return select(found.c.sku, found.c.wanted, found.c.seq).subquery("given")
    each = func.json_each(payload).table_valued("value")
    return select(
        func.json_extract(each.c.value, "$.sku").label("sku"),
        func.json_extract(each.c.value, "$.wanted").label("wanted"),
        func.json_extract(each.c.value, "$.seq").label("seq"),
    ).subquery("given")


@dataclass(frozen=True, slots=True)
class PushView:
    """Where one SKU's figure stands with a vendor."""

    connector_id: int
    kind: str
    sku: str
    wanted: str
    wanted_seq: int
    changed_at: datetime
    sent: str | None
    sent_seq: int
    sent_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None

    @property
    def in_sync(self) -> bool:
        """The vendor acknowledged the newest figure."""
        return self.sent_seq >= self.wanted_seq


def backoff(attempts: int, asked: float | None = None) -> float:
    """Seconds before a figure is tried again after `attempts` failures."""
    doublings: int = min(max(attempts - 1, 0), 20)
    return max(min(BACKOFF_BASE * float(1 << doublings), BACKOFF_CAP), asked or 0.0)


def _lease() -> timedelta:
    settings = get_settings()
    return timedelta(
        seconds=max(settings.connector_lease_seconds, 2 * settings.connector_timeout_seconds)
    )


# --- what the vendors should hold ---------------------------------------------------------


def _feed(session: Session) -> PushFeed:
    """The feed row, locked: every writer of wanted figures holds it (one at a time)."""
    row = session.scalar(select(PushFeed).where(PushFeed.id == _FEED_ID).with_for_update())
    if row is None:
        conn = session.connection()
        conn.execute(
            insert_ignoring_duplicates(conn, cast(Table, PushFeed.__table__)),
            {"id": _FEED_ID, "tx_id": 0, "last_id": 0, "updated_at": utcnow()},
        )
        row = session.scalar(select(PushFeed).where(PushFeed.id == _FEED_ID).with_for_update())
        assert row is not None
        # A new feed starts where the ledger is now; what came before is in the full
        # refresh that runs first.
        end = _ledger_end(session)
        row.tx_id, row.last_id = end.tx_id, end.id
    return row


def _ledger_end(session: Session) -> FeedPosition:
    newest = FeedPosition()
    while True:
        rows = list_movements(session, after=newest, limit=5000)
        if not rows:
            return newest
        last = rows[-1][0]
        newest = position_of(last.tx_id, last.id)


def _connectors(session: Session, connector_id: int | None = None) -> list[Connector]:
    stmt = select(Connector).where(Connector.active.is_(True)).order_by(Connector.id)
    if connector_id is not None:
        stmt = stmt.where(Connector.id == connector_id)
    return list(session.scalars(stmt))


def _queue(
    session: Session, connector_id: int, kind: str, figures: dict[str, str], *, force: bool = False
) -> int:
    """Make `figures` the wanted ones; a change gets the next sequence number. `force`
    sends them again even when unchanged (a vendor that drifted). How many changed.

    One SELECT, then one UPDATE ... FROM for every changed row and one INSERT for the
    new ones; the caller holds the feed, so nobody else writes them."""
    if not figures:
        return 0
    now = utcnow()
    rows = session.execute(
        select(PushState.sku, PushState.wanted).where(
            PushState.connector_id == connector_id,
            PushState.kind == kind,
            PushState.sku.in_(sorted(figures)),
        )
    )
    held: dict[str, str] = {row.sku: row.wanted for row in rows}
    changed = {
        sku: figure
        for sku, figure in figures.items()
        if sku in held and (force or held[sku] != figure)
    }
    if changed:
        given = _figures(session, [(sku, figure, 0) for sku, figure in sorted(changed.items())])
        session.execute(
            update(PushState)
            .where(
                PushState.connector_id == connector_id,
                PushState.kind == kind,
                PushState.sku == given.c.sku,
            )
            .values(
                wanted=given.c.wanted,
                wanted_seq=PushState.wanted_seq + 1,
                changed_at=now,
                # Refused earlier: a new figure may well be taken.
                next_attempt_at=case(
                    (PushState.next_attempt_at > now + timedelta(seconds=BACKOFF_CAP), now),
                    else_=PushState.next_attempt_at,
                ),
            )
            .execution_options(synchronize_session=False)
        )
    new = [
        {
            "connector_id": connector_id,
            "kind": kind,
            "sku": sku,
            "wanted": figure,
            "wanted_seq": 1,
            "changed_at": now,
            "sent_seq": 0,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for sku, figure in sorted(figures.items())
        if sku not in held
    ]
    if new:
        session.execute(insert(PushState), new)
    return len(changed) + len(new)


def _stock_figures(
    session: Session, connector: Connector, skus: Iterable[str], *, known: bool = False
) -> dict[str, str]:
    """What the connector's channel may sell of each SKU (`known`: all are in the catalog)."""
    wanted = sorted(set(skus)) if known else sorted(known_skus(session, skus))
    if not wanted:
        return {}
    store = _till_store(session, connector)
    if store is None:
        found = channel_availability(session, channel_id=connector.channel_id, skus=wanted)
    else:
        try:  # what the till may sell: the store's own shelves, after the channel's buffer
            found = location_availability(
                session, location_id=store, skus=wanted, channel_id=connector.channel_id
            )
        except Conflict:  # the store does not serve the channel: no buffer to apply
            found = location_availability(session, location_id=store, skus=wanted)
    return {sku: str(units) for sku, units in found.items()}


def _till_store(session: Session, connector: Connector) -> int | None:
    """The store a POS channel's connector sells from (its `store` option), if any."""
    code = (connector.options or {}).get("store")
    if not code or session.get_one(Channel, connector.channel_id).kind != "pos":
        return None
    try:
        return location_id_for_code(session, code=str(code), field="store")
    except NotFound:
        return None


def _price_figures(session: Session, connector: Connector, skus: Iterable[str]) -> dict[str, str]:
    currency = connector_currency(session, connector)
    prices = channel_prices(session, connector.channel_id, sorted(set(skus)))
    # Written with the currency's minor units, as shops show prices: 12.50, not 12.5.
    return {sku: f"{in_minor_units(amount, currency)} {currency}" for sku, amount in prices.items()}


def connector_currency(session: Session, connector: Connector) -> str:
    """The currency of the connector's channel."""
    return session.get_one(Channel, connector.channel_id).currency


def _mapped_skus(session: Session, connector_id: int) -> list[str]:
    return sorted(
        set(session.scalars(select(SkuMapping.sku).where(SkuMapping.connector_id == connector_id)))
    )


def refresh_all(
    db: Database, *, connector_id: int | None = None, kinds: Sequence[str] = KINDS
) -> int:
    """Recompute every mapped SKU's figures (of one connector, or all); how many changed."""
    changed = 0
    with db.transaction() as session:
        feed = _feed(session)
        for connector in _connectors(session, connector_id):
            skus = _mapped_skus(session, connector.id)
            if STOCK in kinds:
                changed += _queue(
                    session, connector.id, STOCK, _stock_figures(session, connector, skus)
                )
            if PRICE in kinds:
                changed += _queue(
                    session, connector.id, PRICE, _price_figures(session, connector, skus)
                )
        now = utcnow()
        if connector_id is None:
            if STOCK in kinds:
                feed.stock_refreshed_at = now
            if PRICE in kinds:
                feed.prices_refreshed_at = now
        feed.updated_at = now
    return changed


# Once an active connector was seen, each process asks again only after this long: the
# push loop's every round need not.
ACTIVE_KEPT_SECONDS = 2.0
_active_seen: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def _any_connector(db: Database) -> bool:
    seen = _active_seen.get(db.engine)
    if seen is not None and time.monotonic() - seen < ACTIVE_KEPT_SECONDS:
        return True
    with db.reading() as session:
        found = (
            session.scalar(select(Connector.id).where(Connector.active.is_(True)).limit(1))
            is not None
        )
    if found:
        _active_seen[db.engine] = time.monotonic()
    return found


def refresh_due(db: Database) -> int:
    """The periodic full recomputation, when it is due (catches what moves no stock)."""
    if not _any_connector(db):
        return 0
    with db.reading() as session:
        feed = session.get(PushFeed, _FEED_ID)
        now = utcnow()
        stock_due = (
            feed is None
            or feed.stock_refreshed_at is None
            or feed.stock_refreshed_at + STOCK_REFRESH <= now
        )
        prices_due = (
            feed is None
            or feed.prices_refreshed_at is None
            or feed.prices_refreshed_at + PRICE_REFRESH <= now
        )
    kinds = [kind for kind, due in ((STOCK, stock_due), (PRICE, prices_due)) if due]
    return refresh_all(db, kinds=kinds) if kinds else 0


def _affected(session: Session, connector_id: int, variant_ids: set[int]) -> list[str]:
    """Mapped SKUs of the connector whose stock comes from these variants (themselves,
    or bundles with one of them inside): one query."""
    ids = sorted(variant_ids)
    bundles = select(BundleComponent.bundle_id).where(BundleComponent.component_id.in_(ids))
    return sorted(
        set(
            session.scalars(
                select(SkuMapping.sku)
                .join(Variant, Variant.sku == SkuMapping.sku)
                .where(
                    SkuMapping.connector_id == connector_id,
                    Variant.id.in_(ids) | Variant.id.in_(bundles),
                )
            )
        )
    )


def refresh_from_feed(db: Database, *, limit: int = 1000) -> int:
    """Follow the ledger past its last position: recompute the figures of the mapped SKUs
    whose stock moved. How many movements were read (none while no connector is active;
    the first one starts with a full refresh)."""
    if not _any_connector(db):
        return 0
    with db.transaction() as session:
        feed = _feed(session)
        if feed.stock_refreshed_at is None:
            # Everything before the feed's start is in this first full refresh.
            for connector in _connectors(session):
                skus = _mapped_skus(session, connector.id)
                _queue(session, connector.id, STOCK, _stock_figures(session, connector, skus))
            feed.stock_refreshed_at = utcnow()
        rows = list_movements(session, after=FeedPosition(feed.tx_id, feed.last_id), limit=limit)
        if not rows:
            return 0
        moved = {movement.variant_id for movement, _ in rows if _moves_availability(movement)}
        if moved:
            for connector in _connectors(session):
                skus = _affected(session, connector.id, moved)
                if skus:
                    figures = _stock_figures(session, connector, skus, known=True)
                    _queue(session, connector.id, STOCK, figures)
        last = rows[-1][0]
        position = position_of(last.tx_id, last.id)
        feed.tx_id, feed.last_id = position.tx_id, position.id
        feed.updated_at = utcnow()
        return len(rows)


def _moves_availability(movement: Movement) -> bool:
    return movement.delta_on_hand != movement.delta_reserved + movement.delta_allocated


# --- sending -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claimed:
    connector_id: int
    kind: str
    sku: str
    wanted: str
    wanted_seq: int
    attempts: int


def _claim(
    db: Database, *, limit: int, connector_id: int | None
) -> tuple[str, datetime, list[_Claimed]]:
    """Take up to `limit` due figures for a lease in one UPDATE ... RETURNING: the figure
    and sequence number each row holds as it is taken are the ones sent (a later change
    raises `wanted_seq` past them, so it is sent again after)."""
    now = utcnow()
    token = uuid.uuid4().hex
    until = now + _lease()
    due = (
        select(PushState.connector_id, PushState.kind, PushState.sku)
        .join(Connector, Connector.id == PushState.connector_id)
        .where(
            PushState.wanted_seq > PushState.sent_seq,
            PushState.next_attempt_at <= now,
            Connector.active.is_(True),
        )
        .order_by(PushState.changed_at)
        .limit(limit)
    )
    if connector_id is not None:
        due = due.where(PushState.connector_id == connector_id)
    with db.reading() as session:  # idle rounds take no write lock (SQLite has one)
        if session.execute(due).first() is None:
            return token, until, []
    key = tuple_(PushState.connector_id, PushState.kind, PushState.sku)
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Two claimers never wait for each other, nor take the same row.
            due = due.with_for_update(of=PushState, skip_locked=True)
        taken = session.execute(
            update(PushState)
            .where(key.in_(due.subquery().select()), PushState.next_attempt_at <= now)
            .values(next_attempt_at=until, leased_until=until, claim_token=token)
            .returning(
                PushState.connector_id,
                PushState.kind,
                PushState.sku,
                PushState.wanted,
                PushState.wanted_seq,
                PushState.attempts,
                PushState.changed_at,
            )
            .execution_options(synchronize_session=False)
        ).all()
    ordered = sorted(taken, key=lambda r: (r.changed_at, r.connector_id, r.kind, r.sku))
    claimed = [
        _Claimed(r.connector_id, r.kind, r.sku, r.wanted, r.wanted_seq, r.attempts) for r in ordered
    ]
    return token, until, claimed


def push_due(
    db: Database, *, http: httpx.Client, limit: int = 500, connector_id: int | None = None
) -> int:
    """Send the figures that are due, newest wanted each; how many were sent. Each
    vendor's batch goes at the same time as the others' (one vendor's slow answer
    delays no other's figures)."""
    token, until, claimed = _claim(db, limit=limit, connector_id=connector_id)
    groups = _groups(claimed)
    if len(groups) <= 1:
        return sum(
            _push_group(db, g[0].connector_id, g[0].kind, g, token=token, until=until, http=http)
            for g in groups
        )
    futures = [
        _senders().submit(
            _push_group, db, g[0].connector_id, g[0].kind, g, token=token, until=until, http=http
        )
        for g in groups
    ]
    wait(futures)
    return sum(future.result() for future in futures)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _senders() -> ThreadPoolExecutor:
    """The process's threads sending vendors' batches side by side."""
    global _pool  # noqa: PLW0603
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="connectors-push")
        return _pool


def _push_group(
    db: Database,
    connector_id: int,
    kind: str,
    rows: list[_Claimed],
    *,
    token: str,
    until: datetime,
    http: httpx.Client,
) -> int:
    with db.reading() as session:
        connector = session.get_one(Connector, connector_id)
        try:
            connection = connection_of(session, connector)
        except RuntimeError as exc:
            _failed(db, rows, token, error=str(exc), refused=True)
            return 0
        items = mapped(session, connector_id=connector_id, skus=[r.sku for r in rows])
    adapter = registry.adapter(connection.vendor)
    unmapped = [row for row in rows if row.sku not in items]
    if unmapped:  # the mapping was removed since: nothing to send it to
        _done(db, unmapped, token)
    rows = [row for row in rows if row.sku in items]
    margin = timedelta(seconds=get_settings().connector_timeout_seconds)
    sent = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        if utcnow() + margin >= until:
            # Another worker may take these over soon: leave them to it, unsent.
            _failed(db, rows[start:], token, error=None, refused=False, release_only=True)
            break
        try:
            if kind == STOCK:
                adapter.push_stock(connection, http, _stock(batch, items))
            else:
                adapter.push_prices(connection, http, _prices(batch, items))
        except VendorUnavailable as exc:
            _failed(db, rows[start:], token, error=str(exc), refused=False, asked=exc.retry_after)
            break
        except VendorRefused as exc:
            _failed(db, batch, token, error=f"refused: {exc}", refused=True)
            continue
        except Exception as exc:
            log.exception("pushing %s to connector %s failed", kind, connector_id)
            _failed(db, rows[start:], token, error=f"{type(exc).__name__}: {exc}", refused=False)
            break
        _done(db, batch, token)
        sent += len(batch)
    return sent


def _stock(rows: Sequence[_Claimed], items: dict[str, list[SkuMapping]]) -> list[StockFigure]:
    return [
        StockFigure(
            sku=row.sku,
            vendor_product_id=item.vendor_product_id,
            vendor_variant_id=item.vendor_variant_id or None,
            quantity=int(row.wanted),
            stock_ref=item.stock_ref,
        )
        for row in rows
        for item in items[row.sku]
    ]


def _prices(rows: Sequence[_Claimed], items: dict[str, list[SkuMapping]]) -> list[PriceFigure]:
    figures: list[PriceFigure] = []
    for row in rows:
        amount, _, currency = row.wanted.partition(" ")
        figures.extend(
            PriceFigure(
                sku=row.sku,
                vendor_product_id=item.vendor_product_id,
                vendor_variant_id=item.vendor_variant_id or None,
                amount=Decimal(amount),
                currency=currency,
            )
            for item in items[row.sku]
        )
    return figures


def _batch(rows: Sequence[_Claimed], token: str) -> ColumnElement[bool]:
    """The rows of one claimed batch (one connector and kind), still held by `token`."""
    first = rows[0]
    assert all((r.connector_id, r.kind) == (first.connector_id, first.kind) for r in rows)
    return (
        (PushState.connector_id == first.connector_id)
        & (PushState.kind == first.kind)
        & PushState.sku.in_([row.sku for row in rows])
        & (PushState.claim_token == token)
    )


def _groups(rows: Sequence[_Claimed]) -> list[list[_Claimed]]:
    found: dict[tuple[int, str], list[_Claimed]] = {}
    for row in rows:
        found.setdefault((row.connector_id, row.kind), []).append(row)
    return list(found.values())


def _done(db: Database, rows: Sequence[_Claimed], token: str) -> None:
    """The vendor holds these figures now (of the sequence number each was sent with):
    one UPDATE ... FROM per connector and kind, each row given its own figure."""
    if not rows:
        return
    now = utcnow()
    with db.transaction() as session:
        for group in _groups(rows):
            first = group[0]
            given = _figures(session, [(row.sku, row.wanted, row.wanted_seq) for row in group])
            session.execute(
                update(PushState)
                .where(
                    PushState.connector_id == first.connector_id,
                    PushState.kind == first.kind,
                    PushState.sku == given.c.sku,
                    PushState.claim_token == token,
                )
                .values(
                    sent=given.c.wanted,
                    sent_seq=given.c.seq,
                    sent_at=now,
                    attempts=0,
                    last_error=None,
                    next_attempt_at=now,
                    leased_until=None,
                    claim_token=None,
                )
                .execution_options(synchronize_session=False)
            )


def _failed(
    db: Database,
    rows: Sequence[_Claimed],
    token: str,
    *,
    error: str | None,
    refused: bool,
    asked: float | None = None,
    release_only: bool = False,
) -> None:
    """Give the rows back: at once (`release_only`), or to be tried again after a wait
    that grows with their attempts (one UPDATE per batch and number of attempts)."""
    if not rows:
        return
    now = utcnow()
    with db.transaction() as session:
        for group in _groups(rows):
            by_attempts: dict[int, list[_Claimed]] = {}
            for row in group:
                by_attempts.setdefault(0 if release_only else row.attempts, []).append(row)
            for attempts, same in sorted(by_attempts.items()):
                if release_only:
                    values: dict[str, object] = {"next_attempt_at": now}
                else:
                    wait = (
                        REFUSED_WAIT if refused else timedelta(seconds=backoff(attempts + 1, asked))
                    )
                    values = {
                        "attempts": attempts + 1,
                        "next_attempt_at": now + wait,
                        "last_error": (error or "")[:300] or None,
                    }
                session.execute(
                    update(PushState)
                    .where(_batch(same, token))
                    .values(**values, leased_until=None, claim_token=None)
                    .execution_options(synchronize_session=False)
                )


# --- reading it ----------------------------------------------------------------------------


def _view(row: PushState) -> PushView:
    return PushView(
        connector_id=row.connector_id,
        kind=row.kind,
        sku=row.sku,
        wanted=row.wanted,
        wanted_seq=row.wanted_seq,
        changed_at=row.changed_at,
        sent=row.sent,
        sent_seq=row.sent_seq,
        sent_at=row.sent_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
    )


def sync_state(
    db: Database,
    *,
    connector_id: int,
    kind: str = STOCK,
    sku: str | None = None,
    after_sku: str = "",
    limit: int = 500,
) -> list[PushView]:
    """Where each SKU's figure stands with the vendor, by SKU."""
    stmt = (
        select(PushState)
        .where(
            PushState.connector_id == connector_id,
            PushState.kind == kind,
            PushState.sku > after_sku,
        )
        .order_by(PushState.sku)
        .limit(limit)
    )
    if sku is not None:
        stmt = stmt.where(PushState.sku == sku)
    with db.reading() as session:
        return [_view(row) for row in session.scalars(stmt)]


def pending(db: Database, *, connector_id: int | None = None) -> int:
    """Figures the vendors do not hold yet (of one connector, or all)."""
    stmt = (
        select(func.count()).select_from(PushState).where(PushState.wanted_seq > PushState.sent_seq)
    )
    if connector_id is not None:
        stmt = stmt.where(PushState.connector_id == connector_id)
    with db.reading() as session:
        return int(session.scalar(stmt) or 0)


def lock_feed(session: Session) -> None:
    """Become the one writer of wanted figures until this transaction ends."""
    _feed(session)


def force(session: Session, *, connector_id: int, kind: str, figures: dict[str, str]) -> int:
    """Send these figures again even where they did not change (reconcile); the caller
    holds the feed (`lock_feed`) since before it computed them."""
    return _queue(session, connector_id, kind, figures, force=True)


def current_stock(session: Session, connector: Connector, skus: Iterable[str]) -> dict[str, int]:
    """What the connector's channel may sell of each SKU now."""
    return {sku: int(units) for sku, units in _stock_figures(session, connector, skus).items()}
