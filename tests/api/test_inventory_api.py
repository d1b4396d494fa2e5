"""/v1 inventory routes over HTTP: reservations, availability, stock operations, reports,
and what channel and staff keys may do."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.auth.service import create_api_key
from omnicart.db.engine import Database
from omnicart.inventory import service
from omnicart.inventory.tables import Movement, Reservation, StockCount
from tests.support import add_channel, add_location, add_variant

PROBLEM = "application/problem+json"


@pytest.fixture
def shop(client: TestClient, sqlite_db: Database) -> dict[str, int]:
    with sqlite_db.transaction() as s:
        wh = add_location(s, "wh", priority=1)
        store = add_location(s, "store", kind="store", priority=2, pickup=True)
        a = add_variant(s, "A")
        b = add_variant(s, "B", low_stock_threshold=2)
        add_variant(s, "KIT", components={a: 2, b: 1})
        web = add_channel(s, "web", ship=(wh, store), pickup=(store,))
        allegro = add_channel(
            s,
            "allegro",
            kind="marketplace",
            currency="PLN",
            percent_shown=80,
            units_held_back=2,
            ship=(wh,),
        )
    service.receive_stock(sqlite_db, location_id=wh, lines=[("A", 10), ("B", 3)])
    service.receive_stock(sqlite_db, location_id=store, lines=[("A", 4)])
    return {"wh": wh, "store": store, "web": web, "allegro": allegro, "a": a, "b": b}


def _key(db: Database, role: str, **bound: int) -> dict[str, str]:
    with db.transaction() as session:
        secret = create_api_key(session, name=f"{role}-key", role=role, **bound).secret
    return {"Authorization": f"Bearer {secret}"}


def _rows(db: Database) -> tuple[int, int, int]:
    with db.reading() as s:
        return (
            s.scalar(select(func.count()).select_from(Movement)) or 0,
            s.scalar(select(func.count()).select_from(Reservation)) or 0,
            s.scalar(select(func.count()).select_from(StockCount)) or 0,
        )


def _problem(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body.get("field") == field
    return body


def _reserve(client: TestClient, channel_id: int, key: str = "cart-1", **extra: Any) -> Any:
    lines = extra.pop("lines", [{"sku": "KIT", "quantity": 2}])
    return client.post(
        "/v1/reservations",
        json={"channel_id": channel_id, "lines": lines, "idempotency_key": key, **extra},
    )


# ---------------------------------------------------------------- reservations


def test_reserve_then_replay_returns_the_same_reservation(
    client: TestClient, shop: dict[str, int]
) -> None:
    first = _reserve(client, shop["web"], reference="order-7")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "active"
    assert body["reference"] == "order-7"
    assert body["closed_at"] is None
    assert body["lines"] == [
        {
            "sku": "A",
            "requested_sku": "KIT",
            "location_id": shop["wh"],
            "quantity": 4,
            "shipped": 0,
        },
        {
            "sku": "B",
            "requested_sku": "KIT",
            "location_id": shop["wh"],
            "quantity": 2,
            "shipped": 0,
        },
    ]
    again = _reserve(client, shop["web"], reference="order-7")
    assert again.status_code == 200
    assert again.json() == body
    changed = _reserve(client, shop["web"], lines=[{"sku": "A", "quantity": 1}])
    _problem(changed, 409, "idempotency_key")


def test_idempotency_key_may_come_as_a_header(client: TestClient, shop: dict[str, int]) -> None:
    payload = {"channel_id": shop["web"], "lines": [{"sku": "A", "quantity": 1}]}
    first = client.post("/v1/reservations", json=payload, headers={"Idempotency-Key": "h-1"})
    assert first.status_code == 201
    assert first.json()["idempotency_key"] == "h-1"
    again = client.post("/v1/reservations", json=payload, headers={"Idempotency-Key": "h-1"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    _problem(client.post("/v1/reservations", json=payload), 422, "idempotency_key")
    clash = client.post(
        "/v1/reservations",
        json={**payload, "idempotency_key": "b-1"},
        headers={"Idempotency-Key": "h-2"},
    )
    _problem(clash, 422, "idempotency_key")


def test_channel_key_may_not_reserve_for_another_channel(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    before = _rows(sqlite_db)
    headers = _key(sqlite_db, "channel", channel_id=shop["allegro"])
    response = client.post(
        "/v1/reservations",
        headers=headers,
        json={
            "channel_id": shop["web"],
            "lines": [{"sku": "A", "quantity": 1}],
            "idempotency_key": "steal",
        },
    )
    body = _problem(response, 403, "channel_id")
    assert body["detail"] == "this API key may only act for its own channel"
    assert _rows(sqlite_db) == before
    own = client.post(
        "/v1/reservations",
        headers=headers,
        json={
            "channel_id": shop["allegro"],
            "lines": [{"sku": "A", "quantity": 1}],
            "idempotency_key": "mine",
        },
    )
    assert own.status_code == 201


def test_unknown_sku_is_404_naming_it(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    before = _rows(sqlite_db)
    response = _reserve(
        client, shop["web"], lines=[{"sku": "A", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]
    )
    body = _problem(response, 404, "lines")
    assert body["detail"] == "unknown SKU: NOPE"
    assert body["skus"] == ["NOPE"]
    assert _rows(sqlite_db) == before


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", True, None])
def test_quantity_must_be_a_positive_whole_number(
    client: TestClient, sqlite_db: Database, shop: dict[str, int], quantity: Any
) -> None:
    before = _rows(sqlite_db)
    response = _reserve(client, shop["web"], lines=[{"sku": "A", "quantity": quantity}])
    _problem(response, 422, "lines.0.quantity")
    receipt = client.post(
        "/v1/stock/receipts",
        json={"location_id": shop["wh"], "lines": [{"sku": "A", "quantity": quantity}]},
    )
    _problem(receipt, 422, "lines.0.quantity")
    assert _rows(sqlite_db) == before


def test_insufficient_stock_is_409_with_shortages(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    before = _rows(sqlite_db)
    response = _reserve(client, shop["allegro"], lines=[{"sku": "A", "quantity": 9}])
    body = _problem(response, 409, "lines")
    assert body["type"] == "https://omnicart.dev/problems/insufficient-stock"
    assert body["shortages"] == [{"sku": "A", "requested": 9, "sellable": 8}]
    assert _rows(sqlite_db) == before


def test_reservation_lifecycle(client: TestClient, shop: dict[str, int]) -> None:
    rid = _reserve(client, shop["web"]).json()["id"]
    allocated = client.post(f"/v1/reservations/{rid}/allocate")
    assert allocated.status_code == 200
    assert allocated.json()["status"] == "allocated"
    _problem(client.post(f"/v1/reservations/{rid}/release"), 409, "reservation_id")
    shipped = client.post(f"/v1/reservations/{rid}/ship", json={"reason": "DHL 123"})
    assert [ln["shipped"] for ln in shipped.json()["lines"]] == [4, 2]
    _problem(client.post(f"/v1/reservations/{rid}/ship"), 409, "reservation_id")
    other = _reserve(client, shop["web"], key="cart-2", lines=[{"sku": "A", "quantity": 1}]).json()[
        "id"
    ]
    released = client.post(f"/v1/reservations/{other}/release")
    assert released.json()["status"] == "released"
    assert released.json()["closed_at"] is not None
    assert client.post(f"/v1/reservations/{other}/release").status_code == 200
    _problem(client.post("/v1/reservations/999/allocate"), 404, "reservation_id")
    stock = client.get("/v1/stock", params={"location_id": shop["wh"]}).json()["items"]
    assert [(r["sku"], r["on_hand"], r["reserved"], r["allocated"]) for r in stock] == [
        ("A", 6, 0, 0),
        ("B", 1, 0, 0),
    ]
    assert client.get("/v1/inventory/reconciliation").json() == []


def test_channel_key_sees_only_its_own_reservations(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    web_id = _reserve(client, shop["web"]).json()["id"]
    allegro_id = _reserve(client, shop["allegro"], lines=[{"sku": "A", "quantity": 1}]).json()["id"]
    headers = _key(sqlite_db, "channel", channel_id=shop["allegro"])
    listed = client.get("/v1/reservations", headers=headers).json()
    assert [r["id"] for r in listed["items"]] == [allegro_id]
    _problem(
        client.get("/v1/reservations", headers=headers, params={"channel_id": shop["web"]}),
        403,
        "channel_id",
    )
    _problem(client.get(f"/v1/reservations/{web_id}", headers=headers), 404, "reservation_id")
    _problem(
        client.post(f"/v1/reservations/{web_id}/release", headers=headers), 404, "reservation_id"
    )
    assert client.get(f"/v1/reservations/{web_id}").json()["status"] == "active"
    as_admin = client.get("/v1/reservations", params={"status": "active", "limit": 1}).json()
    assert [r["id"] for r in as_admin["items"]] == [web_id]
    page_two = client.get(
        "/v1/reservations",
        params={"status": "active", "limit": 1, "cursor": as_admin["next_cursor"]},
    )
    assert [r["id"] for r in page_two.json()["items"]] == [allegro_id]
    _problem(client.get("/v1/reservations", params={"status": "lost"}), 422, "status")


# ---------------------------------------------------------------- availability


def test_availability_after_the_channel_buffer(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    response = client.get(
        "/v1/availability",
        params=[("channel_id", shop["allegro"]), ("sku", "A"), ("sku", "B"), ("sku", "KIT")],
    )
    assert response.status_code == 200
    # Allegro sees the warehouse: A min(10*80%, 10-2)=8; B min(2, 1)=1; KIT min(8//2, 1)=1.
    assert response.json() == {
        "channel_id": shop["allegro"],
        "items": [
            {"sku": "A", "available": 8},
            {"sku": "B", "available": 1},
            {"sku": "KIT", "available": 1},
        ],
    }
    web = client.get("/v1/availability", params={"channel_id": shop["web"], "sku": "A"})
    assert web.json()["items"] == [{"sku": "A", "available": 14}]
    headers = _key(sqlite_db, "channel", channel_id=shop["allegro"])
    _problem(
        client.get(
            "/v1/availability", headers=headers, params={"channel_id": shop["web"], "sku": "A"}
        ),
        403,
        "channel_id",
    )
    _problem(client.get("/v1/availability", params={"channel_id": shop["web"]}), 422, "sku")
    _problem(
        client.get("/v1/availability", params={"channel_id": shop["web"], "sku": "X"}), 404, "sku"
    )


def test_location_availability_for_pickup(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    raw = client.get(f"/v1/locations/{shop['store']}/availability", params={"sku": "A"})
    assert raw.json() == {
        "location_id": shop["store"],
        "channel_id": None,
        "items": [{"sku": "A", "available": 4}],
    }
    headers = _key(sqlite_db, "channel", channel_id=shop["web"])
    as_web = client.get(
        f"/v1/locations/{shop['store']}/availability", headers=headers, params={"sku": "A"}
    )
    assert as_web.json()["channel_id"] == shop["web"]
    assert as_web.json()["items"] == [{"sku": "A", "available": 4}]
    _problem(
        client.get(
            f"/v1/locations/{shop['store']}/availability",
            params={"sku": "A", "channel_id": shop["allegro"]},
        ),
        409,
        "location_id",
    )
    _problem(client.get("/v1/locations/999/availability", params={"sku": "A"}), 404, "location_id")


# ---------------------------------------------------------------- stock operations


def test_receipt_write_off_and_adjustment(client: TestClient, shop: dict[str, int]) -> None:
    received = client.post(
        "/v1/stock/receipts",
        json={
            "location_id": shop["store"],
            "lines": [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 2}],
            "reason": "PO-1",
        },
    )
    assert received.status_code == 200
    assert received.json() == {
        "location_id": shop["store"],
        "items": [{"sku": "A", "on_hand": 9}, {"sku": "B", "on_hand": 2}],
    }
    written_off = client.post(
        "/v1/stock/write-offs",
        json={
            "location_id": shop["store"],
            "lines": [{"sku": "A", "quantity": 1}],
            "reason": "damaged",
        },
    )
    assert written_off.json()["items"] == [{"sku": "A", "on_hand": 8}]
    adjusted = client.post(
        "/v1/stock/adjustments",
        json={"location_id": shop["store"], "sku": "B", "delta": -2, "reason": "miscount"},
    )
    assert adjusted.json()["items"] == [{"sku": "B", "on_hand": 0}]
    _problem(
        client.post(
            "/v1/stock/write-offs",
            json={"location_id": shop["store"], "lines": [{"sku": "A", "quantity": 1}]},
        ),
        422,
        "reason",
    )
    _problem(
        client.post(
            "/v1/stock/adjustments",
            json={"location_id": shop["store"], "sku": "B", "delta": 0, "reason": "x"},
        ),
        422,
        "delta",
    )
    _problem(
        client.post(
            "/v1/stock/adjustments",
            json={"location_id": shop["store"], "sku": "B", "delta": 1.0, "reason": "x"},
        ),
        422,
        "delta",
    )
    _problem(
        client.post(
            "/v1/stock/receipts",
            json={"location_id": shop["store"], "lines": [{"sku": "KIT", "quantity": 1}]},
        ),
        422,
        "lines.0.sku",
    )
    too_many = client.post(
        "/v1/stock/write-offs",
        json={"location_id": shop["store"], "lines": [{"sku": "A", "quantity": 9}], "reason": "x"},
    )
    _problem(too_many, 409, "quantity")
    movements = client.get("/v1/movements", params={"location_id": shop["store"]}).json()
    assert [(m["kind"], m["sku"], m["delta_on_hand"], m["reason"]) for m in movements["items"]] == [
        ("receipt", "A", 4, ""),
        ("receipt", "A", 5, "PO-1"),
        ("receipt", "B", 2, "PO-1"),
        ("write_off", "A", -1, "damaged"),
        ("adjustment", "B", -2, "miscount"),
    ]
    assert movements["items"][1]["actor"] == "key:1:test-admin"


def test_staff_key_acts_only_at_its_own_location(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    headers = _key(sqlite_db, "staff", location_id=shop["store"])
    before = _rows(sqlite_db)
    lines = [{"sku": "A", "quantity": 1}]
    elsewhere = [
        client.post(
            "/v1/stock/receipts", headers=headers, json={"location_id": shop["wh"], "lines": lines}
        ),
        client.post(
            "/v1/stock/write-offs",
            headers=headers,
            json={"location_id": shop["wh"], "lines": lines, "reason": "x"},
        ),
        client.post(
            "/v1/stock/adjustments",
            headers=headers,
            json={"location_id": shop["wh"], "sku": "A", "delta": 1, "reason": "x"},
        ),
        client.post(
            "/v1/stock/counts",
            headers=headers,
            json={"location_id": shop["wh"], "lines": [{"sku": "A", "counted": 1}]},
        ),
    ]
    for response in elsewhere:
        body = _problem(response, 403, "location_id")
        assert body["detail"] == "this API key may only act at its own location"
    assert _rows(sqlite_db) == before
    here = client.post(
        "/v1/stock/receipts", headers=headers, json={"location_id": shop["store"], "lines": lines}
    )
    assert here.json()["items"] == [{"sku": "A", "on_hand": 5}]
    moved = client.get("/v1/movements", params={"sku": "A", "location_id": shop["store"]})
    assert moved.json()["items"][-1]["actor"] == "key:2:staff-key"
    _problem(
        client.post(
            "/v1/reservations",
            headers=headers,
            json={"channel_id": shop["web"], "lines": lines, "idempotency_key": "k"},
        ),
        403,
        None,
    )


def test_count_records_variances(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    response = client.post(
        "/v1/stock/counts",
        json={
            "location_id": shop["wh"],
            "note": "monthly",
            "lines": [{"sku": "A", "counted": 7}, {"sku": "B", "counted": 3}],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["count_id"] > 0
    assert body["lines"] == [
        {"sku": "A", "expected": 10, "counted": 7, "variance": -3},
        {"sku": "B", "expected": 3, "counted": 3, "variance": 0},
    ]
    before = _rows(sqlite_db)
    _problem(
        client.post(
            "/v1/stock/counts",
            json={"location_id": shop["wh"], "lines": [{"sku": "A", "counted": -1}]},
        ),
        422,
        "lines.0.counted",
    )
    _problem(
        client.post(
            "/v1/stock/counts",
            json={"location_id": shop["wh"], "lines": [{"sku": "A", "counted": "7"}]},
        ),
        422,
        "lines.0.counted",
    )
    assert _rows(sqlite_db) == before
    assert client.get("/v1/inventory/reconciliation").json() == []


def test_transfer_in_transit_and_receive(client: TestClient, shop: dict[str, int]) -> None:
    created = client.post(
        "/v1/transfers",
        json={
            "from_location_id": shop["wh"],
            "to_location_id": shop["store"],
            "lines": [{"sku": "A", "quantity": 5}],
            "note": "restock",
        },
    )
    assert created.status_code == 201
    transfer = created.json()
    assert transfer["status"] == "in_transit"
    assert transfer["lines"] == [{"sku": "A", "quantity": 5}]
    assert client.get("/v1/stock/in-transit").json() == [{"sku": "A", "quantity": 5}]
    web = client.get("/v1/availability", params={"channel_id": shop["web"], "sku": "A"})
    assert web.json()["items"] == [{"sku": "A", "available": 9}]
    received = client.post(f"/v1/transfers/{transfer['id']}/receive")
    assert received.json()["status"] == "received"
    assert received.json()["received_at"] is not None
    _problem(client.post(f"/v1/transfers/{transfer['id']}/receive"), 409, "transfer_id")
    assert client.get("/v1/stock/in-transit").json() == []
    rows = client.get("/v1/stock", params={"sku": "A"}).json()["items"]
    assert [(r["location_id"], r["on_hand"], r["available"]) for r in rows] == [
        (shop["wh"], 5, 5),
        (shop["store"], 9, 9),
    ]


# ---------------------------------------------------------------- reports


def _walk(client: TestClient, path: str, limit: int, **params: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=query).json()
        if not body["items"]:  # a feed hands back a resume cursor even at its end
            return pages
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_movement_pages_walk_every_entry_once(client: TestClient, shop: dict[str, int]) -> None:
    for n in range(4):
        client.post(
            "/v1/stock/receipts",
            json={
                "location_id": shop["store"],
                "reason": f"r{n}",
                "lines": [{"sku": "B", "quantity": n + 1}],
            },
        )
    everything = client.get("/v1/movements", params={"limit": 500}).json()
    assert len(everything["items"]) == 7
    # The ledger is a feed: its cursor resumes after the last entry, to poll for new ones.
    later = client.get("/v1/movements", params={"cursor": everything["next_cursor"]}).json()
    assert later["items"] == []
    assert later["next_cursor"] == everything["next_cursor"]
    pages = _walk(client, "/v1/movements", 2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    walked = [m["id"] for page in pages for m in page]
    assert walked == [m["id"] for m in everything["items"]]
    assert len(set(walked)) == 7
    only_b = [m["delta_on_hand"] for p in _walk(client, "/v1/movements", 3, sku="B") for m in p]
    assert only_b == [3, 1, 2, 3, 4]
    _problem(client.get("/v1/movements", params={"cursor": "garbage!"}), 422, "cursor")


def test_stock_pages_never_split_a_sku(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    with sqlite_db.transaction() as s:
        third = add_location(s, "third", priority=3)
    client.post(
        "/v1/stock/receipts",
        json={
            "location_id": third,
            "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}],
        },
    )
    client.post(
        "/v1/stock/receipts",
        json={"location_id": shop["store"], "lines": [{"sku": "B", "quantity": 2}]},
    )
    expected = [
        ("A", shop["wh"]),
        ("A", shop["store"]),
        ("A", third),
        ("B", shop["wh"]),
        ("B", shop["store"]),
        ("B", third),
    ]
    for limit in (1, 2, 4, 5, 500):
        pages = _walk(client, "/v1/stock", limit)
        assert [(r["sku"], r["location_id"]) for p in pages for r in p] == expected, limit


def test_events_list_threshold_events(client: TestClient, shop: dict[str, int]) -> None:
    client.post(
        "/v1/stock/write-offs",
        json={
            "location_id": shop["wh"],
            "reason": "broken",
            "lines": [{"sku": "B", "quantity": 3}],
        },
    )
    events = client.get("/v1/events").json()["items"]
    assert [(e["event_type"], e["aggregate_id"]) for e in events] == [
        ("StockBackInStock", "A@1"),
        ("StockBackInStock", "B@1"),
        ("StockBackInStock", "A@2"),
        ("StockLow", "A@2"),  # 4 units arrive at the store, below the default threshold 5
        ("StockOutOfStock", "B@1"),
    ]
    out = client.get("/v1/events", params={"event_type": "StockOutOfStock"}).json()["items"]
    assert [e["payload"] for e in out] == [
        {
            "sku": "B",
            "variant_id": shop["b"],
            "location_id": shop["wh"],
            "available": 0,
            "on_hand": 0,
            "threshold": 2,
        }
    ]
    assert [len(p) for p in _walk(client, "/v1/events", 3)] == [3, 2]


def test_reads_need_a_key_with_the_scope(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    headers = _key(sqlite_db, "channel", channel_id=shop["web"])
    _problem(
        client.post(
            "/v1/stock/receipts",
            headers=headers,
            json={"location_id": shop["wh"], "lines": [{"sku": "A", "quantity": 1}]},
        ),
        403,
        None,
    )
    unauthenticated = client.get("/v1/stock", headers={"Authorization": ""})
    assert unauthenticated.status_code == 401


def test_staff_key_receives_only_transfers_bound_for_its_store(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    lines = [{"sku": "A", "quantity": 1}]
    client.post("/v1/stock/receipts", json={"location_id": shop["wh"], "lines": lines})
    client.post("/v1/stock/receipts", json={"location_id": shop["store"], "lines": lines})
    to_store = client.post(
        "/v1/transfers",
        json={"from_location_id": shop["wh"], "to_location_id": shop["store"], "lines": lines},
    ).json()
    to_wh = client.post(
        "/v1/transfers",
        json={"from_location_id": shop["store"], "to_location_id": shop["wh"], "lines": lines},
    ).json()
    headers = _key(sqlite_db, "staff", location_id=shop["store"])
    before = _rows(sqlite_db)
    refused = client.post(f"/v1/transfers/{to_wh['id']}/receive", headers=headers)
    # A transfer bound elsewhere is, to this store's key, one that does not exist.
    _problem(refused, 404, "transfer_id")
    assert _rows(sqlite_db) == before
    received = client.post(f"/v1/transfers/{to_store['id']}/receive", headers=headers)
    assert received.status_code == 200
    assert received.json()["status"] == "received"


def test_staff_key_ships_only_what_its_store_holds(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    at_wh = client.post(
        "/v1/reservations",
        json={
            "channel_id": shop["web"],
            "lines": [{"sku": "A", "quantity": 1}],
            "idempotency_key": "ship-wh",
            "location_id": shop["wh"],
        },
    ).json()
    at_store = client.post(
        "/v1/reservations",
        json={
            "channel_id": shop["web"],
            "lines": [{"sku": "A", "quantity": 1}],
            "idempotency_key": "ship-store",
            "location_id": shop["store"],
        },
    ).json()
    for r in (at_wh, at_store):
        assert client.post(f"/v1/reservations/{r['id']}/allocate").status_code == 200
    headers = _key(sqlite_db, "staff", location_id=shop["store"])
    before = _rows(sqlite_db)
    _problem(
        client.post(f"/v1/reservations/{at_wh['id']}/ship", headers=headers), 404, "reservation_id"
    )
    assert _rows(sqlite_db) == before
    shipped = client.post(f"/v1/reservations/{at_store['id']}/ship", headers=headers)
    assert shipped.json()["status"] == "shipped"


def test_free_text_longer_than_its_column_is_refused_naming_the_field(
    client: TestClient, sqlite_db: Database, shop: dict[str, int]
) -> None:
    before = _rows(sqlite_db)
    lines = [{"sku": "A", "quantity": 1}]
    too_long = client.post(
        "/v1/stock/receipts",
        json={"location_id": shop["wh"], "lines": lines, "reason": "r" * 301},
    )
    _problem(too_long, 422, "reason")
    reference = client.post(
        "/v1/reservations",
        json={
            "channel_id": shop["web"],
            "lines": lines,
            "idempotency_key": "k",
            "reference": "x" * 201,
        },
    )
    _problem(reference, 422, "reference")
    assert _rows(sqlite_db) == before
