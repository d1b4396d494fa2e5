"""SKU mapping: which vendor product (and variant) is which Omnicart SKU.

A vendor line is matched by its (product id, variant id) in the connector's mapping;
failing that by the vendor's SKU when Omnicart has that SKU, then by its GTIN (compared as
GTIN-14, so an EAN-13 and its zero-padded form match). A line matched by SKU or GTIN is
added to the mapping. An entry made by hand (`matched_by="manual"`) is never replaced by
an automatic match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from omnicart.catalog.tables import Variant
from omnicart.connectors.base import VendorItem, VendorLine
from omnicart.connectors.tables import SkuMapping
from omnicart.db.engine import Database
from omnicart.inventory.ledger import insert_ignoring_duplicates
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound, ValidationFailed

MANUAL = "manual"
_GTIN = re.compile(r"[0-9]{8,14}")
ID_LIMIT = 64


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """A vendor product/variant and the Omnicart SKU it is (None: remove the entry)."""

    vendor_product_id: str
    vendor_variant_id: str | None
    sku: str | None
    stock_ref: str | None = None


@dataclass(frozen=True, slots=True)
class MappingView:
    """A stored mapping entry."""

    id: int
    connector_id: int
    vendor_product_id: str
    vendor_variant_id: str | None
    stock_ref: str | None
    sku: str
    matched_by: str
    vendor_sku: str | None
    vendor_gtin: str | None
    title: str


@dataclass(frozen=True, slots=True)
class MatchReport:
    """What an automatic match of the vendor's catalog did."""

    items: int
    matched: int
    kept: int  # entries made by hand, left as they were
    unmatched: list[VendorItem]


def gtin_forms(value: str | None) -> list[str]:
    """The forms a GTIN may be stored in (8, 12, 13 and 14 digits with leading zeros)."""
    code = (value or "").strip()
    if not _GTIN.fullmatch(code):
        return []
    core = code.lstrip("0") or "0"
    return [core.zfill(n) for n in (8, 12, 13, 14) if len(core) <= n]


def view(row: SkuMapping) -> MappingView:
    """A mapping row as callers see it."""
    return MappingView(
        id=row.id,
        connector_id=row.connector_id,
        vendor_product_id=row.vendor_product_id,
        vendor_variant_id=row.vendor_variant_id or None,
        stock_ref=row.stock_ref,
        sku=row.sku,
        matched_by=row.matched_by,
        vendor_sku=row.vendor_sku,
        vendor_gtin=row.vendor_gtin,
        title=row.title,
    )


def _check_id(value: str | None, field: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(text) > ID_LIMIT:
        raise ValidationFailed(f"{field} is at most {ID_LIMIT} characters", field=field)
    return text


def known_skus(session: Session, skus: Iterable[str]) -> set[str]:
    """Those of `skus` the catalog has."""
    wanted = sorted({s for s in skus if s})
    if not wanted:
        return set()
    return set(session.scalars(select(Variant.sku).where(Variant.sku.in_(wanted))))


def _catalog_matches(
    session: Session, skus: Iterable[str | None], gtins: Iterable[str | None]
) -> tuple[set[str], dict[str, str]]:
    """Omnicart SKUs among `skus`, and {GTIN-14: Omnicart SKU} for `gtins`."""
    by_sku = known_skus(session, [s for s in skus if s])
    forms = sorted({form for g in gtins for form in gtin_forms(g)})
    by_gtin: dict[str, str] = {}
    if forms:
        for sku, gtin in session.execute(
            select(Variant.sku, Variant.gtin).where(Variant.gtin.in_(forms))
        ):
            by_gtin[str(gtin).zfill(14)] = sku
    return by_sku, by_gtin


def _auto_match(
    sku: str | None, gtin: str | None, by_sku: set[str], by_gtin: dict[str, str]
) -> tuple[str, str] | None:
    if sku and sku.strip() in by_sku:
        return sku.strip(), "sku"
    for form in gtin_forms(gtin)[-1:]:  # the 14-digit form
        if form in by_gtin:
            return by_gtin[form], "gtin"
    return None


def resolve_lines(
    session: Session, *, connector_id: int, lines: Sequence[VendorLine]
) -> tuple[list[str | None], list[str]]:
    """The Omnicart SKU of each line (None when unknown), and why each unknown one is.

    Lines matched by SKU or GTIN are added to the mapping (in the caller's transaction).
    """
    keys = {(line.vendor_product_id or "", line.vendor_variant_id or "") for line in lines}
    mapped: dict[tuple[str, str], str] = {}
    product_ids = sorted({p for p, _ in keys if p})
    if product_ids:
        for row in session.scalars(
            select(SkuMapping).where(
                SkuMapping.connector_id == connector_id,
                SkuMapping.vendor_product_id.in_(product_ids),
            )
        ):
            mapped[(row.vendor_product_id, row.vendor_variant_id)] = row.sku
    by_sku, by_gtin = _catalog_matches(
        session, [line.sku for line in lines], [line.gtin for line in lines]
    )
    skus: list[str | None] = []
    problems: list[str] = []
    learned: list[dict[str, object]] = []
    for index, line in enumerate(lines):
        key = (line.vendor_product_id or "", line.vendor_variant_id or "")
        found = mapped.get(key)
        if found is None:
            match = _auto_match(line.sku, line.gtin, by_sku, by_gtin)
            if match is not None:
                found = match[0]
                if key[0] and len(key[0]) <= ID_LIMIT and len(key[1]) <= ID_LIMIT:
                    learned.append(
                        _row(connector_id, key, sku=found, matched_by=match[1], line=line)
                    )
        if found is None:
            problems.append(f"line {index + 1} ({describe(line)}) matches no Omnicart SKU")
        skus.append(found)
    if learned:
        conn = session.connection()
        conn.execute(insert_ignoring_duplicates(conn, SkuMapping.__table__), learned)  # type: ignore[arg-type]
    return skus, problems


def describe(line: VendorLine) -> str:
    """How a person recognises a vendor line."""
    parts = [f"product {line.vendor_product_id}"] if line.vendor_product_id else []
    if line.vendor_variant_id:
        parts.append(f"variant {line.vendor_variant_id}")
    if line.sku:
        parts.append(f"SKU {line.sku!r}")
    if line.gtin:
        parts.append(f"GTIN {line.gtin}")
    if line.title:
        parts.append(repr(line.title[:60]))
    return ", ".join(parts) or "no ids"


def _row(
    connector_id: int,
    key: tuple[str, str],
    *,
    sku: str,
    matched_by: str,
    line: VendorLine | VendorItem,
    stock_ref: str | None = None,
) -> dict[str, object]:
    return {
        "connector_id": connector_id,
        "vendor_product_id": key[0],
        "vendor_variant_id": key[1],
        "stock_ref": stock_ref,
        "sku": sku,
        "matched_by": matched_by,
        "vendor_sku": (line.sku or None) and (line.sku or "")[:120],
        "vendor_gtin": (line.gtin or None) and (line.gtin or "")[:64],
        "title": (line.title or "")[:300],
        "updated_at": utcnow(),
    }


def match_catalog(
    session: Session, *, connector_id: int, items: Sequence[VendorItem]
) -> MatchReport:
    """Map every catalog item of the vendor that matches an Omnicart SKU or GTIN; entries
    made by hand stay; an automatic entry follows the vendor's current ids and stock ref."""
    by_sku, by_gtin = _catalog_matches(session, [i.sku for i in items], [i.gtin for i in items])
    existing = {
        (row.vendor_product_id, row.vendor_variant_id): row
        for row in session.scalars(
            select(SkuMapping).where(SkuMapping.connector_id == connector_id)
        )
    }
    matched = kept = 0
    unmatched: list[VendorItem] = []
    for item in items:
        key = (item.vendor_product_id.strip(), (item.vendor_variant_id or "").strip())
        row = existing.get(key)
        if row is not None and row.matched_by == MANUAL:
            if item.stock_ref and row.stock_ref != item.stock_ref:
                row.stock_ref = item.stock_ref[:ID_LIMIT]
            kept += 1
            continue
        match = _auto_match(item.sku, item.gtin, by_sku, by_gtin)
        if match is None or not key[0] or len(key[0]) > ID_LIMIT or len(key[1]) > ID_LIMIT:
            unmatched.append(item)
            continue
        values = _row(
            connector_id,
            key,
            sku=match[0],
            matched_by=match[1],
            line=item,
            stock_ref=item.stock_ref,
        )
        if row is None:
            row = SkuMapping(**values)
            session.add(row)
            existing[key] = row
        else:
            for name, value in values.items():
                setattr(row, name, value)
        matched += 1
    session.flush()
    return MatchReport(items=len(items), matched=matched, kept=kept, unmatched=unmatched)


def set_entries(
    db: Database, *, connector_id: int, entries: Sequence[MappingEntry]
) -> list[MappingView]:
    """Add, change or (sku None) remove entries by hand; unknown SKUs are refused."""
    checked: list[tuple[tuple[str, str], MappingEntry]] = []
    for index, entry in enumerate(entries):
        where = f"items.{index}"
        product = _check_id(entry.vendor_product_id, f"{where}.vendor_product_id", required=True)
        variant = _check_id(entry.vendor_variant_id, f"{where}.vendor_variant_id", required=False)
        _check_id(entry.stock_ref, f"{where}.stock_ref", required=False)
        checked.append(((product, variant), entry))
    with db.transaction() as session:
        wanted = [e.sku for _, e in checked if e.sku is not None]
        found = known_skus(session, wanted)
        for index, (_, entry) in enumerate(checked):
            if entry.sku is not None and entry.sku not in found:
                raise NotFound(f"unknown SKU {entry.sku!r}", field=f"items.{index}.sku")
        rows: list[SkuMapping] = []
        for key, entry in checked:
            clause = (
                (SkuMapping.connector_id == connector_id)
                & (SkuMapping.vendor_product_id == key[0])
                & (SkuMapping.vendor_variant_id == key[1])
            )
            if entry.sku is None:
                session.execute(delete(SkuMapping).where(clause))
                continue
            row = session.scalar(select(SkuMapping).where(clause))
            if row is None:
                row = SkuMapping(
                    connector_id=connector_id,
                    vendor_product_id=key[0],
                    vendor_variant_id=key[1],
                    title="",
                )
                session.add(row)
            row.sku = entry.sku
            row.matched_by = MANUAL
            row.stock_ref = (entry.stock_ref or "").strip() or row.stock_ref
            row.updated_at = utcnow()
            rows.append(row)
        session.flush()
        return [view(row) for row in rows]


def list_entries(
    db: Database, *, connector_id: int, sku: str | None = None, after_id: int = 0, limit: int = 100
) -> list[MappingView]:
    """The connector's mapping by ascending id, optionally for one SKU."""
    with db.reading() as session:
        stmt = (
            select(SkuMapping)
            .where(SkuMapping.connector_id == connector_id, SkuMapping.id > after_id)
            .order_by(SkuMapping.id)
            .limit(limit)
        )
        if sku is not None:
            stmt = stmt.where(SkuMapping.sku == sku)
        return [view(row) for row in session.scalars(stmt)]


def mapped(
    session: Session, *, connector_id: int, skus: Iterable[str] | None = None
) -> dict[str, list[SkuMapping]]:
    """The vendor items of each mapped SKU (a SKU may be listed more than once there)."""
    stmt = select(SkuMapping).where(SkuMapping.connector_id == connector_id)
    if skus is not None:
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        stmt = stmt.where(SkuMapping.sku.in_(wanted))
    found: dict[str, list[SkuMapping]] = {}
    for row in session.scalars(stmt.order_by(SkuMapping.id)):
        found.setdefault(row.sku, []).append(row)
    return found
