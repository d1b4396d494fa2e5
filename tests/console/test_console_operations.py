"""The console's operations: order actions, stock counts and transfers, the Connectors
page. Each form: done, refused at its field with nothing changed, refused for another
store, and refused without this session's CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omnicart.connectors import service as connectors
from omnicart.connectors.tables import InboxDelivery, PushState
from omnicart.db.engine import Database
from omnicart.inventory import service as inventory
from omnicart.inventory.tables import Movement
from omnicart.kernel.clock import utcnow
from omnicart.orders import checkout
from omnicart.orders import service as orders
from omnicart.orders.model import Fulfil, PaymentDraft
from omnicart.orders.tables import Order, Return
from tests.console.support import EMAILS, World, csrf_of, sign_in
from tests.orders_support import all_stock, market_order

Snapshot = tuple[object, ...]


def _client(app: FastAPI, who: str) -> Iterator[TestClient]:
    with TestClient(app) as client:
        sign_in(client, EMAILS[who])
        yield client


@pytest.fixture(scope="module")
def admin(console_app: FastAPI) -> Iterator[TestClient]:
    yield from _client(console_app, "admin")


@pytest.fixture(scope="module")
def krk_staff(console_app: FastAPI) -> Iterator[TestClient]:
    yield from _client(console_app, "own_staff")


@pytest.fixture(scope="module")
def gdn_staff(console_app: FastAPI) -> Iterator[TestClient]:
    yield from _client(console_app, "other_staff")


def _snapshot(db: Database) -> Snapshot:
    """Everything an order or stock form may change."""
    with db.reading() as session:
        statuses = tuple(session.execute(select(Order.id, Order.status).order_by(Order.id)))
        moves = session.scalar(select(func.count()).select_from(Movement))
        returns = session.scalar(select(func.count()).select_from(Return))
    return statuses, moves, returns, tuple(all_stock(db))


def _status(db: Database, order_id: int) -> str:
    return orders.get_order(db, order_id=order_id).status


def _post(client: TestClient, url: str, page: str, **fields: str) -> tuple[int, str]:
    data = {"csrf_token": csrf_of(client.get(page).text), **fields}
    answer = client.post(url, data=data, follow_redirects=False)
    return answer.status_code, answer.text


def _refused_at(text: str, field: str) -> bool:
    """The page names the error at the field and ties the field to it."""
    return f'id="{field}-error"' in text and f'aria-describedby="{field}-error"' in text


def _pickup_order(db: Database, world: World) -> int:
    cart = checkout.create_cart(db, channel_id=world.shop.web, lines=[("A", 1)])
    request = checkout.Checkout(
        fulfil=Fulfil(mode="pickup", pickup_location_id=world.shop.krakow),
        payments=(PaymentDraft("card", Decimal("19.99")),),
    )
    return checkout.checkout(db, cart_id=cart.id, request=request).id


# --- orders -----------------------------------------------------------------------------


def test_a_pickup_is_made_ready_and_collected_with_its_code(
    krk_staff: TestClient, gdn_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    order = _pickup_order(db, world)
    at = f"/console/orders/{order}"
    assert "Ready for pickup" in krk_staff.get(at).text
    # Another store's staff: the order does not exist for them; nothing changes.
    before = _snapshot(db)
    assert _post(gdn_staff, f"{at}/pickup/ready", "/console")[0] == 404
    assert _snapshot(db) == before
    status, _ = _post(krk_staff, f"{at}/pickup/ready", at)
    assert status == 303
    view = orders.get_order(db, order_id=order)
    code = next(f.pickup_code for f in view.fulfilments if f.kind == "pickup")
    assert code is not None
    page = krk_staff.get(f"{at}?done=ready").text
    assert f"Waiting for pickup with code {code}" in page
    # A wrong code is refused at the field, kept as typed, and nothing leaves the store.
    before = _snapshot(db)
    wrong = "999999" if code != "999999" else "111111"
    status, page = _post(krk_staff, f"{at}/pickup/collect", at, code=wrong)
    assert status == 403
    assert _refused_at(page, "code")
    assert "The pickup code does not match." in page
    assert f'value="{wrong}"' in page
    assert _snapshot(db) == before
    status, page = _post(krk_staff, f"{at}/pickup/collect", at, code="x" * 17)
    assert (status, _refused_at(page, "code")) == (422, True)
    assert _snapshot(db) == before
    assert _post(krk_staff, f"{at}/pickup/collect", at, code=code)[0] == 303
    assert _status(db, order) == "fulfilled"


def test_the_owner_ships_an_order_from_the_warehouse(
    admin: TestClient, krk_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    order = orders.ingest_order(db, market_order(world.shop, "M-SHIP", [("A", 1)])).id
    at = f"/console/orders/{order}"
    wh = str(world.shop.warehouse)
    assert 'action="/console/orders/' in admin.get(at).text
    before = _snapshot(db)
    for fields, field, status in (
        ({"ship_location_id": wh, "carrier": ""}, "carrier", 422),
        ({"ship_location_id": wh, "carrier": "x" * 81}, "carrier", 422),
        ({"ship_location_id": "abc", "carrier": "DHL"}, "ship_location_id", 422),
        (
            {"ship_location_id": wh, "carrier": "DHL", "tracking_number": "1" * 121},
            "tracking_number",
            422,
        ),
    ):
        got, page = _post(admin, f"{at}/ship", at, **fields)
        assert (got, _refused_at(page, field)) == (status, True), fields
        assert _snapshot(db) == before
    # Nothing of it is at Kraków: its staff may not ship from the warehouse (403), and
    # from their own store the order service finds nothing to ship (409, on the form).
    assert _post(krk_staff, f"{at}/ship", "/console", ship_location_id=wh, carrier="DHL")[0] == 403
    assert _snapshot(db) == before
    status, _ = _post(admin, f"{at}/ship", at, ship_location_id=wh, carrier="DHL")
    assert status == 303
    assert _status(db, order) == "fulfilled"
    assert "Shipped." in admin.get(f"{at}?done=shipped").text
    # Shipped twice: the service refuses, and says so on the form.
    got, page = _post(admin, f"{at}/ship", at, ship_location_id=wh, carrier="DHL")
    assert got == 409
    assert 'id="ship-error"' in page


def test_an_order_is_cancelled_with_a_reason(
    admin: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    order = orders.ingest_order(db, market_order(world.shop, "M-CANCEL", [("B", 1)])).id
    at = f"/console/orders/{order}"
    before = _snapshot(db)
    status, page = _post(admin, f"{at}/cancel", at, cancel_reason="x" * 301)
    assert (status, _refused_at(page, "cancel_reason")) == (422, True)
    assert _snapshot(db) == before
    assert _post(admin, f"{at}/cancel", at, cancel_reason="customer asked")[0] == 303
    view = orders.get_order(db, order_id=order)
    assert view.status == "cancelled"
    assert view.transitions[-1].reason == "customer asked"
    assert view.transitions[-1].actor.endswith(EMAILS["admin"])


def test_a_return_is_opened_through_the_store(
    krk_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    at = f"/console/orders/{world.own_order}"
    good = {
        "return_channel_id": str(world.shop.pos),
        "return_line_no": "1",
        "return_quantity": "1",
        "return_reason": "too small",
    }
    before = _snapshot(db)
    for change, field, status in (
        ({"return_quantity": "abc"}, "return_quantity", 422),
        ({"return_quantity": "2"}, "return_quantity", 422),  # one unit was sold
        ({"return_line_no": "7"}, "return_line_no", 404),
        ({"return_reason": ""}, "return_reason", 422),
    ):
        got, page = _post(krk_staff, f"{at}/returns", at, **(good | change))
        assert (got, _refused_at(page, field)) == (status, True), change
        assert _snapshot(db) == before
    # The marketplace is served by the warehouse alone: not through Kraków's store.
    market = good | {"return_channel_id": str(world.shop.market)}
    got, page = _post(krk_staff, f"{at}/returns", at, **market)
    assert (got, "your account may only act at your own location" in page) == (403, True)
    assert _snapshot(db) == before
    assert _post(krk_staff, f"{at}/returns", at, **good)[0] == 303
    page = krk_staff.get(f"{at}?done=return").text
    assert "Return opened." in page
    assert re.search(r"<td>A × 1</td>", page)
    with db.reading() as session:
        reasons = session.scalars(select(Return.id).where(Return.order_id == world.own_order))
        assert len(list(reasons)) == 1


# --- stock ------------------------------------------------------------------------------


def _on_hand(client: TestClient, location: int, sku: str) -> int:
    rows = client.get(f"/console/stock/levels.csv?location={location}").text.splitlines()[1:]
    found = [row.split(",") for row in rows if row.startswith(f"{sku},")]
    return int(found[0][2]) if found else 0


def test_a_count_sets_on_hand_and_is_refused_at_its_field(
    krk_staff: TestClient, gdn_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    krk = str(world.shop.krakow)
    before = _snapshot(db)
    for fields, field, status in (
        ({"count_sku": "A", "counted": "-1"}, "counted", 422),
        ({"count_sku": "A", "counted": "many"}, "counted", 422),
        ({"count_sku": "", "counted": "3"}, "count_sku", 404),
        ({"count_sku": "NO-SUCH", "counted": "3"}, "count_sku", 404),
        ({"count_sku": "A", "counted": "3", "note": "x" * 301}, "note", 422),
    ):
        got, page = _post(
            krk_staff, "/console/stock/counts", "/console/stock", count_location_id=krk, **fields
        )
        assert (got, _refused_at(page, field)) == (status, True), fields
        assert _snapshot(db) == before
    status, _ = _post(
        gdn_staff,
        "/console/stock/counts",
        "/console",
        count_location_id=krk,
        count_sku="A",
        counted="0",
    )
    assert status == 403
    assert _snapshot(db) == before
    page = krk_staff.post(
        "/console/stock/counts",
        data={
            "csrf_token": csrf_of(krk_staff.get("/console/stock").text),
            "count_location_id": krk,
            "count_sku": "B",
            "counted": "9",
            "note": "shelf 4",
        },
    )
    assert page.status_code == 200
    assert "Counted B: 9 units on hand now." in page.text
    assert _on_hand(krk_staff, world.shop.krakow, "B") == 9
    with db.reading() as session:
        last = session.scalars(select(Movement).order_by(Movement.id.desc())).first()
    assert last is not None
    assert (last.kind, last.delta_on_hand, last.reason) == ("count", 9, "shelf 4")


def test_a_transfer_leaves_the_store_and_is_refused_at_its_field(
    krk_staff: TestClient, gdn_staff: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    krk = str(world.shop.krakow)
    start = _on_hand(krk_staff, world.shop.krakow, "B") + 5
    inventory.receive_stock(db, location_id=world.shop.krakow, lines=[("B", 5)])
    good = {"from_location_id": krk, "to_location": "gdn", "transfer_sku": "B"}
    before = _snapshot(db)
    for fields, field, status in (
        ({"transfer_quantity": "0"}, "transfer_quantity", 422),
        ({"transfer_quantity": "two"}, "transfer_quantity", 422),
        ({"transfer_quantity": "1", "to_location": "nowhere"}, "to_location", 404),
        ({"transfer_quantity": "1", "to_location": "krk"}, "to_location", 422),  # to itself
        ({"transfer_quantity": "1", "transfer_sku": "NO-SUCH"}, "transfer_sku", 404),
    ):
        got, page = _post(
            krk_staff, "/console/stock/transfers", "/console/stock", **(good | fields)
        )
        assert (got, _refused_at(page, field)) == (status, True), fields
        assert _snapshot(db) == before
    got, page = _post(
        krk_staff, "/console/stock/transfers", "/console/stock", **good, transfer_quantity="999"
    )
    assert got == 409
    assert _refused_at(page, "transfer_quantity")
    assert f"B at location {krk}: {start} available, the change needs 999." in page
    assert page.count("the change needs 999") == 1  # once, at the field
    assert _snapshot(db) == before
    assert (
        _post(gdn_staff, "/console/stock/transfers", "/console", **good, transfer_quantity="1")[0]
        == 403
    )
    assert _snapshot(db) == before
    answer = krk_staff.post(
        "/console/stock/transfers",
        data={
            "csrf_token": csrf_of(krk_staff.get("/console/stock").text),
            **good,
            "transfer_quantity": "2",
        },
    )
    assert answer.status_code == 200
    assert re.search(r"Transfer #\d+ is on its way\.", answer.text)
    assert _on_hand(krk_staff, world.shop.krakow, "B") == start - 2


# --- CSRF -------------------------------------------------------------------------------

FORMS = [
    "/console/stock/counts",
    "/console/stock/transfers",
    "/console/orders/{order}/ship",
    "/console/orders/{order}/pickup/ready",
    "/console/orders/{order}/pickup/collect",
    "/console/orders/{order}/cancel",
    "/console/orders/{order}/returns",
    "/console/connectors/1/retry",
]


@pytest.mark.parametrize("url", FORMS)
@pytest.mark.parametrize("token", ["missing", "forged"])
def test_a_form_without_the_sessions_token_is_refused(
    url: str, token: str, admin: TestClient, world_db: tuple[Database, World]
) -> None:
    db, world = world_db
    data = {
        "count_location_id": str(world.shop.krakow),
        "count_sku": "A",
        "counted": "1",
        "from_location_id": str(world.shop.krakow),
        "to_location": "gdn",
        "transfer_sku": "A",
        "transfer_quantity": "1",
        "ship_location_id": str(world.shop.warehouse),
        "carrier": "DHL",
    }
    if token == "forged":
        data["csrf_token"] = "0" * 64
    before = _snapshot(db)
    answer = admin.post(url.format(order=world.shipped_order), data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert "not sent from your console session" in answer.text
    assert _snapshot(db) == before


# --- connectors -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parked(world_db: tuple[Database, World]) -> tuple[int, int]:
    """A Shopify connection on the marketplace channel with one parked delivery and a
    stock figure its shop has not acknowledged for five minutes."""
    db, world = world_db
    view = connectors.add_connector(
        db,
        draft=connectors.ConnectorDraft(
            channel_id=world.shop.market,
            vendor="shopify",
            credentials={"client_secret": "s", "access_token": "t"},
            options={"shop": "demo", "location_id": "1"},
            base_url="http://127.0.0.1:9",
        ),
    )
    now = utcnow()
    with db.transaction() as session:
        delivery = InboxDelivery(
            connector_id=view.id,
            delivery_id="d-1",
            source="webhook",
            topic="orders/create",
            kind="order",
            external_order_id="S-1001",
            headers={},
            body=b"{}",
            received_at=now - timedelta(minutes=7),
            status="parked",
            attempts=1,
            next_attempt_at=now,
            reason_code="unknown_sku",
            reason="SKU ZZZ is not mapped",
        )
        session.add(delivery)
        session.add(
            PushState(
                connector_id=view.id,
                kind="stock",
                sku="A",
                wanted="3",
                wanted_seq=2,
                changed_at=now - timedelta(minutes=5, seconds=10),
                sent="4",
                sent_seq=1,
                attempts=0,
                next_attempt_at=now + timedelta(hours=1),
            )
        )
        session.flush()
        return view.id, delivery.id


def _delivery_status(db: Database, delivery: int) -> str:
    with db.reading() as session:
        found = session.get(InboxDelivery, delivery)
        assert found is not None
        return found.status


def test_the_connectors_page_shows_state_lag_and_what_needs_attention(
    admin: TestClient, parked: tuple[int, int], world_db: tuple[Database, World]
) -> None:
    db, _ = world_db
    connector, delivery = parked
    page = admin.get("/console/connectors")
    assert page.status_code == 200
    row = re.search(rf"<th scope=\"row\">#{connector} shopify</th>(.*?)</tr>", page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in cells[:5]] == [
        "market",
        "active",
        cells[2].strip(),
        "1",
        "5 min",
    ]
    assert "UTC" in cells[2]
    assert f'<th scope="row">#{delivery}</th>' in page.text
    assert "SKU ZZZ is not mapped" in page.text
    # Bad input is refused and changes nothing; the named delivery is queued again.
    csrf = csrf_of(page.text)
    for sent, status in (({"delivery_id": "abc"}, 422), ({"delivery_id": "99999"}, 404)):
        answer = admin.post(
            f"/console/connectors/{connector}/retry", data={"csrf_token": csrf, **sent}
        )
        assert answer.status_code == status
        assert 'role="alert"' in answer.text
        assert _delivery_status(db, delivery) == "parked"
    assert (
        admin.post("/console/connectors/99999/retry", data={"csrf_token": csrf}).status_code == 404
    )
    answer = admin.post(
        f"/console/connectors/{connector}/retry",
        data={"csrf_token": csrf, "delivery_id": str(delivery)},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/console/connectors?requeued=1",
    )
    assert _delivery_status(db, delivery) == "pending"
    assert "1 delivery will be processed again." in admin.get("/console/connectors?requeued=1").text


def test_only_the_owner_sees_connectors(
    krk_staff: TestClient, console_app: FastAPI, parked: tuple[int, int]
) -> None:
    assert krk_staff.get("/console/connectors").status_code == 403
    assert 'href="/console/connectors"' not in krk_staff.get("/console/stock").text
    with TestClient(console_app) as analyst:
        sign_in(analyst, EMAILS["analyst"])
        assert analyst.get("/console/connectors").status_code == 403
