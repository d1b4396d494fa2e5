"""GDPR/RODO erasure: a person's personal data leaves the operational database and the
event store, while what they bought (amounts, lines, channels) stays for the figures.

The person's profile ids stay as empty shells, so orders remain counted per customer and
loyalty points stay summed per account; nothing left on them names the person. The
erasure log records who erased whom and how much, never an erased value.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from omnicart.conversations.service import erase_for
from omnicart.customers.erasure_steps import (
    PENDING,
    SUPERSEDED,
    attempt_erasure,
    erasure_status,
    seal,
    unseal,
)
from omnicart.customers.lookup import merged_ids
from omnicart.customers.suppression import suppress
from omnicart.customers.tables import (
    CustomerConsent,
    CustomerErasure,
    CustomerIdentity,
    CustomerOrderLink,
    CustomerPendingErasure,
    CustomerProfile,
)
from omnicart.db.engine import Database
from omnicart.db.outbox import OutboxEvent
from omnicart.db.retry import retrying
from omnicart.kernel.clock import utcnow
from omnicart.orders.privacy import erase_order_customers, order_customer, order_identities

ERASED = "erased"
# Shorter values (a user id "42") would match unrelated text in event payloads; those
# live in known places (an order's customer block) and are removed there instead.
_MIN_SCRUB = 6
_ID_AND_CONTACT_KINDS = frozenset({"user_id", "anonymous_id", "email", "phone"})


@dataclass(frozen=True, slots=True)
class ErasureView:
    """What an erasure did: counts only. `state` is "pending" while its event-store
    step waits for a retry (`erasure_id` shows its progress)."""

    customer_id: int
    profile_ids: list[int]
    counts: dict[str, int]
    actor: str
    at: datetime
    erasure_id: int
    state: str


@dataclass(frozen=True, slots=True)
class PersonalData:
    """The values that name a person, gathered before they are removed."""

    user_ids: list[str]
    anonymous_ids: list[str]
    emails: list[str]
    phones: list[str]
    others: list[str]  # loyalty cards, POS numbers, marketplace ids, trait texts

    def all(self) -> list[str]:
        """Every value, longest first (so a replacement never leaves part of one)."""
        values = {*self.user_ids, *self.anonymous_ids, *self.emails, *self.phones, *self.others}
        return sorted(values, key=lambda v: (-len(v), v))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _gather(
    session: Session, ids: Sequence[int], order_ids: Sequence[int]
) -> tuple[PersonalData, list[CustomerIdentity]]:
    identities = list(
        session.scalars(select(CustomerIdentity).where(CustomerIdentity.profile_id.in_(ids)))
    )
    by_kind: dict[str, set[str]] = {}
    for identity in identities:
        by_kind.setdefault(identity.kind, set()).add(identity.value)
    for order_id in order_ids:
        customer = order_customer(session, order_id=order_id)
        if customer is None:
            continue
        for kind, value in (
            ("email", customer.email),
            ("phone", customer.phone),
            ("ref", customer.ref),
        ):
            if value:
                by_kind.setdefault(kind, set()).add(value)
    traits = session.scalars(select(CustomerProfile.traits).where(CustomerProfile.id.in_(ids)))
    for profile_traits in traits:
        by_kind.setdefault("traits", set()).update(_strings(profile_traits))
    return (
        PersonalData(
            # An order's reference is the userId of its events in the event store.
            user_ids=sorted(by_kind.get("user_id", set()) | by_kind.get("ref", set())),
            anonymous_ids=sorted(by_kind.get("anonymous_id", set())),
            emails=sorted(by_kind.get("email", set())),
            phones=sorted(by_kind.get("phone", set())),
            others=sorted(
                set().union(
                    *(v for k, v in by_kind.items() if k not in {"user_id", "anonymous_id", "ref"})
                )
                - set(by_kind.get("email", set()))
                - set(by_kind.get("phone", set()))
            ),
        ),
        identities,
    )


def _scrub(value: Any, personal: Sequence[str], pseudonym: str) -> Any:
    if isinstance(value, str):
        for item in personal:
            value = value.replace(item, pseudonym)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, personal, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, personal, pseudonym) for v in value]
    return value


def _scrub_outbox(session: Session, personal: Sequence[str], pseudonym: str) -> int:
    """Replace the person's values wherever they appear in outbox event payloads."""
    distinctive = [v for v in personal if len(v) >= _MIN_SCRUB]
    if not distinctive:
        return 0
    text = cast(OutboxEvent.payload, String)
    events = session.scalars(
        select(OutboxEvent).where(or_(*(text.contains(v, autoescape=True) for v in distinctive)))
    )
    changed = 0
    for event in events:
        cleaned = _scrub(event.payload, distinctive, pseudonym)
        if cleaned != event.payload:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id == event.id).values(payload=cleaned)
            )
            changed += 1
    return changed


def _outbox_payloads(
    session: Session, order_ids: Sequence[int], personal: Sequence[str]
) -> dict[int, Any]:
    """The payloads of the outbox events an erasure may change (its orders' events and
    those naming the person), by outbox id."""
    text = cast(OutboxEvent.payload, String)
    conditions = [text.contains(v, autoescape=True) for v in personal if len(v) >= _MIN_SCRUB]
    if order_ids:
        conditions.append(
            and_(
                OutboxEvent.aggregate == "order",
                OutboxEvent.aggregate_id.in_([str(i) for i in order_ids]),
            )
        )
    if not conditions:
        return {}
    rows = session.execute(select(OutboxEvent.id, OutboxEvent.payload).where(or_(*conditions)))
    return {int(event_id): payload for event_id, payload in rows}


def _outbox_changed(session: Session, before: dict[int, Any]) -> int:
    """How many of these outbox events no longer hold the payload they had."""
    if not before:
        return 0
    after: dict[int, Any] = dict(
        session.execute(
            select(OutboxEvent.id, OutboxEvent.payload).where(OutboxEvent.id.in_(before))
        ).all()
    )
    return len([i for i, payload in before.items() if after.get(i) != payload])


def _union(old: dict[str, list[str]], new: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: sorted({*old.get(key, []), *values}) for key, values in new.items()}


def _erase_operational(
    db: Database, customer_id: int, actor: str, events_path: Path | None
) -> ErasureView:
    """Step one, one transaction: remove the person's data from the database and note,
    sealed, what the event store step needs (the pending row; deleted by step two)."""
    with db.transaction() as session:
        ids = merged_ids(session, customer_id)
        session.execute(
            select(CustomerProfile.id)
            .where(CustomerProfile.id.in_(ids))
            .order_by(CustomerProfile.id)
            .with_for_update()
        ).all()
        order_ids = list(
            session.scalars(
                select(CustomerOrderLink.order_id).where(CustomerOrderLink.profile_id.in_(ids))
            )
        )
        data, identities = _gather(session, ids, order_ids)
        pending = session.get(CustomerPendingErasure, ids[0])
        pseudonym = pending.pseudonym if pending else f"{ERASED}-{secrets.token_hex(8)}"
        # Read before the orders are stripped: what arrives naming these later is refused.
        named = [(i.kind, i.value) for i in identities]
        named += order_identities(session, order_ids=order_ids)
        # Two steps clean the outbox (the orders' customer blocks, then any other mention):
        # the log counts the events either changed, once each.
        outbox_before = _outbox_payloads(session, order_ids, data.all())
        counts = {"orders": erase_order_customers(session, order_ids=order_ids)}
        _scrub_outbox(session, data.all(), pseudonym)
        counts["outbox_events"] = _outbox_changed(session, outbox_before)
        counts["messages"] = erase_for(session, profile_ids=ids)
        counts["identities"] = len(identities)
        session.execute(delete(CustomerIdentity).where(CustomerIdentity.profile_id.in_(ids)))
        consents = list(
            session.scalars(
                select(CustomerConsent).where(
                    CustomerConsent.profile_id.in_(ids), CustomerConsent.source != ERASED
                )
            )
        )
        for consent in consents:
            consent.source = ERASED
        counts["consents"] = len(consents)
        now = utcnow()
        session.execute(
            update(CustomerProfile)
            .where(CustomerProfile.id.in_(ids))
            .values(traits={}, updated_at=now, erased_at=now)
        )
        counts["profiles"] = len(ids)
        log = CustomerErasure(
            profile_id=ids[0],
            actor=actor[:120],
            counts=counts,
            at=now,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
        )
        session.add(log)
        session.flush()
        suppressed = suppress(session, identifiers=named, erasure_id=log.id)
        log.counts = counts = {**counts, "suppressed": suppressed}
        values = {
            "user_ids": data.user_ids,
            "anonymous_ids": data.anonymous_ids,
            "emails": data.emails,
            "phones": data.phones,
            # Loyalty cards, POS numbers, marketplace buyer ids: matched in event texts.
            "identifiers": sorted(
                {i.value for i in identities if i.kind not in _ID_AND_CONTACT_KINDS}
            ),
        }
        path = None if events_path is None else str(events_path)
        if pending is None:
            session.add(
                CustomerPendingErasure(
                    profile_id=ids[0],
                    erasure_id=log.id,
                    pseudonym=pseudonym,
                    values=seal(session, values),
                    created_at=now,
                    events_path=path,
                )
            )
        else:
            # The earlier erasure's unfinished step is this one's now.
            session.execute(
                update(CustomerErasure)
                .where(CustomerErasure.id == pending.erasure_id, CustomerErasure.state == PENDING)
                .values(state=SUPERSEDED, next_attempt_at=None)
            )
            pending.values = seal(session, _union(unseal(session, pending.values), values))
            pending.erasure_id = log.id
            pending.events_path = path or pending.events_path
        session.flush()
        return ErasureView(ids[0], ids, counts, actor[:120], now, log.id, PENDING)


def erase_customer(
    db: Database, *, customer_id: int, actor: str, events_path: Path | None = None
) -> ErasureView:
    """Erase a person (the survivor and every profile merged into it) everywhere.

    First the database, in one transaction (the outbox included, so nothing still to be
    delivered to the event store carries their data), then the event store. Should the
    second step fail, the values it needs wait, encrypted, in `customer_pending_erasures`
    and the server's sweep retries it with backoff until it succeeds (erasure_steps.py);
    the answer then says "pending". Running it again after success changes nothing more.
    """
    view = retrying(lambda: _erase_operational(db, customer_id, actor, events_path))
    attempt_erasure(db, erasure_id=view.erasure_id, events_path=events_path)
    status = erasure_status(db, erasure_id=view.erasure_id)
    return replace(view, counts=status.counts, state=status.state)
