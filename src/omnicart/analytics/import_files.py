"""What the cost importers share: reading a CSV export, collecting rejected cells, and
the cell rules (days, months, amounts, percentages, currencies).

Files are UTF-8 (a byte-order mark is fine) or UTF-16 with its byte-order mark (what
spreadsheet-flavoured exports write), comma- or tab-separated. Rows are numbered as in
the file: the header is row 1, unless the export puts title lines above it (Google Ads
does), in which case the header keeps its own row number in the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from omnicart.importing import ImportRejected, RowError
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import MAX_INTEGER_DIGITS, Money, to_decimal, validate_currency

ROW = "(row)"  # the column named in errors about a whole row
MAX_TITLE_ROWS = 2  # lines an export may put above its header
# Keeps every IN (...) list well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 900
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# As English-language exports write thousands: 1,234,567.89 (Google Ads' Cost column).
_GROUPED_NUMBER = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?")
_STORED_PLACES = 4  # NUMERIC(19, 4)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sheet:
    """A CSV file's header and records, each with its row number in the file."""

    name: str  # the file's name, kept with the imported rows
    header: list[str]
    header_row: int
    rows: list[tuple[int, list[str]]]


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as CSV UTF-8",
            field="file",
        ) from None


def read_sheet(path: Path, *, is_header: Callable[[list[str]], bool] | None = None) -> Sheet:
    """Read the file; its header is the first record (or, with `is_header`, the first of
    the first three records it accepts: exports may put title lines above the header)."""
    text = _text(path)
    head = text[:4096].splitlines()[: MAX_TITLE_ROWS + 1]
    delimiter = "\t" if any("\t" in line for line in head) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ValidationFailed(
            f"{path}: line {reader.line_num} is not valid CSV: {exc}", field="file"
        ) from None
    candidates = records[: MAX_TITLE_ROWS + 1] if is_header else records[:1]
    for index, record in enumerate(candidates):
        header = [cell.strip() for cell in record]
        if any(header) and (is_header is None or is_header(header)):
            rows = list(enumerate(records[index + 1 :], start=index + 2))
            return Sheet(path.name, header, index + 1, rows)
    if not records or not any(cell.strip() for cell in records[0]):
        raise ValidationFailed(f"{path} is empty; the first row must be the header", field="file")
    raise ValidationFailed(
        f"{path}: none of its first {len(candidates)} rows is a header this import knows",
        field="file",
    )


@dataclass(slots=True)
class Problems:
    """Every rejected cell of a file; raising them leaves the database untouched."""

    errors: list[RowError] = field(default_factory=list)

    def add(self, row: int, column: str, reason: str) -> None:
        """Reject one cell (or, with ROW, a whole row)."""
        self.errors.append(RowError(row=row, column=column, reason=reason))

    def cell(self, row: int, column: str, parse: Callable[[str], T], text: str) -> T | None:
        """`parse(text)`, or None with the reason recorded."""
        try:
            return parse(text)
        except ValidationFailed as exc:
            self.add(row, column, exc.detail)
        except (ValueError, ArithmeticError) as exc:
            self.add(row, column, f"{text[:40]!r} cannot be read: {exc}")
        return None

    def require(self, sheet: Sheet, names: Sequence[str]) -> bool:
        """Record each of `names` the header lacks; whether all are there."""
        missing = [name for name in names if name not in sheet.header]
        for name in missing:
            self.add(sheet.header_row, name, "required column is missing")
        return not missing

    def raise_any(self, header: Sequence[str] = ()) -> None:
        """Raise ImportRejected listing every problem in file order (by row, then by the
        column's place in `header`), if there is one."""
        place = {name: i for i, name in enumerate(header)}
        if self.errors:
            raise ImportRejected(
                sorted(self.errors, key=lambda e: (e.row, place.get(e.column, len(place))))
            )


def records(sheet: Sheet, problems: Problems) -> list[tuple[int, dict[str, str]]]:
    """The non-blank records as {column: stripped cell}; a record whose cell count differs
    from the header's is rejected (a trailing empty cell the header also has is fine)."""
    found = []
    width = len(sheet.header)
    for number, cells in sheet.rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != width:
            problems.add(number, ROW, f"has {len(cells)} cells but the header has {width}")
            continue
        found.append((number, {name: cells[i].strip() for i, name in enumerate(sheet.header)}))
    return found


def parse_day(text: str) -> date:
    """A calendar day written YYYY-MM-DD."""
    if not _DAY.fullmatch(text):
        raise ValidationFailed(f"{text[:40]!r} is not a day written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a day of the calendar") from None


def parse_month(text: str) -> date:
    """A month written YYYY-MM, as its first day."""
    match = _MONTH.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValidationFailed(f"{text[:40]!r} is not a month written YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_number(text: str) -> Decimal:
    """A decimal number, plain (1234.56) or with thousands grouped as English-language
    exports write them (1,234.56); never through float."""
    if _GROUPED_NUMBER.fullmatch(text):
        text = text.replace(",", "")
    elif not _PLAIN_NUMBER.fullmatch(text):
        raise ValidationFailed(
            f"{text[:40]!r} is not a number (write 1234.56, or 1,234.56 with thousands)"
        )
    return to_decimal(text)


def parse_currency(text: str) -> str:
    """An ISO 4217 code of a currency in use (upper-cased)."""
    return validate_currency(text)


def parse_money(text: str, currency: str, *, what: str = "a cost") -> Decimal:
    """An amount of 0 or more with no more decimals than the currency has."""
    amount = parse_number(text)
    if amount < 0:
        raise ValidationFailed(f"{text} is negative; {what} is 0 or more")
    return Money.exact(amount, currency).amount


def parse_unit_cost(text: str) -> Decimal:
    """A unit cost of 0 or more, with up to four decimals (a cheap part may cost 0.0125)."""
    amount = parse_number(text)
    if amount < 0:
        raise ValidationFailed(f"{text} is negative; a cost is 0 or more")
    return _at_most_places(amount, text)


def parse_percent(text: str) -> Decimal:
    """A percentage from 0 to 100 (`15`, `2.9` or `2.9%`), with up to four decimals."""
    value = parse_number(text.removesuffix("%").strip())
    if not 0 <= value <= 100:
        raise ValidationFailed(f"{text} is not a percentage from 0 to 100")
    return _at_most_places(value, text)


def _at_most_places(value: Decimal, text: str) -> Decimal:
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _STORED_PLACES:
        raise ValidationFailed(f"{text} has more than {_STORED_PLACES} decimal places")
    if not value.is_zero() and value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValidationFailed(f"{text} has more than {MAX_INTEGER_DIGITS} digits before the point")
    return value
