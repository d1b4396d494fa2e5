"""feed transaction ids: PostgreSQL fills tx_id on ledger and outbox rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stock_movements", "outbox_events")


def upgrade() -> None:
    # SQLite has one writer at a time, so its ids already follow commit order.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        # Rows written before this revision count as settled long ago: first in the feed.
        op.execute(f"UPDATE {table} SET tx_id = 0 WHERE tx_id IS NULL")  # noqa: S608 (fixed names)
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN tx_id "
            "SET DEFAULT (pg_current_xact_id()::text::bigint)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN tx_id DROP DEFAULT")
