"""Every request body is bounded and storable: no input reaches a 500, and the document says so.

Structural tests walk every body the OpenAPI document reaches, so a new schema that
forgets the shared base or an integer's bounds fails here; behaviour tests send what used
to crash a request (ids and quantities beyond 64 bits, lone surrogates, a non-ASCII
pickup code) and expect a 422 naming the field, with nothing written.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select

from omnicart.api.inputs import InputModel
from omnicart.app import create_app
from omnicart.auth.schemas import Role
from omnicart.auth.service import create_api_key
from omnicart.catalog.tables import Product, Variant
from omnicart.channels.model import CHANNEL_KINDS
from omnicart.channels.schemas import ChannelKind
from omnicart.db.engine import Database
from omnicart.inventory.tables import Reservation
from omnicart.kernel.errors import Forbidden
from omnicart.kernel.money import in_minor_units
from omnicart.locations.model import LOCATION_KINDS
from omnicart.locations.schemas import LocationKind
from omnicart.orders import checkout, fulfilment
from omnicart.orders.model import FULFILMENT_MODES, ORDER_STATUSES, Fulfil, PaymentDraft
from omnicart.orders.schemas import FulfilmentMode, OrderStatus
from omnicart.tracking.model import InvalidEvent, parse_batch, parse_call
from tests.conftest import ADMIN_SECRET
from tests.orders_support import seed_shop

PROBLEM = "application/problem+json"


def _problem(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


def _post(client: TestClient, url: str, body: object) -> Any:
    """POST JSON as a client library would send it: lone surrogates as \\u escapes."""
    return client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


def _count(db: Database, table: type[Any]) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


# --- every body follows the shared rules -------------------------------------------------


def _models(annotation: Any) -> set[type[BaseModel]]:
    """The Pydantic models an annotation holds, at any depth of lists, dicts and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = {annotation}
        for field in annotation.model_fields.values():
            found |= _models(field.annotation)
        return found
    return {model for arg in get_args(annotation) for model in _models(arg)}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every FastAPI route of the app, those of included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "effective_route_contexts"):  # an included router
            found += _api_routes([c.original_route for c in route.effective_route_contexts()])
    return found


def test_every_request_body_derives_from_the_shared_input_model(client: TestClient) -> None:
    routes = _api_routes(client.app.routes)  # type: ignore[attr-defined]
    assert len(routes) > 90
    bodies = {
        model
        for route in routes
        if route.body_field is not None
        for model in _models(route.body_field.field_info.annotation)
    }
    assert len(bodies) > 40  # the walk reaches nested bodies too (lines, addresses, ...)
    outside = sorted(m.__qualname__ for m in bodies if not issubclass(m, InputModel))
    assert outside == []


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = spec
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _integers(
    spec: dict[str, Any], schema: Any, path: str, seen: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(path, schema) of every integer a body schema can hold."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return []
        return _integers(spec, _resolve(spec, schema), path, seen | {schema["$ref"]})
    found = [(path, schema)] if schema.get("type") == "integer" else []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _integers(spec, option, path, seen)
    for name, prop in schema.get("properties", {}).items():
        found += _integers(spec, prop, f"{path}.{name}", seen)
    for key in ("items", "additionalProperties"):
        found += _integers(spec, schema.get(key), f"{path}[]", seen)
    return found


def test_every_integer_of_every_body_is_bounded(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    integers = [
        found
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for media in operation.get("requestBody", {}).get("content", {}).values()
        for found in _integers(spec, media.get("schema"), f"{method.upper()} {path}", set())
    ]
    assert len(integers) > 30
    unbounded = [path for path, schema in integers if {"minimum", "maximum"} - set(schema)]
    assert unbounded == []
    too_wide = [path for path, schema in integers if schema["maximum"] > 2**63 - 1]
    assert too_wide == []


class _Nested(InputModel):
    name: str


class _Body(InputModel):
    title: str
    traits: dict[str, Any] = Field(default_factory=dict)
    lines: list[_Nested] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "a\x00b"}, "title"),
        ({"title": "\ud800"}, "title"),
        ({"title": "ok", "traits": {"a": [1, {"b": "\udfff"}]}}, "traits.a.1.b"),
        ({"title": "ok", "traits": {"\x00": 1}}, "traits"),
        ({"title": "ok", "lines": [{"name": "x"}, {"name": "\x00"}]}, "lines.1.name"),
    ],
)
def test_unstorable_text_is_refused_at_any_depth(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _Body.model_validate(body)
    (error,) = raised.value.errors()
    inner = error["ctx"]["path"]
    where = [str(p) for p in error["loc"]] + ([inner] if inner else [])
    assert ".".join(where) == field
    assert error["type"] == "unstorable_text"


def test_storable_text_passes_untouched() -> None:
    body = _Body.model_validate({"title": "Zażółć 😀", "traits": {"ключ": ["值", None, 1.5]}})
    assert body.title == "Zażółć 😀"
    assert body.traits == {"ключ": ["值", None, 1.5]}


# --- what used to be a 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "channel_id", "field"),
    [
        ([{"sku": "A", "quantity": 1}], 2**64, "channel_id"),
        ([{"sku": "A", "quantity": 2**64}], 1, "lines.0.quantity"),
        ([{"sku": "A", "quantity": 1_000_001}], 1, "lines.0.quantity"),
        ([{"sku": "A\ud800", "quantity": 1}], 1, "lines.0.sku"),
    ],
)
def test_reservation_beyond_64_bits_or_with_a_surrogate_is_422(
    client: TestClient, sqlite_db: Database, lines: list[Any], channel_id: int, field: str
) -> None:
    body = {"channel_id": channel_id, "lines": lines, "idempotency_key": "k"}
    response = _post(client, "/v1/reservations", body)
    _problem(response, field)
    assert _count(sqlite_db, Reservation) == 0


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({"handle": "tee\ud800", "title": "Tee"}, "handle"),
        ({"handle": "tee", "title": "Tee", "attributes": {"size": "\udc00"}}, "attributes.size"),
        ({"handle": "tee", "title": "T\x00ee"}, "title"),
    ],
)
def test_product_with_unstorable_text_is_422_naming_the_field(
    client: TestClient, sqlite_db: Database, product: dict[str, Any], field: str
) -> None:
    body = {**product, "variants": [{"sku": "TEE"}]}
    _problem(_post(client, "/v1/products", body), field)
    assert (_count(sqlite_db, Product), _count(sqlite_db, Variant)) == (0, 0)


def _ready_pickup(db: Database) -> tuple[int, str]:
    shop = seed_shop(db)
    cart = checkout.create_cart(db, channel_id=shop.web, lines=[("B", 1)])
    request = checkout.Checkout(
        fulfil=Fulfil(mode="pickup", pickup_location_id=shop.gdansk),
        payments=(PaymentDraft("card", Decimal("19.99")),),
    )
    order_id = checkout.checkout(db, cart_id=cart.id, request=request).id
    ready = fulfilment.mark_ready(db, order_id=order_id)
    code = ready.fulfilments[0].pickup_code
    assert code is not None
    return order_id, code


def test_non_ascii_pickup_code_is_422_and_collects_nothing(
    client: TestClient, sqlite_db: Database
) -> None:
    order_id, code = _ready_pickup(sqlite_db)
    response = client.post(f"/v1/orders/{order_id}/pickup/collect", json={"code": "é" + code})
    _problem(response, "code")
    order = client.get(f"/v1/orders/{order_id}").json()
    assert order["status"] == "confirmed"


def test_a_wrong_code_of_any_text_is_refused_without_raising(sqlite_db: Database) -> None:
    order_id, code = _ready_pickup(sqlite_db)
    for typed in ("é" + code, "\ud800", code + " x"):
        with pytest.raises(Forbidden, match="code"):
            fulfilment.collect(sqlite_db, order_id=order_id, code=typed)
    assert fulfilment.collect(sqlite_db, order_id=order_id, code=code).status == "fulfilled"


# --- the document says what the API does --------------------------------------------------


def test_enums_are_documented_as_the_models_define_them(client: TestClient) -> None:
    assert get_args(ChannelKind) == CHANNEL_KINDS
    assert get_args(LocationKind) == LOCATION_KINDS
    assert set(get_args(OrderStatus)) == set(ORDER_STATUSES)
    assert get_args(FulfilmentMode) == FULFILMENT_MODES
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ChannelIn"]["properties"]["kind"]["enum"] == list(CHANNEL_KINDS)
    assert schemas["ChannelOut"]["properties"]["kind"]["enum"] == list(CHANNEL_KINDS)
    assert schemas["LocationIn"]["properties"]["kind"]["enum"] == list(LOCATION_KINDS)
    assert schemas["ApiKeyIn"]["properties"]["role"]["enum"] == list(get_args(Role))
    assert schemas["ApiKeyOut"]["properties"]["role"]["enum"] == [
        "admin",
        "channel",
        "staff",
        "analyst",
    ]
    assert set(schemas["OrderOut"]["properties"]["status"]["enum"]) == set(ORDER_STATUSES)


def _nullable(schema: dict[str, Any]) -> set[str]:
    return {
        name
        for name, prop in schema["properties"].items()
        if any(option.get("type") == "null" for option in prop.get("anyOf", []))
    }


def test_patch_bodies_document_null_only_where_null_is_accepted(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    patches = {
        _resolve(spec, media["schema"])["title"]: _resolve(spec, media["schema"])
        for operations in spec["paths"].values()
        for method, operation in operations.items()
        if method == "patch"
        for media in operation["requestBody"]["content"].values()
    }
    assert {name: _nullable(schema) for name, schema in patches.items()} == {
        "ChannelPatch": set(),
        "ConnectorPatch": set(),
        "LocationPatch": {"latitude", "longitude"},
        "ProductPatchIn": {"category"},
        "SubscriptionChange": set(),
        "VariantPatchIn": {"gtin", "low_stock_threshold"},
    }


def test_a_patch_null_is_refused_where_documented_non_null(client: TestClient) -> None:
    created = client.post(
        "/v1/channels", json={"code": "web", "name": "Web", "kind": "web", "currency": "EUR"}
    ).json()
    before = client.get(f"/v1/channels/{created['id']}").json()
    for field in ("name", "active", "buffer_units", "currency"):
        _problem(client.patch(f"/v1/channels/{created['id']}", json={field: None}), field)
    assert client.get(f"/v1/channels/{created['id']}").json() == before


# --- money is printed with the currency's decimals ------------------------------------------


@pytest.mark.parametrize(
    ("currency", "sent", "printed"),
    [
        ("EUR", "24", "24.00"),
        ("EUR", 24, "24.00"),
        ("JPY", "2400", "2400"),
        ("BHD", "1.5", "1.500"),
    ],
)
def test_prices_are_printed_with_the_currency_minor_units(
    client: TestClient, currency: str, sent: object, printed: str
) -> None:
    channel = client.post(
        "/v1/channels", json={"code": "web", "name": "Web", "kind": "web", "currency": currency}
    ).json()
    product = {"handle": "tee", "title": "Tee", "variants": [{"sku": "TEE"}]}
    assert client.post("/v1/products", json=product).status_code == 201
    url = f"/v1/channels/{channel['id']}/prices/TEE"
    put = client.put(url, json={"amount": sent, "currency": currency})
    assert put.status_code == 200, put.text
    assert put.json()["price"] == {"amount": printed, "currency": currency}
    assert client.get(url).json()["price"] == {"amount": printed, "currency": currency}


# --- Segment payloads: NUL would stall the customer linking on PostgreSQL -----------------


def test_a_tracking_call_with_nul_is_refused_naming_the_field() -> None:
    message = {"userId": "u-1", "traits": {"email": "ola@x.pl\x00"}}
    with pytest.raises(InvalidEvent) as raised:
        parse_call(message, kind="identify", received_us=0)
    assert raised.value.field == "traits.email"


def test_a_batch_keeps_its_good_messages_and_names_the_nul() -> None:
    batch = {
        "batch": [
            {"type": "track", "userId": "u-1", "event": "Product Viewed"},
            {"type": "track", "userId": "u\x00", "event": "Product Viewed"},
        ]
    }
    parsed = parse_batch(batch, received_us=0)
    assert len(parsed.rows) == 1
    assert [(r.index, r.field) for r in parsed.rejected] == [(1, "batch[1].userId")]
    with pytest.raises(InvalidEvent) as raised:
        parse_batch({**batch, "context": {"ip": "\x00"}}, received_us=0)
    assert raised.value.field == "context.ip"


# --- amounts in minor units ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "printed"),
    [
        ("24", "EUR", "24.00"),
        ("24", "JPY", "24"),
        ("24", "BHD", "24.000"),
        ("0", "EUR", "0.00"),
        ("-3.5", "EUR", "-3.50"),
        ("0.125", "EUR", "0.125"),  # more decimals than EUR has: never rounded when printed
    ],
)
def test_in_minor_units(amount: str, currency: str, printed: str) -> None:
    assert str(in_minor_units(Decimal(amount), currency)) == printed


@pytest.mark.postgres
def test_nul_is_422_naming_the_field_on_postgres(pg_db: Database) -> None:
    # PostgreSQL refuses NUL in text: in a body the schema names the field, in a path the
    # database error is mapped to the parameter that holds it.
    with pg_db.transaction() as session:
        create_api_key(session, name="admin", role="admin", secret=ADMIN_SECRET)
    app = create_app(db=pg_db, sweep=False)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as client:
        body = {"handle": "tee", "title": "T\x00", "variants": [{"sku": "TEE"}]}
        _problem(_post(client, "/v1/products", body), "title")
        _problem(client.get("/v1/variants/TEE%00"), "sku")
        assert _count(pg_db, Product) == 0


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("PUT", "/v1/channels/1/orders/%ED%A0%80", "path"),  # a lone surrogate, UTF-8 encoded
        ("GET", "/v1/variants/%FF%FE", "path"),
        ("GET", "/v1/stock?sku=%ED%A0%80", "sku"),
        ("GET", f"/v1/orders/{2**64}", "order_id"),
        ("GET", f"/v1/orders?channel_id={2**63}", "channel_id"),
        ("GET", f"/v1/variants/{'S' * 121}", "sku"),
        ("PUT", f"/v1/channels/1/orders/{'X' * 201}", "external_id"),
        ("GET", "/v1/reservations?status=lost", "status"),
    ],
)
def test_paths_and_queries_that_name_nothing_storable_are_422(
    client: TestClient, sqlite_db: Database, method: str, url: str, field: str
) -> None:
    before = (_count(sqlite_db, Reservation), _count(sqlite_db, Product))
    response = client.request(method, url, json={})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert (_count(sqlite_db, Reservation), _count(sqlite_db, Product)) == before
