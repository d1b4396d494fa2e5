"""The Stock page's count and transfer forms: the API's input models, rules and errors
(POST /v1/stock/counts, POST /v1/transfers), each error at its field, nothing changed."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from omnicart.api.deps import DbDep
from omnicart.auth.access import Named, access
from omnicart.console.access import CheckedForm, Viewer, check_form_target, page
from omnicart.console.forms import field_errors, service_error, shown, whole_number
from omnicart.console.i18n import texts_for
from omnicart.console.menu import RECEIVE_STOCK
from omnicart.console.render import SECURITY_HEADERS
from omnicart.console.stock_pages import stock_page_again
from omnicart.db.engine import Database
from omnicart.inventory import service
from omnicart.inventory.schemas import CountIn, TransferIn
from omnicart.kernel.errors import OmnicartError
from omnicart.locations.service import location_id_for_code
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
# As the API: a count at, and a transfer from, a location of the staff's own store.
COUNT_STOCK = RECEIVE_STOCK
TRANSFER_STOCK = access("inventory:write", "staff", store=Named("body", "from_location_id"))
# The API's names for each form's fields; anything else a service names is the form's.
COUNT_FIELDS = {
    "location_id": "count_location_id",
    "lines": "count_sku",
    "lines.0.sku": "count_sku",
    "lines.0.counted": "counted",
    "note": "note",
}
TRANSFER_FIELDS = {
    "from_location_id": "from_location_id",
    "to_location_id": "to_location",
    "lines": "transfer_sku",
    "lines.0.sku": "transfer_sku",
    "lines.0.quantity": "transfer_quantity",
    "quantity": "transfer_quantity",  # more than is there
    "note": "transfer_note",
}


def _refused(
    request: Request,
    viewer: UserPrincipal,
    db: Database,
    sent: Mapping[str, str],
    exc: ValidationError | OmnicartError,
    *,
    fields: Mapping[str, str],
    form: str,
) -> Response:
    if isinstance(exc, ValidationError):
        errors, status = field_errors(exc, fields, texts_for(request)), 422
    else:
        errors, status = service_error(exc, fields, form=form), exc.status
    return stock_page_again(
        request, viewer=viewer, db=db, shown=dict(sent), errors=errors, status=status
    )


def _back(location_id: int, **notice: object) -> Response:
    query = urlencode({"location": location_id, **notice})
    return RedirectResponse(f"/console/stock?{query}", status_code=303, headers=SECURITY_HEADERS)


@router.post("/console/stock/counts")
@page(COUNT_STOCK)
def count_stock(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """A cycle count of one SKU: on hand becomes what was counted (POST /v1/stock/counts)."""
    sent = shown(form, COUNT_FIELDS.values())
    location = whole_number(sent["count_location_id"])
    if isinstance(location, int):
        # The store first: another store's staff learn nothing from its validation.
        check_form_target(request, viewer, db, SimpleNamespace(location_id=location))
    try:
        body = CountIn.model_validate(
            {
                "location_id": location,
                "lines": [
                    {"sku": sent["count_sku"].strip(), "counted": whole_number(sent["counted"])}
                ],
                "note": sent["note"].strip(),
            }
        )
        _count_id, lines = service.record_count(
            db,
            location_id=body.location_id,
            lines=[(line.sku, line.counted) for line in body.lines],
            actor=viewer.actor,
            note=body.note,
        )
    except (ValidationError, OmnicartError) as exc:
        return _refused(request, viewer, db, sent, exc, fields=COUNT_FIELDS, form="count")
    return _back(body.location_id, counted=lines[0].sku, on_hand=lines[0].counted)


@router.post("/console/stock/transfers")
@page(TRANSFER_STOCK)
def transfer_stock(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """Send units of one SKU to another location (POST /v1/transfers)."""
    sent = shown(form, TRANSFER_FIELDS.values())
    source = whole_number(sent["from_location_id"])
    if isinstance(source, int):
        check_form_target(request, viewer, db, SimpleNamespace(from_location_id=source))
    try:
        # The destination by its code, as on the command line: a store's staff send to
        # other stores without the page listing every location.
        code = sent["to_location"].strip()
        with db.reading() as session:
            destination = (
                location_id_for_code(session, code=code, field="to_location_id") if code else None
            )
        body = TransferIn.model_validate(
            {
                "from_location_id": source,
                "to_location_id": destination,
                "lines": [
                    {
                        "sku": sent["transfer_sku"].strip(),
                        "quantity": whole_number(sent["transfer_quantity"]),
                    }
                ],
                "note": sent["transfer_note"].strip(),
            }
        )
        made = service.create_transfer(
            db,
            from_location_id=body.from_location_id,
            to_location_id=body.to_location_id,
            lines=[(line.sku, line.quantity) for line in body.lines],
            actor=viewer.actor,
            note=body.note,
        )
    except (ValidationError, OmnicartError) as exc:
        return _refused(request, viewer, db, sent, exc, fields=TRANSFER_FIELDS, form="transfer")
    return _back(body.from_location_id, transfer=made.id)
