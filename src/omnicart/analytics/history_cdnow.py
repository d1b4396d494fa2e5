"""Past orders in the CDNOW layout (Fader & Hardie's CDNOW data sets), in USD.

Each line is one purchase, its fields separated by white space, without a header:

- `CDNOW_master.txt`: customer id, date `YYYYMMDD`, number of CDs, dollar value;
- `CDNOW_sample.txt` (the 1/10 sample): the customer's id in the master file, their id in
  the sample, then the same three fields.

The customer's reference is the master file's id (`00004` reads `4`), so a customer of the
sample is the same person in the master file. A purchase becomes one order, external id
`<customer>-<YYYYMMDD>-<n>` (`n` counts the customer's purchases of that day, in file
order): importing the master file after the sample into the same channel adds only the
purchases the sample lacks. The file gives no titles and only the purchase's value: its
CDs are lines of SKU `CD` whose prices spread the value over them, a cent more on the
first ones when it does not divide evenly (2 CDs for 29.33: 14.67 + 14.66). A date is
that day's midnight in the given time zone. Rows are numbered by line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final

from omnicart.analytics.history_model import (
    PastHistory,
    PastLine,
    PastOrder,
    Progress,
    RejectedRows,
    read_text,
    time_zone,
)

CURRENCY: Final = "USD"
SKU: Final = "CD"
TITLE: Final = "CD"
ROW: Final = "(row)"
_ID = re.compile(r"\d{1,18}")
_DATE = re.compile(r"\d{8}")
_COUNT = re.compile(r"\d{1,6}")
_DOLLARS = re.compile(r"\d{1,13}(\.\d{1,2})?")
_CENT = Decimal("0.01")
_REPORT_EVERY = 10_000


def spread(value: Decimal, units: int) -> tuple[PastLine, ...]:
    """`units` CDs worth `value` together: at most two prices, a cent apart."""
    cents = int(value / _CENT)
    base, extra = divmod(cents, units)
    lines = []
    if extra:
        lines.append(PastLine(SKU, TITLE, extra, (base + 1) * _CENT))
    if units - extra:
        lines.append(PastLine(SKU, TITLE, units - extra, base * _CENT))
    return tuple(lines)


def read_cdnow(
    path: Path, *, timezone: str = "UTC", progress: Progress | None = None
) -> PastHistory:
    """The purchases of a CDNOW file as past orders, or ImportRejected listing every line
    that cannot be read (nothing is imported then)."""
    zone = time_zone(timezone)
    lines = read_text(path).splitlines()
    rejected = RejectedRows()
    width: int | None = None
    seen: dict[tuple[str, str], int] = {}
    orders: list[PastOrder] = []
    for number, line in enumerate(lines, start=1):
        if number % _REPORT_EVERY == 0 and progress is not None:
            progress("reading", number, len(lines))
        fields = line.split()
        if not fields:
            continue
        width = width or len(fields)
        if len(fields) not in (4, 5) or len(fields) != width:
            rejected.add(
                number,
                ROW,
                f"has {len(fields)} fields; a CDNOW line has 4 (id, date, CDs, dollars) or, "
                "in the sample, 5 (master id, sample id, date, CDs, dollars), the same on "
                "every line",
            )
            continue
        customer, date_text, cds, dollars = fields[0], *fields[-3:]
        ok = True
        if not _ID.fullmatch(customer):
            rejected.add(number, "customer id", f"{customer!r} is not a customer number")
            ok = False
        day = _day(date_text)
        if day is None:
            rejected.add(number, "date", f"{date_text!r} is not a date YYYYMMDD")
            ok = False
        if not _COUNT.fullmatch(cds) or int(cds) == 0:
            rejected.add(number, "CDs", f"{cds!r} is not a number of CDs (1 or more)")
            ok = False
        if not _DOLLARS.fullmatch(dollars):
            rejected.add(number, "dollars", f"{dollars!r} is not an amount of dollars and cents")
            ok = False
        if not ok or day is None:
            continue
        ref = str(int(customer))
        count = seen[ref, date_text] = seen.get((ref, date_text), 0) + 1
        orders.append(
            PastOrder(
                external_id=f"{ref}-{date_text}-{count}",
                ordered_at=day.replace(tzinfo=zone).astimezone(UTC),
                customer_ref=ref,
                lines=spread(Decimal(dollars), int(cds)),
            )
        )
    if progress is not None:
        progress("reading", len(lines), len(lines))
    rejected.raise_if_any()
    return PastHistory(currency=CURRENCY, rows=len(lines), orders=orders)


def _day(text: str) -> datetime | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d")  # noqa: DTZ007 -- the zone is set by the caller
    except ValueError:
        return None
