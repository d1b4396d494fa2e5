"""The analytics Overview (every channel's figures, charts of them over time), the figures'
definitions, the charts' script, and the Overview's tables as CSV.

Figures come from `channel_series`: the range's exactly as GET /v1/analytics/channels
computes them (`channel_figures`), and each week, month or year's, from one read of the
model; the table is the data and works without JavaScript; the charts (Plotly's own script,
from the `plotly` package, served here) draw the series from a JSON block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from omnicart.analytics.channels import Figure
from omnicart.analytics.definitions import BY_NAME, DEFINITIONS
from omnicart.analytics.engine import Engine
from omnicart.analytics.reading import open_analytics
from omnicart.api.deps import DbDep
from omnicart.auth.access import PUBLIC
from omnicart.channels.service import list_channels
from omnicart.console import sessions
from omnicart.console.access import Viewer, page
from omnicart.console.analytics_data import (
    OVERVIEW_FIGURES,
    FilterErrors,
    Filters,
    Slice,
    parse_filters,
    read_overview,
    refused,
)
from omnicart.console.menu import ANALYTICS
from omnicart.console.numbers import Numbers, viewer_locale
from omnicart.console.plotly_assets import PLOTLY_JS as PLOTLY_FILE
from omnicart.console.plotly_assets import plotly_css, style_ids
from omnicart.console.render import SECURITY_HEADERS, csv_response, render
from omnicart.db.engine import Database
from omnicart.kernel.clock import utcnow
from omnicart.kernel.errors import OmnicartError
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
PLOTLY_JS = "/console/plotly.min.js"
PLOTLY_CSS = "/console/plotly.css"
CACHED = {"Cache-Control": "public, max-age=86400"}
MAX_CHANNELS = 500
OverviewTable = Literal["channels", "series"]
From = Annotated[str, Query(alias="from", max_length=10)]
To = Annotated[str, Query(alias="to", max_length=10)]
Currency = Annotated[str, Query(max_length=3)]
Channel = Annotated[str, Query(max_length=64)]
# Who reads a figure's name wants words; the definitions page gives the exact rule.
LABELS = {
    "orders": "Orders",
    "net_sales": "Net sales",
    "total_cost": "Costs",
    "net_profit": "Net profit",
    "roi": "ROI",
    "roas": "ROAS",
    "aov": "AOV",
    "conversion_rate": "Conversion rate",
    "return_rate": "Return rate",
    "ad_spend": "Ad spend",
}


@contextmanager
def analytics_model(request: Request, db: Database) -> Iterator[Engine]:
    """The refreshed model, opened as the analytics API opens it."""
    with open_analytics(db=db, settings=request.app.state.settings) as engine:
        yield engine


def channel_codes(db: Database) -> list[str]:
    """Every channel's code, for the filters' choice."""
    with db.reading() as session:
        return sorted(c.code for c in list_channels(session, limit=MAX_CHANNELS))


def read_filters(
    request: Request, db: Database, raw: dict[str, str], read: Callable[[Engine, Filters], T]
) -> tuple[Filters, T]:
    """The page's filters and what `read` finds for them; FilterErrors for filters the
    model cannot answer, at their field."""
    filters = parse_filters(raw, today=utcnow().date(), channels=channel_codes(db))
    try:
        with analytics_model(request, db) as engine:
            return filters, read(engine, filters)
    except OmnicartError as exc:
        if exc.status >= 500:
            raise
        raise refused(exc, raw) from None


def context(request: Request, db: Database, viewer: UserPrincipal) -> dict[str, Any]:
    """What every analytics page's template uses: the CSRF token (sign-out), the locale's
    number formats, the figures' labels."""
    token = sessions.session_token(request, db)
    return {
        "csrf": sessions.csrf_token(db, token) if token else "",
        "n": Numbers(viewer_locale(request)),
        "labels": LABELS,
        "definitions": BY_NAME,
        "viewer": viewer,
        "plotly_ids": style_ids(),
    }


def refused_page(
    request: Request,
    db: Database,
    viewer: UserPrincipal,
    template: str,
    exc: FilterErrors,
    **extra: Any,
) -> HTMLResponse:
    """The page with its form as typed and each error at its field; no figures."""
    return render(
        request,
        template,
        status=exc.status,
        **context(request, db, viewer),
        errors=exc.errors,
        form=exc.shown,
        data=None,
        query="",
        **extra,
    )


def chart(
    chart_id: str,
    title: str,
    series: list[Slice],
    lines: list[tuple[str, str, str]],
    numbers: Numbers,
) -> dict[str, Any]:
    """A line per (name, channel, figure) over the series' slices, in the reporting
    currency: what static/charts.js draws."""
    labels = [s.label for s in series]
    traces = []
    for name, code, figure in lines:
        values = []
        for piece in series:
            found = next((c for c in piece.report.channels if c.code == code), None)
            value = found.value(figure, reporting=True) if found else None
            values.append(None if value is None else float(value))
        traces.append({"name": name, "x": labels, "y": values})
    return {"id": chart_id, "title": title, "traces": traces, "separators": numbers.separators}


def raw_filters(first: str, last: str, currency: str, channel: str) -> dict[str, str]:
    """The analytics pages' filters as the query string gave them (checked by
    `analytics_data.parse_filters`)."""
    return {"from": first, "to": last, "currency": currency, "channel": channel}


def _pick(figures: tuple[Figure, ...], names: tuple[str, ...]) -> list[Figure]:
    by_name = {f.name: f for f in figures}
    return [by_name[name] for name in names]


@router.get("/console/analytics")
@page(ANALYTICS)
def overview_page(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    channel: Channel = "",
) -> HTMLResponse:
    """Every channel's figures for a range, in a reporting currency, with charts."""
    raw = raw_filters(first, last, currency, channel)
    try:
        filters, data = read_filters(request, db, raw, read_overview)
    except FilterErrors as exc:
        return refused_page(
            request, db, viewer, "overview.html", exc, channels=channel_codes(db), charts=[]
        )
    numbers = Numbers(viewer_locale(request))
    shown = [c.code for c in data.shown(filters.channel)]
    charts = [
        chart(
            "chart-sales", "Net sales", data.series, [(c, c, "net_sales") for c in shown], numbers
        ),
        chart(
            "chart-profit",
            "Net profit",
            data.series,
            [(c, c, "net_profit") for c in shown],
            numbers,
        ),
    ]
    return render(
        request,
        "overview.html",
        **context(request, db, viewer),
        errors={},
        form=filters.query(),
        data=data,
        rows=[(c, _pick(c.reporting, OVERVIEW_FIGURES)) for c in data.shown(filters.channel)],
        total=None if filters.channel else _pick(data.report.total, OVERVIEW_FIGURES),
        columns=OVERVIEW_FIGURES,
        channels=channel_codes(db),
        charts=charts,
        query=request.url.query,
        plotly=PLOTLY_JS,
    )


def _cell(figure: Figure) -> object:
    return "" if figure.value is None else figure.value


def series_rows(
    series: list[Slice], shown: list[str], names: tuple[str, ...]
) -> Iterator[list[object]]:
    """The charts' data: a row per slice and channel, figures in the reporting currency."""
    for piece in series:
        for channel in piece.report.channels:
            if channel.code in shown:
                yield [
                    piece.first,
                    piece.last,
                    channel.code,
                    piece.report.currency,
                    *(_cell(f) for f in _pick(channel.reporting, names)),
                ]


@router.get("/console/analytics/{table}.csv")
@page(ANALYTICS)
def overview_csv(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    table: OverviewTable,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    channel: Channel = "",
) -> Response:
    """The Overview's table (a row per channel and the total) or its series, as CSV."""
    raw = raw_filters(first, last, currency, channel)
    try:
        filters, data = read_filters(request, db, raw, read_overview)
    except FilterErrors as exc:
        return refused_page(request, db, viewer, "overview.html", exc, channels=[], charts=[])
    shown = [c.code for c in data.shown(filters.channel)]
    name = f"analytics-{table}-{filters.first}-{filters.last}-{filters.currency}.csv"
    if table == "series":
        header = ["from", "to", "channel", "currency", "net_sales", "net_profit", "ad_spend"]
        return csv_response(
            name, header, series_rows(data.series, shown, ("net_sales", "net_profit", "ad_spend"))
        )
    rows: list[list[object]] = [
        [c.code, data.report.currency, *(_cell(f) for f in _pick(c.reporting, OVERVIEW_FIGURES))]
        for c in data.shown(filters.channel)
    ]
    if filters.channel is None:
        total = _pick(data.report.total, OVERVIEW_FIGURES)
        rows.append(["total", data.report.currency, *(_cell(f) for f in total)])
    return csv_response(name, ["channel", "currency", *OVERVIEW_FIGURES], rows)


@router.get("/console/definitions")
@page(ANALYTICS)
def definitions_page(request: Request, viewer: Viewer, db: DbDep) -> HTMLResponse:
    """What every figure means, each at its own anchor (the Overview's headers link here)."""
    return render(
        request, "definitions.html", **context(request, db, viewer), all_definitions=DEFINITIONS
    )


@router.get("/console/definitions.csv")
@page(ANALYTICS)
def definitions_csv(request: Request, viewer: Viewer, db: DbDep) -> Response:
    """The definitions as CSV."""
    return csv_response(
        "definitions.csv",
        ["figure", "unit", "definition"],
        ([d.name, d.unit, d.text] for d in DEFINITIONS),
    )


@router.get(PLOTLY_JS)
@page(PUBLIC)
def plotly_js() -> FileResponse:
    """Plotly's JavaScript as the `plotly` package ships it: no CDN, one origin."""
    return FileResponse(
        PLOTLY_FILE, media_type="text/javascript", headers={**SECURITY_HEADERS, **CACHED}
    )


@router.get(PLOTLY_CSS)
@page(PUBLIC)
def plotly_stylesheet() -> Response:
    """plotly.js's own style rules, so that it injects no inline style (plotly_assets)."""
    return Response(plotly_css(), media_type="text/css", headers={**SECURITY_HEADERS, **CACHED})
