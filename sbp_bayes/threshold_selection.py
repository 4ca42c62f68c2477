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
from scipy import special

from sbp_bayes.stats import gpd_logpdf, gpd_logsf

__all__ = ["CandidateScores", "candidate_scores", "gpd_posterior_grid"]

#: Points per axis of the (ξ, log σ) quadrature grid.
GRID_POINTS = 90
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


def _log_prior_on(log_prior: Callable[[np.ndarray], np.ndarray], values: np.ndarray) -> np.ndarray:
    out = np.asarray(log_prior(values), dtype=float)
    return np.where(np.isnan(out), -np.inf, out)


def _log_posterior(excess, xi, log_sigma, xi_log_prior, sigma_log_prior):
    """Unnormalised log posterior of (ξ, log σ) on a grid (σ's Jacobian included)."""
    sigma = np.exp(log_sigma)
    log_lik = np.zeros(np.broadcast_shapes(xi.shape, sigma.shape))
    for block in np.array_split(excess, max(1, excess.size // 512)):
        log_lik = log_lik + gpd_logpdf(block, xi[..., None], sigma[..., None]).sum(axis=-1)
    return xi_log_prior(xi) + sigma_log_prior(sigma) + log_sigma + log_lik


def gpd_posterior_grid(
    excess: np.ndarray,
    xi_log_prior: Callable[[np.ndarray], np.ndarray],
    sigma_log_prior: Callable[[np.ndarray], np.ndarray],
    *,
    points: int = GRID_POINTS,
    xi_range: tuple[float, float] = (-0.999, 3.0),
):
    """The GPD posterior of excesses over one threshold, on a grid over (ξ, log σ).

    A first coarse pass finds where the log posterior is within ``GRID_SPAN`` of its
    maximum; the returned grid of ``points x points`` covers that box with a margin.

    Returns
    -------
    xi, sigma : ndarray, shape (points * points,)
        Grid nodes.
    log_weight : ndarray
        Normalised log posterior mass of each node (``-inf`` outside the support).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> excess = stats.genpareto(0.2, scale=2.0).rvs(400, random_state=1)
    >>> flat = lambda v: np.zeros_like(v)
    >>> xi, sigma, log_weight = gpd_posterior_grid(excess, flat, lambda s: -np.log(s))
    >>> bool(abs(np.sum(np.exp(log_weight) * xi) - stats.genpareto.fit(excess, floc=0)[0]) < 0.05)
    True
    """
    excess = np.sort(np.asarray(excess, dtype=float))
    scale = float(np.median(excess)) / np.log(2.0) if excess.size else 1.0
    coarse = max(30, points // 2)
    xi_nodes = np.linspace(*xi_range, coarse)
    log_sigma_nodes = np.linspace(np.log(scale) - 5.0, np.log(scale) + 5.0, coarse)
    for _ in range(2):  # coarse pass, then the grid where the posterior lives
        xi_grid, log_sigma_grid = np.meshgrid(xi_nodes, log_sigma_nodes, indexing="ij")
        log_post = _log_posterior(excess, xi_grid, log_sigma_grid, xi_log_prior, sigma_log_prior)
        if not np.isfinite(log_post).any():
            raise ValueError("The GPD posterior is zero everywhere on the grid; check the priors.")
        keep = log_post > log_post.max() - GRID_SPAN
        xi_step = xi_nodes[1] - xi_nodes[0]
        sigma_step = log_sigma_nodes[1] - log_sigma_nodes[0]
        xi_low = max(xi_grid[keep].min() - xi_step, xi_range[0])
        xi_nodes = np.linspace(xi_low, xi_grid[keep].max() + xi_step, points)
        log_sigma_nodes = np.linspace(
            log_sigma_grid[keep].min() - sigma_step, log_sigma_grid[keep].max() + sigma_step, points
        )
    xi_grid, log_sigma_grid = np.meshgrid(xi_nodes, log_sigma_nodes, indexing="ij")
    log_post = _log_posterior(excess, xi_grid, log_sigma_grid, xi_log_prior, sigma_log_prior).ravel()
    return xi_grid.ravel(), np.exp(log_sigma_grid.ravel()), log_post - special.logsumexp(log_post)


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
) -> CandidateScores:
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

    Examples
    --------
    Exact GPD data: every candidate is valid and the innermost, with the most data,
    predicts best.

    >>> import numpy as np
    >>> from scipy import stats
    >>> x = np.sort(stats.genpareto(0.1).rvs(1500, random_state=2))
    >>> offsets = np.array([0.0, 1.5, 3.0])
    >>> start = np.searchsorted(x, offsets, side="right")
    >>> flat = lambda v: np.zeros_like(v)
    >>> result = candidate_scores(x, offsets, start, 1500, np.ones(3), np.ones(3),
    ...                           flat, [lambda s: -np.log(s)] * 3, np.log(np.ones(3) / 3))
    >>> bool(result.log_weight[0] > result.log_weight[-1])
    True
    """
    excess = np.asarray(excess, dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    validation = float(offsets[-1])
    n_candidates = offsets.size
    pointwise = np.empty((n_candidates, n_total))
    for j in range(n_candidates):
        beyond = excess[int(start[j]) :] - offsets[j]
        n_beyond = beyond.size
        xi, sigma, log_weight = gpd_posterior_grid(beyond, xi_log_prior, sigma_log_priors[j], points=points)
        a = float(tail_concentration[j]) + n_beyond
        b = float(rest_concentration[j]) + n_total - n_beyond
        # P(X > v | θ) relative to P(X > u_j): the GPD survival of the validation offset.
        log_sf_v = gpd_logsf(validation - offsets[j], xi, sigma)
        scores = np.empty(n_total)
        # Observations not beyond u_j do not inform (ξ, σ): only p's Beta loses one failure.
        p_mean = a / (a + b - 1.0)
        sf_v = np.exp(special.logsumexp(log_weight + log_sf_v))
        scores[: n_total - n_beyond] = np.log1p(-p_mean * sf_v)
        # Exceedances: remove each one's log-likelihood from the grid posterior, exactly.
        p_mean = (a - 1.0) / (a + b - 1.0)
        out = n_total - n_beyond
        for block in np.array_split(np.arange(n_beyond), max(1, n_beyond // 256)):
            if block.size == 0:
                continue
            log_lik = gpd_logpdf(beyond[block, None], xi[None, :], sigma[None, :])
            finite = np.isfinite(log_weight)[None, :] & np.isfinite(log_lik)
            loo = np.where(finite, log_weight[None, :] - np.where(finite, log_lik, 0.0), -np.inf)
            loo = loo - special.logsumexp(loo, axis=1, keepdims=True)
            below_v = beyond[block] + offsets[j] <= validation
            value = np.empty(block.size)
            if below_v.any():
                sf = np.exp(special.logsumexp(loo[below_v] + log_sf_v[None, :], axis=1))
                value[below_v] = np.log1p(-p_mean * sf)
            if (~below_v).any():
                above = ~below_v
                log_lik_above = np.where(finite[above], log_lik[above], -np.inf)
                density = special.logsumexp(loo[above] + log_lik_above, axis=1)
                value[above] = np.log(p_mean) + density
            scores[out + block] = value
        pointwise[j] = scores
    total = pointwise.sum(axis=1)
    best = int(np.argmax(total))
    differences = pointwise - pointwise[best]
    score_se = np.sqrt(n_total) * differences.std(axis=1)
    log_w = np.asarray(log_prior, dtype=float) + total
    log_w = log_w - special.logsumexp(log_w)
    return CandidateScores(total, score_se, log_w, validation)
