"""The plain values of a history import: what a file holds (past orders, cancellations),
what the readers share, and how cancellations are matched to the sales they undo.

Pure: no database here (`history.py` is the use case, `history_write.py` the writing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Final, NamedTuple, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnicart.importing import ImportRejected, RowError
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import minor_units

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as the import advances."""


class PastLine(NamedTuple):
    """Units of one SKU in a past order, at their unit price (negative in an adjustment).

    A tuple rather than a frozen dataclass: a shop's history has millions of lines.
    """

    sku: str
    title: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class PastOrder:
    """One past order as the file tells it."""

    external_id: str
    ordered_at: datetime
    customer_ref: str | None
    lines: tuple[PastLine, ...]
    country: str | None = None
    adjustment: bool = False


@dataclass(frozen=True, slots=True)
class PastCancellation:
    """Units of a SKU a customer gave back (a cancellation row), and what they were worth."""

    number: str
    at: datetime
    customer_ref: str | None
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    country: str | None = None


@dataclass(frozen=True, slots=True)
class PastHistory:
    """What a reader found in a file: orders, cancellations, and rows it left out (why, how
    many)."""

    currency: str
    rows: int
    orders: list[PastOrder]
    cancellations: list[PastCancellation] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    prices_rounded: int = 0


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """What an import wrote; all zero (but `rows`) when the file was imported before."""

    channel: str
    currency: str
    rows: int
    orders_created: int
    orders_already_there: int
    lines: int
    returns_created: int
    adjustments_created: int
    cancellations_already_there: int
    customers: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    left_out: dict[str, int]
    prices_rounded: int


# --- reading files (what the readers share) ------------------------------------------------

MAX_LISTED: Final = 1_000  # rejected rows listed; a file wrong throughout says so once


class RejectedRows:
    """The rows a reader rejects, in file order; raised together once it has read all."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.more = 0

    def add(self, row: int, column: str, reason: str) -> None:
        """Reject a cell (or, with column `(row)`, a whole row)."""
        if len(self.errors) < MAX_LISTED:
            self.errors.append(RowError(row, column, reason))
        else:
            self.more += 1

    def fail(self, path: Path, row: int, reason: str) -> NoReturn:
        """The file stops being readable at `row`: refuse it at once."""
        raise ValidationFailed(f"{path}: row {row} is not valid CSV: {reason}", field="file")

    def raise_if_any(self) -> None:
        """ImportRejected with every rejected row, if there is one."""
        if self.more:
            last = self.errors[-1].row
            self.errors.append(RowError(last, "(file)", f"and {self.more} more problems"))
        if self.errors:
            raise ImportRejected(self.errors)


def read_text(path: Path) -> str:
    """The file as text (UTF-8, a byte-order mark is fine), or why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            field="file",
        ) from None


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone the file's local times are in."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"{name!r} is not a time zone name such as Europe/London or UTC", field="timezone"
        ) from None


# --- matching cancellations to the sales they undo (pure) ----------------------------------


@dataclass(slots=True)
class SoldLine:
    """A sold line that a cancellation may take units back from."""

    order_key: str
    line_no: int
    ordered_at: datetime
    quantity: int
    returned: int


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    """Units one cancellation takes back from one earlier order, and the money refunded."""

    number: str
    at: datetime
    order_key: str
    lines: tuple[tuple[int, int], ...]  # (line_no, units)
    amount: Decimal


def match_cancellations(
    cancellations: Sequence[PastCancellation],
    sold: dict[tuple[str, str], list[SoldLine]],
    *,
    currency: str,
) -> tuple[list[ReturnPlan], list[PastOrder]]:
    """Returns against earlier sales, and adjustments for what matches no sale.

    Each cancelled unit is taken from the customer's latest sale of that SKU at or before
    the cancellation that still has units not returned (the purchase a cancellation most
    likely undoes). `sold` maps (customer ref, SKU) to sold lines in time order; it is
    updated as units are taken. Units without such a sale (no customer, a fee or discount
    code never sold, a sale older than the file) become one adjustment per cancellation
    number: an order whose lines carry those units at minus their price.
    """
    rounding = Rounding(currency)
    taken: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    refunds: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    when: dict[str, datetime] = {}
    leftovers: dict[str, list[PastCancellation]] = defaultdict(list)
    for cancel in sorted(cancellations, key=lambda c: (c.at, c.number)):
        when.setdefault(cancel.number, cancel.at)
        units = cancel.quantity
        candidates = sold.get((cancel.customer_ref, cancel.sku), []) if cancel.customer_ref else []
        for line in reversed(candidates):
            if units == 0:
                break
            free = line.quantity - line.returned
            if line.ordered_at > cancel.at or free <= 0:
                continue
            share = min(free, units)
            line.returned += share
            units -= share
            key = (cancel.number, line.order_key)
            taken[key][line.line_no] += share
            refunds[key] += share * cancel.unit_price
        if units:
            leftovers[cancel.number].append(
                PastCancellation(
                    cancel.number,
                    cancel.at,
                    cancel.customer_ref,
                    cancel.sku,
                    cancel.title,
                    units,
                    cancel.unit_price,
                    cancel.country,
                )
            )
    returns = [
        ReturnPlan(
            number=number,
            at=when[number],
            order_key=order_key,
            lines=tuple(sorted(lines.items())),
            amount=rounding(refunds[number, order_key]),
        )
        for (number, order_key), lines in taken.items()
    ]
    returns.sort(key=lambda r: (r.at, r.number, r.order_key))
    adjustments = [
        PastOrder(
            external_id=number,
            ordered_at=rows[0].at,
            customer_ref=rows[0].customer_ref,
            lines=tuple(PastLine(c.sku, c.title, c.quantity, -c.unit_price) for c in rows),
            country=rows[0].country,
            adjustment=True,
        )
        for number, rows in leftovers.items()
    ]
    return returns, adjustments


def sold_lines(
    orders: Iterable[PastOrder], *, wanted: Set[tuple[str, str]]
) -> dict[tuple[str, str], list[SoldLine]]:
    """The lines of sales (not adjustments) by (customer ref, SKU), in time order; only
    the (customer ref, SKU) pairs `wanted` (those a cancellation names)."""
    sold: dict[tuple[str, str], list[SoldLine]] = defaultdict(list)
    refs = {ref for ref, _ in wanted}
    for order in orders:
        if order.adjustment or order.customer_ref not in refs:
            continue
        for line_no, line in enumerate(order.lines, start=1):
            if (order.customer_ref, line.sku) not in wanted:
                continue
            sold[order.customer_ref, line.sku].append(
                SoldLine(order.external_id, line_no, order.ordered_at, line.quantity, 0)
            )
    for lines in sold.values():
        lines.sort(key=lambda s: (s.ordered_at, s.order_key, s.line_no))
    return sold


class Rounding:
    """Amounts rounded half-even to a currency's minor units (`Money.rounded`, with the
    currency looked up once: an import rounds millions of them)."""

    def __init__(self, currency: str) -> None:
        self.quantum = Decimal(1).scaleb(-minor_units(currency))

    def __call__(self, value: Decimal) -> Decimal:
        """`value` in minor units; never -0."""
        result = value.quantize(self.quantum, rounding=ROUND_HALF_EVEN)
        return result.copy_abs() if result.is_zero() else result
