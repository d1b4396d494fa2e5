"""A report's date range: whole UTC days, both ends included, at most ten years."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from omnicart.kernel.errors import ValidationFailed

MAX_YEARS = 10
# Reports reach a year back for rates and a year ahead for windows and holdouts: days far
# from both ends of the calendar keep every such step inside it.
FIRST_DAY = date(2, 1, 1)
LAST_DAY = date(9989, 12, 31)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return date(day.year + years, 3, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """The days `first` to `last`, both included (UTC)."""

    first: date
    last: date

    @classmethod
    def of(cls, first: date, last: date, *, fields: tuple[str, str] = ("from", "to")) -> Period:
        """The range, or ValidationFailed naming the parameter at fault: `fields` are the
        names of the first and the last day's parameters."""
        for day, field in ((first, fields[0]), (last, fields[1])):
            if not FIRST_DAY <= day <= LAST_DAY:
                raise ValidationFailed(
                    f"{field} is a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}",
                    field=field,
                )
        if last < first:
            raise ValidationFailed("the range ends before it starts", field=fields[1])
        if last >= _years_after(first, MAX_YEARS):
            raise ValidationFailed(f"a range spans at most {MAX_YEARS} years", field=fields[1])
        return cls(first, last)

    @property
    def start(self) -> datetime:
        """The first instant of the range (UTC, naive as the model's times are)."""
        return datetime.combine(self.first, time())

    @property
    def end(self) -> datetime:
        """The first instant after the range: times in range are `start <= t < end`."""
        return datetime.combine(self.last + timedelta(days=1), time())

    @property
    def days(self) -> int:
        """How many days the range holds."""
        return (self.last - self.first).days + 1
