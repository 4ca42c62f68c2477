"""Brute-force likelihood of the SBP fit model, for checking the collapsed model.

:mod:`sbp_bayes.model` integrates the bin probabilities out analytically (Dirichlet
conjugacy and aggregation), corrects for observations tied with a candidate threshold,
and ties the GPD scale across candidates by threshold stability. This module computes
the same marginal likelihood *without* any of that algebra:

.. math::

    p(x \\mid \\xi_L, \\sigma_L, \\xi_U, \\sigma_U) = \\sum_{l, m} p(l)\\, p(m)
        \\int_{\\Delta} \\mathrm{Dir}(\\pi \\mid \\alpha)
        \\prod_i f_{\\mathrm{SBP}}(x_i \\mid \\pi, a_L(\\pi), a_U(\\pi), \\xi, \\sigma_{l/m})\\, d\\pi,

where ``f_SBP`` is the canonical density evaluated by :func:`sbp_bayes.stats.sbp`, the
tail probabilities are the bin mass beyond each candidate edge (so that ``u = Q_B(a)``),
and ``σ_m = σ_ref + ξ (u_m − u_ref)`` with ``u_ref`` the innermost candidate.

The simplex integral is done numerically with a product Gauss–Legendre rule after the
stick-breaking map ``π_1 = t_1, π_k = t_k Π_{j<k}(1 − t_j)``, all nodes evaluated at
once through the batch shape of ``sbp``. For integer Dirichlet concentrations the
integrand is a polynomial in each ``t_k`` (each density factor is linear in ``π``), so
the rule is exact once it has enough nodes; :func:`log_marginal_likelihood` callers
check this by comparing two node counts, and the tests cross-check one case with
:func:`scipy.integrate.dblquad`.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy import integrate, special

from sbp_bayes.stats import sbp

__all__ = ["TailSpec", "dblquad_log_integral", "log_candidate_terms", "log_marginal_likelihood"]


@dataclasses.dataclass(frozen=True)
class TailSpec:
    """One tail of the brute-force model.

    ``candidates`` are indices into the bin edges (ascending), ``xi`` and ``sigma_ref``
    the GPD shape and the scale at the innermost candidate, ``weights`` the prior
    probabilities of the candidates (ascending order; ``None`` for uniform).
    """

    candidates: tuple[int, ...]
    xi: float
    sigma_ref: float
    weights: tuple[float, ...] | None = None

    def log_weights(self) -> np.ndarray:
        if self.weights is None:
            return np.full(len(self.candidates), -np.log(len(self.candidates)))
        w = np.asarray(self.weights, dtype=float)
        return np.log(w / w.sum())


def _simplex_rule(n_bins: int, n_nodes: int):
    """Nodes (S, n_bins) and log weights (S,) of a product Gauss-Legendre rule on the
    probability simplex, through the stick-breaking map (its Jacobian included)."""
    t, w = np.polynomial.legendre.leggauss(n_nodes)
    t, w = (t + 1) / 2, w / 2  # on [0, 1]
    grids = np.meshgrid(*([t] * (n_bins - 1)), indexing="ij")
    weights = np.meshgrid(*([w] * (n_bins - 1)), indexing="ij")
    sticks = np.stack([g.reshape(-1) for g in grids], axis=-1)
    log_weight = sum(np.log(g.reshape(-1)) for g in weights)
    probs = np.empty((sticks.shape[0], n_bins))
    remaining = np.ones(sticks.shape[0])
    log_jacobian = np.zeros(sticks.shape[0])
    for k in range(n_bins - 1):
        probs[:, k] = sticks[:, k] * remaining
        log_jacobian += np.log(remaining)  # d pi_k / d t_k = prod_{j<k} (1 - t_j)
        remaining = remaining * (1 - sticks[:, k])
    probs[:, -1] = remaining
    return probs, log_weight + log_jacobian


def _log_dirichlet(probs: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return (
        special.gammaln(alpha.sum())
        - special.gammaln(alpha).sum()
        + ((alpha - 1) * np.log(probs)).sum(axis=-1)
    )


def _log_likelihood_given_probs(x, bin_edges, probs, lower, upper, lower_index, upper_index):
    """Sum over the data of the canonical SBP log density, for every row of ``probs``,
    with the thresholds at candidate ``lower_index`` / ``upper_index``."""
    edges = np.asarray(bin_edges, dtype=float)
    kwargs = {}
    known = {}
    for side, spec, index in (("lower", lower, lower_index), ("upper", upper, upper_index)):
        if spec is None:
            continue
        edge = spec.candidates[index]
        if side == "upper":
            tail_prob = probs[:, edge:].sum(axis=-1)
            reference = edges[spec.candidates[0]]
            distance = edges[edge] - reference
        else:
            tail_prob = probs[:, :edge].sum(axis=-1)
            reference = edges[spec.candidates[-1]]
            distance = reference - edges[edge]
        kwargs[f"{side}_tail_prob"] = tail_prob
        kwargs[f"{side}_xi"] = spec.xi
        kwargs[f"{side}_sigma"] = spec.sigma_ref + spec.xi * distance  # threshold stability
        known[side] = edges[edge]
    dist = sbp(edges, probs, **kwargs)
    # The canonical threshold is Q_B(a); with a = the bin mass beyond the candidate edge it
    # *is* that edge, up to rounding: the ~1e-16 error of 1 - a divided by the mass of the
    # bin next to the edge, which is ~1e-9 at the rule's extreme nodes. Check, then pin it
    # exactly: an observation lying on the edge must not move into the tail by rounding.
    pinned = {}
    for side, edge_value in known.items():
        derived = getattr(dist, f"{side}_threshold")
        if np.max(np.abs(derived - edge_value)) > 1e-6 * np.min(np.diff(edges)):
            raise AssertionError(f"Q_B(a) does not give the {side} candidate edge {edge_value}")
        pinned[f"known_{side}_threshold"] = np.full(probs.shape[0], edge_value)
    # A side without a tail ends at the outermost edge (every bin has mass at the nodes).
    # Q_B(1) can come out a rounding error short of it when the probabilities sum to
    # 1 + 1e-16, which would give an observation on that edge density 0.
    if lower is None:
        pinned["known_lower_threshold"] = np.full(probs.shape[0], edges[0])
    if upper is None:
        pinned["known_upper_threshold"] = np.full(probs.shape[0], edges[-1])
    dist = dataclasses.replace(dist, **pinned)
    return dist.logpdf(np.asarray(x, dtype=float)[:, None]).sum(axis=0)


def log_candidate_terms(
    x,
    bin_edges,
    *,
    lower: TailSpec | None = None,
    upper: TailSpec | None = None,
    concentration=1.0,
    n_nodes: int = 16,
) -> np.ndarray:
    """``log p(l) p(m) ∫ Dir(π) Π f(x_i | π, l, m) dπ`` for every candidate pair.

    Returns an array of shape ``(n_lower, n_upper)`` (a side without a tail counts as one
    candidate), candidates in ascending threshold order.
    """
    edges = np.asarray(bin_edges, dtype=float)
    n_bins = edges.size - 1
    alpha = np.broadcast_to(np.asarray(concentration, dtype=float), (n_bins,))
    probs, log_weight = _simplex_rule(n_bins, n_nodes)
    log_prior_probs = _log_dirichlet(probs, alpha)
    lower_range = range(len(lower.candidates)) if lower else [None]
    upper_range = range(len(upper.candidates)) if upper else [None]
    out = np.empty((len(lower_range), len(upper_range)))
    for (i, l_index), (j, m_index) in itertools.product(enumerate(lower_range), enumerate(upper_range)):
        loglik = _log_likelihood_given_probs(x, edges, probs, lower, upper, l_index, m_index)
        log_integral = special.logsumexp(log_weight + log_prior_probs + loglik)
        log_prior = (lower.log_weights()[l_index] if lower else 0.0) + (
            upper.log_weights()[m_index] if upper else 0.0
        )
        out[i, j] = log_integral + log_prior
    return out


def log_marginal_likelihood(x, bin_edges, **kwargs) -> float:
    """``log p(x | ξ_L, σ_L, ξ_U, σ_U)`` with bin probabilities and thresholds integrated
    out (keyword arguments as for :func:`log_candidate_terms`)."""
    return float(special.logsumexp(log_candidate_terms(x, bin_edges, **kwargs)))


def dblquad_log_integral(x, bin_edges, *, upper: TailSpec, upper_index: int, shift: float) -> float:
    """``log ∫ Π f(x_i | π) dπ`` (uniform Dirichlet, three bins, upper tail only) by
    adaptive :func:`scipy.integrate.dblquad` — an independent check of the
    Gauss-Legendre rule. ``shift`` (about the answer) keeps the integrand near 1 so that
    the relative tolerance is meaningful."""
    edges = np.asarray(bin_edges, dtype=float)
    if edges.size != 4:
        raise ValueError("dblquad_log_integral handles three bins")

    def integrand(p1, p0):
        probs = np.array([[p0, p1, 1.0 - p0 - p1]])
        loglik = _log_likelihood_given_probs(x, edges, probs, None, upper, None, upper_index)[0]
        return np.exp(loglik + np.log(2.0) - shift)  # Dirichlet(1, 1, 1) density is 2

    value, _ = integrate.dblquad(integrand, 0.0, 1.0, 0.0, lambda p0: 1.0 - p0, epsabs=0.0, epsrel=1e-11)
    return float(np.log(value) + shift)
