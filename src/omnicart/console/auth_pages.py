"""Signing in and out, and the console's first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from omnicart.api.deps import DbDep
from omnicart.auth.access import PUBLIC
from omnicart.console import sessions
from omnicart.console.access import CheckedForm, Viewer, current_viewer, page
from omnicart.console.i18n import Texts, texts_for
from omnicart.console.menu import SIGNED_IN
from omnicart.console.render import SECURITY_HEADERS, render
from omnicart.db.engine import Database
from omnicart.users.model import FAILURE_WINDOW, MAX_EMAIL, MAX_FAILURES, MAX_PASSWORD
from omnicart.users.service import SignedIn, SignInRefused, sign_in, sign_out

router = APIRouter(include_in_schema=False)
Next = Annotated[str, Query(alias="next", max_length=2000)]


def safe_next(target: str) -> str:
    """Where a form may send the browser afterwards: a console page of this server (never
    an open redirect elsewhere), else the first page."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


@router.get("/console")
@page(SIGNED_IN)
def home(request: Request, viewer: Viewer, db: DbDep) -> HTMLResponse:
    """The console's first page: what this user may open."""
    return render(request, "home.html", viewer=viewer, csrf=_csrf(db, request))


def _csrf(db: DbDep, request: Request) -> str:
    token = sessions.session_token(request, db)
    return sessions.csrf_token(db, token) if token else ""


def _sign_in_form(
    request: Request,
    db: DbDep,
    *,
    next_page: str,
    email: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    presession = sessions.new_presession()
    response = render(
        request,
        "sign_in.html",
        viewer=None,
        status=status,
        next_page=safe_next(next_page),
        email=email,
        error=error,
        max_email=MAX_EMAIL,
        max_password=MAX_PASSWORD,
        csrf=sessions.csrf_token(db, presession),
    )
    sessions.set_presession(request, response, db, presession)
    return response


@router.get("/console/sign-in")
@page(PUBLIC)
def sign_in_page(request: Request, db: DbDep, next_page: Next = "/console") -> Response:
    """The sign-in form; a signed-in user goes straight on."""
    if current_viewer(request, db) is not None:
        return _redirect(safe_next(next_page))
    return _sign_in_form(request, db, next_page=next_page)


@router.post("/console/sign-in")
@page(PUBLIC)
async def sign_in_submit(request: Request, db: DbDep) -> Response:
    """Check the password; on success a new session and back to the page asked for."""
    form = await request.form()
    email = str(form.get("email") or "")[:MAX_EMAIL]
    next_page = safe_next(str(form.get("next") or "/console"))
    presession = sessions.presession_token(request, db)
    _ = texts_for(request)
    if not sessions.csrf_matches(db, presession, form.get(sessions.CSRF_FIELD)):
        return _sign_in_form(
            request,
            db,
            next_page=next_page,
            email=email,
            error=_("This form has expired. Please sign in again."),
            status=403,
        )
    password = form.get("password")
    try:
        signed_in = await _sign_in(db, email, password if isinstance(password, str) else "")
    except SignInRefused as exc:
        return _sign_in_form(
            request, db, next_page=next_page, email=email, error=_refusal(exc, _), status=401
        )
    response = _redirect(next_page)
    sessions.set_session(request, response, db, signed_in.token)
    return response


async def _sign_in(db: Database, email: str, password: str) -> SignedIn:
    # Argon2 and the database block: off the event loop.
    return await run_in_threadpool(sign_in, db, email=email, password=password)


def _refusal(exc: SignInRefused, _: Texts) -> str:
    if not exc.locked:
        return _("Wrong e-mail or password.")
    minutes = FAILURE_WINDOW.seconds // 60
    return _.ngettext(
        "Too many failed sign-ins: this account is locked for %(num)s minute after "
        "%(failures)s failures.",
        "Too many failed sign-ins: this account is locked for %(num)s minutes after "
        "%(failures)s failures.",
        minutes,
        failures=MAX_FAILURES,
    )


@router.post("/console/sign-out")
@page(SIGNED_IN)
def sign_out_submit(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """End this browser's session."""
    token = sessions.session_token(request, db)
    if token is not None:
        sign_out(db, token=token)
    response = _redirect("/console/sign-in")
    sessions.clear_session(response)
    return response
