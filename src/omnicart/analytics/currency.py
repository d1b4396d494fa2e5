"""Money in another currency: ECB reference rates, and the one conversion rule.

The rule (every figure follows it, nothing else converts): an amount dated `day` in
currency S becomes currency T at that day's rates, 1 EUR = per_eur units, taking for each
currency the rate of `day` or else its latest earlier rate (the ECB publishes none on
weekends and holidays):

    amount × per_eur(T, day) / per_eur(S, day)

computed to 60 significant digits, then rounded half-even to T's minor units. EUR's rate is
1 on every day. An amount already in T is only rounded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import cache

from omnicart.analytics.engine import Engine, Param
from omnicart.kernel.errors import Conflict, ValidationFailed
from omnicart.kernel.money import MAX_INTEGER_DIGITS, Money, minor_units, validate_currency

EUR = "EUR"
_PRECISION = 60


class MissingRate(Conflict):
    """The model holds no ECB rate of a currency on or before a day a figure needs."""

    type_slug = "missing-rate"
    title = "Missing exchange rate"


# (per_eur of the target, per_eur of the source) on a day, or None: same currency.
Factors = tuple[Decimal, Decimal] | None


@dataclass(frozen=True, slots=True)
class Rates:
    """ECB reference rates by currency: days in order, and 1 EUR's worth on each."""

    days: dict[str, list[date]]
    per_eur: dict[str, list[Decimal]]

    def rate(self, currency: str, day: date) -> Decimal:
        """1 EUR in `currency` on `day`, or on the latest earlier day with a rate."""
        if currency == EUR:
            return Decimal(1)
        days = self.days.get(currency, [])
        index = bisect_right(days, day)
        if index == 0:
            raise MissingRate(
                f"no ECB rate for {currency} on or before {day.isoformat()}: import the "
                "ECB reference rates (omnicart import rates FILE)"
            )
        return self.per_eur[currency][index - 1]

    def factors(self, *, source: str, target: str, day: date) -> Factors:
        """(per_eur(target), per_eur(source)) on `day`, which `convert_by` multiplies and
        then divides an amount by; None when `source` is `target` (the amount is only
        rounded). One lookup serves all of a day's amounts."""
        if source == target:
            return None
        return self.rate(target, day), self.rate(source, day)

    def convert(self, amount: Decimal, *, source: str, target: str, day: date) -> Decimal:
        """`amount` in `source` on `day` as `target`, rounded to its minor units (half-even)."""
        return convert_by(amount, self.factors(source=source, target=target, day=day), target)


def convert_by(amount: Decimal, factors: Factors, target: str) -> Decimal:
    """`amount` × per_eur(target) / per_eur(source) with `factors` (`Rates.factors`), rounded
    to `target`'s minor units (half-even): the arithmetic of the rule, in this one place."""
    if factors is not None:
        multiplier, divisor = factors
        amount = _EXACT.divide(_EXACT.multiply(amount, multiplier), divisor)
    return _rounded(amount, target)


# A report converts tens of thousands of day sums: the context and each currency's minor
# units are made once, not per amount.
_EXACT = Context(prec=_PRECISION, rounding=ROUND_HALF_EVEN)
# Below this an amount rounds to money Money.rounded accepts (15 integer digits at most).
_PLAIN = Decimal(10) ** (MAX_INTEGER_DIGITS - 1)


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def _rounded(amount: Decimal, currency: str) -> Decimal:
    """What `Money.rounded(amount, currency).amount` gives, without parsing the amount
    and the currency again for every one of a report's sums."""
    if not abs(amount) < _PLAIN:
        return Money.rounded(amount, currency).amount  # refuses what money cannot hold
    value = amount.quantize(_quantum(currency), ROUND_HALF_EVEN)
    return value.copy_abs() if value.is_zero() else value


_LATEST_SQL = """
SELECT currency, MAX(day) AS latest
FROM wh_rates
WHERE day <= $first AND currency IN ({currencies})
GROUP BY currency
"""
_RATES_SQL = """
SELECT currency, day, per_eur
FROM wh_rates
WHERE day >= $since AND day <= $last AND currency IN ({currencies})
ORDER BY currency, day
"""


def load_rates(engine: Engine, *, currencies: Iterable[str], first: date, last: date) -> Rates:
    """The rates converting amounts dated `first` to `last` between `currencies`: each
    currency's rates of those days and its latest rate before them. What is missing is
    refused when an amount needs it (`Rates.rate`)."""
    wanted = sorted({c for c in currencies if c != EUR})
    days: dict[str, list[date]] = defaultdict(list)
    rates: dict[str, list[Decimal]] = defaultdict(list)
    if not wanted:
        return Rates({}, {})
    names = {f"c{i}": code for i, code in enumerate(wanted)}
    placeholders = ", ".join(f"${name}" for name in names)
    params: dict[str, Param] = {**names, "first": first}
    latest: dict[str, date] = dict(
        engine.query(_LATEST_SQL.format(currencies=placeholders), params)
    )
    since = min([first, *latest.values()])
    params = {**names, "since": since, "last": last}
    for code, day, per_eur in engine.query(_RATES_SQL.format(currencies=placeholders), params):
        days[code].append(day)
        rates[code].append(per_eur)
    return Rates(dict(days), dict(rates))


def check_reporting_currency(code: str, rates: Rates) -> str:
    """`code` upper-cased if figures can be written in it: an ISO 4217 currency in use
    that is EUR or has ECB rates (ValidationFailed naming `currency` otherwise)."""
    upper = validate_currency(code, field="currency")
    if upper != EUR and not rates.days.get(upper):
        raise ValidationFailed(
            f"no ECB rate for {upper} is known: import the ECB reference rates "
            "(omnicart import rates FILE) or report in another currency",
            field="currency",
        )
    return upper
