"""Loyalty rules as pure functions: earning, bonuses, tiers, redemption value, reversals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from omnicart.kernel.errors import ValidationFailed
from omnicart.loyalty.model import (
    BONUS,
    EARN,
    Award,
    EarnRule,
    InsufficientPoints,
    LedgerItem,
    Program,
    Tier,
    apply_reversal,
    awards_for_order,
    check_program,
    check_redemption,
    check_rule,
    expiring,
    lots_left,
    next_tier,
    points_for,
    redemption_value,
    reversal_due,
    tier_for,
    tier_spend,
)

D = Decimal
RULE = EarnRule(points_per_unit=D("1"), point_value=D("0.01"), bonuses={"first_order": 100})
PROGRAM = Program("EUR", 365, (Tier("member", D(0)), Tier("silver", D(500)), Tier("gold", D(2000))))


@pytest.mark.parametrize(
    ("amount", "per_unit", "points"),
    [
        (D("39.98"), D("1"), 39),
        (D("39.99"), D("1"), 39),  # rounded down, never up
        (D("0.99"), D("1"), 0),
        (D("100"), D("2.5"), 250),
        (D("19.99"), D("0.1"), 1),
        (D("1999"), D("0.04"), 79),  # 79.96
        (D("5"), D("0"), 0),
        (D("-5"), D("1"), 0),
        (D("0"), D("1"), 0),
    ],
)
def test_points_for_spend_are_whole_and_rounded_down(
    amount: Decimal, per_unit: Decimal, points: int
) -> None:
    assert points_for(amount, per_unit) == points


def test_a_first_order_earns_the_bonus_once_and_inactive_rules_earn_nothing() -> None:
    assert awards_for_order(RULE, basis=D("39.98"), first_order=True) == [
        Award(EARN, EARN, 39),
        Award(BONUS, "first_order", 100),
    ]
    assert awards_for_order(RULE, basis=D("39.98"), first_order=False) == [Award(EARN, EARN, 39)]
    assert awards_for_order(RULE, basis=D("0.50"), first_order=False) == []
    assert awards_for_order(RULE, basis=D("0"), first_order=True) == []
    off = EarnRule(D("1"), D("0.01"), active=False)
    assert awards_for_order(off, basis=D("100"), first_order=True) == []


@pytest.mark.parametrize(
    ("points", "point_value", "currency", "value"),
    [
        (500, D("0.01"), "EUR", D("5.00")),
        (1, D("0.01"), "EUR", D("0.01")),
        (3, D("0.005"), "EUR", D("0.01")),  # 0.015 rounded down: the merchant never gives more
        (150, D("0.1"), "JPY", D("15")),
        (7, D("0.3333"), "PLN", D("2.33")),
        (1000, D("0.002"), "KWD", D("2.000")),
    ],
)
def test_redemption_value_is_rounded_down_to_minor_units(
    points: int, point_value: Decimal, currency: str, value: Decimal
) -> None:
    got = redemption_value(points, point_value=point_value, currency=currency)
    assert got == value
    assert str(got) == str(value)


@pytest.mark.parametrize("points", [0, -1, 10_000_001])
def test_redemption_needs_whole_positive_points(points: int) -> None:
    with pytest.raises(ValidationFailed) as info:
        redemption_value(points, point_value=D("0.01"), currency="EUR")
    assert info.value.field == "redeem_points"


def test_worthless_points_and_a_short_balance_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        redemption_value(10, point_value=D("0"), currency="EUR")
    check_redemption(balance=500, points=500)
    with pytest.raises(InsufficientPoints) as info:
        check_redemption(balance=499, points=500)
    assert info.value.status == 409
    assert info.value.extra == {"balance": 499, "requested": 500}
    assert info.value.field == "redeem_points"


@pytest.mark.parametrize(
    ("earned", "bonus", "gone", "bonus_gone", "refunded", "total", "due"),
    [
        (39, 100, 0, 0, D("39.98"), D("39.98"), 139),  # full refund: points and bonus
        (39, 0, 0, 0, D("19.99"), D("39.98"), 20),  # keeps floor(19.5) = 19
        (39, 0, 20, 0, D("39.98"), D("39.98"), 19),  # the second half: exactly the rest
        # Three units earned 59: one refunded keeps floor(39.33) = 39, two keep 19 - as
        # one unit of 19.99 earns on its own (half up would leave 20).
        (59, 0, 0, 0, D("19.99"), D("59.97"), 20),
        (59, 0, 20, 0, D("39.98"), D("59.97"), 20),
        (59, 0, 40, 0, D("59.97"), D("59.97"), 19),
        # A bonus stays while part of the order is kept, and goes with the last refund.
        (39, 100, 0, 0, D("19.99"), D("39.98"), 20),
        (39, 100, 20, 0, D("39.98"), D("39.98"), 119),
        # A bonus already gone (a merged duplicate, expired) is not taken again.
        (39, 100, 100, 100, D("19.99"), D("39.98"), 20),
        (39, 100, 120, 100, D("39.98"), D("39.98"), 19),
        # Earned points that expired are not taken again.
        (39, 0, 39, 0, D("19.99"), D("39.98"), 0),
        (39, 0, 39, 0, D("10"), D("39.98"), 0),  # nothing left to take
        (39, 0, 0, 0, D("50"), D("39.98"), 39),  # never more than earned
        (0, 0, 0, 0, D("10"), D("39.98"), 0),
        (39, 0, 0, 0, D("0"), D("39.98"), 0),
        (10, 0, 0, 0, D("1"), D("0"), 10),  # a free order refunded: all of it
    ],
)
def test_a_refund_takes_back_what_the_refunded_part_earned(
    earned: int,
    bonus: int,
    gone: int,
    bonus_gone: int,
    refunded: Decimal,
    total: Decimal,
    due: int,
) -> None:
    assert (
        reversal_due(
            earned=earned,
            bonus=bonus,
            gone=gone,
            bonus_gone=bonus_gone,
            refunded=refunded,
            order_total=total,
        )
        == due
    )


@pytest.mark.parametrize(
    ("balance", "due", "taken", "shortfall"),
    [(100, 39, 39, 0), (10, 39, 10, 29), (0, 39, 0, 39), (50, 0, 0, 0), (-5, 3, 0, 3)],
)
def test_a_reversal_never_takes_the_balance_below_zero(
    balance: int, due: int, taken: int, shortfall: int
) -> None:
    assert apply_reversal(balance=balance, due=due) == (taken, shortfall)


@pytest.mark.parametrize(
    ("spend", "tier", "upcoming"),
    [
        (D("0"), "member", ("silver", D("500"))),
        (D("499.99"), "member", ("silver", D("0.01"))),
        (D("500"), "silver", ("gold", D("1500"))),
        (D("2000"), "gold", None),
        (D("99999"), "gold", None),
    ],
)
def test_tiers_by_rolling_spend(
    spend: Decimal, tier: str, upcoming: tuple[str, Decimal] | None
) -> None:
    assert tier_for(spend, PROGRAM.tiers) == tier
    assert next_tier(spend, PROGRAM.tiers) == upcoming


def test_below_every_tier_there_is_none() -> None:
    tiers = (Tier("silver", D(500)),)
    assert tier_for(D("10"), tiers) is None


@pytest.mark.parametrize(
    ("currency", "rate", "spend"),
    [("EUR", None, D("39.98")), ("PLN", None, D("0")), ("PLN", D("0.23"), D("9.1954"))],
)
def test_spend_counts_in_the_program_currency(
    currency: str, rate: Decimal | None, spend: Decimal
) -> None:
    rule = EarnRule(D("1"), D("0.01"), spend_rate=rate)
    assert tier_spend(D("39.98"), currency=currency, rule=rule, program=PROGRAM) == spend


def test_rules_are_checked() -> None:
    checked = check_rule(EarnRule(D("1.50"), D("0.0100"), bonuses={"review": 50}))
    assert (checked.points_per_unit, checked.point_value) == (D("1.5"), D("0.01"))
    bad = [
        (EarnRule(D("-1"), D("0.01")), "points_per_unit"),
        (EarnRule(D("1001"), D("0.01")), "points_per_unit"),
        (EarnRule(D("1"), D("0.00001")), "point_value"),
        (EarnRule(D("1"), D("0.01"), spend_rate=D("-0.2")), "spend_rate"),
        (EarnRule(D("1"), D("0.01"), bonuses={"Bad Name": 5}), "bonuses.Bad Name"),
        (EarnRule(D("1"), D("0.01"), bonuses={"review": 0}), "bonuses.review"),
    ]
    for rule, field in bad:
        with pytest.raises(ValidationFailed) as info:
            check_rule(rule)
        assert info.value.field == field


def test_programs_are_checked_and_tiers_sorted() -> None:
    program = check_program(
        Program("eur", 90, (Tier("gold", D(2000)), Tier("member", D(0)), Tier("silver", D(500))))
    )
    assert program.currency == "EUR"
    assert [t.name for t in program.tiers] == ["member", "silver", "gold"]
    for bad, field in [
        (Program("XXX", 90, ()), "currency"),
        (Program("EUR", 0, ()), "window_days"),
        (Program("EUR", 90, (Tier("a", D(1)), Tier("a", D(2)))), "tiers.1"),
        (Program("EUR", 90, (Tier("a", D(1)), Tier("b", D(1)))), "tiers.1"),
        (Program("EUR", 90, (Tier(" ", D(1)),)), "tiers.0.name"),
    ]:
        with pytest.raises(ValidationFailed) as info:
            check_program(bad)
        assert info.value.field == field


# --- expiry ---------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(day: int) -> datetime:
    return T0 + timedelta(days=day)


def test_redemptions_spend_the_oldest_points_first() -> None:
    items = [
        LedgerItem(1, 79, _at(0), order_id=7),
        LedgerItem(2, 39, _at(10), order_id=8),
        LedgerItem(3, -50, _at(20)),  # a redemption
    ]
    assert lots_left(items) == {1: 29, 2: 39}
    assert [(lot.id, points) for lot, points in expiring(items, cutoff=_at(5))] == [(1, 29)]
    assert [(lot.id, points) for lot, points in expiring(items, cutoff=_at(10))] == [
        (1, 29),
        (2, 39),
    ]
    # A lot expired already (its entry written) is not expired again.
    expired = [*items, LedgerItem(4, -29, _at(30), lot_id=1)]
    assert lots_left(expired) == {1: 0, 2: 39}
    assert expiring(expired, cutoff=_at(5), done=frozenset({1})) == []


def test_a_reversal_takes_its_own_orders_points_first() -> None:
    items = [
        LedgerItem(1, 100, _at(0), order_id=7),
        LedgerItem(2, 40, _at(10), order_id=8),
        LedgerItem(3, -40, _at(12), order_id=8),  # order 8 refunded
        LedgerItem(4, -30, _at(15)),
    ]
    assert lots_left(items) == {1: 70, 2: 0}
    assert [(lot.id, points) for lot, points in expiring(items, cutoff=_at(10))] == [
        (1, 70),
        (2, 0),
    ]


def test_expiry_never_takes_more_than_the_balance() -> None:
    # A redemption read before the lot that paid for it (clocks a little apart).
    items = [LedgerItem(2, -30, _at(0)), LedgerItem(1, 50, _at(0) + timedelta(seconds=1))]
    assert [(lot.id, points) for lot, points in expiring(items, cutoff=_at(1))] == [(1, 20)]
