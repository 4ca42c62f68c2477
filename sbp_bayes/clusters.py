"""Clusters of extremes in a time series: the extremal index and runs declustering.

Extremes of a dependent series come in clusters (a storm is several wet days, a crash
several bad days). For a stationary series whose observations have distribution ``F``,
the maximum of ``n`` consecutive observations satisfies, for high levels ``z``,

    ``P(max(X_1, ..., X_n) <= z) ≈ F(z) ** (n θ)``

with ``θ`` in ``(0, 1]`` the **extremal index** (Leadbetter 1983): ``1/θ`` is the mean
cluster size in the limit, ``θ = 1`` means no clustering. Return levels computed as if
the observations were independent ignore ``θ``; :func:`sbp_bayes.report.return_levels`
takes it into account when given ``extremal_index=``.

Three estimators of ``θ`` from the exceedances of a threshold ``u`` (the series is read
in order, one time step per observation):

``"intervals"`` (Ferro & Segers 2003)
    From the inter-exceedance times ``T_i`` (distance between consecutive exceedances),
    ``θ̂ = 2 (Σ T_i)² / ((N-1) Σ T_i²)`` if ``max T_i <= 2``, otherwise
    ``θ̂ = 2 (Σ (T_i - 1))² / ((N-1) Σ (T_i - 1)(T_i - 2))``, capped at 1. No tuning
    constant. Interval: Ferro & Segers' cluster bootstrap (the ``C - 1`` largest
    inter-exceedance times, ``C = ⌊θ̂ N⌋ + 1``, separate ``C`` clusters; inter-cluster
    times and clusters are resampled with replacement and the estimator reapplied).
``"runs"`` (Smith & Weissman 1994)
    Exceedances separated by fewer than ``run_length`` non-exceedances form one
    cluster; ``θ̂ = clusters / exceedances``. Interval: the same cluster bootstrap,
    re-estimated by runs.
``"kgaps"`` (Süveges & Davison 2010) — the Bayesian estimate
    The ``K``-gaps ``S_i = max(T_i - K, 0)``, scaled by the exceedance probability
    ``q = N / n``, have the likelihood
    ``L(θ) = (1 - θ)^{n_0} θ^{2 n_1} exp(-θ Σ q S_i)``
    (``n_0`` zero gaps, ``n_1`` positive ones): a zero gap is a within-cluster step, a
    positive one an exponential waiting time between clusters. With a
    ``Beta(a, b)`` prior (default uniform) the posterior of ``θ`` is one-dimensional and
    is computed exactly on a fine grid; its draws carry the uncertainty into return
    levels. Because ``q`` is estimated from the same exceedances, the likelihood
    overstates its information; by default it is tempered to the information the
    data really carry (see :func:`kgaps_posterior`).

References
----------
Ferro, C. A. T. & Segers, J. (2003). Inference for clusters of extreme values. *JRSS B*
65(2), 545-556.
Süveges, M. & Davison, A. C. (2010). Model misspecification in peaks over threshold
analysis. *Annals of Applied Statistics* 4(1), 203-221.
Smith, R. L. & Weissman, I. (1994). Estimating the extremal index. *JRSS B* 56(3), 515-528.
Coles, S. (2001). *An Introduction to Statistical Modeling of Extreme Values*, §5.3.

Examples
--------
A moving maximum of order 3 of i.i.d. noise has clusters of exactly three exceedances,
``θ = 1/3``:

>>> import numpy as np
>>> z = np.random.default_rng(0).pareto(1.0, size=20_003)
>>> x = np.maximum.reduce([z[2:], z[1:-1], z[:-2]])
>>> estimate = extremal_index(x, threshold=np.quantile(x, 0.98), method="kgaps")
>>> round(estimate.theta, 2), estimate.lower < 1 / 3 < estimate.upper
(0.33, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "EXTREMAL_INDEX_METHODS",
    "ExtremalIndex",
    "cluster_table",
    "decluster",
    "decluster_option",
    "exceedance_groups",
    "extremal_index",
    "intervals_estimate",
    "kgaps_posterior",
]

EXTREMAL_INDEX_METHODS = ("intervals", "runs", "kgaps")
#: Default threshold: this quantile of the data (a common first choice for daily series).
DEFAULT_THRESHOLD_QUANTILE = 0.95
#: Grid points of the K-gaps posterior on (0, 1): spacing 5e-5, far below any posterior sd
#: that a record with fewer than a million exceedances can give.
_KGAPS_GRID = 20_001
#: Draws kept from the posterior or the bootstrap (enough for a 95% interval's end points).
DEFAULT_DRAWS = 1000


@dataclass(frozen=True)
class ExtremalIndex:
    """An estimate of the extremal index ``θ`` with its uncertainty.

    Attributes
    ----------
    method : str
        ``"intervals"``, ``"runs"`` or ``"kgaps"``.
    theta : float
        Point estimate: the estimator's value (posterior mean for ``"kgaps"``).
    lower, upper : float
        Equal-tailed interval of probability ``ci_prob`` (bootstrap percentiles, or
        posterior quantiles for ``"kgaps"``).
    ci_prob : float
    threshold : float
    tail : str
        ``"upper"`` (exceedances above the threshold) or ``"lower"`` (below it).
    n_observations, n_exceedances, n_clusters : int
        Series length, exceedances, and clusters (``θ̂ N`` rounded up for intervals and
        K-gaps, the runs count for runs).
    draws : numpy.ndarray
        Bootstrap replicates or posterior draws of ``θ``: pass the estimate to
        :func:`sbp_bayes.report.return_levels` and they carry this uncertainty.
    settings : dict
        ``run_length`` (runs), ``k`` and ``prior`` (kgaps), ``n_boot`` (bootstrap).
    """

    method: str
    theta: float
    lower: float
    upper: float
    ci_prob: float
    threshold: float
    tail: str
    n_observations: int
    n_exceedances: int
    n_clusters: int
    draws: np.ndarray = field(repr=False)
    settings: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"extremal index ({self.method}) {self.theta:.3f} [{self.lower:.3f}, {self.upper:.3f}] "
            f"({self.ci_prob:.0%} interval; {self.n_exceedances} exceedances of {self.threshold:.4g} "
            f"in {self.n_observations} observations, about {self.n_clusters} clusters)"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row, index ``method``: ``theta``, ``ci_lower``, ``ci_upper``, ``ci_prob``,
        ``threshold``, ``tail``, ``n_observations``, ``n_exceedances``, ``n_clusters``,
        ``mean_cluster_size`` (``1 / theta``)."""
        frame = pd.DataFrame(
            {
                "theta": [self.theta],
                "ci_lower": [self.lower],
                "ci_upper": [self.upper],
                "ci_prob": [self.ci_prob],
                "threshold": [self.threshold],
                "tail": [self.tail],
                "n_observations": [self.n_observations],
                "n_exceedances": [self.n_exceedances],
                "n_clusters": [self.n_clusters],
                "mean_cluster_size": [1.0 / self.theta],
            },
            index=pd.Index([self.method], name="method"),
        )
        frame.attrs["quantity"] = "extremal index: P(max of n <= z) ≈ F(z)^(n theta)"
        return frame


# ----------------------------------------------------------------------------- inputs


def _series_values(values, where: str = "values") -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(f"{where}: got a DataFrame with {values.shape[1]} columns; pass one column.")
        values = values.iloc[:, 0]
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be numbers in time order.") from None
    if array.ndim != 1 or array.size < 3:
        raise ValueError(
            f"{where} must be a one-dimensional series of at least 3 numbers; got shape {array.shape}."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{where} contain {int(bad.sum())} NaN or infinite value(s) (first at position "
            f"{int(np.flatnonzero(bad)[0]) + 1}); clusters are read from consecutive time steps, so "
            "fill the gaps or analyse the complete stretches separately."
        )
    return array


def _exceedance_positions(array: np.ndarray, threshold, tail: str) -> tuple[float, np.ndarray]:
    if tail not in ("upper", "lower"):
        raise ValueError(f"tail must be 'upper' or 'lower'; got {tail!r}.")
    if threshold is None:
        level = DEFAULT_THRESHOLD_QUANTILE if tail == "upper" else 1.0 - DEFAULT_THRESHOLD_QUANTILE
        threshold = float(np.quantile(array, level))
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number; got {threshold!r}.") from None
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite; got {threshold!r}.")
    beyond = array > threshold if tail == "upper" else array < threshold
    positions = np.flatnonzero(beyond)
    if positions.size < 2:
        raise ValueError(
            f"Only {positions.size} of {array.size} observations lie "
            f"{'above' if tail == 'upper' else 'below'} the threshold {threshold:.6g}: at least 2 "
            "exceedances are needed (a few dozen for a useful estimate); lower the threshold."
        )
    return threshold, positions


def _check_ci_prob(ci_prob) -> float:
    ci_prob = float(ci_prob)
    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must lie strictly between 0 and 1 (e.g. 0.95); got {ci_prob!r}.")
    return ci_prob


# ----------------------------------------------------------------------------- estimators


def _intervals_from_sums(n, s1, s2, t_max):
    """The intervals estimator from ``n`` times with sum ``s1``, sum of squares ``s2`` and
    maximum ``t_max`` (arrays broadcast; Ferro & Segers 2003, eq. 4, capped at 1)."""
    n, s1, s2, t_max = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n, s1, s2, t_max)))
    short = t_max <= 2
    # Sum (T - 1) = s1 - n and sum (T - 1)(T - 2) = s2 - 3 s1 + 2 n.
    numerator = np.where(short, 2.0 * s1**2, 2.0 * (s1 - n) ** 2)
    denominator = np.where(short, n * s2, n * (s2 - 3.0 * s1 + 2.0 * n))
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where((n > 0) & (denominator > 0), numerator / denominator, 1.0)
    return np.minimum(theta, 1.0)


def intervals_estimate(times) -> float:
    """Ferro & Segers' (2003) intervals estimator from inter-exceedance times (capped at 1).

    Examples
    --------
    >>> round(intervals_estimate([1, 1, 40, 1, 1, 55, 1, 1, 38]), 3)
    0.662
    """
    times = np.asarray(times, dtype=float)
    if times.size == 0:
        return 1.0
    return float(_intervals_from_sums(times.size, times.sum(), (times**2).sum(), times.max()))


def _cluster_separators(times: np.ndarray, theta: float) -> np.ndarray:
    """Which inter-exceedance times separate clusters (Ferro & Segers 2003, §3.3): the
    ``C - 1`` largest, ``C = ⌊θ N⌋ + 1``; with ties at the cut fewer (their rule: reduce C)."""
    n_exceedances = times.size + 1
    n_clusters = min(math.floor(theta * n_exceedances) + 1, n_exceedances)
    if n_clusters >= n_exceedances:
        return np.ones(times.size, dtype=bool)
    if n_clusters <= 1:
        return np.zeros(times.size, dtype=bool)
    cut = np.sort(times)[::-1][n_clusters - 1]
    return times > cut


def _cluster_bootstrap(times: np.ndarray, theta: float, run_length, n_boot: int, rng) -> np.ndarray:
    """Ferro & Segers' (2003, §4) bootstrap of inter-exceedance times.

    Both estimators depend on the times only through their count, sum, sum of squares,
    maximum and the count above ``run_length``, which do not depend on the order; so a
    replicate adds up per-cluster sums instead of rebuilding the series. ``run_length``
    None: the intervals estimator, else the runs estimator.
    """
    separators = _cluster_separators(times, theta)
    gaps = times[separators]
    label = np.cumsum(separators)  # cluster of each within-cluster time
    inside = ~separators
    n_clusters = int(separators.sum()) + 1
    per_cluster = {
        "n": np.bincount(label[inside], minlength=n_clusters).astype(float),
        "s1": np.bincount(label[inside], weights=times[inside], minlength=n_clusters),
        "s2": np.bincount(label[inside], weights=times[inside] ** 2, minlength=n_clusters),
        "above": np.bincount(
            label[inside], weights=(times[inside] > (run_length or 0)).astype(float), minlength=n_clusters
        ),
    }
    t_max = np.zeros(n_clusters)
    np.maximum.at(t_max, label[inside], times[inside])
    chosen = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    sums = {name: values[chosen].sum(axis=1) for name, values in per_cluster.items()}
    replicate_max = t_max[chosen].max(axis=1)
    if gaps.size and n_clusters > 1:
        chosen_gaps = gaps[rng.integers(0, gaps.size, size=(n_boot, n_clusters - 1))]
        sums["n"] = sums["n"] + (n_clusters - 1)
        sums["s1"] = sums["s1"] + chosen_gaps.sum(axis=1)
        sums["s2"] = sums["s2"] + (chosen_gaps**2).sum(axis=1)
        sums["above"] = sums["above"] + (chosen_gaps > (run_length or 0)).sum(axis=1)
        replicate_max = np.maximum(replicate_max, chosen_gaps.max(axis=1))
    if run_length is None:
        return _intervals_from_sums(sums["n"], sums["s1"], sums["s2"], replicate_max)
    return (1.0 + sums["above"]) / (sums["n"] + 1.0)


def kgaps_posterior(
    values, threshold=None, *, k: int = 1, prior=(1.0, 1.0), tail: str = "upper", adjust: bool = True
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The K-gaps posterior density of ``θ`` on a grid (Süveges & Davison 2010).

    Parameters
    ----------
    values : array_like
        The series, in time order.
    threshold : float, optional
        Default: the 95% quantile (5% for ``tail="lower"``).
    k : int
        Run parameter ``K >= 1``: gaps of up to ``K - 1`` non-exceedances count as
        within a cluster.
    prior : (float, float)
        ``Beta(a, b)`` prior of ``θ`` (default uniform).
    tail : {"upper", "lower"}
    adjust : bool
        Temper the likelihood so that the posterior has the width of the estimate's
        sampling spread (default). The gaps are scaled by ``q = N / n``, estimated from
        the same exceedances, so ``Σ q S_i`` is close to ``N`` whatever ``θ``: the
        exponential part of the likelihood carries almost no information of its own, the
        score depends on the data through ``n_0`` and ``n_1`` alone, and those carry the
        information of ``n_1 ~ Binomial(n_0 + n_1, θ)``, ``(n_0 + n_1) / (θ (1 - θ))``,
        not the likelihood's ``n_0 / (1 - θ)² + 2 n_1 / θ²``. The plain posterior is
        therefore too narrow (on max-autoregressive series with θ = 0.25 and 0.5 at the
        95% quantile its sd was 0.015 and 0.018 against a spread of the estimate of 0.019
        and 0.022 over 150 series, and its 95% intervals covered θ in 84% and 79% of
        replications). The likelihood is raised to the ratio of the two informations at
        the maximum likelihood estimate, ``w = min(1, I_binomial / I_K-gaps)`` (a
        magnitude adjustment as for composite likelihoods: Chandler & Bate 2007;
        Ribatet, Cooley & Davison 2012), which keeps the posterior's centre.

    Returns
    -------
    grid, density, counts
        ``density`` integrates to 1 over ``grid`` (trapezoid rule); ``counts`` holds
        ``n_zero``, ``n_positive``, ``scaled_gap_sum`` (``Σ q S_i``), ``q``,
        ``threshold`` and ``n_exceedances``, the sufficient statistics, ``mle``
        (the closed-form maximiser of the likelihood) and ``likelihood_weight`` (``w``,
        1 without ``adjust``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(3).standard_normal(5000)  # independent: θ = 1
    >>> grid, density, counts = kgaps_posterior(x)
    >>> round(float(np.trapezoid(grid * density, grid)), 2)
    0.94
    """
    array = _series_values(values)
    threshold, positions = _exceedance_positions(array, threshold, tail)
    if not (isinstance(k, int | np.integer) and k >= 1):
        raise ValueError(
            f"k must be a positive integer (gaps of up to k-1 steps are within a cluster); got {k!r}."
        )
    a, b = (float(v) for v in prior)
    if not (a > 0 and b > 0):
        raise ValueError(f"prior must be the two positive Beta parameters (a, b); got {prior!r}.")
    q = positions.size / array.size
    gaps = np.maximum(np.diff(positions) - k, 0)
    n_zero, n_positive = int(np.count_nonzero(gaps == 0)), int(np.count_nonzero(gaps > 0))
    scaled = float(q * gaps.sum())
    # Likelihood maximiser: root of c θ² - (n0 + 2 n1 + c) θ + 2 n1 = 0 in [0, 1].
    total = n_zero + 2.0 * n_positive + scaled
    if scaled > 0:
        mle = (total - math.sqrt(max(total**2 - 8.0 * scaled * n_positive, 0.0))) / (2.0 * scaled)
    else:
        mle = 2.0 * n_positive / (n_zero + 2.0 * n_positive) if (n_zero + n_positive) else 1.0
    weight = 1.0
    if adjust and n_zero and n_positive:
        at = min(max(mle, 1e-6), 1.0 - 1e-6)
        kgaps_information = n_zero / (1.0 - at) ** 2 + 2.0 * n_positive / at**2
        binomial_information = (n_zero + n_positive) / (at * (1.0 - at))
        weight = min(1.0, binomial_information / kgaps_information)
    # Log posterior: w [n0 log(1 - θ) + 2 n1 log θ - θ Σ q S] + (b - 1) log(1 - θ) + (a - 1) log θ,
    # on an open grid.
    grid = (np.arange(_KGAPS_GRID) + 0.5) / _KGAPS_GRID
    log_density = (weight * n_zero + b - 1.0) * np.log1p(-grid)
    log_density += (2.0 * weight * n_positive + a - 1.0) * np.log(grid)
    log_density -= weight * scaled * grid
    density = np.exp(log_density - log_density.max())
    density /= np.trapezoid(density, grid)
    counts = {
        "n_zero": n_zero,
        "n_positive": n_positive,
        "scaled_gap_sum": scaled,
        "q": q,
        "threshold": threshold,
        "n_exceedances": int(positions.size),
        "mle": float(min(mle, 1.0)),
        "likelihood_weight": weight,
    }
    return grid, density, counts


def extremal_index(
    values,
    threshold=None,
    *,
    method: str = "intervals",
    run_length: int = 1,
    k: int = 1,
    prior=(1.0, 1.0),
    tail: str = "upper",
    ci_prob: float = 0.95,
    n_boot: int = DEFAULT_DRAWS,
    random_seed=None,
    adjust: bool = True,
) -> ExtremalIndex:
    """Estimate the extremal index ``θ`` of a series, with an interval.

    Parameters
    ----------
    values : array_like or pandas.Series
        The series in time order, one observation per time step, no gaps.
    threshold : float, optional
        Exceedances of this level define the clusters. Default: the 95% quantile
        (``tail="lower"``: the 5% quantile, and exceedances are values below it).
    method : {"intervals", "runs", "kgaps"}
        See the module description: Ferro & Segers' intervals estimator (default; no
        tuning constant), the runs estimator, or the Bayesian K-gaps posterior.
    run_length : int
        Runs: the number of non-exceedances that end a cluster (default 1).
    k : int
        K-gaps: gaps of up to ``k - 1`` non-exceedances are within a cluster (default 1).
    prior : (float, float)
        K-gaps: ``Beta(a, b)`` prior of ``θ`` (default uniform).
    tail : {"upper", "lower"}
    ci_prob : float
        Probability of the equal-tailed interval (default 0.95).
    n_boot : int
        Bootstrap replicates (intervals, runs) or posterior draws kept (kgaps).
    random_seed : int or numpy.random.Generator, optional
    adjust : bool
        K-gaps: temper the likelihood by its magnitude adjustment, so that the
        posterior's width matches the dependence between gaps (default; see
        :func:`kgaps_posterior`).

    Returns
    -------
    ExtremalIndex

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(4000)  # independent: θ = 1
    >>> estimate = extremal_index(x, method="kgaps", random_seed=1)
    >>> estimate.method, estimate.upper > 0.9
    ('kgaps', True)
    """
    if method not in EXTREMAL_INDEX_METHODS:
        raise ValueError(f"method must be one of {', '.join(EXTREMAL_INDEX_METHODS)}; got {method!r}.")
    ci_prob = _check_ci_prob(ci_prob)
    if not (isinstance(n_boot, int | np.integer) and n_boot >= 10):
        raise ValueError(f"n_boot must be an integer of at least 10 (e.g. 1000); got {n_boot!r}.")
    rng = np.random.default_rng(random_seed)
    array = _series_values(values)
    threshold, positions = _exceedance_positions(array, threshold, tail)
    times = np.diff(positions).astype(float)
    n_exceedances = int(positions.size)
    tails = [(1.0 - ci_prob) / 2.0, (1.0 + ci_prob) / 2.0]
    settings: dict = {}
    if method == "kgaps":
        grid, density, counts = kgaps_posterior(array, threshold, k=k, prior=prior, tail=tail, adjust=adjust)
        cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2.0 * np.diff(grid))])
        cdf /= cdf[-1]
        unique, first = np.unique(cdf, return_index=True)
        draws = np.interp(rng.random(n_boot), unique, grid[first])
        theta = float(np.trapezoid(grid * density, grid))
        lower, upper = np.interp(tails, unique, grid[first])
        settings = {
            "k": int(k),
            "prior": [float(v) for v in prior],
            "mle": counts["mle"],
            "likelihood_weight": counts["likelihood_weight"],
        }
    else:
        if method == "intervals":
            theta, runs = intervals_estimate(times), None
        else:
            if not (isinstance(run_length, int | np.integer) and run_length >= 1):
                raise ValueError(f"run_length must be a positive integer; got {run_length!r}.")
            settings = {"run_length": int(run_length)}
            # A cluster ends where at least run_length non-exceedances follow: T_i > run_length.
            theta, runs = (1 + np.count_nonzero(times > run_length)) / n_exceedances, int(run_length)
        draws = _cluster_bootstrap(times, intervals_estimate(times), runs, n_boot, rng)
        lower, upper = np.quantile(draws, tails)
        settings["n_boot"] = int(n_boot)
    n_clusters = (
        1 + int(np.count_nonzero(times > run_length))
        if method == "runs"
        else min(math.ceil(theta * n_exceedances), n_exceedances)
    )
    return ExtremalIndex(
        method=method,
        theta=float(theta),
        lower=float(lower),
        upper=float(upper),
        ci_prob=ci_prob,
        threshold=threshold,
        tail=tail,
        n_observations=int(array.size),
        n_exceedances=n_exceedances,
        n_clusters=n_clusters,
        draws=np.asarray(draws, dtype=float),
        settings=settings,
    )


def exceedance_groups(values, threshold=None, *, tail: str = "upper", run_length: int | None = None):
    """The cluster of each exceedance, in the order of the sorted excesses.

    Clusters come from the data, with no tuning constant by default: Ferro & Segers'
    (2003) intervals declustering, in which the ``C - 1`` largest inter-exceedance times
    separate clusters, ``C = ⌊θ̂ N⌋ + 1`` with ``θ̂`` the intervals estimate. With
    ``run_length`` runs declustering instead (:func:`cluster_table`). The labels are
    aligned with ``sort(excess)`` (a stable sort of the exceedances by value), the order
    in which the tail likelihood of :func:`sbp_bayes.fit` holds them; pass them as
    ``groups`` to :func:`sbp_bayes.threshold_selection.candidate_scores`.

    Parameters
    ----------
    values : array_like
        The series in time order.
    threshold : float, optional
        Default: the 95% quantile (5% for ``tail="lower"``).
    tail : {"upper", "lower"}
    run_length : int, optional

    Returns
    -------
    numpy.ndarray of int
        Cluster labels, numbered in time order from 0.

    Examples
    --------
    Runs of length 1: the first two exceedances (5, 6) form cluster 0, then 9 and 3 are
    clusters 1 and 2; listed by excess (2, 4, 5, 8):

    >>> exceedance_groups([0, 5, 6, 0, 0, 0, 0, 9, 0, 3], threshold=1, run_length=1).tolist()
    [2, 0, 0, 1]
    """
    array = _series_values(values)
    threshold, positions = _exceedance_positions(array, threshold, tail)
    times = np.diff(positions).astype(float)
    if run_length is None:
        separators = _cluster_separators(times, intervals_estimate(times))
    else:
        if not (isinstance(run_length, int | np.integer) and run_length >= 1):
            raise ValueError(f"run_length must be a positive integer; got {run_length!r}.")
        separators = times > run_length
    label = np.concatenate([[0], np.cumsum(separators)])
    excess = array[positions] - threshold if tail == "upper" else threshold - array[positions]
    return label[np.argsort(excess, kind="stable")]


# ----------------------------------------------------------------------------- declustering


def cluster_table(values, threshold=None, *, run_length: int = 1, tail: str = "upper") -> pd.DataFrame:
    """The clusters of exceedances found by runs declustering.

    Exceedances separated by fewer than ``run_length`` non-exceedances belong to one
    cluster.

    Returns
    -------
    pandas.DataFrame
        One row per cluster (index ``cluster``): ``start`` and ``end`` (positions of its
        first and last exceedance, from 0), ``size`` (its exceedances), ``peak`` (the
        position of its most extreme value) and ``value`` (that value). ``attrs`` holds
        ``threshold`` and ``run_length``.

    Examples
    --------
    >>> table = cluster_table([0, 5, 6, 0, 0, 7, 0], threshold=1, run_length=2)
    >>> table[["start", "end", "size", "value"]].to_dict("list")
    {'start': [1, 5], 'end': [2, 5], 'size': [2, 1], 'value': [6.0, 7.0]}
    """
    array = _series_values(values)
    threshold, positions = _exceedance_positions(array, threshold, tail)
    if not (isinstance(run_length, int | np.integer) and run_length >= 1):
        raise ValueError(f"run_length must be a positive integer; got {run_length!r}.")
    breaks = np.flatnonzero(np.diff(positions) > run_length) + 1
    groups = np.split(positions, breaks)
    pick = np.argmax if tail == "upper" else np.argmin
    peaks = np.array([group[pick(array[group])] for group in groups])
    frame = pd.DataFrame(
        {
            "start": [int(group[0]) for group in groups],
            "end": [int(group[-1]) for group in groups],
            "size": [int(group.size) for group in groups],
            "peak": peaks.astype(int),
            "value": array[peaks],
        },
        index=pd.RangeIndex(len(groups), name="cluster"),
    )
    frame.attrs.update({"threshold": threshold, "run_length": int(run_length), "tail": tail})
    return frame


def decluster(values, threshold=None, *, run_length: int = 1, tail: str = "upper") -> pd.Series:
    """The series with each cluster of exceedances replaced by its most extreme value.

    Every observation on the near side of the threshold is kept, and of each cluster
    (runs declustering, see :func:`cluster_table`) only its peak, so that a tail fitted
    to the result is fitted to cluster maxima, which are close to independent. The index
    is kept (dates included, so observations per year follow the kept observations);
    an ``attrs["observations_per_year"]`` is scaled by the share kept, so that a return
    level of the declustered fit is still a level per year: exceeded by one cluster on
    average once per period.

    Parameters
    ----------
    values : array_like or pandas.Series
        The series in time order, no gaps.
    threshold : float, optional
        Default: the 95% quantile (5% for ``tail="lower"``).
    run_length : int
        Non-exceedances that end a cluster (default 1).
    tail : {"upper", "lower"}

    Returns
    -------
    pandas.Series
        ``attrs`` gains ``declustered`` (a one-line description) and
        ``declustering`` (threshold, run length, tail, clusters, observations kept).

    Examples
    --------
    >>> decluster([0.0, 5.0, 6.0, 0.0, 0.0, 7.0, 0.0], threshold=1.0).tolist()
    [0.0, 6.0, 0.0, 0.0, 7.0, 0.0]
    """
    series = values.copy() if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=float))
    table = cluster_table(series, threshold, run_length=run_length, tail=tail)
    threshold = table.attrs["threshold"]
    array = series.to_numpy(dtype=float)
    beyond = array > threshold if tail == "upper" else array < threshold
    keep = ~beyond
    keep[table["peak"].to_numpy()] = True
    kept = series[keep]
    kept.attrs.update(series.attrs)
    if "observations_per_year" in kept.attrs:
        kept.attrs["observations_per_year"] = float(kept.attrs["observations_per_year"]) * keep.mean()
    description = (
        f"runs-declustered at {threshold:.6g} (run length {int(run_length)}, {tail} tail): "
        f"{len(table)} clusters from {int(beyond.sum())} exceedances, {int(keep.sum())} of {keep.size} "
        "observations kept"
    )
    kept.attrs["declustered"] = description
    kept.attrs["declustering"] = {
        "threshold": float(threshold),
        "run_length": int(run_length),
        "tail": tail,
        "clusters": len(table),
        "exceedances": int(beyond.sum()),
        "kept": int(keep.sum()),
        "observations": int(keep.size),
    }
    return kept


def decluster_option(data, option, tails: str | None = None) -> pd.Series:
    """Apply the ``decluster=`` option of :func:`sbp_bayes.fit` to the data.

    ``option`` is a run length (an integer; threshold the 95% quantile) or a mapping
    with any of ``threshold``, ``run_length`` (default 1) and ``tail`` (default: the
    fit's upper tail, or the lower one for ``tails="lower"``). Returns the declustered
    series (:func:`decluster`).

    Examples
    --------
    >>> decluster_option([0.0, 5.0, 6.0, 0.0, 0.0, 7.0, 0.0], {"threshold": 1.0}).tolist()
    [0.0, 6.0, 0.0, 0.0, 7.0, 0.0]
    """
    if isinstance(option, bool) or not isinstance(option, int | np.integer | dict):
        raise ValueError(
            "decluster must be a run length (a positive integer) or a dict with threshold, run_length "
            f"and tail, e.g. {{'threshold': 30.0, 'run_length': 2}}; got {option!r}."
        )
    settings = {"run_length": int(option)} if not isinstance(option, dict) else dict(option)
    unknown = set(settings) - {"threshold", "run_length", "tail"}
    if unknown:
        raise ValueError(
            f"decluster has unknown key(s) {sorted(unknown)}; it takes threshold, run_length and tail."
        )
    settings.setdefault("tail", "lower" if tails == "lower" else "upper")
    if not isinstance(data, pd.Series):
        data = pd.Series(np.asarray(data, dtype=float))
    return decluster(
        data,
        settings.get("threshold"),
        run_length=int(settings.get("run_length", 1)),
        tail=settings["tail"],
    )
