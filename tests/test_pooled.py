"""Pooled tails of many series (:mod:`sbp_bayes.pooled`).

The unit tests share one small fit (4 series of 200 points, 2 chains; nutpie's
compilation is most of its cost). The
acceptance test of issue 6 (partial pooling recovers the per-series ξ better than
separate fits) is behind ``-m slow``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy import stats

from sbp_bayes.model import DataError
from sbp_bayes.pooled import PooledFit, _build_pooled_model, _summarise_series, fit_pooled

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def gpd_series(xi, sigma, n_points, rng) -> pd.DataFrame:
    """Long-format series ``s00, s01, ...``, each drawn whole from a GPD (so that its
    exceedances over any threshold are GPD with the same ξ)."""
    frames = [
        pd.DataFrame(
            {"series": f"s{j:02d}", "value": stats.genpareto.rvs(x, scale=s, size=n_points, random_state=rng)}
        )
        for j, (x, s) in enumerate(zip(xi, sigma, strict=True))
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(606)
    xi = np.array([0.1, 0.2, 0.3, 0.25])
    sigma = np.array([1.0, 2.0, 0.5, 1.0])
    return gpd_series(xi, sigma, 200, rng)


@pytest.fixture(scope="module")
def small_fit(small_data) -> PooledFit:
    return fit_pooled(small_data, draws=300, tune=300, chains=2, random_seed=1, progressbar=False)


# ----------------------------------------------------------------------------- input errors


def test_missing_columns_are_named(small_data):
    with pytest.raises(DataError, match="'group'"):
        fit_pooled(small_data, series="group")
    with pytest.raises(DataError, match="'y'"):
        fit_pooled(small_data, value="y")


def test_bad_options_are_rejected_before_sampling(small_data):
    with pytest.raises(ValueError, match="pooling"):
        fit_pooled(small_data, pooling="complete")
    with pytest.raises(ValueError, match="sampler"):
        fit_pooled(small_data, sampler="stan")


def test_bad_series_are_rejected(small_data):
    with_nan = small_data.copy()
    with_nan.loc[5, "value"] = np.nan
    with pytest.raises(DataError, match=r"'s00'.*missing"):
        fit_pooled(with_nan)
    short = pd.concat([small_data, pd.DataFrame({"series": "tiny", "value": [1.0, 2.0, 3.0]})])
    with pytest.raises(DataError, match=r"'tiny'.*exceedances"):
        fit_pooled(short)


# ----------------------------------------------------------------------------- the model


def test_non_centred_shape_has_the_hierarchical_prior_exactly(small_data):
    """In the sampler's coordinates the log density is prior x likelihood in (ξ, σ) plus
    the log Jacobian of ξ_j(y_j): checked against scipy densities and a finite-difference
    derivative of ξ_j in y_j, at a point where some ξ_j sit near their support bound."""
    summary = _summarise_series(small_data, "series", "value", 0.1, 20)
    model = _build_pooled_model(summary, "partial")
    n = len(summary.names)
    rng = np.random.default_rng(3)
    point = {
        "log_sigma_mean": 0.2,
        "log_sigma_sd_log__": np.log(0.3),
        "log_sigma_offset": rng.normal(size=n),
        "xi_mean": 0.15,
        "xi_sd_log__": np.log(0.12),
        "upper_xi_unconstrained": np.array([-9.0, 0.5, 1.5, -1.0]),
    }
    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        logp = model.compile_logp()(point)
        outputs = model.replace_rvs_by_values([model["upper_xi"], model["upper_sigma"]])
        function = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
        xi_model, sigma_model = function(*(point[var.name] for var in model.value_vars))

    tau_eta, tau_xi, mu_xi = 0.3, 0.12, 0.15
    sigma = summary.scale * np.exp(0.2 + tau_eta * point["log_sigma_offset"])
    lower = np.maximum(-1.0, -sigma / summary.max_excess)

    def xi_of(y):
        return lower + tau_xi * np.logaddexp(0.0, y + (mu_xi - lower) / tau_xi)

    y = point["upper_xi_unconstrained"]
    xi = xi_of(y)
    np.testing.assert_allclose(xi_model, xi, rtol=1e-12)
    np.testing.assert_allclose(sigma_model, sigma, rtol=1e-12)
    assert xi[0] - lower[0] < 0.01  # the first series is right at its bound
    step = 1e-6
    log_jacobian = np.log((xi_of(y + step) - xi_of(y - step)) / (2 * step))
    expected = (
        stats.norm(0, 1).logpdf(0.2)
        + stats.halfnorm(scale=0.5).logpdf(tau_eta)
        + np.log(tau_eta)
        + stats.norm.logpdf(point["log_sigma_offset"]).sum()
        + stats.norm(0, 0.5).logpdf(mu_xi)
        + stats.halfnorm(scale=0.2).logpdf(tau_xi)
        + np.log(tau_xi)
        + stats.norm(mu_xi, tau_xi).logpdf(xi).sum()
        + log_jacobian.sum()
        + stats.genpareto.logpdf(
            summary.excess, xi[summary.series_of_excess], scale=sigma[summary.series_of_excess]
        ).sum()
    )
    assert logp == pytest.approx(expected, rel=1e-7)


# ----------------------------------------------------------------------------- the fit


def test_series_table(small_fit, small_data):
    table = small_fit.series_table(ci_prob=0.8)
    assert list(table.columns) == [
        "threshold",
        "n",
        "exceedances",
        "xi_median",
        "xi_ci_lower",
        "xi_ci_upper",
        "sigma_median",
        "sigma_ci_lower",
        "sigma_ci_upper",
        "tail_prob_median",
    ]
    assert table.index.name == "series" and list(table.index) == ["s00", "s01", "s02", "s03"]
    for name, row in table.iterrows():
        values = small_data.loc[small_data.series == name, "value"]
        assert row.n == values.size == 200
        # The threshold leaves tail_share = 10% of the series beyond it.
        assert row.exceedances == (values > row.threshold).sum() == 20
        assert row.xi_ci_lower < row.xi_median < row.xi_ci_upper
        assert 0 < row.sigma_ci_lower < row.sigma_median < row.sigma_ci_upper
        # Beta(1 + 20, 20 + 180) posterior of the tail mass: median ~ 0.095.
        assert row.tail_prob_median == pytest.approx(21 / 221, abs=0.01)
    # A wider interval contains the narrower one.
    wide = small_fit.series_table(ci_prob=0.95)
    assert (wide.xi_ci_lower <= table.xi_ci_lower).all() and (wide.xi_ci_upper >= table.xi_ci_upper).all()


def test_distribution_of_a_series_is_its_fitted_sbp(small_fit, small_data):
    dist = small_fit.distribution("s01")
    post = small_fit.idata["posterior"]
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    assert dist.batch_shape == (n_draws,)
    xi = post["upper_xi"].sel(series="s01").values.ravel()
    sigma = post["upper_sigma"].sel(series="s01").values.ravel()
    tail = post["upper_tail_prob"].sel(series="s01").values.ravel()
    u = small_fit.series_table().loc["s01", "threshold"]
    # Per draw: mass beyond the threshold is the tail mass, and beyond it the GPD.
    np.testing.assert_allclose(dist.sf(np.full(n_draws, u)), tail, rtol=1e-10)
    for excess in (0.5, 5.0, 50.0):
        expected = tail * stats.genpareto.sf(excess, xi, scale=sigma)
        np.testing.assert_allclose(dist.sf(np.full(n_draws, u + excess)), expected, rtol=1e-8)
    # The body spans the series' minimum to its threshold.
    values = small_data.loc[small_data.series == "s01", "value"]
    assert np.all(dist.cdf(np.full(n_draws, values.min() - 1e-9)) == 0)
    with pytest.raises(ValueError):
        small_fit.distribution("no such series")


def test_check_reports_every_parameter(small_fit):
    report = small_fit.check(warn=False)
    assert {"upper_xi", "upper_sigma", "xi_mean", "xi_sd", "log_sigma_mean", "log_sigma_sd"} <= set(
        report.table.index
    )
    assert "upper_xi_unconstrained" not in report.table.index
    assert report.divergence_fraction <= 0.05


def test_benchmark_script_skips_a_missing_backend(tmp_path, capsys, monkeypatch):
    """benchmarks/many_series.py: its data, and a backend whose packages are missing is
    skipped with a message instead of crashing (sampling is not exercised here: the
    compilation alone would cost half a minute; the script's figures are in
    benchmarks/README.md)."""
    spec = importlib.util.spec_from_file_location("benchmark_many_series", BENCHMARKS / "many_series.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame, xi = module.simulate(3, 200, seed=1)
    assert list(frame.groupby("series").size()) == [200, 200, 200] and xi.shape == (3,)
    assert module.missing_packages("pymc") == []
    monkeypatch.setattr(module, "missing_packages", lambda backend: ["numpyro"])
    out = tmp_path / "many.csv"
    status = module.main(["--series", "3", "--points", "200", "--backends", "numpyro", "--out", str(out)])
    assert status == 1
    printed = capsys.readouterr().out
    assert "SKIPPED backend numpyro: package(s) numpyro not installed" in printed
    assert "No backend could run." in printed
    assert "# numpyro:" in out.read_text()


# ----------------------------------------------------------------------------- acceptance


@pytest.mark.slow
def test_partial_pooling_recovers_shapes_better_than_separate_fits():
    """Issue 6: 20 series x 300 points (30 exceedances each), ξ_j ~ Normal(0.2, 0.1):
    the hierarchical fit's posterior-median ξ_j have a lower mean squared error than
    those of separate fits (pooling="none", independent priors per series: the same
    posterior as 20 separate fits), and both fits pass the convergence standards."""
    rng = np.random.default_rng(20261126)
    n_series = 20
    xi = rng.normal(0.2, 0.1, n_series)
    sigma = rng.lognormal(0.0, 0.5, n_series)
    data = gpd_series(xi, sigma, 300, rng)
    errors = {}
    for pooling in ("partial", "none"):
        fit = fit_pooled(data, pooling=pooling, random_seed=6, progressbar=False)
        report = fit.check(warn=False)
        assert report.passed, f"{pooling}: {report}"
        table = fit.series_table()
        errors[pooling] = float(np.mean((table.xi_median.to_numpy() - xi) ** 2))
    print(f"MSE of the posterior-median xi_j: partial {errors['partial']:.4f}, none {errors['none']:.4f}")
    assert errors["partial"] < errors["none"]
