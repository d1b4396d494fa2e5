"""The write-ahead spool: where an event is made durable before it is acknowledged.

Each server process appends to its own segment file, `<time>-<uuid>.spool`, holding an
exclusive `flock` on it while it may still write there. A record is a little-endian
header (payload length, CRC-32 of the payload) and the payload. A writer thread gathers
every record queued since its last write, appends them in one `write`, `fdatasync`s the
file, and only then resolves the callers' futures: one disk flush acknowledges many
requests (group commit). A failed write is cut back off the file and reported to the
callers, so a file never holds a torn record before a good one.

A reader (the flusher in store.py) knows a segment is finished when it can take the
flock itself: its writer has moved on to a new segment, or has died. A torn record at
the end of a finished segment was never acknowledged and is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import struct
import threading
import time
import uuid
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

SUFFIX = ".spool"
_HEADER = struct.Struct("<II")
_SEGMENT_BYTES = 64 * 1024 * 1024
_MAX_GROUP = 512


def frame(payload: bytes) -> bytes:
    """One record: header and payload."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """This process's spool segment, appended to by a group-commit thread."""

    def __init__(self, directory: Path, *, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._queue: queue.SimpleQueue[tuple[bytes, Future[None]] | None] = queue.SimpleQueue()
        self._fd = -1
        self._size = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open a fresh segment and start the writer thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open_segment()
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, payload: bytes) -> Future[None]:
        """Queue a record; the future resolves once it is on disk (or fails)."""
        done: Future[None] = Future()
        if self._thread is None:
            done.set_exception(RuntimeError("the spool writer is not running"))
            return done
        self._queue.put((payload, done))
        return done

    def append(self, payload: bytes, *, timeout: float = 30.0) -> None:
        """Append a record and wait until it is durable."""
        self.submit(payload).result(timeout=timeout)

    def close(self) -> None:
        """Write what is queued, stop the thread and release the segment."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join()
        self._close_segment()

    def _open_segment(self) -> None:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}{SUFFIX}"
        temp = self.directory / f".{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        # Locked before it gets its real name: a reader never sees an unlocked live file.
        fcntl.flock(fd, fcntl.LOCK_EX)
        temp.rename(self.directory / name)
        _fsync_dir(self.directory)
        self._fd, self._size = fd, 0

    def _close_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the flock: the segment is finished
            self._fd = -1

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[tuple[bytes, Future[None]]] = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[bytes, Future[None]]]) -> None:
        data = b"".join(frame(payload) for payload, _ in batch)
        error: BaseException | None = None
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
            self._size += len(data)
        except OSError as exc:
            error = exc
            log.exception("writing the event spool failed")
            self._recover()
        for _, done in batch:
            if done.set_running_or_notify_cancel():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
        if error is None and self._size >= self.segment_bytes:
            self._rotate()

    def _recover(self) -> None:
        # Cut a partial write off, so good records never follow a torn one; if even
        # that fails, leave the segment (readers stop at the tear) and start another.
        try:
            os.ftruncate(self._fd, self._size)
            os.fsync(self._fd)
        except OSError:
            self._rotate()

    def _rotate(self) -> None:
        old = self._fd
        try:
            self._open_segment()
        except OSError:
            log.exception("opening a new spool segment failed; keeping the old one")
            return
        os.close(old)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records read from a segment, and the offset just after the last one."""

    records: list[bytes]
    end: int
    torn: bool


def read_records(handle: IO[bytes], offset: int, *, max_bytes: int = 8 * 1024 * 1024) -> Chunk:
    """The whole records after `offset`, up to about `max_bytes` of them.

    `torn` is set when bytes follow the last whole record that do not make one: a
    write in progress in a live segment, or an unacknowledged tail in a finished one.
    """
    handle.seek(offset)
    data = handle.read(max_bytes)
    records: list[bytes] = []
    position = 0
    while True:
        if len(data) - position < _HEADER.size:
            break
        length, crc = _HEADER.unpack_from(data, position)
        start = position + _HEADER.size
        if len(data) < start + length and len(data) == max_bytes and not records:
            data += handle.read(start + length - len(data))  # one record over max_bytes
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        records.append(payload)
        position = start + length
    return Chunk(records=records, end=offset + position, torn=position < len(data))


def is_finished(path: Path) -> bool:
    """Whether a segment's writer has let it go (moved on or died)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return True


def segments(directory: Path) -> list[Path]:
    """Every segment in the spool, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
