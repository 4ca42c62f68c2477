"""The threshold-first parameterisation: the body's outer edges *are* the thresholds.

Plain PyTensor functions of ``(body_edges, bin_probs, a_L, a_U, ξ_L, σ_L, ξ_U, σ_U)``
where ``body_edges`` ``e_0 < … < e_K`` span the body, ``u_L = e_0`` and ``u_U = e_K``
are the thresholds and ``bin_probs`` ``π`` are the body's *conditional* bin
probabilities (they sum to one). The density is

* ``a_L g_L(u_L - x)`` below ``u_L``;
* ``(1 - a_L - a_U) π_k / w_k`` on bin ``k`` of the body (``w_k`` its width);
* ``a_U g_U(x - u_U)`` above ``u_U``.

For fixed edges every piece is a smooth function of every parameter and no
observation ever changes region, so gradient-based samplers (NUTS) see a smooth log
density. This is exactly the canonical distribution whose bins are the body bins
plus one bin of mass ``a_L`` below ``u_L`` and one of mass ``a_U`` above ``u_U``.

A tail probability of exactly ``0`` removes that tail: the density is ``0`` beyond
the outer edge and the CDF reaches ``0`` (or ``1``) there. Bins follow the
``[e_k, e_{k+1})`` convention, the last bin closed at ``u_U``.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from sbp_bayes.distributions.binned import bin_index, body_cdf, body_quantile, body_sf, gather_bins
from sbp_bayes.distributions.gpd import gpd_excess_from_survival, gpd_logpdf, gpd_logsf

__all__ = [
    "log_tail_prob",
    "tail_regions",
    "threshold_first_icdf",
    "threshold_first_logccdf",
    "threshold_first_logcdf",
    "threshold_first_logpdf",
]


def log_tail_prob(prob):
    """``log(prob)``, exactly ``-inf`` at ``prob = 0`` (an absent tail) with a finite
    gradient there (the unused branch takes ``log(1)``)."""
    prob = pt.as_tensor_variable(prob)
    present = pt.gt(prob, 0)
    return pt.switch(present, pt.log(pt.switch(present, prob, 1.0)), -np.inf)


def tail_regions(value, u_lower, u_upper):
    """Masks and safe excesses of the three regions (safe = 0 where unused), for the
    thresholds of either parameterisation."""
    value = pt.as_tensor_variable(value)
    below = pt.lt(value, u_lower)
    above = pt.gt(value, u_upper)
    lower_excess = pt.switch(below, u_lower - value, 0.0)
    upper_excess = pt.switch(above, value - u_upper, 0.0)
    body_value = pt.clip(value, u_lower, u_upper)
    return below, above, lower_excess, upper_excess, body_value


def threshold_first_logpdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log density; the body value at ``u_U`` belongs to the last bin."""
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, edges[..., 0], edges[..., -1])
    lower = log_tail_prob(lower_tail_prob) + gpd_logpdf(lower_excess, lower_xi, lower_sigma)
    upper = log_tail_prob(upper_tail_prob) + gpd_logpdf(upper_excess, upper_xi, upper_sigma)

    k = bin_index(edges, body_value)  # clipped to the last bin at u_U
    mass = gather_bins(probs, k)
    width = gather_bins(pt.diff(edges, axis=-1), k)
    occupied = pt.gt(mass, 0)
    safe_mass = pt.switch(occupied, mass, 1.0)
    log_body_mass = pt.log1p(-(lower_tail_prob + upper_tail_prob))
    body = pt.switch(occupied, log_body_mass + pt.log(safe_mass) - pt.log(width), -np.inf)
    return pt.switch(below, lower, pt.switch(above, upper, body))


def threshold_first_logcdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log CDF: ``a_L + (1 - a_L - a_U) F_B(x)`` on the body."""
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, edges[..., 0], edges[..., -1])
    lower = log_tail_prob(lower_tail_prob) + gpd_logsf(lower_excess, lower_xi, lower_sigma)
    upper = pt.log1mexp(log_tail_prob(upper_tail_prob) + gpd_logsf(upper_excess, upper_xi, upper_sigma))
    body_mass = 1.0 - lower_tail_prob - upper_tail_prob
    body = pt.log(lower_tail_prob + body_mass * body_cdf(body_value, edges, probs))
    return pt.switch(below, lower, pt.switch(above, upper, body))


def threshold_first_logccdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log survival: ``a_U + (1 - a_L - a_U) (1 - F_B(x))`` on the body, from the mass above."""
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, edges[..., 0], edges[..., -1])
    lower = pt.log1mexp(log_tail_prob(lower_tail_prob) + gpd_logsf(lower_excess, lower_xi, lower_sigma))
    upper = log_tail_prob(upper_tail_prob) + gpd_logsf(upper_excess, upper_xi, upper_sigma)
    body_mass = 1.0 - lower_tail_prob - upper_tail_prob
    body = pt.log(upper_tail_prob + body_mass * body_sf(body_value, edges, probs))
    return pt.switch(below, lower, pt.switch(above, upper, body))


def threshold_first_icdf(
    q, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Quantile for ``0 <= q <= 1``; an absent tail's end is the outer edge."""
    q = pt.as_tensor_variable(q)
    in_lower = pt.lt(q, lower_tail_prob)
    in_upper = pt.gt(q, 1.0 - upper_tail_prob)
    safe_lower = pt.switch(pt.gt(lower_tail_prob, 0), lower_tail_prob, 1.0)
    safe_upper = pt.switch(pt.gt(upper_tail_prob, 0), upper_tail_prob, 1.0)
    lower_survival = pt.switch(in_lower, q / safe_lower, 1.0)
    upper_survival = pt.switch(in_upper, (1.0 - q) / safe_upper, 1.0)
    lower = edges[..., 0] - gpd_excess_from_survival(lower_survival, lower_xi, lower_sigma)
    upper = edges[..., -1] + gpd_excess_from_survival(upper_survival, upper_xi, upper_sigma)
    body_mass = 1.0 - lower_tail_prob - upper_tail_prob
    body_level = pt.clip((q - lower_tail_prob) / body_mass, 0.0, 1.0)
    body = body_quantile(body_level, edges, probs)
    return pt.switch(in_lower, lower, pt.switch(in_upper, upper, body))
