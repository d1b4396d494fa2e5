"""Why a channel's sales came back: returns and units by the reason given (`reason_*` of
`definitions.py`).

The returns counted are those of the channel's orders of the range (`channels_sql`'s
sales: not cancelled), whenever received, as `returned_units` counts them: the reasons'
units add up to it. A reason is the text the return line carries, trimmed; a blank one or
none is one group, `None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from omnicart.analytics.channels import percent
from omnicart.analytics.channels_sql import SALES_CTE
from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.period import Period

RETURN_REASONS = f"""
WITH {SALES_CTE}
SELECT reason_given, CAST(COUNT(DISTINCT return_id) AS BIGINT) AS returns,
       CAST(SUM(quantity) AS BIGINT) AS units
FROM (
    SELECT NULLIF(TRIM(r.reason), '') AS reason_given, r.return_id, r.quantity
    FROM wh_returns AS r
    JOIN sales AS s ON s.order_id = r.order_id
    WHERE s.channel_id = $channel
) AS lines
GROUP BY reason_given
"""  # noqa: S608 -- built of constants only


@dataclass(frozen=True, slots=True)
class ReasonFigures:
    """Returns and units sent back for one reason (None: no reason given)."""

    reason: str | None
    reason_returns: int
    reason_units: int
    reason_share: Decimal | None


@dataclass(frozen=True, slots=True)
class ReturnReasons:
    """A channel's returns by reason, most units first, and the units of all of them."""

    channel_id: int
    period: Period
    reasons: tuple[ReasonFigures, ...]
    returned_units: int


def return_reasons(engine: Engine, *, channel_id: int, period: Period) -> ReturnReasons:
    """The channel's returns of the range's sales by reason: most units first, then most
    returns, then by reason (none given last)."""
    params: dict[str, Param] = {"channel": channel_id, "start": period.start, "end": period.end}
    rows = engine.query(RETURN_REASONS, params)
    total = sum(int(units) for _, _, units in rows)
    ranked = sorted(rows, key=lambda r: (-r[2], -r[1], r[0] is None, r[0] or ""))
    return ReturnReasons(
        channel_id=channel_id,
        period=period,
        reasons=tuple(
            ReasonFigures(reason, int(returns), int(units), percent(int(units), total))
            for reason, returns, units in ranked
        ),
        returned_units=total,
    )
