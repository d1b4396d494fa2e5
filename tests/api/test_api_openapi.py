"""The OpenAPI document describes errors as the API sends them: problem+json."""

from __future__ import annotations

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
ERRORS = ("400", "401", "403", "404", "409", "422")


def test_every_operation_documents_problem_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) > 30
    for operation in operations:
        for status in ERRORS:
            response = operation["responses"][status]
            assert response["content"] == {
                PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (operation["operationId"], status)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["Problem"]["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "field",
        "errors",
    }
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail", "instance"]


def test_a_documented_error_is_what_the_api_sends(client: TestClient) -> None:
    response = client.get("/v1/products/404")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert set(response.json()) <= {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "field",
        "errors",
    }
