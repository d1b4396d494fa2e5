"""HTTP routes for connectors: the merchant's (admin keys) and the vendors' webhooks.

The webhook route takes no API key: the vendor's signature over the raw body is what
authenticates it (checked by the vendor's adapter; a wrong one is a 401 and nothing is
stored). It only stores the delivery and answers; processing happens in the background.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from omnicart.api.params import IdPath, IdQuery, SkuQuery
from omnicart.auth.access import PUBLIC, access
from omnicart.connectors import inbox, push, service
from omnicart.connectors.base import Inbound
from omnicart.connectors.calls import vendor_http
from omnicart.connectors.errors import VendorRefused, VendorUnavailable
from omnicart.connectors.mapping import list_entries
from omnicart.connectors.reconcile import reconcile_stock
from omnicart.connectors.schemas import (
    ConnectionCheckOut,
    ConnectorIn,
    ConnectorOut,
    ConnectorPatch,
    DeliveryOut,
    DeliveryStatus,
    MappingIn,
    MappingOut,
    MatchOut,
    PushList,
    PushOut,
    ReconcileOut,
    RequeueIn,
    RequeueOut,
    VendorItemOut,
    WebhookAck,
)
from omnicart.kernel.errors import ValidationFailed

router = APIRouter(tags=["connectors"])
READ = access("connectors:read")
WRITE = access("connectors:write")
MAX_BODY = 5 * 1024 * 1024
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "The vendor's payload, signed."}
            }
        },
    }
}


@router.post("/connectors", status_code=status.HTTP_201_CREATED)
@guard(WRITE)
def add_connector(body: ConnectorIn, db: DbDep, principal: Caller) -> ConnectorOut:
    """Connect a vendor account to a channel; the credentials are stored encrypted."""
    view = service.add_connector(
        db,
        draft=service.ConnectorDraft(
            channel_id=body.channel_id,
            vendor=body.vendor,
            credentials=body.credentials,
            options=body.options,
            base_url=body.base_url,
        ),
    )
    return ConnectorOut.model_validate(view)


@router.get("/connectors")
@guard(READ)
def list_connectors(
    db: DbDep, principal: Caller, cursor: Cursor = None, limit: Limit = 50
) -> Page[ConnectorOut]:
    """Connectors by ascending id."""
    views = service.list_connectors(db, after_id=decode_cursor(cursor), limit=limit)
    return Page[ConnectorOut](
        items=[ConnectorOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.get("/connectors/attention")
@guard(READ)
def needs_attention(
    db: DbDep,
    principal: Caller,
    connector_id: IdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """Deliveries a person should look at: parked ones (an unknown SKU, amounts that do
    not add up, stock that is not there…), ones still failing after several tries, and
    orders taken with a flag (products the channel does not list)."""
    views = inbox.list_deliveries(
        db, connector_id=connector_id, attention=True, after_id=decode_cursor(cursor), limit=limit
    )
    return Page[DeliveryOut](
        items=[DeliveryOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.get("/connectors/{connector_id}")
@guard(READ)
def get_connector(connector_id: IdPath, db: DbDep, principal: Caller) -> ConnectorOut:
    """One connector."""
    return ConnectorOut.model_validate(service.get_connector(db, connector_id=connector_id))


@router.patch("/connectors/{connector_id}")
@guard(WRITE)
def update_connector(
    connector_id: IdPath, body: ConnectorPatch, db: DbDep, principal: Caller
) -> ConnectorOut:
    """Change a connector's URL, credentials, options, or pause it."""
    given = body.model_dump(exclude_unset=True)
    view = service.update_connector(
        db,
        connector_id=connector_id,
        base_url=given.get("base_url"),
        credentials=given.get("credentials"),
        options=given.get("options"),
        active=given.get("active"),
    )
    return ConnectorOut.model_validate(view)


@router.post("/connectors/{connector_id}/test")
@guard(WRITE)
def check_connector(connector_id: IdPath, db: DbDep, principal: Caller) -> ConnectionCheckOut:
    """Ask the vendor for its catalog with the connector's credentials (`ok` says whether
    it answered)."""
    found = service.check_connector(db, connector_id=connector_id, http=vendor_http())
    return ConnectionCheckOut.model_validate(found)


@router.get("/connectors/{connector_id}/mapping")
@guard(READ)
def list_mapping(
    connector_id: IdPath,
    *,
    db: DbDep,
    principal: Caller,
    sku: SkuQuery = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[MappingOut]:
    """The connector's SKU mapping by ascending id."""
    service.get_connector(db, connector_id=connector_id)
    views = list_entries(
        db, connector_id=connector_id, sku=sku, after_id=decode_cursor(cursor), limit=limit
    )
    return Page[MappingOut](
        items=[MappingOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.put("/connectors/{connector_id}/mapping")
@guard(WRITE)
def set_mapping(
    connector_id: IdPath, body: MappingIn, db: DbDep, principal: Caller
) -> list[MappingOut]:
    """Map vendor products to SKUs by hand (automatic matching never replaces these)."""
    views = service.set_mapping(
        db, connector_id=connector_id, entries=[item.model() for item in body.items]
    )
    return [MappingOut.model_validate(v) for v in views]


@router.post("/connectors/{connector_id}/mapping/match")
@guard(WRITE)
def match_mapping(connector_id: IdPath, db: DbDep, principal: Caller) -> MatchOut:
    """Read the vendor's catalog and map what matches an Omnicart SKU or GTIN; a 409 when
    the vendor cannot be reached."""
    report = service.match_mapping(db, connector_id=connector_id, http=vendor_http())
    return MatchOut(
        items=report.items,
        matched=report.matched,
        kept=report.kept,
        unmatched=[VendorItemOut.model_validate(item) for item in report.unmatched],
    )


@router.get("/connectors/{connector_id}/deliveries")
@guard(READ)
def list_deliveries(
    connector_id: IdPath,
    *,
    db: DbDep,
    principal: Caller,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeliveryOut]:
    """The connector's inbox by ascending id, optionally in one status."""
    service.get_connector(db, connector_id=connector_id)
    views = inbox.list_deliveries(
        db, connector_id=connector_id, status=status, after_id=decode_cursor(cursor), limit=limit
    )
    return Page[DeliveryOut](
        items=[DeliveryOut.model_validate(v) for v in views],
        next_cursor=next_cursor([v.id for v in views], limit),
    )


@router.post("/connectors/{connector_id}/deliveries/retry")
@guard(WRITE)
def retry_deliveries(
    connector_id: IdPath, body: RequeueIn, db: DbDep, principal: Caller
) -> RequeueOut:
    """Process deliveries again: all parked ones (after the mapping was fixed), or those
    named (a replay from the inbox)."""
    service.get_connector(db, connector_id=connector_id)
    count = inbox.requeue(db, connector_id=connector_id, deliveries=body.delivery_ids)
    return RequeueOut(requeued=count)


@router.post("/connectors/{connector_id}/deliveries/{delivery_id}/dismiss")
@guard(WRITE)
def dismiss_delivery(
    connector_id: IdPath, delivery_id: IdPath, db: DbDep, principal: Caller
) -> DeliveryOut:
    """A person dealt with it: close a parked delivery unprocessed, or take a flagged
    order off the list."""
    return DeliveryOut.model_validate(
        inbox.dismiss(db, connector_id=connector_id, delivery=delivery_id)
    )


@router.post("/connectors/{connector_id}/reconcile")
@guard(WRITE)
def reconcile(connector_id: IdPath, db: DbDep, principal: Caller) -> ReconcileOut:
    """Compare the vendor's stock figures with Omnicart's and send the right one wherever
    they differ; a 409 when the vendor cannot be reached."""
    try:
        report = reconcile_stock(db, connector_id=connector_id, http=vendor_http())
    except (VendorUnavailable, VendorRefused) as exc:
        raise service.vendor_refusal(exc) from exc
    return ReconcileOut.model_validate(asdict(report))


@router.get("/connectors/{connector_id}/stock")
@guard(READ)
def stock_sync(
    connector_id: IdPath,
    *,
    db: DbDep,
    principal: Caller,
    kind: Annotated[push.Kind, Query()] = "stock",
    sku: SkuQuery = None,
    after_sku: Annotated[str, Query(max_length=120)] = "",
    limit: Limit = 500,
) -> PushList:
    """Where each SKU's stock figure (or price) stands with the vendor: what Omnicart
    wants it to show, what it last acknowledged, and any failure."""
    service.get_connector(db, connector_id=connector_id)
    views = push.sync_state(
        db, connector_id=connector_id, kind=kind, sku=sku, after_sku=after_sku, limit=limit
    )
    return PushList(
        items=[PushOut.model_validate({**asdict(v), "in_sync": v.in_sync}) for v in views]
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ValidationFailed(f"the body is over {MAX_BODY} bytes", field="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ValidationFailed(f"the body is over {MAX_BODY} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/connectors/{connector_id}/webhooks",
    openapi_extra=_BODY_DOC,
    response_model=WebhookAck,
)
@guard(PUBLIC)
async def receive_webhook(connector_id: IdPath, request: Request) -> WebhookAck:
    """A vendor's webhook delivery, authenticated by the vendor's signature (Shopify's
    X-Shopify-Hmac-Sha256, WooCommerce's X-WC-Webhook-Signature, …) instead of an API key:
    a wrong or missing signature is a 401 and nothing is stored. The delivery is stored
    once (a redelivery is answered 200 with `duplicate`) and processed in the background;
    an authentic delivery that cannot be read is kept too, parked with the reason."""
    body = await _read_body(request)
    inbound = Inbound(
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        url=str(request.url),
    )
    receipt = await run_in_threadpool(
        inbox.receive, request.app.state.db, connector_id=connector_id, inbound=inbound
    )
    return WebhookAck(
        delivery=receipt.delivery,
        duplicate=receipt.duplicate,
        status=receipt.status,
        reason=receipt.reason,
    )
