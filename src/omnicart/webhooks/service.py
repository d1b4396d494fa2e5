"""Outbound webhooks: subscriptions, their queues filled from the outbox, and the steps a
sender takes (claim a subscription, take its queue's head, record the answer).

Each subscription reads the outbox feed from its own position and turns the events it
takes into delivery rows, in feed order (`seq`), in the transaction that moves its
position: every event is queued exactly once, and a new subscription starts from the end
of the feed (or where it was asked to). A slow or dead subscriber only holds its own queue.

One sender at a time sends a subscription's deliveries: it takes the subscription's
lease with a conditional UPDATE (`claim`), sends the queue's head, records the answer
(renewing the lease) and gives the lease back. A sender that dies leaves a lease that
lapses after `LEASE`; its last delivery is then sent again with the same `webhook-id`.

Secrets are kept sealed with Fernet: the key is OMNICART_WEBHOOK_SECRETS_KEY, or one made
once and kept in `webhook_secret_keys`. They are shown once, when made (creation and
rotation), and never logged.
"""

from __future__ import annotations

import contextlib
import functools
import secrets as tokens
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of, settled
from omnicart.db.outbox import OutboxEvent, is_historic, list_events
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.settings import get_settings
from omnicart.webhooks.model import (
    DEAD,
    DEFAULT_MAX_ATTEMPTS,
    MOST_ATTEMPTS,
    PENDING,
    STATES,
    Answer,
    RetryDelay,
    after_attempt,
    check_endpoint_url,
    check_event_types,
    event_body,
    matches,
    may_replay,
    new_message_id,
    new_secret,
    retry_delay,
    webhook_type,
)
from omnicart.webhooks.tables import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecretKey,
    WebhookSubscription,
)

# A sender holds a subscription this long without answering for it; longer than any
# one request may take (delivery.TIMEOUT_S), so a live sender never loses it.
LEASE = timedelta(seconds=60)
FAN_OUT_PAGE = 500
MAX_DESCRIPTION = 200
MOST_SECRET_OVERLAP = timedelta(days=7)
_KEY_ID = 1
_ERROR_CHARS = 300


# ------------------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription as shown: never its secret."""

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    max_attempts: int
    pending: int
    dead: int
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedSubscription:
    """A new subscription and its secret, shown this once."""

    subscription: SubscriptionView
    secret: str


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    """A subscription's new secret, shown this once, and until when the old one signs too."""

    subscription_id: int
    secret: str
    previous_secret_until: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One request to the subscriber."""

    number: int
    at: datetime
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int
    outcome: str


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """An event in a subscription's queue, with every attempt made for it."""

    id: int
    subscription_id: int
    seq: int
    message_id: str
    event_id: int
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a sender needs to send a queue's head once."""

    delivery_id: int
    subscription_id: int
    seq: int
    message_id: str
    event_type: str
    url: str
    secrets: tuple[str, ...]
    body: bytes | None  # None: the outbox no longer holds the event
    attempts: int  # made before this one, since it was queued or replayed


# ---------------------------------------------------------------------------- secrets


def _fernet(session: Session, *, create: bool) -> Fernet:
    configured = get_settings().webhook_secrets_key
    if configured:
        return Fernet(configured.encode())
    query = select(WebhookSecretKey.secret).where(WebhookSecretKey.id == _KEY_ID)
    key = session.scalar(query)
    if key is None and create:
        try:
            with session.begin_nested():
                session.add(
                    WebhookSecretKey(
                        id=_KEY_ID, secret=Fernet.generate_key().decode(), created_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # another process made it first; use theirs
        key = session.scalar(query)
    if key is None:
        raise RuntimeError("no webhook secrets key: no subscription was ever created here")
    return Fernet(key.encode())


def _seal(session: Session, secret: str) -> str:
    return _fernet(session, create=True).encrypt(secret.encode()).decode()


def _opens(session: Session, sealed: str) -> bool:
    try:
        _unseal(_fernet(session, create=False), sealed)
    except RuntimeError:
        return False
    return True


def _unseal(fernet: Fernet, sealed: str) -> str:
    try:
        return fernet.decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise RuntimeError(
            "a webhook secret does not open with the webhook secrets key: was "
            "OMNICART_WEBHOOK_SECRETS_KEY changed? Put the old key back"
        ) from None


# ------------------------------------------------------------------- subscriptions


def _check_max_attempts(value: int) -> int:
    if not 1 <= value <= MOST_ATTEMPTS:
        raise ValidationFailed(f"max_attempts is 1 to {MOST_ATTEMPTS}", field="max_attempts")
    return value


def _check_description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"a description of at most {MAX_DESCRIPTION} characters", field="description"
        )
    return value


def _feed_end(session: Session) -> FeedPosition:
    """The position after the last settled outbox event: "now" for a new subscription
    (events of transactions still running come after it)."""
    if session.get_bind().dialect.name != "postgresql":
        last = session.scalar(select(func.max(OutboxEvent.id)))
        return FeedPosition(0, last or 0)
    row = session.execute(
        select(OutboxEvent.tx_id, OutboxEvent.id)
        .where(settled(OutboxEvent.tx_id))
        .order_by(OutboxEvent.tx_id.desc(), OutboxEvent.id.desc())
        .limit(1)
    ).first()
    return FeedPosition() if row is None else position_of(row[0], row[1])


def _start(session: Session, start: str) -> FeedPosition:
    if start == "now":
        return _feed_end(session)
    if start == "beginning":
        return FeedPosition()
    try:
        return FeedPosition.decode(start)
    except ValidationFailed:
        raise ValidationFailed(
            "start is now, beginning, or a next_cursor of GET /v1/events", field="start"
        ) from None


def _counts(session: Session, ids: Sequence[int]) -> dict[tuple[int, str], int]:
    if not ids:
        return {}
    rows = session.execute(
        select(WebhookDelivery.subscription_id, WebhookDelivery.state, func.count())
        .where(
            WebhookDelivery.subscription_id.in_(ids),
            WebhookDelivery.state.in_([PENDING, DEAD]),
        )
        .group_by(WebhookDelivery.subscription_id, WebhookDelivery.state)
    )
    return {(sid, state): count for sid, state, count in rows}


def _view(row: WebhookSubscription, counts: dict[tuple[int, str], int]) -> SubscriptionView:
    return SubscriptionView(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types),
        enabled=row.enabled,
        max_attempts=row.max_attempts,
        pending=counts.get((row.id, PENDING), 0),
        dead=counts.get((row.id, DEAD), 0),
        created_at=row.created_at,
        updated_at=row.updated_at,
        previous_secret_until=row.previous_secret_until if row.previous_secret else None,
    )


def _subscription(session: Session, subscription_id: int, *, lock: bool) -> WebhookSubscription:
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"webhook subscription {subscription_id} not found")
    return row


def create_subscription(
    db: Database,
    *,
    url: str,
    event_types: Sequence[str],
    actor: str,
    description: str = "",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    start: str = "now",
) -> CreatedSubscription:
    """Subscribe an endpoint to events from `start` on (`now`, `beginning`, or a cursor of
    the outbox feed); the secret is in the answer, the only time it is shown."""
    checked_url = check_endpoint_url(url)
    patterns = list(check_event_types(event_types))
    attempts = _check_max_attempts(max_attempts)
    text = _check_description(description)
    secret = new_secret()
    now = utcnow()
    with db.transaction() as session:
        position = _start(session, start)
        row = WebhookSubscription(
            url=checked_url,
            description=text,
            event_types=patterns,
            enabled=True,
            max_attempts=attempts,
            secret=_seal(session, secret),
            feed_tx=position.tx_id,
            feed_id=position.id,
            next_seq=1,
            created_by=actor[:120],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        view = _view(row, {})
    return CreatedSubscription(subscription=view, secret=secret)


def list_subscriptions(
    db: Database, *, after_id: int = 0, limit: int = 100
) -> list[SubscriptionView]:
    """Subscriptions by ascending id, with how many deliveries wait and are dead."""
    with db.reading() as session:
        rows = list(
            session.scalars(
                select(WebhookSubscription)
                .where(WebhookSubscription.id > after_id)
                .order_by(WebhookSubscription.id)
                .limit(limit)
            )
        )
        counts = _counts(session, [row.id for row in rows])
        return [_view(row, counts) for row in rows]


def get_subscription(db: Database, *, subscription_id: int) -> SubscriptionView:
    """One subscription (NotFound when there is none)."""
    with db.reading() as session:
        row = _subscription(session, subscription_id, lock=False)
        return _view(row, _counts(session, [row.id]))


def change_subscription(
    db: Database,
    *,
    subscription_id: int,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    max_attempts: int | None = None,
    enabled: bool | None = None,
) -> SubscriptionView:
    """Change what is given. A disabled subscription sends nothing and queues nothing; once
    enabled again it carries on from where it stopped. New event types apply to events
    queued from now on."""
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = check_endpoint_url(url)
    if event_types is not None:
        changes["event_types"] = list(check_event_types(event_types))
    if description is not None:
        changes["description"] = _check_description(description)
    if max_attempts is not None:
        changes["max_attempts"] = _check_max_attempts(max_attempts)
    if enabled is not None:
        changes["enabled"] = enabled

    def work() -> SubscriptionView:
        with db.transaction() as session:
            row = _subscription(session, subscription_id, lock=True)
            for name, value in changes.items():
                setattr(row, name, value)
            if changes:
                row.updated_at = utcnow()
            session.flush()
            return _view(row, _counts(session, [row.id]))

    return retrying(work)


def delete_subscription(db: Database, *, subscription_id: int) -> None:
    """Delete a subscription with its queue and log (NotFound when there is none)."""

    def work() -> None:
        with db.transaction() as session:
            # The subscription first: every writer locks it before its deliveries.
            _subscription(session, subscription_id, lock=True)
            session.execute(
                delete(WebhookAttempt).where(WebhookAttempt.subscription_id == subscription_id)
            )
            session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
            )
            session.execute(
                delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
            )

    retrying(work)


def rotate_secret(
    db: Database, *, subscription_id: int, keep_previous: timedelta = timedelta(days=1)
) -> RotatedSecret:
    """A new secret (shown this once); the old one also signs deliveries for
    `keep_previous` (0: it stops at once), so subscribers can switch without a gap."""
    if not timedelta(0) <= keep_previous <= MOST_SECRET_OVERLAP:
        raise ValidationFailed(
            "the old secret may sign for 0 seconds to 7 days",
            field="previous_secret_valid_seconds",
        )
    secret = new_secret()
    now = utcnow()

    def work() -> RotatedSecret:
        with db.transaction() as session:
            row = _subscription(session, subscription_id, lock=True)
            # A secret sealed under a key since replaced cannot sign; it is not kept.
            overlap = keep_previous > timedelta(0) and _opens(session, row.secret)
            row.previous_secret = row.secret if overlap else None
            row.previous_secret_until = now + keep_previous if overlap else None
            row.secret = _seal(session, secret)
            row.updated_at = now
            return RotatedSecret(row.id, secret, row.previous_secret_until)

    return retrying(work)


# ------------------------------------------------------------------ the delivery log


def _delivery_view(row: WebhookDelivery, log: list[AttemptView]) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        subscription_id=row.subscription_id,
        seq=row.seq,
        message_id=row.message_id,
        event_id=row.outbox_event_id,
        event_type=row.event_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.state == PENDING else None,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        log=log,
    )


def _with_log(session: Session, rows: Sequence[WebhookDelivery]) -> list[DeliveryView]:
    logs: dict[int, list[AttemptView]] = {row.id: [] for row in rows}
    if rows:
        attempts = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(logs)))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        )
        for a in attempts:
            logs[a.delivery_id].append(
                AttemptView(a.number, a.at, a.url, a.status_code, a.error, a.duration_ms, a.outcome)
            )
    return [_delivery_view(row, logs[row.id]) for row in rows]


def list_deliveries(
    db: Database,
    *,
    subscription_id: int,
    state: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[DeliveryView]:
    """A subscription's deliveries in queue order, each with its attempts (the endpoint's
    delivery log); only those in `state` when given."""
    if state is not None and state not in STATES:
        raise ValidationFailed(f"state is one of {', '.join(STATES)}", field="state")
    with db.reading() as session:
        _subscription(session, subscription_id, lock=False)
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.seq > after_seq,
            )
            .order_by(WebhookDelivery.seq)
            .limit(limit)
        )
        if state is not None:
            query = query.where(WebhookDelivery.state == state)
        return _with_log(session, list(session.scalars(query)))


def _delivery(
    session: Session, subscription_id: int, delivery_id: int, *, lock: bool
) -> WebhookDelivery:
    query = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(
            f"subscription {subscription_id} has no delivery {delivery_id}", field="delivery_id"
        )
    return row


def get_delivery(db: Database, *, subscription_id: int, delivery_id: int) -> DeliveryView:
    """One delivery of a subscription with its attempts."""
    with db.reading() as session:
        _subscription(session, subscription_id, lock=False)
        return _with_log(session, [_delivery(session, subscription_id, delivery_id, lock=False)])[0]


def replay_delivery(
    db: Database, *, subscription_id: int, delivery_id: int, now: datetime | None = None
) -> DeliveryView:
    """Send a delivered or dead-lettered delivery again, with the same webhook-id, from its
    own place in the queue and with a fresh set of attempts."""
    when = now or utcnow()

    def work() -> DeliveryView:
        with db.transaction() as session:
            _subscription(session, subscription_id, lock=False)
            row = _delivery(session, subscription_id, delivery_id, lock=True)
            if not may_replay(row.state):
                raise Conflict(
                    f"delivery {delivery_id} is still waiting to be sent; only delivered "
                    "or dead-lettered deliveries are replayed",
                    field="delivery_id",
                )
            row.state, row.attempts, row.next_attempt_at = PENDING, 0, when
            row.finished_at = None
            session.flush()
            return _with_log(session, [row])[0]

    return retrying(work)


def replay_dead(db: Database, *, subscription_id: int, now: datetime | None = None) -> int:
    """Send every dead letter of a subscription again (in queue order); how many."""
    when = now or utcnow()

    def work() -> int:
        with db.transaction() as session:
            _subscription(session, subscription_id, lock=False)
            replayed = session.scalars(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.subscription_id == subscription_id,
                    WebhookDelivery.state == DEAD,
                )
                .values(state=PENDING, attempts=0, next_attempt_at=when, finished_at=None)
                .returning(WebhookDelivery.id)
            )
            return len(list(replayed))

    return retrying(work)


# ------------------------------------------------------------- filling the queues


def _behind(db: Database) -> list[tuple[int, FeedPosition]]:
    """Enabled subscriptions with outbox events after their position."""
    with db.reading() as session:
        rows = session.execute(
            select(WebhookSubscription.id, WebhookSubscription.feed_tx, WebhookSubscription.feed_id)
            .where(WebhookSubscription.enabled.is_(True))
            .order_by(WebhookSubscription.id)
        ).all()
        return [
            (sid, FeedPosition(tx, last))
            for sid, tx, last in rows
            if list_events(session, after=FeedPosition(tx, last), limit=1)
        ]


def _fill(db: Database, subscription_id: int, now: datetime, page: int) -> tuple[int, int]:
    """Queue the subscription's next page of outbox events; (queued, events read)."""
    with db.transaction() as session:
        row = session.scalar(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.enabled.is_(True),
            )
            .with_for_update()
        )
        if row is None:
            return 0, 0
        events = list_events(session, after=FeedPosition(row.feed_tx, row.feed_id), limit=page)
        if not events:
            return 0, 0
        seq = row.next_seq
        queued = []
        for event in events:
            if is_historic(event.payload):
                continue  # past orders imported from a file are no news to anyone
            kind = webhook_type(
                aggregate=event.aggregate, event_type=event.event_type, payload=event.payload
            )
            if kind is None or not matches(row.event_types, kind):
                continue
            queued.append(
                {
                    "subscription_id": subscription_id,
                    "seq": seq,
                    "outbox_event_id": event.id,
                    "message_id": new_message_id(),
                    "event_type": kind,
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
            seq += 1
        if queued:
            session.execute(insert(WebhookDelivery), queued)
        end = position_of(events[-1].tx_id, events[-1].id)
        row.feed_tx, row.feed_id, row.next_seq = end.tx_id, end.id, seq
        return len(queued), len(events)


def fan_out(db: Database, *, now: datetime | None = None, page: int = FAN_OUT_PAGE) -> int:
    """Queue the outbox events every enabled subscription takes, up to the end of the
    feed; how many deliveries were queued. Safe in several processes at once."""
    when = now or utcnow()
    queued = 0
    for subscription_id, _ in _behind(db):
        while True:
            made, read = retrying(functools.partial(_fill, db, subscription_id, when, page))
            queued += made
            if read < page:
                break
    return queued


# ------------------------------------------------------------------ a sender's steps


def due_subscriptions(db: Database, *, now: datetime) -> list[int]:
    """Enabled subscriptions nobody is sending for whose queue's head is due."""
    queued = aliased(WebhookDelivery)
    head = (
        select(func.min(queued.seq))
        .where(queued.subscription_id == WebhookSubscription.id, queued.state == PENDING)
        .correlate(WebhookSubscription)
        .scalar_subquery()
    )
    due_head = (
        exists()
        .where(
            WebhookDelivery.subscription_id == WebhookSubscription.id,
            WebhookDelivery.seq == head,
            WebhookDelivery.next_attempt_at <= now,
        )
        .correlate(WebhookSubscription)
    )
    with db.reading() as session:
        return list(
            session.scalars(
                select(WebhookSubscription.id)
                .where(
                    WebhookSubscription.enabled.is_(True),
                    or_(
                        WebhookSubscription.sending_until.is_(None),
                        WebhookSubscription.sending_until < now,
                    ),
                    due_head,
                )
                .order_by(WebhookSubscription.id)
            )
        )


def claim(
    db: Database, *, subscription_id: int, now: datetime, lease: timedelta = LEASE
) -> str | None:
    """Take the subscription's sending lease; its token, or None when another sender
    holds it (or the subscription is disabled or gone)."""
    token = tokens.token_hex(16)
    with db.transaction() as session:
        taken = session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.enabled.is_(True),
                or_(
                    WebhookSubscription.sending_until.is_(None),
                    WebhookSubscription.sending_until < now,
                ),
            )
            .values(sending_until=now + lease, sending_token=token)
            .returning(WebhookSubscription.id)
        ).scalar()
    return token if taken is not None else None


def release(db: Database, *, subscription_id: int, token: str) -> None:
    """Give the sending lease back."""
    with db.transaction() as session:
        session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.sending_token == token,
            )
            .values(sending_until=None, sending_token=None)
        )


def next_outgoing(
    db: Database, *, subscription_id: int, token: str, now: datetime
) -> Outgoing | None:
    """The queue's head, ready to send, when it is due and the lease is still ours."""
    with db.reading() as session:
        sub = session.scalar(
            select(WebhookSubscription).where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.sending_token == token,
                WebhookSubscription.enabled.is_(True),
            )
        )
        if sub is None:
            return None
        head = session.scalar(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.state == PENDING,
            )
            .order_by(WebhookDelivery.seq)
            .limit(1)
        )
        if head is None or head.next_attempt_at is None or head.next_attempt_at > now:
            return None
        event = session.get(OutboxEvent, head.outbox_event_id)
        body = (
            None
            if event is None
            else event_body(
                event_type=head.event_type, occurred_at=event.occurred_at, data=event.payload
            )
        )
        fernet = _fernet(session, create=False)
        signing = [_unseal(fernet, sub.secret)]
        if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > now:
            with contextlib.suppress(RuntimeError):  # sealed under a key since replaced
                signing.append(_unseal(fernet, sub.previous_secret))
        return Outgoing(
            delivery_id=head.id,
            subscription_id=subscription_id,
            seq=head.seq,
            message_id=head.message_id,
            event_type=head.event_type,
            url=sub.url,
            secrets=tuple(signing),
            body=body,
            attempts=head.attempts,
        )


def record(
    db: Database,
    *,
    outgoing: Outgoing,
    answer: Answer,
    token: str,
    now: datetime,
    lease: timedelta = LEASE,
    delay: RetryDelay = retry_delay,
) -> str | None:
    """Write an attempt's answer: the delivery's new state and a line of the log; the
    attempt's outcome (`delivered`, `retrying`, `dead`, or `stale` when another sender
    got there first), or None when the subscription is gone. Renews the lease."""

    def work() -> str | None:
        with db.transaction() as session:
            max_attempts = session.scalar(
                select(WebhookSubscription.max_attempts)
                .where(WebhookSubscription.id == outgoing.subscription_id)
                .with_for_update()
            )
            if max_attempts is None:
                return None
            session.execute(
                update(WebhookSubscription)
                .where(
                    WebhookSubscription.id == outgoing.subscription_id,
                    WebhookSubscription.sending_token == token,
                )
                .values(sending_until=now + lease)
            )
            row = session.scalar(
                select(WebhookDelivery)
                .where(WebhookDelivery.id == outgoing.delivery_id)
                .with_for_update()
            )
            if row is None:
                return None
            outcome = "stale"
            if row.state == PENDING and row.attempts == outgoing.attempts:
                step = after_attempt(
                    succeeded=answer.succeeded,
                    attempts=row.attempts + 1,
                    max_attempts=max_attempts,
                    now=now,
                    retry_after=answer.retry_after,
                    final=answer.final,
                    delay=delay,
                )
                row.state, row.attempts = step.state, row.attempts + 1
                row.next_attempt_at = step.next_attempt_at
                row.last_status = answer.status_code
                row.last_error = answer.error[:_ERROR_CHARS] if answer.error else None
                row.finished_at = None if step.state == PENDING else now
                outcome = "retrying" if step.state == PENDING else step.state
            made = session.scalar(
                select(func.count())
                .select_from(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == row.id)
            )
            session.add(
                WebhookAttempt(
                    delivery_id=row.id,
                    subscription_id=outgoing.subscription_id,
                    number=(made or 0) + 1,
                    at=now,
                    url=outgoing.url,
                    status_code=answer.status_code,
                    error=answer.error[:_ERROR_CHARS] if answer.error else None,
                    duration_ms=answer.duration_ms,
                    outcome=outcome,
                )
            )
            return outcome

    return retrying(work)
