"""erased stays erased: suppression of erased identifiers, erasures that finish by themselves

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- suppression (begin) ---
    from omnicart.db.types import UTCDateTime

    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "customer_suppressions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("erasure_id", big_id, nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["erasure_id"],
            ["customer_erasures.id"],
            name=op.f("fk_customer_suppressions_erasure_id_customer_erasures"),
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_customer_suppressions")),
    )
    op.create_table(
        "customer_suppression_keys",
        sa.Column("id", big_id, autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_suppression_keys")),
    )
    op.create_table(
        "customer_suppression_lifts",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_suppression_lifts")),
    )
    with op.batch_alter_table("customer_suppression_lifts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_suppression_lifts_digest"), ["digest"], unique=False
        )
    # --- suppression (end) ---
    # --- erasure steps (begin) ---
    from omnicart.db.types import UTCDateTime as StepTime  # imported within this block

    with op.batch_alter_table("customer_erasures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), server_default="done", nullable=False)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", StepTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("finished_at", StepTime(timezone=True), nullable=True))
    with op.batch_alter_table("customer_pending_erasures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events_path", sa.String(length=1000), nullable=True))
    op.create_table(
        "customer_erasure_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", StepTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_erasure_keys")),
    )
    # Erasures left half-done by an earlier version: the sweep finishes them now.
    op.execute(
        sa.text(
            "UPDATE customer_erasures SET state = 'pending' "
            "WHERE id IN (SELECT erasure_id FROM customer_pending_erasures)"
        )
    )
    # --- erasure steps (end) ---
    op.execute(sa.text("SELECT 1"))


def downgrade() -> None:
    # --- erasure steps (begin) ---
    op.drop_table("customer_erasure_keys")
    with op.batch_alter_table("customer_pending_erasures", schema=None) as batch_op:
        batch_op.drop_column("events_path")
    with op.batch_alter_table("customer_erasures", schema=None) as batch_op:
        for column in ("finished_at", "last_error", "next_attempt_at", "attempts", "state"):
            batch_op.drop_column(column)
    # --- erasure steps (end) ---
    # --- suppression (begin) ---
    with op.batch_alter_table("customer_suppression_lifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_suppression_lifts_digest"))
    op.drop_table("customer_suppression_lifts")
    op.drop_table("customer_suppression_keys")
    op.drop_table("customer_suppressions")
    # --- suppression (end) ---
    op.execute(sa.text("SELECT 1"))
