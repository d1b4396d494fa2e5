"""The plan of a new order: decided from its checked draft, before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnicart.kernel.errors import ValidationFailed
from omnicart.orders.model import (
    COMPLETED,
    CONFIRMED,
    FULFILLED,
    PENDING,
    Customer,
    Fulfil,
    LineDraft,
    OrderDraft,
    OrderPlan,
    PaymentDraft,
    check_totals,
    plan_order,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _draft(*payments: PaymentDraft) -> OrderDraft:
    return OrderDraft(
        currency="EUR",
        lines=(
            LineDraft(sku="TEE-1", quantity=2, unit_price=Decimal("10.00")),
            LineDraft(sku="CAP-1", quantity=1, unit_price=Decimal("5.50"), discount=Decimal(1)),
        ),
        shipping=Decimal("4.00"),
        payments=payments,
    )


def test_an_order_paid_in_full_opens_pending_then_confirmed() -> None:
    plan = plan_order(
        channel_id=7,
        currency="EUR",
        source="external",
        draft=_draft(PaymentDraft(" card ", Decimal("28.50"), " ch_1 ")),
        totals=check_totals(_draft(PaymentDraft("card", Decimal("28.50")))),
        customer=Customer(email="ann@example.com"),
        fulfil=Fulfil(mode="pickup", pickup_location_id=3),
        payload_hash="h1",
        now=NOW,
        external_id="EXT-1",
    )
    assert plan.statuses == (
        (PENDING, "received from external"),
        (CONFIRMED, "paid in full"),
    )
    assert plan.payments == (("card", Decimal("28.50"), "ch_1"),)
    assert plan.stock == [("TEE-1", 2), ("CAP-1", 1)]
    assert plan.flag_unlisted is True  # another channel sold it: unlisted SKUs are flagged
    row = plan.row
    assert (row["status"], row["channel_id"], row["currency"], row["external_id"]) == (
        PENDING,
        7,
        "EUR",
        "EXT-1",
    )
    # 2 × 10.00 + 5.50 − 1.00 discount + 4.00 shipping
    assert (row["subtotal"], row["discount_total"], row["shipping_total"], row["total"]) == (
        Decimal("25.50"),
        Decimal("1.00"),
        Decimal("4.00"),
        Decimal("28.50"),
    )
    assert (row["fulfilment_mode"], row["pickup_location_id"]) == ("pickup", 3)
    assert (row["customer_email"], row["payload_hash"], row["version"]) == (
        "ann@example.com",
        "h1",
        1,
    )
    assert row["created_at"] == row["updated_at"] == NOW
    assert row["reservation_id"] is None
    assert row["routing"] is None


def test_an_unpaid_checkout_stays_pending_and_refuses_unlisted_skus() -> None:
    draft = _draft()
    plan = plan_order(
        channel_id=7,
        currency="EUR",
        source="checkout",
        draft=draft,
        totals=check_totals(draft),
        customer=Customer(),
        fulfil=Fulfil(),
        payload_hash="h2",
        now=NOW,
        cart_id=41,
    )
    assert plan.statuses == ((PENDING, "received from checkout"),)
    assert plan.payments == ()
    assert plan.flag_unlisted is False
    assert (plan.row["cart_id"], plan.row["external_id"]) == (41, None)


def _till_plan(draft: OrderDraft) -> OrderPlan:
    """A till sale's plan at store 2 of channel 9."""
    return plan_order(
        channel_id=9,
        currency="EUR",
        source="pos",
        draft=draft,
        totals=check_totals(draft),
        customer=Customer(),
        fulfil=Fulfil(mode="in_store", pickup_location_id=2),
        payload_hash="h3",
        now=NOW,
        handed_over=True,
    )


def test_a_till_sale_is_planned_handed_over_and_must_be_paid_exactly() -> None:
    plan = _till_plan(_draft(PaymentDraft("cash", Decimal("28.50"))))
    assert plan.handed_over is True
    assert [status for status, _ in plan.statuses] == [
        PENDING,
        CONFIRMED,
        FULFILLED,
        COMPLETED,
    ]
    with pytest.raises(ValidationFailed, match="a till sale is paid in full") as refused:
        _till_plan(_draft(PaymentDraft("cash", Decimal("20.00"))))
    assert refused.value.field == "payments"
