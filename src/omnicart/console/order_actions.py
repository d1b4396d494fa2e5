"""Order actions as forms: ship, ready for pickup, collect with the code, cancel, open a
return. Each parses the form into the API's input model and calls the same service as the
API's route, under the same access rule (console.order_rules). A refused form shows the
order page again, the form as it was sent and the error at its field; nothing changed,
as each service is one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.console.access import CheckedForm, Viewer, check_form_target, page
from omnicart.console.forms import field_errors, service_error, shown, text, whole_number
from omnicart.console.i18n import texts_for
from omnicart.console.order_pages import show_order
from omnicart.console.order_rules import AT_ORDER, OPEN_RETURN, SHIP, Done
from omnicart.console.render import SECURITY_HEADERS
from omnicart.db.engine import Database
from omnicart.kernel.errors import OmnicartError
from omnicart.orders import fulfilment, returns, service
from omnicart.orders.schemas import PickupCodeIn, ReasonIn, ReturnIn, ShipmentIn
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
# The API's names for each form's fields; anything else a service names is the form's.
SHIP_FIELDS = {
    "location_id": "ship_location_id",
    "carrier": "carrier",
    "tracking_number": "tracking_number",
}
COLLECT_FIELDS = {"code": "code"}
CANCEL_FIELDS = {"reason": "cancel_reason"}
RETURN_FIELDS = {
    "channel_id": "return_channel_id",
    "lines": "return_line_no",
    "lines.0.line_no": "return_line_no",
    "lines.0.quantity": "return_quantity",
    "lines.0.reason": "return_reason",
}


def _attempt(
    request: Request,
    viewer: UserPrincipal,
    db: Database,
    *,
    order_id: int,
    form: str,
    sent: Mapping[str, str],
    fields: Mapping[str, str],
    act: Callable[[], Done],
) -> Response:
    """Run the action; on success back to the order with what was done (`act` says it)."""
    try:
        done = act()
    except ValidationError as exc:
        errors, status = field_errors(exc, fields, texts_for(request)), 422
    except OmnicartError as exc:
        errors, status = service_error(exc, fields, form=form), exc.status
    else:
        return RedirectResponse(
            f"/console/orders/{order_id}?done={done}", status_code=303, headers=SECURITY_HEADERS
        )
    return show_order(
        request,
        viewer,
        db,
        order_id=order_id,
        form=dict(sent),
        failed=form,
        errors=errors,
        status=status,
    )


@router.post("/console/orders/{order_id}/ship")
@page(SHIP)
def ship_order(
    request: Request, viewer: Viewer, db: DbDep, order_id: IdPath, form: CheckedForm
) -> Response:
    """Ship what the order holds at a location: as POST /v1/orders/{id}/shipments."""
    sent = shown(form, SHIP_FIELDS.values())
    location = whole_number(sent["ship_location_id"])
    if isinstance(location, int):
        # The store first: another store's staff learn nothing from the order's state.
        check_form_target(request, viewer, db, SimpleNamespace(location_id=location))

    def act() -> Done:
        body = ShipmentIn.model_validate(
            {
                "location_id": location,
                "carrier": sent["carrier"].strip(),
                "tracking_number": sent["tracking_number"].strip(),
            }
        )
        fulfilment.create_shipment(
            db,
            order_id=order_id,
            location_id=body.location_id,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            actor=viewer.actor,
        )
        return "shipped"

    return _attempt(
        request, viewer, db, order_id=order_id, form="ship", sent=sent, fields=SHIP_FIELDS, act=act
    )


@router.post("/console/orders/{order_id}/pickup/ready")
@page(AT_ORDER)
def pickup_ready(
    request: Request, viewer: Viewer, db: DbDep, order_id: IdPath, form: CheckedForm
) -> Response:
    """The store has the pickup order ready: a code and a deadline are issued."""

    def act() -> Done:
        fulfilment.mark_ready(
            db, order_id=order_id, actor=viewer.actor, staff_location=viewer.own_store
        )
        return "ready"

    return _attempt(
        request, viewer, db, order_id=order_id, form="ready", sent={}, fields={}, act=act
    )


@router.post("/console/orders/{order_id}/pickup/collect")
@page(AT_ORDER)
def pickup_collect(
    request: Request, viewer: Viewer, db: DbDep, order_id: IdPath, form: CheckedForm
) -> Response:
    """The customer collected the order with its code."""
    sent = shown(form, COLLECT_FIELDS.values())

    def act() -> Done:
        body = PickupCodeIn.model_validate({"code": sent["code"]})
        fulfilment.collect(
            db,
            order_id=order_id,
            code=body.code,
            actor=viewer.actor,
            staff_location=viewer.own_store,
        )
        return "collected"

    return _attempt(
        request,
        viewer,
        db,
        order_id=order_id,
        form="collect",
        sent=sent,
        fields=COLLECT_FIELDS,
        act=act,
    )


@router.post("/console/orders/{order_id}/cancel")
@page(AT_ORDER)
def cancel_order(
    request: Request, viewer: Viewer, db: DbDep, order_id: IdPath, form: CheckedForm
) -> Response:
    """Cancel an order nothing of which has left; its units go back on sale."""
    sent = shown(form, CANCEL_FIELDS.values())

    def act() -> Done:
        body = ReasonIn.model_validate({"reason": sent["cancel_reason"].strip()})
        service.cancel_order(db, order_id=order_id, actor=viewer.actor, reason=body.reason)
        return "cancelled"

    return _attempt(
        request,
        viewer,
        db,
        order_id=order_id,
        form="cancel",
        sent=sent,
        fields=CANCEL_FIELDS,
        act=act,
    )


@router.post("/console/orders/{order_id}/returns")
@page(OPEN_RETURN)
def open_return(
    request: Request, viewer: Viewer, db: DbDep, order_id: IdPath, form: CheckedForm
) -> Response:
    """Open a return of one line, in a channel the store serves: as POST …/returns."""
    sent = shown(form, RETURN_FIELDS.values())
    channel = whole_number(sent["return_channel_id"])
    if isinstance(channel, int):
        check_form_target(request, viewer, db, SimpleNamespace(channel_id=channel))

    def act() -> Done:
        body = ReturnIn.model_validate(
            {
                "channel_id": channel,
                "lines": [
                    {
                        "line_no": whole_number(sent["return_line_no"]),
                        "quantity": whole_number(sent["return_quantity"]),
                        "reason": text(sent["return_reason"]).strip(),
                    }
                ],
            }
        )
        returns.open_return(
            db,
            order_id=order_id,
            channel_id=body.channel_id,
            lines=[returns.ReturnLineRequest(x.line_no, x.quantity, x.reason) for x in body.lines],
            actor=viewer.actor,
        )
        return "return"

    return _attempt(
        request,
        viewer,
        db,
        order_id=order_id,
        form="return",
        sent=sent,
        fields=RETURN_FIELDS,
        act=act,
    )
