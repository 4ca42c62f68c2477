"""The PyMC class ``SplicedBinnedPareto`` against its numpy counterpart and the maths.

``sbp_bayes.stats.sbp`` is itself checked against scipy and quadrature in
``tests/test_stats.py``; here the PyMC class must agree with it (``pymc.testing``
checks at 1e-9, direct comparisons at 1e-10 including edges, thresholds, far
tails and infinities), draw from the right distribution, have finite gradients
continuous through ``xi = 0``, broadcast batches in float64 and float32 and reject
bad parameters.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose
from pymc.logprob.utils import ParameterValueError
from pymc.testing import (
    BaseTestDistributionRandom,
    Domain,
    check_icdf,
    check_logccdf,
    check_logcdf,
    check_logp,
)
from scipy import integrate, stats

from sbp_bayes import InvalidParameterError, SplicedBinnedPareto
from sbp_bayes.distributions import PARAMETER_NAMES
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
        upper_xi=1.5,
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


def args_of(params, dtype="float64"):
    return [np.asarray(params[name], dtype=dtype) for name in PARAMETER_NAMES]


def probe_values(params):
    """Bin edges, next to the thresholds, far tails, around support ends, infinities.

    Values *exactly* at the thresholds are checked in ``test_exactly_at_thresholds``:
    the density jumps there, and the two implementations may round a threshold to
    neighbouring floats, so a value a few ulps away can fall on different sides.
    """
    dist = sbp(**params)
    lo, hi = (float(v) for v in dist.support())
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    values = [*params["bin_edges"], u_lower - 1e-9, u_lower + 1e-9, u_upper - 1e-9, u_upper + 1e-9]
    values += [u_lower - 0.5, u_upper + 0.5, -1e3, 1e3, -1e8, 1e8, -1e300, 1e300, -np.inf, np.inf]
    # beyond bounded ends, and inside them (not within 1e-9: there 1 + xi z / sigma is
    # ill-conditioned and two codes rounding differently legitimately disagree)
    values += [lo - 1e-9, hi + 1e-9, lo - 1.0, hi + 1.0, lo + 1e-3, hi - 1e-3]
    values += list(np.random.default_rng(0).uniform(u_lower - 5, u_upper + 5, 20))
    values = np.array(values)
    return values[~np.isnan(values)]


def representation_scale(params):
    """Size of the numbers a value is built from (edges, thresholds, scales): a threshold
    or an excess carries a few ``eps`` of this, absolutely."""
    return max(params["lower_sigma"], params["upper_sigma"], *np.abs(params["bin_edges"]))


PROBE_QS = np.array([0.0, 1e-300, 1e-12, 1e-3, 0.3, 0.5, 0.7, 0.999, 1 - 1e-12, 1.0])


# ----------------------------------------------------------------------------- pymc.testing

EDGE_VECTORS = Domain(
    [
        np.array([-3.0, -1.0, 0.0, 1.0, 3.0]),
        np.array([-3.0, -2.5, 0.0, 0.5, 3.0]),
        np.array([0.0, 1, 1.5, 4, 10]),
    ],
    edges=(None, None),
)
PROB_VECTORS = Domain(
    [np.array([0.25, 0.25, 0.25, 0.25]), np.array([0.1, 0.0, 0.6, 0.3]), np.array([0.05, 0.5, 0.45, 0.0])],
    edges=(None, None),
)
XI = Domain([-np.inf, -0.6, 0.0, 1e-9, 0.4, 1.3, np.inf])
SIGMA = Domain([0.0, 0.3, 2.0, np.inf])
PARAM_DOMAINS = dict(
    bin_edges=EDGE_VECTORS,
    bin_probs=PROB_VECTORS,
    lower_tail_prob=Domain([0.0, 0.02, 0.1, 0.35, 0.45]),
    upper_tail_prob=Domain([0.0, 0.05, 0.2, 0.45]),
    lower_xi=XI,
    lower_sigma=SIGMA,
    upper_xi=XI,
    upper_sigma=SIGMA,
)
VALUES = Domain(
    [
        -np.inf,
        -1e6,
        -40.0,
        -5.0,
        -3.0,
        -2.9,
        -1.0,
        -0.3,
        0.0,
        0.5,
        1.0,
        2.0,
        3.0,
        4.5,
        9.99,
        12.0,
        1e6,
        np.inf,
    ],
    edges=(None, None),
)


@pytest.fixture
def seeded_global_numpy():
    """pymc.testing draws its subset of the parameter grid from numpy's global RNG
    (``numpy.random.choice``), so only the legacy global seed makes it reproducible."""
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(20250101)  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


@pytest.mark.usefixtures("seeded_global_numpy")
class TestPymcTestingChecks:
    n_samples = 300

    def test_check_logp(self):
        check_logp(
            SplicedBinnedPareto,
            VALUES,
            PARAM_DOMAINS,
            lambda value, **p: sbp(**p).logpdf(value),
            decimal=9,
            n_samples=self.n_samples,
        )

    def test_check_logcdf(self):
        check_logcdf(
            SplicedBinnedPareto,
            VALUES,
            PARAM_DOMAINS,
            lambda value, **p: sbp(**p).logcdf(value),
            decimal=9,
            n_samples=self.n_samples,
        )

    def test_check_logccdf(self):
        check_logccdf(
            SplicedBinnedPareto,
            VALUES,
            PARAM_DOMAINS,
            lambda value, **p: sbp(**p).logsf(value),
            decimal=9,
            n_samples=self.n_samples,
        )

    def test_check_icdf(self):
        check_icdf(
            SplicedBinnedPareto,
            PARAM_DOMAINS,
            lambda q, **p: sbp(**p).ppf(q),
            decimal=9,
            n_samples=self.n_samples,
        )


RANDOM_PARAMS = CASES["bounded_both_empty_bin"] | {"upper_xi": 0.3}
REQUIRED_CHECKS = ["check_pymc_params_match_rv_op", "check_pymc_draws_match_reference", "check_rv_size"]


class TestSplicedBinnedParetoRandom(BaseTestDistributionRandom):
    pymc_dist = SplicedBinnedPareto
    pymc_dist_params = RANDOM_PARAMS
    expected_rv_op_params = RANDOM_PARAMS
    reference_dist_params = RANDOM_PARAMS
    size = 50
    checks_to_run = REQUIRED_CHECKS
    # every size is a graph to compile: None, an int and tuples are enough
    sizes_to_check = (None, 1, (4, 5), (2, 4, 2))
    sizes_expected = ((), (1,), (4, 5), (2, 4, 2))

    def reference_dist(self):
        """The RV draws by inversion from one uniform per draw: same seed, same draws."""

        def draw(size, **params):
            return sbp(**params).ppf(self.get_random_state().uniform(size=size))

        return draw

    def test_distribution(self):
        # Spy on every check: a misspelt attribute (pymc-extras' ``tests_to_run``) would
        # make the base class run nothing and pass.
        ran = []
        for name in self.checks_to_run:
            check = getattr(self, name)

            def spy(check=check, name=name):
                check()
                ran.append(name)

            setattr(self, name, spy)
        super().test_distribution()
        assert ran == REQUIRED_CHECKS


# ----------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("name", CASES)
def test_agrees_with_numpy_counterpart(compiled_sbp, name):
    params = CASES[name]
    dist = sbp(**params)
    values = probe_values(params)
    qs = np.concatenate([PROBE_QS, [params["lower_tail_prob"], 1 - params["upper_tail_prob"]]])
    got = compiled_sbp(params, values, qs)
    expected = {"logp": dist.logpdf(values), "logcdf": dist.logcdf(values), "logccdf": dist.logsf(values)}
    expected["icdf"] = dist.ppf(qs)
    for key, value in got.items():
        assert not np.isnan(value).any(), key
        assert_allclose(value, expected[key], rtol=1e-10, atol=1e-10, err_msg=key)
        # both sides agree on which entries are infinite (assert_allclose allows inf == inf only)
        assert_allclose(np.isinf(value), np.isinf(expected[key]), err_msg=key)


@pytest.mark.parametrize("name", CASES)
def test_exactly_at_thresholds(compiled_sbp, name):
    params = CASES[name]
    dist = sbp(**params)
    thresholds = np.array([dist.lower_threshold, dist.upper_threshold], dtype=float)
    # The class's thresholds are its quantiles at a_L and 1 - a_U.
    own = compiled_sbp(params, qs=[params["lower_tail_prob"], 1 - params["upper_tail_prob"]])["icdf"]
    # u = left + fraction * width carries the rounding of the edges, not of u itself
    rounding = 8 * np.finfo(float).eps * np.abs(params["bin_edges"]).max()
    assert np.all(np.abs(own - thresholds) <= rounding)
    for at in (thresholds, own):
        got = compiled_sbp(params, at)
        # the CDF is continuous there and equals the tail masses
        assert_allclose(got["logcdf"], dist.logcdf(at), rtol=1e-10, atol=1e-10)
        assert_allclose(got["logccdf"], dist.logsf(at), rtol=1e-10, atol=1e-10)
        assert_allclose(np.exp(got["logcdf"][0]), params["lower_tail_prob"], rtol=1e-12)
        assert_allclose(np.exp(got["logccdf"][1]), params["upper_tail_prob"], rtol=1e-12)
        # The density jumps there; the two implementations may round a threshold to
        # neighbouring floats (numba's fastmath fuses multiply-adds), so the value must be
        # the density of one side or the other, never anything else.
        for value, logp in zip(at, got["logp"], strict=True):
            sides = dist.logpdf(value + np.array([-2, -1, 0, 1, 2]) * rounding)
            assert np.any(np.isclose(logp, sides, rtol=1e-10, atol=1e-10) | (logp == sides)), (value, logp)
    # Exactly at its own thresholds the numpy counterpart follows the documented convention:
    # the body is closed at both (u_L takes the bin starting there, u_U the bin ending there).
    lower = body_density_at(params, thresholds[0], closed_on="left")
    upper = body_density_at(params, thresholds[1], closed_on="right")
    with np.errstate(divide="ignore"):
        assert_allclose(dist.logpdf(thresholds), np.log([lower, upper]), rtol=1e-12)


def body_density_at(params, x, closed_on):
    """Density of the bin [e_k, e_{k+1}) holding x, or of the bin ending at x (closed_on right)."""
    edges, probs = params["bin_edges"], params["bin_probs"]
    side = "right" if closed_on == "left" else "left"
    k = int(np.clip(np.searchsorted(edges, x, side=side) - 1, 0, len(probs) - 1))
    return probs[k] / (edges[k + 1] - edges[k])


@pytest.mark.parametrize("name", CASES)
def test_ends_of_the_support(compiled_sbp, name):
    params = CASES[name]
    dist = sbp(**params)
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    low_end = -np.inf if params["lower_xi"] >= 0 else u_lower + params["lower_sigma"] / params["lower_xi"]
    high_end = np.inf if params["upper_xi"] >= 0 else u_upper - params["upper_sigma"] / params["upper_xi"]
    got = compiled_sbp(params, [-np.inf, np.inf], [0.0, 1.0])
    # icdf(0) / icdf(1): the bounded endpoint or -inf / +inf, never nan
    assert got["icdf"][0] == pytest.approx(low_end, rel=1e-14)
    assert got["icdf"][1] == pytest.approx(high_end, rel=1e-14)
    assert list(got["logp"]) == [-np.inf, -np.inf]
    assert list(got["logcdf"]) == [-np.inf, 0.0]
    assert list(got["logccdf"]) == [0.0, -np.inf]
    # Beyond a bounded end: density 0, CDF exactly 0 (below) or exactly 1 (above).
    beyond = []
    if np.isfinite(low_end):
        beyond_low = [low_end - 1e-9, low_end - 1.0, -1e300]
        got_low = compiled_sbp(params, beyond_low)
        assert np.all(got_low["logp"] == -np.inf)
        assert np.all(got_low["logcdf"] == -np.inf) and np.all(got_low["logccdf"] == 0.0)
        beyond += beyond_low
    if np.isfinite(high_end):
        beyond_high = [high_end + 1e-9, high_end + 1.0, 1e300]
        got_high = compiled_sbp(params, beyond_high)
        assert np.all(got_high["logp"] == -np.inf)
        assert np.all(got_high["logcdf"] == 0.0) and np.all(got_high["logccdf"] == -np.inf)
        beyond += beyond_high
    if name == "bounded_both_empty_bin":
        assert len(beyond) == 6


def test_thresholds_by_hand(compiled_sbp):
    # u_L = Q_B(0.1) = 1 (end of bin 0), u_U = Q_B(0.8) = 4 + 6 (0.1 / 0.3) = 6,
    # lower end 1 - 2 / 0.5 = -3, upper end 6 + 1 / 0.25 = 10.
    params = CASES["bounded_both_empty_bin"]
    got = compiled_sbp(params, [1.0, 6.0, 0.5, 5.0, 8.0], [0.0, 0.1, 0.8, 1.0])
    assert_allclose(got["icdf"], [-3.0, 1.0, 6.0, 10.0], rtol=1e-14)
    assert_allclose(np.exp(got["logcdf"][:2]), [0.1, 0.8], rtol=1e-14)
    # density: lower tail a_L g(u_L - x) = 0.1 * (1/2) (1 - 0.5 * 0.5/2)^1 ; body 0.3 / 6;
    # upper tail 0.2 * (1/1) (1 - 0.25 * 2)^3
    assert_allclose(np.exp(got["logp"][2:]), [0.05 * (1 - 0.125), 0.05, 0.2 * 0.5**3], rtol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_round_trips(compiled_sbp, name):
    params = CASES[name]
    qs = np.concatenate([[1e-9, 1e-4], np.linspace(0.01, 0.99, 25), [1 - 1e-4]])
    x = compiled_sbp(params, qs=qs)["icdf"]
    back = compiled_sbp(params, x)
    assert not np.isnan(x).any()
    # cdf(icdf(q)) = q, up to how much the CDF moves when x (or its excess over a
    # threshold) changes by a few eps of the representation scale
    delta = 8 * np.finfo(float).eps * np.maximum(np.abs(x), representation_scale(params))
    cdf = np.exp(back["logcdf"])
    spread = np.maximum(
        np.abs(np.exp(compiled_sbp(params, x + delta)["logcdf"]) - cdf),
        np.abs(np.exp(compiled_sbp(params, x - delta)["logcdf"]) - cdf),
    )
    assert np.all(np.abs(cdf - qs) <= 1e-12 * qs + spread + 1e-16)
    assert np.all(np.abs(-np.expm1(back["logccdf"]) - qs) <= 1e-12 + spread)
    # icdf(cdf(x)) = x where the density is positive on both sides: q is known to eps and
    # the spread, which the inverse divides by the density (the smaller side at a jump)
    h = 1e-7 * representation_scale(params)
    density = np.exp(
        np.minimum.reduce(
            [back["logp"], compiled_sbp(params, x - h)["logp"], compiled_sbp(params, x + h)["logp"]]
        )
    )
    inside = density > 0
    again = compiled_sbp(params, qs=cdf[inside])["icdf"]
    tolerance = delta + (4 * np.finfo(float).eps + spread) / np.where(inside, density, 1.0)
    assert np.all(np.abs(again - x[inside]) <= tolerance[inside])


@pytest.mark.parametrize("name", CASES)
def test_logcdf_and_logccdf_are_complementary(compiled_sbp, name):
    params = CASES[name]
    got = compiled_sbp(params, probe_values(params))
    assert_allclose(np.exp(got["logcdf"]) + np.exp(got["logccdf"]), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    ("edges", "probs"),
    [
        (np.array([0.0, 1.0, 2.0, 4.5]), np.array([5 / 9, 0.0, 4 / 9])),
        (np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.99023438]), np.array([0.0, 0.0, 0.0, 2 / 3, 0.0, 1 / 3])),
    ],
)
def test_monotone_across_empty_bins(compiled_sbp, edges, probs):
    """numba's fastmath may round ``d / width`` above 1 at the end of a bin: the body's
    CDF and survival must still be monotone across a following empty bin (regression)."""
    params = dict(
        bin_edges=edges,
        bin_probs=probs,
        lower_tail_prob=0.25,
        upper_tail_prob=0.25,
        lower_xi=0.0,
        lower_sigma=1.0,
        upper_xi=0.0,
        upper_sigma=1.0,
    )
    x = np.sort(np.concatenate([np.linspace(edges[0] - 1, edges[-1] + 1, 301), edges]))
    got = compiled_sbp(params, x)
    assert np.all(np.diff(got["logcdf"]) >= 0)
    assert np.all(np.diff(got["logccdf"]) <= 0)


# ----------------------------------------------------------------------------- draws


@pytest.fixture(scope="module")
def shared_rv():
    """An RV of size 4000 whose parameters are shared variables: every ``pm.draw`` of it
    compiles the same graph (one numba compilation, then cache hits)."""
    shared = {
        name: pytensor.shared(np.asarray(value, dtype="float64"), name=name)
        for name, value in CASES["heavy_both"].items()
    }
    return SplicedBinnedPareto.dist(**shared, size=4000), shared


@pytest.mark.parametrize("name", ["heavy_both", "bounded_both_empty_bin", "single_bin_mixed"])
def test_draws_ks(shared_rv, name):
    rv, shared = shared_rv
    params = CASES[name]
    for key, value in params.items():
        shared[key].set_value(np.asarray(value, dtype="float64"))
    draws = pm.draw(rv, random_seed=20240602)
    assert draws.shape == (4000,)
    assert stats.kstest(draws, sbp(**params).cdf).pvalue > 1e-3
    if name == "heavy_both":  # seeded: same seed, same draws; another seed, others
        assert_allclose(pm.draw(rv, random_seed=20240602), draws, rtol=0)
        assert not np.array_equal(pm.draw(rv, random_seed=1), draws)


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("lower_xi", [-0.6, 0.0, 0.5])
@pytest.mark.parametrize("upper_xi", [-0.3, 0.0, 0.8])
def test_density_integrates_to_one(compiled_sbp, lower_xi, upper_xi):
    rng = np.random.default_rng([7, round(10 * (lower_xi + 1)), round(10 * (upper_xi + 1))])
    n_bins = int(rng.integers(2, 7))
    edges = np.cumsum(np.concatenate([[rng.normal()], rng.exponential(size=n_bins) + 0.05]))
    probs = rng.exponential(size=n_bins)
    probs[rng.integers(n_bins)] = 0.0
    probs /= probs.sum()
    lower_tail, upper_tail = rng.uniform(0.02, 0.4, 2)
    params = dict(
        bin_edges=edges,
        bin_probs=probs,
        lower_tail_prob=lower_tail,
        upper_tail_prob=upper_tail,
        lower_xi=lower_xi,
        lower_sigma=rng.uniform(0.2, 2),
        upper_xi=upper_xi,
        upper_sigma=rng.uniform(0.2, 2),
    )
    low_end, high_end = compiled_sbp(params, qs=[0.0, 1.0])["icdf"]
    u_lower, u_upper = compiled_sbp(params, qs=[lower_tail, 1 - upper_tail])["icdf"]

    def pdf(x):
        return float(np.exp(compiled_sbp(params, [x])["logp"][0]))

    quad = dict(epsabs=1e-11, epsrel=1e-11, limit=200)
    lower = integrate.quad(pdf, low_end, u_lower, **quad)[0]
    inside = [e for e in edges if u_lower < e < u_upper] or None
    body = integrate.quad(pdf, u_lower, u_upper, points=inside, **quad)[0]
    upper = integrate.quad(pdf, u_upper, high_end, **quad)[0]
    assert lower == pytest.approx(lower_tail, abs=1e-8)
    assert upper == pytest.approx(upper_tail, abs=1e-8)
    assert lower + body + upper == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- gradients


@pytest.fixture(scope="module")
def logp_and_gradients():
    """logp at a scalar value and its gradient with respect to every parameter."""
    params = [pt.dvector("bin_edges"), pt.dvector("bin_probs")] + [pt.dscalar(n) for n in PARAMETER_NAMES[2:]]
    value = pt.dscalar("value")
    logp = pm.logp(SplicedBinnedPareto.dist(*params), value)
    function = pytensor.function([value, *params], [logp, *pytensor.grad(logp, params)])

    def evaluate(value, params):
        logp, *grads = function(value, *args_of(params))
        return logp, dict(zip(PARAMETER_NAMES, grads, strict=True))

    return evaluate


GRADIENT_PARAMS = CASES["heavy_both"] | {"bin_probs": np.linspace(1, 2, 12) / np.linspace(1, 2, 12).sum()}


@pytest.mark.parametrize("lower_xi", [-0.3, 0.0, 0.4])
@pytest.mark.parametrize("upper_xi", [-0.2, 0.0, 1.2])
def test_gradients_finite(logp_and_gradients, lower_xi, upper_xi):
    params = GRADIENT_PARAMS | {"lower_xi": lower_xi, "upper_xi": upper_xi}
    dist = sbp(**params)
    lo, hi = (float(v) for v in dist.support())
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    values = [u_lower, u_upper, 0.0, -1.0, 0.5, u_lower - 0.4, u_upper + 0.4, -3.0, 3.0, -1.5]
    # far in the tails (or close to a bounded end)
    values += [lo + 1e-6 if np.isfinite(lo) else -1e6, hi - 1e-6 if np.isfinite(hi) else 1e6]
    values += [-1e12 if np.isinf(lo) else (lo + u_lower) / 2, 1e12 if np.isinf(hi) else (hi + u_upper) / 2]
    for value in values:
        logp, grads = logp_and_gradients(value, params)
        assert np.isfinite(logp), value
        for name, grad in grads.items():
            assert np.all(np.isfinite(grad)), (value, name, grad)
        # a value in a tail depends on that tail's shape, scale and mass
        if value < u_lower:
            assert grads["lower_xi"] != 0 and grads["lower_sigma"] != 0 and grads["lower_tail_prob"] != 0
        if value > u_upper:
            assert grads["upper_xi"] != 0 and grads["upper_sigma"] != 0 and grads["upper_tail_prob"] != 0


def _taylor_scale(t):
    return (1 + t) ** 3


@pytest.mark.parametrize("side", ["lower", "upper"])
@pytest.mark.parametrize("xi", [1e-12, -1e-12, 1e-7, -1e-7, 1e-4])
def test_value_and_gradient_continuous_through_zero(logp_and_gradients, side, xi):
    params = GRADIENT_PARAMS | {"lower_xi": 0.0, "upper_xi": 0.0}
    dist = sbp(**params)
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    sigma = params[f"{side}_sigma"]
    for t in (0.2, 1.0, 5.0):  # excess in units of sigma
        value = u_lower - t * sigma if side == "lower" else u_upper + t * sigma
        logp0, grads0 = logp_and_gradients(value, params)
        logp, grads = logp_and_gradients(value, params | {f"{side}_xi": xi})
        # the exact derivative in xi at 0 is t^2/2 - t, in sigma (t - 1)/sigma
        assert grads0[f"{side}_xi"] == pytest.approx(t**2 / 2 - t, rel=1e-10, abs=1e-12)
        assert grads0[f"{side}_sigma"] == pytest.approx((t - 1) / sigma, rel=1e-10, abs=1e-12)
        # value: first-order Taylor in xi up to O(xi^2 t^3); gradients: O(xi t^3)
        scale = _taylor_scale(t)
        assert abs(logp - (logp0 + xi * grads0[f"{side}_xi"])) <= xi**2 * scale + 1e-13 * abs(logp0)
        for name in PARAMETER_NAMES:
            # Edges and bin probabilities act through the threshold, d logp / d u = O(1/sigma):
            # their gradients are (d logp / d u) (d u / d theta), so the change scales with them.
            chain = 1 + sigma * np.abs(grads0[name])
            tolerance = 2 * abs(xi) * scale * (1 + 1 / sigma) * chain + 1e-9 * (1 + np.abs(grads0[name]))
            assert np.all(np.abs(grads[name] - grads0[name]) <= tolerance), (name, t)


@pytest.mark.parametrize("xi", [(0.3, -0.2), (0.0, 0.0), (-0.4, 0.7)])
def test_gradients_match_finite_differences(logp_and_gradients, xi):
    params = GRADIENT_PARAMS | {"lower_xi": xi[0], "upper_xi": xi[1]}
    dist = sbp(**params)
    u_lower, u_upper = float(dist.lower_threshold), float(dist.upper_threshold)
    h = 1e-6
    # points away from thresholds and edges, so that a small step keeps them in their region
    for value in (u_lower - 0.7, -1.25, 0.75, u_upper + 0.9):
        _, grads = logp_and_gradients(value, params)

        def logp_at(changed, value=value):
            return logp_and_gradients(value, params | changed)[0]

        for name in (
            "lower_tail_prob",
            "upper_tail_prob",
            "lower_xi",
            "lower_sigma",
            "upper_xi",
            "upper_sigma",
        ):
            fd = (logp_at({name: params[name] + h}) - logp_at({name: params[name] - h})) / (2 * h)
            assert grads[name] == pytest.approx(fd, rel=1e-6, abs=1e-7), (value, name)
        for k in range(len(params["bin_edges"])):
            step = np.zeros_like(params["bin_edges"])
            step[k] = h
            edges = params["bin_edges"]
            fd = (logp_at({"bin_edges": edges + step}) - logp_at({"bin_edges": edges - step})) / (2 * h)
            assert grads["bin_edges"][k] == pytest.approx(fd, rel=1e-6, abs=1e-7), (value, "bin_edges", k)
        # bin_probs: directions that stay on the simplex (mass moved from bin j to bin k)
        probs = params["bin_probs"]
        for k, j in [(0, 11), (3, 4), (6, 2), (11, 5)]:
            step = np.zeros_like(probs)
            step[k], step[j] = h, -h
            fd = (logp_at({"bin_probs": probs + step}) - logp_at({"bin_probs": probs - step})) / (2 * h)
            directional = grads["bin_probs"][k] - grads["bin_probs"][j]
            assert directional == pytest.approx(fd, rel=1e-6, abs=1e-7), (value, "bin_probs", k, j)


# ----------------------------------------------------------------------------- batches


def batched_parameters(dtype):
    rng = np.random.default_rng(11)
    n_bins = 4
    edges = np.sort(rng.normal(size=(3, n_bins + 1)), axis=-1)
    probs = rng.dirichlet(np.ones(n_bins), size=3)
    probs[1, 2] = 0.0
    probs /= probs.sum(axis=-1, keepdims=True)
    params = dict(
        bin_edges=edges,
        bin_probs=probs,
        lower_tail_prob=np.array([0.05, 0.1, 0.2]),
        upper_tail_prob=np.array([0.1, 0.05, 0.3]),
        lower_xi=np.array([-0.3, 0.0, 0.4]),
        lower_sigma=np.array([0.5, 1.0, 2.0]),
        upper_xi=np.array([0.2, -0.1, 0.0]),
        upper_sigma=np.array([1.0, 0.3, 0.7]),
    )
    return {name: value.astype(dtype) for name, value in params.items()}


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"),
    [("float64", 1e-10, 1e-10), ("float32", 1e-5, 1e-5)],
)
def test_batched_parameters_broadcast(dtype, rtol, atol):
    params = batched_parameters(dtype)
    values = np.random.default_rng(3).normal(scale=2.5, size=(5, 3)).astype(dtype)
    values[0] = params["bin_edges"][:, 1]  # on bin edges
    qs = np.random.default_rng(4).uniform(size=(5, 3)).astype(dtype)
    qs[0] = [0.0, 1.0, 0.5]
    with pytensor.config.change_flags(floatX=dtype):
        value_var, q_var = pt.matrix("value", dtype=dtype), pt.matrix("q", dtype=dtype)
        rv = SplicedBinnedPareto.dist(**params, rng=pytensor.shared(np.random.default_rng(9)), size=(5, 3))
        outputs = [
            pm.logp(rv, value_var),
            pm.logcdf(rv, value_var),
            pm.logccdf(rv, value_var),
            pm.icdf(rv, q_var),
        ]
        function = pytensor.function([value_var, q_var], [*outputs, rv])
        logp, logcdf, logccdf, icdf, draws = function(values, qs)
    for out in (logp, logcdf, logccdf, icdf, draws):
        assert out.shape == (5, 3) and out.dtype == dtype

    rows = [sbp(**{name: value[i] for name, value in params.items()}) for i in range(3)]
    v64, q64 = values.astype("float64"), qs.astype("float64")
    expected = {
        "logp": np.stack([rows[i].logpdf(v64[:, i]) for i in range(3)], axis=-1),
        "logcdf": np.stack([rows[i].logcdf(v64[:, i]) for i in range(3)], axis=-1),
        "logccdf": np.stack([rows[i].logsf(v64[:, i]) for i in range(3)], axis=-1),
        "icdf": np.stack([rows[i].ppf(q64[:, i]) for i in range(3)], axis=-1),
    }
    for key, got in zip(expected, (logp, logcdf, logccdf, icdf), strict=True):
        assert_allclose(got, expected[key], rtol=rtol, atol=atol, err_msg=key)
    # The batched numpy counterpart gives the same as the row-by-row one.
    batched = sbp(**params)
    assert_allclose(batched.logpdf(v64), expected["logp"], rtol=1e-12)
    # draws: inversion of one uniform per draw, broadcast against the batch
    uniform = np.random.default_rng(9).uniform(size=(5, 3))
    assert_allclose(draws, batched.ppf(uniform), rtol=max(rtol, 1e-12), atol=atol)


def test_float32_probabilities_in_float64_mode():
    """Probabilities that sum to 1 in float32 are valid when the graph runs in float64."""
    params = CASES["heavy_both"] | {
        "bin_probs": np.full(3, 1 / 3, dtype="float32"),
        "bin_edges": np.arange(4.0),
    }
    assert abs(params["bin_probs"].astype("float64").sum() - 1) > 1e-8  # beyond float64's tolerance
    rv = SplicedBinnedPareto.dist(**params)
    got = pm.logp(rv, np.array([0.5, 1.5, 2.5])).eval()
    assert_allclose(got, sbp(**params).logpdf(np.array([0.5, 1.5, 2.5])), rtol=1e-7)


# ----------------------------------------------------------------------------- bad parameters

VALID = dict(
    bin_edges=np.array([0.0, 1.0, 2.0, 3.0]),
    bin_probs=np.array([0.2, 0.3, 0.5]),
    lower_tail_prob=0.1,
    upper_tail_prob=0.1,
    lower_xi=0.1,
    lower_sigma=1.0,
    upper_xi=0.1,
    upper_sigma=1.0,
)

BAD_PARAMETERS = [
    ("unsorted edges", {"bin_edges": np.array([0.0, 2.0, 1.0, 3.0])}, ["bin_edges", "1.0", "2.0"]),
    ("negative prob", {"bin_probs": np.array([0.5, -0.1, 0.6])}, ["bin_probs", "-0.1"]),
    ("probs sum", {"bin_probs": np.array([0.5, 0.3, 0.3])}, ["bin_probs", "sum", "1.1"]),
    ("lower tail 1", {"lower_tail_prob": 1.0}, ["lower_tail_prob", "1.0", "[0, 1)"]),
    ("upper tail 1", {"upper_tail_prob": 1.0}, ["upper_tail_prob", "1.0"]),
    ("lower tail < 0", {"lower_tail_prob": -0.2}, ["lower_tail_prob", "-0.2"]),
    (
        "tails sum",
        {"lower_tail_prob": 0.5, "upper_tail_prob": 0.5},
        ["lower_tail_prob + upper_tail_prob", "1.0"],
    ),
    ("sigma 0", {"lower_sigma": 0.0}, ["lower_sigma", "0.0"]),
    ("sigma < 0", {"upper_sigma": -1.5}, ["upper_sigma", "-1.5"]),
    ("lengths", {"bin_probs": np.array([0.5, 0.5])}, ["bin_edges", "bin_probs", "4", "2"]),
    (
        "batched edges",
        {"bin_edges": np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 1.0, 3.0]])},
        ["bin_edges", "batch entry (1,)", "1.0"],
    ),
]


@pytest.mark.parametrize(("label", "bad", "expected"), BAD_PARAMETERS, ids=[b[0] for b in BAD_PARAMETERS])
def test_bad_concrete_parameters_fail_at_construction(label, bad, expected):
    with pytest.raises(InvalidParameterError) as info:
        SplicedBinnedPareto.dist(**(VALID | bad))
    for fragment in expected:
        assert fragment in str(info.value), (fragment, str(info.value))
    with pytest.raises(InvalidParameterError), pm.Model():
        SplicedBinnedPareto("x", **(VALID | bad))


SYMBOLIC_BAD = [
    ("bin_edges", np.array([0.0, 2.0, 1.0, 3.0])),
    ("bin_probs", np.array([0.5, -0.1, 0.6])),
    ("bin_probs", np.array([0.5, 0.3, 0.3])),
    ("bin_probs", np.array([0.5, 0.5])),
    ("lower_tail_prob", -0.1),
    ("upper_tail_prob", 1.3),
    ("upper_tail_prob", 0.9),  # with lower_tail_prob 0.1 the body has no mass
    ("lower_sigma", 0.0),
    ("upper_sigma", -1.0),
]


@pytest.fixture(scope="module")
def symbolic_functions():
    """logp / logcdf / logccdf / icdf with every parameter symbolic, one function each so
    that each must raise on its own. They run in FAST_COMPILE (Python) mode: the checks are
    graph ops, and the numba backend raises through ``compiled_sbp`` below."""
    params = [pt.dvector("bin_edges"), pt.dvector("bin_probs")] + [pt.dscalar(n) for n in PARAMETER_NAMES[2:]]
    rv = SplicedBinnedPareto.dist(*params)
    value = pt.dscalar("value")
    functions = {
        kind: pytensor.function([value, *params], getattr(pm, kind)(rv, value), mode="FAST_COMPILE")
        for kind in ("logp", "logcdf", "logccdf", "icdf")
    }
    # In a model PyMC turns the parameter checks of logp into -inf.
    with pm.Model() as model:
        shared = {name: pytensor.shared(np.asarray(VALID[name]), name=name) for name in PARAMETER_NAMES}
        SplicedBinnedPareto("x", **shared, observed=np.array([0.5, 1.5]))
    return functions, model.compile_logp(), shared


@pytest.mark.parametrize(("name", "bad"), SYMBOLIC_BAD)
def test_bad_symbolic_parameters(symbolic_functions, compiled_sbp, name, bad):
    functions, model_logp, shared = symbolic_functions
    args = args_of(VALID | {name: bad})
    for kind, function in functions.items():
        with pytest.raises(ParameterValueError):
            function(0.5 if kind == "icdf" else 1.5, *args)
    with pytest.raises(ParameterValueError):
        compiled_sbp(VALID | {name: bad}, [1.5], [0.5])
    good = args_of(VALID)
    assert np.isfinite(functions["logp"](1.5, *good))
    assert np.isfinite(compiled_sbp(VALID, [1.5], [0.5])["logp"]).all()
    assert np.isfinite(model_logp({}))
    shared[name].set_value(np.asarray(bad, dtype="float64"))
    try:
        assert model_logp({}) == -np.inf
    finally:
        shared[name].set_value(np.asarray(VALID[name], dtype="float64"))
