"""Resolving the people behind stored events, behind the flusher and at its own pace.

Whoever holds the store's lock reads the events stored since its last round (by DuckDB's
`rowid`: rows are only ever appended, and erasure updates them in place) and hands the
ones that link identifiers (see `omnicart.customers.events`) to identity resolution in
the operational database. The position reached is stored in `feed_progress` afterwards,
so a crash in between observes those events again, which changes nothing. The order
book's own events (source 0) are left out: orders reach their customer through the
customers feed. Events ingested faster than people are resolved wait their turn; ingest
never waits for resolution.

An event naming a suppressed identifier (an erased person's) links nothing: one stored
before the erasure and resolved after it (resolution lags, and the erasure rewrites the
store after it has cleared the database) must not bring the person's identities back.
`observe` refuses such observations (the one rule, customers/lookup.py); newer events of
the person never reach the store as sent (suppressed.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from omnicart.customers.events import TrackedIdentity, observe_events
from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition
from omnicart.tracking.model import OUTBOX_SOURCE_ID, from_micros
from omnicart.tracking.store import EventStore

IDENTITY_FEED = "identities"
_LINKING = """
SELECT rowid, type, channel_id, user_id, anonymous_id, previous_id, traits, context,
       epoch_us(timestamp)
FROM events
WHERE rowid >= ? AND rowid < ? AND source_id <> ?
  AND (type IN ('identify', 'alias') OR (user_id IS NOT NULL AND anonymous_id IS NOT NULL))
ORDER BY rowid
LIMIT ?
"""
IDENTITY_WINDOW = 20_000  # stored events looked at per round
LINKING_PER_ROUND = 500  # events that link identifiers, resolved per round at most


def _traits(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    loaded = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return loaded if isinstance(loaded, dict) else {}


def _context_traits(raw: Any) -> dict[str, Any]:
    """`context.traits`, where RudderStack's clients send an identify's traits."""
    traits = _traits(raw).get("traits")
    return traits if isinstance(traits, dict) else {}


def _identity(row: Sequence[Any]) -> TrackedIdentity:
    """The parts of one `_LINKING` row that say who the event is about."""
    _, kind, channel_id, user_id, anonymous_id, previous_id, traits, context, timestamp = row
    return TrackedIdentity(
        type=kind,
        channel_id=channel_id,
        at=from_micros(timestamp),
        user_id=user_id,
        anonymous_id=anonymous_id,
        previous_id=previous_id,
        traits=_traits(traits),
        context_traits=_context_traits(context),
    )


def resolve_identities_once(
    store: EventStore,
    *,
    db: Database,
    window: int = IDENTITY_WINDOW,
    most: int = LINKING_PER_ROUND,
) -> int:
    """One round: resolve the people named by events stored since the last (at most `most`
    linking events, within `window` rows); the rows it moved past."""
    after = store.feed_position(IDENTITY_FEED).id  # the first rowid not yet looked at
    stored = store.conn.execute("SELECT coalesce(max(rowid) + 1, 0) FROM events").fetchone()
    upto = min(int(stored[0]) if stored else 0, after + window)
    if upto <= after:
        return 0
    rows = store.conn.execute(_LINKING, [after, upto, OUTBOX_SOURCE_ID, most]).fetchall()
    if len(rows) == most:  # a full round: stop after its last event, the rest is next
        upto = int(rows[-1][0]) + 1
    observe_events(db, [_identity(row) for row in rows])
    store.commit_rows([], feed=(IDENTITY_FEED, FeedPosition(0, upto)))
    return upto - after
