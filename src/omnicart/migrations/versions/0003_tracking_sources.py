"""tracking sources: write keys for the Segment-compatible tracking API

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import omnicart.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_sources",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("write_key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", omnicart.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_tracking_sources_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_sources")),
        sa.UniqueConstraint("write_key_hash", name=op.f("uq_tracking_sources_write_key_hash")),
    )
    with op.batch_alter_table("tracking_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_sources_channel_id"), ["channel_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tracking_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_sources_channel_id"))
    op.drop_table("tracking_sources")
