"""Orders of every channel attach to the resolved customer: a consumer of the outbox feed
whose cursor moves in the same transaction as the links it writes (exactly once)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from omnicart.customers.lookup import observe, survivor_of
from omnicart.customers.model import customer_ref_identifier
from omnicart.customers.suppression import is_suppressed
from omnicart.customers.tables import CustomerFeedCursor, CustomerOrderLink
from omnicart.db.engine import Database
from omnicart.db.feed import FeedPosition, position_of
from omnicart.db.outbox import list_events
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.orders.privacy import erase_order_customers, order_customer, order_identities

ORDERS_FEED = "orders"
# Events after which an order's customer is known (an update may add it later).
ORDER_EVENTS = frozenset({"Order Completed", "Order Updated"})


def link_order(session: Session, *, order_id: int) -> int | None:
    """Resolve the customer of an order from its email, phone and reference and link the
    order to them; the profile id, or None when the order names nobody usable."""
    linked = session.scalar(
        select(CustomerOrderLink.profile_id).where(CustomerOrderLink.order_id == order_id)
    )
    if linked is not None:
        return survivor_of(session, linked)
    customer = order_customer(session, order_id=order_id)
    if customer is None:
        return None
    if is_suppressed(session, order_identities(session, order_ids=[order_id])):
        # An erased person's order the feed had not reached when they were erased: it is
        # left as the erasure leaves their orders, anonymous, and linked to nobody.
        erase_order_customers(session, order_ids=[order_id])
        return None
    identifiers = [("email", customer.email), ("phone", customer.phone)]
    if customer.ref:
        identifiers.append(customer_ref_identifier(customer.channel_kind, customer.ref))
    profile_id = observe(
        session,
        identifiers=[(kind, value) for kind, value in identifiers if value],
        channel_id=customer.channel_id,
        source="order",
        at=customer.created_at,
    )
    if profile_id is None:
        return None
    # observe held the identifiers' locks: a link written meanwhile is committed by now.
    linked = session.scalar(
        select(CustomerOrderLink.profile_id).where(CustomerOrderLink.order_id == order_id)
    )
    if linked is not None:
        return survivor_of(session, linked)
    session.add(CustomerOrderLink(order_id=order_id, profile_id=profile_id, linked_at=utcnow()))
    session.flush()
    return profile_id


def _cursor(session: Session, name: str) -> CustomerFeedCursor:
    """The consumer's cursor row, created if missing and locked for this transaction."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(CustomerFeedCursor)
        .values(name=name, tx_id=0, event_id=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    cursor = session.scalar(
        select(CustomerFeedCursor).where(CustomerFeedCursor.name == name).with_for_update()
    )
    assert cursor is not None
    return cursor


def sync_batch(db: Database, *, limit: int = 500) -> int:
    """Link the orders of up to `limit` further outbox events; how many events were read."""

    def work() -> int:
        with db.transaction() as session:
            cursor = _cursor(session, ORDERS_FEED)
            events = list_events(
                session, after=FeedPosition(cursor.tx_id, cursor.event_id), limit=limit
            )
            for event in events:
                if event.event_type in ORDER_EVENTS and event.aggregate == "order":
                    link_order(session, order_id=int(event.aggregate_id))
            if events:
                position = position_of(events[-1].tx_id, events[-1].id)
                cursor.tx_id, cursor.event_id = position.tx_id, position.id
                cursor.updated_at = utcnow()
            return len(events)

    return retrying(work)


def sync_customers(db: Database, *, batch: int = 500) -> int:
    """Attach every order not yet linked to its customer, reading the outbox feed to its
    end; how many events were read. Safe to run from several processes at once."""
    total = 0
    while True:
        read = sync_batch(db, limit=batch)
        total += read
        if read < batch:
            return total


def profile_for_order(session: Session, *, order_id: int) -> int | None:
    """The resolved customer of an order, linking it now if the feed has not yet."""
    linked = session.scalar(
        select(CustomerOrderLink.profile_id).where(CustomerOrderLink.order_id == order_id)
    )
    if linked is not None:
        return survivor_of(session, linked)
    return link_order(session, order_id=order_id)
