"""The worker's lease: one holder at a time, taken over once it lapses, never renewed by a
holder that lost it."""

from __future__ import annotations

import threading
import time

import pytest

from omnicart.db.engine import Database
from omnicart.worker.lease import holder_of, release, renew, try_acquire


def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken_over(db: Database) -> None:
    first = try_acquire(db, name="background", holder="w1", ttl_s=60)
    assert first is not None
    assert first.epoch == 1
    assert try_acquire(db, name="background", holder="w2", ttl_s=60) is None
    # The holder's own retry keeps it (a restart of the same holder name).
    again = try_acquire(db, name="background", holder="w1", ttl_s=60)
    assert again is not None
    assert again.epoch == 2

    short = renew(db, again, ttl_s=0.05)
    assert short is not None
    time.sleep(0.1)
    taken = try_acquire(db, name="background", holder="w2", ttl_s=60)
    assert taken is not None
    assert taken.epoch == 3
    # w1 paused past its expiry: its renewal fails instead of extending w2's lease.
    assert renew(db, short, ttl_s=60) is None
    held = holder_of(db, "background")
    assert held is not None
    assert (held.holder, held.epoch) == ("w2", 3)


def test_release_lets_a_standby_take_the_lease_at_once(db: Database) -> None:
    lease = try_acquire(db, name="background", holder="w1", ttl_s=60)
    assert lease is not None
    release(db, lease)
    taken = try_acquire(db, name="background", holder="w2", ttl_s=60)
    assert taken is not None
    assert taken.holder == "w2"
    # Releasing a lease already taken over changes nothing.
    release(db, lease)
    assert try_acquire(db, name="background", holder="w3", ttl_s=60) is None


@pytest.mark.postgres
def test_workers_starting_at_once_elect_exactly_one(pg_db: Database) -> None:
    start = threading.Barrier(8)
    won: list[str] = []

    def contend(name: str) -> None:
        start.wait()
        if try_acquire(pg_db, name="background", holder=name, ttl_s=60) is not None:
            won.append(name)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
