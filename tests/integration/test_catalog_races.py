"""Catalog writes under concurrency on PostgreSQL, and rules that guard stock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from omnicart.auth.service import Principal
from omnicart.catalog import service
from omnicart.catalog.model import BundlePart, VariantDraft
from omnicart.catalog.tables import BundleComponent, Category, Listing, Product, Variant
from omnicart.db.engine import Database
from omnicart.inventory import service as inventory
from omnicart.kernel.errors import Conflict, Forbidden
from tests.support import add_channel, add_location, add_variant

T = TypeVar("T")
WORKERS = 8


def _race(db: Database, work: Callable[[int], T]) -> list[T | Exception]:
    """Run `work(i)` in WORKERS threads, each in its own transaction, released together."""
    start = threading.Barrier(WORKERS)

    def one(i: int) -> T | Exception:
        start.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(WORKERS)))


def _count(db: Database, table: type[object]) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


@pytest.mark.postgres
def test_concurrent_creates_of_one_handle_give_one_product_and_conflicts(pg_db: Database) -> None:
    def create(i: int) -> int:
        with pg_db.transaction() as session:
            view = service.create_product(
                session, handle="tee", title="Tee", variants=[VariantDraft(sku=f"TEE-{i}")]
            )
        return view.id

    results = _race(pg_db, create)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert len(conflicts) == WORKERS - 1
    assert {(c.field, c.detail) for c in conflicts} == {
        ("handle", "a product with handle 'tee' already exists")
    }
    assert (_count(pg_db, Product), _count(pg_db, Variant)) == (1, 1)


@pytest.mark.postgres
def test_concurrent_creates_of_one_sku_give_conflicts_on_sku(pg_db: Database) -> None:
    def create(i: int) -> int:
        with pg_db.transaction() as session:
            view = service.create_product(
                session, handle=f"tee-{i}", title="Tee", variants=[VariantDraft(sku="TEE")]
            )
        return view.id

    results = _race(pg_db, create)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == WORKERS - 1
    assert {c.field for c in conflicts} == {"sku"}
    assert (_count(pg_db, Product), _count(pg_db, Variant)) == (1, 1)


@pytest.mark.postgres
def test_concurrent_creates_of_one_category_slug(pg_db: Database) -> None:
    def create(_: int) -> int:
        with pg_db.transaction() as session:
            return service.create_category(session, slug="tees", name="Tees").id

    results = _race(pg_db, create)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == WORKERS - 1
    assert {(c.field, c.detail) for c in conflicts} == {("slug", "category 'tees' already exists")}
    assert _count(pg_db, Category) == 1


@pytest.mark.postgres
def test_concurrent_first_listings_are_an_upsert(pg_db: Database) -> None:
    with pg_db.transaction() as session:
        web = add_channel(session, "web")
        add_variant(session, "TEE")
        product_id = session.scalar(select(Product.id))
    assert product_id is not None

    def list_it(i: int) -> bool:
        with pg_db.transaction() as session:
            view = service.set_listing(
                session, channel_id=web, product_id=product_id, listed=i % 2 == 0
            )
        return view.listed

    results = _race(pg_db, list_it)
    assert all(isinstance(r, bool) for r in results), results
    assert _count(pg_db, Listing) == 1


def test_channel_keys_change_only_their_own_channel(db: Database) -> None:
    with db.transaction() as session:
        web = add_channel(session, "web")
        jp = add_channel(session, "jp", currency="JPY")
        add_variant(session, "TEE", listed=False)
        product_id = session.scalar(select(Product.id))
    assert product_id is not None
    as_web = Principal(
        key_id=1, name="web", role="channel", scopes=frozenset({"catalog:write"}), channel_id=web
    )
    with pytest.raises(Forbidden) as caught, db.transaction() as session:
        service.set_listing(
            session, channel_id=jp, product_id=product_id, listed=True, principal=as_web
        )
    assert caught.value.field == "channel"
    with pytest.raises(Forbidden), db.transaction() as session:
        service.set_channel_price(
            session, channel_id=jp, sku="TEE", amount="100", currency=None, principal=as_web
        )
    assert _count(db, Listing) == 0
    with db.transaction() as session:
        view = service.set_channel_price(
            session, channel_id=web, sku="TEE", amount="9.99", currency=None, principal=as_web
        )
    assert str(view.price) == "9.99 EUR"


def test_a_sku_holding_stock_cannot_become_a_bundle(db: Database) -> None:
    with db.transaction() as session:
        wro = add_location(session, "wro")
        add_variant(session, "KIT")
        add_variant(session, "PART")
    inventory.receive_stock(db, location_id=wro, lines=[("KIT", 2)], reason="delivery")
    with pytest.raises(Conflict) as caught, db.transaction() as session:
        service.define_bundle(session, sku="KIT", components=[BundlePart("PART", 1)])
    assert caught.value.field == "sku"
    assert caught.value.detail == (
        "SKU 'KIT' holds stock; move or write off its units before making it a bundle"
    )
    assert _count(db, BundleComponent) == 0
    with db.reading() as session:
        assert session.scalar(select(Variant.is_bundle).where(Variant.sku == "KIT")) is False
    with db.transaction() as session:
        view = service.define_bundle(session, sku="PART", components=[BundlePart("KIT", 1)])
    assert view.components == (BundlePart("KIT", 1),)
