"""Tests of sbp_bayes.model: the collapsed likelihood, the ξ restriction, the design,
the sufficient statistics, the priors and the checks of bad input.

The central check compares the model's ``likelihood`` potential with a brute-force
marginal likelihood (tests/reference/brute_force_likelihood.py): the canonical SBP
density of :func:`sbp_bayes.stats.sbp`, multiplied over the data, integrated over the
Dirichlet simplex numerically and summed over the candidate thresholds with their prior
weights. None of the model's algebra (Dirichlet aggregation, the correction for points
tied with a candidate, threshold stability as a suffix sum) is used there.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import special, stats

from sbp_bayes import datasets
from sbp_bayes.model import (
    DEFAULT_MIN_TAIL_POINTS,
    MIN_EXCEEDANCES,
    XI_START_SHIFT,
    DataError,
    Design,
    build_model,
    build_model_from_statistics,
    default_priors,
    make_design,
    model_parts,
    prepare_data,
    summarise,
)
from sbp_bayes.priors import Prior, PriorError
from tests.reference.brute_force_likelihood import (
    TailSpec,
    dblquad_log_integral,
    log_candidate_terms,
)

# ----------------------------------------------------------------------------- helpers


class CompiledModel:
    """The likelihood potential, ξ, σ_ref and the per-candidate log probabilities of a
    model, and its full log density, as functions of (ξ, σ_ref) per tail."""

    def __init__(self, model):
        self.model = model
        self.stats = model_parts(model).statistics
        self.sides = [side for side in ("lower", "upper") if getattr(self.stats, side) is not None]
        names = ["likelihood"]
        for side in self.sides:
            names += [f"{side}_xi", f"{side}_sigma_ref", f"{side}_threshold_logprob"]
        self.names = names
        outputs = model.replace_rvs_by_values([model[name] for name in names])
        self._function = model.compile_fn(outputs, inputs=model.value_vars, point_fn=True)
        self._logp = model.compile_logp()

    def unconstrained(self, side: str, xi: float, sigma_ref: float) -> float:
        """The free variable that gives this ξ (inverse of the model's map)."""
        prior = model_parts(self.model).priors[f"{side}_xi"]
        lower_prior, upper_prior = prior.bounds
        lower = max(-sigma_ref / getattr(self.stats, side).max_excess, lower_prior)
        if np.isfinite(upper_prior):
            return float(special.logit((xi - lower) / (upper_prior - lower))) - XI_START_SHIFT
        return math.log(xi - lower) - XI_START_SHIFT

    def point(self, **tails) -> dict:
        """``tails``: side -> (ξ, σ_ref); returns the point in the model's value variables."""
        point = {}
        for side, (xi, sigma_ref) in tails.items():
            point[f"{side}_sigma_ref_log__"] = math.log(sigma_ref)
            point[f"{side}_xi_unconstrained"] = self.unconstrained(side, xi, sigma_ref)
        return point

    def evaluate(self, point: dict) -> dict:
        return {
            name: np.asarray(value) for name, value in zip(self.names, self._function(point), strict=True)
        }

    def logp(self, point: dict) -> float:
        return float(self._logp(point))


# Upper tail only: three bins, candidates at edges 1 and 2. The data include points
# exactly on both candidates (body points of the bin below), on the first and the last
# edge, and beyond the last edge.
UPPER_EDGES = np.array([0.0, 1.0, 2.0, 3.0])
UPPER_DATA = np.array(
    [0.0, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0, 1.2, 1.5, 1.7, 2.0, 2.0, 2.5, 2.9, 3.0, 3.4, 4.1, 6.0]
)
# Both tails: five bins, lower candidates at edges 1, 2 and upper candidates at edges 3, 4,
# with a non-uniform Dirichlet and non-uniform candidate weights.
BOTH_EDGES = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
BOTH_DATA = np.array([-2.5, -0.4, 0.0, 0.6, 1.0, 1.4, 2.0, 2.5, 2.8, 3.0, 3.3, 4.0, 4.4, 5.0, 5.6, 7.5])
BOTH_ALPHA = [2.0, 1.0, 2.0, 1.0, 1.0]
BOTH_WEIGHTS = {"lower": (0.25, 0.75), "upper": (2.0, 1.0)}
# A bounded prior on the lower shape: the model then maps ξ with a logistic, not exp.
BOTH_LOWER_XI_PRIOR = Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-0.6, upper=1.0)
# Lower tail only: three bins, candidates at edges 1 and 2; data on both candidates (body
# points of the bin above) and exactly on the last edge (the body's end).
LOWER_EDGES = np.array([0.0, 1.0, 2.0, 3.0])
LOWER_DATA = np.array([-3.0, -1.1, -0.2, 0.0, 0.4, 1.0, 1.0, 1.3, 1.8, 2.0, 2.2, 2.6, 2.9, 3.0, 3.0])


@pytest.fixture(scope="module")
def upper_model():
    design = Design(UPPER_EDGES, [], [1, 2])
    return CompiledModel(build_model_from_statistics(summarise(UPPER_DATA, design), design))


@pytest.fixture(scope="module")
def both_model():
    design = Design(BOTH_EDGES, [1, 2], [3, 4])
    model = build_model_from_statistics(
        summarise(BOTH_DATA, design),
        design,
        priors={"bin_probs": Prior("Dirichlet", a=BOTH_ALPHA), "lower_xi": BOTH_LOWER_XI_PRIOR},
        threshold_priors={side: list(w) for side, w in BOTH_WEIGHTS.items()},
    )
    return CompiledModel(model)


@pytest.fixture(scope="module")
def lower_model():
    design = Design(LOWER_EDGES, [1, 2], [])
    return CompiledModel(build_model_from_statistics(summarise(LOWER_DATA, design), design))


# ----------------------------------------------------------------------------- the likelihood


def test_reference_quadrature_is_exact_and_agrees_with_dblquad():
    """The Gauss-Legendre simplex rule is exact for these polynomial integrands (two
    node counts agree) and agrees with adaptive dblquad (checks the reference itself)."""
    spec = TailSpec((1, 2), 0.3, 1.3)
    terms = log_candidate_terms(UPPER_DATA, UPPER_EDGES, upper=spec, n_nodes=12)
    assert_allclose(log_candidate_terms(UPPER_DATA, UPPER_EDGES, upper=spec, n_nodes=16), terms, rtol=1e-12)
    # terms include the candidate weight 1/2; dblquad integrates the likelihood alone.
    by_dblquad = dblquad_log_integral(UPPER_DATA, UPPER_EDGES, upper=spec, upper_index=1, shift=terms[0, 1])
    assert by_dblquad == pytest.approx(terms[0, 1] + math.log(2.0), rel=1e-9)
    both = {
        "lower": TailSpec((1, 2), 0.2, 1.0, BOTH_WEIGHTS["lower"]),
        "upper": TailSpec((3, 4), 0.3, 1.3, BOTH_WEIGHTS["upper"]),
    }
    coarse = log_candidate_terms(BOTH_DATA, BOTH_EDGES, concentration=BOTH_ALPHA, n_nodes=12, **both)
    fine = log_candidate_terms(BOTH_DATA, BOTH_EDGES, concentration=BOTH_ALPHA, n_nodes=14, **both)
    assert_allclose(fine, coarse, rtol=1e-12)


@pytest.mark.parametrize(
    ("xi", "sigma_ref"),
    [(0.3, 1.3), (0.0, 0.8), (-0.15, 2.0), (1.2, 0.5), (-1.3 / 5.0 + 1e-3, 1.3)],
    ids=["heavy", "exponential", "bounded", "very-heavy", "near-endpoint"],
)
def test_upper_likelihood_equals_brute_force(upper_model, xi, sigma_ref):
    values = upper_model.evaluate(upper_model.point(upper=(xi, sigma_ref)))
    assert values["upper_xi"] == pytest.approx(xi, abs=1e-12)
    assert values["upper_sigma_ref"] == pytest.approx(sigma_ref, rel=1e-12)
    terms = log_candidate_terms(UPPER_DATA, UPPER_EDGES, upper=TailSpec((1, 2), xi, sigma_ref))[0]
    reference = special.logsumexp(terms)
    assert np.isfinite(reference)
    assert float(values["likelihood"]) == pytest.approx(reference, rel=1e-9, abs=1e-9)
    # The per-draw threshold posterior is each candidate's share of the sum.
    assert_allclose(values["upper_threshold_logprob"], terms - reference, atol=1e-9)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [((0.2, 1.0), (0.3, 1.3)), ((-0.3, 2.0), (0.0, 0.8)), ((0.9, 0.3), (-0.2, 3.0))],
)
def test_two_tailed_likelihood_equals_brute_force(both_model, lower, upper):
    values = both_model.evaluate(both_model.point(lower=lower, upper=upper))
    assert values["lower_xi"] == pytest.approx(lower[0], abs=1e-12)
    assert values["upper_xi"] == pytest.approx(upper[0], abs=1e-12)
    terms = log_candidate_terms(
        BOTH_DATA,
        BOTH_EDGES,
        lower=TailSpec((1, 2), *lower, BOTH_WEIGHTS["lower"]),
        upper=TailSpec((3, 4), *upper, BOTH_WEIGHTS["upper"]),
        concentration=BOTH_ALPHA,
        n_nodes=12,
    )
    reference = special.logsumexp(terms)
    assert float(values["likelihood"]) == pytest.approx(reference, rel=1e-9, abs=1e-9)
    # Candidate probabilities, each tail marginalised over the other (ascending order).
    assert_allclose(
        values["lower_threshold_logprob"], special.logsumexp(terms, axis=1) - reference, atol=1e-9
    )
    assert_allclose(
        values["upper_threshold_logprob"], special.logsumexp(terms, axis=0) - reference, atol=1e-9
    )


@pytest.mark.parametrize(("xi", "sigma_ref"), [(0.25, 0.7), (-0.2, 1.5), (0.0, 1.0)])
def test_lower_likelihood_equals_brute_force(lower_model, xi, sigma_ref):
    values = lower_model.evaluate(lower_model.point(lower=(xi, sigma_ref)))
    terms = log_candidate_terms(LOWER_DATA, LOWER_EDGES, lower=TailSpec((1, 2), xi, sigma_ref))[:, 0]
    reference = special.logsumexp(terms)
    assert float(values["likelihood"]) == pytest.approx(reference, rel=1e-9, abs=1e-9)
    assert_allclose(values["lower_threshold_logprob"], terms - reference, atol=1e-9)


def _numeric_log_jacobian(compiled: CompiledModel, point: dict, side: str) -> float:
    """log |det d(σ_ref, ξ) / d(log σ_ref, y)| by central differences of the model's map."""
    keys = [f"{side}_sigma_ref_log__", f"{side}_xi_unconstrained"]
    step = 1e-6
    jacobian = np.empty((2, 2))
    for column, key in enumerate(keys):
        up, down = dict(point), dict(point)
        up[key] += step
        down[key] -= step
        high, low = compiled.evaluate(up), compiled.evaluate(down)
        jacobian[0, column] = (high[f"{side}_sigma_ref"] - low[f"{side}_sigma_ref"]) / (2 * step)
        jacobian[1, column] = (high[f"{side}_xi"] - low[f"{side}_xi"]) / (2 * step)
    return float(np.log(abs(np.linalg.det(jacobian))))


def test_model_log_density_is_prior_times_likelihood_with_jacobian(upper_model, both_model):
    """logp on the sampler's scale = log prior(σ_ref) + log prior(ξ) + log likelihood
    (brute force) + log|Jacobian| of (log σ_ref, y) -> (σ_ref, ξ) (by finite differences)."""
    xi, sigma_ref = 0.3, 1.3
    point = upper_model.point(upper=(xi, sigma_ref))
    sigma_prior = model_parts(upper_model.model).priors["upper_sigma"].parameters
    log_prior = stats.lognorm(s=sigma_prior["sigma"], scale=math.exp(sigma_prior["mu"])).logpdf(sigma_ref)
    # The default prior of ξ: Normal(0, 0.5) truncated to ξ > -1.
    log_prior += stats.truncnorm(a=-1.0 / 0.5, b=np.inf, loc=0.0, scale=0.5).logpdf(xi)
    likelihood = special.logsumexp(
        log_candidate_terms(UPPER_DATA, UPPER_EDGES, upper=TailSpec((1, 2), xi, sigma_ref))
    )
    expected = log_prior + likelihood + _numeric_log_jacobian(upper_model, point, "upper")
    assert upper_model.logp(point) == pytest.approx(expected, abs=1e-6)

    # Two tails, a bounded (logistic-mapped) prior on the lower shape.
    lower, upper = (0.2, 1.0), (-0.1, 1.5)
    point = both_model.point(lower=lower, upper=upper)
    priors = model_parts(both_model.model).priors
    log_prior = 0.0
    for side, (_, sigma_ref) in (("lower", lower), ("upper", upper)):
        p = priors[f"{side}_sigma"].parameters
        log_prior += stats.lognorm(s=p["sigma"], scale=math.exp(p["mu"])).logpdf(sigma_ref)
        log_prior += _numeric_log_jacobian(both_model, point, side)
    log_prior += stats.truncnorm(a=-0.6 / 0.5, b=1.0 / 0.5, loc=0.0, scale=0.5).logpdf(lower[0])
    log_prior += stats.truncnorm(a=-1.0 / 0.5, b=np.inf, loc=0.0, scale=0.5).logpdf(upper[0])
    likelihood = special.logsumexp(
        log_candidate_terms(
            BOTH_DATA,
            BOTH_EDGES,
            lower=TailSpec((1, 2), *lower, BOTH_WEIGHTS["lower"]),
            upper=TailSpec((3, 4), *upper, BOTH_WEIGHTS["upper"]),
            concentration=BOTH_ALPHA,
            n_nodes=12,
        )
    )
    assert both_model.logp(point) == pytest.approx(log_prior + likelihood, abs=1e-6)


@pytest.mark.parametrize("free", [-30.0, -5.0, 0.0, 5.0, 30.0])
@pytest.mark.parametrize("log_sigma", [-3.0, 0.0, 3.0])
def test_xi_map_keeps_every_observation_inside_the_support(upper_model, both_model, free, log_sigma):
    for compiled in (upper_model, both_model):
        point = {}
        for side in compiled.sides:
            point[f"{side}_sigma_ref_log__"] = log_sigma
            point[f"{side}_xi_unconstrained"] = free
        values = compiled.evaluate(point)
        for side in compiled.sides:
            summary = getattr(compiled.stats, side)
            xi, sigma_ref = float(values[f"{side}_xi"]), float(values[f"{side}_sigma_ref"])
            # Inside the support of the GPD of the reference candidate, for every point.
            assert 1.0 + xi * summary.max_excess / sigma_ref > 0
            lower_prior, upper_prior = model_parts(compiled.model).priors[f"{side}_xi"].bounds
            assert lower_prior < xi < upper_prior
        assert np.isfinite(values["likelihood"])
        assert np.isfinite(compiled.logp(point))


def test_log_density_and_gradient_finite_next_to_the_support_bound(upper_model):
    """ξ just above -σ/max_excess (the largest point almost at the endpoint)."""
    point = {"upper_sigma_ref_log__": 0.2, "upper_xi_unconstrained": -25.0}
    values = upper_model.evaluate(point)
    bound = -math.exp(0.2) / upper_model.stats.upper.max_excess
    assert float(values["upper_xi"]) == pytest.approx(bound, abs=1e-9)
    assert float(values["upper_xi"]) > bound
    assert np.isfinite(upper_model.logp(point))
    gradient = upper_model.model.compile_dlogp()(point)
    assert np.all(np.isfinite(gradient))


# ----------------------------------------------------------------------------- design


def _exceedances(x, thresholds, side="upper"):
    x = np.asarray(x)
    return np.array([(x > u).sum() if side == "upper" else (x < u).sum() for u in thresholds])


def _assert_between_distinct_values(x, thresholds):
    for u in thresholds:
        assert not np.any(x == u), f"candidate {u} coincides with an observation"
        below, above = x[x < u].max(), x[x > u].min()
        assert u == pytest.approx((below + above) / 2, rel=1e-12)


@pytest.fixture(scope="module")
def t_sample():
    return np.random.default_rng(7).standard_t(3, size=3000)


def test_default_candidates_geometric_in_exceedances_between_distinct_values(t_sample):
    design = make_design(t_sample, tails="both", bins=20)
    most = round(0.2 * t_sample.size)
    # Continuous data: the exceedance counts are exactly the rounded geometric sequence.
    expected = np.unique(np.round(np.geomspace(most, DEFAULT_MIN_TAIL_POINTS, 10)).astype(int))
    assert_allclose(np.sort(_exceedances(t_sample, design.upper_thresholds)), expected)
    assert_allclose(np.sort(_exceedances(t_sample, design.lower_thresholds, "lower")), expected)
    ratios = expected[1:] / expected[:-1]
    assert ratios.max() / ratios.min() < 1.1  # geometric: a near-constant ratio
    _assert_between_distinct_values(t_sample, design.upper_thresholds)
    _assert_between_distinct_values(t_sample, design.lower_thresholds)
    # Edges: strictly increasing, 20 equal bins between the innermost candidates.
    edges = design.bin_edges
    assert np.all(np.diff(edges) > 0)
    inner = edges[design.lower_candidates[-1] : design.upper_candidates[0] + 1]
    assert inner.size == 21
    assert_allclose(np.diff(inner), np.diff(inner)[0], rtol=1e-9)
    assert edges[0] <= t_sample.min() and edges[-1] >= t_sample.max()
    assert_allclose(design.bin_edges[design.upper_candidates], design.upper_thresholds)


def test_candidate_counts_respect_tail_fraction_and_max_tail_points(t_sample):
    design = make_design(t_sample, tails="upper", tail_fraction=0.3, max_tail_points=200, min_tail_points=40)
    counts = _exceedances(t_sample, design.upper_thresholds)
    assert counts.max() == 200  # min(0.3 * 3000, 200)
    assert counts.min() == 40
    design = make_design(t_sample, tails="upper", n_candidates=4, tail_fraction=0.05)
    counts = np.sort(_exceedances(t_sample, design.upper_thresholds))
    assert_allclose(counts, np.round(np.geomspace(30, 150, 4)))


@pytest.mark.parametrize("name", ["rain", "poisson"])
def test_tied_data_design_is_fast_and_within_the_documented_counts(name):
    if name == "rain":
        x = datasets.load("rain").to_numpy()  # 47% exact zeros, a 0.1-0.3 mm grid
        options = {"lower_bound": 0.0}
    else:
        x = np.random.default_rng(5).poisson(3.0, size=5000).astype(float)
        options = {}
    start = time.perf_counter()
    design = make_design(x, tails="upper", **options)
    statistics = summarise(x, design)
    assert time.perf_counter() - start < 2.0
    counts = _exceedances(x, design.upper_thresholds)
    most = min(round(0.2 * x.size), 2500)
    assert design.upper_candidates.size >= 3
    assert np.all((counts >= DEFAULT_MIN_TAIL_POINTS) & (counts <= most)), counts
    _assert_between_distinct_values(x, design.upper_thresholds)
    assert statistics.counts.sum() == x.size
    assert np.all(statistics.upper.at_candidate == 0)  # no observation on a default candidate
    if name == "rain":
        assert design.bin_edges[0] == 0.0


def test_tied_data_model_builds_with_finite_log_density():
    """Counts with a fixed threshold on a tied value: many points exactly on it."""
    x = np.random.default_rng(5).poisson(3.0, size=3000).astype(float)
    model = build_model(x, tails="both", upper_threshold=5.0, bins=10)
    stats_ = model_parts(model).statistics
    assert stats_.upper.at_candidate[0] == np.sum(x == 5.0) > 0
    assert model_parts(model).design.lower_candidates.size >= 1
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_fixed_thresholds_are_the_single_candidates(t_sample):
    design = make_design(t_sample, tails="both", lower_threshold=-2.0, upper_threshold=2.5, bins=10)
    assert_allclose(design.upper_thresholds, [2.5])
    assert_allclose(design.lower_thresholds, [-2.0])
    assert_allclose(np.diff(design.bin_edges[1:-1]), 0.45, rtol=1e-9)
    design = make_design(t_sample, tails="upper", upper_threshold=[1.0, 2.0, 1.5])
    assert_allclose(design.upper_thresholds, [1.0, 1.5, 2.0])


def test_explicit_interior_bin_edges_are_used(t_sample):
    design = make_design(t_sample, bins=[-1.0, 0.0, 0.5, 1.0, 9.0], tails="upper", upper_threshold=2.0)
    # Interior edges between the body's ends are kept as given; the rest lie outside it.
    assert_allclose(design.bin_edges, [t_sample.min(), -1.0, 0.0, 0.5, 1.0, 2.0, t_sample.max()])


def test_bounds_set_the_end_of_a_side_without_tail(t_sample):
    design = make_design(t_sample, tails="upper", lower_bound=-50.0, upper_threshold=2.0, bins=5)
    assert design.bin_edges[0] == -50.0
    design = make_design(t_sample, tails="lower", upper_bound=50.0, lower_threshold=-2.0, bins=5)
    assert design.bin_edges[-1] == 50.0
    assert design.tails == "lower"
    with pytest.raises(DataError, match=r"lower_bound=0\.0 lies above the smallest observation"):
        make_design(t_sample, tails="upper", lower_bound=0.0)
    with pytest.raises(DataError, match=r"upper_bound=0\.0 lies below the largest observation"):
        make_design(t_sample, tails="lower", upper_bound=0.0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(200, 3000),
    family=st.sampled_from(["t", "lognormal", "uniform", "rounded"]),
    tails=st.sampled_from(["both", "upper", "lower"]),
)
def test_design_and_statistics_invariants(seed, size, family, tails):
    rng = np.random.default_rng(seed)
    x = {
        "t": lambda: rng.standard_t(2, size),
        "lognormal": lambda: rng.lognormal(0, 1.5, size),
        "uniform": lambda: rng.uniform(-1, 1, size),
        "rounded": lambda: np.round(rng.standard_t(4, size), 1),  # tied data
    }[family]()
    design = make_design(x, tails=tails, bins=15)
    statistics = summarise(x, design)
    most = min(round(0.2 * size), 2500)
    assert np.all(np.diff(design.bin_edges) > 0)
    assert statistics.counts.sum() == size
    for side in ("lower", "upper"):
        thresholds = getattr(design, f"{side}_thresholds")
        summary = getattr(statistics, side)
        if tails not in (side, "both"):
            assert thresholds.size == 0 and summary is None
            continue
        counts = _exceedances(x, thresholds, side)
        assert np.all((counts >= DEFAULT_MIN_TAIL_POINTS) & (counts <= most)), counts
        _assert_between_distinct_values(x, thresholds)
        _assert_summary_consistent(x, design, statistics, side)


def _assert_summary_consistent(x, design, statistics, side):
    summary = getattr(statistics, side)
    candidates = design.upper_candidates if side == "upper" else design.lower_candidates[::-1]
    assert np.all(summary.excess > 0)
    assert np.all(np.diff(summary.excess) >= 0)
    assert np.all(np.diff(summary.start) >= 0)
    assert summary.offsets[0] == 0
    for j, edge in enumerate(candidates):
        threshold = design.bin_edges[edge]
        beyond = summary.excess.size - summary.start[j]
        if side == "upper":
            assert beyond == np.sum(x > threshold)
            # Bins at and after the candidate hold the points beyond it plus those on it.
            assert statistics.counts[edge:].sum() == beyond + summary.at_candidate[j]
            assert summary.at_candidate[j] == np.sum(x == threshold)
        else:
            assert beyond == np.sum(x < threshold)
            assert statistics.counts[:edge].sum() == beyond


def test_summarise_on_the_explicit_designs():
    statistics = summarise(UPPER_DATA, Design(UPPER_EDGES, [], [1, 2]))
    # [0,1): 0, .3, .5, .5, .7, .9; [1,2): 1, 1.2, 1.5, 1.7; [2,3] and beyond: the rest.
    assert statistics.counts.tolist() == [6, 4, 8]
    assert statistics.upper.at_candidate.tolist() == [1, 2]
    assert statistics.upper.start.tolist() == [0, 5]  # 1.2, 1.5, 1.7, 2, 2 not beyond 2
    assert_allclose(statistics.upper.excess, np.sort(UPPER_DATA[UPPER_DATA > 1.0]) - 1.0)
    _assert_summary_consistent(UPPER_DATA, Design(UPPER_EDGES, [], [1, 2]), statistics, "upper")
    design = Design(BOTH_EDGES, [1, 2], [3, 4])
    statistics = summarise(BOTH_DATA, design)
    assert statistics.counts.sum() == BOTH_DATA.size
    for side in ("lower", "upper"):
        _assert_summary_consistent(BOTH_DATA, design, statistics, side)


def test_summarise_refuses_data_outside_a_side_without_tail():
    with pytest.raises(DataError, match=r"1 observation\(s\) lie below the first bin edge 0\.0.*lower tail"):
        summarise(np.array([-0.5, 0.5, 1.5, 2.5, 3.5]), Design(UPPER_EDGES, [], [1, 2]))
    with pytest.raises(DataError, match=r"2 observation\(s\) lie above the last bin edge 3\.0.*upper tail"):
        summarise(np.array([0.5, 1.5, 2.5, 3.5, 4.0]), Design(LOWER_EDGES, [1, 2], []))


def test_design_validates_and_round_trips():
    design = Design(BOTH_EDGES, [1, 2], [3, 4])
    again = Design.from_config(json.loads(json.dumps(design.to_config())))
    for name in ("bin_edges", "lower_candidates", "upper_candidates"):
        assert np.array_equal(getattr(again, name), getattr(design, name))
    with pytest.raises(ValueError, match="strictly increasing"):
        Design([0.0, 2.0, 1.0], [], [1])
    with pytest.raises(ValueError, match="interior bin edges"):
        Design(UPPER_EDGES, [], [3])
    with pytest.raises(ValueError, match="below every upper"):
        Design(BOTH_EDGES, [3], [2])


# ----------------------------------------------------------------------------- priors


def test_default_priors_follow_their_documented_reasons(t_sample):
    design = make_design(t_sample, tails="both", bins=20)
    statistics = summarise(t_sample, design)
    priors = default_priors(statistics)
    assert set(priors) == {"bin_probs", "lower_xi", "lower_sigma", "upper_xi", "upper_sigma"}
    assert priors["bin_probs"] == Prior("Dirichlet", a=1.0)
    for side in ("lower", "upper"):
        assert priors[f"{side}_xi"] == Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-1.0)
        # The scale of an exponential tail with the observed median excess.
        expected = math.log(np.median(getattr(statistics, side).excess) / math.log(2.0))
        assert priors[f"{side}_sigma"].distribution == "LogNormal"
        assert priors[f"{side}_sigma"].parameters["mu"] == pytest.approx(expected, abs=1e-6)
        assert priors[f"{side}_sigma"].parameters["sigma"] == 1.0
    # The reasons are written down where users read them.
    doc = default_priors.__doc__
    for phrase in (
        "Normal(0, 0.5) truncated to ξ > -1",
        "Coles",
        "LogNormal(log s, 1)",
        "median excess",
        "Dirichlet(1, ..., 1)",
    ):
        assert phrase in doc
    # ξ >= 1 keeps the prior mass the docstring claims (2.3%).
    assert stats.norm(0, 0.5).sf(1.0) == pytest.approx(0.023, abs=5e-4)


def test_prior_config_round_trip():
    for prior in (
        Prior("Normal", mu=0.0, sigma=0.5),
        Prior("TruncatedNormal", mu=0.1, sigma=0.3, lower=-0.5, upper=1.0),
        Prior("Dirichlet", a=np.array([1.0, 2.0])),
    ):
        config = json.loads(json.dumps(prior.to_config()))
        assert Prior.from_config(config) == prior
        assert repr(Prior.from_config(config)) == repr(prior)
    assert Prior("Uniform", lower=-1, upper=2).bounds == (-1.0, 2.0)
    assert Prior("Normal", mu=0.0, sigma=1.0).bounds == (-np.inf, np.inf)


def test_prior_errors_name_the_problem(t_sample):
    with pytest.raises(PriorError, match="Unknown prior distribution 'Normall'"):
        Prior("Normall", mu=0.0)
    with pytest.raises(PriorError, match="'dist' key"):
        Prior.from_config({"mu": 0.0})
    with pytest.raises(PriorError, match=r"Unknown prior 'upper_shape'.*upper_sigma, upper_xi"):
        build_model(t_sample, tails="upper", priors={"upper_shape": Prior("Normal", mu=0.0, sigma=1.0)})
    with pytest.raises(PriorError, match=r"Unknown prior 'lower_xi'"):
        build_model(t_sample, tails="upper", priors={"lower_xi": {"dist": "Normal", "mu": 0.0, "sigma": 1.0}})
    with pytest.raises(PriorError, match="must be a Dirichlet"):
        build_model(t_sample, tails="upper", priors={"bin_probs": Prior("Normal", mu=0.0, sigma=1.0)})
    with pytest.raises(PriorError, match=r"upper threshold prior must be 'uniform' or 10 non-negative"):
        build_model(t_sample, tails="upper", threshold_priors={"upper": [1.0, 2.0]})
    with pytest.raises(PriorError, match="concentration of bin_probs must be positive"):
        build_model(t_sample, tails="upper", priors={"bin_probs": Prior("Dirichlet", a=0.0)})


def test_prior_overrides_reach_the_model(t_sample):
    model = build_model(
        t_sample,
        tails="upper",
        priors={"upper_xi": {"dist": "Normal", "mu": 0.2, "sigma": 0.1}},
        threshold_priors={"upper": np.arange(1.0, 11.0)},
    )
    assert model_parts(model).priors["upper_xi"] == Prior("Normal", mu=0.2, sigma=0.1)
    log_prior = model["upper_threshold_log_prior"].get_value()
    assert_allclose(np.exp(log_prior), np.arange(1.0, 11.0) / 55.0)


# ----------------------------------------------------------------------------- bad input


def test_nan_is_counted_and_located():
    series = pd.Series([1.0, np.nan, 2.0, 3.0, np.nan, 4.0], index=list("abcdef"))
    labelled = r"2 NaN value\(s\) \(first at index label\(s\) b, e\).*nan_policy='omit'"
    with pytest.raises(DataError, match=labelled):
        prepare_data(series)
    with pytest.raises(DataError, match=r"1 NaN value\(s\) \(first at position\(s\) 2, counting from 0\)"):
        prepare_data(np.array([1.0, 2.0, np.nan, 3.0]))
    values, index = prepare_data(series, nan_policy="omit")
    assert_allclose(values, [1.0, 2.0, 3.0, 4.0])
    assert list(index) == ["a", "c", "d", "f"]


def test_infinite_values_are_refused_even_with_omit():
    data = np.array([1.0, np.inf, 2.0, -np.inf, 3.0])
    for policy in ("raise", "omit"):
        expected = r"2 infinite value\(s\) \(first at position\(s\) 1, 3, counting from 0\)\. Remove them"
        with pytest.raises(DataError, match=expected):
            prepare_data(data, nan_policy=policy)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([]), "The data are empty"),
        (np.full(50, 2.5), r"All 50 data values are equal \(2\.5\)"),
        (np.ones((3, 4)), r"one-dimensional; got shape \(3, 4\)"),
        (["1.0", "abc"], "must be numbers"),
        (pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), r"DataFrame with 2 columns; pass one column"),
    ],
    ids=["empty", "constant", "2-D", "strings", "dataframe"],
)
def test_unusable_data_are_refused_with_a_reason(data, message):
    with pytest.raises(DataError, match=message):
        prepare_data(data)


def test_one_column_dataframe_and_series_keep_their_index():
    frame = pd.DataFrame({"loss": [3.0, 1.0, 2.0]}, index=pd.Index(["x", "y", "z"]))
    values, index = prepare_data(frame)
    assert_allclose(values, [3.0, 1.0, 2.0])
    assert list(index) == ["x", "y", "z"]
    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'omit'"):
        prepare_data(frame, nan_policy="drop")


def test_too_few_points_for_the_bins():
    x = np.random.default_rng(1).exponential(size=40)
    upper = float(np.sort(x)[-16])  # 15 points above
    with pytest.raises(
        DataError, match=r"Only 25 observations lie between .* 30 bins .* use fewer bins \(e\.g\. bins=2\)"
    ):
        make_design(x, tails="upper", upper_threshold=upper, bins=30)


def test_too_few_exceedances_for_a_fixed_threshold():
    x = np.arange(1.0, 101.0)
    with pytest.raises(
        DataError,
        match=r"Only 10 observation\(s\) lie above the upper threshold 90\.0; a GPD tail needs at least 15\. "
        r"Move the threshold down, or fit without the upper tail",
    ):
        make_design(x, tails="upper", upper_threshold=90.0)
    with pytest.raises(
        DataError, match=r"Only 5 observation\(s\) lie below the lower threshold 6\.0.*Move the threshold up"
    ):
        make_design(x, tails="lower", lower_threshold=6.0)
    assert MIN_EXCEEDANCES == 15


def test_fixed_threshold_outside_the_data():
    x = np.arange(1.0, 101.0)
    with pytest.raises(
        DataError, match=r"upper threshold 150\.0 lies outside the data range \[1\.0, 100\.0\]"
    ):
        make_design(x, tails="upper", upper_threshold=150.0)
    with pytest.raises(DataError, match=r"lower threshold -3\.0 lies outside the data range"):
        make_design(x, tails="both", lower_threshold=-3.0)


def test_too_few_points_for_a_threshold_prior_and_crossing_thresholds():
    x = np.random.default_rng(2).normal(size=50)
    with pytest.raises(
        DataError, match=r"50 observations are too few for an upper tail .* Fix the upper threshold"
    ):
        make_design(x, tails="upper")
    y = np.arange(1.0, 101.0)
    with pytest.raises(
        DataError, match=r"lower thresholds \(up to 60\.0\) must lie below the upper ones \(from 40\.0\)"
    ):
        make_design(y, tails="both", lower_threshold=60.0, upper_threshold=40.0)
    with pytest.raises(ValueError, match=r"tails must be one of"):
        make_design(y, tails="upper-only")
