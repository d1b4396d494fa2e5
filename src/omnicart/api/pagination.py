"""Cursor pagination: opaque cursors over ascending ids."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from omnicart.kernel.errors import ValidationFailed

MAX_PAGE = 500
CURSOR_DOC = (
    "`next_cursor` of the previous page: an opaque string this API issued; leave it out "
    "for the first page. A page shorter than `limit` has `next_cursor: null`."
)
MAX_ID = 2**63 - 1
T = TypeVar("T")
# Every list takes the same two parameters and answers a `Page`.
Cursor = Annotated[str | None, Query(description=CURSOR_DOC)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page, 1 to {MAX_PAGE}.")]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    """An opaque cursor pointing after `last_id`."""
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which the next page starts (0 for the first page)."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        after = data["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise ValidationFailed("cursor is not one this API issued", field="cursor") from None
    # bool is an int to Python, and ids are BIGINT: anything else was not issued here.
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID:
        raise ValidationFailed("cursor is not one this API issued", field="cursor")
    return after


def next_cursor(ids: list[int], limit: int) -> str | None:
    """A cursor for the next page, or None when this page was the last."""
    return encode_cursor(ids[-1]) if len(ids) == limit and ids else None
