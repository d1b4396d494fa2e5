"""Writing past orders: bulk INSERTs (SQLAlchemy core) of orders, their lines, payments,
opening transitions and `Order Completed` events, then the returns and refunds of matched
cancellations with their events; all in the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from omnicart.analytics.history_model import PastOrder, Progress, ReturnPlan, Rounding
from omnicart.channels.tables import Channel
from omnicart.db.outbox import HISTORIC, OutboxEvent
from omnicart.kernel.money import plain
from omnicart.orders.model import COMPLETED, check_transition, fingerprint, status_after
from omnicart.orders.tables import Order, OrderLine, OrderTransition, Payment, Return, ReturnLine

SOURCE: Final = "history"
METHOD: Final = "history"
ACTOR: Final = "history import"
CHUNK: Final = 900  # IN (...) lists stay under SQLite's and PostgreSQL's parameter limits
_BATCH: Final = 5_000  # rows per INSERT statement
_ORDERS_PER_BATCH: Final = 1_000  # orders written (with their lines) at a time: flat memory

_orders = cast(Table, Order.__table__)
_lines = cast(Table, OrderLine.__table__)
_transitions = cast(Table, OrderTransition.__table__)
_payments = cast(Table, Payment.__table__)
_returns = cast(Table, Return.__table__)
_return_lines = cast(Table, ReturnLine.__table__)
_outbox = cast(Table, OutboxEvent.__table__)

T = TypeVar("T")


def cancellation_actor(number: str) -> str:
    """The actor of the returns a cancellation made: how a later import finds them."""
    return f"{SOURCE}:{number}"


@dataclass(slots=True)
class _Line:
    id: int
    line_no: int
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    total: Decimal
    returned: int


@dataclass(slots=True)
class _Order:
    id: int
    external_id: str
    created_at: datetime
    customer_ref: str | None
    status: str
    subtotal: Decimal
    lines: list[_Line]


def segment_payload(order: _Order, *, channel: Channel) -> dict[str, Any]:
    """The order as `orders.views.segment_order` describes it (same keys, same strings)."""
    total = plain(order.subtotal)
    return {
        "order_id": str(order.id),
        "external_id": order.external_id,
        "affiliation": channel.code,
        "channel_id": channel.id,
        "source": SOURCE,
        "status": order.status,
        "subtotal": str(total),
        "revenue": str(total),
        "total": str(total),
        "shipping": "0",
        "tax": "0",
        "discount": "0",
        "currency": channel.currency,
        "customer": {"email": None, "phone": None, "ref": order.customer_ref},
        "fulfilment_mode": "ship",
        "products": [
            {
                "sku": line.sku,
                "name": line.title,
                "price": str(plain(line.unit_price)),
                "quantity": line.quantity,
                "position": line.line_no,
            }
            for line in order.lines
        ],
    }


class Writer:
    """Bulk INSERTs (SQLAlchemy core) of past orders, their returns and their events."""

    def __init__(
        self, session: Session, channel: Channel, source_name: str, report: Progress
    ) -> None:
        self.session = session
        self.conn = session.connection()
        self.channel = channel
        self.currency = channel.currency
        self.round = Rounding(channel.currency)
        self.reason = f"imported from {source_name}"[:300]
        self.report = report

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            _copy(self.conn, table, rows)
            return
        for start in range(0, len(rows), _BATCH):
            self.conn.execute(insert(table), rows[start : start + _BATCH])

    def _insert_orders(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert orders; their ids in the order of `rows`."""
        if self.conn.dialect.name != "postgresql":
            return list(
                self.conn.execute(
                    insert(_orders).returning(_orders.c.id, sort_by_parameter_order=True), rows
                ).scalars()
            )
        _copy(self.conn, _orders, rows)
        numbers = [row["external_id"] for row in rows]
        ids = {  # noqa: C416 -- rows are Row objects
            number: order_id
            for number, order_id in self.conn.execute(
                select(_orders.c.external_id, _orders.c.id).where(
                    _orders.c.channel_id == self.channel.id, _orders.c.external_id.in_(numbers)
                )
            )
        }
        return [ids[number] for number in numbers]

    def _event(
        self, event_type: str, order_id: int, payload: dict[str, Any], at: datetime
    ) -> dict[str, Any]:
        return {
            "event_type": event_type,
            "aggregate": "order",
            "aggregate_id": str(order_id),
            "payload": {**payload, HISTORIC: True},
            "occurred_at": at,
            "published_at": None,
        }

    def orders(self, orders: Sequence[PastOrder]) -> dict[str, _Order]:
        """Insert the orders with their lines, payment, opening transition and event; the
        orders written (without their lines), by external id."""
        written: dict[str, _Order] = {}
        total = len(orders)
        self.report("writing", 0, total)
        for start in range(0, total, _ORDERS_PER_BATCH):
            batch = orders[start : start + _ORDERS_PER_BATCH]
            for order, state in zip(batch, self._write_batch(batch), strict=True):
                state.lines = []  # read back with their ids if a return needs them
                written[order.external_id] = state
            self.report("writing", min(start + _ORDERS_PER_BATCH, total), total)
        return written

    def _write_batch(self, batch: Sequence[PastOrder]) -> list[_Order]:
        totals = [
            [self.round(line.unit_price * line.quantity) for line in order.lines] for order in batch
        ]
        rows = [
            self._order_row(order, sum(t, Decimal(0)))
            for order, t in zip(batch, totals, strict=True)
        ]
        ids = self._insert_orders(rows)
        states = []
        for order, order_id, row, line_totals in zip(batch, ids, rows, totals, strict=True):
            lines = [
                _Line(0, number, line.sku, line.title, line.quantity, line.unit_price, total, 0)
                for number, (line, total) in enumerate(
                    zip(order.lines, line_totals, strict=True), start=1
                )
            ]
            states.append(
                _Order(
                    order_id,
                    order.external_id,
                    order.ordered_at,
                    order.customer_ref,
                    COMPLETED,
                    row["subtotal"],
                    lines,
                )
            )
        self._insert(
            _lines,
            [
                {
                    "order_id": state.id,
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "title": line.title,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "discount": Decimal(0),
                    "tax": Decimal(0),
                    "total": line.total,
                    "fulfilled": line.quantity,
                    "returned": 0,
                }
                for state in states
                for line in state.lines
            ],
        )
        self._insert(
            _transitions,
            [
                {
                    "order_id": state.id,
                    "from_status": None,
                    "to_status": COMPLETED,
                    "actor": ACTOR,
                    "reason": self.reason,
                    "at": state.created_at,
                }
                for state in states
            ],
        )
        self._insert(
            _payments,
            [
                {
                    "order_id": state.id,
                    "kind": "payment",
                    "method": METHOD,
                    "amount": state.subtotal,
                    "currency": self.currency,
                    "reference": state.external_id,
                    "return_id": None,
                    "created_at": state.created_at,
                }
                for state in states
                if state.subtotal > 0
            ],
        )
        self._insert(
            _outbox,
            [
                self._event(
                    "Order Completed",
                    state.id,
                    segment_payload(state, channel=self.channel),
                    state.created_at,
                )
                for state in states
            ],
        )
        return states

    def _order_row(self, order: PastOrder, subtotal: Decimal) -> dict[str, Any]:
        flags = (
            [
                {
                    "code": "adjustment",
                    "detail": f"cancellation {order.external_id} of sales not in the "
                    "imported history (or of no sale: a fee, a discount, a manual entry)",
                    "skus": sorted({line.sku for line in order.lines}),
                }
            ]
            if order.adjustment
            else None
        )
        return {
            "channel_id": self.channel.id,
            "source": SOURCE,
            "external_id": order.external_id,
            "cart_id": None,
            "status": COMPLETED,
            "currency": self.currency,
            "taxes_included": False,
            "subtotal": subtotal,
            "discount_total": Decimal(0),
            "shipping_total": Decimal(0),
            "tax_total": Decimal(0),
            "total": subtotal,
            "order_discount": Decimal(0),
            "shipping_tax": Decimal(0),
            "customer_email": None,
            "customer_phone": None,
            "customer_ref": order.customer_ref,
            "fulfilment_mode": "ship",
            "pickup_location_id": None,
            "shipping_address": {"country_name": order.country} if order.country else None,
            "reservation_id": None,
            "routing": None,
            "flags": flags,
            "payload_hash": fingerprint(
                {
                    "history": order.external_id,
                    "at": order.ordered_at.isoformat(),
                    "ref": order.customer_ref,
                    "lines": [
                        [line.sku, line.quantity, str(line.unit_price)] for line in order.lines
                    ],
                }
            ),
            "source_updated_at": None,
            "exchange_of_id": None,
            "version": 1,
            "created_at": order.ordered_at,
            "updated_at": order.ordered_at,
        }

    # --- returns ----------------------------------------------------------------------------

    def returns(self, plans: Sequence[ReturnPlan], written: dict[str, _Order]) -> None:
        """Record each matched cancellation as a received, refunded return of its order:
        the return and its lines, the refund, the order's new status, and the events."""
        if not plans:
            return
        total = len(plans)
        self.report("returns", 0, total)
        orders = self._orders_of(sorted({p.order_key for p in plans}), written)
        ids = self._insert_returning(
            _returns, [self._return_row(plan, orders[plan.order_key]) for plan in plans]
        )
        return_lines: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        counted: list[dict[str, Any]] = []
        transitions: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        last: dict[str, datetime] = {}
        for plan, return_id in zip(plans, ids, strict=True):
            order = orders[plan.order_key]
            by_no = {line.line_no: line for line in order.lines}
            reason = f"cancelled ({plan.number})"
            for line_no, units in plan.lines:
                line = by_no[line_no]
                line.returned += units
                counted.append({"line_id": line.id, "units": units})
                return_lines.append(
                    {
                        "return_id": return_id,
                        "order_line_id": line.id,
                        "quantity": units,
                        "reason": reason,
                        "restocked": 0,
                        "written_off": 0,
                    }
                )
            target = status_after([(ln.quantity, ln.quantity, ln.returned) for ln in order.lines])
            if target != order.status:
                check_transition(order.status, target, order_id=order.id)
                transitions.append(self._transition(order.id, order.status, target, plan))
                order.status = target
            last[plan.order_key] = plan.at  # plans come in time order
            events.append(self._received(plan, order, return_id, by_no, reason))
            if plan.amount > 0:
                refunds.append(self._refund_row(plan, order, return_id))
                events.append(self._refunded(plan, order, return_id))
        self._insert(_return_lines, return_lines)
        self._insert(_payments, refunds)
        self.conn.execute(
            update(_lines)
            .where(_lines.c.id == bindparam("line_id"))
            .values(returned=_lines.c.returned + bindparam("units")),
            counted,
        )
        self._insert(_transitions, transitions)
        self.conn.execute(
            update(_orders)
            .where(_orders.c.id == bindparam("order_id"))
            .values(status=bindparam("new_status"), updated_at=bindparam("changed_at")),
            [
                {"order_id": o.id, "new_status": o.status, "changed_at": last[key]}
                for key, o in orders.items()
            ],
        )
        self._insert(_outbox, events)
        self.report("returns", total, total)

    def _insert_returning(self, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(rows), _BATCH):
            ids.extend(
                self.conn.execute(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True),
                    rows[start : start + _BATCH],
                ).scalars()
            )
        return ids

    def _return_row(self, plan: ReturnPlan, order: _Order) -> dict[str, Any]:
        return {
            "order_id": order.id,
            "channel_id": self.channel.id,
            "status": "refunded" if plan.amount > 0 else "received",
            "returnless": False,
            "received_location_id": None,
            "exchange_order_id": None,
            "value": plan.amount,
            "currency": self.currency,
            "actor": cancellation_actor(plan.number),
            "created_at": plan.at,
            "received_at": plan.at,
        }

    def _refund_row(self, plan: ReturnPlan, order: _Order, return_id: int) -> dict[str, Any]:
        return {
            "order_id": order.id,
            "kind": "refund",
            "method": METHOD,
            "amount": plan.amount,
            "currency": self.currency,
            "reference": plan.number,
            "return_id": return_id,
            "created_at": plan.at,
        }

    def _transition(
        self, order_id: int, before: str, after: str, plan: ReturnPlan
    ) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "from_status": before,
            "to_status": after,
            "actor": ACTOR,
            "reason": f"cancellation {plan.number}"[:300],
            "at": plan.at,
        }

    def _received(
        self,
        plan: ReturnPlan,
        order: _Order,
        return_id: int,
        by_no: dict[int, _Line],
        reason: str,
    ) -> dict[str, Any]:
        return self._event(
            "Return Received",
            order.id,
            {
                "order_id": str(order.id),
                "return_id": return_id,
                "channel_id": self.channel.id,
                "location_id": None,
                "products": [
                    {
                        "sku": by_no[line_no].sku,
                        "quantity": units,
                        "restocked": 0,
                        "written_off": 0,
                        "reason": reason,
                    }
                    for line_no, units in plan.lines
                ],
            },
            plan.at,
        )

    def _refunded(self, plan: ReturnPlan, order: _Order, return_id: int) -> dict[str, Any]:
        return self._event(
            "Order Refunded",
            order.id,
            {
                **segment_payload(order, channel=self.channel),
                "total": str(plain(plan.amount)),
                "return_id": return_id,
                "method": METHOD,
                "actor": ACTOR,
            },
            plan.at,
        )

    def _orders_of(self, keys: Sequence[str], written: dict[str, _Order]) -> dict[str, _Order]:
        """The orders returns apply to, with their line ids: new ones and stored ones."""
        found = {key: written[key] for key in keys if key in written}
        stored = [key for key in keys if key not in written]
        for chunk in chunks(stored):
            for row in self.conn.execute(
                select(
                    _orders.c.id,
                    _orders.c.external_id,
                    _orders.c.created_at,
                    _orders.c.customer_ref,
                    _orders.c.status,
                    _orders.c.subtotal,
                ).where(_orders.c.channel_id == self.channel.id, _orders.c.external_id.in_(chunk))
            ):
                found[row.external_id] = _Order(
                    row.id,
                    row.external_id,
                    row.created_at,
                    row.customer_ref,
                    row.status,
                    row.subtotal,
                    [],
                )
        by_id = {order.id: order for order in found.values()}
        lines: dict[int, list[_Line]] = defaultdict(list)
        for some in chunks(sorted(by_id)):
            for line in self.conn.execute(
                select(
                    _lines.c.order_id,
                    _lines.c.id,
                    _lines.c.line_no,
                    _lines.c.sku,
                    _lines.c.title,
                    _lines.c.quantity,
                    _lines.c.unit_price,
                    _lines.c.total,
                    _lines.c.returned,
                )
                .where(_lines.c.order_id.in_(some))
                .order_by(_lines.c.order_id, _lines.c.line_no)
            ):
                lines[line.order_id].append(
                    _Line(
                        line.id,
                        line.line_no,
                        line.sku,
                        line.title,
                        line.quantity,
                        line.unit_price,
                        line.total,
                        line.returned,
                    )
                )
        for order_id, order in by_id.items():
            order.lines = lines[order_id]
        return found


def _copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY of `rows` into `table`, in the connection's transaction: a
    many-row INSERT is parsed as one huge statement per batch, which costs far more than
    the rows themselves. Values are what the columns store (aware UTC times, Decimals);
    JSON columns are sent as JSONB."""
    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if c.name in columns and _is_json(c.type)}
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    Jsonb(row[c]) if c in json_columns and row[c] is not None else row[c]
                    for c in columns
                ]
            )


def _is_json(kind: object) -> bool:
    return isinstance(kind, JSON) or any(
        isinstance(variant, JSON) for variant in getattr(kind, "_variant_mapping", {}).values()
    )


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices small enough for an IN (...) list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
