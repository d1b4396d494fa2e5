"""Customers: retention cohorts and omnichannel against single-channel buyers (analytics,
for admins and analysts), and the search by e-mail, phone or loyalty card that leads to a
Customer 360 (personal data: admins and store staff, as the customers API allows)."""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from omnicart.analytics.clv_data import customer_values
from omnicart.analytics.engine import Engine
from omnicart.api.deps import DbDep
from omnicart.api.params import IdPath
from omnicart.channels.service import list_channels
from omnicart.console.access import CheckedForm, Viewer, may_open, page
from omnicart.console.analytics_data import (
    CustomersPage,
    FilterErrors,
    Filters,
    read_customers,
)
from omnicart.console.analytics_pages import (
    PLOTLY_JS,
    Channel,
    Currency,
    From,
    To,
    channel_codes,
    context,
    raw_filters,
    read_filters,
    refused_page,
)
from omnicart.console.forms import sentence, text, validation_message
from omnicart.console.i18n import N_, Texts, texts_for
from omnicart.console.menu import ANALYTICS, CUSTOMER
from omnicart.console.numbers import Numbers, viewer_locale
from omnicart.console.render import SECURITY_HEADERS, csv_response, render
from omnicart.customers import service
from omnicart.customers.erasure_schemas import CustomerSearchIn
from omnicart.customers.service import CustomerView
from omnicart.db.engine import Database
from omnicart.kernel.errors import Conflict, OmnicartError
from omnicart.kernel.money import Money
from omnicart.users.service import UserPrincipal

router = APIRouter(include_in_schema=False)
CustomersTable = Literal["cohorts", "omnichannel", "clv"]
CustomerTable = Literal["orders", "identities", "timeline"]
# What a person at the counter or on the phone can give; the API takes more kinds.
SEARCH_KINDS = (
    ("email", N_("E-mail")),
    ("phone", N_("Phone")),
    ("loyalty_card", N_("Loyalty card")),
)
HEAT_STEPS = 10  # cohort cells are shaded in ten steps of their repeat rate
CLV_HORIZON_WEEKS: Final = 52  # predicted value over the next twelve months
# Upper bounds (included) of the predicted-value bands, in the reporting currency: after
# the band of customers predicted to bring nothing, round amounts a merchant reads at once.
CLV_EDGES: Final = (Decimal(0), Decimal(10), Decimal(50), Decimal(100), Decimal(500))
SHARE_PLACES: Final = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ClvBand:
    """Customers whose predicted value is over `low` and at most `high` (the first band:
    exactly `high`, nothing; the last: over `low`, no bound)."""

    low: Decimal | None
    high: Decimal | None
    customers: int
    share: Decimal  # of the cohort's customers, 0 to 1
    value: Decimal  # their predicted value, added up


@dataclass(frozen=True, slots=True)
class ClvDistribution:
    """The cohort's predicted values over the horizon, in bands, with median and total."""

    currency: str
    customers: int
    median: Decimal
    total: Decimal
    bands: tuple[ClvBand, ...]


@dataclass(frozen=True, slots=True)
class CustomersWithClv:
    """The customers page's figures; `clv` is the distribution, or why the model could not
    be fitted for the range, when asked for."""

    page: CustomersPage
    clv: ClvDistribution | str | None  # None: not asked for


def clv_bands(values: Sequence[Decimal], currency: str) -> ClvDistribution:
    """Bucket per-customer predicted values (in `currency`) by CLV_EDGES."""
    counts = [0] * (len(CLV_EDGES) + 1)
    sums = [Decimal(0)] * (len(CLV_EDGES) + 1)
    for value in values:
        at = bisect_left(CLV_EDGES, value)  # the first edge >= value: bands include tops
        counts[at] += 1
        sums[at] += value
    whole = len(values)
    bounds = [(None, CLV_EDGES[0]), *zip(CLV_EDGES, (*CLV_EDGES[1:], None), strict=True)]
    bands = tuple(
        ClvBand(
            low=low,
            high=high,
            customers=counts[i],
            share=(Decimal(counts[i]) / whole).quantize(SHARE_PLACES) if whole else Decimal(0),
            value=sums[i],
        )
        for i, (low, high) in enumerate(bounds)
    )
    median = Money.rounded(statistics.median(values), currency).amount if values else Decimal(0)
    return ClvDistribution(currency, whole, median, sum(values, Decimal(0)), bands)


def read_clv(engine: Engine, filters: Filters) -> ClvDistribution | str:
    """The distribution of the customers who first bought in the range (every channel: a
    customer's value is theirs across channels), the range's end the calibration's end; or
    the analytics' reason when the model cannot be fitted to them (too few customers…)."""
    try:
        report = customer_values(
            engine,
            first=filters.first,
            last=filters.last,
            horizon_weeks=CLV_HORIZON_WEEKS,
            currency=filters.currency,
        )
    except OmnicartError as exc:
        # A currency without rates is the filter's error, as for every figure; anything
        # else the model refuses (too few customers, a fit that fails) leaves the rest of
        # the page standing, with the reason where the distribution would be.
        if exc.status >= 500 or exc.field == "currency":
            raise
        return sentence(exc.detail)
    return clv_bands([v.expected_value for v in report.values], report.currency)


def _read_fitted_clv(engine: Engine, filters: Filters) -> ClvDistribution:
    """The distribution, or FilterErrors at `from` when the model cannot be fitted."""
    clv = read_clv(engine, filters)
    if isinstance(clv, str):
        raise FilterErrors({"from": clv}, filters.query(), Conflict.status)
    return clv


def _page_reader(*, with_clv: bool) -> Callable[[Engine, Filters], CustomersWithClv]:
    def read(engine: Engine, filters: Filters) -> CustomersWithClv:
        clv = read_clv(engine, filters) if with_clv else None
        return CustomersWithClv(read_customers(engine, filters), clv)

    return read


def _heat(rate: object) -> int:
    """The shade of a cohort cell: its repeat rate in tenths, 0 to 10 (CSS classes)."""
    if rate is None:
        return 0
    return min(HEAT_STEPS, int(float(str(rate)) * HEAT_STEPS + 0.5))


def _search_context(request: Request, viewer: UserPrincipal) -> dict[str, Any]:
    _ = texts_for(request)
    kinds = [(kind, _(label)) for kind, label in SEARCH_KINDS]
    return {"may_search": may_open(CUSTOMER, viewer), "search_kinds": kinds}


def _cohort_chart(data: CustomersPage, numbers: Numbers) -> dict[str, Any]:
    """The cohorts' repeat rates as a heatmap (the table shows the same numbers)."""
    cohorts = data.cohorts.cohorts
    width = max((len(c.months) for c in cohorts), default=0)
    z = [
        [
            None
            if m >= len(c.months) or c.months[m].repeat_rate is None
            else float(c.months[m].repeat_rate) * 100  # type: ignore[arg-type]
            for m in range(width)
        ]
        for c in cohorts
    ]
    return {
        "id": "chart-cohorts",
        "title": N_("Repeat rate (percent)"),  # translated where shown
        "kind": "heatmap",
        "traces": [
            {
                "x": [str(m) for m in range(width)],
                "y": [c.month.isoformat()[:7] for c in cohorts],
                "z": z,
            }
        ],
        "separators": numbers.separators,
    }


def _band_label(band: ClvBand, currency: str, numbers: Numbers, _: Texts) -> str:
    if band.low is None:
        return numbers.money(band.high, currency)
    if band.high is None:
        return _("over %(low)s", low=numbers.money(band.low, currency))
    return _(
        "over %(low)s, up to %(high)s",
        low=numbers.money(band.low, currency),
        high=numbers.money(band.high, currency),
    )


def _clv_chart(clv: ClvDistribution, labels: list[str], numbers: Numbers) -> dict[str, Any]:
    """Customers per predicted-value band as bars (the table shows the same numbers)."""
    return {
        "id": "chart-clv",
        "title": N_("Customers by predicted value over the next 12 months"),
        "kind": "bar",
        "traces": [{"x": labels, "y": [b.customers for b in clv.bands]}],
        "separators": numbers.separators,
    }


@router.get("/console/customers")
@page(ANALYTICS)
def customers_page(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    channel: Channel = "",
    clv: Annotated[str, Query(max_length=1)] = "",
) -> HTMLResponse:
    """Cohort retention and omnichannel customers for a range; the search for a person;
    with `clv=1`, the customers' predicted value (a model fitted per request: on demand)."""
    raw = raw_filters(first, last, currency, channel)
    asked = clv == "1"
    extra = {
        **_search_context(request, viewer),
        "channels": channel_codes(db),
        "heat": _heat,
        "clv_asked": asked,
    }
    try:
        filters, read = read_filters(request, db, raw, _page_reader(with_clv=asked))
    except FilterErrors as exc:
        return refused_page(
            request, db, viewer, "customers.html", exc, charts=[], clv_chart=None, **extra
        )
    numbers = Numbers(viewer_locale(request))
    data, predicted = read.page, read.clv
    labels, clv_chart = [], None
    if isinstance(predicted, ClvDistribution):
        _ = texts_for(request)
        labels = [_band_label(b, predicted.currency, numbers, _) for b in predicted.bands]
        clv_chart = _clv_chart(predicted, labels, numbers)
    return render(
        request,
        "customers.html",
        **context(request, db, viewer),
        **extra,
        errors={},
        form=filters.query(),
        data=data,
        clv=predicted,
        clv_labels=labels,
        clv_chart=clv_chart,
        charts=[_cohort_chart(data, numbers)] if data.cohorts.cohorts else [],
        query=request.url.query,
        plotly=PLOTLY_JS,
        search={"kind": "email", "value": ""},
        search_errors={},
    )


@router.get("/console/customers/{table}.csv")
@page(ANALYTICS)
def customers_csv(
    *,
    request: Request,
    viewer: Viewer,
    db: DbDep,
    table: CustomersTable,
    first: From = "",
    last: To = "",
    currency: Currency = "",
    channel: Channel = "",
) -> Response:
    """The cohort table (a row per cohort and month since) or the omnichannel groups."""
    raw = raw_filters(first, last, currency, channel)
    extra = {**_search_context(request, viewer), "channels": [], "heat": _heat, "clv_asked": False}
    try:
        if table == "clv":
            filters, clv = read_filters(request, db, raw, _read_fitted_clv)
            return _clv_csv(filters, clv)
        filters, data = read_filters(request, db, raw, read_customers)
    except FilterErrors as exc:
        return refused_page(
            request, db, viewer, "customers.html", exc, charts=[], clv_chart=None, **extra
        )
    name = f"customers-{table}-{filters.first}-{filters.last}-{filters.currency}.csv"
    if table == "cohorts":
        return csv_response(
            name,
            [
                "cohort",
                "channel",
                "cohort_customers",
                "month",
                "active_customers",
                "repeat_customers",
                "repeat_rate",
                "order_net_sales",
                "currency",
            ],
            (
                [
                    c.month,
                    c.channel or "all",
                    c.cohort_customers,
                    m.month,
                    m.active_customers,
                    m.repeat_customers,
                    m.repeat_rate,
                    m.order_net_sales[0].amount if m.order_net_sales else 0,
                    data.cohorts.currency,
                ]
                for c in data.cohorts.cohorts
                for m in c.months
            ),
        )
    return csv_response(
        name,
        [
            "group",
            "group_customers",
            "group_orders",
            "orders_per_customer",
            "mature_customers",
            "order_net_sales",
            "sales_per_customer",
            "sales_12m",
            "value_12m",
            "currency",
        ],
        (
            [
                g.group,
                g.group_customers,
                g.group_orders,
                g.orders_per_customer,
                g.mature_customers,
                m.order_net_sales,
                m.sales_per_customer,
                m.sales_12m,
                m.value_12m,
                m.currency,
            ]
            for g in data.omnichannel.groups
            for m in (g.by_currency or ())
        ),
    )


def _clv_csv(filters: Filters, clv: ClvDistribution) -> Response:
    """The predicted-value bands: a row per band (bounds blank where there is none)."""
    name = f"customers-clv-{filters.first}-{filters.last}-{clv.currency}.csv"
    return csv_response(
        name,
        ["over", "up_to", "customers", "share", "predicted_value_12m", "currency"],
        ([b.low, b.high, b.customers, b.share, b.value, clv.currency] for b in clv.bands),
    )


def _search_page(
    request: Request,
    db: Database,
    viewer: UserPrincipal,
    *,
    search: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "customer_search.html",
        status=status,
        **context(request, db, viewer),
        **_search_context(request, viewer),
        search=search,
        search_errors=errors,
    )


@router.get("/console/customer-search")
@page(CUSTOMER)
def customer_search_page(request: Request, viewer: Viewer, db: DbDep) -> HTMLResponse:
    """The search for a person by e-mail, phone or loyalty card."""
    return _search_page(request, db, viewer, search={"kind": "email", "value": ""}, errors={})


@router.post("/console/customers/search")
@page(CUSTOMER)
def search_customer(request: Request, viewer: Viewer, db: DbDep, form: CheckedForm) -> Response:
    """The person one identifier resolves to, by the API's rules: on to their 360. The
    identifier is posted, so it stays out of URLs and logs, as with POST /v1/customers/search."""
    kind = text(form.get("kind"))
    value = text(form.get("value")).strip()
    shown = {"kind": kind, "value": value}
    _ = texts_for(request)
    if kind not in dict(SEARCH_KINDS):
        return _search_page(
            request,
            db,
            viewer,
            search=shown,
            errors={"kind": _("Choose what to search by.")},
            status=422,
        )
    try:
        CustomerSearchIn.model_validate({kind: value})
        customer_id = service.find_customer(db, kind=kind, value=value)
    except ValidationError as exc:
        message = validation_message(exc.errors()[0], _)
        return _search_page(
            request, db, viewer, search=shown, errors={"value": message}, status=422
        )
    except OmnicartError as exc:
        return _search_page(
            request,
            db,
            viewer,
            search=shown,
            errors={"value": sentence(exc.detail)},
            status=exc.status,
        )
    return RedirectResponse(
        f"/console/customers/{customer_id}", status_code=303, headers=SECURITY_HEADERS
    )


def _events_path(request: Request) -> FilePath:
    # The event store this app writes to, as the customers API finds it.
    ingestor = getattr(request.app.state, "tracking", None)
    if ingestor is not None:
        return FilePath(ingestor.events_path)
    return FilePath(request.app.state.settings.events_path)


def _view(request: Request, db: Database, customer_id: int) -> CustomerView:
    return service.customer_360(db, customer_id=customer_id, events_path=_events_path(request))


@router.get("/console/customers/{customer_id}")
@page(CUSTOMER)
def customer_page(request: Request, viewer: Viewer, db: DbDep, customer_id: IdPath) -> HTMLResponse:
    """Customer 360: identities, orders of every channel, loyalty, consents, timeline."""
    view = _view(request, db, customer_id)
    with db.reading() as session:
        codes = {c.id: c.code for c in list_channels(session, limit=200)}
    return render(
        request,
        "customer.html",
        **context(request, db, viewer),
        person=view,
        channel_codes=codes,
    )


@router.get("/console/customers/{customer_id}/{table}.csv")
@page(CUSTOMER)
def customer_csv(
    request: Request,
    viewer: Viewer,
    db: DbDep,
    customer_id: IdPath,
    table: Annotated[CustomerTable, Path()],
) -> Response:
    """One of the 360's tables as CSV."""
    view = _view(request, db, customer_id)
    name = f"customer-{view.id}-{table}.csv"
    if table == "orders":
        return csv_response(
            name,
            ["order", "channel", "external_id", "status", "total", "currency", "placed"],
            (
                [o.id, o.channel_code, o.external_id, o.status, o.total, o.currency, o.created_at]
                for o in view.orders
            ),
        )
    if table == "identities":
        return csv_response(
            name,
            ["kind", "value", "channel_id", "source", "first_seen", "last_seen"],
            (
                [i.kind, i.value, i.channel_id, i.source, i.first_seen, i.last_seen]
                for i in view.identities
            ),
        )
    return csv_response(
        name,
        ["at", "kind", "name", "channel_id", "ref"],
        ([t.at, t.kind, t.name, t.channel_id, t.ref] for t in view.timeline or ()),
    )
