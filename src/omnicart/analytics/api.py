"""HTTP route for what every channel earns: parse, refresh and read the model, serialise.

Admins and analysts (scope analytics:read) may call it. A range is whole UTC days, `from`
and `to` both included, ten years at most.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from omnicart.analytics.channels import channel_figures
from omnicart.analytics.period import Period
from omnicart.analytics.reading import open_analytics
from omnicart.analytics.schemas import ChannelReportOut
from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.auth.access import access
from omnicart.kernel.money import validate_currency

router = APIRouter(tags=["analytics"])
READ = access("analytics:read", "analyst")


@router.get("/analytics/channels")
@guard(READ)
def get_channel_figures(
    request: Request,
    *,
    first: Annotated[date, Query(alias="from", description="First day (UTC), included.")],
    last: Annotated[date, Query(alias="to", description="Last day (UTC), included.")],
    db: DbDep,
    principal: Caller,
    currency: Annotated[
        str,
        Query(
            min_length=3,
            max_length=3,
            description="The reporting currency (ISO 4217; ECB reference rates convert).",
        ),
    ] = "EUR",
) -> ChannelReportOut:
    """Orders, sales, costs, profit, ROI, ROAS, CPA, MER, AOV, conversion and returns of
    every channel, in its own currency and in `currency`, with the all-channel total.

    Each figure names its definition (see the README's definitions table). `409` when a
    channel's currency has no ECB rate on or before a day that needs one.
    """
    period = Period.of(first, last)
    code = validate_currency(currency, field="currency")
    with open_analytics(db=db, settings=request.app.state.settings) as engine:
        report = channel_figures(engine, first=period.first, last=period.last, currency=code)
    return ChannelReportOut.of(report)
