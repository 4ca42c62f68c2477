"""The threshold-first parameterisation (``body_edges=``) and tails that are absent.

Checked three ways: ``pymc.testing`` against the numpy counterpart ``sbp(body_edges=...)``;
both against an independent scipy mixture (``genpareto`` tails plus one ``uniform`` per
body bin, quantiles by root finding); and against the canonical parameterisation, which
describes the same distribution when its bins are the body bins plus one bin holding each
tail mass (agreement to 1e-10). Draws are KS-tested against the scipy mixture.
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
from scipy import optimize, stats

from sbp_bayes import InvalidParameterError, SplicedBinnedPareto
from sbp_bayes.distributions import ThresholdSplicedBinnedPareto
from sbp_bayes.stats import sbp

TAIL_NAMES = ("lower_tail_prob", "upper_tail_prob", "lower_xi", "lower_sigma", "upper_xi", "upper_sigma")

CASES = {
    "both_heavy": dict(
        body_edges=np.array([-2.0, -1.0, 0.0, 0.5, 2.0]),
        bin_probs=np.array([0.2, 0.3, 0.1, 0.4]),
        lower_tail_prob=0.07,
        upper_tail_prob=0.12,
        lower_xi=0.3,
        lower_sigma=0.8,
        upper_xi=0.45,
        upper_sigma=1.3,
    ),
    "bounded_exponential_empty_bin": dict(
        body_edges=np.array([0.0, 1.0, 1.5, 4.0, 10.0]),
        bin_probs=np.array([0.1, 0.0, 0.6, 0.3]),
        lower_tail_prob=0.2,
        upper_tail_prob=0.05,
        lower_xi=-0.4,
        lower_sigma=2.0,
        upper_xi=0.0,
        upper_sigma=3.0,
    ),
    "upper_only": dict(
        body_edges=np.array([0.0, 1.0, 3.0]),
        bin_probs=np.array([0.7, 0.3]),
        upper_tail_prob=0.1,
        upper_xi=0.25,
        upper_sigma=1.0,
    ),
    "lower_only_zero_prob_upper": dict(
        body_edges=np.array([-1.0, 0.0, 1.0, 2.0]),
        bin_probs=np.array([0.3, 0.3, 0.4]),
        lower_tail_prob=0.15,
        upper_tail_prob=0.0,
        lower_xi=-0.2,
        lower_sigma=0.5,
        upper_xi=0.3,
        upper_sigma=1.0,
    ),
}


def full_parameters(params):
    """Every parameter, absent tails as probability 0 (what the PyMC class stores)."""
    out = dict(params)
    for side in ("lower", "upper"):
        if f"{side}_tail_prob" not in out:
            out |= {f"{side}_tail_prob": 0.0, f"{side}_xi": 0.0, f"{side}_sigma": 1.0}
    return out


# ----------------------------------------------------------------------------- scipy reference


class ScipyMixture:
    """The threshold-first SBP written as a scipy mixture: ``a_L`` times a reflected
    ``genpareto`` below ``e_0``, ``(1 - a_L - a_U) pi_k`` times ``uniform`` on each bin,
    ``a_U`` times ``genpareto`` above ``e_K``. Valid away from the edges (where scipy's
    closed uniform intervals would count a point twice)."""

    def __init__(self, params):
        p = full_parameters(params)
        self.edges, self.probs = np.asarray(p["body_edges"]), np.asarray(p["bin_probs"])
        self.a_lower, self.a_upper = p["lower_tail_prob"], p["upper_tail_prob"]
        self.lower = stats.genpareto(p["lower_xi"], scale=p["lower_sigma"])
        self.upper = stats.genpareto(p["upper_xi"], scale=p["upper_sigma"])
        self.body = [
            stats.uniform(loc=left, scale=right - left)
            for left, right in zip(self.edges[:-1], self.edges[1:], strict=True)
        ]
        self.body_mass = 1.0 - self.a_lower - self.a_upper

    def pdf(self, x):
        body = sum(w * d.pdf(x) for w, d in zip(self.probs, self.body, strict=True))
        u_lower, u_upper = self.edges[0], self.edges[-1]
        lower = self.a_lower * self.lower.pdf(u_lower - x) if self.a_lower > 0 else 0.0
        upper = self.a_upper * self.upper.pdf(x - u_upper) if self.a_upper > 0 else 0.0
        return lower + self.body_mass * body + upper

    def cdf(self, x):
        body = sum(w * d.cdf(x) for w, d in zip(self.probs, self.body, strict=True))
        u_lower, u_upper = self.edges[0], self.edges[-1]
        lower = self.a_lower * self.lower.sf(u_lower - x) if self.a_lower > 0 else 0.0
        upper = self.a_upper * self.upper.cdf(x - u_upper) if self.a_upper > 0 else 0.0
        return lower + self.body_mass * body + upper

    def ppf(self, q):
        """By root finding on the cdf, bracketed by the support (finite for these q)."""
        lo, hi = -1e3, 1e3
        return optimize.brentq(lambda x: self.cdf(x) - q, lo, hi, xtol=1e-14, rtol=1e-14)


@pytest.fixture(scope="module")
def compiled():
    """logp / logcdf / logccdf / icdf of both parameterisations, compiled once with
    symbolic parameters (float64)."""
    values, qs = pt.dvector("values"), pt.dvector("qs")
    edges, probs = pt.dvector("edges"), pt.dvector("probs")
    tails = [pt.dscalar(name) for name in TAIL_NAMES]
    functions = {}
    for keyword in ("body_edges", "bin_edges"):
        rv = SplicedBinnedPareto.dist(
            **{keyword: edges}, bin_probs=probs, **dict(zip(TAIL_NAMES, tails, strict=True))
        )
        outputs = [pm.logp(rv, values), pm.logcdf(rv, values), pm.logccdf(rv, values), pm.icdf(rv, qs)]
        function = pytensor.function([values, qs, edges, probs, *tails], outputs)

        def call(params, x=(), q=(), function=function, keyword=keyword):
            p = full_parameters(params)
            args = [np.asarray(p[keyword], float), np.asarray(p["bin_probs"], float)]
            args += [np.asarray(p[name], float) for name in TAIL_NAMES]
            out = function(np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(q, float)), *args)
            return dict(zip(("logp", "logcdf", "logccdf", "icdf"), out, strict=True))

        functions[keyword] = call
    return functions


def off_edge_values(params):
    edges = params["body_edges"]
    inner = (edges[:-1] + edges[1:]) / 2
    return np.concatenate(
        [[edges[0] - 3.0, edges[0] - 0.4, edges[0] - 1e-7], inner, [edges[-1] + 1e-7, 2.5 + edges[-1], 30.0]]
    )


@pytest.mark.parametrize("name", CASES)
def test_matches_scipy_mixture(compiled, name):
    params = CASES[name]
    reference = ScipyMixture(params)
    x = off_edge_values(params)
    got = compiled["body_edges"](params, x)
    numpy_twin = sbp(**params)
    with np.errstate(divide="ignore"):
        expected_logp = np.log(reference.pdf(x))
        expected_cdf = reference.cdf(x)
    assert_allclose(got["logp"], expected_logp, rtol=1e-9, atol=1e-12)
    assert_allclose(np.exp(got["logcdf"]), expected_cdf, rtol=1e-9, atol=1e-14)
    assert_allclose(np.exp(got["logccdf"]), 1 - expected_cdf, rtol=1e-8, atol=1e-14)
    assert_allclose(numpy_twin.logpdf(x), expected_logp, rtol=1e-9, atol=1e-12)
    assert_allclose(numpy_twin.cdf(x), expected_cdf, rtol=1e-9, atol=1e-14)
    qs = np.array([0.01, 0.1, 0.3, 0.5, 0.7, 0.93, 0.99])
    expected_q = [reference.ppf(q) for q in qs]
    assert_allclose(compiled["body_edges"](params, q=qs)["icdf"], expected_q, rtol=1e-9, atol=1e-9)
    assert_allclose(numpy_twin.ppf(qs), expected_q, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_absent_tail_bounds_the_body(compiled, name):
    params = full_parameters(CASES[name])
    edges = params["body_edges"]
    got = compiled["body_edges"](params, [edges[0] - 1e-9, edges[-1] + 1e-9], [0.0, 1.0])
    if params["lower_tail_prob"] == 0:
        assert got["logp"][0] == -np.inf and got["logcdf"][0] == -np.inf
        assert got["icdf"][0] == edges[0]
    else:
        assert np.isfinite(got["logp"][0])
    if params["upper_tail_prob"] == 0:
        assert got["logp"][1] == -np.inf and got["logccdf"][1] == -np.inf
        assert got["icdf"][1] == edges[-1]
    else:
        assert np.isfinite(got["logp"][1])


# ----------------------------------------------------------------------------- the two parameterisations


def canonical_of(params):
    """The canonical parameters of the same distribution: one extra bin of mass a_L below
    the body and one of mass a_U above (each as wide as its neighbour); none on a side
    without a tail (the canonical support starts at its first edge, even an empty bin's)."""
    p = full_parameters(params)
    edges, probs = p["body_edges"], p["bin_probs"]
    a_lower, a_upper = p["lower_tail_prob"], p["upper_tail_prob"]
    below = [2 * edges[0] - edges[1]] if a_lower > 0 else []
    above = [2 * edges[-1] - edges[-2]] if a_upper > 0 else []
    bin_edges = np.concatenate([below, edges, above])
    bin_probs = np.concatenate(
        [[a_lower] if below else [], (1 - a_lower - a_upper) * probs, [a_upper] if above else []]
    )
    return {name: p[name] for name in TAIL_NAMES} | {"bin_edges": bin_edges, "bin_probs": bin_probs}


@pytest.mark.parametrize("name", CASES)
def test_the_two_parameterisations_agree(compiled, name):
    params = CASES[name]
    x = np.concatenate([off_edge_values(params), [-1e6, 1e6]])
    qs = np.array([0.0, 1e-12, 0.01, 0.1, 0.3, 0.5, 0.7, 0.93, 0.99, 1 - 1e-12, 1.0])
    first = compiled["body_edges"](params, x, qs)
    canonical = compiled["bin_edges"](canonical_of(params), x, qs)
    for kind in ("logp", "logcdf", "logccdf", "icdf"):
        assert_allclose(first[kind], canonical[kind], rtol=0, atol=1e-10, err_msg=kind)


def test_agree_on_the_edges_when_thresholds_are_exact(compiled):
    """With tail masses and widths that make ``Q_B(a_L)`` land on ``e_0`` with no rounding,
    the parameterisations agree on the edges and thresholds themselves too."""
    params = dict(
        body_edges=np.array([0.0, 1.0, 2.0, 4.0]),
        bin_probs=np.array([0.25, 0.25, 0.5]),
        lower_tail_prob=0.25,
        upper_tail_prob=0.25,
        lower_xi=0.1,
        lower_sigma=1.0,
        upper_xi=-0.1,
        upper_sigma=2.0,
    )
    canonical = canonical_of(params)
    from sbp_bayes.distributions.splice import thresholds

    u_lower, u_upper = thresholds(
        *(pt.as_tensor(canonical[n]) for n in ("bin_edges", "bin_probs")), 0.25, 0.25
    )
    assert (float(u_lower.eval()), float(u_upper.eval())) == (0.0, 4.0)
    x = np.array([0.0, 1.0, 2.0, 4.0, -1.0, 5.0])
    first = compiled["body_edges"](params, x, [0.25, 0.75])
    other = compiled["bin_edges"](canonical, x, [0.25, 0.75])
    for kind in ("logp", "logcdf", "logccdf", "icdf"):
        assert_allclose(first[kind], other[kind], rtol=0, atol=1e-10, err_msg=kind)
    assert_allclose(first["icdf"], [0.0, 4.0], atol=1e-12)


# ----------------------------------------------------------------------------- pymc.testing


@pytest.fixture
def seeded_global_numpy():
    """pymc.testing draws its subset of the grid from numpy's global RNG."""
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(20261206)  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


EDGES = Domain(
    [np.array([-1.0, 0.0, 0.5, 2.0]), np.array([0.0, 1.0, 1.5, 10.0])],
    edges=(None, None),
)
PROBS = Domain(
    [np.array([0.3, 0.3, 0.4]), np.array([0.0, 0.6, 0.4]), np.array([0.5, 0.5, 0.0])], edges=(None, None)
)
# Edge values repeated so that 0 (an absent tail) is among the values checked.
TAIL_PROB = Domain([0.0, 0.0, 0.04, 0.3, 0.45, 0.45])
XI = Domain([-np.inf, -0.5, 0.0, 0.35, 1.2, np.inf])
SIGMA = Domain([0.0, 0.4, 2.5, np.inf])
VALUES = Domain(
    [-np.inf, -1e5, -8.0, -1.0, -0.3, 0.0, 0.25, 0.5, 1.2, 1.5, 2.0, 3.0, 10.0, 12.0, 1e5, np.inf],
    edges=(None, None),
)
LOWER = dict(lower_tail_prob=TAIL_PROB, lower_xi=XI, lower_sigma=SIGMA)
UPPER = dict(upper_tail_prob=TAIL_PROB, upper_xi=XI, upper_sigma=SIGMA)
DOMAINS = {
    "threshold_first": dict(body_edges=EDGES, bin_probs=PROBS) | LOWER | UPPER,
    "threshold_first_upper_only": dict(body_edges=EDGES, bin_probs=PROBS) | UPPER,
    "threshold_first_lower_only": dict(body_edges=EDGES, bin_probs=PROBS) | LOWER,
    "canonical_upper_only": dict(bin_edges=EDGES, bin_probs=PROBS) | UPPER,
    "canonical_lower_only": dict(bin_edges=EDGES, bin_probs=PROBS) | LOWER,
}


class CountingReference:
    """The numpy counterpart's method, counting the points it is asked for (a check that
    silently compared nothing would leave the count at zero)."""

    def __init__(self, method):
        self.method, self.calls = method, 0

    def __call__(self, value=None, **params):
        self.calls += 1
        if value is None:  # check_icdf passes the level as ``q=``
            value = params.pop("q")
        return getattr(sbp(**params), self.method)(value)


@pytest.mark.usefixtures("seeded_global_numpy")
@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize(
    ("check", "method"),
    [(check_logp, "logpdf"), (check_logcdf, "logcdf"), (check_logccdf, "logsf")],
    ids=["logp", "logcdf", "logccdf"],
)
def test_pymc_testing_against_numpy(domain, check, method):
    reference = CountingReference(method)
    check(SplicedBinnedPareto, VALUES, DOMAINS[domain], reference, decimal=9, n_samples=80)
    assert reference.calls >= 80


@pytest.mark.usefixtures("seeded_global_numpy")
@pytest.mark.parametrize("domain", DOMAINS)
def test_pymc_testing_icdf(domain):
    reference = CountingReference("ppf")
    check_icdf(SplicedBinnedPareto, DOMAINS[domain], reference, decimal=9, n_samples=80)
    assert reference.calls >= 80


# ----------------------------------------------------------------------------- draws

RANDOM_PARAMS = CASES["both_heavy"]
REQUIRED_CHECKS = ["check_pymc_params_match_rv_op", "check_pymc_draws_match_reference", "check_rv_size"]


class TestThresholdFirstRandom(BaseTestDistributionRandom):
    pymc_dist = ThresholdSplicedBinnedPareto
    pymc_dist_params = RANDOM_PARAMS
    expected_rv_op_params = RANDOM_PARAMS
    reference_dist_params = {"body_edges": RANDOM_PARAMS["body_edges"]} | {
        k: v for k, v in RANDOM_PARAMS.items() if k != "body_edges"
    }
    size = 40
    checks_to_run = REQUIRED_CHECKS
    sizes_to_check = (None, 3, (2, 3))
    sizes_expected = ((), (3,), (2, 3))

    def reference_dist(self):
        """Inversion of one uniform per draw, as the RV does: same seed, same draws."""

        def draw(size, **params):
            return sbp(**params).ppf(self.get_random_state().uniform(size=size))

        return draw

    def test_distribution(self):
        ran = []
        for name in self.checks_to_run:
            check = getattr(self, name)

            def spy(check=check, name=name):
                check()
                ran.append(name)

            setattr(self, name, spy)
        super().test_distribution()
        assert ran == REQUIRED_CHECKS


@pytest.mark.parametrize("name", CASES)
def test_draws_follow_the_scipy_mixture(name):
    params = CASES[name]
    draws = pm.draw(SplicedBinnedPareto.dist(**params), draws=4000, random_seed=11)
    reference = ScipyMixture(params)
    assert stats.kstest(draws, np.vectorize(reference.cdf)).pvalue > 1e-3
    if "lower_tail_prob" not in params or params["lower_tail_prob"] == 0:
        assert draws.min() >= params["body_edges"][0]
    if "upper_tail_prob" not in params or params["upper_tail_prob"] == 0:
        assert draws.max() <= params["body_edges"][-1]


@pytest.mark.parametrize("name", CASES)
def test_support_point_is_the_median(name):
    params = CASES[name]
    with pm.Model() as model:
        SplicedBinnedPareto("x", **params)
    point = model.initial_point()["x"]
    assert_allclose(point, sbp(**params).median(), atol=1e-10)


# ----------------------------------------------------------------------------- batches, dtypes, gradients


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-10), ("float32", 2e-4)])
def test_parameters_per_observation(dtype, rtol):
    """A regression: upper scale and upper tail mass differ per observation."""
    n = 7
    rng = np.random.default_rng(3)
    params = dict(CASES["both_heavy"])
    params["upper_sigma"] = rng.uniform(0.5, 2.0, n)
    params["upper_tail_prob"] = rng.uniform(0.02, 0.3, n)
    x = np.array([-3.0, -1.5, 0.2, 1.9, 2.5, 4.0, 9.0])
    with pytensor.config.change_flags(floatX=dtype):
        rv = SplicedBinnedPareto.dist(**params)
        assert rv.dtype == dtype
        got = {
            "logp": pm.logp(rv, x.astype(dtype)).eval(),
            "logcdf": pm.logcdf(rv, x.astype(dtype)).eval(),
            "icdf": pm.icdf(rv, np.full(n, 0.97, dtype)).eval(),
        }
        assert pm.draw(rv, random_seed=1).shape == (n,)
    twin = sbp(**params)
    assert_allclose(got["logp"], twin.logpdf(x), rtol=rtol)
    assert_allclose(got["logcdf"], twin.logcdf(x), rtol=rtol)
    assert_allclose(got["icdf"], twin.ppf(np.full(n, 0.97)), rtol=rtol)


def test_gradient_is_smooth_in_the_tail_and_bin_probabilities():
    """For fixed edges the log-likelihood of a data set is differentiable in the tail
    masses and bin probabilities, and its gradient matches finite differences."""
    data = np.array([-3.0, -2.1, -1.5, -0.2, 0.3, 1.0, 1.9, 2.2, 5.0])
    probs = pt.dvector("probs")
    a = pt.dvector("a")  # (a_L, a_U)
    rv = SplicedBinnedPareto.dist(
        body_edges=CASES["both_heavy"]["body_edges"],
        bin_probs=probs,
        lower_tail_prob=a[0],
        upper_tail_prob=a[1],
        lower_xi=0.3,
        lower_sigma=0.8,
        upper_xi=0.45,
        upper_sigma=1.3,
    )
    total = pm.logp(rv, data).sum()
    function = pytensor.function([probs, a], [total, *pytensor.grad(total, [probs, a])])
    p0, a0 = np.array([0.2, 0.3, 0.1, 0.4]), np.array([0.07, 0.12])
    _, grad_p, grad_a = function(p0, a0)
    step = 1e-6
    for i in range(2):
        shift = np.eye(2)[i] * step
        numeric = (function(p0, a0 + shift)[0] - function(p0, a0 - shift)[0]) / (2 * step)
        assert_allclose(grad_a[i], numeric, rtol=1e-6)
    # bin_probs live on the simplex: derivatives along directions that keep the sum at 1.
    for i in range(3):
        direction = np.eye(4)[i] - np.eye(4)[i + 1]
        numeric = (function(p0 + step * direction, a0)[0] - function(p0 - step * direction, a0)[0]) / (
            2 * step
        )
        assert_allclose(grad_p @ direction, numeric, rtol=1e-6)


# ----------------------------------------------------------------------------- bad parameters


def test_bad_concrete_parameters_name_body_edges():
    good = CASES["both_heavy"]
    with pytest.raises(InvalidParameterError, match=r"body_edges must be strictly increasing"):
        SplicedBinnedPareto.dist(**(good | {"body_edges": np.array([0.0, 2.0, 1.0, 3.0, 4.0])}))
    with pytest.raises(InvalidParameterError, match=r"body_edges has 5 edges .* bin_probs needs 4"):
        SplicedBinnedPareto.dist(**(good | {"bin_probs": np.array([0.5, 0.5])}))
    with pytest.raises(InvalidParameterError, match="not both"):
        SplicedBinnedPareto.dist(bin_edges=good["body_edges"], **good)
    with pytest.raises(InvalidParameterError, match="missing upper_sigma"):
        SplicedBinnedPareto.dist(
            body_edges=good["body_edges"], bin_probs=good["bin_probs"], upper_tail_prob=0.1, upper_xi=0.2
        )
    with pytest.raises(InvalidParameterError, match=r"lower_tail_prob \+ upper_tail_prob must be below 1"):
        SplicedBinnedPareto.dist(**(good | {"lower_tail_prob": 0.5, "upper_tail_prob": 0.5}))
    with pytest.raises(InvalidParameterError, match="needs body_edges and bin_probs"):
        ThresholdSplicedBinnedPareto.dist(good["body_edges"], None)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("lower_tail_prob", -0.1),
        ("upper_tail_prob", 0.95),
        ("upper_sigma", 0.0),
        ("bin_probs", [0.5, 0.5, 0.5, -0.5]),
    ],
)
def test_bad_symbolic_parameters_raise(name, bad):
    good = CASES["both_heavy"]
    shared = {key: pytensor.shared(np.asarray(value, float)) for key, value in good.items()}
    rv = SplicedBinnedPareto.dist(**shared)
    function = pytensor.function([], pm.logp(rv, 0.3), mode="FAST_COMPILE")
    assert np.isfinite(function())
    shared[name].set_value(np.asarray(bad, float))
    with pytest.raises(ParameterValueError):
        function()
