"""The Stock page: available-to-promise, levels, low and out of stock, in transit, recent
movements, reconciliation with the ledger (admins), the receive-stock form (count and
transfer: console.stock_forms), and each table as CSV."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from omnicart.api.deps import DbDep
from omnicart.console import sessions
from omnicart.console.access import CheckedForm, PageRefused, Viewer, check_form_target, page
from omnicart.console.forms import field_errors, sentence, text, whole_number
from omnicart.console.i18n import texts_for
from omnicart.console.menu import RECEIVE_STOCK, STOCK
from omnicart.console.params import IdFilter, SkuFilter
from omnicart.console.render import SECURITY_HEADERS, csv_response, render
from omnicart.console.stock_data import StockPage, read_stock_page
from omnicart.db.engine import Database
from omnicart.inventory import service
from omnicart.inventory.schemas import StockLinesIn
from omnicart.kernel.errors import OmnicartError
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
StockTable = Literal["atp", "levels", "short", "movements", "transit", "reconciliation"]
# The API's names for the receive form's fields.
RECEIVE_FIELDS = {
    "location_id": "location_id",
    "lines": "sku",
    "lines.0.sku": "sku",
    "lines.0.quantity": "quantity",
    "reason": "reason",
}
# The fields of the page's forms: receive, count (console.stock_forms) and transfer.
FORM_FIELDS = (
    *("location_id", "sku", "quantity", "reason"),
    *("count_location_id", "count_sku", "counted", "note"),
    *("from_location_id", "to_location", "transfer_sku", "transfer_quantity"),
    "transfer_note",
)


def _reconciles(viewer: UserPrincipal) -> bool:
    """Only admins see the reconciliation: a store's staff can neither read the other
    stores' ledger nor fix a figure, and it reads the ledger of every row shown."""
    return viewer.role == "admin"


def _read(
    request: Request, viewer: UserPrincipal, db: Database, location: int | None, sku: str | None
) -> StockPage:
    threshold = request.app.state.settings.low_stock_threshold
    with db.reading() as session:
        return read_stock_page(
            session,
            location_id=location,
            sku=sku,
            default_threshold=threshold,
            reconcile=_reconciles(viewer),
        )


def _page(
    request: Request,
    viewer: UserPrincipal,
    db: Database,
    figures: StockPage,
    *,
    sku: str | None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    own = viewer.own_store
    choices = [loc for loc in figures.locations if own is None or loc.id == own]
    selected = str(figures.location.id if figures.location else (own or ""))
    # Every form's fields, as sent when one was refused, else empty at the chosen store.
    fields = dict.fromkeys(FORM_FIELDS, "") | {
        "location_id": selected,
        "count_location_id": selected,
        "from_location_id": selected,
    }
    return render(
        request,
        "stock.html",
        viewer=viewer,
        status=status,
        csrf=sessions.csrf_token(db, sessions.session_token(request, db) or ""),
        figures=figures,
        sku=sku or "",
        filter_locations=choices,
        receive_locations=[loc for loc in choices if loc.active],
        location_choices=[(loc.id, f"{loc.code} — {loc.name}") for loc in choices if loc.active],
        form=fields | (form or {}),
        errors=errors or {},
        received=request.query_params.get("received", ""),
        counted=request.query_params.get("counted", ""),
        transfer=request.query_params.get("transfer", ""),
        on_hand=request.query_params.get("on_hand", ""),
        query=request.url.query,
    )


@router.get("/console/stock")
@page(STOCK)
def stock_page(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    location: IdFilter = None,
    sku: SkuFilter = None,
) -> HTMLResponse:
    """Stock everywhere, or at one location (a store's staff: their store)."""
    return _page(request, viewer, db, _read(request, viewer, db, location, sku), sku=sku)


@router.get("/console/stock/{table}.csv")
@page(STOCK)
def stock_csv(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    table: Annotated[StockTable, Path()],
    location: IdFilter = None,
    sku: SkuFilter = None,
) -> Response:
    """One of the Stock page's tables as CSV, with the page's filters."""
    if table == "reconciliation" and not _reconciles(viewer):
        _ = texts_for(request)
        raise PageRefused(403, _("Only an admin may see the reconciliation of stock."))
    figures = _read(request, viewer, db, location, sku)
    where = figures.location.code if figures.location else "all"
    name = f"stock-{table}-{where}.csv"
    if table == "transit":
        return csv_response(
            name,
            ["transfer", "from", "to", "sku", "units", "sent_at"],
            (
                [t.transfer_id, t.from_location, t.to_location, t.sku, t.units, t.sent_at]
                for t in figures.transit
            ),
        )
    if table == "reconciliation":
        checked = figures.reconciliation
        return csv_response(
            name,
            ["sku", "location", "figure", "stock", "expected", "compared_with"],
            (
                [m.sku, m.location, m.figure, m.stock, m.expected, m.source]
                for m in (checked.mismatches if checked else [])
            ),
        )
    if table == "atp":
        header = ["sku", *(c.code for c in figures.channels)]
        return csv_response(name, header, ([s, *units] for s, units in figures.atp))
    if table == "movements":
        return csv_response(
            name,
            [
                "at",
                "kind",
                "sku",
                "location",
                "on_hand_change",
                "reserved_change",
                "reason",
                "actor",
            ],
            (
                [
                    m.at,
                    m.kind,
                    m.sku,
                    m.location,
                    m.delta_on_hand,
                    m.delta_reserved,
                    m.reason,
                    m.actor,
                ]
                for m in figures.movements
            ),
        )
    levels = figures.levels if table == "levels" else figures.short
    return csv_response(
        name,
        ["sku", "location", "on_hand", "reserved", "allocated", "available", "threshold", "state"],
        (
            [
                lv.sku,
                lv.location,
                lv.on_hand,
                lv.reserved,
                lv.allocated,
                lv.available,
                lv.threshold,
                lv.state,
            ]
            for lv in levels
        ),
    )


def _receipt(form: FormData) -> dict[str, object]:
    return {
        "location_id": whole_number(form.get("location_id")),
        "lines": [
            {"sku": text(form.get("sku")).strip(), "quantity": whole_number(form.get("quantity"))}
        ],
        "reason": text(form.get("reason")).strip(),
    }


@router.post("/console/stock/receipts")
@page(RECEIVE_STOCK)
def receive_stock(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """Goods arrived: the same use case, rules and errors as POST /v1/stock/receipts."""
    raw = _receipt(form)
    shown = {name: text(form.get(name)) for name in ("location_id", "sku", "quantity", "reason")}
    location = raw["location_id"] if isinstance(raw["location_id"], int) else None
    if location is not None:
        # The store first: another store's staff learn nothing from its validation.
        check_form_target(request, viewer, db, _Named(location))
    try:
        body = StockLinesIn.model_validate(raw)
    except ValidationError as exc:
        return stock_page_again(
            request,
            viewer=viewer,
            db=db,
            shown=shown,
            errors=field_errors(exc, RECEIVE_FIELDS, texts_for(request)),
            status=422,
        )
    try:
        after = service.receive_stock(
            db,
            location_id=body.location_id,
            lines=[(line.sku, line.quantity) for line in body.lines],
            actor=viewer.actor,
            reason=body.reason,
        )
    except OmnicartError as exc:
        field = RECEIVE_FIELDS.get(exc.field or "", exc.field or "sku")
        return stock_page_again(
            request,
            viewer=viewer,
            db=db,
            shown=shown,
            errors={field: sentence(exc.detail)},
            status=exc.status,
        )
    sku = body.lines[0].sku
    return RedirectResponse(
        _back(body.location_id, sku, after[sku]), status_code=303, headers=SECURITY_HEADERS
    )


class _Named:
    """What `check_target` reads of a posted form: the location it names."""

    def __init__(self, location_id: int) -> None:
        self.location_id = location_id


def _back(location_id: int, sku: str, on_hand: int) -> str:
    query = urlencode({"location": location_id, "received": sku, "on_hand": on_hand})
    return f"/console/stock?{query}"


def stock_page_again(
    request: Request,
    *,
    viewer: UserPrincipal,
    db: Database,
    shown: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> HTMLResponse:
    """A refused form: the page again, the form as it was sent, each error at its field."""
    figures = _read(request, viewer, db, viewer.own_store, None)
    return _page(request, viewer, db, figures, sku=None, form=shown, errors=errors, status=status)
