"""Importing the ECB's euro reference rates (all-or-nothing), for reporting in one currency.

Two files of the ECB (www.ecb.europa.eu/stats/eurofxref/) are read as published:

- `eurofxref-hist.csv` (in `eurofxref-hist.zip`): a header ``Date,USD,JPY,BGN,…,``
  then one row per TARGET business day, newest first, days written ``2024-01-05``, a
  rate per currency (units of the currency for 1 EUR), ``N/A`` where a currency was not
  quoted that day, and a trailing empty column (every line ends with a comma);
- `eurofxref.csv` (in `eurofxref.zip`, the latest day only): ``Date, USD, JPY, …, `` with
  a space after each comma, and its day written ``05 January 2024``.

`N/A` and empty cells are skipped. Columns of currencies no longer in use (the ECB kept
CYP, EEK, HRK, … from before they became the euro) are skipped as a whole and reported;
a header cell that is no ISO 4217 code at all is rejected. Rates have at most six
decimals. Re-importing a day and currency replaces the stored rate (an upsert), so the
daily file can be imported every day and the history file over it at any time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.numbers import list_currencies

from omnicart.analytics.import_files import (
    Problems,
    Sheet,
    parse_day,
    parse_number,
    read_sheet,
    records,
)
from omnicart.analytics.importers import ImportCounts, once_each, upsert
from omnicart.analytics.tables import RATE_PLACES, ExchangeRate
from omnicart.db.engine import Database
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import validate_currency

_CODE = re.compile(r"[A-Z]{3}")
_LONG_DAY = re.compile(r"\d{1,2} [A-Z][a-z]+ \d{4}")
_MISSING = frozenset({"", "N/A"})


@dataclass(frozen=True, slots=True)
class RatesImport:
    """What a rates import wrote: rows, days and currencies, and the columns it skipped."""

    counts: ImportCounts
    days: int
    currencies: tuple[str, ...]
    skipped: tuple[str, ...]  # ISO codes of currencies no longer in use


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(list_currencies())


def _in_use(code: str) -> bool:
    try:
        validate_currency(code)
    except ValidationFailed:
        return False
    return True


def parse_ecb_day(text: str) -> date:
    """A day as the ECB writes it: 2024-01-05 (history) or 05 January 2024 (daily file)."""
    if _LONG_DAY.fullmatch(text):
        try:
            return datetime.strptime(text, "%d %B %Y").date()  # noqa: DTZ007 -- a calendar day
        except ValueError:
            pass
    return parse_day(text)


def parse_rate(text: str) -> Decimal:
    """Units of a currency for one euro: more than 0, at most six decimals."""
    value = parse_number(text)
    if value <= 0:
        raise ValidationFailed(f"{text} is not a rate (more than 0)")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_PLACES:
        raise ValidationFailed(f"{text} has more than {RATE_PLACES} decimal places")
    if value.adjusted() >= 18 - RATE_PLACES:
        raise ValidationFailed(f"{text} is too large for a rate")
    return value


def _currency_columns(sheet: Sheet, problems: Problems) -> tuple[list[str], list[str]]:
    """(the currency columns to read, the ISO codes skipped as no longer in use)."""
    if not sheet.header or sheet.header[0] != "Date":
        problems.add(sheet.header_row, sheet.header[0] if sheet.header else "", "must be Date")
    read, skipped = [], []
    seen: set[str] = set()
    for name in sheet.header[1:]:
        if not name:
            continue  # the trailing comma every ECB line ends with
        if not _CODE.fullmatch(name) or name not in _iso_codes():
            problems.add(sheet.header_row, name, "not an ISO 4217 currency code")
        elif name in seen:
            problems.add(sheet.header_row, name, "the currency appears twice")
        elif _in_use(name):
            read.append(name)
        else:
            skipped.append(name)
        seen.add(name)
    return read, skipped


def check_rates(sheet: Sheet) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The rates of an ECB file, the currencies read and those skipped; or ImportRejected."""
    problems = Problems()
    currencies, skipped = _currency_columns(sheet, problems)
    days: list[tuple[int, dict[str, Any]]] = []
    rows: list[dict[str, Any]] = []
    if not problems.errors:
        for number, cell in records(sheet, problems):
            day = problems.cell(number, "Date", parse_ecb_day, cell["Date"])
            if day is None:
                continue
            days.append((number, {"day": day}))
            for code in currencies:
                if cell[code] in _MISSING:
                    continue
                rate = problems.cell(number, code, parse_rate, cell[code])
                if rate is not None:
                    rows.append({"day": day, "currency": code, "per_eur": rate})
    once_each(days, ("day",), "day", problems, column="Date")
    problems.raise_any(sheet.header)
    return rows, currencies, skipped


def import_rates_sheet(db: Database, sheet: Sheet) -> RatesImport:
    """Check and import a read ECB file in one transaction: all of it, or nothing."""
    rows, currencies, skipped = check_rates(sheet)
    with db.transaction() as session:
        counts = upsert(session, ExchangeRate, rows, ("day", "currency"))
    return RatesImport(
        counts=counts,
        days=len({r["day"] for r in rows}),
        currencies=tuple(currencies),
        skipped=tuple(skipped),
    )


def import_rates_file(db: Database, path: Path) -> RatesImport:
    """Read, check and import an ECB reference-rate CSV file (all-or-nothing)."""
    return import_rates_sheet(db, read_sheet(path))
