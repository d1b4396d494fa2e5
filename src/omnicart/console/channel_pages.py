"""One channel's analytics page: all its figures (spend against revenue among them), spend
against net sales over time, its top products, why its sales came back, its funnel with
the drop-off at each step and every attribution model's credit side by side; each table
as CSV.

Every number is what `channel_series`, `top_products`, `return_reasons`, `funnel` and
`attribution_report` return for the page's filters: the console computes none. Product
names are the catalog's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from omnicart.api.deps import DbDep
from omnicart.console.access import PageRefused, Viewer, page
from omnicart.console.analytics_data import (
    DEFAULT_STEPS,
    DEFAULT_WINDOW,
    ChannelPage,
    FilterErrors,
    product_names,
    read_channel,
)
from omnicart.console.analytics_pages import (
    PLOTLY_JS,
    Currency,
    From,
    To,
    chart,
    context,
    raw_filters,
    read_filters,
    refused_page,
    series_rows,
)
from omnicart.console.menu import ANALYTICS
from omnicart.console.numbers import Numbers, viewer_locale
from omnicart.console.render import csv_response, render
from omnicart.db.engine import Database
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
ChannelTable = Literal["figures", "funnel", "attribution", "series", "products", "reasons"]
Code = Annotated[str, Path(max_length=64)]
Steps = Annotated[str, Query(max_length=2000)]
Window = Annotated[str, Query(max_length=12)]
STEP_MARK = ">"  # the steps field: event names in order, "Product Added > Order Completed"


def _steps(text: str) -> tuple[str, ...]:
    if not text.strip():
        return DEFAULT_STEPS
    return tuple(part.strip() for part in text.split(STEP_MARK))


def _read(
    request: Request, db: Database, raw: dict[str, str], code: str
) -> tuple[dict[str, str], ChannelPage]:
    steps, window = _steps(raw["steps"]), raw["window"] or DEFAULT_WINDOW
    filters, found = read_filters(
        request,
        db,
        raw,
        lambda engine, f: read_channel(engine, f, code=code, steps=steps, window=window),
    )
    if found is None:
        raise PageRefused(404, f"There is no channel {code}.")
    form = {**filters.query(), "steps": f" {STEP_MARK} ".join(steps), "window": window}
    return form, found


def _raw(first: str, last: str, currency: str, steps: str, window: str) -> dict[str, str]:
    return {**raw_filters(first, last, currency, ""), "steps": steps, "window": window}


def _refused(
    request: Request, db: Database, viewer: UserPrincipal, code: str, exc: FilterErrors
) -> HTMLResponse:
    return refused_page(request, db, viewer, "channel.html", exc, code=code, charts=[])


@router.get("/console/channels/{code}")
@page(ANALYTICS)
def channel_page(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    code: Code,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    steps: Steps = "",
    window: Window = "",
) -> HTMLResponse:
    """A channel's figures, funnel, attribution and spend against sales."""
    raw = _raw(first, last, currency, steps, window)
    try:
        form, data = _read(request, db, raw, code)
    except FilterErrors as exc:
        return _refused(request, db, viewer, code, exc)
    numbers = Numbers(viewer_locale(request))
    lines = [("Ad spend", code, "ad_spend"), ("Net sales", code, "net_sales")]
    return render(
        request,
        "channel.html",
        **context(request, db, viewer),
        errors={},
        form=form,
        code=code,
        data=data,
        names=product_names(db, (p.sku for p in data.products.products)),
        charts=[chart("chart-spend", "Ad spend and net sales", data.series, lines, numbers)],
        query=request.url.query,
        plotly=PLOTLY_JS,
    )


@router.get("/console/channels/{code}/{table}.csv")
@page(ANALYTICS)
def channel_csv(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    code: Code,
    table: ChannelTable,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    steps: Steps = "",
    window: Window = "",
) -> Response:
    """One of the channel page's tables as CSV, with the page's filters."""
    raw = _raw(first, last, currency, steps, window)
    try:
        form, data = _read(request, db, raw, code)
    except FilterErrors as exc:
        return _refused(request, db, viewer, code, exc)
    name = f"channel-{code}-{table}-{form['from']}-{form['to']}.csv"
    if table == "figures":
        own = {f.name: f for f in data.figures.figures}
        return csv_response(
            name,
            ["figure", "unit", "value", "currency", "own_currency_value", "own_currency"],
            (
                [f.name, f.unit, f.value, f.currency, own[f.name].value, own[f.name].currency]
                for f in data.figures.reporting
            ),
        )
    if table == "products":
        names = product_names(db, (p.sku for p in data.products.products))
        header = ["sku", "name", "product_units", "product_returned_units",
                  "product_net_sales", "currency", "product_share"]  # fmt: skip
        return csv_response(
            name,
            header,
            (
                [
                    p.sku,
                    names.get(p.sku, ""),
                    p.product_units,
                    p.product_returned_units,
                    p.product_net_sales,
                    data.products.currency,
                    p.product_share,
                ]
                for p in data.products.products
            ),
        )
    if table == "reasons":
        return csv_response(
            name,
            ["reason", "reason_returns", "reason_units", "reason_share"],
            (
                [r.reason, r.reason_returns, r.reason_units, r.reason_share]
                for r in data.reasons.reasons
            ),
        )
    if table == "funnel":
        steps_of = data.funnel_row.steps if data.funnel_row else ()
        return csv_response(
            name,
            ["step", "funnel_subjects", "drop_off", "step_conversion", "funnel_conversion"],
            (
                [s.step, s.funnel_subjects, s.drop_off, s.step_conversion, s.funnel_conversion]
                for s in steps_of
            ),
        )
    if table == "attribution":
        header = [
            "touch_channel",
            "model",
            "attributed_conversions",
            "attributed_sales",
            "attributed_roas",
            "currency",
        ]
        return csv_response(
            name,
            header,
            (
                [
                    t.channel,
                    c.model,
                    c.attributed_conversions,
                    s.attributed_sales,
                    s.attributed_roas,
                    s.currency,
                ]
                for t in data.attribution.channels
                for c in t.credits
                for s in c.by_currency
            ),
        )
    header = ["from", "to", "channel", "currency", "ad_spend", "net_sales"]
    return csv_response(name, header, series_rows(data.series, [code], ("ad_spend", "net_sales")))
