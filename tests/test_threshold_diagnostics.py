"""Mean residual life and parameter stability (sbp_bayes.thresholds) and their figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from sbp_bayes import datasets, plots, thresholds


def test_rain_at_30mm_matches_coles():
    """Coles (2001, §4.4.1): u = 30 gives 152 exceedances, xi 0.184 (se 0.101), sigma 7.44 (se 0.958)."""
    rain = datasets.load("rain").to_numpy()
    excess = rain[rain > 30.0] - 30.0
    xi, sigma, cov = thresholds.gpd_mle(excess)
    assert excess.size == 152
    assert xi == pytest.approx(0.184, abs=0.001) and sigma == pytest.approx(7.44, abs=0.01)
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.101, abs=0.001)
    assert sigma * np.sqrt(cov[1, 1]) == pytest.approx(0.958, abs=0.002)
    table = thresholds.parameter_stability(rain, [30.0])
    z = stats.norm.ppf(0.975)
    assert table.loc[30.0, "xi_ci_upper"] == pytest.approx(xi + z * np.sqrt(cov[0, 0]))
    assert table.loc[30.0, "modified_scale"] == pytest.approx(sigma - 30.0 * xi)


def test_gpd_mle_agrees_with_scipy():
    excess = stats.genpareto(-0.2, scale=3.0).rvs(3000, random_state=2)
    xi, sigma, _ = thresholds.gpd_mle(excess)
    shape, _, scale = stats.genpareto.fit(excess, floc=0)
    assert (xi, sigma) == pytest.approx((shape, scale), abs=1e-4)


def test_stability_of_an_exact_gpd_tail():
    """For GPD data, xi is constant and sigma* = sigma - xi u is constant over thresholds."""
    x = stats.genpareto(0.3, scale=1.0).rvs(40_000, random_state=3)
    table = thresholds.parameter_stability(x, [0.0, 1.0, 2.0])
    assert ((table["xi_ci_lower"] < 0.3) & (table["xi_ci_upper"] > 0.3)).all()
    assert ((table["modified_scale_ci_lower"] < 1.0) & (table["modified_scale_ci_upper"] > 1.0)).all()
    mrl = thresholds.mean_residual_life(x, [0.0, 1.0, 2.0])
    # e(u) = (sigma + xi u) / (1 - xi) for a GPD.
    expected = (1.0 + 0.3 * mrl.index.to_numpy()) / 0.7
    assert ((mrl["ci_lower"] < expected) & (expected < mrl["ci_upper"])).all()


def test_lower_tail_is_the_mirrored_upper_tail():
    x = stats.genpareto(0.2).rvs(5000, random_state=4)
    upper = thresholds.parameter_stability(x, [0.5, 1.0])
    lower = thresholds.parameter_stability(-x, [-0.5, -1.0], tail="lower")
    np.testing.assert_allclose(lower["xi"].to_numpy(), upper["xi"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        thresholds.mean_residual_life(-x, [-1.0], tail="lower")["mean_excess"],
        thresholds.mean_residual_life(x, [1.0])["mean_excess"],
    )


def test_too_few_values_is_explained():
    with pytest.raises(ValueError, match="Need more than 30 finite values"):
        thresholds.mean_residual_life(np.arange(10.0))


def _bar_heights(fig: Figure) -> list[np.ndarray]:
    """The bar heights of each right-hand (candidate weight) axes."""
    return [
        np.array([patch.get_height() for patch in ax.patches])
        for ax in fig.axes
        if ax.get_ylabel().startswith("candidate threshold")
    ]


def test_figures_overlay_the_candidate_weights(danish_default_fit):
    fit = danish_default_fit
    before = plt.get_fignums()
    table = fit.threshold_posterior().xs("upper", level="tail")
    column = "weight" if "weight" in table.columns else "posterior"  # the name changed in issue 10
    weights = table[column].to_numpy()
    mrl = plots.plot_mean_residual_life(fit)
    stability = plots.plot_parameter_stability(fit)
    assert plt.get_fignums() == before  # pyplot untouched
    assert isinstance(mrl, Figure) and isinstance(stability, Figure)
    for heights in _bar_heights(mrl) + _bar_heights(stability):
        np.testing.assert_allclose(heights, weights)
    assert len(_bar_heights(stability)) == 2
    labels = [ax.get_ylabel() for ax in stability.axes]
    assert "shape ξ" in labels and f"candidate threshold {column}" in labels
    plain = plots.plot_mean_residual_life(fit, candidates=False)
    assert _bar_heights(plain) == []


def test_lower_tail_figures_and_missing_tail(student_t_fit, danish_default_fit):
    fig = plots.plot_parameter_stability(student_t_fit, tail="lower")
    assert "lower threshold" in fig.axes[-1].get_xlabel() or any(
        "lower threshold" in ax.get_xlabel() for ax in fig.axes
    )
    with pytest.raises(ValueError, match="no lower tail"):
        plots.plot_mean_residual_life(danish_default_fit, tail="lower")
