"""Non-stationary SBP (:mod:`sbp_bayes.dynamic`): inputs, result shapes, scores, forecasts.

The unit tests share one fit of an AR(1) series with Student-t innovations by the
default two-stage model (a Student-t location-scale regression on the previous value,
then a static SBP of the standardised innovations), 2 chains of nutpie: the models are
small, so their compilation is what costs. The acceptance test of issue 6 (the
posterior of an upper tail shape that changes over time blocks covers the truth) is
behind ``-m slow``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sbp_bayes.calibration import pp_mae
from sbp_bayes.dynamic import DynamicFit, fit_dynamic
from sbp_bayes.fit import SBPFit
from sbp_bayes.model import DataError

PHI, NU, INTERCEPT = 0.8, 4.0, 1.0
N_TRAIN, N_TEST = 600, 200


def ar1_t(n: int, rng, start: float = INTERCEPT / (1 - PHI)) -> np.ndarray:
    """``y_t = INTERCEPT + PHI y_{t-1} + e_t`` with Student-t(NU) innovations ``e_t``."""
    y = np.empty(n)
    previous = start
    for t, e in enumerate(stats.t.rvs(NU, size=n, random_state=rng)):
        previous = y[t] = INTERCEPT + PHI * previous + e
    return y


@pytest.fixture(scope="module")
def series():
    """(training series, test series continuing it), integer time index."""
    rng = np.random.default_rng(2026)
    y = ar1_t(N_TRAIN + N_TEST, rng)
    index = pd.RangeIndex(N_TRAIN + N_TEST)
    full = pd.Series(y, index=index, name="y")
    return full.iloc[:N_TRAIN], full.iloc[N_TRAIN:]


@pytest.fixture(scope="module")
def ar_fit(series, student_t_fit) -> DynamicFit:
    """The default two-stage fit. Its stage 2 (a static SBP with both tails and threshold
    priors) has the model structure of the session fixture ``student_t_fit``, so it reuses
    that fixture's compiled nutpie model: requesting the fixture orders the two."""
    train, _ = series
    return fit_dynamic(
        train, lags=1, tails="both", draws=300, tune=300, chains=2, random_seed=5, progressbar=False
    )


# ----------------------------------------------------------------------------- input errors


def test_input_errors_name_the_problem():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.normal(size=100), "x": rng.normal(size=100)})
    with pytest.raises(DataError, match=r"'wind'.*available: y, x"):
        fit_dynamic(frame, target="y", covariates=["wind"])
    with pytest.raises(DataError, match="target="):
        fit_dynamic(frame, covariates=["x"])
    with pytest.raises(DataError, match="No column 'z'"):
        fit_dynamic(frame, target="z")
    with_nan = frame.y.copy()
    with_nan.iloc[10] = np.nan
    with pytest.raises(DataError, match=r"1 missing.*position 10"):
        fit_dynamic(with_nan)
    with pytest.raises(ValueError, match="family"):
        fit_dynamic(frame.y, family="gumbel")
    with pytest.raises(ValueError, match="body"):
        fit_dynamic(frame.y, body="spline")
    with pytest.raises(ValueError, match="sampler"):
        fit_dynamic(frame.y, sampler="stan")


def test_forecast_with_covariates_needs_their_future(ar_fit):
    with_covariate = replace(ar_fit, design=replace(ar_fit.design, covariates=("x",)))
    with pytest.raises(ValueError, match="covariates"):
        with_covariate.forecast(3)


# ----------------------------------------------------------------------------- the fit


def test_design_and_innovations(ar_fit):
    design = ar_fit.design
    assert design.feature_names == ("lag_1",) and design.body == "location_scale"
    assert design.n_train == N_TRAIN and design.tail_block_size is None
    # Stage 2: a static SBP of the N_TRAIN - 1 standardised innovations (the first point
    # has no lag), which are about Student-t(NU) around 0 with unit-order spread.
    inner = ar_fit.innovations
    assert isinstance(inner, SBPFit) and inner.data.size == N_TRAIN - 1
    assert abs(np.median(inner.data)) < 0.2 and 0.5 < np.subtract(*np.quantile(inner.data, [0.75, 0.25])) < 2
    # Constant tail shapes: one block, the innovations' own posterior of ξ.
    path = ar_fit.tail_shape_path("upper", ci_prob=0.8)
    assert list(path.columns) == ["start", "median", "ci_lower", "ci_upper"]
    assert path.index.name == "block" and len(path) == 1 and path.start.iloc[0] == 0
    xi = inner.idata["posterior"]["upper_xi"].values.ravel()
    np.testing.assert_allclose(path.iloc[0, 1:], np.quantile(xi, [0.5, 0.1, 0.9]))
    assert len(ar_fit.tail_shape_path("lower")) == 1


def test_summary_and_check(ar_fit):
    table = ar_fit.summary()
    for name in ("location", "location_effect", "log_scale", "log_scale_effect", "nu"):
        assert any(str(row).startswith(name) for row in table.index), name
    assert {"mean", "sd", "ess_bulk", "r_hat"} <= set(table.columns)
    # The regression recovers the AR coefficient on the standardised lag: its effect is
    # PHI times the lag's scale (IQR / 1.349) in the data's units.
    effect = table.loc[next(row for row in table.index if str(row).startswith("location_effect")), "mean"]
    assert effect / ar_fit.design.feature_scale[0] == pytest.approx(PHI, abs=0.1)
    report = ar_fit.check(warn=False)
    assert any(name.startswith("innovation:") for name in report.table.index)
    assert "location" in report.table.index


def test_predictive_shapes(ar_fit, series):
    _, test = series
    post = ar_fit.idata["posterior"]
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    fitted = ar_fit.predictive()
    assert fitted.dist.batch_shape == (n_draws, N_TRAIN - 1)  # the first point has no lag
    np.testing.assert_array_equal(fitted.time, np.arange(1, N_TRAIN))
    ahead = ar_fit.predictive(test, thin=3)
    assert ahead.dist.batch_shape == (len(range(0, n_draws, 3)), N_TEST)
    np.testing.assert_array_equal(ahead.time, test.index)
    cdf = ahead.mixture_cdf(test.to_numpy())
    assert cdf.shape == (N_TEST,) and np.all((cdf > 0) & (cdf < 1))
    assert np.all(np.isfinite(ahead.log_density(test.to_numpy())))


def test_score_matches_the_true_conditional_distribution(ar_fit, series):
    """One step ahead, the predictive percentile of each new value is close to the true
    conditional CDF ``T_NU(y_t - INTERCEPT - PHI y_{t-1})``, and the tail probability is
    the two-sided ``2 min(pit, 1 - pit)``."""
    train, test = series
    table = ar_fit.score(test, ci_prob=0.9)
    assert list(table.columns) == [
        "value",
        "pit",
        "median",
        "ci_lower",
        "ci_upper",
        "tail",
        "tail_probability",
        "tail_probability_ci_lower",
        "tail_probability_ci_upper",
        "ci_prob",
    ]
    assert (table.tail_probability_ci_lower <= table.tail_probability_ci_upper).all()
    assert table.attrs["ci_prob"] == 0.9
    pd.testing.assert_index_equal(table.index, test.index)
    previous = np.concatenate([[train.iloc[-1]], test.to_numpy()[:-1]])
    truth = stats.t.cdf(test.to_numpy() - INTERCEPT - PHI * previous, NU)
    # 600 training points: location, scale and quantiles are estimated to a few
    # percent, so the predictive percentiles are too.
    assert np.mean(np.abs(table.pit - truth)) < 0.03
    assert np.max(np.abs(table.pit - truth)) < 0.08
    assert (table.ci_lower <= table.pit + 1e-12).all() and (table.pit <= table.ci_upper + 1e-12).all()
    expected_tail = np.minimum(2 * np.minimum(table.pit, 1 - table.pit), 1.0)
    np.testing.assert_allclose(table.tail_probability, expected_tail, atol=1e-9)
    assert (table["tail"] == np.where(table.pit < 0.5, "lower", "upper")).all()


def test_score_far_in_the_upper_tail(ar_fit, series):
    """A value at the true conditional 0.99 quantile gets a tail probability near 0.02
    (within a factor 2: about 6 of the 600 training innovations lie beyond that level,
    so its estimate has a relative error of ~40%), and one far beyond the data a tail
    probability that is tiny but not rounded to 0."""
    train, _ = series
    centre = INTERCEPT + PHI * train.iloc[-1]
    new = pd.Series([centre + stats.t.ppf(0.99, NU), centre + 1e4], index=pd.RangeIndex(N_TRAIN, N_TRAIN + 2))
    table = ar_fit.score(new)
    assert 0.02 / 2 < table.tail_probability.iloc[0] < 0.02 * 2
    assert table["tail"].iloc[1] == "upper"
    assert 0 < table.tail_probability.iloc[1] < 1e-6


def test_calibration_on_held_out_data(ar_fit, series):
    _, test = series
    result = ar_fit.calibration(test, random_seed=1)
    regions = ["lower_tail", "base", "upper_tail", "full"]
    assert list(result.index) == [f"pp_mae_{r}" for r in regions] + ["crps", "log_score"]
    assert np.all(np.isfinite(result.to_numpy()))
    pit = ar_fit.predictive(test).mixture_cdf(test.to_numpy())
    expected = pp_mae(test.to_numpy(), cdf_fn=lambda obs: pit)
    np.testing.assert_allclose(result[[f"pp_mae_{r}" for r in regions]].to_numpy(), expected.to_numpy())
    # A calibrated forecast of 200 points: PP-MAE of a few percent at most.
    assert result.pp_mae_full < 0.06
    log_density = ar_fit.predictive(test).log_density(test.to_numpy())
    assert result.log_score == pytest.approx(np.mean(log_density))
    # The true conditional density scores about the same on these points.
    train, _ = series
    previous = np.concatenate([[train.iloc[-1]], test.to_numpy()[:-1]])
    true_log_score = np.mean(stats.t.logpdf(test.to_numpy() - INTERCEPT - PHI * previous, NU))
    assert result.log_score == pytest.approx(true_log_score, abs=0.1)
    assert 0 < result.crps < 2


def test_forecast_paths(ar_fit, series):
    train, _ = series
    paths = ar_fit.forecast(5, n_paths=4000, random_seed=3)
    assert paths.shape == (4000, 5) and np.all(np.isfinite(paths))
    # One step ahead: centred on INTERCEPT + PHI * (last value).
    assert np.median(paths[:, 0]) == pytest.approx(INTERCEPT + PHI * train.iloc[-1], abs=0.15)
    # h steps ahead an AR(1) spreads out: variance ratio (1 - PHI^10) / (1 - PHI^2) ~ 2.5
    # at h = 5, so the interquartile range grows by about sqrt(2.5) ~ 1.6.
    iqr = np.subtract(*np.quantile(paths, [0.75, 0.25], axis=0))
    assert np.all(np.diff(iqr) > 0)
    assert iqr[4] / iqr[0] == pytest.approx(np.sqrt((1 - PHI**10) / (1 - PHI**2)), rel=0.15)
    # ... and reverts towards the stationary mean.
    mean = INTERCEPT / (1 - PHI)
    distance = np.abs(np.median(paths, axis=0) - mean)
    assert distance[4] < distance[0] or distance[0] < 0.2
    again = ar_fit.forecast(5, n_paths=4000, random_seed=3)
    np.testing.assert_array_equal(again, paths)


# ----------------------------------------------------------------------------- acceptance


def stepped_tail_series(xi_blocks, block_size, *, tail_prob, rng) -> np.ndarray:
    """Body Uniform(0, 1) with probability ``1 - tail_prob``; otherwise ``1 + GPD(ξ_b, 0.5)``
    with ``ξ_b`` the shape of the time block: above the threshold 1 the excesses are
    GPD with a known ξ per block and the same scale throughout."""
    n = len(xi_blocks) * block_size
    xi = np.repeat(xi_blocks, block_size)
    in_tail = rng.random(n) < tail_prob
    body = rng.random(n)
    tail = 1.0 + stats.genpareto.rvs(xi, scale=0.5, random_state=rng)
    return np.where(in_tail, tail, body)


@pytest.mark.slow
def test_changing_upper_tail_shape_is_covered():
    """Issue 6: ξ_U steps from 0.05 to 0.4 over 8 blocks of 1500 steps (about 150
    exceedances per block); the posterior 90% interval of ξ_U per block covers the
    truth in at least 80% of the blocks."""
    rng = np.random.default_rng(61)
    truth = np.linspace(0.05, 0.4, 8)
    block = 1500
    y = stepped_tail_series(truth, block, tail_prob=0.1, rng=rng)
    fit = fit_dynamic(
        y,
        body="logit",
        tails="upper",
        bins=10,
        tail_share=0.1,
        tail_block_size=block,
        random_seed=62,
        progressbar=False,
    )
    report = fit.check(warn=False)
    print(report)
    path = fit.tail_shape_path("upper", ci_prob=0.9)
    assert len(path) == truth.size
    covered = (path.ci_lower <= truth) & (truth <= path.ci_upper)
    print(path.assign(truth=truth, covered=covered).to_string())
    print(f"coverage of the 90% intervals: {covered.mean():.0%} of {truth.size} blocks")
    assert covered.mean() >= 0.8
    # The path is not flat: it separates the first blocks from the last ones.
    assert path["median"].iloc[-2:].mean() - path["median"].iloc[:2].mean() > 0.15
    # Last, as the intervals are only as good as the sampling behind them. Known: the
    # centred random walk's step size does not converge at 4 x 1000 (R-hat 1.027, ESS 113).
    if not report.passed:
        pytest.xfail(f"coverage met, but the fit does not pass check():\n{report}")
