"""The header's language form: the console's language for the signed-in user, kept as
their own setting (users), so every browser they sign in with follows it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from omnicart.api.deps import DbDep
from omnicart.console import sessions
from omnicart.console.access import CheckedForm, Viewer, page
from omnicart.console.auth_pages import safe_next
from omnicart.console.forms import text
from omnicart.console.i18n import texts_for
from omnicart.console.menu import SIGNED_IN
from omnicart.console.render import SECURITY_HEADERS, render
from omnicart.kernel.errors import ValidationFailed
from omnicart.users.service import set_locale

router = APIRouter(include_in_schema=False)


@router.post("/console/language")
@page(SIGNED_IN)
def choose_language(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """Speak English or Polish to this user, or their browser's language (auto); back to
    the page the form was on. Any other choice: the first page, the error at the field,
    the setting as it was."""
    try:
        with db.transaction() as session:
            set_locale(session, email=viewer.name, locale=text(form.get("locale")))
    except ValidationFailed:
        _ = texts_for(request)
        return render(
            request,
            "home.html",
            viewer=viewer,
            status=422,
            csrf=sessions.csrf_token(db, sessions.session_token(request, db) or ""),
            language_error=_("Choose one of the languages listed."),
        )
    return RedirectResponse(
        safe_next(text(form.get("next"))), status_code=303, headers=SECURITY_HEADERS
    )
