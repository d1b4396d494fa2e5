"""The Connectors page: each connection's state, newest delivery and sync lag, the
deliveries that need a person, and the retry button (POST /v1/connectors/{id}/deliveries/
retry's service call, under its rule: admins only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.channels.service import list_channels
from omnicart.connectors import inbox, service
from omnicart.connectors.api import WRITE
from omnicart.connectors.schemas import RequeueIn
from omnicart.connectors.service import ConnectorActivity, connector_activity
from omnicart.console import sessions
from omnicart.console.access import CheckedForm, Viewer, page
from omnicart.console.forms import field_errors, sentence, text, whole_number
from omnicart.console.i18n import texts_for, viewer_locale
from omnicart.console.menu import CONNECTORS
from omnicart.console.numbers import Numbers
from omnicart.console.render import SECURITY_HEADERS, render
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import OmnicartError
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
MOST_CONNECTORS = 200
MOST_SHOWN = 100  # deliveries of the needs-attention list on the page
Requeued = Annotated[int | None, Query(ge=0, le=1_000_000)]


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    """A connection as the page shows it."""

    id: int
    channel: str
    vendor: str
    active: bool
    last_received_at: datetime | None
    figures_waiting: int
    sync_lag: str  # "" when the vendor holds every figure


@dataclass(frozen=True, slots=True)
class AttentionRow:
    """A delivery a person should look at."""

    id: int
    connector_id: int
    connection: str
    received_at: datetime
    topic: str
    external_order_id: str
    status: str
    attempts: int
    reason: str
    order_id: int | None
    flagged: bool


def _lag(since: datetime | None, now: datetime, numbers: Numbers) -> str:
    if since is None:
        return ""
    return numbers.span(int((now - since) / timedelta(seconds=1)))


def _read(db: Database, numbers: Numbers) -> tuple[list[ConnectionRow], list[AttentionRow]]:
    views = service.list_connectors(db, limit=MOST_CONNECTORS)
    with db.reading() as session:
        codes = {c.id: c.code for c in list_channels(session, limit=500)}
        activity = connector_activity(session)
    idle = ConnectorActivity(None, None, 0, None)
    now = utcnow()
    rows = [
        ConnectionRow(
            id=v.id,
            channel=codes.get(v.channel_id, str(v.channel_id)),
            vendor=v.vendor,
            active=v.active,
            last_received_at=activity.get(v.id, idle).last_received_at,
            figures_waiting=activity.get(v.id, idle).figures_waiting,
            sync_lag=_lag(activity.get(v.id, idle).oldest_waiting_since, now, numbers),
        )
        for v in views
    ]
    names = {row.id: f"{row.vendor} · {row.channel}" for row in rows}
    attention = [
        AttentionRow(
            id=d.id,
            connector_id=d.connector_id,
            connection=names.get(d.connector_id, str(d.connector_id)),
            received_at=d.received_at,
            topic=d.topic,
            external_order_id=d.external_order_id or "",
            status=d.status,
            attempts=d.attempts,
            reason=d.reason or d.reason_code or "",
            order_id=d.order_id,
            flagged=d.reason_code == inbox.FLAGGED,
        )
        for d in inbox.list_deliveries(db, attention=True, limit=MOST_SHOWN)
    ]
    return rows, attention


def _page(
    request: Request,
    viewer: UserPrincipal,
    db: Database,
    *,
    requeued: int | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    connections, attention = _read(db, Numbers(viewer_locale(request)))
    return render(
        request,
        "connectors.html",
        viewer=viewer,
        status=status,
        csrf=sessions.csrf_token(db, sessions.session_token(request, db) or ""),
        connections=connections,
        attention=attention,
        requeued=requeued,
        error=error,
    )


@router.get("/console/connectors")
@page(CONNECTORS)
def connectors_page(
    request: Request, viewer: Viewer, db: DbDep, requeued: Requeued = None
) -> HTMLResponse:
    """Every connection, and the deliveries that need a person."""
    return _page(request, viewer, db, requeued=requeued)


@router.post("/console/connectors/{connector_id}/retry")
@page(WRITE)
def retry_deliveries(
    request: Request, viewer: Viewer, db: DbDep, connector_id: IdPath, form: CheckedForm
) -> Response:
    """Process deliveries again: the one named, or every parked one of the connection."""
    named = text(form.get("delivery_id")).strip()
    try:
        body = RequeueIn.model_validate({"delivery_ids": [whole_number(named)] if named else None})
        service.get_connector(db, connector_id=connector_id)
        count = inbox.requeue(db, connector_id=connector_id, deliveries=body.delivery_ids)
    except ValidationError as exc:
        _ = texts_for(request)
        message = next(iter(field_errors(exc, {}, _).values()))
        return _page(
            request, viewer, db, error=_("Delivery: %(problem)s", problem=message), status=422
        )
    except OmnicartError as exc:
        return _page(request, viewer, db, error=sentence(exc.detail), status=exc.status)
    return RedirectResponse(
        f"/console/connectors?requeued={count}", status_code=303, headers=SECURITY_HEADERS
    )
