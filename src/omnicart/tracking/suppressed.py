"""Tracked events of erased people: recognised on arrival by their suppressed identifiers.

An erasure suppresses the person's identifiers (a keyed hash of each, see
`omnicart.customers.suppression`). Every event names identifiers: its userId, anonymousId,
an alias's previousId, and the identifying traits that identity resolution reads
(`omnicart.customers.events.identifiers_of`). An event naming a suppressed one is the
erased person's: the ingest drops it or stores it stripped (`OMNICART_SUPPRESSED_EVENTS`);
one stored before the erasure links nothing either (`customers.lookup.observe` refuses).

The check runs on the ingest's hot path, so it is against an in-memory copy of the
suppressed digests, reloaded every few seconds; while nobody is suppressed it costs one
test of an empty set per request, and the digest of each identifier seen is remembered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from omnicart.customers.events import TrackedIdentity, identifiers_of
from omnicart.customers.suppression import digest, suppressed_digests, suppression_key
from omnicart.db.engine import Database
from omnicart.tracking.model import COLUMNS, from_micros

log = logging.getLogger(__name__)

SuppressedMode = Literal["drop", "strip"]
_AT = COLUMNS.index("timestamp")
_TYPE = COLUMNS.index("type")
_USER, _ANONYMOUS = COLUMNS.index("user_id"), COLUMNS.index("anonymous_id")
_PREVIOUS = COLUMNS.index("previous_id")
_TRAITS, _CONTEXT = COLUMNS.index("traits"), COLUMNS.index("context")


def _object(raw: Any) -> dict[str, Any]:
    loaded = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return loaded if isinstance(loaded, dict) else {}


def row_identifiers(row: Sequence[Any]) -> tuple[tuple[str, str], ...]:
    """Every identifier a spool row (COLUMNS order) names (see `named_identifiers`)."""
    context = row[_CONTEXT]
    if row[_TRAITS] is None and (context is None or '"traits"' not in context):
        # Most events carry no traits: their ids are all they name (no JSON to read).
        found = [
            (kind, str(row[at]).strip())
            for kind, at in (("user_id", _USER), ("anonymous_id", _ANONYMOUS))
            if row[at] is not None and str(row[at]).strip()
        ]
        if row[_PREVIOUS] is not None and str(row[_PREVIOUS]).strip():
            found.append(("anonymous_id", str(row[_PREVIOUS]).strip()))
        return tuple(dict.fromkeys(found))
    return named_identifiers(identity_of_row(row))


def identity_of_row(row: Sequence[Any]) -> TrackedIdentity:
    """The parts of a spool row (COLUMNS order) that say who it is about."""
    context_traits = _object(row[_CONTEXT]).get("traits") if row[_CONTEXT] else None
    return TrackedIdentity(
        type=row[_TYPE],
        channel_id=None,
        at=from_micros(row[_AT]),
        user_id=row[_USER],
        anonymous_id=row[_ANONYMOUS],
        previous_id=row[_PREVIOUS],
        traits=_object(row[_TRAITS]) if row[_TRAITS] else {},
        context_traits=context_traits if isinstance(context_traits, dict) else {},
    )


def named_identifiers(event: TrackedIdentity) -> tuple[tuple[str, str], ...]:
    """Every identifier an event names, whatever its type: the rule of identity
    resolution (an identify's), applied to any call, plus an alias's previousId.

    A group's top-level traits describe the group, not the person: left out, as
    identity resolution leaves them out.
    """
    as_identify = TrackedIdentity(
        type="identify",
        channel_id=event.channel_id,
        at=event.at,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        traits={} if event.type == "group" else event.traits,
        context_traits=event.context_traits,
    )
    found = list(identifiers_of(as_identify))
    if event.previous_id:
        found.append(("anonymous_id", event.previous_id))
    return tuple(dict.fromkeys(found))


_MEMO_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Screen:
    """The suppressed digests at one moment, and the key that made them.

    The digest of each identifier seen is remembered (until the screen is reloaded, or
    `_MEMO_SIZE` are): the same users and devices send most events, and a keyed hash
    of a normalised value costs as much as parsing the event.
    """

    digests: frozenset[str]
    key: bytes
    _memo: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)

    def hits(self, identifiers: Sequence[tuple[str, str]]) -> list[str]:
        """The digests of those identifiers that are suppressed (empty: none is)."""
        if not self.digests:
            return []
        found = []
        memo = self._memo
        for identifier in identifiers:
            hashed = memo.get(identifier)
            if hashed is None:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                hashed = memo[identifier] = digest(*identifier, key=self.key)
            if hashed in self.digests:
                found.append(hashed)
        return found


_NOBODY = Screen(frozenset(), b"")


def load_screen(db: Database) -> Screen:
    """The suppressed digests now, read from the operational database."""
    with db.reading() as session:
        digests = suppressed_digests(session)
    if not digests:
        return _NOBODY
    with db.transaction() as session:  # the key exists once anything is suppressed
        key = suppression_key(session)
    return Screen(digests, key)


class SuppressedIdentifiers:
    """The suppressed digests, reloaded from the database every `ttl_s` seconds.

    Lifting a suppression or erasing someone takes effect in the ingest within `ttl_s`.
    A failed reload keeps the list last read (empty if none was yet), so an outage of
    the operational database does not by itself refuse events.
    """

    def __init__(self, db: Database, *, ttl_s: float = 3.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._screen = _NOBODY
        self._until = 0.0
        self._lock = threading.Lock()

    def current(self) -> Screen:
        """The screen, reloaded when older than `ttl_s` (one request thread reloads)."""
        if time.monotonic() < self._until:
            return self._screen
        with self._lock:
            if time.monotonic() >= self._until:
                try:
                    self._screen = load_screen(self.db)
                except Exception:
                    # The database is away: the last list read still holds everyone
                    # erased until then; events keep being accepted meanwhile.
                    log.exception("reading the suppression list failed; using the last one")
                self._until = time.monotonic() + self.ttl_s
        return self._screen
