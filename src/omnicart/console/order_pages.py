"""The Orders pages: a filtered list, one order with its status history and the forms
of what may be done next (console.order_actions), and CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.channels.service import list_channels
from omnicart.console import sessions
from omnicart.console.access import Viewer, page
from omnicart.console.menu import ORDER, ORDERS
from omnicart.console.order_rules import Done, open_pickup_code, order_actions
from omnicart.console.params import IdFilter, StatusFilter
from omnicart.console.render import csv_response, render
from omnicart.db.engine import Database
from omnicart.locations.service import get_location, list_locations
from omnicart.orders import service
from omnicart.orders.returns import get_return, return_ids_of
from omnicart.orders.schemas import OrderStatus
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
OrderTable = Literal["lines", "history", "fulfilments"]
STATUSES: tuple[str, ...] = OrderStatus.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as the list shows it."""

    id: int
    channel: str
    external_id: str
    status: str
    fulfilment_mode: str
    total: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrdersPage:
    """One page of the list, with what its filters offer."""

    rows: list[OrderRow]
    channels: list[tuple[int, str]]
    locations: list[tuple[int, str]]
    next_before: int | None


def _read(
    db: Database,
    *,
    own_store: int | None,
    channel: int | None,
    status: str | None,
    location: int | None,
    before: int | None,
) -> OrdersPage:
    with db.reading() as session:
        if location is not None:
            get_location(session, location_id=location)  # unknown: 404
        channels = {c.id: c.code for c in list_channels(session, limit=200)}
        locations = [
            (loc.id, loc.code)
            for loc in list_locations(session, limit=500)
            if own_store is None or loc.id == own_store
        ]
    orders = service.list_orders(
        db,
        channel_id=channel,
        status=status,
        location_id=location,
        after_id=before,
        limit=PAGE_SIZE,
    )
    rows = [
        OrderRow(
            id=o.id,
            channel=channels.get(o.channel_id, str(o.channel_id)),
            external_id=o.external_id or "",
            status=o.status,
            fulfilment_mode=o.fulfilment_mode,
            total=o.total,
            currency=o.currency,
            created_at=o.created_at,
        )
        for o in orders
    ]
    more = rows[-1].id if len(rows) == PAGE_SIZE else None
    return OrdersPage(rows, sorted(channels.items(), key=lambda c: c[1]), locations, more)


@router.get("/console/orders")
@page(ORDERS)
def orders_page(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    channel: IdFilter = None,
    status: StatusFilter = None,
    location: IdFilter = None,
    before: IdFilter = None,
) -> HTMLResponse:
    """Orders, newest first; a store's staff see their store's."""
    found = _read(
        db,
        own_store=viewer.own_store,
        channel=channel,
        status=status,
        location=location,
        before=before,
    )
    filters = {"channel": channel or "", "status": status or "", "location": location or ""}
    return render(
        request,
        "orders.html",
        viewer=viewer,
        csrf=sessions.csrf_token(db, sessions.session_token(request, db) or ""),
        found=found,
        filters=filters,
        statuses=STATUSES,
        query=request.url.query,
    )


@router.get("/console/orders.csv")
@page(ORDERS)
def orders_csv(
    *,
    viewer: Viewer,
    db: DbDep,
    channel: IdFilter = None,
    status: StatusFilter = None,
    location: IdFilter = None,
    before: IdFilter = None,
) -> Response:
    """The orders list as CSV, with the page's filters."""
    found = _read(
        db,
        own_store=viewer.own_store,
        channel=channel,
        status=status,
        location=location,
        before=before,
    )
    return csv_response(
        "orders.csv",
        ["id", "channel", "external_id", "status", "fulfilment", "total", "currency", "created_at"],
        (
            [
                r.id,
                r.channel,
                r.external_id,
                r.status,
                r.fulfilment_mode,
                r.total,
                r.currency,
                r.created_at,
            ]
            for r in found.rows
        ),
    )


@router.get("/console/orders/{order_id}")
@page(ORDER)
def order_page(
    request: Request,
    viewer: Viewer,
    db: DbDep,
    order_id: IdPath,
    done: Annotated[Done | None, Query()] = None,
) -> HTMLResponse:
    """One order: lines, fulfilments, returns, status history, and what may be done next."""
    return show_order(request, viewer, db, order_id=order_id, done=done)


def show_order(
    request: Request,
    viewer: UserPrincipal,
    db: Database,
    *,
    order_id: int,
    done: str | None = None,
    form: dict[str, str] | None = None,
    failed: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The order page; after a refused action (`failed`), with its form as sent and the
    errors at their fields."""
    order = service.get_order(db, order_id=order_id)
    with db.reading() as session:
        places = list_locations(session, limit=500)
        serving = list_channels(session, limit=200)
        return_ids = return_ids_of(session, order_id=order_id)
    own = viewer.own_store
    return render(
        request,
        "order.html",
        viewer=viewer,
        status=status,
        csrf=sessions.csrf_token(db, sessions.session_token(request, db) or ""),
        order=order,
        location_codes={loc.id: loc.code for loc in places},
        ship_from=[(loc.id, loc.code) for loc in places if loc.active and own in (None, loc.id)],
        return_channels=[
            (c.id, c.code)
            for c in serving
            if c.active and own in (None, *c.ship_location_ids, *c.pickup_location_ids)
        ],
        returns=[get_return(db, return_id=rid) for rid in return_ids],
        return_lines=[
            (line.line_no, f"{line.line_no} · {line.sku}")
            for line in order.lines
            if line.fulfilled > line.returned
        ],
        actions=order_actions(order, viewer),
        done=done or "",
        failed=failed,
        pickup=open_pickup_code(order),
        form=form or {},
        errors=errors or {},
    )


@router.get("/console/orders/{order_id}/{table}.csv")
@page(ORDER)
def order_csv(
    viewer: Viewer, db: DbDep, order_id: IdPath, table: Annotated[OrderTable, Path()]
) -> Response:
    """One of an order's tables as CSV: its lines, status history or fulfilments."""
    order = service.get_order(db, order_id=order_id)
    name = f"order-{order_id}-{table}.csv"
    if table == "history":
        return csv_response(
            name,
            ["at", "from_status", "to_status", "actor", "reason"],
            ([t.at, t.from_status, t.to_status, t.actor, t.reason] for t in order.transitions),
        )
    if table == "fulfilments":
        return csv_response(
            name,
            ["id", "kind", "location_id", "status", "carrier", "tracking_number", "created_at"],
            (
                [f.id, f.kind, f.location_id, f.status, f.carrier, f.tracking_number, f.created_at]
                for f in order.fulfilments
            ),
        )
    return csv_response(
        name,
        [
            *("line", "sku", "title", "quantity", "unit_price", "discount", "tax", "total"),
            *("currency", "fulfilled", "returned"),
        ],
        (
            [
                *(line.line_no, line.sku, line.title, line.quantity, line.unit_price),
                *(line.discount, line.tax, line.total, order.currency),
                *(line.fulfilled, line.returned),
            ]
            for line in order.lines
        ),
    )
