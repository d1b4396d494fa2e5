"""Loyalty use cases: earn on orders of every channel, redeem at checkout and at the
till, take points back on refunds and cancellations, and read a customer's balance.

Entries are written against the profile they concern and read across a customer's
merged profiles (`customers.lookup.merged_ids`), so points earned before two profiles
were found to be one person show on the survivor. Spending points locks the accounts of
every profile of that person in id order, then sums the ledger: two redemptions of the
same points, in any channel, never both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from omnicart.channels.service import get_channel
from omnicart.customers.linking import profile_for_order
from omnicart.customers.lookup import merged_ids, survivor_of
from omnicart.customers.tables import CustomerProfile
from omnicart.db.engine import Database
from omnicart.inventory.ledger import insert_ignoring_duplicates
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import Conflict, NotFound, ValidationFailed
from omnicart.kernel.money import Money, plain
from omnicart.loyalty import model
from omnicart.loyalty.model import EarnRule, Program, Tier
from omnicart.loyalty.tables import LoyaltyAccount, LoyaltyEntry, LoyaltyProgram, LoyaltyRules

_accounts = cast(Table, LoyaltyAccount.__table__)
_HISTORY = 200  # entries a summary lists, newest first


@dataclass(frozen=True, slots=True)
class EntryView:
    """One ledger entry."""

    id: int
    profile_id: int
    kind: str
    points: int
    shortfall: int
    order_id: int | None
    channel_id: int | None
    amount: Decimal | None
    currency: str | None
    spend: Decimal
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LoyaltySummary:
    """A customer's points across their merged profiles: balance, tier and history."""

    profile_ids: list[int]
    balance: int
    tier: str | None
    next_tier: str | None
    spend_to_next_tier: Decimal | None
    rolling_spend: Decimal
    currency: str
    window_days: int
    earned: int
    redeemed: int
    shortfall: int
    entries: list[EntryView]


@dataclass(frozen=True, slots=True)
class RulesView:
    """A channel's earn and redemption rules (`configured` is False for the defaults)."""

    channel_id: int
    currency: str
    active: bool
    points_per_unit: Decimal
    point_value: Decimal
    spend_rate: Decimal | None
    bonuses: dict[str, int]
    configured: bool


def _money(value: Decimal, currency: str) -> Decimal:
    """An amount as the currency writes it (2 decimals for EUR), on either database."""
    return Money.rounded(value, currency).amount


def _entry_view(row: LoyaltyEntry) -> EntryView:
    return EntryView(
        id=row.id,
        profile_id=row.profile_id,
        kind=row.kind,
        points=row.points,
        shortfall=row.shortfall,
        order_id=row.order_id,
        channel_id=row.channel_id,
        amount=(
            _money(row.amount, row.currency)
            if row.amount is not None and row.currency
            else row.amount
        ),
        currency=row.currency,
        spend=plain(row.spend),
        reason=row.reason,
        actor=row.actor,
        at=row.at,
    )


# --- rules and program --------------------------------------------------------------


def rule_of(session: Session, channel_id: int) -> EarnRule | None:
    """The channel's rule, or None when it has no loyalty program."""
    row = session.get(LoyaltyRules, channel_id)
    if row is None:
        return None
    return EarnRule(
        points_per_unit=row.points_per_unit,
        point_value=row.point_value,
        spend_rate=row.spend_rate,
        bonuses={name: int(points) for name, points in row.bonuses.items()},
        active=row.active,
    )


def _rules_view(session: Session, channel_id: int) -> RulesView:
    channel = get_channel(session, channel_id=channel_id)
    row = session.get(LoyaltyRules, channel_id)
    if row is None:
        return RulesView(
            channel.id, channel.currency, False, Decimal(0), Decimal(0), None, {}, False
        )
    return RulesView(
        channel_id=channel.id,
        currency=channel.currency,
        active=row.active,
        points_per_unit=plain(row.points_per_unit),
        point_value=plain(row.point_value),
        spend_rate=None if row.spend_rate is None else plain(row.spend_rate),
        bonuses={name: int(points) for name, points in row.bonuses.items()},
        configured=True,
    )


def get_rules(db: Database, *, channel_id: int) -> RulesView:
    """How a channel's orders earn and what its points are worth."""
    with db.reading() as session:
        return _rules_view(session, channel_id)


def set_rules(db: Database, *, channel_id: int, rule: EarnRule) -> RulesView:
    """Replace a channel's loyalty rules (they apply to orders placed from now on)."""
    checked = model.check_rule(rule)
    with db.transaction() as session:
        get_channel(session, channel_id=channel_id)
        row = session.get(LoyaltyRules, channel_id) or LoyaltyRules(channel_id=channel_id)
        row.active = checked.active
        row.points_per_unit = checked.points_per_unit
        row.point_value = checked.point_value
        row.spend_rate = checked.spend_rate
        row.bonuses = dict(checked.bonuses or {})
        row.updated_at = utcnow()
        session.add(row)
    return get_rules(db, channel_id=channel_id)


def program_of(session: Session) -> Program:
    """The program's tiers (the defaults until a merchant sets them)."""
    row = session.get(LoyaltyProgram, 1)
    if row is None:
        return model.DEFAULT_PROGRAM
    tiers = tuple(Tier(t["name"], Decimal(str(t["min_spend"]))) for t in row.tiers)
    return Program(row.currency, row.window_days, tiers)


def get_program(db: Database) -> Program:
    """The program's currency, window and tiers."""
    with db.reading() as session:
        return program_of(session)


def set_program(db: Database, *, program: Program) -> Program:
    """Replace the program's tiers; a customer's tier is worked out when it is read."""
    checked = model.check_program(program)
    with db.transaction() as session:
        row = session.get(LoyaltyProgram, 1) or LoyaltyProgram(id=1)
        row.currency = checked.currency
        row.window_days = checked.window_days
        row.tiers = [{"name": t.name, "min_spend": str(t.min_spend)} for t in checked.tiers]
        row.updated_at = utcnow()
        session.add(row)
    return checked


# --- the ledger -----------------------------------------------------------------------


def person_of(session: Session, profile_id: int) -> list[int]:
    """Every profile id of the person `profile_id` belongs to, the survivor first."""
    return merged_ids(session, survivor_of(session, profile_id))


def lock_accounts(session: Session, profile_ids: Sequence[int]) -> None:
    """Lock the accounts of these profiles (created when missing) in id order."""
    ids = sorted(set(profile_ids))
    # The profiles first, as customers.lookup locks them when it resolves someone: one
    # order (profile, then account) everywhere, so a till sale that resolves its customer
    # and spends their points cannot deadlock with a redemption of the same person, whose
    # ledger insert would otherwise wait for the profile (its foreign key) last.
    session.execute(
        select(CustomerProfile.id)
        .where(CustomerProfile.id.in_(ids))
        .order_by(CustomerProfile.id)
        .with_for_update(key_share=True)
    ).all()
    conn = session.connection()
    now = utcnow()
    conn.execute(
        insert_ignoring_duplicates(conn, _accounts),
        [{"profile_id": pid, "opened_at": now} for pid in ids],
    )
    # SQLite already holds the database's write lock (BEGIN IMMEDIATE).
    session.execute(
        select(LoyaltyAccount.profile_id)
        .where(LoyaltyAccount.profile_id.in_(ids))
        .order_by(LoyaltyAccount.profile_id)
        .with_for_update()
    ).all()


def balance_of(session: Session, profile_ids: Sequence[int]) -> int:
    """Points the profiles hold together."""
    total = session.scalar(
        select(func.coalesce(func.sum(LoyaltyEntry.points), 0)).where(
            LoyaltyEntry.profile_id.in_(list(profile_ids))
        )
    )
    return int(total or 0)


def _has_key(session: Session, key: str) -> bool:
    return session.scalar(select(LoyaltyEntry.id).where(LoyaltyEntry.entry_key == key)) is not None


def _write(
    session: Session,
    *,
    profile_id: int,
    kind: str,
    points: int,
    key: str,
    actor: str,
    reason: str,
    order_id: int | None = None,
    channel_id: int | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    spend: Decimal = Decimal(0),
    shortfall: int = 0,
    at: datetime | None = None,
) -> LoyaltyEntry:
    row = LoyaltyEntry(
        profile_id=profile_id,
        kind=kind,
        points=points,
        shortfall=shortfall,
        entry_key=key,
        order_id=order_id,
        channel_id=channel_id,
        amount=amount,
        currency=currency,
        spend=spend,
        reason=reason[:300],
        actor=actor[:120],
        at=at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def _order_entries(session: Session, order_id: int) -> list[LoyaltyEntry]:
    return list(
        session.scalars(
            select(LoyaltyEntry).where(LoyaltyEntry.order_id == order_id).order_by(LoyaltyEntry.id)
        )
    )


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What loyalty needs to know of a placed order (from its event)."""

    order_id: int
    channel_id: int
    currency: str
    basis: Decimal  # subtotal less discounts: what earns
    total: Decimal  # what the customer pays: refunds are a share of it


def earn_for_order(
    session: Session, *, profile_id: int, order: OrderFacts, actor: str = "loyalty"
) -> list[EntryView]:
    """Points (and bonuses) for a placed order, once; nothing on a channel without rules."""
    rule = rule_of(session, order.channel_id)
    key = f"earn:order:{order.order_id}"
    if rule is None or not rule.active or _has_key(session, key):
        return []
    people = person_of(session, profile_id)
    lock_accounts(session, people)
    first = (
        session.scalar(
            select(LoyaltyEntry.id).where(
                LoyaltyEntry.profile_id.in_(people), LoyaltyEntry.kind == model.EARN
            )
        )
        is None
    )
    awards = model.awards_for_order(rule, basis=order.basis, first_order=first)
    spend = model.tier_spend(
        order.basis, currency=order.currency, rule=rule, program=program_of(session)
    )
    base = awards[0].points if awards and awards[0].kind == model.EARN else 0
    written = [
        _write(
            session,
            profile_id=profile_id,
            kind=model.EARN,
            points=base,
            key=key,
            actor=actor,
            reason=f"order {order.order_id}",
            order_id=order.order_id,
            channel_id=order.channel_id,
            amount=order.total,
            currency=order.currency,
            spend=spend,
        )
    ]
    for award in awards:
        if award.kind != model.BONUS:
            continue
        bonus_key = (
            f"bonus:{award.name}:profile:{profile_id}"
            if award.name == model.FIRST_ORDER
            else f"bonus:{award.name}:order:{order.order_id}"
        )
        if _has_key(session, bonus_key):
            continue
        written.append(
            _write(
                session,
                profile_id=profile_id,
                kind=model.BONUS,
                points=award.points,
                key=bonus_key,
                actor=actor,
                reason=f"{award.name} bonus, order {order.order_id}",
                order_id=order.order_id,
                channel_id=order.channel_id,
            )
        )
    return [_entry_view(row) for row in written]


def settle_merged_bonuses(
    session: Session, *, profile_id: int, actor: str = "loyalty"
) -> list[EntryView]:
    """One first-order bonus per person: after profiles merge, every first-order bonus
    but one is taken back, once (keyed on the bonus taken back).

    The bonus that stays is the earliest whose order was not cancelled; points already
    spent are not taken below zero (the entry records the shortfall). Called by the
    customers merge, in its transaction.
    """
    people = person_of(session, profile_id)
    lock_accounts(session, people)
    bonuses = list(
        session.scalars(
            select(LoyaltyEntry)
            .where(
                LoyaltyEntry.profile_id.in_(people),
                LoyaltyEntry.kind == model.BONUS,
                LoyaltyEntry.entry_key.startswith(f"bonus:{model.FIRST_ORDER}:profile:"),
            )
            .order_by(LoyaltyEntry.at, LoyaltyEntry.id)
        )
    )
    standing = [
        b
        for b in bonuses
        if b.order_id is None or not _has_key(session, f"cancel:order:{b.order_id}")
    ]
    kept = standing[0] if standing else None
    written: list[EntryView] = []
    for bonus in bonuses:
        key = lot_key("merge", bonus.id)
        if bonus is kept or bonus not in standing or _has_key(session, key):
            continue
        row = _reverse(
            session,
            lot=bonus,
            people=people,
            due=bonus.points,
            key=key,
            reason=f"{model.FIRST_ORDER} bonus counted twice: profiles merged",
            actor=actor,
        )
        written.append(_entry_view(row))
    return written


def quote_redemption(session: Session, *, channel_id: int, currency: str, points: int) -> Decimal:
    """Money `points` take off an order on this channel (refused if it has no program)."""
    rule = rule_of(session, channel_id)
    if rule is None or not rule.active:
        raise Conflict(
            f"channel {channel_id} has no loyalty program; points cannot be redeemed there",
            field="redeem_points",
        )
    return model.redemption_value(points, point_value=rule.point_value, currency=currency)


def redeem_in(
    session: Session,
    *,
    profile_id: int,
    points: int,
    value: Decimal,
    channel_id: int,
    currency: str,
    key: str,
    actor: str,
    order_id: int | None = None,
    reason: str = "",
) -> EntryView:
    """Spend points inside the caller's transaction; InsufficientPoints when short."""
    people = person_of(session, profile_id)
    lock_accounts(session, people)
    if _has_key(session, key):
        raise Conflict(f"redemption {key!r} was already made", field="redeem_points")
    model.check_redemption(balance=balance_of(session, people), points=points)
    row = _write(
        session,
        profile_id=profile_id,
        kind=model.REDEEM,
        points=-points,
        key=key,
        actor=actor,
        reason=reason or (f"redeemed on order {order_id}" if order_id else "redeemed"),
        order_id=order_id,
        channel_id=channel_id,
        amount=value,
        currency=currency,
    )
    return _entry_view(row)


def redeem(
    db: Database,
    *,
    profile_id: int,
    channel_id: int,
    points: int,
    reference: str,
    actor: str = "system",
) -> EntryView:
    """Spend points outside an order (a voucher, a gift), once per channel and reference."""
    ref = reference.strip()
    if not 1 <= len(ref) <= 100:
        raise ValidationFailed("reference is 1 to 100 characters", field="reference")
    with db.transaction() as session:
        channel = get_channel(session, channel_id=channel_id)
        survivor_of(session, profile_id)
        value = quote_redemption(
            session, channel_id=channel.id, currency=channel.currency, points=points
        )
        return redeem_in(
            session,
            profile_id=profile_id,
            points=points,
            value=value,
            channel_id=channel.id,
            currency=channel.currency,
            key=f"redeem:ref:{channel.id}:{ref}",
            actor=actor,
            reason=f"redeemed: {ref}",
        )


def grant_bonus(
    db: Database,
    *,
    profile_id: int,
    channel_id: int,
    name: str,
    reference: str,
    actor: str = "system",
) -> EntryView:
    """A named bonus event of the channel's rules (a review, a birthday), once per
    customer, name and reference; a repeat returns the first entry."""
    model.check_bonus_name(name)
    ref = reference.strip()
    if not 1 <= len(ref) <= 80:
        raise ValidationFailed("reference is 1 to 80 characters", field="reference")
    with db.transaction() as session:
        survivor = survivor_of(session, profile_id)
        get_channel(session, channel_id=channel_id)
        rule = rule_of(session, channel_id)
        points = (rule.bonuses or {}).get(name) if rule and rule.active else None
        if not points:
            raise NotFound(f"channel {channel_id} has no bonus named {name!r}", field="name")
        key = f"bonus:{name}:{ref}:profile:{survivor}"
        existing = session.scalar(select(LoyaltyEntry).where(LoyaltyEntry.entry_key == key))
        if existing is not None:
            return _entry_view(existing)
        lock_accounts(session, person_of(session, survivor))
        row = _write(
            session,
            profile_id=profile_id,
            kind=model.BONUS,
            points=points,
            key=key,
            actor=actor,
            reason=f"{name} bonus: {ref}",
            channel_id=channel_id,
        )
        return _entry_view(row)


# Outflows of one named lot (an expiry, a duplicate bonus reversed) carry it in their key.
_LOT_PREFIXES = ("expire:lot:", "merge:lot:")


def lot_key(prefix: str, lot_id: int) -> str:
    """The key of an outflow of one lot: "expire:lot:7", "merge:lot:7"."""
    return f"{prefix}:lot:{lot_id}"


def lot_of(key: str) -> int | None:
    """The lot an entry key names, or None."""
    if key.startswith(_LOT_PREFIXES):
        return int(key.rsplit(":", 1)[1])
    return None


@dataclass(frozen=True, slots=True)
class _OrderPoints:
    earned: int  # the earn entry's points
    bonus: int  # bonuses the order earned
    gone: int  # taken back (with shortfalls) or expired of those
    bonus_gone: int  # the bonus part of `gone`
    spend: Decimal  # spend the order counted towards tiers
    spend_back: Decimal  # spend taken back


def _order_points(entries: Sequence[LoyaltyEntry]) -> _OrderPoints:
    """What an order's points came to, from its entries."""
    earn_lots = {e.id for e in entries if e.kind == model.EARN}
    bonus_lots = {e.id for e in entries if e.kind == model.BONUS}
    taken_back = expired = bonus_gone = 0
    for e in entries:
        lot = lot_of(e.entry_key)
        out = -e.points + e.shortfall
        if e.kind == model.REVERSE and e.points <= 0 and lot is None:
            taken_back += out
        elif lot in earn_lots:
            expired += out
        elif lot in bonus_lots:
            bonus_gone += out
    backs = [e for e in entries if e.kind == model.REVERSE and e.points <= 0]
    return _OrderPoints(
        earned=sum(e.points for e in entries if e.kind == model.EARN),
        bonus=sum(e.points for e in entries if e.kind == model.BONUS),
        gone=taken_back + expired + bonus_gone,
        bonus_gone=bonus_gone,
        spend=sum((e.spend for e in entries if e.kind == model.EARN), Decimal(0)),
        spend_back=sum((-e.spend for e in backs), Decimal(0)),
    )


def _take_back(
    session: Session,
    *,
    entries: Sequence[LoyaltyEntry],
    due: int,
    spend: Decimal,
    key: str,
    reason: str,
    amount: Decimal | None,
    actor: str,
) -> EntryView:
    earn = next(e for e in entries if e.kind == model.EARN)
    people = person_of(session, earn.profile_id)
    lock_accounts(session, people)
    row = _reverse(
        session,
        lot=earn,
        people=people,
        due=due,
        key=key,
        reason=reason,
        actor=actor,
        amount=amount,
        currency=earn.currency,
        spend=-spend,
    )
    return _entry_view(row)


def _reverse(
    session: Session,
    *,
    lot: LoyaltyEntry,
    people: Sequence[int],
    due: int,
    key: str,
    reason: str,
    actor: str,
    amount: Decimal | None = None,
    currency: str | None = None,
    spend: Decimal = Decimal(0),
) -> LoyaltyEntry:
    """Take `due` points of `lot` back from the person's (locked) balance: never below
    zero, the rest recorded as the entry's shortfall. `spend` is the entry's (signed)
    change of the spend counted towards tiers."""
    taken, shortfall = model.apply_reversal(balance=balance_of(session, people), due=due)
    return _write(
        session,
        profile_id=lot.profile_id,
        kind=model.REVERSE,
        points=-taken,
        shortfall=shortfall,
        key=key,
        actor=actor,
        reason=reason if not shortfall else f"{reason}; {shortfall} already spent",
        order_id=lot.order_id,
        channel_id=lot.channel_id,
        amount=amount,
        currency=currency,
        spend=spend,
    )


def reverse_for_refund(
    session: Session, *, order_id: int, refunded: Decimal, event_id: int, actor: str = "loyalty"
) -> EntryView | None:
    """Take back the share of an order's points that a refund of `refunded` stands for
    (the rule: `model.reversal_due`).

    Reckoned on all refunds of the order so far; once a refund event. When the customer
    has spent the points already, the balance goes to zero, not below, and the rest is
    recorded as the entry's shortfall. None when the order earned nothing.
    """
    key = f"reverse:event:{event_id}"
    entries = _order_entries(session, order_id)
    earn = next((e for e in entries if e.kind == model.EARN), None)
    if earn is None or _has_key(session, key):
        return None
    refunds = [e for e in entries if e.entry_key.startswith("reverse:event:")]
    so_far = sum((e.amount or Decimal(0) for e in refunds), Decimal(0)) + refunded
    points = _order_points(entries)
    total = earn.amount or Decimal(0)
    due = model.reversal_due(
        earned=points.earned,
        bonus=points.bonus,
        gone=points.gone,
        bonus_gone=points.bonus_gone,
        refunded=so_far,
        order_total=total,
    )
    share = Decimal(1) if total <= 0 else min(Decimal(1), so_far / total)
    spend_back = max(
        Decimal(0), (points.spend * share).quantize(Decimal("0.0001")) - points.spend_back
    )
    return _take_back(
        session,
        entries=entries,
        due=due,
        spend=spend_back,
        key=key,
        reason=f"refund of {refunded} {earn.currency} on order {order_id}",
        amount=refunded,
        actor=actor,
    )


def reverse_for_cancel(
    session: Session, *, order_id: int, actor: str = "loyalty"
) -> list[EntryView]:
    """A cancelled order earns nothing and gives back the points that paid for it."""
    entries = _order_entries(session, order_id)
    if not entries:
        return []
    written: list[EntryView] = []
    earn = next((e for e in entries if e.kind == model.EARN), None)
    key = f"cancel:order:{order_id}"
    if earn is not None and not _has_key(session, key):
        points = _order_points(entries)
        written.append(
            _take_back(
                session,
                entries=entries,
                due=max(0, points.earned + points.bonus - points.gone),
                spend=max(Decimal(0), points.spend - points.spend_back),
                key=key,
                reason=f"order {order_id} cancelled",
                amount=None,
                actor=actor,
            )
        )
    restore_key = f"restore:order:{order_id}"
    spent = [e for e in entries if e.kind == model.REDEEM]
    if spent and not _has_key(session, restore_key):
        row = _write(
            session,
            profile_id=spent[0].profile_id,
            kind=model.REVERSE,
            points=-sum(e.points for e in spent),
            key=restore_key,
            actor=actor,
            reason=f"points redeemed on order {order_id} given back: order cancelled",
            order_id=order_id,
            channel_id=spent[0].channel_id,
            amount=sum((e.amount or Decimal(0) for e in spent), Decimal(0)),
            currency=spent[0].currency,
        )
        written.append(_entry_view(row))
    return written


# --- reading ----------------------------------------------------------------------------


def loyalty_summary(
    session: Session, *, profile_ids: list[int], now: datetime | None = None
) -> LoyaltySummary:
    """Balance, tier by rolling spend and history of these profiles taken together
    (pass `customers.lookup.merged_ids(...)` for one person)."""
    program = program_of(session)
    rows = list(
        session.scalars(
            select(LoyaltyEntry)
            .where(LoyaltyEntry.profile_id.in_(profile_ids))
            .order_by(LoyaltyEntry.at.desc(), LoyaltyEntry.id.desc())
        )
    )
    since = (now or utcnow()) - timedelta(days=program.window_days)
    spend = sum((row.spend for row in rows if row.at >= since), Decimal(0))
    spend = max(Decimal(0), spend)
    upcoming = model.next_tier(spend, program.tiers)
    return LoyaltySummary(
        profile_ids=list(profile_ids),
        balance=model.balance_of(row.points for row in rows),
        tier=model.tier_for(spend, program.tiers),
        next_tier=upcoming[0] if upcoming else None,
        spend_to_next_tier=_money(upcoming[1], program.currency) if upcoming else None,
        rolling_spend=_money(spend, program.currency),
        currency=program.currency,
        window_days=program.window_days,
        earned=sum(r.points for r in rows if r.kind in (model.EARN, model.BONUS)),
        redeemed=-sum(r.points for r in rows if r.kind == model.REDEEM),
        shortfall=sum(r.shortfall for r in rows),
        entries=[_entry_view(row) for row in rows[:_HISTORY]],
    )


def customer_loyalty(db: Database, *, profile_id: int) -> LoyaltySummary:
    """A customer's points as one person: the survivor and every profile merged into it."""
    with db.reading() as session:
        return loyalty_summary(session, profile_ids=person_of(session, profile_id))


def redeem_on_order(
    session: Session,
    *,
    order_id: int,
    channel_id: int,
    currency: str,
    points: int,
    value: Decimal,
    actor: str,
) -> EntryView:
    """The redemption that paid part of a new order, in the order's own transaction,
    charged to the order's resolved customer."""
    profile_id = profile_for_order(session, order_id=order_id)
    if profile_id is None:
        raise ValidationFailed(
            "redeeming points needs the customer: send their email, phone or ref",
            field="customer",
        )
    return redeem_in(
        session,
        profile_id=profile_id,
        points=points,
        value=value,
        channel_id=channel_id,
        currency=currency,
        key=f"redeem:order:{order_id}",
        actor=actor,
        order_id=order_id,
    )
