"""Pages as HTML: one Jinja2 environment per language (autoescaped, its texts from
console.i18n, numbers and times written by console.numbers), CSV downloads, and the
headers every console answer carries."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from omnicart.console.i18n import N_, translations, viewer_locale
from omnicart.console.numbers import Numbers
from omnicart.users.model import AUTO
from omnicart.users.service import UserPrincipal

# Everything the console loads comes from this server; nothing runs inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# The header's language choice: each language by its own name, whatever the page's.
LANGUAGES = ((AUTO, N_("Browser's language")), ("en", "English"), ("pl", "Polski"))


@cache
def environment(locale: str) -> Environment:
    """The templates in one language: its texts, and its way of writing numbers and times."""
    env = Environment(
        loader=PackageLoader("omnicart.console", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    numbers = Numbers(locale)
    env.filters["money"] = numbers.money
    env.filters["number"] = numbers.count
    env.filters["signed"] = numbers.signed
    env.filters["when"] = numbers.when
    env.filters["pair"] = lambda value: (value, value)
    return env


def _language_form(request: Request, viewer: UserPrincipal | None, error: str) -> dict[str, Any]:
    # Back to this page after the change; a refused form's page is a POST: the first page.
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "choices": LANGUAGES,
        "setting": (viewer.locale if viewer else None) or AUTO,
        "next": here if request.method == "GET" else "/console",
        "error": error,
    }


def render(
    request: Request,
    template: str,
    *,
    viewer: UserPrincipal | None,
    status: int = 200,
    language_error: str = "",
    **context: Any,
) -> HTMLResponse:
    """A page in the viewer's language: the template with the viewer, their menu, the
    header's language choice (`language_error`: why a choice was refused) and the page's
    context."""
    from omnicart.console.menu import menu_for

    locale = viewer_locale(request)
    html = (
        environment(locale)
        .get_template(template)
        .render(
            request=request,
            viewer=viewer,
            menu=menu_for(viewer, request.url.path),
            locale=locale,
            language=_language_form(request, viewer, language_error),
            status=status,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A table as a CSV download (UTF-8, comma-separated, one header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if value is None:
        return ""
    # A spreadsheet runs a cell that starts with = + - @ as a formula: never ours.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value
