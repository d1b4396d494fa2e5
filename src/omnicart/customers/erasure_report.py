"""The erasure report a merchant hands to the person or a regulator.

What was erased where (with row and event counts), when and at whose request, and what
was kept as anonymous aggregates. Built from the erasure log and the shells it left; it
holds no personal value because none of its sources does any longer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from omnicart.customers.erasure_steps import DONE, erasure_status
from omnicart.customers.lookup import merged_ids
from omnicart.customers.tables import CustomerOrderLink
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.loyalty.service import loyalty_summary
from omnicart.loyalty.tables import LoyaltyAccount
from omnicart.orders.privacy import order_summaries

_DATABASE, _EVENT_STORE = "operational database", "event store"
# Where each count of the erasure log was erased, and how.
_WHERE: dict[str, tuple[str, str, str]] = {
    "identities": (_DATABASE, "customer_identities", "deleted"),
    "profiles": (_DATABASE, "customer_profiles", "traits emptied; kept as empty shells"),
    "orders": (_DATABASE, "orders", "customer contact, reference and address removed"),
    "consents": (_DATABASE, "customer_consents", "history kept, its source marked erased"),
    "messages": (_DATABASE, "conversation_messages", "bodies and authors blanked"),
    "outbox_events": (_DATABASE, "outbox_events", "personal values pseudonymised"),
    "suppressed": (_DATABASE, "customer_suppressions", "identifiers listed as keyed hashes"),
    # The count is of events; the spool and the Parquet exports the store wrote are
    # rewritten with them, and the store file rebuilt.
    "events": (_EVENT_STORE, "events, spool and exports", "pseudonymised, personal fields removed"),
}


@dataclass(frozen=True, slots=True)
class ErasedPart:
    """One place the erasure reached."""

    where: str
    what: str
    how: str
    count: int


@dataclass(frozen=True, slots=True)
class KeptOrders:
    """Orders kept anonymously in one currency."""

    currency: str
    orders: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """An erasure as a merchant reports it; counts, times and ids only."""

    erasure_id: int
    customer_id: int
    profile_ids: list[int]
    requested_by: str
    erased_at: datetime
    state: str
    finished_at: datetime | None
    erased: list[ErasedPart]
    kept_orders: list[KeptOrders]
    kept_loyalty_accounts: int
    kept_loyalty_points: int
    complete: bool
    generated_at: datetime


def erasure_report(db: Database, *, erasure_id: int) -> ErasureReport:
    """The report of one erasure (NotFound when there is none)."""
    status = erasure_status(db, erasure_id=erasure_id)
    erased = [
        ErasedPart(*_WHERE.get(key, (_DATABASE, key, "erased")), count=int(count))
        for key, count in sorted(status.counts.items(), key=lambda kv: _order(kv[0]))
    ]
    with db.reading() as session:
        ids = merged_ids(session, status.customer_id)
        order_ids = list(
            session.scalars(
                select(CustomerOrderLink.order_id).where(CustomerOrderLink.profile_id.in_(ids))
            )
        )
        totals: dict[str, list[Decimal]] = defaultdict(list)
        for order in order_summaries(session, order_ids=order_ids):
            totals[order.currency].append(order.total)
        accounts = session.scalar(
            select(func.count())
            .select_from(LoyaltyAccount)
            .where(LoyaltyAccount.profile_id.in_(ids))
        )
        points = loyalty_summary(session, profile_ids=ids).balance
    return ErasureReport(
        erasure_id=status.id,
        customer_id=status.customer_id,
        profile_ids=ids,
        requested_by=status.actor,
        erased_at=status.at,
        state=status.state,
        finished_at=status.finished_at,
        erased=erased,
        kept_orders=[
            KeptOrders(currency, len(amounts), sum(amounts, Decimal(0)))
            for currency, amounts in sorted(totals.items())
        ],
        kept_loyalty_accounts=int(accounts or 0),
        kept_loyalty_points=points,
        complete=status.state == DONE,
        generated_at=utcnow(),
    )


def _order(key: str) -> tuple[int, str]:
    keys = list(_WHERE)
    return (keys.index(key) if key in keys else len(keys), key)
