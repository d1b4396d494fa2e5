"""Who may open what: every console page × every kind of viewer, exact answers by hand.

Each request aims at the own store (Kraków) and its objects. The viewers: nobody signed
in, the owner (admin), an analyst, Kraków's staff and Gdańsk's staff. The statuses are
written from what a merchant expects, not derived from the pages' declarations; a
refused form leaves the stock as it was. A page added without a row fails
`test_every_page_has_a_row`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRouter
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from omnicart.api.access import api_routes
from omnicart.app import create_app
from omnicart.console import stock_pages
from omnicart.customers.lookup import observe
from omnicart.db.engine import Database
from omnicart.inventory.tables import Movement, StockLevel
from tests.console.support import EMAILS, World, csrf_of, sign_in

VIEWERS = ("anonymous", "admin", "analyst", "own_staff", "other_staff")
SIGN_IN = "to sign-in"  # 303 to the sign-in page
ON = "onwards"  # 303 anywhere else: done, or already signed in
Row = tuple[object, object, object, object, object]
SIGNED_IN: Row = (SIGN_IN, 200, 200, 200, 200)
OWN_STORE: Row = (SIGN_IN, 200, 403, 200, 403)  # another store's staff: 403
OWN_OBJECT: Row = (SIGN_IN, 200, 403, 200, 404)  # another store's order does not exist
ANALYTICS: Row = (SIGN_IN, 200, 200, 403, 403)  # figures: no store's staff
CUSTOMERS: Row = (SIGN_IN, 200, 403, 200, 200)  # people: not an analyst's
CUSTOMER_EMAIL = "ewa.kowalska@poczta.pl"


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the route's path template
    url: str  # with the own side's ids
    form: bool = False  # a form carrying the viewer's CSRF token
    data: tuple[tuple[str, str], ...] = ()  # the form's fields (left out: a receipt)


def cases(world: World, customer: int = 1) -> dict[Case, Row]:
    krk, order = world.shop.krakow, world.own_order
    period = "currency=EUR"  # the last 30 days: the world's orders
    find = (("kind", "email"), ("value", CUSTOMER_EMAIL))
    at = f"/console/orders/{order}"
    count = (("count_location_id", str(krk)), ("count_sku", "A"), ("counted", "3"))
    send = (
        *(("from_location_id", str(krk)), ("to_location", "gdn")),
        *(("transfer_sku", "A"), ("transfer_quantity", "1")),
    )
    ship = (("ship_location_id", str(krk)), ("carrier", "DHL"))
    code = (("code", "000000"),)
    back = (
        *(("return_channel_id", str(world.shop.pos)), ("return_line_no", "1")),
        *(("return_quantity", "2"), ("return_reason", "too small")),
    )
    return {
        Case("GET", "/console", "/console"): SIGNED_IN,
        Case("GET", "/console/sign-in", "/console/sign-in"): (200, ON, ON, ON, ON),
        # Without this browser's pre-session token the sign-in form is refused.
        Case("POST", "/console/sign-in", "/console/sign-in"): (403, 403, 403, 403, 403),
        Case("GET", "/console/stock", f"/console/stock?location={krk}"): OWN_STORE,
        # Left out, the store is the staff's own: Gdańsk's staff see Gdańsk.
        Case("GET", "/console/stock", "/console/stock"): (SIGN_IN, 200, 403, 200, 200),
        Case("GET", "/console/stock/{table}.csv", f"/console/stock/levels.csv?location={krk}"): (
            OWN_STORE
        ),
        Case("GET", "/console/stock/{table}.csv", f"/console/stock/transit.csv?location={krk}"): (
            OWN_STORE
        ),
        # The reconciliation reads the whole ledger: the owner's alone, even at the own store.
        Case(
            "GET", "/console/stock/{table}.csv", f"/console/stock/reconciliation.csv?location={krk}"
        ): (SIGN_IN, 200, 403, 403, 403),
        Case("POST", "/console/stock/receipts", "/console/stock/receipts", form=True): (
            SIGN_IN,
            ON,
            403,
            ON,
            403,
        ),
        Case("GET", "/console/orders", f"/console/orders?location={krk}"): OWN_STORE,
        Case("GET", "/console/orders", "/console/orders"): (SIGN_IN, 200, 403, 200, 200),
        Case("GET", "/console/orders.csv", f"/console/orders.csv?location={krk}"): OWN_STORE,
        Case("GET", "/console/orders/{order_id}", f"/console/orders/{order}"): OWN_OBJECT,
        Case(
            "GET", "/console/orders/{order_id}/{table}.csv", f"/console/orders/{order}/history.csv"
        ): OWN_OBJECT,
        # Counts and transfers at (from) the own store: done by its staff and the owner.
        Case("POST", "/console/stock/counts", "/console/stock/counts", True, count): (
            SIGN_IN,
            ON,
            403,
            ON,
            403,
        ),
        Case("POST", "/console/stock/transfers", "/console/stock/transfers", True, send): (
            SIGN_IN,
            ON,
            403,
            ON,
            403,
        ),
        # A till sale is completed: the owner's and the own staff's actions reach the order
        # service, which refuses them (409; 422 for more units back than were sold).
        Case("POST", "/console/orders/{order_id}/ship", f"{at}/ship", True, ship): (
            SIGN_IN,
            409,
            403,
            409,
            403,
        ),
        Case("POST", "/console/orders/{order_id}/pickup/ready", f"{at}/pickup/ready", True): (
            SIGN_IN,
            409,
            403,
            409,
            404,
        ),
        Case(
            "POST", "/console/orders/{order_id}/pickup/collect", f"{at}/pickup/collect", True, code
        ): (SIGN_IN, 409, 403, 409, 404),
        Case("POST", "/console/orders/{order_id}/cancel", f"{at}/cancel", True): (
            SIGN_IN,
            409,
            403,
            409,
            404,
        ),
        # Returns open through a channel the store serves (pos: both stores), for any order.
        Case("POST", "/console/orders/{order_id}/returns", f"{at}/returns", True, back): (
            SIGN_IN,
            422,
            403,
            422,
            422,
        ),
        # As the connectors API: the owner only (connector 999 does not exist).
        Case("GET", "/console/connectors", "/console/connectors"): (SIGN_IN, 200, 403, 403, 403),
        Case(
            "POST",
            "/console/connectors/{connector_id}/retry",
            "/console/connectors/999/retry",
            True,
        ): (SIGN_IN, 404, 403, 403, 403),
        # As the analytics API (analytics:read): the owner and analysts, no store's staff.
        **{
            Case("GET", path, url): ANALYTICS
            for path, url in (
                ("/console/analytics", f"/console/analytics?{period}"),
                ("/console/analytics/{table}.csv", f"/console/analytics/channels.csv?{period}"),
                ("/console/definitions", "/console/definitions"),
                ("/console/definitions.csv", "/console/definitions.csv"),
                ("/console/channels/{code}", f"/console/channels/pos?{period}"),
                (
                    "/console/channels/{code}/{table}.csv",
                    f"/console/channels/pos/funnel.csv?{period}",
                ),
                ("/console/customers", f"/console/customers?{period}"),
                ("/console/customers/{table}.csv", f"/console/customers/cohorts.csv?{period}"),
            )
        },
        # Plotly's script, as the stylesheet: anyone.
        Case("GET", "/console/plotly.min.js", "/console/plotly.min.js"): (200, 200, 200, 200, 200),
        Case("GET", "/console/plotly.css", "/console/plotly.css"): (200, 200, 200, 200, 200),
        # As the customers API (customers:read): the owner and any store's staff, no analyst.
        Case("GET", "/console/customer-search", "/console/customer-search"): CUSTOMERS,
        Case("POST", "/console/customers/search", "/console/customers/search", True, find): (
            SIGN_IN,
            ON,
            403,
            ON,
            ON,
        ),
        Case(
            "GET", "/console/customers/{customer_id}", f"/console/customers/{customer}"
        ): CUSTOMERS,
        Case(
            "GET",
            "/console/customers/{customer_id}/{table}.csv",
            f"/console/customers/{customer}/orders.csv",
        ): CUSTOMERS,
        # Anyone signed in chooses their own language ("auto": as it was, the browser's).
        Case("POST", "/console/language", "/console/language", True, (("locale", "auto"),)): (
            SIGN_IN,
            ON,
            ON,
            ON,
            ON,
        ),
        Case("POST", "/console/sign-out", "/console/sign-out", form=True): (
            SIGN_IN,
            SIGN_IN,
            SIGN_IN,
            SIGN_IN,
            SIGN_IN,
        ),
    }


@pytest.fixture(scope="module")
def clients(console_app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """A browser per viewer, signed in (but the anonymous one)."""
    made = {who: TestClient(console_app) for who in VIEWERS}
    for who, client in made.items():
        client.__enter__()
        if who != "anonymous":
            sign_in(client, EMAILS[who])
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def customer(world_db: tuple[Database, World]) -> int:
    """A person the Customer 360 rows open, known by an e-mail the search row finds."""
    with world_db[0].transaction() as session:
        found = observe(
            session, identifiers=[("email", CUSTOMER_EMAIL)], channel_id=None, source="test"
        )
    assert found is not None
    return found


def _stock(db: Database) -> tuple[int, list[tuple[int, int, int]]]:
    with db.reading() as session:
        moves = session.scalar(select(func.count()).select_from(Movement)) or 0
        levels = session.execute(
            select(StockLevel.variant_id, StockLevel.location_id, StockLevel.on_hand).order_by(
                StockLevel.variant_id, StockLevel.location_id
            )
        ).all()
    return moves, [tuple(r) for r in levels]


def _send(client: TestClient, case: Case, world: World) -> Response:
    if case.method == "GET":
        return client.get(case.url, follow_redirects=False)
    data: dict[str, str] = {}
    if case.form:
        page = client.get("/console", follow_redirects=False)
        data["csrf_token"] = csrf_of(page.text) if page.status_code == 200 else ""
        data |= dict(case.data) or {
            "location_id": str(world.shop.krakow),
            "sku": "A",
            "quantity": "1",
        }
    return client.post(case.url, data=data, follow_redirects=False)


def _outcome(response: Response) -> object:
    if response.status_code != 303:
        return response.status_code
    return SIGN_IN if response.headers["location"].startswith("/console/sign-in") else ON


def test_every_page_has_a_row(console_app: FastAPI, world_db: tuple[Database, World]) -> None:
    pages = {
        (method, route.path)
        for route in api_routes(console_app)
        if route.path.startswith("/console")
        for method in route.methods or ()
    }
    assert {(c.method, c.path) for c in cases(world_db[1])} == pages


def test_pages_are_not_in_the_openapi_document(console_app: FastAPI) -> None:
    paths = console_app.openapi()["paths"]
    assert [p for p in paths if p.startswith(("/console", "/docs", "/redoc"))] == []


@pytest.mark.parametrize("viewer", VIEWERS)
def test_who_may_open_what(
    viewer: str,
    clients: dict[str, TestClient],
    world_db: tuple[Database, World],
    customer: int,
) -> None:
    db, world = world_db
    column = VIEWERS.index(viewer)
    got: dict[str, object] = {}
    expected: dict[str, object] = {}
    for case, row in cases(world, customer).items():
        if case.path == "/console/sign-out":
            continue  # ends the session: checked last, below
        before = _stock(db)
        answer = _outcome(_send(clients[viewer], case, world))
        key = f"{case.method} {case.url}"
        got[key], expected[key] = answer, row[column]
        if case.method == "POST" and answer != ON:
            assert _stock(db) == before, f"{key} was refused but changed stock"
    assert got == expected


@pytest.mark.parametrize("viewer", VIEWERS)
def test_signing_out(viewer: str, console_app: FastAPI, world_db: tuple[Database, World]) -> None:
    _db, world = world_db
    with TestClient(console_app) as client:
        if viewer != "anonymous":
            sign_in(client, EMAILS[viewer])
        sign_out = next(c for c in cases(world) if c.path == "/console/sign-out")
        answer = _outcome(_send(client, sign_out, world))
        assert answer == cases(world)[sign_out][VIEWERS.index(viewer)]
        # Afterwards the same browser is nobody.
        assert _outcome(client.get("/console", follow_redirects=False)) == SIGN_IN


def test_an_app_with_a_page_that_declares_nothing_is_not_built(
    monkeypatch: pytest.MonkeyPatch, world_db: tuple[Database, World]
) -> None:
    router = APIRouter(include_in_schema=False)
    router.routes.extend(stock_pages.router.routes)

    @router.get("/console/forgotten")
    def forgotten() -> str:
        return "anyone could read this"

    monkeypatch.setattr(stock_pages, "router", router)
    with pytest.raises(RuntimeError, match=r"\['GET'\] /console/forgotten"):
        create_app(db=world_db[0], sweep=False)
