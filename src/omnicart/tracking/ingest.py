"""Accepting events: check a request's messages, spool them, acknowledge when durable.

This is the whole write path of the tracking API, free of HTTP: the API hands it the
(un-gzipped) body and the write key; see store.py for why events go to a spool first.
Events of erased people (suppressed.py) never reach the spool as sent: they are dropped
or stripped here, and the spool record carries how many, for the store to count.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Unauthorized
from omnicart.tracking.erasure import strip_row
from omnicart.tracking.flusher import Flusher
from omnicart.tracking.model import (
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    Parsed,
    load_body,
    parse_batch,
    parse_call,
    to_micros,
)
from omnicart.tracking.service import SourceRef, source_for_write_key
from omnicart.tracking.spool import SpoolWriter, segments
from omnicart.tracking.store import spool_dir
from omnicart.tracking.suppressed import (
    SuppressedIdentifiers,
    SuppressedMode,
    row_identifiers,
)


def body_limit(kind: str) -> int:
    """The most bytes of JSON a call of this kind may carry."""
    return MAX_BATCH_BYTES if kind == "batch" else MAX_CALL_BYTES


class WriteKeys:
    """Write key to source, remembered for a few seconds (deactivation takes that long)."""

    def __init__(self, db: Database, *, ttl_s: float = 5.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[SourceRef, float]] = {}

    def resolve(self, write_key: str) -> SourceRef:
        """The source of a write key, or Unauthorized."""
        hit = self._known.get(write_key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.db.reading() as session:
            source = source_for_write_key(session, write_key=write_key)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[write_key] = (source, now + self.ttl_s)
        return source


class Ingestor:
    """One per server process: its spool writer and, unless a flusher process of its own
    does that job (`flush=False`), a flusher thread competing for the store."""

    def __init__(
        self,
        *,
        db: Database,
        events_path: Path,
        flush: bool = True,
        suppressed_events: SuppressedMode = "drop",
    ) -> None:
        self.events_path = events_path
        self.keys = WriteKeys(db)
        self.suppressed = SuppressedIdentifiers(db)
        self.suppressed_events = suppressed_events
        self.writer = SpoolWriter(spool_dir(events_path))
        self.flusher = Flusher(events_path, db=db) if flush else None
        self._writing = self._flushing = False
        self._lock = threading.Lock()

    def start_if_pending(self) -> None:
        """Start now if the spool holds events from an earlier run, so they get stored."""
        if segments(spool_dir(self.events_path)):
            self.ensure_started()

    def start_flusher(self) -> None:
        """Start flushing now, before any event arrives: the order book's outbox is
        delivered into the store as it fills (once)."""
        with self._lock:
            if self.flusher is not None and not self._flushing:
                self.flusher.start()
                self._flushing = True

    def ensure_started(self) -> None:
        """Start the writer and the flusher (once)."""
        with self._lock:
            if not self._writing:
                self.writer.start()
                self._writing = True
        self.start_flusher()

    def stop(self) -> None:
        """Write what is queued, then let the flusher drain and stop."""
        with self._lock:
            writing, flushing = self._writing, self._flushing
            self._writing = self._flushing = False
        if writing:
            self.writer.close()
        if flushing and self.flusher is not None:
            self.flusher.stop()

    def screen(self, rows: list[list[Any]]) -> tuple[list[list[Any]], dict[str, int]]:
        """The rows to store, the events of erased people dropped or stripped (as the
        merchant configured), and how many were ({} when none)."""
        screen = self.suppressed.current()
        if not screen.digests:  # the common case: nobody is suppressed
            return rows, {}
        kept: list[list[Any]] = []
        counted = {"dropped": 0, "stripped": 0}
        for row in rows:
            identifiers = row_identifiers(row)
            hits = screen.hits(identifiers)
            if not hits:
                kept.append(row)
            elif self.suppressed_events == "drop":
                counted["dropped"] += 1
            else:
                # A pseudonym per suppressed identifier (a digest, never the value):
                # events naming the same one still count as one unknown person's.
                pseudonym = f"suppressed-{min(hits)[:16]}"
                kept.append(strip_row(row, identifiers=identifiers, pseudonym=pseudonym))
                counted["stripped"] += 1
        return kept, {k: n for k, n in counted.items() if n}

    def prepare(
        self, *, body: bytes, kind: str, write_key: str | None
    ) -> tuple[bytes | None, Parsed]:
        """Check a request; the spool record for its valid messages (None when there is
        nothing to spool), and the result."""
        data = load_body(body, limit=body_limit(kind))
        key = write_key or data.get("writeKey")
        if not key or not isinstance(key, str):
            raise Unauthorized(
                "a write key is required: HTTP Basic auth with the write key as user name "
                "and an empty password, or writeKey in the body"
            )
        source = self.keys.resolve(key)
        received = to_micros(utcnow())
        if kind == "batch":
            parsed = parse_batch(data, received_us=received, body_bytes=len(body), body=body)
        else:
            parsed = parse_call(data, kind=kind, received_us=received, body=body)
        rows, suppressed = self.screen(parsed.rows)
        if not rows and not suppressed:
            return None, parsed
        content: dict[str, Any] = {
            "source_id": source.id,
            "channel_id": source.channel_id,
            "received_at": received,
            "rows": rows,
        }
        if suppressed:
            content["suppressed"] = suppressed
        return orjson.dumps(content), parsed

    async def accept(self, *, body: bytes, kind: str, write_key: str | None) -> Parsed:
        """Check, spool and wait until durable; raises a domain error for bad input."""
        record, parsed = self.prepare(body=body, kind=kind, write_key=write_key)
        if record is not None:
            self.ensure_started()
            await asyncio.wrap_future(self.writer.submit(record))
        return parsed

    def accept_sync(self, *, body: bytes, kind: str, write_key: str | None) -> Parsed:
        """`accept` for callers without an event loop."""
        record, parsed = self.prepare(body=body, kind=kind, write_key=write_key)
        if record is not None:
            self.ensure_started()
            self.writer.append(record)
        return parsed
