"""analytics: the analyst role, costs, spend, fees and exchange rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 -- the analytics tables below use it
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- analyst role (begin) ---
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch.create_check_constraint("role", "role IN ('admin', 'channel', 'staff', 'analyst')")
    # --- analyst role (end) ---
    # --- analytics tables (begin) ---
    # --- analytics tables (end) ---


def downgrade() -> None:
    # --- analytics tables (begin) ---
    # --- analytics tables (end) ---
    # --- analyst role (begin) ---
    op.execute("DELETE FROM api_keys WHERE role = 'analyst'")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch.create_check_constraint("role", "role IN ('admin', 'channel', 'staff')")
    # --- analyst role (end) ---
