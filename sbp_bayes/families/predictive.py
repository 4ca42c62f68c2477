"""Batched numpy predictive distributions of the baseline families.

They share the interface of :class:`sbp_bayes.stats.FrozenSplicedBinnedPareto` that
the reports, plots and comparisons use: scipy-style ``pdf, logpdf, cdf, sf, ppf, isf,
rvs`` broadcasting against a batch of posterior draws, plus ``mean_above`` /
``mean_below`` (expected shortfall), ``partial_mean_above`` (``E[X; X > q]``),
``mirror()`` (the law of ``-X``) and indexing by draw.

* :class:`FrozenNormal`, :class:`FrozenStudentT` — location-scale families;
* :class:`FrozenGPDNormalGPD` — a Normal bulk with GPD tails spliced at fixed
  thresholds, the tail masses being the Normal's own (evmix's ``gng`` with
  ``phiul = TRUE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from sbp_bayes.stats import gpd_excess_from_survival, gpd_logpdf, gpd_logsf

__all__ = ["FrozenGPDNormalGPD", "FrozenLocationScale", "FrozenNormal", "FrozenStudentT"]


def _as_float(value) -> np.ndarray:
    return np.asarray(value, dtype=float)


class _Batched:
    """Shared conveniences; subclasses implement the scalar maths."""

    _fields: tuple[str, ...] = ()

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(*(np.shape(getattr(self, name)) for name in self._fields))

    def __getitem__(self, index):
        shape = self.batch_shape
        values = {name: np.broadcast_to(getattr(self, name), shape)[index] for name in self._fields}
        return type(self)(**values)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def cdf(self, x):
        return np.exp(self.logcdf(x))

    def sf(self, x):
        return np.exp(self.logsf(x))

    def median(self):
        return self.ppf(0.5)

    def interval(self, confidence):
        alpha = (1.0 - _as_float(confidence)) / 2.0
        return self.ppf(alpha), self.isf(alpha)

    def rvs(self, size=None, random_state=None):
        rng = np.random.default_rng(random_state)
        shape = self.batch_shape if size is None else tuple(np.atleast_1d(size).astype(int))
        uniform = rng.random(size=shape)
        # Inversion from one uniform; the upper half uses the survival for precision.
        return np.where(uniform < 0.5, self.ppf(uniform), self.isf(1.0 - uniform))

    def mean_above(self, level):
        """``E[X | X > Q(level)]``."""
        level = _as_float(level)
        return self.partial_mean_above(self.ppf(level)) / (1.0 - level)

    def mean_below(self, level):
        """``E[X | X < Q(level)]``."""
        return -self.mirror().mean_above(1.0 - _as_float(level))


@dataclass(frozen=True, eq=False)
class FrozenNormal(_Batched):
    """Normal(``mu``, ``sigma``) with batched parameters."""

    mu: np.ndarray
    sigma: np.ndarray
    _fields = ("mu", "sigma")

    def _z(self, x):
        return (_as_float(x) - self.mu) / self.sigma

    def logpdf(self, x):
        return stats.norm.logpdf(self._z(x)) - np.log(self.sigma)

    def logcdf(self, x):
        return special.log_ndtr(self._z(x))

    def logsf(self, x):
        return special.log_ndtr(-self._z(x))

    def ppf(self, q):
        return self.mu + self.sigma * special.ndtri(_as_float(q))

    def isf(self, q):
        return self.mu - self.sigma * special.ndtri(_as_float(q))

    def partial_mean_above(self, x):
        """``E[X; X > x] = mu S(x) + sigma phi(z)``."""
        z = self._z(x)
        return self.mu * special.ndtr(-z) + self.sigma * stats.norm.pdf(z)

    def mean(self):
        return np.broadcast_to(self.mu, self.batch_shape) + 0.0

    def var(self):
        return np.broadcast_to(self.sigma, self.batch_shape) ** 2

    def support(self):
        shape = self.batch_shape
        return np.full(shape, -np.inf), np.full(shape, np.inf)

    def mirror(self):
        return FrozenNormal(-self.mu, self.sigma)


@dataclass(frozen=True, eq=False)
class FrozenStudentT(_Batched):
    """Student-t with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``."""

    nu: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    _fields = ("nu", "mu", "sigma")

    def _z(self, x):
        return (_as_float(x) - self.mu) / self.sigma

    def logpdf(self, x):
        return stats.t.logpdf(self._z(x), self.nu) - np.log(self.sigma)

    def logcdf(self, x):
        return stats.t.logcdf(self._z(x), self.nu)

    def logsf(self, x):
        return stats.t.logsf(self._z(x), self.nu)

    def ppf(self, q):
        return self.mu + self.sigma * stats.t.ppf(_as_float(q), self.nu)

    def isf(self, q):
        return self.mu + self.sigma * stats.t.isf(_as_float(q), self.nu)

    def partial_mean_above(self, x):
        """``E[X; X > x] = mu S(z) + sigma (nu + z^2)/(nu - 1) t_nu(z)`` (inf for nu <= 1)."""
        z = self._z(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale_part = self.sigma * (self.nu + z**2) / (self.nu - 1.0) * stats.t.pdf(z, self.nu)
            value = self.mu * stats.t.sf(z, self.nu) + scale_part
        return np.where(self.nu > 1, value, np.inf)

    def mean(self):
        return np.where(self.nu > 1, np.broadcast_to(self.mu, self.batch_shape), np.nan)

    def var(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.nu > 2, self.sigma**2 * self.nu / (self.nu - 2.0), np.inf)

    def support(self):
        shape = self.batch_shape
        return np.full(shape, -np.inf), np.full(shape, np.inf)

    def mirror(self):
        return FrozenStudentT(self.nu, -self.mu, self.sigma)


@dataclass(frozen=True, eq=False)
class FrozenGPDNormalGPD(_Batched):
    """Normal bulk spliced with GPD tails at fixed thresholds ``lower_threshold`` <
    ``upper_threshold``; the tail masses are the Normal's masses beyond the thresholds,
    so the density is proper and continuous in probability (not in density)."""

    mu: np.ndarray
    sigma: np.ndarray
    lower_threshold: np.ndarray
    upper_threshold: np.ndarray
    lower_xi: np.ndarray
    lower_sigma: np.ndarray
    upper_xi: np.ndarray
    upper_sigma: np.ndarray
    _fields = (
        "mu",
        "sigma",
        "lower_threshold",
        "upper_threshold",
        "lower_xi",
        "lower_sigma",
        "upper_xi",
        "upper_sigma",
    )

    @property
    def lower_tail_prob(self):
        return special.ndtr((self.lower_threshold - self.mu) / self.sigma)

    @property
    def upper_tail_prob(self):
        return special.ndtr(-(self.upper_threshold - self.mu) / self.sigma)

    def _regions(self, x):
        x = _as_float(x)
        below = x < self.lower_threshold
        above = x > self.upper_threshold
        return x, below, above

    def logpdf(self, x):
        x, below, above = self._regions(x)
        with np.errstate(divide="ignore"):
            lower = np.log(self.lower_tail_prob) + gpd_logpdf(
                np.where(below, self.lower_threshold - x, 0.0), self.lower_xi, self.lower_sigma
            )
            upper = np.log(self.upper_tail_prob) + gpd_logpdf(
                np.where(above, x - self.upper_threshold, 0.0), self.upper_xi, self.upper_sigma
            )
        bulk = stats.norm.logpdf((x - self.mu) / self.sigma) - np.log(self.sigma)
        return np.where(below, lower, np.where(above, upper, bulk))

    def logcdf(self, x):
        x, below, above = self._regions(x)
        with np.errstate(divide="ignore"):
            lower = np.log(self.lower_tail_prob) + gpd_logsf(
                np.where(below, self.lower_threshold - x, 0.0), self.lower_xi, self.lower_sigma
            )
            upper_sf = self.upper_tail_prob * np.exp(
                gpd_logsf(np.where(above, x - self.upper_threshold, 0.0), self.upper_xi, self.upper_sigma)
            )
            upper = np.log1p(-upper_sf)
        bulk = special.log_ndtr((x - self.mu) / self.sigma)
        return np.where(below, lower, np.where(above, upper, bulk))

    def logsf(self, x):
        return self.mirror().logcdf(-_as_float(x))

    def _quantile(self, p, upper_p):
        a_lower, a_upper = self.lower_tail_prob, self.upper_tail_prob
        in_lower = p < a_lower
        in_upper = upper_p < a_upper
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = self.lower_threshold - gpd_excess_from_survival(
                np.where(in_lower, p / a_lower, 1.0), self.lower_xi, self.lower_sigma
            )
            upper = self.upper_threshold + gpd_excess_from_survival(
                np.where(in_upper, upper_p / a_upper, 1.0), self.upper_xi, self.upper_sigma
            )
            bulk = self.mu + self.sigma * special.ndtri(np.clip(p, a_lower, 1.0 - a_upper))
        out = np.where(in_lower, lower, np.where(in_upper, upper, bulk))
        return np.where((p < 0) | (p > 1), np.nan, out)

    def ppf(self, q):
        q = _as_float(q)
        return self._quantile(q, 1.0 - q)

    def isf(self, q):
        q = _as_float(q)
        return self._quantile(1.0 - q, q)

    def partial_mean_above(self, x):
        """``E[X; X > x]``: GPD closed form above the upper threshold; below it the bulk's
        truncated-normal part, plus the whole upper tail, plus (below the lower
        threshold) the part of the lower tail above ``x``."""
        x = _as_float(x)
        mu, sigma = self.mu, self.sigma
        u_lo, u_hi = self.lower_threshold, self.upper_threshold
        a_hi = self.upper_tail_prob
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Above the upper threshold: a GPD stays a GPD with scale sigma + xi (x - u).
            survival = a_hi * np.exp(gpd_logsf(np.maximum(x - u_hi, 0.0), self.upper_xi, self.upper_sigma))
            sigma_x = self.upper_sigma + self.upper_xi * np.maximum(x - u_hi, 0.0)
            tail_mean_above = np.where(
                self.upper_xi < 1, x + sigma_x / np.where(self.upper_xi < 1, 1 - self.upper_xi, 1.0), np.inf
            )
            in_upper = survival * np.where(survival > 0, tail_mean_above, 0.0)
            upper_whole = np.where(
                self.upper_xi < 1,
                a_hi * (u_hi + self.upper_sigma / np.where(self.upper_xi < 1, 1 - self.upper_xi, 1.0)),
                np.inf,
            )
            # Without an upper GPD (u_hi = inf) the Normal bulk carries all of it.
            upper_whole = np.where(a_hi > 0, upper_whole, 0.0)
            in_upper = np.where(a_hi > 0, in_upper, 0.0)
            # Bulk between max(x, u_lo) and u_hi: mu (Phi(b) - Phi(a)) + sigma (phi(a) - phi(b)).
            start = (np.clip(x, u_lo, u_hi) - mu) / sigma
            end = (u_hi - mu) / sigma
            bulk = mu * (special.ndtr(end) - special.ndtr(start)) + sigma * (
                stats.norm.pdf(start) - stats.norm.pdf(end)
            )
            # Lower tail between x and u_lo: a_lo E[u_lo - Z; Z < d], d = u_lo - x.
            d = np.maximum(u_lo - x, 0.0)
            a_lo = self.lower_tail_prob
            lower_part = np.where(
                a_lo > 0,
                _lower_tail_partial(a_lo, u_lo, np.where(a_lo > 0, d, 0.0), self.lower_xi, self.lower_sigma),
                0.0,
            )
        return np.where(x >= u_hi, in_upper, lower_part + bulk + upper_whole)

    def mean(self):
        return self.partial_mean_above(np.full(self.batch_shape, -np.inf))

    def support(self):
        return self.ppf(np.zeros(self.batch_shape)), self.isf(np.zeros(self.batch_shape))

    def mirror(self):
        return FrozenGPDNormalGPD(
            -self.mu,
            self.sigma,
            -self.upper_threshold,
            -self.lower_threshold,
            self.upper_xi,
            self.upper_sigma,
            self.lower_xi,
            self.lower_sigma,
        )


def _lower_tail_partial(a_lower, u_lower, d, xi, sigma):
    """``a E[u - Z; Z < d]`` for the lower-tail excess ``Z`` ~ GPD(xi, sigma): the part of
    the lower tail's first moment that lies above ``u - d``."""
    from sbp_bayes.stats import gpd_integrated_survival

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        finite_d = np.isfinite(d)
        d_safe = np.where(finite_d, d, 0.0)
        survival = np.exp(gpd_logsf(d_safe, xi, sigma))
        below_mass = 1.0 - survival
        truncated_mean = -d_safe * survival + gpd_integrated_survival(d_safe, xi, sigma)
        value = a_lower * (u_lower * below_mass - truncated_mean)
        # d = inf: the whole lower tail, whose mean is finite only for xi < 1.
        whole = np.where(xi < 1, a_lower * (u_lower - sigma / np.where(xi < 1, 1 - xi, 1.0)), -np.inf)
    return np.where(finite_d, value, whole)


@dataclass(frozen=True, eq=False)
class FrozenLocationScale:
    """``X = loc + scale * E`` for a batched distribution ``E`` (any of this package's
    predictives): the predictive of a location-scale model with given innovations.
    ``loc`` and ``scale`` broadcast against ``E``'s batch shape."""

    base: object
    loc: np.ndarray
    scale: np.ndarray

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(self.base.batch_shape, np.shape(self.loc), np.shape(self.scale))

    def _standard(self, x):
        return (_as_float(x) - self.loc) / self.scale

    def logpdf(self, x):
        return self.base.logpdf(self._standard(x)) - np.log(self.scale)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def logcdf(self, x):
        return self.base.logcdf(self._standard(x))

    def cdf(self, x):
        return self.base.cdf(self._standard(x))

    def logsf(self, x):
        return self.base.logsf(self._standard(x))

    def sf(self, x):
        return self.base.sf(self._standard(x))

    def ppf(self, q):
        return self.loc + self.scale * self.base.ppf(q)

    def isf(self, q):
        return self.loc + self.scale * self.base.isf(q)

    def median(self):
        return self.ppf(0.5)

    def rvs(self, size=None, random_state=None):
        shape = self.batch_shape if size is None else tuple(np.atleast_1d(size).astype(int))
        rng = np.random.default_rng(random_state)
        uniform = rng.random(size=shape)
        return np.where(uniform < 0.5, self.ppf(uniform), self.isf(1.0 - uniform))

    def partial_mean_above(self, x):
        """``E[X; X > x] = loc S + scale E[E; E > e]`` with ``e = (x - loc) / scale``."""
        e = self._standard(x)
        return self.loc * self.base.sf(e) + self.scale * self.base.partial_mean_above(e)

    def mean_above(self, level):
        return self.loc + self.scale * self.base.mean_above(level)

    def mean_below(self, level):
        return self.loc + self.scale * self.base.mean_below(level)

    def mirror(self):
        return FrozenLocationScale(self.base.mirror(), -self.loc, self.scale)

    def __getitem__(self, index):
        shape = self.batch_shape
        return FrozenLocationScale(
            _BroadcastIndexed(self.base, shape)[index],
            np.broadcast_to(self.loc, shape)[index],
            np.broadcast_to(self.scale, shape)[index],
        )


class _BroadcastIndexed:
    """Index a batched distribution as if broadcast to ``shape`` first."""

    def __init__(self, dist, shape):
        self.dist, self.shape = dist, shape

    def __getitem__(self, index):
        base_shape = self.dist.batch_shape
        if base_shape == self.shape:
            return self.dist[index]
        # Map the index through a broadcast array of positions into the base batch.
        positions = np.broadcast_to(np.arange(int(np.prod(base_shape))).reshape(base_shape), self.shape)[
            index
        ]
        flat = (
            self.dist[np.unravel_index(positions, base_shape)]
            if len(base_shape) > 1
            else self.dist[positions]
        )
        return flat
