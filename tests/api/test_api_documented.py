"""The documented API is the real one: lists, replays and who may call each route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicart.app import create_app
from omnicart.db.engine import Database


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(db=Database.from_url("sqlite://"), sweep=False)
    spec: dict[str, Any] = app.openapi()
    return spec


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_paged_list_answers_a_page_with_the_same_parameters(
    document: dict[str, Any],
) -> None:
    paged = [
        (method, path, op)
        for method, path, op in _operations(document)
        if any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    assert ("GET", "/v1/orders") in {(m, p) for m, p, _ in paged}
    for method, path, op in paged:
        names = {p["name"]: p for p in op["parameters"]}
        assert "before_id" not in names, path
        limit = names["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, 500), path
        assert names["cursor"]["description"].startswith("`next_cursor`"), path
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"items", "next_cursor"}, (method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/carts/{cart_id}/checkout"),
        ("POST", "/v1/pos/sales"),
        ("POST", "/v1/reservations"),
        ("PUT", "/v1/channels/{channel_id}/orders/{external_id}"),
        ("POST", "/v1/conversations"),
    ],
)
def test_a_replay_answers_a_documented_200_with_the_same_body(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = document["paths"][path][method.lower()]["responses"]
    created = responses["201"]["content"]["application/json"]["schema"]
    assert responses["200"]["content"]["application/json"]["schema"] == created


def test_every_route_says_who_may_call_it(document: dict[str, Any]) -> None:
    undocumented = [
        f"{method} {path}"
        for method, path, op in _operations(document)
        if "**Who may call:**" not in op.get("description", "")
    ]
    assert undocumented == []


def test_enums_are_documented(document: dict[str, Any]) -> None:
    orders = {p["name"]: p for p in document["paths"]["/v1/orders"]["get"]["parameters"]}
    statuses = orders["status"]["schema"]["anyOf"][0]["enum"]
    assert "partially_fulfilled" in statuses
    key_in = document["components"]["schemas"]["ApiKeyIn"]["properties"]["role"]
    assert key_in["enum"] == ["admin", "channel", "staff", "analyst"]


def test_orders_list_pages_newest_first(client: TestClient) -> None:
    first = client.get("/v1/orders", params={"limit": 500})
    assert first.status_code == 200
    assert first.json() == {"items": [], "next_cursor": None}
    assert client.get("/v1/orders", params={"limit": 501}).status_code == 422
    refused = client.get("/v1/orders", params={"cursor": "not-one-of-ours"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "cursor"
