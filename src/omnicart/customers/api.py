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
from omnicart.customers import service, suppression
from omnicart.customers.erasure import erase_customer
from omnicart.customers.erasure_report import erasure_report
from omnicart.customers.erasure_schemas import (
    CustomerSearchIn,
    ErasureReportOut,
    ErasureStartedOut,
    ErasureStatusOut,
)
from omnicart.customers.erasure_steps import erasure_status
from omnicart.customers.model import KINDS
from omnicart.customers.schemas import ConsentsIn, ConsentsOut, CustomerOut
from omnicart.customers.suppression_schemas import SuppressionLiftIn, SuppressionLiftOut
from omnicart.db.engine import Database
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


def _found(db: Database, events_path: Path, given: dict[str, str | int | None]) -> CustomerOut:
    """The 360 of the customer exactly one identifier (or `order_id`) points at."""
    named = {kind: value for kind, value in given.items() if value is not None}
    if len(named) != 1:
        raise ValidationFailed(
            "give exactly one of "
            + ", ".join([*(k for k in KINDS if k != "marketplace_buyer"), "order_id"]),
            field="query",
        )
    [(kind, value)] = named.items()
    if kind == "order_id":
        customer_id = service.customer_of_order(db, order_id=int(value))
    else:
        customer_id = service.find_customer(db, kind=kind, value=str(value))
    view = service.customer_360(db, customer_id=customer_id, events_path=events_path)
    return CustomerOut.model_validate(view)


@router.post("/customers/search")
@guard(access("customers:read", "staff"))
def search_customer(
    body: CustomerSearchIn, db: DbDep, principal: Caller, events_path: EventsPath
) -> CustomerOut:
    """The customer one identifier resolves to, as a 360: the way to look a person up.

    The identifier travels in the body, so it stays out of URLs, proxies and access
    logs. Same answers as `GET /v1/customers`."""
    return _found(db, events_path, body.model_dump())


@router.get("/customers", deprecated=True)
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
    customer an order belongs to (`order_id`), as a 360.

    Deprecated: the identifier lands in every access log on the way; use
    `POST /v1/customers/search`."""
    given: dict[str, str | int | None] = {
        "email": email,
        "phone": phone,
        "user_id": user_id,
        "loyalty_card": loyalty_card,
        "pos_customer": pos_customer,
        "anonymous_id": anonymous_id,
        "order_id": order_id,
    }
    return _found(db, events_path, given)


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
def erase(
    customer_id: IdPath, db: DbDep, principal: Caller, events_path: EventsPath
) -> ErasureStartedOut:
    """Erase the person's personal data everywhere; their purchases stay, anonymous.

    It cannot be undone, so it takes an admin key. Should the event store be busy, the
    answer says `"state": "pending"` and the server finishes it by itself (follow it at
    `GET /v1/customers/erasures/{erasure_id}`)."""
    view = erase_customer(
        db, customer_id=customer_id, actor=principal.actor, events_path=events_path
    )
    return ErasureStartedOut.model_validate(view)


@router.get("/customers/erasures/{erasure_id}")
@guard(access("customers:erase"))
def get_erasure(erasure_id: IdPath, db: DbDep, principal: Caller) -> ErasureStatusOut:
    """An erasure's progress: state, attempts, next try and last error (no erased value)."""
    return ErasureStatusOut.model_validate(erasure_status(db, erasure_id=erasure_id))


@router.get("/customers/erasures/{erasure_id}/report")
@guard(access("customers:erase"))
def get_erasure_report(erasure_id: IdPath, db: DbDep, principal: Caller) -> ErasureReportOut:
    """The erasure report for the person or a regulator: what was erased where and
    when, at whose request, and what was kept as anonymous aggregates."""
    return ErasureReportOut.model_validate(erasure_report(db, erasure_id=erasure_id))


@router.post("/customers/suppressions/lift")
@guard(access("customers:erase"))
def lift_suppression(body: SuppressionLiftIn, db: DbDep, principal: Caller) -> SuppressionLiftOut:
    """Take an erased person's identifier off the suppression list (they came back and
    consented again), so data naming it is accepted from now on; nothing erased returns.

    It takes an admin key and is logged (who, when, why, the digest; never the value).
    The value travels in the body, so it stays out of URLs and access logs."""
    view = suppression.lift_suppression(
        db, kind=body.kind, value=body.value, actor=principal.actor, reason=body.reason
    )
    return SuppressionLiftOut.model_validate(view)
