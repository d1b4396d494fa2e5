"""HTTP route for predictive customer lifetime value: `GET /v1/analytics/clv`.

Parse, refresh and read the analytic model, fit BG/NBD and Gamma-Gamma (`clv_data.py`),
serialise. Admins and analysts (scope analytics:read) may call it. The calibration range
is whole UTC days, `from` and `to` both included; the holdout runs from the day after `to`
to `holdout_to`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field

from omnicart.analytics.clv import BgNbd, GammaGamma, HoldoutGroup
from omnicart.analytics.clv_data import (
    CLV_DEFINITIONS,
    MAX_HORIZON_WEEKS,
    ClvReport,
    CustomerValue,
    Holdout,
    customer_values,
)
from omnicart.analytics.journeys import report_period, reporting_currency
from omnicart.analytics.journeys_schemas import DefinitionOut
from omnicart.analytics.reading import open_analytics
from omnicart.api.access import Caller, guard
from omnicart.api.deps import DbDep
from omnicart.api.outputs import MoneyAmount, OutputModel
from omnicart.auth.access import access

router = APIRouter(tags=["analytics"])
READ = access("analytics:read", "analyst")
MAX_LIMIT = 1_000


class BgNbdOut(OutputModel):
    """BG/NBD's maximum-likelihood estimates: purchase rates Gamma(r, alpha) per week,
    dropout probability after each purchase Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    @classmethod
    def of(cls, model: BgNbd) -> BgNbdOut:
        """The body of a fitted model."""
        return cls(
            r=model.r, alpha=model.alpha, a=model.a, b=model.b, log_likelihood=model.log_likelihood
        )


class GammaGammaOut(OutputModel):
    """Gamma-Gamma's maximum-likelihood estimates, fitted to the repeat customers."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int = Field(description="Repeat customers the spend model was fitted to.")

    @classmethod
    def of(cls, model: GammaGamma, customers: int) -> GammaGammaOut:
        """The body of a fitted model."""
        return cls(
            p=model.p,
            q=model.q,
            gamma=model.gamma,
            log_likelihood=model.log_likelihood,
            customers=customers,
        )


class CustomerValueOut(OutputModel):
    """One customer's calibration summary and predictions (money in the body's currency)."""

    customer_key: str = Field(
        examples=["c42"], description="c<customer id>, or u<user id> before resolution."
    )
    clv_frequency: int = Field(description="x: repeat transactions in the calibration range.")
    recency_weeks: Decimal = Field(description="t_x: weeks from the first to the last of them.")
    age_weeks: Decimal = Field(description="T: weeks from the first to the range's end.")
    average_spend: MoneyAmount | None = Field(
        description="m: average value of the repeat transactions; null without any."
    )
    clv_p_alive: Decimal
    clv_expected_purchases: Decimal
    clv_expected_spend: MoneyAmount
    clv_expected_value: MoneyAmount
    holdout_purchases: int | None = Field(description="Transactions made in the holdout.")
    holdout_predicted: Decimal | None = Field(description="Transactions predicted for it.")

    @classmethod
    def of(cls, value: CustomerValue) -> CustomerValueOut:
        """The body of one customer's value."""
        return cls(
            customer_key=value.customer_key,
            clv_frequency=value.frequency,
            recency_weeks=value.recency_weeks,
            age_weeks=value.age_weeks,
            average_spend=value.average_spend,
            clv_p_alive=value.p_alive,
            clv_expected_purchases=value.expected_purchases,
            clv_expected_spend=value.expected_spend,
            clv_expected_value=value.expected_value,
            holdout_purchases=value.holdout_purchases,
            holdout_predicted=value.holdout_predicted,
        )


class HoldoutGroupOut(OutputModel):
    """Customers of one calibration frequency: mean transactions made and predicted."""

    frequency: str = Field(examples=["0", "7+"])
    customers: int
    actual: Decimal
    predicted: Decimal

    @classmethod
    def of(cls, group: HoldoutGroup) -> HoldoutGroupOut:
        """The body of one group."""
        return cls(
            frequency=group.frequency,
            customers=group.customers,
            actual=round(Decimal(repr(group.actual)), 4),
            predicted=round(Decimal(repr(group.predicted)), 4),
        )


class HoldoutOut(OutputModel):
    """The calibration/holdout check: transactions predicted for the holdout and made."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    first: date = Field(serialization_alias="from", description="First day (UTC), included.")
    last: date = Field(serialization_alias="to", description="Last day (UTC), included.")
    weeks: Decimal
    actual: int = Field(description="The cohort's transactions in the holdout.")
    predicted: Decimal = Field(description="BG/NBD's expectation of them.")
    groups: list[HoldoutGroupOut]

    @classmethod
    def of(cls, holdout: Holdout) -> HoldoutOut:
        """The body of a holdout check."""
        return cls(
            first=holdout.first,
            last=holdout.last,
            weeks=holdout.weeks,
            actual=holdout.actual,
            predicted=holdout.predicted,
            groups=[HoldoutGroupOut.of(g) for g in holdout.groups],
        )


class ClvOut(OutputModel):
    """Fitted models and the cohort's most valuable customers."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    first: date = Field(serialization_alias="from", description="First day (UTC), included.")
    last: date = Field(serialization_alias="to", description="Last day (UTC), included.")
    currency: str = Field(description="The currency of every amount in the body.")
    horizon_weeks: int
    discount_rate: Decimal = Field(description="Yearly discount rate (0.1 = 10 %).")
    customers: int = Field(description="Customers whose first purchase is in the range.")
    repeat_customers: int = Field(description="Those who bought again within it.")
    bgnbd: BgNbdOut
    gamma_gamma: GammaGammaOut
    holdout: HoldoutOut | None
    definitions: list[DefinitionOut]
    values: list[CustomerValueOut] = Field(
        description="Customers by clv_expected_value, highest first, at most `limit`."
    )

    @classmethod
    def of(cls, report: ClvReport, *, limit: int) -> ClvOut:
        """The body of a report, with its `limit` most valuable customers."""
        return cls(
            first=report.first,
            last=report.last,
            currency=report.currency,
            horizon_weeks=report.horizon_weeks,
            discount_rate=report.discount_rate,
            customers=report.customers,
            repeat_customers=report.repeat_customers,
            bgnbd=BgNbdOut.of(report.bgnbd),
            gamma_gamma=GammaGammaOut.of(report.gamma_gamma, report.gamma_gamma_customers),
            holdout=HoldoutOut.of(report.holdout) if report.holdout else None,
            definitions=[DefinitionOut.model_validate(d) for d in CLV_DEFINITIONS],
            values=[CustomerValueOut.of(v) for v in report.values[:limit]],
        )


@router.get("/analytics/clv")
@guard(READ)
def get_clv(
    *,
    request: Request,
    first: Annotated[
        date, Query(alias="from", description="First day of the calibration range (UTC).")
    ],
    last: Annotated[
        date, Query(alias="to", description="Last day of the calibration range (UTC).")
    ],
    db: DbDep,
    principal: Caller,
    horizon_weeks: Annotated[
        int, Query(ge=1, le=MAX_HORIZON_WEEKS, description="Weeks ahead to value.")
    ] = 52,
    discount_rate: Annotated[
        Decimal,
        Query(ge=0, lt=1, allow_inf_nan=False, description="Yearly discount rate, 0.1 = 10 %."),
    ] = Decimal(0),
    holdout_to: Annotated[
        date | None,
        Query(description="Check the predictions against the days after `to` up to this one."),
    ] = None,
    currency: Annotated[
        str | None,
        Query(
            min_length=3,
            max_length=3,
            description="Reporting currency (ECB rates); left out: the orders' only one.",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="How many customers to list.")
    ] = 100,
) -> ClvOut:
    """Customer lifetime value: BG/NBD and Gamma-Gamma fitted to the customers whose first
    purchase is in the range; each one's P(alive), expected purchases, spend and value over
    the horizon, and (with `holdout_to`) predicted against actual purchases after it.

    `409` when too few customers bought in the range to fit the models, or when a currency
    has no ECB rate for a day that needs one.
    """
    period = report_period(first, last)
    code = reporting_currency(currency)
    with open_analytics(db=db, settings=request.app.state.settings) as engine:
        report = customer_values(
            engine,
            first=period.first,
            last=period.last,
            horizon_weeks=horizon_weeks,
            discount_rate=discount_rate,
            holdout_last=holdout_to,
            currency=code,
        )
    return ClvOut.of(report, limit=limit)
