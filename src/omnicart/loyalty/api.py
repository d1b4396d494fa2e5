"""HTTP routes for loyalty: parse, check who may act, call the service, serialise.

A customer's points are read across every profile merged into theirs. Rules and tiers
are the merchant's settings (an admin key); bonuses and redemptions need customers:write.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, status

from omnicart.api.deps import DbDep, require
from omnicart.auth.service import Principal
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
Reader = Annotated[Principal, Depends(require("customers:read"))]
Writer = Annotated[Principal, Depends(require("customers:write"))]
Admin = Annotated[Principal, Depends(require("channels:write"))]


@router.get("/customers/{customer_id}/loyalty")
def get_loyalty(customer_id: int, db: DbDep, _: Reader) -> LoyaltyOut:
    """Balance, tier by rolling spend and the latest entries of the customer."""
    summary = service.customer_loyalty(db, profile_id=customer_id)
    # customer_id is the survivor: a merged profile's id answers for the person.
    return LoyaltyOut.model_validate({**asdict(summary), "customer_id": summary.profile_ids[0]})


@router.post("/customers/{customer_id}/loyalty/bonuses", status_code=status.HTTP_201_CREATED)
def grant_bonus(customer_id: int, body: BonusIn, db: DbDep, principal: Writer) -> EntryOut:
    """Award a named bonus event of the channel's rules (once per reference)."""
    if principal.role == "channel":
        principal.require_channel(body.channel_id, field_name="channel_id")
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
def redeem_points(customer_id: int, body: RedemptionIn, db: DbDep, principal: Writer) -> EntryOut:
    """Spend points outside an order; a `409` (nothing spent) when the balance is short."""
    if principal.role == "channel":
        principal.require_channel(body.channel_id, field_name="channel_id")
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
def sync(db: DbDep, _: Writer) -> SyncOut:
    """Apply the order events not yet applied (placed, cancelled, refunded); repeat-safe."""
    return SyncOut(entries=sync_loyalty(db))


@router.get("/loyalty/program")
def get_program(db: DbDep, _: Reader) -> ProgramOut:
    """The program's currency, rolling window and tiers."""
    return ProgramOut.model_validate(service.get_program(db))


@router.put("/loyalty/program")
def set_program(body: ProgramIn, db: DbDep, _: Admin) -> ProgramOut:
    """Replace the tiers; a customer's tier follows their spend in the window."""
    return ProgramOut.model_validate(service.set_program(db, program=body.model()))


@router.get("/channels/{channel_id}/loyalty-rules", tags=["channels"])
def get_rules(channel_id: int, db: DbDep, _: Reader) -> LoyaltyRulesOut:
    """How the channel's orders earn points and what its points are worth."""
    return LoyaltyRulesOut.model_validate(service.get_rules(db, channel_id=channel_id))


@router.put("/channels/{channel_id}/loyalty-rules", tags=["channels"])
def set_rules(channel_id: int, body: LoyaltyRulesIn, db: DbDep, _: Admin) -> LoyaltyRulesOut:
    """Replace the channel's loyalty rules (orders placed from now on follow them)."""
    view = service.set_rules(db, channel_id=channel_id, rule=body.model())
    return LoyaltyRulesOut.model_validate(view)
