"""Reading an append-only table as a feed that never skips a row.

Ids are handed out when rows are inserted, not when their transactions commit, so on
PostgreSQL a reader walking ids could pass a row whose transaction commits later and
never see it. Each feed row therefore carries the id of the transaction that wrote it
(`tx_id`, filled by the database), and a feed only returns rows of transactions older
than every transaction still running, ordered by (tx_id, id): nothing can ever appear
behind a position a reader has passed. SQLite runs one writer at a time, so there ids
follow commit order and `tx_id` stays empty.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, and_, or_, text

from omnicart.kernel.errors import ValidationFailed

MAX_ID = 2**63 - 1
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a reader is in a feed: after the row (tx_id, id)."""

    tx_id: int = 0
    id: int = 0

    def encode(self) -> str:
        """An opaque cursor."""
        raw = orjson.dumps({"tx": self.tx_id, "after": self.id})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> FeedPosition:
        """The position a cursor names (the start for None)."""
        if not cursor:
            return cls()
        try:
            data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            tx_id, row_id = data.get("tx", 0), data["after"]
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise ValidationFailed("cursor is not one this API issued", field="cursor") from None
        for value in (tx_id, row_id):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
                raise ValidationFailed("cursor is not one this API issued", field="cursor")
        return cls(tx_id, row_id)


def settled(tx_column: Any) -> ColumnElement[bool]:
    """Rows whose transaction is older than every transaction still running."""
    condition: ColumnElement[bool] = tx_column < text(
        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    )
    return condition


def feed_window(
    stmt: S, *, tx_column: Any, id_column: Any, position: FeedPosition, dialect: str
) -> S:
    """Restrict and order `stmt` to the settled rows after `position`."""
    if dialect != "postgresql":
        return stmt.where(id_column > position.id).order_by(id_column)
    return stmt.where(
        settled(tx_column),
        or_(
            tx_column > position.tx_id,
            and_(tx_column == position.tx_id, id_column > position.id),
        ),
    ).order_by(tx_column, id_column)


def position_of(tx_id: int | None, row_id: int) -> FeedPosition:
    """The position just after a row."""
    return FeedPosition(tx_id or 0, row_id)
