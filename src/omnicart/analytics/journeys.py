"""Customers' journeys from the analytic model, and the attribution report built on them.

A journey belongs to one subject: the resolved customer (`customer_key`), or for events
that name nobody resolved, `a<anonymousId>`. Its touches:

- a tracked *session* (a subject's events on one channel with no gap over 30 minutes, the
  way `sessions` is defined for the channel figures) is one touch at its first event. Its
  touch channel is named from that first event: the UTM source (`campaign_source`, lower
  case), else the referrer's host (lower case, without `www.`), else — for events tracked
  on a channel that is not a web shop or an app (a store's tablet) — that channel's code,
  else `direct`;
- an order on a channel that is not a web shop or an app (a till sale, a marketplace or
  social order: places whose visits no tracking sees) is an offline touch at the order's
  time, named by the channel's code.

A conversion is an order (not cancelled) of a known buyer placed in the period; its
journey is the subject's touches in the `lookback` before it, up to and including its own
time (so a till sale's own visit is its last touch, and a touch may lead to several
conversions). A subject's touches in the period after its last conversion (all of them
when it has none), within `lookback` of the latest, make one non-converting journey (the
Markov model's paths to null). A conversion with no touch in its lookback is counted as
unattributed.

A touch channel whose name is an Omnicart channel's code *is* that channel: its ad spend
(wh_spend, in the period) is the denominator of ROAS. Tag campaigns with
`utm_source=<channel code>` to see ROAS per model; other touch channels have no spend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from itertools import groupby
from typing import Any, Final, TypeVar

from omnicart.analytics import attribution, definitions
from omnicart.analytics.attribution import MODELS, Credit, Journey, Touch, apportion
from omnicart.analytics.currency import Rates, check_reporting_currency, load_rates
from omnicart.analytics.definitions import Definition
from omnicart.analytics.engine import Engine
from omnicart.analytics.period import Period
from omnicart.kernel.errors import ValidationFailed
from omnicart.kernel.money import minor_units, validate_currency

K = TypeVar("K", bound=Hashable)

# Channels whose visits tracking sees; orders elsewhere are offline touches.
TRACKED_KINDS: Final = ("web", "app")
SESSION_GAP: Final = timedelta(minutes=30)
MAX_LOOKBACK_DAYS: Final = 365
RATIO = Decimal("0.0001")


def definitions_of(*names: str) -> tuple[Definition, ...]:
    """The definitions called `names` (these modules' or the channel figures')."""
    return tuple(definitions.definition(name) for name in names)


# ------------------------------------------------------------------- money in a currency


# Days a report's range may name: room for a year of lookback before it and a year of
# window after it (and for Period.of's ten years), inside the calendar Python can hold.


def report_period(first: date, last: date) -> Period:
    """The range `from`..`to`, or ValidationFailed naming the parameter at fault."""
    return Period.of(first, last)


def reporting_currency(currency: str | None) -> str | None:
    """The reporting currency asked for (upper-cased), or None to keep each currency."""
    return None if currency is None else validate_currency(currency, field="currency")


def day_sums(
    engine: Engine,
    rows: Iterable[tuple[K, date, str, Decimal | None]],
    *,
    currency: str | None,
) -> dict[K, dict[str, Decimal]]:
    """Each key's money by currency from its (key, day, currency, amount) sums.

    The conversion rule of `analytics.currency`: each day's sum is converted at that day's
    rate (or only rounded to the currency's minor units, when `currency` is None or the
    same), and a figure is the sum of its days.
    """
    listed = [row for row in rows if row[3] is not None]
    rates = _rates(engine, listed, currency)
    units: dict[str, Decimal] = {}
    totals: dict[K, dict[str, Decimal]] = defaultdict(dict)
    for key, day, source, amount in listed:
        assert amount is not None
        target = currency or source
        if source == target:
            # Only rounded (what Rates.convert does in one currency), without its checks
            # per row: a table's worth of rows in one currency is the common case.
            unit = units.get(source)
            if unit is None:
                unit = units[source] = Decimal(1).scaleb(-minor_units(source))
            value = amount.quantize(unit, rounding=ROUND_HALF_EVEN) + 0
        else:
            value = rates.convert(amount, source=source, target=target, day=day)
        totals[key][target] = totals[key].get(target, Decimal(0)) + value
    return dict(totals)


def _rates(engine: Engine, rows: Sequence[tuple[Any, date, str, Any]], target: str | None) -> Rates:
    if target is None or not rows:
        return Rates({}, {})
    days = [row[1] for row in rows]
    rates = load_rates(
        engine, currencies={target, *(row[2] for row in rows)}, first=min(days), last=max(days)
    )
    check_reporting_currency(target, rates)
    return rates


def ratio(numerator: int | Decimal | Fraction, denominator: int | Decimal) -> Decimal | None:
    """`numerator / denominator` rounded half-even to 4 places; None over zero."""
    if not denominator:
        return None
    exact = Fraction(numerator) / Fraction(denominator)
    return _rounded(exact, RATIO)


def per(amount: Decimal, count: int, currency: str) -> Decimal | None:
    """An amount per unit (a customer), rounded half-even to the currency's minor units."""
    if not count:
        return None
    return _rounded(Fraction(amount) / count, Decimal(1).scaleb(-minor_units(currency)))


def _rounded(exact: Fraction, unit: Decimal) -> Decimal:
    quotient = Decimal(exact.numerator) / Decimal(exact.denominator)
    # 28 significant digits (the default context) before rounding to `unit`: ample for money.
    return quotient.quantize(unit, rounding=ROUND_HALF_EVEN)


# ------------------------------------------------------------------------- the touches

_SOURCE = "LOWER(TRIM(e.campaign_source))"
_HOST = (
    "REGEXP_REPLACE(LOWER(REGEXP_EXTRACT(e.referrer, "
    "'^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#@]+)', 1)), '^www\\.', '')"
)
_TRACKED = ", ".join(f"'{kind}'" for kind in TRACKED_KINDS)

# Touches (kind 0: sessions and offline touches) and conversions (kind 1), by subject and
# time; ties put a touch before the conversion at the same instant.
JOURNEY_ROWS_SQL = f"""
WITH named AS (
    SELECT
        COALESCE(e.customer_key, 'a' || e.anonymous_id) AS subject,
        e.channel_id,
        e.occurred_at AS at,
        CASE
            WHEN {_SOURCE} <> '' THEN {_SOURCE}
            WHEN {_HOST} <> '' THEN {_HOST}
            WHEN c.kind NOT IN ({_TRACKED}) THEN c.code
            ELSE 'direct'
        END AS touch
    FROM wh_events e
    JOIN wh_channels c ON c.channel_id = e.channel_id
    WHERE e.occurred_at >= $since AND e.occurred_at < $end
      AND (e.customer_key IS NOT NULL OR e.anonymous_id IS NOT NULL)
),
moments AS (
    SELECT subject, channel_id, at, MIN(touch) AS touch
    FROM named
    GROUP BY subject, channel_id, at
),
sessions AS (
    SELECT
        subject, at, touch,
        ROW_NUMBER() OVER (PARTITION BY subject, channel_id ORDER BY at) AS n,
        LAG(at) OVER (PARTITION BY subject, channel_id ORDER BY at) AS previous
    FROM moments
),
refunded AS (
    SELECT order_id, SUM(amount) AS amount FROM wh_refunds GROUP BY order_id
)
SELECT
    subject, at, CAST(0 AS BIGINT) AS kind, touch, CAST(NULL AS BIGINT) AS order_id,
    CAST(NULL AS VARCHAR) AS currency, CAST(NULL AS DECIMAL(38, 4)) AS sales
FROM sessions
WHERE n = 1 OR at > previous + INTERVAL 30 MINUTE
UNION ALL
SELECT
    o.customer_key, o.ordered_at, CAST(0 AS BIGINT), c.code, CAST(NULL AS BIGINT),
    CAST(NULL AS VARCHAR), CAST(NULL AS DECIMAL(38, 4))
FROM wh_orders o
JOIN wh_channels c ON c.channel_id = o.channel_id
WHERE o.cancelled_at IS NULL AND o.customer_key IS NOT NULL AND c.kind NOT IN ({_TRACKED})
  AND o.ordered_at >= $since AND o.ordered_at < $end
UNION ALL
SELECT
    o.customer_key, o.ordered_at, CAST(1 AS BIGINT), CAST(NULL AS VARCHAR), o.order_id,
    o.currency, CAST(o.gross - o.discount - COALESCE(r.amount, 0) AS DECIMAL(38, 4))
FROM wh_orders o
LEFT JOIN refunded r ON r.order_id = o.order_id
WHERE o.cancelled_at IS NULL AND o.customer_key IS NOT NULL
  AND o.ordered_at >= $start AND o.ordered_at < $end
ORDER BY 1, 2, 3, 4, 5
"""  # noqa: S608 -- built of this module's constants only


@dataclass(frozen=True, slots=True)
class Conversion:
    """An order that converted: when, and what it was worth (order_net_sales)."""

    order_id: int
    at: datetime
    currency: str
    sales: Decimal


@dataclass(frozen=True, slots=True)
class Journeys:
    """The period's journeys, and the conversions no touch led to."""

    journeys: tuple[Journey, ...]
    unattributed: tuple[Conversion, ...]
    subjects: int


def build_journeys(
    rows: Iterable[Sequence[Any]], *, period: Period, lookback: timedelta
) -> Journeys:
    """Journeys from `JOURNEY_ROWS_SQL`'s rows (sorted by subject and time)."""
    journeys: list[Journey] = []
    unattributed: list[Conversion] = []
    subjects = 0
    for _subject, group in groupby(rows, key=lambda row: row[0]):
        subjects += 1
        touches: list[Touch] = []
        conversions: list[Conversion] = []
        for _, at, kind, touch, order_id, currency, sales in group:
            if kind == 0:
                touches.append(Touch(touch, at))
            else:
                conversions.append(Conversion(order_id, at, currency, sales))
        made, lost = _journeys_of(touches, conversions, period=period, lookback=lookback)
        journeys.extend(made)
        unattributed.extend(lost)
    return Journeys(tuple(journeys), tuple(unattributed), subjects)


def _journeys_of(
    touches: list[Touch], conversions: list[Conversion], *, period: Period, lookback: timedelta
) -> tuple[list[Journey], list[Conversion]]:
    made: list[Journey] = []
    lost: list[Conversion] = []
    for conversion in conversions:
        since = conversion.at - lookback
        before = tuple(t for t in touches if since <= t.at <= conversion.at)
        if not before:
            lost.append(conversion)
            continue
        made.append(
            Journey(
                before,
                converted=True,
                at=conversion.at,
                value=conversion.sales,
                currency=conversion.currency,
            )
        )
    last = conversions[-1].at if conversions else None
    after = [t for t in touches if t.at >= period.start and (last is None or t.at > last)]
    if after:
        since = after[-1].at - lookback
        made.append(Journey(tuple(t for t in after if t.at >= since)))
    return made, lost


def load_journeys(engine: Engine, *, period: Period, lookback: timedelta) -> Journeys:
    """The period's journeys, read from the model."""
    rows = engine.query(
        JOURNEY_ROWS_SQL,
        {"since": period.start - lookback, "start": period.start, "end": period.end},
    )
    return build_journeys(rows, period=period, lookback=lookback)


# ------------------------------------------------------------------ the attribution report

_SPEND_SQL = """
SELECT c.code, s.day, s.currency, SUM(s.spend)
FROM wh_spend s
JOIN wh_channels c ON c.channel_id = s.channel_id
WHERE s.day >= $first AND s.day <= $last
GROUP BY c.code, s.day, s.currency
"""


@dataclass(frozen=True, slots=True)
class Amount:
    """Money in one currency."""

    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ModelSales:
    """Sales credited in one currency, and ROAS against the channel's spend in it."""

    currency: str
    attributed_sales: Decimal
    attributed_roas: Decimal | None


@dataclass(frozen=True, slots=True)
class ModelCredit:
    """A channel's credit under one model."""

    model: str
    attributed_conversions: Decimal
    by_currency: tuple[ModelSales, ...]


@dataclass(frozen=True, slots=True)
class ChannelAttribution:
    """One touch channel: its spend (when it is an Omnicart channel) and every model's credit."""

    channel: str
    ad_spend: tuple[Amount, ...]
    credits: tuple[ModelCredit, ...]


@dataclass(frozen=True, slots=True)
class AttributionReport:
    """Conversions and sales credited per touch channel under every model, side by side."""

    period: Period
    lookback_days: int
    half_life_days: Decimal
    currency: str | None
    models: tuple[str, ...]
    journeys: int
    converting_journeys: int
    conversions: int
    order_net_sales: tuple[Amount, ...]
    unattributed_conversions: int
    unattributed_sales: tuple[Amount, ...]
    channels: tuple[ChannelAttribution, ...]


def check_attribution_window(lookback_days: int, half_life_days: Decimal) -> None:
    """Refuse a lookback outside 1..365 days or a half-life outside (0, lookback]."""
    if not 1 <= lookback_days <= MAX_LOOKBACK_DAYS:
        raise ValidationFailed(
            f"the lookback is 1 to {MAX_LOOKBACK_DAYS} days", field="lookback_days"
        )
    if not Decimal(0) < half_life_days <= MAX_LOOKBACK_DAYS or _microseconds(half_life_days) < 1:
        raise ValidationFailed(
            f"the half-life is more than 0 and at most {MAX_LOOKBACK_DAYS} days",
            field="half_life_days",
        )


def _microseconds(days: Decimal) -> int:
    return int(days * 86_400_000_000)


def attribution_report(
    engine: Engine,
    *,
    period: Period,
    lookback_days: int = 30,
    half_life_days: Decimal = Decimal(7),
    currency: str | None = None,
) -> AttributionReport:
    """Every attribution model over the period's journeys, with ROAS per model."""
    check_attribution_window(lookback_days, half_life_days)
    target = reporting_currency(currency)
    lookback = timedelta(days=lookback_days)
    found = load_journeys(engine, period=period, lookback=lookback)
    journeys = _in_currency(engine, found.journeys, target)
    half_life = timedelta(microseconds=_microseconds(half_life_days))
    credits = attribution.attribute(journeys, half_life=half_life)
    converting = [j for j in journeys if j.converted]
    totals = _totals((j.currency, j.value) for j in converting)
    lost = day_sums(
        engine,
        ((0, c.at.date(), c.currency, c.sales) for c in found.unattributed),
        currency=target,
    ).get(0, {})
    spend: dict[str, dict[str, Decimal]] = day_sums(
        engine,
        engine.query(_SPEND_SQL, {"first": period.first, "last": period.last}),
        currency=target,
    )
    channels = sorted({c for credit in credits.values() for c in credit})
    shares = {
        model: _shares(credit, channels, converting, totals) for model, credit in credits.items()
    }
    return AttributionReport(
        period=period,
        lookback_days=lookback_days,
        half_life_days=half_life_days,
        currency=target,
        models=MODELS,
        journeys=len(journeys),
        converting_journeys=len(converting),
        conversions=len(converting) + len(found.unattributed),
        order_net_sales=_amounts(_merge(totals, lost)),
        unattributed_conversions=len(found.unattributed),
        unattributed_sales=_amounts(lost),
        channels=tuple(
            ChannelAttribution(
                channel=channel,
                ad_spend=_amounts(spend.get(channel, {})),
                credits=tuple(
                    _model_credit(model, shares[model], channel, spend.get(channel, {}))
                    for model in MODELS
                ),
            )
            for channel in channels
        ),
    )


def _in_currency(engine: Engine, journeys: Sequence[Journey], target: str | None) -> list[Journey]:
    """Converting journeys' values in the reporting currency, converted on the order day."""
    values = day_sums(
        engine,
        ((i, j.at.date(), j.currency, j.value) for i, j in enumerate(journeys) if j.at),
        currency=target,
    )
    converted = []
    for index, journey in enumerate(journeys):
        if not journey.converted:
            converted.append(journey)
            continue
        ((code, value),) = values[index].items()
        converted.append(
            Journey(journey.touches, converted=True, at=journey.at, value=value, currency=code)
        )
    return converted


def _totals(pairs: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for code, value in pairs:
        totals[code] = totals.get(code, Decimal(0)) + value
    return totals


def _merge(left: dict[str, Decimal], right: dict[str, Decimal]) -> dict[str, Decimal]:
    return _totals([*left.items(), *right.items()])


def _amounts(by_currency: dict[str, Decimal]) -> tuple[Amount, ...]:
    return tuple(Amount(code, by_currency[code]) for code in sorted(by_currency))


@dataclass(frozen=True, slots=True)
class _Shares:
    conversions: dict[str, Decimal]
    sales: dict[str, dict[str, Decimal]]  # currency -> channel -> amount


def _shares(
    credit: Credit, channels: list[str], converting: list[Journey], totals: dict[str, Decimal]
) -> _Shares:
    """A model's credit as decimals adding up exactly to the conversions and sales."""
    zero = Fraction(0)
    conversions = apportion(
        Decimal(len(converting)),
        {c: credit[c].conversions if c in credit else zero for c in channels},
        4,
    )
    sales = {}
    for code, total in totals.items():
        places = minor_units(code)
        if total != total.quantize(Decimal(1).scaleb(-places)):
            places = 4
        weights = {c: credit[c].value.get(code, zero) if c in credit else zero for c in channels}
        sales[code] = apportion(total, weights, places)
    return _Shares(conversions, sales)


def _model_credit(
    model: str, shares: _Shares, channel: str, spend: dict[str, Decimal]
) -> ModelCredit:
    return ModelCredit(
        model=model,
        attributed_conversions=shares.conversions[channel],
        by_currency=tuple(
            ModelSales(code, amounts[channel], ratio(amounts[channel], spend.get(code, 0)))
            for code, amounts in sorted(shares.sales.items())
        ),
    )
