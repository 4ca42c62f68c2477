"""Tests of sbp_bayes.fit: published fits, the structure of the completed posterior,
the predictive distribution, diagnostics, persistence, samplers and bad input.

Most checks use the session fixtures of tests/fit_fixtures.py. The few new fits here
share the compiled model of ``danish_fixed_fit`` (upper tail, one fixed threshold,
default prior families), so they cost a second or two each; the ``sampler="pymc"``
comparison compiles its own model once.
"""

from __future__ import annotations

import sys

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from scipy import stats

import sbp_bayes
from sbp_bayes import datasets
from sbp_bayes.fit import SBPFit
from sbp_bayes.model import DataError
from sbp_bayes.stats import sbp
from tests.fit_fixtures import SMALL as FIXTURE_RUN

# A fixed upper threshold and the default prior families: the compiled model of
# danish_fixed_fit is reused (the compile cache is keyed by model structure).
SMALL = {"tails": "upper", "bins": 10, "draws": 200, "tune": 200, "chains": 2, "progressbar": False}

# docs/published_checks.md: GPD maximum likelihood at a fixed threshold.
PUBLISHED = {
    "danish": {"threshold": 10.0, "exceedances": 109, "xi": 0.497, "sigma": 6.98, "xi_se": 0.136},
    "rain": {"threshold": 30.0, "exceedances": 152, "xi": 0.184, "sigma": 7.44, "xi_se": 0.101},
}
ALL_FITS = ["danish_fixed_fit", "rain_fixed_fit", "danish_default_fit", "student_t_fit"]


@pytest.fixture(scope="module")
def claims() -> pd.Series:
    """600 Lomax(4) claims with a string index, three of them missing (NaN)."""
    rng = np.random.default_rng(21)
    values = rng.pareto(4.0, 600) * 10.0
    values[[5, 50, 400]] = np.nan
    series = pd.Series(values, index=[f"claim-{i:04d}" for i in range(600)], name="claims")
    series.attrs["units"] = "kEUR"
    return series


@pytest.fixture(scope="module")
def claims_fit(claims, danish_fixed_fit):
    # danish_fixed_fit first: it compiles the shared model structure (see SMALL).
    threshold = float(claims.quantile(0.85))
    return sbp_bayes.fit(claims, upper_threshold=threshold, nan_policy="omit", random_seed=5, **SMALL)


def _flat(fit: SBPFit, name: str) -> np.ndarray:
    values = fit.idata["posterior"][name].values
    return values.reshape((-1, *values.shape[2:]))


def _sides(fit: SBPFit) -> list[str]:
    return [side for side in ("lower", "upper") if f"{side}_xi" in fit.idata["posterior"]]


# ----------------------------------------------------------------------------- acceptance


@pytest.mark.parametrize("name", ["danish", "rain"])
def test_bundled_data_give_the_published_maximum_likelihood(name):
    """The published MLE belongs to the bundled data (scipy's GPD fit of the excesses)."""
    reference = PUBLISHED[name]
    x = datasets.load(name).to_numpy()
    excess = x[x > reference["threshold"]] - reference["threshold"]
    assert excess.size == reference["exceedances"]
    xi, _, sigma = stats.genpareto.fit(excess, floc=0.0)
    assert xi == pytest.approx(reference["xi"], abs=0.005)
    assert sigma == pytest.approx(reference["sigma"], abs=0.05)


@pytest.mark.parametrize("name", ["danish", "rain"])
def test_fixed_threshold_fit_reproduces_the_published_fit(request, name):
    reference = PUBLISHED[name]
    fit = request.getfixturevalue(f"{name}_fixed_fit")
    assert_allclose(fit.design.upper_thresholds, [reference["threshold"]])
    for parameter in ("xi", "sigma"):
        draws = _flat(fit, f"upper_{parameter}")
        # Within one posterior sd of the MLE (the weak priors barely move it).
        assert abs(np.median(draws) - reference[parameter]) < draws.std(), (parameter, np.median(draws))
    # The posterior sd is close to the MLE's standard error (docs/published_checks.md).
    assert 0.7 * reference["xi_se"] < _flat(fit, "upper_xi").std() < 1.4 * reference["xi_se"]


# ----------------------------------------------------------------------------- posterior structure


@pytest.mark.parametrize("fixture", ALL_FITS)
def test_posterior_holds_the_full_parameter_set(request, fixture):
    fit = request.getfixturevalue(fixture)
    post = fit.idata["posterior"]
    design = fit.design
    edges = design.bin_edges
    bin_probs = post["bin_probs"].values
    assert bin_probs.shape == (FIXTURE_RUN["chains"], FIXTURE_RUN["draws"], design.n_bins)
    assert_allclose(bin_probs.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(bin_probs > 0)
    expected_sides = {"student_t_fit": ["lower", "upper"]}.get(fixture, ["upper"])
    assert _sides(fit) == expected_sides
    for side in expected_sides:
        for suffix in ("xi", "sigma", "sigma_ref", "tail_prob", "threshold", "threshold_index"):
            assert post[f"{side}_{suffix}"].dims == ("chain", "draw")
        logprob = post[f"{side}_threshold_logprob"]
        assert logprob.dims == ("chain", "draw", f"{side}_candidate")
        candidates = getattr(design, f"{side}_thresholds")
        assert_allclose(logprob[f"{side}_candidate"].values, candidates)
        assert_allclose(np.exp(logprob.values).sum(axis=-1), 1.0, atol=1e-9)

        threshold = post[f"{side}_threshold"].values
        assert np.all(np.isin(threshold, candidates))
        assert np.array_equal(candidates[post[f"{side}_threshold_index"].values], threshold)
        # The tail probability is exactly the body's mass beyond the drawn threshold edge.
        edge = np.searchsorted(edges, threshold)
        assert np.array_equal(edges[edge], threshold)
        bins = np.arange(design.n_bins)
        beyond = bins >= edge[..., None] if side == "upper" else bins < edge[..., None]
        assert_allclose((bin_probs * beyond).sum(axis=-1), post[f"{side}_tail_prob"].values, rtol=1e-12)
        # Threshold stability: the scale at the drawn threshold.
        reference = candidates[0] if side == "upper" else candidates[-1]
        distance = threshold - reference if side == "upper" else reference - threshold
        expected_sigma = post[f"{side}_sigma_ref"].values + post[f"{side}_xi"].values * distance
        assert_allclose(post[f"{side}_sigma"].values, expected_sigma, rtol=1e-12)
        assert np.all(post[f"{side}_sigma"].values > 0)
        # ξ keeps every observation inside the support of the GPD at the drawn threshold.
        x = fit.data.to_numpy()
        xi, sigma = post[f"{side}_xi"].values, post[f"{side}_sigma"].values
        max_excess = x.max() - threshold if side == "upper" else threshold - x.min()
        assert np.all(1.0 + xi * max_excess / sigma > 0)
        if fit.config["family_info"].get("threshold_weights") != "cross_validation":
            # The marginalised model samples ξ with the reference GPD's support as its bound.
            max_excess = (x - reference).max() if side == "upper" else (reference - x).max()
            sigma_ref = post[f"{side}_sigma_ref"].values
            assert np.all(1.0 + xi * max_excess / sigma_ref > 0)


@pytest.mark.parametrize("fixture", ["danish_default_fit", "student_t_fit"])
def test_threshold_draws_follow_the_rao_blackwellised_probabilities(request, fixture):
    """Given the draws of (ξ, σ), the thresholds are drawn independently from the stored
    probabilities, so the frequency of each candidate differs from the mean probability
    by binomial noise only: sd = sqrt(p (1 - p) / n)."""
    fit = request.getfixturevalue(fixture)
    for side in _sides(fit):
        probabilities = np.exp(_flat(fit, f"{side}_threshold_logprob"))
        index = _flat(fit, f"{side}_threshold_index")
        n_draws, n_candidates = probabilities.shape
        assert n_candidates == getattr(fit.design, f"{side}_candidates").size > 1
        frequency = np.bincount(index, minlength=n_candidates) / n_draws
        expected = probabilities.mean(axis=0)
        sd = np.sqrt(probabilities.mean(axis=0) * (1 - probabilities.mean(axis=0)) / n_draws)
        assert np.all(np.abs(frequency - expected) <= 4.5 * sd + 1.0 / n_draws), (frequency, expected)


@pytest.mark.parametrize("name", ["danish", "rain"])
def test_fixed_threshold_tail_mass_has_its_conjugate_posterior(request, name):
    """With one candidate the tail mass is Beta(α_tail + n_tail, α_body + N - n_tail),
    whatever (ξ, σ): the completed draws are independent and a KS test is exact."""
    reference = PUBLISHED[name]
    fit = request.getfixturevalue(f"{name}_fixed_fit")
    n = len(fit.data)
    tail_bins = fit.design.n_bins - fit.design.upper_candidates[0]  # α = 1 per bin
    beta = stats.beta(
        tail_bins + reference["exceedances"], fit.design.n_bins - tail_bins + n - reference["exceedances"]
    )
    assert stats.kstest(_flat(fit, "upper_tail_prob"), beta.cdf).pvalue > 1e-3
    # A body bin: Beta(1 + n_k, n_bins - 1 + N - n_k).
    x = fit.data.to_numpy()
    edges = fit.design.bin_edges
    k = fit.design.upper_candidates[0] // 2
    n_k = np.sum((x >= edges[k]) & (x < edges[k + 1]))
    body_bin = stats.beta(1 + n_k, fit.design.n_bins - 1 + n - n_k)
    assert stats.kstest(_flat(fit, "bin_probs")[:, k], body_bin.cdf).pvalue > 1e-3


@pytest.mark.parametrize("fixture", ["danish_default_fit", "student_t_fit"])
def test_distribution_is_the_canonical_sbp(request, fixture):
    """fit.distribution() passes the thresholds it knows; the canonical definition
    derives them as Q_B(tail probabilities). Both must agree."""
    fit = request.getfixturevalue(fixture)
    dist = fit.distribution()
    assert dist.batch_shape == (fit.n_draws,)
    sides = _sides(fit)
    canonical = sbp(
        fit.design.bin_edges,
        dist.bin_probs,
        **{
            f"{side}_{name}": getattr(dist, f"{side}_{name}")
            for side in sides
            for name in ("tail_prob", "xi", "sigma")
        },
    )
    for side in sides:
        assert_allclose(getattr(canonical, f"{side}_threshold"), _flat(fit, f"{side}_threshold"), atol=1e-9)
    x = fit.data.to_numpy()
    grid = np.quantile(x, np.linspace(0.001, 0.999, 37)) + 1e-7  # off the bin edges
    grid = np.concatenate([grid, [x.max() + 1.0]])  # beyond the data, in the upper tail
    assert_allclose(dist.logpdf(grid[:, None]), canonical.logpdf(grid[:, None]), rtol=1e-9, atol=1e-12)
    assert_allclose(dist.cdf(grid[:, None]), canonical.cdf(grid[:, None]), rtol=1e-9, atol=1e-12)
    # Thinning keeps every k-th draw.
    assert_allclose(fit.distribution(thin=7).upper_xi, _flat(fit, "upper_xi")[::7])


# ----------------------------------------------------------------------------- predictive


# ArviZ warns that some Pareto k exceed 0.7: the largest Danish losses are influential
# observations, which is what PSIS-LOO's diagnostic is for (compare() surfaces it).
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
def test_pointwise_log_likelihood_and_loo(danish_fixed_fit):
    fit = danish_fixed_fit
    loglik = fit.idata["log_likelihood"]["y"]
    n = len(fit.data)
    assert loglik.dims == ("chain", "draw", "obs_id")
    assert loglik.shape == (FIXTURE_RUN["chains"], FIXTURE_RUN["draws"], n)
    dist = fit.distribution()
    expected = dist.logpdf(fit.data.to_numpy()[:, None]).T.reshape(
        FIXTURE_RUN["chains"], FIXTURE_RUN["draws"], n
    )
    assert_allclose(loglik.values, expected, rtol=1e-12)
    assert_allclose(fit.pointwise_log_likelihood(), expected.reshape(-1, n), rtol=1e-12)
    assert np.all(np.isfinite(loglik.values))
    loo = az.loo(fit.idata)
    assert np.isfinite(loo.elpd)
    # The log predictive density of the data is a sum of 2167 terms of order -2.
    assert -3 * n < loo.elpd < -n


def test_posterior_predictive_has_the_data_shape(claims_fit):
    n = len(claims_fit.data)
    replicated = claims_fit.posterior_predictive(random_seed=1)["y"]
    assert replicated.shape == (2, 200, n)
    assert np.all(replicated.values >= claims_fit.design.bin_edges[0])
    assert list(replicated["obs_id"].values) == list(claims_fit.data.index)
    thinned = claims_fit.posterior_predictive(thin=10, random_seed=1)["y"]
    assert thinned.shape == (2, 20, n)
    # The replicated data look like the data: same median within a few percent of the spread.
    x = claims_fit.data.to_numpy()
    assert abs(np.median(replicated.values) - np.median(x)) < 0.1 * x.std()
    with pytest.raises(MemoryError, match=r"over max_values=1,000.*pass thin=\d+"):
        claims_fit.posterior_predictive(max_values=1000)


# ----------------------------------------------------------------------------- diagnostics


def test_check_passes_on_a_converged_fit(danish_fixed_fit):
    # The session fixtures are short runs (tests/fit_fixtures.py); the fixed-threshold Danish
    # fit is the one whose standards hold with margin at that length.
    report = danish_fixed_fit.check()  # a UserWarning here would fail the test
    assert report.passed and bool(report)
    assert report.problems == []
    assert report.table.index.tolist() == ["upper_xi", "upper_sigma_ref", "upper_sigma", "upper_tail_prob"]
    assert (report.table.r_hat <= 1.01).all() and (report.table.ess_bulk >= 400).all()
    assert report.divergences == 0 and report.divergence_fraction == 0.0
    assert np.all(np.asarray(report.bfmi) >= 0.3)
    assert "PASSED" in str(report)


@pytest.mark.parametrize("fixture", ALL_FITS)
def test_check_reports_arviz_diagnostics_against_the_standards(request, fixture):
    fit = request.getfixturevalue(fixture)
    report = fit.check(warn=False)
    table = report.table
    assert set(table.columns) == {"r_hat", "ess_bulk", "ess_tail", "passed"}
    names = [f"{side}_{name}" for side in _sides(fit) for name in ("xi", "sigma_ref", "sigma", "tail_prob")]
    assert table.index.tolist() == names
    rhat = az.rhat(fit.idata, var_names=names)
    ess_tail = az.ess(fit.idata, var_names=names, method="tail")
    for name in names:
        assert table.loc[name, "r_hat"] == pytest.approx(float(rhat[name]))
        assert table.loc[name, "ess_tail"] == pytest.approx(float(ess_tail[name]))
    meets = (table.r_hat <= 1.01) & (table.ess_bulk >= 400) & (table.ess_tail >= 400)
    assert table.passed.tolist() == meets.tolist()
    bfmi = np.asarray(report.bfmi)
    # I.i.d. draws (quadrature) have no energy statistic: BFMI is NaN and nothing to check.
    sampler_ok = report.divergence_fraction <= 0.01 and (np.all(np.isnan(bfmi)) or np.all(bfmi >= 0.3))
    assert report.passed == bool(meets.all() and sampler_ok)
    # Every failing parameter is named in a problem, with what to do.
    for name in table.index[~meets]:
        assert any(name in problem for problem in report.problems)
    assert all(("increase" in p or "Run longer" in p or "fix the" in p) for p in report.problems)


def test_check_fails_loudly_on_a_short_run(claims):
    short = sbp_bayes.fit(
        claims,
        upper_threshold=float(claims.quantile(0.85)),
        nan_policy="omit",
        random_seed=6,
        **{**SMALL, "draws": 20, "tune": 5},
    )
    with pytest.warns(UserWarning, match=r"Effective sample size below 400 for .*upper_xi.*increase draws"):
        report = short.check()
    assert not report.passed
    assert any("currently 20 per chain" in problem for problem in report.problems)
    assert "FAILED" in str(report)
    # The standards are arguments: a lenient gate passes the same run silently.
    assert short.check(ess_min=1, rhat_max=10.0, divergence_max=1.0, bfmi_min=0.0).passed
    assert not short.check(warn=False).passed


# ----------------------------------------------------------------------------- results


def test_omitted_values_and_index_are_recorded(claims, claims_fit):
    assert claims_fit.config["nan_policy"] == "omit"
    assert claims_fit.config["n_omitted"] == 3
    assert claims_fit.config["n_observations"] == 597
    expected = claims.dropna()
    assert claims_fit.data.index.equals(expected.index)
    assert_allclose(claims_fit.data.to_numpy(), expected.to_numpy())
    assert claims_fit.data.name == "claims"
    assert claims_fit.data.attrs["units"] == "kEUR"
    assert list(claims_fit.idata["observed_data"]["obs_id"].values) == list(expected.index)


def test_save_and_load_round_trip(claims_fit, tmp_path):
    path = claims_fit.save(tmp_path / "nested" / "claims.nc")
    loaded = sbp_bayes.load(path)
    for group in ("posterior", "sample_stats", "observed_data"):
        xr.testing.assert_identical(
            loaded.idata[group].to_dataset().reset_coords(drop=True),
            claims_fit.idata[group].to_dataset().reset_coords(drop=True),
        )
    # The pointwise log-likelihood is derived (N x draws): not stored by default, recomputed
    # identically after loading, stored on request.
    assert "log_likelihood" not in loaded.idata.children
    loaded.compute_log_likelihood()
    xr.testing.assert_allclose(
        loaded.idata["log_likelihood"].to_dataset().reset_coords(drop=True),
        claims_fit.idata["log_likelihood"].to_dataset().reset_coords(drop=True),
    )
    full = sbp_bayes.load(claims_fit.save(tmp_path / "full.nc", include_derived=True))
    assert "log_likelihood" in full.idata.children
    assert (tmp_path / "full.nc").stat().st_size > path.stat().st_size
    assert loaded.data.index.equals(claims_fit.data.index)
    assert_allclose(loaded.data.to_numpy(), claims_fit.data.to_numpy(), rtol=0, atol=0)
    assert loaded.data.name == "claims" and loaded.data.attrs["units"] == "kEUR"
    assert loaded.config == claims_fit.config
    assert loaded.version == claims_fit.version == sbp_bayes.__version__
    for name in ("bin_edges", "lower_candidates", "upper_candidates"):
        assert np.array_equal(getattr(loaded.design, name), getattr(claims_fit.design, name))
    # The reloaded fit answers like the original.
    assert_allclose(loaded.distribution().isf(0.01), claims_fit.distribution().isf(0.01))
    with pytest.raises(FileNotFoundError, match="No saved fit at"):
        sbp_bayes.load(tmp_path / "missing.nc")
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="not a fit saved by sbp_bayes"):
        sbp_bayes.load(tmp_path / "other.nc")


def test_save_and_load_keep_a_range_index(danish_fixed_fit, tmp_path):
    loaded = sbp_bayes.load(danish_fixed_fit.save(tmp_path / "danish.nc"))
    assert isinstance(loaded.data.index, pd.RangeIndex)
    assert loaded.data.index.equals(danish_fixed_fit.data.index)
    assert loaded.data.attrs["units"] == "million DKK"


def test_summary_is_numeric_and_repr_readable(danish_default_fit, student_t_fit):
    table = danish_default_fit.summary()
    assert table.index.tolist() == ["upper_xi", "upper_sigma", "upper_tail_prob", "upper_threshold"]
    assert all(pd.api.types.is_float_dtype(dtype) for dtype in table.dtypes)
    assert {"mean", "sd", "ess_bulk", "r_hat"} <= set(table.columns)
    assert table.loc["upper_xi", "mean"] == pytest.approx(_flat(danish_default_fit, "upper_xi").mean())
    text = repr(danish_default_fit)
    assert text.startswith("SBPFit: 2167 observations, tails=upper, ")
    # The default fit draws each candidate's GPD posterior by quadrature (sampler="auto").
    assert f"{FIXTURE_RUN['chains']} chains x {FIXTURE_RUN['draws']} draws (quadrature)" in text
    assert "upper tail: xi = " in text and "(10 candidates)" in text
    text = repr(student_t_fit)
    assert "lower tail: xi = " in text and "upper tail: xi = " in text


def test_same_seed_gives_identical_draws(claims, claims_fit):
    threshold = float(claims.quantile(0.85))
    again = sbp_bayes.fit(claims, upper_threshold=threshold, nan_policy="omit", random_seed=5, **SMALL)
    # Equal values and coordinates (the attributes hold the creation time).
    xr.testing.assert_equal(again.idata["posterior"].to_dataset(), claims_fit.idata["posterior"].to_dataset())
    other = sbp_bayes.fit(claims, upper_threshold=threshold, nan_policy="omit", random_seed=55, **SMALL)
    assert not np.array_equal(other.posterior["upper_xi"].values, claims_fit.posterior["upper_xi"].values)
    assert not np.array_equal(other.posterior["bin_probs"].values, claims_fit.posterior["bin_probs"].values)


def test_tied_counts_fit_without_trouble():
    """Poisson counts with the threshold on a tied value: hundreds of points sit exactly
    on it (body points of the bin below)."""
    x = np.random.default_rng(8).poisson(4.0, size=1500).astype(float)
    fit = sbp_bayes.fit(x, upper_threshold=7.0, random_seed=2, **{**SMALL, "draws": 100, "tune": 100})
    assert np.sum(x == 7.0) > 50
    tail_prob = _flat(fit, "upper_tail_prob")
    n_beyond = int(np.sum(x > 7.0))
    # Tail mass ~ Beta(1 + n_beyond, n_bins - 1 + N - n_beyond): the tied points are body points.
    beta = stats.beta(1 + n_beyond, fit.design.n_bins - 1 + x.size - n_beyond)
    assert stats.kstest(tail_prob, beta.cdf).pvalue > 1e-3
    assert np.all(np.isfinite(fit.idata["log_likelihood"]["y"].values))


# ----------------------------------------------------------------------------- samplers


def test_pymc_sampler_agrees_with_nutpie(danish_fixed_fit):
    x = np.random.default_rng(31).pareto(3.0, size=800)
    options = {**SMALL, "draws": 500, "tune": 500, "upper_threshold": float(np.quantile(x, 0.8))}
    by_nutpie = sbp_bayes.fit(x, random_seed=3, **options)
    by_pymc = sbp_bayes.fit(x, random_seed=3, sampler="pymc", **options)
    assert by_pymc.config["sampler"] == "pymc"
    assert set(by_nutpie.posterior.data_vars) == set(by_pymc.posterior.data_vars)
    for name in ("upper_xi", "upper_sigma", "upper_tail_prob"):
        a, b = by_nutpie.summary([name]).loc[name], by_pymc.summary([name]).loc[name]
        # Same posterior: means agree within Monte Carlo error.
        assert abs(a["mean"] - b["mean"]) < 4.5 * np.hypot(a["mcse_mean"], b["mcse_mean"]), (name, a, b)
        assert b["sd"] == pytest.approx(a["sd"], rel=0.25)


def test_unknown_sampler_is_refused():
    expected = r"sampler must be one of auto, nutpie, pymc, numpyro, quadrature; got 'stan'"
    with pytest.raises(ValueError, match=expected):
        sbp_bayes.fit(np.arange(100.0), sampler="stan")


@pytest.mark.parametrize(
    ("sampler", "module"), [("numpyro", "numpyro"), ("numpyro", "jax"), ("nutpie", "nutpie")]
)
def test_missing_sampler_package_says_what_to_install(monkeypatch, sampler, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(
        ImportError, match=rf"sampler='{sampler}' needs the package '{module}'.*sampler='pymc'"
    ):
        sbp_bayes.fit(np.arange(100.0), sampler=sampler)


def test_bad_data_are_refused_before_sampling():
    frame = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    with pytest.raises(DataError, match="DataFrame with 2 columns"):
        sbp_bayes.fit(frame)
    nan_at_3 = r"1 NaN value\(s\) \(first at position\(s\) 3, counting from 0\).*nan_policy='omit'"
    with pytest.raises(DataError, match=nan_at_3):
        sbp_bayes.fit(np.concatenate([[1.0, 2.0, 3.0, np.nan], np.arange(100.0)]))
    with pytest.raises(DataError, match="The data are empty"):
        sbp_bayes.fit([])
