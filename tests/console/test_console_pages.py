"""The Stock and Orders pages: what each viewer sees, the receive form's answers, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from omnicart.db.engine import Database
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
