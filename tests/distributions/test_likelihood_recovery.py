"""The distribution inside PyMC models: likelihood, prior, predictive checks, recovery.

One model, built and sampled once per module (fixtures, fixed seed, small runs), holds
two independent blocks, so that each sampler compiles once:

* likelihood: simulated data with body and tail masses fixed at their true values
  and priors on the four GPD parameters; the posterior must cover the truth (95%
  equal-tailed intervals) with R-hat <= 1.01;
* prior: an unobserved ``SplicedBinnedPareto`` location seen through three normal
  observations; its posterior mean and sd must match quadrature.
"""

from __future__ import annotations

import itertools

import arviz as az
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from scipy import integrate, stats

from sbp_bayes import SplicedBinnedPareto
from sbp_bayes.stats import sbp

SEED = 20240607
TAIL_NAMES = ("lower_xi", "lower_sigma", "upper_xi", "upper_sigma")
TRUE = dict(
    bin_edges=np.linspace(-2.0, 2.0, 9),
    bin_probs=np.array([0.05, 0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0.05]),
    lower_tail_prob=0.1,
    upper_tail_prob=0.1,
    lower_xi=0.0,  # the posterior straddles xi = 0: NUTS crosses the series/closed-form switch
    lower_sigma=0.6,
    upper_xi=0.3,
    upper_sigma=0.8,
)
N_OBS = 2000


# Scales sigma = a / f_B(u) make this prior's density continuous at the thresholds (the
# "con" variant): nothing for NUTS to trip over.
PRIOR = dict(
    bin_edges=np.linspace(-3.0, 3.0, 13),
    bin_probs=np.full(12, 1 / 12),
    lower_tail_prob=0.05,
    upper_tail_prob=0.05,
    lower_xi=0.2,
    lower_sigma=0.3,
    upper_xi=0.3,
    upper_sigma=0.3,
)
PRIOR_OBSERVED = np.array([2.6, 3.4, 2.9])


@pytest.fixture(scope="module")
def data():
    return sbp(**TRUE).rvs(N_OBS, random_state=SEED)


@pytest.fixture(scope="module")
def tail_model(data):
    """Likelihood block: body and tail masses fixed at the truth, priors on the GPD
    shapes and scales. Prior block: a location with a spliced binned-Pareto prior."""
    with pm.Model() as model:
        location = SplicedBinnedPareto("location", **PRIOR)
        pm.Normal("y_location", mu=location, sigma=1.0, observed=PRIOR_OBSERVED)
        lower_xi = pm.Normal("lower_xi", 0.0, 0.5)
        lower_sigma = pm.HalfNormal("lower_sigma", 2.0)
        upper_xi = pm.Normal("upper_xi", 0.0, 0.5)
        upper_sigma = pm.HalfNormal("upper_sigma", 2.0)
        SplicedBinnedPareto(
            "y",
            bin_edges=TRUE["bin_edges"],
            bin_probs=TRUE["bin_probs"],
            lower_tail_prob=TRUE["lower_tail_prob"],
            upper_tail_prob=TRUE["upper_tail_prob"],
            lower_xi=lower_xi,
            lower_sigma=lower_sigma,
            upper_xi=upper_xi,
            upper_sigma=upper_sigma,
            observed=data,
        )
    return model


@pytest.fixture(scope="module")
def nutpie_posterior(tail_model):
    return pm.sample(
        draws=1000,
        tune=500,
        chains=2,
        nuts_sampler="nutpie",
        random_seed=SEED,
        progressbar=False,
        model=tail_model,
    )


@pytest.fixture(scope="module")
def pymc_posterior(tail_model):
    return pm.sample(
        draws=200,
        tune=200,
        chains=2,
        cores=1,
        nuts_sampler="pymc",  # PyMC's own NUTS (the default picks nutpie when installed)
        random_seed=SEED,
        progressbar=False,
        compute_convergence_checks=False,
        model=tail_model,
    )


@pytest.fixture(scope="module")
def exact_location_moments():
    """Posterior mean and sd of the location by quadrature: prior density times likelihood."""
    prior = sbp(**PRIOR)

    def unnormalised(x, power):
        return x**power * float(prior.pdf(x)) * np.prod(stats.norm.pdf(PRIOR_OBSERVED, loc=x))

    cuts = [-np.inf, *PRIOR["bin_edges"], np.inf]
    moments = [
        sum(
            integrate.quad(unnormalised, a, b, args=(k,), epsabs=1e-13, limit=200)[0]
            for a, b in itertools.pairwise(cuts)
        )
        for k in range(3)
    ]
    mean = moments[1] / moments[0]
    return mean, np.sqrt(moments[2] / moments[0] - mean**2)


def draw_parameters(dataset, chain, draw):
    return TRUE | {name: float(dataset[name].values[chain, draw]) for name in TAIL_NAMES}


# ----------------------------------------------------------------------------- recovery


def test_recovers_tail_shapes_and_scales(nutpie_posterior):
    assert isinstance(nutpie_posterior, xr.DataTree)  # PyMC 6: pm.sample returns a DataTree
    summary = az.summary(
        nutpie_posterior, var_names=list(TAIL_NAMES), ci_prob=0.95, ci_kind="eti", round_to="none"
    )
    for name in TAIL_NAMES:
        row = summary.loc[name]
        assert row["eti95_lb"] < TRUE[name] < row["eti95_ub"], (name, row.to_dict())
        assert row["r_hat"] <= 1.01, (name, row["r_hat"])
        assert row["ess_bulk"] > 400, (name, row["ess_bulk"])
    # The data decide: the posterior is much narrower than the prior (sd 0.5 for xi).
    assert summary.loc["upper_xi", "sd"] < 0.15 and summary.loc["lower_xi", "sd"] < 0.15
    rhat = az.rhat(nutpie_posterior)
    assert all(float(rhat[name]) <= 1.01 for name in TAIL_NAMES)
    assert int(nutpie_posterior["sample_stats"]["diverging"].sum()) <= 20  # of 2000


def test_pymc_nuts_agrees_with_nutpie(pymc_posterior, nutpie_posterior):
    assert pymc_posterior["posterior"].attrs["inference_library"] == "pymc"
    assert nutpie_posterior["posterior"].attrs["inference_library"] == "nutpie"
    posterior = pymc_posterior["posterior"]
    assert posterior["upper_xi"].shape == (2, 200)
    # A negative lower_xi puts a hard wall in the posterior (every observation must lie
    # inside the bounded support), so the odd divergence there is expected; not more.
    assert int(pymc_posterior["sample_stats"]["diverging"].sum()) <= 8
    for name in TAIL_NAMES:
        ours = posterior[name].values.ravel()
        reference = nutpie_posterior["posterior"][name].values.ravel()
        # same posterior: means within a fraction of the posterior sd (short PyMC run)
        assert abs(ours.mean() - reference.mean()) < 0.35 * reference.std(), name
        assert 0.6 < ours.std() / reference.std() < 1.6, name


# ----------------------------------------------------------------------------- predictive


def test_log_likelihood_matches_numpy_counterpart(nutpie_posterior, tail_model, data):
    log_likelihood = pm.compute_log_likelihood(
        nutpie_posterior, model=tail_model, extend_inferencedata=False, progressbar=False
    )
    pointwise = log_likelihood["y"].values
    assert pointwise.shape == (2, 1000, N_OBS)
    posterior = nutpie_posterior["posterior"]
    for chain, draw in [(0, 0), (1, 517), (0, 999)]:
        expected = sbp(**draw_parameters(posterior, chain, draw)).logpdf(data)
        assert_allclose(pointwise[chain, draw], expected, rtol=1e-10, atol=1e-10)
    assert np.isfinite(pointwise).all()


def test_posterior_predictive_draws_from_each_draws_distribution(nutpie_posterior, tail_model, data):
    predictive = pm.sample_posterior_predictive(
        nutpie_posterior, model=tail_model, random_seed=SEED, progressbar=False
    )
    draws = predictive["posterior_predictive"]["y"].values
    assert draws.shape == (2, 1000, N_OBS)
    posterior = nutpie_posterior["posterior"]
    for chain, draw in [(0, 3), (1, 800)]:
        dist = sbp(**draw_parameters(posterior, chain, draw))
        assert stats.kstest(draws[chain, draw], dist.cdf).pvalue > 1e-3
    # pooled, the predictive reproduces the data's tail masses and quantiles
    pooled = draws[:, ::50].ravel()
    u_lower, u_upper = float(sbp(**TRUE).lower_threshold), float(sbp(**TRUE).upper_threshold)
    assert abs(np.mean(pooled < u_lower) - TRUE["lower_tail_prob"]) < 0.01
    assert abs(np.mean(pooled > u_upper) - TRUE["upper_tail_prob"]) < 0.01
    assert abs(np.quantile(pooled, 0.99) - np.quantile(data, 0.99)) < 0.5


def test_prior_predictive(tail_model):
    prior = pm.sample_prior_predictive(draws=50, model=tail_model, random_seed=SEED)
    draws = prior["prior_predictive"]["y"].values
    assert draws.shape == (1, 50, N_OBS)
    assert not np.isnan(draws).any()
    for draw in (0, 21):
        dist = sbp(**draw_parameters(prior["prior"], 0, draw))
        assert stats.kstest(draws[0, draw], dist.cdf).pvalue > 1e-3
    # whatever the tail parameters, the fixed tail masses are respected
    u_lower = float(sbp(**TRUE).lower_threshold)
    assert abs(np.mean(draws < u_lower) - TRUE["lower_tail_prob"]) < 0.01


# ----------------------------------------------------------------------------- as a prior


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_as_a_prior(nutpie_posterior, pymc_posterior, exact_location_moments, sampler):
    idata = nutpie_posterior if sampler == "nutpie" else pymc_posterior
    summary = az.summary(idata, var_names=["location"], round_to="none").loc["location"]
    mean, sd = exact_location_moments
    assert summary["r_hat"] <= 1.02
    assert abs(summary["mean"] - mean) < 5 * summary["mcse_mean"] + 0.02 * sd, (summary.to_dict(), mean)
    assert abs(summary["sd"] - sd) < 0.2 * sd, (summary.to_dict(), sd)
