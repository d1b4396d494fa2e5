"""Imports every table module so `Base.metadata` is complete (Alembic, tests)."""

from __future__ import annotations

from omnicart.auth import tables as auth_tables
from omnicart.catalog import tables as catalog_tables
from omnicart.channels import tables as channel_tables
from omnicart.conversations import tables as conversation_tables
from omnicart.customers import tables as customer_tables
from omnicart.db import outbox
from omnicart.db.base import Base
from omnicart.inventory import tables as inventory_tables
from omnicart.locations import tables as location_tables
from omnicart.loyalty import tables as loyalty_tables
from omnicart.orders import tables as order_tables
from omnicart.tracking import tables as tracking_tables

metadata = Base.metadata
__all__ = [
    "auth_tables",
    "catalog_tables",
    "channel_tables",
    "conversation_tables",
    "customer_tables",
    "inventory_tables",
    "location_tables",
    "loyalty_tables",
    "metadata",
    "order_tables",
    "outbox",
    "tracking_tables",
]
