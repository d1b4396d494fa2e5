"""Text a database can store: no NUL and no lone UTF-16 surrogate, at any depth.

PostgreSQL refuses NUL in text and JSONB, and no driver can encode a lone surrogate
(JSON `"\\ud800"`) as UTF-8; either would fail a write after the request was accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A Python str holds a surrogate only when it came unpaired: JSON pairs decode to one code point.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text must not contain NUL (\\u0000) characters"
    return f"text must not contain a lone UTF-16 surrogate (\\u{ord(found.group()):04x})"


def unstorable_text(value: object, path: str = "") -> tuple[str, str] | None:
    """(path, reason) of the first unstorable string in `value`, keys of objects included.

    `path` is dotted with list indexes as numbers (`lines.0.sku`), as problem fields are.
    """
    if isinstance(value, str):
        reason = text_problem(value)
        return None if reason is None else (path, reason)
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (reason := text_problem(key)) is not None:
                return path, f"a key {reason[5:]}"  # the key itself names no field
            if (found := unstorable_text(item, where)) is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_text(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None
