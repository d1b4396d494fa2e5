"""Rows a process keeps between requests (`db.cache.ProcessCache`) are dropped the moment
they change: at once when this process wrote them, within moments (PostgreSQL's notice)
when another connection did; nothing is kept while the listener is down, and a value read
while a change arrived is not kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text, update

from omnicart.app import create_app
from omnicart.auth.service import create_api_key
from omnicart.catalog.lookup import describe_variants
from omnicart.channels.tables import Channel
from omnicart.db.cache import _CHANGES, WATCHED, ProcessCache
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict
from omnicart.orders import placement, views
from omnicart.orders.tables import Order
from tests.conftest import PG_URL
from tests.orders_support import Shop, seed_shop

SECRET = "cache-test-admin-secret-0123456789"


def _psycopg_url() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _other_connection(schema: str, sql: str) -> None:
    """`sql` committed by a connection outside this process's engine."""
    with psycopg.connect(_psycopg_url(), autocommit=True, options=f"-csearch_path={schema}") as c:
        c.execute(sql)


@pytest.fixture
def live(pg_db: Database) -> Iterator[Database]:
    pg_db.cache.start()
    assert pg_db.cache.wait_live(), "the change listener did not start"
    yield pg_db
    pg_db.cache.stop()


def _setup(db: Database, channel_id: int) -> placement.Setup:
    with db.transaction() as session:
        return placement.load_setup(session, channel_id)


def _reads(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


@pytest.mark.postgres
def test_a_kept_setup_is_read_once_and_dropped_when_this_process_changes_the_channel(
    live: Database,
) -> None:
    shop = seed_shop(live)
    seen = _reads(live)
    assert _setup(live, shop.market).channel.active
    first = len(seen)
    assert first >= 1
    _setup(live, shop.market)
    assert len(seen) == first  # kept: no statement
    with live.transaction() as session:
        session.execute(update(Channel).where(Channel.id == shop.market).values(active=False))
    # Cleared on this process's commit, not when the notice arrives.
    with pytest.raises(Conflict, match="not active"), live.transaction() as session:
        placement.load_setup(session, shop.market)


@pytest.mark.postgres
def test_another_process_change_reaches_the_cache_through_postgresql(
    live: Database, pg_schema: str
) -> None:
    shop = seed_shop(live)
    assert _setup(live, shop.market).channel.code == "market"
    _other_connection(pg_schema, f"UPDATE channels SET code = 'renamed' WHERE id = {shop.market}")
    assert _eventually(lambda: _setup(live, shop.market).channel.code == "renamed")


@pytest.mark.postgres
def test_a_revoked_key_is_refused_once_the_notice_arrives(live: Database, pg_schema: str) -> None:
    with live.transaction() as session:
        issued = create_api_key(session, name="kept", role="admin", secret=SECRET)
    app = create_app(db=live, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {SECRET}"}) as client:
        assert client.get("/v1/channels").status_code == 200
        assert client.get("/v1/channels").status_code == 200  # from the kept key
        _other_connection(
            pg_schema, f"UPDATE api_keys SET revoked_at = now() WHERE id = {issued.id}"
        )
        assert _eventually(lambda: client.get("/v1/channels").status_code == 401)


@pytest.mark.postgres
def test_nothing_is_kept_while_the_listener_is_down(pg_db: Database) -> None:
    shop = seed_shop(pg_db)
    seen = _reads(pg_db)
    _setup(pg_db, shop.market)
    first = len(seen)
    _setup(pg_db, shop.market)
    assert len(seen) == 2 * first
    assert not pg_db.cache.live


@pytest.mark.postgres
def test_a_broken_listener_keeps_nothing_until_it_listens_again(
    live: Database, pg_schema: str
) -> None:
    shop = seed_shop(live)
    _setup(live, shop.market)
    broken = live.cache.listener_pid
    _other_connection(pg_schema, f"SELECT pg_terminate_backend({broken})")
    assert _eventually(lambda: not live.cache.live)
    seen = _reads(live)
    _setup(live, shop.market)
    assert seen  # read again: nothing was kept
    assert _eventually(lambda: live.cache.live and live.cache.listener_pid != broken)
    _setup(live, shop.market)
    count = len(seen)
    _setup(live, shop.market)
    assert len(seen) == count  # kept again


@pytest.mark.postgres
def test_a_value_read_while_a_change_arrived_is_used_but_not_kept(live: Database) -> None:
    loads = []

    def load() -> int:
        loads.append(1)
        live.cache.changed({"channels"})  # a notice lands mid-read
        return len(loads)

    assert live.cache.get("k", tables={"channels"}, load=load) == 1
    assert live.cache.get("k", tables={"channels"}, load=load) == 2
    assert live.cache.get("k", tables={"channels"}, load=lambda: 99) == 99
    assert live.cache.get("k", tables={"channels"}, load=lambda: 100) == 99  # kept now


@pytest.mark.postgres
def test_every_watched_table_has_the_notice_trigger(pg_db: Database) -> None:
    with pg_db.transaction() as session:
        triggered = set(
            session.execute(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname = 'omnicart_changes' AND c.relnamespace = "
                    "current_schema()::regnamespace"
                )
            ).scalars()
        )
    assert triggered == WATCHED


def test_sqlite_keeps_nothing(sqlite_db: Database) -> None:
    shop: Shop = seed_shop(sqlite_db)
    sqlite_db.cache.start()
    assert not sqlite_db.cache.live
    seen = _reads(sqlite_db)
    _setup(sqlite_db, shop.market)
    _setup(sqlite_db, shop.market)
    assert seen.count(seen[0]) >= 2


def test_an_unwatched_table_cannot_be_named(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="not watched"):
        ProcessCache(sqlite_db.engine).get("k", tables={"orders"}, load=lambda: 1)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE channels SET active=false WHERE id = 1", ["channels"]),
        ('INSERT INTO "s1".api_keys (id) VALUES (1)', ["api_keys"]),
        ("delete from channel_locations where channel_id = 3", ["channel_locations"]),
        ("TRUNCATE TABLE locations", ["locations"]),
        ("SELECT * FROM channels FOR UPDATE", []),
        ("WITH x AS (SELECT id FROM channels) UPDATE orders SET channel_id = 1", []),
        ("INSERT INTO orders (channel_id, locations) VALUES (1, 2)", []),
        ("UPDATE pickup_locations SET x = 1", []),
    ],
)
def test_the_statements_that_change_a_watched_table(statement: str, named: list[str]) -> None:
    assert _CHANGES.findall(statement) == named


@pytest.mark.postgres
def test_an_order_views_channel_code_is_kept_until_the_channel_changes(live: Database) -> None:
    shop = seed_shop(live)
    order = Order(channel_id=shop.market)
    seen = _reads(live)

    def code() -> str:
        with live.transaction() as session:
            return views._channel_code(session, order, None)

    assert code() == "market"
    reads = len(seen)
    assert code() == "market"
    assert len(seen) == reads
    with live.transaction() as session:
        session.execute(update(Channel).where(Channel.id == shop.market).values(code="allegro"))
    assert code() == "allegro"


def _prices(db: Database, channel_id: int, skus: list[str]) -> placement.PriceList:
    with db.transaction() as session:
        return placement.price_list(session, channel_id, skus)


@pytest.mark.postgres
def test_a_channels_prices_are_kept_per_sku_until_a_price_or_listing_changes(
    live: Database, pg_schema: str
) -> None:
    shop = seed_shop(live)
    seen = _reads(live)
    first = _prices(live, shop.web, ["A", "B"])
    assert first.unlisted == []
    assert set(first.prices) == {"A", "B"}
    read = len(seen)
    assert _prices(live, shop.web, ["B", "A"]) == placement.PriceList(
        {"B": first.prices["B"], "A": first.prices["A"]}, []
    )
    assert len(seen) == read  # both kept: no statement
    _other_connection(
        pg_schema,
        f"UPDATE channel_prices SET amount = 99.99 WHERE channel_id = {shop.web} "
        f"AND variant_id = {shop.variants['A']}",
    )
    assert _eventually(lambda: str(_prices(live, shop.web, ["A"]).prices["A"]) == "99.99")
    _other_connection(
        pg_schema,
        f"UPDATE listings SET listed = false WHERE channel_id = {shop.web}",
    )
    assert _eventually(lambda: _prices(live, shop.web, ["A", "B"]).unlisted == ["A", "B"])
    # A SKU kept with others is read alone when it is the only one not kept.
    _prices(live, shop.web, ["A"])
    before = len(seen)
    assert _prices(live, shop.web, ["A", "NOPE"]).prices.keys() == {"A"}
    assert len(seen) == before + 1


@pytest.mark.postgres
def test_variants_are_described_once_until_the_variants_table_changes(
    live: Database, pg_schema: str
) -> None:
    shop = seed_shop(live)
    seen = _reads(live)
    ids = [shop.variants["A"], shop.variants["B"]]
    with live.transaction() as session:
        first = describe_variants(session, ids)
    assert sorted(info.sku for info in first.values()) == ["A", "B"]
    read = len(seen)
    with live.transaction() as session:
        assert describe_variants(session.connection(), ids) == first
    assert len(seen) == read  # kept: no statement
    _other_connection(pg_schema, f"UPDATE variants SET low_stock_threshold = 7 WHERE id = {ids[0]}")

    def threshold() -> int | None:
        with live.transaction() as session:
            return describe_variants(session, ids)[ids[0]].low_stock_threshold

    assert _eventually(lambda: threshold() == 7)
