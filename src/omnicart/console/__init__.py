"""The merchant web console: server-rendered pages over the same services as the API.

`install_console(app)` adds its pages (left out of the OpenAPI document), its stylesheet
and the offline API docs, and answers errors on /console pages as HTML pages rather than
problem+json. Who may open each page is declared with the API's own access rules
(console.access, console.menu).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnicart.console.access import PageRefused, SignInRequired, current_viewer, sign_in_url
from omnicart.console.i18n import Texts, texts_for
from omnicart.kernel.errors import OmnicartError

STATIC = "/console/static"
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def install_console(app: FastAPI) -> None:
    """Add the console's pages, its static files and the offline /docs and /redoc."""
    from importlib.resources import files
    from pathlib import Path

    from omnicart.console import (
        analytics_pages,
        auth_pages,
        channel_pages,
        connectors_pages,
        customer_pages,
        language_pages,
        order_actions,
        order_pages,
        stock_forms,
        stock_pages,
    )
    from omnicart.console.docs import install_docs

    app.mount(
        STATIC,
        StaticFiles(directory=Path(str(files("omnicart.console") / "static"))),
        name="console-static",
    )
    operations = (auth_pages, language_pages, stock_pages, stock_forms, order_pages, order_actions)
    for module in (*operations, connectors_pages):
        app.include_router(module.router)
    for module in (analytics_pages, channel_pages, customer_pages):
        app.include_router(module.router)
    install_docs(app)
    _install_handlers(app)


def _is_console(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def _error_page(request: Request, describe: Callable[[Texts], tuple[int, str]]) -> Response:
    """The error as a page in the viewer's language: `describe` gives the status and the
    detail, written in it."""
    from omnicart.console.render import render

    viewer = current_viewer(request, request.app.state.db)  # first: their own language
    status, detail = describe(texts_for(request))
    return render(request, "error.html", viewer=viewer, status=status, detail=detail, csrf="")


def _install_handlers(app: FastAPI) -> None:
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        from omnicart.console.render import SECURITY_HEADERS

        return RedirectResponse(sign_in_url(exc.back_to), status_code=303, headers=SECURITY_HEADERS)

    async def refused(request: Request, exc: PageRefused) -> Response:
        return _error_page(request, lambda _: (exc.status, exc.detail))

    app.add_exception_handler(SignInRequired, sign_in_first)  # type: ignore[arg-type]
    app.add_exception_handler(PageRefused, refused)  # type: ignore[arg-type]

    # Errors on console pages are pages too; the API keeps its problem+json. A service's
    # detail is the API's (English); the console's own texts are in the viewer's language.
    def as_page(kind: type[Exception], describe: Callable[[Any, Texts], tuple[int, str]]) -> None:
        api_handler: Handler = app.exception_handlers[kind]

        async def handle(request: Request, exc: Any) -> Response:
            if not _is_console(request):
                answer = api_handler(request, exc)
                return await answer if inspect.isawaitable(answer) else answer
            return _error_page(request, lambda texts: describe(exc, texts))

        app.add_exception_handler(kind, handle)

    as_page(OmnicartError, lambda exc, _: (exc.status, exc.detail))
    as_page(RequestValidationError, _invalid)
    as_page(StarletteHTTPException, lambda exc, _: (exc.status_code, _http_detail(exc, _)))


def _invalid(exc: RequestValidationError, _: Texts) -> tuple[int, str]:
    from omnicart.console.forms import validation_message

    first = exc.errors()[0] if exc.errors() else {}
    named = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    where = named or _("request")
    return 422, f"{where}: {validation_message(first, _)}"


def _http_detail(exc: StarletteHTTPException, _: Texts) -> str:
    if exc.status_code == 404:
        return _("There is no such page.")
    return str(exc.detail)
