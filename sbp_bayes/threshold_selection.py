"""Cross-validation weights for candidate thresholds (the default of :func:`sbp_bayes.fit`).

Why not the marginal likelihood
-------------------------------
With a fixed grid of bins, a candidate threshold ``u_j`` competes with the body only over
the gap between neighbouring candidates, which the body describes by one flat bin. The
GPD's decreasing density beats a flat bin on almost every real data set, by more as the
sample grows, so the *posterior* over candidates piles on whichever candidate is lowest
and the answers move with the candidate grid. The fix is to compare candidates on what
they are for — predicting the tail — using the same observations for every candidate.

The score (Northrop, Attalides & Jonathan 2017)
-----------------------------------------------
For each candidate ``u_j`` the tail model is binomial–GPD: ``p_j = P(X > u_j)`` with its
conjugate Beta posterior (the aggregated Dirichlet of the body) and GPD(ξ_j, σ_j) excesses
above ``u_j`` with the fit's priors. Every observation is scored by its leave-one-out
posterior predictive *relative to a common validation threshold* ``v`` (the outermost
candidate): below ``v`` by ``log P(X <= v)``, above ``v`` by the log predictive density.
The candidate's score ``T_j`` is the sum over all ``N`` observations, and the weights are

.. math:: w_j \\propto \\pi_j \\exp(T_j),

with ``π_j`` the prior over candidates. These are cross-validation weights, not a
posterior: the report names them so.

Exact leave-one-out by quadrature
---------------------------------
Importance sampling over posterior draws (PSIS-LOO) is optimistic for the influential
largest observations of a small tail sample, and the outermost candidate, with the
fewest exceedances, gains most from it: on exact GPD data the importance-sampling weights
favour the outermost candidate although the innermost predicts fresh data best. The
posterior of each candidate's GPD is two-dimensional, so it is computed here on a grid
over (ξ, log σ) placed where the posterior lives, and leaving one observation out is
exact: its log-likelihood is subtracted on the grid. ``p_j`` is independent of (ξ_j, σ_j)
a posteriori and enters the predictive linearly, so its leave-one-out mean is exact too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sbp_bayes.stats import gpd_logsf

__all__ = ["CandidateScores", "GridPosterior", "candidate_scores", "gpd_posterior_grid"]

#: Points per axis of the (ξ, log σ) quadrature grid.
GRID_POINTS = 64
#: The grid covers where the log posterior is within this of its maximum.
GRID_SPAN = 25.0


@dataclass(frozen=True)
class CandidateScores:
    """Leave-one-out scores and weights of the candidate thresholds of one tail.

    All arrays are in ascending distance from the body (innermost candidate first), as
    the tail is oriented in :class:`sbp_bayes.model.TailSummary`.

    Attributes
    ----------
    score : ndarray
        ``T_j``: the sum of every observation's leave-one-out log predictive relative to
        the validation threshold.
    score_se : ndarray
        Standard error of ``T_j - T_best`` from the pointwise differences (the usual
        LOO-comparison standard error, sqrt(N) times the sd of the differences).
    log_weight : ndarray
        ``log w_j`` (normalised): prior times ``exp(T_j)``.
    validation_offset : float
        Distance of the validation threshold from the innermost candidate.
    """

    score: np.ndarray
    score_se: np.ndarray
    log_weight: np.ndarray
    validation_offset: float


@dataclass(frozen=True)
class GridPosterior:
    """A GPD posterior tabulated on a regular grid over (ξ, log σ).

    ``log_weight`` is the normalised posterior mass of each node's cell; draws pick a cell
    by its mass and a uniform point inside it (so the draws are i.i.d. from the piecewise
    constant density, whose moments differ from the exact ones by O(cell width²)).
    """

    xi: np.ndarray
    sigma: np.ndarray
    log_weight: np.ndarray
    xi_step: float
    log_sigma_step: float
    max_excess: float

    def sample(self, size, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``size`` i.i.d. draws of (ξ, σ)."""
        probabilities = np.exp(self.log_weight - self.log_weight.max())
        node = rng.choice(self.xi.size, size=size, p=probabilities / probabilities.sum())
        xi = self.xi[node] + (rng.random(size) - 0.5) * self.xi_step
        sigma = self.sigma[node] * np.exp((rng.random(size) - 0.5) * self.log_sigma_step)
        # A cell cut by the edge of the support (ξ > -σ / max excess) keeps its node.
        outside = 1.0 + xi * self.max_excess / sigma <= 0
        xi = np.where(outside, self.xi[node], xi)
        sigma = np.where(outside, self.sigma[node], sigma)
        return xi, sigma


def _log_lik_matrix(excess, xi, sigma) -> np.ndarray:
    """GPD log density of each excess (rows) at each grid node (columns).

    ``log g = -log σ - (1 + 1/ξ) log1p(ξ z / σ)``, written for speed on a grid whose ξ
    nodes are never within 1e-8 of 0 (``log1p`` keeps ``(1/ξ) log1p(ξ t) -> t`` accurate
    there) and whose excesses are positive; ``-inf`` beyond the support. The general
    :func:`sbp_bayes.stats.gpd_logpdf` agrees (tests/test_threshold_selection.py).
    """
    value = np.multiply.outer(excess, xi / sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.log1p(value, out=value)  # in place: these matrices are the cost of a fit
    value *= -(1.0 + 1.0 / xi)
    value -= np.log(sigma)
    return np.nan_to_num(value, copy=False, nan=-np.inf, posinf=-np.inf)


def _logsumexp(values: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """``log Σ exp`` along ``axis`` (all ``-inf`` gives ``-inf``); lighter than scipy's."""
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(values - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def _away_from_zero(xi_nodes: np.ndarray) -> np.ndarray:
    return np.where(np.abs(xi_nodes) < 1e-8, 1e-8, xi_nodes)


def gpd_posterior_grid(
    excess: np.ndarray,
    xi_log_prior: Callable[[np.ndarray], np.ndarray],
    sigma_log_prior: Callable[[np.ndarray], np.ndarray],
    *,
    points: int = GRID_POINTS,
    xi_range: tuple[float, float] = (-0.999, 4.0),
    return_log_lik: bool = False,
):
    """The GPD posterior of excesses over one threshold, on a grid over (ξ, log σ).

    A coarse pass finds where the log posterior is within ``GRID_SPAN`` of its maximum;
    the returned ``points x points`` grid covers that box with a margin of one coarse
    cell. ``xi_range`` bounds the search (ξ >= 4 has no finite moment of order 1/4 and
    never carries posterior mass with a GPD likelihood of more than a handful of points).

    Returns
    -------
    GridPosterior
        (and the ``(n_excess, points**2)`` log-likelihood matrix with ``return_log_lik``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> excess = stats.genpareto(0.2, scale=2.0).rvs(400, random_state=1)
    >>> flat = lambda v: np.zeros_like(v)
    >>> grid = gpd_posterior_grid(excess, flat, lambda s: -np.log(s))
    >>> xi_mle = stats.genpareto.fit(excess, floc=0)[0]
    >>> bool(abs(np.sum(np.exp(grid.log_weight) * grid.xi) - xi_mle) < 0.05)
    True
    """
    excess = np.sort(np.asarray(excess, dtype=float))
    max_excess = float(excess[-1]) if excess.size else 0.0
    scale = float(np.median(excess)) / np.log(2.0) if excess.size else 1.0

    def tabulate(xi_nodes, log_sigma_nodes, points_used):
        xi_grid, log_sigma_grid = np.meshgrid(_away_from_zero(xi_nodes), log_sigma_nodes, indexing="ij")
        xi, log_sigma = xi_grid.ravel(), log_sigma_grid.ravel()
        log_lik = _log_lik_matrix(points_used, xi, np.exp(log_sigma))
        total = log_lik.sum(axis=0) * (excess.size / max(points_used.size, 1))
        log_post = xi_log_prior(xi) + sigma_log_prior(np.exp(log_sigma)) + log_sigma + total
        log_post = np.where(np.isnan(log_post), -np.inf, log_post)
        if not np.isfinite(log_post).any():
            raise ValueError("The GPD posterior is zero everywhere on the grid; check the priors.")
        return xi, log_sigma, log_lik, log_post

    # Coarse pass over a wide box, then the fine grid where the posterior lives. The coarse
    # pass only places the box: it uses at most 400 evenly spaced order statistics (their
    # log-likelihood scaled up to the sample size), the fine pass every excess.
    coarse = 32
    xi_nodes = np.linspace(*xi_range, coarse)
    log_sigma_nodes = np.linspace(np.log(scale) - 6.0, np.log(scale) + 6.0, coarse)
    thinned = excess[np.unique(np.linspace(0, excess.size - 1, min(excess.size, 400)).astype(int))]
    xi, log_sigma, _, log_post = tabulate(xi_nodes, log_sigma_nodes, thinned)
    keep = log_post > log_post.max() - GRID_SPAN
    xi_step = xi_nodes[1] - xi_nodes[0]
    sigma_step = log_sigma_nodes[1] - log_sigma_nodes[0]
    xi_low = max(xi[keep].min() - xi_step, xi_range[0])
    xi_high = min(xi[keep].max() + xi_step, xi_range[1])
    xi_nodes = np.linspace(xi_low, xi_high, points)
    log_sigma_nodes = np.linspace(
        log_sigma[keep].min() - sigma_step, log_sigma[keep].max() + sigma_step, points
    )
    xi, log_sigma, log_lik, log_post = tabulate(xi_nodes, log_sigma_nodes, excess)
    log_weight = log_post - _logsumexp(log_post)
    grid = GridPosterior(
        xi,
        np.exp(log_sigma),
        log_weight,
        float(xi_nodes[1] - xi_nodes[0]),
        float(log_sigma_nodes[1] - log_sigma_nodes[0]),
        max_excess,
    )
    return (grid, log_lik) if return_log_lik else grid


def candidate_scores(
    excess: np.ndarray,
    offsets: np.ndarray,
    start: np.ndarray,
    n_total: int,
    tail_concentration: np.ndarray,
    rest_concentration: np.ndarray,
    xi_log_prior: Callable[[np.ndarray], np.ndarray],
    sigma_log_priors: list[Callable[[np.ndarray], np.ndarray]],
    log_prior: np.ndarray,
    *,
    points: int = GRID_POINTS,
) -> tuple[CandidateScores, list[GridPosterior]]:
    """Exact leave-one-out scores of the candidate thresholds of one tail.

    Parameters
    ----------
    excess : ndarray
        Sorted distances beyond the innermost candidate of every point that can be a tail
        point (:class:`sbp_bayes.model.TailSummary`), ``offsets`` the candidates' distances
        from it and ``start[j]`` the number of excesses not beyond candidate ``j``.
    n_total : int
        Number of observations (every one is scored).
    tail_concentration, rest_concentration : ndarray
        Dirichlet concentration of the bins beyond each candidate and of the others:
        ``p_j ~ Beta(tail + n_j, rest + N - n_j)`` a posteriori.
    xi_log_prior, sigma_log_priors
        Log prior densities of ξ and of each candidate's σ (vectorised callables).
    log_prior : ndarray
        Log prior probability of each candidate.

    Returns
    -------
    (CandidateScores, list of GridPosterior)
        The scores and weights, and each candidate's GPD posterior on its grid.

    Examples
    --------
    Three candidates for the excesses of exact GPD data:

    >>> import numpy as np
    >>> from scipy import stats
    >>> x = np.sort(stats.genpareto(0.1).rvs(1500, random_state=2))
    >>> offsets = np.array([0.0, 1.5, 3.0])
    >>> start = np.searchsorted(x, offsets, side="right")
    >>> flat = lambda v: np.zeros_like(v)
    >>> scores, grids = candidate_scores(x, offsets, start, 1500, np.ones(3), np.ones(3),
    ...                                  flat, [lambda s: -np.log(s)] * 3, np.log(np.ones(3) / 3))
    >>> weights = np.exp(scores.log_weight)
    >>> weights.shape, bool(np.isclose(weights.sum(), 1.0)), len(grids)
    ((3,), True, 3)
    """
    excess = np.asarray(excess, dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    validation = float(offsets[-1])
    n_candidates = offsets.size
    pointwise = np.empty((n_candidates, n_total))
    grids = []
    for j in range(n_candidates):
        beyond = excess[int(start[j]) :] - offsets[j]
        n_beyond = beyond.size
        grid, log_lik = gpd_posterior_grid(
            beyond, xi_log_prior, sigma_log_priors[j], points=points, return_log_lik=True
        )
        grids.append(grid)
        a = float(tail_concentration[j]) + n_beyond
        b = float(rest_concentration[j]) + n_total - n_beyond
        # P(X > v | θ) relative to P(X > u_j): the GPD survival of the validation offset.
        log_sf_v = gpd_logsf(validation - offsets[j], grid.xi, grid.sigma)
        scores = np.empty(n_total)
        # Observations not beyond u_j do not inform (ξ, σ): only p's Beta loses one failure.
        p_mean = a / (a + b - 1.0)
        sf_v = np.exp(_logsumexp(grid.log_weight + log_sf_v))
        scores[: n_total - n_beyond] = np.log1p(-p_mean * sf_v)
        # Exceedances: remove each one's log-likelihood from the grid posterior, exactly. With
        # w the posterior on the grid, the leave-one-out posterior is w / g(x_i) renormalised,
        # so the leave-one-out density of x_i is 1 / Σ (w / g(x_i)) (no second sum), and
        # P(X <= v) is a weighted mean of the grid's survival: one matrix product.
        p_mean = (a - 1.0) / (a + b - 1.0)
        with np.errstate(invalid="ignore"):
            ratio = np.where(np.isfinite(log_lik), grid.log_weight[None, :] - log_lik, -np.inf)
        top = ratio.max(axis=1, keepdims=True)
        scaled = np.exp(ratio - top)
        log_norm = np.log(scaled.sum(axis=1)) + top[:, 0]  # log Σ w / g(x_i)
        below_v = beyond + offsets[j] <= validation
        value = np.empty(n_beyond)
        if below_v.any():
            sf = (scaled[below_v] @ np.exp(log_sf_v)) / scaled[below_v].sum(axis=1)
            value[below_v] = np.log1p(-p_mean * sf)
        above = ~below_v
        value[above] = np.log(p_mean) - log_norm[above]
        scores[n_total - n_beyond :] = value
        pointwise[j] = scores
    total = pointwise.sum(axis=1)
    best = int(np.argmax(total))
    differences = pointwise - pointwise[best]
    score_se = np.sqrt(n_total) * differences.std(axis=1)
    log_w = np.asarray(log_prior, dtype=float) + total
    log_w = log_w - _logsumexp(log_w)
    return CandidateScores(total, score_se, log_w, validation), grids
