"""The analytic model: the flat tables every metric reads, on DuckDB or ClickHouse.

Metrics never read the raw `events` table or the operational database. `warehouse.py`
derives these tables from the event store (tracked events, and the order book's events
delivered from the outbox) and copies the cost data and identities from the operational
database; for ClickHouse the same rows are loaded into the same tables. A metric's SQL is
written once against these tables (DuckDB dialect) and transpiled with SQLGlot.

Conventions:
- times are UTC `TIMESTAMP` (no zone), days are `DATE`;
- money is `DECIMAL(18, 4)` in the row's `currency` (ISO 4217); never a float;
- `customer_key` is who bought or acted, resolved across channels: `c<customer id>` when
  identity resolution knows the person, else `u<userId>` / `a<anonymousId>`; NULL when the
  order says nothing of the buyer (an anonymous till sale).
"""

from __future__ import annotations

MONEY = "DECIMAL(18, 4)"

TABLES: dict[str, str] = {
    # Every channel, with its currency (the channel's own figures are in this currency).
    "wh_channels": """
        channel_id BIGINT NOT NULL,
        code VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        currency VARCHAR NOT NULL
    """,
    # One row per order, in its latest state (Order Completed, then Order Updated events).
    # gross = subtotal (lines at their unit prices); net of discount = gross - discount.
    "wh_orders": f"""
        order_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        ordered_at TIMESTAMP NOT NULL,
        currency VARCHAR NOT NULL,
        customer_key VARCHAR,
        source VARCHAR NOT NULL,
        gross {MONEY} NOT NULL,
        discount {MONEY} NOT NULL,
        tax {MONEY} NOT NULL,
        shipping {MONEY} NOT NULL,
        total {MONEY} NOT NULL,
        units BIGINT NOT NULL,
        cancelled_at TIMESTAMP
    """,
    # The order's lines in their latest state.
    "wh_order_lines": f"""
        order_id BIGINT NOT NULL,
        line_no BIGINT NOT NULL,
        sku VARCHAR NOT NULL,
        quantity BIGINT NOT NULL,
        unit_price {MONEY} NOT NULL
    """,
    # Money given back (Order Refunded: a return's refund, or a paid order cancelled).
    "wh_refunds": f"""
        order_id BIGINT NOT NULL,
        refunded_at TIMESTAMP NOT NULL,
        amount {MONEY} NOT NULL,
        currency VARCHAR NOT NULL,
        return_id BIGINT
    """,
    # Units that came back (Return Received), one row per product line of the return.
    "wh_returns": """
        order_id BIGINT NOT NULL,
        return_id BIGINT NOT NULL,
        received_at TIMESTAMP NOT NULL,
        sku VARCHAR NOT NULL,
        quantity BIGINT NOT NULL,
        reason VARCHAR
    """,
    # Every order line (`units`) and returned line (`returned`) of an order, with the
    # order's channel, UTC day and cancellation and the unit cost holding on that day, in
    # its currency (NULL where no cost row holds): resolved by the refresh
    # (`line_costs.py`), so figures read lines without joining orders and cost periods.
    "wh_line_costs": f"""
        order_id BIGINT NOT NULL,
        sku VARCHAR NOT NULL,
        channel_id BIGINT NOT NULL,
        order_day DATE NOT NULL,
        cancelled_at TIMESTAMP,
        units BIGINT NOT NULL,
        returned BIGINT NOT NULL,
        cost {MONEY},
        currency VARCHAR
    """,
    # Tracked behaviour (every call of the tracking API; not the outbox's order events).
    # campaign_* from context.campaign (UTM), referrer from context.page.referrer.
    "wh_events": """
        occurred_at TIMESTAMP NOT NULL,
        channel_id BIGINT NOT NULL,
        customer_key VARCHAR,
        anonymous_id VARCHAR,
        type VARCHAR NOT NULL,
        event VARCHAR,
        campaign_source VARCHAR,
        campaign_medium VARCHAR,
        campaign_name VARCHAR,
        referrer VARCHAR,
        order_id BIGINT
    """,
    # Sessions (sessions.py): a visitor's run of tracked events on a channel with no gap
    # over 30 minutes, derived from wh_events by the refresh; `visitor` is the events'
    # customer_key, else `a<anonymous_id>`; counts of its events, of its Order Completed
    # events and of its cart events (Product Added, Checkout Started).
    "wh_sessions": """
        channel_id BIGINT NOT NULL,
        visitor VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP NOT NULL,
        events BIGINT NOT NULL,
        order_events BIGINT NOT NULL,
        cart_events BIGINT NOT NULL
    """,
    # Ad spend per channel, campaign and day (imported).
    "wh_spend": f"""
        day DATE NOT NULL,
        channel_id BIGINT NOT NULL,
        campaign VARCHAR NOT NULL,
        spend {MONEY} NOT NULL,
        currency VARCHAR NOT NULL
    """,
    # Unit cost (COGS) of a SKU from `valid_from` until the next row of the same SKU.
    "wh_unit_costs": f"""
        sku VARCHAR NOT NULL,
        valid_from DATE NOT NULL,
        cost {MONEY} NOT NULL,
        currency VARCHAR NOT NULL
    """,
    # A channel's fees from `valid_from`: commission % of net sales, payment % + fixed per order.
    "wh_fees": f"""
        channel_id BIGINT NOT NULL,
        valid_from DATE NOT NULL,
        commission_pct {MONEY} NOT NULL,
        payment_pct {MONEY} NOT NULL,
        payment_fixed {MONEY} NOT NULL,
        currency VARCHAR NOT NULL
    """,
    # Fixed costs of a channel for a month (`month` is the month's first day).
    "wh_fixed_costs": f"""
        channel_id BIGINT NOT NULL,
        month DATE NOT NULL,
        label VARCHAR NOT NULL,
        amount {MONEY} NOT NULL,
        currency VARCHAR NOT NULL
    """,
    # ECB reference rates: 1 EUR = per_eur units of `currency` on `day` (EUR itself: 1).
    "wh_rates": """
        day DATE NOT NULL,
        currency VARCHAR NOT NULL,
        per_eur DECIMAL(18, 6) NOT NULL
    """,
}


def create_statements() -> list[str]:
    """CREATE TABLE statements of the analytic model (DuckDB dialect)."""
    return [f"CREATE TABLE IF NOT EXISTS {name} ({body.strip()})" for name, body in TABLES.items()]
