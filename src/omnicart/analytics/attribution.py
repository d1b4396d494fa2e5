"""Attribution models: how each conversion's credit is shared among the channels before it.

Pure: journeys in, credit out; no SQL, no I/O. A journey is one resolved customer's touches
(in time order) up to a conversion, or up to the end of the period when nothing converted.
Only converting journeys earn credit; non-converting ones matter to the Markov model alone.

Rule-based models share each conversion among its journey's touches:
- first touch: all to the first touch; last touch: all to the last;
- linear: 1/n to each of the n touches (a channel touched twice gets 2/n);
- time decay: touch i weighs 2^(-(conversion time - touch time) / half-life), normalised;
- position-based: 40 % first, 40 % last, 20 % shared by the touches between (one touch:
  100 %; two: 50 % each).

Data-driven models credit channels from all journeys at once:
- Markov: a first-order chain over the states start, every channel, conversion and null
  (a journey that did not convert ends in null), with transition probabilities counted
  from the journeys. The removal effect of channel c is 1 - P(conversion | c removed) /
  P(conversion), where removing c sends every transition into c to null; each channel's
  credit is its removal effect's share of the sum of removal effects.
- Shapley: the cooperative game whose worth v(S) of a set S of channels is the conversions
  (or the value) of the converting journeys whose channels all lie in S; each channel gets
  its Shapley value, enumerated exactly over every coalition for up to `SHAPLEY_EXACT_MAX`
  channels. Each journey adds a unanimity game on its channel set, whose Shapley value is an
  equal split among that set, so beyond that size the same numbers come from the split.

Credit is exact (`Fraction`) except where the model itself is irrational or numeric: time
decay's powers of two (28 significant digits, `Decimal`) and the Markov chain's absorption
probabilities (binary64 linear algebra).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from typing import Final

import numpy as np

MODELS: Final = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
SHAPLEY_EXACT_MAX: Final = 15
START: Final = "(start)"
CONVERSION: Final = "(conversion)"
NULL: Final = "(null)"
_DECAY = Context(prec=28)
_MAX_HALVINGS = 200


@dataclass(frozen=True, slots=True)
class Touch:
    """One contact of a customer with a channel."""

    channel: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Journey:
    """Touches in time order; `converted` journeys end in a conversion at `at` worth `value`."""

    touches: tuple[Touch, ...]
    converted: bool = False
    at: datetime | None = None
    value: Decimal = Decimal(0)
    currency: str = ""

    def __post_init__(self) -> None:
        if not self.touches:
            raise ValueError("a journey has at least one touch")
        if self.converted and self.at is None:
            raise ValueError("a converting journey has its conversion time")


@dataclass(slots=True)
class ChannelCredit:
    """What one channel is credited with: conversions, and value per currency."""

    conversions: Fraction = Fraction(0)
    value: dict[str, Fraction] = field(default_factory=dict)

    def add(self, share: Fraction, journey: Journey) -> None:
        """Add `share` of `journey`'s conversion and value."""
        self.conversions += share
        worth = share * Fraction(journey.value)
        self.value[journey.currency] = self.value.get(journey.currency, Fraction(0)) + worth


Credit = dict[str, ChannelCredit]
Shares = dict[str, Fraction]


# ------------------------------------------------------------------------ rule-based


def first_touch(journey: Journey) -> Shares:
    """All credit to the first touch's channel."""
    return {journey.touches[0].channel: Fraction(1)}


def last_touch(journey: Journey) -> Shares:
    """All credit to the last touch's channel."""
    return {journey.touches[-1].channel: Fraction(1)}


def linear(journey: Journey) -> Shares:
    """An equal share to every touch."""
    each = Fraction(1, len(journey.touches))
    return _by_channel((touch.channel, each) for touch in journey.touches)


def position_based(journey: Journey) -> Shares:
    """40 % first, 40 % last, 20 % split among the touches between (1 touch: all; 2: half)."""
    touches = journey.touches
    if len(touches) <= 2:
        return linear(journey)
    middle = Fraction(1, 5) / (len(touches) - 2)
    weights = [Fraction(2, 5), *([middle] * (len(touches) - 2)), Fraction(2, 5)]
    return _by_channel((t.channel, w) for t, w in zip(touches, weights, strict=True))


def time_decay(half_life: timedelta) -> Callable[[Journey], Shares]:
    """Shares halving with every `half_life` between a touch and the conversion."""
    if half_life <= timedelta(0):
        raise ValueError("the half-life is positive")
    unit = Decimal(half_life // timedelta(microseconds=1))

    def shares(journey: Journey) -> Shares:
        # Ages from the latest touch rather than the conversion: the shares are the same
        # (a common factor cancels), and the latest weighs 1, so the sum never underflows.
        latest = max(t.at for t in journey.touches)
        weights = [_halved(latest - t.at, unit) for t in journey.touches]
        total = functools.reduce(_DECAY.add, weights, Decimal(0))
        parts = [Fraction(_DECAY.divide(w, total)) for w in weights[:-1]]
        # The last touch takes the remainder, so the shares add up to exactly one.
        parts.append(1 - sum(parts, Fraction(0)))
        return _by_channel((t.channel, p) for t, p in zip(journey.touches, parts, strict=True))

    return shares


def _halved(age: timedelta, unit: Decimal) -> Decimal:
    """2^(-age / unit) to 28 digits; 0 beyond 200 half-lives (under 1e-60)."""
    halvings = _DECAY.divide(Decimal(age // timedelta(microseconds=1)), unit)
    if halvings > _MAX_HALVINGS:
        return Decimal(0)
    return _DECAY.power(Decimal("0.5"), halvings)


def _by_channel(pairs: Iterable[tuple[str, Fraction]]) -> Shares:
    shares: Shares = {}
    for channel, share in pairs:
        shares[channel] = shares.get(channel, Fraction(0)) + share
    return shares


def credit_by_rule(journeys: Iterable[Journey], rule: Callable[[Journey], Shares]) -> Credit:
    """Each converting journey's conversion and value shared among its channels by `rule`."""
    credit: Credit = defaultdict(ChannelCredit)
    for journey in journeys:
        if journey.converted:
            for channel, share in rule(journey).items():
                credit[channel].add(share, journey)
    return dict(credit)


# ----------------------------------------------------------------------------- Markov


def transitions(journeys: Iterable[Journey]) -> dict[str, Counter[str]]:
    """Counted first-order transitions: start → touches' channels → conversion or null."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for journey in journeys:
        path = [START, *(t.channel for t in journey.touches)]
        path.append(CONVERSION if journey.converted else NULL)
        for here, there in itertools.pairwise(path):
            counts[here][there] += 1
    return dict(counts)


def removal_effects(journeys: Sequence[Journey]) -> dict[str, float]:
    """Each channel's removal effect, 1 - P(conversion without it) / P(conversion).

    P(conversion) is the probability of absorption in the conversion state from start.
    With N = (I - Q)^-1 the chain's fundamental matrix over the transient states and b the
    absorption probabilities, the walks that avoid c convert with probability
    b[start] - N[start, c] / N[c, c] * b[c] (the walks through c reach it with probability
    N[start, c] / N[c, c] and then convert as from c) — that is P(conversion | c removed).
    """
    counts = transitions(journeys)
    channels = sorted({t.channel for j in journeys for t in j.touches})
    states = [START, *channels]
    index = {state: i for i, state in enumerate(states)}
    size = len(states)
    q = np.zeros((size, size))
    r = np.zeros(size)
    for here, row in counts.items():
        out = sum(row.values())
        for there, count in row.items():
            if there == CONVERSION:
                r[index[here]] += count / out
            elif there != NULL:
                q[index[here], index[there]] += count / out
    fundamental = np.linalg.inv(np.eye(size) - q)
    absorbed = fundamental @ r
    converting = float(absorbed[0])
    if converting <= 0.0:
        return dict.fromkeys(channels, 0.0)
    effects: dict[str, float] = {}
    for channel in channels:
        c = index[channel]
        without = absorbed[0] - fundamental[0, c] / fundamental[c, c] * absorbed[c]
        # Rounded to 12 decimals: what is left of binary noise (1e-16) goes, so channels
        # whose effects are equal by hand get equal credit.
        effects[channel] = round(max(0.0, 1.0 - float(without) / converting), 12)
    return effects


def credit_markov(journeys: Sequence[Journey]) -> Credit:
    """All conversions and value, credited in proportion to the channels' removal effects."""
    effects = removal_effects(journeys)
    totals = ChannelCredit()
    for journey in journeys:
        if journey.converted:
            totals.add(Fraction(1), journey)
    if not any(effects.values()):
        return {}
    credit: Credit = {}
    whole = sum((Fraction(str(e)) for e in effects.values()), Fraction(0))
    for channel, effect in effects.items():
        weight = Fraction(str(effect)) / whole
        credit[channel] = ChannelCredit(
            conversions=totals.conversions * weight,
            value={currency: amount * weight for currency, amount in totals.value.items()},
        )
    return credit


# ---------------------------------------------------------------------------- Shapley


def shapley_values(
    players: Sequence[str], worth: Mapping[frozenset[str], int]
) -> dict[str, Fraction]:
    """Exact Shapley values of the game v(S) = sum of `worth[T]` over the sets T ⊆ S.

    `worth` gives each coalition's own contribution (here: what the journeys whose channel
    set is exactly T convert). Enumerates all 2^n coalitions: v by a subset-sum transform,
    then phi_i = sum over S without i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S)).
    """
    n = len(players)
    if n > SHAPLEY_EXACT_MAX:
        raise ValueError(f"exact enumeration is for up to {SHAPLEY_EXACT_MAX} players")
    bit = {player: 1 << i for i, player in enumerate(players)}
    v = [0] * (1 << n)
    for coalition, amount in worth.items():
        v[sum(bit[p] for p in coalition)] += amount
    for i in range(n):
        step = 1 << i
        for mask in range(1 << n):
            if mask & step:
                v[mask] += v[mask ^ step]
    weights = [math.factorial(s) * math.factorial(n - s - 1) for s in range(n)]
    values: dict[str, Fraction] = {}
    for i, player in enumerate(players):
        step = 1 << i
        total = 0
        for mask in range(1 << n):
            if not mask & step:
                total += weights[mask.bit_count()] * (v[mask | step] - v[mask])
        values[player] = Fraction(total, math.factorial(n))
    return values


def _equal_split(worth: Mapping[frozenset[str], int]) -> dict[str, Fraction]:
    values: dict[str, Fraction] = defaultdict(Fraction)
    for coalition, amount in worth.items():
        for player in coalition:
            values[player] += Fraction(amount, len(coalition))
    return dict(values)


def credit_shapley(journeys: Iterable[Journey]) -> Credit:
    """Shapley values of the conversions game and of each currency's value game."""
    conversions: Counter[frozenset[str]] = Counter()
    # Values in ten-thousandths (the model's DECIMAL(18, 4)), so every game is in integers.
    value: dict[str, Counter[frozenset[str]]] = defaultdict(Counter)
    for journey in journeys:
        if journey.converted:
            coalition = frozenset(t.channel for t in journey.touches)
            conversions[coalition] += 1
            value[journey.currency][coalition] += int(journey.value.scaleb(4))
    players = sorted(set().union(*conversions)) if conversions else []

    def solve(worth: Mapping[frozenset[str], int]) -> dict[str, Fraction]:
        if len(players) <= SHAPLEY_EXACT_MAX:
            return shapley_values(players, worth)
        return _equal_split(worth)

    credit: Credit = {p: ChannelCredit() for p in players}
    for player, amount in solve(conversions).items():
        credit[player].conversions = amount
    for currency, worth in value.items():
        for player, amount in solve(worth).items():
            credit[player].value[currency] = amount / 10_000
    return credit


# -------------------------------------------------------------------------- everything


def attribute(journeys: Sequence[Journey], *, half_life: timedelta) -> dict[str, Credit]:
    """Credit under every model of `MODELS`, by model then channel."""
    rules: dict[str, Callable[[Journey], Shares]] = {
        "first_touch": first_touch,
        "last_touch": last_touch,
        "linear": linear,
        "time_decay": time_decay(half_life),
        "position_based": position_based,
    }
    results = {name: credit_by_rule(journeys, rule) for name, rule in rules.items()}
    results["markov"] = credit_markov(journeys)
    results["shapley"] = credit_shapley(journeys)
    return {name: results[name] for name in MODELS}


def apportion(total: Decimal, weights: Mapping[str, Fraction], places: int) -> dict[str, Decimal]:
    """`total` split in proportion to `weights`, each part with `places` decimals, the parts
    adding up to `total` exactly (largest remainders; ties to the name first in order)."""
    unit = Decimal(1).scaleb(-places)
    units = Fraction(total) / Fraction(unit)
    if units.denominator != 1:
        raise ValueError(f"{total} has more than {places} decimals")
    whole = sum(weights.values(), Fraction(0))
    if whole == 0:
        return {name: Decimal(0).quantize(unit) for name in weights}
    exact = {name: units * w / whole for name, w in weights.items()}
    floors = {name: math.floor(x) for name, x in exact.items()}
    left = int(units) - sum(floors.values())
    order = sorted(exact, key=lambda name: (-(exact[name] - floors[name]), name))
    for name in order[:left]:
        floors[name] += 1
    return {
        name: (Decimal(count) * unit).quantize(unit, rounding=ROUND_FLOOR)
        for name, count in floors.items()
    }
