"""The splice: binned body between two thresholds, GPD tails beyond them.

Plain PyTensor functions of the canonical parameters (docs/maths.md):

* thresholds ``u_L = Q_B(a_L)`` and ``u_U = Q_B(1 - a_U)``;
* density ``a_L g_L(u_L - x)`` below ``u_L``, ``f_B(x)`` on ``[u_L, u_U]``,
  ``a_U g_U(x - u_U)`` above ``u_U``;
* CDF, survival and quantile built from the same pieces, each tail computed from
  its own survival so that no ``1 - p`` cancellation eats small tail masses.

A tail probability of exactly ``0`` removes that tail: its threshold is then the
outermost edge (``e_0`` or ``e_K``, even where an outer bin is empty) and the density
is 0 beyond it.

On the body, a value that sits exactly on the upper threshold takes the density of
the bin that *ends* there (the body is closed at both thresholds), every other
value the bin ``[e_k, e_{k+1})`` that contains it. The fitting likelihood in
``sbp_bayes.model`` uses the same convention, so pointwise log-likelihoods agree.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from sbp_bayes.distributions.binned import (
    bin_index,
    body_cdf,
    body_quantile,
    body_sf,
    count_sorted,
    gather_bins,
)
from sbp_bayes.distributions.gpd import gpd_excess_from_survival, gpd_logpdf, gpd_logsf
from sbp_bayes.distributions.threshold_first import log_tail_prob, tail_regions

__all__ = ["spliced_icdf", "spliced_logccdf", "spliced_logcdf", "spliced_logpdf", "thresholds"]


def thresholds(edges, probs, lower_tail_prob, upper_tail_prob):
    """``(u_L, u_U) = (Q_B(a_L), Q_B(1 - a_U))``; without a tail (probability 0) the
    outermost edge on that side, so the body runs to its first / last edge."""
    lower = pt.switch(pt.gt(lower_tail_prob, 0), body_quantile(lower_tail_prob, edges, probs), edges[..., 0])
    upper = pt.switch(
        pt.gt(upper_tail_prob, 0), body_quantile(1.0 - upper_tail_prob, edges, probs), edges[..., -1]
    )
    return lower, upper


def spliced_logpdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log density of the spliced binned-Pareto distribution."""
    u_lower, u_upper = thresholds(edges, probs, lower_tail_prob, upper_tail_prob)
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, u_lower, u_upper)

    lower = log_tail_prob(lower_tail_prob) + gpd_logpdf(lower_excess, lower_xi, lower_sigma)
    upper = log_tail_prob(upper_tail_prob) + gpd_logpdf(upper_excess, upper_xi, upper_sigma)

    # The body is closed at u_U: a value exactly there belongs to the bin ending at u_U.
    bin_ending_at_upper = count_sorted(edges[..., 1:-1], u_upper, strict=True)
    k = pt.switch(pt.ge(body_value, u_upper), bin_ending_at_upper, bin_index(edges, body_value))
    mass = gather_bins(probs, k)
    width = gather_bins(pt.diff(edges, axis=-1), k)
    occupied = pt.gt(mass, 0)
    safe_mass = pt.switch(occupied, mass, 1.0)
    body = pt.switch(occupied, pt.log(safe_mass) - pt.log(width), -np.inf)

    return pt.switch(below, lower, pt.switch(above, upper, body))


def spliced_logcdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log CDF; exactly ``-inf`` below a bounded lower tail, ``0`` above a bounded upper one."""
    u_lower, u_upper = thresholds(edges, probs, lower_tail_prob, upper_tail_prob)
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, u_lower, u_upper)

    lower = log_tail_prob(lower_tail_prob) + gpd_logsf(lower_excess, lower_xi, lower_sigma)
    upper = pt.log1mexp(log_tail_prob(upper_tail_prob) + gpd_logsf(upper_excess, upper_xi, upper_sigma))
    body = pt.log(body_cdf(body_value, edges, probs))
    return pt.switch(below, lower, pt.switch(above, upper, body))


def spliced_logccdf(
    value, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Log survival ``log(1 - F)``, each region from its own survival."""
    u_lower, u_upper = thresholds(edges, probs, lower_tail_prob, upper_tail_prob)
    below, above, lower_excess, upper_excess, body_value = tail_regions(value, u_lower, u_upper)

    lower = pt.log1mexp(log_tail_prob(lower_tail_prob) + gpd_logsf(lower_excess, lower_xi, lower_sigma))
    upper = log_tail_prob(upper_tail_prob) + gpd_logsf(upper_excess, upper_xi, upper_sigma)
    body = pt.log(body_sf(body_value, edges, probs))
    return pt.switch(below, lower, pt.switch(above, upper, body))


def spliced_icdf(
    q, edges, probs, lower_tail_prob, upper_tail_prob, lower_xi, lower_sigma, upper_xi, upper_sigma
):
    """Quantile function for ``0 <= q <= 1`` (the tails' endpoints at ``q = 0, 1``)."""
    q = pt.as_tensor_variable(q)
    u_lower, u_upper = thresholds(edges, probs, lower_tail_prob, upper_tail_prob)
    in_lower = pt.lt(q, lower_tail_prob)
    in_upper = pt.gt(q, 1.0 - upper_tail_prob)

    # A tail probability of 0 (no tail) is never divided by: a safe 1 stands in.
    safe_lower = pt.switch(pt.gt(lower_tail_prob, 0), lower_tail_prob, 1.0)
    safe_upper = pt.switch(pt.gt(upper_tail_prob, 0), upper_tail_prob, 1.0)
    lower_survival = pt.switch(in_lower, q / safe_lower, 1.0)
    upper_survival = pt.switch(in_upper, (1.0 - q) / safe_upper, 1.0)
    lower = u_lower - gpd_excess_from_survival(lower_survival, lower_xi, lower_sigma)
    upper = u_upper + gpd_excess_from_survival(upper_survival, upper_xi, upper_sigma)
    body = body_quantile(pt.clip(q, lower_tail_prob, 1.0 - upper_tail_prob), edges, probs)
    return pt.switch(in_lower, lower, pt.switch(in_upper, upper, body))
