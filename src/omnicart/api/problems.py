"""Every error leaves the API as RFC 9457 problem+json naming the offending field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import CheckConstraint, Constraint, ForeignKeyConstraint, Table
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.sql.schema import ColumnCollectionConstraint
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnicart.db.base import Base
from omnicart.kernel.errors import OmnicartError
from omnicart.kernel.text import text_problem

PROBLEM_BASE = "https://omnicart.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# Ids are BIGINT; a larger number in a path or query can match nothing.
_MAX_INT = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


class ProblemError(BaseModel):
    """One offending field and what is wrong with it."""

    field: str | None = Field(description="The request field at fault, dotted for nesting.")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document: what every error response carries."""

    type: str = Field(examples=[PROBLEM_BASE + "validation-failed"])
    title: str = Field(examples=["Validation failed"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["sku: a SKU is required"])
    instance: str = Field(description="The request path.", examples=["/v1/products"])
    field: str | None = Field(default=None, description="The first offending field.")
    errors: list[ProblemError] | None = Field(
        default=None, description="Every offending field, when the problem has any."
    )


_DOCUMENTED = {
    400: "Bad request",
    401: "No API key, or an unknown or revoked one",
    403: "The API key may not do this (scope, channel or location)",
    404: "Something the request names does not exist",
    409: "The request conflicts with the current state",
    422: "The request breaks a rule; `field` names the offending field",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in _DOCUMENTED.items()
}


def problem_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every documented error served as problem+json.

    FastAPI files a response model under the route's media type (application/json);
    the error handlers answer application/problem+json, so the document says so.
    """
    documented = {str(status) for status in _DOCUMENTED}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status in documented and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    _exact_integer_bounds(schema)
    return schema


def _exact_integer_bounds(node: object) -> None:
    """Integer bounds as the integers they are.

    FastAPI's OpenAPI models hold bounds as floats, which turns 2**63 - 1 into
    9.223372036854776e18, i.e. 2**63: a bound the API does not accept. Every integer
    bound is written back as an int within the 64-bit range that no id or count exceeds.
    """
    if isinstance(node, list):
        for item in node:
            _exact_integer_bounds(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        for key in ("minimum", "maximum"):
            if isinstance(node.get(key), float):
                node[key] = max(-_MAX_INT, min(_MAX_INT, int(node[key])))
    for value in node.values():
        _exact_integer_bounds(value)


def problem(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
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
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=all_headers or None
    )


def _field_of(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # its loc ends in a character offset, which names no field
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
    # Unstorable text deep in a JSON object names its own place below the field (api.inputs).
    inner = (error.get("ctx") or {}).get("path") if error.get("type") == "unstorable_text" else None
    if inner:
        parts.append(str(inner))
    return ".".join(parts) or "body"


def _invalid_detail(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON{': ' + str(reason) if reason else ''}"
    return str(error.get("msg", "invalid"))


# --- database errors ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Violation:
    """What a broken constraint means to a caller."""

    field: str | None
    detail: str


def _constraint_named(name: str) -> tuple[Table, Constraint] | None:
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                return table, constraint
    return None


def _violation_of(name: str, message: str) -> _Violation | None:
    """Explain a constraint by its name (see db.base.NAMING_CONVENTION), if it is ours."""
    found = _constraint_named(name)
    if found is None:
        return None
    table, constraint = found
    if isinstance(constraint, CheckConstraint):
        rule = str(constraint.sqltext)
        # A check's name is not a column; the columns it mentions are what the caller sent.
        columns = [c.name for c in table.columns if re.search(rf"\b{c.name}\b", rule)]
        field = columns[0] if columns else None
        return _Violation(field, f"{field or 'a value'} breaks the rule {rule!r}")
    if not isinstance(constraint, ColumnCollectionConstraint):
        return None
    columns = [c.name for c in constraint.columns]
    field = columns[-1] if columns else None
    if isinstance(constraint, ForeignKeyConstraint):
        target = constraint.referred_table.name
        if "still referenced" in message:
            return _Violation(field, f"this {table.name} entry is still in use by {target}")
        return _Violation(field, f"{field} does not refer to an existing {target} entry")
    return _Violation(field, f"another {table.name} entry already has this {', '.join(columns)}")


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)")
_SQLITE_NAMED = re.compile(r"CHECK constraint failed: (\w+)")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: \w+\.(\w+)")


def _explain_integrity(exc: IntegrityError) -> _Violation:
    message = str(exc.orig)
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        found = _violation_of(name, message)
        if found is not None:
            return found
    if diag is not None and getattr(diag, "column_name", None):
        return _Violation(diag.column_name, f"{diag.column_name} is required")
    if match := _SQLITE_UNIQUE.search(message):
        table, column = match.groups()
        return _Violation(column, f"another {table} entry already has this {column}")
    if match := _SQLITE_NAMED.search(message):
        found = _violation_of(match.group(1), message)
        if found is not None:
            return found
    if match := _SQLITE_NOT_NULL.search(message):
        return _Violation(match.group(1), f"{match.group(1)} is required")
    if "FOREIGN KEY" in message:
        return _Violation(None, "a reference points to something that does not exist")
    return _Violation(None, "the change conflicts with existing data")


def _out_of_range_field(request: Request) -> str | None:
    """The path or query parameter no column can store (a whole number beyond BIGINT,
    text with NUL), if any."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in params:
        text = str(value).strip()
        if _WHOLE_NUMBER.fullmatch(text) and abs(int(text)) > _MAX_INT:
            return name
        if text_problem(str(value)) is not None:
            return name
    return None


def _data_error_detail(orig: BaseException | None) -> str:
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    message = str(orig)
    if "NUL" in message:
        return "text must not contain NUL (\\u0000) characters"
    if code == "22001" or "too long" in message:
        return "a text is longer than its field allows"
    if code == "22003" or isinstance(orig, OverflowError) or "out of range" in message:
        return "a number is out of the range that can be stored"
    return "a value cannot be stored as given"


def _is_data_problem(exc: BaseException) -> bool:
    if isinstance(exc, DataError | OverflowError):
        return True
    if isinstance(exc, StatementError):
        orig = exc.orig
        # psycopg raises its DataError for NUL bytes before the statement reaches the server.
        return isinstance(orig, OverflowError) or type(orig).__name__ == "DataError"
    return False


def _data_problem(request: Request, exc: BaseException) -> JSONResponse:
    orig = exc.orig if isinstance(exc, StatementError) else exc
    field = _out_of_range_field(request)
    detail = _data_error_detail(orig)
    return problem(
        status=422,
        slug="validation-failed",
        title="Validation failed",
        detail=f"{field}: {detail}" if field else detail,
        instance=request.url.path,
        errors=[{"field": field, "detail": detail}] if field else None,
        field=field,
    )


def _server_error(request: Request) -> JSONResponse:
    return problem(
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="the server failed to handle the request; it has been logged",
        instance=request.url.path,
    )


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
        errors = [{"field": _field_of(err), "detail": _invalid_detail(err)} for err in exc.errors()]
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
            headers=exc.headers,  # e.g. Allow on a 405
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Reaching here means a rule was enforced only by a constraint: still a 409, never a 500.
        violation = _explain_integrity(exc)
        errors = (
            [{"field": violation.field, "detail": violation.detail}] if violation.field else None
        )
        return problem(
            status=409,
            slug="conflict",
            title="Conflict",
            detail=violation.detail,
            instance=request.url.path,
            errors=errors,
            field=violation.field,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return _data_problem(request, exc)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite: "Python int too large to convert to SQLite INTEGER".
        return _data_problem(request, exc)

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        if _is_data_problem(exc):
            return _data_problem(request, exc)
        raise exc  # a real fault: the catch-all below answers 500 and the server logs it

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises (and logs) it; the client gets a problem, not plain text.
        return _server_error(request)
