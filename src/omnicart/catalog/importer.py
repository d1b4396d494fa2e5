"""Catalog import from CSV: every row is checked first; then all of it is written, or none.

The file is UTF-8 (a byte-order mark is fine), comma-separated, with a header row.
Rows are numbered as in the file, the header being row 1. One row per variant; rows with
the same handle are one product. Column names are exact and may come in any order:

=====================  ========  ===================================================
column                 required  meaning
=====================  ========  ===================================================
handle                 yes       product handle (lower-case, hyphenated)
product_title          yes       product title; needed on the product's first row
description                      product description
category                         slug of an existing category
product_attributes               product attributes, ``key=value;key=value``
sku                    yes       the variant's SKU; each SKU once per file
gtin                             EAN-8, UPC-A, EAN-13 or GTIN-14, check digit verified
variant_title                    the variant's title
attributes                       variant attributes, ``key=value;key=value``
low_stock_threshold              whole number, 0 or more (blank: the shop's default)
bundle_components                ``SKU*units;SKU*units``: the variant is a bundle of
                                 these SKUs (in this file or already stored); blank:
                                 not a bundle
price:<channel code>             price on that channel, ``12.50`` or ``12.50 EUR``,
                                 in the channel's currency and minor units
listed:<channel code>            ``yes``/``no`` (also true/false, 1/0): the product is
                                 listed on that channel or not
=====================  ========  ===================================================

Upsert rules, which make importing the same file twice change nothing the second time:
products are matched by handle and variants by SKU; a column the file lacks leaves the
stored value alone, while a column it has is authoritative (a blank ``gtin`` removes the
GTIN). Blank ``price:``/``listed:`` cells leave that channel's price/listing alone.
Product-level columns (product_title, description, category, product_attributes,
listed:*) may be repeated on each row of a product, but must then agree.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Row, Select, delete, insert, select, update
from sqlalchemy.orm import Session

from omnicart.catalog import model
from omnicart.catalog.model import KEEP, BundlePart, Keep
from omnicart.catalog.tables import (
    BundleComponent,
    Category,
    ChannelPrice,
    Listing,
    Product,
    Variant,
)
from omnicart.channels.policy import channel_id_for_code, load_channel_policy
from omnicart.db.engine import Database
from omnicart.importing import ImportRejected, RowError
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound, ValidationFailed
from omnicart.kernel.money import Money

REQUIRED = ("handle", "product_title", "sku")
OPTIONAL = (
    "description",
    "category",
    "product_attributes",
    "gtin",
    "variant_title",
    "attributes",
    "low_stock_threshold",
    "bundle_components",
)
PRICE_PREFIX = "price:"
LISTED_PREFIX = "listed:"
ROW_COLUMN = "(row)"  # the column named in errors about a whole row
_TRUE = frozenset({"yes", "y", "true", "1"})
_FALSE = frozenset({"no", "n", "false", "0"})
# Keeps every IN (...) list well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 900

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as the import advances."""

T = TypeVar("T")


class CatalogImportRejected(ImportRejected):
    """The file has rejected rows; nothing was written."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import changed; all zero (but `rows`) when the file was imported before."""

    rows: int
    products_created: int
    products_updated: int
    variants_created: int
    variants_updated: int
    bundles_defined: int
    prices_set: int
    listings_set: int


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A CSV file's header and its records, each with its row number in the file."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_catalog_csv(path: Path) -> CsvFile:
    """Read the file, or raise ValidationFailed (field `file`) saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as CSV UTF-8",
            field="file",
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
    return CsvFile(
        header=[cell.strip() for cell in records[0]],
        rows=[(number, cells) for number, cells in enumerate(records[1:], start=2)],
    )


def import_catalog_file(
    db: Database, path: Path, *, progress: Progress | None = None
) -> ImportSummary:
    """Read, check and import a catalog CSV file in one transaction."""
    table = read_catalog_csv(path)
    with db.transaction() as session:
        return import_catalog_rows(session, table, progress=progress)


def import_catalog_rows(
    session: Session, table: CsvFile, *, progress: Progress | None = None
) -> ImportSummary:
    """Check every row; raise CatalogImportRejected listing all problems, or write them all."""
    report = progress or (lambda _phase, _done, _total: None)
    checker = _Checker(session, table.header)
    plan = checker.check(table.rows, report)
    if checker.errors:
        raise CatalogImportRejected(sorted(checker.errors, key=checker.sort_key))
    return _Writer(session, plan).write(report)


# --- checking ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """One parsed record; KEEP marks a column the file does not have."""

    row: int
    handle: str
    sku: str
    failed: set[str] = field(default_factory=set)
    product_cells: dict[str, Any] = field(default_factory=dict)
    gtin: str | Keep | None = KEEP
    variant_title: str | Keep = KEEP
    attributes: dict[str, str] | Keep = KEEP
    low_stock_threshold: int | Keep | None = KEEP
    bundle: tuple[BundlePart, ...] | Keep = KEEP
    prices: dict[int, Money] = field(default_factory=dict)


@dataclass(slots=True)
class _ProductPlan:
    handle: str
    title: str
    description: str | Keep
    category: str | Keep | None
    category_id: int | Keep | None
    attributes: dict[str, str] | Keep
    listed: dict[int, bool]
    rows: list[_Row]


@dataclass(slots=True)
class _Plan:
    row_count: int
    products: list[_ProductPlan]
    # Stored rows as plain column tuples: building ORM objects for thousands of rows
    # would cost more than the whole comparison.
    existing_products: dict[str, Row[Any]]
    existing_variants: dict[str, Row[Any]]


class _Bad(enum.Enum):
    """Marks a cell that failed to parse (its error is already recorded)."""

    BAD = "bad"


_BAD = _Bad.BAD


@dataclass(frozen=True, slots=True)
class _ChannelColumn:
    channel_id: int
    code: str
    currency: str


class _Checker:
    """Collects every problem of a file, touching the database in bulk only."""

    def __init__(self, session: Session, header: list[str]) -> None:
        self.session = session
        self.header = header
        self.errors: list[RowError] = []
        self.columns = {name: i for i, name in enumerate(header)}
        self.price_columns: dict[str, _ChannelColumn] = {}
        self.listed_columns: dict[str, _ChannelColumn] = {}
        self.usable = self._check_header()

    def sort_key(self, error: RowError) -> tuple[int, int, str]:
        """Errors in file order: by row, then by column position."""
        return (error.row, self.columns.get(error.column, len(self.header)), error.reason)

    def _fail(self, row: int, column: str, reason: str) -> None:
        self.errors.append(RowError(row=row, column=column, reason=reason))

    def _check_header(self) -> bool:
        seen: set[str] = set()
        for position, name in enumerate(self.header, start=1):
            if not name:
                self._fail(1, name, f"column {position} has no name")
            elif name in seen:
                self._fail(1, name, "the column appears twice")
            elif name.startswith((PRICE_PREFIX, LISTED_PREFIX)):
                self._check_channel_column(name)
            elif name not in REQUIRED and name not in OPTIONAL:
                self._fail(1, name, "unknown column")
            seen.add(name)
        missing = [name for name in REQUIRED if name not in self.columns]
        for name in missing:
            self._fail(1, name, "required column is missing")
        # Without its key columns a row cannot be checked at all; other header problems
        # only drop that column, so the rows are still checked and reported.
        return not missing

    def _check_channel_column(self, name: str) -> None:
        prefix, _, code = name.partition(":")
        try:
            channel_id = channel_id_for_code(self.session, code=code.strip())
            policy = load_channel_policy(self.session, channel_id=channel_id, require_active=False)
        except NotFound:
            self._fail(1, name, f"unknown channel {code.strip()!r}")
            return
        column = _ChannelColumn(channel_id, policy.code, policy.currency)
        target = self.price_columns if prefix + ":" == PRICE_PREFIX else self.listed_columns
        target[name] = column

    def check(self, records: list[tuple[int, list[str]]], report: Progress) -> _Plan:
        """Parse and cross-check every record; problems land in `self.errors`."""
        rows: list[_Row] = []
        total = len(records)
        if self.usable:
            for done, (number, cells) in enumerate(records, start=1):
                parsed = self._parse(number, cells)
                if parsed is not None:
                    rows.append(parsed)
                if done % 500 == 0 or done == total:
                    report("checking", done, total)
        plan = _Plan(row_count=len(rows), products=[], existing_products={}, existing_variants={})
        if rows:
            self._check_unique_in_file(rows)
            plan.products = self._group_products(rows)
            self._check_against_database(plan)
        return plan

    # -- one row

    def _parse(self, number: int, cells: list[str]) -> _Row | None:
        if not any(cell.strip() for cell in cells):
            return None  # blank lines are harmless
        if len(cells) != len(self.header):
            self._fail(
                number,
                ROW_COLUMN,
                f"has {len(cells)} cells but the header has {len(self.header)} columns",
            )
            return None
        cell = {name: cells[i].strip() for name, i in self.columns.items()}
        failed: set[str] = set()
        handle = self._parsed(number, "handle", model.validate_handle, cell["handle"], failed)
        sku = self._parsed(number, "sku", model.validate_sku, cell["sku"], failed)
        if isinstance(handle, _Bad) or isinstance(sku, _Bad):
            return None
        row = _Row(row=number, handle=handle, sku=sku, failed=failed)
        self._parse_product_cells(row, cell)
        self._parse_variant_cells(row, cell)
        for name, channel in self.price_columns.items():
            if cell[name]:
                parse = functools.partial(_price, channel=channel)
                price = self._parsed(number, name, parse, cell[name], failed)
                if not isinstance(price, _Bad):
                    row.prices[channel.channel_id] = price
        return row

    def _parsed(
        self, number: int, column: str, parse: Callable[[str], T], text: str, failed: set[str]
    ) -> T | _Bad:
        try:
            return parse(text)
        except ValidationFailed as exc:
            reason = exc.detail
        except (ValueError, ArithmeticError) as exc:
            # Every rule raises ValidationFailed; this keeps an overlooked one a row error
            # in the report instead of a traceback.
            reason = f"{text[:40]!r} cannot be read: {exc}"
        self._fail(number, column, reason)
        failed.add(column)
        return _BAD

    def _parse_product_cells(self, row: _Row, cell: dict[str, str]) -> None:
        parsers: dict[str, Callable[[str], Any]] = {
            "product_title": model.validate_title,
            "description": str.strip,
            "category": model.validate_category_slug,
            "product_attributes": model.parse_attributes,
        }
        parsers.update(dict.fromkeys(self.listed_columns, _flag))
        for name, parse in parsers.items():
            if cell.get(name):
                value = self._parsed(row.row, name, parse, cell[name], row.failed)
                if not isinstance(value, _Bad):
                    row.product_cells[name] = value

    def _parse_variant_cells(self, row: _Row, cell: dict[str, str]) -> None:
        def parsed(column: str, parse: Callable[[str], T]) -> T | Keep:
            if column not in cell:
                return KEEP
            value = self._parsed(row.row, column, parse, cell[column], row.failed)
            return KEEP if isinstance(value, _Bad) else value

        row.gtin = parsed("gtin", model.optional_gtin)
        row.variant_title = parsed("variant_title", model.validate_variant_title)
        row.attributes = parsed("attributes", model.parse_attributes)
        row.low_stock_threshold = parsed("low_stock_threshold", _threshold)
        row.bundle = parsed("bundle_components", lambda text: _bundle(row.sku, text))

    # -- across rows

    def _check_unique_in_file(self, rows: list[_Row]) -> None:
        first_sku: dict[str, int] = {}
        first_gtin: dict[str, int] = {}
        for row in rows:
            if row.sku in first_sku:
                self._fail(
                    row.row, "sku", f"SKU {row.sku!r} is already on row {first_sku[row.sku]}"
                )
                row.failed.add("sku")
            else:
                first_sku[row.sku] = row.row
            if isinstance(row.gtin, str):
                if row.gtin in first_gtin:
                    self._fail(
                        row.row, "gtin", f"GTIN {row.gtin} is already on row {first_gtin[row.gtin]}"
                    )
                    row.failed.add("gtin")
                else:
                    first_gtin[row.gtin] = row.row

    def _group_products(self, rows: list[_Row]) -> list[_ProductPlan]:
        groups: dict[str, list[_Row]] = {}
        for row in rows:
            groups.setdefault(row.handle, []).append(row)
        plans = []
        for handle, members in groups.items():
            agreed = self._agree(members)
            first = members[0]
            title = agreed.get("product_title")
            if title is None and "product_title" not in first.failed:
                self._fail(
                    first.row, "product_title", f"product {handle!r} needs a title on its first row"
                )
            plans.append(
                _ProductPlan(
                    handle=handle,
                    title=title or "",
                    description=agreed.get("description", "")
                    if "description" in self.columns
                    else KEEP,
                    category=agreed.get("category") if "category" in self.columns else KEEP,
                    category_id=KEEP,
                    attributes=agreed.get("product_attributes", {})
                    if "product_attributes" in self.columns
                    else KEEP,
                    listed={
                        self.listed_columns[name].channel_id: value
                        for name, value in agreed.items()
                        if name in self.listed_columns
                    },
                    rows=members,
                )
            )
        return plans

    def _agree(self, members: list[_Row]) -> dict[str, Any]:
        agreed: dict[str, Any] = {}
        origin: dict[str, int] = {}
        first_row = members[0].row
        for row in members:
            for name, value in row.product_cells.items():
                if name not in agreed:
                    if name == "product_title" and row.row != first_row:
                        continue  # a title first given on a later row is reported as missing
                    agreed[name], origin[name] = value, row.row
                elif agreed[name] != value:
                    self._fail(
                        row.row,
                        name,
                        f"differs from row {origin[name]} of product {row.handle!r}",
                    )
        return agreed

    def _check_against_database(self, plan: _Plan) -> None:
        session = self.session
        rows = [row for product in plan.products for row in product.rows]
        skus = {row.sku for row in rows}
        referenced = {
            part.sku for row in rows if isinstance(row.bundle, tuple) for part in row.bundle
        }
        plan.existing_variants = {
            v.sku: v
            for chunk in _chunks(sorted(skus | referenced))
            for v in session.execute(_columns(Variant).where(Variant.sku.in_(chunk)))
        }
        plan.existing_products = {
            p.handle: p
            for chunk in _chunks(sorted({p.handle for p in plan.products}))
            for p in session.execute(_columns(Product).where(Product.handle.in_(chunk)))
        }
        handles_by_id = {p.id: p.handle for p in plan.existing_products.values()}
        self._check_moves(rows, plan, handles_by_id)
        self._check_gtins(rows)
        self._resolve_categories(plan)
        self._check_bundles(rows, plan)

    def _check_moves(self, rows: list[_Row], plan: _Plan, handles_by_id: dict[int, str]) -> None:
        foreign = [
            v.product_id
            for row in rows
            if (v := plan.existing_variants.get(row.sku)) is not None
            and v.product_id not in handles_by_id
        ]
        for chunk in _chunks(sorted(set(foreign))):
            rows_found = self.session.execute(
                select(Product.id, Product.handle).where(Product.id.in_(chunk))
            )
            handles_by_id.update({r.id: r.handle for r in rows_found})
        for row in rows:
            stored = plan.existing_variants.get(row.sku)
            if stored is not None and handles_by_id[stored.product_id] != row.handle:
                self._fail(
                    row.row,
                    "sku",
                    f"SKU {row.sku!r} belongs to product {handles_by_id[stored.product_id]!r}",
                )

    def _check_gtins(self, rows: list[_Row]) -> None:
        # Repeats within the file are already reported; each GTIN's first row is checked.
        wanted = {row.gtin: row for row in reversed(rows) if isinstance(row.gtin, str)}
        for chunk in _chunks(sorted(wanted)):
            owners = self.session.execute(
                select(Variant.gtin, Variant.sku).where(Variant.gtin.in_(chunk))
            )
            for gtin, owner in owners:
                row = wanted[gtin or ""]
                if owner != row.sku:
                    self._fail(row.row, "gtin", f"GTIN {gtin} already belongs to SKU {owner!r}")

    def _resolve_categories(self, plan: _Plan) -> None:
        slugs = {p.category for p in plan.products if isinstance(p.category, str)}
        found = {
            slug: cid
            for chunk in _chunks(sorted(slugs))
            for cid, slug in self.session.execute(
                select(Category.id, Category.slug).where(Category.slug.in_(chunk))
            )
        }
        for product in plan.products:
            slug = product.category
            if slug is None or isinstance(slug, Keep):
                product.category_id = slug
            elif slug in found:
                product.category_id = found[slug]
            else:
                row = next(r for r in product.rows if "category" in r.product_cells)
                self._fail(row.row, "category", f"category {slug!r} does not exist")

    def _check_bundles(self, rows: list[_Row], plan: _Plan) -> None:
        in_file = {row.sku: row for row in rows}

        def is_bundle(sku: str) -> bool:
            row = in_file.get(sku)
            if row is not None and isinstance(row.bundle, tuple):
                return bool(row.bundle)
            stored = plan.existing_variants.get(sku)
            return stored is not None and stored.is_bundle

        new_bundles = [row for row in rows if isinstance(row.bundle, tuple) and row.bundle]
        for row in new_bundles:
            parts = row.bundle if isinstance(row.bundle, tuple) else ()
            unknown = [
                p.sku for p in parts if p.sku not in in_file and p.sku not in plan.existing_variants
            ]
            if unknown:
                self._fail(
                    row.row, "bundle_components", f"unknown component SKU: {', '.join(unknown)}"
                )
                continue
            try:
                model.check_bundles_do_not_nest(
                    bundle_sku=row.sku,
                    component_bundles=[p.sku for p in parts if is_bundle(p.sku)],
                    containing_bundles=(),
                )
            except ValidationFailed as exc:
                self._fail(row.row, "bundle_components", exc.detail)
        self._check_stored_parents(new_bundles, in_file, plan)

    def _check_stored_parents(
        self, new_bundles: list[_Row], in_file: dict[str, _Row], plan: _Plan
    ) -> None:
        # A SKU becoming a bundle must not stay a component of a stored bundle that this
        # file does not redefine (bundles in the file were checked from the other side).
        ids = {
            v.id: row
            for row in new_bundles
            if (v := plan.existing_variants.get(row.sku)) is not None
        }
        for chunk in _chunks(sorted(ids)):
            parents = self.session.execute(
                select(BundleComponent.component_id, Variant.sku)
                .join(Variant, Variant.id == BundleComponent.bundle_id)
                .where(BundleComponent.component_id.in_(chunk))
                .order_by(Variant.sku)
            )
            for component_id, parent_sku in parents:
                parent_row = in_file.get(parent_sku)
                if parent_row is not None and isinstance(parent_row.bundle, tuple):
                    continue
                row = ids[component_id]
                try:
                    model.check_bundles_do_not_nest(
                        bundle_sku=row.sku, component_bundles=(), containing_bundles=[parent_sku]
                    )
                except ValidationFailed as exc:
                    self._fail(row.row, "bundle_components", exc.detail)


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValidationFailed(f"{text!r} is not yes or no")


def _threshold(text: str) -> int | None:
    if not text:
        return None
    field = "low_stock_threshold"
    value = model.parse_whole_number(text, field=field)
    return model.validate_low_stock_threshold(value, field=field)


def _bundle(sku: str, text: str) -> tuple[BundlePart, ...]:
    parts = model.parse_bundle_spec(text)
    if not parts:
        return ()
    return model.check_bundle_parts(bundle_sku=sku, parts=parts)


def _price(text: str, channel: _ChannelColumn) -> Money:
    amount, _, currency = text.partition(" ")
    return model.channel_price(
        amount=amount,
        currency=currency.strip() or None,
        channel_currency=channel.currency,
        channel_code=channel.code,
    )


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# --- writing ----------------------------------------------------------------------------


class _Writer:
    """Writes a checked plan with bulk statements, skipping what is already so."""

    def __init__(self, session: Session, plan: _Plan) -> None:
        self.session = session
        self.plan = plan

    def write(self, report: Progress) -> ImportSummary:
        """Apply the plan; returns what changed."""
        steps = (
            self._products,
            self._variants,
            self._bundles,
            self._prices,
            self._listings,
        )
        counts: list[tuple[int, int]] = []
        for done, step in enumerate(steps, start=1):
            counts.append(step())
            self.session.flush()
            report("writing", done, len(steps))
        (p_new, p_upd), (v_new, v_upd), (bundles, _), (prices, _), (listings, _) = counts
        return ImportSummary(
            rows=self.plan.row_count,
            products_created=p_new,
            products_updated=p_upd,
            variants_created=v_new,
            variants_updated=v_upd,
            bundles_defined=bundles,
            prices_set=prices,
            listings_set=listings,
        )

    def _products(self) -> tuple[int, int]:
        now = utcnow()
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for product in self.plan.products:
            values: dict[str, Any] = {"title": product.title}
            if not isinstance(product.description, Keep):
                values["description"] = product.description
            if not isinstance(product.category_id, Keep):
                values["category_id"] = product.category_id
            if not isinstance(product.attributes, Keep):
                values["attributes"] = product.attributes
            stored = self.plan.existing_products.get(product.handle)
            if stored is None:
                new.append(
                    {"description": "", "category_id": None, "attributes": {}}
                    | values
                    | {"handle": product.handle, "created_at": now}
                )
            elif _differs(stored, values):
                changed.append(values | {"id": stored.id})
        if changed:
            self.session.execute(update(Product), changed)
        if new:
            # RETURNING gives the new ids without a second round of lookups.
            created = self.session.execute(
                insert(Product).returning(Product.id, Product.handle), new
            )
            self.plan.existing_products.update({r.handle: r for r in created})
        return len(new), len(changed)

    def _variants(self) -> tuple[int, int]:
        now = utcnow()
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for product in self.plan.products:
            product_id = self.plan.existing_products[product.handle].id
            for row in product.rows:
                values = _variant_values(row)
                stored = self.plan.existing_variants.get(row.sku)
                if stored is None:
                    new.append(
                        {
                            "gtin": None,
                            "title": "",
                            "attributes": {},
                            "is_bundle": False,
                            "low_stock_threshold": None,
                        }
                        | values
                        | {"sku": row.sku, "product_id": product_id, "created_at": now}
                    )
                elif _differs(stored, values):
                    changed.append(values | {"id": stored.id})
        if changed:
            self.session.execute(update(Variant), changed)
        if new:
            created = self.session.execute(insert(Variant).returning(Variant.id, Variant.sku), new)
            self.plan.existing_variants.update({r.sku: r for r in created})
        return len(new), len(changed)

    def _bundles(self) -> tuple[int, int]:
        variants = self.plan.existing_variants
        wanted = {
            variants[row.sku].id: {variants[p.sku].id: p.units for p in row.bundle}
            for product in self.plan.products
            for row in product.rows
            if isinstance(row.bundle, tuple)
        }
        stored: dict[int, dict[int, int]] = {bundle_id: {} for bundle_id in wanted}
        for chunk in _chunks(sorted(wanted)):
            for part in self.session.execute(
                _columns(BundleComponent).where(BundleComponent.bundle_id.in_(chunk))
            ):
                stored[part.bundle_id][part.component_id] = part.quantity
        redefine = sorted(b for b, parts in wanted.items() if parts != stored[b])
        for chunk in _chunks(redefine):
            self.session.execute(
                delete(BundleComponent).where(BundleComponent.bundle_id.in_(chunk))
            )
        rows = [
            {"bundle_id": b, "component_id": c, "quantity": q}
            for b in redefine
            for c, q in wanted[b].items()
        ]
        if rows:
            self.session.execute(insert(BundleComponent), rows)
        return sum(1 for b in redefine if wanted[b]), 0

    def _prices(self) -> tuple[int, int]:
        variants = self.plan.existing_variants
        wanted = {
            (channel_id, variants[row.sku].id): price
            for product in self.plan.products
            for row in product.rows
            for channel_id, price in row.prices.items()
        }
        stored = self._stored(
            ChannelPrice, ChannelPrice.channel_id, ChannelPrice.variant_id, wanted
        )
        new = [
            {"channel_id": c, "variant_id": v, "amount": m.amount, "currency": m.currency}
            for (c, v), m in wanted.items()
            if (c, v) not in stored
        ]
        changed = [
            {"channel_id": c, "variant_id": v, "amount": m.amount, "currency": m.currency}
            for (c, v), m in wanted.items()
            if (row := stored.get((c, v))) is not None
            and (row.amount != m.amount or row.currency != m.currency)
        ]
        if new:
            self.session.execute(insert(ChannelPrice), new)
        if changed:
            self.session.execute(update(ChannelPrice), changed)
        return len(new) + len(changed), 0

    def _listings(self) -> tuple[int, int]:
        products = self.plan.existing_products
        wanted = {
            (channel_id, products[product.handle].id): listed
            for product in self.plan.products
            for channel_id, listed in product.listed.items()
        }
        stored = self._stored(Listing, Listing.channel_id, Listing.product_id, wanted)
        new = [
            {"channel_id": c, "product_id": p, "listed": listed, "title": None, "description": None}
            for (c, p), listed in wanted.items()
            if (c, p) not in stored
        ]
        # Only the flag comes from the file; channel-specific texts stay as they were.
        changed = [
            {"channel_id": c, "product_id": p, "listed": listed}
            for (c, p), listed in wanted.items()
            if (row := stored.get((c, p))) is not None and row.listed != listed
        ]
        if new:
            self.session.execute(insert(Listing), new)
        if changed:
            self.session.execute(update(Listing), changed)
        return len(new) + len(changed), 0

    def _stored(
        self, table: type[Any], left: Any, right: Any, keys: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], Any]:
        wanted = set(keys)
        lefts = sorted({k[0] for k in wanted})
        found: dict[tuple[int, int], Any] = {}
        # Two plain IN lists over the primary key: PostgreSQL plans a long
        # (a, b) IN ((..), ..) list far more slowly; the few extra rows are dropped here.
        for chunk in _chunks(sorted({k[1] for k in wanted})):
            query = _columns(table).where(left.in_(lefts), right.in_(chunk))
            for row in self.session.execute(query):
                key = (getattr(row, left.key), getattr(row, right.key))
                if key in wanted:
                    found[key] = row
        return found


def _columns(table: type[Any]) -> Select[Any]:
    """Every column of a mapped table, to be read as plain rows."""
    return select(*table.__table__.columns)


def _variant_values(row: _Row) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not isinstance(row.gtin, Keep):
        values["gtin"] = row.gtin
    if not isinstance(row.variant_title, Keep):
        values["title"] = row.variant_title
    if not isinstance(row.attributes, Keep):
        values["attributes"] = row.attributes
    if not isinstance(row.low_stock_threshold, Keep):
        values["low_stock_threshold"] = row.low_stock_threshold
    if not isinstance(row.bundle, Keep):
        values["is_bundle"] = bool(row.bundle)
    return values


def _differs(stored: object, values: dict[str, Any]) -> bool:
    return any(getattr(stored, name) != value for name, value in values.items())
