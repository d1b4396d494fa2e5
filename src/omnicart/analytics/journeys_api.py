"""HTTP routes for cohorts, omnichannel customers, funnels and attribution.

Each route refreshes the analytic model (`warehouse.open_model`) and reads it; admins and
analysts (scope analytics:read) may call them. Ranges are whole UTC days, both included.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from omnicart.analytics.cohorts import cohort_table
from omnicart.analytics.engine import Engine
from omnicart.analytics.funnels import MAX_STEPS, funnel, parse_window
from omnicart.analytics.journeys import MAX_LOOKBACK_DAYS, attribution_report, report_period
from omnicart.analytics.journeys_schemas import (
    AttributionOut,
    CohortTableOut,
    FunnelOut,
    OmnichannelOut,
)
from omnicart.analytics.omnichannel import omnichannel_report
from omnicart.analytics.reading import open_analytics
from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.auth.access import access
from omnicart.db.engine import Database

router = APIRouter(tags=["analytics"])
READ = access("analytics:read", "analyst")

From = Annotated[date, Query(alias="from", description="First day (UTC), included.")]
To = Annotated[date, Query(alias="to", description="Last day (UTC), included.")]
Currency = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=3,
        description="Report money in this currency (ECB rates); left out: each in its own.",
    ),
]


def _model(request: Request, db: Database) -> AbstractContextManager[Engine]:
    """The refreshed model on the configured engine (OMNICART_ANALYTICS_ENGINE)."""
    return open_analytics(db=db, settings=request.app.state.settings)


@router.get("/analytics/cohorts")
@guard(READ)
def get_cohorts(
    *,
    request: Request,
    first: From,
    last: To,
    db: DbDep,
    principal: Caller,
    currency: Currency = None,
) -> CohortTableOut:
    """Retention cohorts by the month and channel of customers' first orders."""
    period = report_period(first, last)
    with _model(request, db) as engine:
        return CohortTableOut.of(cohort_table(engine, period=period, currency=currency))


@router.get("/analytics/customers/omnichannel")
@guard(READ)
def get_omnichannel(
    *,
    request: Request,
    first: From,
    last: To,
    db: DbDep,
    principal: Caller,
    currency: Currency = None,
) -> OmnichannelOut:
    """Customers who bought on 2+ channels against those who bought on one."""
    period = report_period(first, last)
    with _model(request, db) as engine:
        return OmnichannelOut.of(omnichannel_report(engine, period=period, currency=currency))


@router.get("/analytics/funnels")
@guard(READ)
def get_funnel(
    *,
    request: Request,
    first: From,
    last: To,
    steps: Annotated[
        list[str],
        Query(
            min_length=2,
            max_length=MAX_STEPS,
            description="Event names in order; repeat the parameter for each step.",
        ),
    ],
    db: DbDep,
    principal: Caller,
    window: Annotated[
        str, Query(max_length=12, description="Conversion window from entering: 30m, 12h, 7d.")
    ] = "7d",
    segment: Annotated[
        Literal["source", "customer"] | None,
        Query(description="Split by first UTM source, or new against returning customers."),
    ] = None,
) -> FunnelOut:
    """How many go through the steps in order within the window, per entry channel."""
    period = report_period(first, last)
    span = parse_window(window)
    with _model(request, db) as engine:
        report = funnel(engine, period=period, steps=steps, window=span, segment=segment)
    return FunnelOut.of(report)


@router.get("/analytics/attribution")
@guard(READ)
def get_attribution(
    *,
    request: Request,
    first: From,
    last: To,
    db: DbDep,
    principal: Caller,
    lookback_days: Annotated[
        int, Query(ge=1, le=MAX_LOOKBACK_DAYS, description="Touches this long before count.")
    ] = 30,
    half_life_days: Annotated[
        Decimal,
        Query(gt=0, le=MAX_LOOKBACK_DAYS, max_digits=12, description="Time decay's half-life."),
    ] = Decimal(7),
    currency: Currency = None,
) -> AttributionOut:
    """Conversions and sales per touch channel under every attribution model, with ROAS."""
    period = report_period(first, last)
    with _model(request, db) as engine:
        report = attribution_report(
            engine,
            period=period,
            lookback_days=lookback_days,
            half_life_days=half_life_days,
            currency=currency,
        )
    return AttributionOut.of(report)
