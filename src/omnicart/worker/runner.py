"""The worker process's loop: hold the lease, run the rounds, renew; stand by otherwise.

While it holds the lease the worker also runs the event store's flusher (the spool into
DuckDB, the order book's outbox into the event store, identity resolution over new
events), the connectors' two loops (vendor deliveries and polls; stock and price pushes)
and the outbound webhook sender, so web workers only answer requests. A worker that loses its
lease (it paused past the expiry and another took over) stops its rounds and stands by;
one that is killed is replaced by a standby, or by the one `omnicart serve` starts again,
once the lease lapses.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Protocol

from omnicart.connectors.service import inbox_loop, push_loop
from omnicart.db.engine import Database
from omnicart.settings import Settings
from omnicart.tracking.flusher import Flusher
from omnicart.webhooks.delivery import WebhookSender
from omnicart.worker.lease import Lease, release, renew, try_acquire
from omnicart.worker.rounds import ROUNDS, Step, run_round

log = logging.getLogger(__name__)

LEASE_NAME = "background"


class Loop(Protocol):
    """Background work with a pace of its own, run in a thread while the worker leads."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def loops(db: Database, settings: Settings) -> list[Loop]:
    """What runs faster than the rounds, each in a thread of its own: vendor deliveries
    (every 0.1 s while there is work), stock and price pushes (apart, so a change reaches
    the vendors whatever the inbox holds: every 0.05 s while there is work, else 0.2 s),
    and outbound webhooks (every `OMNICART_WEBHOOKS_POLL_SECONDS`)."""
    return [
        inbox_loop(db),
        push_loop(db),
        WebhookSender(db, every=settings.webhooks_poll_seconds),
    ]


def holder_name() -> str:
    """Who this process is, in the lease row: host, pid and a random tag."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_ttl(settings: Settings) -> float:
    """How long a lease lasts unrenewed: the setting, and never under three rounds."""
    return max(settings.worker_lease_seconds, 3 * settings.expiry_sweep_seconds)


def run_worker(
    *,
    db: Database,
    settings: Settings,
    stop: threading.Event,
    holder: str | None = None,
    steps: tuple[tuple[str, Step], ...] = ROUNDS,
    flush_events: bool = True,
) -> None:
    """Run until `stop` is set: lead while holding the lease, stand by while another does."""
    me = holder or holder_name()
    ttl = lease_ttl(settings)
    while not stop.is_set():
        lease = try_acquire(db, name=LEASE_NAME, holder=me, ttl_s=ttl)
        if lease is None:
            stop.wait(min(ttl / 3, 5.0))
            continue
        log.info("worker %s leads the background rounds (epoch %d)", me, lease.epoch)
        _lead(db, settings, lease, stop, steps=steps, flush_events=flush_events, ttl=ttl)


def _lead(
    db: Database,
    settings: Settings,
    lease: Lease,
    stop: threading.Event,
    *,
    steps: tuple[tuple[str, Step], ...],
    flush_events: bool,
    ttl: float,
) -> None:
    flusher = Flusher(Path(settings.events_path), db=db) if flush_events else None
    if flusher is not None:
        flusher.start()
    running = loops(db, settings) if flush_events else []
    for loop in running:
        loop.start()
    held: Lease | None = lease
    try:
        while held is not None and not stop.is_set():
            run_round(db, steps)
            held = renew(db, held, ttl_s=ttl)
            if held is None:
                log.warning("worker %s lost the lease; standing by", lease.holder)
                break
            stop.wait(settings.expiry_sweep_seconds)
    finally:
        for loop in running:
            loop.stop()
        if flusher is not None:
            flusher.stop()
        if held is not None:
            release(db, held)
