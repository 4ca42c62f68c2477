"""Cross-validation threshold weights (sbp_bayes.threshold_selection) and the default fit.

The checks use truths the model did not generate: exact leave-one-out against refitting
without each point, quadrature against scipy and PyMC, weights on data whose tail is a
GPD only beyond a known point, and the published analyses of the bundled data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import sbp_bayes
from sbp_bayes import datasets
from sbp_bayes.priors import Prior
from sbp_bayes.stats import gpd_logpdf, gpd_logsf
from sbp_bayes.threshold_selection import _log_lik_matrix, candidate_scores, gpd_posterior_grid

FLAT_XI = stats.truncnorm(-2.0, np.inf, 0.0, 0.5).logpdf


def _log_sigma_prior(scale):
    return stats.lognorm(1.0, scale=scale).logpdf


def test_grid_log_density_is_the_gpd_log_density():
    excess = np.array([1e-6, 0.3, 2.0, 9.0])
    xi = np.array([-0.5, -1e-8, 1e-8, 0.2, 1.5])
    sigma = np.array([2.0, 1.0, 1.0, 0.7, 3.0])
    assert_allclose(_log_lik_matrix(excess, xi, sigma), gpd_logpdf(excess[:, None], xi, sigma), rtol=1e-10)
    # Beyond the endpoint of a bounded tail (ξ = -0.5, σ = 2: endpoint 4) the density is 0.
    assert _log_lik_matrix(np.array([5.0]), np.array([-0.5]), np.array([2.0]))[0, 0] == -np.inf


@pytest.mark.parametrize(
    "prior",
    [
        Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-1.0),
        Prior("Normal", mu=0.2, sigma=0.3),
        Prior("LogNormal", mu=1.2, sigma=0.8),
        Prior("HalfNormal", sigma=2.0),
        Prior("Gamma", alpha=2.0, beta=1.0),  # no scipy fast path: PyMC's logp
    ],
)
def test_prior_densities_for_quadrature_are_pymcs(prior):
    values = np.array([-0.9, 0.05, 0.4, 1.7, 3.0])
    # Scalar evaluations: PyMC's vectorised graph rounds some constants in the 9th digit.
    expected = np.array([float(pm.logp(prior.dist(), np.float64(v)).eval()) for v in values])
    got = prior.log_density_function()(values)
    finite = np.isfinite(expected)
    # Equal up to a constant (irrelevant to any posterior): PyMC evaluates the normalising
    # constants of TruncatedNormal and HalfNormal to about 1e-9, scipy to rounding.
    difference = got[finite] - expected[finite]
    assert np.ptp(difference) < 1e-12 and abs(difference[0]) < 1e-7
    assert np.all(got[~finite] == -np.inf)


def test_grid_posterior_matches_a_fine_reference_and_its_draws():
    """Moments on the adaptive 64 x 64 grid against a 600 x 600 grid over a wide box."""
    excess = stats.genpareto(0.15, scale=2.0).rvs(150, random_state=4)
    sigma_prior = _log_sigma_prior(2.0)
    grid = gpd_posterior_grid(excess, FLAT_XI, sigma_prior)
    xi_ref, log_sigma_ref = np.meshgrid(
        np.linspace(-0.8, 1.5, 600), np.linspace(np.log(0.5), np.log(6.0), 600), indexing="ij"
    )
    # The log-likelihood summed one excess at a time (in the order a sum over axis 0 of the
    # full 150 x 600 x 600 array takes, without its ~2 GB of temporaries).
    log_lik = np.zeros_like(xi_ref)
    for value in excess:
        log_lik += gpd_logpdf(value, xi_ref, np.exp(log_sigma_ref))
    log_post = FLAT_XI(xi_ref) + sigma_prior(np.exp(log_sigma_ref)) + log_sigma_ref + log_lik
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    ref_mean, ref_sd = (w * xi_ref).sum(), np.sqrt((w * xi_ref**2).sum() - (w * xi_ref).sum() ** 2)
    p = np.exp(grid.log_weight)
    mean = (p * grid.xi).sum()
    assert mean == pytest.approx(ref_mean, abs=0.01 * ref_sd)
    assert np.sqrt((p * grid.xi**2).sum() - mean**2) == pytest.approx(ref_sd, rel=0.02)
    xi_draws, sigma_draws = grid.sample(20000, np.random.default_rng(0))
    assert xi_draws.mean() == pytest.approx(ref_mean, abs=0.03 * ref_sd)
    assert xi_draws.std() == pytest.approx(ref_sd, rel=0.03)
    assert np.all(1 + xi_draws * excess.max() / sigma_draws > 0)


def test_leave_one_out_is_exact_refitting():
    """The quadrature score of a candidate equals refitting its posterior without each point."""
    rng = np.random.default_rng(7)
    x = np.sort(stats.genpareto(0.2).rvs(300, random_state=rng))
    offsets = np.array([0.0, 1.0])
    start = np.searchsorted(x, offsets, side="right")
    sigma_priors = [_log_sigma_prior(1.0)] * 2
    scores, _ = candidate_scores(
        x, offsets, start, x.size, np.ones(2), np.ones(2), FLAT_XI, sigma_priors, np.log([0.5, 0.5])
    )
    # Brute force for the outer candidate (validation threshold v = its own threshold):
    # p ~ Beta(1 + n, 1 + N - n); each point scored by its refitted predictive.
    beyond = x[start[1] :] - offsets[1]
    n, total = beyond.size, 0.0
    total += (x.size - n) * np.log(1 - (1 + n) / (2 + x.size - 1))
    for i in range(n):
        rest = np.delete(beyond, i)
        grid = gpd_posterior_grid(rest, FLAT_XI, sigma_priors[1])
        density = np.sum(np.exp(grid.log_weight + gpd_logpdf(beyond[i], grid.xi, grid.sigma)))
        total += np.log(n / (2 + x.size - 1)) + np.log(density)
    assert scores.score[1] == pytest.approx(total, abs=0.05)
    # The validation term P(X <= v) of the inner candidate is a GPD survival, not a count.
    assert np.isfinite(scores.score[0]) and np.all(np.isfinite(gpd_logsf(offsets, 0.2, 1.0)))


def _weights(x, tails="upper", **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sbp_bayes.fit(x, tails=tails, draws=100, chains=1, random_seed=1, progressbar=False, **options)
    return fit.threshold_weights().loc["upper"]


def test_weights_follow_the_tail_not_the_grid():
    """Data whose tail is a GPD only beyond the 92% quantile (uniform below it): the
    innermost candidate, well inside the uniform part, gets almost no weight (its prior is
    0.1; the marginalised model's posterior piles on it). On exact GPD data, where every
    candidate is valid, the inner candidates (more data) predict best."""
    rng = np.random.default_rng(11)
    innermost, inner, outer = [], [], []
    for _ in range(3):
        n, n_tail = 3000, 240
        x = np.concatenate(
            [rng.uniform(0, 10, n - n_tail), 10 + stats.genpareto(0.2).rvs(n_tail, random_state=rng)]
        )
        table = _weights(x)
        assert table.threshold.iloc[0] < 9.0  # the innermost candidate is in the uniform part
        innermost.append(table["weight"].iloc[0])
        exact = _weights(stats.genpareto(0.1).rvs(2000, random_state=rng))
        inner.append(exact["weight"].iloc[:3].sum())
        outer.append(exact["weight"].iloc[-3:].sum())
    assert np.mean(innermost) < 0.05, innermost
    assert np.mean(inner) > np.mean(outer), (inner, outer)


@pytest.fixture(scope="module")
def rain_fit():
    return sbp_bayes.fit(
        datasets.load("rain"),
        tails="upper",
        lower_bound=0.0,
        random_seed=3,
        progressbar=False,
        log_likelihood=False,
    )


@pytest.fixture(scope="module")
def danish_fit():
    return sbp_bayes.fit(datasets.load("danish"), tails="upper", random_seed=3, progressbar=False)


def test_published_rain_return_level_is_inside_the_default_interval(rain_fit):
    row = rain_fit.return_levels([100], 365.25).iloc[0]
    assert row["ci_lower"] <= 106.3 <= row["ci_upper"]  # Coles (2001): 106.3, profile interval [81, 185]
    assert 81 * 0.9 < row["ci_lower"] and row["ci_upper"] < 185 * 1.25
    assert rain_fit.threshold_weights().loc["upper", "weight"].iloc[0] < 0.5  # no pile-up


def test_published_danish_fit_is_inside_the_default_intervals(danish_fit):
    xi = danish_fit.tail_shape_posterior().loc["upper"]
    assert xi["ci_lower"] <= 0.497 <= xi["ci_upper"]  # McNeil (1997), u = 10
    es = danish_fit.expected_shortfall([0.99]).iloc[0]
    assert es["ci_lower"] <= 58.2 <= es["ci_upper"]  # McNeil, Frey & Embrechts (2005)
    assert danish_fit.threshold_weights().attrs["weights"] == "cross-validation"


def test_answers_barely_move_when_the_candidate_range_moves(rain_fit):
    """Rain: the innermost candidate leaving 10% or 30% of the days above it instead of the
    default (14%, 2500 days): the 100-year level moves by < 10% (median), < 20% (ends)."""
    reference = rain_fit.return_levels([100], 365.25).iloc[0]
    data = datasets.load("rain")
    for fraction in (0.1, 0.3):
        fit = sbp_bayes.fit(
            data,
            tails="upper",
            lower_bound=0.0,
            tail_fraction=fraction,
            max_tail_points=len(data),
            random_seed=3,
            progressbar=False,
            log_likelihood=False,
        )
        row = fit.return_levels([100], 365.25).iloc[0]
        assert abs(row["median"] / reference["median"] - 1) < 0.10, (fraction, row)
        for end in ("ci_lower", "ci_upper"):
            assert abs(row[end] / reference[end] - 1) < 0.20, (fraction, end, row)


def test_nuts_on_the_per_candidate_model_agrees_with_quadrature(danish_fit):
    """Two independent routes to the same per-candidate posteriors: NUTS on
    ``build_candidate_model`` and the quadrature grids of the default fit."""
    by_nuts = sbp_bayes.fit(
        datasets.load("danish"),
        tails="upper",
        sampler="nutpie",
        draws=500,
        tune=500,
        random_seed=4,
        progressbar=False,
    )
    assert by_nuts.check(warn=False).passed
    nuts = by_nuts.posterior["upper_xi_by_candidate"]
    grid = danish_fit.posterior["upper_xi_by_candidate"]
    difference = nuts.mean(("chain", "draw")) - grid.mean(("chain", "draw"))
    # Monte Carlo error of the difference: the grid's draws are i.i.d.; NUTS gives 2000 draws,
    # counted as 1000 effective ones (a conservative ESS).
    n_grid = grid.sizes["chain"] * grid.sizes["draw"]
    standard_error = np.sqrt(nuts.var(("chain", "draw")) / 1000 + grid.var(("chain", "draw")) / n_grid)
    assert (np.abs(difference) < 4 * standard_error).all(), (difference.values, standard_error.values)
    assert np.allclose(nuts.std(("chain", "draw")), grid.std(("chain", "draw")), rtol=0.15)
