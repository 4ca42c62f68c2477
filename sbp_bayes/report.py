"""Tail answers from a fitted model: quantiles, return levels, exceedance probabilities,
value at risk, expected shortfall, the threshold and tail-shape posteriors, and scores.

Every function takes an :class:`~sbp_bayes.SBPFit` and returns a tidy
:class:`pandas.DataFrame` with one row per requested item. The quantity is computed under
every posterior draw at once (:meth:`SBPFit.distribution`, a batch of draws; no Python
loop over draws) and then summarised. The columns mean the same in every table:

``median``, ``ci_lower``, ``ci_upper``
    Posterior median and credible interval of the per-draw quantity (named ``ci_*`` so
    that they cannot be mistaken for the *lower* and *upper* tails). The interval holds
    ``ci_prob`` of the posterior (default 0.95); ``ci_kind="eti"`` (default) is the
    equal-tailed interval (the ``(1 - ci_prob)/2`` and ``(1 + ci_prob)/2`` quantiles of
    the draws), ``ci_kind="hdi"`` the highest-density interval of the draws
    (:func:`arviz_stats.base.array_stats.hdi`, method ``"nearest"``).
``mean``
    Posterior mean of the per-draw quantity.
``predictive``
    The same quantity for the *posterior predictive* distribution, the mixture of the
    draws' distributions, whose CDF is the average of the draws' CDFs. For a probability
    this is the posterior mean. For a quantile it solves ``mean_s F_s(x) = p``, which is
    **not** the median of the per-draw quantiles: it carries the parameter uncertainty
    and lies further out in a heavy tail (Coles 2001, §9.1.2, "predictive return levels").
``tail``
    Which tail a row is about (``"lower"`` or ``"upper"``; :func:`tail_quantiles` says
    ``"body"`` for a quantile that lies between the thresholds in most draws).
``ci_prob``
    The interval's probability content, repeated on each row so that a row read alone
    says what ``ci_lower`` and ``ci_upper`` are.

``DataFrame.attrs`` records ``quantity`` (what the table holds, in words), ``units`` (of
the data, from ``fit.data.attrs["units"]`` when known), ``ci_prob``, ``ci_kind`` and
``n_draws``.

Infinite values are kept, not dropped: an expected shortfall is ``inf`` in every draw
whose tail shape is ``ξ >= 1``. Medians and intervals are then computed on the extended
real line (the 97.5% point of draws of which 5% are ``inf`` is ``inf``).

References
----------
Coles, S. (2001). *An Introduction to Statistical Modeling of Extreme Values*. Springer.
McNeil, A. J., Frey, R. & Embrechts, P. (2005). *Quantitative Risk Management*. Princeton.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    # clusters of extremes
    "extremal_index_draws",
    # quantiles and levels
    "return_levels",
    "tail_quantiles",
    "value_at_risk",
    # probabilities
    "exceedance_probability",
    "score",
    # risk beyond a level
    "expected_shortfall",
    # parameters
    "tail_shape_posterior",
    "threshold_posterior",
    "threshold_weights",
]

CI_KINDS = ("eti", "hdi")
TAIL_SIDES = ("upper", "lower")
# Bisection steps for predictive quantiles: halving the bracket this often reaches the
# spacing of floating-point numbers for any bracket a posterior can produce.
_BISECTION_STEPS = 120
# ... but stop once the bracket is this narrow relative to its ends.
_BISECTION_TOLERANCE = 1e-13
# Largest (values x draws) block evaluated at once in score().
_SCORE_BLOCK_ELEMENTS = 1 << 21


# ----------------------------------------------------------------------------- checks


def _check_interval(ci_prob, ci_kind) -> tuple[float, str]:
    try:
        ci_prob = float(ci_prob)
    except (TypeError, ValueError):
        raise ValueError(f"ci_prob must be a number in (0, 1), e.g. 0.95; got {ci_prob!r}.") from None
    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must lie strictly between 0 and 1 (e.g. 0.95); got {ci_prob!r}.")
    if ci_kind not in CI_KINDS:
        raise ValueError(
            f"ci_kind must be 'eti' (equal-tailed interval) or 'hdi' (highest-density interval); "
            f"got {ci_kind!r}."
        )
    return ci_prob, ci_kind


def _as_vector(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers; got {values!r}.") from None
    if array.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence of numbers; got shape {array.shape}.")
    array = np.atleast_1d(array)
    if array.size == 0:
        raise ValueError(f"{name} is empty; give at least one value.")
    if np.isnan(array).any():
        where = np.flatnonzero(np.isnan(array))[:5].tolist()
        raise ValueError(f"{name} contains NaN (at position(s) {where}); give numbers only.")
    return array


def _check_probabilities(values, name: str) -> np.ndarray:
    probs = _as_vector(values, name)
    bad = (probs <= 0) | (probs >= 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie strictly between 0 and 1; got {probs[bad].tolist()}. "
            f"(Give probabilities, e.g. 0.99, not percentages.)"
        )
    return probs


def _check_tail(fit, tail) -> str:
    if tail not in TAIL_SIDES:
        raise ValueError(f"tail must be 'upper' or 'lower'; got {tail!r}.")
    if not fit.sides:
        # A family without GPD tails (normal, student_t, binned) models the whole line in
        # one law: both of its tails are as much "the model" as its centre.
        return tail
    if tail not in fit.sides:
        raise ValueError(
            f"This fit has no {tail} tail (it was fitted with tails={fit.tails!r}), so there is no "
            f"{tail}-tail answer to give. Ask for tail={fit.sides[0]!r}, or refit with "
            f"tails='both' or tails={tail!r}."
        )
    return tail


def _observations_per_period(fit, observations_per_period) -> float | None:
    if observations_per_period is None:
        observations_per_period = fit.data.attrs.get("observations_per_year")
        if observations_per_period is None:
            # Dated data give the rate themselves: observations / span of the record.
            from sbp_bayes.dates import record_rate

            rate = record_rate(fit.data)
            if rate is None:
                return None
            observations_per_period = rate.observations_per_year
    try:
        value = float(observations_per_period)
    except (TypeError, ValueError):
        raise ValueError(
            f"observations_per_period must be a positive number; got {observations_per_period!r}."
        ) from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"observations_per_period must be a positive number; got {observations_per_period!r}."
        )
    return value


#: Seed of the pairing of extremal-index draws with posterior draws (fixed: reports repeat).
_THETA_PAIRING_SEED = 20030101


def extremal_index_draws(fit, extremal_index, tail: str = "upper") -> np.ndarray | None:
    """Draws of the extremal index ``θ``, one per posterior draw of ``fit``.

    Parameters
    ----------
    fit : SBPFit
    extremal_index : None, float, ExtremalIndex or str
        ``None``: no clustering adjustment (returns ``None``). A number in ``(0, 1]``:
        that ``θ`` in every draw. An :class:`~sbp_bayes.clusters.ExtremalIndex`: its
        draws (posterior or bootstrap), resampled to the fit's number of draws with a
        fixed seed and paired with the draws at random, i.e. ``θ`` taken as independent
        of the marginal tail. A method name (``"intervals"``, ``"runs"``, ``"kgaps"``):
        estimated from the fitted data at the posterior median of the ``tail``
        threshold (:meth:`SBPFit.extremal_index`).

    Returns
    -------
    numpy.ndarray or None
        Shape ``(n_draws,)``.
    """
    if extremal_index is None:
        return None
    from sbp_bayes.clusters import EXTREMAL_INDEX_METHODS, ExtremalIndex

    if fit.data.attrs.get("declustered"):
        raise ValueError(
            f"This fit was made on declustered data ({fit.data.attrs['declustered']}): its tail already "
            "describes cluster maxima, so an extremal index would count the clustering twice; leave "
            "extremal_index out."
        )

    if isinstance(extremal_index, str):
        if extremal_index not in EXTREMAL_INDEX_METHODS:
            raise ValueError(
                f"extremal_index must be a number in (0, 1], an ExtremalIndex, or a method name "
                f"({', '.join(EXTREMAL_INDEX_METHODS)}); got {extremal_index!r}."
            )
        extremal_index = fit.extremal_index(method=extremal_index, tail=tail)
    if isinstance(extremal_index, ExtremalIndex):
        rng = np.random.default_rng(_THETA_PAIRING_SEED)
        return rng.choice(extremal_index.draws, size=fit.n_draws, replace=True)
    try:
        theta = float(extremal_index)
    except (TypeError, ValueError):
        raise ValueError(
            "extremal_index must be a number in (0, 1], an ExtremalIndex or a method name; "
            f"got {extremal_index!r}."
        ) from None
    if not 0.0 < theta <= 1.0:
        raise ValueError(
            "extremal_index must lie in (0, 1] (1 = no clustering, 1/theta = mean cluster size); "
            f"got {theta!r}."
        )
    return np.full(fit.n_draws, theta)


# ----------------------------------------------------------------------------- summaries


def _extended_quantiles(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """``numpy.quantile`` (linear) along the last axis, correct on the extended reals.

    numpy interpolates ``a + t (b - a)``, which is NaN when ``b = inf``; between a finite
    value and ``inf`` the answer is ``inf`` (and ``-inf`` likewise), and between two
    equal values it is that value. Returns shape ``(len(probs), *values.shape[:-1])``.
    """
    if np.isfinite(values).all():
        return np.quantile(values, probs, axis=-1)
    below = np.quantile(values, probs, axis=-1, method="lower")
    above = np.quantile(values, probs, axis=-1, method="higher")
    with np.errstate(invalid="ignore"):
        linear = np.quantile(values, probs, axis=-1)
    out = np.where(np.isposinf(above), np.inf, np.where(np.isneginf(below), -np.inf, linear))
    return np.where(below == above, below, out)


def _summary(values: np.ndarray, ci_prob: float, ci_kind: str, *, with_mean: bool = True) -> dict:
    """Median, interval and mean of per-draw values (draws on the last axis)."""
    values = np.asarray(values, dtype=float)
    if ci_kind == "eti":
        tails = [(1.0 - ci_prob) / 2.0, (1.0 + ci_prob) / 2.0]
        median, lower, upper = _extended_quantiles(values, [0.5, *tails])
    else:
        from arviz_stats.base import array_stats

        median = _extended_quantiles(values, [0.5])[0]
        with np.errstate(invalid="ignore"):  # widths inf - inf when most draws are infinite
            bounds = np.asarray(array_stats.hdi(values, ci_prob, axis=-1))
        lower, upper = bounds[..., 0], bounds[..., 1]
    out = {"median": median, "ci_lower": lower, "ci_upper": upper}
    if with_mean:
        with np.errstate(invalid="ignore"):  # inf and -inf together have no mean (NaN)
            out["mean"] = values.mean(axis=-1)
    return out


def _frame(columns: dict, index: pd.Index, fit, *, quantity: str, ci_prob: float, ci_kind: str, **attrs):
    frame = pd.DataFrame(columns, index=index)
    frame["ci_prob"] = float(ci_prob)
    frame.attrs.update(
        {
            "quantity": quantity,
            "units": fit.data.attrs.get("units"),
            "ci_prob": float(ci_prob),
            "ci_kind": ci_kind,
            "n_draws": int(fit.n_draws),
            **attrs,
        }
    )
    return frame


def _oriented(fit, tail: str):
    """The draws' distribution turned so that the requested tail is the upper one.

    A lower-tail answer about ``X`` is the upper-tail answer about ``-X`` with its sign
    flipped (``Q_X(p) = -Q_{-X}(1 - p)``), so each quantity is written once.
    """
    dist = fit.distribution()
    return (dist, 1.0) if tail == "upper" else (dist.mirror(), -1.0)


def _predictive_upper_quantile(
    dist, exceedance: np.ndarray, per_draw: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """``x`` with ``mean_s P_s(X > x) = exceedance`` (one per row of ``per_draw``).

    The mixture quantile lies between the smallest and the largest per-draw quantile
    (there every draw is below/above its own quantile), so bisection on that bracket
    finds it. The survival side is used so that tiny exceedance probabilities keep
    their precision. Where a draw's quantile overflowed to ``inf`` and the finite
    bracket does not reach the level, the answer is ``inf``. With ``weights`` (one per
    draw, e.g. extremal indices) it solves ``mean_s w_s P_s(X > x) = exceedance`` with
    ``per_draw`` the draws' own solutions ``P_s(X > x_s) = exceedance / w_s``.
    """
    finite = np.isfinite(per_draw)
    low = np.min(np.where(finite, per_draw, np.inf), axis=-1)
    high = np.max(np.where(finite, per_draw, -np.inf), axis=-1)
    none_finite = ~np.isfinite(low)
    low, high = np.where(none_finite, 0.0, low), np.where(none_finite, 0.0, high)

    def reached(x):  # the mixture's survival at x is at most the target
        survival = dist.sf(x[:, None])
        if weights is not None:
            survival = survival * weights
        return survival.mean(axis=-1) <= exceedance

    beyond = ~reached(high)
    for _ in range(_BISECTION_STEPS):
        if np.all(high - low <= _BISECTION_TOLERANCE * np.maximum(np.abs(high), np.abs(low))):
            break
        middle = low + (high - low) / 2.0
        ok = reached(middle)
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
    return np.where(none_finite | beyond, np.inf, high)


def _tail_quantile_draws(dist, exceedance: np.ndarray) -> np.ndarray:
    """Per-draw upper quantiles at exceedance probabilities, shape ``(n, n_draws)``."""
    return dist.isf(exceedance[:, None])


def _check_fit_has_draws(fit) -> None:
    if fit.n_draws < 1:
        raise ValueError("The fit has no posterior draws to summarise.")


def _check_has_tails(fit, what: str) -> None:
    """Threshold and tail-shape answers need a GPD tail, which some families do not have."""
    if not fit.sides:
        raise ValueError(
            f"A fit of family {fit.family!r} has no GPD tail, so it has no {what} to report; "
            "its quantiles, value at risk, expected shortfall and return levels are available."
        )


# ----------------------------------------------------------------------------- quantiles


def tail_quantiles(fit, probs=(0.001, 0.01, 0.99, 0.999), *, ci_prob=0.95, ci_kind="eti") -> pd.DataFrame:
    """Quantiles at the levels ``probs``, with credible intervals.

    Parameters
    ----------
    fit : SBPFit
    probs : float or sequence of float
        Non-exceedance probabilities in (0, 1): the ``p``-quantile is the value ``x``
        with ``P(X <= x) = p``.
    ci_prob : float
        Probability content of the credible interval (default 0.95).
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Index ``prob``. Columns: ``tail`` (the region the quantile falls in for most
        draws: ``"lower"`` or ``"upper"`` GPD tail, or ``"body"``), ``median``,
        ``ci_lower``, ``ci_upper``, ``mean`` (of the per-draw quantiles ``Q_s(p)``),
        ``predictive`` (the ``p``-quantile of the posterior predictive mixture, which is
        not the median of the per-draw quantiles), ``in_tail_fraction`` (fraction of
        draws in which ``p`` lies beyond the draw's threshold, i.e. the quantile comes
        from a GPD) and ``ci_prob``.

    Examples
    --------
    The bundled example fit (Danish fire losses, million DKK, upper tail):

    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.tail_quantiles([0.99, 0.999])
    >>> table[["tail", "median", "ci_lower", "ci_upper", "predictive"]].round(1)
            tail  median  ci_lower  ci_upper  predictive
    prob
    0.990  upper    27.5      22.5      34.6        27.7
    0.999  upper   107.7      67.9     212.0       113.3
    """
    probs = _check_probabilities(probs, "probs")
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    dist = fit.distribution()
    column = probs[:, None]
    per_draw = dist.ppf(column)
    # Families without GPD tails (normal, student_t, binned) have no tail mass: "body".
    no_tail = np.zeros(fit.n_draws)
    in_lower = column < getattr(dist, "lower_tail_prob", no_tail)
    in_upper = (1.0 - column) < getattr(dist, "upper_tail_prob", no_tail)
    lower_share, upper_share = in_lower.mean(axis=-1), in_upper.mean(axis=-1)
    region = np.where(lower_share > 0.5, "lower", np.where(upper_share > 0.5, "upper", "body"))

    # Predictive quantiles: upper levels on the survival side, lower ones on the mirror.
    upper_side = probs >= 0.5
    predictive = np.empty(probs.size)
    if upper_side.any():
        predictive[upper_side] = _predictive_upper_quantile(
            dist, 1.0 - probs[upper_side], per_draw[upper_side]
        )
    if (~upper_side).any():
        predictive[~upper_side] = -_predictive_upper_quantile(
            dist.mirror(), probs[~upper_side], -per_draw[~upper_side]
        )
    columns = {
        "tail": region,
        **_summary(per_draw, ci_prob, ci_kind),
        "predictive": predictive,
        "in_tail_fraction": lower_share + upper_share,
    }
    return _frame(
        columns,
        pd.Index(probs, name="prob"),
        fit,
        quantity="quantiles Q(p), P(X <= Q(p)) = p",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
    )


def return_levels(
    fit,
    periods=(10, 50, 100),
    observations_per_period=None,
    *,
    tail="upper",
    ci_prob=0.95,
    ci_kind="eti",
    extremal_index=None,
) -> pd.DataFrame:
    """Return levels: the level exceeded on average once per ``period``.

    Coles' (2001, §4.3.3) convention for a threshold model: with ``n_y`` observations
    per period (e.g. 365.25 daily values a year), the ``T``-period return level is the
    value exceeded by one observation with probability ``1 / (T n_y)``, i.e. the
    ``1 - 1/(T n_y)`` quantile. With ``tail="lower"`` it is the level *undercut* on
    average once per period, the ``1/(T n_y)`` quantile.

    Parameters
    ----------
    fit : SBPFit
    periods : float or sequence of float
        Return periods ``T > 0``, in periods (years when ``n_y`` counts observations a year).
    observations_per_period : float, optional
        ``n_y``. Defaults to ``fit.data.attrs["observations_per_year"]``: set by the
        bundled datasets, by a spec's ``observations_per_year``, or inferred from the
        dates when the data have a :class:`~pandas.DatetimeIndex` (observations divided
        by the record's span in years, gaps included; see :mod:`sbp_bayes.dates`), so
        that periods are years. Without any of these a ``ValueError`` asks for it.
    tail : {"upper", "lower"}
    ci_prob, ci_kind
        Credible interval (default 95%, equal-tailed).
    extremal_index : None, float, ExtremalIndex or str
        Account for clusters of extremes (see :mod:`sbp_bayes.clusters`): with extremal
        index ``θ``, ``P(max of n <= z) ≈ F(z)^{n θ}``, so the level exceeded by one
        cluster on average once per period is the ``1 - 1/(T n_y θ)`` quantile (Coles
        2001, §5.3.2). A number fixes ``θ``; an
        :class:`~sbp_bayes.clusters.ExtremalIndex` (or a method name, estimated from the
        data at the fit's threshold) carries its uncertainty into the intervals, one
        ``θ`` draw per posterior draw (:func:`extremal_index_draws`). Default ``None``:
        ``θ = 1``, the observations treated as independent. A tail fitted with every
        exceedance counted as independent evidence is too confident for clustered data:
        fit with ``cluster_adjustment="extremal_index"`` (or ``"sandwich"``,
        :func:`sbp_bayes.fit`) for intervals that cover the true levels.

    Returns
    -------
    pandas.DataFrame
        Index ``return_period``. Columns ``tail``, ``exceedance_prob`` (per observation,
        ``1/(T n_y)``; with an extremal index ``1/(T n_y θ)`` at the posterior mean of
        ``θ``), ``median``, ``ci_lower``, ``ci_upper``, ``mean`` (of the per-draw
        levels), ``predictive`` (level of the posterior predictive mixture: Coles'
        predictive return level), ``extremal_index`` (only when one is given: mean of
        the ``θ`` draws used, the posterior mean for K-gaps, the bootstrap mean for the
        other estimators) and ``ci_prob``. ``attrs["observations_per_period"]`` holds ``n_y``.

    Examples
    --------
    The Danish losses know their rate (``fit.data.attrs["observations_per_year"]``, 197
    losses a year), so the periods are in years:

    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.return_levels([10, 100])
    >>> table[["median", "ci_lower", "ci_upper", "predictive"]].round(1)
                   median  ci_lower  ci_upper  predictive
    return_period
    10.0            159.8      89.7     373.3       174.5
    100.0           617.6     207.2    2901.0       838.4
    """
    tail = _check_tail(fit, tail)
    periods = _as_vector(periods, "periods")
    if np.any(periods <= 0) or not np.isfinite(periods).all():
        raise ValueError(f"periods must be positive and finite; got {periods.tolist()}.")
    n_per_period = _observations_per_period(fit, observations_per_period)
    if n_per_period is None:
        raise ValueError(
            "How many observations make one period? The data have no dates (a DatetimeIndex) and no "
            "attrs['observations_per_year']; pass observations_per_period (e.g. 365.25 for daily data and "
            "periods in years), or fit a Series indexed by its dates."
        )
    exceedance = 1.0 / (periods * n_per_period)
    if np.any(exceedance >= 1):
        raise ValueError(
            f"A return period must span more than one observation: periods x observations_per_period "
            f"= {(periods * n_per_period).tolist()} must all exceed 1."
        )
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    theta = extremal_index_draws(fit, extremal_index, tail)
    dist, sign = _oriented(fit, tail)
    if theta is None:
        per_draw = _tail_quantile_draws(dist, exceedance)
        predictive = _predictive_upper_quantile(dist, exceedance, per_draw)
        theta_mean = 1.0
    else:
        # One cluster per T periods: each draw's level at 1 / (T n_y theta_s).
        per_observation = exceedance[:, None] / theta[None, :]
        if np.any(per_observation >= 1):
            raise ValueError(
                "A return period must span more than one cluster: periods x observations_per_period x "
                "extremal_index must all exceed 1; ask for longer periods."
            )
        per_draw = dist.isf(per_observation)
        predictive = _predictive_upper_quantile(dist, exceedance, per_draw, weights=theta)
        theta_mean = float(theta.mean())
    columns = {
        "tail": tail,
        "exceedance_prob": exceedance / theta_mean,
        **_summary(sign * per_draw, ci_prob, ci_kind),
        "predictive": sign * predictive,
        **({} if theta is None else {"extremal_index": theta_mean}),
    }
    return _frame(
        columns,
        pd.Index(periods, name="return_period"),
        fit,
        quantity=f"return levels ({'exceeded' if tail == 'upper' else 'undercut'} on average once a period)",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
        observations_per_period=n_per_period,
        extremal_index=theta_mean,
    )


def value_at_risk(fit, levels=(0.95, 0.99), *, tail="upper", ci_prob=0.95, ci_kind="eti") -> pd.DataFrame:
    """Value at risk: the quantile a loss stays within with probability ``level``.

    For ``tail="upper"`` (losses recorded as positive numbers, as in the Danish fire
    data) ``VaR_level = Q(level)``. For ``tail="lower"`` (losses recorded as negative
    numbers, e.g. returns) ``VaR_level = Q(1 - level)``, reported on the data's own
    scale, i.e. as a negative number; flip its sign for the positive-loss convention.

    Parameters
    ----------
    fit : SBPFit
    levels : float or sequence of float
        Confidence levels in (0, 1), e.g. 0.99.
    tail : {"upper", "lower"}
    ci_prob, ci_kind
        Credible interval (default 95%, equal-tailed).

    Returns
    -------
    pandas.DataFrame
        Index ``level``. Columns ``tail``, ``prob`` (the quantile's non-exceedance
        probability: ``level`` or ``1 - level``), ``median``, ``ci_lower``, ``ci_upper``,
        ``mean`` (of the per-draw VaR), ``predictive`` (VaR of the posterior predictive
        mixture, not the median of the per-draw VaRs) and ``ci_prob``.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> fit.value_at_risk([0.99])[["median", "ci_lower", "ci_upper"]].round(1)
           median  ci_lower  ci_upper
    level
    0.99     27.5      22.5      34.6
    """
    tail = _check_tail(fit, tail)
    levels = _check_probabilities(levels, "levels")
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    dist, sign = _oriented(fit, tail)
    exceedance = 1.0 - levels
    per_draw = _tail_quantile_draws(dist, exceedance)
    predictive = _predictive_upper_quantile(dist, exceedance, per_draw)
    columns = {
        "tail": tail,
        "prob": levels if tail == "upper" else 1.0 - levels,
        **_summary(sign * per_draw, ci_prob, ci_kind),
        "predictive": sign * predictive,
    }
    return _frame(
        columns,
        pd.Index(levels, name="level"),
        fit,
        quantity=f"value at risk ({tail} tail)",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
    )


# ----------------------------------------------------------------------------- probabilities


def exceedance_probability(
    fit, x, *, tail="upper", ci_prob=0.95, ci_kind="eti", observations_per_period=None, extremal_index=None
) -> pd.DataFrame:
    """Probability that one observation exceeds ``x`` (``tail="upper"``: ``P(X > x)``)
    or falls below it (``tail="lower"``: ``P(X < x)``).

    Parameters
    ----------
    fit : SBPFit
    x : float or sequence of float
        Levels, in the data's units.
    tail : {"upper", "lower"}
    ci_prob, ci_kind
        Credible interval (default 95%, equal-tailed).
    observations_per_period : float, optional
        Observations per period; defaults to ``fit.data.attrs["observations_per_year"]``.
        When known, the table gets a ``return_period`` column.
    extremal_index : None, float, ExtremalIndex or str
        Clusters of extremes (as in :func:`return_levels`; needs ``n_y``): the return
        period becomes the mean time between *clusters* exceeding ``x``,
        ``1 / (n_y mean_s θ_s P_s)``, and a ``period_max_exceedance`` column gives the
        probability that the maximum of one period exceeds ``x``,
        ``1 - mean_s (1 - P_s)^{n_y θ_s}`` (``extremal_index=1`` gives it for
        independent observations).

    Returns
    -------
    pandas.DataFrame
        Index ``value`` (the levels ``x``). Columns ``tail``, ``median``, ``ci_lower``,
        ``ci_upper`` (of the per-draw probabilities), ``predictive`` (the posterior mean
        of the probability, which is the probability under the posterior predictive
        distribution), ``return_period`` (``1 / (predictive x n_y)``: how many periods
        pass, on average, per exceedance; only when ``n_y`` is known),
        ``period_max_exceedance`` (only with an ``extremal_index``) and ``ci_prob``.

    Examples
    --------
    Losses over 50 and over 150 million DKK, and how many years apart they come on
    average (197 losses a year):

    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.exceedance_probability([50.0, 150.0])
    >>> table[["median", "predictive", "return_period"]].round(5)
            median  predictive  return_period
    value
    50.0   0.00366     0.00378        1.34367
    150.0  0.00056     0.00064        7.90455
    """
    tail = _check_tail(fit, tail)
    values = _as_vector(x, "x")
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    n_per_period = _observations_per_period(fit, observations_per_period)
    _check_fit_has_draws(fit)
    dist, sign = _oriented(fit, tail)
    # P(X < x) = P(-X > -x): the lower tail is the mirror's upper tail.
    per_draw = dist.sf(sign * values[:, None])
    predictive = per_draw.mean(axis=-1)
    columns = {
        "tail": tail,
        **_summary(per_draw, ci_prob, ci_kind, with_mean=False),
        "predictive": predictive,
    }
    theta = extremal_index_draws(fit, extremal_index, tail)
    if theta is not None and n_per_period is None:
        raise ValueError(
            "extremal_index needs the number of observations per period (the clusters per period "
            "follow from it); pass observations_per_period, or fit data indexed by their dates."
        )
    if n_per_period is not None:
        weights = np.ones(fit.n_draws) if theta is None else theta
        with np.errstate(divide="ignore"):
            columns["return_period"] = 1.0 / ((per_draw * weights).mean(axis=-1) * n_per_period)
        if theta is not None:
            # P(max of one period beyond x) = 1 - F^(n_y theta), from the log so tiny P keep precision.
            log_period_max_below = n_per_period * weights * np.log1p(-per_draw)
            columns["period_max_exceedance"] = -np.expm1(log_period_max_below).mean(axis=-1)
    return _frame(
        columns,
        pd.Index(values, name="value"),
        fit,
        quantity=f"probability that one observation is {'above' if tail == 'upper' else 'below'} the value",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
        observations_per_period=n_per_period,
        extremal_index=1.0 if theta is None else float(theta.mean()),
    )


def score(fit, values, *, ci_prob=0.95, ci_kind="eti") -> pd.DataFrame:
    """Where each value falls in the predictive distribution: its percentile (PIT) and a
    two-sided tail probability, usable as an anomaly score.

    This is the idea behind NFL Next Gen Stats' Passing Score built on the spliced
    binned-Pareto: an outcome is placed within the distribution of expected outcomes,
    with heavy tails weighted properly, so that "how unusual was this?" has a calibrated
    answer. ``pit`` is the predictive probability of a value at or below ``y``,
    ``mean_s F_s(y)``; if the model is right, the ``pit`` of new observations is
    uniform on (0, 1). ``tail_probability = 2 min(pit, 1 - pit)`` is the probability of
    something at least as far out in either tail (small = unusual).

    Parameters
    ----------
    fit : SBPFit
    values : float, sequence of float or pandas.Series
        Values to score (a Series keeps its index in the result). ``±inf`` score 0 or 1.
    ci_prob, ci_kind
        Credible interval of the per-draw percentiles (default 95%, equal-tailed).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``values`` (a Series' index, otherwise positions named
        ``observation``). Columns ``value``, ``pit`` (predictive percentile),
        ``median``, ``ci_lower``, ``ci_upper`` (of the per-draw percentiles ``F_s(y)``),
        ``tail`` (``"lower"`` if ``pit < 0.5``, else ``"upper"``),
        ``tail_probability`` (``2 min(pit, 1 - pit)``, from the predictive), its
        per-draw interval ``tail_probability_ci_lower``/``tail_probability_ci_upper`` (of
        ``2 min(F_s, 1 - F_s)``) and ``ci_prob``. Upper-side probabilities come from the
        survival function, so tiny tail probabilities keep their precision.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> fit.score([1.5, 150.0])[["pit", "tail_probability"]].round(4)
                    pit  tail_probability
    observation
    0            0.3545            0.7090
    1            0.9994            0.0013
    """
    if isinstance(values, pd.Series):
        index = values.index
        array = _as_vector(values.to_numpy(dtype=float), "values")
    else:
        array = _as_vector(values, "values")
        index = pd.RangeIndex(array.size, name="observation")
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    dist = fit.distribution()
    n_draws = fit.n_draws
    # Each value is evaluated once, on the side where its probability is small (CDF
    # below the predictive centre, survival above it); the other side is 1 minus it,
    # which loses nothing there because it is at least about one half.
    above_centre = array >= np.median(dist.median())
    near_side = np.empty((array.size, n_draws))
    block = max(1, _SCORE_BLOCK_ELEMENTS // n_draws)
    for side, evaluate in ((above_centre, dist.sf), (~above_centre, dist.cdf)):
        rows = np.flatnonzero(side)
        for start in range(0, rows.size, block):
            chunk = rows[start : start + block]
            near_side[chunk] = evaluate(array[chunk, None])
    cdf = np.where(above_centre[:, None], 1.0 - near_side, near_side)
    sf = np.where(above_centre[:, None], near_side, 1.0 - near_side)
    pit = cdf.mean(axis=-1)
    survival = sf.mean(axis=-1)
    two_sided = np.minimum(2.0 * np.minimum(cdf, sf), 1.0)
    tail_interval = _summary(two_sided, ci_prob, ci_kind, with_mean=False)
    columns = {
        "value": array,
        "pit": pit,
        **_summary(cdf, ci_prob, ci_kind, with_mean=False),
        "tail": np.where(pit < 0.5, "lower", "upper"),
        "tail_probability": np.minimum(2.0 * np.minimum(pit, survival), 1.0),
        "tail_probability_ci_lower": tail_interval["ci_lower"],
        "tail_probability_ci_upper": tail_interval["ci_upper"],
    }
    return _frame(
        columns,
        index,
        fit,
        quantity="predictive percentile (PIT) and two-sided tail probability of each value",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
    )


# ----------------------------------------------------------------------------- beyond a level


def _predictive_partial_upper_mean(dist, level: np.ndarray) -> np.ndarray:
    """Expected shortfall of the posterior predictive mixture at each level.

    With ``q`` the mixture's ``level``-quantile, ``ES = mean_s E_s[X; X > q] / (1 - level)``,
    each draw's partial mean ``E_s[X; X > q]`` from its distribution's
    ``partial_mean_above`` (closed-form beyond a GPD threshold, so far tails keep their
    precision; every family's predictive provides it).
    """
    exceedance = 1.0 - level
    per_draw = dist.isf(exceedance[:, None])
    q = _predictive_upper_quantile(dist, exceedance, per_draw)[:, None]
    return dist.partial_mean_above(q).mean(axis=-1) / exceedance


def expected_shortfall(
    fit, levels=(0.95, 0.99), *, tail="upper", ci_prob=0.95, ci_kind="eti"
) -> pd.DataFrame:
    """Expected shortfall (conditional tail expectation): the mean loss beyond VaR.

    ``ES_level = E[X | X > VaR_level]`` for ``tail="upper"``; for ``tail="lower"``
    ``E[X | X < VaR_level]`` with ``VaR_level = Q(1 - level)``, on the data's own scale
    (negative for losses recorded as negative numbers; see :func:`value_at_risk`).

    Where a draw's tail shape is ``ξ >= 1`` the tail has no finite mean and that draw's
    ES is infinite. Such draws are kept: the median and interval are computed on the
    extended reals (the median itself is infinite if more than half the draws are),
    ``infinite_fraction`` says how many draws are infinite and ``note`` says it in words.

    Parameters
    ----------
    fit : SBPFit
    levels : float or sequence of float
        Confidence levels in (0, 1), e.g. 0.99.
    tail : {"upper", "lower"}
    ci_prob, ci_kind
        Credible interval (default 95%, equal-tailed).

    Returns
    -------
    pandas.DataFrame
        Index ``level``. Columns ``tail``, ``median``, ``ci_lower``, ``ci_upper``, ``mean``
        (of the per-draw ES; infinite if any draw is), ``predictive`` (ES of the
        posterior predictive mixture beyond its own VaR), ``infinite_fraction``,
        ``note`` and ``ci_prob``.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.expected_shortfall([0.99])
    >>> table[["median", "ci_lower", "ci_upper", "infinite_fraction"]].round(1)
           median  ci_lower  ci_upper  infinite_fraction
    level
    0.99     67.9      43.6     318.3                0.0
    >>> table.loc[0.99, "note"]
    'ES is +infinite in 10 of 1000 draws (1%, upper xi >= 1)'
    """
    tail = _check_tail(fit, tail)
    levels = _check_probabilities(levels, "levels")
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    dist, sign = _oriented(fit, tail)
    per_draw = dist.mean_above(levels[:, None])
    infinite = np.isinf(per_draw).mean(axis=-1)
    predictive = _predictive_partial_upper_mean(dist, levels)
    # The note gives the count of draws as well as the share, with enough digits that it
    # reads the same as the infinite_fraction column (1 of 2000 draws is 0.05%, not "0.1%").
    n_draws = per_draw.shape[-1]
    notes = [
        f"ES is {'+' if sign > 0 else '-'}infinite in {count} of {n_draws} draws "
        f"({format(100.0 * count / n_draws, '.3g')}%, {tail} xi >= 1)"
        if count > 0
        else "finite in every draw"
        for count in np.isinf(per_draw).sum(axis=-1)
    ]
    columns = {
        "tail": tail,
        **_summary(sign * per_draw, ci_prob, ci_kind),
        "predictive": sign * predictive,
        "infinite_fraction": infinite,
        "note": notes,
    }
    return _frame(
        columns,
        pd.Index(levels, name="level"),
        fit,
        quantity=f"expected shortfall ({tail} tail): mean beyond the value at risk",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
    )


# ----------------------------------------------------------------------------- parameters


#: A candidate at either end of the range carrying more than this share of the weight
#: (and more than twice a uniform share) is reported: the range may not contain the best threshold.
EDGE_WEIGHT_WARNING = 0.4


def threshold_weights(fit) -> pd.DataFrame:
    """Weight of each candidate threshold, per tail, and how it was obtained.

    The answers of a fit average over the candidate thresholds with these weights. By
    default (``threshold_weights="cross_validation"`` in :func:`sbp_bayes.fit`) they are
    cross-validation weights: proportional to the prior times ``exp(cv_score)``, the sum
    of every observation's exact leave-one-out log predictive relative to the outermost
    candidate (:mod:`sbp_bayes.threshold_selection`). With
    ``threshold_weights="posterior"`` they are the posterior probabilities of the
    marginalised model. ``table.attrs["weights"]`` says which.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, index (``tail``, ``candidate``) with ``candidate`` the
        position among the tail's candidates in ascending threshold order (the value of
        ``*_threshold_index`` in the posterior). Columns:

        - ``threshold``: the candidate value;
        - ``exceedances``: data points beyond it (above for the upper tail, below for the
          lower);
        - ``prior``: its prior probability (uniform unless the fit was given
          ``threshold_priors``);
        - ``weight``: the cross-validation weight, or the Rao-Blackwellised posterior
          probability (the mean over draws of the candidate's conditional probability
          given the draw's tail parameters, ``exp(*_threshold_logprob)``); it sums to 1
          per tail;
        - ``draw_frequency``: the fraction of draws whose threshold is this one (equal
          to ``weight`` up to Monte Carlo error);
        - ``cv_score`` and ``cv_score_se``: the leave-one-out score and the standard
          error of its difference from the best candidate's (NaN for posterior weights).

        A fixed threshold gives one row with weight 1. ``attrs["warnings"]`` lists, in
        words, any weight piled on an end of the candidate range, with what to do.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.threshold_weights()
    >>> table.attrs["weights"], len(table), bool(abs(table["weight"].sum() - 1) < 1e-9)
    ('cross-validation', 10, True)
    """
    from sbp_bayes.model import threshold_log_prior

    _check_fit_has_draws(fit)
    _check_has_tails(fit, "threshold")
    post = fit.idata["posterior"]
    data = np.asarray(fit.data.values, dtype=float)
    priors = fit.config.get("threshold_priors") or {}
    kind = (fit.config.get("family_info") or {}).get("threshold_weights", "posterior")
    cv = fit.idata["threshold_weights"].to_dataset() if "threshold_weights" in fit.idata.children else None
    frames, warnings_ = [], []
    for side in fit.sides:
        if f"{side}_threshold_logprob" in post:
            thresholds = fit.design.lower_thresholds if side == "lower" else fit.design.upper_thresholds
            n_candidates = thresholds.size
            logprob = post[f"{side}_threshold_logprob"].values.reshape(-1, n_candidates)
            chosen = post[f"{side}_threshold_index"].values.reshape(-1)
        else:  # a baseline with a fixed threshold (gpd_normal_gpd, pot_gpd, sbp_continuous)
            thresholds = np.unique(post[f"{side}_threshold"].values)
            n_candidates = 1
            logprob = np.zeros((fit.n_draws, 1))
            chosen = np.zeros(fit.n_draws, dtype=int)
        if side == "upper":
            exceedances = (data[:, None] > thresholds).sum(axis=0)
        else:
            exceedances = (data[:, None] < thresholds).sum(axis=0)
        has_cv = cv is not None and f"{side}_cv_score" in cv
        weight = np.exp(logprob).mean(axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "tail": side,
                    "candidate": np.arange(n_candidates),
                    "threshold": thresholds,
                    "exceedances": exceedances.astype(np.int64),
                    "prior": np.exp(threshold_log_prior(priors.get(side), n_candidates, side)),
                    "weight": weight,
                    "draw_frequency": np.bincount(chosen, minlength=n_candidates) / chosen.size,
                    "cv_score": cv[f"{side}_cv_score"].values if has_cv else np.nan,
                    "cv_score_se": cv[f"{side}_cv_score_se"].values if has_cv else np.nan,
                }
            )
        )
        warnings_ += _edge_warnings(side, thresholds, weight, exceedances)
    frame = pd.concat(frames, ignore_index=True).set_index(["tail", "candidate"])
    label = {"cross_validation": "cross-validation", "fixed": "fixed"}.get(kind, "posterior")
    frame.attrs.update(
        {
            "quantity": f"{label} weight of each candidate threshold",
            "weights": label,
            "units": fit.data.attrs.get("units"),
            "n_draws": int(fit.n_draws),
            "warnings": warnings_,
        }
    )
    return frame


def _edge_warnings(side: str, thresholds, weight, exceedances) -> list[str]:
    """Say when the weight piles on an end of the candidate range, and what to do."""
    if weight.size < 3:
        return []
    messages = []
    uniform = 1.0 / weight.size
    inner, outer = (0, -1) if side == "upper" else (-1, 0)
    for end, where, advice in (
        (
            inner,
            "innermost",
            "the GPD may hold from further in: add candidates with more exceedances "
            "(raise tail_fraction / max_tail_points, or pass the candidates explicitly)",
        ),
        (
            outer,
            "outermost",
            "the GPD may only hold further out: add candidates with fewer exceedances "
            "(lower min_tail_points, or pass the candidates explicitly), and read the tail "
            "answers as resting on few points",
        ),
    ):
        share = float(weight[end])
        if share > EDGE_WEIGHT_WARNING and share > 2 * uniform:
            messages.append(
                f"{share:.0%} of the {side} threshold weight is on the {where} candidate "
                f"({float(thresholds[end]):.4g}, {int(exceedances[end])} exceedances): {advice}."
            )
    return messages


#: The historical name of :func:`threshold_weights` (the table is the same).
threshold_posterior = threshold_weights


def tail_shape_posterior(fit, *, ci_prob=0.95, ci_kind="eti") -> pd.DataFrame:
    """Posterior of each tail's shape ``ξ``, with what it implies, and of its scale.

    ``ξ > 0`` is a heavy (Pareto-type, Fréchet-domain) tail, ``ξ = 0`` an exponential
    one, ``ξ < 0`` a tail that ends at a finite point. Moments of order ``1/ξ`` and
    above do not exist: no finite variance for ``ξ >= 1/2``, no finite mean (and no
    finite expected shortfall) for ``ξ >= 1``.

    Returns
    -------
    pandas.DataFrame
        One row per tail of the fit, index ``tail``. Columns: ``median``, ``ci_lower``,
        ``ci_upper``, ``mean`` (of ``ξ``); ``prob_xi_positive`` ``P(ξ > 0)``,
        ``prob_infinite_variance`` ``P(ξ >= 1/2)``, ``prob_infinite_mean`` ``P(ξ >= 1)``;
        ``sigma_median``, ``sigma_ci_lower``, ``sigma_ci_upper`` (the GPD scale at each draw's
        threshold, in data units; with a threshold prior it mixes thresholds);
        ``threshold_median`` and ``tail_prob_median`` (posterior medians of the threshold
        and of the probability mass beyond it); ``ci_prob``.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = fit.tail_shape_posterior()
    >>> table[["median", "ci_lower", "ci_upper", "prob_infinite_mean"]].round(3)
           median  ci_lower  ci_upper  prob_infinite_mean
    tail
    upper   0.592      0.31     0.914                0.01
    """
    ci_prob, ci_kind = _check_interval(ci_prob, ci_kind)
    _check_fit_has_draws(fit)
    _check_has_tails(fit, "tail shape")
    post = fit.idata["posterior"]
    sides = fit.sides

    def draws(name):
        return np.stack([post[f"{side}_{name}"].values.reshape(-1) for side in sides])

    xi, sigma = draws("xi"), draws("sigma")
    sigma_summary = _summary(sigma, ci_prob, ci_kind, with_mean=False)
    columns = {
        **_summary(xi, ci_prob, ci_kind),
        "prob_xi_positive": (xi > 0).mean(axis=-1),
        "prob_infinite_variance": (xi >= 0.5).mean(axis=-1),
        "prob_infinite_mean": (xi >= 1).mean(axis=-1),
        "sigma_median": sigma_summary["median"],
        "sigma_ci_lower": sigma_summary["ci_lower"],
        "sigma_ci_upper": sigma_summary["ci_upper"],
        "threshold_median": np.median(draws("threshold"), axis=-1),
        "tail_prob_median": np.median(draws("tail_prob"), axis=-1),
    }
    return _frame(
        columns,
        pd.Index(sides, name="tail"),
        fit,
        quantity="posterior of the tail shape xi (median, credible interval, mean) and of the GPD scale",
        ci_prob=ci_prob,
        ci_kind=ci_kind,
    )
