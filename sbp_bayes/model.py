"""Build the PyMC model of a spliced binned-Pareto fit — the only place priors live.

The model
---------
The data are i.i.d. from the canonical SBP (docs/maths.md) on a fixed grid of
bin edges ``E_0 < ... < E_M`` with bin probabilities ``bin_probs`` (Dirichlet). Each tail
threshold is one of a few *candidate* edges, with a prior over the candidates, and the
tail probability is the body's own mass beyond it (so ``u = Q_B(a)`` holds exactly, as in
the canonical definition). The candidates are marginalised exactly:

.. math::

    p(x \\mid \\theta) = \\Big[\\sum_l p(l)\\, e^{L_l(\\theta)}\\Big]
                        \\Big[\\sum_m p(m)\\, e^{U_m(\\theta)}\\Big] e^{C(\\theta)},

because with bins fixed the log-likelihood splits into a centre that every
candidate shares, a lower part ``L_l`` and an upper part ``U_m``. This keeps the log
density smooth in the continuous parameters (NUTS needs that), costs ``O(J)`` instead
of ``O(J_L J_U)``, and gives the threshold posterior for free (per-draw candidate
probabilities, stored as ``*_threshold_logprob``). This is the Bayesian threshold
averaging of Northrop, Attalides & Jonathan (2017).

The bin probabilities are integrated out as well: given the thresholds, the Dirichlet
prior is conjugate to the bin counts and, by the aggregation property, to the two
tail masses, so each candidate's body term is a closed-form constant
(:class:`BodyTerms`). NUTS therefore samples only the GPD shape and scale of each tail
(two dimensions per tail); :mod:`sbp_bayes.fit` then draws the thresholds and the bin
probabilities exactly from their conditional posteriors for every draw.

Threshold stability ties the GPD across candidates: if excesses over the reference
(innermost) candidate ``u_0`` are GPD(ξ, σ_0), excesses over ``u > u_0`` are
GPD(ξ, σ_0 + ξ(u - u_0)). The tail term of candidate ``m`` is then
``Σ_{x_i > u_m} log g_0(x_i - u_0) - N_m log S_0(u_m - u_0)``, a suffix sum over the
sorted tail points: one GPD evaluation per point that *can* be a tail point, whatever
the number of candidates. The body enters only through bin counts, once. So a gradient
costs ``O(J + n_tail)``, independent of ``N``.

ξ must keep every observation inside the support (for ξ < 0 the GPD ends at
``u_0 + σ_0/|ξ|``). Rather than letting NUTS run into ``-inf`` walls, ξ is sampled as
``ξ = ξ_min(σ_0) + 0.2 exp(y)`` with ``ξ_min = -σ_0 / (x_max - u_0)``; the prior density of ξ
(unnormalised, i.e. the *same* prior restricted to where the likelihood is non-zero) and
the Jacobian enter as a potential. The posterior is exactly prior × likelihood.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sbp_bayes.priors import Prior, PriorError

if TYPE_CHECKING:  # PyMC and PyTensor are imported where a model is built: designs need numpy only
    import pymc as pm

__all__ = [
    "MIN_EXCEEDANCES",
    "XI_START_SHIFT",
    "BodyTerms",
    "DataError",
    "Design",
    "ModelParts",
    "SequentialTerms",
    "SufficientStatistics",
    "TailSummary",
    "body_terms",
    "build_candidate_model",
    "build_model",
    "build_model_from_statistics",
    "candidate_priors",
    "default_priors",
    "gap_between",
    "dirichlet_concentration",
    "make_design",
    "model_parts",
    "prepare_data",
    "sequential_terms",
    "summarise",
    "tail_shape",
    "threshold_log_prior",
]

#: Fewest exceedances a candidate threshold may leave: below this a GPD fit is noise.
MIN_EXCEEDANCES = 15
#: Default most/fewest exceedances over the candidate thresholds of a tail.
DEFAULT_TAIL_FRACTION = 0.2
DEFAULT_MAX_TAIL_POINTS = 2500
DEFAULT_MIN_TAIL_POINTS = 30
TAILS = ("both", "upper", "lower")
#: ``ξ = lower bound + exp(free + XI_START_SHIFT)``: ``free = 0`` starts ξ 0.2 above its bound.
XI_START_SHIFT = math.log(0.2)


class DataError(ValueError):
    """The data cannot be fitted as given; the message says why and what to do."""


# ----------------------------------------------------------------------------- data


def prepare_data(data, *, nan_policy: str = "raise"):
    """Validate data and return ``(values, index)``.

    Accepts numpy arrays, lists and pandas Series (whose index is kept). Non-finite
    values raise :class:`DataError` naming how many and where, unless
    ``nan_policy="omit"``, which drops NaN (never ±inf, which is no observation of a
    continuous quantity) and reports how many were dropped in the returned index's
    length difference.
    """
    import pandas as pd

    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', not {nan_policy!r}.")
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise DataError(
                f"Got a DataFrame with {data.shape[1]} columns; pass one column, e.g. data['loss']."
            )
        data = data.iloc[:, 0]
    index = data.index if isinstance(data, pd.Series) else pd.RangeIndex(len(np.atleast_1d(data)))
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as error:
        raise DataError(f"The data must be numbers; converting them failed: {error}") from None
    if values.ndim != 1:
        raise DataError(f"The data must be one-dimensional; got shape {values.shape}.")
    if values.size == 0:
        raise DataError("The data are empty.")
    nan = np.isnan(values)
    infinite = np.isinf(values)

    def where(mask) -> str:
        # One convention: positions count from 0 (as in Python); a Series' own labels are
        # named as labels, so that neither is mistaken for a line of a file.
        first = np.flatnonzero(mask)[:5]
        if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
            return f"at position(s) {', '.join(map(str, first))}, counting from 0"
        return f"at index label(s) {', '.join(str(index[i]) for i in first)}"

    if infinite.any():
        raise DataError(
            f"The data contain {int(infinite.sum())} infinite value(s) (first {where(infinite)}). "
            "Remove them or replace them by the measured values."
        )
    if nan.any():
        if nan_policy == "raise":
            raise DataError(
                f"The data contain {int(nan.sum())} NaN value(s) (first {where(nan)}). "
                "Remove them, or pass nan_policy='omit' to drop them explicitly."
            )
        keep = ~nan
        values, index = values[keep], index[keep]
    if np.ptp(values) == 0:
        raise DataError(
            f"All {values.size} data values are equal ({float(values[0])!r}); "
            "there is no distribution to fit."
        )
    return values, index


# ----------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Design:
    """The fixed structure a fit is built on.

    Attributes
    ----------
    bin_edges : ndarray, shape (M + 1,)
        Strictly increasing edges of all bins, tail bins included.
    lower_candidates, upper_candidates : ndarray of int
        Indices into ``bin_edges`` of the candidate thresholds of each tail
        (ascending). Empty when the tail is absent; one entry for a fixed threshold.
    lower_bound, upper_bound : bool
        Whether the first/last edge is a hard end of the body (only for an absent tail).
    """

    bin_edges: np.ndarray
    lower_candidates: np.ndarray
    upper_candidates: np.ndarray

    def __post_init__(self):
        edges = np.asarray(self.bin_edges, dtype=float)
        lower = np.asarray(self.lower_candidates, dtype=int).reshape(-1)
        upper = np.asarray(self.upper_candidates, dtype=int).reshape(-1)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or not np.isfinite(edges).all():
            raise ValueError("bin_edges must be a finite, strictly increasing 1-D array of >= 2 edges.")
        for name, cand in (("lower_candidates", lower), ("upper_candidates", upper)):
            if cand.size and (np.any(np.diff(cand) <= 0) or cand[0] < 1 or cand[-1] > edges.size - 2):
                raise ValueError(
                    f"{name} must be increasing indices of interior bin edges (1 .. {edges.size - 2})."
                )
        if lower.size and upper.size and lower[-1] >= upper[0]:
            raise ValueError("Every lower candidate threshold must lie below every upper candidate.")
        object.__setattr__(self, "bin_edges", edges)
        object.__setattr__(self, "lower_candidates", lower)
        object.__setattr__(self, "upper_candidates", upper)

    @property
    def n_bins(self) -> int:
        return self.bin_edges.size - 1

    @property
    def tails(self) -> str:
        has_lower, has_upper = self.lower_candidates.size > 0, self.upper_candidates.size > 0
        return {(True, True): "both", (False, True): "upper", (True, False): "lower"}.get(
            (has_lower, has_upper), "none"
        )

    @property
    def lower_thresholds(self) -> np.ndarray:
        """Candidate lower thresholds (values)."""
        return self.bin_edges[self.lower_candidates]

    @property
    def upper_thresholds(self) -> np.ndarray:
        """Candidate upper thresholds (values)."""
        return self.bin_edges[self.upper_candidates]

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.bin_edges)

    def to_config(self) -> dict:
        return {
            "bin_edges": self.bin_edges.tolist(),
            "lower_candidates": self.lower_candidates.tolist(),
            "upper_candidates": self.upper_candidates.tolist(),
        }

    @classmethod
    def from_config(cls, config: Mapping) -> Design:
        return cls(
            np.asarray(config["bin_edges"], dtype=float),
            np.asarray(config["lower_candidates"], dtype=int),
            np.asarray(config["upper_candidates"], dtype=int),
        )


def gap_between(sorted_values: np.ndarray, n_above: int) -> float | None:
    """A threshold leaving about ``n_above`` of the sorted values above it, placed midway
    between two *distinct* neighbouring values so that no observation sits on it.
    Returns None if the values have no gap there (all tied).

    Examples
    --------
    >>> import numpy as np
    >>> from sbp_bayes.model import gap_between
    >>> gap_between(np.array([1.0, 2.0, 3.0, 3.0, 5.0]), 2)  # ties at 3: midway between 2 and 3
    2.5
    """
    n = sorted_values.size
    rank = n - n_above  # threshold between sorted_values[rank - 1] and sorted_values[rank]
    unique = np.unique(sorted_values)
    target = sorted_values[min(max(rank, 1), n - 1)]
    position = np.searchsorted(unique, target)
    if position == 0:
        position = 1
    if position >= unique.size:
        return None
    return float((unique[position - 1] + unique[position]) / 2)


def _candidate_values(
    upper_side_values: np.ndarray,
    n_candidates: int,
    most: int,
    fewest: int,
) -> np.ndarray:
    """Candidate thresholds for the upper tail of ``upper_side_values`` (sorted),
    geometrically spaced in exceedance count from ``most`` down to ``fewest``."""
    counts = np.unique(np.round(np.geomspace(most, fewest, n_candidates)).astype(int))[::-1]
    values = [gap_between(upper_side_values, int(count)) for count in counts]
    values = np.unique([v for v in values if v is not None])
    exceedances = upper_side_values.size - np.searchsorted(upper_side_values, values, side="right")
    # With tied data the gap below a tied run leaves more than the target count above it;
    # dropping those keeps the documented cap (``most``) on the exceedances, and so on the
    # cost of a gradient.
    return values[(exceedances >= MIN_EXCEEDANCES) & (exceedances <= most)]


def make_design(
    values: np.ndarray,
    *,
    bins: int | Sequence[float] = 30,
    tails: str = "both",
    lower_threshold: float | Sequence[float] | None = None,
    upper_threshold: float | Sequence[float] | None = None,
    n_candidates: int = 10,
    tail_fraction: float = DEFAULT_TAIL_FRACTION,
    max_tail_points: int = DEFAULT_MAX_TAIL_POINTS,
    min_tail_points: int = DEFAULT_MIN_TAIL_POINTS,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
) -> Design:
    """Choose bin edges and candidate thresholds for ``values``.

    Candidate thresholds (when a threshold is not fixed) leave between
    ``min_tail_points`` and ``min(tail_fraction * N, max_tail_points)`` exceedances,
    ``n_candidates`` of them geometrically spaced in that count, each midway between
    two distinct data values. The cap on the largest count keeps the cost of a
    gradient bounded for very large ``N``: with a million points a threshold with more
    than a few thousand exceedances is never needed, the histogram describes the bulk.
    Between the innermost candidates the body has ``bins`` equal-width bins (or the
    given interior edges); every gap between neighbouring candidates is one bin, and
    everything beyond the outermost candidate one bin, whose probability is only ever
    used as part of the tail mass.

    A fixed threshold (float) gives a single candidate; a sequence of floats is used as
    the candidate set. ``lower_bound``/``upper_bound`` set the end of the body on a side
    without a tail (default: the data's minimum/maximum).
    """
    if tails not in TAILS:
        raise ValueError(f"tails must be one of {TAILS}, not {tails!r}.")
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    lo, hi = float(x[0]), float(x[-1])
    most = int(min(round(tail_fraction * n), max_tail_points))
    fewest = int(min(max(MIN_EXCEEDANCES, min_tail_points), most))

    def side_candidates(side: str, fixed) -> np.ndarray:
        oriented = x if side == "upper" else np.sort(-x)
        sign = 1.0 if side == "upper" else -1.0
        if fixed is not None:
            chosen = np.atleast_1d(np.asarray(fixed, dtype=float)) * sign
            for value in chosen * sign:
                exceed = int((x > value).sum()) if side == "upper" else int((x < value).sum())
                if not lo < value < hi:
                    raise DataError(
                        f"The {side} threshold {float(value)!r} lies outside the data range "
                        f"[{lo!r}, {hi!r}]; choose a value between the data's minimum and maximum."
                    )
                if exceed < MIN_EXCEEDANCES:
                    beyond = "above" if side == "upper" else "below"
                    raise DataError(
                        f"Only {exceed} observation(s) lie {beyond} the {side} threshold "
                        f"{float(value)!r}; a GPD tail needs at least {MIN_EXCEEDANCES}. Move the threshold "
                        f"{'down' if side == 'upper' else 'up'}, or fit without the {side} tail "
                        f"(tails='{'lower' if side == 'upper' else 'upper'}')."
                    )
            return np.sort(chosen)
        if most < fewest or most < MIN_EXCEEDANCES:
            raise DataError(
                f"{n} observations are too few for {'an' if side == 'upper' else 'a'} {side} tail with a "
                f"threshold prior: the candidates need at least {MIN_EXCEEDANCES} exceedances and at most "
                f"{tail_fraction:.0%} of the data. "
                f"Fix the {side} threshold, or fit without this tail."
            )
        candidates = _candidate_values(oriented, n_candidates, most, fewest)
        if candidates.size == 0:
            raise DataError(
                f"No {side} candidate threshold could be placed: the most extreme {most} values are tied "
                f"(e.g. {float(oriented[-1] * sign)!r}). There is no {side} tail to model here; "
                f"fit with tails='{'lower' if side == 'upper' else 'upper'}' or fix the threshold."
            )
        return candidates

    upper = side_candidates("upper", upper_threshold) if tails in ("both", "upper") else np.array([])
    lower_oriented = side_candidates("lower", lower_threshold) if tails in ("both", "lower") else np.array([])
    lower = np.sort(-lower_oriented)  # ascending thresholds on the data scale
    if lower.size and upper.size and lower[-1] >= upper[0]:
        raise DataError(
            f"The lower thresholds (up to {float(lower[-1])!r}) must lie below the upper ones "
            f"(from {float(upper[0])!r}); "
            "reduce tail_fraction or fix the thresholds further apart."
        )

    body_low = lower[-1] if lower.size else (lo if lower_bound is None else float(lower_bound))
    body_high = upper[0] if upper.size else (hi if upper_bound is None else float(upper_bound))
    if lower_bound is not None and lower.size == 0 and lower_bound > lo:
        raise DataError(f"lower_bound={lower_bound!r} lies above the smallest observation {lo!r}.")
    if upper_bound is not None and upper.size == 0 and upper_bound < hi:
        raise DataError(f"upper_bound={upper_bound!r} lies below the largest observation {hi!r}.")

    if np.ndim(bins) == 0:
        n_central = int(bins)
        if n_central < 1:
            raise ValueError(f"bins must be a positive number of bins, not {bins!r}.")
        inner_points = int(((x >= body_low) & (x <= body_high)).sum())
        if inner_points < n_central:
            raise DataError(
                f"Only {inner_points} observations lie between the thresholds but {n_central} bins were "
                f"asked for; use fewer bins (e.g. bins={max(1, inner_points // 10)})."
            )
        central = np.linspace(body_low, body_high, n_central + 1)
    else:
        interior = np.asarray(bins, dtype=float)
        interior = interior[(interior > body_low) & (interior < body_high)]
        central = np.concatenate([[body_low], np.unique(interior), [body_high]])

    edges = [central]
    if lower.size:
        first = min(lo, lower[0] - (lower[-1] - lower[0] + 1.0) * 1e-6)
        edges.insert(0, np.concatenate([[first], lower[:-1]]))
    if upper.size:
        last = max(hi, upper[-1] + (upper[-1] - upper[0] + 1.0) * 1e-6)
        edges.append(np.concatenate([upper[1:], [last]]))
    all_edges = np.concatenate(edges)
    if lower.size and all_edges[0] >= lower[0]:
        all_edges[0] = lower[0] - 1.0
    if upper.size and all_edges[-1] <= upper[-1]:
        all_edges[-1] = upper[-1] + 1.0
    lower_index = np.searchsorted(all_edges, lower) if lower.size else np.array([], dtype=int)
    upper_index = np.searchsorted(all_edges, upper) if upper.size else np.array([], dtype=int)
    return Design(all_edges, lower_index, upper_index)


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class TailSummary:
    """What a tail's likelihood needs, oriented so that the tail points upwards.

    ``excess`` are the sorted distances beyond the reference (innermost) candidate of
    every point that can be a tail point; ``offsets`` the distances of the candidates
    from the reference; ``start[j]`` the number of excesses not beyond candidate ``j``.
    """

    reference: float
    excess: np.ndarray
    offsets: np.ndarray
    start: np.ndarray
    at_candidate: np.ndarray

    @property
    def max_excess(self) -> float:
        """How far the GPD of the reference candidate must reach: beyond every
        observation *and* every candidate (a bounded tail ending before a candidate
        would give that candidate a non-positive scale). This bounds ξ from below:
        ``ξ > -σ_0 / max_excess``."""
        reach = max(float(self.excess[-1]) if self.excess.size else 0.0, float(self.offsets[-1]))
        # A lone candidate with no observation beyond it leaves ξ unconstrained by the data;
        # a tiny positive reach keeps the bound finite (-σ_0 / reach is then far below any prior mass).
        return reach if reach > 0 else 1e-9 * max(1.0, abs(self.reference))


@dataclass(frozen=True)
class SufficientStatistics:
    """Bin counts and tail summaries: everything the likelihood reads from the data."""

    counts: np.ndarray
    lower: TailSummary | None
    upper: TailSummary | None
    n: int


def _tail_summary(values: np.ndarray, reference: float, candidates: np.ndarray) -> TailSummary:
    beyond = np.sort(values[values > reference] - reference)
    offsets = candidates - reference
    start = np.searchsorted(beyond, offsets, side="right")
    exact = np.array([int(np.sum(values == reference + o)) for o in offsets])
    return TailSummary(float(reference), beyond, offsets, start.astype(np.int64), exact.astype(np.int64))


def summarise(values: np.ndarray, design: Design) -> SufficientStatistics:
    """Reduce the data to bin counts and the tail points (done once, before sampling)."""
    x = np.asarray(values, dtype=float)
    edges = design.bin_edges
    below, above = x < edges[0], x > edges[-1]
    if below.any() and design.lower_candidates.size == 0:
        raise DataError(
            f"{int(below.sum())} observation(s) lie below the first bin edge {float(edges[0])!r} and the "
            "model has no lower tail; lower the lower_bound or add a lower tail."
        )
    if above.any() and design.upper_candidates.size == 0:
        raise DataError(
            f"{int(above.sum())} observation(s) lie above the last bin edge {float(edges[-1])!r} and the "
            "model has no upper tail; raise the upper_bound or add an upper tail."
        )
    # Bins are [E_k, E_{k+1}); tail points outside the grid count in the outermost bins,
    # which only ever enter through the tail mass.
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, design.n_bins - 1)
    counts = np.bincount(index, minlength=design.n_bins).astype(np.int64)

    upper = None
    if design.upper_candidates.size:
        thresholds = design.upper_thresholds
        upper = _tail_summary(x, thresholds[0], thresholds)
    lower = None
    if design.lower_candidates.size:
        thresholds = design.lower_thresholds[::-1]  # innermost first, as seen from the body
        lower = _tail_summary(-x, -thresholds[0], -thresholds)
        # On the lower side a point exactly at a candidate is a body point of the bin above
        # it, which the [E_k, E_{k+1}) counts already say: no correction needed.
        no_ties = np.zeros_like(lower.start)
        lower = TailSummary(lower.reference, lower.excess, lower.offsets, lower.start, no_ties)
    return SufficientStatistics(counts, lower, upper, x.size)


# ----------------------------------------------------------------------------- priors


def default_priors(stats: SufficientStatistics) -> dict[str, Prior]:
    """Default priors, with the reasons for each.

    * ``*_xi`` ~ Normal(0, 0.5) truncated to ξ > -1: weakly informative. Most tails met
      in practice have ``|ξ| < 0.5`` (Coles 2001, §4); ξ ≥ 1 (no finite mean) keeps 2.3%
      prior mass, so very heavy tails remain possible when the data say so. Below -1 the
      GPD density is infinite at its endpoint and the likelihood unbounded, so the prior
      stops there (as pymc-extras' GenPareto recommends).
    * ``*_sigma`` (the GPD scale at the innermost candidate threshold) ~
      LogNormal(log s, 1), where ``s`` is the median excess over that threshold divided
      by log 2 — the scale an exponential tail would have. A factor e either way is
      one prior sd: the data units are respected without pinning the scale.
    * ``bin_probs`` ~ Dirichlet(1, ..., 1): uniform on the simplex.
    * thresholds: uniform over the candidates.
    """
    priors: dict[str, Prior] = {"bin_probs": Prior("Dirichlet", a=1.0)}
    for side, summary in (("lower", stats.lower), ("upper", stats.upper)):
        if summary is None:
            continue
        scale = float(np.median(summary.excess)) / math.log(2.0)
        priors[f"{side}_xi"] = Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-1.0)
        priors[f"{side}_sigma"] = Prior("LogNormal", mu=round(math.log(scale), 6), sigma=1.0)
    return priors


def threshold_log_prior(weights, n_candidates: int, side: str) -> np.ndarray:
    """Log prior probability of each candidate threshold (ascending): uniform by default,
    or proportional to the given non-negative weights."""
    if weights is None or (isinstance(weights, str) and weights == "uniform"):
        return np.full(n_candidates, -math.log(n_candidates))
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_candidates,) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise PriorError(
            f"The {side} threshold prior must be 'uniform' or {n_candidates} non-negative weights "
            f"(one per candidate); got {weights!r}."
        )
    with np.errstate(divide="ignore"):
        return np.log(w / w.sum())


# ----------------------------------------------------------------------------- model


def _log_beta_ratio(alpha, count):
    """``lgamma(alpha + count) - lgamma(alpha)`` (the Dirichlet-multinomial factor)."""
    from scipy.special import gammaln

    return gammaln(alpha + count) - gammaln(alpha)


@dataclass(frozen=True)
class BodyTerms:
    """The body, integrated out: per-candidate constants of the collapsed likelihood.

    With the bins fixed, ``bin_probs ~ Dirichlet(alpha)`` is conjugate given the
    thresholds: by the aggregation property, (body bins, lower tail mass, upper tail
    mass) is Dirichlet too, and the integral over ``bin_probs`` is a ratio of
    multivariate Beta functions. It splits into a centre shared by all candidates and
    one term per lower and per upper candidate — constants that do not depend on the
    GPD parameters, computed once here.
    """

    concentration: np.ndarray
    centre: float
    lower: np.ndarray  # per lower candidate, innermost first
    upper: np.ndarray  # per upper candidate, innermost first


def body_terms(stats: SufficientStatistics, design: Design, concentration) -> BodyTerms:
    """Per-candidate log marginal likelihood of the body (see :class:`BodyTerms`)."""
    from scipy.special import gammaln

    alpha = np.broadcast_to(np.asarray(concentration, dtype=float), (design.n_bins,)).copy()
    if np.any(alpha <= 0) or not np.isfinite(alpha).all():
        raise PriorError(f"The Dirichlet concentration of bin_probs must be positive; got {concentration!r}.")
    counts = stats.counts.astype(float)
    per_bin = _log_beta_ratio(alpha, counts) - counts * np.log(design.widths)
    l_last = int(design.lower_candidates[-1]) if design.lower_candidates.size else 0
    m_first = int(design.upper_candidates[0]) if design.upper_candidates.size else design.n_bins
    centre = float(per_bin[l_last:m_first].sum() + gammaln(alpha.sum()) - gammaln(alpha.sum() + stats.n))

    upper = np.zeros(design.upper_candidates.size)
    if stats.upper is not None:
        gap = np.concatenate([[0.0], np.cumsum(per_bin[m_first:])])
        for j, edge in enumerate(design.upper_candidates):
            n_beyond = stats.upper.excess.size - stats.upper.start[j]
            tied = stats.upper.at_candidate[j]
            k = edge - 1  # 0-based bin ending at the candidate: points tied to it belong there
            tie_fix = (
                _log_beta_ratio(alpha[k], counts[k] + tied)
                - _log_beta_ratio(alpha[k], counts[k])
                - tied * np.log(design.widths[k])
            )
            tail_alpha = alpha[edge:].sum()
            upper[j] = gap[edge - m_first] + tie_fix + _log_beta_ratio(tail_alpha, n_beyond)
    lower = np.zeros(design.lower_candidates.size)
    if stats.lower is not None:
        gap = np.concatenate([[0.0], np.cumsum(per_bin[:l_last][::-1])])
        for j, edge in enumerate(design.lower_candidates[::-1]):
            n_beyond = stats.lower.excess.size - stats.lower.start[j]
            tail_alpha = alpha[:edge].sum()
            lower[j] = gap[l_last - edge] + _log_beta_ratio(tail_alpha, n_beyond)
    return BodyTerms(alpha, centre, lower, upper)


def tail_shape(side: str, prior: Prior, sigma_ref, max_excess, n_candidates: int | None = None):
    """ξ restricted to where every observation is inside the GPD support.

    ``ξ = lo + 0.2 exp(y)`` (or a logistic map when the prior has an upper bound too), with
    ``lo = max(prior lower bound, -σ / max_excess)``. The prior density of ξ and the
    Jacobian enter as a potential, so the posterior is prior × likelihood exactly.

    With ``n_candidates`` there is one ξ per candidate threshold (``<side>_xi_by_candidate``,
    along the ``<side>_candidate`` axis), each bounded by its own σ and reach: the same
    map, prior and Jacobian, summed.
    """
    import pymc as pm
    import pytensor.tensor as pt

    name = f"{side}_xi"
    parameters = prior.data_parameters(name)
    prior_lower, prior_upper = prior.bounds
    data_lower = -sigma_ref / max_excess
    lower = data_lower if not np.isfinite(prior_lower) else pt.maximum(data_lower, parameters["lower"])
    if n_candidates is None:
        variable, axis = name, {}
        free = pm.Flat(f"{name}_unconstrained")
    else:
        variable, axis = f"{name}_by_candidate", {"dims": f"{side}_candidate"}
        free = pm.Flat(f"{variable}_unconstrained", **axis)
    # The free variable's default start (0) puts ξ 0.2 above its bound (or a sixth of the
    # way into a bounded prior): a shift of the map rather than an initval, which
    # PyMC's model transforms (pm.compute_log_likelihood) refuse.
    free = free + XI_START_SHIFT
    if np.isfinite(prior_upper):
        span = parameters["upper"] - lower
        xi = lower + span * pm.math.sigmoid(free)
        log_jacobian = pt.log(span) - pt.softplus(-free) - pt.softplus(free)
    else:
        xi = lower + pt.exp(free)
        log_jacobian = free
    xi = pm.Deterministic(variable, xi, **axis)
    try:
        prior_dist = getattr(pm, prior.distribution).dist(**parameters)
    except TypeError as error:
        raise PriorError(f"Cannot build prior {prior!r} for {name!r}: {error}") from None
    pm.Potential(f"{name}_prior", (pm.logp(prior_dist, xi) + log_jacobian).sum())
    return xi


def _tail_log_likelihood(data: dict, xi, sigma_ref):
    """GPD log-likelihood of the exceedances of every candidate (vector over candidates).

    Threshold stability: the excesses over candidate ``j`` are GPD(ξ, σ_0 + ξ d_j), whose
    log density is ``log g_0(x - u_0) - log S_0(d_j)``; summed over the points beyond the
    candidate this is a suffix sum of one GPD evaluation per tail point.
    """
    import pytensor.tensor as pt

    from sbp_bayes.distributions.gpd import gpd_logpdf, gpd_logsf

    excess, start, offsets = data["excess"], data["start"], data["offsets"]
    n_beyond = excess.shape[0] - start
    log_density = gpd_logpdf(excess, xi, sigma_ref)
    suffix = pt.concatenate([pt.cumsum(log_density[::-1])[::-1], pt.zeros((1,))])
    return suffix[start] - n_beyond * gpd_logsf(offsets, xi, sigma_ref)


def build_model_from_statistics(
    stats: SufficientStatistics,
    design: Design,
    priors: Mapping[str, Prior | Mapping] | None = None,
    threshold_priors: Mapping[str, object] | None = None,
    *,
    observed: np.ndarray | None = None,
    obs_id=None,
) -> pm.Model:
    """The PyMC model for given sufficient statistics (see the module docstring).

    Without ``observed`` the likelihood is a ``pm.Potential`` named ``"likelihood"``
    that reads the statistics alone: a gradient then costs ``O(J + n_tail)`` whatever
    the number of observations, which is what :func:`sbp_bayes.fit` samples. With
    ``observed`` (the data the statistics were computed from) it is the observed
    variable ``y`` of :func:`build_model`, with the same sum and pointwise terms
    (:class:`SequentialTerms`); ``obs_id`` labels its observations.
    """
    import pymc as pm
    import pytensor.tensor as pt

    resolved = default_priors(stats)
    for name, value in (priors or {}).items():
        if name not in resolved:
            raise PriorError(
                f"Unknown prior {name!r}; this model has priors for: {', '.join(sorted(resolved))}."
            )
        resolved[name] = Prior.from_config(value)
    dirichlet = resolved["bin_probs"]
    if dirichlet.distribution != "Dirichlet":
        raise PriorError("The prior of bin_probs must be a Dirichlet, e.g. Prior('Dirichlet', a=1.0).")
    body = body_terms(stats, design, dirichlet.parameters.get("a", 1.0))

    coords = {"lower_candidate": design.lower_thresholds, "upper_candidate": design.upper_thresholds}
    if observed is not None:
        observed = np.asarray(observed, dtype=float)
        counts = summarise(observed, design).counts if observed.shape == (stats.n,) else None
        same_data = counts is not None and np.array_equal(counts, stats.counts)
        if not same_data:
            raise ValueError(
                f"observed must be the {stats.n} values the statistics were computed from "
                "(summarise(observed, design)); build the model with build_model(data, ...) instead."
            )
        coords["obs_id"] = np.arange(observed.size) if obs_id is None else np.asarray(obs_id)
    tails = {}
    with pm.Model(coords=coords) as model:
        total = pm.Data("body_centre_logmarginal", np.asarray(body.centre))
        for side in ("lower", "upper"):
            summary = getattr(stats, side)
            if summary is None:
                continue
            data = {
                "excess": pm.Data(f"{side}_excess", summary.excess),
                "offsets": pm.Data(f"{side}_offsets", summary.offsets),
                "start": pm.Data(f"{side}_start", summary.start),
                "body": pm.Data(f"{side}_body_logmarginal", getattr(body, side)),
                "max_excess": pm.Data(f"{side}_max_excess", summary.max_excess),
            }
            sigma_ref = resolved[f"{side}_sigma"].create(f"{side}_sigma_ref", parameters_as_data=True)
            xi = tail_shape(side, resolved[f"{side}_xi"], sigma_ref, data["max_excess"])
            n_candidates = summary.offsets.size
            log_prior = threshold_log_prior((threshold_priors or {}).get(side), n_candidates, side)
            if side == "lower":
                log_prior = log_prior[::-1]  # weights come in ascending threshold order
            log_prior = pm.Data(f"{side}_threshold_log_prior", log_prior)
            joint = data["body"] + _tail_log_likelihood(data, xi, sigma_ref) + log_prior
            marginal = pt.logsumexp(joint)
            logprob = joint - marginal
            stored = pm.Deterministic(
                f"{side}_threshold_logprob",
                logprob if side == "upper" else logprob[::-1],
                dims=f"{side}_candidate",
            )
            tails[side] = {"xi": xi, "sigma_ref": sigma_ref, "log_prior": log_prior, "logprob": stored}
            total = total + marginal
        if observed is None:
            pm.Potential("likelihood", total)
        else:
            _add_observed("y", observed, design, stats, body.concentration, tails)
    _PARTS[model] = ModelParts(
        "marginalised",
        design,
        stats,
        resolved,
        body.concentration,
        dict(threshold_priors or {}),
        observed,
        None if observed is None else coords["obs_id"],
    )
    return model


# ----------------------------------------------------------------------------- observed variable


@dataclass(frozen=True)
class SequentialTerms:
    """The data-only constants of the pointwise log-likelihood of :func:`build_model`.

    With thresholds and bin probabilities integrated out the observations are
    exchangeable but not independent given the GPD parameters, so the marginal
    log-likelihood splits into pointwise terms by the chain rule:
    ``log p(y | θ) = Σ_t log p(y_(t) | y_(1), ..., y_(t-1), θ)``. The order taken is: the
    *centre* points (between the innermost candidate thresholds, in data order), then
    the points that can be tail points (in data order). A centre point then falls into
    the same bin whatever the thresholds, so its term is a constant of the data; the
    term of a later point is a log-sum-exp over the candidates of running sums, whose
    GPD part is the only piece that depends on the parameters.

    Attributes
    ----------
    base : ndarray, shape (n,)
        Per observation (data order): the Dirichlet-multinomial normaliser
        ``-log(A + t - 1)`` of its step ``t`` plus, for a centre point, its bin's
        Pólya-urn term ``log(α_k + c) - log w_k``.
    sides : dict
        Per tail present: ``index`` (positions of its eligible points, in step order),
        ``excess`` (their distance beyond the innermost candidate, oriented outwards),
        ``beyond`` (``(J, R)``: point beyond candidate ``j``, innermost first) and
        ``const`` (``(J, R)``: the point's Pólya-urn term under candidate ``j``).
    """

    base: np.ndarray
    sides: dict


def _earlier_equal(cells: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries have the same value."""
    order = np.argsort(cells, kind="stable")
    ordered = cells[order]
    rank = np.empty(cells.size, dtype=np.int64)
    rank[order] = np.arange(cells.size) - np.searchsorted(ordered, ordered, side="left")
    return rank


def sequential_terms(values, design: Design, stats: SufficientStatistics, concentration) -> SequentialTerms:
    """Data-only constants of the pointwise log-likelihood (see :class:`SequentialTerms`).

    Summed over the observations, the terms give exactly the collapsed log-likelihood
    of :func:`build_model_from_statistics` (a Dirichlet-multinomial body and the GPD
    tails, candidates marginalised); only their split between the points is new.
    """
    x = np.asarray(values, dtype=float)
    alpha = np.asarray(concentration, dtype=float)
    edges, widths = design.bin_edges, design.widths
    bin_of = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, design.n_bins - 1)
    eligible = {}
    if stats.upper is not None:
        eligible["upper"] = x >= design.upper_thresholds[0]
    if stats.lower is not None:
        eligible["lower"] = x < design.lower_thresholds[-1]
    centre = np.ones(x.size, dtype=bool)
    for mask in eligible.values():
        centre &= ~mask
    # Steps: centre points first, then the possible tail points, each group in data order.
    order = np.concatenate([np.flatnonzero(centre), np.flatnonzero(~centre)])
    step = np.empty(x.size, dtype=np.int64)
    step[order] = np.arange(x.size)
    base = -np.log(alpha.sum() + step)
    centre_bins = bin_of[centre]
    base[centre] += np.log(alpha[centre_bins] + _earlier_equal(centre_bins)) - np.log(widths[centre_bins])
    centre_counts = np.bincount(centre_bins, minlength=design.n_bins)

    sides = {}
    for side, mask in eligible.items():
        summary = getattr(stats, side)
        index = np.flatnonzero(mask)
        index = index[np.argsort(step[index], kind="stable")]
        sign = 1.0 if side == "upper" else -1.0
        oriented = sign * x[index]
        excess = oriented - summary.reference  # as in the tail summary, to the last bit
        edges_inner_first = design.upper_candidates if side == "upper" else design.lower_candidates[::-1]
        beyond = excess[None, :] > summary.offsets[:, None]
        const = np.empty(beyond.shape)
        for j, edge in enumerate(edges_inner_first):
            cells = bin_of[index].copy()
            if side == "upper":  # a point exactly at the candidate is a body point of the bin below it
                cells[x[index] == summary.reference + summary.offsets[j]] = edge - 1
                beyond_alpha = alpha[edge:].sum()
            else:
                beyond_alpha = alpha[:edge].sum()
            cells[beyond[j]] = -1
            earlier = _earlier_equal(cells)
            body = cells >= 0
            const[j] = np.log(beyond_alpha + earlier)
            k = cells[body]
            const[j, body] = np.log(alpha[k] + centre_counts[k] + earlier[body]) - np.log(widths[k])
        sides[side] = {
            "index": index,
            "excess": np.where(excess > 0, excess, 0.0),
            "beyond": beyond,
            "const": const,
        }
    return SequentialTerms(base, sides)


def _add_observed(name, values, design, stats, concentration, tails: dict):
    """The likelihood as an observed ``pm.CustomDist`` (see :func:`build_model`).

    ``tails`` maps each side present to its ``xi``, ``sigma_ref``, ``log_prior`` (innermost
    first) and ``logprob`` (the stored per-candidate probabilities, ascending) tensors.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from sbp_bayes.distributions.gpd import gpd_excess_from_survival, gpd_logpdf, gpd_logsf

    terms = sequential_terms(values, design, stats, concentration)
    base = pm.Data(f"{name}_base_logp", terms.base)
    bin_edges = pm.Data("bin_edges", design.bin_edges)
    alpha = pm.Data("bin_concentration", np.asarray(concentration, dtype=float))
    counts = pm.Data("bin_counts", stats.counts.astype(float))
    data = {}
    for side, parts in terms.sides.items():
        summary = getattr(stats, side)
        edges_inner_first = design.upper_candidates if side == "upper" else design.lower_candidates[::-1]
        ties = summary.at_candidate if side == "upper" else np.zeros(summary.offsets.size)
        data[side] = {
            "index": pm.Data(f"{side}_step_index", parts["index"]),
            "excess": pm.Data(f"{side}_step_excess", parts["excess"]),
            "beyond": pm.Data(f"{side}_step_beyond", parts["beyond"].astype(float)),
            "const": pm.Data(f"{side}_step_logp", parts["const"]),
            "offsets": pm.Data(f"{side}_candidate_offsets", summary.offsets),
            "edge": pm.Data(f"{side}_candidate_edge", edges_inner_first.astype(np.int64)),
            "n_beyond": pm.Data(
                f"{side}_candidate_exceedances", (summary.excess.size - summary.start).astype(float)
            ),
            "ties": pm.Data(f"{side}_candidate_ties", np.asarray(ties, dtype=float)),
        }
    # CustomDist graphs may not close over data containers: every tensor is a parameter.
    named = {"base": base, "bin_edges": bin_edges, "alpha": alpha, "counts": counts}
    for side, theta in tails.items():
        named.update({f"{side}:{key}": value for key, value in {**theta, **data[side]}.items()})
    keys = list(named)

    def unpack(flat):
        values = dict(zip(keys, flat, strict=True))
        per_side = {
            side: {key.split(":")[1]: value for key, value in values.items() if key.startswith(f"{side}:")}
            for side in tails
        }
        return values, per_side

    def logp(value, *flat):
        common, per_side = unpack(flat)
        out = common["base"]
        for theta in per_side.values():
            d = theta
            log_density = gpd_logpdf(d["excess"], theta["xi"], theta["sigma_ref"])
            log_survival = gpd_logsf(d["offsets"], theta["xi"], theta["sigma_ref"])
            gpd = pt.switch(d["beyond"] > 0.5, log_density[None, :] - log_survival[:, None], 0.0)
            running = pt.cumsum(d["const"] + gpd, axis=1)
            running = pt.concatenate([pt.zeros_like(running[:, :1]), running], axis=1)
            marginal = pt.logsumexp(theta["log_prior"][:, None] + running, axis=0)
            out = pt.inc_subtensor(out[d["index"]], marginal[1:] - marginal[:-1])
        return out

    def random(*args):
        *flat, size = args  # PyMC passes the size last, positionally
        common, per_side = unpack(flat)
        bin_edges, alpha, counts = common["bin_edges"], common["alpha"], common["counts"]
        n_bins = alpha.shape[0]
        bins = pt.arange(n_bins)
        first_body, end_body = pt.zeros((), dtype="int64"), n_bins
        tie_bin, tie_count = pt.as_tensor(-1), pt.zeros(())
        gpd, tail_alpha = {}, {}
        for side, theta in per_side.items():
            d = theta
            logprob = theta["logprob"] if side == "upper" else theta["logprob"][::-1]  # innermost first
            chosen = pm.Categorical.dist(p=pt.special.softmax(logprob))
            edge = d["edge"][chosen]
            sigma = theta["sigma_ref"] + theta["xi"] * d["offsets"][chosen]
            gpd[side] = (bin_edges[edge], theta["xi"], sigma)
            if side == "upper":
                end_body, tie_bin, tie_count = edge, edge - 1, d["ties"][chosen]
                tail_alpha[side] = pt.switch(bins >= edge, alpha, 0.0).sum() + d["n_beyond"][chosen]
            else:
                first_body = edge
                tail_alpha[side] = pt.switch(bins < edge, alpha, 0.0).sum() + d["n_beyond"][chosen]
        # Bin probabilities | thresholds: (lower mass, body bins, upper mass) ~ Dirichlet(α + counts).
        in_body = pt.and_(pt.ge(bins, first_body), pt.lt(bins, end_body))
        body_alpha = alpha + counts + pt.switch(pt.eq(bins, tie_bin), tie_count, 0.0)
        body = pt.switch(in_body, pm.Gamma.dist(alpha=pt.switch(in_body, body_alpha, 1.0), beta=1.0), 0.0)
        zero = pt.zeros((1,))
        lower = pm.Gamma.dist(alpha=tail_alpha["lower"], beta=1.0, shape=(1,)) if "lower" in gpd else zero
        upper = pm.Gamma.dist(alpha=tail_alpha["upper"], beta=1.0, shape=(1,)) if "upper" in gpd else zero
        weights = pt.concatenate([lower, body, upper])
        component = pm.Categorical.dist(p=weights / weights.sum(), size=size)
        uniform = pm.Uniform.dist(0.0, 1.0, size=size)
        k = pt.clip(component - 1, 0, n_bins - 1)
        draws = bin_edges[k] + uniform * (bin_edges[k + 1] - bin_edges[k])
        if "lower" in gpd:
            threshold, xi, sigma = gpd["lower"]
            draws = pt.switch(
                pt.eq(component, 0), threshold - gpd_excess_from_survival(uniform, xi, sigma), draws
            )
        if "upper" in gpd:
            threshold, xi, sigma = gpd["upper"]
            excess = gpd_excess_from_survival(uniform, xi, sigma)
            draws = pt.switch(pt.eq(component, n_bins + 1), threshold + excess, draws)
        return draws

    return pm.CustomDist(name, *named.values(), logp=logp, dist=random, observed=values, dims="obs_id")


# ----------------------------------------------------------------------------- per-candidate model


def candidate_priors(stats: SufficientStatistics, priors: Mapping[str, Prior | Mapping] | None = None):
    """Priors of the per-candidate model (:func:`build_candidate_model`).

    ``*_xi`` as in :func:`default_priors`, shared by every candidate. The GPD scale of
    candidate ``j`` defaults to LogNormal(log s_j, 1) with ``s_j`` the median excess over
    *that* candidate divided by log 2 — exactly the default prior of a fit with the
    threshold fixed at ``u_j``, so each candidate's posterior is that fit's posterior. A
    user prior ``*_sigma`` applies to the scale at every candidate.
    """
    resolved = default_priors(stats)
    user = dict(priors or {})
    for name, value in user.items():
        if name not in resolved:
            raise PriorError(
                f"Unknown prior {name!r}; this model has priors for: {', '.join(sorted(resolved))}."
            )
        resolved[name] = Prior.from_config(value)
    for side in ("lower", "upper"):
        summary = getattr(stats, side)
        if summary is None or f"{side}_sigma" in user:
            continue
        medians = [
            float(np.median(summary.excess[start:] - offset)) if summary.excess.size > start else 1.0
            for start, offset in zip(summary.start, summary.offsets, strict=True)
        ]
        mu = [round(math.log(max(m, 1e-300) / math.log(2.0)), 6) for m in medians]
        resolved[f"{side}_sigma"] = Prior("LogNormal", mu=mu, sigma=1.0)
    return resolved


def candidate_pairs(summary: TailSummary) -> tuple[np.ndarray, np.ndarray]:
    """Every (excess over candidate ``j``, ``j``) pair of a tail, candidate by candidate."""
    excess, candidate = [], []
    for j, (start, offset) in enumerate(zip(summary.start, summary.offsets, strict=True)):
        beyond = summary.excess[int(start) :] - offset
        excess.append(beyond)
        candidate.append(np.full(beyond.size, j, dtype=np.int64))
    return np.concatenate(excess), np.concatenate(candidate)


def build_candidate_model(stats: SufficientStatistics, design: Design, priors=None) -> pm.Model:
    """One independent GPD per candidate threshold: the posterior of every fixed-threshold fit at once.

    The parameters are ``*_sigma_by_candidate`` and ``*_xi_by_candidate`` (one value per
    candidate, innermost first as seen from the body); candidate ``j``'s likelihood is the
    GPD log density of the excesses over ``u_j``, and the candidates share nothing, so the
    joint posterior is the product of the fixed-threshold posteriors. :mod:`sbp_bayes.fit`
    then weighs the candidates by cross-validation (:mod:`sbp_bayes.threshold_selection`)
    and draws the body from its conjugate posterior, as for the marginalised model.
    A gradient costs one GPD evaluation per (candidate, exceedance) pair.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from sbp_bayes.distributions.gpd import gpd_logpdf

    resolved = candidate_priors(stats, priors)
    dirichlet = resolved["bin_probs"]
    if dirichlet.distribution != "Dirichlet":
        raise PriorError("The prior of bin_probs must be a Dirichlet, e.g. Prior('Dirichlet', a=1.0).")
    coords = {
        "lower_candidate": design.lower_thresholds[::-1],  # innermost first
        "upper_candidate": design.upper_thresholds,
    }
    with pm.Model(coords=coords) as model:
        total = pt.zeros(())
        for side in ("lower", "upper"):
            summary = getattr(stats, side)
            if summary is None:
                continue
            pair_excess, pair_candidate = candidate_pairs(summary)
            n_candidates = summary.offsets.size
            reach = np.array(
                [
                    max(float(summary.excess[-1] - offset) if summary.excess.size else 0.0, 1e-12)
                    for offset in summary.offsets
                ]
            )
            excess = pm.Data(f"{side}_pair_excess", pair_excess)
            candidate = pm.Data(f"{side}_pair_candidate", pair_candidate)
            max_excess = pm.Data(f"{side}_candidate_max_excess", reach)
            sigma = resolved[f"{side}_sigma"].create(
                f"{side}_sigma_by_candidate",
                parameters_as_data=True,
                dims=f"{side}_candidate",
            )
            xi = tail_shape(side, resolved[f"{side}_xi"], sigma, max_excess, n_candidates)
            total = total + gpd_logpdf(excess, xi[candidate], sigma[candidate]).sum()
        pm.Potential("likelihood", total)
    _PARTS[model] = ModelParts(
        "candidates", design, stats, resolved, dirichlet_concentration(design, dirichlet), {}
    )
    return model


@dataclass(frozen=True)
class ModelParts:
    """What a model of this module was built from: the design a fit needs besides the graph.

    Returned by :func:`model_parts` for a model made by :func:`build_model`,
    :func:`build_model_from_statistics` or :func:`build_candidate_model`, so that a trace
    of the model (extended by a user or not) can be completed into an
    :class:`~sbp_bayes.SBPFit` (:meth:`sbp_bayes.SBPFit.from_idata`).

    Attributes
    ----------
    kind : {"marginalised", "candidates"}
        The collapsed model (thresholds marginalised) or one GPD per candidate.
    design : Design
        Bin edges and candidate thresholds.
    statistics : SufficientStatistics
        Bin counts and tail summaries of the data.
    priors : dict of str to Prior
        The resolved priors.
    concentration : ndarray
        The Dirichlet concentration of ``bin_probs``, one value per bin.
    threshold_priors : dict
        The threshold priors as given (``{"upper": weights}``; empty for uniform).
    observed : ndarray or None
        The data, when the likelihood is the observed variable ``y``; None for a model
        built from statistics alone.
    obs_id : ndarray or None
        Labels of the observations.
    """

    kind: str
    design: Design
    statistics: SufficientStatistics
    priors: dict
    concentration: np.ndarray
    threshold_priors: dict
    observed: np.ndarray | None = None
    obs_id: np.ndarray | None = None


# A registry rather than attributes glued onto pm.Model: the model stays an ordinary
# PyMC model and the record disappears with it.
_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_parts(model: pm.Model) -> ModelParts:
    """The :class:`ModelParts` ``model`` was built from.

    Raises
    ------
    ValueError
        When ``model`` was not made by this module's builders (e.g. a model written by
        hand, or a copy made by a PyMC model transform).

    Examples
    --------
    >>> import numpy as np
    >>> from sbp_bayes import build_model
    >>> from sbp_bayes.model import model_parts
    >>> model = build_model(np.random.default_rng(0).standard_t(3, size=500), bins=10)
    >>> model_parts(model).design.tails
    'both'
    """
    import pymc as pm

    if not isinstance(model, pm.Model):
        raise TypeError(f"Expected a pymc.Model made by sbp_bayes.build_model; got {type(model).__name__}.")
    try:
        return _PARTS[model]
    except KeyError:
        raise ValueError(
            "This PyMC model was not made by sbp_bayes.build_model (or it is a copy made by a PyMC "
            "model transform), so its bin edges and candidate thresholds are unknown. Build it with "
            "sbp_bayes.build_model(data, ...) and add your variables inside `with model:`."
        ) from None


def dirichlet_concentration(design: Design, prior: Prior) -> np.ndarray:
    """The Dirichlet concentration of ``bin_probs``, one value per bin."""
    alpha = np.broadcast_to(np.asarray(prior.parameters.get("a", 1.0), dtype=float), (design.n_bins,)).copy()
    if np.any(alpha <= 0) or not np.isfinite(alpha).all():
        raise PriorError(f"The Dirichlet concentration of bin_probs must be positive; got {prior!r}.")
    return alpha


def build_model(
    data,
    *,
    bins: int | Sequence[float] = 30,
    tails: str = "both",
    lower_threshold: float | Sequence[float] | None = None,
    upper_threshold: float | Sequence[float] | None = None,
    priors: Mapping[str, Prior | Mapping] | None = None,
    threshold_priors: Mapping[str, object] | None = None,
    design: Design | None = None,
    nan_policy: str = "raise",
    observed: bool = True,
    **design_options,
) -> pm.Model:
    """The PyMC model of an SBP fit, for users who want to extend it.

    Parameters are those of :func:`sbp_bayes.fit`. The model is an ordinary PyMC model:
    the data are the observed variable ``y`` (dimension ``obs_id``), so
    ``pm.sample``, ``pm.sample_posterior_predictive`` and ``pm.compute_log_likelihood``
    work on it and on any model that extends it (add variables inside ``with model:``).
    :meth:`sbp_bayes.SBPFit.from_idata` turns a trace back into a fit (thresholds and
    bin probabilities drawn exactly for every draw); :func:`model_parts` returns the bin
    edges and candidate thresholds the model was built on.

    The free parameters are the GPD shape and scale of each tail; thresholds and bin
    probabilities are integrated out exactly (see the module docstring), and the
    per-draw candidate probabilities are stored as ``*_threshold_logprob``.

    * Log-likelihood: the exact marginal. Integrating the thresholds and bin
      probabilities out couples the observations, so its pointwise terms (what
      ``pm.compute_log_likelihood`` stores) are the chain-rule decomposition
      ``log p(y_i | earlier observations, θ)`` in a fixed order: the points between the
      innermost candidate thresholds first, then the possible tail points, each group
      in data order (:class:`SequentialTerms`). They sum exactly to the marginal. For
      PSIS-LOO use :meth:`sbp_bayes.SBPFit.compute_log_likelihood` instead, whose terms
      are conditionally independent given all parameters.
    * Posterior predictive: per draw, a threshold from its conditional posterior, bin
      probabilities from their conjugate Dirichlet posterior, then the observations
      (the same draws as :meth:`sbp_bayes.SBPFit.posterior_predictive`).
    * ``pm.sample_posterior_predictive`` warns that Potentials are ignored: the
      potentials are the priors of ξ (on an unbounded reparameterisation), which do
      not enter the predictive draws given a posterior draw.

    Evaluate the likelihood only at the data the model was built on: its terms read
    summaries (bin counts, the order of the points) computed from them once. The
    pointwise terms cost ``O(J n_tail + N)`` per gradient (``J`` candidates, ``n_tail``
    possible tail points, capped at 2500 per tail): measured 0.17 / 2.0 / 6.8 ms at
    ``N`` = 10^3 / 10^5 / 10^6 on a loaded 2-core machine, against 0.03 / 0.15 / 0.16
    ms for the same posterior from the summaries alone
    (``python benchmarks/gradient_cost.py --ours observed``). ``observed=False`` gives
    that summaries-only model, which :func:`sbp_bayes.fit` samples: the likelihood is
    then a ``pm.Potential`` named ``"likelihood"`` (no predictive draws, no pointwise
    log-likelihood; :meth:`sbp_bayes.SBPFit.from_idata` refuses it).

    Examples
    --------
    >>> import numpy as np
    >>> from sbp_bayes import build_model
    >>> x = np.random.default_rng(0).standard_t(3, size=2000)
    >>> model = build_model(x, bins=20)
    >>> sorted(v.name for v in model.free_RVs)  # the body and thresholds are integrated out
    ['lower_sigma_ref', 'lower_xi_unconstrained', 'upper_sigma_ref', 'upper_xi_unconstrained']
    >>> model.observed_RVs
    [y]
    """
    values, index = prepare_data(data, nan_policy=nan_policy)
    if design is None:
        design = make_design(
            values,
            bins=bins,
            tails=tails,
            lower_threshold=lower_threshold,
            upper_threshold=upper_threshold,
            **design_options,
        )
    stats = summarise(values, design)
    obs_id = np.asarray(index) if index.dtype.kind in "iuf" else np.asarray(index.astype(str))
    if not observed:
        return build_model_from_statistics(stats, design, priors, threshold_priors)
    return build_model_from_statistics(
        stats, design, priors, threshold_priors, observed=values, obs_id=obs_id
    )
