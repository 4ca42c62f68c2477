"""NumPy counterpart of the spliced binned-Pareto distribution, in scipy.stats style.

``sbp(...)`` returns a frozen distribution whose parameters may carry a *batch
shape* ``B`` (for example ``(S,)`` for ``S`` posterior draws). Every method
broadcasts its argument against ``B`` with numpy's rules, exactly like a frozen
``scipy.stats`` distribution with array parameters:

* ``x`` of shape ``B`` evaluates element ``i`` under parameter set ``i``;
* ``x[..., None]`` evaluates every value under every parameter set (result
  ``x.shape + B``) — the usual way to turn posterior draws into predictive
  quantities without a Python loop.

The maths mirrors :mod:`sbp_bayes.distributions` (same conventions at bin edges
and thresholds) but is written independently of PyTensor, for post-processing.

A tail can be *absent* (``lower_tail_prob=None``): the body then runs to its
outermost edge on that side and the density is 0 beyond it. This is how
single-tailed fits and the binned-only baseline are represented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbp_bayes.distributions.validation import PARAMETER_NAMES, InvalidParameterError, validate_parameters

__all__ = [
    "FrozenSplicedBinnedPareto",
    "gpd_excess_from_survival",
    "gpd_integrated_survival",
    "gpd_logpdf",
    "gpd_logsf",
    "sbp",
]

# Upper bound on temporaries (elements) when bins are searched per batch entry.
_CHUNK_ELEMENTS = 1 << 23


# ----------------------------------------------------------------------------- GPD pieces


def _log1p_ratio(u):
    """``log1p(u) / u`` with the value 1 at ``u = 0`` (log1p keeps tiny ``u`` exact)."""
    u = np.asarray(u, dtype=float)
    safe = np.where(u == 0, 1.0, u)
    return np.where(u == 0, 1.0, np.log1p(safe) / safe)


def _expm1_ratio(u):
    """``expm1(u) / u`` with the value 1 at ``u = 0``."""
    u = np.asarray(u, dtype=float)
    safe = np.where(u == 0, 1.0, u)
    return np.where(u == 0, 1.0, np.expm1(safe) / safe)


def gpd_logpdf(z, xi, sigma):
    """GPD log density of the excess ``z`` (``-inf`` outside the support).

    Examples
    --------
    >>> from scipy import stats
    >>> bool(np.isclose(gpd_logpdf(2.0, -0.3, 1.5), stats.genpareto(-0.3, scale=1.5).logpdf(2.0)))
    True
    """
    z, xi, sigma = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (z, xi, sigma)))
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = (z >= 0) & (1 + xi * z / sigma > 0) & np.isfinite(z)
        t = np.where(usable, z / sigma, 0.0)
        value = -np.log(sigma) - np.log1p(xi * t) - t * _log1p_ratio(xi * t)
    return np.where(usable, value, -np.inf)


def gpd_logsf(z, xi, sigma):
    """GPD log survival of the excess ``z``: 0 for ``z <= 0``, ``-inf`` at/after the endpoint."""
    z, xi, sigma = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (z, xi, sigma)))
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = z > 0
        beyond = (1 + xi * z / sigma <= 0) | (z == np.inf)
        t = np.where(positive & ~beyond, z / sigma, 0.0)
        value = -t * _log1p_ratio(xi * t)
    return np.where(positive, np.where(beyond, -np.inf, value), 0.0)


def _tail_logpdf(excess, tail_prob, xi, sigma):
    """Log density of a spliced tail: ``log a + log g(excess)``."""
    return np.log(tail_prob) + gpd_logpdf(excess, xi, sigma)


def _tail_logsf(excess, tail_prob, xi, sigma):
    """Log probability beyond a point of a tail: ``log a + log S(excess)``."""
    return np.log(tail_prob) + gpd_logsf(excess, xi, sigma)


def _tail_log1m_sf(excess, tail_prob, xi, sigma):
    """Log probability of everything but what lies beyond a point of a tail: ``log(1 - a S)``."""
    return np.log1p(-tail_prob * np.exp(gpd_logsf(excess, xi, sigma)))


def gpd_excess_from_survival(survival, xi, sigma):
    """Excess ``z`` with survival ``survival`` (``0`` gives the endpoint, ``inf`` if unbounded)."""
    survival, xi, sigma = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (survival, xi, sigma)))
    at_end = survival <= 0
    # A heavy tail at a tiny survival overflows to +inf, which is the right answer.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m = -np.log(np.where(at_end, 1.0, survival))
        excess = sigma * m * _expm1_ratio(xi * m)
        endpoint = np.where(xi < 0, -sigma / np.where(xi < 0, xi, -1.0), np.inf)
    return np.where(at_end, endpoint, excess)


def gpd_integrated_survival(d, xi, sigma):
    """``int_0^d (1 - G(z)) dz`` of the GPD ``G`` with shape ``xi`` and scale ``sigma``
    (finite for every ``xi`` and finite ``d``; at ``d = inf`` the mean excess).

    Examples
    --------
    For ``xi = 0`` (exponential) the integral is ``sigma (1 - exp(-d / sigma))``:

    >>> import numpy as np
    >>> from sbp_bayes.stats import gpd_integrated_survival
    >>> float(np.round(gpd_integrated_survival(1.0, 0.0, 2.0), 6)), float(np.round(2 * (1 - np.exp(-0.5)), 6))
    (0.786939, 0.786939)
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = -gpd_logsf(d, xi, sigma)  # survival = exp(-m)
        finite = np.isfinite(m)
        m_safe = np.where(finite, m, 0.0)
        value = sigma * m_safe * _expm1_ratio(-(1.0 - xi) * m_safe)
        # Beyond a bounded endpoint (or at d = inf) the integral is the full mean excess.
        full = np.where(xi < 1, sigma / np.where(xi < 1, 1.0 - xi, 1.0), np.inf)
    return np.where(finite, value, full)


def _gpd_partial_mean(d, xi, sigma):
    """``E[Z; Z > d] = d S(d) + int_d^inf S`` for the excess ``Z`` (inf where ``xi >= 1``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        survival = np.exp(gpd_logsf(d, xi, sigma))
        full = np.where(xi < 1, sigma / np.where(xi < 1, 1.0 - xi, 1.0), np.inf)
        rest = full - gpd_integrated_survival(d, xi, sigma)
        value = np.where(survival > 0, d * survival + rest, 0.0)
    return np.where(xi < 1, value, np.inf)


# ----------------------------------------------------------------------------- helpers


def _count(sorted_rows, values, *, strict: bool):
    """Entries of ``sorted_rows`` (sorted on the last axis) that are ``< values``
    (``strict``) or ``<= values``; batch dimensions broadcast with ``values``."""
    values = np.asarray(values, dtype=float)
    if sorted_rows.ndim == 1:
        return np.searchsorted(sorted_rows, values, side="left" if strict else "right")
    shape = np.broadcast_shapes(sorted_rows.shape[:-1], values.shape)
    n_sorted = sorted_rows.shape[-1]
    rows = np.broadcast_to(sorted_rows, (*shape, n_sorted))
    values = np.broadcast_to(values, shape)
    if rows.ndim == 1 or len(shape) == 0:
        compare = np.less if strict else np.less_equal
        return compare(rows, values[..., None]).sum(axis=-1)
    out = np.empty(shape, dtype=np.int64)
    per_row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * n_sorted)
    step = max(1, _CHUNK_ELEMENTS // per_row)
    compare = np.less if strict else np.less_equal
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        out[start:stop] = compare(rows[start:stop], values[start:stop, ..., None]).sum(axis=-1)
    return out


def _gather(per_bin, index):
    """``per_bin[..., index]`` with the batch dimensions of both broadcast."""
    index = np.asarray(index)
    if per_bin.ndim == 1:
        return per_bin[index]
    lead = index.ndim - (per_bin.ndim - 1)
    if lead < 0:
        index = index.reshape((1,) * (-lead) + index.shape)
        lead = 0
    arr = per_bin.reshape((1,) * lead + per_bin.shape)
    return np.take_along_axis(arr, index[..., None], axis=-1)[..., 0]


def _on_tail(out, mask, piece, *params):
    """Set ``out[mask] = piece(*params)`` with each parameter taken at the masked entries.

    The GPD formulas cost several transcendental functions per element; evaluating them
    only where a value lies in that tail (a small part of a posterior-by-data grid) gives
    the same numbers as evaluating everywhere and selecting, at a fraction of the cost.
    """
    if mask.any():
        params = [np.broadcast_to(np.asarray(p, dtype=float), out.shape)[mask] for p in params]
        with np.errstate(divide="ignore"):
            out[mask] = piece(*params)
    return out


def _cumulative_before(probs):
    return np.concatenate([np.zeros_like(probs[..., :1]), np.cumsum(probs, axis=-1)[..., :-1]], axis=-1)


def _mass_after(probs):
    return _cumulative_before(probs[..., ::-1])[..., ::-1]


# ----------------------------------------------------------------------------- distribution


@dataclass(frozen=True, eq=False)
class FrozenSplicedBinnedPareto:
    """A spliced binned-Pareto distribution with fixed (possibly batched) parameters.

    Build it with :func:`sbp`. Attributes are numpy arrays; ``has_lower_tail`` /
    ``has_upper_tail`` say whether each GPD tail is present.
    """

    bin_edges: np.ndarray
    bin_probs: np.ndarray
    lower_tail_prob: np.ndarray
    upper_tail_prob: np.ndarray
    lower_xi: np.ndarray
    lower_sigma: np.ndarray
    upper_xi: np.ndarray
    upper_sigma: np.ndarray
    has_lower_tail: bool = True
    has_upper_tail: bool = True
    #: Thresholds known exactly (e.g. a fit's candidate edges); they must equal Q_B(a).
    #: Passing them avoids re-deriving them through floating-point sums, so that an
    #: observation lying exactly on a threshold is classified as the fit classified it.
    known_lower_threshold: np.ndarray | None = None
    known_upper_threshold: np.ndarray | None = None

    # -- derived quantities ------------------------------------------------------------

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast batch shape of the parameters (``()`` for a single distribution)."""
        return np.broadcast_shapes(
            self.bin_edges.shape[:-1],
            self.bin_probs.shape[:-1],
            *(np.shape(getattr(self, name)) for name in _SCALAR_NAMES),
        )

    @property
    def n_bins(self) -> int:
        return self.bin_probs.shape[-1]

    def _body_quantile(self, p):
        p = np.asarray(p, dtype=float)
        cumulative = np.cumsum(self.bin_probs, axis=-1)
        k = _count(cumulative[..., :-1], p, strict=True)
        before = _gather(_cumulative_before(self.bin_probs), k)
        mass = _gather(self.bin_probs, k)
        left = _gather(self.bin_edges[..., :-1], k)
        width = _gather(np.diff(self.bin_edges, axis=-1), k)
        fraction = np.clip((p - before) / np.where(mass > 0, mass, 1.0), 0.0, 1.0)
        return left + fraction * width

    @property
    def lower_threshold(self) -> np.ndarray:
        """``u_L = Q_B(lower_tail_prob)`` (the first edge when the lower tail is absent)."""
        if self.known_lower_threshold is not None:
            return self.known_lower_threshold
        first_edge = np.broadcast_to(self.bin_edges[..., 0], self.batch_shape)
        if not self.has_lower_tail:
            # Q_B(0) is the first edge; taking it directly avoids rounding in the cumulative sums.
            return first_edge.copy()
        # A tail probability of 0 is no tail either: the body runs to the first edge.
        return np.where(self.lower_tail_prob > 0, self._body_quantile(self.lower_tail_prob), first_edge)

    @property
    def upper_threshold(self) -> np.ndarray:
        """``u_U = Q_B(1 - upper_tail_prob)`` (the last edge when the upper tail is absent)."""
        if self.known_upper_threshold is not None:
            return self.known_upper_threshold
        last_edge = np.broadcast_to(self.bin_edges[..., -1], self.batch_shape)
        if not self.has_upper_tail:
            # The body runs to the last edge (empty last bins have density 0 anyway); Q_B(1)
            # computed from a sum of probabilities slightly above 1 could stop just short of it.
            return last_edge.copy()
        return np.where(self.upper_tail_prob > 0, self._body_quantile(1.0 - self.upper_tail_prob), last_edge)

    def _regions(self, x):
        x = np.asarray(x, dtype=float)
        u_lower, u_upper = self.lower_threshold, self.upper_threshold
        below = x < u_lower
        above = x > u_upper
        lower_excess = np.where(below, u_lower - x, 0.0)
        upper_excess = np.where(above, x - u_upper, 0.0)
        body_x = np.clip(x, u_lower, u_upper)
        return below, above, lower_excess, upper_excess, body_x, u_upper

    def _body_bin(self, body_x, u_upper):
        inner = self.bin_edges[..., 1:-1]
        ending_at_upper = _count(inner, u_upper, strict=True)
        return np.where(body_x >= u_upper, ending_at_upper, _count(inner, body_x, strict=False))

    def _body_cdf_sf(self, body_x):
        body_x = np.clip(body_x, self.bin_edges[..., 0], self.bin_edges[..., -1])
        k = _count(self.bin_edges[..., 1:-1], body_x, strict=False)
        left = _gather(self.bin_edges[..., :-1], k)
        right = _gather(self.bin_edges[..., 1:], k)
        mass = _gather(self.bin_probs, k)
        width = right - left
        # The fraction of the bin first (clipped to [0, 1]): ``(mass * d) / width`` can round
        # above ``mass`` at a bin's end and break the monotonicity of the CDF / survival.
        cdf = _gather(_cumulative_before(self.bin_probs), k) + mass * np.clip((body_x - left) / width, 0, 1)
        sf = _gather(_mass_after(self.bin_probs), k) + mass * np.clip((right - body_x) / width, 0, 1)
        return cdf, sf

    # -- scipy-style methods ----------------------------------------------------------

    def _spliced(self, x, body_piece, lower_piece, upper_piece):
        """``body_piece(body_x, u_upper)`` everywhere, replaced below the lower threshold by
        ``lower_piece(excess, a_L, xi_L, sigma_L)`` and above the upper one by ``upper_piece``
        (each tail evaluated only at the values that lie in it)."""
        below, above, lower_excess, upper_excess, body_x, u_upper = self._regions(x)
        with np.errstate(divide="ignore"):
            body = body_piece(body_x, u_upper)
        shape = np.broadcast_shapes(below.shape, body.shape, self.batch_shape)
        out = np.array(np.broadcast_to(body, shape), dtype=float)
        below, above = np.broadcast_to(below, shape), np.broadcast_to(above, shape)
        # The lower tail last: it wins where both claim a value (thresholds out of order).
        _on_tail(out, above, upper_piece, upper_excess, self.upper_tail_prob, self.upper_xi, self.upper_sigma)
        _on_tail(out, below, lower_piece, lower_excess, self.lower_tail_prob, self.lower_xi, self.lower_sigma)
        return out

    def _body_logpdf(self, body_x, u_upper):
        k = self._body_bin(body_x, u_upper)
        mass = _gather(self.bin_probs, k)
        width = _gather(np.diff(self.bin_edges, axis=-1), k)
        return np.log(mass) - np.log(width)

    def logpdf(self, x):
        """Log density at ``x``."""
        return self._spliced(x, self._body_logpdf, _tail_logpdf, _tail_logpdf)

    def pdf(self, x):
        """Density at ``x``."""
        return np.exp(self.logpdf(x))

    def logcdf(self, x):
        """Log CDF at ``x``."""
        return self._spliced(
            x, lambda body_x, _: np.log(self._body_cdf_sf(body_x)[0]), _tail_logsf, _tail_log1m_sf
        )

    def cdf(self, x):
        """CDF at ``x``."""
        return np.exp(self.logcdf(x))

    def logsf(self, x):
        """Log survival ``log(1 - F(x))``, computed from the survival side."""
        return self._spliced(
            x, lambda body_x, _: np.log(self._body_cdf_sf(body_x)[1]), _tail_log1m_sf, _tail_logsf
        )

    def sf(self, x):
        """Survival ``1 - F(x)``."""
        return np.exp(self.logsf(x))

    def _quantile(self, lower_prob, upper_prob):
        """Quantile given both ``p`` and ``1 - p`` (so that ``isf`` keeps tiny tails exact)."""
        a_lower, a_upper = self.lower_tail_prob, self.upper_tail_prob
        in_lower = lower_prob < a_lower
        in_upper = upper_prob < a_upper
        with np.errstate(divide="ignore", invalid="ignore"):
            body = self._body_quantile(np.clip(lower_prob, a_lower, 1.0 - a_upper))
            # Q_B(a) is the threshold by definition; clipping keeps rounding in the cumulative
            # sums (or an empty outer bin) from placing a body quantile beyond it.
            body = np.clip(body, self.lower_threshold, self.upper_threshold)
        shape = np.broadcast_shapes(in_lower.shape, in_upper.shape, body.shape)
        out = np.array(np.broadcast_to(body, shape), dtype=float)
        # The tails only where the probability falls in them; the lower tail is set last so
        # that it wins where both claim a probability (tail masses summing to more than 1).
        for mask, prob, a, threshold, xi, sigma, sign in (
            (in_upper, upper_prob, a_upper, self.upper_threshold, self.upper_xi, self.upper_sigma, 1.0),
            (in_lower, lower_prob, a_lower, self.lower_threshold, self.lower_xi, self.lower_sigma, -1.0),
        ):
            mask = np.broadcast_to(mask, shape)
            if not mask.any():
                continue
            prob, a, threshold, xi, sigma = (
                np.broadcast_to(np.asarray(value, dtype=float), shape)[mask]
                for value in (prob, a, threshold, xi, sigma)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                survival = prob / np.where(a > 0, a, 1.0)
                out[mask] = threshold + sign * gpd_excess_from_survival(survival, xi, sigma)
        invalid = (lower_prob < 0) | (lower_prob > 1) | np.isnan(lower_prob)
        return np.where(invalid, np.nan, out)

    def ppf(self, q):
        """Quantile function (inverse CDF); ``nan`` outside ``[0, 1]``."""
        q = np.asarray(q, dtype=float)
        return self._quantile(q, 1.0 - q)

    def isf(self, q):
        """Inverse survival function: the value exceeded with probability ``q``."""
        q = np.asarray(q, dtype=float)
        return self._quantile(1.0 - q, q)

    def median(self):
        """Median (``ppf(0.5)``)."""
        return self.ppf(0.5)

    def interval(self, confidence):
        """Central interval with the given probability content: ``(ppf(a), ppf(1 - a))``."""
        alpha = (1.0 - np.asarray(confidence, dtype=float)) / 2.0
        return self.ppf(alpha), self.isf(alpha)

    def support(self):
        """``(lower, upper)`` ends of the support (``-inf``/``inf`` for unbounded tails)."""
        return self.ppf(0.0), self.isf(0.0)

    def rvs(self, size=None, random_state=None):
        """Random draws by inversion; ``size`` must broadcast with the batch shape."""
        rng = np.random.default_rng(random_state)
        shape = self.batch_shape if size is None else tuple(np.atleast_1d(size).astype(int))
        uniform = rng.random(size=shape)
        # Upper-tail draws use the survival 1 - u, so both tails are filled from one uniform.
        return self._quantile(uniform, 1.0 - uniform)

    # -- moments ------------------------------------------------------------------------

    def _body_moment_pieces(self, lower_limit, upper_limit, power):
        """``int x^power f_B(x) dx`` over ``[lower_limit, upper_limit]`` (per batch entry)."""
        left = self.bin_edges[..., :-1]
        right = self.bin_edges[..., 1:]
        lo = np.clip(left, lower_limit[..., None], upper_limit[..., None])
        hi = np.clip(right, lower_limit[..., None], upper_limit[..., None])
        density = self.bin_probs / (right - left)
        return (density * (hi ** (power + 1) - lo ** (power + 1)) / (power + 1)).sum(axis=-1)

    def _tail_mean_excess(self, xi, sigma):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(xi < 1, sigma / np.where(xi < 1, 1 - xi, 1.0), np.inf)

    def mean(self):
        """Mean; ``inf`` (upper) / ``-inf`` (lower) where a tail has ``xi >= 1``
        (``nan`` if both do)."""
        u_lower, u_upper = np.broadcast_arrays(self.lower_threshold, self.upper_threshold)
        body = self._body_moment_pieces(u_lower, u_upper, 1)
        with np.errstate(invalid="ignore"):
            lower = self.lower_tail_prob * (u_lower - self._tail_mean_excess(self.lower_xi, self.lower_sigma))
            upper = self.upper_tail_prob * (u_upper + self._tail_mean_excess(self.upper_xi, self.upper_sigma))
            lower = np.where(self.lower_tail_prob > 0, lower, 0.0)
            upper = np.where(self.upper_tail_prob > 0, upper, 0.0)
            return lower + body + upper

    def var(self):
        """Variance; ``inf`` where a present tail has ``xi >= 1/2``."""
        u_lower, u_upper = np.broadcast_arrays(self.lower_threshold, self.upper_threshold)
        centre = (u_lower + u_upper) / 2.0
        # Second moment about `centre` (avoids the E[X^2] - E[X]^2 cancellation).
        lo_b, hi_b = u_lower - centre, u_upper - centre
        shifted = FrozenSplicedBinnedPareto(
            self.bin_edges - centre[..., None],
            *(getattr(self, n) for n in _NON_EDGE_NAMES),
            has_lower_tail=self.has_lower_tail,
            has_upper_tail=self.has_upper_tail,
            known_lower_threshold=lo_b,
            known_upper_threshold=hi_b,
        )
        body_m1 = shifted._body_moment_pieces(lo_b, hi_b, 1)
        body_m2 = shifted._body_moment_pieces(lo_b, hi_b, 2)

        def tail_moments(a, xi, sigma, distance, sign):
            with np.errstate(divide="ignore", invalid="ignore"):
                ez = self._tail_mean_excess(xi, sigma)
                finite = xi < 0.5
                ez2 = np.where(finite, 2 * sigma**2 / np.where(finite, (1 - xi) * (1 - 2 * xi), 1.0), np.inf)
                m1 = a * (distance + sign * ez)
                m2 = a * (distance**2 + 2 * sign * distance * ez + ez2)
            return np.where(a > 0, m1, 0.0), np.where(a > 0, m2, 0.0)

        lower_m1, lower_m2 = tail_moments(self.lower_tail_prob, self.lower_xi, self.lower_sigma, lo_b, -1)
        upper_m1, upper_m2 = tail_moments(self.upper_tail_prob, self.upper_xi, self.upper_sigma, hi_b, 1)
        m1 = lower_m1 + body_m1 + upper_m1
        m2 = lower_m2 + body_m2 + upper_m2
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(m2), m2 - m1**2, np.inf)

    def std(self):
        """Standard deviation."""
        return np.sqrt(self.var())

    # -- tail functionals -----------------------------------------------------------------

    def mean_above(self, level):
        """``E[X | X > Q(level)]`` — the expected shortfall at ``level`` for an upper-tail
        risk; ``inf`` where the upper tail has ``xi >= 1``."""
        level = np.asarray(level, dtype=float)
        value_at_risk = self.ppf(level)
        u_lower, u_upper = self.lower_threshold, self.upper_threshold
        a_lower, a_upper = self.lower_tail_prob, self.upper_tail_prob
        sigma_at_var = self.upper_sigma + self.upper_xi * (value_at_risk - u_upper)
        with np.errstate(divide="ignore", invalid="ignore"):
            in_upper_tail = value_at_risk >= u_upper
            beyond = value_at_risk + self._tail_mean_excess(self.upper_xi, sigma_at_var)

            # Otherwise: integrate x f(x) from VaR to infinity, piece by piece.
            start = np.maximum(value_at_risk, u_lower)
            body = self._broadcast_body_mean(start, u_upper)
            upper_mean = u_upper + self._tail_mean_excess(self.upper_xi, self.upper_sigma)
            upper = np.where(a_upper > 0, a_upper * upper_mean, 0.0)
            # Lower-tail piece between VaR and u_L: a_L * E[u_L - Z; Z < d], d = u_L - VaR.
            d = np.clip(u_lower - value_at_risk, 0.0, None)
            below_mass = 1.0 - np.exp(gpd_logsf(d, self.lower_xi, self.lower_sigma))
            truncated_mean = -d * np.exp(
                gpd_logsf(d, self.lower_xi, self.lower_sigma)
            ) + gpd_integrated_survival(d, self.lower_xi, self.lower_sigma)
            lower = np.where(a_lower > 0, a_lower * (u_lower * below_mass - truncated_mean), 0.0)
            inside = (lower + body + upper) / (1.0 - level)
        result = np.where(in_upper_tail, beyond, inside)
        return np.where((self.upper_xi >= 1) & (a_upper > 0), np.inf, result)

    def _broadcast_body_mean(self, start, end):
        """Body first moment over ``[start, end]`` when ``start`` has extra dimensions."""
        shape = np.broadcast_shapes(start.shape, self.batch_shape)
        left = self.bin_edges[..., :-1]
        right = self.bin_edges[..., 1:]
        density = self.bin_probs / (right - left)
        start = np.broadcast_to(start, shape)[..., None]
        end = np.broadcast_to(end, shape)[..., None]
        lo = np.clip(left, start, end)
        hi = np.clip(right, start, end)
        return (density * (hi**2 - lo**2) / 2).sum(axis=-1)

    def partial_mean_above(self, x):
        """``E[X; X > x] = (1 - F(x)) E[X | X > x]``, the piece of the mean beyond ``x``.

        Beyond the upper threshold it is closed-form (a GPD stays a GPD above a higher
        threshold, with scale ``σ + ξ (x - u)``), so it keeps its precision however far
        out ``x`` is; below it, it is read off :meth:`mean_above` at the level ``F(x)``.
        """
        x = np.asarray(x, dtype=float)
        survival = self.sf(x)
        threshold, xi = self.upper_threshold, self.upper_xi
        in_tail = (x >= threshold) & (self.upper_tail_prob > 0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sigma_x = self.upper_sigma + xi * (x - threshold)
            tail = np.where(xi < 1, x + sigma_x / np.where(xi < 1, 1.0 - xi, 1.0), np.inf)
            body = self.mean_above(np.where(in_tail, 0.5, self.cdf(x)))
            conditional = np.where(in_tail, tail, body)
            return np.where(survival > 0, survival * conditional, 0.0)

    def mean_below(self, level):
        """``E[X | X < Q(level)]`` — the expected shortfall of a lower-tail risk."""
        return -self.mirror().mean_above(1.0 - np.asarray(level, dtype=float))

    def mirror(self) -> FrozenSplicedBinnedPareto:
        """The distribution of ``-X`` (edges negated and reversed, tails swapped)."""
        return FrozenSplicedBinnedPareto(
            -self.bin_edges[..., ::-1],
            self.bin_probs[..., ::-1],
            self.upper_tail_prob,
            self.lower_tail_prob,
            self.upper_xi,
            self.upper_sigma,
            self.lower_xi,
            self.lower_sigma,
            has_lower_tail=self.has_upper_tail,
            has_upper_tail=self.has_lower_tail,
            known_lower_threshold=None if self.known_upper_threshold is None else -self.known_upper_threshold,
            known_upper_threshold=None if self.known_lower_threshold is None else -self.known_lower_threshold,
        )

    def __getitem__(self, index) -> FrozenSplicedBinnedPareto:
        """Select batch entries (e.g. one posterior draw), as with an array."""
        shape = self.batch_shape
        # A parameter shared by every batch entry (typically the bin edges of a fit) stays
        # shared when another one carries the whole batch shape: broadcasting it to the batch
        # would turn each bin search into a comparison against every entry's own copy.
        carried = shape != () and any(
            np.shape(value)[: np.ndim(value) - core] == shape
            for value, core in [(self.bin_probs, 1), *((getattr(self, n), 0) for n in _SCALAR_NAMES)]
        )

        def take(value, core):
            if carried and value.ndim == core:
                return np.asarray(value)
            full = np.broadcast_to(value, shape + value.shape[value.ndim - core :])
            return np.asarray(full[index])

        return FrozenSplicedBinnedPareto(
            take(self.bin_edges, 1),
            take(self.bin_probs, 1),
            *(take(getattr(self, name), 0) for name in _SCALAR_NAMES),
            has_lower_tail=self.has_lower_tail,
            has_upper_tail=self.has_upper_tail,
            known_lower_threshold=None
            if self.known_lower_threshold is None
            else take(self.known_lower_threshold, 0),
            known_upper_threshold=None
            if self.known_upper_threshold is None
            else take(self.known_upper_threshold, 0),
        )

    def __repr__(self) -> str:
        present = {"lower": self.has_lower_tail, "upper": self.has_upper_tail}
        tails = [side for side, is_present in present.items() if is_present]
        return (
            f"FrozenSplicedBinnedPareto(n_bins={self.n_bins}, batch_shape={self.batch_shape}, "
            f"tails={'+'.join(tails) or 'none'})"
        )


_SCALAR_NAMES = PARAMETER_NAMES[2:]  # the tail parameters, after bin_edges and bin_probs
_NON_EDGE_NAMES = ("bin_probs", *_SCALAR_NAMES)


def sbp(
    bin_edges=None,
    bin_probs=None,
    lower_tail_prob=None,
    upper_tail_prob=None,
    lower_xi=None,
    lower_sigma=None,
    upper_xi=None,
    upper_sigma=None,
    *,
    body_edges=None,
) -> FrozenSplicedBinnedPareto:
    """Frozen spliced binned-Pareto distribution with numpy parameters.

    Parameters are those of :class:`sbp_bayes.SplicedBinnedPareto` (same names, same
    meaning), in either parameterisation: ``bin_edges=`` (canonical, thresholds are
    body quantiles) or ``body_edges=`` (threshold-first: the first and last edge are
    the thresholds and ``bin_probs`` the body's conditional bin probabilities). Each
    may carry leading batch dimensions, e.g. one entry per posterior draw. A tail
    whose three parameters are all ``None`` is absent (the body ends at its outermost
    edge on that side); a tail that is present needs all three; a tail probability of
    0 also means no tail.

    The threshold-first distribution is returned as the canonical one it equals: the
    body bins scaled by ``1 - a_L - a_U`` plus one bin of mass ``a_L`` below the first
    edge and one of mass ``a_U`` above the last (each as wide as its neighbour), with
    the thresholds recorded exactly (``known_lower_threshold``, ``known_upper_threshold``).

    Examples
    --------
    >>> import numpy as np
    >>> dist = sbp(
    ...     bin_edges=np.linspace(-3, 3, 13), bin_probs=np.full(12, 1 / 12),
    ...     lower_tail_prob=0.05, upper_tail_prob=0.05,
    ...     lower_xi=0.2, lower_sigma=0.5, upper_xi=0.4, upper_sigma=0.5,
    ... )
    >>> round(float(dist.upper_threshold), 12), round(float(dist.cdf(2.7)), 12)
    (2.7, 0.95)
    >>> # 4000 posterior draws of the upper shape: evaluate a grid under each draw.
    >>> draws = sbp(np.linspace(-3, 3, 13), np.full(12, 1 / 12), 0.05, 0.05, 0.2, 0.5,
    ...             upper_xi=np.linspace(0.1, 0.6, 4000), upper_sigma=0.5)
    >>> draws.sf(np.array([5.0, 10.0])[:, None]).shape
    (2, 4000)
    >>> # Threshold-first, upper tail only: 90 % in the body [0, 2], 10 % above 2.
    >>> upper_only = sbp(body_edges=[0.0, 1.0, 2.0], bin_probs=[0.5, 0.5],
    ...                  upper_tail_prob=0.1, upper_xi=0.3, upper_sigma=1.0)
    >>> float(upper_only.upper_threshold), round(float(upper_only.cdf(1.0)), 12), float(upper_only.pdf(-1.0))
    (2.0, 0.45, 0.0)
    """
    if body_edges is not None and bin_edges is not None:
        raise InvalidParameterError(
            "Pass either bin_edges= (canonical: thresholds are body quantiles) or body_edges= "
            "(threshold-first: the first and last edge are the thresholds), not both."
        )
    edges_name = "body_edges" if body_edges is not None else "bin_edges"
    edges = body_edges if body_edges is not None else bin_edges
    if edges is None or bin_probs is None:
        raise InvalidParameterError(f"sbp needs {edges_name} and bin_probs (one probability per bin).")
    tails = {}
    for side, prob, xi, sigma in (
        ("lower", lower_tail_prob, lower_xi, lower_sigma),
        ("upper", upper_tail_prob, upper_xi, upper_sigma),
    ):
        given = {f"{side}_tail_prob": prob, f"{side}_xi": xi, f"{side}_sigma": sigma}
        missing = [name for name, value in given.items() if value is None]
        if len(missing) not in (0, 3):
            raise InvalidParameterError(
                f"The {side} tail needs {side}_tail_prob, {side}_xi and {side}_sigma together; "
                f"missing {', '.join(missing)}. Leave all three out for a distribution without "
                f"{'an' if side == 'upper' else 'a'} {side} tail."
            )
        tails[side] = not missing
    validate_parameters(
        {
            edges_name: edges,
            "bin_probs": bin_probs,
            "lower_tail_prob": lower_tail_prob,
            "upper_tail_prob": upper_tail_prob,
            "lower_xi": lower_xi,
            "lower_sigma": lower_sigma,
            "upper_xi": upper_xi,
            "upper_sigma": upper_sigma,
        }
    )

    def as_float(value, absent):
        return np.asarray(absent if value is None else value, dtype=float)

    scalars = [
        as_float(lower_tail_prob, 0.0),
        as_float(upper_tail_prob, 0.0),
        as_float(lower_xi, 0.0),
        as_float(lower_sigma, 1.0),
        as_float(upper_xi, 0.0),
        as_float(upper_sigma, 1.0),
    ]
    edges = as_float(edges, None)
    probs = as_float(bin_probs, None)
    known = {}
    if body_edges is not None:
        edges, probs, known = _canonical_from_threshold_first(edges, probs, scalars[0], scalars[1])
    return FrozenSplicedBinnedPareto(
        edges,
        probs,
        *scalars,
        has_lower_tail=tails["lower"],
        has_upper_tail=tails["upper"],
        **known,
    )


def _canonical_from_threshold_first(body_edges, body_probs, lower_tail_prob, upper_tail_prob):
    """Canonical edges and probabilities equal to a threshold-first body, plus its exact thresholds."""
    batch = np.broadcast_shapes(
        body_edges.shape[:-1], body_probs.shape[:-1], lower_tail_prob.shape, upper_tail_prob.shape
    )
    edges = np.broadcast_to(body_edges, (*batch, body_edges.shape[-1]))
    probs = np.broadcast_to(body_probs, (*batch, body_probs.shape[-1]))
    a_lower = np.broadcast_to(lower_tail_prob, batch)[..., None]
    a_upper = np.broadcast_to(upper_tail_prob, batch)[..., None]
    first, last = edges[..., :1], edges[..., -1:]
    # The outer bins hold the tail masses; their width only matters for where Q_B(a) lands,
    # and with the thresholds recorded exactly it never matters at all.
    below = first - (edges[..., 1:2] - first)
    above = last + (last - edges[..., -2:-1])
    canonical_edges = np.concatenate([below, edges, above], axis=-1)
    canonical_probs = np.concatenate([a_lower, (1.0 - a_lower - a_upper) * probs, a_upper], axis=-1)
    known = {"known_lower_threshold": first[..., 0].copy(), "known_upper_threshold": last[..., 0].copy()}
    return canonical_edges, canonical_probs, known
