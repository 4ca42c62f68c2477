"""Checks of concrete (numpy) parameter values, with messages that say what to fix.

Used by ``SplicedBinnedPareto.dist`` (for the parameters given as numbers) and by
``sbp_bayes.sbp``. Symbolic parameters are checked inside the graph instead, with
PyMC's ``check_parameters`` (``-inf`` log-density / ``ParameterValueError``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["PARAMETER_NAMES", "InvalidParameterError", "probability_sum_tolerance", "validate_parameters"]

#: The distribution's parameters, in the order of ``SplicedBinnedPareto.dist``.
PARAMETER_NAMES = (
    "bin_edges",
    "bin_probs",
    "lower_tail_prob",
    "upper_tail_prob",
    "lower_xi",
    "lower_sigma",
    "upper_xi",
    "upper_sigma",
)


class InvalidParameterError(ValueError):
    """A distribution parameter has an invalid value; the message names it."""


def probability_sum_tolerance(dtype) -> float:
    """How far ``sum(bin_probs)`` may be from 1: ``sqrt(eps)`` of the dtype
    (1.5e-8 in float64, 3.5e-4 in float32)."""
    return float(np.sqrt(np.finfo(np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float64).eps))


def _describe(values: np.ndarray, bad: np.ndarray) -> str:
    """The first offending value and where it is, for error messages."""
    positions = np.argwhere(np.atleast_1d(bad))
    first = tuple(int(i) for i in positions[0])
    shown = float(np.atleast_1d(values)[first] if values.ndim else values)
    where = f" at index {first if len(first) > 1 else first[0]}" if values.ndim else ""
    more = f" ({len(positions)} entries in all)" if len(positions) > 1 else ""
    return f"{shown!r}{where}{more}"


def validate_parameters(params: Mapping[str, object]) -> None:
    """Raise :class:`InvalidParameterError` for the first invalid parameter.

    ``params`` maps the canonical names (``bin_edges``, ``bin_probs``,
    ``lower_tail_prob``, ``upper_tail_prob``, ``lower_xi``, ``lower_sigma``,
    ``upper_xi``, ``upper_sigma``) to numbers or arrays; names that are missing or
    ``None`` are skipped (symbolic or absent). ``body_edges`` (the threshold-first
    parameterisation) is checked like ``bin_edges``. A tail probability of 0 is valid
    (no tail on that side).

    Examples
    --------
    >>> validate_parameters({"bin_edges": [0.0, 1.0, 3.0], "bin_probs": [0.5, 0.5]})
    >>> validate_parameters({"bin_edges": [0.0, 2.0, 1.0]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sbp_bayes...InvalidParameterError: bin_edges must be ... e_2 = 1.0 is not above e_1 = 2.0.
    """
    arrays = {name: np.asarray(value, dtype=float) for name, value in params.items() if value is not None}
    for name, value in arrays.items():
        if np.isnan(value).any():
            raise InvalidParameterError(
                f"{name} contains NaN: {_describe(value, np.isnan(value))}. Pass finite numbers."
            )

    edges_name = "body_edges" if arrays.get("body_edges") is not None else "bin_edges"
    edges = arrays.get(edges_name)
    if edges is not None:
        if edges.ndim == 0 or edges.shape[-1] < 2:
            raise InvalidParameterError(
                f"{edges_name} needs at least two edges (one bin) along its last axis; "
                f"got shape {edges.shape}."
            )
        if not np.isfinite(edges).all():
            raise InvalidParameterError(
                f"{edges_name} must be finite; got {_describe(edges, ~np.isfinite(edges))}. "
                "The tails beyond the bins are the GPDs' job."
            )
        steps = np.diff(edges, axis=-1)
        if (steps <= 0).any():
            bad = np.argwhere(steps <= 0)[0]
            j = int(bad[-1])
            row = tuple(int(i) for i in bad[:-1])
            where = f" in batch entry {row}" if row else ""
            this_row = edges[row] if row else edges
            raise InvalidParameterError(
                f"{edges_name} must be strictly increasing along the last axis"
                f"{where}; e_{j + 1} = {float(this_row[j + 1])!r} is not above "
                f"e_{j} = {float(this_row[j])!r}."
            )

    probs = arrays.get("bin_probs")
    if probs is not None:
        if probs.ndim == 0:
            raise InvalidParameterError("bin_probs must be an array with one probability per bin.")
        if (probs < 0).any() or not np.isfinite(probs).all():
            bad = (probs < 0) | ~np.isfinite(probs)
            raise InvalidParameterError(
                f"bin_probs must be finite and non-negative; got {_describe(probs, bad)}."
            )
        tolerance = probability_sum_tolerance(np.asarray(params["bin_probs"]).dtype)
        totals = probs.sum(axis=-1)
        off = np.abs(totals - 1.0) > tolerance
        if off.any():
            raise InvalidParameterError(
                f"bin_probs must sum to 1 along the last axis (within {tolerance:.1e}); "
                f"the sum is {_describe(totals, off)}. Divide by the sum if they are weights."
            )

    if edges is not None and probs is not None and edges.shape[-1] != probs.shape[-1] + 1:
        raise InvalidParameterError(
            f"{edges_name} has {edges.shape[-1]} edges along its last axis, so bin_probs needs "
            f"{edges.shape[-1] - 1} probabilities, but it has {probs.shape[-1]}."
        )

    for side in ("lower", "upper"):
        name = f"{side}_tail_prob"
        prob = arrays.get(name)
        if prob is not None:
            bad = ~((prob >= 0) & (prob < 1))
            if bad.any():
                raise InvalidParameterError(
                    f"{name} must lie in [0, 1) (0 means no {side} tail); got {_describe(prob, bad)}."
                )
        sigma_name = f"{side}_sigma"
        sigma = arrays.get(sigma_name)
        if sigma is not None:
            bad = ~((sigma > 0) & np.isfinite(sigma))
            if bad.any():
                raise InvalidParameterError(
                    f"{sigma_name} (the GPD scale) must be positive and finite; got {_describe(sigma, bad)}."
                )
        xi_name = f"{side}_xi"
        xi = arrays.get(xi_name)
        if xi is not None and not np.isfinite(xi).all():
            raise InvalidParameterError(
                f"{xi_name} (the GPD shape) must be finite; got {_describe(xi, ~np.isfinite(xi))}."
            )

    lower, upper = arrays.get("lower_tail_prob"), arrays.get("upper_tail_prob")
    if lower is not None and upper is not None:
        total = lower + upper
        bad = total >= 1
        if np.any(bad):
            raise InvalidParameterError(
                "lower_tail_prob + upper_tail_prob must be below 1 (the body needs mass); "
                f"the sum is {_describe(np.asarray(total), np.asarray(bad))}."
            )
