"""connectors: stock and price push state, polling cursors

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from omnicart.db.types import UTCDateTime

    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "connector_pushes",
        sa.Column("connector_id", big_id, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sku", sa.String(length=120), nullable=False),
        sa.Column("wanted", sa.String(length=40), nullable=False),
        sa.Column("wanted_seq", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.String(length=40), nullable=True),
        sa.Column("sent_seq", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_pushes_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", "kind", "sku", name=op.f("pk_connector_pushes")),
    )
    op.create_index(
        "ix_connector_pushes_due", "connector_pushes", ["connector_id", "next_attempt_at"]
    )
    op.create_table(
        "connector_push_feed",
        sa.Column("id", big_id, autoincrement=False, nullable=False),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("stock_refreshed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("prices_refreshed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_push_feed")),
    )
    op.create_table(
        "connector_polls",
        sa.Column("connector_id", big_id, nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("next_poll_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("polled_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_polls_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", name=op.f("pk_connector_polls")),
    )


def downgrade() -> None:
    op.drop_table("connector_polls")
    op.drop_table("connector_push_feed")
    op.drop_index("ix_connector_pushes_due", table_name="connector_pushes")
    op.drop_table("connector_pushes")
