"""Reconcile: read back what a vendor shows of each mapped SKU and fix what drifted.

The vendor's figures are read first (no transaction is held across the calls), then
Omnicart's are computed; every SKU where they differ is sent again, newest figure, through
the same push queue (so a fix never overtakes a newer change). A figure on its way while
the vendor was read may show as drift once: sending the newest figure again is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy import select

from omnicart.connectors import push, registry
from omnicart.connectors.base import VendorItem
from omnicart.connectors.sealing import connection_of
from omnicart.connectors.tables import Connector, PushState, SkuMapping
from omnicart.db.engine import Database
from omnicart.kernel.errors import NotFound


@dataclass(frozen=True, slots=True)
class Drift:
    """A SKU the vendor shows otherwise than Omnicart says."""

    sku: str
    vendor: int | None  # None: the vendor could not say
    omnicart: int
    in_flight: bool  # a push of a newer figure had not been acknowledged yet


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What a reconciliation found and did."""

    connector_id: int
    checked: int
    drifted: list[Drift] = field(default_factory=list)
    queued: int = 0
    sent: int = 0


def reconcile_stock(
    db: Database, *, connector_id: int, http: httpx.Client, fix: bool = True, send: bool = True
) -> ReconcileReport:
    """Compare the vendor's stock figures with the channel's; with `fix`, queue the right
    figure for every SKU that drifted and (with `send`) push at once."""
    with db.reading() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"connector {connector_id} does not exist", field="connector_id")
        connection = connection_of(session, connector)
        rows = list(
            session.scalars(
                select(SkuMapping)
                .where(SkuMapping.connector_id == connector_id)
                .order_by(SkuMapping.id)
            )
        )
    items = [
        VendorItem(
            vendor_product_id=row.vendor_product_id,
            vendor_variant_id=row.vendor_variant_id or None,
            sku=row.sku,
            gtin=None,
            title=row.title,
            stock_ref=row.stock_ref,
        )
        for row in rows
    ]
    # Raises VendorUnavailable / VendorRefused: the caller says so.
    shown = registry.adapter(connector.vendor).read_stock(connection, http, items)
    skus = sorted({row.sku for row in rows})
    with db.transaction() as session:
        push.lock_feed(session)  # figures are computed and queued by one writer at a time
        connector = session.get_one(Connector, connector_id)
        wanted = push.current_stock(session, connector, skus)
        states = {
            state.sku: state
            for state in session.scalars(
                select(PushState).where(
                    PushState.connector_id == connector_id, PushState.kind == push.STOCK
                )
            )
        }
        drifted = [
            Drift(
                sku=sku,
                vendor=shown.get(sku),
                omnicart=units,
                in_flight=sku in states and states[sku].sent_seq < states[sku].wanted_seq,
            )
            for sku, units in sorted(wanted.items())
            if shown.get(sku) != units
        ]
        queued = 0
        if fix and drifted:
            queued = push.force(
                session,
                connector_id=connector_id,
                kind=push.STOCK,
                figures={d.sku: str(d.omnicart) for d in drifted},
            )
    sent = push.push_due(db, http=http, connector_id=connector_id) if fix and send else 0
    return ReconcileReport(
        connector_id=connector_id, checked=len(wanted), drifted=drifted, queued=queued, sent=sent
    )
