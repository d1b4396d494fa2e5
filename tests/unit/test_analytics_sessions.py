"""Sessions kept in the model: built at once, and kept current change by change, they are
the same sessions, with the 30-minute edge, late events, re-keyed events, and a session
still open when a refresh ends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from omnicart.analytics.engine import DuckDBEngine, arrow_rows
from omnicart.analytics.sessions import build_sessions, touch, update_sessions, visitor_sql

T0 = datetime(2026, 3, 16, 9, 0)
WEB, APP = 1, 2


def event(
    minutes: float,
    key: str | None,
    anonymous: str | None = None,
    *,
    channel: int = WEB,
    name: str | None = None,
) -> tuple[Any, ...]:
    """A wh_events row `minutes` after T0 (a track call when named, else a page view)."""
    kind = "track" if name else "page"
    at = T0 + timedelta(minutes=minutes)
    return (at, channel, key, anonymous, kind, name, None, None, None, None, None)


def add(engine: DuckDBEngine, rows: list[tuple[Any, ...]]) -> None:
    """Store `rows` and bring the sessions up to date, as a refresh's window does."""
    engine.insert("wh_events", rows)
    engine.connection.register("batch", arrow_rows("wh_events", rows))
    try:
        touch(
            engine.connection,
            f"SELECT channel_id, {visitor_sql('b')} AS visitor, occurred_at FROM batch AS b",
        )
        update_sessions(engine.connection)
    finally:
        engine.connection.unregister("batch")


def sessions(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    return engine.query("SELECT * FROM wh_sessions ORDER BY ALL")


def built_at_once(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    """The sessions of engine's events, sessionized in one go in another model."""
    fresh = DuckDBEngine()
    fresh.insert_arrow("wh_events", engine.export("wh_events"))
    build_sessions(fresh)
    return sessions(fresh)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_visitors_runs_with_the_thirty_minute_edge() -> None:
    engine = DuckDBEngine()
    engine.insert(
        "wh_events",
        [
            event(0, "c1"),
            event(10, "c1", name="Product Added"),
            event(40, "c1", name="Order Completed"),  # exactly 30 minutes: the same session
            event(70.0001, "c1"),  # 30 minutes and 6 ms: a new one
            event(5, "c1", channel=APP),  # another channel: its own session
            event(0, None, "d1", name="Checkout Started"),
            event(0, None, "d1", name="Product Added"),  # the same instant: one session
            event(3, None, None),  # names nobody: in no session
            event(4, "c2", name="Order Completed", channel=APP),
        ],
    )
    build_sessions(engine)
    assert sessions(engine) == [
        (WEB, "ad1", at(0), at(0), 2, 0, 2),
        (WEB, "c1", at(0), at(40), 3, 1, 1),
        (WEB, "c1", at(70.0001), at(70.0001), 1, 0, 0),
        (APP, "c1", at(5), at(5), 1, 0, 0),
        (APP, "c2", at(4), at(4), 1, 1, 0),
    ]


def test_a_session_open_when_a_refresh_ends_is_extended_by_the_next() -> None:
    engine = DuckDBEngine()
    add(engine, [event(0, "c1"), event(20, "c1", name="Product Added")])
    assert sessions(engine) == [(WEB, "c1", at(0), at(20), 2, 0, 1)]
    # The next refresh: 25 minutes after the last event, still the same session.
    add(engine, [event(45, "c1", name="Order Completed"), event(200, "c1")])
    assert sessions(engine) == [
        (WEB, "c1", at(0), at(45), 3, 1, 1),
        (WEB, "c1", at(200), at(200), 1, 0, 0),
    ]
    # Then 30 minutes and a bit later: a session of its own, the others untouched.
    add(engine, [event(75.5, "c1")])
    assert sessions(engine) == [
        (WEB, "c1", at(0), at(45), 3, 1, 1),
        (WEB, "c1", at(75.5), at(75.5), 1, 0, 0),
        (WEB, "c1", at(200), at(200), 1, 0, 0),
    ]
    assert sessions(engine) == built_at_once(engine)


def test_a_late_event_joins_two_sessions_and_one_before_extends_one_backwards() -> None:
    engine = DuckDBEngine()
    add(engine, [event(0, "c1"), event(10, "c1"), event(60, "c1"), event(70, "c1")])
    assert len(sessions(engine)) == 2
    add(engine, [event(35, "c1", name="Product Added")])  # 25 minutes from each: a bridge
    assert sessions(engine) == [(WEB, "c1", at(0), at(70), 5, 0, 1)]
    add(engine, [event(-30, "c1")])  # sent late, from before the first
    assert sessions(engine) == [(WEB, "c1", at(-30), at(70), 6, 0, 1)]
    assert sessions(engine) == built_at_once(engine)


def test_events_moved_to_another_visitor_take_their_sessions_apart_and_join_others() -> None:
    engine = DuckDBEngine()
    add(
        engine,
        [
            event(0, "ad9", "d9"),
            event(20, "ad9", "d9"),
            event(40, "ad9", "d9"),
            event(30, "c5", name="Product Added"),
        ],
    )
    # Identity resolution: the device's event at 20 minutes turns out to be c5's.
    moved = "anonymous_id = 'd9' AND occurred_at = TIMESTAMP '2026-03-16 09:20:00'"
    changed = (
        f"SELECT channel_id, {visitor_sql('e')} AS visitor, occurred_at FROM wh_events e "
        f"WHERE {moved}"
    )
    joined = changed.replace(visitor_sql("e"), "'c5'")
    touch(engine.connection, f"{changed} UNION ALL {joined}")
    engine.connection.execute(f"UPDATE wh_events SET customer_key = 'c5' WHERE {moved}")
    update_sessions(engine.connection)
    # d9 keeps two sessions 40 minutes apart; c5's grows backwards.
    assert sessions(engine) == [
        (WEB, "ad9", at(0), at(0), 1, 0, 0),
        (WEB, "ad9", at(40), at(40), 1, 0, 0),
        (WEB, "c5", at(20), at(30), 2, 0, 1),
    ]
    assert sessions(engine) == built_at_once(engine)


def test_kept_current_in_random_batches_they_are_the_sessions_built_at_once() -> None:
    rng = random.Random(11)
    visitors = [("c1", None), ("c2", None), (None, "d1"), ("ad2", "d2")]
    names = [None, "Product Added", "Checkout Started", "Order Completed"]
    engine = DuckDBEngine()
    for _ in range(25):
        batch = []
        for _ in range(rng.randint(1, 12)):
            key, anonymous = rng.choice(visitors)
            # Minutes on a coarse grid, so that gaps of exactly 30 minutes and ties occur.
            minutes = rng.randrange(0, 600, 5)
            batch.append(event(minutes, key, anonymous, channel=rng.choice([WEB, APP]),
                               name=rng.choice(names)))  # fmt: skip
        add(engine, batch)
        assert sessions(engine) == built_at_once(engine)
    assert len(sessions(engine)) > 8
