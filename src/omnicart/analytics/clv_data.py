"""Predictive CLV over the analytic model: each customer's calibration summary built by
SQL from `wh_orders`, the models of `clv.py` fitted to it, and what they predict.

The data, as Fader, Hardie & Lee prepared CDNOW's (and as their published estimates
reproduce):

- a customer is a `customer_key` of `wh_orders` (resolved across channels); an order
  counts when it is not cancelled and is worth something (`gross − discount >= 0`: an
  imported adjustment, a credit, is no purchase);
- a *transaction* is a customer's UTC day with orders: several orders on one day are one
  transaction, worth their sum (`gross − discount`);
- the calibration cohort is the customers whose first transaction ever is within
  `[first, last]` (a customer who bought before `first` was not seen from their first
  purchase, which BG/NBD assumes, and is left out);
- x = their transactions up to `last` minus the first; t_x = weeks from the first to the
  last of them; T = weeks from the first to `last` (days / 7);
- m = the average value of the repeat transactions (the first is left out, as in the
  Gamma-Gamma papers), each day's value converted to the reporting currency by the one
  rule of `currency.py`; Gamma-Gamma is fitted to the customers with x > 0 and m > 0;
- the holdout, when asked for, is the days after `last` up to `holdout_last`: each
  cohort customer's transactions there, against E[X(t*)] for t* = its length in weeks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

import numpy as np

from omnicart.analytics import clv
from omnicart.analytics.currency import check_reporting_currency, load_rates
from omnicart.analytics.definitions import Definition, definition
from omnicart.analytics.engine import Engine, Param
from omnicart.analytics.period import LAST_DAY
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.money import Money

_ONE_DAY: Final = timedelta(days=1)
MIN_CUSTOMERS: Final = 10  # below this a four-parameter fit says nothing
MIN_REPEAT_CUSTOMERS: Final = 5  # Gamma-Gamma's three parameters need repeat buyers
MAX_HORIZON_WEEKS: Final = 520
MAX_HOLDOUT_DAYS: Final = 3_653  # ten years
DAYS_PER_WEEK: Final = 7
FIGURES: Final = 4  # decimals of probabilities and expected purchases

CLV_DEFINITIONS: tuple[Definition, ...] = tuple(
    definition(name)
    for name in (
        "clv_frequency",
        "clv_p_alive",
        "clv_expected_purchases",
        "clv_expected_spend",
        "clv_expected_value",
    )
)

# Customer-days of valid orders, the first day of each customer, and the cohort's
# statistics (x counts calibration days, the first included: one is taken off below).
_COUNTS = """
WITH days AS (
    SELECT customer_key, CAST(ordered_at AS DATE) AS day
    FROM wh_orders
    WHERE customer_key IS NOT NULL AND cancelled_at IS NULL AND gross - discount >= 0
      AND ordered_at < $until
    GROUP BY customer_key, CAST(ordered_at AS DATE)
), births AS (
    SELECT customer_key, MIN(day) AS born FROM days GROUP BY customer_key
)
SELECT d.customer_key, b.born,
       SUM(CASE WHEN d.day <= $last THEN 1 ELSE 0 END) AS days_in,
       MAX(CASE WHEN d.day <= $last THEN d.day END) AS latest,
       SUM(CASE WHEN d.day > $last THEN 1 ELSE 0 END) AS days_after
FROM days AS d
JOIN births AS b ON b.customer_key = d.customer_key
WHERE b.born >= $first AND b.born <= $last
GROUP BY d.customer_key, b.born
ORDER BY d.customer_key
"""
# What the cohort's repeat transactions in the calibration range were worth, per day and
# currency (converted and added up per day in Python, by currency.py's rule).
_VALUES = """
WITH valid AS (
    SELECT customer_key, CAST(ordered_at AS DATE) AS day, currency, gross - discount AS worth
    FROM wh_orders
    WHERE customer_key IS NOT NULL AND cancelled_at IS NULL AND gross - discount >= 0
      AND ordered_at < $until
), births AS (
    SELECT customer_key, MIN(day) AS born FROM valid GROUP BY customer_key
)
SELECT v.customer_key, v.day, v.currency, SUM(v.worth)
FROM valid AS v
JOIN births AS b ON b.customer_key = v.customer_key
WHERE b.born >= $first AND b.born <= $last AND v.day > b.born AND v.day <= $last
GROUP BY v.customer_key, v.day, v.currency
"""
_CURRENCIES = """
WITH valid AS (
    SELECT customer_key, CAST(ordered_at AS DATE) AS day, currency
    FROM wh_orders
    WHERE customer_key IS NOT NULL AND cancelled_at IS NULL AND gross - discount >= 0
      AND ordered_at < $until
), births AS (
    SELECT customer_key, MIN(day) AS born FROM valid GROUP BY customer_key
)
SELECT DISTINCT v.currency
FROM valid AS v
JOIN births AS b ON b.customer_key = v.customer_key
WHERE b.born >= $first AND b.born <= $last
ORDER BY v.currency
"""


@dataclass(frozen=True, slots=True)
class Summary:
    """The calibration summary: one entry per cohort customer, in `keys` order."""

    keys: list[str]
    x: np.ndarray
    t_x: np.ndarray
    age: np.ndarray
    spend: list[Decimal | None]  # m in the reporting currency; None when x = 0
    holdout: np.ndarray  # transactions after `last` (up to the holdout's end)
    currency: str


@dataclass(frozen=True, slots=True)
class CustomerValue:
    """One customer's summary and predictions."""

    customer_key: str
    frequency: int
    recency_weeks: Decimal
    age_weeks: Decimal
    average_spend: Decimal | None
    p_alive: Decimal
    expected_purchases: Decimal
    expected_spend: Decimal
    expected_value: Decimal
    holdout_purchases: int | None
    holdout_predicted: Decimal | None


@dataclass(frozen=True, slots=True)
class Holdout:
    """Purchases predicted for the holdout range against those made, by frequency."""

    first: date
    last: date
    weeks: Decimal
    actual: int
    predicted: Decimal
    groups: list[clv.HoldoutGroup]


@dataclass(frozen=True, slots=True)
class ClvReport:
    """Fitted models and every cohort customer's value, most valuable first."""

    first: date
    last: date
    currency: str
    horizon_weeks: int
    discount_rate: Decimal
    customers: int
    repeat_customers: int
    bgnbd: clv.BgNbd
    gamma_gamma: clv.GammaGamma
    gamma_gamma_customers: int
    values: list[CustomerValue]
    holdout: Holdout | None


def _weeks(days: int) -> float:
    return days / DAYS_PER_WEEK


def _figure(value: float) -> Decimal:
    return round(Decimal(repr(float(value))), FIGURES)


def reporting_currency(engine: Engine, *, params: dict[str, Param], currency: str | None) -> str:
    """The currency asked for, or the only currency the cohort's orders are in."""
    if currency is not None:
        return currency
    found = [str(row[0]) for row in engine.query(_CURRENCIES, params)]
    if len(found) > 1:
        raise ValidationFailed(
            f"the orders are in {', '.join(found)}: name the reporting currency",
            field="currency",
        )
    if not found:
        raise Conflict(
            f"too few customers to fit: none first bought from {params['first']} to "
            f"{params['last']} (widen the range, or import the history)",
            field="from",
        )
    return str(found[0])


def calibration_summary(
    engine: Engine,
    *,
    first: date,
    last: date,
    holdout_last: date | None = None,
    currency: str | None = None,
) -> Summary:
    """The cohort's (x, t_x, T, m) for the calibration range `first`..`last` (UTC days,
    both included), and their transactions up to `holdout_last`."""
    end = holdout_last or last
    params: dict[str, Param] = {
        "first": first,
        "last": last,
        "until": end + _ONE_DAY,
    }
    code = reporting_currency(engine, params=params, currency=currency)
    rows = engine.query(_COUNTS, params)
    keys = [str(row[0]) for row in rows]
    x = np.array([int(row[2]) - 1 for row in rows], dtype=np.float64)
    t_x = np.array([_weeks((row[3] - row[1]).days) for row in rows], dtype=np.float64)
    age = np.array([_weeks((last - row[1]).days) for row in rows], dtype=np.float64)
    holdout = np.array([int(row[4]) for row in rows], dtype=np.float64)
    values = engine.query(_VALUES, params)
    sources = {str(row[2]) for row in values}
    rates = load_rates(engine, currencies={code, *sources}, first=first, last=last)
    if sources - {code}:
        code = check_reporting_currency(code, rates)
    by_day: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for key, day, source, worth in values:
        by_day[str(key), day] += rates.convert(Decimal(worth), source=source, target=code, day=day)
    totals: dict[str, list[Decimal]] = defaultdict(list)
    for (key, _), worth in by_day.items():
        totals[key].append(worth)
    spend = [
        sum(totals[key], Decimal(0)) / len(totals[key]) if totals.get(key) else None for key in keys
    ]
    return Summary(keys, x, t_x, age, spend, holdout, code)


def check_holdout(last: date, holdout_last: date | None) -> None:
    """The holdout ends after the calibration range, within ten years of it."""
    if holdout_last is None:
        return
    if holdout_last <= last:
        raise ValidationFailed("holdout_to is a day after to", field="holdout_to")
    if holdout_last > LAST_DAY or (holdout_last - last).days > MAX_HOLDOUT_DAYS:
        raise ValidationFailed(
            f"holdout_to is at most {MAX_HOLDOUT_DAYS} days after to", field="holdout_to"
        )


def customer_values(
    engine: Engine,
    *,
    first: date,
    last: date,
    horizon_weeks: int = 52,
    discount_rate: Decimal = Decimal(0),
    holdout_last: date | None = None,
    currency: str | None = None,
) -> ClvReport:
    """Fit BG/NBD and Gamma-Gamma on the calibration range and value every customer over
    the next `horizon_weeks` (annual `discount_rate`); with `holdout_last`, check the
    predictions against the days after `last`."""
    if not 1 <= horizon_weeks <= MAX_HORIZON_WEEKS:
        raise ValidationFailed(
            f"the horizon is 1 to {MAX_HORIZON_WEEKS} weeks", field="horizon_weeks"
        )
    if not Decimal(0) <= discount_rate < Decimal(1):
        raise ValidationFailed(
            "the discount rate is a yearly fraction from 0 to below 1 (0.1 = 10 %)",
            field="discount_rate",
        )
    check_holdout(last, holdout_last)
    summary = calibration_summary(
        engine, first=first, last=last, holdout_last=holdout_last, currency=currency
    )
    repeat = summary.x > 0
    if len(summary.keys) < MIN_CUSTOMERS or not np.any(repeat):
        raise Conflict(
            f"too few customers to fit: {len(summary.keys)} first bought from {first} to "
            f"{last}, {int(np.sum(repeat))} of them again; BG/NBD needs at least "
            f"{MIN_CUSTOMERS} customers and a repeat purchase (widen the range)",
            field="from",
        )
    spending = np.array(
        [float(s) if s is not None and s > 0 else 0.0 for s in summary.spend], dtype=np.float64
    )
    buyers = repeat & (spending > 0)
    if int(np.sum(buyers)) < MIN_REPEAT_CUSTOMERS:
        raise Conflict(
            f"too few repeat customers to fit the spend model: {int(np.sum(buyers))} with "
            f"repeat purchases worth something; Gamma-Gamma needs {MIN_REPEAT_CUSTOMERS}",
            field="from",
        )
    try:
        bgnbd = clv.fit_bgnbd(summary.x, summary.t_x, summary.age)
        spend_model = clv.fit_gamma_gamma(summary.x[buyers], spending[buyers])
    except clv.FitError as exc:
        raise Conflict(f"the models do not fit these customers: {exc}", field="from") from None
    if spend_model.q <= 1:
        raise Conflict(
            "the spend model does not fit these customers: their spend has no finite mean "
            f"(q = {spend_model.q:.3f} <= 1)",
            field="from",
        )
    return _report(
        summary,
        bgnbd,
        spend_model,
        spending=spending,
        buyers=buyers,
        first=first,
        last=last,
        horizon_weeks=horizon_weeks,
        discount_rate=discount_rate,
        holdout_last=holdout_last,
    )


def _report(
    summary: Summary,
    bgnbd: clv.BgNbd,
    spend_model: clv.GammaGamma,
    *,
    spending: np.ndarray,
    buyers: np.ndarray,
    first: date,
    last: date,
    horizon_weeks: int,
    discount_rate: Decimal,
    holdout_last: date | None,
) -> ClvReport:
    x, t_x, age = summary.x, summary.t_x, summary.age
    # Customers whose repeat purchases were worth nothing get the population's mean spend.
    spend_x = np.where(buyers, x, 0.0)
    alive = clv.probability_alive(bgnbd, x, t_x, age)
    purchases = clv.expected_purchases(bgnbd, float(horizon_weeks), x, t_x, age)
    per_purchase = clv.expected_spend(spend_model, spend_x, spending)
    value = clv.customer_value(
        bgnbd,
        per_purchase,
        weeks=horizon_weeks,
        x=x,
        t_x=t_x,
        age=age,
        annual_discount=float(discount_rate),
    )
    holdout: Holdout | None = None
    predicted_holdout: np.ndarray | None = None
    if holdout_last is not None:
        weeks = _weeks((holdout_last - last).days)
        predicted_holdout = clv.expected_purchases(bgnbd, weeks, x, t_x, age)
        holdout = Holdout(
            first=last + _ONE_DAY,
            last=holdout_last,
            weeks=_figure(weeks),
            actual=int(np.sum(summary.holdout)),
            predicted=_figure(float(np.sum(predicted_holdout))),
            groups=clv.holdout_groups(x, summary.holdout, predicted_holdout),
        )
    code = summary.currency
    values = [
        CustomerValue(
            customer_key=key,
            frequency=int(x[i]),
            recency_weeks=_figure(t_x[i]),
            age_weeks=_figure(age[i]),
            average_spend=(
                Money.rounded(summary.spend[i], code).amount
                if summary.spend[i] is not None
                else None
            ),
            p_alive=_figure(alive[i]),
            expected_purchases=_figure(purchases[i]),
            expected_spend=Money.rounded(Decimal(repr(float(per_purchase[i]))), code).amount,
            expected_value=Money.rounded(Decimal(repr(float(value[i]))), code).amount,
            holdout_purchases=int(summary.holdout[i]) if holdout_last is not None else None,
            holdout_predicted=(
                _figure(predicted_holdout[i]) if predicted_holdout is not None else None
            ),
        )
        for i, key in enumerate(summary.keys)
    ]
    values.sort(key=lambda v: (-v.expected_value, v.customer_key))
    return ClvReport(
        first=first,
        last=last,
        currency=code,
        horizon_weeks=horizon_weeks,
        discount_rate=discount_rate,
        customers=len(summary.keys),
        repeat_customers=int(np.sum(x > 0)),
        bgnbd=bgnbd,
        gamma_gamma=spend_model,
        gamma_gamma_customers=int(np.sum(buyers)),
        values=values,
        holdout=holdout,
    )
