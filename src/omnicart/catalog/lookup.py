"""What inventory needs to know of SKUs: ids, and the components of bundles."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, exists, select

from omnicart.catalog.tables import BundleComponent, Listing, Variant
from omnicart.db.cache import CACHE, cache_of
from omnicart.db.engine import Executor
from omnicart.kernel.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class SkuInfo:
    """A SKU's id; for a bundle, its (component id, units per bundle) pairs."""

    variant_id: int
    sku: str
    is_bundle: bool
    low_stock_threshold: int | None
    components: tuple[tuple[int, int], ...] = ()
    listed: bool | None = None  # on the channel asked about (None: none was)


# Built once: constructing a statement costs more than running it on a hot path.
_by_sku = select(Variant.id, Variant.sku, Variant.is_bundle, Variant.low_stock_threshold).where(
    Variant.sku.in_(bindparam("skus", expanding=True))
)
# Stock changes read their SKUs FOR SHARE, so a SKU cannot become a bundle meanwhile.
_by_sku_shared = _by_sku.with_for_update(read=True)
_by_id = select(Variant.id, Variant.sku, Variant.is_bundle, Variant.low_stock_threshold).where(
    Variant.id.in_(bindparam("ids", expanding=True))
)
_components = (
    select(BundleComponent.bundle_id, BundleComponent.component_id, BundleComponent.quantity)
    .where(BundleComponent.bundle_id.in_(bindparam("ids", expanding=True)))
    .order_by(BundleComponent.bundle_id, BundleComponent.component_id)
)


def check_all_found(wanted: list[str], found: Collection[str], *, field: str = "lines") -> None:
    """Raise NotFound naming every SKU of `wanted` that is not in `found`."""
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFound(f"unknown SKU: {', '.join(missing)}", field=field, skus=missing)


def resolve_skus(
    session: Executor,
    skus: list[str],
    *,
    field: str = "lines",
    share_lock: bool = False,
    listed_on_channel: int | None = None,
) -> dict[str, SkuInfo]:
    """Resolve SKUs (unknown ones raise NotFound naming the SKU).

    `share_lock` keeps the variants from changing (becoming bundles) until commit;
    `listed_on_channel` also says, in the same query, whether that channel lists each.
    """
    wanted = sorted(set(skus))
    params: dict[str, Any] = {"skus": wanted}
    if listed_on_channel is None:
        query = _by_sku_shared if share_lock else _by_sku
    else:
        query = _by_sku_listed_shared if share_lock else _by_sku_listed
        params["channel_id"] = listed_on_channel
    rows = session.execute(query, params).all()
    found = {r.sku: r for r in rows}
    check_all_found(wanted, found, field=field)
    bundle_ids = [r.id for r in rows if r.is_bundle]
    parts: dict[int, list[tuple[int, int]]] = {}
    if bundle_ids:
        for comp in session.execute(_components, {"ids": bundle_ids}):
            parts.setdefault(comp.bundle_id, []).append((comp.component_id, comp.quantity))
    return {
        r.sku: SkuInfo(
            variant_id=r.id,
            sku=r.sku,
            is_bundle=r.is_bundle,
            low_stock_threshold=r.low_stock_threshold,
            components=tuple(parts.get(r.id, ())),
            listed=None if listed_on_channel is None else bool(r.listed),
        )
        for r in rows
    }


def describe_variants(session: Executor, variant_ids: list[int]) -> dict[int, SkuInfo]:
    """SKU and low-stock threshold of stock-bearing variants, by id (kept by the process
    per variant until the variants table changes: `db.cache`)."""
    ids = sorted(set(variant_ids))
    cache = cache_of(session.engine) if isinstance(session, Connection) else session.info.get(CACHE)
    if cache is None:
        return _describe(session, ids)
    kept = cache.get_many(
        [("variant", variant_id) for variant_id in ids],
        tables={"variants"},
        load=lambda keys: {
            ("variant", variant_id): info
            for variant_id, info in _describe(session, [k[1] for k in keys]).items()
        },
    )
    return {key[1]: info for key, info in kept.items()}


def _describe(session: Executor, ids: list[int]) -> dict[int, SkuInfo]:
    rows = session.execute(_by_id, {"ids": ids}).all()
    return {
        r.id: SkuInfo(
            variant_id=r.id,
            sku=r.sku,
            is_bundle=r.is_bundle,
            low_stock_threshold=r.low_stock_threshold,
        )
        for r in rows
    }


def listed_on(channel_id: Any) -> ColumnElement[bool]:
    """SQL: the variant's product is listed on the channel (`channel_id` a value or a bind
    parameter). The one definition of "this channel may sell this SKU": a listing row
    that says listed; a product never listed there, or unlisted, is not for sale there.
    A bundle is sold under its own product's listing, whatever its components'."""
    return exists().where(
        Listing.channel_id == channel_id,
        Listing.product_id == Variant.product_id,
        Listing.listed.is_(True),
    )


_by_sku_listed = _by_sku.add_columns(listed_on(bindparam("channel_id")).label("listed"))
_by_sku_listed_shared = _by_sku_listed.with_for_update(read=True)
_unlisted = select(Variant.sku).where(
    Variant.sku.in_(bindparam("skus", expanding=True)), ~listed_on(bindparam("channel_id"))
)


def unlisted_skus(session: Executor, *, channel_id: int, skus: Sequence[str]) -> list[str]:
    """Those of `skus` (known SKUs) the channel does not list, in the order given."""
    wanted = sorted(set(skus))
    if not wanted:
        return []
    found = set(session.scalars(_unlisted, {"skus": wanted, "channel_id": channel_id}))
    return [sku for sku in dict.fromkeys(skus) if sku in found]


def check_listed(
    session: Executor, *, channel_id: int, channel_code: str, skus: Sequence[str]
) -> None:
    """Refuse to sell on a channel what it does not list: a Conflict naming the first
    unlisted line (`lines.<i>.sku`, `skus` as given, in line order) and every such SKU."""
    refuse_unlisted(channel_code, skus, unlisted_skus(session, channel_id=channel_id, skus=skus))


def refuse_unlisted(channel_code: str, skus: Sequence[str], unlisted: Sequence[str]) -> None:
    """The refusal `check_listed` makes, given the unlisted ones of `skus`."""
    if unlisted:
        raise Conflict(
            f"not listed on channel {channel_code!r}, so it cannot be sold there: "
            f"{', '.join(unlisted)}",
            field=f"lines.{list(skus).index(unlisted[0])}.sku",
            skus=list(unlisted),
        )
