"""Tests of sbp_bayes.plots on the session-wide fitted models (tests/fit_fixtures.py).

Every figure is written to a PNG and read back: it must not be blank, its axes must be
labelled (with the data's units where they are known), and it must be a Figure that
pyplot does not track. The numbers behind the figures (densities, quantiles, return
levels, threshold probabilities) are checked against independent computations.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere in this module

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from scipy import stats

from sbp_bayes import plots
from sbp_bayes.fit import SBPFit

FIXTURES = ["danish_fixed_fit", "danish_default_fit", "student_t_fit", "rain_fixed_fit"]
UNITS = {"danish_fixed_fit": "million DKK", "danish_default_fit": "million DKK", "rain_fixed_fit": "mm"}

# Which axis label of the first panel names the data's units, per figure (None: unitless).
FIGURES = {
    "density": (plots.plot_density, {}, ("x", "y")),
    "density_log": (plots.plot_density, {"scale": "log"}, ("x", "y")),
    "qq": (plots.plot_qq, {}, ("x", "y")),
    "pp": (plots.plot_pp, {}, None),
    "return_levels": (plots.plot_return_levels, {}, ("y",)),
    "threshold_posterior": (plots.plot_threshold_posterior, {}, ("x",)),
    "tail_shape": (plots.plot_tail_shape, {}, None),
    "trace": (plots.plot_trace, {}, None),
    "rank": (plots.plot_rank, {}, None),
    "posterior_predictive": (plots.plot_posterior_predictive, {"n_draws": 20, "random_seed": 1}, ("x",)),
}
SINGLE_PANEL = ["density", "qq", "pp", "return_levels", "posterior_predictive"]
PER_TAIL = ["threshold_posterior", "tail_shape"]


@pytest.fixture(scope="module")
def drawn(request):
    """``drawn(figure, fixture)``: the figure of ``FIGURES[figure]`` for that fitted model,
    drawn once per module — the checks of the numbers behind a figure reuse the figure
    the drawing test made (figures outside pyplot need no closing)."""
    cache = {}

    def get(figure: str, fixture: str) -> Figure:
        if (figure, fixture) not in cache:
            function, options, _ = FIGURES[figure]
            cache[figure, fixture] = function(request.getfixturevalue(fixture), **options)
        return cache[figure, fixture]

    return get


@pytest.fixture(autouse=True)
def no_pyplot_leak():
    """Plots must leave pyplot's registry as they found it (and tests close what they open)."""
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    for number in leaked:
        plt.close(number)
    assert not leaked, f"figures left open in pyplot: {sorted(leaked)}"


def assert_not_blank(path) -> None:
    """The PNG has a real drawing: >3% of pixels differ from the background colour and
    there are many distinct colours (lines, fills, text anti-aliasing)."""
    image = matplotlib.image.imread(path)
    pixels = (image[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    background_share = counts.max() / pixels.shape[0]
    assert background_share < 0.97, f"{path.name}: {background_share:.1%} of pixels are the background"
    assert colours.shape[0] > 20, f"{path.name}: only {colours.shape[0]} distinct colours"


def drawn_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.axison]


def _first_draws(fit, n_draws: int) -> SBPFit:
    """The fit with only its first ``n_draws`` draws per chain (a cheap, tiny posterior)."""
    tree = fit.idata.copy()
    tree["posterior"] = xr.DataTree(fit.posterior.isel(draw=slice(0, n_draws)))
    return SBPFit(tree, fit.data, fit.design, fit.config, fit.version)


# ----------------------------------------------------------------------------- every figure


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("figure", list(FIGURES))
def test_figure_is_drawn_labelled_and_saved(figure, fixture, drawn, tmp_path):
    _, _, unit_axes = FIGURES[figure]
    fig = drawn(figure, fixture)
    assert isinstance(fig, Figure)
    path = plots.save_figure(fig, tmp_path / f"{figure}_{fixture}", dpi=50)
    assert path.suffix == ".png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_not_blank(path)

    axes = drawn_axes(fig)
    assert axes
    assert all(ax.get_xlabel() or ax.get_ylabel() for ax in axes), "an unlabelled panel"
    has_title = bool(fig.get_suptitle()) or all(ax.get_title() for ax in axes)
    assert has_title
    units = UNITS.get(fixture)
    if unit_axes and units:
        first = axes[0]
        for axis in unit_axes:
            label = first.get_xlabel() if axis == "x" else first.get_ylabel()
            assert units in label, f"{axis} label {label!r} lacks the units {units!r}"
    if unit_axes and not units:
        assert "(None)" not in axes[0].get_xlabel() + axes[0].get_ylabel()


@pytest.mark.parametrize("figure", SINGLE_PANEL)
def test_single_panel_figures_draw_into_the_given_axes(figure, danish_fixed_fit):
    function, options, _ = FIGURES[figure]
    host = Figure()
    left, right = host.subplots(1, 2)
    returned = function(danish_fixed_fit, **options, ax=right)
    assert returned is host
    assert len(right.lines) + len(right.collections) + len(right.patches) > 0
    assert not (left.lines or left.collections or left.patches)
    assert len(host.axes) == 2  # nothing added (a legend is not an axes)


@pytest.mark.parametrize("figure", PER_TAIL)
def test_per_tail_figures_take_one_axes_per_tail(figure, student_t_fit, danish_fixed_fit):
    function, _, _ = FIGURES[figure]
    host = Figure()
    lower, upper = host.subplots(1, 2)
    assert function(student_t_fit, ax=[lower, upper]) is host
    assert "lower" in lower.get_xlabel() and "upper" in upper.get_xlabel()
    with pytest.raises(ValueError, match="2 Axes"):
        function(student_t_fit, ax=upper)
    single = Figure().subplots()
    assert function(danish_fixed_fit, ax=single) is single.figure


# ----------------------------------------------------------------------------- density


def test_density_histogram_is_normalised_and_uses_the_fit_bins(danish_default_fit, drawn):
    ax = drawn("density", "danish_default_fit").axes[0]
    (histogram,) = [patch for patch in ax.patches if isinstance(patch, StepPatch)]
    heights, edges, _ = histogram.get_data()
    assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0, abs=1e-12)
    body_edges = danish_default_fit.design.bin_edges[1:-1]
    assert np.isin(body_edges, edges).all()
    values = danish_default_fit.data.values
    assert edges[0] <= values.min() and edges[-1] >= values.max()
    # The one outer tail bin of the fit is split into several, narrowest at the threshold.
    beyond = edges[edges >= body_edges[-1]]
    assert beyond.size >= 4 and np.all(np.diff(np.diff(beyond)) > 0)


@pytest.mark.parametrize("fixture", ["danish_fixed_fit", "student_t_fit", "rain_fixed_fit"])
def test_predictive_density_integrates_to_one(fixture, drawn):
    ax = drawn("density", fixture).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    predictive = lines["posterior predictive density"]
    grid, density = predictive.get_xdata(), predictive.get_ydata()
    # The grid spans the data (and 5% beyond on tail sides): only the far tails are missing.
    assert np.all(np.diff(grid) > 0)
    assert 0.97 < np.trapezoid(density, grid) < 1.0 + 1e-3
    median = lines["posterior median density"].get_ydata()
    (band,) = [c for c in ax.collections if "credible band" in c.get_label()]
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert low <= median.min() and median.max() <= high


def test_density_marks_the_thresholds(student_t_fit, drawn):
    ax = drawn("density", "danish_fixed_fit").axes[0]
    (line,) = [line for line in ax.lines if "threshold" in line.get_label()]
    assert line.get_xdata()[0] == pytest.approx(10.0)
    ax = drawn("density_log", "student_t_fit").axes[0]
    assert ax.get_yscale() == "log"
    for side in ("lower", "upper"):
        (line,) = [line for line in ax.lines if line.get_label().startswith(f"{side} threshold")]
        median = np.median(student_t_fit.idata["posterior"][f"{side}_threshold"].values)
        assert line.get_xdata()[0] == pytest.approx(median)


def test_density_value_axis_scale(danish_fixed_fit, student_t_fit, drawn):
    assert drawn("density", "danish_fixed_fit").axes[0].get_xscale() == "log"  # heavy and positive
    assert drawn("density", "rain_fixed_fit").axes[0].get_xscale() == "linear"  # zeros in the data
    assert plots.plot_density(danish_fixed_fit, xscale="linear").axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="positive data"):
        plots.plot_density(student_t_fit, xscale="log")
    with pytest.raises(ValueError, match="'linear' or 'log'"):
        plots.plot_density(student_t_fit, scale="cubic")
    with pytest.raises(ValueError, match="ci_prob"):
        plots.plot_density(student_t_fit, ci_prob=95)


# ----------------------------------------------------------------------------- QQ and PP


def test_plotting_ranks_keep_the_extremes():
    assert np.array_equal(plots._plotting_ranks(50, 100), np.arange(50))
    ranks = plots._plotting_ranks(100_000, 2000)
    assert ranks.size <= 2000 and np.all(np.diff(ranks) > 0)
    kept = plots.EXTREME_POINTS_KEPT
    assert np.isin(np.arange(kept), ranks).all() and np.isin(np.arange(100_000 - kept, 100_000), ranks).all()


def test_qq_points_are_order_statistics_against_model_quantiles(danish_fixed_fit, drawn):
    fit = danish_fixed_fit
    ax = drawn("qq", "danish_fixed_fit").axes[0]
    (points,) = [c for c in ax.collections if c.get_label().startswith("data")]
    x, y = np.asarray(points.get_offsets()).T
    n = len(fit.data)
    assert x.size == min(n, plots.MAX_PLOTTED_POINTS) and "of 2167" in points.get_label()
    observed = np.sort(fit.data.values)
    assert y[0] == observed[0] and y[-1] == observed[-1] and np.all(np.diff(y) >= 0)
    # The largest point sits at the median over the band's draws of Q_s((n - 0.5) / n).
    band_draws = plots._kept_draws(fit.n_draws, plots.MAX_BAND_DRAWS)
    expected_top = np.median(fit.distribution()[band_draws].ppf((n - 0.5) / n))
    assert x[-1] == pytest.approx(expected_top, rel=1e-12)
    # A fit of these data puts the body's order statistics close to the model quantiles.
    middle = slice(x.size // 10, -x.size // 10)
    assert np.median(np.abs(np.log(y[middle] / x[middle]))) < 0.05
    assert ax.get_xscale() == "log"


def test_pp_points_lie_in_the_unit_square_near_the_diagonal(student_t_fit, drawn):
    ax = drawn("pp", "student_t_fit").axes[0]
    (points,) = [c for c in ax.collections if c.get_label().startswith("data")]
    x, y = np.asarray(points.get_offsets()).T
    n = len(student_t_fit.data)
    assert np.allclose(y, (np.arange(n) + 0.5) / n)
    assert np.all((0 <= x) & (x <= 1)) and np.all(np.diff(x) >= 0)
    # Data from a t distribution, fitted by an SBP: the CDFs agree to a few percent.
    assert np.max(np.abs(x - y)) < 0.05


# ----------------------------------------------------------------------------- return levels


def _coles_return_level(fit, period, per_period):
    """Coles (2001, eq. 4.12): x_T = u + σ/ξ ((T n_y ζ_u)^ξ - 1), per draw, then the median."""
    post = fit.idata["posterior"]
    band_draws = plots._kept_draws(fit.n_draws, plots.MAX_BAND_DRAWS)
    u, sigma, xi, zeta = (
        post[name].values.reshape(-1)[band_draws]
        for name in ("upper_threshold", "upper_sigma", "upper_xi", "upper_tail_prob")
    )
    return np.median(u + sigma / xi * ((period * per_period * zeta) ** xi - 1))


def test_return_levels_match_coles_formula(rain_fixed_fit):
    fit = rain_fixed_fit
    periods = [1.0, 10.0, 100.0]
    ax = plots.plot_return_levels(fit, periods=periods).axes[0]
    (curve,) = [line for line in ax.lines if "median" in line.get_label()]
    per_year = fit.data.attrs["observations_per_year"]
    expected = [_coles_return_level(fit, period, per_year) for period in periods]
    assert np.allclose(curve.get_xdata(), periods)
    assert np.allclose(curve.get_ydata(), expected, rtol=1e-8)
    assert ax.get_xscale() == "log" and "years" in ax.get_xlabel()
    assert ax.get_yscale() == "linear"  # rain has zeros: no automatic log axis


def test_return_level_points_use_the_weibull_plotting_position(danish_fixed_fit, drawn):
    fit = danish_fixed_fit
    ax = drawn("return_levels", "danish_fixed_fit").axes[0]
    (points,) = [c for c in ax.collections if c.get_label().startswith("data")]
    period, level = np.asarray(points.get_offsets()).T
    n, per_year = len(fit.data), fit.data.attrs["observations_per_year"]
    top = np.argmax(level)
    assert level[top] == fit.data.max()
    assert period[top] == pytest.approx((n + 1) / per_year)
    # Only the points inside the range of the curve are drawn: the upper tail, not the body.
    (curve,) = [line for line in ax.lines if "median" in line.get_label()]
    assert curve.get_xdata().min() <= period.min() and period.max() <= curve.get_xdata().max()
    assert 50 < period.size < 200 and level.min() > np.quantile(fit.data.values, 0.9)
    assert ax.get_yscale() == "log"


def test_return_levels_without_periods_count_observations(student_t_fit):
    fit = student_t_fit
    assert "observations_per_year" not in fit.data.attrs
    ax = plots.plot_return_levels(fit, periods=[100, 1000]).axes[0]
    assert "observations" in ax.get_xlabel()
    (curve,) = [line for line in ax.lines if "median" in line.get_label()]
    assert np.allclose(curve.get_ydata(), [_coles_return_level(fit, t, 1.0) for t in (100, 1000)], rtol=1e-8)
    ax = plots.plot_return_levels(fit, tail="lower").axes[0]
    (curve,) = [line for line in ax.lines if "median" in line.get_label()]
    levels = curve.get_ydata()
    assert np.all(np.diff(levels) < 0) and levels[0] < np.median(fit.data.values)
    ax = plots.plot_return_levels(fit, observations_per_period=50, periods=[10]).axes[0]
    assert "50 observations" in ax.get_xlabel()


def test_return_levels_reject_bad_requests(danish_fixed_fit):
    with pytest.raises(ValueError, match="no lower tail"):
        plots.plot_return_levels(danish_fixed_fit, tail="lower")
    with pytest.raises(ValueError, match="longer than one observation"):
        plots.plot_return_levels(danish_fixed_fit, periods=[0.001, 10])
    with pytest.raises(ValueError, match="positive number"):
        plots.plot_return_levels(danish_fixed_fit, observations_per_period=0)


# ----------------------------------------------------------------------------- thresholds and ξ


def _bars(ax, label):
    (container,) = [c for c in ax.containers if c.get_label() == label]
    return np.array([bar.get_height() for bar in container])


def test_threshold_posterior_bars_agree_with_drawn_thresholds(student_t_fit, drawn):
    fig = drawn("threshold_posterior", "student_t_fit")
    posterior = student_t_fit.idata["posterior"]
    for side, ax in zip(("lower", "upper"), fig.axes, strict=True):
        rao_blackwell = _bars(ax, "cross-validation weight")  # the default fit's weights
        prior = _bars(ax, "prior")
        assert rao_blackwell.sum() == pytest.approx(1.0) and np.allclose(prior, 1.0 / prior.size)
        # Thresholds were drawn from exactly these per-draw probabilities: the frequency of
        # each drawn candidate matches the Rao-Blackwellised mean within Monte Carlo error.
        index = posterior[f"{side}_threshold_index"].values.reshape(-1)
        frequency = np.bincount(index, minlength=rao_blackwell.size) / index.size
        assert np.max(np.abs(frequency - rao_blackwell)) < 0.06
        labels = [tick.get_text() for tick in ax.get_xticklabels()]
        candidates = posterior[f"{side}_threshold_logprob"][f"{side}_candidate"].values
        assert labels == [f"{c:.4g}" for c in candidates]


def test_threshold_prior_bars_follow_the_fit_configuration(danish_default_fit, drawn):
    weights = np.arange(1.0, 11.0)
    fit = danish_default_fit
    reweighted = SBPFit(
        fit.idata, fit.data, fit.design, {**fit.config, "threshold_priors": {"upper": weights.tolist()}}, "0"
    )
    ax = plots.plot_threshold_posterior(reweighted).axes[0]
    assert np.allclose(_bars(ax, "prior"), weights / weights.sum())
    ax = drawn("threshold_posterior", "danish_fixed_fit").axes[0]
    assert np.allclose(_bars(ax, "posterior"), [1.0]) and np.allclose(_bars(ax, "prior"), [1.0])


def test_tail_shape_overlays_the_prior_density(student_t_fit, drawn):
    fig = drawn("tail_shape", "student_t_fit")
    for side, ax in zip(("lower", "upper"), fig.axes, strict=True):
        (prior,) = [line for line in ax.lines if line.get_label().startswith("prior")]
        config = student_t_fit.config["priors"][f"{side}_xi"]
        assert config["dist"] == "TruncatedNormal" and "sigma=0.5" in prior.get_label()
        grid = prior.get_xdata()
        expected = stats.truncnorm(
            (config["lower"] - config["mu"]) / config["sigma"],
            np.inf,
            loc=config["mu"],
            scale=config["sigma"],
        ).pdf(grid)
        assert np.allclose(prior.get_ydata(), expected)
        references = sorted(line.get_xdata()[0] for line in ax.lines if "ξ" in line.get_label())
        assert references == [0.0, 0.5, 1.0]
        heights = np.array([patch.get_height() for patch in ax.patches])
        widths = np.array([patch.get_width() for patch in ax.patches])
        assert np.sum(heights * widths) == pytest.approx(1.0)
        xi = student_t_fit.idata["posterior"][f"{side}_xi"].values
        assert grid.min() < xi.min() and grid.max() > max(xi.max(), 1.0)


# ----------------------------------------------------------------------------- ArviZ figures


def test_trace_and_rank_show_the_tail_parameters(danish_default_fit, drawn):
    fit = danish_default_fit
    trace = drawn("trace", "danish_default_fit")
    labels = " ".join(ax.get_ylabel() + ax.get_xlabel() for ax in trace.axes)
    assert all(name in labels for name in fit.parameter_names())  # upper_threshold included
    rank = drawn("rank", "danish_default_fit")
    titles = [ax.get_title() for ax in drawn_axes(rank)]
    # Thresholds are discrete: tied ranks would fail the rank test however well chains mix.
    assert sorted(titles) == sorted(name for name in fit.parameter_names() if not name.endswith("threshold"))
    chosen = plots.plot_rank(fit, var_names=["upper_xi"])
    assert [ax.get_title() for ax in drawn_axes(chosen)] == ["upper_xi"]
    with pytest.raises(ValueError, match="No posterior variable"):
        plots.plot_trace(fit, var_names=["upper_shape"])
    # ArviZ draws through pyplot; the figures come back detached (see no_pyplot_leak).
    assert all(isinstance(fig, Figure) for fig in (trace, rank, chosen))


# ----------------------------------------------------------------------------- predictive


def test_posterior_predictive_draws_replicates_of_the_data_size(danish_fixed_fit, student_t_fit):
    fig = plots.plot_posterior_predictive(danish_fixed_fit, n_draws=15, kind="survival", random_seed=3)
    ax = fig.axes[0]
    replicates = [line for line in ax.lines if line.get_color() != "black"]
    (observed,) = [line for line in ax.lines if line.get_label() == "observed data"]
    assert len(replicates) == 15
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    n = len(danish_fixed_fit.data)
    heights = observed.get_ydata()
    assert heights[0] == pytest.approx(1.0) and heights[-1] == pytest.approx(1.0 / n)
    # Replicates start where the data start: the body has a hard lower end at the first edge.
    assert all(line.get_xdata()[0] >= danish_fixed_fit.design.bin_edges[0] for line in replicates)
    again = plots.plot_posterior_predictive(danish_fixed_fit, n_draws=15, kind="survival", random_seed=3)
    assert np.array_equal(again.axes[0].lines[0].get_xdata(), replicates[0].get_xdata())

    ax = plots.plot_posterior_predictive(_first_draws(student_t_fit, 4), n_draws=100, random_seed=1).axes[0]
    n_chains = student_t_fit.idata["posterior"].sizes["chain"]
    assert len(ax.lines) == n_chains * 4 + 1  # capped at the draws there are (chains x 4)
    assert ax.get_xscale() == "linear" and ax.get_ylabel() == "empirical CDF"
    with pytest.raises(ValueError, match="kind"):
        plots.plot_posterior_predictive(student_t_fit, kind="pdf")


# ----------------------------------------------------------------------------- saving


def test_save_figure_creates_folders_and_keeps_a_given_suffix(tmp_path):
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    png = plots.save_figure(fig, tmp_path / "a" / "b" / "line")
    assert png == tmp_path / "a" / "b" / "line.png" and png.read_bytes()[:4] == b"\x89PNG"
    svg = plots.save_figure(fig, tmp_path / "line.svg")
    assert svg.suffix == ".svg" and b"<svg" in svg.read_bytes()[:500]
