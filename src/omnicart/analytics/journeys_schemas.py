"""Response bodies of cohorts, omnichannel customers, funnels and attribution.

Every figure's field is named after its definition, listed in the body's `definitions`;
every amount sits beside its currency (printed with the currency's minor units).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from omnicart.analytics.cohorts import CohortTable
from omnicart.analytics.funnels import Funnel
from omnicart.analytics.journeys import AttributionReport, definitions_of
from omnicart.analytics.omnichannel import OmnichannelReport
from omnicart.analytics.period import Period
from omnicart.api.outputs import MoneyAmount, OutputModel

COHORT_FIGURES = (
    "cohort_customers",
    "active_customers",
    "repeat_customers",
    "repeat_rate",
    "order_net_sales",
)
OMNICHANNEL_FIGURES = (
    "group_customers",
    "group_orders",
    "orders_per_customer",
    "mature_customers",
    "order_net_sales",
    "sales_per_customer",
    "sales_12m",
    "value_12m",
)
FUNNEL_FIGURES = ("funnel_subjects", "drop_off", "step_conversion", "funnel_conversion")
ATTRIBUTION_FIGURES = (
    "conversions",
    "order_net_sales",
    "journeys",
    "converting_journeys",
    "unattributed_conversions",
    "unattributed_sales",
    "ad_spend",
    "attributed_conversions",
    "attributed_sales",
    "attributed_roas",
)


class DefinitionOut(OutputModel):
    """What a figure means: its name (the field that holds it), unit and definition."""

    name: str
    unit: str
    text: str


class AmountOut(OutputModel):
    """Money in one currency."""

    currency: str = Field(description="ISO 4217 code.")
    amount: MoneyAmount


class _Report(OutputModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    first: date = Field(serialization_alias="from", description="First day (UTC), included.")
    last: date = Field(serialization_alias="to", description="Last day (UTC), included.")
    definitions: list[DefinitionOut]


def _head(period: Period, figures: tuple[str, ...]) -> dict[str, Any]:
    return {
        "first": period.first,
        "last": period.last,
        "definitions": [DefinitionOut.model_validate(d) for d in definitions_of(*figures)],
    }


# ---------------------------------------------------------------------------- cohorts


class CohortMonthOut(OutputModel):
    """A cohort's month since its first order (0: the first month)."""

    month: int
    active_customers: int
    repeat_customers: int
    repeat_rate: Decimal | None
    order_net_sales: list[AmountOut]


class CohortOut(OutputModel):
    """Customers whose first order was in `month` on `channel` (null: any channel)."""

    month: date = Field(description="The first day of the cohort's month.")
    channel: str | None = Field(description="The first order's channel code; null: all.")
    cohort_customers: int
    months: list[CohortMonthOut]


class CohortTableOut(_Report):
    """Retention cohorts by first-order month and channel."""

    currency: str | None = Field(description="The reporting currency; null: each its own.")
    cohorts: list[CohortOut]

    @classmethod
    def of(cls, table: CohortTable) -> CohortTableOut:
        """The body for `table`."""
        return cls.model_validate(
            {
                **_head(table.period, COHORT_FIGURES),
                "currency": table.currency,
                "cohorts": [CohortOut.model_validate(c) for c in table.cohorts],
            }
        )


# ------------------------------------------------------------------------ omnichannel


class GroupMoneyOut(OutputModel):
    """A group's money in one currency."""

    currency: str
    order_net_sales: MoneyAmount
    sales_per_customer: MoneyAmount | None
    sales_12m: MoneyAmount
    value_12m: MoneyAmount | None


class CustomerGroupOut(OutputModel):
    """Omnichannel (2+ channels) or single-channel customers of the range."""

    group: str = Field(description="`omnichannel` or `single_channel`.")
    group_customers: int
    group_orders: int
    orders_per_customer: Decimal | None
    mature_customers: int
    by_currency: list[GroupMoneyOut]


class OmnichannelOut(_Report):
    """Omnichannel against single-channel customers."""

    currency: str | None = Field(description="The reporting currency; null: each its own.")
    groups: list[CustomerGroupOut]

    @classmethod
    def of(cls, report: OmnichannelReport) -> OmnichannelOut:
        """The body for `report`."""
        return cls.model_validate(
            {
                **_head(report.period, OMNICHANNEL_FIGURES),
                "currency": report.currency,
                "groups": [CustomerGroupOut.model_validate(g) for g in report.groups],
            }
        )


# ---------------------------------------------------------------------------- funnels


class FunnelStepOut(OutputModel):
    """One step of the funnel."""

    step: str
    funnel_subjects: int
    drop_off: int
    step_conversion: Decimal | None
    funnel_conversion: Decimal | None


class FunnelRowOut(OutputModel):
    """The funnel of an entry channel and segment (null: all of them together)."""

    channel: str | None
    segment: str | None
    steps: list[FunnelStepOut]


class FunnelOut(_Report):
    """A funnel in total, then per entry channel (and segment)."""

    steps: list[str]
    window_seconds: int = Field(description="The conversion window, from entering.")
    segment: str | None
    rows: list[FunnelRowOut]

    @classmethod
    def of(cls, funnel: Funnel) -> FunnelOut:
        """The body for `funnel`."""
        return cls.model_validate(
            {
                **_head(funnel.period, FUNNEL_FIGURES),
                "steps": list(funnel.steps),
                "window_seconds": funnel.window // timedelta(seconds=1),
                "segment": funnel.segment,
                "rows": [FunnelRowOut.model_validate(r) for r in funnel.rows],
            }
        )


# ------------------------------------------------------------------------ attribution


class ModelSalesOut(OutputModel):
    """Sales credited in one currency, and ROAS against the channel's spend in it."""

    currency: str
    attributed_sales: MoneyAmount
    attributed_roas: Decimal | None


class ModelCreditOut(OutputModel):
    """A channel's credit under one model."""

    model: str
    attributed_conversions: Decimal
    by_currency: list[ModelSalesOut]


class ChannelAttributionOut(OutputModel):
    """A touch channel, its ad spend (if an Omnicart channel) and every model's credit."""

    channel: str
    ad_spend: list[AmountOut]
    credits: list[ModelCreditOut]


class AttributionOut(_Report):
    """Conversions and sales credited per touch channel under every model, side by side."""

    lookback_days: int
    half_life_days: Decimal
    currency: str | None = Field(description="The reporting currency; null: each its own.")
    models: list[str]
    conversions: int
    order_net_sales: list[AmountOut]
    journeys: int
    converting_journeys: int
    unattributed_conversions: int
    unattributed_sales: list[AmountOut]
    channels: list[ChannelAttributionOut]

    @classmethod
    def of(cls, report: AttributionReport) -> AttributionOut:
        """The body for `report`."""
        return cls.model_validate(
            {
                **_head(report.period, ATTRIBUTION_FIGURES),
                "lookback_days": report.lookback_days,
                "half_life_days": report.half_life_days,
                "currency": report.currency,
                "models": list(report.models),
                "conversions": report.conversions,
                "order_net_sales": [AmountOut.model_validate(a) for a in report.order_net_sales],
                "journeys": report.journeys,
                "converting_journeys": report.converting_journeys,
                "unattributed_conversions": report.unattributed_conversions,
                "unattributed_sales": [
                    AmountOut.model_validate(a) for a in report.unattributed_sales
                ],
                "channels": [ChannelAttributionOut.model_validate(c) for c in report.channels],
            }
        )
