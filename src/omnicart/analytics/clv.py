"""Predictive customer lifetime value: BG/NBD for purchases, Gamma-Gamma for spend.

Pure mathematics over arrays, fitted by maximum likelihood with SciPy; time is in weeks.
Each customer is summarised by the classic RFM statistics of a calibration period:
`x` repeat transactions (the first is not counted), `t_x` the time from the first to
the last transaction, `T` the time from the first transaction to the period's end, and
`m` the average value of the repeat transactions.

- BG/NBD: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284: the
  log-likelihood (their eq. 6), the conditional expectation of purchases in the next `t`
  weeks (eq. 10) and the probability that a customer is still alive.
- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
  Customer Base Analysis", Journal of Marketing Research 42(4), 415-430, as written out in
  Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": the marginal
  likelihood of a customer's average spend and its conditional expectation.

The conditional expectation uses the hypergeometric function in Pfaff's transformed form,
2F1(r+x, b+x; a+b+x-1; z)·(1-z)^(r+x) = 2F1(r+x, a-1; a+b+x-1; z/(z-1)) with
z = t/(α+T+t), so no large power is multiplied by a large series (Fader & Hardie's note
"Overcoming the BG/NBD Model's #NUM! Error Problem" tackles the same overflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1

Array = NDArray[np.float64]
WEEKS_PER_YEAR = 52


class FitError(ValueError):
    """The data cannot be fitted (too few customers, or the optimiser did not converge)."""


@dataclass(frozen=True, slots=True)
class BgNbd:
    """A fitted BG/NBD model: purchase rates Gamma(r, α), dropout probability Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True, slots=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model: transaction values Gamma(p, ν), ν ~ Gamma(q, γ)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float

    @property
    def mean_spend(self) -> float:
        """The average transaction value across customers, p·γ / (q − 1)."""
        return self.p * self.gamma / (self.q - 1)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float], x: ArrayLike, t_x: ArrayLike, age: ArrayLike
) -> Array:
    """Each customer's log-likelihood under BG/NBD (r, α, a, b) — Fader, Hardie & Lee
    (2005), eq. 6: L = A1·A2·(A3 + δ(x>0)·A4)."""
    r, alpha, a, b = params
    xs, tx, big_t = _arrays(x, t_x, age)
    log_a1 = gammaln(r + xs) - gammaln(r) + r * np.log(alpha)
    log_a2 = gammaln(a + b) + gammaln(b + xs) - gammaln(b) - gammaln(a + b + xs)
    log_a3 = -(r + xs) * np.log(alpha + big_t)
    repeat = xs > 0
    # b + x - 1 > 0 whenever x >= 1; for x = 0 the term is absent (δ = 0).
    safe_x = np.where(repeat, xs, 1.0)
    log_a4 = np.where(
        repeat,
        np.log(a) - np.log(b + safe_x - 1) - (r + xs) * np.log(alpha + tx),
        -np.inf,
    )
    result: Array = log_a1 + log_a2 + np.logaddexp(log_a3, log_a4)
    return result


def gamma_gamma_log_likelihood(
    params: tuple[float, float, float], x: ArrayLike, m: ArrayLike
) -> Array:
    """Each customer's log-likelihood of an average spend `m` over `x` transactions under
    Gamma-Gamma (p, q, γ) — Fader & Hardie (2013), the marginal distribution of m_x."""
    p, q, gamma = params
    xs, ms = _arrays(x, m)
    px = p * xs
    result: Array = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(ms)
        + px * np.log(xs)
        - (px + q) * np.log(gamma + xs * ms)
    )
    return result


def _maximise(negative: object, start: Array, *, names: str) -> tuple[Array, float]:
    """Parameters (on the log scale, so they stay positive) maximising the likelihood:
    Nelder-Mead to the optimum, polished by L-BFGS-B."""

    def objective(log_params: Array) -> float:
        value = float(negative(np.exp(log_params)))  # type: ignore[operator]
        return value if np.isfinite(value) else 1e300

    found = minimize(
        objective,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000},
    )
    polished = minimize(objective, found.x, method="L-BFGS-B")
    best = polished if polished.fun <= found.fun else found
    if not np.isfinite(best.fun) or best.fun >= 1e300 or not np.all(np.isfinite(best.x)):
        raise FitError(f"the {names} fit did not converge")
    return np.exp(best.x), -float(best.fun)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, age: ArrayLike) -> BgNbd:
    """BG/NBD fitted by maximum likelihood to customers' (x, t_x, T)."""
    xs, tx, big_t = _arrays(x, t_x, age)
    if len(xs) == 0 or not np.any(xs > 0):
        raise FitError("BG/NBD needs customers, some of them with a repeat purchase")
    if np.any(xs < 0) or np.any(tx < 0) or np.any(tx > big_t) or np.any(big_t <= 0):
        raise FitError("every customer needs x >= 0 and 0 <= t_x <= T, with T > 0")
    found, log_likelihood = _maximise(
        lambda p: -np.sum(bgnbd_log_likelihood(tuple(p), xs, tx, big_t)),
        np.zeros(4),
        names="BG/NBD",
    )
    r, alpha, a, b = (float(v) for v in found)
    return BgNbd(r, alpha, a, b, log_likelihood)


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGamma:
    """Gamma-Gamma fitted to repeat customers' (x > 0, average spend m > 0)."""
    xs, ms = _arrays(x, m)
    if len(xs) == 0 or np.any(xs <= 0) or np.any(ms <= 0):
        raise FitError("Gamma-Gamma needs customers with x > 0 and an average spend m > 0")
    found, log_likelihood = _maximise(
        lambda p: -np.sum(gamma_gamma_log_likelihood(tuple(p), xs, ms)),
        np.zeros(3),
        names="Gamma-Gamma",
    )
    p, q, gamma = (float(v) for v in found)
    return GammaGamma(p, q, gamma, log_likelihood)


def _dropout_odds(model: BgNbd, xs: Array, tx: Array, big_t: Array) -> Array:
    """δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x), on the log scale (-inf when x = 0)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    repeat = xs > 0
    safe_x = np.where(repeat, xs, 1.0)
    log_odds: Array = np.where(
        repeat,
        np.log(a)
        - np.log(b + safe_x - 1)
        + (r + xs) * (np.log(alpha + big_t) - np.log(alpha + tx)),
        -np.inf,
    )
    return log_odds


def probability_alive(model: BgNbd, x: ArrayLike, t_x: ArrayLike, age: ArrayLike) -> Array:
    """P(still alive at T | x, t_x, T) = 1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x))."""
    xs, tx, big_t = _arrays(x, t_x, age)
    result: Array = expit(-_dropout_odds(model, xs, tx, big_t))
    return result


def expected_purchases(
    model: BgNbd, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, age: ArrayLike
) -> Array:
    """E[purchases in the next `t` weeks | x, t_x, T] — Fader, Hardie & Lee (2005), eq. 10:
    (a+b+x−1)/(a−1) · [1 − 2F1(r+x, a−1; a+b+x−1; −t/(α+T))] / (1 + dropout odds)."""
    xs, tx, big_t = _arrays(x, t_x, age)
    (weeks,) = _arrays(t)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    series = hyp2f1(r + xs, a - 1, a + b + xs - 1, -weeks / (alpha + big_t))
    result: Array = (
        (a + b + xs - 1) / (a - 1) * (1 - series) * expit(-_dropout_odds(model, xs, tx, big_t))
    )
    return result


def expected_spend(model: GammaGamma, x: ArrayLike, m: ArrayLike) -> Array:
    """E[average transaction value | x, m_x]: the population mean p·γ/(q−1) when x = 0,
    else the weighted mix (q−1)/(px+q−1)·pγ/(q−1) + px/(px+q−1)·m_x."""
    xs, ms = _arrays(x, m)
    ms = np.where(xs > 0, ms, 0.0)
    result: Array = model.p * (model.gamma + xs * ms) / (model.p * xs + model.q - 1)
    return result


def weekly_rate(annual: float) -> float:
    """The weekly discount rate equivalent to an annual one: (1 + d)^(1/52) − 1."""
    return float((1 + annual) ** (1 / WEEKS_PER_YEAR) - 1)


def customer_value(
    model: BgNbd,
    spend: ArrayLike,
    *,
    weeks: int,
    x: ArrayLike,
    t_x: ArrayLike,
    age: ArrayLike,
    annual_discount: float = 0.0,
) -> Array:
    """Expected value of each customer's purchases in the next `weeks` weeks: expected
    spend × expected purchases; with a discount rate, each week's expected purchases
    (E[Y(k)] − E[Y(k−1)]) are discounted by (1 + weekly rate)^k."""
    (per_purchase,) = _arrays(spend)
    if annual_discount == 0:
        total: Array = per_purchase * expected_purchases(model, float(weeks), x, t_x, age)
        return total
    rate = weekly_rate(annual_discount)
    xs, tx, big_t = _arrays(x, t_x, age)
    value = np.zeros_like(xs)
    before = np.zeros_like(xs)
    for week in range(1, weeks + 1):
        now = expected_purchases(model, float(week), xs, tx, big_t)
        value += (now - before) / (1 + rate) ** week
        before = now
    discounted: Array = per_purchase * value
    return discounted


@dataclass(frozen=True, slots=True)
class HoldoutGroup:
    """Customers with the same calibration frequency: purchases predicted and made in the
    holdout period, on average per customer."""

    frequency: str  # "0", "1", ..., or "7+"
    customers: int
    actual: float
    predicted: float


def holdout_groups(
    x: ArrayLike, actual: ArrayLike, predicted: ArrayLike, *, top: int = 7
) -> list[HoldoutGroup]:
    """Mean actual and predicted holdout purchases per calibration frequency 0 .. top−1,
    and top and more (Fader, Hardie & Lee 2005, Figure 4)."""
    xs, done, expected = _arrays(x, actual, predicted)
    groups = []
    for low in range(top + 1):
        chosen = xs >= top if low == top else xs == low
        count = int(np.sum(chosen))
        if count:
            groups.append(
                HoldoutGroup(
                    frequency=f"{top}+" if low == top else str(low),
                    customers=count,
                    actual=float(np.mean(done[chosen])),
                    predicted=float(np.mean(expected[chosen])),
                )
            )
    return groups
