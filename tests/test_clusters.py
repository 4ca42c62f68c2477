"""The extremal index and declustering (sbp_bayes.clusters) on processes with known θ.

Max-autoregressive X_t = max(α X_{t-1}, (1 - α) Z_t) with unit Fréchet Z has θ = 1 - α;
a moving maximum of order m of i.i.d. noise has θ = 1/m. The coverage over many
replications is measured in benchmarks/extremal_index.py (and the ``slow`` test below).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from sbp_bayes import clusters


def max_autoregressive(n: int, alpha: float, rng) -> np.ndarray:
    z = 1.0 / -np.log(rng.random(n))  # unit Fréchet: P(Z <= z) = exp(-1/z)
    x = np.empty(n)
    x[0] = z[0]
    for t in range(1, n):
        x[t] = max(alpha * x[t - 1], (1.0 - alpha) * z[t])
    return x


def moving_maximum(n: int, order: int, rng) -> np.ndarray:
    z = rng.pareto(1.0, size=n + order - 1)
    return np.max(np.lib.stride_tricks.sliding_window_view(z, order), axis=1)


@pytest.mark.parametrize("method", clusters.EXTREMAL_INDEX_METHODS)
def test_max_autoregressive_half(method):
    x = max_autoregressive(10_000, 0.5, np.random.default_rng(5))
    estimate = clusters.extremal_index(x, np.quantile(x, 0.95), method=method, random_seed=1)
    assert estimate.lower <= 0.5 <= estimate.upper
    assert 0.0 < estimate.lower < estimate.theta < estimate.upper <= 1.0
    assert estimate.n_exceedances == 500
    assert estimate.draws.shape == (clusters.DEFAULT_DRAWS,)


def test_moving_maximum_of_order_four():
    x = moving_maximum(20_000, 4, np.random.default_rng(8))
    estimate = clusters.extremal_index(x, np.quantile(x, 0.98), random_seed=2)
    assert estimate.lower <= 0.25 <= estimate.upper
    assert abs(estimate.theta - 0.25) < 0.06


def test_intervals_estimator_formula():
    # max T > 2: 2 (sum(T - 1))^2 / ((N - 1) sum((T - 1)(T - 2))), written out by hand.
    times = np.array([1.0, 3.0, 1.0, 7.0, 2.0, 12.0])
    expected = 2 * (times - 1).sum() ** 2 / (times.size * ((times - 1) * (times - 2)).sum())
    assert clusters.intervals_estimate(times) == pytest.approx(min(expected, 1.0))
    # max T <= 2: 2 (sum T)^2 / ((N - 1) sum T^2).
    short = np.array([1.0, 2.0, 1.0, 1.0])
    assert clusters.intervals_estimate(short) == pytest.approx(
        min(1.0, 2 * short.sum() ** 2 / (short.size * (short**2).sum()))
    )


def test_runs_estimator_counts_clusters():
    x = np.array([0, 5, 6, 0, 9, 0, 0, 0, 7, 0, 0, 8, 8, 8, 0], dtype=float)
    one = clusters.extremal_index(x, 1.0, method="runs", run_length=1, random_seed=0)
    three = clusters.extremal_index(x, 1.0, method="runs", run_length=3, random_seed=0)
    # Exceedances at 1, 2, 4, 8, 11, 12, 13 (7 of them). Run length 1: clusters
    # {1,2} {4} {8} {11,12,13}. Run length 3 (three non-exceedances end a cluster): the
    # 3 quiet steps 5-7 split, the 2 quiet steps 9-10 do not: {1,2,4} {8,11,12,13}.
    assert one.theta == pytest.approx(4 / 7)
    assert three.theta == pytest.approx(2 / 7)


def test_kgaps_posterior_against_quadrature_and_likelihood_maximum():
    x = max_autoregressive(4000, 0.6, np.random.default_rng(3))
    for adjust in (False, True):
        grid, density, counts = clusters.kgaps_posterior(
            x, np.quantile(x, 0.95), k=1, prior=(2.0, 3.0), adjust=adjust
        )
        n0, n1, c = counts["n_zero"], counts["n_positive"], counts["scaled_gap_sum"]
        assert n0 + n1 == counts["n_exceedances"] - 1
        w = counts["likelihood_weight"]
        assert (w == 1.0) if not adjust else (0.3 < w < 1.0)

        def unnormalised(theta, n0=n0, n1=n1, c=c, w=w):
            # Beta(2, 3) prior times the K-gaps likelihood to the power w.
            return theta ** (2 * n1 * w + 1) * (1 - theta) ** (n0 * w + 2) * np.exp(-c * w * theta)

        scale = unnormalised(counts["mle"])
        total = integrate.quad(lambda t, s=scale: unnormalised(t) / s, 0, 1, points=[counts["mle"]])[0]
        mean = (
            integrate.quad(lambda t, s=scale: t * unnormalised(t) / s, 0, 1, points=[counts["mle"]])[0]
            / total
        )
        assert np.trapezoid(grid * density, grid) == pytest.approx(mean, rel=1e-5)

    def negative_log_likelihood(theta):
        return -(n0 * np.log1p(-theta) + 2 * n1 * np.log(theta) - c * theta)

    numeric = optimize.minimize_scalar(negative_log_likelihood, bounds=(1e-9, 1 - 1e-9), method="bounded")
    assert counts["mle"] == pytest.approx(numeric.x, abs=1e-5)


@pytest.mark.parametrize("theta", [0.25, 0.5])
def test_adjusted_kgaps_posterior_has_the_spread_of_the_estimate(theta):
    """Over 120 max-autoregressive series: the plain K-gaps posterior sd is about 20% below
    the spread of its mean across series; the adjusted one matches it."""
    rng = np.random.default_rng(int(100 * theta))
    means, plain_sd, adjusted_sd = [], [], []
    for _ in range(120):
        x = max_autoregressive(10_000, 1.0 - theta, rng)
        u = np.quantile(x, 0.95)
        for adjust, sds in ((False, plain_sd), (True, adjusted_sd)):
            grid, density, _ = clusters.kgaps_posterior(x, u, adjust=adjust)
            mean = np.trapezoid(grid * density, grid)
            sds.append(np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid)))
        means.append(mean)
    spread = np.std(means, ddof=1)  # its own sampling error: about 6.5% (120 series)
    # Measured: plain/spread 0.79 (θ = 0.25) and 0.81-0.89 (θ = 0.5, two seeds).
    assert np.mean(plain_sd) < (0.87 if theta == 0.25 else 0.95) * spread
    assert np.mean(adjusted_sd) == pytest.approx(spread, rel=0.15)


def test_intervals_declustering_groups_the_exceedances():
    """A moving maximum of order 3: every cluster is three equal exceedances in a row."""
    z = np.random.default_rng(6).pareto(1.0, size=3002)
    x = np.maximum.reduce([z[2:], z[1:-1], z[:-2]])
    u = np.quantile(x, 0.97)
    groups = clusters.exceedance_groups(x, u)
    excess = np.sort(x[x > u] - u)
    sizes = np.bincount(groups)
    assert np.mean(sizes == 3) > 0.9 and len(groups) == excess.size
    # Members of a cluster share their value (the same noise maximum).
    for label in range(0, sizes.size, 7):
        assert np.ptp(excess[groups == label]) < 1e-12 or sizes[label] != 3


def test_kgaps_estimate_summarises_its_posterior():
    x = max_autoregressive(6000, 0.5, np.random.default_rng(4))
    estimate = clusters.extremal_index(x, method="kgaps", random_seed=3, n_boot=4000)
    grid, density, _ = clusters.kgaps_posterior(x)
    assert estimate.theta == pytest.approx(np.trapezoid(grid * density, grid))
    assert np.mean(estimate.draws) == pytest.approx(estimate.theta, abs=0.005)
    assert np.quantile(estimate.draws, 0.025) == pytest.approx(estimate.lower, abs=0.01)


def test_decluster_keeps_cluster_maxima_and_scales_the_rate():
    days = pd.date_range("2001-01-01", periods=8, freq="D")
    series = pd.Series([0.0, 5.0, 6.0, 0.0, 0.0, 7.0, 9.0, 0.0], index=days)
    series.attrs["observations_per_year"] = 365.25
    kept = clusters.decluster(series, 1.0, run_length=1)
    assert kept.tolist() == [0.0, 6.0, 0.0, 0.0, 9.0, 0.0]
    assert list(kept.index) == [days[0], days[2], days[3], days[4], days[6], days[7]]
    assert kept.attrs["observations_per_year"] == pytest.approx(365.25 * 6 / 8)
    assert "2 clusters from 4 exceedances" in kept.attrs["declustered"]
    lower = clusters.decluster(-series, -1.0, tail="lower")
    assert lower.tolist() == [-v for v in kept.tolist()]


def test_decluster_table_cluster_maxima_are_nearly_independent():
    x = max_autoregressive(20_000, 0.75, np.random.default_rng(6))
    u = np.quantile(x, 0.95)
    kept = clusters.decluster(x, u, run_length=1)
    after = clusters.extremal_index(kept.to_numpy(), u, random_seed=1)
    assert after.upper >= 0.95  # the clusters are gone
    table = clusters.cluster_table(x, u)
    assert table["size"].sum() == int((x > u).sum())
    assert len(table) == int((kept > u).sum())


@pytest.mark.parametrize(
    ("values", "options", "message"),
    [
        ([1.0, np.nan, 3.0, 4.0], {}, "NaN or infinite"),
        (np.arange(100.0), {"threshold": 98.5}, "Only 1 of 100"),
        (np.arange(100.0), {"method": "blocks"}, "method must be one of"),
        (np.arange(100.0), {"method": "runs", "run_length": 0}, "run_length must be a positive integer"),
        (np.arange(100.0), {"tail": "both"}, "tail must be 'upper' or 'lower'"),
        (np.arange(100.0), {"ci_prob": 95}, "ci_prob must lie strictly between 0 and 1"),
    ],
)
def test_bad_input_says_what_to_do(values, options, message):
    with pytest.raises(ValueError, match=message):
        clusters.extremal_index(values, **options)


def test_return_levels_with_a_fixed_extremal_index_are_levels_at_fewer_observations(rain_fixed_fit):
    """F(z)^(n θ): a level with θ is the independent level for n θ observations a period."""
    fit = rain_fixed_fit
    with_theta = fit.return_levels([10, 100], 365.25, extremal_index=0.4)
    fewer = fit.return_levels([10, 100], 365.25 * 0.4)
    for column in ("median", "ci_lower", "ci_upper", "predictive", "exceedance_prob"):
        np.testing.assert_allclose(with_theta[column], fewer[column], rtol=1e-9)
    assert (with_theta["median"] < fit.return_levels([10, 100], 365.25)["median"]).all()
    probability = fit.exceedance_probability([80.0], extremal_index=0.4)
    independent = fit.exceedance_probability([80.0])
    assert probability["return_period"].iloc[0] == pytest.approx(independent["return_period"].iloc[0] / 0.4)
    per_draw = fit.distribution().sf(np.array([[80.0]]))[0]
    expected = np.mean(1 - (1 - per_draw) ** (365.25 * 0.4))
    assert probability["period_max_exceedance"].iloc[0] == pytest.approx(expected, rel=1e-9)


def test_return_levels_carry_the_extremal_index_uncertainty(rain_fixed_fit):
    fit = rain_fixed_fit
    estimate = fit.extremal_index(method="kgaps")
    assert estimate.threshold == pytest.approx(30.0)
    table = fit.return_levels([100], extremal_index=estimate)
    fixed = fit.return_levels([100], extremal_index=estimate.theta)
    assert table["extremal_index"].iloc[0] == pytest.approx(estimate.theta, abs=0.01)
    assert table["ci_upper"].iloc[0] - table["ci_lower"].iloc[0] >= 0.99 * (
        fixed["ci_upper"].iloc[0] - fixed["ci_lower"].iloc[0]
    )
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\]"):
        fit.return_levels([100], extremal_index=1.5)


def test_benchmark_script_runs_and_its_true_levels_are_exact(tmp_path, capsys):
    """benchmarks/extremal_index.py at a tiny size; its exact return level checked by simulation."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "extremal_index.py"
    spec = importlib.util.spec_from_file_location("benchmark_extremal_index", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "theta.csv"
    assert module.main(["--replications", "2", "--n", "3000", "--skip-fits", "--out", str(out)]) == 0
    table = pd.read_csv(out, comment="#")
    assert len(table) == 2 * len(module.PROCESSES) * len(clusters.EXTREMAL_INDEX_METHODS)
    assert "coverage" in capsys.readouterr().out
    # Annual maxima of 365 steps of log max-AR(alpha = 0.5): the 10-year level is exceeded
    # by 10% of simulated years (exact formula with n = 365; binomial sd 0.3%).
    rng = np.random.default_rng(11)
    years = np.log(max_autoregressive(365 * 10_000, 0.5, rng)).reshape(10_000, 365).max(axis=1)
    level = module.true_return_level_log(10.0, 0.5, n=365)
    assert np.mean(years > level) == pytest.approx(0.1, abs=0.01)
    # The same for the log moving maximum of order 4.
    years = np.log(moving_maximum(365 * 10_000, 4, rng)).reshape(10_000, 365).max(axis=1)
    level = module.true_return_level_log_moving_maximum(10.0, 4, n=365)
    assert np.mean(years > level) == pytest.approx(0.1, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("theta", [0.25, 0.5, 1.0])
def test_intervals_cover_theta_of_max_autoregressive_series(theta):
    """>= 90% of 95% intervals cover theta over 100 series of 10000 (threshold: 95% quantile)."""
    rng = np.random.default_rng(int(theta * 100))
    covered = 0
    for replication in range(100):
        x = max_autoregressive(10_000, 1.0 - theta, rng)
        estimate = clusters.extremal_index(x, np.quantile(x, 0.95), n_boot=500, random_seed=replication)
        covered += estimate.lower <= theta <= estimate.upper
    assert covered >= 90
