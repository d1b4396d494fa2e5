"""BG/NBD and Gamma-Gamma (analytics/clv.py) on cases small enough to work out by hand,
and against integrals of the individual-level models they are mixtures of.

The individual-level models, written out independently of clv.py's closed forms:
- BG/NBD (Fader, Hardie & Lee 2005, eq. 3): given purchase rate λ and dropout probability
  p, L(x, t_x, T | λ, p) = (1−p)^x λ^x e^(−λT) + δ(x>0) p (1−p)^(x−1) λ^x e^(−λ t_x),
  with λ ~ Gamma(shape r, rate α) and p ~ Beta(a, b);
- Gamma-Gamma (Fader & Hardie 2013): the average m of x values each Gamma(p, rate ν) is
  Gamma(px, rate νx), with ν ~ Gamma(shape q, rate γ).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, special

from omnicart.analytics import clv
from omnicart.analytics.clv import Array

PARAMS = (0.5, 2.0, 0.8, 2.5)  # r, α, a, b: not round, so no term vanishes by accident
NODES = 100  # Gauss quadrature nodes per dimension: the integrands are smooth


def _mixture(integrand: Callable[[Array, Array], Array]) -> float:
    """∫∫ integrand(λ, p) g(λ) f(p) dλ dp over the BG/NBD's priors (PARAMS): λ ~ Gamma(r,
    rate α) by generalised Gauss-Laguerre, p ~ Beta(a, b) by Gauss-Jacobi quadrature."""
    r, alpha, a, b = PARAMS
    u, u_weights = special.roots_genlaguerre(NODES, r - 1)  # weight u^(r-1) e^(-u), u = αλ
    rates, rate_weights = u / alpha, u_weights / math.gamma(r)
    z, z_weights = special.roots_jacobi(NODES, b - 1, a - 1)  # weight (1-z)^(b-1) (1+z)^(a-1)
    drops, drop_weights = (1 + z) / 2, z_weights / z_weights.sum()
    lam, p = np.meshgrid(rates, drops, indexing="ij")
    return float(np.einsum("i,j,ij->", rate_weights, drop_weights, integrand(lam, p)))


def _individual(lam: Array, p: Array, x: int, t_x: float, age: float) -> Array:
    alive: Array = (1 - p) ** x * lam**x * np.exp(-lam * age)
    if x == 0:
        return alive
    dropped: Array = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x)
    return alive + dropped


# --- BG/NBD likelihood -----------------------------------------------------------------------


def test_bgnbd_likelihood_of_a_customer_who_never_came_back() -> None:
    # x = 0: L = α^r / (α+T)^r (A2 = 1, no A4): r = α = T = 1 gives 1/2, whatever a and b.
    got = clv.bgnbd_log_likelihood((1.0, 1.0, 0.3, 7.0), [0], [0.0], [1.0])
    assert got[0] == pytest.approx(math.log(0.5), abs=1e-12)


def test_bgnbd_likelihood_of_one_repeat_purchase_by_hand() -> None:
    # r = α = a = b = 1, x = 1, t_x = 1, T = 2: A1 = 1, A2 = Γ(2)Γ(2)/(Γ(1)Γ(3)) = 1/2,
    # A3 = 3^-2, A4 = (1/1)·2^-2, so L = 1/2 · (1/9 + 1/4) = 13/72.
    got = clv.bgnbd_log_likelihood((1.0, 1.0, 1.0, 1.0), [1], [1.0], [2.0])
    assert got[0] == pytest.approx(math.log(13 / 72), abs=1e-12)


@pytest.mark.parametrize(("x", "t_x", "age"), [(0, 0.0, 6.0), (1, 2.5, 6.0), (3, 5.0, 8.0)])
def test_bgnbd_likelihood_is_the_mixture_of_the_individual_model(
    x: int, t_x: float, age: float
) -> None:
    expected = _mixture(lambda lam, p: _individual(lam, p, x, t_x, age))
    got = clv.bgnbd_log_likelihood(PARAMS, [x], [t_x], [age])
    assert got[0] == pytest.approx(math.log(expected), abs=1e-9)


# --- BG/NBD predictions ------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "t_x", "age"), [(0, 0.0, 6.0), (2, 3.0, 6.0), (4, 7.5, 8.0)])
def test_probability_alive_is_the_posterior_share_of_the_alive_branch(
    x: int, t_x: float, age: float
) -> None:
    model = clv.BgNbd(*PARAMS, log_likelihood=0.0)
    alive = _mixture(lambda lam, p: (1 - p) ** x * lam**x * np.exp(-lam * age))
    whole = _mixture(lambda lam, p: _individual(lam, p, x, t_x, age))
    got = clv.probability_alive(model, [x], [t_x], [age])
    assert got[0] == pytest.approx(alive / whole, abs=1e-9)


@pytest.mark.parametrize(
    ("t", "x", "t_x", "age"), [(4.0, 0, 0.0, 6.0), (10.0, 2, 3.0, 6.0), (30.0, 4, 7.5, 8.0)]
)
def test_expected_purchases_is_the_posterior_mean_of_the_individual_model(
    t: float, x: int, t_x: float, age: float
) -> None:
    # Alive at T with (λ, p), a customer makes (1 − e^(−λpt))/p purchases in t more weeks
    # on average; dead, none. Weighted by the posterior of (λ, p).
    model = clv.BgNbd(*PARAMS, log_likelihood=0.0)
    ahead = _mixture(
        lambda lam, p: (1 - p) ** x * lam**x * np.exp(-lam * age) * -np.expm1(-lam * p * t) / p
    )
    whole = _mixture(lambda lam, p: _individual(lam, p, x, t_x, age))
    got = clv.expected_purchases(model, t, [x], [t_x], [age])
    assert got[0] == pytest.approx(ahead / whole, rel=1e-9)


def test_expected_purchases_stay_finite_for_very_frequent_buyers() -> None:
    # The untransformed form multiplies a vanishing power by an exploding series here.
    model = clv.BgNbd(0.243, 4.414, 0.793, 2.426, log_likelihood=0.0)
    got = clv.expected_purchases(model, 52.0, [400, 400], [51.0, 52.0], [52.0, 52.0])
    assert np.all(np.isfinite(got))
    assert got[1] > got[0] > 0  # bought in the last week: more likely alive, buys more


def test_customer_value_without_and_with_discount_by_hand() -> None:
    model = clv.BgNbd(*PARAMS, log_likelihood=0.0)
    x, t_x, age = [2], [3.0], [6.0]
    one = clv.expected_purchases(model, 1.0, x, t_x, age)[0]
    two = clv.expected_purchases(model, 2.0, x, t_x, age)[0]
    plain = clv.customer_value(model, [10.0], weeks=2, x=x, t_x=t_x, age=age)
    assert plain[0] == pytest.approx(10.0 * two, rel=1e-12)
    weekly = 1.2 ** (1 / 52) - 1
    discounted = clv.customer_value(
        model, [10.0], weeks=2, x=x, t_x=t_x, age=age, annual_discount=0.2
    )
    expected = 10.0 * (one / (1 + weekly) + (two - one) / (1 + weekly) ** 2)
    assert discounted[0] == pytest.approx(expected, rel=1e-12)


# --- Gamma-Gamma ---------------------------------------------------------------------------


def test_gamma_gamma_likelihood_by_hand() -> None:
    # p = 1, q = 2, γ = 1, one transaction worth 1: ∫ ν e^(−ν) · ν e^(−ν) dν = 2/8 = 1/4.
    got = clv.gamma_gamma_log_likelihood((1.0, 2.0, 1.0), [1], [1.0])
    assert got[0] == pytest.approx(math.log(0.25), abs=1e-12)


@pytest.mark.parametrize(("x", "m"), [(1, 12.5), (3, 40.0), (7, 3.2)])
def test_gamma_gamma_likelihood_is_the_mixture_of_the_individual_model(x: int, m: float) -> None:
    p, q, gamma = 6.25, 3.74, 15.44

    def log_gamma_pdf(value: float, shape: float, rate: float) -> float:
        return (
            shape * math.log(rate)
            + (shape - 1) * math.log(value)
            - rate * value
            - math.lgamma(shape)
        )

    def density(nu: float) -> float:
        # m | ν ~ Gamma(px, rate νx); ν ~ Gamma(q, rate γ).
        if nu <= 0:
            return 0.0
        return math.exp(log_gamma_pdf(m, p * x, nu * x) + log_gamma_pdf(nu, q, gamma))

    expected, _ = integrate.quad(density, 0, np.inf, epsabs=1e-14, epsrel=1e-11, limit=200)
    got = clv.gamma_gamma_log_likelihood((p, q, gamma), [x], [m])
    assert got[0] == pytest.approx(math.log(expected), abs=1e-7)


def test_expected_spend_by_hand() -> None:
    model = clv.GammaGamma(1.0, 2.0, 1.0, log_likelihood=0.0)
    # x = 0: the population mean pγ/(q−1) = 1; x = 3, m = 5: p(γ + x·m)/(px + q − 1) = 16/4.
    got = clv.expected_spend(model, [0, 3], [0.0, 5.0])
    assert list(got) == [1.0, 4.0]
    assert model.mean_spend == 1.0


# --- fitting -----------------------------------------------------------------------------------


def test_fits_recover_the_parameters_of_simulated_customers() -> None:
    # 4,000 customers drawn from known parameters over 40 weeks; the fits land near them.
    rng = np.random.default_rng(7)
    r, alpha, a, b = 0.8, 5.0, 0.6, 3.0
    n, horizon = 4_000, 40.0
    lams = rng.gamma(r, 1 / alpha, n)
    drops = rng.beta(a, b, n)
    xs, txs = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lams[i])
            if t > horizon:
                break
            xs[i] += 1
            txs[i] = t
            if rng.random() < drops[i]:
                break
    fitted = clv.fit_bgnbd(xs, txs, np.full(n, horizon))
    assert fitted.r == pytest.approx(r, rel=0.15)
    assert fitted.alpha == pytest.approx(alpha, rel=0.25)
    assert fitted.a == pytest.approx(a, rel=0.25)
    assert fitted.b == pytest.approx(b, rel=0.35)
    # Spend: each customer's values Gamma(p, rate ν), ν ~ Gamma(q, rate γ).
    p, q, gamma = 5.0, 4.0, 20.0
    counts = rng.integers(1, 8, 3_000)
    nus = rng.gamma(q, 1 / gamma, 3_000)
    means = np.array([rng.gamma(p, 1 / nu, k).mean() for nu, k in zip(nus, counts, strict=True)])
    spend = clv.fit_gamma_gamma(counts, means)
    assert spend.mean_spend == pytest.approx(p * gamma / (q - 1), rel=0.1)
    assert spend.p == pytest.approx(p, rel=0.15)


def test_fits_refuse_data_they_cannot_fit() -> None:
    with pytest.raises(clv.FitError, match="repeat purchase"):
        clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 6.0, 7.0])
    with pytest.raises(clv.FitError, match="t_x <= T"):
        clv.fit_bgnbd([1, 2], [8.0, 1.0], [5.0, 6.0])
    with pytest.raises(clv.FitError, match="m > 0"):
        clv.fit_gamma_gamma([1, 2], [0.0, 3.0])


def test_holdout_groups_by_calibration_frequency() -> None:
    groups = clv.holdout_groups([0, 0, 1, 8, 9], [0, 2, 1, 4, 6], [0.5, 0.5, 1.0, 3.0, 4.0], top=7)
    assert groups == [
        clv.HoldoutGroup("0", 2, 1.0, 0.5),
        clv.HoldoutGroup("1", 1, 1.0, 1.0),
        clv.HoldoutGroup("7+", 2, 5.0, 3.5),
    ]
