"""HTTP routes for customers: look up, Customer 360, consents, GDPR export and erasure.

Personal data is for staff and admin keys (`customers:read`, `customers:write`); channel
keys have neither scope. Erasure takes an admin key (`customers:erase`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath, IdQuery
from omnicart.auth.access import access
from omnicart.customers import service
from omnicart.customers.erasure import erase_customer
from omnicart.customers.model import KINDS
from omnicart.customers.schemas import ConsentsIn, ConsentsOut, CustomerOut, ErasureOut
from omnicart.kernel.errors import ValidationFailed
from omnicart.settings import get_settings

router = APIRouter(tags=["customers"])
Lookup = Annotated[str | None, Query(max_length=254)]


def _events_path(request: Request) -> Path:
    """The event store this app writes to (its settings', not only the environment's)."""
    ingestor = getattr(request.app.state, "tracking", None)
    if ingestor is not None:
        return Path(ingestor.events_path)
    settings = getattr(request.app.state, "settings", None) or get_settings()
    return Path(settings.events_path)


EventsPath = Annotated[Path, Depends(_events_path)]


@router.get("/customers")
@guard(access("customers:read", "staff"))
def find_customer(
    *,
    db: DbDep,
    principal: Caller,
    events_path: EventsPath,
    email: Lookup = None,
    phone: Lookup = None,
    user_id: Lookup = None,
    loyalty_card: Lookup = None,
    pos_customer: Lookup = None,
    anonymous_id: Lookup = None,
    order_id: IdQuery = None,
) -> CustomerOut:
    """The customer one identifier resolves to (normalised as on arrival), or the
    customer an order belongs to (`order_id`), as a 360."""
    given = {
        kind: value
        for kind, value in {
            "email": email,
            "phone": phone,
            "user_id": user_id,
            "loyalty_card": loyalty_card,
            "pos_customer": pos_customer,
            "anonymous_id": anonymous_id,
            "order_id": None if order_id is None else str(order_id),
        }.items()
        if value is not None
    }
    if len(given) != 1:
        raise ValidationFailed(
            "give exactly one of "
            + ", ".join([*(k for k in KINDS if k != "marketplace_buyer"), "order_id"]),
            field="query",
        )
    [(kind, value)] = given.items()
    if order_id is not None:
        customer_id = service.customer_of_order(db, order_id=order_id)
    else:
        customer_id = service.find_customer(db, kind=kind, value=value)
    view = service.customer_360(db, customer_id=customer_id, events_path=events_path)
    return CustomerOut.model_validate(view)


@router.get("/customers/{customer_id}")
@guard(access("customers:read", "staff"))
def get_customer(
    customer_id: IdPath, db: DbDep, principal: Caller, events_path: EventsPath
) -> CustomerOut:
    """Customer 360: traits, identities, orders of every channel, the event timeline,
    consents and loyalty. A merged id answers with the survivor (`merged` is true)."""
    view = service.customer_360(db, customer_id=customer_id, events_path=events_path)
    return CustomerOut.model_validate(view)


@router.get("/customers/{customer_id}/consents")
@guard(access("customers:read", "staff"))
def get_consents(customer_id: IdPath, db: DbDep, principal: Caller) -> ConsentsOut:
    """Consents in force per channel and their full history."""
    return ConsentsOut.model_validate(service.list_consents(db, customer_id=customer_id))


@router.put("/customers/{customer_id}/consents")
@guard(access("customers:write", "staff"))
def put_consents(
    customer_id: IdPath, body: ConsentsIn, db: DbDep, principal: Caller
) -> ConsentsOut:
    """Record consent given or withdrawn per channel (email, sms, whatsapp, push)."""
    view = service.set_consents(
        db, customer_id=customer_id, consents=body.consents, source=body.source, at=body.at
    )
    return ConsentsOut.model_validate(view)


@router.get("/customers/{customer_id}/export")
@guard(access("customers:read", "staff"))
def export_customer(
    customer_id: IdPath, db: DbDep, principal: Caller, events_path: EventsPath
) -> dict[str, Any]:
    """Everything held about the person, as JSON (GDPR/RODO access and portability)."""
    return service.export_customer(db, customer_id=customer_id, events_path=events_path)


@router.post("/customers/{customer_id}/erase")
@guard(access("customers:erase"))
def erase(customer_id: IdPath, db: DbDep, principal: Caller, events_path: EventsPath) -> ErasureOut:
    """Erase the person's personal data everywhere; their purchases stay, anonymous.

    It cannot be undone, so it takes an admin key."""
    view = erase_customer(
        db, customer_id=customer_id, actor=principal.actor, events_path=events_path
    )
    return ErasureOut.model_validate(view)
