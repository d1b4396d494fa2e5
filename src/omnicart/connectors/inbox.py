"""The inbox: every vendor delivery kept exactly as it arrived, then processed once.

Receiving is: check the vendor's signature, store the raw delivery (once per vendor
delivery id: a redelivery finds the first), answer. Nothing else happens in the request,
so the vendor gets its 2xx within milliseconds and a crash after it loses nothing.

Processing runs in the background (`process_due`), in any number of processes at once:
each claims a few pending deliveries for a lease (`next_attempt_at` moves past the lease,
in one conditional UPDATE; on PostgreSQL the candidates are picked with SKIP LOCKED), and
a worker that dies leaves them to be taken over when the lease lapses. Every effect of a
delivery is idempotent (an order by channel + external id and the vendor's version, a
refund by the vendor's refund id), so a delivery processed again after a crash, or
replayed by hand, changes nothing twice.

What cannot be taken as it is (an unknown SKU, amounts that do not add up, a currency
that is not the channel's, stock that is not there) is parked with its reason: visible in
`attention`, re-processed by `requeue` once fixed, or closed by `dismiss`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from weakref import WeakKeyDictionary

import httpx
import orjson
from sqlalchemy import Connection as SAConnection
from sqlalchemy import Engine, Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from omnicart.channels.tables import Channel
from omnicart.connectors import registry
from omnicart.connectors.base import (
    Connection,
    Delivery,
    DeliveryKind,
    Inbound,
    VendorLine,
    VendorOrder,
    VendorRefund,
)
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import resolve_lines
from omnicart.connectors.payloads import body_id, parse_json
from omnicart.connectors.sealing import connection_of
from omnicart.connectors.tables import Connector, InboxDelivery
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import (
    Conflict,
    InsufficientStock,
    NotFound,
    OmnicartError,
    Unauthorized,
    ValidationFailed,
)
from omnicart.locations.service import location_id_for_code
from omnicart.orders.checkout import TillSale, record_sale
from omnicart.orders.model import (
    Customer,
    Fulfil,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    check_customer,
)
from omnicart.orders.returns import ChannelRefund, cancel_channel_order, record_channel_refund
from omnicart.orders.service import ExternalOrder, ingest_order
from omnicart.orders.views import OrderView
from omnicart.settings import get_settings

log = logging.getLogger(__name__)

PENDING, DONE, PARKED, DISMISSED = "pending", "done", "parked", "dismissed"
STATUSES = (PENDING, DONE, PARKED, DISMISSED)
FLAGGED = "flagged"  # reason_code of a delivery taken, whose order a person should check
# A delivery still being retried shows in "needs attention" after this many attempts.
SHOWN_AFTER = 5
# Deliveries about an order not received yet are tried this often before being parked.
WAIT_FOR_ORDER = 6
# Unexpected failures (a bug, the database away) are tried this often before parking.
MAX_FAILURES = 8
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
inbox_table = cast(Table, InboxDelivery.__table__)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What receiving a delivery did: the inbox row, and whether it was there already."""

    delivery: int | None
    duplicate: bool
    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """An inbox row as callers see it (never its body or headers)."""

    id: int
    connector_id: int
    delivery_id: str
    source: str
    topic: str
    kind: str
    external_order_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    reason_code: str | None
    reason: str | None
    order_id: int | None
    flags: list[dict[str, Any]] | None
    received_at: datetime
    processed_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    reason_code: str | None = None
    reason: str | None = None
    order_id: int | None = None
    flags: list[dict[str, Any]] | None = None
    retry_in: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def backoff(attempts: int, asked: float | None = None) -> float:
    """Seconds before the next try after `attempts` tries: 1 s doubling up to 5 minutes,
    or longer when the vendor asked for it."""
    doublings: int = min(max(attempts - 1, 0), 20)
    wait = min(BACKOFF_BASE * float(1 << doublings), BACKOFF_CAP)
    return max(wait, asked or 0.0)


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "")[:limit]


# --- receiving ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kept:
    """A connector as its webhooks are verified against it, and its credentials sealed as
    they were stored when it was read (the version the ack's INSERT checks)."""

    connection: Connection
    sealed: str


# Each process keeps, per connector, what verifying its deliveries needs: read and opened
# once, not per delivery. The ack's one INSERT stores a delivery only while the connector
# still holds the sealed credentials it was verified against, and every change of a
# connector seals them again (service.update_connector: a Fernet token is new each time),
# so a delivery verified against a copy some change made stale, in any process, stores
# nothing and is verified again against the stored connector: a change takes effect for
# every delivery stored after it committed.
_kept: WeakKeyDictionary[Engine, dict[int, _Kept]] = WeakKeyDictionary()
_kept_lock = threading.Lock()
# Verifications against a connector that changed meanwhile, before the delivery is refused.
RECEIVE_TRIES = 3


def _load_connector(db: Database, connector_id: int) -> _Kept:
    """The stored connector as webhooks are verified against it (kept from now on)."""
    with db.reading() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"connector {connector_id} does not exist", field="connector_id")
        if connector.vendor not in registry.VENDORS or not registry.receives_webhooks(
            connector.vendor
        ):
            raise NotFound(
                f"connector {connector_id} ({connector.vendor}) takes no webhooks",
                field="connector_id",
            )
        kept = _Kept(connection_of(session, connector), connector.credentials)
    with _kept_lock:
        _kept.setdefault(db.engine, {})[connector_id] = kept
    return kept


def _kept_connector(db: Database, connector_id: int) -> _Kept:
    with _kept_lock:
        found = _kept.get(db.engine, {}).get(connector_id)
    return found if found is not None else _load_connector(db, connector_id)


def forget_connection(db: Database, connector_id: int) -> None:
    """Verify the connector's next delivery against the stored connector."""
    with _kept_lock:
        _kept.get(db.engine, {}).pop(connector_id, None)


def receive(db: Database, *, connector_id: int, inbound: Inbound) -> Receipt:
    """Verify a webhook delivery and store it durably; raise Unauthorized (nothing stored)
    when its signature is wrong.

    An authentic delivery that cannot be read (not JSON, no order id) is stored parked with
    the reason, so nothing the vendor sent is lost; a ping is answered and not stored.
    """
    kept = _kept_connector(db, connector_id)
    for _ in range(RECEIVE_TRIES):
        try:
            receipt = _receive_as(db, kept, inbound)
        except Unauthorized:
            # Signed with a secret this copy does not hold yet? Check the stored one.
            fresh = _load_connector(db, connector_id)
            if fresh.sealed == kept.sealed:
                raise
            kept = fresh
            continue
        if receipt is not None:
            return receipt
        # The connector changed (or went) since this copy was read.
        forget_connection(db, connector_id)
        kept = _load_connector(db, connector_id)
    raise Conflict(
        f"connector {connector_id} changed while the delivery was received; send it again",
        field="connector_id",
    )


def _receive_as(db: Database, kept: _Kept, inbound: Inbound) -> Receipt | None:
    """Verify and store against `kept`; None when the stored connector is no longer it."""
    connection = kept.connection
    try:
        delivery = registry.adapter(connection.vendor).verify(connection, inbound)
    except ValidationFailed as exc:
        # Adapters check the signature before anything else: this delivery is authentic.
        topic = next(
            (v for k, v in inbound.headers.items() if k.endswith("topic") and v), "unknown"
        )
        return _store(
            db,
            connector_id=connection.connector_id,
            delivery=Delivery(body_id(inbound.body), topic, "ignored", None, None),
            inbound=inbound,
            status=PARKED,
            reason_code="unreadable",
            reason=exc.detail,
            sealed=kept.sealed,
        )
    if delivery.kind == "ping":  # nothing to store: ask whether the copy is current instead
        with db.reading() as session:
            current = session.execute(
                _statements(db.dialect).current,
                {"connector_id": connection.connector_id, "sealed": kept.sealed, "delivery_id": ""},
            ).first()
        return Receipt(None, False, "ping") if current is not None and current.current else None
    status = PENDING if delivery.kind in ("order", "cancel", "refund") else DONE
    return _store(
        db,
        connector_id=connection.connector_id,
        delivery=delivery,
        inbound=inbound,
        status=status,
        sealed=kept.sealed,
    )


@dataclass(frozen=True, slots=True)
class _Statements:
    """The inbox's writes for one dialect, built once."""

    insert: Any  # INSERT ... ON CONFLICT DO NOTHING RETURNING id
    checked: Any  # the same, only while the connector holds :sealed
    first: Any  # the delivery stored before under the same id
    current: Any  # whether the connector holds :sealed, and that delivery


_COLUMNS = (
    "connector_id",
    "delivery_id",
    "source",
    "topic",
    "kind",
    "external_order_id",
    "headers",
    "body",
    "received_at",
    "status",
    "attempts",
    "next_attempt_at",
    "reason_code",
    "reason",
    "processed_at",
)
_built: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    found = _built.get(dialect)
    if found is None:
        found = _built[dialect] = _build_statements(dialect)
    return found


def _build_statements(dialect: str) -> _Statements:
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inbox, connectors = inbox_table.c, cast(Table, Connector.__table__).c

    def value(name: str) -> Any:
        # Typed, so that on PostgreSQL each is cast to its column's type (a SELECT's
        # parameters are typed by their values alone there: a NULL would be text).
        return bindparam(name, type_=inbox[name].type)

    is_connector = connectors.id == bindparam("connector_id")
    same_delivery = inbox.delivery_id == bindparam("delivery_id")
    held = connectors.credentials == bindparam("sealed")
    return _Statements(
        insert=make_insert(inbox_table).on_conflict_do_nothing().returning(inbox.id),
        checked=make_insert(inbox_table)
        .from_select(list(_COLUMNS), select(*map(value, _COLUMNS)).where(is_connector, held))
        .on_conflict_do_nothing()
        .returning(inbox.id),
        first=select(inbox.id, inbox.status, inbox.reason).where(
            inbox.connector_id == bindparam("connector_id"), same_delivery
        ),
        current=select(held.label("current"), inbox.id, inbox.status, inbox.reason)
        .select_from(
            cast(Table, Connector.__table__).outerjoin(
                inbox_table, and_(inbox.connector_id == connectors.id, same_delivery)
            )
        )
        .where(is_connector),
    )


@contextmanager
def _one_statement(db: Database) -> Iterator[SAConnection]:
    """A connection for one write. On PostgreSQL each statement commits on its own
    (autocommit): durable once it returns, as with BEGIN and COMMIT around it, in one round
    trip instead of three. On SQLite, a unit of work (its write lock taken up front)."""
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
    else:
        with db.connection() as conn:
            yield conn


def _store(
    db: Database,
    *,
    connector_id: int,
    delivery: Delivery,
    inbound: Inbound,
    status: str,
    reason_code: str | None = None,
    reason: str | None = None,
    source: str = "webhook",
    sealed: str | None = None,
) -> Receipt | None:
    """Store a delivery once; its receipt (a redelivery's: the first one's). With `sealed`,
    only while the connector holds those sealed credentials: None when it no longer does."""
    now = utcnow()
    values = {
        "connector_id": connector_id,
        "delivery_id": _clean(delivery.delivery_id, 200),
        "source": source,
        "topic": _clean(delivery.topic, 120),
        "kind": delivery.kind,
        "external_order_id": _clean(delivery.external_order_id, 200)
        if delivery.external_order_id
        else None,
        "headers": {_clean(k, 200): _clean(v, 2000) for k, v in inbound.headers.items()},
        "body": inbound.body,
        "received_at": now,
        "status": status,
        "attempts": 0,
        "next_attempt_at": now,
        "reason_code": reason_code,
        "reason": _clean(reason, 1000) if reason else None,
        "processed_at": now if status == DONE else None,
    }
    try:
        with _one_statement(db) as conn:
            built = _statements(conn.dialect.name)
            if sealed is None:
                new_id = conn.execute(built.insert, values).scalar()
            else:
                new_id = conn.execute(built.checked, {**values, "sealed": sealed}).scalar()
            if new_id is not None:
                return Receipt(int(new_id), False, status, reason)
            # Stored before (a redelivery: answer what became of the first), or, when
            # checked, the connector is not the one verified against any more.
            key = {"connector_id": connector_id, "delivery_id": values["delivery_id"]}
            if sealed is not None:
                found = conn.execute(built.current, {**key, "sealed": sealed}).first()
                if found is None or not found.current or found.id is None:
                    return None
                return Receipt(int(found.id), True, found.status, found.reason)
            first = conn.execute(built.first, key).one()
    except IntegrityError:  # the connector is gone (a kept copy outlived it)
        forget_connection(db, connector_id)
        raise NotFound(f"connector {connector_id} does not exist", field="connector_id") from None
    return Receipt(int(first.id), True, first.status, first.reason)


def store_polled(db: Database, *, connector_id: int, orders: Sequence[VendorOrder]) -> list[int]:
    """Put orders a poller fetched in the inbox (once per order version); their ids."""
    stored: list[int] = []
    for order in orders:
        version = order.updated_at.isoformat() if order.updated_at else None
        body = encode_order(order)
        delivery = Delivery(
            f"poll:{order.external_id}@{version or body_id(body)}",
            "poll",
            "cancel" if order.cancelled else "order",
            order.external_id,
            None,
        )
        receipt = _store(
            db,
            connector_id=connector_id,
            delivery=delivery,
            inbound=Inbound(headers={}, body=body, url=""),
            status=PENDING,
            source="poll",
        )
        if receipt is not None and receipt.delivery is not None and not receipt.duplicate:
            stored.append(receipt.delivery)
    return stored


# --- processing --------------------------------------------------------------------------


def _lease() -> timedelta:
    settings = get_settings()
    return timedelta(
        seconds=max(settings.connector_lease_seconds, 2 * settings.connector_timeout_seconds)
    )


def claim(db: Database, *, limit: int = 20) -> tuple[str, list[int]]:
    """Take up to `limit` due deliveries of active connectors for a lease: (token, ids)."""
    now = utcnow()
    token = uuid.uuid4().hex
    candidates = (
        select(InboxDelivery.id)
        .join(Connector, Connector.id == InboxDelivery.connector_id)
        .where(
            InboxDelivery.status == PENDING,
            InboxDelivery.next_attempt_at <= now,
            Connector.active.is_(True),
        )
        .order_by(InboxDelivery.id)
        .limit(limit)
    )
    with db.reading() as session:  # idle rounds take no write lock (SQLite has one)
        if session.scalar(candidates) is None:
            return token, []
    until = now + _lease()
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(of=InboxDelivery, skip_locked=True)
        # One UPDATE ... RETURNING takes them; the condition again, so a row another
        # claimer took since the subquery read it is left to that one.
        taken = session.scalars(
            update(InboxDelivery)
            .where(
                InboxDelivery.id.in_(candidates.scalar_subquery()),
                InboxDelivery.status == PENDING,
                InboxDelivery.next_attempt_at <= now,
            )
            .values(
                next_attempt_at=until,
                leased_until=until,
                claim_token=token,
                attempts=InboxDelivery.attempts + 1,
            )
            .returning(InboxDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return token, sorted(taken)


def process_due(db: Database, *, http: httpx.Client, limit: int = 20) -> int:
    """Claim and process due deliveries; how many were processed."""
    token, ids = claim(db, limit=limit)
    if not ids:
        return 0
    # One read for the whole claim: the rows, and each connector's connection and kind.
    with db.reading() as session:
        rows = list(
            session.scalars(
                select(InboxDelivery).where(InboxDelivery.id.in_(ids)).order_by(InboxDelivery.id)
            )
        )
        found = session.execute(
            select(Connector, Channel.kind)
            .join(Channel, Channel.id == Connector.channel_id)
            .where(Connector.id.in_({row.connector_id for row in rows}))
        ).all()
        targets: dict[int, tuple[Connection | str, str]] = {}
        for connector, kind in found:
            try:
                targets[connector.id] = (connection_of(session, connector), kind)
            except RuntimeError as exc:
                targets[connector.id] = (str(exc), kind)
    for row in rows:
        connection, kind = targets[row.connector_id]
        _process(db, row, token, connection, channel_kind=kind, http=http)
    return len(rows)


def _process(
    db: Database,
    row: InboxDelivery,
    token: str,
    connection: Connection | str,
    *,
    channel_kind: str,
    http: httpx.Client,
) -> str:
    """Handle one claimed delivery (`connection`: the reason it cannot be opened) and
    record the outcome; its new status."""
    if isinstance(connection, str):
        outcome = _Outcome(PARKED, "credentials", connection)
    else:
        outcome = _handle(db, row, connection, channel_kind=channel_kind, http=http)
    _finish(db, row, token, outcome)
    return outcome.status


def _later(
    row: InboxDelivery,
    code: str,
    reason: str,
    *,
    asked: float | None = None,
    limit: int | None = None,
) -> _Outcome:
    if limit is not None and row.attempts >= limit:
        return _Outcome(PARKED, code, reason)
    return _Outcome(PENDING, code, reason, retry_in=backoff(row.attempts, asked))


def _detail(exc: OmnicartError) -> str:
    where = f" ({exc.field})" if exc.field else ""
    return f"{exc.detail}{where}"


def _handle(
    db: Database,
    row: InboxDelivery,
    connection: Connection,
    *,
    channel_kind: str,
    http: httpx.Client,
) -> _Outcome:
    if row.kind not in ("order", "cancel", "refund"):
        return _Outcome(DONE)
    try:
        order = _vendor_order(row, connection, http)
    except VendorUnavailable as exc:
        return _later(row, "vendor_unavailable", str(exc), asked=exc.retry_after)
    except VendorRefused as exc:
        return _Outcome(PARKED, "vendor_refused", str(exc))
    except ValidationFailed as exc:
        return _Outcome(PARKED, "invalid", _detail(exc))
    if order is None:
        return _Outcome(DONE)
    try:
        return _apply(db, row, connection, order, channel_kind=channel_kind)
    except InsufficientStock as exc:
        return _Outcome(PARKED, "insufficient_stock", _detail(exc))
    except ValidationFailed as exc:
        code = "currency" if exc.field == "currency" else "invalid"
        return _Outcome(PARKED, code, _detail(exc))
    except Conflict as exc:
        # ingest_order refuses to cancel an order it never received: it may be on its way.
        if "is unknown" in exc.detail:
            return _later(row, "order_unknown", _detail(exc), limit=WAIT_FOR_ORDER)
        return _Outcome(PARKED, "conflict", _detail(exc))
    except NotFound as exc:
        if exc.field == "external_id":
            return _later(row, "order_unknown", _detail(exc), limit=WAIT_FOR_ORDER)
        return _Outcome(PARKED, "not_found", _detail(exc))
    except OmnicartError as exc:
        return _Outcome(PARKED, "refused", _detail(exc))
    except DBAPIError as exc:
        log.warning("delivery %s: database error, retrying: %s", row.id, exc)
        return _later(row, "database", str(exc).splitlines()[0][:300], limit=MAX_FAILURES)
    except Exception as exc:
        log.exception("delivery %s failed", row.id)
        return _later(row, "internal", f"{type(exc).__name__}: {exc}"[:300], limit=MAX_FAILURES)


def _vendor_order(
    row: InboxDelivery, connection: Connection, http: httpx.Client
) -> VendorOrder | None:
    if row.source == "poll":
        return decode_order(row.body)
    kind = cast(DeliveryKind, row.kind)
    delivery = Delivery(
        row.delivery_id, row.topic, kind, row.external_order_id, parse_json(row.body)
    )
    return registry.adapter(connection.vendor).order(connection, delivery, http)


def _apply(
    db: Database,
    row: InboxDelivery,
    connection: Connection,
    order: VendorOrder,
    *,
    channel_kind: str,
) -> _Outcome:
    actor = f"connector {connection.connector_id} ({connection.vendor})"
    with db.transaction() as session:
        skus, problems = resolve_lines(
            session, connector_id=connection.connector_id, lines=order.lines
        )
        refund_skus: list[list[str | None]] = []
        for index, refund in enumerate(order.refunds):
            found, missing = resolve_lines(
                session,
                connector_id=connection.connector_id,
                lines=[line for line, _ in refund.lines],
            )
            refund_skus.append(found)
            problems.extend(f"refund {index + 1}: {problem}" for problem in missing)
    if problems:
        return _Outcome(PARKED, "unknown_sku", "; ".join(problems))
    view: OrderView | None = None
    if order.lines:
        if channel_kind == "pos":
            view = record_sale(db, sale=_till_sale(db, connection, order, skus), actor=actor)
        else:
            view = ingest_order(db, _external(connection, order, skus), actor=actor)
    elif order.cancelled:
        view = cancel_channel_order(
            db,
            channel_id=connection.channel_id,
            external_id=order.external_id,
            reason=f"cancelled at {connection.vendor}",
            actor=actor,
        )
    for refund, found in zip(order.refunds, refund_skus, strict=True):
        _record_refund(db, connection, order, refund, found, actor=actor)
    if view is not None and view.flags:
        return _Outcome(
            DONE,
            FLAGGED,
            "; ".join(str(flag.get("detail", flag.get("code"))) for flag in view.flags),
            order_id=view.id,
            flags=list(view.flags),
        )
    return _Outcome(DONE, order_id=view.id if view is not None else None)


def _record_refund(
    db: Database,
    connection: Connection,
    order: VendorOrder,
    refund: VendorRefund,
    skus: Sequence[str | None],
    *,
    actor: str,
) -> None:
    units: dict[str, int] = {}
    for (_, quantity), sku in zip(refund.lines, skus, strict=True):
        if sku is not None and quantity > 0:
            units[sku] = units.get(sku, 0) + quantity
    record_channel_refund(
        db,
        refund=ChannelRefund(
            channel_id=connection.channel_id,
            external_id=order.external_id,
            refund_id=refund.refund_id,
            amount=refund.amount,
            lines=tuple(units.items()),
            restock=refund.restock,
        ),
        actor=actor,
    )


def _customer(order: VendorOrder) -> Customer:
    """Who the order is for, keeping only what Omnicart can store (a vendor's malformed
    e-mail or phone is dropped, not a reason to refuse the order)."""
    kept: dict[str, str | None] = {}
    for name, value in (
        ("email", order.email),
        ("phone", order.phone),
        ("ref", order.customer_ref),
    ):
        if not value:
            continue
        try:
            checked = check_customer(Customer(**{name: value}))
        except ValidationFailed:
            continue
        kept[name] = getattr(checked, name)
    return Customer(kept.get("email"), kept.get("phone"), kept.get("ref"))


def _draft(order: VendorOrder, skus: Sequence[str | None]) -> OrderDraft:
    return OrderDraft(
        currency=order.currency,
        lines=tuple(
            LineDraft(
                sku=sku or "",
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                tax=line.tax,
                total=line.total,
                title=line.title[:300],
            )
            for line, sku in zip(order.lines, skus, strict=True)
        ),
        shipping=order.shipping,
        shipping_tax=order.shipping_tax,
        discount=order.discount,
        order_tax=order.order_tax,
        taxes_included=order.taxes_included,
        subtotal=order.subtotal,
        tax_total=order.tax_total,
        discount_total=order.discount_total,
        total=order.total,
        payments=tuple(
            PaymentDraft(method[:40] or "vendor", amount) for method, amount in order.payments
        ),
        customer=_customer(order),
    )


def _address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    limits = {"name": 200, "line1": 300, "city": 120, "postal_code": 32, "country": 2}
    found: dict[str, Any] = {
        name: _clean(str(address.get(name) or ""), limit) for name, limit in limits.items()
    }
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = address.get(name)
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        found[name] = float(number) if number is not None and -bound <= number <= bound else None
    return found


def _fingerprint(order: VendorOrder, skus: Sequence[str | None]) -> dict[str, Any]:
    """What identifies one version of the order as Omnicart keeps it: a vendor's change to
    anything else (its own status, notes) is not an update here."""
    return {
        "external_id": order.external_id,
        "currency": order.currency,
        "cancelled": order.cancelled,
        "lines": [
            [sku, line.quantity, str(line.unit_price), str(line.discount), str(line.tax)]
            for line, sku in zip(order.lines, skus, strict=True)
        ],
        "amounts": [
            str(v)
            for v in (
                order.shipping,
                order.shipping_tax,
                order.discount,
                order.order_tax,
                order.total,
                order.tax_total,
            )
        ],
        "taxes_included": order.taxes_included,
        "payments": [[m, str(a)] for m, a in order.payments],
        "customer": [order.email, order.phone, order.customer_ref],
        "address": orjson.loads(orjson.dumps(order.address or {}, default=str)),
    }


def _external(
    connection: Connection, order: VendorOrder, skus: Sequence[str | None]
) -> ExternalOrder:
    return ExternalOrder(
        channel_id=connection.channel_id,
        external_id=order.external_id,
        draft=_draft(order, skus),
        fulfil=Fulfil(mode="ship", address=_address(order.address)),
        cancelled=order.cancelled,
        updated_at=order.updated_at,
        payload=_fingerprint(order, skus),
    )


def _till_sale(
    db: Database, connection: Connection, order: VendorOrder, skus: Sequence[str | None]
) -> TillSale:
    """A POS vendor's sale at the store the connector's `store` option names."""
    code = connection.options.get("store", "")
    if not code:
        raise ValidationFailed(
            "a connector of a POS channel names its store (option `store`, a location code)",
            field="store",
        )
    with db.reading() as session:
        location = location_id_for_code(session, code=code, field="store")
    draft = _draft(order, skus)
    return TillSale(
        channel_id=connection.channel_id,
        location_id=location,
        lines=draft.lines,
        payments=draft.payments,
        customer=draft.customer,
        taxes_included=order.taxes_included,
        total=order.total,
        receipt=order.external_id,
    )


def _finish(db: Database, row: InboxDelivery, token: str, outcome: _Outcome) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "status": outcome.status,
        "reason_code": outcome.reason_code,
        "reason": _clean(outcome.reason, 1000) if outcome.reason else None,
        "leased_until": None,
        "claim_token": None,
    }
    if outcome.order_id is not None:
        values["order_id"] = outcome.order_id
    if outcome.flags is not None:
        values["flags"] = outcome.flags
    if outcome.status == PENDING:
        values["next_attempt_at"] = now + timedelta(seconds=outcome.retry_in)
    else:
        values["next_attempt_at"] = now
        values["processed_at"] = now
    with db.transaction() as session:
        session.execute(
            update(InboxDelivery)
            .where(InboxDelivery.id == row.id, InboxDelivery.claim_token == token)
            .values(**values)
        )


# --- what a person does ------------------------------------------------------------------


def view(row: InboxDelivery) -> DeliveryView:
    """An inbox row as callers see it."""
    return DeliveryView(
        id=row.id,
        connector_id=row.connector_id,
        delivery_id=row.delivery_id,
        source=row.source,
        topic=row.topic,
        kind=row.kind,
        external_order_id=row.external_order_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        reason_code=row.reason_code,
        reason=row.reason,
        order_id=row.order_id,
        flags=row.flags if isinstance(row.flags, list) else None,
        received_at=row.received_at,
        processed_at=row.processed_at,
    )


def needs_attention_clause() -> Any:
    """SQL: the deliveries a person should look at."""
    return or_(
        InboxDelivery.status == PARKED,
        and_(InboxDelivery.status == PENDING, InboxDelivery.attempts >= SHOWN_AFTER),
        and_(
            InboxDelivery.status == DONE,
            InboxDelivery.reason_code == FLAGGED,
            InboxDelivery.dismissed_at.is_(None),
        ),
    )


def list_deliveries(
    db: Database,
    *,
    connector_id: int | None = None,
    status: str | None = None,
    attention: bool = False,
    after_id: int = 0,
    limit: int = 50,
) -> list[DeliveryView]:
    """Deliveries by ascending id: of one connector, in one status, or needing attention."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    stmt = select(InboxDelivery).where(InboxDelivery.id > after_id)
    if connector_id is not None:
        stmt = stmt.where(InboxDelivery.connector_id == connector_id)
    if status is not None:
        stmt = stmt.where(InboxDelivery.status == status)
    if attention:
        stmt = stmt.where(needs_attention_clause())
    with db.reading() as session:
        return [view(row) for row in session.scalars(stmt.order_by(InboxDelivery.id).limit(limit))]


def requeue(db: Database, *, connector_id: int, deliveries: Sequence[int] | None = None) -> int:
    """Process deliveries again: every parked one of the connector, or those named (any
    status: a replay from the inbox, which changes nothing already applied). How many."""
    now = utcnow()
    with db.transaction() as session:
        clause = InboxDelivery.connector_id == connector_id
        if deliveries is None:
            clause = clause & (InboxDelivery.status == PARKED)
        else:
            wanted = sorted(set(deliveries))
            found = set(
                session.scalars(
                    select(InboxDelivery.id).where(clause, InboxDelivery.id.in_(wanted))
                )
            )
            missing = [d for d in wanted if d not in found]
            if missing:
                raise NotFound(
                    f"connector {connector_id} has no delivery {missing[0]}", field="delivery_ids"
                )
            clause = (
                clause
                & InboxDelivery.id.in_(wanted)
                & (InboxDelivery.kind.in_(("order", "cancel", "refund")))
            )
        changed = session.execute(
            update(InboxDelivery)
            .where(clause)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                leased_until=None,
                claim_token=None,
                dismissed_at=None,
            )
        )
        return int(changed.rowcount or 0)  # type: ignore[attr-defined]


def dismiss(db: Database, *, connector_id: int, delivery: int) -> DeliveryView:
    """A person dealt with it: a parked delivery is closed unprocessed, a flagged one is
    taken off the list."""
    with db.transaction() as session:
        row = session.scalar(
            select(InboxDelivery)
            .where(InboxDelivery.id == delivery, InboxDelivery.connector_id == connector_id)
            .with_for_update()
        )
        if row is None:
            raise NotFound(
                f"connector {connector_id} has no delivery {delivery}", field="delivery_id"
            )
        if row.status == PARKED or (row.status == PENDING and row.attempts >= SHOWN_AFTER):
            row.status = DISMISSED
            row.processed_at = utcnow()
        elif row.status == DONE and row.reason_code == FLAGGED and row.dismissed_at is None:
            row.dismissed_at = utcnow()
        else:
            raise Conflict(
                f"delivery {delivery} is {row.status} and needs no attention", field="delivery_id"
            )
        session.flush()
        return view(row)


# --- polled orders in the inbox: VendorOrder as JSON -------------------------------------


def _line_json(line: VendorLine) -> dict[str, Any]:
    return {
        "vendor_product_id": line.vendor_product_id,
        "vendor_variant_id": line.vendor_variant_id,
        "sku": line.sku,
        "gtin": line.gtin,
        "title": line.title,
        "quantity": line.quantity,
        "unit_price": str(line.unit_price),
        "discount": str(line.discount),
        "tax": str(line.tax),
        "total": None if line.total is None else str(line.total),
    }


def _line_of(raw: Mapping[str, Any]) -> VendorLine:
    return VendorLine(
        vendor_product_id=raw["vendor_product_id"],
        vendor_variant_id=raw["vendor_variant_id"],
        sku=raw["sku"],
        gtin=raw["gtin"],
        title=raw["title"],
        quantity=int(raw["quantity"]),
        unit_price=Decimal(raw["unit_price"]),
        discount=Decimal(raw["discount"]),
        tax=Decimal(raw["tax"]),
        total=None if raw["total"] is None else Decimal(raw["total"]),
    )


def _amount_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def encode_order(order: VendorOrder) -> bytes:
    """A VendorOrder as the inbox keeps a polled one."""
    return orjson.dumps(
        {
            "external_id": order.external_id,
            "currency": order.currency,
            "lines": [_line_json(line) for line in order.lines],
            "updated_at": _time(order.updated_at),
            "placed_at": _time(order.placed_at),
            "cancelled": order.cancelled,
            **{
                name: str(getattr(order, name))
                for name in ("shipping", "shipping_tax", "discount", "order_tax")
            },
            "taxes_included": order.taxes_included,
            **{
                name: _amount_or_none(getattr(order, name))
                for name in ("subtotal", "tax_total", "discount_total", "total")
            },
            "payments": [[method, str(amount)] for method, amount in order.payments],
            "email": order.email,
            "phone": order.phone,
            "customer_ref": order.customer_ref,
            "address": order.address,
            "refunds": [
                {
                    "refund_id": r.refund_id,
                    "amount": str(r.amount),
                    "lines": [[_line_json(line), units] for line, units in r.lines],
                    "restock": r.restock,
                    "at": _time(r.at),
                }
                for r in order.refunds
            ],
            "raw": order.raw,
        },
        default=str,
    )


def decode_order(body: bytes) -> VendorOrder:
    """A polled VendorOrder back from the inbox."""
    raw = orjson.loads(body)

    def amount(name: str) -> Decimal | None:
        return None if raw[name] is None else Decimal(raw[name])

    def moment(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    return VendorOrder(
        external_id=raw["external_id"],
        currency=raw["currency"],
        lines=tuple(_line_of(line) for line in raw["lines"]),
        updated_at=moment(raw["updated_at"]),
        placed_at=moment(raw["placed_at"]),
        cancelled=raw["cancelled"],
        shipping=Decimal(raw["shipping"]),
        shipping_tax=Decimal(raw["shipping_tax"]),
        discount=Decimal(raw["discount"]),
        order_tax=Decimal(raw["order_tax"]),
        taxes_included=raw["taxes_included"],
        subtotal=amount("subtotal"),
        tax_total=amount("tax_total"),
        discount_total=amount("discount_total"),
        total=amount("total"),
        payments=tuple((m, Decimal(a)) for m, a in raw["payments"]),
        email=raw["email"],
        phone=raw["phone"],
        customer_ref=raw["customer_ref"],
        address=raw["address"],
        refunds=tuple(
            VendorRefund(
                refund_id=r["refund_id"],
                amount=Decimal(r["amount"]),
                lines=tuple((_line_of(line), int(units)) for line, units in r["lines"]),
                restock=r["restock"],
                at=moment(r["at"]),
            )
            for r in raw["refunds"]
        ),
        raw=raw["raw"] or {},
    )
