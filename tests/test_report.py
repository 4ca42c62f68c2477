"""Tail answers of sbp_bayes.report on the session fits (tests/fit_fixtures.py).

Published numbers (docs/published_checks.md), independent recomputation of every per-draw
quantity with scipy (GPD formulas, numerical integration) and the structure of the
returned tables.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import integrate, stats

from sbp_bayes import SBPFit, report

CI = 0.95


# ----------------------------------------------------------------------------- helpers


def _draws(fit: SBPFit, name: str) -> np.ndarray:
    """A posterior variable with chains stacked, in the order of fit.distribution()."""
    values = fit.idata["posterior"][name].values
    return values.reshape((-1, *values.shape[2:]))


def _with_posterior(fit: SBPFit, posterior: xr.Dataset, *, data=None, config=None) -> SBPFit:
    """The same fit with another posterior (and optionally data or config)."""
    tree = xr.DataTree.from_dict({"posterior": posterior})
    return SBPFit(
        tree,
        fit.data if data is None else data,
        fit.design,
        fit.config if config is None else config,
        fit.version,
    )


def _single_draw(fit: SBPFit, flat_index: int) -> SBPFit:
    """A fit holding only posterior draw ``flat_index`` (chains stacked)."""
    post = fit.idata["posterior"].to_dataset()
    chain, draw = divmod(flat_index, post.sizes["draw"])
    return _with_posterior(fit, post.isel(chain=[chain], draw=[draw]))


def _eti(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.quantile(values, 0.5, axis=-1),
        np.quantile(values, (1 - CI) / 2, axis=-1),
        np.quantile(values, (1 + CI) / 2, axis=-1),
    )


def _assert_summary_matches(frame: pd.DataFrame, per_draw: np.ndarray, rtol: float = 1e-9) -> None:
    median, lower, upper = _eti(per_draw)
    np.testing.assert_allclose(frame["median"], median, rtol=rtol)
    np.testing.assert_allclose(frame["ci_lower"], lower, rtol=rtol)
    np.testing.assert_allclose(frame["ci_upper"], upper, rtol=rtol)


# ----------------------------------------------------------------------------- acceptance (issue 4)


def test_rain_100_year_return_level_matches_coles(rain_fixed_fit):
    # Coles (2001, §4.4.1): 106.3 mm, profile-likelihood 95% interval about [81, 185].
    table = report.return_levels(rain_fixed_fit, [100], observations_per_period=365.25)
    row = table.loc[100.0]
    assert row["median"] == pytest.approx(106.3, rel=0.10)
    assert 60 <= row["ci_lower"] < row["median"] < row["ci_upper"] <= 400


def test_rain_return_period_defaults_to_observations_per_year(rain_fixed_fit):
    assert rain_fixed_fit.data.attrs["observations_per_year"] == 365.25
    explicit = report.return_levels(rain_fixed_fit, [10, 100], 365.25)
    default = report.return_levels(rain_fixed_fit, [10, 100])
    pd.testing.assert_frame_equal(explicit, default)
    assert default.attrs["observations_per_period"] == 365.25


def test_danish_var_and_es_match_mcneil_frey_embrechts(danish_fixed_fit):
    # McNeil, Frey & Embrechts (2005): 99% VaR 27.3, 99% ES 58.2 (GPD above u = 10).
    var = report.value_at_risk(danish_fixed_fit, [0.99])
    es = report.expected_shortfall(danish_fixed_fit, [0.99])
    assert var.loc[0.99, "median"] == pytest.approx(27.3, rel=0.10)
    assert es.loc[0.99, "median"] == pytest.approx(58.2, rel=0.10)
    assert var.loc[0.99, "ci_lower"] < 27.3 < var.loc[0.99, "ci_upper"]
    assert es.loc[0.99, "ci_lower"] < 58.2 < es.loc[0.99, "ci_upper"]


def test_danish_tail_shape_near_published_mle(danish_fixed_fit):
    # McNeil (1997): xi = 0.497 (se 0.136), sigma = 6.98 (se 1.11) above u = 10.
    table = report.tail_shape_posterior(danish_fixed_fit)
    row = table.loc["upper"]
    assert row["median"] == pytest.approx(0.497, abs=0.136)
    assert row["sigma_median"] == pytest.approx(6.98, abs=1.11)
    assert row["threshold_median"] == 10.0


# ----------------------------------------------------------------------------- cross-checks


def _scipy_upper_quantiles(fit, probs):
    """u + G^{-1} of the GPD excess, from the posterior draws, via scipy.stats.genpareto."""
    u, a = _draws(fit, "upper_threshold"), _draws(fit, "upper_tail_prob")
    xi, sigma = _draws(fit, "upper_xi"), _draws(fit, "upper_sigma")
    survival = (1 - np.asarray(probs))[:, None] / a
    assert np.all(survival < 1), "the test needs levels beyond every draw's threshold"
    return u + stats.genpareto.isf(survival, xi, scale=sigma)


def _scipy_lower_quantiles(fit, probs):
    u, a = _draws(fit, "lower_threshold"), _draws(fit, "lower_tail_prob")
    xi, sigma = _draws(fit, "lower_xi"), _draws(fit, "lower_sigma")
    survival = np.asarray(probs)[:, None] / a
    assert np.all(survival < 1), "the test needs levels beyond every draw's threshold"
    return u - stats.genpareto.isf(survival, xi, scale=sigma)


@pytest.mark.parametrize("fixture", ["danish_fixed_fit", "danish_default_fit", "student_t_fit"])
def test_upper_tail_quantiles_match_scipy_genpareto(fixture, request):
    fit = request.getfixturevalue(fixture)
    # Beyond every draw's threshold: the outermost candidate leaves ~1.4% of the data above it.
    probs = [0.995, 0.999, 0.9999]
    table = report.tail_quantiles(fit, probs)
    per_draw = _scipy_upper_quantiles(fit, probs)
    _assert_summary_matches(table, per_draw)
    np.testing.assert_allclose(table["mean"], per_draw.mean(axis=-1), rtol=1e-9)
    assert (table["tail"] == "upper").all()
    assert (table["in_tail_fraction"] == 1.0).all()


def test_lower_tail_quantiles_match_scipy_genpareto(student_t_fit):
    probs = [0.0001, 0.001, 0.005]
    table = report.tail_quantiles(student_t_fit, probs)
    _assert_summary_matches(table, _scipy_lower_quantiles(student_t_fit, probs))
    assert (table["tail"] == "lower").all()
    # The lower-tail VaR at level 0.99 is the 1% quantile, on the data's scale (negative).
    var = report.value_at_risk(student_t_fit, [0.99], tail="lower")
    _assert_summary_matches(var, _scipy_lower_quantiles(student_t_fit, [0.01]))
    assert var.loc[0.99, "prob"] == pytest.approx(0.01)
    assert var.loc[0.99, "median"] < 0


def test_body_quantile_is_labelled_body(student_t_fit):
    table = report.tail_quantiles(student_t_fit, [0.5])
    assert table.loc[0.5, "tail"] == "body"
    assert table.loc[0.5, "in_tail_fraction"] == 0.0
    assert abs(table.loc[0.5, "median"]) < 0.2  # t3 centred at 0


def test_exceedance_probability_matches_scipy_genpareto(rain_fixed_fit):
    x = np.array([60.0, 100.0, 150.0])
    table = report.exceedance_probability(rain_fixed_fit, x)
    fit = rain_fixed_fit
    u, a = _draws(fit, "upper_threshold"), _draws(fit, "upper_tail_prob")
    per_draw = a * stats.genpareto.sf(
        x[:, None] - u, _draws(fit, "upper_xi"), scale=_draws(fit, "upper_sigma")
    )
    _assert_summary_matches(table, per_draw)
    np.testing.assert_allclose(table["predictive"], per_draw.mean(axis=-1), rtol=1e-9)
    np.testing.assert_allclose(table["return_period"], 1 / (per_draw.mean(axis=-1) * 365.25), rtol=1e-9)
    assert table.index.tolist() == x.tolist()


def test_lower_exceedance_probability_matches_scipy_genpareto(student_t_fit):
    fit = student_t_fit
    x = np.array([-8.0, -5.0])
    table = report.exceedance_probability(fit, x, tail="lower")
    u, a = _draws(fit, "lower_threshold"), _draws(fit, "lower_tail_prob")
    per_draw = a * stats.genpareto.sf(
        u - x[:, None], _draws(fit, "lower_xi"), scale=_draws(fit, "lower_sigma")
    )
    _assert_summary_matches(table, per_draw)
    np.testing.assert_allclose(table["predictive"], per_draw.mean(axis=-1), rtol=1e-9)
    assert "return_period" not in table  # no observations_per_year on simulated data


def _es_by_quadrature(dist, level):
    """(1 / (1 - level)) ∫_level^1 Q(p) dp by quadrature. The body part is integrated
    in p with the kinks of the piecewise-linear body quantile (cumulative bin masses)
    as break points; the GPD part with p = 1 - a e^{-v}, which turns the integrable
    singularity of a heavy tail at p = 1 into a decaying integrand."""
    tail_mass = float(dist.upper_tail_prob)
    start = max(level, 1 - tail_mass)
    # For xi < 0.9 the integrand decays at least like e^{-v/10}: e^{-60} beyond v = 600.
    tail_part, _ = integrate.quad(
        lambda v: float(dist.isf((1 - start) * np.exp(-v))) * np.exp(-v), 0, 600, limit=200
    )
    total = tail_part * (1 - start)
    if level < 1 - tail_mass:
        kinks = np.cumsum(dist.bin_probs)
        kinks = kinks[(kinks > level) & (kinks < start)]
        body, _ = integrate.quad(lambda p: float(dist.ppf(p)), level, start, points=kinks, limit=400)
        total += body
    return total / (1 - level)


@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_expected_shortfall_matches_numerical_integration(danish_fixed_fit, level):
    xi = _draws(danish_fixed_fit, "upper_xi")
    picks = np.flatnonzero(xi < 0.9)[[0, 250, 500]]  # quadrature needs a clearly finite mean
    for index in picks:
        single = _single_draw(danish_fixed_fit, int(index))
        dist = single.distribution()[0]
        table = report.expected_shortfall(single, [level])
        assert table.loc[level, "median"] == pytest.approx(_es_by_quadrature(dist, level), rel=1e-6)


def test_lower_expected_shortfall_matches_numerical_integration(student_t_fit):
    level = 0.99
    single = _single_draw(student_t_fit, 123)
    # E[X | X < Q(0.01)] of X is minus the upper-tail ES of -X.
    mirrored = single.distribution().mirror()[0]
    table = report.expected_shortfall(single, [level], tail="lower")
    assert table.loc[level, "median"] == pytest.approx(-_es_by_quadrature(mirrored, level), rel=1e-6)
    var = report.value_at_risk(single, [level], tail="lower")
    assert table.loc[level, "median"] < var.loc[level, "median"]


def test_return_level_is_the_tail_quantile_at_one_minus_one_over_t_n(danish_fixed_fit):
    periods = np.array([10.0, 100.0])
    n_per_year = 197.0
    levels = report.return_levels(danish_fixed_fit, periods, n_per_year)
    quantiles = report.tail_quantiles(danish_fixed_fit, 1 - 1 / (periods * n_per_year))
    for column in ("median", "ci_lower", "ci_upper", "mean"):
        np.testing.assert_allclose(levels[column], quantiles[column], rtol=1e-9)
    np.testing.assert_allclose(levels["predictive"], quantiles["predictive"], rtol=1e-8)
    np.testing.assert_allclose(levels["exceedance_prob"], 1 / (periods * n_per_year))


def test_lower_return_level_is_undercut_once_per_period(student_t_fit):
    levels = report.return_levels(student_t_fit, [5.0], observations_per_period=100, tail="lower")
    quantiles = report.tail_quantiles(student_t_fit, [1 / 500])
    for column in ("median", "ci_lower", "ci_upper", "predictive"):
        np.testing.assert_allclose(levels[column], quantiles[column], rtol=1e-8)


def test_score_inverts_the_quantile_function_of_one_draw(student_t_fit):
    single = _single_draw(student_t_fit, 7)
    dist = single.distribution()[0]
    # (0.5 itself is avoided: the rounding of ppf/cdf decides its side.)
    probs = np.array([1e-6, 0.001, 0.2, 0.6, 0.9, 0.999, 1 - 1e-6])
    values = dist.ppf(probs)
    table = report.score(single, values)
    np.testing.assert_allclose(table["pit"], probs, rtol=1e-7)
    # One draw: the interval collapses onto the value.
    np.testing.assert_allclose(table["median"], table["pit"])
    np.testing.assert_allclose(table["ci_lower"], table["ci_upper"])
    expected_tail = 2 * np.minimum(probs, 1 - probs)
    np.testing.assert_allclose(table["tail_probability"], expected_tail, rtol=1e-6)
    assert table["tail"].tolist() == ["lower"] * 3 + ["upper"] * 4


def test_score_of_the_predictive_quantile_is_its_level(danish_default_fit):
    probs = np.array([0.05, 0.5, 0.99, 0.999])
    quantiles = report.tail_quantiles(danish_default_fit, probs)
    scored = report.score(danish_default_fit, quantiles["predictive"].to_numpy())
    np.testing.assert_allclose(scored["pit"], probs, rtol=1e-8)
    # The predictive quantile is not the median of the per-draw quantiles: in a heavy
    # tail it lies further out (it carries the uncertainty of xi).
    assert quantiles.loc[0.999, "predictive"] > quantiles.loc[0.999, "median"]


def test_pit_of_fitted_data_is_roughly_uniform(danish_fixed_fit):
    table = report.score(danish_fixed_fit, danish_fixed_fit.data)
    pit = table["pit"].to_numpy()
    assert table.index.equals(danish_fixed_fit.data.index)
    assert abs(pit.mean() - 0.5) < 0.03
    for q in (0.1, 0.5, 0.9):
        assert abs((pit < q).mean() - q) < 0.03


def test_score_keeps_series_index_and_far_values_are_unusual(student_t_fit):
    values = pd.Series([-50.0, 0.0, 50.0], index=pd.Index(["low", "mid", "high"], name="play"))
    table = report.score(student_t_fit, values)
    assert table.index.equals(values.index)
    assert table.loc["mid", "tail_probability"] > 0.5
    for name in ("low", "high"):
        assert 0 < table.loc[name, "tail_probability"] < 1e-3
        row = table.loc[name]
        assert row["tail_probability_ci_lower"] <= row["tail_probability"] <= row["tail_probability_ci_upper"]
    # Far in the upper tail the survival side keeps precision: 1 - pit is not rounded to 0.
    # (1e9: far enough that even the heaviest posterior draws of ξ give survival < 1e-12.)
    far = report.score(student_t_fit, [1e9])
    assert 0 < far["tail_probability"].iloc[0] < 1e-12


def test_hdi_is_no_wider_than_eti_and_holds_its_mass(rain_fixed_fit):
    fit = rain_fixed_fit
    eti = report.return_levels(fit, [100], ci_kind="eti")
    hdi = report.return_levels(fit, [100], ci_kind="hdi")
    assert hdi.attrs["ci_kind"] == "hdi"
    width = hdi["ci_upper"] - hdi["ci_lower"]
    assert (width <= eti["ci_upper"] - eti["ci_lower"]).all()
    per_draw = fit.distribution().isf(1 / (100 * 365.25))
    inside = (per_draw >= hdi["ci_lower"].iloc[0]) & (per_draw <= hdi["ci_upper"].iloc[0])
    assert inside.mean() >= CI - 1 / per_draw.size
    pd.testing.assert_series_equal(eti["median"], hdi["median"])


def test_ci_prob_sets_the_interval(danish_fixed_fit):
    narrow = report.value_at_risk(danish_fixed_fit, [0.99], ci_prob=0.5)
    per_draw = _scipy_upper_quantiles(danish_fixed_fit, [0.99])
    np.testing.assert_allclose(narrow["ci_lower"], np.quantile(per_draw, 0.25, axis=-1), rtol=1e-9)
    np.testing.assert_allclose(narrow["ci_upper"], np.quantile(per_draw, 0.75, axis=-1), rtol=1e-9)
    assert (narrow["ci_prob"] == 0.5).all()


# ----------------------------------------------------------------------------- infinite ES


def _note_percentage(note: str) -> float:
    """The percentage an expected-shortfall note states, e.g. 0.05 from '(0.05%, ...'."""
    return float(re.search(r"\(([0-9.e+-]+)%", note).group(1))


@pytest.mark.parametrize("infinite_share", [0.3, 0.6])
def test_expected_shortfall_keeps_infinite_draws(danish_fixed_fit, infinite_share):
    post = danish_fixed_fit.idata["posterior"].to_dataset()
    xi = post["upper_xi"].values.copy()
    heavy = np.arange(xi.size) < infinite_share * xi.size
    xi = np.minimum(xi, 0.95)  # every other draw keeps a finite mean
    xi.reshape(-1)[heavy] = 1.2  # no finite mean in these draws
    changed = _with_posterior(danish_fixed_fit, post.assign(upper_xi=(("chain", "draw"), xi)))
    table = report.expected_shortfall(changed, [0.99])
    row = table.loc[0.99]
    assert row["infinite_fraction"] == pytest.approx(heavy.mean())
    assert row["ci_upper"] == np.inf
    assert row["mean"] == np.inf and row["predictive"] == np.inf
    assert f"in {heavy.sum()} of {heavy.size} draws" in row["note"] and "xi >= 1" in row["note"]
    assert _note_percentage(row["note"]) == pytest.approx(100 * row["infinite_fraction"], rel=1e-3)
    if infinite_share > 0.5:
        assert row["median"] == np.inf
    else:
        finite = changed.distribution().mean_above(0.99)
        assert row["median"] == pytest.approx(np.quantile(np.where(np.isinf(finite), 1e300, finite), 0.5))
        assert np.isfinite(row["ci_lower"])


def test_expected_shortfall_of_finite_draws_says_so(student_t_fit):
    table = report.expected_shortfall(student_t_fit)
    assert (table["infinite_fraction"] == 0).all()
    assert (table["note"] == "finite in every draw").all()
    var = report.value_at_risk(student_t_fit)
    assert (table["median"] > var["median"]).all()
    # The predictive ES is the ES of the mixture beyond the mixture's own VaR.
    assert (table["predictive"] > var["predictive"]).all()


@pytest.mark.parametrize("level", [0.7, 0.99])  # VaR in the body / in the GPD tail of every draw
def test_predictive_expected_shortfall_integrates_the_predictive_survival(student_t_fit, level):
    # ES = q + (1 / (1 - level)) ∫_q^∞ S(x) dx for the mixture S = mean_s S_s, q its VaR.
    dist = student_t_fit.distribution()
    q = report.value_at_risk(student_t_fit, [level]).loc[level, "predictive"]
    assert dist.sf(q).mean() == pytest.approx(1 - level, rel=1e-9)
    tail_start = float(dist.upper_threshold.max())
    edges = student_t_fit.design.bin_edges
    body = 0.0
    if q < tail_start:
        kinks = edges[(edges > q) & (edges < tail_start)]
        body, _ = integrate.quad(lambda x: dist.sf(x).mean(), q, tail_start, points=kinks, limit=400)
    # The mixture of heavy GPD tails decays slowly: integrate decade by decade (one quad to
    # infinity from the start meets roundoff in QUADPACK's extrapolation table).
    # The mixture of heavy GPD tails (ξ up to ~0.9) decays too slowly for one quad to
    # infinity: quad decade by decade up to B, then the exact GPD mean excess beyond B,
    # ∫_B^∞ a Ḡ(x - u) dx = a Ḡ(B - u) (σ + ξ (B - u)) / (1 - ξ), from scipy's survival.
    start = max(q, tail_start)
    breaks = [start, *(start + 10.0**k for k in range(0, 7))]
    tail = sum(
        integrate.quad(lambda x: dist.sf(x).mean(), a, b, limit=400)[0] for a, b in itertools.pairwise(breaks)
    )
    far = breaks[-1] - dist.upper_threshold
    xi, sigma = dist.upper_xi, dist.upper_sigma
    beyond = dist.upper_tail_prob * stats.genpareto.sf(far, xi, scale=sigma) * (sigma + xi * far) / (1 - xi)
    tail += beyond.mean()
    expected = q + (body + tail) / (1 - level)
    table = report.expected_shortfall(student_t_fit, [level])
    assert table.loc[level, "predictive"] == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- thresholds


def test_threshold_posterior_sums_to_one_and_matches_draw_frequencies(danish_default_fit, student_t_fit):
    for fit in (danish_default_fit, student_t_fit):
        table = report.threshold_posterior(fit)
        assert sorted(table.index.get_level_values("tail").unique()) == sorted(fit._sides())
        for side, rows in table.groupby(level="tail"):
            assert rows["weight"].sum() == pytest.approx(1.0)
            assert rows["prior"].sum() == pytest.approx(1.0)
            assert rows["draw_frequency"].sum() == pytest.approx(1.0)
            np.testing.assert_allclose(rows["prior"], 1 / len(rows))
            # Given the NUTS draws, each threshold is an independent categorical draw with
            # the stored probabilities, so frequency - posterior has this exact variance.
            probs = np.exp(_draws(fit, f"{side}_threshold_logprob"))
            sd = np.sqrt((probs * (1 - probs)).mean(axis=0) / probs.shape[0])
            gap = np.abs(rows["draw_frequency"].to_numpy() - rows["weight"].to_numpy())
            assert np.all(gap <= 5 * sd + 1e-12), (side, gap, sd)
            thresholds = fit.design.lower_thresholds if side == "lower" else fit.design.upper_thresholds
            np.testing.assert_array_equal(rows["threshold"], thresholds)
            counts = rows["exceedances"].to_numpy()
            # Higher upper thresholds leave fewer points above; higher lower ones more below.
            assert np.all(np.diff(counts) < 0) if side == "upper" else np.all(np.diff(counts) > 0)


@pytest.mark.parametrize(
    ("fixture", "threshold", "exceedances"),
    [("danish_fixed_fit", 10.0, 109), ("rain_fixed_fit", 30.0, 152)],  # docs/published_checks.md
)
def test_fixed_threshold_has_one_candidate_with_posterior_one(fixture, threshold, exceedances, request):
    table = report.threshold_posterior(request.getfixturevalue(fixture))
    assert len(table) == 1
    row = table.loc[("upper", 0)]
    assert row["threshold"] == threshold
    assert row["exceedances"] == exceedances
    assert row["prior"] == row["weight"] == row["draw_frequency"] == 1.0


def test_threshold_posterior_reports_a_user_prior(danish_default_fit):
    n_candidates = danish_default_fit.design.upper_candidates.size
    weights = np.arange(1, n_candidates + 1, dtype=float)
    config = {**danish_default_fit.config, "threshold_priors": {"upper": weights.tolist()}}
    changed = _with_posterior(
        danish_default_fit, danish_default_fit.idata["posterior"].to_dataset(), config=config
    )
    table = report.threshold_posterior(changed)
    np.testing.assert_allclose(table["prior"], weights / weights.sum())


def test_tail_shape_posterior_per_tail(student_t_fit):
    table = report.tail_shape_posterior(student_t_fit)
    assert table.index.tolist() == ["lower", "upper"]
    for side in ("lower", "upper"):
        xi = _draws(student_t_fit, f"{side}_xi")
        row = table.loc[side]
        assert row["median"] == pytest.approx(np.median(xi))
        assert row["prob_xi_positive"] == pytest.approx((xi > 0).mean())
        assert row["prob_infinite_variance"] == pytest.approx((xi >= 0.5).mean())
        # Independent reference: the GPD maximum-likelihood shape of the excesses over the
        # posterior median threshold lies inside the interval. (Not t3's limiting 1/3: at
        # thresholds this low the GPD shape of a Student-t is biased towards 0.)
        oriented = student_t_fit.data.to_numpy() * (1 if side == "upper" else -1)
        threshold = row["threshold_median"] * (1 if side == "upper" else -1)
        excess = oriented[oriented > threshold] - threshold
        mle_xi = stats.genpareto.fit(excess, floc=0)[0]
        assert row["ci_lower"] < mle_xi < row["ci_upper"]
        assert row["prob_infinite_mean"] <= row["prob_infinite_variance"] <= row["prob_xi_positive"]


# ----------------------------------------------------------------------------- errors


def test_asking_for_a_missing_tail_is_an_error(danish_fixed_fit):
    for call in (
        lambda: report.return_levels(danish_fixed_fit, tail="lower"),
        lambda: report.value_at_risk(danish_fixed_fit, tail="lower"),
        lambda: report.expected_shortfall(danish_fixed_fit, tail="lower"),
        lambda: report.exceedance_probability(danish_fixed_fit, 1.0, tail="lower"),
    ):
        with pytest.raises(ValueError, match=r"no lower tail.*tails='upper'"):
            call()
    with pytest.raises(ValueError, match="tail must be 'upper' or 'lower'"):
        report.value_at_risk(danish_fixed_fit, tail="both")


@pytest.mark.parametrize("probs", [[0.0], [1.0], [0.5, 1.5], [-0.1], [99.0]])
def test_probabilities_outside_zero_one_are_errors(danish_fixed_fit, probs):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        report.tail_quantiles(danish_fixed_fit, probs)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        report.expected_shortfall(danish_fixed_fit, probs)


def test_bad_arguments_are_errors(danish_fixed_fit):
    fit = danish_fixed_fit
    with pytest.raises(ValueError, match="contains NaN"):
        report.tail_quantiles(fit, [0.5, np.nan])
    with pytest.raises(ValueError, match="is empty"):
        report.value_at_risk(fit, [])
    with pytest.raises(ValueError, match="1-D"):
        report.score(fit, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="periods must be positive"):
        report.return_levels(fit, [0, 10])
    with pytest.raises(ValueError, match="more than one observation"):
        report.return_levels(fit, [0.5], observations_per_period=1)
    with pytest.raises(ValueError, match="observations_per_period must be a positive number"):
        report.return_levels(fit, [10], observations_per_period=-3)
    with pytest.raises(ValueError, match="ci_prob must lie strictly between 0 and 1"):
        report.value_at_risk(fit, ci_prob=95)
    with pytest.raises(ValueError, match=r"ci_kind must be 'eti'.*or 'hdi'"):
        report.value_at_risk(fit, ci_kind="hpd")


def test_missing_observations_per_period_is_an_error(danish_fixed_fit):
    data = danish_fixed_fit.data.copy()
    data.attrs = {}
    bare = _with_posterior(danish_fixed_fit, danish_fixed_fit.idata["posterior"].to_dataset(), data=data)
    with pytest.raises(ValueError, match="pass observations_per_period"):
        report.return_levels(bare, [100])
    # Passing it works, and exceedance tables simply leave the return period out.
    assert len(report.return_levels(bare, [100], observations_per_period=197)) == 1
    assert "return_period" not in report.exceedance_probability(bare, [50.0])


# ----------------------------------------------------------------------------- structure


STRUCTURE = {
    "tail_quantiles": (
        lambda fit: report.tail_quantiles(fit),
        "prob",
        ["tail", "median", "ci_lower", "ci_upper", "mean", "predictive", "in_tail_fraction", "ci_prob"],
    ),
    "return_levels": (
        lambda fit: report.return_levels(fit),
        "return_period",
        ["tail", "exceedance_prob", "median", "ci_lower", "ci_upper", "mean", "predictive", "ci_prob"],
    ),
    "exceedance_probability": (
        lambda fit: report.exceedance_probability(fit, [20.0, 50.0]),
        "value",
        ["tail", "median", "ci_lower", "ci_upper", "predictive", "return_period", "ci_prob"],
    ),
    "value_at_risk": (
        lambda fit: report.value_at_risk(fit),
        "level",
        ["tail", "prob", "median", "ci_lower", "ci_upper", "mean", "predictive", "ci_prob"],
    ),
    "expected_shortfall": (
        lambda fit: report.expected_shortfall(fit),
        "level",
        [
            "tail",
            "median",
            "ci_lower",
            "ci_upper",
            "mean",
            "predictive",
            "infinite_fraction",
            "note",
            "ci_prob",
        ],
    ),
    "tail_shape_posterior": (
        lambda fit: report.tail_shape_posterior(fit),
        "tail",
        [
            "median",
            "ci_lower",
            "ci_upper",
            "mean",
            "prob_xi_positive",
            "prob_infinite_variance",
            "prob_infinite_mean",
            "sigma_median",
            "sigma_ci_lower",
            "sigma_ci_upper",
            "threshold_median",
            "tail_prob_median",
            "ci_prob",
        ],
    ),
    "score": (
        lambda fit: report.score(fit, [2.0, 30.0]),
        "observation",
        [
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
        ],
    ),
}
TEXT_COLUMNS = {"tail", "note"}


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_table_structure(danish_fixed_fit, name):
    make, index_name, columns = STRUCTURE[name]
    table = make(danish_fixed_fit)
    assert table.index.name == index_name
    assert table.columns.tolist() == columns
    for column in columns:
        kind = table[column].dtype.kind
        assert (kind == "O") if column in TEXT_COLUMNS else (kind == "f"), (column, table[column].dtype)
    assert np.isfinite(table.index.to_numpy()).all() if table.index.dtype.kind == "f" else True
    assert table.attrs["units"] == "million DKK"
    assert table.attrs["ci_prob"] == CI and table.attrs["ci_kind"] == "eti"
    assert table.attrs["n_draws"] == danish_fixed_fit.n_draws
    numeric = table[[c for c in columns if c not in TEXT_COLUMNS]]
    assert not numeric.isna().any().any()
    assert (table["ci_lower"] <= table["median"]).all() and (table["median"] <= table["ci_upper"]).all()


def test_threshold_posterior_structure(danish_default_fit):
    table = report.threshold_posterior(danish_default_fit)
    assert table.index.names == ["tail", "candidate"]
    assert table.columns.tolist() == [
        "threshold",
        "exceedances",
        "prior",
        "weight",
        "draw_frequency",
        "cv_score",
        "cv_score_se",
    ]
    assert table.attrs["weights"] == "cross-validation"  # the default fit's weights, named as such
    assert table["exceedances"].dtype.kind == "i"
    for column in ("threshold", "prior", "weight", "draw_frequency", "cv_score", "cv_score_se"):
        assert table[column].dtype.kind == "f"
    # The weights are prior x exp(cv_score), normalised.
    expected = table["prior"] * np.exp(table["cv_score"] - table["cv_score"].max())
    np.testing.assert_allclose(table["weight"], expected / expected.sum(), rtol=1e-9)


def test_fit_methods_delegate_to_report(student_t_fit):
    fit = student_t_fit
    pairs = [
        (fit.tail_quantiles([0.01, 0.99]), report.tail_quantiles(fit, [0.01, 0.99])),
        (fit.return_levels([10], 250, tail="lower"), report.return_levels(fit, [10], 250, tail="lower")),
        (fit.exceedance_probability([3.0]), report.exceedance_probability(fit, [3.0])),
        (fit.value_at_risk([0.9], tail="lower"), report.value_at_risk(fit, [0.9], tail="lower")),
        (fit.expected_shortfall([0.9]), report.expected_shortfall(fit, [0.9])),
        (fit.threshold_posterior(), report.threshold_posterior(fit)),
        (fit.threshold_weights(), report.threshold_weights(fit)),
        (fit.tail_shape_posterior(ci_prob=0.9), report.tail_shape_posterior(fit, ci_prob=0.9)),
        (fit.score([0.0], ci_kind="hdi"), report.score(fit, [0.0], ci_kind="hdi")),
    ]
    for from_fit, from_report in pairs:
        pd.testing.assert_frame_equal(from_fit, from_report)
