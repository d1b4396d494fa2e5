"""Imports every table module so `Base.metadata` is complete (Alembic, tests)."""

from __future__ import annotations

from omnicart.analytics import tables as analytics_tables
from omnicart.auth import tables as auth_tables
from omnicart.catalog import tables as catalog_tables
from omnicart.channels import tables as channel_tables
from omnicart.connectors import tables as connector_tables
from omnicart.conversations import tables as conversation_tables
from omnicart.customers import tables as customer_tables
from omnicart.db import outbox
from omnicart.db.base import Base
from omnicart.inventory import tables as inventory_tables
from omnicart.locations import tables as location_tables
from omnicart.loyalty import tables as loyalty_tables
from omnicart.orders import tables as order_tables
from omnicart.productfeeds import tables as productfeed_tables
from omnicart.tracking import tables as tracking_tables
from omnicart.users import tables as user_tables
from omnicart.webhooks import tables as webhook_tables
from omnicart.worker import tables as worker_tables

metadata = Base.metadata
__all__ = [
    "analytics_tables",
    "auth_tables",
    "catalog_tables",
    "channel_tables",
    "connector_tables",
    "conversation_tables",
    "customer_tables",
    "inventory_tables",
    "location_tables",
    "loyalty_tables",
    "metadata",
    "order_tables",
    "outbox",
    "productfeed_tables",
    "tracking_tables",
    "user_tables",
    "webhook_tables",
    "worker_tables",
]
