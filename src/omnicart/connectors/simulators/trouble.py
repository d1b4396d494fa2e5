"""Failure injection shared by the vendor simulators: answer an error for a while.

`trouble.start(429, count=3)` makes the next three API requests answer 429 (with the
vendor's rate-limit headers the simulator adds); `seconds=` makes it last for a time
instead. Control endpoints of a simulator are never affected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class Trouble:
    """An error status to answer for the next `count` requests or `seconds`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = 0
        self._left = 0
        self._until = 0.0
        self._headers: dict[str, str] = {}
        self.answered = 0  # error answers given so far

    def start(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer `status` to the next `count` requests, or for `seconds` (or both)."""
        with self._lock:
            self._status = status
            self._left = count if count is not None else (0 if seconds is not None else 1)
            self._until = time.monotonic() + seconds if seconds is not None else 0.0
            self._headers = dict(headers or {})

    def stop(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._status, self._left, self._until = 0, 0, 0.0

    def take(self) -> tuple[int, dict[str, str]] | None:
        """The error to answer this request with, if any (spends one of `count`)."""
        with self._lock:
            if not self._status:
                return None
            if self._left > 0:
                self._left -= 1
            elif time.monotonic() >= self._until:
                self._status = 0
                return None
            self.answered += 1
            return self._status, dict(self._headers)


Handler = Callable[[Request], Awaitable[Response]]


def guarded(trouble: Trouble, handler: Handler, body: Callable[[int], object]) -> Handler:
    """`handler`, answering the trouble's error first while there is one."""

    async def endpoint(request: Request) -> Response:
        error = trouble.take()
        if error is not None:
            status, headers = error
            return JSONResponse(body(status), status_code=status, headers=headers)
        return await handler(request)

    return endpoint
