"""``add_marginalized_threshold``: the marginal over candidate thresholds, as an observed variable.

The model's log-likelihood is compared with a brute-force log-sum-exp over the
candidates computed with the numpy counterpart ``sbp`` (no PyTensor involved); prior
and posterior predictive must return draws of the observed variable and
``pm.compute_log_likelihood`` pointwise terms that sum to the marginal.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from scipy.special import logsumexp

from sbp_bayes import SplicedBinnedPareto, add_marginalized_threshold, sbp

CANDIDATES = np.array([0.9, 1.2, 1.6])
PRIOR = np.array([0.5, 0.3, 0.2])
N_BINS = 6
DATA = np.random.default_rng(7).pareto(3.0, size=60) + 0.05


def body_edges(threshold):
    return threshold * np.linspace(0.0, 1.0, N_BINS + 1)


def make_dist(threshold, size, bin_probs, tail_prob, xi, sigma):
    return SplicedBinnedPareto.dist(
        body_edges=body_edges(threshold),
        bin_probs=bin_probs,
        upper_tail_prob=tail_prob,
        upper_xi=xi,
        upper_sigma=sigma,
        size=size,
    )


def brute_force(draw):
    """log p(y | θ) and P(threshold | θ, y) for one parameter draw, in numpy."""
    per_candidate = np.array(
        [
            sbp(
                body_edges=body_edges(c),
                bin_probs=draw["bin_probs"],
                upper_tail_prob=draw["tail_prob"],
                upper_xi=draw["xi"],
                upper_sigma=draw["sigma"],
            )
            .logpdf(DATA)
            .sum()
            for c in CANDIDATES
        ]
    )
    joint = np.log(PRIOR) + per_candidate
    return logsumexp(joint), np.exp(joint - logsumexp(joint))


@pytest.fixture(scope="module")
def model_and_draws():
    with pm.Model() as model:
        params = dict(
            bin_probs=pm.Dirichlet("bin_probs", np.ones(N_BINS)),
            tail_prob=pm.Beta("tail_prob", 2.0, 8.0),
            xi=pm.Normal("xi", 0.3, 0.1),
            sigma=pm.LogNormal("sigma", 0.0, 0.3),
        )
        add_marginalized_threshold("y", CANDIDATES, make_dist, params, observed=DATA, prior=PRIOR)
        prior = pm.sample_prior_predictive(draws=12, random_seed=3)
    return model, prior


def test_log_likelihood_is_the_brute_force_marginal(model_and_draws):
    model, _ = model_and_draws
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    logp_y = model.compile_logp(vars=[model["y"]])
    rng = np.random.default_rng(0)
    for _ in range(5):
        draw = {
            "bin_probs": rng.dirichlet(np.ones(N_BINS)),
            "tail_prob": rng.uniform(0.05, 0.4),
            "xi": rng.uniform(-0.1, 0.6),
            "sigma": rng.uniform(0.3, 2.0),
        }
        point = {}
        for name, value in draw.items():
            rv = model[name]
            transform = model.rvs_to_transforms[rv]
            value_var = model.rvs_to_values[rv]
            point[value_var.name] = transform.forward(value, *rv.owner.inputs).eval() if transform else value
        expected, _ = brute_force(draw)
        assert_allclose(logp_y(point), expected, rtol=1e-10)


def test_threshold_probabilities_and_predictive_draws(model_and_draws):
    model, prior = model_and_draws
    # The stored threshold probabilities are the brute-force posterior given each draw.
    group = prior["prior"]
    for chain_draw in [(0, 0), (0, 5), (0, 11)]:
        draw = {name: group[name].values[chain_draw] for name in ("bin_probs", "tail_prob", "xi", "sigma")}
        _, expected = brute_force(draw)
        assert_allclose(group["y_threshold_prob"].values[chain_draw], expected, rtol=1e-8, atol=1e-300)
    assert list(group["y_threshold_prob"].coords["y_threshold"].values) == list(CANDIDATES)
    # Prior predictive: draws of the observed variable, one threshold shared by the data set.
    prior_y = prior["prior_predictive"]["y"]
    assert prior_y.shape == (1, 12, DATA.size) and np.isfinite(prior_y).all()

    # Use the prior draws as a stand-in posterior (no sampling needed to test the plumbing).
    posterior = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    with model:
        predictive = pm.sample_posterior_predictive(posterior, random_seed=4, progressbar=False)
        log_lik = pm.compute_log_likelihood(posterior, progressbar=False)
    assert predictive["posterior_predictive"]["y"].shape == (1, 12, DATA.size)
    assert (predictive["posterior_predictive"]["y"].values >= 0).all()  # the body starts at 0
    pointwise = log_lik["log_likelihood"]["y"]
    assert pointwise.shape == (1, 12, DATA.size)
    for d in range(12):
        draw = {name: group[name].values[0, d] for name in ("bin_probs", "tail_prob", "xi", "sigma")}
        expected, _ = brute_force(draw)
        assert_allclose(pointwise.values[0, d].sum(), expected, rtol=1e-9)
    # The first term is the prior mixture of the candidates' densities at y_1.
    draw = {name: group[name].values[0, 0] for name in ("bin_probs", "tail_prob", "xi", "sigma")}
    first = [
        sbp(
            body_edges=body_edges(c),
            bin_probs=draw["bin_probs"],
            upper_tail_prob=draw["tail_prob"],
            upper_xi=draw["xi"],
            upper_sigma=draw["sigma"],
        ).logpdf(DATA[0])
        for c in CANDIDATES
    ]
    assert_allclose(pointwise.values[0, 0, 0], logsumexp(np.log(PRIOR) + np.array(first)), rtol=1e-10)


def test_bad_candidates_and_prior():
    with pm.Model(), pytest.raises(ValueError, match="candidates must be a non-empty 1-D"):
        add_marginalized_threshold("y", [], make_dist, {}, observed=DATA)
    with pm.Model(), pytest.raises(ValueError, match="one non-negative probability per candidate"):
        add_marginalized_threshold("y", CANDIDATES, make_dist, {}, observed=DATA, prior=[0.5, 0.5])
