"""Connector use cases: connect a vendor account to a channel, test it, map its catalog,
and the background round that processes deliveries, polls and pushes figures.

Each use case is one transaction; calls to a vendor never run inside one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel
from omnicart.connectors import inbox, push, registry
from omnicart.connectors.base import Connection
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import (
    MappingEntry,
    MappingView,
    MatchReport,
    match_catalog,
    set_entries,
)
from omnicart.connectors.sealing import connection_of, seal, unseal
from omnicart.connectors.tables import Connector, InboxDelivery, PollState, PushState
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.settings import get_settings

log = logging.getLogger(__name__)

MAX_ENTRIES = 30
KEY_LIMIT = 64
SECRET_LIMIT = 4000
OPTION_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ConnectorDraft:
    """A vendor account to connect to a channel."""

    channel_id: int
    vendor: str
    credentials: Mapping[str, str]
    options: Mapping[str, str]
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorView:
    """A connector as callers see it: which credentials it holds, never their values."""

    id: int
    channel_id: int
    vendor: str
    base_url: str
    options: dict[str, str]
    credential_names: list[str]
    active: bool
    webhook_path: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """Whether Omnicart can talk to the vendor with the connector's credentials."""

    ok: bool
    detail: str
    items: int | None = None


def _names(values: Mapping[str, str], field: str, *, limit: int) -> dict[str, str]:
    if len(values) > MAX_ENTRIES:
        raise ValidationFailed(f"{field} holds at most {MAX_ENTRIES} names", field=field)
    checked: dict[str, str] = {}
    for name, value in values.items():
        key = name.strip()
        if not key or len(key) > KEY_LIMIT:
            raise ValidationFailed(f"{field} names are 1 to {KEY_LIMIT} characters", field=field)
        if not isinstance(value, str) or len(value) > limit:
            raise ValidationFailed(
                f"{field}.{key} is text of at most {limit} characters", field=f"{field}.{key}"
            )
        checked[key] = value.strip()
    return checked


def _require(
    vendor: registry.Vendor, credentials: Mapping[str, str], options: Mapping[str, str]
) -> None:
    for kind, needed, given in (
        ("credentials", vendor.credentials, credentials),
        ("options", vendor.options, options),
    ):
        missing = [name for name in needed if not given.get(name)]
        if missing:
            raise ValidationFailed(
                f"a {vendor.title} connector needs {kind} {', '.join(missing)}",
                field=f"{kind}.{missing[0]}",
            )


def check_base_url(url: str, *, field: str = "base_url") -> str:
    """An http(s) URL with a host, without query or fragment."""
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValidationFailed(f"{url!r} is not a URL", field=field) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or len(text) > 500
        or any(c.isspace() for c in text)
    ):
        raise ValidationFailed(
            "base_url is an http(s) URL with a host and no query, at most 500 characters",
            field=field,
        )
    return text


def _view(row: Connector) -> ConnectorView:
    return ConnectorView(
        id=row.id,
        channel_id=row.channel_id,
        vendor=row.vendor,
        base_url=row.base_url,
        options={str(k): str(v) for k, v in (row.options or {}).items()},
        credential_names=[],
        active=row.active,
        webhook_path=f"/v1/connectors/{row.id}/webhooks"
        if row.vendor in registry.VENDORS and registry.receives_webhooks(row.vendor)
        else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _full_view(session: Session, row: Connector) -> ConnectorView:
    found = _view(row)
    try:
        names = sorted(unseal(session, row.credentials))
    except RuntimeError:
        names = []
    return replace(found, credential_names=names)


def _channel(session: Session, channel_id: int, vendor: registry.Vendor) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    if channel.kind not in vendor.kinds:
        raise Conflict(
            f"channel {channel.code!r} is a {channel.kind} channel; a {vendor.title} "
            f"connector sells for {', '.join(vendor.kinds)} channels",
            field="channel_id",
        )
    return channel


def add_connector(db: Database, *, draft: ConnectorDraft) -> ConnectorView:
    """Connect a vendor account to a channel (one per channel); credentials are sealed."""
    vendor = registry.vendor(draft.vendor.strip())
    credentials = _names(draft.credentials, "credentials", limit=SECRET_LIMIT)
    options = _names(draft.options, "options", limit=OPTION_LIMIT)
    _require(vendor, credentials, options)
    if draft.base_url is not None and draft.base_url.strip():
        base_url = check_base_url(draft.base_url)
    else:
        found = registry.default_url(vendor.name, options)
        if found is None:
            raise ValidationFailed(
                f"a {vendor.title} connector needs its base_url (the shop's own site)",
                field="base_url",
            )
        base_url = check_base_url(found)
    now = utcnow()
    try:
        with db.transaction() as session:
            _channel(session, draft.channel_id, vendor)
            taken = session.scalar(
                select(Connector.id).where(Connector.channel_id == draft.channel_id)
            )
            if taken is not None:
                raise Conflict(
                    f"channel {draft.channel_id} already has connector {taken}", field="channel_id"
                )
            row = Connector(
                channel_id=draft.channel_id,
                vendor=vendor.name,
                base_url=base_url,
                credentials=seal(session, credentials),
                options=options,
                active=True,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _full_view(session, row)
    except IntegrityError:
        raise Conflict(
            f"channel {draft.channel_id} already has a connector", field="channel_id"
        ) from None


def update_connector(
    db: Database,
    *,
    connector_id: int,
    base_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    active: bool | None = None,
) -> ConnectorView:
    """Change a connector: credentials and options given replace those of the same names
    (an empty value removes one); a paused connector keeps receiving but processes and
    pushes nothing until it is active again."""
    with db.transaction() as session:
        row = session.scalar(
            select(Connector).where(Connector.id == connector_id).with_for_update()
        )
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist", field="connector_id")
        vendor = registry.vendor(row.vendor)
        held = unseal(session, row.credentials)
        if credentials is not None:
            held = {**held, **_names(credentials, "credentials", limit=SECRET_LIMIT)}
            held = {k: v for k, v in held.items() if v}
        kept = {str(k): str(v) for k, v in (row.options or {}).items()}
        if options is not None:
            kept = {**kept, **_names(options, "options", limit=OPTION_LIMIT)}
            kept = {k: v for k, v in kept.items() if v}
        _require(vendor, held, kept)
        if base_url is not None:
            row.base_url = check_base_url(base_url)
        row.credentials = seal(session, held)
        row.options = kept
        resumed = active is True and not row.active
        if active is not None:
            row.active = active
        row.updated_at = utcnow()
        session.flush()
        view = _full_view(session, row)
    inbox.forget_connection(db, connector_id)
    if resumed:  # what moved while it was paused
        push.refresh_all(db, connector_id=connector_id)
    return view


def get_connector(db: Database, *, connector_id: int) -> ConnectorView:
    """One connector."""
    with db.reading() as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist", field="connector_id")
        return _full_view(session, row)


def list_connectors(db: Database, *, after_id: int = 0, limit: int = 50) -> list[ConnectorView]:
    """Connectors by ascending id."""
    with db.reading() as session:
        rows = session.scalars(
            select(Connector).where(Connector.id > after_id).order_by(Connector.id).limit(limit)
        )
        return [_full_view(session, row) for row in rows]


def connector_of_channel(db: Database, *, channel_code: str) -> int:
    """The id of the connector of the channel with this code."""
    with db.reading() as session:
        found = session.execute(
            select(Connector.id, Channel.id)
            .join(Channel, Channel.id == Connector.channel_id, isouter=False)
            .where(Channel.code == channel_code)
        ).first()
        if found is None:
            exists = session.scalar(select(Channel.id).where(Channel.code == channel_code))
            what = "has no connector" if exists else "does not exist"
            raise NotFound(f"channel {channel_code!r} {what}", field="channel")
        return int(found[0])


def _connection(db: Database, connector_id: int) -> Connection:
    with db.reading() as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist", field="connector_id")
        return connection_of(session, row)


def check_connector(db: Database, *, connector_id: int, http: httpx.Client) -> ConnectionCheck:
    """Ask the vendor for its catalog with the connector's credentials."""
    connection = _connection(db, connector_id)
    try:
        items = registry.adapter(connection.vendor).catalog(connection, http)
    except (VendorUnavailable, VendorRefused) as exc:
        return ConnectionCheck(ok=False, detail=str(exc)[:500])
    return ConnectionCheck(
        ok=True, detail=f"{connection.vendor} answered with {len(items)} item(s)", items=len(items)
    )


def vendor_refusal(exc: VendorUnavailable | VendorRefused) -> Conflict:
    """A vendor that could not be reached or refused, as the caller's answer."""
    wait = getattr(exc, "retry_after", None)
    return Conflict(
        f"the vendor could not be asked: {exc}"[:500],
        field="connector_id",
        **({"retry_after": wait} if wait is not None else {}),
    )


def match_mapping(db: Database, *, connector_id: int, http: httpx.Client) -> MatchReport:
    """Map the vendor's catalog by SKU and GTIN (entries made by hand stay); queue the
    figures of the SKUs it mapped."""
    connection = _connection(db, connector_id)
    try:
        items = registry.adapter(connection.vendor).catalog(connection, http)
    except (VendorUnavailable, VendorRefused) as exc:
        raise vendor_refusal(exc) from exc
    with db.transaction() as session:
        report = match_catalog(session, connector_id=connector_id, items=items)
    push.refresh_all(db, connector_id=connector_id)
    return report


def set_mapping(
    db: Database, *, connector_id: int, entries: Sequence[MappingEntry]
) -> list[MappingView]:
    """Map vendor items to SKUs by hand; queue their figures."""
    _connection(db, connector_id)
    if not entries:
        raise ValidationFailed("give at least one entry", field="items")
    views = set_entries(db, connector_id=connector_id, entries=entries)
    push.refresh_all(db, connector_id=connector_id)
    return views


# --- the background round ----------------------------------------------------------------


def _poll_claim(db: Database, connector_id: int) -> str | None:
    """Take the connector's poll for a lease if it is due; its cursor (None: first poll)."""
    now = utcnow()
    settings = get_settings()
    lease = timedelta(
        seconds=max(settings.connector_lease_seconds, 2 * settings.connector_timeout_seconds)
    )
    with db.transaction() as session:
        row = session.get(PollState, connector_id)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(PollState(connector_id=connector_id, next_poll_at=now, attempts=0))
            except IntegrityError:
                pass
        taken = session.execute(
            update(PollState)
            .where(PollState.connector_id == connector_id, PollState.next_poll_at <= now)
            .values(next_poll_at=now + lease, leased_until=now + lease)
        )
        if not taken.rowcount:  # type: ignore[attr-defined]
            raise LookupError
        return session.get_one(PollState, connector_id, populate_existing=True).cursor


def poll_due(db: Database, *, http: httpx.Client) -> int:
    """Ask each due polling vendor for new orders and put them in the inbox; how many."""
    with db.reading() as session:
        candidates = [
            (row.id, row.vendor)
            for row in session.scalars(select(Connector).where(Connector.active.is_(True)))
        ]
    stored = 0
    every = get_settings().connector_poll_seconds
    for connector_id, vendor in candidates:
        if vendor not in registry.VENDORS:
            continue
        poller = registry.poller(vendor)
        if poller is None:
            continue
        try:
            cursor = _poll_claim(db, connector_id)
        except LookupError:
            continue
        connection = _connection(db, connector_id)
        try:
            orders, following = poller.poll(connection, http, cursor)
        except (VendorUnavailable, VendorRefused) as exc:
            asked = exc.retry_after if isinstance(exc, VendorUnavailable) else None
            wait = inbox.backoff(_poll_attempts(db, connector_id) + 1, asked)
            _poll_done(db, connector_id, cursor=cursor, wait=wait, error=str(exc), failed=True)
            continue
        stored += len(inbox.store_polled(db, connector_id=connector_id, orders=orders))
        # More pages wait behind a full one: ask again at once; else in a while.
        wait = 0.0 if orders else every
        _poll_done(db, connector_id, cursor=following, wait=wait, error=None, failed=False)
    return stored


def _poll_attempts(db: Database, connector_id: int) -> int:
    with db.reading() as session:
        row = session.get(PollState, connector_id)
        return row.attempts if row is not None else 0


def _poll_done(
    db: Database,
    connector_id: int,
    *,
    cursor: str | None,
    wait: float,
    error: str | None,
    failed: bool,
) -> None:
    now = utcnow()
    with db.transaction() as session:
        row = session.get_one(PollState, connector_id)
        row.cursor = cursor
        row.next_poll_at = now + timedelta(seconds=wait)
        row.leased_until = None
        row.attempts = row.attempts + 1 if failed else 0
        row.last_error = (error or "")[:300] or None
        if not failed:
            row.polled_at = now


Step = Callable[[Database, httpx.Client], int]

# Orders in: slow (each delivery is an order ingest), so they never hold up the figures.
INBOX: tuple[tuple[str, Step], ...] = (
    ("processing deliveries", lambda db, http: inbox.process_due(db, http=http)),
    ("polling vendors", lambda db, http: poll_due(db, http=http)),
)
# Figures out: a stock change reaches the vendors whatever the inbox holds.
PUSHES: tuple[tuple[str, Step], ...] = (
    ("following stock movements", lambda db, _http: push.refresh_from_feed(db)),
    ("recomputing figures", lambda db, _http: push.refresh_due(db)),
    ("pushing stock and prices", lambda db, http: push.push_due(db, http=http)),
)
ROUND: tuple[tuple[str, Step], ...] = (*INBOX, *PUSHES)


def run_round(
    db: Database, *, http: httpx.Client | None = None, steps: tuple[tuple[str, Step], ...] = ROUND
) -> int:
    """One background round of every connector's work (or of `steps`); how much there
    was (0: idle).

    Safe in any number of processes at once: each step claims its own work.
    """
    client = http or vendor_http()
    done = 0
    for what, step in steps:
        try:
            done += step(db, client)
        except Exception:
            log.exception("connectors: %s failed; retrying next round", what)
    return done


def process_until_idle(
    db: Database, *, http: httpx.Client | None = None, rounds: int = 1000
) -> int:
    """Run rounds until one finds nothing due (what is backing off waits); how much work."""
    total = 0
    for _ in range(rounds):
        done = run_round(db, http=http)
        total += done
        if not done:
            break
    return total


class RoundLoop:
    """A thread running `steps` over and over: every `busy` seconds while they find work,
    every `idle` seconds otherwise."""

    def __init__(
        self,
        db: Database,
        *,
        steps: tuple[tuple[str, Step], ...],
        name: str,
        busy: float,
        idle: float,
    ) -> None:
        self.db = db
        self.steps = steps
        self.name = name
        self.busy = busy
        self.idle = idle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        http = vendor_http()
        while not self._stop.is_set():
            try:
                done = run_round(self.db, http=http, steps=self.steps)
            except Exception:  # run_round logs its steps; this is the database gone
                log.exception("connectors: %s round failed", self.name)
                done = 0
            self._stop.wait(self.busy if done else self.idle)


def inbox_loop(db: Database) -> RoundLoop:
    """Deliveries and polls: every 0.1 s while there is work, else every second."""
    return RoundLoop(db, steps=INBOX, name="connectors-inbox", busy=0.1, idle=1.0)


def push_loop(db: Database) -> RoundLoop:
    """Stock and price figures: every 0.05 s while there is work, else every 0.2 s (a
    change waits at most that long to be noticed)."""
    return RoundLoop(db, steps=PUSHES, name="connectors-push", busy=0.05, idle=0.2)


class BackgroundLoop:
    """Every connector's background work in this process (a server's, inline): the inbox
    loop and the push loop, each in a thread of its own."""

    def __init__(self, db: Database) -> None:
        self.loops = (inbox_loop(db), push_loop(db))

    def start(self) -> None:
        """Start both loops."""
        for loop in self.loops:
            loop.start()

    def stop(self) -> None:
        """Stop both after the rounds in progress."""
        for loop in self.loops:
            loop.stop()


@dataclass(frozen=True, slots=True)
class ConnectorActivity:
    """What the connectors service does not report per connector yet: its newest delivery,
    and the stock and price figures its vendor does not hold yet (the oldest one's age is
    the sync lag)."""

    last_received_at: datetime | None
    last_processed_at: datetime | None
    figures_waiting: int
    oldest_waiting_since: datetime | None


def connector_activity(session: Session) -> dict[int, ConnectorActivity]:
    """Per connector id, from its inbox and its push state (as connectors.push.pending
    counts them: a figure waits while its wanted sequence is ahead of the one sent)."""
    inbox = {
        connector_id: (received, processed)
        for connector_id, received, processed in session.execute(
            select(
                InboxDelivery.connector_id,
                func.max(InboxDelivery.received_at),
                func.max(InboxDelivery.processed_at),
            ).group_by(InboxDelivery.connector_id)
        )
    }
    waiting = {
        connector_id: (count, oldest)
        for connector_id, count, oldest in session.execute(
            select(PushState.connector_id, func.count(), func.min(PushState.changed_at))
            .where(PushState.wanted_seq > PushState.sent_seq)
            .group_by(PushState.connector_id)
        )
    }
    return {
        connector_id: ConnectorActivity(
            last_received_at=inbox.get(connector_id, (None, None))[0],
            last_processed_at=inbox.get(connector_id, (None, None))[1],
            figures_waiting=int(waiting.get(connector_id, (0, None))[0]),
            oldest_waiting_since=waiting.get(connector_id, (0, None))[1],
        )
        for connector_id in {*inbox, *waiting}
    }
