"""product feeds: feed tokens per channel

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from omnicart.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "product_feed_tokens",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("channel_id", big_id, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_product_feed_tokens_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_feed_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_product_feed_tokens_token_hash")),
    )
    with op.batch_alter_table("product_feed_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_feed_tokens_channel_id"), ["channel_id"], unique=False
        )
    op.create_table(
        "product_feed_settings",
        sa.Column("channel_id", big_id, nullable=False),
        sa.Column("storefront_url", sa.String(length=2000), nullable=True),
        sa.Column("link_template", sa.String(length=500), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_product_feed_settings_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_product_feed_settings")),
    )


def downgrade() -> None:
    op.drop_table("product_feed_settings")
    with op.batch_alter_table("product_feed_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_feed_tokens_channel_id"))
    op.drop_table("product_feed_tokens")
