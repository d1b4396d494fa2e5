"""The Stock and Orders pages: what each viewer sees, the receive form's answers, CSV,
transfers in transit and the reconciliation of stock with the ledger."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from babel.dates import format_date, format_time
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from omnicart.db.engine import Database
from omnicart.inventory import service as inventory
from omnicart.inventory.tables import Movement, StockLevel
from tests.console.support import EMAILS, World, csrf_of, sign_in


@pytest.fixture(scope="module")
def admin(console_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["admin"])
        yield client


@pytest.fixture(scope="module")
def krk_staff(console_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["own_staff"])
        yield client


@pytest.fixture(scope="module")
def gdn_staff(console_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(console_app) as client:
        sign_in(client, EMAILS["other_staff"])
        yield client


def _csv(client: TestClient, url: str) -> list[list[str]]:
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(answer.text)))


def _ledger(db: Database) -> list[tuple[int, int, int]]:
    with db.reading() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(StockLevel.variant_id, StockLevel.location_id, StockLevel.on_hand).order_by(
                    StockLevel.variant_id, StockLevel.location_id
                )
            )
        ]


def test_stock_tables_as_csv(admin: TestClient, world_db: tuple[Database, World]) -> None:
    _, world = world_db
    krk = world.shop.krakow
    # Kraków holds A: 4 received, 1 sold at the till; B: none. Web and pos serve Kraków.
    assert _csv(admin, f"/console/stock/levels.csv?location={krk}") == [
        ["sku", "location", "on_hand", "reserved", "allocated", "available", "threshold", "state"],
        ["A", "krk", "3", "0", "0", "3", "5", "low"],
    ]
    assert _csv(admin, f"/console/stock/atp.csv?location={krk}") == [
        ["sku", "web", "pos"],
        ["A", "3", "3"],
    ]
    assert _csv(admin, f"/console/stock/short.csv?location={krk}")[1][-1] == "low"
    movements = _csv(admin, f"/console/stock/movements.csv?location={krk}")
    # Newest first: the till sale allocated and shipped the unit it sold.
    assert [row[1:7] for row in movements[1:]] == [
        ["shipment", "A", "krk", "-1", "0", f"sold at the till, order {world.own_order}"],
        ["allocation", "A", "krk", "0", "0", f"order {world.own_order}"],
        ["receipt", "A", "krk", "4", "0", ""],
    ]


def test_store_staff_see_their_store_only(
    krk_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    _, world = world_db
    levels = _csv(krk_staff, "/console/stock/levels.csv")
    assert {row[1] for row in levels[1:]} == {"krk"}
    orders = _csv(krk_staff, "/console/orders.csv")
    assert [row[0] for row in orders[1:]] == [str(world.own_order)]
    page = krk_staff.get("/console/stock").text
    assert "gdn" not in page
    assert "wh —" not in page


def test_orders_filters(admin: TestClient, world_db: tuple[Database, World]) -> None:
    _, world = world_db
    everything = _csv(admin, "/console/orders.csv")
    assert [row[0] for row in everything[1:]] == [
        str(world.shipped_order),
        str(world.other_order),
        str(world.own_order),
    ]
    by_channel = _csv(admin, f"/console/orders.csv?channel={world.shop.market}&status=&location=")
    assert [row[0] for row in by_channel[1:]] == [str(world.shipped_order)]
    by_status = _csv(admin, "/console/orders.csv?status=completed")
    assert [row[0] for row in by_status[1:]] == [str(world.other_order), str(world.own_order)]
    by_store = _csv(admin, f"/console/orders.csv?location={world.shop.gdansk}")
    assert [row[0] for row in by_store[1:]] == [str(world.other_order)]
    assert admin.get("/console/orders?status=lost").status_code == 422


def test_an_order_shows_its_status_history(
    admin: TestClient, world_db: tuple[Database, World]
) -> None:
    _, world = world_db
    page = admin.get(f"/console/orders/{world.own_order}")
    assert page.status_code == 200
    assert "Status history" in page.text
    history = _csv(admin, f"/console/orders/{world.own_order}/history.csv")
    assert history[0] == ["at", "from_status", "to_status", "actor", "reason"]
    assert history[-1][2] == "completed"
    lines = _csv(admin, f"/console/orders/{world.own_order}/lines.csv")
    assert lines[1][:4] == ["1", "A", "", "1"]  # a till sale's line has no title
    assert admin.get("/console/orders/999999").status_code == 404


BAD_RECEIPTS = [
    ({"sku": "", "quantity": "2"}, "sku", 422),
    ({"sku": "A", "quantity": "abc"}, "quantity", 422),
    ({"sku": "A", "quantity": "0"}, "quantity", 422),
    ({"sku": "A", "quantity": "1.5"}, "quantity", 422),
    ({"sku": "A", "quantity": "1000001"}, "quantity", 422),
    ({"sku": "NO-SUCH-SKU", "quantity": "2"}, "sku", 404),
    ({"sku": "A", "quantity": "2", "reason": "x" * 301}, "reason", 422),
]


@pytest.mark.parametrize(("fields", "field", "status"), BAD_RECEIPTS)
def test_a_bad_receipt_is_refused_at_its_field_and_changes_nothing(
    fields: dict[str, str],
    field: str,
    status: int,
    admin: TestClient,
    world_db: tuple[Database, World],
) -> None:
    db, world = world_db
    before = _ledger(db)
    csrf = csrf_of(admin.get("/console/stock").text)
    data = {"csrf_token": csrf, "location_id": str(world.shop.krakow), **fields}
    answer = admin.post("/console/stock/receipts", data=data, follow_redirects=False)
    assert answer.status_code == status
    assert f'id="{field}-error"' in answer.text
    assert f'aria-describedby="{field}-error"' in answer.text
    assert _ledger(db) == before


def test_a_receipt_is_recorded_by_the_user(
    krk_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    csrf = csrf_of(krk_staff.get("/console/stock").text)
    data = {
        "csrf_token": csrf,
        "location_id": str(world.shop.krakow),
        "sku": "B",
        "quantity": "7",
        "reason": "delivery 42",
    }
    answer = krk_staff.post("/console/stock/receipts", data=data)
    assert answer.status_code == 200
    assert "Received B: 7 units on hand now." in answer.text
    with db.reading() as session:
        last = session.scalars(select(Movement).order_by(Movement.id.desc())).first()
    assert last is not None
    assert (last.kind, last.delta_on_hand, last.reason) == ("receipt", 7, "delivery 42")
    assert last.actor.startswith("user:")
    assert last.actor.endswith(EMAILS["own_staff"])


# --- in transit and reconciliation -----------------------------------------------------

TRANSIT_HEADER = ["transfer", "from", "to", "sku", "units", "sent_at"]
MISMATCH_HEADER = ["sku", "location", "figure", "stock", "expected", "compared_with"]
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)


def _table(page: str, table: str) -> list[list[str]] | None:
    """The body rows of one of the page's tables as their cells' text; None: no such table."""
    section = re.search(rf'<section aria-labelledby="{table}-title".*?</section>', page, re.S)
    if section is None:
        return None
    body = re.search(r"<tbody>(.*?)</tbody>", section[0], re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body[1], re.S) if body else []
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in _CELL.findall(r)] for r in rows
    ]


def _when(moment: datetime) -> str:
    """How the English page writes a moment."""
    at = moment.astimezone(UTC)
    day = format_date(at, "medium", locale="en")
    return f"{day}, {format_time(at, 'short', tzinfo=UTC, locale='en')} UTC"


def test_a_transfer_is_in_transit_for_both_its_stores_until_received(
    admin: TestClient,
    krk_staff: TestClient,
    gdn_staff: TestClient,
    world_db: tuple[Database, World],
) -> None:
    db, world = world_db
    shop = world.shop
    assert _csv(admin, "/console/stock/transit.csv") == [TRANSIT_HEADER]
    sent = inventory.create_transfer(
        db, from_location_id=shop.warehouse, to_location_id=shop.gdansk, lines=[("A", 2)]
    )
    try:
        at = sent.created_at.isoformat(timespec="seconds")
        row = [str(sent.id), "wh", "gdn", "A", "2"]
        # The owner everywhere and at either end; Gdańsk's staff at their store (the receiving end).
        for client, url in (
            (admin, "/console/stock"),
            (admin, f"/console/stock?location={shop.warehouse}"),
            (admin, f"/console/stock?location={shop.gdansk}&sku=A"),
            (gdn_staff, "/console/stock"),
        ):
            query = url.partition("?")[2]
            assert _csv(client, f"/console/stock/transit.csv?{query}") == [
                TRANSIT_HEADER,
                [*row, at],
            ], url
            assert _table(client.get(url).text, "transit") == [
                [f"#{sent.id}", *row[1:], _when(sent.created_at)]
            ], url
        # Not at Kraków, nor for another SKU, nor to Kraków's staff.
        for client, url in (
            (admin, f"/console/stock?location={shop.krakow}"),
            (admin, "/console/stock?sku=B"),
            (krk_staff, "/console/stock"),
        ):
            query = url.partition("?")[2]
            assert _csv(client, f"/console/stock/transit.csv?{query}") == [TRANSIT_HEADER]
            page = client.get(url).text
            assert _table(page, "transit") == []
            assert "Nothing is on its way between locations." in page
    finally:
        inventory.receive_transfer(db, transfer_id=sent.id)
    assert _csv(admin, "/console/stock/transit.csv") == [TRANSIT_HEADER]
    assert _csv(gdn_staff, "/console/stock/transit.csv") == [TRANSIT_HEADER]
    assert "Nothing is on its way between locations." in admin.get("/console/stock").text


def _stock_rows(db: Database, location: int | None = None) -> int:
    with db.reading() as session:
        stmt = select(func.count()).select_from(StockLevel)
        if location is not None:
            stmt = stmt.where(StockLevel.location_id == location)
        return int(session.scalar(stmt) or 0)


def test_the_reconciliation_agrees_and_then_names_a_corrupted_row(
    admin: TestClient, krk_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    shop = world.shop
    everywhere = _stock_rows(db)
    page = admin.get("/console/stock").text
    assert f"Stock and ledger agree ({everywhere} rows checked)." in page
    assert _table(page, "reconciliation") == []
    assert _csv(admin, "/console/stock/reconciliation.csv") == [MISMATCH_HEADER]
    # A store's staff see no reconciliation and may not download it.
    assert _table(krk_staff.get("/console/stock").text, "reconciliation") is None
    assert krk_staff.get("/console/stock/reconciliation.csv").status_code == 403

    variant = shop.variants["A"]
    key = (StockLevel.variant_id == variant) & (StockLevel.location_id == shop.gdansk)
    with db.reading() as session:
        ledger = int(
            session.scalar(
                select(func.sum(Movement.delta_on_hand)).where(
                    Movement.variant_id == variant, Movement.location_id == shop.gdansk
                )
            )
            or 0
        )
    with db.transaction() as session:
        session.execute(update(StockLevel).where(key).values(on_hand=StockLevel.on_hand + 5))
    try:
        assert _csv(admin, "/console/stock/reconciliation.csv") == [
            MISMATCH_HEADER,
            ["A", "gdn", "on_hand", str(ledger + 5), str(ledger), "ledger"],
        ]
        assert _csv(admin, f"/console/stock/reconciliation.csv?location={shop.gdansk}")[1:] == [
            ["A", "gdn", "on_hand", str(ledger + 5), str(ledger), "ledger"]
        ]
        page = admin.get("/console/stock").text
        assert "1 figure disagrees with the ledger or the holds." in page
        assert _table(page, "reconciliation") == [
            ["A", "gdn", "On hand", str(ledger + 5), str(ledger), "Ledger movements"]
        ]
        # Kraków's rows still agree; the row count is Kraków's.
        krk = admin.get(f"/console/stock?location={shop.krakow}").text
        assert f"Stock and ledger agree ({_stock_rows(db, shop.krakow)} rows checked)." in krk
        assert _csv(admin, f"/console/stock/reconciliation.csv?location={shop.krakow}") == [
            MISMATCH_HEADER
        ]
        assert _csv(admin, "/console/stock/reconciliation.csv?sku=B") == [MISMATCH_HEADER]
    finally:
        with db.transaction() as session:
            session.execute(update(StockLevel).where(key).values(on_hand=StockLevel.on_hand - 5))
    assert (
        f"Stock and ledger agree ({everywhere} rows checked)." in admin.get("/console/stock").text
    )
