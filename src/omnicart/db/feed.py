"""Reading an append-only table as a feed that never skips a row.

Ids are handed out when rows are inserted, not when their transactions commit, so on
PostgreSQL a reader walking ids could pass a row whose transaction commits later and
never see it. Each feed row therefore carries the id of the transaction that wrote it
(`tx_id`, filled by the database), and a feed only returns rows of transactions older
than every transaction of this database still running, ordered by (tx_id, id): nothing
can ever appear behind a position a reader has passed. SQLite runs one writer at a time,
so there ids follow commit order and `tx_id` stays empty.

The horizon (`HORIZON`, computed once per statement) is the smallest of:

- every transaction id running in the statement's snapshot (`pg_snapshot_xip`), except
  those positively known to belong to another database of the server: the `backend_xid`
  of a `pg_stat_activity` row whose `datname` is not ours;
- our own transaction id, if it has one (a snapshot leaves its own transaction out);
- the snapshot's `xmax` (nothing running: every assigned id is settled);
- on a standby, the snapshot's `xmin` (there the running ids are not in `xip`).

PostgreSQL's own `xmin` would do, but it spans every database of the server, so one busy
or long transaction elsewhere would hold every feed of ours back. Leaving out an id is
safe whatever happens between taking the snapshot and reading `pg_stat_activity`: an id
in `xip` was assigned before the snapshot, and the backend shown holding it held it (and
its slot) from then on, so the database shown is that backend's, which never changes; a
row of ours cannot carry another database's transaction id. Everything else errs on the
safe side and keeps its id in the horizon: a foreign transaction that ends meanwhile or
began after `pg_stat_activity` was first read in this transaction (PostgreSQL keeps that
read until the transaction ends), a backend without a database, a prepared transaction,
a `backend_xid` hidden for lack of privilege. At worst the horizon is PostgreSQL's
`xmin`. Below the horizon, every transaction of ours has ended before the snapshot was taken, so
its rows are visible now (committed) or never will be (rolled back).
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


# One scalar subquery (an InitPlan: evaluated once per statement, not per row). The
# snapshot functions all read the statement's snapshot, the one its rows are read with.
HORIZON = """(
    SELECT least(
        min(running),
        pg_current_xact_id_if_assigned(),
        pg_snapshot_xmax(pg_current_snapshot()),
        CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(pg_current_snapshot()) END
    )
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE NOT EXISTS (
        SELECT FROM pg_stat_activity AS other
        WHERE other.backend_xid = running::xid AND other.datname <> current_database()
    )
)::text::bigint"""


def settled(tx_column: Any) -> ColumnElement[bool]:
    """Rows whose transaction is older than every transaction of this database still
    running (see the module's docstring)."""
    condition: ColumnElement[bool] = tx_column < text(HORIZON)
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
