"""The numpy counterpart ``sbp_bayes.stats.sbp`` against independent references.

* an implementation of the canonical definition (docs/maths.md) written here from
  ``scipy.stats.genpareto`` for the tails and a plain histogram for the body;
* ``scipy.integrate.quad`` for normalisation, the body CDF, moments and expected
  shortfall (integrated piecewise: tails apart from the thresholds, body with
  ``points=`` at the bin edges).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats

from sbp_bayes.distributions import InvalidParameterError
from sbp_bayes.stats import sbp

CASES = {
    "heavy_both": dict(
        bin_edges=np.linspace(-3, 3, 13),
        bin_probs=np.full(12, 1 / 12),
        lower_tail_prob=0.05,
        upper_tail_prob=0.05,
        lower_xi=0.2,
        lower_sigma=0.5,
        upper_xi=0.4,
        upper_sigma=0.5,
    ),
    "bounded_both_empty_bin": dict(
        bin_edges=np.array([0.0, 1.0, 1.5, 4.0, 10.0]),
        bin_probs=np.array([0.1, 0.0, 0.6, 0.3]),
        lower_tail_prob=0.1,
        upper_tail_prob=0.2,
        lower_xi=-0.5,
        lower_sigma=2.0,
        upper_xi=-0.25,
        upper_sigma=1.0,
    ),
    "exponential_uneven": dict(
        bin_edges=np.array([-1.0, 0.0, 2.0]),
        bin_probs=np.array([0.3, 0.7]),
        lower_tail_prob=0.3,
        upper_tail_prob=0.01,
        lower_xi=0.0,
        lower_sigma=1.0,
        upper_xi=0.0,
        upper_sigma=3.0,
    ),
    "single_bin_mixed": dict(
        bin_edges=np.array([0.0, 1.0]),
        bin_probs=np.array([1.0]),
        lower_tail_prob=0.2,
        upper_tail_prob=0.3,
        lower_xi=-1.5,
        lower_sigma=1.0,
        upper_xi=0.45,
        upper_sigma=0.1,
    ),
    "empty_outer_bins_tiny_xi": dict(
        bin_edges=np.array([-4.0, -2.0, -1.2, 0.1, 0.7, 3.0, 8.0]),
        bin_probs=np.array([0.0, 0.15, 0.5, 0.0, 0.35, 0.0]),
        lower_tail_prob=0.07,
        upper_tail_prob=0.12,
        lower_xi=1e-9,
        lower_sigma=0.3,
        upper_xi=-1e-7,
        upper_sigma=2.0,
    ),
}

QUAD = dict(epsabs=1e-12, epsrel=1e-11, limit=200)


# ----------------------------------------------------------------------------- reference


class Canonical:
    """The canonical definition, written directly (no code shared with the package)."""

    def __init__(self, p):
        self.p = p
        self.edges = np.asarray(p["bin_edges"], float)
        self.probs = np.asarray(p["bin_probs"], float)
        self.cum = np.concatenate([[0.0], np.cumsum(self.probs)])
        self.u_lower = self.body_quantile(p["lower_tail_prob"])
        self.u_upper = self.body_quantile(1 - p["upper_tail_prob"])
        self.lower = stats.genpareto(p["lower_xi"], scale=p["lower_sigma"])
        self.upper = stats.genpareto(p["upper_xi"], scale=p["upper_sigma"])

    def body_quantile(self, prob):
        """inf{x : F_B(x) >= prob}, F_B piecewise linear through (e_k, cum_k)."""
        j = int(np.argmax(self.cum >= prob))
        if j == 0:
            return self.edges[0]
        fraction = (prob - self.cum[j - 1]) / self.probs[j - 1]
        return self.edges[j - 1] + fraction * (self.edges[j] - self.edges[j - 1])

    def logpdf(self, x):
        p = self.p
        if x < self.u_lower:
            return np.log(p["lower_tail_prob"]) + self.lower.logpdf(self.u_lower - x)
        if x > self.u_upper:
            return np.log(p["upper_tail_prob"]) + self.upper.logpdf(x - self.u_upper)
        # bin [e_k, e_{k+1}); a value exactly at u_U belongs to the bin that ends there
        if x == self.u_upper:
            k = int(np.searchsorted(self.edges, x, side="left")) - 1
        else:
            k = int(np.searchsorted(self.edges, x, side="right")) - 1
        k = min(max(k, 0), len(self.probs) - 1)
        with np.errstate(divide="ignore"):
            return np.log(self.probs[k]) - np.log(self.edges[k + 1] - self.edges[k])

    def cdf(self, x):
        p = self.p
        if x < self.u_lower:
            return p["lower_tail_prob"] * self.lower.sf(self.u_lower - x)
        if x > self.u_upper:
            return 1 - p["upper_tail_prob"] * self.upper.sf(x - self.u_upper)
        return float(np.interp(x, self.edges, self.cum))

    def sf(self, x):
        p = self.p
        if x > self.u_upper:
            return p["upper_tail_prob"] * self.upper.sf(x - self.u_upper)
        if x < self.u_lower:
            return 1 - p["lower_tail_prob"] * self.lower.sf(self.u_lower - x)
        return 1 - float(np.interp(x, self.edges, self.cum))

    def ppf(self, q):
        p = self.p
        if q < p["lower_tail_prob"]:
            return self.u_lower - self.lower.isf(q / p["lower_tail_prob"])
        if q > 1 - p["upper_tail_prob"]:
            return self.u_upper + self.upper.isf((1 - q) / p["upper_tail_prob"])
        return self.body_quantile(q)


def evaluation_points(p, dist):
    lo, hi = (float(v) for v in dist.support())
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    points = [
        *p["bin_edges"],
        u_lower,
        u_upper,
        np.nextafter(u_lower, -np.inf),
        np.nextafter(u_upper, np.inf),
    ]
    points += [u_lower - 0.3, u_lower - 2.0, u_upper + 0.3, u_upper + 2.0, (u_lower + u_upper) / 2]
    points = np.array(points)
    return np.unique(points[(points > lo) & (points < hi)])


def integrate_pieces(dist, p, function, a, b):
    """int_a^b function(x) dx, split at the thresholds and bin edges."""
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    cuts = sorted({a, b, *(c for c in (u_lower, u_upper, *p["bin_edges"]) if a < c < b)})
    return sum(integrate.quad(function, cuts[i], cuts[i + 1], **QUAD)[0] for i in range(len(cuts) - 1))


def random_parameters(rng, lower_xi, upper_xi, *, n_bins=None):
    """A random valid parameter set: uneven bins, some empty, random tail masses."""
    n_bins = int(rng.integers(1, 9)) if n_bins is None else n_bins
    edges = np.cumsum(np.concatenate([[rng.normal(scale=3)], rng.exponential(size=n_bins) + 0.01]))
    probs = rng.exponential(size=n_bins)
    if n_bins > 2:
        probs[rng.choice(n_bins, size=n_bins // 3, replace=False)] = 0.0
    probs /= probs.sum()
    lower_tail, upper_tail = rng.uniform(0.01, 0.45, size=2)
    return dict(
        bin_edges=edges,
        bin_probs=probs,
        lower_tail_prob=lower_tail,
        upper_tail_prob=upper_tail,
        lower_xi=lower_xi,
        lower_sigma=rng.uniform(0.1, 3.0),
        upper_xi=upper_xi,
        upper_sigma=rng.uniform(0.1, 3.0),
    )


# ----------------------------------------------------------------------------- pointwise


@pytest.mark.parametrize("name", CASES)
def test_matches_canonical_definition(name):
    p = CASES[name]
    dist, reference = sbp(**p), Canonical(p)
    assert float(dist.lower_threshold) == pytest.approx(reference.u_lower, rel=1e-14, abs=1e-14)
    assert float(dist.upper_threshold) == pytest.approx(reference.u_upper, rel=1e-14, abs=1e-14)
    x = evaluation_points(p, dist)
    with np.errstate(divide="ignore"):
        expected_logpdf = np.array([reference.logpdf(v) for v in x])
        expected_logcdf = np.log([reference.cdf(v) for v in x])
        expected_logsf = np.log([reference.sf(v) for v in x])
    assert_allclose(dist.logpdf(x), expected_logpdf, rtol=1e-12, atol=1e-13)
    assert_allclose(dist.logcdf(x), expected_logcdf, rtol=1e-12, atol=1e-13)
    assert_allclose(dist.logsf(x), expected_logsf, rtol=1e-12, atol=1e-13)
    q = np.array([1e-6, 0.003, 0.5 * p["lower_tail_prob"], p["lower_tail_prob"], 0.5, 0.9, 0.995, 1 - 1e-6])
    assert_allclose(dist.ppf(q), [reference.ppf(v) for v in q], rtol=1e-12, atol=1e-13)


def test_hand_computed_thresholds_and_endpoints():
    # bin_probs (0.1, 0, 0.6, 0.3) on edges (0, 1, 1.5, 4, 10):
    # u_L = Q_B(0.1) = 1 (end of the first bin), u_U = Q_B(0.8) = 4 + 6 * (0.1/0.3) = 6;
    # endpoints u_L - sigma_L/|xi_L| = 1 - 2/0.5 = -3 and u_U + 1/0.25 = 10.
    dist = sbp(**CASES["bounded_both_empty_bin"])
    assert float(dist.lower_threshold) == pytest.approx(1.0, abs=1e-14)
    assert float(dist.upper_threshold) == pytest.approx(6.0, abs=1e-14)
    lo, hi = dist.support()
    assert float(lo) == pytest.approx(-3.0, abs=1e-14)
    assert float(hi) == pytest.approx(10.0, abs=1e-14)
    # CDF exactly 0 / 1 beyond the endpoints, density 0 there.
    beyond = np.array([-1e300, -3.5, -3.0 - 1e-9, 10.0 + 1e-9, 11.0, 1e300])
    assert np.all(dist.pdf(beyond) == 0.0)
    assert np.all(dist.cdf(beyond[:3]) == 0.0) and np.all(dist.sf(beyond[:3]) == 1.0)
    assert np.all(dist.cdf(beyond[3:]) == 1.0) and np.all(dist.sf(beyond[3:]) == 0.0)
    assert np.all(dist.logcdf(beyond[:3]) == -np.inf) and np.all(dist.logsf(beyond[3:]) == -np.inf)


@pytest.mark.parametrize("name", CASES)
def test_quantile_ends_and_infinities(name):
    p = CASES[name]
    dist = sbp(**p)
    low, high = dist.ppf(np.array([0.0, 1.0]))
    expected_low = (
        -np.inf if p["lower_xi"] >= 0 else float(dist.lower_threshold) + p["lower_sigma"] / p["lower_xi"]
    )
    expected_high = (
        np.inf if p["upper_xi"] >= 0 else float(dist.upper_threshold) - p["upper_sigma"] / p["upper_xi"]
    )
    assert low == pytest.approx(expected_low, rel=1e-14)
    assert high == pytest.approx(expected_high, rel=1e-14)
    assert dist.isf(0.0) == high and dist.isf(1.0) == low
    assert np.all(np.isnan(dist.ppf(np.array([-0.1, 1.1, np.nan]))))
    assert dist.logpdf(np.inf) == -np.inf and dist.logpdf(-np.inf) == -np.inf
    assert dist.cdf(-np.inf) == 0.0 and dist.cdf(np.inf) == 1.0
    assert dist.sf(-np.inf) == 1.0 and dist.sf(np.inf) == 0.0


@pytest.mark.parametrize("name", CASES)
def test_tail_masses_at_thresholds(name):
    p = CASES[name]
    dist = sbp(**p)
    assert float(dist.cdf(dist.lower_threshold)) == pytest.approx(p["lower_tail_prob"], rel=1e-13)
    assert float(dist.sf(dist.upper_threshold)) == pytest.approx(p["upper_tail_prob"], rel=1e-12)


def test_deep_tail_quantiles_keep_precision():
    p = CASES["heavy_both"]
    dist = sbp(**p)
    q = np.array([1e-10, 1e-50, 1e-200])
    u_upper, a, xi, sigma = float(dist.upper_threshold), p["upper_tail_prob"], p["upper_xi"], p["upper_sigma"]
    expected = u_upper + sigma * ((q / a) ** -xi - 1) / xi
    assert_allclose(dist.isf(q), expected, rtol=1e-13)
    assert_allclose(dist.logsf(dist.isf(q)), np.log(q), rtol=1e-12)
    u_lower, a, xi, sigma = float(dist.lower_threshold), p["lower_tail_prob"], p["lower_xi"], p["lower_sigma"]
    assert_allclose(dist.ppf(q), u_lower - sigma * ((q / a) ** -xi - 1) / xi, rtol=1e-13)
    assert_allclose(dist.logcdf(dist.ppf(q)), np.log(q), rtol=1e-12)


def representable_error(dist, x):
    """How far cdf(x) can be off because x itself is only known to one ulp (the CDF
    can be steep: near a bounded endpoint with xi < -1 the density is unbounded)."""
    up = np.abs(dist.cdf(np.nextafter(x, np.inf)) - dist.cdf(x))
    down = np.abs(dist.cdf(x) - dist.cdf(np.nextafter(x, -np.inf)))
    return 2 * np.maximum(up, down)


@pytest.mark.parametrize("name", CASES)
def test_round_trips(name):
    dist = sbp(**CASES[name])
    q = np.concatenate([[1e-12, 1e-6], np.linspace(0.001, 0.999, 41), [1 - 1e-6]])
    x = dist.ppf(q)
    assert not np.isnan(x).any()
    assert np.all(np.abs(dist.cdf(x) - q) <= 1e-12 * q + representable_error(dist, x))
    x_upper = dist.isf(q)
    assert np.all(np.abs(dist.sf(x_upper) - q) <= 1e-12 * q + representable_error(dist, x_upper))
    # Where the density is positive on both sides of x the quantile is the true inverse;
    # x -> q -> x loses the rounding of q (and of x itself), divided by the density (the
    # smaller of the two sides at a threshold): |dx| <~ eps * min(q, 1 - q) / pdf.
    spread = representable_error(dist, x)
    density = np.minimum.reduce(
        [dist.pdf(x * (1 - 1e-9) - 1e-9), dist.pdf(x), dist.pdf(x * (1 + 1e-9) + 1e-9)]
    )
    inside = density > 0
    x, q, density, spread = x[inside], q[inside], density[inside], spread[inside]
    smaller = np.minimum(q, 1 - q)  # relative error ~ eps |log q|: exp amplifies log's error
    q_error = 8 * np.finfo(float).eps * smaller * (1 + np.abs(np.log(smaller))) + spread
    tolerance = 1e-13 * np.abs(x) + q_error / density
    below, above = q <= 0.5, q > 0.5
    assert np.all(np.abs(dist.ppf(dist.cdf(x[below])) - x[below]) <= tolerance[below])
    assert np.all(np.abs(dist.isf(dist.sf(x[above])) - x[above]) <= tolerance[above])


# Bodies where ``(mass * d) / width`` rounds above ``mass`` at the end of a bin, just
# before an empty bin: the survival must still not increase (regression).
EMPTY_BIN_BODIES = [
    (np.array([0.0, 1.0, 2.0, 4.5]), np.array([5 / 9, 0.0, 4 / 9])),
    (np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.99023438]), np.array([0.0, 0.0, 0.0, 2 / 3, 0.0, 1 / 3])),
]


@pytest.mark.parametrize(("edges", "probs"), EMPTY_BIN_BODIES)
def test_monotone_across_empty_bins(edges, probs):
    dist = sbp(edges, probs, 0.25, 0.25, 0.0, 1.0, 0.0, 1.0)
    x = np.sort(np.concatenate([np.linspace(edges[0] - 1, edges[-1] + 1, 301), edges]))
    assert np.all(np.diff(dist.cdf(x)) >= 0)
    assert np.all(np.diff(dist.sf(x)) <= 0)
    assert np.all(np.diff(dist.logsf(x)) <= 0) and np.all(np.diff(dist.logcdf(x)) >= 0)


def test_heavy_tail_quantile_overflows_quietly():
    """The true quantile overflows float64: +inf, without an overflow warning (regression)."""
    dist = sbp(**{**CASES["heavy_both"], "upper_xi": 3.0, "lower_xi": 3.0})
    assert float(dist.isf(1e-300)) == np.inf
    assert float(dist.ppf(1e-300)) == -np.inf
    assert np.isfinite(dist.isf(1e-30))


# ----------------------------------------------------------------------------- quadrature


@pytest.mark.parametrize("lower_xi", [-1.5, -0.6, 0.0, 0.5, 0.9])
@pytest.mark.parametrize("upper_xi", [-0.3, 0.0, 0.8])
def test_normalisation_by_quadrature(lower_xi, upper_xi):
    rng = np.random.default_rng([2024, round(100 * (lower_xi + 2)), round(100 * (upper_xi + 2))])
    for _ in range(2):
        p = random_parameters(rng, lower_xi, upper_xi)
        dist = sbp(**p)
        lo, hi = (float(v) for v in dist.support())
        u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
        pdf = lambda x, dist=dist: float(dist.pdf(x))  # noqa: E731
        lower = integrate.quad(pdf, lo, u_lower, **QUAD)[0]
        inside = [e for e in p["bin_edges"] if u_lower < e < u_upper] or None
        body = integrate.quad(pdf, u_lower, u_upper, points=inside, **QUAD)[0]
        upper = integrate.quad(pdf, u_upper, hi, **QUAD)[0]
        assert lower == pytest.approx(p["lower_tail_prob"], abs=1e-9)
        assert upper == pytest.approx(p["upper_tail_prob"], abs=1e-9)
        assert lower + body + upper == pytest.approx(1.0, abs=1e-6)
        assert body == pytest.approx(1 - p["lower_tail_prob"] - p["upper_tail_prob"], abs=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_cdf_is_the_integral_of_the_density(name):
    p = CASES[name]
    dist = sbp(**p)
    pdf = lambda x: float(dist.pdf(x))  # noqa: E731
    x = evaluation_points(p, dist)  # sorted
    start = float(dist.support()[0])
    steps = [integrate_pieces(dist, p, pdf, a, b) for a, b in zip([start, *x[:-1]], x, strict=True)]
    assert_allclose(np.cumsum(steps), dist.cdf(x), rtol=0, atol=1e-9)


MOMENT_CASES = ["heavy_both", "bounded_both_empty_bin", "exponential_uneven", "single_bin_mixed"]


@pytest.mark.parametrize("name", MOMENT_CASES)
def test_mean_and_variance_by_quadrature(name):
    p = CASES[name]
    dist = sbp(**p)
    lo, hi = (float(v) for v in dist.support())
    mean = integrate_pieces(dist, p, lambda x: x * float(dist.pdf(x)), lo, hi)
    var = integrate_pieces(dist, p, lambda x: (x - mean) ** 2 * float(dist.pdf(x)), lo, hi)
    assert float(dist.mean()) == pytest.approx(mean, rel=1e-8, abs=1e-10)
    assert float(dist.var()) == pytest.approx(var, rel=1e-8)
    assert float(dist.std()) == pytest.approx(np.sqrt(var), rel=1e-8)


@pytest.mark.parametrize("name", MOMENT_CASES)
@pytest.mark.parametrize("level", [0.01, 0.1, 0.5, 0.9, 0.97, 0.995])
def test_expected_shortfall_by_quadrature(name, level):
    p = CASES[name]
    dist = sbp(**p)
    lo, hi = (float(v) for v in dist.support())
    value_at_risk = float(dist.ppf(level))
    first_moment = lambda x: x * float(dist.pdf(x))  # noqa: E731
    above = integrate_pieces(dist, p, first_moment, value_at_risk, hi) / (1 - level)
    below = integrate_pieces(dist, p, first_moment, lo, value_at_risk) / level
    assert float(dist.mean_above(level)) == pytest.approx(above, rel=1e-8, abs=1e-10)
    assert float(dist.mean_below(level)) == pytest.approx(below, rel=1e-8, abs=1e-10)


def test_infinite_moments():
    base = CASES["heavy_both"]
    assert float(sbp(**{**base, "upper_xi": 1.0}).mean()) == np.inf
    assert float(sbp(**{**base, "lower_xi": 1.2}).mean()) == -np.inf
    assert np.isnan(sbp(**{**base, "lower_xi": 1.2, "upper_xi": 1.0}).mean())
    assert float(sbp(**{**base, "upper_xi": 0.5}).var()) == np.inf
    assert float(sbp(**{**base, "lower_xi": 0.7}).var()) == np.inf
    assert np.isfinite(sbp(**{**base, "upper_xi": 0.49}).var())
    assert float(sbp(**{**base, "upper_xi": 1.0}).mean_above(0.99)) == np.inf


# ----------------------------------------------------------------------------- draws


@pytest.mark.parametrize("name", CASES)
def test_rvs_ks(name):
    dist = sbp(**CASES[name])
    draws = dist.rvs(size=4000, random_state=20240601)
    assert stats.kstest(draws, dist.cdf).pvalue > 1e-3


def test_rvs_is_inversion_of_one_uniform_per_draw():
    dist = sbp(**CASES["heavy_both"])
    draws = dist.rvs(size=(3, 4), random_state=7)
    assert draws.shape == (3, 4)
    assert_allclose(draws, dist.ppf(np.random.default_rng(7).random((3, 4))), rtol=1e-14)
    assert_allclose(dist.rvs(size=5, random_state=11), dist.rvs(size=5, random_state=11), rtol=0)


# ----------------------------------------------------------------------------- batches


def batched_parameters(n_draws, rng):
    edges = np.sort(rng.normal(scale=2, size=(n_draws, 6)), axis=-1)
    probs = rng.dirichlet(np.ones(5), size=n_draws)
    probs[0, 2] = 0.0
    probs /= probs.sum(axis=-1, keepdims=True)
    return dict(
        bin_edges=edges,
        bin_probs=probs,
        lower_tail_prob=rng.uniform(0.02, 0.3, n_draws),
        upper_tail_prob=rng.uniform(0.02, 0.3, n_draws),
        lower_xi=rng.uniform(-0.5, 0.5, n_draws),
        lower_sigma=rng.uniform(0.2, 2, n_draws),
        upper_xi=np.where(np.arange(n_draws) % 2 == 0, 0.0, rng.uniform(-0.5, 0.9, n_draws)),
        upper_sigma=rng.uniform(0.2, 2, n_draws),
    )


def row(p, i):
    return {name: value[i] for name, value in p.items()}


def test_batch_semantics_against_draws():
    rng = np.random.default_rng(5)
    n_draws = 7
    p = batched_parameters(n_draws, rng)
    dist = sbp(**p)
    assert dist.batch_shape == (n_draws,)
    x = np.array([-30.0, -3.0, -0.5, 0.0, 0.4, 2.5, 40.0])
    q = np.array([0.0, 1e-4, 0.2, 0.5, 0.93, 1.0])
    # x[..., None] against S draws: result x.shape + (S,)
    for method, argument in [
        ("logpdf", x),
        ("logcdf", x),
        ("logsf", x),
        ("ppf", q),
        ("isf", q),
        ("mean_above", q[1:-1]),
        ("mean_below", q[1:-1]),
    ]:
        got = getattr(dist, method)(argument[:, None])
        assert got.shape == (argument.size, n_draws), method
        expected = np.stack([getattr(sbp(**row(p, i)), method)(argument) for i in range(n_draws)], axis=-1)
        assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=method)
    # Same shape as the batch: element i under parameter set i.
    assert_allclose(dist.logpdf(x), [sbp(**row(p, i)).logpdf(x[i]) for i in range(n_draws)], rtol=1e-12)
    for method in ("mean", "var", "median"):
        expected = [getattr(sbp(**row(p, i)), method)() for i in range(n_draws)]
        assert_allclose(getattr(dist, method)(), expected, rtol=1e-12, err_msg=method)
    assert_allclose(dist[3].logpdf(x), sbp(**row(p, 3)).logpdf(x), rtol=1e-14)
    # Draws: one per batch entry by default, size must broadcast against the batch.
    assert dist.rvs(random_state=1).shape == (n_draws,)
    assert dist.rvs(size=(100, n_draws), random_state=1).shape == (100, n_draws)


def test_batched_scalar_parameter_against_vector_values():
    p = {**CASES["heavy_both"], "upper_xi": np.linspace(0.1, 0.6, 50)}
    dist = sbp(**p)
    x = np.array([3.0, 5.0, 10.0])
    sf = dist.sf(x[:, None])
    assert sf.shape == (3, 50)
    for j in (0, 17, 49):
        assert_allclose(sf[:, j], sbp(**{**p, "upper_xi": p["upper_xi"][j]}).sf(x), rtol=1e-13)


# ----------------------------------------------------------------------------- absent tails


def test_absent_tails_are_the_binned_body():
    edges, probs = np.array([0.0, 1.0, 3.0, 4.0]), np.array([0.2, 0.0, 0.8])
    dist = sbp(edges, probs)
    assert float(dist.lower_threshold) == 0.0 and float(dist.upper_threshold) == 4.0
    x = np.array([-1.0, 0.0, 0.5, 2.0, 3.5, 4.0, 5.0])
    with np.errstate(divide="ignore"):
        expected = np.log([0.0, 0.2, 0.2, 0.0, 0.8, 0.8, 0.0])
    assert_allclose(dist.logpdf(x), expected, rtol=1e-14)
    assert_allclose(dist.cdf(x), [0.0, 0.0, 0.1, 0.2, 0.6, 1.0, 1.0], rtol=1e-14, atol=1e-16)
    assert_allclose(dist.sf(x), [1.0, 1.0, 0.9, 0.8, 0.4, 0.0, 0.0], rtol=1e-14, atol=1e-16)
    assert tuple(float(v) for v in dist.support()) == (0.0, 4.0)
    assert float(dist.mean()) == pytest.approx(0.2 * 0.5 + 0.8 * 3.5)
    assert float(dist.ppf(0.6)) == pytest.approx(3.5)


def test_single_tail():
    p = CASES["heavy_both"]
    dist = sbp(
        p["bin_edges"],
        p["bin_probs"],
        upper_tail_prob=0.1,
        upper_xi=0.3,
        upper_sigma=1.0,
    )
    assert not dist.has_lower_tail and dist.has_upper_tail
    assert float(dist.support()[0]) == -3.0 and float(dist.support()[1]) == np.inf
    assert float(dist.logpdf(-3.5)) == -np.inf
    assert float(dist.sf(dist.upper_threshold)) == pytest.approx(0.1)
    pdf = lambda x: float(dist.pdf(x))  # noqa: E731
    total = integrate.quad(pdf, -3.0, float(dist.upper_threshold), points=list(p["bin_edges"][1:-1]), **QUAD)[
        0
    ]
    total += integrate.quad(pdf, float(dist.upper_threshold), np.inf, **QUAD)[0]
    assert total == pytest.approx(1.0, abs=1e-8)


def test_partial_tail_is_an_error():
    p = CASES["heavy_both"]
    with pytest.raises(InvalidParameterError, match="upper_xi") as info:
        sbp(p["bin_edges"], p["bin_probs"], upper_tail_prob=0.1, upper_sigma=1.0)
    assert "upper_tail_prob" in str(info.value)


# ----------------------------------------------------------------------------- validation


BAD_PARAMETERS = [
    ("bin_edges", {"bin_edges": [0.0, 2.0, 1.0, 3.0]}, ["bin_edges", "1.0", "2.0"]),
    ("bin_probs", {"bin_probs": [0.5, -0.1, 0.6]}, ["bin_probs", "-0.1"]),
    ("bin_probs", {"bin_probs": [0.5, 0.3, 0.3]}, ["bin_probs", "sum", "1.1"]),
    ("lower_tail_prob", {"lower_tail_prob": -0.01}, ["lower_tail_prob", "-0.01", "[0, 1)"]),
    ("upper_tail_prob", {"upper_tail_prob": 1.2}, ["upper_tail_prob", "1.2"]),
    ("upper_tail_prob", {"upper_tail_prob": -0.05}, ["upper_tail_prob", "-0.05"]),
    (
        "tail sum",
        {"lower_tail_prob": 0.6, "upper_tail_prob": 0.45},
        ["lower_tail_prob + upper_tail_prob", "1.05"],
    ),
    ("lower_sigma", {"lower_sigma": 0.0}, ["lower_sigma", "0.0"]),
    ("upper_sigma", {"upper_sigma": -2.0}, ["upper_sigma", "-2.0"]),
    ("lengths", {"bin_probs": [0.5, 0.5]}, ["bin_edges", "bin_probs", "4", "2"]),
    ("lower_xi", {"lower_xi": np.nan}, ["lower_xi", "nan"]),
    ("batched sigma", {"upper_sigma": np.array([1.0, 0.5, -3.0])}, ["upper_sigma", "-3.0", "index 2"]),
]


@pytest.mark.parametrize(("label", "bad", "expected"), BAD_PARAMETERS, ids=[b[0] for b in BAD_PARAMETERS])
def test_bad_parameters_name_the_parameter_and_value(label, bad, expected):
    p = dict(
        bin_edges=[0.0, 1.0, 2.0, 3.0],
        bin_probs=[0.2, 0.3, 0.5],
        lower_tail_prob=0.1,
        upper_tail_prob=0.1,
        lower_xi=0.1,
        lower_sigma=1.0,
        upper_xi=0.1,
        upper_sigma=1.0,
    )
    with pytest.raises(InvalidParameterError) as info:
        sbp(**{**p, **bad})
    for fragment in expected:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_mirror_is_the_distribution_of_minus_x():
    dist = sbp(**CASES["empty_outer_bins_tiny_xi"])
    mirrored = dist.mirror()
    x = np.linspace(-12, 12, 97)
    assert_allclose(mirrored.cdf(-x), dist.sf(x), rtol=1e-12, atol=1e-15)
    q = np.linspace(0.01, 0.99, 11)
    assert_allclose(mirrored.ppf(q), -dist.isf(q), rtol=1e-12, atol=1e-13)


def test_interval_and_median():
    dist = sbp(**CASES["heavy_both"])
    low, high = dist.interval(0.9)
    assert float(dist.cdf(low)) == pytest.approx(0.05) and float(dist.sf(high)) == pytest.approx(0.05)
    assert float(dist.median()) == pytest.approx(0.0, abs=1e-14)
