"""analytics: the analyst role, costs, spend, fees and exchange rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
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
    from omnicart.db.types import ExactDecimal, UTCDateTime

    channel_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    # Exchange rates keep six decimals; SQLite keeps exact decimals as text.
    rate = sa.Numeric(precision=18, scale=6).with_variant(sa.String(length=40), "sqlite")

    def channel_fk(table: str) -> sa.ForeignKeyConstraint:
        return sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f(f"fk_{table}_channel_id_channels")
        )

    op.create_table(
        "analytics_ad_spend",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel_id", channel_id, nullable=False),
        sa.Column("campaign", sa.String(length=255), nullable=False),
        sa.Column("spend", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("layout", sa.String(length=16), nullable=False),
        sa.Column("source_file", sa.String(length=255), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        channel_fk("analytics_ad_spend"),
        sa.PrimaryKeyConstraint(
            "day", "channel_id", "campaign", name=op.f("pk_analytics_ad_spend")
        ),
    )
    op.create_table(
        "analytics_unit_costs",
        sa.Column("sku", sa.String(length=120), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("cost", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", "valid_from", name=op.f("pk_analytics_unit_costs")),
    )
    op.create_table(
        "analytics_channel_fees",
        sa.Column("channel_id", channel_id, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("commission_pct", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("payment_pct", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("payment_fixed", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        channel_fk("analytics_channel_fees"),
        sa.PrimaryKeyConstraint("channel_id", "valid_from", name=op.f("pk_analytics_channel_fees")),
    )
    op.create_table(
        "analytics_fixed_costs",
        sa.Column("channel_id", channel_id, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("amount", ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        channel_fk("analytics_fixed_costs"),
        sa.PrimaryKeyConstraint(
            "channel_id", "month", "label", name=op.f("pk_analytics_fixed_costs")
        ),
    )
    op.create_table(
        "analytics_exchange_rates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("per_eur", rate, nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", name=op.f("pk_analytics_exchange_rates")),
    )
    # --- analytics tables (end) ---


def downgrade() -> None:
    # --- analytics tables (begin) ---
    for table in (
        "analytics_exchange_rates",
        "analytics_fixed_costs",
        "analytics_channel_fees",
        "analytics_unit_costs",
        "analytics_ad_spend",
    ):
        op.drop_table(table)
    # --- analytics tables (end) ---
    # --- analyst role (begin) ---
    op.execute("DELETE FROM api_keys WHERE role = 'analyst'")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch.create_check_constraint("role", "role IN ('admin', 'channel', 'staff')")
    # --- analyst role (end) ---
