"""The rules of loyalty: what an order earns, what points are worth, tiers, reversals.

Pure functions over plain values; the services apply them in transactions. Points are
whole numbers. A customer's balance is the sum of their ledger entries and never goes
below zero: a redemption larger than the balance is refused, and a reversal that finds
the points already spent takes what is there and records the rest as a shortfall.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final

from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.money import minor_units, plain, to_decimal, validate_currency

EARN: Final = "earn"
REDEEM: Final = "redeem"
REVERSE: Final = "reverse"
BONUS: Final = "bonus"
EXPIRE: Final = "expire"
ENTRY_KINDS: Final = (EARN, REDEEM, REVERSE, BONUS, EXPIRE)
# The bonus every channel may name: awarded once per customer, on their first order.
FIRST_ORDER: Final = "first_order"
MAX_POINTS: Final = 10_000_000  # one entry, one rule or one redemption at most
MAX_POINTS_PER_UNIT: Final = Decimal(1000)
MAX_WINDOW_DAYS: Final = 3660
_BONUS_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Rule amounts are stored as NUMERIC(19, 4).
_RULE_PLACES: Final = 4


class InsufficientPoints(Conflict):
    """A redemption asks for more points than the customer has."""

    type_slug = "insufficient-points"
    title = "Insufficient points"


@dataclass(frozen=True, slots=True)
class EarnRule:
    """How one channel's orders earn and what its points are worth.

    `points_per_unit`: points per unit of the channel's currency spent (rounded down to
    whole points per order); `point_value`: money one point takes off an order in that
    currency; `spend_rate`: how much one unit of the channel's currency counts towards
    tiers in the program's currency (None: 1 when the currencies match, else nothing);
    `bonuses`: named bonus events and their points (`first_order` is awarded by itself).
    """

    points_per_unit: Decimal
    point_value: Decimal
    spend_rate: Decimal | None = None
    bonuses: Mapping[str, int] | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier reached by spending at least `min_spend` within the program's window."""

    name: str
    min_spend: Decimal


@dataclass(frozen=True, slots=True)
class Program:
    """Tiers by rolling spend: spend in `currency` over the last `window_days` days."""

    currency: str
    window_days: int
    tiers: tuple[Tier, ...]


DEFAULT_PROGRAM: Final = Program(
    currency="EUR",
    window_days=365,
    tiers=(
        Tier("member", Decimal(0)),
        Tier("silver", Decimal(500)),
        Tier("gold", Decimal(2000)),
    ),
)


@dataclass(frozen=True, slots=True)
class Award:
    """Points an order earns: the base earning or one named bonus."""

    kind: str
    name: str
    points: int


def _rule_amount(value: object, where: str, *, most: Decimal | None = None) -> Decimal:
    amount = to_decimal(value, field=where)
    if amount < 0:
        raise ValidationFailed(f"{where} must not be negative (got {amount})", field=where)
    if most is not None and amount > most:
        raise ValidationFailed(f"{where} is at most {most}", field=where)
    if amount != amount.quantize(Decimal(1).scaleb(-_RULE_PLACES), rounding=ROUND_DOWN):
        raise ValidationFailed(f"{where} has at most {_RULE_PLACES} decimal places", field=where)
    return plain(amount)


def _whole_points(value: object, where: str, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{where} must be a whole number of points", field=where)
    low = 1 if positive else 0
    if not low <= value <= MAX_POINTS:
        raise ValidationFailed(f"{where} must be {low} to {MAX_POINTS:,} points", field=where)
    return value


def check_bonus_name(name: str, *, where: str = "name") -> str:
    """A bonus event's name: lower-case letters, digits and underscores, 1 to 40."""
    if not _BONUS_NAME.fullmatch(name):
        raise ValidationFailed(
            f"{name!r} is not a bonus name (lower-case letters, digits, _; 1 to 40)",
            field=where,
        )
    return name


def check_rule(rule: EarnRule) -> EarnRule:
    """The rule with its amounts checked: non-negative, at most 4 decimals, bounded."""
    bonuses = {
        check_bonus_name(name, where=f"bonuses.{name}"): _whole_points(
            points, f"bonuses.{name}", positive=True
        )
        for name, points in (rule.bonuses or {}).items()
    }
    rate = None if rule.spend_rate is None else _rule_amount(rule.spend_rate, "spend_rate")
    return EarnRule(
        points_per_unit=_rule_amount(
            rule.points_per_unit, "points_per_unit", most=MAX_POINTS_PER_UNIT
        ),
        point_value=_rule_amount(rule.point_value, "point_value"),
        spend_rate=rate,
        bonuses=bonuses,
        active=rule.active,
    )


def check_program(program: Program) -> Program:
    """A known currency, a window of 1 to 3660 days, tiers with distinct names and
    thresholds, returned in ascending order of spend."""
    currency = validate_currency(program.currency)
    if not 1 <= program.window_days <= MAX_WINDOW_DAYS:
        raise ValidationFailed(f"window_days is 1 to {MAX_WINDOW_DAYS}", field="window_days")
    names: set[str] = set()
    thresholds: set[Decimal] = set()
    tiers: list[Tier] = []
    for index, tier in enumerate(program.tiers):
        where = f"tiers.{index}"
        name = tier.name.strip()
        if not 1 <= len(name) <= 40:
            raise ValidationFailed("a tier's name is 1 to 40 characters", field=f"{where}.name")
        spend = _rule_amount(tier.min_spend, f"{where}.min_spend")
        if name in names or spend in thresholds:
            raise ValidationFailed(
                "tiers have distinct names and distinct min_spend", field=f"{where}"
            )
        names.add(name)
        thresholds.add(spend)
        tiers.append(Tier(name, spend))
    tiers.sort(key=lambda tier: tier.min_spend)
    return Program(currency, program.window_days, tuple(tiers))


def points_for(amount: Decimal, points_per_unit: Decimal) -> int:
    """Whole points for spending `amount` (rounded down; nothing for nothing)."""
    if amount <= 0 or points_per_unit <= 0:
        return 0
    return int((amount * points_per_unit).to_integral_value(rounding=ROUND_FLOOR))


def awards_for_order(rule: EarnRule, *, basis: Decimal, first_order: bool) -> list[Award]:
    """What an order worth `basis` earns under `rule` (zero awards are left out).

    The basis is what the customer paid for goods: subtotal less discounts, so neither
    shipping nor the part paid with points earns points.
    """
    if not rule.active:
        return []
    awards = [Award(EARN, EARN, points_for(basis, rule.points_per_unit))]
    first_bonus = (rule.bonuses or {}).get(FIRST_ORDER, 0)
    if first_order and first_bonus and basis > 0:
        awards.append(Award(BONUS, FIRST_ORDER, first_bonus))
    return [award for award in awards if award.points > 0]


def tier_spend(basis: Decimal, *, currency: str, rule: EarnRule, program: Program) -> Decimal:
    """How much an order counts towards tiers, in the program's currency."""
    if rule.spend_rate is not None:
        rate = rule.spend_rate
    elif currency == program.currency:
        rate = Decimal(1)
    else:
        return Decimal(0)  # no rate to count another currency's spend by
    return (basis * rate).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def redemption_value(points: int, *, point_value: Decimal, currency: str) -> Decimal:
    """Money `points` take off an order, rounded down to the currency's minor units."""
    _whole_points(points, "redeem_points", positive=True)
    if point_value <= 0:
        raise ValidationFailed(
            "points cannot be redeemed on this channel (its points are worth nothing)",
            field="redeem_points",
        )
    places = Decimal(1).scaleb(-minor_units(currency))
    return (points * point_value).quantize(places, rounding=ROUND_DOWN)


def check_redemption(*, balance: int, points: int) -> None:
    """Raise InsufficientPoints unless the balance covers the redemption."""
    _whole_points(points, "redeem_points", positive=True)
    if points > balance:
        raise InsufficientPoints(
            f"the customer has {balance} points, not the {points} asked for",
            field="redeem_points",
            balance=balance,
            requested=points,
        )


def reversal_due(
    *,
    earned: int,
    bonus: int,
    gone: int,
    bonus_gone: int,
    refunded: Decimal,
    order_total: Decimal,
) -> int:
    """Points to take back after refunds adding up to `refunded` of `order_total`.

    The rule: the customer keeps what the part of the order they kept earns, rounded
    down as earning rounds: floor(earned x (total - refunded) / total) of the earned
    points. The order's bonuses (the first-order bonus) stay while any of it is kept and
    go with the refund that makes it whole. Reckoned on the running total of refunds, so
    two half refunds take back exactly what one full refund would.

    `gone` is what of the order's points is already gone (taken back, with any shortfall,
    or expired), `bonus_gone` the part of it that was bonus (expired, or reversed as a
    duplicate after two profiles merged); before the last refund every reversal is of
    earned points.
    """
    if refunded <= 0:
        return 0
    if order_total <= 0 or refunded >= order_total:
        return max(0, earned + bonus - gone)
    kept_share = (order_total - refunded) / order_total
    kept = int((earned * kept_share).to_integral_value(rounding=ROUND_FLOOR))
    return max(0, earned - kept - (gone - bonus_gone))


def apply_reversal(*, balance: int, due: int) -> tuple[int, int]:
    """(points taken, shortfall): never more than the balance holds."""
    taken = max(0, min(balance, due))
    return taken, due - taken


def balance_of(points: Iterable[int]) -> int:
    """The balance of a set of ledger entries."""
    return sum(points)


def tier_for(spend: Decimal, tiers: Sequence[Tier]) -> str | None:
    """The highest tier whose threshold `spend` reaches (None below every tier)."""
    reached = [tier for tier in tiers if spend >= tier.min_spend]
    return max(reached, key=lambda tier: tier.min_spend).name if reached else None


def next_tier(spend: Decimal, tiers: Sequence[Tier]) -> tuple[str, Decimal] | None:
    """The next tier up and how much more spend reaches it (None at the top)."""
    above = sorted((tier for tier in tiers if tier.min_spend > spend), key=lambda t: t.min_spend)
    return (above[0].name, above[0].min_spend - spend) if above else None


# --- expiry -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One ledger entry as expiry reads it.

    `lot_id` names the lot an outflow is of (an expiry, a duplicate bonus reversed).
    """

    id: int
    points: int
    at: datetime
    order_id: int | None = None
    lot_id: int | None = None


def lots_left(items: Iterable[LedgerItem]) -> dict[int, int]:
    """Points left of each lot, by its entry id, once every outflow has been taken.

    A lot is an entry that adds points (earned, a bonus, redeemed points given back).
    Outflows are taken in ledger order (time, then id): an outflow of a named lot
    (an expiry) from that lot; a reversal of an order's points first from that order's
    lots, then like the rest; everything else (redemptions) first in, first out: from
    the oldest lot that has points left.
    """
    left: dict[int, int] = {}
    lots: list[LedgerItem] = []
    for item in sorted(items, key=lambda entry: (entry.at, entry.id)):
        if item.points > 0:
            left[item.id] = item.points
            lots.append(item)
            continue
        need = -item.points
        first = [
            lot
            for lot in lots
            if (item.lot_id is not None and lot.id == item.lot_id)
            or (item.lot_id is None and item.order_id is not None and lot.order_id == item.order_id)
        ]
        for lot in [*first, *lots]:
            if need <= 0:
                break
            take = min(need, left[lot.id])
            left[lot.id] -= take
            need -= take
    return left


def expiring(
    items: Sequence[LedgerItem], *, cutoff: datetime, done: frozenset[int] = frozenset()
) -> list[tuple[LedgerItem, int]]:
    """Lots earned at or before `cutoff` and not expired yet (`done`), with the points
    left of each to expire (possibly none), oldest first.

    Together they never expire more than `balance_of` the items holds.
    """
    left = lots_left(items)
    budget = max(0, balance_of(item.points for item in items))
    due: list[tuple[LedgerItem, int]] = []
    for lot in sorted(items, key=lambda entry: (entry.at, entry.id)):
        if lot.points <= 0 or lot.at > cutoff or lot.id in done:
            continue
        points = min(left.get(lot.id, 0), budget)
        budget -= points
        due.append((lot, points))
    return due
