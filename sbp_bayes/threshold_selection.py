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

__all__ = [
    "CandidateScores",
    "GridPosterior",
    "candidate_scores",
    "gpd_posterior_grid",
    "gpd_scores",
    "magnitude_adjustment",
]

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
    likelihood_weight, count_weight : ndarray or None
        With clusters (``groups``): each candidate's weight of the GPD log-likelihood
        (:func:`magnitude_adjustment`) and of the exceedance count in ``p_j``'s Beta
        posterior (``Σ m_c / Σ m_c²`` over its cluster sizes ``m_c``: the count's variance
        is ``Σ m_c²``, not ``Σ m_c``). ``None`` for the independence fit.
    """

    score: np.ndarray
    score_se: np.ndarray
    log_weight: np.ndarray
    validation_offset: float
    likelihood_weight: np.ndarray | None = None
    count_weight: np.ndarray | None = None


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


def gpd_scores(excess, xi: float, sigma: float) -> np.ndarray:
    """Score of each excess's GPD log density with respect to (ξ, log σ), shape ``(n, 2)``.

    With ``z = y / σ`` and ``t = 1 + ξ z``: ``∂/∂ξ = log(t) / ξ² - (1 + 1/ξ) z / t`` (its
    limit ``z²/2 - z`` at ξ = 0) and ``∂/∂log σ = (1 + ξ) z / t - 1``.

    Examples
    --------
    The scores of a large sample average to about zero at the true parameters:

    >>> from scipy import stats
    >>> y = stats.genpareto(0.2, scale=2.0).rvs(200_000, random_state=0)
    >>> np.round(gpd_scores(y, 0.2, 2.0).mean(axis=0), 2) + 0.0
    array([0., 0.])
    """
    z = np.asarray(excess, dtype=float) / sigma
    t = 1.0 + xi * z
    d_log_sigma = (1.0 + xi) * z / t - 1.0
    if abs(xi) < 1e-6:
        d_xi = z**2 / 2.0 - z
    else:
        d_xi = np.log1p(xi * z) / xi**2 - (1.0 + 1.0 / xi) * z / t
    return np.column_stack([d_xi, d_log_sigma])


def magnitude_adjustment(excess, groups, xi: float, sigma: float) -> float:
    """The weight that turns an independence GPD likelihood into one of independent clusters.

    For excesses that come in clusters the independence log-likelihood ``ℓ`` is still an
    unbiased estimating equation, but its curvature ``H`` (the information it claims)
    exceeds the variability ``J`` of its score, which adds up whole clusters. Chandler &
    Bate's (2007) magnitude adjustment ``w = p / tr(H⁻¹ J)`` (``p = 2`` parameters),
    used for Bayesian composite likelihoods by Ribatet, Cooley & Davison (2012), scales
    ``ℓ`` so that on average its curvature matches ``J``: the posterior of ``w ℓ`` has
    about the width of the sampling distribution of the estimate. Here ``H = Σ_i s_i s_iᵀ``
    (the outer-product estimate, equal to the observed information for independent data)
    and ``J = Σ_c (Σ_{i∈c} s_i)(Σ_{i∈c} s_i)ᵀ`` over the clusters ``c``, with ``s_i`` the
    scores at (ξ, σ) (:func:`gpd_scores`): singleton clusters give ``w = 1`` exactly.
    Capped to ``(0, 1]``: within-cluster scores that happen to cancel never add information.

    Parameters
    ----------
    excess : array_like
        Excesses of one threshold.
    groups : array_like of int
        Cluster label of each excess (any integers; equal labels form a cluster).
    xi, sigma : float
        Where the scores are evaluated (an estimate: the posterior mean).

    Examples
    --------
    Every excess repeated three times (clusters of three identical values) carries the
    information of one:

    >>> from scipy import stats
    >>> y = stats.genpareto(0.1, scale=1.0).rvs(300, random_state=1)
    >>> round(magnitude_adjustment(np.repeat(y, 3), np.repeat(np.arange(300), 3), 0.1, 1.0), 3)
    0.333
    """
    scores = gpd_scores(excess, xi, sigma)
    groups = np.asarray(groups)
    _, label = np.unique(groups, return_inverse=True)
    sums = np.zeros((label.max() + 1 if label.size else 0, 2))
    np.add.at(sums, label, scores)
    h = scores.T @ scores
    j = sums.T @ sums
    try:
        trace = float(np.trace(np.linalg.solve(h, j)))
    except np.linalg.LinAlgError:
        return 1.0
    if not np.isfinite(trace) or trace <= 0:
        return 1.0
    return float(min(1.0, 2.0 / trace))


def gpd_posterior_grid(
    excess: np.ndarray,
    xi_log_prior: Callable[[np.ndarray], np.ndarray],
    sigma_log_prior: Callable[[np.ndarray], np.ndarray],
    *,
    points: int = GRID_POINTS,
    xi_range: tuple[float, float] = (-0.999, 4.0),
    return_log_lik: bool = False,
    log_lik_weight: float = 1.0,
):
    """The GPD posterior of excesses over one threshold, on a grid over (ξ, log σ).

    A coarse pass finds where the log posterior is within ``GRID_SPAN`` of its maximum;
    the returned ``points x points`` grid covers that box with a margin of one coarse
    cell. ``xi_range`` bounds the search (ξ >= 4 has no finite moment of order 1/4 and
    never carries posterior mass with a GPD likelihood of more than a handful of points).

    ``log_lik_weight`` ``w`` in ``(0, 1]`` tempers the likelihood: the posterior is
    ``prior x L^w``. For excesses that come in clusters (a dependent series) the
    independence likelihood ``L`` overstates the information; ``w`` from
    :func:`magnitude_adjustment` restores the curvature a likelihood of independent
    clusters would have (Ribatet, Cooley & Davison 2012). The returned log-likelihood
    matrix is the untempered one.

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
    if not 0.0 < log_lik_weight <= 1.0:
        raise ValueError(f"log_lik_weight must lie in (0, 1]; got {log_lik_weight!r}.")
    excess = np.sort(np.asarray(excess, dtype=float))
    max_excess = float(excess[-1]) if excess.size else 0.0
    scale = float(np.median(excess)) / np.log(2.0) if excess.size else 1.0

    def tabulate(xi_nodes, log_sigma_nodes, points_used):
        xi_grid, log_sigma_grid = np.meshgrid(_away_from_zero(xi_nodes), log_sigma_nodes, indexing="ij")
        xi, log_sigma = xi_grid.ravel(), log_sigma_grid.ravel()
        log_lik = _log_lik_matrix(points_used, xi, np.exp(log_sigma))
        total = log_lik.sum(axis=0) * (log_lik_weight * excess.size / max(points_used.size, 1))
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


CLUSTER_ADJUSTMENTS = ("sandwich", "extremal_index")


def _cluster_weights(beyond, label, adjustment, xi_log_prior, sigma_log_prior, points):
    """Likelihood and count weights of one candidate's clustered excesses."""
    sizes = np.bincount(label).astype(float)
    count_weight = float(sizes.sum() / (sizes**2).sum())
    if adjustment == "extremal_index":
        # Clusters per exceedance: the runs/intervals estimate of θ at this candidate.
        return sizes.size / sizes.sum(), count_weight
    # The scores are evaluated at the independence posterior's centre (the estimate the
    # composite likelihood would give); the tempered posterior keeps that centre.
    grid = gpd_posterior_grid(beyond, xi_log_prior, sigma_log_prior, points=points // 2)
    mass = np.exp(grid.log_weight)
    xi_hat = float(mass @ grid.xi)
    sigma_hat = float(np.exp(mass @ np.log(grid.sigma)))
    return magnitude_adjustment(beyond, label, xi_hat, sigma_hat), count_weight


def _group_sums(values: np.ndarray, label: np.ndarray, n_groups: int) -> np.ndarray:
    """Row sums of ``values`` per group label (rows of a group need not be adjacent)."""
    order = np.argsort(label, kind="stable")
    boundaries = np.searchsorted(label[order], np.arange(n_groups))
    return np.add.reduceat(values[order], boundaries, axis=0)


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
    groups: np.ndarray | None = None,
    adjustment: str = "sandwich",
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
    groups : ndarray of int, optional
        The cluster of each excess (aligned with ``excess``; equal labels form a cluster,
        e.g. from :func:`sbp_bayes.clusters.exceedance_groups`). ``None`` (default): the
        excesses are independent. Given, each candidate's GPD log-likelihood is tempered
        by its weight from ``adjustment`` (:func:`gpd_posterior_grid`), its exceedance
        count in ``p_j``'s Beta posterior by ``Σ m_c / Σ m_c²``, and the scores leave one
        *cluster* out: leaving one day of a storm out while its neighbours stay in would
        score the fit on what it has as good as seen, most for the candidates with fewest
        exceedances. The same groups serve every candidate (a cluster of a higher
        candidate lies inside one of the innermost), so the scores stay comparable, and
        the candidates' weights use the scores times the innermost candidate's
        likelihood weight, the share of independent information in the sum of
        dependent scores.
    adjustment : {"sandwich", "extremal_index"}
        With ``groups``: the likelihood weight. ``"sandwich"`` (default): the magnitude
        adjustment of the composite likelihood (:func:`magnitude_adjustment`), which
        measures how much the clusters' excesses repeat each other. ``"extremal_index"``:
        clusters per exceedance (the estimate of θ), as if each cluster carried the
        information of one excess.

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

    The same excesses each repeated twice in a cluster: the tempered posteriors are
    those of the single copies, to the grid's accuracy:

    >>> doubled = np.repeat(x, 2)
    >>> labels = np.repeat(np.arange(x.size), 2)
    >>> paired, paired_grids = candidate_scores(
    ...     doubled, offsets, np.searchsorted(doubled, offsets, side="right"), 3000, np.ones(3),
    ...     np.ones(3), flat, [lambda s: -np.log(s)] * 3, np.log(np.ones(3) / 3), groups=labels)
    >>> paired.likelihood_weight.round(2).tolist()
    [0.5, 0.5, 0.5]
    >>> sd = lambda g: float(np.sqrt(np.exp(g.log_weight) @ g.xi**2 - (np.exp(g.log_weight) @ g.xi) ** 2))
    >>> round(sd(paired_grids[0]) / sd(grids[0]), 2)
    1.0
    """
    excess = np.asarray(excess, dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    validation = float(offsets[-1])
    n_candidates = offsets.size
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != excess.shape:
            raise ValueError(f"groups must give one label per excess; got {groups.shape} for {excess.shape}.")
        if adjustment not in CLUSTER_ADJUSTMENTS:
            raise ValueError(
                f"adjustment must be one of {', '.join(CLUSTER_ADJUSTMENTS)}; got {adjustment!r}."
            )
    pointwise = np.empty((n_candidates, n_total))
    likelihood_weights = np.ones(n_candidates)
    count_weights = np.ones(n_candidates)
    grids = []
    for j in range(n_candidates):
        beyond = excess[int(start[j]) :] - offsets[j]
        n_beyond = beyond.size
        if groups is not None and n_beyond:
            _, label = np.unique(groups[int(start[j]) :], return_inverse=True)
            likelihood_weights[j], count_weights[j] = _cluster_weights(
                beyond, label, adjustment, xi_log_prior, sigma_log_priors[j], points
            )
        grid, log_lik = gpd_posterior_grid(
            beyond,
            xi_log_prior,
            sigma_log_priors[j],
            points=points,
            return_log_lik=True,
            log_lik_weight=float(likelihood_weights[j]),
        )
        grids.append(grid)
        count_weight = count_weights[j]
        a = float(tail_concentration[j]) + count_weight * n_beyond
        b = float(rest_concentration[j]) + count_weight * (n_total - n_beyond)
        # P(X > v | θ) relative to P(X > u_j): the GPD survival of the validation offset.
        log_sf_v = gpd_logsf(validation - offsets[j], grid.xi, grid.sigma)
        scores = np.empty(n_total)
        # Observations not beyond u_j do not inform (ξ, σ): only p's Beta loses one failure.
        p_mean = a / (a + b - count_weight)
        sf_v = np.exp(_logsumexp(grid.log_weight + log_sf_v))
        scores[: n_total - n_beyond] = np.log1p(-p_mean * sf_v)
        below_v = beyond + offsets[j] <= validation
        value = np.empty(n_beyond)
        if groups is None:
            # Exceedances: remove each one's log-likelihood from the grid posterior, exactly.
            # With w the posterior on the grid, the leave-one-out posterior is w / g(x_i)
            # renormalised, so the leave-one-out density of x_i is 1 / Σ (w / g(x_i)) (no
            # second sum), and P(X <= v) is a weighted mean of the grid's survival: one
            # matrix product.
            p_mean = (a - 1.0) / (a + b - 1.0)
            with np.errstate(invalid="ignore"):
                ratio = np.where(np.isfinite(log_lik), grid.log_weight[None, :] - log_lik, -np.inf)
            top = ratio.max(axis=1, keepdims=True)
            scaled = np.exp(ratio - top)
            log_norm = np.log(scaled.sum(axis=1)) + top[:, 0]  # log Σ w / g(x_i)
            if below_v.any():
                sf = (scaled[below_v] @ np.exp(log_sf_v)) / scaled[below_v].sum(axis=1)
                value[below_v] = np.log1p(-p_mean * sf)
            above = ~below_v
            value[above] = np.log(p_mean) - log_norm[above]
        elif n_beyond:
            # Leave one cluster out: its tempered log-likelihood leaves the grid posterior, and
            # each of its members is scored by the predictive density of the rest.
            n_groups = int(label.max()) + 1
            # A member beyond a node's support makes the cluster's sum -inf; such nodes have
            # no posterior mass either (every excess is in the posterior), so they stay at -inf.
            cluster_lik = _group_sums(log_lik, label, n_groups)
            with np.errstate(invalid="ignore"):
                left_out = grid.log_weight[None, :] - likelihood_weights[j] * cluster_lik
            left_out = np.where(np.isfinite(cluster_lik), left_out, -np.inf)
            left_out = np.where(np.isnan(left_out), -np.inf, left_out)
            left_out -= _logsumexp(left_out, axis=1, keepdims=True)
            sizes = np.bincount(label, minlength=n_groups).astype(float)
            p_left = (a - count_weight * sizes) / (a + b - count_weight * sizes)
            if below_v.any():
                sf = np.exp(_logsumexp(left_out + log_sf_v[None, :], axis=1))
                value[below_v] = np.log1p(-p_left[label[below_v]] * sf[label[below_v]])
            above = np.flatnonzero(~below_v)
            if above.size:
                density = _logsumexp(left_out[label[above]] + log_lik[above], axis=1)
                value[above] = np.log(p_left[label[above]]) + density
        scores[n_total - n_beyond :] = value
        pointwise[j] = scores
    total = pointwise.sum(axis=1)
    best = int(np.argmax(total))
    differences = pointwise - pointwise[best]
    score_se = np.sqrt(n_total) * differences.std(axis=1)
    log_w = np.asarray(log_prior, dtype=float) + total * likelihood_weights[0]
    log_w = log_w - _logsumexp(log_w)
    clustered = groups is not None
    return (
        CandidateScores(
            total,
            score_se,
            log_w,
            validation,
            likelihood_weights if clustered else None,
            count_weights if clustered else None,
        ),
        grids,
    )
