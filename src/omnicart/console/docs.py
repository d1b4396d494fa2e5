"""/docs (Swagger UI) and /redoc, their JavaScript and CSS served by this server.

The files come from the `fastapi-offline` package (Swagger UI's and ReDoc's own builds,
shipped on PyPI), mounted as static files: the pages work without internet and name no
other host (FastAPI's own pages load them from a CDN and fetch a favicon and Google Fonts).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from omnicart.api.access import guard
from omnicart.auth.access import PUBLIC

ASSETS_PATH = "/docs-assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
REDOC_PATH = "/redoc-assets/redoc.standalone.js"
# ReDoc's sidebar shows Redocly's logo from their CDN; offline that is a failed request.
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_NO_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@lru_cache(maxsize=1)
def _redoc_script() -> bytes:
    return (
        (ASSETS / "redoc.standalone.js").read_text("utf-8").replace(_REDOC_LOGO, _NO_IMAGE).encode()
    )


def install_docs(app: FastAPI) -> None:
    """Serve the API's documentation pages and their assets from this app."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    @guard(PUBLIC)
    def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI over this API's OpenAPI document."""
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # No badge from the online validator: the page asks no other host for anything.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    @guard(PUBLIC)
    def redoc_script() -> Response:
        """ReDoc's script as the package ships it, less its one image from another host."""
        return Response(
            _redoc_script(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/redoc", include_in_schema=False)
    @guard(PUBLIC)
    def redoc(request: Request) -> HTMLResponse:
        """ReDoc over this API's OpenAPI document."""
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{REDOC_PATH}",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
