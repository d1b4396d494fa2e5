"""Resolving people: the functions other capabilities call inside their own transaction
(tracking on identify, orders through the customers feed, loyalty, conversations)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.orm import Session

from omnicart.channels.service import get_channel
from omnicart.customers.model import Decision, Identifier, decide, screen
from omnicart.customers.suppression import is_suppressed
from omnicart.customers.tables import (
    CustomerConsent,
    CustomerIdentity,
    CustomerMerge,
    CustomerOrderLink,
    CustomerProfile,
)
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import NotFound
from omnicart.settings import get_settings

_MAX_ROUNDS = 10


def observe(
    session: Session,
    *,
    identifiers: Sequence[tuple[str, str]],
    channel_id: int | None,
    source: str,
    traits: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int | None:
    """Resolve or create the person these identifiers name, applying the merge rules.

    Returns the surviving profile id, or None when every identifier is blocked or invalid.
    Kinds: user_id, email, phone, anonymous_id, loyalty_card, pos_customer,
    marketplace_buyer. Observing the same identifiers again changes nothing but times.
    """
    return observe_decision(
        session,
        identifiers=identifiers,
        channel_id=channel_id,
        source=source,
        traits=traits,
        at=at,
    )[0]


def observe_decision(
    session: Session,
    *,
    identifiers: Sequence[tuple[str, str]],
    channel_id: int | None,
    source: str,
    traits: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> tuple[int | None, Decision]:
    """`observe`, also answering the decision taken (merges, refusals, dropped ids)."""
    when = at or utcnow()
    channel_kind = None if channel_id is None else get_channel(session, channel_id=channel_id).kind
    screened = screen(
        identifiers,
        region=get_settings().phone_region,
        channel_id=channel_id,
        channel_kind=channel_kind,
    )
    if not screened.accepted:
        return None, Decision("ignore")
    if is_suppressed(session, [(i.kind, i.value) for i in screened.accepted]):
        # An erased person stays erased: no profile or identity is made for them again,
        # nor are their other identifiers in this observation tied to anyone.
        return None, Decision("ignore")
    _lock_identifiers(session, screened.accepted)
    owners, profiles = _resolve(session, screened.accepted)
    decision = decide(screened.accepted, owners=owners, profiles=profiles)
    survivor = _apply(
        session, decision, channel_id=channel_id, source=source[:40], traits=traits, at=when
    )
    if survivor is not None and owners:
        session.execute(
            update(CustomerIdentity)
            .where(
                _matching(list(owners)),
                CustomerIdentity.profile_id == survivor,
                CustomerIdentity.last_seen < when,
            )
            .values(last_seen=when)
        )
    return survivor, decision


def survivor_of(session: Session, profile_id: int) -> int:
    """The profile a (possibly merged) profile id now lives on; NotFound if none."""
    current = profile_id
    for _ in range(64):
        merged_into = session.execute(
            select(CustomerProfile.merged_into).where(CustomerProfile.id == current)
        ).first()
        if merged_into is None:
            raise NotFound(f"customer {profile_id} does not exist", field="customer_id")
        if merged_into[0] is None:
            return current
        current = merged_into[0]
    raise AssertionError(f"merge chain of customer {profile_id} does not end")


def merged_ids(session: Session, profile_id: int) -> list[int]:
    """The survivor of `profile_id` first, then every profile merged into it."""
    survivor = survivor_of(session, profile_id)
    merged = session.scalars(
        select(CustomerProfile.id)
        .where(CustomerProfile.merged_into == survivor)
        .order_by(CustomerProfile.id)
    )
    return [survivor, *merged]


def _lock_key(identifier: Identifier) -> int:
    digest = hashlib.blake2b(
        f"customer:{identifier.kind}:{identifier.value}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_identifiers(session: Session, identifiers: Sequence[Identifier]) -> None:
    """Serialise observations naming the same identifier (PostgreSQL; SQLite has one
    writer). Keys are taken in a fixed order, so two observations never deadlock here."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_lock_key(i) for i in identifiers}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _matching(identifiers: Sequence[Identifier]) -> Any:
    return or_(
        *(
            and_(CustomerIdentity.kind == i.kind, CustomerIdentity.value == i.value)
            for i in identifiers
        )
    )


def _owners(session: Session, identifiers: Sequence[Identifier]) -> dict[Identifier, int]:
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.profile_id).where(
            _matching(identifiers)
        )
    )
    return {Identifier(kind, value): profile_id for kind, value, profile_id in rows}


def _resolve(
    session: Session, identifiers: Sequence[Identifier]
) -> tuple[dict[Identifier, int], dict[int, frozenset[Identifier]]]:
    """Who holds each identifier, with the involved profiles locked (in id order) and
    their identities read under the lock; a concurrent merge makes us read again."""
    for _ in range(_MAX_ROUNDS):
        owners = _owners(session, identifiers)
        involved = sorted(set(owners.values()))
        if involved:
            session.execute(
                select(CustomerProfile.id)
                .where(CustomerProfile.id.in_(involved))
                .order_by(CustomerProfile.id)
                .with_for_update()
            ).all()
            if _owners(session, identifiers) != owners:
                continue
        profiles: dict[int, set[Identifier]] = {p: set() for p in involved}
        rows = session.execute(
            select(
                CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.profile_id
            ).where(CustomerIdentity.profile_id.in_(involved))
        )
        for kind, value, profile_id in rows:
            profiles[profile_id].add(Identifier(kind, value))
        return owners, {p: frozenset(ids) for p, ids in profiles.items()}
    raise AssertionError("identities kept moving while being resolved")


def _apply(
    session: Session,
    decision: Decision,
    *,
    channel_id: int | None,
    source: str,
    traits: Mapping[str, Any] | None,
    at: datetime,
) -> int | None:
    if decision.action == "ignore":
        return None
    if decision.profile_id is None:
        profile = CustomerProfile(traits={}, created_at=at, updated_at=at)
        session.add(profile)
        session.flush()
    else:
        found = session.get(CustomerProfile, decision.profile_id)
        assert found is not None
        profile = found
    for merge in decision.merges:
        _merge(session, survivor=profile, merged_id=merge.merged, at=at)
        session.add(
            CustomerMerge(
                survivor_id=profile.id,
                merged_id=merge.merged,
                reason=merge.reason,
                source=source,
                at=at,
            )
        )
    if decision.merges:
        session.flush()
        # One person keeps one first-order bonus: loyalty settles it in this transaction,
        # so the doubled bonus can never be spent. (Imported here: loyalty reads people
        # through this module.)
        from omnicart.loyalty.service import settle_merged_bonuses

        settle_merged_bonuses(session, profile_id=profile.id)
    session.add_all(
        CustomerIdentity(
            kind=i.kind,
            value=i.value,
            profile_id=profile.id,
            channel_id=channel_id,
            source=source,
            first_seen=at,
            last_seen=at,
        )
        for i in decision.add
    )
    if traits:
        kept = {k: v for k, v in traits.items() if v is not None}
        if any(profile.traits.get(k) != v for k, v in kept.items()):
            profile.traits = {**profile.traits, **kept}
            profile.updated_at = at
    session.flush()
    return profile.id


def _merge(session: Session, *, survivor: CustomerProfile, merged_id: int, at: datetime) -> None:
    """Fold one profile into the survivor: its identities, orders and consents move, its
    traits fill gaps, and it (and whatever was merged into it) points at the survivor."""
    merged = session.get(CustomerProfile, merged_id)
    assert merged is not None
    survivor.traits = {**merged.traits, **survivor.traits}
    survivor.updated_at = at
    for table in (CustomerIdentity, CustomerOrderLink, CustomerConsent):
        session.execute(
            update(table).where(table.profile_id == merged_id).values(profile_id=survivor.id)
        )
    session.execute(
        update(CustomerProfile)
        .where(or_(CustomerProfile.id == merged_id, CustomerProfile.merged_into == merged_id))
        .values(merged_into=survivor.id, updated_at=at)
    )
    session.flush()
