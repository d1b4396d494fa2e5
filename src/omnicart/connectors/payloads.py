"""Reading vendors' JSON: amounts, times, ids and text, each refused naming its field.

Adapters read a payload through these so that a missing or malformed field is a
`ValidationFailed` naming it (the delivery is parked with that reason), never a KeyError.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from omnicart.kernel.errors import ValidationFailed


def parse_json(body: bytes) -> Any:
    """The body as JSON, or ValidationFailed saying why it is not."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"the body is not JSON: {exc}", field="body") from None


def obj(value: Any, field: str) -> Mapping[str, Any]:
    """A JSON object."""
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{field} must be a JSON object", field=field)
    return value


def items(value: Any, field: str, *, required: bool = True) -> list[Mapping[str, Any]]:
    """A JSON array of objects (missing: [] unless required)."""
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"{field} must be a list", field=field)
    return [obj(item, f"{field}.{index}") for index, item in enumerate(value)]


def amount(value: Any, field: str, *, default: Decimal | None = None) -> Decimal:
    """A decimal amount written as a string or a number."""
    if value is None or value == "":
        if default is not None:
            return default
        raise ValidationFailed(f"{field} is missing", field=field)
    if isinstance(value, bool):
        raise ValidationFailed(f"{field} must be an amount", field=field)
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{field} {value!r} is not an amount", field=field) from None
    if not found.is_finite():
        raise ValidationFailed(f"{field} {value!r} is not an amount", field=field)
    return found


def whole(value: Any, field: str) -> int:
    """A whole number (a JSON integer, or a string of digits)."""
    if isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a whole number", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValidationFailed(f"{field} must be a whole number", field=field)


def ident(value: Any, field: str, *, required: bool = True) -> str | None:
    """A vendor id as text (ids come as numbers or strings); 0 and '' are no id."""
    if value is None or value in ("", 0) or isinstance(value, bool):
        if required:
            raise ValidationFailed(f"{field} is missing", field=field)
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        if text:
            return text[:200]
    raise ValidationFailed(f"{field} must be an id", field=field)


def text(value: Any, *, limit: int = 300) -> str:
    """Free text as a string, cut to `limit` (None: '')."""
    if value is None:
        return ""
    return str(value).replace("\x00", "")[:limit]


def when(value: Any, field: str, *, naive_is_utc: bool = True) -> datetime | None:
    """An ISO 8601 time (aware UTC); None when missing."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be an ISO 8601 time", field=field)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{field} {value!r} is not an ISO 8601 time", field=field) from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValidationFailed(f"{field} {value!r} has no time zone", field=field)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def body_id(body: bytes) -> str:
    """A stable id for a delivery whose vendor gave none: its body's hash."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
