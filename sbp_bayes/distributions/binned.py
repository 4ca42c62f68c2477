"""Binned (histogram) body maths in plain PyTensor.

Parameters follow the canonical definition (docs/maths.md): ``edges`` has
shape ``(..., K + 1)`` and is strictly increasing, ``probs`` has shape ``(..., K)``
with non-negative entries summing to one. Bin ``k`` (0-based) is the half-open
interval ``[e_k, e_{k+1})`` (the last bin is closed); its density is
``probs[k] / (e_{k+1} - e_k)``. The CDF is piecewise linear through
``(e_k, probs[0] + ... + probs[k-1])`` and the quantile function is its generalised
inverse ``Q(p) = inf{x : F(x) >= p}``.

All functions broadcast the batch dimensions of the parameters against the value.
With unbatched (1-D) parameters they use ``searchsorted``; with batched
parameters they count comparisons along the bin axis (cost ``K`` per value).
"""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.tensor.extra_ops import searchsorted

__all__ = [
    "bin_index",
    "body_cdf",
    "body_quantile",
    "body_sf",
    "cumulative_before",
    "gather_bins",
    "mass_after",
]


def count_sorted(sorted_values, value, *, strict: bool):
    """How many entries of ``sorted_values`` (last axis) are ``< value`` (``strict``)
    or ``<= value``. Batch dimensions broadcast."""
    value = pt.as_tensor_variable(value)
    if sorted_values.ndim == 1:
        return searchsorted(sorted_values, value, side="left" if strict else "right")
    expanded = pt.shape_padright(value)
    hits = pt.lt(sorted_values, expanded) if strict else pt.le(sorted_values, expanded)
    return pt.sum(hits, axis=-1, dtype="int64")


def gather_bins(per_bin, index):
    """``per_bin[..., index]`` with the batch dimensions of both broadcast."""
    index = pt.as_tensor_variable(index)
    if per_bin.ndim == 1:
        return per_bin[index]
    n_bins = per_bin.shape[-1]
    one_hot = pt.eq(pt.arange(n_bins), pt.shape_padright(index))
    return pt.sum(pt.switch(one_hot, per_bin, 0.0), axis=-1)


def cumulative_before(probs):
    """``probs[..., :k].sum()`` for each bin ``k``: the CDF at each left edge."""
    head = pt.zeros_like(probs[..., :1])
    return pt.concatenate([head, pt.cumsum(probs, axis=-1)[..., :-1]], axis=-1)


def mass_after(probs):
    """``probs[..., k+1:].sum()`` for each bin ``k``: the survival at each right edge,
    summed from the top so that small upper masses keep their precision."""
    reversed_probs = probs[..., ::-1]
    return cumulative_before(reversed_probs)[..., ::-1]


def bin_index(edges, value):
    """0-based bin of ``value`` under the ``[e_k, e_{k+1})`` convention, clipped to
    ``0 .. K-1`` (values outside the edges get the outermost bin)."""
    return count_sorted(edges[..., 1:-1], value, strict=False)


def body_cdf(value, edges, probs):
    """Body CDF ``F_B`` (values outside ``[e_0, e_K]`` are clipped to 0 or 1)."""
    value = pt.clip(value, edges[..., 0], edges[..., -1])
    k = bin_index(edges, value)
    left = gather_bins(edges[..., :-1], k)
    width = gather_bins(pt.diff(edges, axis=-1), k)
    # The fraction of the bin is clipped: with fastmath (numba's default) ``a / a`` can round
    # above 1, and the CDF must not overshoot the next bin's start (it would not be monotone).
    fraction = pt.clip((value - left) / width, 0.0, 1.0)
    return gather_bins(cumulative_before(probs), k) + gather_bins(probs, k) * fraction


def body_sf(value, edges, probs):
    """Body survival ``1 - F_B``, computed from the mass above, not as ``1 - cdf``."""
    value = pt.clip(value, edges[..., 0], edges[..., -1])
    k = bin_index(edges, value)
    right = gather_bins(edges[..., 1:], k)
    width = gather_bins(pt.diff(edges, axis=-1), k)
    fraction = pt.clip((right - value) / width, 0.0, 1.0)  # see body_cdf
    return gather_bins(mass_after(probs), k) + gather_bins(probs, k) * fraction


def body_quantile(p, edges, probs):
    """Generalised inverse ``Q_B(p) = inf{x : F_B(x) >= p}`` for ``0 <= p <= 1``.

    The bin is the first ``k`` whose cumulative mass reaches ``p``; there
    ``probs[k] > 0`` whenever ``p`` exceeds the mass before it, so the linear
    interpolation never divides by zero (a safe ``1`` stands in otherwise).
    """
    p = pt.as_tensor_variable(p)
    cumulative = pt.cumsum(probs, axis=-1)
    k = count_sorted(cumulative[..., :-1], p, strict=True)
    before = gather_bins(cumulative_before(probs), k)
    mass = gather_bins(probs, k)
    left = gather_bins(edges[..., :-1], k)
    width = gather_bins(pt.diff(edges, axis=-1), k)
    safe_mass = pt.switch(pt.gt(mass, 0), mass, 1.0)
    fraction = pt.clip((p - before) / safe_mass, 0.0, 1.0)
    return left + fraction * width
