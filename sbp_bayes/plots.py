"""Figures of a fitted spliced binned-Pareto model, each returning a matplotlib Figure.

Every function takes an :class:`~sbp_bayes.SBPFit` first and returns the
:class:`matplotlib.figure.Figure` it drew on. Nothing here calls ``plt.show()`` or
touches pyplot's global state: figures are made with :class:`matplotlib.figure.Figure`
directly (the two ArviZ figures are detached from pyplot after ArviZ draws them), so
they work under any backend, in scripts, tests and notebooks alike. A notebook shows a
returned figure; elsewhere save it with :func:`save_figure` (or ``fig.savefig``).
Functions that draw one panel accept ``ax=`` to draw into an existing axes; those that
draw one panel per tail accept one axes per tail.

Axes are labelled with the data's name and units (``fit.data.attrs["units"]``, set by
:func:`sbp_bayes.datasets.load`) when known. Credible bands are equal-tailed intervals
of probability ``ci_prob`` over the posterior draws — at most :data:`MAX_BAND_DRAWS`
of them, evenly spaced over the chains, which bounds the cost for long runs.

Figures
-------
:func:`plot_density`
    Data histogram, posterior density band, posterior predictive density, thresholds.
:func:`plot_qq`, :func:`plot_pp`
    Quantile-quantile and probability-probability plots with credible bands.
:func:`plot_return_levels`
    Coles-style return-level plot with empirical return periods.
:func:`plot_threshold_posterior`
    Posterior against prior probability of each candidate threshold.
:func:`plot_tail_shape`
    Posterior of each tail shape ξ against its prior.
:func:`plot_mean_residual_life`, :func:`plot_parameter_stability`
    Classical threshold diagnostics with the candidate thresholds and their weights.
:func:`plot_trace`, :func:`plot_rank`
    ArviZ convergence plots of the tail parameters.
:func:`plot_posterior_predictive`
    Replicated data sets against the observed data (ECDF or survival function).
:func:`plot_comparison`
    Models side by side, from the table of :func:`sbp_bayes.compare` (it takes
    that table, not a fit).
"""

from __future__ import annotations

import importlib
import math
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sbp_bayes.priors import Prior

__all__ = [
    # fit to the data
    "plot_density",
    "plot_posterior_predictive",
    "plot_pp",
    "plot_qq",
    # tails
    "plot_mean_residual_life",
    "plot_parameter_stability",
    "plot_return_levels",
    "return_period_unit",
    "plot_tail_shape",
    "plot_threshold_posterior",
    # sampler diagnostics
    "plot_rank",
    "plot_trace",
    # model comparison
    "plot_comparison",
    # dynamic models
    "plot_calibration",
    "plot_series",
    "plot_tail_shape_path",
    "plot_traces",
    # output
    "save_figure",
]

#: Most plotting positions drawn by the QQ, PP and predictive plots (see _plotting_ranks).
MAX_PLOTTED_POINTS = 2000
#: Observations of each extreme that are always plotted when positions are subsampled.
EXTREME_POINTS_KEPT = 250
#: Most posterior draws a credible band is computed from (evenly spaced over the chains):
#: plenty for the 2.5% and 97.5% points of a figure, and it bounds the cost of a QQ plot
#: (plotting positions x draws evaluations of the quantile function).
MAX_BAND_DRAWS = 500
#: Size of a one-panel figure, inches.
FIGSIZE = (7.0, 4.5)

_DATA_COLOUR = "0.55"
_POSTERIOR_COLOUR = "C0"
_PREDICTIVE_COLOUR = "C3"
_PRIOR_COLOUR = "C1"
_THRESHOLD_COLOUR = {"lower": "C2", "upper": "C4"}


# ----------------------------------------------------------------------------- helpers


class _ImportedOnUse(types.ModuleType):
    """Stands for a module and imports it for real on first attribute access."""

    def __getattr__(self, name):
        return getattr(importlib.import_module(self.__name__), name)


def _drop_lazy_jax() -> None:
    """Keep matplotlib from importing JAX in a process that never uses it.

    Importing ArviZ (for the diagnostics or the trace plot) leaves a lazily loaded ``jax``
    module in ``sys.modules`` (``arviz_base.io_numpyro`` uses ``lazy_loader``). Matplotlib
    asks ``sys.modules["jax"].Array`` of every non-NumPy value it is given, and that one
    attribute access imports all of JAX: about a second and 120 MB at the first figure.
    The placeholder is taken out of ``sys.modules``; ArviZ's NumPyro converter, the only
    user of it, gets a stand-in that imports JAX when the converter first needs it.
    """
    lazy = sys.modules.get("jax")
    if lazy is None or type(lazy).__name__ != "_LazyModule":  # absent, or really imported
        return
    del sys.modules["jax"]
    converter = sys.modules.get("arviz_base.io_numpyro")
    if converter is not None and vars(converter).get("jax") is lazy:
        converter.jax = _ImportedOnUse("jax")


def _sides(fit) -> list[str]:
    """The tails this fit has, lower first."""
    return list(fit.sides)


def _check_side(fit, tail: str) -> None:
    if tail not in ("lower", "upper"):
        raise ValueError(f"tail must be 'lower' or 'upper'; got {tail!r}.")
    if not _sides(fit):
        return  # no GPD tail (normal, student_t, binned): one law for the whole line, both ends
    if tail not in _sides(fit):
        raise ValueError(
            f"This fit has no {tail} tail (tails={fit.tails!r}); ask for tail="
            f"{_sides(fit)[0]!r} or fit with tails='both'."
        )


def _tail_sides(fit, what: str) -> list[str]:
    """The fit's GPD tails, or a clear error for a family that has none."""
    sides = _sides(fit)
    if not sides:
        raise ValueError(
            f"A fit of family {fit.family!r} has no GPD tail, so there is no {what} to plot; "
            "plot_density, plot_qq, plot_pp and plot_return_levels work for it."
        )
    return sides


def _check_prob(ci_prob: float) -> float:
    ci_prob = float(ci_prob)
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must lie strictly between 0 and 1; got {ci_prob}.")
    return ci_prob


def _units(fit) -> str | None:
    units = fit.data.attrs.get("units")
    return str(units) if units else None


def _value_label(fit, what: str | None = None) -> str:
    """``"loss (million DKK)"``: what is shown, and its units when known."""
    name = what if what is not None else (fit.data.name if fit.data.name not in (None, "y") else "value")
    units = _units(fit)
    return f"{name} ({units})" if units else str(name)


def _title(fit, text: str) -> str:
    """``"danish: <text>"``, naming the data set when it has a name."""
    name = fit.data.attrs.get("dataset") or fit.data.name
    if name in (None, "y", ""):
        return text[:1].upper() + text[1:]
    return f"{name}: {text}"


def _is_heavy_positive(values: np.ndarray) -> bool:
    """Positive data whose maximum is over 20 times their median: a log x axis reads better."""
    return bool(values[0] > 0 and values[-1] > 20.0 * np.median(values))


def _resolve_scale(scale: str, values: np.ndarray, where: str) -> str:
    """``"linear"`` or ``"log"`` for an axis of data values (``where`` is e.g.
    ``"plot_qq(scale=...)"``, for the error message); ``"auto"`` picks log for heavy,
    positive data."""
    if scale not in ("auto", "linear", "log"):
        raise ValueError(f"{where}: the scale must be 'auto', 'linear' or 'log'; got {scale!r}.")
    if scale == "log" and values[0] <= 0:
        raise ValueError(
            f"{where}: a log axis needs positive data, but the smallest value is {values[0]:.4g}; "
            "use 'linear'."
        )
    if scale == "auto":
        return "log" if _is_heavy_positive(values) else "linear"
    return scale


def _new_axes(ax, n_panels: int = 1, figsize=None, *, stacked: bool = False) -> tuple[Figure, list[Axes]]:
    """A fresh figure with ``n_panels`` side by side (``stacked``: one above the other, each
    the full width, for panels with a legend beside them), or the caller's axes (checked)."""
    _drop_lazy_jax()
    if ax is None:
        width, height = figsize if figsize is not None else FIGSIZE
        if stacked:
            fig = Figure(figsize=(width, height * n_panels), layout="constrained")
            return fig, list(fig.subplots(n_panels, 1, squeeze=False)[:, 0])
        fig = Figure(
            figsize=(width * (1 if n_panels == 1 else 0.75 * n_panels), height), layout="constrained"
        )
        return fig, list(fig.subplots(1, n_panels, squeeze=False)[0])
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != n_panels or not all(isinstance(a, Axes) for a in axes):
        wanted = "one Axes" if n_panels == 1 else f"a sequence of {n_panels} Axes, one per tail (lower first)"
        raise ValueError(f"This figure draws {n_panels} panel(s): pass ax as {wanted}; got {ax!r}.")
    figure = axes[0].figure
    while not isinstance(figure, Figure):  # axes of a SubFigure: return the whole figure
        figure = figure.figure
    return figure, axes


def _band(values: np.ndarray, ci_prob: float, axis: int = -1):
    """Median and equal-tailed ``ci_prob`` interval over ``axis``."""
    alpha = (1.0 - ci_prob) / 2.0
    low, median, high = np.quantile(values, [alpha, 0.5, 1.0 - alpha], axis=axis)
    return median, low, high


def _kept_draws(n_draws: int, max_draws: int) -> np.ndarray:
    """Indices of at most ``max_draws`` draws, evenly spaced over all (chains stacked)."""
    if n_draws <= max_draws:
        return np.arange(n_draws)
    return np.unique(np.linspace(0, n_draws - 1, max_draws).round().astype(int))


def _draw_distribution(fit, max_draws: int = MAX_BAND_DRAWS):
    """``fit.distribution()``, keeping at most ``max_draws`` evenly spaced draws."""
    dist = fit.distribution()
    return dist[_kept_draws(dist.batch_shape[0], max_draws)]


def _plotting_ranks(n: int, max_points: int = MAX_PLOTTED_POINTS) -> np.ndarray:
    """0-based ranks to plot out of ``n`` sorted values.

    All ranks when ``n <= max_points``. Otherwise the :data:`EXTREME_POINTS_KEPT` (at
    most a quarter of ``max_points``) smallest and largest observations are all kept —
    the tails are what these plots are for — and the rest are evenly spaced in rank.
    """
    if max_points < 10:
        raise ValueError(f"max_points must be at least 10; got {max_points}.")
    if n <= max_points:
        return np.arange(n)
    extreme = min(EXTREME_POINTS_KEPT, max_points // 4)
    middle = np.linspace(extreme, n - 1 - extreme, max_points - 2 * extreme).round().astype(int)
    return np.unique(np.concatenate([np.arange(extreme), middle, np.arange(n - extreme, n)]))


def _sorted_data(fit) -> np.ndarray:
    return np.sort(np.asarray(fit.data.values, dtype=float))


def _add_threshold_lines(ax, fit, ci_prob: float, *, vertical: bool = True) -> None:
    """Posterior median of each threshold as a dashed line (with its interval shaded
    when the threshold is uncertain)."""
    posterior = fit.idata["posterior"]
    for side in _sides(fit):
        values = posterior[f"{side}_threshold"].values.reshape(-1)
        median = float(np.median(values))
        colour = _THRESHOLD_COLOUR[side]
        fixed = np.ptp(values) == 0
        label = f"{side} threshold {median:.4g}" + (" (fixed)" if fixed else " (posterior median)")
        line = ax.axvline if vertical else ax.axhline
        line(median, color=colour, linestyle="--", linewidth=1.2, label=label)
        if not fixed:
            _, low, high = _band(values, ci_prob)
            span = ax.axvspan if vertical else ax.axhspan
            span(low, high, color=colour, alpha=0.12, label=f"{side} threshold {ci_prob:.0%} interval")


# ----------------------------------------------------------------------------- density


def _geometric_tail_edges(start: float, stop: float, first_width: float, n_points: int) -> np.ndarray:
    """Edges from ``start`` to ``stop`` whose widths grow geometrically from ``first_width``
    (about ``sqrt(n_points)`` bins, 3 to 20): a heavy tail gets bins that are narrow
    near the threshold, where the data are dense, and wide among the sparse extremes."""
    n_bins = int(np.clip(math.ceil(math.sqrt(max(n_points, 1))), 3, 20))
    length = stop - start
    if length <= first_width * n_bins:
        return np.linspace(start, stop, n_bins + 1)
    return np.concatenate([[start], start + length * np.geomspace(first_width / length, 1.0, n_bins)])


def _histogram_edges(fit, values: np.ndarray) -> np.ndarray:
    """The fit's bin edges, with each outermost *tail* bin split into geometric bins.

    The fit's body bins are a natural histogram of the body. Its outermost bin on a
    tail side runs from the outermost candidate threshold to the data's extreme value
    — one bin for the whole tail — so there the histogram uses bins that start as wide
    as the neighbouring body bin and grow geometrically to the extreme value.
    """
    if fit.design is None:
        # A family without bins (normal, student_t, gpd_normal_gpd): 30 equal bins over the
        # central 98% of the data, and both outer bins split as tails are.
        inner = np.linspace(*np.quantile(values, [0.01, 0.99]), 31)
        edges = np.unique(np.concatenate([values[:1], inner, values[-1:]]))
        sides = ["lower", "upper"]
    else:
        edges = np.asarray(fit.design.bin_edges, dtype=float)
        sides = _sides(fit)
    pieces = [edges[1:-1]]
    if "upper" in sides:
        start, stop = edges[-2], max(edges[-1], values[-1])
        n_tail = int(np.sum(values > start))
        pieces.append(_geometric_tail_edges(start, stop, edges[-2] - edges[-3], n_tail))
    else:
        pieces.append(edges[-1:])
    if "lower" in sides:
        start, stop = min(edges[0], values[0]), edges[1]
        n_tail = int(np.sum(values < stop))
        mirrored = _geometric_tail_edges(-stop, -start, edges[2] - edges[1], n_tail)
        pieces.append(-mirrored[::-1])
    else:
        pieces.append(edges[:1])
    return np.unique(np.concatenate(pieces))


def _density_grid(fit, values: np.ndarray, xscale: str, n_points: int = 600) -> np.ndarray:
    """Points spanning the data (5% of the range beyond it on tail sides) that also
    resolve every step of the binned body: each bin gets a point just inside each end."""
    pad = 0.05 * (values[-1] - values[0])
    if fit.design is None:
        # No bins (normal, student_t, gpd_normal_gpd): open on both sides; a fixed GPD
        # threshold, where the density may jump, is resolved like a bin edge.
        thresholds = [float(np.median(fit.idata["posterior"][f"{side}_threshold"])) for side in _sides(fit)]
        nudge = 1e-6 * (values[-1] - values[0])
        near_edges = np.concatenate([np.subtract(thresholds, nudge), np.add(thresholds, nudge)])
        low, high = values[0] - pad, values[-1] + pad
    else:
        edges = np.asarray(fit.design.bin_edges, dtype=float)
        sides = _sides(fit)
        low = values[0] - pad if "lower" in sides else edges[0]
        high = values[-1] + pad if "upper" in sides else edges[-1]
        nudge = 1e-6 * np.diff(edges)
        near_edges = np.concatenate([edges[:-1] + nudge, edges[1:] - nudge])
    if xscale == "log" and low <= 0:
        low = 0.95 * values[0]
    parts = [np.linspace(low, high, n_points), near_edges]
    if low > 0:  # resolve a positive heavy tail on a log x axis too
        parts.append(np.geomspace(low, high, n_points // 2))
    grid = np.unique(np.concatenate(parts))
    return grid[(grid >= low) & (grid <= high)]


def plot_density(
    fit, *, scale: str = "linear", ci_prob: float = 0.95, xscale: str = "auto", ax=None
) -> Figure:
    """Data histogram against the posterior density of the fitted SBP.

    Shows the data as a density-normalised histogram (the fit's own body bins; each
    tail's single outer bin is split into geometrically growing bins), the posterior
    median and ``ci_prob`` band of the density of each draw on a grid, the posterior predictive
    density (the mean of the per-draw densities, which carries threshold and parameter
    uncertainty), and each threshold's posterior median (dashed; its interval shaded
    when the threshold is not fixed).

    Parameters
    ----------
    fit : SBPFit
    scale : {"linear", "log"}
        Scale of the density axis; ``"log"`` makes the tails visible.
    ci_prob : float
        Probability of the credible band.
    xscale : {"auto", "linear", "log"}
        Scale of the value axis. ``"auto"`` is log for positive data whose maximum is
        more than 20 times their median (a heavy tail would squash the body into a
        sliver of a linear axis), linear otherwise.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import tempfile
    >>> from sbp_bayes import datasets
    >>> fig = plot_density(datasets.load_example_fit(), scale="log")
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_yscale()
    ('loss (million DKK)', 'log')
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_figure(fig, Path(folder) / "density.png").stat().st_size > 0
    True
    """
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log'; got {scale!r}.")
    ci_prob = _check_prob(ci_prob)
    values = _sorted_data(fit)
    xscale = _resolve_scale(xscale, values, "plot_density(xscale=...)")
    fig, (ax,) = _new_axes(ax)

    edges = _histogram_edges(fit, values)
    counts, _ = np.histogram(values, bins=edges)
    heights = counts / (values.size * np.diff(edges))
    ax.stairs(heights, edges, fill=True, color=_DATA_COLOUR, alpha=0.45, label="data (histogram)")

    grid = _density_grid(fit, values, xscale)
    dist = _draw_distribution(fit)
    density = dist.pdf(grid[:, None])  # (grid, draws)
    median, low, high = _band(density, ci_prob)
    predictive = density.mean(axis=-1)
    ax.fill_between(
        grid, low, high, color=_POSTERIOR_COLOUR, alpha=0.3, linewidth=0, label=f"{ci_prob:.0%} credible band"
    )
    ax.plot(grid, median, color=_POSTERIOR_COLOUR, linewidth=1.2, label="posterior median density")
    ax.plot(
        grid,
        predictive,
        color=_PREDICTIVE_COLOUR,
        linewidth=1.0,
        linestyle=":",
        label="posterior predictive density",
    )
    _add_threshold_lines(ax, fit, ci_prob)

    if scale == "log":
        ax.set_yscale("log")
        positive = np.concatenate([heights[heights > 0], predictive[predictive > 0]])
        # Show the tails down to a little below the smallest histogram bar or the
        # predictive density at the data's extremes, whichever is lower.
        at_extremes = dist.pdf(values[[0, -1]][:, None]).mean(axis=-1)
        floor = min(positive.min(), *at_extremes[at_extremes > 0]) / 5.0
        ax.set_ylim(bottom=floor, top=positive.max() * 2.0)
    else:
        ax.set_ylim(bottom=0.0)
    ax.set_xscale(xscale)
    ax.set_xlim(grid[0], grid[-1])
    units = _units(fit)
    ax.set_xlabel(_value_label(fit))
    ax.set_ylabel(f"density (per {units})" if units else "density")
    ax.set_title(_title(fit, "data and posterior density" + (", log density axis" if scale == "log" else "")))
    ax.legend(fontsize="small", loc="upper right")
    return fig


# ----------------------------------------------------------------------------- QQ and PP


def plot_qq(
    fit, *, ci_prob: float = 0.95, scale: str = "auto", max_points: int = MAX_PLOTTED_POINTS, ax=None
) -> Figure:
    """Quantile-quantile plot: empirical order statistics against model quantiles.

    The ``i``-th smallest of ``n`` observations is plotted against the model quantile
    at the plotting position ``p_i = (i - 0.5) / n``: x is the posterior median of the
    per-draw quantile ``Q_s(p_i)``, y the observation. The shaded band is the
    ``ci_prob`` interval of ``Q_s(p_i)`` over the draws, drawn around the line y = x:
    points outside it are order statistics the model does not reproduce.

    With more than ``max_points`` observations only ``max_points`` plotting positions
    are drawn: the 250 smallest and 250 largest observations are all kept and the rest
    are evenly spaced in rank.

    Parameters
    ----------
    fit : SBPFit
    ci_prob : float
        Probability of the credible band.
    scale : {"auto", "linear", "log"}
        Scale of both axes. ``"auto"`` is log for positive data whose maximum is more
        than 20 times their median, linear otherwise.
    max_points : int
        Most plotting positions drawn.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_qq(datasets.load_example_fit(), scale="log")
    >>> fig.axes[0].get_ylabel()
    'empirical quantile (million DKK)'
    """
    ci_prob = _check_prob(ci_prob)
    values = _sorted_data(fit)
    scale = _resolve_scale(scale, values, "plot_qq(scale=...)")
    fig, (ax,) = _new_axes(ax)
    n = values.size
    ranks = _plotting_ranks(n, max_points)
    positions = (ranks + 0.5) / n
    model = _draw_distribution(fit).ppf(positions[:, None])  # (positions, draws)
    median, low, high = _band(model, ci_prob)
    observed = values[ranks]

    ax.fill_between(
        median,
        low,
        high,
        color=_POSTERIOR_COLOUR,
        alpha=0.3,
        linewidth=0,
        label=f"{ci_prob:.0%} credible band of the model quantile",
    )
    ax.plot(median, median, color=_POSTERIOR_COLOUR, linewidth=1.0, label="y = x")
    subsampled = f" ({ranks.size} of {n})" if ranks.size < n else ""
    ax.scatter(median, observed, s=8, color="black", zorder=3, label=f"data{subsampled}")
    if scale == "log":
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(_value_label(fit, "model quantile (posterior median)"))
    ax.set_ylabel(_value_label(fit, "empirical quantile"))
    ax.set_title(_title(fit, "quantile-quantile plot, plotting positions (i - 0.5)/n"))
    ax.legend(fontsize="small", loc="upper left")
    return fig


def plot_pp(fit, *, ci_prob: float = 0.95, max_points: int = MAX_PLOTTED_POINTS, ax=None) -> Figure:
    """Probability-probability plot: empirical CDF against the model CDF.

    The ``i``-th smallest observation ``y_(i)`` is plotted at x = posterior median of
    the per-draw model CDF ``F_s(y_(i))`` and y = its plotting position
    ``(i - 0.5) / n``. The band is the ``ci_prob`` interval of ``F_s(y_(i))`` over the
    draws, drawn around the line y = x. Positions are subsampled as in
    :func:`plot_qq` when there are more than ``max_points`` observations.

    Parameters
    ----------
    fit : SBPFit
    ci_prob : float
        Probability of the credible band.
    max_points : int
        Most plotting positions drawn.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_pp(datasets.load_example_fit())
    >>> fig.axes[0].get_title()
    'danish: probability-probability plot'
    """
    ci_prob = _check_prob(ci_prob)
    fig, (ax,) = _new_axes(ax, figsize=(5.5, 5.5))
    values = _sorted_data(fit)
    n = values.size
    ranks = _plotting_ranks(n, max_points)
    empirical = (ranks + 0.5) / n
    model = _draw_distribution(fit).cdf(values[ranks][:, None])  # (positions, draws)
    median, low, high = _band(model, ci_prob)

    ax.fill_between(
        median,
        low,
        high,
        color=_POSTERIOR_COLOUR,
        alpha=0.3,
        linewidth=0,
        label=f"{ci_prob:.0%} credible band of the model CDF",
    )
    ax.plot([0, 1], [0, 1], color=_POSTERIOR_COLOUR, linewidth=1.0, label="y = x")
    subsampled = f" ({ranks.size} of {n})" if ranks.size < n else ""
    ax.scatter(median, empirical, s=8, color="black", zorder=3, label=f"data{subsampled}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("model CDF at the observation (posterior median)")
    ax.set_ylabel("empirical CDF, (i - 0.5)/n")
    ax.set_title(_title(fit, "probability-probability plot"))
    ax.legend(fontsize="small", loc="upper left")
    return fig


# ----------------------------------------------------------------------------- return levels


def plot_return_levels(
    fit,
    *,
    observations_per_period: float | None = None,
    tail: str = "upper",
    periods: Sequence[float] | None = None,
    ci_prob: float = 0.95,
    yscale: str = "auto",
    ax=None,
) -> Figure:
    """Return-level plot (Coles 2001, §4.4): return level against return period.

    The return level of period ``T`` is the value exceeded on average once every ``T``
    periods of ``n_y`` observations, ``x_T = F^{-1}(1 - 1/(T n_y))``, computed for each
    posterior draw (``fit.distribution().isf(1 / (T n_y))``; ``ppf`` for the lower
    tail, where "exceeded" means "fallen below"). The line is the posterior median,
    the band the ``ci_prob`` interval over draws.

    The points are the data: the ``k``-th largest of ``N`` observations (the
    ``k``-th smallest for ``tail="lower"``) is plotted at the empirical return period
    ``(N + 1) / (k n_y)`` (Weibull plotting position ``k / (N + 1)`` for its
    exceedance probability per observation). Only those inside the plotted range of
    periods are drawn.

    Parameters
    ----------
    fit : SBPFit
    observations_per_period : float, optional
        Observations per period, ``n_y``. Defaults to
        ``fit.data.attrs["observations_per_year"]`` (periods in years); without it,
        ``n_y = 1`` and return periods count observations ("1 in T observations").
    tail : {"upper", "lower"}
    periods : sequence of float, optional
        Return periods to draw the curve at. By default 100 log-spaced periods from the
        one whose level is the threshold (exceedance probability = the posterior median
        tail mass) to ten times the length of the record, and at least 100 periods.
    ci_prob : float
        Probability of the credible band.
    yscale : {"auto", "linear", "log"}
        Scale of the return-level axis. ``"auto"`` is log for the upper tail of positive
        data whose maximum is more than 20 times their median (the levels of a heavy
        tail span decades), linear otherwise.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()  # the data know their rate: 197 losses a year
    >>> plot_return_levels(fit).axes[0].get_xlabel()
    'return period (years)'
    >>> plot_return_levels(fit, observations_per_period=197.0).axes[0].get_xlabel()
    'return period (years)'
    >>> plot_return_levels(fit, observations_per_period=1).axes[0].get_xlabel()
    'return period (observations: 1 in T)'
    """
    _check_side(fit, tail)
    ci_prob = _check_prob(ci_prob)
    n_per_period, period_name = return_period_unit(fit, observations_per_period)
    period_label = f"return period ({period_name})"
    values = _sorted_data(fit)
    if yscale == "auto" and tail == "lower":
        yscale = "linear"  # levels of a lower tail approach the body, never span decades
    yscale = _resolve_scale(yscale, values, "plot_return_levels(yscale=...)")
    n = values.size
    dist = _draw_distribution(fit)
    if periods is None:
        posterior = fit.idata["posterior"]
        # A family without GPD tails has no tail mass: start at the 1-in-10 level.
        tail_mass = (
            float(np.median(posterior[f"{tail}_tail_prob"].values))
            if f"{tail}_tail_prob" in posterior
            else 0.1
        )
        shortest = 1.0 / (n_per_period * min(tail_mass, 0.5))
        longest = max(100.0, 10.0 * n / n_per_period, 2.0 * shortest)
        periods = np.geomspace(shortest, longest, 100)
    else:
        periods = np.sort(np.asarray(periods, dtype=float).reshape(-1))
        if periods.size == 0 or not np.all(periods * n_per_period > 1) or not np.isfinite(periods).all():
            raise ValueError(
                f"periods must be finite and longer than one observation (T * {n_per_period:g} > 1); "
                f"got {periods.tolist()}."
            )
    exceedance = 1.0 / (periods * n_per_period)
    levels = dist.isf(exceedance[:, None]) if tail == "upper" else dist.ppf(exceedance[:, None])
    median, low, high = _band(levels, ci_prob)

    ax_fig, (ax,) = _new_axes(ax)
    ax.fill_between(
        periods,
        low,
        high,
        color=_POSTERIOR_COLOUR,
        alpha=0.3,
        linewidth=0,
        label=f"{ci_prob:.0%} credible band",
    )
    ax.plot(periods, median, color=_POSTERIOR_COLOUR, linewidth=1.5, label="posterior median return level")
    k = np.arange(1, n + 1)
    empirical_periods = (n + 1) / (k * n_per_period)
    extremes = values[::-1] if tail == "upper" else values
    shown = (empirical_periods >= periods[0]) & (empirical_periods <= periods[-1])
    ax.scatter(
        empirical_periods[shown],
        extremes[shown],
        s=10,
        color="black",
        zorder=3,
        label="data, plotted at (N + 1) / " + ("k" if n_per_period == 1 else "(k n_y)"),
    )
    ax.set_xscale("log")
    ax.set_yscale(yscale)
    ax.set_xlabel(period_label)
    ax.set_ylabel(_value_label(fit, "return level" if tail == "upper" else "return level (lower tail)"))
    ax.set_title(_title(fit, f"return levels, {tail} tail"))
    ax.legend(fontsize="small", loc="upper left" if tail == "upper" else "lower left")
    return ax_fig


def return_period_unit(fit, observations_per_period: float | None = None) -> tuple[float, str]:
    """``(n_y, name)``: observations per period and what the period is called.

    Without ``observations_per_period`` the data's ``attrs["observations_per_year"]`` is
    used and the periods are years. A given rate that equals the data's observations per
    year is a year too (so a report that passes the rate on says "years" in its figure as
    in its table); 1 counts observations; any other rate is "periods of n observations".
    Without any rate, ``n_y = 1``.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> return_period_unit(fit), return_period_unit(fit, 50)
    ((197.0, 'years'), (50.0, 'periods of 50 observations'))
    """
    per_year = fit.data.attrs.get("observations_per_year")
    if observations_per_period is None:
        if per_year is None:
            return 1.0, "observations: 1 in T"
        observations_per_period = per_year
    try:
        n_per_period = float(observations_per_period)
    except (TypeError, ValueError):
        n_per_period = math.nan
    if not n_per_period > 0 or not math.isfinite(n_per_period):
        raise ValueError(f"observations_per_period must be a positive number; got {observations_per_period}.")
    if per_year is not None and math.isclose(n_per_period, float(per_year), rel_tol=1e-9):
        return n_per_period, "years"
    if n_per_period == 1:
        return n_per_period, "observations: 1 in T"
    return n_per_period, f"periods of {n_per_period:g} observations"


# ----------------------------------------------------------------------------- thresholds and ξ


def _threshold_prior(fit, side: str, n_candidates: int) -> np.ndarray:
    """Prior probabilities of the candidates (ascending), as the fit was made with."""
    weights = (fit.config.get("threshold_priors") or {}).get(side)
    if weights is None or (isinstance(weights, str) and weights == "uniform"):
        return np.full(n_candidates, 1.0 / n_candidates)
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def plot_threshold_posterior(fit, *, ax=None) -> Figure:
    """Weight of each candidate threshold, per tail, with its prior.

    The weights are those of :func:`sbp_bayes.report.threshold_weights`: cross-validation
    weights by default, or the Rao-Blackwellised posterior probabilities of a fit with
    ``threshold_weights="posterior"`` (the mean over draws of the per-draw conditional
    probability ``exp(<side>_threshold_logprob)``). The legend says which. A fixed
    threshold shows one bar of probability 1.

    Parameters
    ----------
    fit : SBPFit
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        One axes per tail (lower first).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_threshold_posterior(datasets.load_example_fit())
    >>> fig.axes[0].get_xlabel()
    'candidate upper threshold (million DKK)'
    """
    sides = _tail_sides(fit, "threshold")
    fig, axes = _new_axes(ax, len(sides))
    posterior = fit.idata["posterior"]
    for side, ax in zip(sides, axes, strict=True):
        if f"{side}_threshold_logprob" in posterior:
            logprob = posterior[f"{side}_threshold_logprob"]
            candidates = np.asarray(logprob[f"{side}_candidate"].values, dtype=float)
            posterior_prob = np.exp(logprob.values.reshape(-1, candidates.size)).mean(axis=0)
            prior_prob = _threshold_prior(fit, side, candidates.size)
        else:  # a baseline with a fixed threshold: one bar of probability 1
            candidates = np.unique(posterior[f"{side}_threshold"].values)
            posterior_prob = prior_prob = np.ones(1)
        position = np.arange(candidates.size)
        kind = (fit.config.get("family_info") or {}).get("threshold_weights", "posterior")
        label = "cross-validation weight" if kind == "cross_validation" else "posterior"
        ax.bar(position - 0.2, posterior_prob, width=0.4, color=_POSTERIOR_COLOUR, label=label)
        ax.bar(
            position + 0.2,
            prior_prob,
            width=0.4,
            color=_PRIOR_COLOUR,
            alpha=0.6,
            hatch="//",
            label="prior",
        )
        ax.set_xticks(position, [f"{c:.4g}" for c in candidates], rotation=45 if candidates.size > 5 else 0)
        ax.set_xlabel(_value_label(fit, f"candidate {side} threshold"))
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1.05 * max(posterior_prob.max(), prior_prob.max()))
        ax.set_title(_title(fit, f"{side} threshold, {label} vs prior"))
        ax.legend(fontsize="small", loc="upper right")
    return fig


def _prior_label(config) -> str:
    """``"Normal(mu=0, sigma=0.5)"`` from a prior's configuration."""
    from sbp_bayes.priors import Prior

    prior = Prior.from_config(config)
    arguments = ", ".join(
        f"{key}={value:g}" if isinstance(value, (int, float)) else f"{key}={value}"
        for key, value in prior.parameters.items()
    )
    return f"{prior.distribution}({arguments})"


def plot_tail_shape(fit, *, ax=None) -> Figure:
    """Posterior of the tail shape ξ of each tail, with its prior.

    A density-normalised histogram of the draws of ``<side>_xi`` and the prior density
    (``fit.config["priors"]["<side>_xi"]``). In the model the prior is restricted to
    the shapes that keep every observation inside the GPD support (ξ above a bound
    that depends on σ), so the effective prior can be slightly lower near negative ξ;
    the curve is the prior as specified. Reference lines: ξ = 0 (exponential tail),
    ξ = 1/2 (finite variance only below) and ξ = 1 (finite mean only below).

    With two tails the panels are stacked, each with its legend beside it, and the data
    set's name goes into the figure's title: side by side, the legends and long titles
    did not fit.

    Parameters
    ----------
    fit : SBPFit
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        One axes per tail (lower first).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_tail_shape(datasets.load_example_fit())
    >>> [ax.get_title() for ax in fig.axes], fig.get_suptitle()
    (['upper tail shape, posterior vs prior'], 'danish: tail shape ξ')
    """
    sides = _tail_sides(fit, "tail shape")
    own_figure = ax is None
    fig, axes = _new_axes(ax, len(sides), stacked=True)
    posterior = fit.idata["posterior"]
    priors = fit.config.get("priors") or {}
    references = (
        (0.0, ":", "ξ = 0: exponential tail"),
        (0.5, "--", "ξ < 1/2: finite variance"),
        (1.0, "-.", "ξ < 1: finite mean"),
    )
    for side, ax in zip(sides, axes, strict=True):
        xi = posterior[f"{side}_xi"].values.reshape(-1)
        low = min(float(np.quantile(xi, 0.001)), -0.25)
        high = max(float(np.quantile(xi, 0.999)), 1.1)
        pad = 0.05 * (high - low)
        grid = np.linspace(low - pad, high + pad, 400)
        ax.hist(
            xi,
            bins=40,
            density=True,
            color=_POSTERIOR_COLOUR,
            alpha=0.6,
            label=f"posterior ({xi.size} draws)",
        )
        config = priors.get(f"{side}_xi")
        if config is not None:
            prior_density = np.exp(Prior.from_config(config).log_density_function()(grid))
            ax.plot(
                grid, prior_density, color=_PRIOR_COLOUR, linewidth=1.5, label=f"prior {_prior_label(config)}"
            )
        for value, style, label in references:
            ax.axvline(value, color="0.3", linestyle=style, linewidth=1.0, label=label)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel(f"tail shape ξ ({side} tail)")
        ax.set_ylabel("density")
        ax.set_title(f"{side} tail shape, posterior vs prior")
        # Outside the axes: the prior's label is long and would cover the histogram.
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if own_figure:  # a caller's figure keeps its own title
        fig.suptitle(_title(fit, "tail shape ξ"))
    return fig


# ----------------------------------------------------------------------------- ArviZ diagnostics


# ----------------------------------------------------------------------------- threshold diagnostics

#: Columns of ``fit.threshold_posterior()`` read as candidate weights, in order of preference.
_WEIGHT_COLUMNS = ("posterior", "weight", "cv_weight")


def _diagnostic_tail(fit, tail: str | None) -> str:
    sides = _tail_sides(fit, "threshold diagnostic")
    if tail is None:
        return "upper" if "upper" in sides else sides[0]
    _check_side(fit, tail)
    return tail


def _candidate_weights(fit, tail: str):
    """``(thresholds, weights, label)`` of the fit's candidate thresholds of ``tail``,
    read from the public :meth:`SBPFit.threshold_posterior` table."""
    table = fit.threshold_posterior()
    if tail not in table.index.get_level_values("tail"):
        return None
    rows = table.xs(tail, level="tail")
    column = next((name for name in _WEIGHT_COLUMNS if name in rows.columns), None)
    if column is None:  # a future table: its last numeric column other than the thresholds
        numeric = [
            c for c in rows.columns if c not in ("threshold", "exceedances") and rows[c].dtype.kind == "f"
        ]
        column = numeric[-1]
    return rows["threshold"].to_numpy(float), rows[column].to_numpy(float), column


def _overlay_candidates(ax, fit, tail: str) -> None:
    """Each candidate threshold as a vertical line, and its weight as a bar on a right axis."""
    found = _candidate_weights(fit, tail)
    if found is None:
        return
    thresholds, weights, column = found
    colour = _THRESHOLD_COLOUR[tail]
    right = ax.twinx()
    spacing = np.min(np.diff(np.sort(thresholds))) if thresholds.size > 1 else np.ptp(ax.get_xlim()) / 40
    right.bar(thresholds, weights, width=0.6 * spacing, color=colour, alpha=0.35, label=f"candidate {column}")
    for value in thresholds:
        ax.axvline(value, color=colour, linewidth=0.6, alpha=0.5)
    right.set_ylim(0, 3.0 * max(float(weights.max()), 1e-12))  # bars in the lower third
    right.set_yticks([tick for tick in right.get_yticks() if 0.0 <= tick <= 1.0])  # weights: at most 1
    right.set_ylabel(f"candidate threshold {column}", color=colour)
    right.tick_params(axis="y", colors=colour)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, fontsize="small", loc="upper left")


def plot_mean_residual_life(
    fit, *, tail: str | None = None, thresholds=None, ci_prob: float = 0.95, candidates: bool = True, ax=None
) -> Figure:
    """Mean residual life plot (Coles 2001, §4.3.1), with the fit's candidate thresholds.

    The mean excess ``e(u) = E[X - u | X > u]`` of the data against the threshold ``u``,
    with a normal-approximation interval (:func:`sbp_bayes.thresholds.mean_residual_life`).
    Above a threshold where the tail is GPD with shape ``ξ < 1``, ``e(u)`` is a straight
    line of slope ``ξ / (1 - ξ)``. The fit's candidate thresholds are drawn as vertical
    lines, and their weights (the ``posterior`` column of :meth:`SBPFit.threshold_posterior`)
    as bars on the right axis.

    Parameters
    ----------
    fit : SBPFit
    tail : {"upper", "lower"}, optional
        Default: the upper tail if the fit has one.
    thresholds : sequence of float, optional
        Default: 40 from the median to the value leaving 30 exceedances.
    ci_prob : float
    candidates : bool
        Overlay the candidate thresholds and their weights (default True).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_mean_residual_life(fit)  # doctest: +SKIP
    """
    from sbp_bayes.thresholds import mean_residual_life

    tail = _diagnostic_tail(fit, tail)
    ci_prob = _check_prob(ci_prob)
    table = mean_residual_life(fit.data.to_numpy(float), thresholds, tail=tail, ci_prob=ci_prob)
    fig, (ax,) = _new_axes(ax)
    u = table.index.to_numpy(float)
    ax.fill_between(
        u,
        table["ci_lower"],
        table["ci_upper"],
        color=_POSTERIOR_COLOUR,
        alpha=0.2,
        label=f"{ci_prob:.0%} interval",
    )
    ax.plot(u, table["mean_excess"], color=_POSTERIOR_COLOUR, label="mean excess")
    ax.set_xlabel(_value_label(fit, f"{tail} threshold u"))
    beyond = "X - u | X > u" if tail == "upper" else "u - X | X < u"
    ax.set_ylabel(f"mean excess E[{beyond}]")
    ax.set_title(_title(fit, f"mean residual life, {tail} tail"))
    if candidates:
        _overlay_candidates(ax, fit, tail)
    else:
        ax.legend(fontsize="small", loc="upper left")
    return fig


def plot_parameter_stability(
    fit, *, tail: str | None = None, thresholds=None, ci_prob: float = 0.95, candidates: bool = True, ax=None
) -> Figure:
    """Parameter-stability plot (Coles 2001, §4.3.1), with the fit's candidate thresholds.

    Two panels: the maximum likelihood GPD shape ``ξ`` and the modified scale
    ``σ* = σ_u - ξ u`` of the excesses over each threshold, with delta-method intervals
    (:func:`sbp_bayes.thresholds.parameter_stability`). Above a valid threshold both are
    constant up to sampling error. The candidate thresholds and their weights are
    overlaid as in :func:`plot_mean_residual_life`. For the lower tail the fits are to
    ``u - X`` and ``σ*`` uses the mirrored threshold ``-u``.

    Parameters
    ----------
    fit : SBPFit
    tail : {"upper", "lower"}, optional
    thresholds : sequence of float, optional
    ci_prob : float
    candidates : bool
    ax : sequence of two matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_parameter_stability(fit)  # doctest: +SKIP
    """
    from sbp_bayes.thresholds import parameter_stability

    tail = _diagnostic_tail(fit, tail)
    ci_prob = _check_prob(ci_prob)
    table = parameter_stability(fit.data.to_numpy(float), thresholds, tail=tail, ci_prob=ci_prob)
    if ax is None:
        _drop_lazy_jax()
        fig = Figure(figsize=(FIGSIZE[0], 1.6 * FIGSIZE[1]), layout="constrained")
        axes = list(fig.subplots(2, 1, sharex=True))
    else:
        fig, axes = _new_axes(ax, 2)
    u = table.index.to_numpy(float)
    for panel, (column, label) in zip(
        axes, (("xi", "shape ξ"), ("modified_scale", "modified scale σ* = σ_u − ξu")), strict=True
    ):
        panel.fill_between(
            u,
            table[f"{column}_ci_lower"],
            table[f"{column}_ci_upper"],
            color=_POSTERIOR_COLOUR,
            alpha=0.2,
            label=f"{ci_prob:.0%} interval (delta method)",
        )
        panel.plot(u, table[column], color=_POSTERIOR_COLOUR, marker=".", label="maximum likelihood")
        panel.set_ylabel(label)
        if candidates:
            _overlay_candidates(panel, fit, tail)
        else:
            panel.legend(fontsize="small", loc="upper left")
    axes[-1].set_xlabel(_value_label(fit, f"{tail} threshold u"))
    axes[0].set_title(_title(fit, f"parameter stability, {tail} tail"))
    return fig


def _detached(plot_collection) -> Figure:
    """The figure of an ArviZ PlotCollection, detached from pyplot.

    ArviZ draws through ``pyplot.subplots``; closing *this* figure in pyplot only stops
    pyplot from tracking it (it still draws and saves), so that every figure of this
    module behaves alike and none accumulates in pyplot's registry.
    """
    from matplotlib import pyplot

    figure = plot_collection.get_viz("figure")
    pyplot.close(figure)
    return figure


def _arviz_var_names(fit, var_names, *, drop_thresholds: bool) -> list[str]:
    if var_names is None and fit.config.get("sampler") == "exact":
        raise ValueError(
            f"A fit of family {fit.family!r} draws exactly from its conjugate posterior: there are no "
            "Markov chains to diagnose (pass var_names to plot the draws anyway)."
        )
    names = (
        fit.parameter_names()
        if var_names is None
        else [var_names]
        if isinstance(var_names, str)
        else list(var_names)
    )
    if var_names is None and drop_thresholds:
        names = [name for name in names if not name.endswith("_threshold")]
    posterior = fit.idata["posterior"]
    missing = [name for name in names if name not in posterior]
    if missing:
        raise ValueError(
            f"No posterior variable(s) {', '.join(missing)}; this fit has: {', '.join(posterior.data_vars)}."
        )
    return names


def plot_trace(fit, var_names: Sequence[str] | None = None) -> Figure:
    """ArviZ trace plot of the tail parameters: per-chain distribution and trace of each.

    Uses :func:`arviz_plots.plot_trace_dist` (the classic two-column trace plot).
    ``var_names`` defaults to :meth:`SBPFit.parameter_names` (tail shape, scale, tail
    mass and, when uncertain, threshold of each tail). A threshold takes a few discrete
    values, and a kernel density estimate would invent a smooth density between them:
    when one is shown, every marginal is drawn as an ECDF (steps at the candidate
    thresholds); otherwise as a KDE.

    Parameters
    ----------
    fit : SBPFit
    var_names : sequence of str, optional
        Posterior variables to show.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> fig = plot_trace(fit, ["upper_xi", "upper_sigma"])
    >>> fig.get_suptitle()
    'danish: trace plot (4 chains), KDE per chain'
    >>> plot_trace(fit).get_suptitle()  # upper_threshold is among the defaults
    'danish: trace plot (4 chains), ECDF per chain'
    """
    import arviz_plots as azp

    _drop_lazy_jax()

    names = _arviz_var_names(fit, var_names, drop_thresholds=False)
    kind = "ecdf" if any(_is_discrete(fit, name) for name in names) else "kde"
    collection = azp.plot_trace_dist(fit.idata, var_names=names, kind=kind, backend="matplotlib")
    figure = _detached(collection)
    chains = fit.idata["posterior"].sizes["chain"]
    figure.suptitle(_title(fit, f"trace plot ({chains} chains), {kind.upper()} per chain"))
    return figure


def _is_discrete(fit, name: str) -> bool:
    """Whether a posterior variable takes few distinct values (a threshold on a grid of
    candidates, an index): integers, or at most 20 distinct values over all draws."""
    values = np.asarray(fit.idata["posterior"][name].values)
    if values.dtype.kind in "iub":
        return True
    return name.endswith(("_threshold", "_threshold_index")) or np.unique(values).size <= 20


def plot_rank(fit, var_names: Sequence[str] | None = None) -> Figure:
    """ArviZ rank plot (fractional-rank ECDF differences with a simultaneous envelope).

    Uses :func:`arviz_plots.plot_rank`. Chains that mix well give curves inside the
    envelope. ``var_names`` defaults to :meth:`SBPFit.parameter_names` without the
    thresholds: a threshold takes a few discrete values, whose tied ranks make the
    rank ECDF leave the envelope however well the chains mix.

    Parameters
    ----------
    fit : SBPFit
    var_names : sequence of str, optional
        Posterior variables to show.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_rank(datasets.load_example_fit(), ["upper_xi"])
    >>> fig.axes[0].get_title()
    'upper_xi'
    """
    import arviz_plots as azp

    _drop_lazy_jax()

    names = _arviz_var_names(fit, var_names, drop_thresholds=True)
    collection = azp.plot_rank(
        fit.idata, var_names=names, backend="matplotlib", figure_kwargs={"layout": "constrained"}
    )
    figure = _detached(collection)
    figure.suptitle(_title(fit, f"rank plot ({fit.idata['posterior'].sizes['chain']} chains)"))
    return figure


# ----------------------------------------------------------------------------- predictive


def plot_posterior_predictive(
    fit,
    *,
    n_draws: int = 100,
    kind: str = "ecdf",
    xscale: str = "auto",
    random_seed=None,
    ax=None,
) -> Figure:
    """Replicated data sets against the observed data.

    For ``n_draws`` posterior draws (evenly spaced over the chains), a data set of the
    same size as the observed one is drawn from that draw's SBP, one at a time (memory
    is one data set, whatever ``n_draws``), and its ECDF (or survival function) is drawn
    as a thin line; the observed one is drawn in black. Each curve is drawn at no more
    than 2000 order statistics (the 250 most extreme at each end all kept).

    Parameters
    ----------
    fit : SBPFit
    n_draws : int
        Number of replicated data sets.
    kind : {"ecdf", "survival"}
        ``"survival"`` plots the fraction of values at or above x on a log axis, which
        shows the upper tail.
    xscale : {"auto", "linear", "log"}
        ``"auto"`` uses a log axis for positive data whose maximum is more than 20 times
        their median (a heavy tail), linear otherwise.
    random_seed : int or numpy.random.Generator, optional
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fig = plot_posterior_predictive(datasets.load_example_fit(), kind="survival", n_draws=50,
    ...                                 random_seed=1)
    >>> fig.axes[0].get_ylabel(), fig.axes[0].get_yscale()
    ('fraction of values at or above x', 'log')
    """
    if kind not in ("ecdf", "survival"):
        raise ValueError(f"kind must be 'ecdf' or 'survival'; got {kind!r}.")
    if int(n_draws) < 1:
        raise ValueError(f"n_draws must be at least 1; got {n_draws}.")
    values = _sorted_data(fit)
    xscale = _resolve_scale(xscale, values, "plot_posterior_predictive(xscale=...)")

    fig, (ax,) = _new_axes(ax)
    n = values.size
    ranks = _plotting_ranks(n)
    # ECDF F_n(x) = i / n on [x_(i), x_(i+1)): a step after each point. Fraction at or
    # above x = (n - i + 1) / n on (x_(i-1), x_(i)]: a step before each point.
    heights = (ranks + 1) / n if kind == "ecdf" else (n - ranks) / n
    steps = "steps-post" if kind == "ecdf" else "steps-pre"
    dist = _draw_distribution(fit, int(n_draws))
    rng = np.random.default_rng(random_seed)
    n_kept = dist.batch_shape[0]
    for i in range(n_kept):
        replicate = np.sort(dist[i].rvs(size=n, random_state=rng))
        ax.plot(
            replicate[ranks],
            heights,
            drawstyle=steps,
            color=_POSTERIOR_COLOUR,
            alpha=0.15,
            linewidth=0.8,
            label=f"replicated data ({n_kept} posterior draws)" if i == 0 else None,
        )
    ax.plot(values[ranks], heights, drawstyle=steps, color="black", linewidth=1.5, label="observed data")
    ax.set_xscale(xscale)
    if kind == "survival":
        ax.set_yscale("log")
        ax.set_ylabel("fraction of values at or above x")
    else:
        ax.set_ylabel("empirical CDF")
    ax.set_xlabel(_value_label(fit))
    what = "ECDF" if kind == "ecdf" else "survival function"
    ax.set_title(_title(fit, f"posterior predictive check ({what})"))
    legend = ax.legend(fontsize="small", loc="lower right" if kind == "ecdf" else "lower left")
    for handle in legend.legend_handles:  # the replicates are faint; their legend entry need not be
        handle.set_alpha(1.0)
    return fig


# ----------------------------------------------------------------------------- output


def save_figure(fig: Figure, path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise) and return the path.

    Parent folders are created; a path without a suffix gets ``.png``.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> fig = Figure()
    >>> _ = fig.subplots().plot([0, 1], [0, 1])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(fig, Path(folder) / "figures" / "line")
    ...     (path.name, path.stat().st_size > 0)
    ('line.png', True)
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


# ----------------------------------------------------------------------------- model comparison

#: PP-MAE regions of :func:`sbp_bayes.compare`, in the order they are drawn.
_PP_REGIONS = ("lower_tail", "base", "upper_tail", "full")


def plot_comparison(table) -> Figure:
    """Model comparison at a glance, from the table of :func:`sbp_bayes.compare`.

    Left: each model's expected log predictive density relative to the best model,
    ``elpd_loo - max(elpd_loo)``, with a bar of ``±2 dse`` (the standard error of the paired
    difference; the best model sits at 0 without one). A model whose bar stays left of
    0 is worse than the best by more than two standard errors. Without LOO (a table
    made with ``loo=False``) the panel shows the held-out log score ``test_elpd``
    relative to the best instead, without bars. Right, when the table has held-out
    calibration: the PP-plot MAE by region (the paper's protocol, :func:`sbp_bayes.pp_mae`)
    of each model; smaller is better calibrated. Legends sit outside the panels, so that
    they never cover a bar.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`sbp_bayes.compare`, indexed by model name, best
        first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame(
    ...     {"elpd_loo": [-100.0, -130.0], "elpd_diff": [0.0, -30.0], "dse": [0.0, 6.0],
    ...      "pp_mae_lower_tail": [0.01, 0.05], "pp_mae_base": [0.02, 0.1],
    ...      "pp_mae_upper_tail": [0.01, 0.04], "pp_mae_full": [0.015, 0.08]},
    ...     index=pd.Index(["sbp", "normal"], name="model"))
    >>> fig = plot_comparison(table)
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (2, 'elpd_loo - elpd_loo of the best model (±2 dse)')
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_comparison needs the (non-empty) DataFrame returned by sbp_bayes.compare.")
    models = [str(name) for name in table.index]
    has_loo = {"elpd_loo", "elpd_diff", "dse"} <= set(table.columns)
    if not has_loo and "test_elpd" not in table.columns:
        raise ValueError(
            "The table has neither LOO columns (elpd_loo, elpd_diff, dse) nor a held-out test_elpd: "
            "make it with sbp_bayes.compare(fits) or compare(fits, test_data=..., loo=False)."
        )
    pp_columns = [f"pp_mae_{region}" for region in _PP_REGIONS if f"pp_mae_{region}" in table.columns]
    n_panels = 2 if pp_columns else 1
    _drop_lazy_jax()
    fig = Figure(figsize=(6.0 * n_panels, 1.2 + 0.45 * len(models)), layout="constrained")
    axes = list(fig.subplots(1, n_panels, squeeze=False)[0])
    positions = np.arange(len(models))[::-1]  # the best model on top

    ax = axes[0]
    if has_loo:
        elpd = table["elpd_loo"].to_numpy(dtype=float)
        difference = elpd - np.nanmax(elpd)
        half_width = 2.0 * np.nan_to_num(table["dse"].to_numpy(dtype=float))
        ax.errorbar(
            difference,
            positions,
            xerr=half_width,
            fmt="o",
            color=_POSTERIOR_COLOUR,
            ecolor=_POSTERIOR_COLOUR,
            capsize=3,
            label="elpd_loo difference ± 2 dse",
        )
        ax.set_xlabel("elpd_loo - elpd_loo of the best model (±2 dse)")
        ax.set_title("Out-of-sample accuracy (PSIS-LOO)")
    else:
        scores = table["test_elpd"].to_numpy(dtype=float)
        ax.plot(scores - np.nanmax(scores), positions, "o", color=_POSTERIOR_COLOUR)
        ax.set_xlabel("held-out log score - that of the best model")
        ax.set_title("Held-out predictive accuracy")
    ax.axvline(0.0, color="0.3", linestyle="--", linewidth=1.0)
    ax.set_yticks(positions, models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.grid(axis="x", alpha=0.3)

    if pp_columns:
        ax = axes[1]
        height = 0.8 / len(pp_columns)
        for k, column in enumerate(pp_columns):
            offset = (len(pp_columns) - 1) / 2.0 - k
            ax.barh(
                positions + offset * height,
                table[column].to_numpy(dtype=float),
                height=height,
                color=f"C{k}",
                label=column.removeprefix("pp_mae_").replace("_", " "),
            )
        ax.set_yticks(positions, models)
        ax.set_ylim(-0.6, len(models) - 0.4)
        ax.set_xlabel("PP-plot mean absolute error (held-out data)")
        ax.set_title("Calibration by region (smaller is better)")
        # Outside the panel: inside, the legend would cover the bars of the bottom models.
        ax.legend(
            fontsize="small", title="region", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0
        )
        ax.grid(axis="x", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------- dynamic models
# Figures of a dynamic fit (sbp_bayes.dynamic.DynamicFit) in its report; they take the fit
# and the tables the report computed, so that nothing is computed twice.

#: Posterior draws used for the predictive band of the dynamic series figure.
DYNAMIC_BAND_DRAWS = 400
#: The dynamic series figure's second panel shows the last this many steps.
ZOOM_STEPS = 500
#: Parameters in the dynamic trace figure (those with the largest R-hat).
TRACE_PARAMETERS = 4


def draw_thinning(fit, max_draws: int) -> int:
    """The thinning step that keeps at most ``max_draws`` of a fit's posterior draws."""
    post = fit.idata["posterior"]
    return max(1, math.ceil(post.sizes["chain"] * post.sizes["draw"] / max_draws))


def modelled_time(fit) -> np.ndarray:
    """The time of each modelled step (the index if numeric, else the step number)."""
    index = fit.data.index
    time = np.asarray(index, dtype=float) if index.dtype.kind in "iuf" else np.arange(len(index), dtype=float)
    return time[fit.design.lags :]


def time_name(fit) -> str:
    """The name of a dynamic fit's time axis: its index name, else ``"step"``."""
    return str(fit.data.index.name or "step")


def _dynamic_figure(n_rows: int = 1, n_cols: int = 1, size=(9.0, 4.0)):
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    return figure, axes


def plot_series(fit, scores, unusual, *, ci_prob: float, title: str) -> Figure:
    """The series with the one-step-ahead predictive median and ``ci_prob`` band, the
    most unusual observations ringed; a second panel shows the last :data:`ZOOM_STEPS`."""
    samples = fit.sample_predictive(thin=draw_thinning(fit, DYNAMIC_BAND_DRAWS), random_seed=0)
    alpha = (1 - ci_prob) / 2
    lower, median, upper = np.quantile(samples, [alpha, 0.5, 1 - alpha], axis=0)
    time = modelled_time(fit)
    values = scores["value"].to_numpy()
    flagged = np.zeros(len(scores), dtype=bool)  # by position: an index may repeat
    flagged[np.argsort(scores["tail_probability"].to_numpy(), kind="stable")[: len(unusual)]] = True
    zoom = time.size > 2 * ZOOM_STEPS
    figure, axes = _dynamic_figure(2 if zoom else 1, 1, size=(9.0, 6.5 if zoom else 3.8))
    parts = [slice(None)] + ([slice(time.size - ZOOM_STEPS, None)] if zoom else [])
    for ax, part in zip(axes[:, 0], parts, strict=True):
        ax.fill_between(
            time[part], lower[part], upper[part], color="tab:blue", alpha=0.25, lw=0,
            label=f"{ci_prob:.0%} predictive interval",
        )  # fmt: skip
        ax.plot(time[part], median[part], color="tab:blue", lw=0.8, label="predictive median")
        ax.plot(time[part], values[part], color="0.2", lw=0.4, marker=".", ms=1.5, label="data")
        ring = flagged[part]
        ax.plot(
            time[part][ring], values[part][ring], "o", mfc="none", mec="tab:red", ms=7,
            label=f"{int(flagged.sum())} most unusual",
        )  # fmt: skip
        ax.set_xlabel(time_name(fit))
        ax.set_ylabel(str(fit.target))
    axes[0, 0].legend(loc="upper left", fontsize="small", ncols=2)
    axes[0, 0].set_title(f"{title}: one-step-ahead predictive (in-sample)")
    if zoom:
        axes[1, 0].set_title(f"last {ZOOM_STEPS} steps", fontsize="medium")
    return figure


def plot_calibration(scores, *, title: str) -> Figure:
    """PIT histogram (flat when calibrated, with the 95% band of a uniform sample's bin
    counts) and PP plot with the paper's tail regions shaded."""
    from scipy import stats

    from sbp_bayes.calibration import pp_curve

    pit = scores["pit"].to_numpy()
    figure, axes = _dynamic_figure(1, 2, size=(9.0, 3.8))
    ax = axes[0, 0]
    n_bins = 20
    n = pit.size
    low, high = stats.binom.ppf([0.025, 0.975], n, 1 / n_bins) * n_bins / n
    ax.axhspan(low, high, color="0.85", label="95% band, uniform")
    ax.hist(pit, bins=np.linspace(0, 1, n_bins + 1), density=True, color="tab:blue", alpha=0.8)
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xlabel("PIT (predictive CDF at the observation)")
    ax.set_ylabel("density")
    ax.set_title("PIT histogram")
    ax.legend(fontsize="small", loc="lower center")
    ax = axes[0, 1]
    curve = pp_curve(scores["value"].to_numpy(), cdf_fn=lambda _: pit)
    ax.axvspan(0, 0.05, color="0.92")
    ax.axvspan(0.95, 1, color="0.92")
    ax.plot([0, 1], [0, 1], color="0.3", lw=0.8)
    ax.plot(curve["level"], curve["observed"], ".-", color="tab:blue", ms=3, lw=0.8)
    ax.set_xlabel("level q")
    ax.set_ylabel("fraction of observations below the q-quantile")
    ax.set_title("PP plot (tails shaded)")
    figure.suptitle(f"{title}: in-sample calibration, {n} observations")
    return figure


def plot_tail_shape_path(table, *, end_time: float, time_name: str, title: str) -> Figure:
    """Posterior median and interval of ξ per time block (the last block ends at
    ``end_time``), one line per tail."""
    figure, axes = _dynamic_figure(1, 1, size=(9.0, 3.6))
    ax = axes[0, 0]
    colours = {"lower": "tab:orange", "upper": "tab:blue"}
    for side, rows in table.groupby(level="side", sort=False):
        edges = np.append(rows["start_time"].to_numpy(), end_time)

        def steps(column, rows=rows):
            values = rows[column].to_numpy()
            return np.append(values, values[-1])  # so that the last block is drawn too

        colour = colours[side]
        ax.fill_between(
            edges, steps("ci_lower"), steps("ci_upper"), step="post", color=colour, alpha=0.25, lw=0
        )
        ax.step(edges, steps("median"), where="post", color=colour, label=f"{side} tail")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_xlabel(time_name)
    ax.set_ylabel("tail shape ξ")
    ci = float(table["ci_prob"].iloc[0])
    ax.set_title(f"{title}: tail shape per block (median, {ci:.0%} interval)")
    ax.legend(fontsize="small")
    return figure


def _worst_parameters(fit, diagnostics, count: int) -> list[tuple[str, object]]:
    """``(label, stage)`` of the ``count`` parameters with the largest R-hat."""
    ranked = diagnostics.table.sort_values("r_hat", ascending=False, na_position="last").index
    chosen = []
    for label in ranked[:count]:
        stage = fit.innovations if str(label).startswith("innovation:") else fit
        chosen.append((str(label), stage))
    return chosen


def plot_traces(fit, diagnostics, *, title: str) -> Figure:
    """Per-chain traces and densities of the parameters with the largest R-hat (for a
    vector, its element with the largest R-hat)."""
    import warnings

    import arviz as az

    chosen = _worst_parameters(fit, diagnostics, TRACE_PARAMETERS)
    figure, axes = _dynamic_figure(len(chosen), 2, size=(9.0, 1.9 * len(chosen) + 0.6))
    for row, (label, stage) in enumerate(chosen):
        name = label.removeprefix("innovation:")
        values = stage.idata["posterior"][name]
        extra = [dim for dim in values.dims if dim not in ("chain", "draw")]
        element = ""
        if extra:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # constant elements give 0/0
                rhat = np.asarray(az.rhat(stage.idata, var_names=[name])[name])
            flat = np.nan_to_num(rhat.ravel(), nan=-np.inf)
            position = np.unravel_index(int(np.argmax(flat)), rhat.shape)
            selection = dict(zip(extra, position, strict=True))
            values = values.isel(selection)
            element = "[" + ", ".join(str(values[dim].item()) for dim in extra) + "]"
        draws = values.transpose("chain", "draw").to_numpy()
        for chain in range(draws.shape[0]):
            axes[row, 0].plot(draws[chain], lw=0.5)
            axes[row, 1].hist(draws[chain], bins=30, histtype="step", density=True)
        axes[row, 0].set_ylabel(f"{label}{element}", fontsize="small")
    axes[-1, 0].set_xlabel("draw")
    axes[-1, 1].set_xlabel("value")
    figure.suptitle(f"{title}: traces of the {len(chosen)} parameters with the largest R-hat")
    return figure
