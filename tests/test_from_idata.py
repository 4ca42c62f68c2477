"""``build_model`` as an ordinary PyMC model, and ``SBPFit.from_idata``.

The likelihood of :func:`sbp_bayes.build_model` is the observed variable ``y``: its
pointwise terms are checked against the brute-force marginal likelihood
(``tests/reference/brute_force_likelihood.py``: bin probabilities integrated
numerically, no conjugacy algebra) on every prefix of the data, in the documented
order. One small fit of a user-extended model then checks posterior predictive draws,
``pm.compute_log_likelihood`` and :meth:`SBPFit.from_idata` against
``fit(..., threshold_weights="posterior")`` on the same data.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from pymc.backends.arviz import find_constants
from scipy import special, stats

import sbp_bayes
from sbp_bayes import SBPFit, build_model
from sbp_bayes.model import Design, build_model_from_statistics, model_parts, summarise
from sbp_bayes.priors import Prior
from sbp_bayes.sampling import sample
from tests.reference.brute_force_likelihood import TailSpec, log_candidate_terms

# Small designs with awkward data (as in test_model.py): points exactly on candidates,
# on the first and last edge and beyond the grid, non-uniform Dirichlet and weights.
UPPER_EDGES = np.array([0.0, 1.0, 2.0, 3.0])
UPPER_DATA = np.array(
    [2.5, 0.0, 0.3, 4.1, 0.5, 0.5, 0.7, 2.0, 0.9, 1.0, 1.2, 1.5, 1.7, 2.0, 2.9, 3.0, 3.4, 6.0]
)
BOTH_EDGES = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
BOTH_DATA = np.array([4.4, -2.5, -0.4, 0.0, 0.6, 1.0, 1.4, 2.0, 2.5, 2.8, 3.0, 3.3, 4.0, 5.0, 5.6, 7.5])
BOTH_ALPHA = [2.0, 1.0, 2.0, 1.0, 1.0]
BOTH_WEIGHTS = {"lower": (0.25, 0.75), "upper": (2.0, 1.0)}
#: Checks of a few evaluations run in PyTensor's Python backend: no numba compilation.
FAST = "FAST_COMPILE"


def _step_order(x, design):
    """The documented order: points between the innermost candidates first, then the
    possible tail points, each group in data order."""
    tail = np.zeros(x.size, dtype=bool)
    if design.upper_candidates.size:
        tail |= x >= design.upper_thresholds[0]
    if design.lower_candidates.size:
        tail |= x < design.lower_thresholds[-1]
    return np.concatenate([np.flatnonzero(~tail), np.flatnonzero(tail)])


def _pointwise_at(model, free_values):
    """Pointwise log-likelihood of ``y`` and the (ξ, σ_ref) of each tail at a point."""
    point = dict(model.initial_point())
    point.update(free_values)
    y = model["y"]
    pointwise = model.compile_logp(vars=[y], sum=False, mode=FAST)(point)[0]
    tails = {}
    for side in ("lower", "upper"):
        if f"{side}_xi" in model.named_vars:
            names = [f"{side}_xi", f"{side}_sigma_ref"]
            outputs = model.replace_rvs_by_values([model[n] for n in names])
            values = model.compile_fn(
                outputs, inputs=model.value_vars, on_unused_input="ignore", point_fn=True, mode=FAST
            )(point)
            tails[side] = tuple(float(v) for v in values)
    return pointwise, tails


@pytest.mark.parametrize("case", ["upper", "both"])
def test_pointwise_terms_are_the_chain_rule_of_the_brute_force_marginal(case):
    if case == "upper":
        x, design, options, alpha, weights = UPPER_DATA, Design(UPPER_EDGES, [], [1, 2]), {}, 1.0, {}
        free = {"upper_sigma_ref_log__": 0.3, "upper_xi_unconstrained": 0.4}
    else:
        x, design, alpha, weights = BOTH_DATA, Design(BOTH_EDGES, [1, 2], [3, 4]), BOTH_ALPHA, BOTH_WEIGHTS
        options = {
            "priors": {"bin_probs": Prior("Dirichlet", a=BOTH_ALPHA)},
            "threshold_priors": {side: list(w) for side, w in BOTH_WEIGHTS.items()},
        }
        free = {
            "lower_sigma_ref_log__": -0.2,
            "lower_xi_unconstrained": 0.1,
            "upper_sigma_ref_log__": 0.2,
            "upper_xi_unconstrained": -0.5,
        }
    model = build_model(x, design=design, **options)
    assert model.observed_RVs == [model["y"]]
    pointwise, tails = _pointwise_at(model, free)
    assert pointwise.shape == x.shape

    def brute(points):
        if points.size == 0:
            return 0.0
        specs = {
            side: TailSpec(
                tuple(design.lower_candidates if side == "lower" else design.upper_candidates),
                *tails[side],
                weights.get(side),
            )
            for side in tails
        }
        return special.logsumexp(log_candidate_terms(points, design.bin_edges, concentration=alpha, **specs))

    order = _step_order(x, design)
    prefix = [brute(x[order[:t]]) for t in range(x.size + 1)]
    # Term of the point taken at step t: log p(first t points) - log p(first t - 1).
    assert np.allclose(pointwise[order], np.diff(prefix), rtol=1e-9, atol=1e-9)
    # Hence they sum to the exact marginal, the same as the statistics-only likelihood
    # that sbp_bayes.fit samples (so the posterior is unchanged).
    reference = build_model_from_statistics(summarise(x, design), design, **options)
    potential = reference.compile_logp(vars=[reference["likelihood"]], mode=FAST)
    assert pointwise.sum() == pytest.approx(float(potential(model.initial_point() | free)), rel=1e-12)
    assert model.compile_logp(mode=FAST)(model.initial_point() | free) == pytest.approx(
        reference.compile_logp(mode=FAST)(model.initial_point() | free), rel=1e-12
    )


def test_model_parts_and_clear_errors():
    x = np.random.default_rng(5).standard_t(4, size=300)
    model = build_model(x, bins=8, tails="upper", n_candidates=3)
    parts = model_parts(model)
    assert parts.design.upper_candidates.size == 3
    np.testing.assert_array_equal(parts.observed, x)
    with pytest.raises(ValueError, match=r"not made by sbp_bayes\.build_model"):
        model_parts(pm.Model())
    with pytest.raises(TypeError, match=r"pymc\.Model"):
        model_parts("model")
    fast = build_model(x, bins=8, tails="upper", n_candidates=3, observed=False)
    assert fast.observed_RVs == [] and fast.potentials[-1].name == "likelihood"
    with pytest.raises(ValueError, match="from statistics alone"):
        SBPFit.from_idata(fast, xr.DataTree.from_dict({"posterior": xr.Dataset()}))
    with pytest.raises(ValueError, match="the statistics were computed from"):
        build_model_from_statistics(parts.statistics, parts.design, observed=x[::-1] + 0.5)
    statistics_only = build_model_from_statistics(parts.statistics, parts.design)
    posterior = xr.DataTree.from_dict({"posterior": xr.Dataset({"upper_xi": (("chain", "draw"), [[0.1]])})})
    with pytest.raises(ValueError, match="from statistics alone"):
        SBPFit.from_idata(statistics_only, posterior)
    with pytest.raises(ValueError, match="upper_sigma_ref, upper_threshold_logprob"):
        SBPFit.from_idata(model, posterior)
    with pytest.raises(ValueError, match="'posterior' group"):
        SBPFit.from_idata(model, xr.DataTree())


# ----------------------------------------------------------------------------- one extended fit

N = 800
SETTINGS = {"draws": 500, "tune": 500, "chains": 2}


@pytest.fixture(scope="module")
def extended():
    """A build_model model with a neutral extension (an unrelated Normal), sampled by NUTS."""
    x = np.random.default_rng(7).standard_t(4, size=N)
    model = build_model(x, bins=10, tails="upper", n_candidates=4)
    with model:
        pm.Normal("unrelated", 3.0, 2.0)
    # The package's NUTS (nutpie with its compile cache: this model compiles once per machine)
    # returns posterior and sample_stats; pm.sample also stores the model's data, by which
    # sample_posterior_predictive tells what changed since sampling. Store it as pm.sample does.
    idata = sample(model, "nutpie", seed=3, progressbar=False, **SETTINGS)
    constants = {
        name: (tuple(f"{name}_dim_{i}" for i in range(np.ndim(value))), np.asarray(value))
        for name, value in find_constants(model).items()
    }
    idata["constant_data"] = xr.DataTree(xr.Dataset(constants))
    return x, model, idata


@pytest.fixture(scope="module")
def from_idata_fit(extended):
    _, model, idata = extended
    return SBPFit.from_idata(model, idata, random_seed=4)


def test_posterior_predictive_draws_the_observed_variable(extended, from_idata_fit):
    x, model, idata = extended
    with pytest.warns(UserWarning, match="Potentials"):  # the ξ priors; see build_model's docstring
        predictive = pm.sample_posterior_predictive(
            idata.sel(draw=slice(None, None, 5)), model=model, random_seed=5, progressbar=False
        )
    draws = predictive["posterior_predictive"]["y"]
    assert draws.dims == ("chain", "draw", "obs_id") and draws.shape == (2, 100, N)
    # Same law as the fit's own predictive (threshold and bin probabilities drawn from their
    # conditional posteriors): per-draw exceedance shares of the data's 90% and 99% quantiles
    # agree within 4 standard errors of the difference of the two means.
    ours = from_idata_fit.posterior_predictive(thin=5, random_seed=6)["y"].values.reshape(-1, N)
    theirs = draws.values.reshape(-1, N)
    for level in (0.9, 0.99):
        q = np.quantile(x, level)
        a, b = (theirs > q).mean(axis=1), (ours > q).mean(axis=1)
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) < 4 * se, (level, a.mean(), b.mean(), se)
        assert abs(a.mean() - (1 - level)) < 0.02  # and both reproduce the data


def test_from_idata_gives_the_return_levels_of_fit(extended, from_idata_fit):
    """Return levels of the extended model equal fit()'s to Monte Carlo error.

    Criterion: for each level, the posterior means of the per-draw log return level
    differ by less than 4 sqrt(sd_a^2 / ESS_a + sd_b^2 / ESS_b), ESS by ArviZ (bulk) from
    each run's chains: two independent NUTS runs of the same posterior.
    """
    import arviz as az

    x = extended[0]
    reference = sbp_bayes.fit(
        x,
        bins=10,
        tails="upper",
        n_candidates=4,
        threshold_weights="posterior",
        random_seed=8,
        progressbar=False,
        log_likelihood=False,
        **SETTINGS,
    )
    assert "unrelated" in from_idata_fit.posterior  # the user's variables are kept
    np.testing.assert_array_equal(from_idata_fit.design.bin_edges, reference.design.bin_edges)
    probs = np.array([1e-2, 1e-3])
    for result in (from_idata_fit, reference):
        table = result.return_levels(1.0 / probs, observations_per_period=1.0)
        assert np.all(np.isfinite(table["median"]))
    levels = []
    for result in (from_idata_fit, reference):
        per_draw = np.log(result.distribution().isf(probs[:, None]))  # (levels, draws)
        chains = result.posterior.sizes["chain"]
        levels.append(per_draw.reshape(probs.size, chains, -1))
    for k in range(probs.size):
        a, b = levels[0][k], levels[1][k]
        se = np.sqrt(a.var() / float(az.ess(a)) + b.var() / float(az.ess(b)))
        assert abs(a.mean() - b.mean()) < 4 * se, (probs[k], a.mean(), b.mean(), se)
    # The shape itself, as a second quantity that the extension must not move.
    a, b = (r.posterior["upper_xi"].values for r in (from_idata_fit, reference))
    se = np.sqrt(a.var() / float(az.ess(a)) + b.var() / float(az.ess(b)))
    assert abs(a.mean() - b.mean()) < 4 * se


def test_compute_log_likelihood_agrees_with_the_fits_pointwise_log_likelihood(extended, from_idata_fit):
    """pm.compute_log_likelihood stores the chain-rule terms of the marginal likelihood;
    the fit's pointwise log-likelihood conditions on the drawn threshold ``u`` and bin
    probabilities ``π`` as well. Per draw they are tied exactly by Bayes' rule:

    log p(y | θ) = log p(y | θ, u, π) + log p(u) + log p(π) - log p(u | y, θ) - log p(π | u, y, θ),

    where p(u | y, θ) is the stored threshold probability and, by aggregation, the ratio
    of the Dirichlet densities of π reduces to that of (body bins, tail mass) — evaluated
    here with scipy.
    """
    _, model, idata = extended
    thin = idata.sel(draw=slice(None, None, 25))
    stored = pm.compute_log_likelihood(thin, model=model, extend_inferencedata=False, progressbar=False)
    marginal = stored["y"].values.reshape(-1, N).sum(axis=1)

    fit = from_idata_fit
    post = fit.posterior.isel(draw=slice(None, None, 25))
    draws = np.arange(fit.posterior.sizes["draw"])[::25]
    flat = (np.arange(fit.posterior.sizes["chain"])[:, None] * fit.posterior.sizes["draw"] + draws).ravel()
    conditional = fit.pointwise_log_likelihood()[flat].sum(axis=1)

    parts = model_parts(model)
    design, counts, alpha = parts.design, parts.statistics.counts, parts.concentration
    edges = design.upper_candidates
    thresholds = post["upper_threshold"].values.ravel()
    logprob = post["upper_threshold_logprob"].values.reshape(thresholds.size, -1)
    bin_probs = post["bin_probs"].values.reshape(thresholds.size, -1)
    correction = np.empty(thresholds.size)
    for s, threshold in enumerate(thresholds):
        j = int(np.flatnonzero(design.upper_thresholds == threshold)[0])
        edge = edges[j]
        n_beyond = int((parts.observed > threshold).sum())
        aggregated = np.append(bin_probs[s, :edge], bin_probs[s, edge:].sum())
        prior_alpha = np.append(alpha[:edge], alpha[edge:].sum())
        posterior_alpha = prior_alpha + np.append(counts[:edge], n_beyond)
        correction[s] = (
            np.log(1.0 / edges.size)
            - logprob[s, j]
            + stats.dirichlet.logpdf(aggregated, prior_alpha)
            - stats.dirichlet.logpdf(aggregated, posterior_alpha)
        )
    np.testing.assert_allclose(marginal, conditional + correction, rtol=1e-9)
