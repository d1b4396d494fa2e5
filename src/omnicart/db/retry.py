"""Retry a whole transaction when the database asks for it (deadlock, busy)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable(exc: DBAPIError) -> bool:
    """True when running the same transaction again may succeed."""
    code = getattr(exc.orig, "sqlstate", None)
    if code in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def retrying(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Run `fn` (which opens its own transaction) again after a retryable failure."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")
