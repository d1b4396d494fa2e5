"""Path and query parameters every route types the same way."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import Path, Query, Request

from omnicart.kernel.errors import ValidationFailed

# Ids are 64-bit in every table; a larger number names nothing and must not reach a driver.
MAX_ID = 2**63 - 1

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
IdInQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]

# A SKU in a path or a query: as long as a stored SKU may be; what it may contain is the
# catalog's rule (an unknown SKU is a 404 naming it).
SKU_MAX = 120
SkuPath = Annotated[str, Path(min_length=1, max_length=SKU_MAX, description="A SKU.")]
SkuQuery = Annotated[str | None, Query(min_length=1, max_length=SKU_MAX, description="A SKU.")]
# Short free-text filters (a category slug, an event type).
NameQuery = Annotated[str | None, Query(min_length=1, max_length=120)]


async def check_url(request: Request) -> None:
    """Refuse a path or query that is not UTF-8 once percent-decoded.

    Async: a few microseconds of work on every request, not worth a thread-pool hop.

    Starlette decodes such bytes to replacement characters, which would then be stored
    as if the client had sent them (an external order id of "\ufffd\ufffd\ufffd").
    """
    raw_path: bytes = request.scope.get("raw_path") or b""
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("the path is not valid UTF-8", field="path") from None
    query: bytes = request.scope.get("query_string") or b""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for name, value in pairs:
        for part, what in ((name, "name"), (value, "value")):
            try:
                part.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                field = name.encode("latin-1").decode("utf-8", "replace")
                raise ValidationFailed(
                    f"the query parameter's {what} is not valid UTF-8", field=field
                ) from None
