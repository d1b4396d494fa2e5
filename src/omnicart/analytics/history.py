"""A merchant's past orders, loaded into the order book and, through the outbox, the
event store, so that analytics runs on years the merchant sold before Omnicart.

The readers (`history_uci.py`, `history_cdnow.py`) turn a file into a `PastHistory`;
`import_history` writes it in one transaction, all of it or none:

- every past order becomes a *completed* order of the channel (source `history`, the
  file's order number as its external id, created at the order's time): its lines
  fulfilled, one payment of its total, no stock moved (past sales do not touch today's
  stock, and the catalog need not know the SKU: a line keeps the file's SKU as text);
- its `Order Completed` event, in the payload shape of `orders.views.segment_order`, goes
  into the outbox with `occurred_at` = the order's time; outbox delivery carries it to the
  event store (one route for every order event, so the store and the order book agree),
  and identity resolution links the order's `customer_ref` to a customer profile;
- a cancellation that can be matched to earlier sales of the same customer and SKU
  becomes a return of those units against those orders with a refund of their value,
  received and refunded at the cancellation's time (`Return Received`, `Order Refunded`);
  what cannot be matched becomes an *adjustment*: an order of its own whose lines carry
  the units at a negative price, so totals still add up to the file's;
- importing a file again adds nothing: orders are found by external id, cancellations by
  the returns (actor `history:<number>`) and adjustments they made before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence, Set

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omnicart.analytics.history_model import (
    HistorySummary,
    PastHistory,
    PastOrder,
    Progress,
    ReturnPlan,
    SoldLine,
    match_cancellations,
    sold_lines,
)
from omnicart.analytics.history_write import SOURCE, Writer, cancellation_actor, chunks
from omnicart.channels.tables import Channel
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.orders.tables import Order, OrderLine, Return


def history_channel(session: Session, *, code: str | None, currency: str) -> Channel:
    """The channel past orders go to: the one named, or the only active channel selling in
    the file's currency; it must sell in that currency."""
    if code is None:
        candidates = list(
            session.scalars(
                select(Channel).where(Channel.currency == currency, Channel.active.is_(True))
            )
        )
        if len(candidates) != 1:
            which = ", ".join(sorted(c.code for c in candidates)) or "none"
            raise ValidationFailed(
                f"name the channel these {currency} orders were sold on "
                f"(active channels selling in {currency}: {which})",
                field="channel",
            )
        return candidates[0]
    channel = session.scalar(select(Channel).where(Channel.code == code))
    if channel is None:
        raise NotFound(f"channel {code!r} does not exist", field="channel")
    if channel.currency != currency:
        raise ValidationFailed(
            f"the file's orders are in {currency}, but channel {code!r} sells in "
            f"{channel.currency}; import them into a channel that sells in {currency}",
            field="channel",
        )
    return channel


def _existing_orders(session: Session, channel_id: int, numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(numbers):
        found.update(
            session.scalars(
                select(Order.external_id).where(
                    Order.channel_id == channel_id, Order.external_id.in_(chunk)
                )
            )
        )
    return found


def _existing_cancellations(session: Session, channel_id: int, numbers: Sequence[str]) -> set[str]:
    """Cancellation numbers that made a return or an adjustment before."""
    found = _existing_orders(session, channel_id, numbers)
    actors = [cancellation_actor(n) for n in numbers]
    for chunk in chunks(actors):
        found.update(
            actor.partition(":")[2]
            for actor in session.scalars(
                select(Return.actor).where(Return.channel_id == channel_id, Return.actor.in_(chunk))
            )
        )
    return found


def _stored_sales(
    session: Session, channel_id: int, wanted: Set[tuple[str, str]]
) -> dict[tuple[str, str], list[SoldLine]]:
    """Lines of past orders imported before with units not returned, of the (customer,
    SKU) pairs `wanted`."""
    sold: dict[tuple[str, str], list[SoldLine]] = defaultdict(list)
    for chunk in chunks(sorted({ref for ref, _ in wanted})):
        rows = session.execute(
            select(
                Order.customer_ref,
                Order.external_id,
                Order.created_at,
                OrderLine.line_no,
                OrderLine.sku,
                OrderLine.quantity,
                OrderLine.returned,
                Order.flags,
            )
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.channel_id == channel_id,
                Order.source == SOURCE,
                Order.customer_ref.in_(chunk),
            )
        )
        for ref, number, at, line_no, sku, quantity, returned, flags in rows:
            adjustment = any(flag.get("code") == "adjustment" for flag in flags or [])
            usable = (ref, sku) in wanted and number is not None and returned < quantity
            if usable and not adjustment:
                sold[ref, sku].append(SoldLine(number, line_no, at, quantity, returned))
    return sold


def _merge_sales(
    stored: dict[tuple[str, str], list[SoldLine]], new: dict[tuple[str, str], list[SoldLine]]
) -> dict[tuple[str, str], list[SoldLine]]:
    merged: dict[tuple[str, str], list[SoldLine]] = defaultdict(list)
    for source in (stored, new):
        for key, lines in source.items():
            merged[key].extend(lines)
    for lines in merged.values():
        lines.sort(key=lambda s: (s.ordered_at, s.order_key, s.line_no))
    return merged


def import_history(
    db: Database,
    history: PastHistory,
    *,
    channel_code: str | None,
    source_name: str,
    progress: Progress | None = None,
) -> HistorySummary:
    """Write a file's past orders into the order book and the outbox (one transaction)."""
    try:
        with db.transaction() as session:
            return _import(session, history, channel_code, source_name, progress)
    except IntegrityError:
        # Two imports of the same orders at once: the later one's inserts collide.
        raise Conflict(
            "another import wrote some of these orders meanwhile; nothing was imported, "
            "run the import again to add what is missing",
            field="file",
        ) from None


def _import(
    session: Session,
    history: PastHistory,
    channel_code: str | None,
    source_name: str,
    progress: Progress | None,
) -> HistorySummary:
    channel = history_channel(session, code=channel_code, currency=history.currency)
    report = progress or (lambda _phase, _done, _total: None)
    numbers = [o.external_id for o in history.orders]
    there = _existing_orders(session, channel.id, numbers)
    new_orders = [o for o in history.orders if o.external_id not in there]
    cancel_numbers = sorted({c.number for c in history.cancellations})
    cancelled_before = _existing_cancellations(session, channel.id, cancel_numbers)
    new_cancels = [c for c in history.cancellations if c.number not in cancelled_before]
    returns: list[ReturnPlan] = []
    adjustments: list[PastOrder] = []
    if new_cancels:
        wanted = {(c.customer_ref, c.sku) for c in new_cancels if c.customer_ref}
        stored = _stored_sales(session, channel.id, wanted)
        sold = _merge_sales(stored, sold_lines(new_orders, wanted=wanted))
        returns, adjustments = match_cancellations(new_cancels, sold, currency=history.currency)
    writer = Writer(session, channel, source_name, report)
    written = writer.orders([*new_orders, *adjustments])
    writer.returns(returns, written)
    created = new_orders
    return HistorySummary(
        channel=channel.code,
        currency=channel.currency,
        rows=history.rows,
        orders_created=len(created),
        orders_already_there=len(there),
        lines=sum(len(o.lines) for o in created),
        returns_created=len(returns),
        adjustments_created=len(adjustments),
        cancellations_already_there=len(cancelled_before),
        customers=len({o.customer_ref for o in created if o.customer_ref}),
        first_order_at=min((o.ordered_at for o in created), default=None),
        last_order_at=max((o.ordered_at for o in created), default=None),
        left_out=dict(history.left_out),
        prices_rounded=history.prices_rounded,
    )
