"""Importing unit costs, channel fees and fixed costs from CSV: every row is checked
first; then all of them are written, or none (ImportRejected lists each bad cell).

Layouts (a header row, then one row per fact; columns in any order, no others):

- unit costs: ``sku,valid_from,cost,currency`` — a SKU's cost (COGS) per unit from
  `valid_from` (YYYY-MM-DD) on; the SKU must exist in the catalog; up to four decimals.
- channel fees: ``channel,valid_from,commission_pct,payment_pct,payment_fixed,currency`` —
  from `valid_from` on, a channel's commission (% of net sales) and payment fee
  (% of the order plus `payment_fixed` per order, in `currency`); percentages 0-100.
- fixed costs: ``channel,month,label,amount,currency`` — a cost of the channel in a month
  (YYYY-MM), such as `rent` or `staff`.

`channel` is a channel's code. Re-importing a row with the same key (SKU and day; channel
and day; channel, month and label) replaces the stored one (an upsert): importing the
same file twice changes nothing. The same key twice in one file is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from omnicart.analytics.import_files import (
    CHUNK,
    Problems,
    Sheet,
    parse_currency,
    parse_day,
    parse_money,
    parse_month,
    parse_percent,
    parse_unit_cost,
    read_sheet,
    records,
)
from omnicart.analytics.tables import ChannelFee, FixedCost, UnitCost
from omnicart.catalog.lookup import resolve_skus
from omnicart.catalog.model import validate_sku
from omnicart.channels.policy import channel_id_for_code
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound, ValidationFailed

MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import wrote: rows new to the database, and rows that replaced stored ones."""

    rows: int
    created: int
    replaced: int


def check_header(sheet: Sheet, columns: Sequence[str], problems: Problems) -> bool:
    """The header must hold exactly `columns` (any order); whether rows can be read."""
    for name in sheet.header:
        if name not in columns:
            problems.add(sheet.header_row, name or "(blank)", "unknown column")
    return problems.require(sheet, columns)


def channel_ids(session: Session, codes: set[str]) -> dict[str, int]:
    """Ids of the channels among `codes` that exist (unknown ones are left out)."""
    found = {}
    for code in sorted(codes):
        try:
            found[code] = channel_id_for_code(session, code=code)
        except NotFound:
            continue
    return found


def known_skus(session: Session, skus: set[str]) -> set[str]:
    """Those of `skus` the catalog holds."""
    found: set[str] = set()
    ordered = sorted(skus)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        try:
            found.update(resolve_skus(session, chunk, field="sku"))
        except NotFound as exc:
            missing = set(exc.extra.get("skus", ()))
            if rest := [s for s in chunk if s not in missing]:
                found.update(resolve_skus(session, rest, field="sku"))
    return found


def once_each(
    rows: Sequence[tuple[int, dict[str, Any]]],
    key: Sequence[str],
    what: str,
    problems: Problems,
    *,
    column: str | None = None,
) -> list[dict[str, Any]]:
    """The rows, each key once: a later row repeating a key is rejected (in `column`,
    by default the key's last), naming the first."""
    first: dict[tuple[Any, ...], int] = {}
    kept = []
    for number, row in rows:
        value = tuple(row[k] for k in key)
        if value in first:
            problems.add(number, column or key[-1], f"the same {what} as row {first[value]}")
            continue
        first[value] = number
        kept.append(row)
    return kept


def upsert(
    session: Session, table: type[Any], rows: list[dict[str, Any]], key: Sequence[str]
) -> ImportCounts:
    """Insert `rows`, each replacing the stored row with its key; what was new/replaced."""
    columns = table.__table__.columns
    stored: set[tuple[Any, ...]] = set()
    leading = sorted({row[key[0]] for row in rows})
    for start in range(0, len(leading), CHUNK):
        query = select(*(columns[k] for k in key)).where(
            columns[key[0]].in_(leading[start : start + CHUNK])
        )
        stored.update(tuple(r) for r in session.execute(query))
    now = utcnow()
    values = [{**row, "imported_at": now} for row in rows]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={c.name: statement.excluded[c.name] for c in columns if c.name not in key},
    )
    for start in range(0, len(values), CHUNK):
        session.execute(statement, values[start : start + CHUNK])
    replaced = sum(1 for row in rows if tuple(row[k] for k in key) in stored)
    return ImportCounts(rows=len(rows), created=len(rows) - replaced, replaced=replaced)


def _channel_cell(
    number: int, text: str, channels: Mapping[str, int], problems: Problems
) -> int | None:
    if text not in channels:
        problems.add(number, "channel", f"unknown channel {text[:64]!r}")
        return None
    return channels[text]


def _label(text: str) -> str:
    if not text:
        raise ValidationFailed("a label is required (rent, staff, ...)")
    if len(text) > MAX_LABEL:
        raise ValidationFailed(f"a label is at most {MAX_LABEL} characters")
    return text


# --- unit costs -------------------------------------------------------------------------

COST_COLUMNS = ("sku", "valid_from", "cost", "currency")


def check_unit_costs(session: Session, sheet: Sheet) -> list[dict[str, Any]]:
    """The rows of a unit-cost file, or ImportRejected."""
    problems = Problems()
    parsed: list[tuple[int, dict[str, Any]]] = []
    if check_header(sheet, COST_COLUMNS, problems):
        lines = records(sheet, problems)
        skus = {c["sku"] for _, c in lines}
        known = known_skus(session, {s for s in skus if _valid_sku(s)})
        for number, cell in lines:
            sku = problems.cell(number, "sku", validate_sku, cell["sku"])
            if sku is not None and sku not in known:
                problems.add(number, "sku", f"unknown SKU {sku!r}")
                sku = None
            day = problems.cell(number, "valid_from", parse_day, cell["valid_from"])
            cost = problems.cell(number, "cost", parse_unit_cost, cell["cost"])
            currency = problems.cell(number, "currency", parse_currency, cell["currency"])
            if sku is not None and day is not None and cost is not None and currency:
                row = {"sku": sku, "valid_from": day, "cost": cost, "currency": currency}
                parsed.append((number, row))
    rows = once_each(parsed, ("sku", "valid_from"), "SKU and valid_from", problems)
    problems.raise_any(sheet.header)
    return rows


def _valid_sku(text: str) -> bool:
    try:
        validate_sku(text)
    except ValidationFailed:
        return False
    return True


# --- channel fees -----------------------------------------------------------------------

FEE_COLUMNS = (
    "channel",
    "valid_from",
    "commission_pct",
    "payment_pct",
    "payment_fixed",
    "currency",
)


def check_fees(session: Session, sheet: Sheet) -> list[dict[str, Any]]:
    """The rows of a channel-fee file, or ImportRejected."""
    problems = Problems()
    parsed: list[tuple[int, dict[str, Any]]] = []
    if check_header(sheet, FEE_COLUMNS, problems):
        lines = records(sheet, problems)
        channels = channel_ids(session, {c["channel"] for _, c in lines})
        for number, cell in lines:
            channel_id = _channel_cell(number, cell["channel"], channels, problems)
            day = problems.cell(number, "valid_from", parse_day, cell["valid_from"])
            commission = problems.cell(
                number, "commission_pct", parse_percent, cell["commission_pct"]
            )
            payment = problems.cell(number, "payment_pct", parse_percent, cell["payment_pct"])
            currency = problems.cell(number, "currency", parse_currency, cell["currency"])
            fixed = None
            if currency:
                money = partial(parse_money, currency=currency)
                fixed = problems.cell(number, "payment_fixed", money, cell["payment_fixed"])
            values = (channel_id, day, commission, payment, fixed, currency)
            if all(v is not None for v in values):
                parsed.append((number, dict(zip(_FEE_FIELDS, values, strict=True))))
    rows = once_each(parsed, ("channel_id", "valid_from"), "channel and valid_from", problems)
    problems.raise_any(sheet.header)
    return rows


_FEE_FIELDS = (
    "channel_id",
    "valid_from",
    "commission_pct",
    "payment_pct",
    "payment_fixed",
    "currency",
)

# --- fixed costs ------------------------------------------------------------------------

FIXED_COLUMNS = ("channel", "month", "label", "amount", "currency")


def check_fixed_costs(session: Session, sheet: Sheet) -> list[dict[str, Any]]:
    """The rows of a fixed-cost file, or ImportRejected."""
    problems = Problems()
    parsed: list[tuple[int, dict[str, Any]]] = []
    if check_header(sheet, FIXED_COLUMNS, problems):
        lines = records(sheet, problems)
        channels = channel_ids(session, {c["channel"] for _, c in lines})
        for number, cell in lines:
            channel_id = _channel_cell(number, cell["channel"], channels, problems)
            month = problems.cell(number, "month", parse_month, cell["month"])
            label = problems.cell(number, "label", _label, cell["label"])
            currency = problems.cell(number, "currency", parse_currency, cell["currency"])
            amount = None
            if currency:
                money = partial(parse_money, currency=currency)
                amount = problems.cell(number, "amount", money, cell["amount"])
            values = (channel_id, month, label, amount, currency)
            if all(v is not None for v in values):
                parsed.append((number, dict(zip(_FIXED_FIELDS, values, strict=True))))
    rows = once_each(parsed, ("channel_id", "month", "label"), "channel, month and label", problems)
    problems.raise_any(sheet.header)
    return rows


_FIXED_FIELDS = ("channel_id", "month", "label", "amount", "currency")

# --- the use cases ----------------------------------------------------------------------

Checker = Callable[[Session, Sheet], list[dict[str, Any]]]
_KINDS: dict[str, tuple[Checker, type[Any], tuple[str, ...]]] = {
    "costs": (check_unit_costs, UnitCost, ("sku", "valid_from")),
    "fees": (check_fees, ChannelFee, ("channel_id", "valid_from")),
    "fixed-costs": (check_fixed_costs, FixedCost, ("channel_id", "month", "label")),
}


def import_cost_sheet(db: Database, sheet: Sheet, *, kind: str) -> ImportCounts:
    """Check and import a read file of `kind` (costs, fees, fixed-costs) in one
    transaction: all of its rows, or none (ImportRejected)."""
    check, table, key = _KINDS[kind]
    with db.transaction() as session:
        return upsert(session, table, check(session, sheet), key)


def import_cost_file(db: Database, path: Path, *, kind: str) -> ImportCounts:
    """Read, check and import a unit-cost, fee or fixed-cost file (all-or-nothing)."""
    return import_cost_sheet(db, read_sheet(path), kind=kind)
