"""Pages as HTML: one Jinja2 environment (autoescaped, gettext-marked), CSV downloads,
and the headers every console answer carries."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from omnicart.users.service import UserPrincipal

LOCALE = "en"  # English for now; texts are marked for Babel's catalogs (babel.cfg).
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


def _money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency, locale=LOCALE))


def _number(value: int | Decimal) -> str:
    return str(format_decimal(value, locale=LOCALE))


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("omnicart.console", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # English texts are their own messages; Babel catalogs can be installed here later.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = _money
    env.filters["number"] = _number
    env.filters["when"] = _when
    env.filters["pair"] = lambda value: (value, value)
    return env


_env = _environment()


def render(
    request: Request,
    template: str,
    *,
    viewer: UserPrincipal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page: the template with the viewer, their menu and the page's context."""
    from omnicart.console.menu import menu_for

    html = _env.get_template(template).render(
        request=request,
        viewer=viewer,
        menu=menu_for(viewer, request.url.path),
        locale=LOCALE,
        status=status,
        **context,
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
