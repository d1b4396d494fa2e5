"""Time is timezone-aware UTC and comes from one replaceable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from omnicart.kernel.errors import ValidationFailed

# How far ahead of our clock a time sent by a client may be. A client's clock runs a
# little fast at times; a time further ahead is a bug (or a "forever" sentinel such as
# the year 9999) that would outrank every real update, so it is refused.
MAX_FUTURE_SKEW: Final = timedelta(hours=1)

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (replaceable in tests via `set_clock`)."""
    return _now()


def set_clock(now: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the wall clock."""
    global _now  # noqa: PLW0603
    _now = now if now is not None else (lambda: datetime.now(UTC))


def as_utc(value: datetime) -> datetime:
    """Attach UTC to naive datetimes read back from SQLite; convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def check_not_future(value: datetime, *, field: str, now: datetime | None = None) -> datetime:
    """A client's time as aware UTC, refused (naming `field`) when it lies more than
    MAX_FUTURE_SKEW after now."""
    try:
        moment = as_utc(value)
    except OverflowError:  # beyond year 9999 once converted to UTC
        moment = datetime.max.replace(tzinfo=UTC)
    limit = (now or utcnow()) + MAX_FUTURE_SKEW
    if moment > limit:
        minutes = MAX_FUTURE_SKEW // timedelta(minutes=1)
        raise ValidationFailed(
            f"{field} {moment.isoformat()} is in the future; at most {minutes} minutes "
            "ahead of the server's clock are allowed",
            field=field,
        )
    return moment
