"""keys made with their role's defaults get the scopes added since: orders and customers

A key stores its scopes. Keys made before the order book and the customers existed hold
the defaults of their time, so a channel's key could not send its orders and a store's
staff key could not record till sales, pickups or returns. Keys that hold every old
default of their role (made with the defaults) get the new defaults too; keys made with a
narrower list on purpose keep it. Admin keys have every scope anyway.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DEFAULTS = {
    "channel": {"catalog:read", "channels:read", "inventory:read", "reservations:write"},
    "staff": {"catalog:read", "locations:read", "inventory:read", "inventory:write"},
}
ADDED = {
    "channel": ["orders:read", "orders:write"],
    "staff": ["orders:read", "orders:write", "customers:read", "customers:write"],
}
api_keys = sa.table(
    "api_keys",
    sa.column("id", sa.BigInteger()),
    sa.column("role", sa.String()),
    sa.column("scopes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def upgrade() -> None:
    conn = op.get_bind()
    for key_id, role, scopes in conn.execute(
        sa.select(api_keys.c.id, api_keys.c.role, api_keys.c.scopes)
    ):
        held = list(scopes or [])
        if role not in OLD_DEFAULTS or not OLD_DEFAULTS[role] <= set(held):
            continue
        wanted = held + [s for s in ADDED[role] if s not in held]
        if wanted != held:
            conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(scopes=wanted))


def downgrade() -> None:
    # The added scopes cannot be told apart from ones given on purpose: left as they are.
    pass
