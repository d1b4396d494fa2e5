"""The same-writes baseline of `omnicart bench inventory`: a reservation as one statement.

It writes what `inventory.service.reserve_stock` writes for a request (the reservation,
its lines, the guarded stock updates and their ledger rows), with the same rules as the
orders baseline (`orders_raw.plan_sql`): rows locked in one fixed order, the first ranked
location of the channel holding each line after the channel's buffer, an UPDATE carrying
`ledger.stock_guard`'s condition, and the whole statement refused when a line does not
fit. It is idempotent on (channel, idempotency key), as Omnicart is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors

from omnicart.benchmarks.orders_raw import connect, outlets, plan_sql

RESERVE = (
    "WITH "  # noqa: S608 -- constant SQL pieces; every value is a bound parameter
    + plan_sql(priced=False)
    + """,
hold_id AS (SELECT nextval(%(reservation_seq)s::regclass) AS id),
hold AS (
    INSERT INTO reservations (id, channel_id, idempotency_key, request_hash, status,
                              reference, actor, expires_at, created_at, closed_at)
    SELECT h.id, %(channel)s, %(key)s, %(request_hash)s, 'active', '', 'system',
           now() + %(ttl)s * interval '1 second', now(), NULL
    FROM hold_id h
    ON CONFLICT (channel_id, idempotency_key) DO NOTHING
    RETURNING id
),
held AS (
    INSERT INTO reservation_lines (reservation_id, variant_id, location_id, quantity,
                                   shipped, requested_sku)
    SELECT h.id, p.variant_id, p.location_id, p.qty, 0, p.sku
    FROM pick p, hold h
),
stock_changed AS (
    UPDATE stock_levels s
    SET reserved = s.reserved + p.qty, updated_at = now()
    FROM pick p, hold h
    WHERE s.variant_id = p.variant_id AND s.location_id = p.location_id
      AND s.on_hand >= s.reserved + p.qty + s.allocated AND s.reserved + p.qty >= 0
    RETURNING s.variant_id
),
ledger AS (
    INSERT INTO stock_movements (kind, variant_id, location_id, delta_on_hand,
                                 delta_reserved, delta_allocated, reason, actor, channel_id,
                                 reservation_id, created_at)
    SELECT 'reservation', p.variant_id, p.location_id, 0, p.qty, 0, '', 'system',
           %(channel)s, h.id, now()
    FROM pick p, hold h
)
SELECT bench_refuse_unless((SELECT count(*) FROM stock_changed) = %(n)s
                           OR NOT EXISTS (SELECT FROM hold))
"""
)


class SameWrites:
    """Reservations for one channel as single statements on one autocommit connection."""

    def __init__(self, *, url: str, schema: str, channel_id: int, ttl_seconds: int) -> None:
        self.conn = connect(url, schema)
        outlet = next(o for o in outlets(self.conn).values() if o.channel_id == channel_id)
        row = self.conn.execute("SELECT pg_get_serial_sequence('reservations', 'id')").fetchone()
        assert row is not None
        self.params: dict[str, Any] = {
            "reservation_seq": row[0],
            "channel": channel_id,
            "locations": list(outlet.locations),
            "codes": list(outlet.codes),
            "shown": outlet.shown,
            "held_back": outlet.held_back,
            "ttl": ttl_seconds,
        }

    def reserve(self, key: str, lines: Sequence[tuple[str, int]]) -> bool:
        """Hold the lines; False when stock refused them (nothing was written)."""
        params = self.params | {
            "key": key,
            "request_hash": hashlib.sha256(orjson.dumps(sorted(lines))).hexdigest(),
            "skus": [s for s, _ in lines],
            "qtys": [q for _, q in lines],
            "n": len(lines),
        }
        for _ in range(5):
            try:
                self.conn.execute(RESERVE, params)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                continue  # as Omnicart's `retrying` does
            except errors.RaiseException:
                return False
            return True
        raise psycopg.OperationalError("a reservation kept deadlocking")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
