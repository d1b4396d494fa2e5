"""A vendor without webhooks (a Poller, as Amazon SP-API is): its orders are polled into
the inbox and processed like webhook orders; the cursor is kept in the database, moves
only once the orders it returned are stored, and a failed poll backs off as asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import httpx
import pytest

from omnicart.connectors import registry, service
from omnicart.connectors.base import (
    Connection,
    PriceFigure,
    StockFigure,
    VendorItem,
    VendorLine,
    VendorOrder,
)
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.errors import VendorUnavailable
from omnicart.connectors.tables import PollState
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.orders.service import get_order
from tests.connectors_support import counts, process, seed


def _order(external_id: str, quantity: int, minute: int) -> VendorOrder:
    line = VendorLine(None, None, "WOO-93", None, "Mug", quantity, Decimal("5.00"))
    return VendorOrder(
        external_id=external_id,
        currency="EUR",
        lines=(line,),
        updated_at=datetime(2026, 1, 1, 10, minute, tzinfo=UTC),
        total=Decimal("5.00") * quantity,
        payments=(("marketplace", Decimal("5.00") * quantity),),
    )


class FakePoller:
    """Pages of orders by cursor, as the test sets them; records the cursors asked for."""

    vendor: ClassVar[str] = "fakepoll"
    pages: ClassVar[dict[str | None, tuple[list[VendorOrder], str | None]]] = {}
    asked: ClassVar[list[str | None]] = []
    failure: ClassVar[VendorUnavailable | None] = None

    def poll(
        self, connection: Connection, http: httpx.Client, cursor: str | None
    ) -> tuple[list[VendorOrder], str | None]:
        FakePoller.asked.append(cursor)
        if FakePoller.failure is not None:
            raise FakePoller.failure
        return FakePoller.pages.get(cursor, ([], cursor))

    def push_stock(
        self, connection: Connection, http: httpx.Client, figures: Sequence[StockFigure]
    ) -> None:
        """Takes every figure."""

    def push_prices(
        self, connection: Connection, http: httpx.Client, figures: Sequence[PriceFigure]
    ) -> None:
        """Takes every price."""

    def read_stock(
        self, connection: Connection, http: httpx.Client, items: Sequence[VendorItem]
    ) -> dict[str, int]:
        return {}

    def catalog(self, connection: Connection, http: httpx.Client) -> list[VendorItem]:
        return []


@pytest.fixture
def poller(monkeypatch: pytest.MonkeyPatch) -> type[FakePoller]:
    vendor = registry.Vendor(
        "fakepoll", "Fake marketplace", f"{__name__}:FakePoller", url="http://127.0.0.1:9",
        credentials=("token",),
    )  # fmt: skip
    monkeypatch.setitem(registry.VENDORS, "fakepoll", vendor)
    FakePoller.pages = {}
    FakePoller.asked = []
    FakePoller.failure = None
    return FakePoller


def _connector(db: Database) -> int:
    merchant = seed(db, channels={"market": "EUR"}, skus=("WOO-93",))
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=merchant.channels["market"], vendor="fakepoll",
            credentials={"token": "t"}, options={},
        ),
    )  # fmt: skip
    assert view.webhook_path is None
    return view.id


def _cursor(db: Database, connector: int) -> PollState:
    with db.reading() as session:
        return session.get_one(PollState, connector)


def test_polled_orders_are_processed_and_the_cursor_kept(
    sqlite_db: Database, poller: type[FakePoller]
) -> None:
    connector = _connector(sqlite_db)
    first, second = _order("A-1", 1, 0), _order("A-2", 2, 1)
    poller.pages = {None: ([first], "c1"), "c1": ([second, first], "c2")}
    http = vendor_http()
    assert service.poll_due(sqlite_db, http=http) == 1
    assert _cursor(sqlite_db, connector).cursor == "c1"
    # A page with orders is followed at once; the repeated version of A-1 is stored once.
    assert service.poll_due(sqlite_db, http=http) == 1
    assert service.poll_due(sqlite_db, http=http) == 0
    state = _cursor(sqlite_db, connector)
    assert (state.cursor, state.attempts) == ("c2", 0)
    assert state.next_poll_at > utcnow() + timedelta(seconds=30)  # idle: the next poll waits
    assert poller.asked == [None, "c1", "c2"]
    process(sqlite_db)
    assert counts(sqlite_db) == (2, 2)
    # Another process (a restart) reads the cursor from the database.
    other = Database.from_url(str(sqlite_db.engine.url))
    try:
        with other.transaction() as session:
            session.get_one(PollState, connector).next_poll_at = utcnow()
        service.poll_due(other, http=http)
    finally:
        other.dispose()
    assert poller.asked[-1] == "c2"


def test_a_newer_version_updates_the_order(sqlite_db: Database, poller: type[FakePoller]) -> None:
    _connector(sqlite_db)
    poller.pages = {None: ([_order("A-1", 1, 0)], "c1"), "c1": ([_order("A-1", 3, 5)], "c2")}
    while service.poll_due(sqlite_db, http=vendor_http()):
        pass
    process(sqlite_db)
    assert counts(sqlite_db) == (2, 1)
    order = get_order(sqlite_db, order_id=1)
    assert [(line.sku, line.quantity) for line in order.lines] == [("WOO-93", 3)]


def test_a_failed_poll_waits_as_asked_and_keeps_the_cursor(
    sqlite_db: Database, poller: type[FakePoller]
) -> None:
    connector = _connector(sqlite_db)
    poller.failure = VendorUnavailable("429 Too Many Requests", retry_after=30)
    assert service.poll_due(sqlite_db, http=vendor_http()) == 0
    state = _cursor(sqlite_db, connector)
    assert (state.cursor, state.attempts, state.last_error) == (
        None,
        1,
        "429 Too Many Requests",
    )
    assert state.next_poll_at >= utcnow() + timedelta(seconds=29)
    assert service.poll_due(sqlite_db, http=vendor_http()) == 0
    assert poller.asked == [None]  # not asked again before its time


def test_the_process_client_is_shared_and_a_closed_one_is_replaced() -> None:
    shared = vendor_http()
    assert vendor_http() is shared
    shared.close()  # a careless caller (`with vendor_http() as http:` did this in the demo)
    fresh = vendor_http()
    assert fresh is not shared
    assert not fresh.is_closed
