"""connectors: vendor connections, credentials, SKU mapping, inbox, needs attention

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from omnicart.db.types import Json, UTCDateTime

    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "connectors",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("channel_id", big_id, nullable=False),
        sa.Column("vendor", sa.String(length=32), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_connectors_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_connectors_channel_id")),
    )
    op.create_table(
        "connector_keys",
        sa.Column("id", big_id, autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_keys")),
    )
    op.create_table(
        "connector_mappings",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("connector_id", big_id, nullable=False),
        sa.Column("vendor_product_id", sa.String(length=64), nullable=False),
        sa.Column("vendor_variant_id", sa.String(length=64), nullable=False),
        sa.Column("stock_ref", sa.String(length=64), nullable=True),
        sa.Column("sku", sa.String(length=120), nullable=False),
        sa.Column("matched_by", sa.String(length=16), nullable=False),
        sa.Column("vendor_sku", sa.String(length=120), nullable=True),
        sa.Column("vendor_gtin", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_mappings_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_mappings")),
        sa.UniqueConstraint(
            "connector_id",
            "vendor_product_id",
            "vendor_variant_id",
            name=op.f("uq_connector_mappings_connector_id_vendor_product_id_vendor_variant_id"),
        ),
    )
    op.create_index(
        "ix_connector_mappings_connector_sku", "connector_mappings", ["connector_id", "sku"]
    )
    op.create_table(
        "connector_inbox",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("connector_id", big_id, nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_order_id", sa.String(length=200), nullable=True),
        sa.Column("headers", Json, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("leased_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("order_id", big_id, nullable=True),
        sa.Column("flags", Json, nullable=True),
        sa.Column("dismissed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_inbox_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_inbox")),
        sa.UniqueConstraint(
            "connector_id", "delivery_id", name=op.f("uq_connector_inbox_connector_id_delivery_id")
        ),
    )
    op.create_index(
        "ix_connector_inbox_status_next", "connector_inbox", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_connector_inbox_connector_order",
        "connector_inbox",
        ["connector_id", "external_order_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_connector_inbox_connector_order", table_name="connector_inbox")
    op.drop_index("ix_connector_inbox_status_next", table_name="connector_inbox")
    op.drop_table("connector_inbox")
    op.drop_index("ix_connector_mappings_connector_sku", table_name="connector_mappings")
    op.drop_table("connector_mappings")
    op.drop_table("connector_keys")
    op.drop_table("connectors")
