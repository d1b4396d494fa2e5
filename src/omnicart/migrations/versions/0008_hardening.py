"""hardening: what the stock rules and the order book's fulfilment needed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- stock rules: listings (begin) ---
    from sqlalchemy.dialects import postgresql

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "flags",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    # --- stock rules: listings (end) ---
    # --- orders and loyalty (begin) ---
    # --- orders and loyalty (end) ---
    pass


def downgrade() -> None:
    # --- orders and loyalty (begin) ---
    # --- orders and loyalty (end) ---
    # --- stock rules: listings (begin) ---
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("flags")
    # --- stock rules: listings (end) ---
    pass
