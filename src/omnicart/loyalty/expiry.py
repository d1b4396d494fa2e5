"""Points expire: a background sweep writes the `expire` entries.

The rule (`OMNICART_LOYALTY_POINTS_EXPIRE_DAYS`, unset: never): each lot of points (an
order's earning, a bonus, redeemed points given back) expires that many days after it
was written, with whatever is left of it then. What is left is reckoned first in, first
out: a redemption spends the oldest points first, a reversal of an order's points takes
that order's points first (`model.lots_left`). Each lot expires once: its entry is keyed
on the lot ("expire:lot:7"), also when nothing was left of it, so a sweep never looks at
it again and running the sweep twice, or in two workers at once, expires nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, literal, select
from sqlalchemy.orm import Session, aliased

from omnicart.db.engine import Database
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.loyalty import model
from omnicart.loyalty.service import lock_accounts, lot_key, lot_of, person_of
from omnicart.loyalty.tables import LoyaltyEntry
from omnicart.settings import get_settings

ACTOR = "system:points-expiry"


def _expire_person(session: Session, profile_id: int, *, cutoff: datetime) -> int:
    """Expire the person's lots written at or before `cutoff`; the entries written."""
    people = person_of(session, profile_id)
    lock_accounts(session, people)
    rows = list(session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.profile_id.in_(people))))
    by_id = {row.id: row for row in rows}
    items = [
        model.LedgerItem(row.id, row.points, row.at, row.order_id, lot_of(row.entry_key))
        for row in rows
    ]
    done = frozenset(
        named for row in rows if row.kind == model.EXPIRE and (named := lot_of(row.entry_key))
    )
    # Read under the accounts' lock: nothing is spent meanwhile, and the lots' points
    # never add up to more than the balance (`model.expiring`).
    due = model.expiring(items, cutoff=cutoff, done=done)
    now = utcnow()
    for lot, points in due:
        source = by_id[lot.id]
        what = f"order {source.order_id}" if source.order_id else source.reason or source.kind
        session.add(
            LoyaltyEntry(
                profile_id=source.profile_id,
                kind=model.EXPIRE,
                points=-points,
                shortfall=0,
                entry_key=lot_key("expire", lot.id),
                order_id=source.order_id,
                channel_id=source.channel_id,
                spend=0,
                reason=f"points of {what} expired"[:300]
                if points
                else f"points of {what} expired: none left"[:300],
                actor=ACTOR,
                at=now,
            )
        )
    session.flush()
    return len(due)


def expire_points(
    db: Database, *, now: datetime | None = None, days: int | None = None, limit: int = 200
) -> int:
    """Write the expiry of every lot older than the configured period (the background
    sweep); how many lots were expired. Nothing when points never expire."""
    period = days if days is not None else get_settings().loyalty_points_expire_days
    if not period:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=period)
    marker = aliased(LoyaltyEntry)
    with db.reading() as session:
        profiles = list(
            session.scalars(
                select(LoyaltyEntry.profile_id)
                .where(
                    LoyaltyEntry.points > 0,
                    LoyaltyEntry.at <= cutoff,
                    ~exists().where(
                        marker.entry_key == literal("expire:lot:") + cast(LoyaltyEntry.id, String)
                    ),
                )
                .distinct()
                .limit(limit)
            )
        )
    expired = 0
    for profile_id in profiles:

        def work(profile_id: int = profile_id) -> int:
            with db.transaction() as session:
                return _expire_person(session, profile_id, cutoff=cutoff)

        expired += retrying(work)
    return expired
