"""Every error leaves the API as RFC 9457 problem+json naming the offending field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnicart.kernel.errors import OmnicartError

PROBLEM_BASE = "https://omnicart.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to problem+json once."""

    @app.exception_handler(OmnicartError)
    async def _domain(request: Request, exc: OmnicartError) -> JSONResponse:
        errors = [{"field": exc.field, "detail": exc.detail}] if exc.field else None
        return problem(
            status=exc.status,
            slug=exc.type_slug,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors=errors,
            field=exc.field,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(err.get("loc", ())), "detail": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
        return problem(
            status=422,
            slug="validation-failed",
            title="Validation failed",
            detail=f"{first['field']}: {first['detail']}",
            instance=request.url.path,
            errors=errors,
            field=first["field"],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            status=exc.status_code,
            slug="http-" + str(exc.status_code),
            title=str(exc.detail) if exc.status_code >= 500 else "HTTP error",
            detail=str(exc.detail),
            instance=request.url.path,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Reaching here means a rule was enforced only by a constraint: still a 409, never a 500.
        return problem(
            status=409,
            slug="conflict",
            title="Conflict",
            detail="the change conflicts with existing data: " + str(exc.orig).splitlines()[0],
            instance=request.url.path,
        )
