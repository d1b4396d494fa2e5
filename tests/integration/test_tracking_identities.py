"""People behind stored events: resolved in bounded rounds, from where the last stopped,
and harmlessly again after a crash."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from omnicart.customers.service import customer_360, find_customer
from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition
from omnicart.kernel.errors import NotFound
from omnicart.tracking.identities import IDENTITY_FEED, resolve_identities_once
from omnicart.tracking.ingest import Ingestor
from omnicart.tracking.store import open_store
from tests.tracking_support import add_source

CALLS = [
    {"type": "page", "anonymousId": "d1", "name": "Home"},
    {"type": "identify", "userId": "u1", "anonymousId": "d1", "traits": {"email": "Ann@Poczta.pl"}},
    {"type": "track", "event": "Cart Viewed", "userId": "u2", "anonymousId": "d2"},
    {"type": "page", "anonymousId": "d4", "name": "Home"},
    {"type": "alias", "userId": "u2", "previousId": "d3"},
    {"type": "track", "event": "Cart Viewed", "userId": "u1"},
]


def _identities(db: Database, user_id: str) -> set[tuple[str, str]]:
    view = customer_360(db, customer_id=find_customer(db, kind="user_id", value=user_id))
    return {(i.kind, i.value) for i in view.identities}


def test_rounds_resume_where_they_stopped_and_repeat_harmlessly(
    db: Database, tmp_path: Path
) -> None:
    _, _, key = add_source(db)
    events_path = tmp_path / "events.duckdb"
    ingest = Ingestor(db=db, events_path=events_path, flush=False)
    batch = [{**call, "messageId": f"m{i}"} for i, call in enumerate(CALLS)]
    ingest.accept_sync(body=orjson.dumps({"batch": batch}), kind="batch", write_key=key)
    ingest.stop()

    with open_store(events_path) as store:
        # Rows of one batch are not stored in message order: find where the links are.
        links = [
            row[0]
            for row in store.conn.execute(
                "SELECT rowid FROM events WHERE type IN ('identify', 'alias') "
                "OR (user_id IS NOT NULL AND anonymous_id IS NOT NULL) ORDER BY rowid"
            ).fetchall()
        ]
        assert len(links) == 3  # the identify, u2's track with its device, the alias
        # Two linking events a round: it stops right after the second ...
        assert resolve_identities_once(store, db=db, most=2) == links[1] + 1
        assert store.feed_position(IDENTITY_FEED) == FeedPosition(0, links[1] + 1)
        # ... and the next round takes the rest; events naming one identifier link nothing.
        assert resolve_identities_once(store, db=db, most=2) == len(CALLS) - links[1] - 1
        assert resolve_identities_once(store, db=db, most=2) == 0
        assert _identities(db, "u1") == {
            ("user_id", "u1"), ("anonymous_id", "d1"), ("email", "ann@poczta.pl"),
        }  # fmt: skip
        assert _identities(db, "u2") == {
            ("user_id", "u2"), ("anonymous_id", "d2"), ("anonymous_id", "d3"),
        }  # fmt: skip
        with pytest.raises(NotFound):
            find_customer(db, kind="anonymous_id", value="d4")
        before = (_identities(db, "u1"), _identities(db, "u2"))
        # A crash before the position was stored: the same events are observed again.
        store.commit_rows([], feed=(IDENTITY_FEED, FeedPosition()))
        assert resolve_identities_once(store, db=db) == len(CALLS)
    assert (_identities(db, "u1"), _identities(db, "u2")) == before
