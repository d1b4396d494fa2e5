"""A merchant for connector tests: channels sold through vendor connectors, the SKUs of
the vendors' published payloads, stock, and helpers to deliver webhooks and process them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from omnicart.catalog.tables import ChannelPrice, Variant
from omnicart.connectors import inbox, service
from omnicart.connectors.base import Inbound
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.mapping import MappingEntry
from omnicart.connectors.tables import InboxDelivery
from omnicart.db.engine import Database
from omnicart.inventory.service import receive_stock
from omnicart.orders.tables import Order
from tests.support import add_channel, add_location, add_variant

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Shopify's fixtures (its Python SDK) sell these.
SHOPIFY_SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")
# WooCommerce's examples sell products by id (SKUs mostly empty): Omnicart's SKU of each.
WOO_PRODUCTS = {
    "546": "WOO-546",
    "613": "WOO-613",
    "96": "WOO-96",
    "79": "WOO-79",
    "93": "WOO-93",
    "22:24": "WOO-22-24",
    "87": "WOO-87",
    "34": "WOO-34",
    "99": "WOO-99",
}
# Matched by the SKU the payload carries (variation 23 of product 22).
WOO_SKUS = ("Bar3",)
STOCK = 50


def need_data() -> Path:
    """The shared data folder, or skip saying why."""
    if not (DATA / "webhooks").is_dir():
        pytest.skip(f"the vendors' published payloads are not at {DATA / 'webhooks'}")
    return DATA


@dataclass(frozen=True)
class Merchant:
    """Ids of the seeded merchant."""

    warehouse: int
    channels: dict[str, int]  # code -> id


def seed(
    db: Database,
    *,
    channels: Mapping[str, str],
    skus: tuple[str, ...] = (*SHOPIFY_SKUS, *WOO_PRODUCTS.values(), *WOO_SKUS),
    stock: int = STOCK,
    prices: Mapping[str, str] | None = None,
) -> Merchant:
    """A warehouse shipping for web channels {code: currency}, the SKUs listed on every
    one, `stock` units of each, and channel prices when given."""
    with db.transaction() as session:
        warehouse = add_location(session, "wh")
        ids = {
            code: add_channel(session, code, currency=currency, ship=(warehouse,))
            for code, currency in channels.items()
        }
        variant_ids = {sku: add_variant(session, sku) for sku in skus}
        for sku, amount in (prices or {}).items():
            for code, channel_id in ids.items():
                session.add(
                    ChannelPrice(
                        channel_id=channel_id,
                        variant_id=variant_ids[sku],
                        amount=amount,
                        currency=channels[code],
                    )
                )
    if stock:
        receive_stock(db, location_id=warehouse, lines=[(sku, stock) for sku in skus])
    return Merchant(warehouse, ids)


def connect(
    db: Database,
    channel_id: int,
    vendor: str,
    *,
    base_url: str = "http://127.0.0.1:9",
    credentials: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
) -> int:
    """A connector of the channel; its id."""
    defaults: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "shopify": (
            {"client_secret": "hush", "access_token": "shpat_test"},
            {"shop": "omnicart-sim", "location_id": "655441491"},
        ),
        "woocommerce": (
            {"webhook_secret": "wc-secret", "consumer_key": "ck", "consumer_secret": "cs"},
            {},
        ),
    }
    creds, opts = defaults[vendor]
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=channel_id,
            vendor=vendor,
            credentials=dict(credentials or creds),
            options=dict(options or opts),
            base_url=base_url,
        ),
    )
    return view.id


def map_woo_products(db: Database, connector_id: int) -> None:
    """The WooCommerce examples' products, mapped by hand."""
    entries = []
    for ids, sku in WOO_PRODUCTS.items():
        product, _, variant = ids.partition(":")
        entries.append(MappingEntry(product, variant or None, sku))
    service.set_mapping(db, connector_id=connector_id, entries=entries)


def deliver(
    db: Database, connector_id: int, body: bytes, headers: Mapping[str, str]
) -> inbox.Receipt:
    """Receive a delivery as the webhook route does."""
    return inbox.receive(
        db,
        connector_id=connector_id,
        inbound=Inbound(
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            url=f"http://testserver/v1/connectors/{connector_id}/webhooks",
        ),
    )


def process(db: Database, *, everything: bool = False) -> int:
    """Process the deliveries due now (with `everything`, also polls and pushes)."""
    http = vendor_http()
    if everything:
        return service.process_until_idle(db, http=http)
    done = 0
    while found := inbox.process_due(db, http=http):
        done += found
    return done


def delivery(db: Database, receipt: inbox.Receipt) -> InboxDelivery:
    """The inbox row of a receipt."""
    assert receipt.delivery is not None
    with db.reading() as session:
        return session.get_one(InboxDelivery, receipt.delivery)


def counts(db: Database) -> tuple[int, int]:
    """(inbox rows, orders)."""
    with db.reading() as session:
        return (
            int(session.scalar(select(func.count()).select_from(InboxDelivery)) or 0),
            int(session.scalar(select(func.count()).select_from(Order)) or 0),
        )


def variant_id(db: Database, sku: str) -> int:
    """A SKU's variant id."""
    with db.reading() as session:
        found = session.scalar(select(Variant.id).where(Variant.sku == sku))
        assert found is not None
        return found


def money(value: Any) -> str:
    """An amount as the tests compare them: two decimals."""
    from decimal import Decimal

    return f"{Decimal(str(value)):.2f}"
