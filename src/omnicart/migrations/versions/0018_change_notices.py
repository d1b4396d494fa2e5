"""PostgreSQL tells every process when a table whose rows processes keep changes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 09:00:00

Each table of `omnicart.db.cache.WATCHED` gets a statement-level trigger that sends
`NOTIFY omnicart_changes, '<schema>.<table>'`; `ProcessCache` listens. SQLite keeps
nothing between requests, so it needs none.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration states the schema of its day.
TABLES = (
    "api_keys",
    "channels",
    "channel_locations",
    "locations",
    "order_rules",
    "customer_suppression_keys",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION omnicart_notify_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('omnicart_changes', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
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
    op.execute("DROP FUNCTION IF EXISTS omnicart_notify_change()")
