"""Property tests (hypothesis) over random valid parameter sets.

Parameter sets cover one to six uneven bins (some empty), tail masses from 1% to
45%, bounded (xi < 0, down to -1.4), exponential (xi = 0, and +-1e-9) and heavy
(xi up to 1.5) tails on each side. Each property is checked on the numpy
counterpart and on the PyMC class (compiled once, see ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate

from sbp_bayes.stats import sbp

FAST = settings(max_examples=40, deadline=None)
EPS = np.finfo(float).eps

finite = dict(allow_nan=False, allow_infinity=False)
shapes = st.one_of(st.sampled_from([0.0, 1e-9, -1e-9]), st.floats(-1.4, 1.5, **finite))


@st.composite
def sbp_parameters(draw):
    n_bins = draw(st.integers(1, 6))
    start = draw(st.floats(-5, 5, **finite))
    widths = draw(st.lists(st.floats(0.05, 3.0, **finite), min_size=n_bins, max_size=n_bins))
    weights = draw(
        st.lists(st.one_of(st.just(0.0), st.floats(0.05, 1.0, **finite)), min_size=n_bins, max_size=n_bins)
    )
    weights = np.array(weights)
    if weights.sum() == 0:
        weights[draw(st.integers(0, n_bins - 1))] = 1.0
    return dict(
        bin_edges=start + np.concatenate([[0.0], np.cumsum(widths)]),
        bin_probs=weights / weights.sum(),
        lower_tail_prob=draw(st.floats(0.01, 0.45, **finite)),
        upper_tail_prob=draw(st.floats(0.01, 0.45, **finite)),
        lower_xi=draw(shapes),
        lower_sigma=draw(st.floats(0.05, 5.0, **finite)),
        upper_xi=draw(shapes),
        upper_sigma=draw(st.floats(0.05, 5.0, **finite)),
    )


def grid(dist, n=60):
    """Sorted points across both tails and the body (and beyond bounded ends)."""
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    span = u_upper - u_lower + 1.0
    x = np.concatenate(
        [
            np.linspace(u_lower - 20 * span, u_upper + 20 * span, n),
            np.linspace(u_lower - span, u_upper + span, n),
            dist.bin_edges,
            [u_lower, u_upper, -1e8, 1e8],
        ]
    )
    return np.sort(x)


def scale_of(params):
    """Size of the numbers a value is built from (edges, thresholds, scales): a
    threshold or an excess carries a few eps of this, absolutely."""
    return max(params["lower_sigma"], params["upper_sigma"], *np.abs(params["bin_edges"]))


@FAST
@given(sbp_parameters())
def test_cdf_monotone_and_complementary(compiled_sbp, params):
    dist = sbp(**params)
    x = grid(dist)
    got = compiled_sbp(params, x)
    for logcdf, logsf in [(dist.logcdf(x), dist.logsf(x)), (got["logcdf"], got["logccdf"])]:
        cdf, sf = np.exp(logcdf), np.exp(logsf)
        assert not np.isnan(cdf).any() and not np.isnan(sf).any()
        assert np.all(np.diff(cdf) >= 0) and np.all(np.diff(sf) <= 0)
        assert np.all((cdf >= 0) & (cdf <= 1))
        assert_allclose(cdf + sf, 1.0, rtol=0, atol=1e-12)
    # The PyMC class and the numpy counterpart agree on the grid. The density jumps at the
    # thresholds, which the two may round to neighbouring floats (numba's fastmath
    # contracts ``left + fraction * width`` into a fused multiply-add): within a few ulps
    # of a threshold the PyMC value must be the density on one side or the other.
    thresholds = np.array([dist.lower_threshold, dist.upper_threshold], dtype=float)
    # u = left + fraction * width carries the rounding of the edges, not of u itself
    rounding = 8 * EPS * np.abs(params["bin_edges"]).max()
    near = np.abs(x[:, None] - thresholds).min(axis=1) <= rounding
    assert_allclose(got["logp"][~near], dist.logpdf(x[~near]), rtol=1e-10, atol=1e-10)
    for value, logp in zip(x[near], got["logp"][near], strict=True):
        assert one_side_or_the_other(dist, value, logp, rounding)
    assert_allclose(got["logcdf"], dist.logcdf(x), rtol=1e-10, atol=1e-10)
    assert_allclose(got["logccdf"], dist.logsf(x), rtol=1e-10, atol=1e-10)
    own = compiled_sbp(params, qs=[params["lower_tail_prob"], 1 - params["upper_tail_prob"]])["icdf"]
    assert np.all(np.abs(own - thresholds) <= rounding)


def one_side_or_the_other(dist, value, logp, rounding):
    """``logp`` equals the numpy log density within ``rounding`` of ``value``, either side."""
    allowed = dist.logpdf(value + np.array([-2, -1, 0, 1, 2]) * rounding)
    return bool(np.any(np.isclose(logp, allowed, rtol=1e-10, atol=1e-10) | (logp == allowed)))


@FAST
@given(sbp_parameters())
def test_tail_masses_and_ends(compiled_sbp, params):
    dist = sbp(**params)
    a_lower, a_upper = params["lower_tail_prob"], params["upper_tail_prob"]
    assert np.isclose(float(dist.cdf(dist.lower_threshold)), a_lower, rtol=1e-12)
    assert np.isclose(float(dist.sf(dist.upper_threshold)), a_upper, rtol=1e-12)
    got = compiled_sbp(params, [-np.inf, np.inf], [0.0, a_lower, 1 - a_upper, 1.0])
    assert not np.isnan(got["icdf"]).any()
    low, u_lower, u_upper, high = got["icdf"]
    # -inf / +inf for xi >= 0, else the bounded end u -+ sigma / |xi| (to rounding)
    expected_low = (
        -np.inf if params["lower_xi"] >= 0 else u_lower + params["lower_sigma"] / params["lower_xi"]
    )
    expected_high = (
        np.inf if params["upper_xi"] >= 0 else u_upper - params["upper_sigma"] / params["upper_xi"]
    )
    assert low == expected_low or abs(low - expected_low) <= 4 * EPS * abs(expected_low)
    assert high == expected_high or abs(high - expected_high) <= 4 * EPS * abs(expected_high)
    assert list(got["logcdf"]) == [-np.inf, 0.0] and list(got["logccdf"]) == [0.0, -np.inf]
    # beyond a bounded end: CDF exactly 0 or 1, density 0
    if np.isfinite(low):
        assert float(dist.cdf(low - 1e-6 * (1 + abs(low)))) == 0.0
        assert float(dist.pdf(low - 1e-6 * (1 + abs(low)))) == 0.0
    if np.isfinite(high):
        assert float(dist.cdf(high + 1e-6 * (1 + abs(high)))) == 1.0
        assert float(dist.pdf(high + 1e-6 * (1 + abs(high)))) == 0.0


@FAST
@given(sbp_parameters(), st.lists(st.floats(1e-12, 1 - 1e-12, **finite), min_size=1, max_size=20))
def test_quantile_round_trip(compiled_sbp, params, qs):
    dist = sbp(**params)
    qs = np.array(qs)
    x = dist.ppf(qs)
    assert not np.isnan(x).any()
    assert_allclose(compiled_sbp(params, qs=qs)["icdf"], x, rtol=1e-10, atol=1e-10)
    # cdf(ppf(q)) = q up to how much the CDF moves when x is perturbed by a few eps of
    # the scale of the numbers it is made of
    delta = 8 * EPS * np.maximum(np.abs(x), scale_of(params))
    spread = np.maximum(np.abs(dist.cdf(x + delta) - dist.cdf(x)), np.abs(dist.cdf(x) - dist.cdf(x - delta)))
    assert np.all(np.abs(dist.cdf(x) - qs) <= 1e-12 * qs + spread + 1e-16)
    # ppf(cdf(x)) = x where the density is positive on both sides of x. The error in q
    # (its own rounding plus the spread) is divided by the density, the smaller one of the
    # two sides at a threshold.
    h = 1e-7 * scale_of(params)
    density = np.minimum.reduce([dist.pdf(x - h), dist.pdf(x), dist.pdf(x + h)])
    inside = density > 0
    again = dist.ppf(dist.cdf(x[inside]))
    # q = a exp(log-survival) carries a relative error of ~eps |log q| (exp amplifies the
    # absolute error of the logarithm)
    q_error = 8 * EPS * qs * (1 + np.abs(np.log(qs))) + spread
    tolerance = delta + q_error / np.where(inside, density, 1.0)
    assert np.all(np.abs(again - x[inside]) <= tolerance[inside])


@settings(max_examples=12, deadline=None)
@given(sbp_parameters())
def test_density_integrates_to_one(params):
    # Heavy tails with xi close to 1 converge too slowly for a fast quadrature.
    params = params | {"lower_xi": min(params["lower_xi"], 0.8), "upper_xi": min(params["upper_xi"], 0.8)}
    dist = sbp(**params)
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    # A bounded end far out (xi = -1e-5 puts it 1e5 sigma beyond the threshold) is integrated
    # as an infinite one: quad's transform of an infinite range finds the mass within tens of
    # sigma, where a finite range of 1e5 sigma would sample it too coarsely to see it.
    lo, hi = (float(v) for v in dist.support())
    lo = lo if u_lower - lo < 1e3 * params["lower_sigma"] else -np.inf
    hi = hi if hi - u_upper < 1e3 * params["upper_sigma"] else np.inf
    pdf = lambda x: float(dist.pdf(x))  # noqa: E731
    quad = dict(epsabs=1e-11, epsrel=1e-10, limit=200)
    lower = integrate.quad(pdf, lo, u_lower, **quad)[0]
    inside = [e for e in params["bin_edges"] if u_lower < e < u_upper] or None
    body = integrate.quad(pdf, u_lower, u_upper, points=inside, **quad)[0] if u_upper > u_lower else 0.0
    upper = integrate.quad(pdf, u_upper, hi, **quad)[0]
    assert abs(lower - params["lower_tail_prob"]) < 1e-7
    assert abs(upper - params["upper_tail_prob"]) < 1e-7
    assert abs(lower + body + upper - 1.0) < 1e-6


@FAST
@given(sbp_parameters())
def test_density_is_piecewise_as_defined(params):
    """Between two consecutive edges inside the body the density is constant and equals
    bin mass / bin width; the body carries exactly 1 - a_L - a_U."""
    dist = sbp(**params)
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    edges, probs = params["bin_edges"], params["bin_probs"]
    for k in range(len(probs)):
        left, right = max(edges[k], u_lower), min(edges[k + 1], u_upper)
        if right - left < 1e-9 * (1 + abs(left)):
            continue
        x = np.linspace(left, right, 7)[1:-1]
        assert_allclose(dist.pdf(x), probs[k] / (edges[k + 1] - edges[k]), rtol=1e-12)
    body_mass = float(dist.cdf(u_upper) - dist.cdf(u_lower))
    expected = 1 - params["lower_tail_prob"] - params["upper_tail_prob"]
    assert abs(body_mass - expected) < 1e-12
