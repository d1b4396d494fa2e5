"""The raw-SQL baseline of `omnicart bench orders`: what an Omnicart order writes, each
request's writes sent as one data-modifying statement on a bare psycopg connection.

For every kind of order the statement writes the rows Omnicart's request writes (see
`orders_trips.footprints`, which compares them): the order, its lines, payment, status
transitions and outbox events; the stock hold (reservation and its lines), the guarded
stock updates and their ledger rows; for a till sale its in-store fulfilment. A checkout
is two requests in Omnicart (the cart with its hold, then the checkout), so it is two
statements here. Stock is taken as the inventory rule takes it: rows locked in one
fixed order, the first ranked location whose free units cover the line after the
channel's buffer, and an UPDATE guarded by `ledger.stock_guard`'s condition; a line that
does not fit refuses the whole statement, so nothing is oversold or half-written.
Redeliveries are idempotent on (channel, external id), as in Omnicart.

What the baseline skips is what Omnicart adds on top of the same writes: HTTP, JSON
validation, authentication, the ORM and the reads that build its answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import errors
from sqlalchemy.engine import make_url

# Refuses the statement (and so every write in it) when a line could not be held.
REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_refuse_unless(ok boolean) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'insufficient stock' USING ERRCODE = 'P0001';
    END IF;
    RETURN 1;
END $$
"""


# The wanted lines (SKU -> variant, with the channel's price when `priced`) and the
# channel's locations in rank order; stock rows locked in (variant, location) order, as
# `reservations.lock_rows` does; per line the first ranked location with the units, if
# the channel's buffer (percent shown, units held back, over its pooled stock) lets it
# sell them.
def plan_sql(*, priced: bool) -> str:
    """The CTEs `wanted`, `pool`, `locked`, `pick` and `plan` (and `amounts` if priced)."""
    price = (
        """, cp.amount AS price
    FROM unnest(%(skus)s::text[], %(qtys)s::int[]) WITH ORDINALITY AS w(sku, qty, line_no)
    JOIN variants v ON v.sku = w.sku
    JOIN channel_prices cp ON cp.variant_id = v.id AND cp.channel_id = %(channel)s"""
        if priced
        else """
    FROM unnest(%(skus)s::text[], %(qtys)s::int[]) WITH ORDINALITY AS w(sku, qty, line_no)
    JOIN variants v ON v.sku = w.sku"""
    )
    amounts = ",\namounts AS (SELECT sum(price * qty) AS total FROM wanted)" if priced else ""
    return (
        "\nwanted AS (\n    SELECT w.line_no, w.sku, w.qty, v.id AS variant_id"  # noqa: S608 -- constant pieces
        + price
        + """
),
pool AS (
    SELECT p.location_id, p.code, p.rank
    FROM unnest(%(locations)s::bigint[], %(codes)s::text[]) WITH ORDINALITY
        AS p(location_id, code, rank)
),
locked AS (
    SELECT s.variant_id, s.location_id, s.on_hand - s.reserved - s.allocated AS free
    FROM stock_levels s
    WHERE s.variant_id IN (SELECT variant_id FROM wanted)
      AND s.location_id IN (SELECT location_id FROM pool)
    ORDER BY s.variant_id, s.location_id
    FOR UPDATE
),
pick AS (
    SELECT DISTINCT ON (w.line_no)
        w.line_no, w.sku, w.variant_id, w.qty, l.location_id, p.code
    FROM wanted w
    JOIN locked l ON l.variant_id = w.variant_id
    JOIN pool p ON p.location_id = l.location_id
    WHERE l.free >= w.qty
      AND w.qty <= (
          SELECT least(sum(x.free) * %(shown)s / 100, sum(x.free) - %(held_back)s)
          FROM locked x WHERE x.variant_id = w.variant_id
      )
    ORDER BY w.line_no, p.rank
),
plan AS (
    SELECT jsonb_agg(
        jsonb_build_object('sku', sku, 'location', code, 'quantity', qty) ORDER BY line_no
    ) AS plan
    FROM pick
)"""
        + amounts
    )


_PLAN = plan_sql(priced=True)

# The order's lines, its payment and its outbox events, for `new_order`.
_ORDER_ROWS = """
lines_written AS (
    INSERT INTO order_lines (order_id, line_no, sku, title, quantity, unit_price, discount,
                             tax, total, fulfilled, returned)
    SELECT o.id, w.line_no, w.sku, '', w.qty, w.price, 0, 0, w.price * w.qty, {fulfilled}, 0
    FROM wanted w, new_order o
),
paid AS (
    INSERT INTO payments (order_id, kind, method, amount, currency, reference, return_id,
                          created_at)
    SELECT o.id, 'payment', %(method)s, a.total, 'EUR', '', NULL, now()
    FROM new_order o, amounts a
),
announced AS (
    INSERT INTO outbox_events (event_type, aggregate, aggregate_id, payload, occurred_at,
                               published_at)
    SELECT e.event_type, 'order', o.id::text,
           e.payload || jsonb_build_object('order_id', o.id::text), now(), NULL
    FROM new_order o, routing r,
         LATERAL (VALUES ('Order Completed', %(completed)s::jsonb
                                             || jsonb_build_object('products', (
                             SELECT jsonb_agg(jsonb_build_object(
                                 'sku', sku, 'name', '', 'price', price::text,
                                 'position', line_no, 'quantity', qty) ORDER BY line_no)
                             FROM wanted))),
                         ('Order Routed', r.routing)) AS e(event_type, payload)
),
moved AS (
    INSERT INTO order_transitions (order_id, from_status, to_status, actor, reason, at)
    SELECT o.id, t.from_status, t.to_status, %(actor)s, t.reason, now()
    FROM new_order o,
         (VALUES {transitions}) AS t(from_status, to_status, reason)
)
"""

_ORDER_COLUMNS = """
    channel_id, source, external_id, cart_id, status, currency, taxes_included, subtotal,
    discount_total, shipping_total, tax_total, total, order_discount, shipping_tax,
    customer_email, customer_phone, customer_ref, fulfilment_mode, pickup_location_id,
    shipping_address, reservation_id, routing, flags, payload_hash, source_updated_at,
    exchange_of_id, version, created_at, updated_at
"""

_TRANSITIONS_CONFIRMED = "(NULL, 'pending', %(received)s), ('pending', 'confirmed', 'paid in full')"
_TRANSITIONS_TILL = (
    "(NULL, 'pending', 'received from pos'), ('pending', 'confirmed', 'paid in full'), "
    "('confirmed', 'fulfilled', 'handed over at the till'), "
    "('fulfilled', 'completed', 'till sale')"
)

# The answer: the order id (the first one's on a redelivery), whether it is new, and the
# refusal of the whole statement when a new order could not hold every line.
_ANSWER = """
SELECT coalesce((SELECT id FROM new_order),
                (SELECT id FROM orders WHERE channel_id = %(channel)s
                                         AND external_id = %(external_id)s)) AS id,
       EXISTS (SELECT FROM new_order) AS created,
       bench_refuse_unless((SELECT count(*) FROM stock_changed) = %(n)s
                           OR NOT EXISTS (SELECT FROM new_order)) AS ok
"""

# A marketplace order: claimed on (channel, external id), allocated where routing chose.
MARKETPLACE = (
    "WITH "  # noqa: S608 -- constant SQL pieces; every value is a bound parameter
    + _PLAN
    + """,
hold_id AS (SELECT nextval(%(reservation_seq)s::regclass) AS id),
routing AS (
    SELECT jsonb_build_object(
        'mode', 'ship', 'plan', plan.plan, 'rules', '["nearest", "priority"]'::jsonb,
        'reason', 'first ranked location holding each line',
        'ranking', %(ranking)s::jsonb, 'excluded', '[]'::jsonb,
        'prefer_single_location', true) AS routing
    FROM plan
),
new_order AS (
    INSERT INTO orders ("""
    + _ORDER_COLUMNS
    + """)
    SELECT %(channel)s, 'external', %(external_id)s, NULL, 'confirmed', 'EUR', false,
           a.total, 0, 0, 0, a.total, 0, 0, NULL, NULL, %(customer_ref)s, 'ship', NULL, NULL,
           h.id, r.routing, NULL, %(payload_hash)s, NULL, NULL, 1, now(), now()
    FROM hold_id h, routing r, amounts a
    ON CONFLICT (channel_id, external_id) DO NOTHING
    RETURNING id
),
hold AS (
    INSERT INTO reservations (id, channel_id, idempotency_key, request_hash, status,
                              reference, actor, expires_at, created_at, closed_at)
    SELECT h.id, %(channel)s, 'order:' || o.id || ':v1', 'order:' || o.id || ':v1',
           'allocated', 'order ' || o.id, %(actor)s, now() + interval '1 hour', now(), NULL
    FROM hold_id h, new_order o
),
held AS (
    INSERT INTO reservation_lines (reservation_id, variant_id, location_id, quantity,
                                   shipped, requested_sku)
    SELECT h.id, p.variant_id, p.location_id, p.qty, 0, p.sku
    FROM pick p, hold_id h, new_order o
),
stock_changed AS (
    UPDATE stock_levels s
    SET allocated = s.allocated + p.qty, updated_at = now()
    FROM pick p, new_order o
    WHERE s.variant_id = p.variant_id AND s.location_id = p.location_id
      AND s.on_hand >= s.reserved + s.allocated + p.qty AND s.allocated + p.qty >= 0
    RETURNING s.variant_id
),
ledger AS (
    INSERT INTO stock_movements (kind, variant_id, location_id, delta_on_hand,
                                 delta_reserved, delta_allocated, reason, actor, channel_id,
                                 reservation_id, created_at)
    SELECT 'allocation', p.variant_id, p.location_id, 0, 0, p.qty, 'order ' || o.id,
           %(actor)s, %(channel)s, h.id, now()
    FROM pick p, new_order o, hold_id h
),
"""
    + _ORDER_ROWS.format(fulfilled="0", transitions=_TRANSITIONS_CONFIRMED)
    + _ANSWER
)

# A till sale: allocated at the store and handed over at once (one net stock change per
# row, the allocation and the shipment in the ledger), with its in-store fulfilment.
TILL = (
    "WITH "  # noqa: S608 -- constant SQL pieces; every value is a bound parameter
    + _PLAN
    + """,
hold_id AS (SELECT nextval(%(reservation_seq)s::regclass) AS id),
routing AS (
    SELECT jsonb_build_object('mode', 'in_store', 'plan', plan.plan, 'rules', '[]'::jsonb,
                              'reason', %(till_reason)s::text) AS routing
    FROM plan
),
new_order AS (
    INSERT INTO orders ("""
    + _ORDER_COLUMNS
    + """)
    SELECT %(channel)s, 'pos', %(external_id)s, NULL, 'completed', 'EUR', true,
           a.total, 0, 0, 0, a.total, 0, 0, NULL, NULL, NULL, 'in_store', %(store)s, NULL,
           h.id, r.routing, NULL, %(payload_hash)s, NULL, NULL, 1, now(), now()
    FROM hold_id h, routing r, amounts a
    ON CONFLICT (channel_id, external_id) DO NOTHING
    RETURNING id
),
hold AS (
    INSERT INTO reservations (id, channel_id, idempotency_key, request_hash, status,
                              reference, actor, expires_at, created_at, closed_at)
    SELECT h.id, %(channel)s, 'order:' || o.id || ':v1', 'order:' || o.id || ':v1',
           'shipped', 'order ' || o.id, %(actor)s, now() + interval '1 hour', now(), now()
    FROM hold_id h, new_order o
),
held AS (
    INSERT INTO reservation_lines (reservation_id, variant_id, location_id, quantity,
                                   shipped, requested_sku)
    SELECT h.id, p.variant_id, p.location_id, p.qty, p.qty, p.sku
    FROM pick p, hold_id h, new_order o
),
stock_changed AS (
    UPDATE stock_levels s
    SET on_hand = s.on_hand - p.qty, updated_at = now()
    FROM pick p, new_order o
    WHERE s.variant_id = p.variant_id AND s.location_id = p.location_id
      AND s.on_hand - p.qty >= s.reserved + s.allocated AND s.allocated >= 0
    RETURNING s.variant_id
),
ledger AS (
    INSERT INTO stock_movements (kind, variant_id, location_id, delta_on_hand,
                                 delta_reserved, delta_allocated, reason, actor, channel_id,
                                 reservation_id, created_at)
    SELECT m.kind, p.variant_id, p.location_id, m.sign * p.qty * m.on_hand, 0,
           m.sign * p.qty, m.reason || o.id, %(actor)s, %(channel)s, h.id, now()
    FROM pick p, new_order o, hold_id h,
         (VALUES ('allocation', 1, 0, 'order '),
                 ('shipment', -1, 1, 'sold at the till, order ')) AS m(kind, sign, on_hand, reason)
),
handed_over AS (
    INSERT INTO fulfilments (order_id, location_id, kind, status, carrier, tracking_number,
                             pickup_code, pickup_deadline, items, actor, created_at, closed_at)
    SELECT o.id, %(store)s, 'in_store', 'picked_up', '', '', NULL, NULL,
           (SELECT jsonb_agg(jsonb_build_object('sku', sku, 'quantity', qty) ORDER BY line_no)
            FROM wanted),
           %(actor)s, now(), now()
    FROM new_order o
),
"""
    + _ORDER_ROWS.format(fulfilled="w.qty", transitions=_TRANSITIONS_TILL)
    + _ANSWER
)

# A cart on an own channel with its hold (the checkout's first request).
CART = (
    "WITH "  # noqa: S608 -- constant SQL pieces; every value is a bound parameter
    + _PLAN
    + """,
ids AS (SELECT nextval(%(cart_seq)s::regclass) AS cart_id,
               nextval(%(reservation_seq)s::regclass) AS hold_id),
cart AS (
    INSERT INTO carts (id, channel_id, status, currency, reservation_id, order_id, revision,
                       lines, created_at, updated_at)
    SELECT i.cart_id, %(channel)s, 'open', 'EUR', i.hold_id, NULL, 1, %(cart_lines)s::jsonb,
           now(), now()
    FROM ids i
),
hold AS (
    INSERT INTO reservations (id, channel_id, idempotency_key, request_hash, status,
                              reference, actor, expires_at, created_at, closed_at)
    SELECT i.hold_id, %(channel)s, 'cart:' || i.cart_id || ':r1', 'cart:' || i.cart_id || ':r1',
           'active', 'cart ' || i.cart_id, %(actor)s, now() + interval '15 minutes', now(), NULL
    FROM ids i
),
held AS (
    INSERT INTO reservation_lines (reservation_id, variant_id, location_id, quantity,
                                   shipped, requested_sku)
    SELECT i.hold_id, p.variant_id, p.location_id, p.qty, 0, p.sku
    FROM pick p, ids i
),
stock_changed AS (
    UPDATE stock_levels s
    SET reserved = s.reserved + p.qty, updated_at = now()
    FROM pick p
    WHERE s.variant_id = p.variant_id AND s.location_id = p.location_id
      AND s.on_hand >= s.reserved + p.qty + s.allocated AND s.reserved + p.qty >= 0
    RETURNING s.variant_id
),
ledger AS (
    INSERT INTO stock_movements (kind, variant_id, location_id, delta_on_hand,
                                 delta_reserved, delta_allocated, reason, actor, channel_id,
                                 reservation_id, created_at)
    SELECT 'reservation', p.variant_id, p.location_id, 0, p.qty, 0, 'cart ' || i.cart_id,
           %(actor)s, %(channel)s, i.hold_id, now()
    FROM pick p, ids i
)
SELECT i.cart_id AS id, true AS created,
       bench_refuse_unless((SELECT count(*) FROM stock_changed) = %(n)s) AS ok
FROM ids i
"""
)

# The cart's hold and where its lines are held (the checkout's reads and locks).
_HOLD = """
cart AS (
    SELECT c.id, c.reservation_id FROM carts c
    WHERE c.id = %(cart)s AND c.status = 'open'
),
wanted AS (
    SELECT w.line_no, w.sku, w.qty, cp.amount AS price
    FROM unnest(%(skus)s::text[], %(qtys)s::int[]) WITH ORDINALITY AS w(sku, qty, line_no)
    JOIN variants v ON v.sku = w.sku
    JOIN channel_prices cp ON cp.variant_id = v.id AND cp.channel_id = %(channel)s
),
amounts AS (SELECT sum(price * qty) AS total FROM wanted),
hold_lines AS (
    SELECT rl.variant_id, rl.location_id, rl.quantity, rl.requested_sku, c.reservation_id
    FROM reservation_lines rl JOIN cart c ON c.reservation_id = rl.reservation_id
),
locked AS (
    SELECT s.variant_id, s.location_id FROM stock_levels s
    JOIN hold_lines h ON h.variant_id = s.variant_id AND h.location_id = s.location_id
    ORDER BY s.variant_id, s.location_id
    FOR UPDATE OF s
),
routing AS (
    SELECT jsonb_build_object(
        'mode', 'ship',
        'plan', (SELECT jsonb_agg(jsonb_build_object('sku', h.requested_sku,
                                                     'location', p.code,
                                                     'quantity', h.quantity))
                 FROM hold_lines h
                 JOIN unnest(%(locations)s::bigint[], %(codes)s::text[]) AS p(id, code)
                   ON p.id = h.location_id),
        'rules', '["nearest", "priority"]'::jsonb,
        'reason', 'the cart''s hold, where routing may draw',
        'ranking', %(ranking)s::jsonb, 'excluded', '[]'::jsonb,
        'prefer_single_location', true) AS routing
),
"""

# The checkout: the cart's hold becomes the order's allocation in place.
CHECKOUT = (
    "WITH "  # noqa: S608 -- constant SQL pieces; every value is a bound parameter
    + _HOLD
    + """new_order AS (
    INSERT INTO orders ("""
    + _ORDER_COLUMNS
    + """)
    SELECT %(channel)s, 'checkout', NULL, c.id, 'confirmed', 'EUR', false,
           a.total, 0, 0, 0, a.total, 0, 0, %(email)s, NULL, NULL, 'ship', NULL,
           %(address)s::jsonb, c.reservation_id, r.routing, NULL, %(payload_hash)s, NULL, NULL,
           1, now(), now()
    FROM cart c, routing r, amounts a
    ON CONFLICT (cart_id) DO NOTHING
    RETURNING id, reservation_id
),
hold AS (
    UPDATE reservations SET status = 'allocated'
    FROM new_order o WHERE reservations.id = o.reservation_id AND reservations.status = 'active'
),
converted AS (
    UPDATE carts SET status = 'converted', reservation_id = NULL, order_id = o.id,
                     updated_at = now()
    FROM new_order o WHERE carts.id = %(cart)s
),
stock_changed AS (
    UPDATE stock_levels s
    SET reserved = s.reserved - h.quantity, allocated = s.allocated + h.quantity,
        updated_at = now()
    -- Counting the locked rows makes every lock come first, in the one fixed order.
    FROM hold_lines h, new_order o, (SELECT count(*) FROM locked) AS l(n)
    WHERE s.variant_id = h.variant_id AND s.location_id = h.location_id AND l.n > 0
      AND s.on_hand >= s.reserved - h.quantity + s.allocated + h.quantity
      AND s.reserved - h.quantity >= 0
    RETURNING s.variant_id
),
ledger AS (
    INSERT INTO stock_movements (kind, variant_id, location_id, delta_on_hand,
                                 delta_reserved, delta_allocated, reason, actor, channel_id,
                                 reservation_id, created_at)
    SELECT 'allocation', h.variant_id, h.location_id, 0, -h.quantity, h.quantity,
           'order ' || o.id, %(actor)s, %(channel)s, h.reservation_id, now()
    FROM hold_lines h, new_order o
),
"""
    + _ORDER_ROWS.format(fulfilled="0", transitions=_TRANSITIONS_CONFIRMED)
    + """
SELECT coalesce((SELECT id FROM new_order),
                (SELECT id FROM orders WHERE cart_id = %(cart)s)) AS id,
       EXISTS (SELECT FROM new_order) AS created,
       bench_refuse_unless((SELECT count(*) FROM stock_changed) = %(n)s
                           OR NOT EXISTS (SELECT FROM new_order)) AS ok
"""
)


@dataclass(frozen=True, slots=True)
class Outlet:
    """A channel as the baseline sells on it: its locations in rank order and its buffer."""

    channel_id: int
    code: str
    locations: tuple[int, ...]
    codes: tuple[str, ...]
    shown: int
    held_back: int


def psycopg_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str, schema: str) -> psycopg.Connection[Any]:
    """An autocommit connection on `schema`: each statement is its own transaction."""
    return psycopg.connect(psycopg_url(url), options=f"-csearch_path={schema}", autocommit=True)


def install(url: str, schema: str) -> None:
    """The refusal function the baseline's statements call, in the baseline's schema."""
    with connect(url, schema) as conn:
        conn.execute(REFUSE_FUNCTION)


def outlets(conn: psycopg.Connection[Any]) -> dict[str, Outlet]:
    """Every channel with locations, by code."""
    rows = conn.execute(
        "SELECT c.id, c.code, c.buffer_percent_shown, c.buffer_units, "
        "array_agg(l.id ORDER BY l.priority, l.id), array_agg(l.code ORDER BY l.priority, l.id) "
        "FROM channels c JOIN channel_locations cl ON cl.channel_id = c.id "
        "JOIN locations l ON l.id = cl.location_id AND l.active "
        "GROUP BY c.id"
    ).fetchall()
    return {
        code: Outlet(cid, code, tuple(locs), tuple(codes), shown, held)
        for cid, code, shown, held, locs, codes in rows
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """What a request got: 201 new, 200 the existing order, 409 refused for stock, 0 failed."""

    status: int
    id: int | None = None


def payload_hash(body: dict[str, Any]) -> str:
    """The order's payload fingerprint, as Omnicart keeps one."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RawPlacer:
    """Places orders of every kind as single statements on one connection."""

    def __init__(self, *, url: str, schema: str, store_id: int, actor: str = "bench") -> None:
        self.conn = connect(url, schema)
        self.store_id = store_id
        self.actor = actor
        self.outlets = outlets(self.conn)
        row = self.conn.execute(
            "SELECT pg_get_serial_sequence('reservations', 'id'), "
            "pg_get_serial_sequence('carts', 'id'), code FROM locations WHERE id = %s",
            (store_id,),
        ).fetchone()
        assert row is not None, f"no location {store_id}"
        self.sequences = {"reservation_seq": row[0], "cart_seq": row[1]}
        self.store_code = str(row[2])
        self.errors: list[str] = []
        self.statements = 0  # round trips: one per statement, each its own transaction

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _outlet_params(self, outlet: Outlet, lines: Sequence[tuple[str, int]]) -> dict[str, Any]:
        return {
            **self.sequences,
            "channel": outlet.channel_id,
            "locations": list(outlet.locations),
            "codes": list(outlet.codes),
            "ranking": orjson.dumps(
                [{"location": c, "priority": i} for i, c in enumerate(outlet.codes)]
            ).decode(),
            "shown": outlet.shown,
            "held_back": outlet.held_back,
            "skus": [s for s, _ in lines],
            "qtys": [q for _, q in lines],
            "n": len(lines),
            "actor": self.actor,
        }

    def _completed(
        self, outlet: Outlet, source: str, external_id: str | None, total: Decimal, **more: Any
    ) -> str:
        """The Order Completed event's payload, less what the statement adds."""
        return orjson.dumps(
            {
                "tax": "0",
                "total": str(total),
                "source": source,
                "status": "confirmed",
                "revenue": str(total),
                "currency": "EUR",
                "discount": "0",
                "shipping": "0",
                "subtotal": str(total),
                "channel_id": outlet.channel_id,
                "affiliation": outlet.code,
                "external_id": external_id,
                **more,
            }
        ).decode()

    def _run(self, sql: str, params: dict[str, Any]) -> Answer:
        for _ in range(5):
            self.statements += 1
            try:
                row = self.conn.execute(sql, params).fetchone()
            except (errors.DeadlockDetected, errors.SerializationFailure):
                continue  # as Omnicart's `retrying` does
            except errors.RaiseException:
                return Answer(409)
            except psycopg.Error as exc:
                if len(self.errors) < 5:
                    self.errors.append(f"raw: {exc!r}")
                return Answer(0)
            if row is None or row[0] is None:
                return Answer(0)
            return Answer(201 if row[1] else 200, int(row[0]))
        return Answer(0)

    def marketplace(
        self,
        *,
        channel: str,
        external_id: str,
        lines: Sequence[tuple[str, int]],
        total: Decimal,
        customer_ref: str,
        body: dict[str, Any],
    ) -> Answer:
        """A marketplace order, taken idempotently on (channel, external id)."""
        outlet = self.outlets[channel]
        customer = {"ref": customer_ref, "email": None, "phone": None}
        params = self._outlet_params(outlet, lines) | {
            "external_id": external_id,
            "customer_ref": customer_ref,
            "payload_hash": payload_hash(body),
            "method": channel,
            "received": "received from external",
            "completed": self._completed(
                outlet, "external", external_id, total, customer=customer, fulfilment_mode="ship"
            ),
        }
        return self._run(MARKETPLACE, params)

    def till(
        self,
        *,
        channel: str,
        receipt: str,
        lines: Sequence[tuple[str, int]],
        total: Decimal,
        body: dict[str, Any],
    ) -> Answer:
        """A till sale at the store: paid and handed over at once."""
        outlet = self.outlets[channel]
        store = Outlet(outlet.channel_id, outlet.code, (self.store_id,), (self.store_code,), 100, 0)
        customer = {"ref": None, "email": None, "phone": None}
        params = self._outlet_params(store, lines) | {
            "external_id": receipt,
            "store": self.store_id,
            "payload_hash": payload_hash(body),
            "method": "cash",
            "till_reason": f"sold at the till of {self.store_code}",
            "completed": self._completed(
                outlet, "pos", receipt, total, customer=customer, fulfilment_mode="in_store"
            ),
        }
        return self._run(TILL, params)

    def cart(self, *, channel: str, lines: Sequence[tuple[str, int]]) -> Answer:
        """A cart with its hold (the checkout's first request)."""
        outlet = self.outlets[channel]
        params = self._outlet_params(outlet, lines) | {
            "cart_lines": orjson.dumps([{"sku": s, "quantity": q} for s, q in lines]).decode()
        }
        return self._run(CART, params)

    def checkout(
        self,
        *,
        channel: str,
        cart_id: int,
        lines: Sequence[tuple[str, int]],
        total: Decimal,
        email: str,
        address: dict[str, Any],
        body: dict[str, Any],
    ) -> Answer:
        """The checkout of a cart: its hold becomes the order's allocation."""
        outlet = self.outlets[channel]
        customer = {"ref": None, "email": email, "phone": None}
        params = self._outlet_params(outlet, lines) | {
            "cart": cart_id,
            "email": email,
            "address": orjson.dumps(address).decode(),
            "payload_hash": payload_hash(body),
            "method": "card",
            "received": "received from checkout",
            "completed": self._completed(
                outlet, "checkout", None, total, customer=customer, fulfilment_mode="ship"
            ),
        }
        return self._run(CHECKOUT, params)
