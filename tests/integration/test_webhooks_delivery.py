"""Outbound webhooks against real subscribers on loopback, each verifying every delivery's
signature with the `standardwebhooks` reference library and processing a webhook-id once.

The sender's clock is a fake that the tests move on to each retry's due time, so nothing
waits for a backoff; signatures carry the wall clock, which the library checks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import OutboxEvent, list_events, record_event
from omnicart.kernel.clock import utcnow
from omnicart.orders import service as orders
from omnicart.settings import get_settings
from omnicart.webhooks import service
from omnicart.webhooks.delivery import RoundResult, WebhookSender
from omnicart.webhooks.model import Answer
from omnicart.webhooks.tables import WebhookSecretKey, WebhookSubscription
from tests.cli_run import omnicart
from tests.orders_support import market_order, seed_shop

# A reply: (status, extra headers, body); None holds the request until the test ends.
Reply = tuple[int, dict[str, str], bytes] | None
OK: Reply = (204, {}, b"")


@dataclass
class Received:
    """One request as the subscriber saw it."""

    message_id: str
    body: dict[str, Any]
    signature: str
    status: int | None


@dataclass
class Subscriber:
    """An HTTP endpoint on loopback that verifies, answers as `reply` says, and
    processes each webhook-id once (what it answered 2xx for, in arrival order)."""

    port: int
    secret: str = ""
    reply: Callable[[str, int], Reply] = lambda _id, _n: OK
    requests: list[Received] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Listen (again) on the subscriber's port."""
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                subscriber.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        """Stop listening: connections are refused from now on."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = request.rfile.read(int(request.headers["content-length"]))
        headers = {k.lower(): v for k, v in request.headers.items()}
        message_id = headers.get("webhook-id", "")
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            tries = sum(1 for r in self.requests if r.message_id == message_id) + 1
        try:
            try:
                Webhook(self.secret).verify(raw, headers)
            except WebhookVerificationError as exc:
                self.failures.append(f"{message_id}: {exc}")
                self._answer(request, (401, {}, b"bad signature"))
                return
            reply = self.reply(message_id, tries)
            if reply is None:
                self.release.wait(10)
                return
            with self.lock:
                self.requests.append(
                    Received(message_id, orjson.loads(raw), headers["webhook-signature"], reply[0])
                )
                if 200 <= reply[0] < 300 and message_id not in self.processed:
                    self.processed.append(message_id)
            self._answer(request, reply)
        finally:
            with self.lock:
                self.in_flight -= 1

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, reply: tuple[int, dict[str, str], bytes]) -> None:
        status, headers, body = reply
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def tries(self) -> Counter[str]:
        """Requests answered, per webhook-id."""
        return Counter(r.message_id for r in self.requests)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(
        *, listening: bool = True, reply: Callable[[str, int], Reply] | None = None
    ) -> Subscriber:
        subscriber = Subscriber(_free_port())
        if reply is not None:
            subscriber.reply = reply
        if listening:
            subscriber.start()
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.release.set()
        subscriber.stop()


class FakeClock:
    """The sender's clock: starts at the wall clock, moves only when told."""

    def __init__(self) -> None:
        self.now = utcnow()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def to(self, moment: datetime) -> None:
        with self._lock:
            self.now = max(self.now, moment)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(db: Database, clock: FakeClock) -> Iterator[WebhookSender]:
    made = WebhookSender(db, clock=clock, timeout=2.0, workers=2)
    yield made
    made.close()


def emit(db: Database, *numbers: int, aggregate: str = "order") -> list[int]:
    """Outbox events numbered `numbers` (order updates, or stock lows); their ids."""
    kinds = {"order": "Order Updated", "stock": "StockLow"}
    with db.transaction() as session:
        for n in numbers:
            record_event(
                session,
                event_type=kinds[aggregate],
                aggregate=aggregate,
                aggregate_id=str(n),
                payload={"order_id": str(n), "n": n, "amount": "19.99"},
            )
    with db.reading() as session:
        last = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id.desc())).first()
        assert last is not None
        ids = list(
            session.scalars(
                select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(len(numbers))
            )
        )
    settle(db, last.tx_id, last.id)
    return sorted(ids)


def settle(db: Database, tx_id: int | None, event_id: int) -> None:
    """Wait until the outbox feed shows the event. On PostgreSQL the feed holds back events
    of transactions newer than any still running in the database (another test's, even)."""
    deadline = time.monotonic() + 30
    while True:
        with db.reading() as session:
            if list_events(session, after=FeedPosition(tx_id or 0, event_id - 1), limit=1):
                return
        assert time.monotonic() < deadline, "the outbox feed never settled"
        time.sleep(0.02)


def subscribe(
    db: Database, subscriber: Subscriber, events: list[str], **options: Any
) -> service.SubscriptionView:
    made = service.create_subscription(
        db, url=subscriber.url, event_types=events, actor="test", **options
    )
    subscriber.secret = made.secret
    return made.subscription


def numbers(subscriber: Subscriber, ids: list[str]) -> list[int]:
    by_id = {r.message_id: r.body["data"]["n"] for r in subscriber.requests}
    return [by_id[i] for i in ids]


def head(db: Database, subscription_id: int) -> service.DeliveryView:
    return service.list_deliveries(db, subscription_id=subscription_id, state="pending")[0]


# ----------------------------------------------------------------------------- tests


def test_deliveries_are_signed_as_standard_webhooks_says(
    db: Database, sender: WebhookSender, subscribers: Callable[..., Subscriber]
) -> None:
    subscriber = subscribers()
    emit(db, 1, 2)  # before the subscription: never sent
    sub = subscribe(db, subscriber, ["order.*"])
    ids = emit(db, 3, 4)
    emit(db, 5, aggregate="stock")  # a type it did not take

    assert sender.deliver_round() == RoundResult(queued=2, delivered=2)

    assert subscriber.failures == []
    assert numbers(subscriber, subscriber.processed) == [3, 4]
    with db.reading() as session:
        occurred = {e.id: e.occurred_at for e in list_events(session, limit=100)}
    first = subscriber.requests[0]
    assert first.body == {
        "type": "order.updated",
        "timestamp": occurred[ids[0]].isoformat().replace("+00:00", "Z"),
        "data": {"order_id": "3", "n": 3, "amount": "19.99"},
    }
    assert first.signature.startswith("v1,")
    assert " " not in first.signature
    log = service.list_deliveries(db, subscription_id=sub.id)
    assert [(d.seq, d.event_id, d.state, d.attempts) for d in log] == [
        (1, ids[0], "delivered", 1),
        (2, ids[1], "delivered", 1),
    ]
    assert [d.message_id for d in log] == subscriber.processed
    attempt = log[0].log[0]
    assert (attempt.number, attempt.status_code, attempt.error, attempt.outcome) == (
        1,
        204,
        None,
        "delivered",
    )
    assert attempt.url == subscriber.url
    assert sender.deliver_round() == RoundResult()  # nothing twice


def test_a_subscriber_down_for_a_while_gets_everything_in_order_once(
    db: Database,
    sender: WebhookSender,
    clock: FakeClock,
    subscribers: Callable[..., Subscriber],
) -> None:
    # Refused connections first, then two 500s (the second asking for two minutes), then up.
    def reply(_message_id: str, tries: int) -> Reply:
        if len(subscriber.requests) == 0 and tries == 1:
            return (500, {}, b"down for maintenance")
        if len(subscriber.requests) == 1:
            return (503, {"Retry-After": "120"}, b"")
        return OK

    subscriber = subscribers(listening=False, reply=reply)
    sub = subscribe(db, subscriber, ["order.*"])
    emit(db, 1, 2, 3)
    waits = []
    for _ in range(3):
        sent_at = clock()
        assert sender.deliver_round().retrying == 1
        due = head(db, sub.id)
        waits.append(due.next_attempt_at - sent_at)  # type: ignore[operator]
        assert due.last_status is None
        assert due.last_error is not None
        assert due.last_error.startswith("ConnectError")
        # Not due yet: nothing is sent.
        clock.to(due.next_attempt_at - timedelta(microseconds=1))  # type: ignore[operator]
        assert sender.deliver_round() == RoundResult()
        clock.to(due.next_attempt_at)  # type: ignore[arg-type]
        emit(db, 4 + len(waits))  # events keep coming while it is down
    assert waits == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]

    subscriber.start()
    assert sender.deliver_round().retrying == 1
    assert head(db, sub.id).last_error == "HTTP 500: down for maintenance"
    clock.to(head(db, sub.id).next_attempt_at)  # type: ignore[arg-type]
    sent_at = clock()
    assert sender.deliver_round().retrying == 1
    assert head(db, sub.id).next_attempt_at == sent_at + timedelta(seconds=120)
    clock.to(sent_at + timedelta(seconds=120))
    assert sender.deliver_round() == RoundResult(delivered=6)

    assert subscriber.failures == []
    assert numbers(subscriber, subscriber.processed) == [1, 2, 3, 5, 6, 7]
    assert sorted(subscriber.tries().values()) == [1, 1, 1, 1, 1, 3]
    first = service.list_deliveries(db, subscription_id=sub.id)[0]
    assert [(a.number, a.status_code, a.outcome) for a in first.log] == [
        (1, None, "retrying"),
        (2, None, "retrying"),
        (3, None, "retrying"),
        (4, 500, "retrying"),
        (5, 503, "retrying"),
        (6, 204, "delivered"),
    ]
    assert (first.state, first.attempts, first.last_status, first.last_error) == (
        "delivered",
        6,
        204,
        None,
    )


def test_one_that_never_answers_is_dead_lettered_and_can_be_replayed(
    sqlite_db: Database, clock: FakeClock, subscribers: Callable[..., Subscriber]
) -> None:
    db = sqlite_db
    answering = threading.Event()
    subscriber = subscribers(reply=lambda _id, _n: OK if answering.is_set() else None)
    sub = subscribe(db, subscriber, ["*"], max_attempts=2)
    emit(db, 1, 2)
    sender = WebhookSender(db, clock=clock, timeout=0.2)
    try:
        assert sender.deliver_round() == RoundResult(queued=2, retrying=1)
        clock.to(head(db, sub.id).next_attempt_at)  # type: ignore[arg-type]
        # The first is dead-lettered; the second, next in the queue, goes at once.
        assert sender.deliver_round() == RoundResult(dead=1, retrying=1)
        clock.to(head(db, sub.id).next_attempt_at)  # type: ignore[arg-type]
        assert sender.deliver_round() == RoundResult(dead=1)
        assert sender.deliver_round() == RoundResult()

        dead = service.list_deliveries(db, subscription_id=sub.id, state="dead")
        assert [(d.seq, d.attempts, d.last_status) for d in dead] == [(1, 2, None), (2, 2, None)]
        assert [d.last_error for d in dead] == ["ReadTimeout: timed out"] * 2
        assert [a.outcome for a in dead[0].log] == ["retrying", "dead"]
        assert service.get_subscription(db, subscription_id=sub.id).dead == 2
        assert subscriber.processed == []

        answering.set()
        service.replay_delivery(db, subscription_id=sub.id, delivery_id=dead[1].id, now=clock())
        assert sender.deliver_round() == RoundResult(delivered=1)
        assert service.replay_dead(db, subscription_id=sub.id, now=clock()) == 1
        assert sender.deliver_round() == RoundResult(delivered=1)
    finally:
        sender.close()

    assert subscriber.failures == []
    # Same webhook-ids as before: a subscriber that had them would drop them.
    assert subscriber.processed == [dead[1].message_id, dead[0].message_id]
    replayed = service.get_delivery(db, subscription_id=sub.id, delivery_id=dead[0].id)
    assert (replayed.state, replayed.attempts) == ("delivered", 1)
    assert [a.outcome for a in replayed.log] == ["retrying", "dead", "delivered"]
    assert service.get_subscription(db, subscription_id=sub.id).dead == 0


def test_a_later_event_waits_for_the_one_before_it(
    db: Database,
    sender: WebhookSender,
    clock: FakeClock,
    subscribers: Callable[..., Subscriber],
) -> None:
    subscriber = subscribers()
    sub = subscribe(db, subscriber, ["order.updated"])
    emit(db, 1, 2, 3, 4)
    assert service.list_deliveries(db, subscription_id=sub.id) == []  # the round queues them
    subscriber.reply = lambda _id, tries: (
        (503, {}, b"busy") if len(subscriber.requests) == 1 and tries == 1 else OK
    )

    assert sender.deliver_round() == RoundResult(queued=4, delivered=1, retrying=1)
    assert numbers(subscriber, [r.message_id for r in subscriber.requests]) == [1, 2]
    clock.to(head(db, sub.id).next_attempt_at)  # type: ignore[arg-type]
    assert sender.deliver_round() == RoundResult(delivered=3)
    assert numbers(subscriber, subscriber.processed) == [1, 2, 3, 4]


def test_subscriptions_are_independent_and_start_where_they_are_told(
    db: Database,
    sender: WebhookSender,
    subscribers: Callable[..., Subscriber],
) -> None:
    emit(db, 1)
    with db.reading() as session:
        events = list_events(session, limit=100)
        after_first = position_of(events[-1].tx_id, events[-1].id).encode()
    emit(db, 2, aggregate="stock")
    down, orders_only, stock_only, everything = (
        subscribers(listening=False),
        subscribers(),
        subscribers(),
        subscribers(),
    )
    a = subscribe(db, down, ["*"], start="beginning")
    subscribe(db, orders_only, ["order.*"], start="beginning")
    subscribe(db, stock_only, ["stock.*"], start=after_first)
    subscribe(db, everything, ["*"])  # from now
    emit(db, 3)
    emit(db, 4, aggregate="stock")

    result = sender.deliver_round()

    assert result.delivered == 2 + 2 + 2
    assert result.retrying == 1
    assert numbers(orders_only, orders_only.processed) == [1, 3]
    assert numbers(stock_only, stock_only.processed) == [2, 4]
    assert numbers(everything, everything.processed) == [3, 4]
    assert [r.body["type"] for r in everything.requests] == ["order.updated", "stock.low"]
    assert service.get_subscription(db, subscription_id=a.id).pending == 4
    for subscriber in (orders_only, stock_only, everything):
        assert subscriber.failures == []


def test_a_disabled_subscription_sends_nothing_and_carries_on_when_enabled(
    db: Database, sender: WebhookSender, subscribers: Callable[..., Subscriber]
) -> None:
    subscriber = subscribers()
    sub = subscribe(db, subscriber, ["order.*"])
    emit(db, 1)
    service.change_subscription(db, subscription_id=sub.id, enabled=False)
    emit(db, 2)
    assert sender.deliver_round() == RoundResult()
    service.change_subscription(db, subscription_id=sub.id, enabled=True)
    assert sender.deliver_round() == RoundResult(queued=2, delivered=2)
    assert numbers(subscriber, subscriber.processed) == [1, 2]


def test_a_rotated_secret_signs_beside_the_old_one_for_a_while(
    sqlite_db: Database, clock: FakeClock, subscribers: Callable[..., Subscriber]
) -> None:
    db = sqlite_db
    subscriber = subscribers()
    sub = subscribe(db, subscriber, ["order.*"])
    old = subscriber.secret
    rotated = service.rotate_secret(db, subscription_id=sub.id)
    assert rotated.previous_secret_until is not None
    assert rotated.secret not in (old, "")
    emit(db, 1)
    sender = WebhookSender(db, clock=clock)
    try:
        sender.deliver_round()  # verified with the old secret by the subscriber
        subscriber.secret = rotated.secret
        emit(db, 2)
        sender.deliver_round()  # and with the new one
        service.rotate_secret(db, subscription_id=sub.id, keep_previous=timedelta(0))
        emit(db, 3)
        sender.deliver_round()  # signed with the newest only: refused
    finally:
        sender.close()
    assert numbers(subscriber, subscriber.processed) == [1, 2]
    assert [len(r.signature.split(" ")) for r in subscriber.requests] == [2, 2]
    assert len(subscriber.failures) == 1
    assert head(db, sub.id).last_status == 401


def test_secrets_are_sealed_with_the_configured_key_and_a_new_key_means_a_new_secret(
    sqlite_db: Database,
    clock: FakeClock,
    subscribers: Callable[..., Subscriber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = sqlite_db
    first_key, second_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("OMNICART_WEBHOOK_SECRETS_KEY", first_key)
    get_settings.cache_clear()
    try:
        subscriber = subscribers()
        sub = subscribe(db, subscriber, ["order.*"])
        with db.reading() as session:
            sealed = session.scalars(select(WebhookSubscription.secret)).one()
            assert session.scalars(select(WebhookSecretKey)).all() == []
        assert Fernet(first_key.encode()).decrypt(sealed.encode()).decode() == subscriber.secret

        monkeypatch.setenv("OMNICART_WEBHOOK_SECRETS_KEY", second_key)
        get_settings.cache_clear()
        emit(db, 1)
        sender = WebhookSender(db, clock=clock)
        try:
            # The old secret does not open: nothing is sent, nothing is lost.
            assert sender.deliver_round() == RoundResult(queued=1)
            assert head(db, sub.id).attempts == 0
            rotated = service.rotate_secret(db, subscription_id=sub.id)
            assert rotated.previous_secret_until is None  # an unreadable secret is not kept
            subscriber.secret = rotated.secret
            assert sender.deliver_round() == RoundResult(delivered=1)
        finally:
            sender.close()
        assert numbers(subscriber, subscriber.processed) == [1]
        assert [len(r.signature.split(" ")) for r in subscriber.requests] == [1]
    finally:
        get_settings.cache_clear()


def test_the_background_sender_polls_until_stopped(
    sqlite_db: Database, subscribers: Callable[..., Subscriber]
) -> None:
    db = sqlite_db
    subscriber = subscribers()
    subscribe(db, subscriber, ["*"])
    sender = WebhookSender(db, every=0.02)
    sender.start()
    try:
        emit(db, 1, 2)
        emit(db, 3, aggregate="stock")
        deadline = time.monotonic() + 20
        while len(subscriber.processed) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sender.stop()
    emit(db, 4)
    time.sleep(0.1)
    assert subscriber.failures == []
    assert numbers(subscriber, subscriber.processed) == [1, 2, 3]


def test_a_lapsed_lease_lets_another_sender_in_and_the_late_answer_changes_nothing(
    sqlite_db: Database, clock: FakeClock
) -> None:
    db = sqlite_db
    made = service.create_subscription(
        db, url="http://127.0.0.1:9/x", event_types=["*"], actor="test"
    )
    sid = made.subscription.id
    emit(db, 1)
    service.fan_out(db, now=clock())
    first = service.claim(db, subscription_id=sid, now=clock())
    assert first is not None
    assert service.claim(db, subscription_id=sid, now=clock()) is None
    slow = service.next_outgoing(db, subscription_id=sid, token=first, now=clock())
    assert slow is not None

    clock.to(clock() + service.LEASE + timedelta(seconds=1))
    second = service.claim(db, subscription_id=sid, now=clock())
    assert second is not None
    assert service.next_outgoing(db, subscription_id=sid, token=first, now=clock()) is None
    fast = service.next_outgoing(db, subscription_id=sid, token=second, now=clock())
    assert fast is not None
    assert fast.message_id == slow.message_id
    ok = Answer(200, None, 3)
    assert service.record(db, outgoing=fast, answer=ok, token=second, now=clock()) == "delivered"
    assert service.record(
        db, outgoing=slow, answer=Answer(500, "x", 9), token=first, now=clock()
    ) == ("stale")
    done = service.list_deliveries(db, subscription_id=sid)[0]
    assert (done.state, done.attempts, [a.outcome for a in done.log]) == (
        "delivered",
        1,
        ["delivered", "stale"],
    )
    service.delete_subscription(db, subscription_id=sid)
    assert service.record(db, outgoing=fast, answer=ok, token=second, now=clock()) is None


def test_real_order_book_events_reach_their_subscribers(
    sqlite_db: Database, clock: FakeClock, subscribers: Callable[..., Subscriber]
) -> None:
    db = sqlite_db
    shop = seed_shop(db)
    subscriber = subscribers()
    sub = subscribe(db, subscriber, ["order.*", "stock.*"])
    placed = orders.ingest_order(db, market_order(shop, "M-1", [("B", 5)]))
    orders.cancel_order(db, order_id=placed.id, actor="test", reason="customer asked")
    sender = WebhookSender(db, clock=clock)
    try:
        sender.deliver_round()
    finally:
        sender.close()
    assert subscriber.failures == []
    # In the outbox's order: the ledger's stock events come first in their transaction.
    assert [r.body["type"] for r in subscriber.requests] == [
        "stock.out_of_stock",
        "order.created",
        "order.routed",
        "stock.back_in_stock",
        "stock.low",
        "order.cancelled",
        "order.refunded",
    ]
    created = subscriber.requests[1].body["data"]
    assert created["order_id"] == str(placed.id)
    with db.reading() as session:
        outbox = {e.id: e for e in list_events(session, limit=10_000)}
    for delivery in service.list_deliveries(db, subscription_id=sub.id):
        sent = next(r for r in subscriber.requests if r.message_id == delivery.message_id)
        assert sent.body["data"] == outbox[delivery.event_id].payload


def test_the_cli_subscribes_lists_shows_the_log_replays_and_delivers(
    tmp_path: Path,
    sqlite_template: Path,
    capsys: pytest.CaptureFixture[str],
    subscribers: Callable[..., Subscriber],
) -> None:
    path = tmp_path / "cli.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    db = Database.from_url(url)
    subscriber = subscribers(listening=False)
    try:
        added = omnicart(
            capsys,
            "webhooks",
            "add",
            subscriber.url,
            "--events",
            "order.*, stock.*",
            "--max-attempts",
            "1",
            "--database-url",
            url,
        )
        assert added.code == 0, added.err
        secret = added.out.strip()
        assert secret.startswith("whsec_")
        assert "created webhook subscription 1" in added.err
        subscriber.secret = secret
        emit(db, 1)
        delivered = omnicart(capsys, "webhooks", "deliver", "--database-url", url)
        assert delivered.out.strip() == "queued 1, delivered 0, retrying 0, dead-lettered 1"
        listed = omnicart(capsys, "webhooks", "list", "--database-url", url)
        assert subscriber.url in listed.out
        assert secret not in listed.out + listed.err
        log = omnicart(
            capsys, "webhooks", "deliveries", "1", "--state", "dead", "--database-url", url
        )
        assert "ConnectError" in log.out
        assert " dead " in log.out
        refused = omnicart(capsys, "webhooks", "replay", "1", "--database-url", url)
        assert refused.code == 2
        assert "--delivery" in refused.err
        subscriber.start()
        replayed = omnicart(capsys, "webhooks", "replay", "1", "--dead", "--database-url", url)
        assert replayed.out.strip() == "replayed 1 dead letters of subscription 1"
        again = omnicart(capsys, "webhooks", "deliver", "--database-url", url)
        assert again.out.strip() == "queued 0, delivered 1, retrying 0, dead-lettered 0"
        assert numbers(subscriber, subscriber.processed) == [1]
        bad = omnicart(
            capsys,
            "webhooks",
            "add",
            "ftp://x.example/",
            "--events",
            "order.*",
            "--database-url",
            url,
        )
        assert (bad.code, bad.out) == (2, "")
        assert "URL" in bad.err
        unknown = omnicart(
            capsys,
            "webhooks",
            "add",
            subscriber.url,
            "--events",
            "orders.*",
            "--database-url",
            url,
        )
        assert unknown.code == 2
        assert "--events" in unknown.err
    finally:
        db.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_senders_at_once_never_send_one_subscription_twice_or_out_of_order(
    pg_db: Database, subscribers: Callable[..., Subscriber]
) -> None:
    db = pg_db

    def reply(message_id: str, tries: int) -> Reply:
        # Every third message fails its first attempt; each answer takes a moment, so a
        # second sender would overlap the first if it could.
        time.sleep(0.003)
        return (500, {}, b"again") if tries == 1 and hash(message_id) % 3 == 0 else OK

    pair = [subscribers(reply=reply), subscribers(reply=reply)]
    subs = [subscribe(db, s, ["*"]) for s in pair]
    emit(db, *range(1, 31))
    no_wait = lambda _attempts, _after: timedelta(0)  # noqa: E731
    senders = [WebhookSender(db, delay=no_wait, workers=2, batch=5) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(sender: WebhookSender) -> None:
        try:
            barrier.wait()
            for _ in range(200):
                sender.deliver_round()
                views = [service.get_subscription(db, subscription_id=s.id) for s in subs]
                if all(v.pending == 0 for v in views) and all(len(s.processed) == 30 for s in pair):
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for sender in senders:
        sender.close()

    assert errors == []
    for subscriber, sub in zip(pair, subs, strict=True):
        assert subscriber.failures == []
        assert subscriber.most_in_flight == 1
        assert numbers(subscriber, subscriber.processed) == list(range(1, 31))
        log = service.list_deliveries(db, subscription_id=sub.id)
        assert [d.state for d in log] == ["delivered"] * 30
        tries = subscriber.tries()
        # Every request is in the log once, and none was recorded as another's.
        assert [len(d.log) for d in log] == [tries[d.message_id] for d in log]
        assert all(a.outcome != "stale" for d in log for a in d.log)
        assert all(tries[d.message_id] <= 2 for d in log)
