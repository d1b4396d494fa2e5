"""Past orders in the UCI Online Retail layout (Chen, Sain & Guo 2012), in GBP.

The file is CSV with a header naming these columns, in any order: InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country. One row is one line
of an invoice; rows are numbered as in the file, the header being row 1.

- An invoice whose number starts with a digit is a sale: its rows with a positive
  Quantity become the lines of one order (external id = the invoice number), at the
  invoice's earliest InvoiceDate, for the customer CustomerID (`17850.0` reads `17850`;
  blank: an anonymous order). Its rows with a negative Quantity are the shop's stock
  notes ("damaged", "lost", price 0, no customer): no sale, so they are left out, and
  counted.
- An invoice starting with `C` is a cancellation: each row gives back -Quantity units of
  StockCode at UnitPrice; `history.match_cancellations` turns them into returns of the
  customer's earlier sales, or an adjustment when no such sale is in the file.
- An invoice starting with `A` is an accounting entry (bad debt written off): not a sale
  nor a refund, so it is left out, and counted.

InvoiceDate is `YYYY-MM-DD HH:MM[:SS]` (or the spreadsheet's `M/D/YYYY H:MM`), a local
time in the given time zone. A UnitPrice finer than a penny (`0.001`) is rounded to the
penny, half to even, and counted. A row whose cells cannot be read (a bad date, a
Quantity that is not a whole number, a negative price, a blank invoice number) is
rejected with its row number, and then nothing is imported.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from sys import intern
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

from omnicart.analytics.history_model import (
    PastCancellation,
    PastHistory,
    PastLine,
    PastOrder,
    Progress,
    RejectedRows,
    Rounding,
    read_text,
    time_zone,
)
from omnicart.kernel.errors import ValidationFailed

CURRENCY: Final = "GBP"
COLUMNS: Final = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
ROW: Final = "(row)"
STOCK_NOTES: Final = "stock notes (negative Quantity outside a cancellation)"
ACCOUNTING: Final = "accounting entries (invoice A...)"
_WHOLE = re.compile(r"[+-]?\d{1,9}")
_PRICE = re.compile(r"[+-]?\d{1,15}(\.\d+)?")
_CUSTOMER = re.compile(r"(\d{1,190})(\.0+)?")
# The order book's columns: external id, line SKU and line title.
_MAX_INVOICE: Final = 200
_MAX_SKU: Final = 120
_MAX_TITLE: Final = 300
_REPORT_EVERY = 20_000


class _Row(NamedTuple):
    """One row's cells, read and checked."""

    number: int
    invoice: str
    sku: str
    title: str
    quantity: int
    at: datetime
    price: Decimal
    customer: str | None
    country: str | None


def read_uci(path: Path, *, timezone: str = "UTC", progress: Progress | None = None) -> PastHistory:
    """The past orders and cancellations of a UCI Online Retail file, or ImportRejected
    listing every row that cannot be read (nothing is imported then)."""
    zone = time_zone(timezone)
    text = read_text(path)
    total = text.count("\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rejected = RejectedRows()
    try:
        header = [cell.strip() for cell in next(reader, [])]
    except csv.Error as exc:
        rejected.fail(path, 1, str(exc))
    cells_of = _columns(header)
    reading = _Reader(zone, rejected)
    invoices: dict[str, _Invoice] = {}
    cancellations: list[PastCancellation] = []
    left_out: dict[str, int] = {}
    number = 1
    try:
        for number, cells in enumerate(reader, start=2):
            if number % _REPORT_EVERY == 0 and progress is not None:
                progress("reading", number, total)
            if len(cells) != len(header):
                if cells and any(cell.strip() for cell in cells):
                    rejected.add(
                        number, ROW, f"has {len(cells)} cells; the header has {len(header)}"
                    )
                continue
            row = reading.row(number, cells_of(cells))
            if row is None:
                continue
            kind = _kind(row, rejected)
            if kind == "sale":
                invoice = invoices.get(row.invoice)
                if invoice is None:
                    invoices[row.invoice] = _Invoice(row)
                else:
                    invoice.add(row, rejected)
            elif kind == "cancellation":
                cancellations.append(_cancellation(row))
            elif kind is not None:
                left_out[kind] = left_out.get(kind, 0) + 1
    except csv.Error as exc:
        rejected.fail(path, number + 1, str(exc))
    if progress is not None:
        progress("reading", total, total)
    orders = [invoice.order() for invoice in invoices.values()]
    rejected.raise_if_any()
    return PastHistory(
        currency=CURRENCY,
        rows=number - 1,
        orders=orders,
        cancellations=cancellations,
        left_out=left_out,
        prices_rounded=reading.rounded,
    )


def _columns(header: list[str]) -> Callable[[list[str]], tuple[str, ...]]:
    """The cells of a row in COLUMNS order, stripped."""
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise ValidationFailed(
            f"the header lacks {', '.join(missing)}; the UCI layout has the columns "
            f"{', '.join(COLUMNS)}",
            field="file",
        )
    pick = operator.itemgetter(*(header.index(name) for name in COLUMNS))
    strip = str.strip
    return lambda cells: tuple(map(strip, pick(cells)))


class _Reader:
    """Checks cells and turns them into rows; remembers each time it has parsed."""

    def __init__(self, zone: ZoneInfo, rejected: RejectedRows) -> None:
        self.zone = zone
        self.rejected = rejected
        self.times: dict[str, datetime | None] = {}
        self.round = Rounding(CURRENCY)
        self.prices: dict[str, tuple[Decimal, bool]] = {}  # cell -> (penny price, rounded)
        self.rounded = 0

    def row(self, number: int, cells: tuple[str, ...]) -> _Row | None:
        """The row, or None when a cell was rejected."""
        invoice, sku, title, quantity, stamp, price, customer, country = cells
        bad = self.rejected.add
        errors = len(self.rejected.errors) + self.rejected.more
        if not (0 < len(invoice) <= _MAX_INVOICE and 0 < len(sku) <= _MAX_SKU) or (
            len(title) > _MAX_TITLE
        ):
            self._texts(number, invoice, sku, title)
        if not _WHOLE.fullmatch(quantity) or int(quantity) == 0:
            bad(number, "Quantity", f"{quantity!r} is not a whole number other than 0")
        at = self.times[stamp] if stamp in self.times else self._time(stamp)
        if at is None:
            bad(number, "InvoiceDate", f"{stamp!r} is not a date and time YYYY-MM-DD HH:MM")
        if not _PRICE.fullmatch(price):
            bad(number, "UnitPrice", f"{price!r} is not a decimal number")
        ref = None
        if customer:
            match = _CUSTOMER.fullmatch(customer)
            if match is None:
                bad(number, "CustomerID", f"{customer!r} is not a customer number")
            else:
                ref = match.group(1)
        if len(self.rejected.errors) + self.rejected.more > errors or at is None:
            return None
        known = self.prices.get(price)
        if known is None:
            given = Decimal(price)
            known = self.prices[price] = (self.round(given), self.round(given) != given)
        exact, rounded = known
        self.rounded += rounded
        # A shop's file names the same SKUs, titles and prices over and over: one object
        # each keeps a history of millions of lines in memory.
        return _Row(
            number,
            invoice,
            intern(sku),
            intern(title),
            int(quantity),
            at,
            exact,
            ref,
            intern(country[:100]) or None,
        )

    def _texts(self, number: int, invoice: str, sku: str, title: str) -> None:
        for name, value, limit in (
            ("InvoiceNo", invoice, _MAX_INVOICE),
            ("StockCode", sku, _MAX_SKU),
            ("Description", title, _MAX_TITLE),
        ):
            if len(value) > limit:
                self.rejected.add(number, name, f"is longer than {limit} characters")
            elif not value and name != "Description":
                self.rejected.add(number, name, "is blank")

    def _time(self, text: str) -> datetime | None:
        local: datetime | None
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            try:
                local = datetime.strptime(text, "%m/%d/%Y %H:%M")  # noqa: DTZ007 -- zone below
            except ValueError:
                local = None
        value = (
            None
            if local is None or local.tzinfo is not None
            else local.replace(tzinfo=self.zone).astimezone(UTC)
        )
        self.times[text] = value
        return value


def _kind(row: _Row, rejected: RejectedRows) -> str | None:
    """'sale', 'cancellation', the reason a row is left out, or None (rejected)."""
    if row.invoice.startswith(("A", "a")):
        return ACCOUNTING
    if row.price < 0:
        rejected.add(row.number, "UnitPrice", f"{row.price} is negative")
        return None
    if row.invoice.startswith(("C", "c")):
        if row.quantity > 0:
            rejected.add(
                row.number,
                "Quantity",
                "a cancellation (invoice C...) gives units back: its Quantity is negative, "
                f"not {row.quantity}",
            )
            return None
        return "cancellation"
    return "sale" if row.quantity > 0 else STOCK_NOTES


def _cancellation(row: _Row) -> PastCancellation:
    return PastCancellation(
        number=row.invoice,
        at=row.at,
        customer_ref=row.customer,
        sku=row.sku,
        title=row.title,
        quantity=-row.quantity,
        unit_price=row.price,
        country=row.country,
    )


class _Invoice:
    """A sale invoice as its rows are read: only its lines are kept of each row."""

    __slots__ = ("at", "first", "lines")

    def __init__(self, row: _Row) -> None:
        self.first = row
        self.at = row.at
        self.lines = [PastLine(row.sku, row.title, row.quantity, row.price)]

    def add(self, row: _Row, rejected: RejectedRows) -> None:
        """A further row of the invoice: the same customer's, at its earliest time."""
        first = self.first
        if row.customer != first.customer:
            rejected.add(
                row.number,
                "CustomerID",
                f"invoice {first.invoice} is for customer {first.customer or '(none)'} on "
                f"row {first.number}, not {row.customer or '(none)'}",
            )
        self.at = min(self.at, row.at)
        self.lines.append(PastLine(row.sku, row.title, row.quantity, row.price))

    def order(self) -> PastOrder:
        """The past order the invoice is."""
        return PastOrder(
            external_id=self.first.invoice,
            ordered_at=self.at,
            customer_ref=self.first.customer,
            lines=tuple(self.lines),
            country=self.first.country,
        )
