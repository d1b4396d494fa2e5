"""PostgreSQL tells every process when a channel's prices or listings change

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 09:00:00

The order path keeps each channel's price and listing of a SKU per process
(`omnicart.db.cache`), so `variants`, `channel_prices` and `listings` get migration
0018's statement-level trigger too.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration states the schema of its day.
TABLES = ("variants", "channel_prices", "listings")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER omnicart_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION omnicart_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS omnicart_changes ON {table}")
