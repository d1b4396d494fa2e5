"""Which channel and which stores an order, a cart or a return belongs to.

The access mechanism (auth.access) asks these when a channel's key or a store's staff key
names one of them by id. An order belongs to its channel, and to every store it is picked
up at, sold at, allocated at or shipped from; a return belongs to the channel it was opened
in and the order's channel, and to the store it was received at or, until then, the stores
that serve the channel it was opened in.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from omnicart.auth.access import Owners
from omnicart.channels.tables import ChannelLocation
from omnicart.inventory.tables import ReservationLine
from omnicart.orders.tables import Cart, Fulfilment, Order, Return


def at_store(location_id: int) -> ColumnElement[bool]:
    """SQL: the order is at the store, as `order_owners` counts it: picked up, fulfilled
    or holding units there."""
    return or_(
        Order.pickup_location_id == location_id,
        exists().where(Fulfilment.order_id == Order.id, Fulfilment.location_id == location_id),
        exists().where(
            ReservationLine.reservation_id == Order.reservation_id,
            ReservationLine.location_id == location_id,
        ),
    )


def order_owners(session: Session, order_id: int) -> Owners | None:
    """The order's channel and the stores it is at; None when it does not exist."""
    order = session.get(Order, order_id)
    if order is None:
        return None
    stores = set(
        session.scalars(select(Fulfilment.location_id).where(Fulfilment.order_id == order_id))
    )
    if order.reservation_id is not None:
        stores.update(
            session.scalars(
                select(ReservationLine.location_id).where(
                    ReservationLine.reservation_id == order.reservation_id
                )
            )
        )
    if order.pickup_location_id is not None:
        stores.add(order.pickup_location_id)
    return Owners(channels=frozenset({order.channel_id}), stores=frozenset(stores))


def cart_owners(session: Session, cart_id: int) -> Owners | None:
    """The cart's channel (a cart is at no store); None when it does not exist."""
    channel_id = session.scalar(select(Cart.channel_id).where(Cart.id == cart_id))
    return None if channel_id is None else Owners(channels=frozenset({channel_id}))


def return_owners(session: Session, return_id: int) -> Owners | None:
    """The return's channels (where opened, the order's) and its store; None if missing."""
    row = session.execute(
        select(Return.channel_id, Return.received_location_id, Order.channel_id)
        .join(Order, Order.id == Return.order_id)
        .where(Return.id == return_id)
    ).first()
    if row is None:
        return None
    opened_in, received_at, order_channel = row
    if received_at is not None:
        stores = frozenset({received_at})
    else:
        stores = frozenset(
            session.scalars(
                select(ChannelLocation.location_id).where(ChannelLocation.channel_id == opened_in)
            )
        )
    return Owners(channels=frozenset({opened_in, order_channel}), stores=stores)


def channel_stores(session: Session, channel_id: int) -> Owners | None:
    """A channel as a target: the stores that serve it."""
    stores = session.scalars(
        select(ChannelLocation.location_id).where(ChannelLocation.channel_id == channel_id)
    )
    return Owners(channels=frozenset({channel_id}), stores=frozenset(stores))
