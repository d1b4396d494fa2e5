"""Response bodies of the per-channel figures.

Every figure names its definition (README.md's table, `analytics/definitions.py`), its
unit, and the currency of its money. Counts are JSON integers; money, percents and ratios
are decimal strings (money with its currency's minor units); a ratio over zero is null.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from omnicart.analytics.channels import ChannelFigures, ChannelReport, Figure
from omnicart.api.outputs import OutputModel


class FigureOut(OutputModel):
    """One figure and what it means."""

    definition: str = Field(
        examples=["net_sales"], description="The figure's name in the definitions table."
    )
    unit: Literal["money", "percent", "count", "ratio"]
    value: int | Decimal | None = Field(
        examples=["144.00"], description="Counts are integers; the rest decimal strings."
    )
    currency: str | None = Field(
        examples=["EUR"],
        description="The currency of a money figure, or of the money a ratio is made of.",
    )

    @classmethod
    def of(cls, figure: Figure) -> FigureOut:
        """The body of a computed figure."""
        return cls(
            definition=figure.name, unit=figure.unit, value=figure.value, currency=figure.currency
        )


class ChannelFiguresOut(OutputModel):
    """A channel's figures in its own currency, and in the report's currency."""

    channel_id: int
    code: str
    kind: str
    currency: str = Field(description="The channel's own currency.")
    figures: list[FigureOut] = Field(description="In the channel's own currency.")
    reporting: list[FigureOut] = Field(description="In the report's currency.")

    @classmethod
    def of(cls, channel: ChannelFigures) -> ChannelFiguresOut:
        """The body of one channel's figures."""
        return cls(
            channel_id=channel.channel_id,
            code=channel.code,
            kind=channel.kind,
            currency=channel.currency,
            figures=[FigureOut.of(f) for f in channel.figures],
            reporting=[FigureOut.of(f) for f in channel.reporting],
        )


class ChannelReportOut(OutputModel):
    """Every channel's figures for a range of days, and their total in one currency."""

    first: date = Field(serialization_alias="from", description="First day (UTC), included.")
    last: date = Field(serialization_alias="to", description="Last day (UTC), included.")
    currency: str = Field(description="The report's currency.")
    channels: list[ChannelFiguresOut]
    total: list[FigureOut] = Field(description="All channels together, in the report's currency.")

    @classmethod
    def of(cls, report: ChannelReport) -> ChannelReportOut:
        """The body of a report."""
        return cls(
            first=report.first,
            last=report.last,
            currency=report.currency,
            channels=[ChannelFiguresOut.of(c) for c in report.channels],
            total=[FigureOut.of(f) for f in report.total],
        )
