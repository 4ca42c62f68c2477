"""The dependence-adjusted tail likelihood: fit(..., cluster_adjustment="sandwich").

Checked against truths the adjustment did not produce: scipy's GPD density for the
scores, brute-force refitting without each cluster for the leave-one-cluster-out scores,
series whose clusters are exact copies (their information is known: one copy's), and
the sampling spread of the maximum likelihood estimate over simulated clustered series
for the magnitude adjustment. Coverage of true return levels over many series is
measured in benchmarks/extremal_index.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import sbp_bayes
from sbp_bayes.clusters import exceedance_groups
from sbp_bayes.stats import gpd_logpdf
from sbp_bayes.threshold_selection import (
    candidate_scores,
    gpd_posterior_grid,
    gpd_scores,
    magnitude_adjustment,
)

FLAT_XI = stats.truncnorm(-2.0, np.inf, 0.0, 0.5).logpdf
LOG_SIGMA_PRIOR = stats.lognorm(1.0, scale=1.0).logpdf


def moving_maximum(n: int, order: int, rng) -> np.ndarray:
    z = rng.pareto(1.0, size=n + order - 1)
    return np.max(np.lib.stride_tricks.sliding_window_view(z, order), axis=1)


def test_scores_are_scipys_gradients():
    y = np.array([0.01, 0.5, 2.0, 7.0])
    for xi, sigma in [(0.3, 1.5), (-0.2, 2.0), (1e-9, 1.0)]:
        step = 1e-6

        def logpdf(a, b):
            return stats.genpareto.logpdf(y, a, scale=np.exp(b))

        numeric = np.column_stack(
            [
                (logpdf(xi + step, np.log(sigma)) - logpdf(xi - step, np.log(sigma))) / (2 * step),
                (logpdf(xi, np.log(sigma) + step) - logpdf(xi, np.log(sigma) - step)) / (2 * step),
            ]
        )
        np.testing.assert_allclose(gpd_scores(y, xi, sigma), numeric, rtol=1e-5, atol=1e-6)


def test_magnitude_adjustment_of_singletons_and_copies():
    y = stats.genpareto(0.2, scale=2.0).rvs(400, random_state=3)
    assert magnitude_adjustment(y, np.arange(y.size), 0.2, 2.0) == 1.0
    # Clusters of m identical values carry the information of one: w = 1/m.
    for m in (2, 5):
        copies = np.repeat(y, m)
        weight = magnitude_adjustment(copies, np.repeat(np.arange(y.size), m), 0.2, 2.0)
        assert weight == pytest.approx(1 / m, rel=1e-9)


def test_magnitude_adjustment_matches_the_sampling_spread_of_the_estimate():
    """Excesses of a moving maximum of order 3 over its 95% quantile: the adjusted
    posterior sd of ξ (the independence posterior's times 1/sqrt(w)) against the sd of
    the maximum likelihood estimate over 150 simulated series."""
    rng = np.random.default_rng(5)
    estimates, adjusted_sd = [], []
    for _ in range(150):
        x = np.log(moving_maximum(4000, 3, rng))
        u = np.quantile(x, 0.95)
        excess = x[x > u] - u
        groups = exceedance_groups(x, u)
        fitted = optimize.minimize(
            lambda p, excess=excess: -np.sum(gpd_logpdf(excess, p[0], np.exp(p[1]))),
            x0=[0.05, 0.0],
            method="Nelder-Mead",
        )
        xi_hat, sigma_hat = fitted.x[0], np.exp(fitted.x[1])
        estimates.append(xi_hat)
        grid = gpd_posterior_grid(excess, FLAT_XI, LOG_SIGMA_PRIOR)
        mass = np.exp(grid.log_weight)
        sd = np.sqrt(mass @ grid.xi**2 - (mass @ grid.xi) ** 2)
        adjusted_sd.append(sd / np.sqrt(magnitude_adjustment(np.sort(excess), groups, xi_hat, sigma_hat)))
    spread = np.std(estimates, ddof=1)
    # The independence posterior is ~sqrt(3) too narrow; the adjusted one within 20% (the
    # sd of a sd from 150 draws is ~6%).
    assert np.mean(adjusted_sd) == pytest.approx(spread, rel=0.2)
    assert np.mean(adjusted_sd) / np.sqrt(3) < 0.75 * spread


def test_grouped_scores_with_singleton_groups_are_the_leave_one_out_scores():
    x = np.sort(stats.genpareto(0.15).rvs(600, random_state=2))
    offsets = np.array([0.0, 0.8, 2.0])
    start = np.searchsorted(x, offsets, side="right")
    arguments = (
        x,
        offsets,
        start,
        900,
        np.ones(3),
        np.ones(3),
        FLAT_XI,
        [LOG_SIGMA_PRIOR] * 3,
        np.log([1 / 3] * 3),
    )
    plain, _ = candidate_scores(*arguments)
    grouped, _ = candidate_scores(*arguments, groups=np.arange(x.size))
    assert plain.likelihood_weight is None and grouped.likelihood_weight.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(grouped.score, plain.score, rtol=1e-9)
    np.testing.assert_allclose(grouped.log_weight, plain.log_weight, atol=1e-9)


def test_leave_one_cluster_out_is_exact_refitting():
    """The clustered score of a candidate equals refitting the tempered posterior without
    each cluster and scoring its members by the refitted predictive."""
    rng = np.random.default_rng(8)
    base = stats.genpareto(0.2).rvs(60, random_state=rng)
    # Clusters of 1-3 excesses, each member its cluster's peak scaled down a little.
    sizes = rng.integers(1, 4, size=base.size)
    values = np.concatenate(
        [peak * np.array([1.0, 0.8, 0.6])[:size] for peak, size in zip(base, sizes, strict=True)]
    )
    labels = np.repeat(np.arange(base.size), sizes)
    order = np.argsort(values, kind="stable")
    x, groups = values[order], labels[order]
    offsets = np.array([0.0, 0.2])
    start = np.searchsorted(x, offsets, side="right")
    n_total = 400
    scores, _ = candidate_scores(
        x,
        offsets,
        start,
        n_total,
        np.ones(2),
        np.ones(2),
        FLAT_XI,
        [LOG_SIGMA_PRIOR] * 2,
        np.log([0.5, 0.5]),
        groups=groups,
    )
    # Brute force for the outer candidate (the validation threshold is its own threshold).
    beyond, beyond_groups = x[start[1] :] - offsets[1], groups[start[1] :]
    w, c = scores.likelihood_weight[1], scores.count_weight[1]
    _, label = np.unique(beyond_groups, return_inverse=True)
    sizes_beyond = np.bincount(label)
    assert w < 1 and c == pytest.approx(sizes_beyond.sum() / (sizes_beyond**2).sum())
    n = beyond.size
    a, b = 1 + c * n, 1 + c * (n_total - n)
    total = (n_total - n) * np.log(1 - a / (a + b - c))
    for cluster in range(label.max() + 1):
        members = label == cluster
        grid = gpd_posterior_grid(beyond[~members], FLAT_XI, LOG_SIGMA_PRIOR, log_lik_weight=w)
        p = (a - c * members.sum()) / (a + b - c * members.sum())
        for value in beyond[members]:
            density = np.sum(np.exp(grid.log_weight + gpd_logpdf(value, grid.xi, grid.sigma)))
            total += np.log(p) + np.log(density)
    assert scores.score[1] == pytest.approx(total, abs=0.05)


def test_tempered_grid_is_a_posterior_with_the_likelihood_to_a_power():
    """log_lik_weight = 1/2 on data duplicated equals the single data's posterior."""
    y = stats.genpareto(0.1, scale=1.5).rvs(300, random_state=4)
    single = gpd_posterior_grid(y, FLAT_XI, LOG_SIGMA_PRIOR)
    doubled = gpd_posterior_grid(np.repeat(y, 2), FLAT_XI, LOG_SIGMA_PRIOR, log_lik_weight=0.5)
    for grid_a, grid_b in [(single, doubled)]:
        mass_a, mass_b = np.exp(grid_a.log_weight), np.exp(grid_b.log_weight)
        assert mass_a @ grid_a.xi == pytest.approx(mass_b @ grid_b.xi, abs=2e-3)
        assert mass_a @ np.log(grid_a.sigma) == pytest.approx(mass_b @ np.log(grid_b.sigma), abs=2e-3)
    with pytest.raises(ValueError, match="log_lik_weight"):
        gpd_posterior_grid(y, FLAT_XI, LOG_SIGMA_PRIOR, log_lik_weight=1.5)


def _fit(x, **options):
    return sbp_bayes.fit(
        x,
        tails="upper",
        draws=500,
        chains=2,
        random_seed=2,
        progressbar=False,
        log_likelihood=False,
        **options,
    )


@pytest.fixture(scope="module")
def clustered_fits():
    """A moving maximum of order 3 (clusters of three equal values), fitted both ways."""
    rng = np.random.default_rng(12)
    clustered = pd.Series(
        np.log(moving_maximum(6000, 3, rng)), index=pd.date_range("2000-01-01", periods=6000, freq="D")
    )
    return _fit(clustered), _fit(clustered, cluster_adjustment="sandwich")


def test_fit_option_on_clustered_series(clustered_fits):
    plain, adjusted = clustered_fits
    table = adjusted.idata["threshold_weights"]
    weights = table["upper_likelihood_weight"].values
    # Clusters of three equal values: a third of the information at every candidate.
    np.testing.assert_allclose(weights, 1 / 3, atol=0.04)
    assert table.attrs["cluster_adjustment"] == "sandwich"
    assert adjusted.config["cluster_adjustment"] == "sandwich"
    width = lambda fit: np.subtract(*np.quantile(fit.posterior["upper_xi"].values, [0.95, 0.05]))  # noqa: E731
    assert width(adjusted) > 1.4 * width(plain)
    # The tail mass's posterior is tempered too (clusters of three: its count is worth a third).
    mass_sd = lambda fit: float(fit.posterior["upper_tail_prob"].std())  # noqa: E731
    assert mass_sd(adjusted) > 1.4 * mass_sd(plain)


def test_fit_option_on_an_independent_series():
    # The intervals estimate is about 1, so most clusters are single exceedances, and pairs
    # merged by chance have uncorrelated scores: the weights stay near 1 and the levels are
    # the independence fit's.
    independent = pd.Series(np.random.default_rng(13).standard_t(5, size=4000))
    same, also = _fit(independent), _fit(independent, cluster_adjustment="sandwich")
    assert also.idata["threshold_weights"]["upper_likelihood_weight"].min() > 0.85
    np.testing.assert_allclose(
        also.return_levels([10], 365.25)["median"], same.return_levels([10], 365.25)["median"], rtol=0.02
    )


def test_the_report_and_a_saved_fit_keep_the_adjustment(clustered_fits, tmp_path):
    from sbp_bayes.render import write_report

    _, adjusted = clustered_fits
    loaded = sbp_bayes.load(adjusted.save(tmp_path / "fit.nc"))
    assert loaded.config["cluster_adjustment"] == "sandwich"
    report = write_report(loaded, None, tmp_path / "report").read_text()
    assert "Tail likelihood adjusted for clusters of extremes (sandwich)" in report
    assert "0.3" in report.split("adjusted for clusters")[1].splitlines()[0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cluster_adjustment": "godambe"}, "cluster_adjustment must be None or one of"),
        ({"cluster_adjustment": "sandwich", "decluster": 1}, "not both"),
        ({"cluster_adjustment": "sandwich", "upper_threshold": 1.0}, "needs threshold_weights"),
        ({"cluster_adjustment": "sandwich", "sampler": "nutpie"}, "sampler='auto' or 'quadrature'"),
        ({"cluster_adjustment": "sandwich", "family": "normal"}, "applies only to the SBP family"),
    ],
)
def test_bad_combinations_say_what_to_do(options, message):
    x = np.random.default_rng(0).standard_normal(500)
    with pytest.raises(ValueError, match=message):
        sbp_bayes.fit(x, tails="upper", draws=50, chains=1, progressbar=False, **options)


def test_extremal_index_adjustment_weighs_by_clusters_per_exceedance(clustered_fits):
    plain, _ = clustered_fits
    adjusted = _fit(plain.data, cluster_adjustment="extremal_index")
    table = adjusted.idata["threshold_weights"]
    # Clusters of three equal values: one cluster per three exceedances, less where the
    # declustering at the innermost candidate (20% of the data beyond it) merges
    # neighbouring clusters (measured 0.28 there, 1/3 at the outer candidates).
    weights = table["upper_likelihood_weight"].values
    assert np.all((weights > 0.25) & (weights <= 1 / 3 + 1e-12))
    np.testing.assert_allclose(weights[-3:], 1 / 3, atol=0.02)
    assert adjusted.config["cluster_adjustment"] == "extremal_index"
