"""Identity resolution under real concurrency on PostgreSQL: observations of the same
person racing from many threads make one profile, and racing merges end on one survivor
that holds every identifier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from omnicart.customers.linking import sync_customers
from omnicart.customers.lookup import observe, survivor_of
from omnicart.customers.tables import CustomerIdentity, CustomerOrderLink, CustomerProfile
from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from tests.customers_support import seed, sync

THREADS = 12


def _race(count: int, job: Callable[[int], object]) -> list[object]:
    start = threading.Barrier(count)

    def run(i: int) -> object:
        start.wait()
        return job(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _observe(db: Database, *identifiers: tuple[str, str]) -> int | None:
    def work() -> int | None:
        with db.transaction() as session:
            return observe(session, identifiers=identifiers, channel_id=None, source="race")

    return retrying(work)


def _live_profiles(db: Database) -> int:
    with db.reading() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(CustomerProfile)
                .where(CustomerProfile.merged_into.is_(None))
            )
            or 0
        )


def test_the_same_new_person_from_many_threads_is_one_profile(pg_db: Database) -> None:
    results = _race(
        THREADS, lambda i: _observe(pg_db, ("email", "ola@shop.pl"), ("anonymous_id", f"d{i}"))
    )
    assert len(set(results)) == 1
    assert _live_profiles(pg_db) == 1
    with pg_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CustomerIdentity)) == THREADS + 1


def test_racing_merges_end_on_one_survivor(pg_db: Database) -> None:
    # Six one-identifier profiles; each thread joins two neighbours, so in the end they
    # are one person whatever order the merges run in.
    ids = [_observe(pg_db, ("anonymous_id", f"d{i}")) for i in range(6)]
    assert None not in ids
    _race(
        THREADS,
        lambda i: _observe(
            pg_db, ("anonymous_id", f"d{i % 6}"), ("anonymous_id", f"d{(i + 1) % 6}")
        ),
    )
    assert _live_profiles(pg_db) == 1
    with pg_db.reading() as session:
        survivors = {survivor_of(session, p) for p in ids if p is not None}
        assert survivors == {min(p for p in ids if p is not None)}
        owners = set(session.scalars(select(CustomerIdentity.profile_id)))
        assert owners == survivors


def test_feed_consumers_racing_link_every_order_once(pg_db: Database) -> None:
    _shop, (first, second, other, _anonymous) = seed(pg_db)
    _race(4, lambda _i: sync_customers(pg_db))
    sync(pg_db)  # whatever the feed held back while they ran
    with pg_db.reading() as session:
        links = dict(
            session.execute(select(CustomerOrderLink.order_id, CustomerOrderLink.profile_id)).all()
        )
    assert set(links) == {first, second, other}
    assert links[first] == links[second] != links[other]
