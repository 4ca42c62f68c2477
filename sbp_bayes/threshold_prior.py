"""A discrete prior over candidate thresholds inside your own PyMC model.

:func:`add_marginalized_threshold` adds to the current model an *observed* variable
whose likelihood is the mixture over candidate thresholds ``c_1, ..., c_J`` with prior
probabilities ``w_j``, marginalised exactly:

.. math::

    p(y \\mid \\theta) = \\sum_j w_j \\prod_i p(y_i \\mid c_j, \\theta),

computed as a log-sum-exp over the candidates. The log density stays smooth in the
continuous parameters ``θ``, so NUTS samples them; the threshold's conditional
posterior given each draw, ``P(c_j | θ, y)``, is stored as a Deterministic. This is the
approach of Bayesian threshold averaging (Northrop, Attalides & Jonathan 2017) written
as a building block.

Why not ``pymc_extras.marginalize``: it is the ecosystem's general tool for
marginalising discrete variables, but its current release (0.15.1) requires
``pymc < 6.4`` and ``pytensor < 3.4`` (this package runs on PyMC 6.4) and brings
preliz, pydantic and better-optimize with it. The marginalisation needed here is one
log-sum-exp over a handful of candidates shared by all observations, so it is written
out directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt

__all__ = ["add_marginalized_threshold"]


def _candidate_log_likelihoods(value, candidates, make_dist, params):
    """``(J, n)`` pointwise log densities of the flattened ``value`` under each candidate."""
    flat = pt.flatten(value)
    rows = [pt.flatten(pm.logp(make_dist(pt.constant(c), size=None, **params), value)) for c in candidates]
    # pm.logp broadcasts against the value; a scalar result (one observation) stays one column.
    return pt.stack([pt.broadcast_to(row, flat.shape) for row in rows])


def add_marginalized_threshold(
    name: str,
    candidates,
    make_dist: Callable,
    params: Mapping[str, object],
    *,
    observed,
    prior=None,
    dims=None,
):
    """Add a likelihood with a discrete threshold prior, marginalised exactly, to the model.

    Parameters
    ----------
    name : str
        Name of the observed variable; the threshold probabilities are stored as
        ``f"{name}_threshold_prob"`` (dimension ``f"{name}_threshold"``, whose
        coordinates are the candidates).
    candidates : array_like of float, shape ``(J,)``
        Candidate thresholds (numbers, fixed before sampling).
    make_dist : callable
        ``make_dist(threshold, size=size, **params)`` returns the distribution of one
        observation (or of all of them, with per-observation parameters) given a
        threshold, as an unnamed ``.dist(...)`` variable, e.g. a threshold-first
        ``SplicedBinnedPareto.dist(body_edges=..., ...)`` whose edges depend on
        ``threshold``. It must build the same number of bins for every candidate
        (e.g. ``K`` bins between a fixed edge and the threshold), because random
        draws pick the threshold symbolically.
    params : mapping of str to tensor
        The model variables ``make_dist`` depends on (passed through by keyword).
    observed : array_like
        The data.
    prior : array_like of float, shape ``(J,)``, optional
        Prior probabilities of the candidates (normalised here); uniform by default.
    dims : str or tuple of str, optional
        Dims of the observed variable.

    Returns
    -------
    TensorVariable
        The observed variable. Its log-likelihood is the exact marginal over the
        candidates; ``pm.sample_prior_predictive`` and ``pm.sample_posterior_predictive``
        draw a threshold from ``f"{name}_threshold_prob"`` (the threshold's posterior
        given the parameters and the data), then the observations given it.

    Notes
    -----
    A shared threshold couples the observations, so the marginal likelihood does not
    split into independent pointwise terms. The pointwise values that
    ``pm.compute_log_likelihood`` stores are the sequential decomposition
    ``log p(y_i | y_1, ..., y_{i-1}, θ)`` (in the order of the flattened data): each is
    a proper predictive density and they sum exactly to the marginal. For PSIS-LOO
    they approximate the leave-one-out terms well once the threshold posterior is
    settled by the earlier observations; ``pareto_k`` flags the points where not.

    Examples
    --------
    An upper tail above a threshold chosen among three candidates, the body ten bins
    between 0 and the threshold:

    >>> import numpy as np, pymc as pm
    >>> from sbp_bayes import SplicedBinnedPareto, add_marginalized_threshold
    >>> y = np.random.default_rng(1).pareto(3.0, size=300)
    >>> def make_dist(threshold, size, bin_probs, tail_prob, xi, sigma):
    ...     edges = threshold * np.linspace(0.0, 1.0, 11)
    ...     return SplicedBinnedPareto.dist(
    ...         body_edges=edges, bin_probs=bin_probs, upper_tail_prob=tail_prob,
    ...         upper_xi=xi, upper_sigma=sigma, size=size,
    ...     )
    >>> with pm.Model() as model:
    ...     params = dict(
    ...         bin_probs=pm.Dirichlet("bin_probs", np.ones(10)),
    ...         tail_prob=pm.Beta("tail_prob", 1.0, 4.0),
    ...         xi=pm.Normal("xi", 0.0, 0.5),
    ...         sigma=pm.HalfNormal("sigma", 1.0),
    ...     )
    ...     obs = add_marginalized_threshold(
    ...         "y", [0.8, 1.0, 1.2], make_dist, params, observed=y
    ...     )
    >>> model.observed_RVs, model.deterministics
    ([y], [y_threshold_prob])
    """
    candidates = np.asarray(candidates, dtype=float)
    if candidates.ndim != 1 or candidates.size == 0 or not np.isfinite(candidates).all():
        raise ValueError(
            f"candidates must be a non-empty 1-D array of finite thresholds; got {candidates!r}."
        )
    if prior is None:
        prior = np.full(candidates.size, 1.0 / candidates.size)
    prior = np.asarray(prior, dtype=float)
    if prior.shape != candidates.shape or (prior < 0).any() or not prior.sum() > 0:
        raise ValueError(
            f"prior must give one non-negative probability per candidate ({candidates.size}); got {prior!r}."
        )
    with np.errstate(divide="ignore"):
        log_prior = np.log(prior / prior.sum())

    model = pm.modelcontext(None)
    names = list(params)
    data = np.asarray(observed, dtype=float)
    threshold_dim = f"{name}_threshold"
    if threshold_dim not in model.coords:
        model.add_coord(threshold_dim, candidates)

    # The threshold's conditional posterior given this draw's parameters and the data.
    per_candidate = _candidate_log_likelihoods(pt.as_tensor(data), candidates, make_dist, params).sum(axis=1)
    joint = log_prior + per_candidate
    threshold_prob = pm.Deterministic(
        f"{name}_threshold_prob", pt.exp(joint - pt.logsumexp(joint)), dims=threshold_dim
    )

    def logp(value, candidate_values, log_prior_values, probs, *values):
        # Sequential decomposition: term i = log p(y_i | y_<i, θ), so the terms sum to the
        # exact marginal log p(y | θ) = logsumexp_j(log w_j + sum_i log p_j(y_i)).
        pointwise = _candidate_log_likelihoods(
            value, candidates, make_dist, dict(zip(names, values, strict=True))
        )
        running = pt.logsumexp(log_prior_values[:, None] + pt.cumsum(pointwise, axis=1), axis=0)
        previous = pt.concatenate([pt.logsumexp(log_prior_values, keepdims=True), running[:-1]])
        return pt.reshape(running - previous, value.shape)

    def random(candidate_values, log_prior_values, probs, *args):
        *values, size = args  # PyMC passes the size last, positionally
        index = pm.Categorical.dist(p=probs)
        return make_dist(candidate_values[index], size=size, **dict(zip(names, values, strict=True)))

    return pm.CustomDist(
        name,
        pt.as_tensor(candidates),
        pt.as_tensor(log_prior),
        threshold_prob,
        *(params[key] for key in names),
        logp=logp,
        dist=random,
        observed=data,
        dims=dims,
    )
