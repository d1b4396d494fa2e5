"""The model's copies of the operational database's small tables: the channels, and the
imported costs, spend, fees and exchange rates (see `tables.py`).

Channels are copied on every refresh (a handful of rows). The cost tables are copied
again only when one of them changed since the last copy: imports only ever add or
replace rows, and each row written gets a new `imported_at`, so (count, latest
`imported_at`) per table says whether anything changed. A copy costs the model's lines
of every SKU whose unit costs changed again (`line_costs.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import duckdb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omnicart.analytics import line_costs
from omnicart.analytics.engine import arrow_rows
from omnicart.analytics.tables import AdSpend, ChannelFee, ExchangeRate, FixedCost, UnitCost
from omnicart.channels.tables import Channel

_COPIES: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "wh_spend": (AdSpend, ("day", "channel_id", "campaign", "spend", "currency")),
    "wh_unit_costs": (UnitCost, ("sku", "valid_from", "cost", "currency")),
    "wh_fees": (
        ChannelFee,
        ("channel_id", "valid_from", "commission_pct", "payment_pct", "payment_fixed", "currency"),
    ),
    "wh_fixed_costs": (FixedCost, ("channel_id", "month", "label", "amount", "currency")),
    "wh_rates": (ExchangeRate, ("day", "currency", "per_eur")),
}


def _replace(conn: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[Any]]) -> None:
    conn.execute(f"DELETE FROM {table}")  # noqa: S608
    if rows:
        name = f"wh_new_{uuid.uuid4().hex}"
        conn.register(name, arrow_rows(table, rows))
        try:
            conn.execute(f"INSERT INTO {table} SELECT * FROM {name}")  # noqa: S608
        finally:
            conn.unregister(name)


def copy_channels(session: Session, conn: duckdb.DuckDBPyConnection) -> bool:
    """Copy every channel with its kind and currency, if any changed; whether they did."""
    rows = [
        tuple(r)
        for r in session.execute(
            select(Channel.id, Channel.code, Channel.kind, Channel.currency).order_by(Channel.id)
        )
    ]
    if conn.execute("SELECT * FROM wh_channels ORDER BY channel_id").fetchall() == rows:
        return False
    _replace(conn, "wh_channels", rows)
    return True


def costs_fingerprint(session: Session) -> str:
    """(count, latest imported_at) of every cost table, as one text."""
    parts = []
    for table, _ in _COPIES.values():
        count, latest = session.execute(select(func.count(), func.max(table.imported_at))).one()
        parts.append(f"{count}@{latest.isoformat() if latest else '-'}")
    return ";".join(parts)


def copy_costs(session: Session, conn: duckdb.DuckDBPyConnection) -> int:
    """Copy spend, unit costs, fees, fixed costs and rates (EUR itself at 1 on every day
    the ECB published), and cost the lines of the SKUs whose unit costs changed again (in
    the caller's transaction); the rows copied."""
    line_costs.keep_unit_costs(conn)
    copied = 0
    for model_table, (table, columns) in _COPIES.items():
        rows: list[Sequence[Any]] = [
            tuple(r) for r in session.execute(select(*(getattr(table, c) for c in columns)))
        ]
        if model_table == "wh_rates":
            rows += [(day, "EUR", Decimal(1)) for day in sorted({r[0] for r in rows})]
        _replace(conn, model_table, rows)
        copied += len(rows)
    line_costs.recost_changed_skus(conn)
    return copied
