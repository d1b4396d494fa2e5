"""/docs and /redoc work offline: every script, stylesheet and icon is this server's."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

# src="…", href="…", Swagger UI's `url: '…'` and ReDoc's spec-url="…".
_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")
_ANY_HOST = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_only_this_server(page: str, console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        html = client.get(page)
        assert html.status_code == 200
        references = [a or b for a, b in _REFERENCE.findall(html.text)]
        # The page's JavaScript and CSS, the OpenAPI document and the icon, at least.
        assert len(references) >= 3, references
        assert _ANY_HOST.findall(html.text) == []
        # ReDoc's script itself would fetch Redocly's logo: served without it.
        if page == "/redoc":
            script = client.get(next(r for r in references if r.endswith(".js"))).text
            assert "cdn.redoc.ly" not in script
        for url in references:
            assert url.startswith("/"), url
            fetched = client.get(url)
            assert fetched.status_code == 200, url
            assert len(fetched.content) > 0, url


def test_the_document_the_docs_show_is_the_api(console_app: FastAPI) -> None:
    with TestClient(console_app) as client:
        document = client.get("/openapi.json").json()
    assert "/v1/stock/receipts" in document["paths"]
