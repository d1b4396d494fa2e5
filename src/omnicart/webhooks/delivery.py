"""The sender: fills the subscriptions' queues from the outbox, then sends each due queue's
head, signed as Standard Webhooks says, and records what the subscriber answered.

A request carries `webhook-id` (the delivery's id: the same on every attempt and replay,
so a subscriber drops what it has already processed), `webhook-timestamp` (when this
attempt left, by the wall clock: subscribers refuse stale ones) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, signed by the `standardwebhooks`
reference implementation; two signatures, space-separated, while an old secret still
signs after a rotation). A 2xx answer delivers it; anything else, a timeout or a refused
connection is a failed attempt, retried on the model's schedule (or later, if the
subscriber's Retry-After asks) and dead-lettered after the subscription's last attempt.

`WebhookSender.deliver_round` is one blocking round (the CLI's `omnicart webhooks
deliver`, tests); `start`/`stop` run the sender in a thread that polls every
OMNICART_WEBHOOKS_POLL_SECONDS and sends for each subscription in a pool, so a slow
subscriber holds up no other. Every step is safe in several processes at once: a
subscription is sent for by whoever holds its lease (service.claim).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from standardwebhooks import Webhook

from omnicart import __version__
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.webhooks import service
from omnicart.webhooks.model import Answer, RetryDelay, parse_retry_after, retry_delay

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 5.0
# Deliveries one sender sends for a subscription before it lets others have a turn.
BATCH = 100
WORKERS = 4
_EXCERPT_BYTES = 200
USER_AGENT = f"Omnicart-Webhooks/{__version__}"


def signed_headers(
    *, message_id: str, secrets: tuple[str, ...], sent_at: datetime, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (`sent_at` in whole seconds)."""
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(message_id, sent_at, text) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _excerpt(response: httpx.Response) -> str:
    """The start of a refusal's body, for the log (the subscriber's own words)."""
    taken = b""
    for chunk in response.iter_bytes():
        taken += chunk
        if len(taken) >= _EXCERPT_BYTES:
            break
    return " ".join(taken[:_EXCERPT_BYTES].decode("utf-8", "replace").split())


def post(http: httpx.Client, outgoing: service.Outgoing) -> Answer:
    """Send one attempt of a delivery; what came back (never raises for the subscriber's
    failures)."""
    if outgoing.body is None:
        return Answer(None, "the event is no longer in the outbox", 0, final=True)
    sent_at = utcnow().replace(microsecond=0)
    headers = signed_headers(
        message_id=outgoing.message_id,
        secrets=outgoing.secrets,
        sent_at=sent_at,
        body=outgoing.body,
    )
    started = time.perf_counter()
    try:
        with http.stream("POST", outgoing.url, content=outgoing.body, headers=headers) as answer:
            status = answer.status_code
            detail = "" if 200 <= status < 300 else _excerpt(answer)
            wait = parse_retry_after(answer.headers.get("retry-after"), now=sent_at)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        took = int((time.perf_counter() - started) * 1000)
        reason = str(exc)
        return Answer(
            None, f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__, took
        )
    took = int((time.perf_counter() - started) * 1000)
    if 200 <= status < 300:
        return Answer(status, None, took)
    return Answer(status, f"HTTP {status}: {detail}" if detail else f"HTTP {status}", took, wait)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What a round did: deliveries queued, and attempts by outcome."""

    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def __add__(self, other: RoundResult) -> RoundResult:
        return RoundResult(
            self.queued + other.queued,
            self.delivered + other.delivered,
            self.retrying + other.retrying,
            self.dead + other.dead,
        )


class WebhookSender:
    """Sends the subscriptions' deliveries; see the module's docstring.

    `clock` decides what is due and when the next attempt is (tests move it on);
    `retry_delay` is the retry schedule (the model's by default). The signature's
    timestamp is always the wall clock, which subscribers compare with theirs.
    """

    def __init__(
        self,
        db: Database,
        *,
        every: float = 0.5,
        workers: int = WORKERS,
        timeout: float = TIMEOUT_S,
        clock: Clock = utcnow,
        delay: RetryDelay = retry_delay,
        lease: timedelta = service.LEASE,
        batch: int = BATCH,
        http: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.every = every
        self.clock = clock
        self.delay = delay
        self.lease = lease
        self.batch = batch
        self._own_http = http is None
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
            follow_redirects=False,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhooks")
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ one subscription

    def drain(self, subscription_id: int) -> RoundResult:
        """Send the subscription's due deliveries in queue order while it holds the lease;
        stops at the first that must wait."""
        token = service.claim(
            self.db, subscription_id=subscription_id, now=self.clock(), lease=self.lease
        )
        if token is None:
            return RoundResult()
        delivered = retrying = dead = 0
        try:
            for _ in range(self.batch):
                outgoing = service.next_outgoing(
                    self.db, subscription_id=subscription_id, token=token, now=self.clock()
                )
                if outgoing is None:
                    break
                answer = post(self.http, outgoing)
                outcome = service.record(
                    self.db,
                    outgoing=outgoing,
                    answer=answer,
                    token=token,
                    now=self.clock(),
                    lease=self.lease,
                    delay=self.delay,
                )
                if outcome == "delivered":
                    delivered += 1
                elif outcome == "dead":
                    dead += 1
                    log.warning(
                        "webhook subscription %s: delivery %s (%s) dead-lettered: %s",
                        subscription_id,
                        outgoing.delivery_id,
                        outgoing.message_id,
                        answer.error,
                    )
                elif outcome == "retrying":
                    retrying += 1
                else:
                    break  # the subscription is gone, or another sender took over
        finally:
            service.release(self.db, subscription_id=subscription_id, token=token)
        return RoundResult(0, delivered, retrying, dead)

    # ------------------------------------------------------------------------- rounds

    def deliver_round(self) -> RoundResult:
        """Queue new events, then send every due subscription's deliveries; waits for all."""
        queued = service.fan_out(self.db, now=self.clock())
        due = service.due_subscriptions(self.db, now=self.clock())
        futures = [self._pool.submit(self.drain, subscription_id) for subscription_id in due]
        result = RoundResult(queued=queued)
        for subscription_id, future in zip(due, futures, strict=True):
            try:
                result += future.result()
            except Exception:  # one subscription's trouble stops no other
                log.exception("webhook subscription %s: sending failed", subscription_id)
        return result

    def deliver_until_idle(self, *, rounds: int = 1000) -> RoundResult:
        """Rounds until one sends nothing (what is left waits for a later time)."""
        total = RoundResult()
        for _ in range(rounds):
            done = self.deliver_round()
            total += done
            if done == RoundResult():
                break
        return total

    def poll(self) -> None:
        """Queue new events and hand each due subscription not already being sent for by
        this process to the pool; returns at once."""
        service.fan_out(self.db, now=self.clock())
        for subscription_id in service.due_subscriptions(self.db, now=self.clock()):
            with self._lock:
                if subscription_id in self._busy:
                    continue
                self._busy.add(subscription_id)
            future = self._pool.submit(self.drain, subscription_id)
            future.add_done_callback(self._finished(subscription_id))

    def _finished(self, subscription_id: int) -> Callable[[Future[RoundResult]], None]:
        def done(future: Future[RoundResult]) -> None:
            with self._lock:
                self._busy.discard(subscription_id)
            if not future.cancelled() and future.exception() is not None:
                log.error(
                    "webhook subscription %s: sending failed; retrying",
                    subscription_id,
                    exc_info=future.exception(),
                )

        return done

    # ----------------------------------------------------------------- the background

    def start(self) -> None:
        """Poll in a thread until `stop`."""
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("webhook sending failed; retrying")
            self._stop.wait(self.every)

    def stop(self) -> None:
        """Stop polling, let attempts in flight finish (each is bounded by the timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.close()

    def close(self) -> None:
        """Release the pool and the HTTP client."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_http:
            self.http.close()


def deliver_webhooks(db: Database, *, timeout: float = TIMEOUT_S) -> RoundResult:
    """One round of sending with a sender of its own (`omnicart webhooks deliver`)."""
    sender = WebhookSender(db, timeout=timeout)
    try:
        return sender.deliver_round()
    finally:
        sender.close()
