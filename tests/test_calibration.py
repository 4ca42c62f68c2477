"""Tests of sbp_bayes.calibration: PP-plot protocol, PIT, CRPS and pinball loss.

Expected numbers come from hand arithmetic (shown in comments), closed forms
(Gneiting & Raftery 2007 for the Normal CRPS), brute-force O(m²) sums, or scipy's
adaptive quadrature — never from the code under test.
"""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from sbp_bayes.calibration import crps, pinball_loss, pit, pp_curve, pp_levels, pp_mae

# ----------------------------------------------------------------------------- pp_levels

# The 24 lower-tail levels of the paper, written out: linspace(0.001, 0.05, 25) rounded
# to 3 decimals, without 0.05 itself (step 0.049/24 = 0.0020417).
PAPER_LOWER_TAIL_LEVELS = [
    0.001, 0.003, 0.005, 0.007, 0.009, 0.011, 0.013, 0.015, 0.017, 0.019, 0.021, 0.023,
    0.026, 0.028, 0.030, 0.032, 0.034, 0.036, 0.038, 0.040, 0.042, 0.044, 0.046, 0.048,
]  # fmt: skip


def test_pp_levels_counts_by_region():
    levels = pp_levels()
    # 25 + 81 + 25 levels share 0.05 and 0.95 once each: 131 - 2 = 129 unique values.
    assert levels.size == 129
    assert np.unique(levels).size == 129
    assert np.all(np.diff(levels) > 0)
    assert np.sum(levels < 0.05) == 24
    assert np.sum((levels > 0.05) & (levels < 0.95)) == 79
    assert np.sum(levels > 0.95) == 24
    assert np.sum(levels == 0.05) == 1
    assert np.sum(levels == 0.95) == 1


def test_pp_levels_endpoints_and_tail_values():
    levels = pp_levels()
    assert levels[0] == 0.001
    assert levels[-1] == 0.999
    np.testing.assert_array_equal(levels[:24], PAPER_LOWER_TAIL_LEVELS)
    # The base set starts 0.05 + 0.01125 = 0.06125 -> 0.061, then 0.0725 -> 0.073.
    np.testing.assert_array_equal(levels[24:27], [0.05, 0.061, 0.073])
    assert 0.5 in levels


def test_pp_levels_symmetry():
    levels = pp_levels()
    lower, upper = levels[levels < 0.05], levels[levels > 0.95]
    # The tails are exact mirrors (up to the binary representation of 1 - q).
    np.testing.assert_allclose(np.sort(1.0 - upper), lower, rtol=0, atol=1e-12)
    # The base set is symmetric up to one rounding step: ties such as 0.0725 vs 0.9275
    # round to 0.073 and 0.928 (mirror 0.072); the published protocol keeps this.
    base = levels[(levels >= 0.05) & (levels <= 0.95)]
    np.testing.assert_allclose(np.sort(1.0 - base), base, rtol=0, atol=0.001 + 1e-12)
    assert 0.073 in base and 0.928 in base and 0.072 not in base


def test_pp_levels_other_tail_prob_and_its_validation():
    levels = pp_levels(tail_prob=0.1)
    assert levels[0] == 0.001 and levels[-1] == 0.999
    assert np.sum(levels < 0.1) == 24 and np.sum(levels > 0.9) == 24
    with pytest.raises(ValueError, match=r"tail_prob must lie in \(0.001, 0.5\).*got 0.6"):
        pp_levels(0.6)


# ----------------------------------------------------------------------------- PP MAE by hand

# Four observations, each with its own Uniform(loc, loc + scale) predictive, placed at
# predictive probabilities u = 0.02, 0.2, 0.6, 0.98 (far from every level below, so
# floating-point round-off cannot move them across one).
HAND_LOC = np.array([0.0, 10.0, -3.0, 100.0])
HAND_SCALE = np.array([1.0, 2.0, 4.0, 10.0])
HAND_PIT = np.array([0.02, 0.2, 0.6, 0.98])
HAND_OBSERVATIONS = HAND_LOC + HAND_PIT * HAND_SCALE  # [0.02, 10.4, -0.6, 109.8]
HAND_LEVELS = [0.01, 0.04, 0.05, 0.25, 0.5, 0.75, 0.95, 0.97, 0.99]
# y_q = #{u_i < q} / 4 and |y_q - q| per level:
#   q=0.01: 0/4 = 0.00 -> 0.01        q=0.50: 2/4 = 0.50 -> 0.00      q=0.97: 3/4 -> 0.22
#   q=0.04: 1/4 = 0.25 -> 0.21        q=0.75: 3/4 = 0.75 -> 0.00      q=0.99: 4/4 -> 0.01
#   q=0.05: 1/4 = 0.25 -> 0.20        q=0.95: 3/4 = 0.75 -> 0.20
#   q=0.25: 2/4 = 0.50 -> 0.25
HAND_OBSERVED = [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0]
HAND_MAE = {
    "lower_tail": (0.01 + 0.21) / 2,  # q < 0.05: 0.01, 0.04 -> 0.11
    "base": (0.25 + 0.00 + 0.00) / 3,  # 0.05 < q < 0.95: 0.25, 0.5, 0.75 -> 0.08333
    "upper_tail": (0.22 + 0.01) / 2,  # q > 0.95: 0.97, 0.99 -> 0.115
    # all nine, including the boundary levels 0.05 and 0.95 -> 1.10 / 9 = 0.12222
    "full": (0.01 + 0.21 + 0.20 + 0.25 + 0.00 + 0.00 + 0.20 + 0.22 + 0.01) / 9,
}


def _hand_sources():
    """The hand case's predictives as a quantile function, a CDF and draws."""
    grid = (np.arange(1, 1001) - 0.5) / 1000  # 1000 evenly spread draws per observation
    return {
        "quantile_fn": {"quantile_fn": lambda q: HAND_LOC + q * HAND_SCALE},
        "cdf_fn": {"cdf_fn": lambda y: (y - HAND_LOC) / HAND_SCALE},
        "draws": {"draws": HAND_LOC[:, None] + grid[None, :] * HAND_SCALE[:, None]},
    }


@pytest.mark.parametrize("source", ["quantile_fn", "cdf_fn", "draws"])
def test_pp_curve_and_mae_match_hand_computation(source):
    predictive = _hand_sources()[source]
    curve = pp_curve(HAND_OBSERVATIONS, levels=HAND_LEVELS, **predictive)
    assert list(curve.columns) == ["level", "observed"]
    np.testing.assert_array_equal(curve["level"], HAND_LEVELS)
    np.testing.assert_allclose(curve["observed"], HAND_OBSERVED, rtol=0, atol=1e-15)

    mae = pp_mae(HAND_OBSERVATIONS, levels=HAND_LEVELS, **predictive)
    assert isinstance(mae, pd.Series)
    assert list(mae.index) == ["lower_tail", "base", "upper_tail", "full"]
    for region, expected in HAND_MAE.items():
        assert mae[region] == pytest.approx(expected, abs=1e-12), region


def test_pp_mae_boundary_levels_count_in_full_only():
    # Were q = 0.05 and q = 0.95 in the tails, lower would be (0.01+0.21+0.20)/3 = 0.14.
    mae = pp_mae(HAND_OBSERVATIONS, levels=HAND_LEVELS, cdf_fn=lambda y: (y - HAND_LOC) / HAND_SCALE)
    assert mae["lower_tail"] == pytest.approx(0.11, abs=1e-12)
    assert mae["upper_tail"] == pytest.approx(0.115, abs=1e-12)


def test_pp_below_means_strictly_below():
    # Uniform(0, 1) predictive; dyadic numbers are exact in binary, so 0.5 equals the
    # 0.5-quantile exactly and must NOT count as below it (paper: x < icdf(q)).
    levels = [0.25, 0.5, 0.75]
    expected = [0.0, 0.0, 1.0]
    # With draws 0.25, 0.5, 0.75, 1.0 the empirical 0.5-quantile is the draw 0.5 itself.
    draws = [[0.25, 0.5, 0.75, 1.0]]
    for predictive in ({"quantile_fn": lambda q: q + 0 * q}, {"cdf_fn": lambda y: y}, {"draws": draws}):
        curve = pp_curve([0.5], levels=levels, **predictive)
        np.testing.assert_array_equal(curve["observed"], expected)


def test_pp_mae_on_default_levels_when_every_observation_is_above():
    # Observations far above every predictive quantile: y_q = 0, so each region's MAE is
    # the mean of its levels. Lower tail: odd thousandths 1..23 sum to 12² = 144, the
    # even ones 26..48 to 12·(26+48)/2 = 444; (0.144 + 0.444) / 24 = 0.0245. The upper
    # tail mirrors it: 1 - 0.0245 = 0.9755.
    mae = pp_mae([5.0, 6.0, 7.0], quantile_fn=stats.uniform.ppf)
    assert mae["lower_tail"] == pytest.approx(0.0245, abs=1e-12)
    assert mae["upper_tail"] == pytest.approx(0.9755, abs=1e-12)


def test_pp_mae_region_without_levels_is_nan():
    mae = pp_mae([0.3, 0.6], cdf_fn=stats.uniform.cdf, levels=[0.25, 0.5, 0.75])
    assert np.isnan(mae["lower_tail"]) and np.isnan(mae["upper_tail"])
    # y = [0.25 -> 0, 0.5 -> 0.5, 0.75 -> 1.0]: (0.25 + 0 + 0.25) / 3
    assert mae["base"] == pytest.approx(0.5 / 3, abs=1e-12)


# ----------------------------------------------------------------------------- PP MAE, statistical


def test_pp_mae_calibrated_normal_is_small_and_halved_sd_is_large():
    observations = np.random.default_rng(20240601).standard_normal(5000)
    calibrated = pp_mae(observations, quantile_fn=stats.norm.ppf)
    assert calibrated["full"] < 0.01
    assert (calibrated < 0.01).all()
    too_narrow = pp_mae(observations, quantile_fn=stats.norm(0.0, 0.5).ppf)
    assert too_narrow["full"] > 0.05
    assert too_narrow["lower_tail"] > 0.05 and too_narrow["upper_tail"] > 0.05


def test_pp_mae_per_observation_student_t():
    # Each observation has its own location and scale; the true predictives are
    # calibrated, the same predictives assigned to the wrong observations are not.
    rng = np.random.default_rng(7)
    n_obs = 5000
    loc = rng.normal(0.0, 3.0, n_obs)
    scale = rng.uniform(0.5, 2.0, n_obs)
    observations = stats.t.rvs(4, loc=loc, scale=scale, random_state=rng)
    truth = stats.t(4, loc=loc, scale=scale)
    shuffled = stats.t(4, loc=rng.permutation(loc), scale=scale)

    by_quantile = pp_mae(observations, quantile_fn=truth.ppf)
    by_cdf = pp_mae(observations, cdf_fn=truth.cdf)
    assert by_quantile["full"] < 0.01
    pd.testing.assert_series_equal(by_quantile, by_cdf, rtol=0, atol=1e-12)
    assert pp_mae(observations, quantile_fn=shuffled.ppf)["full"] > 0.05


def test_pp_from_draws_equals_inverted_cdf_empirical_quantiles():
    # y < x_(ceil(q m)) <=> #{x <= y} / m < q. m = 199 (prime) keeps q·m off the integers
    # so numpy's ceil cannot see round-off.
    rng = np.random.default_rng(3)
    n_obs, n_draws = 300, 199
    draws = rng.normal(size=(n_obs, 1)) + rng.standard_t(5, size=(n_obs, n_draws))
    observations = rng.normal(size=n_obs) + rng.standard_t(5, size=n_obs)
    levels = pp_levels()
    empirical_quantiles = np.quantile(draws, levels, axis=1, method="inverted_cdf")  # (levels, obs)
    by_hand = np.mean(observations[None, :] < empirical_quantiles, axis=1)
    np.testing.assert_array_equal(pp_curve(observations, draws=draws)["observed"], by_hand)


# ----------------------------------------------------------------------------- PIT


def test_pit_of_calibrated_continuous_forecasts_is_uniform():
    rng = np.random.default_rng(11)
    loc = rng.normal(size=3000)
    observations = loc + rng.standard_normal(3000)
    values = pit(observations, cdf_fn=stats.norm(loc, 1.0).cdf)
    assert stats.kstest(values, "uniform").pvalue > 0.01
    # and a wrong forecast is detected by the same test
    wrong = pit(observations, cdf_fn=stats.norm(loc, 0.5).cdf)
    assert stats.kstest(wrong, "uniform").pvalue < 1e-6


def test_randomized_pit_of_discrete_forecasts_is_uniform():
    rng = np.random.default_rng(12)
    rate = 3.0
    observations = rng.poisson(rate, size=3000).astype(float)
    predictive = stats.poisson(rate)
    randomized = pit(
        observations,
        cdf_fn=predictive.cdf,
        left_cdf_fn=lambda y: predictive.cdf(y - 1),
        randomize=True,
        rng=13,
    )
    assert stats.kstest(randomized, "uniform").pvalue > 0.01
    # Without randomisation the PIT of count data piles up on a few values.
    assert stats.kstest(pit(observations, cdf_fn=predictive.cdf), "uniform").pvalue < 1e-6
    # Each randomised value lies within the jump of the CDF at its observation.
    assert np.all(randomized >= predictive.cdf(observations - 1) - 1e-15)
    assert np.all(randomized <= predictive.cdf(observations) + 1e-15)


def test_randomized_pit_from_tied_draws_is_uniform():
    rng = np.random.default_rng(14)
    n_obs, n_draws = 2000, 1000
    observations = rng.poisson(4.0, size=n_obs).astype(float)
    draws = rng.poisson(4.0, size=(n_obs, n_draws)).astype(float)
    randomized = pit(observations, draws=draws, randomize=True, rng=15)
    assert stats.kstest(randomized, "uniform").pvalue > 0.01
    assert stats.kstest(pit(observations, draws=draws), "uniform").pvalue < 1e-6


def test_pit_from_draws_by_hand():
    draws = [[1.0, 2.0, 2.0, 3.0], [0.0, 0.0, 5.0, 9.0]]
    # obs 2.0: 3 of 4 draws at or below -> 0.75; obs -1.0: none -> 0.0
    np.testing.assert_array_equal(pit([2.0, -1.0], draws=draws), [0.75, 0.0])
    # randomised: obs 2.0 lands in [1/4, 3/4]; obs -1.0 has no tie, so exactly 0
    randomized = pit([2.0, -1.0], draws=draws, randomize=True, rng=0)
    assert 0.25 <= randomized[0] <= 0.75 and randomized[1] == 0.0
    # the same seed gives the same values
    np.testing.assert_array_equal(randomized, pit([2.0, -1.0], draws=draws, randomize=True, rng=0))


# ----------------------------------------------------------------------------- CRPS


def crps_normal_closed_form(observations, mean, sd):
    """Gneiting & Raftery (2007), eq. 21: σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π], z = (y − μ)/σ."""
    z = (observations - mean) / sd
    return sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def crps_fair_brute_force(observations, draws):
    """O(m²): mean |x_j − y| − Σ_{i≠j} |x_i − x_j| / (2 m (m − 1))."""
    n_draws = draws.shape[1]
    mean_abs_error = np.mean(np.abs(draws - observations[:, None]), axis=1)
    pair_sum = np.abs(draws[:, :, None] - draws[:, None, :]).sum(axis=(1, 2))
    return mean_abs_error - pair_sum / (2 * n_draws * (n_draws - 1))


def crps_empirical_brute_force(observations, draws):
    """O(m²) CRPS of the empirical distribution: mean |x_j − y| − Σ_{i,j} |x_i − x_j| / (2 m²)."""
    n_draws = draws.shape[1]
    mean_abs_error = np.mean(np.abs(draws - observations[:, None]), axis=1)
    pair_sum = np.abs(draws[:, :, None] - draws[:, None, :]).sum(axis=(1, 2))
    return mean_abs_error - pair_sum / (2 * n_draws**2)


def test_crps_normal_quantile_integral_matches_closed_form():
    observations = np.linspace(-6.0, 6.0, 41)
    score = crps(observations, quantile_fn=stats.norm.ppf)
    # documented accuracy: below 1e-6 for n_levels = 1000 and |y| <= 6
    np.testing.assert_allclose(score, crps_normal_closed_form(observations, 0.0, 1.0), rtol=0, atol=1e-6)

    # per-observation parameters; the error scales with the forecast's sd
    rng = np.random.default_rng(21)
    mean, sd = rng.normal(0, 10, 50), rng.uniform(0.1, 5.0, 50)
    observations = mean + sd * rng.standard_normal(50)
    score = crps(observations, quantile_fn=stats.norm(mean, sd).ppf)
    assert np.all(np.abs(score - crps_normal_closed_form(observations, mean, sd)) < 1e-6 * sd)


def test_crps_quantile_integral_matches_quadrature_for_heavy_tails():
    # Independent reference: CRPS = ∫ F(x)² dx below y + ∫ (1 − F(x))² dx above y.
    df, observations = 3.0, np.array([-8.0, -1.0, 0.3, 2.5])

    def by_quadrature(y):
        below = integrate.quad(lambda x: stats.t.cdf(x, df) ** 2, -np.inf, y, epsabs=1e-12)[0]
        above = integrate.quad(lambda x: stats.t.sf(x, df) ** 2, y, np.inf, epsabs=1e-12)[0]
        return below + above

    expected = np.array([by_quadrature(y) for y in observations])
    np.testing.assert_allclose(crps(observations, quantile_fn=stats.t(df).ppf), expected, rtol=0, atol=5e-6)


def test_crps_from_draws_matches_normal_closed_form():
    rng = np.random.default_rng(22)
    mean, sd = rng.normal(0, 2, 8), rng.uniform(0.5, 3.0, 8)
    observations = mean + sd * rng.standard_normal(8)
    draws = mean[:, None] + sd[:, None] * rng.standard_normal((8, 40_000))
    # Monte-Carlo sd of the estimator: at most about sd/√m = 0.005·sd (Var|X − y| <= Var X);
    # allow 4 of them (the errors with this seed are below 0.0051·sd).
    error = crps(observations, draws=draws) - crps_normal_closed_form(observations, mean, sd)
    assert np.all(np.abs(error) < 0.02 * sd)


def test_crps_sorting_estimator_equals_brute_force():
    rng = np.random.default_rng(23)
    for n_draws in (1, 2, 3, 7, 50):
        draws = rng.normal(size=(6, n_draws)) * rng.uniform(0.1, 10, size=(6, 1))
        observations = rng.normal(size=6) * 3
        np.testing.assert_allclose(
            crps(observations, draws=draws, fair=False),
            crps_empirical_brute_force(observations, draws),
            rtol=1e-12,
            atol=1e-12,
        )
        if n_draws >= 2:
            np.testing.assert_allclose(
                crps(observations, draws=draws),
                crps_fair_brute_force(observations, draws),
                rtol=1e-12,
                atol=1e-12,
            )
    # Integer-valued draws make every sum exact in floating point: bit-for-bit equality.
    draws = rng.integers(-20, 20, size=(10, 9)).astype(float)
    observations = rng.integers(-20, 20, size=10).astype(float)
    np.testing.assert_array_equal(crps(observations, draws=draws), crps_fair_brute_force(observations, draws))
    np.testing.assert_array_equal(
        crps(observations, draws=draws, fair=False), crps_empirical_brute_force(observations, draws)
    )


def test_crps_from_draws_by_hand():
    # draws 1, 2, 4 and y = 3: E|X − y| = (2 + 1 + 1)/3 = 4/3;
    # Σ_{i,j}|x_i − x_j| = 2 (1 + 3 + 2) = 12.
    # fair: 4/3 − 12/(2·3·2) = 1/3; empirical: 4/3 − 12/(2·9) = 2/3.
    assert crps([3.0], draws=[[1.0, 2.0, 4.0]])[0] == pytest.approx(1 / 3, abs=1e-15)
    assert crps([3.0], draws=[[4.0, 1.0, 2.0]], fair=False)[0] == pytest.approx(2 / 3, abs=1e-15)


def test_crps_of_empirical_distribution_via_quantile_integral():
    # The quantile integral of the draws' empirical quantile function is the same CRPS as
    # fair=False; a step-function Q converges like 1/n_levels, hence the finer grid.
    rng = np.random.default_rng(24)
    draws = rng.normal(size=(5, 40))
    observations = rng.normal(size=5)

    def empirical_quantile(levels):
        return np.quantile(draws, levels[:, 0], axis=1, method="inverted_cdf")

    by_integral = crps(observations, quantile_fn=empirical_quantile, n_levels=20_000)
    np.testing.assert_allclose(by_integral, crps(observations, draws=draws, fair=False), rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- pinball


def test_pinball_loss_by_hand():
    observations = [0.0, 2.0, 5.0]
    levels = [0.1, 0.5, 0.9]
    quantiles = [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0]]
    # ρ_τ(u) = u (τ − 1[u < 0]), u = y − q
    # τ=0.1, q=1: u = −1, 1, 4 -> 0.9, 0.1, 0.4         mean 1.4/3
    # τ=0.5, q=2: u = −2, 0, 3 -> 1.0, 0.0, 1.5         mean 2.5/3
    # τ=0.9, q=4: u = −4, −2, 1 -> 0.4, 0.2, 0.9        mean 1.5/3
    loss = pinball_loss(observations, quantiles, levels)
    assert loss.name == "pinball_loss" and loss.index.name == "level"
    np.testing.assert_allclose(loss.to_numpy(), [1.4 / 3, 2.5 / 3, 1.5 / 3], rtol=0, atol=1e-15)
    assert loss.mean() == pytest.approx((1.4 + 2.5 + 1.5) / 9, abs=1e-15)


def test_pinball_loss_averaged_over_levels_approximates_crps():
    # 2 × mean pinball loss over a fine uniform grid of levels is the CRPS (midpoint rule).
    levels = (np.arange(4000) + 0.5) / 4000
    observations = np.array([-1.0, 0.2, 2.0])
    loss = pinball_loss(observations, stats.norm.ppf(levels)[:, None] + 0 * observations, levels)
    per_observation = np.array(
        [2 * pinball_loss([y], stats.norm.ppf(levels)[:, None], levels).mean() for y in observations]
    )
    expected = crps_normal_closed_form(observations, 0.0, 1.0)
    np.testing.assert_allclose(per_observation, expected, rtol=0, atol=1e-4)
    assert 2 * loss.mean() == pytest.approx(expected.mean(), abs=1e-4)


# ----------------------------------------------------------------------------- validation


def test_nan_observations_are_reported_with_count_and_positions():
    observations = np.array([0.1, np.nan, 0.3, np.inf, np.nan])
    message = re.escape("3 non-finite value(s) (NaN or ±inf) at position(s) [1, 3, 4]") + ".*drop or impute"
    for call in (
        lambda: pp_mae(observations, cdf_fn=stats.norm.cdf),
        lambda: pit(observations, cdf_fn=stats.norm.cdf),
        lambda: crps(observations, quantile_fn=stats.norm.ppf),
        lambda: pinball_loss(observations, np.zeros((1, 5)), [0.5]),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_levels_outside_unit_interval_are_rejected():
    with pytest.raises(ValueError, match=r"strictly between 0 and 1; 2 do not, at position\(s\) \[0, 2\]"):
        pp_curve([0.0], cdf_fn=stats.norm.cdf, levels=[0.0, 0.5, 1.2])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        pinball_loss([0.0], [[0.0]], [np.nan])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        pp_curve([0.0], cdf_fn=stats.norm.cdf, levels=[[0.5]])


def test_exactly_one_predictive_description():
    with pytest.raises(ValueError, match=r"exactly one of `quantile_fn`, `cdf_fn`, `draws`.*got none"):
        pp_mae([0.0])
    with pytest.raises(ValueError, match=r"got `quantile_fn`, `cdf_fn`"):
        pp_curve([0.0], quantile_fn=stats.norm.ppf, cdf_fn=stats.norm.cdf)
    with pytest.raises(ValueError, match=r"exactly one of `draws`, `quantile_fn`"):
        crps([0.0])


def test_shape_mismatches_say_what_is_expected():
    observations = np.zeros(3)
    # a quantile function that flattens the level column
    with pytest.raises(ValueError, match=r"quantile_fn returned shape \(129,\).*must return \(129, 3\)"):
        pp_mae(observations, quantile_fn=lambda q: stats.norm.ppf(q.ravel()))
    with pytest.raises(ValueError, match=r"quantile_fn returned shape \(2, 4\)"):
        pp_curve(observations, quantile_fn=lambda q: q + np.zeros(4), levels=[0.2, 0.4])
    with pytest.raises(ValueError, match=r"cdf_fn returned shape \(\) .*one CDF value per observation"):
        pit(observations, cdf_fn=lambda y: 0.5)
    with pytest.raises(
        ValueError, match=r"draws must have shape \(n_obs, n_draws\) = \(3, m\).*pass `draws.T`"
    ):
        crps(observations, draws=np.zeros((10, 3)))
    with pytest.raises(
        ValueError, match=r"quantiles must have shape \(n_levels, n_obs\) = \(2, 3\).*`quantiles.T`"
    ):
        pinball_loss(observations, np.zeros((3, 2)), [0.1, 0.9])
    with pytest.raises(ValueError, match="observations must be 1-D"):
        pit(np.zeros((2, 2)), cdf_fn=stats.norm.cdf)


def test_invalid_predictive_values_are_rejected():
    with pytest.raises(
        ValueError, match=r"cdf_fn returned 1 value\(s\) outside \[0, 1\] or NaN, at position\(s\) \[1\]"
    ):
        pit([0.0, 1.0], cdf_fn=lambda y: np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"quantile_fn returned 2 NaN quantile\(s\)"):
        pp_curve([0.0], quantile_fn=lambda q: np.where(q > 0.5, np.nan, q), levels=[0.2, 0.6, 0.7])
    with pytest.raises(ValueError, match=r"draws contain 2 NaN value\(s\), in observation row\(s\) \[1\]"):
        pit([0.0, 0.0], draws=[[1.0, 2.0], [np.nan, np.nan]])
    with pytest.raises(ValueError, match=r"quantiles contain 1 NaN"):
        pinball_loss([0.0], [[np.nan]], [0.5])
    with pytest.raises(ValueError, match="at least 2 predictive draw"):
        crps([0.0], draws=[[1.0]])
    # one draw is fine for the empirical-distribution CRPS: |1 − 0| = 1
    np.testing.assert_array_equal(crps([0.0], draws=[[1.0]], fair=False), [1.0])
    with pytest.raises(ValueError, match="n_levels must be a positive integer"):
        crps([0.0], quantile_fn=stats.norm.ppf, n_levels=0)
    with pytest.raises(TypeError, match="quantile_fn must be callable"):
        crps([0.0], quantile_fn=np.zeros(3))


def test_randomized_pit_arguments():
    with pytest.raises(ValueError, match=r"needs left_cdf_fn.*dist.cdf\(y - 1\)"):
        pit([1.0], cdf_fn=stats.poisson(2).cdf, randomize=True)
    with pytest.raises(ValueError, match="left_cdf_fn is only used together with cdf_fn and randomize=True"):
        pit([1.0], cdf_fn=stats.poisson(2).cdf, left_cdf_fn=stats.poisson(2).cdf)
    with pytest.raises(ValueError, match=r"left_cdf_fn exceeds cdf_fn at 1 observation"):
        pit([1.0], cdf_fn=lambda y: 0.2 + 0 * y, left_cdf_fn=lambda y: 0.4 + 0 * y, randomize=True)
    with pytest.raises(ValueError, match=r"tail_prob must lie in \(0, 0.5\)"):
        pp_mae([0.0], cdf_fn=stats.norm.cdf, tail_prob=0.5)


# ----------------------------------------------------------------------------- with this package's SBP


def test_metrics_accept_the_frozen_sbp_distribution():
    # Per-observation upper-tail shapes; observations drawn from their own predictive.
    from sbp_bayes.stats import sbp

    rng = np.random.default_rng(31)
    n_obs = 2000
    predictive = sbp(
        bin_edges=np.linspace(-3, 3, 21),
        bin_probs=np.full(20, 1 / 20),
        lower_tail_prob=0.05,
        upper_tail_prob=0.05,
        lower_xi=0.1,
        lower_sigma=1.0,
        upper_xi=rng.uniform(0.0, 0.3, n_obs),
        upper_sigma=1.0,
    )
    observations = predictive.rvs(random_state=rng)
    by_quantile = pp_mae(observations, quantile_fn=predictive.ppf)
    by_cdf = pp_mae(observations, cdf_fn=predictive.cdf)
    pd.testing.assert_series_equal(by_quantile, by_cdf, rtol=0, atol=1e-12)
    assert by_quantile["full"] < 0.015
    assert stats.kstest(pit(observations, cdf_fn=predictive.cdf), "uniform").pvalue > 0.01
    # quantile-integral CRPS against the draws-based estimate (Monte-Carlo tolerance)
    draws = predictive.rvs(size=(500, n_obs), random_state=rng).T
    assert crps(observations, quantile_fn=predictive.ppf).mean() == pytest.approx(
        crps(observations, draws=draws).mean(), abs=0.01
    )
