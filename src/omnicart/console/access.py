"""Who may open a console page: declared per page, checked by the API's own rules.

A page is declared with `@page(access(...))` under its `@router.<method>(...)`: the same
`Access` as an API route (auth.access), stored where `verify_routes` looks, so
`create_app` refuses to build with a page that declares nothing. The viewer is the
signed-in staff user, seen by `check_caller` and `check_target` exactly as an API key of
the same role, scopes and store. How a refusal reads:

- nobody signed in (no cookie, a tampered or expired one, a disabled user): 303 to the
  sign-in page, which comes back here afterwards;
- a role that may not open the page, or a store that is not the viewer's: 403;
- an object named by id that is not at the viewer's store: 404, as in the API;
- a form without this browser's CSRF token: 403, and nothing changes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from omnicart.api.access import ACCESS_ATTR, declared_access
from omnicart.api.deps import DbDep
from omnicart.auth.access import Access, check_caller, check_target
from omnicart.console import sessions
from omnicart.console.i18n import remember_viewer, texts_for
from omnicart.db.engine import Database
from omnicart.kernel.errors import Forbidden, NotFound
from omnicart.users.service import UserPrincipal, session_principal

F = TypeVar("F", bound=Callable[..., Any])
SIGN_IN_PATH = "/console/sign-in"


class SignInRequired(Exception):
    """Nobody is signed in: the browser is sent to the sign-in page."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class PageRefused(Exception):
    """The viewer may not see or do this: an HTML page with the status and the reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def sign_in_url(back_to: str) -> str:
    """The sign-in page, returning to `back_to` afterwards."""
    return f"{SIGN_IN_PATH}?{urlencode({'next': back_to})}"


def _page_access(request: Request) -> Access:
    route = request.scope.get("route")
    rule = declared_access(route.endpoint) if isinstance(route, APIRoute) else None
    if rule is None:  # verify_routes makes this unreachable in a built app
        raise RuntimeError(f"page {request.url.path} declares no access")
    return rule


def current_viewer(request: Request, db: Database) -> UserPrincipal | None:
    """The signed-in user of this request, or None; the request speaks their language."""
    token = sessions.session_token(request, db)
    viewer = None if token is None else session_principal(db, token=token)
    remember_viewer(request, viewer)
    return viewer


def authorize_viewer(request: Request, db: DbDep) -> UserPrincipal:
    """The signed-in viewer, allowed by the page's declaration to open it."""
    viewer = current_viewer(request, db)
    if viewer is None:
        # A form posted by a signed-out browser cannot be replayed; its page can.
        back_to = "/console"
        if request.method == "GET":
            query = request.url.query
            back_to = f"{request.url.path}?{query}" if query else request.url.path
        raise SignInRequired(back_to)
    try:
        check_caller(_page_access(request), viewer)
    except Forbidden as exc:
        raise PageRefused(403, exc.detail) from None
    return viewer


Viewer = Annotated[UserPrincipal, Depends(authorize_viewer)]


async def checked_form(request: Request, viewer: Viewer, db: DbDep) -> FormData:
    """The posted form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    if not sessions.csrf_matches(
        db, sessions.session_token(request, db), form.get(sessions.CSRF_FIELD)
    ):
        _ = texts_for(request)
        raise PageRefused(
            403,
            _("This form was not sent from your console session. Reload the page and try again."),
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def check_form_target(request: Request, viewer: UserPrincipal, db: Database, body: object) -> None:
    """Is the store a form names the viewer's? By the page's own declaration (403 if not)."""
    _check(_page_access(request), viewer, {"body": body}, db)


def _check(rule: Access, viewer: UserPrincipal, arguments: dict[str, Any], db: Database) -> None:
    try:
        check_target(rule, viewer, arguments, db.reading)
    except Forbidden as exc:
        raise PageRefused(403, exc.detail) from None
    except NotFound as exc:
        raise PageRefused(404, exc.detail) from None


def page(rule: Access) -> Callable[[F], F]:
    """Declare who may open the page below; checks the store it names when it is opened.

    A page takes its viewer as `viewer: Viewer` and the database as `db`. A store named in
    the query string or the path is checked here; one named in a posted form is checked
    by the page once the form is parsed (`check_form_target`), by this same declaration.
    """

    def decorate(endpoint: F) -> F:
        if not rule.uses_api_key:
            setattr(endpoint, ACCESS_ATTR, rule)
            return endpoint
        parameters = inspect.signature(endpoint).parameters
        if "viewer" not in parameters or "db" not in parameters:
            raise TypeError(f"{endpoint.__name__}: a console page takes `viewer` and `db`")
        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: stores are checked for sync pages only")

        @functools.wraps(endpoint)
        def checked(*args: Any, **kwargs: Any) -> Any:
            _check(rule, kwargs["viewer"], kwargs, kwargs["db"])
            return endpoint(*args, **kwargs)

        setattr(checked, ACCESS_ATTR, rule)
        return checked  # type: ignore[return-value]

    return decorate


def may_open(rule: Access, viewer: UserPrincipal | None) -> bool:
    """Whether the viewer's role may open a page with this declaration (for the menu)."""
    if viewer is None:
        return False
    try:
        check_caller(rule, viewer)
    except Forbidden:
        return False
    return True
