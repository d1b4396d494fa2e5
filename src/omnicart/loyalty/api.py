"""HTTP routes for loyalty: parse, check who may act, call the service, serialise.

A customer's points are read across every profile merged into theirs. Rules and tiers
are the merchant's settings (an admin key); bonuses and redemptions need customers:write.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.auth.access import access
from omnicart.loyalty import service
from omnicart.loyalty.feed import sync_loyalty
from omnicart.loyalty.schemas import (
    BonusIn,
    EntryOut,
    LoyaltyOut,
    LoyaltyRulesIn,
    LoyaltyRulesOut,
    ProgramIn,
    ProgramOut,
    RedemptionIn,
    SyncOut,
)

router = APIRouter(tags=["loyalty"])


@router.get("/customers/{customer_id}/loyalty")
@guard(access("customers:read", "staff"))
def get_loyalty(customer_id: IdPath, db: DbDep, principal: Caller) -> LoyaltyOut:
    """Balance, tier by rolling spend and the latest entries of the customer."""
    summary = service.customer_loyalty(db, profile_id=customer_id)
    # customer_id is the survivor: a merged profile's id answers for the person.
    return LoyaltyOut.model_validate({**asdict(summary), "customer_id": summary.profile_ids[0]})


@router.post("/customers/{customer_id}/loyalty/bonuses", status_code=status.HTTP_201_CREATED)
@guard(access("customers:write", "staff"))
def grant_bonus(customer_id: IdPath, body: BonusIn, db: DbDep, principal: Caller) -> EntryOut:
    """Award a named bonus event of the channel's rules (once per reference)."""
    entry = service.grant_bonus(
        db,
        profile_id=customer_id,
        channel_id=body.channel_id,
        name=body.name,
        reference=body.reference,
        actor=principal.actor,
    )
    return EntryOut.model_validate(entry)


@router.post("/customers/{customer_id}/loyalty/redemptions", status_code=status.HTTP_201_CREATED)
@guard(access("customers:write", "staff"))
def redeem_points(
    customer_id: IdPath, body: RedemptionIn, db: DbDep, principal: Caller
) -> EntryOut:
    """Spend points outside an order; a `409` (nothing spent) when the balance is short."""
    entry = service.redeem(
        db,
        profile_id=customer_id,
        channel_id=body.channel_id,
        points=body.points,
        reference=body.reference,
        actor=principal.actor,
    )
    return EntryOut.model_validate(entry)


@router.post("/loyalty/sync")
@guard(access("customers:write", "staff"))
def sync(db: DbDep, principal: Caller) -> SyncOut:
    """Apply the order events not yet applied (placed, cancelled, refunded); repeat-safe."""
    return SyncOut(entries=sync_loyalty(db))


@router.get("/loyalty/program")
@guard(access("customers:read", "staff"))
def get_program(db: DbDep, principal: Caller) -> ProgramOut:
    """The program's currency, rolling window and tiers."""
    return ProgramOut.model_validate(service.get_program(db))


@router.put("/loyalty/program")
@guard(access("channels:write"))
def set_program(body: ProgramIn, db: DbDep, principal: Caller) -> ProgramOut:
    """Replace the tiers; a customer's tier follows their spend in the window."""
    return ProgramOut.model_validate(service.set_program(db, program=body.model()))


@router.get("/channels/{channel_id}/loyalty-rules", tags=["channels"])
@guard(access("customers:read", "staff"))
def get_rules(channel_id: IdPath, db: DbDep, principal: Caller) -> LoyaltyRulesOut:
    """How the channel's orders earn points and what its points are worth."""
    return LoyaltyRulesOut.model_validate(service.get_rules(db, channel_id=channel_id))


@router.put("/channels/{channel_id}/loyalty-rules", tags=["channels"])
@guard(access("channels:write"))
def set_rules(
    channel_id: IdPath, body: LoyaltyRulesIn, db: DbDep, principal: Caller
) -> LoyaltyRulesOut:
    """Replace the channel's loyalty rules (orders placed from now on follow them)."""
    view = service.set_rules(db, channel_id=channel_id, rule=body.model())
    return LoyaltyRulesOut.model_validate(view)
