"""Stock import from CSV: every row is checked first; then all of it is written, or none.

The file is UTF-8 (a byte-order mark is fine), comma-separated, with a header row; rows
are numbered as in the file, the header being row 1. Columns, in any order:

==========  ========  ==========================================================
column      required  meaning
==========  ========  ==========================================================
sku         yes       a stock-bearing SKU (not a bundle: its stock is its parts')
location    yes       the code of a location
quantity    yes       whole units: received (> 0), or counted (>= 0) in count mode
reason                kept on the ledger entry (receipt) or as the count's note
==========  ========  ==========================================================

Receipt mode adds the units to on-hand (a SKU may appear at a location more than once);
count mode sets on-hand to what was counted, recording the variance, and each (sku,
location) may appear once. The whole file is one transaction through the stock ledger,
so the ledger explains every unit and a failing row leaves the database untouched.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.orm import Session

from omnicart.catalog.lookup import SkuInfo, resolve_skus
from omnicart.db.engine import Database
from omnicart.importing import ImportRejected, RowError
from omnicart.inventory.ledger import (
    Provenance,
    apply_changes,
    ensure_rows,
    lock_stock,
)
from omnicart.inventory.model import (
    MovementKind,
    StockChange,
    StockFigures,
    apply_change,
    check_quantity,
)
from omnicart.inventory.tables import StockCount, StockCountLine
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound, OmnicartError, ValidationFailed
from omnicart.locations.tables import Location

REQUIRED = ("sku", "location", "quantity")
OPTIONAL = ("reason",)
ROW_COLUMN = "(row)"  # the column named in errors about a whole row
DEFAULT_REASON = "stock import"
# Keeps every IN (...) list well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
_WHOLE = re.compile(r"[+-]?[0-9]+")

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as the import advances."""

T = TypeVar("T")
Key = tuple[int, int]
count_line_table = cast(Table, StockCountLine.__table__)


class StockImportMode(StrEnum):
    """What the quantities of a stock file mean."""

    RECEIPT = "receipt"
    COUNT = "count"


class StockImportRejected(ImportRejected):
    """The file has rejected rows; nothing was written."""


@dataclass(frozen=True, slots=True)
class StockImportSummary:
    """What an import wrote."""

    mode: StockImportMode
    rows: int
    units: int
    locations: int
    movements: int
    count_ids: tuple[int, ...] = ()
    variance: int = 0


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    sku: str
    location: str
    quantity: int
    reason: str
    well_formed: bool


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    variant_id: int
    location_id: int
    quantity: int
    reason: str

    @property
    def key(self) -> Key:
        return (self.variant_id, self.location_id)


def _chunks(values: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _silent(_phase: str, _done: int, _total: int) -> None:
    return None


# ---------------------------------------------------------------- reading


def read_stock_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (row number, cells) of every non-blank row, or ValidationFailed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{path} is not UTF-8 text (offset {exc.start}); save it as CSV UTF-8", field="file"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ValidationFailed(
            f"{path}: line {reader.line_num} is not valid CSV: {exc}", field="file"
        ) from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise ValidationFailed(f"{path} is empty; the first row must be the header", field="file")
    rows = [
        (number, cells)
        for number, cells in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]
    return [cell.strip().lower() for cell in records[0]], rows


def _parse_rows(
    header: list[str], records: list[tuple[int, list[str]]], mode: StockImportMode
) -> tuple[list[_Row], list[RowError]]:
    """Rows whose cells are well-formed, and the errors of those that are not."""
    errors: list[RowError] = []
    for name in REQUIRED:
        if name not in header:
            errors.append(RowError(1, name, "missing column"))
    seen: set[str] = set()
    for name in header:
        if name not in REQUIRED + OPTIONAL:
            errors.append(RowError(1, name or ROW_COLUMN, "unknown column"))
        elif name in seen:
            errors.append(RowError(1, name, "column appears twice"))
        seen.add(name)
    if errors:
        return [], errors
    where = {name: header.index(name) for name in header}
    rows: list[_Row] = []
    for number, cells in records:
        if len(cells) > len(header):
            errors.append(
                RowError(number, ROW_COLUMN, f"{len(cells)} cells, the header has {len(header)}")
            )
            continue
        cell = {name: cells[i].strip() if i < len(cells) else "" for name, i in where.items()}
        bad = [RowError(number, name, "missing value") for name in REQUIRED if not cell[name]]
        quantity = 0
        if cell["quantity"]:
            if not _WHOLE.fullmatch(cell["quantity"]):
                bad.append(
                    RowError(number, "quantity", f"{cell['quantity']!r} is not a whole number")
                )
            else:
                try:
                    quantity = check_quantity(
                        int(cell["quantity"]),
                        field="quantity",
                        allow_zero=mode is StockImportMode.COUNT,
                    )
                except ValidationFailed as exc:
                    bad.append(RowError(number, "quantity", exc.detail))
        errors.extend(bad)
        # Rows with bad cells still get their SKU and location checked, so that one run
        # reports every problem of the file.
        rows.append(
            _Row(number, cell["sku"], cell["location"], quantity, cell.get("reason", ""), not bad)
        )
    return rows, errors


# ---------------------------------------------------------------- checking


def _find_skus(session: Session, skus: Sequence[str]) -> dict[str, SkuInfo]:
    """The known SKUs among `skus` (unknown ones are left out)."""
    found: dict[str, SkuInfo] = {}
    for chunk in _chunks(sorted(set(skus))):
        try:
            found.update(resolve_skus(session, list(chunk), field="sku"))
        except NotFound as exc:
            missing = set(exc.extra.get("skus", ()))
            rest = [s for s in chunk if s not in missing]
            if rest:
                found.update(resolve_skus(session, rest, field="sku"))
    return found


def _find_locations(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """Location ids by code for the known codes among `codes`."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(codes))):
        found.update(
            (code, location_id)
            for code, location_id in session.execute(
                select(Location.code, Location.id).where(Location.code.in_(chunk))
            )
        )
    return found


def _resolve(
    session: Session, rows: list[_Row], mode: StockImportMode
) -> tuple[list[_Line], dict[int, SkuInfo], list[RowError]]:
    skus = _find_skus(session, [r.sku for r in rows if r.sku])
    locations = _find_locations(session, [r.location for r in rows if r.location])
    errors: list[RowError] = []
    lines: list[_Line] = []
    first_row: dict[tuple[str, str], int] = {}
    for row in rows:
        info = skus.get(row.sku)
        location_id = locations.get(row.location)
        if info is None and row.sku:
            errors.append(RowError(row.number, "sku", f"unknown SKU {row.sku!r}"))
        elif info is not None and info.is_bundle:
            errors.append(
                RowError(
                    row.number, "sku", f"{row.sku!r} is a bundle; its stock is its components'"
                )
            )
        if location_id is None and row.location:
            errors.append(RowError(row.number, "location", f"unknown location {row.location!r}"))
        if not row.well_formed:
            continue
        if mode is StockImportMode.COUNT:
            earlier = first_row.setdefault((row.sku, row.location), row.number)
            if earlier != row.number:
                errors.append(
                    RowError(
                        row.number, "sku", f"{row.sku!r} at {row.location!r} is also row {earlier}"
                    )
                )
        if info is not None and not info.is_bundle and location_id is not None:
            lines.append(_Line(row.number, info.variant_id, location_id, row.quantity, row.reason))
    return lines, {i.variant_id: i for i in skus.values()}, errors


def _lock(conn: Connection, keys: Sequence[Key], report: Progress) -> dict[Key, StockFigures]:
    """Lock every row the file touches, in (variant, location) order like the ledger does."""
    ordered = sorted(set(keys))
    locked: dict[Key, StockFigures] = {}
    for done, chunk in enumerate(_chunks(ordered), start=1):
        wanted = set(chunk)
        locked.update({k: f for k, f in lock_stock(conn, chunk).items() if k in wanted})
        report("locking", min(done * _CHUNK, len(ordered)), len(ordered))
    return locked


def _changes(
    lines: list[_Line], locked: dict[Key, StockFigures], mode: StockImportMode
) -> list[StockChange]:
    if mode is StockImportMode.RECEIPT:
        return [StockChange(ln.variant_id, ln.location_id, on_hand=ln.quantity) for ln in lines]
    return [
        StockChange(
            ln.variant_id,
            ln.location_id,
            on_hand=ln.quantity - locked.get(ln.key, StockFigures()).on_hand,
        )
        for ln in lines
    ]


def _check_rules(
    lines: list[_Line],
    changes: list[StockChange],
    locked: dict[Key, StockFigures],
    variants: dict[int, SkuInfo],
) -> list[RowError]:
    """Run the stock rule over each row's change now, so one refusal names its row."""
    errors: list[RowError] = []
    figures = dict(locked)
    for line, change in zip(lines, changes, strict=True):
        try:
            figures[line.key] = apply_change(
                figures.get(line.key, StockFigures()), change, sku=variants[line.variant_id].sku
            )
        except OmnicartError as exc:
            errors.append(RowError(line.number, "quantity", exc.detail))
    return errors


# ---------------------------------------------------------------- writing


def _apply(
    conn: Connection,
    *,
    changes: list[StockChange],
    provenance: Provenance,
    figures: dict[Key, StockFigures],
    variants: dict[int, SkuInfo],
    report: Progress,
    done: int,
    total: int,
) -> int:
    """Apply `changes` in chunks; `figures` holds the locked rows and is kept current."""
    # Chunks keep the ledger's statements bounded. The rows are already locked, so the
    # ledger is handed their figures instead of locking them again.
    for chunk in _chunks(sorted(changes, key=lambda c: c.key)):
        figures.update(
            apply_changes(conn, list(chunk), provenance, locked=figures, variants=variants)
        )
        done += len(chunk)
        report("writing", done, total)
    return done


def _write_receipts(
    conn: Connection,
    *,
    lines: list[_Line],
    figures: dict[Key, StockFigures],
    variants: dict[int, SkuInfo],
    actor: str,
    report: Progress,
) -> StockImportSummary:
    by_reason: dict[str, list[_Line]] = defaultdict(list)
    for line in lines:
        by_reason[line.reason or DEFAULT_REASON].append(line)
    done = 0
    for reason, group in by_reason.items():
        done = _apply(
            conn,
            changes=_changes(group, {}, StockImportMode.RECEIPT),
            provenance=Provenance(MovementKind.RECEIPT, actor=actor, reason=reason),
            figures=figures,
            variants=variants,
            report=report,
            done=done,
            total=len(lines),
        )
    return StockImportSummary(
        mode=StockImportMode.RECEIPT,
        rows=len(lines),
        units=sum(ln.quantity for ln in lines),
        locations=len({ln.location_id for ln in lines}),
        movements=len(lines),
    )


def _write_counts(
    session: Session,
    *,
    lines: list[_Line],
    changes: list[StockChange],
    locked: dict[Key, StockFigures],
    variants: dict[int, SkuInfo],
    actor: str,
    report: Progress,
) -> StockImportSummary:
    conn = session.connection()
    groups: dict[tuple[int, str], list[tuple[_Line, StockChange]]] = defaultdict(list)
    for line, change in zip(lines, changes, strict=True):
        groups[(line.location_id, line.reason or DEFAULT_REASON)].append((line, change))
    figures = dict(locked)
    count_ids: list[int] = []
    done = movements = 0
    now = utcnow()
    for (location_id, note), group in groups.items():
        count = StockCount(location_id=location_id, actor=actor, note=note, created_at=now)
        session.add(count)
        session.flush()
        count_ids.append(count.id)
        conn.execute(
            insert(count_line_table),
            [
                {
                    "count_id": count.id,
                    "variant_id": line.variant_id,
                    "expected": locked.get(line.key, StockFigures()).on_hand,
                    "counted": line.quantity,
                    "variance": change.on_hand,
                }
                for line, change in group
            ],
        )
        moved = [change for _, change in group if change.on_hand != 0]
        movements += len(moved)
        done = _apply(
            conn,
            changes=moved,
            provenance=Provenance(MovementKind.COUNT, actor=actor, reason=note, count_id=count.id),
            figures=figures,
            variants=variants,
            report=report,
            done=done,
            total=len(lines),
        )
        done += len(group) - len(moved)
        report("writing", done, len(lines))
    return StockImportSummary(
        mode=StockImportMode.COUNT,
        rows=len(lines),
        units=sum(ln.quantity for ln in lines),
        locations=len({ln.location_id for ln in lines}),
        movements=movements,
        count_ids=tuple(count_ids),
        variance=sum(c.on_hand for c in changes),
    )


# ---------------------------------------------------------------- entry points


def import_stock_file(
    db: Database,
    path: Path,
    *,
    mode: StockImportMode = StockImportMode.RECEIPT,
    actor: str = "import",
    progress: Progress | None = None,
) -> StockImportSummary:
    """Check every row of a stock CSV and apply them all in one transaction.

    Raises StockImportRejected listing every (row, column, reason) when any row fails;
    then nothing is written.
    """
    report = progress or _silent
    header, records = read_stock_csv(path)
    report("checking", 0, len(records))
    rows, errors = _parse_rows(header, records, mode)
    with db.transaction() as session:
        lines, variants, found = _resolve(session, rows, mode)
        errors.extend(found)
        if errors:
            raise StockImportRejected(sorted(errors))
        if not lines:
            raise ValidationFailed(f"{path} has no rows to import", field="file")
        report("checking", len(records), len(records))
        conn = session.connection()
        locked = _lock(conn, [ln.key for ln in lines], report)
        # Rows the file adds units to but that do not exist yet are created now and locked
        # too, so that every row the ledger changes below is already locked.
        missing = [ln.key for ln in lines if ln.quantity > 0 and ln.key not in locked]
        if missing:
            ensure_rows(conn, missing)
            locked.update(_lock(conn, missing, report))
        changes = _changes(lines, locked, mode)
        refused = _check_rules(lines, changes, locked, variants)
        if refused:
            raise StockImportRejected(sorted(refused))
        if mode is StockImportMode.RECEIPT:
            return _write_receipts(
                conn, lines=lines, figures=locked, variants=variants, actor=actor, report=report
            )
        return _write_counts(
            session,
            lines=lines,
            changes=changes,
            locked=locked,
            variants=variants,
            actor=actor,
            report=report,
        )
