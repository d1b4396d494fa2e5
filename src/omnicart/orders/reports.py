"""What the order book adds up to: orders per channel and fulfilment per location."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicart.channels.tables import Channel
from omnicart.locations.tables import Location
from omnicart.orders.model import CANCELLED
from omnicart.orders.tables import Fulfilment, Order, OrderLine, Payment, Return, ReturnLine


@dataclass(frozen=True, slots=True)
class ChannelOrders:
    """One channel's orders, in its currency."""

    channel_id: int
    channel: str
    currency: str
    orders: int
    cancelled: int
    units: int
    revenue: Decimal  # totals of orders not cancelled
    refunded: Decimal


@dataclass(slots=True)
class LocationFulfilment:
    """Units that left or came back to one location, by how."""

    location_id: int
    location: str
    shipped: int = 0
    picked_up: int = 0
    sold_in_store: int = 0
    ready_for_pickup: int = 0  # orders waiting at the store
    returned_restocked: int = 0
    returned_written_off: int = 0
    shipments: int = 0


def orders_per_channel(session: Session) -> list[ChannelOrders]:
    """Order counts, units, revenue and refunds per channel that has orders."""
    # Amounts are added up here, as Decimals: SQLite would add them up as floats.
    codes = dict(session.execute(select(Channel.id, Channel.code)).all())
    tally: dict[tuple[int, str], dict[str, Any]] = {}
    for channel_id, currency, status, total in session.execute(
        select(Order.channel_id, Order.currency, Order.status, Order.total)
    ):
        row = tally.setdefault(
            (channel_id, currency), {"orders": 0, "cancelled": 0, "revenue": Decimal(0)}
        )
        row["orders"] += 1
        if status == CANCELLED:
            row["cancelled"] += 1
        else:
            row["revenue"] += total
    units = dict(
        session.execute(
            select(Order.channel_id, func.sum(OrderLine.quantity))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.status != CANCELLED)
            .group_by(Order.channel_id)
        ).all()
    )
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for channel_id, amount in session.execute(
        select(Order.channel_id, Payment.amount)
        .join(Payment, Payment.order_id == Order.id)
        .where(Payment.kind == "refund")
    ):
        refunded[channel_id] += amount
    return [
        ChannelOrders(
            channel_id=channel_id,
            channel=codes.get(channel_id, str(channel_id)),
            currency=currency,
            orders=row["orders"],
            cancelled=row["cancelled"],
            units=int(units.get(channel_id) or 0),
            revenue=row["revenue"],
            refunded=refunded[channel_id],
        )
        for (channel_id, currency), row in sorted(tally.items())
    ]


def fulfilment_per_location(session: Session) -> list[LocationFulfilment]:
    """Shipped, picked-up, till-sold and returned units per location."""
    codes = dict(session.execute(select(Location.id, Location.code)).all())
    found: dict[int, LocationFulfilment] = {}

    def at(location_id: int) -> LocationFulfilment:
        if location_id not in found:
            found[location_id] = LocationFulfilment(location_id, codes.get(location_id, "?"))
        return found[location_id]

    for row in session.scalars(select(Fulfilment)):
        units = sum(int(item["quantity"]) for item in row.items)
        place = at(row.location_id)
        if row.kind == "shipment":
            place.shipped += units
            place.shipments += 1
        elif row.kind == "in_store":
            place.sold_in_store += units
        elif row.status == "picked_up":
            place.picked_up += units
        elif row.status == "ready":
            place.ready_for_pickup += 1
    returned = session.execute(
        select(
            Return.received_location_id,
            func.sum(ReturnLine.restocked),
            func.sum(ReturnLine.written_off),
        )
        .join(ReturnLine, ReturnLine.return_id == Return.id)
        .where(Return.received_location_id.is_not(None))
        .group_by(Return.received_location_id)
    ).all()
    for location_id, restocked, written_off in returned:
        place = at(location_id or 0)
        place.returned_restocked = int(restocked or 0)
        place.returned_written_off = int(written_off or 0)
    return sorted(found.values(), key=lambda p: p.location_id)
