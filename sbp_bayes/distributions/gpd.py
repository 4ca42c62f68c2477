"""Generalized Pareto (GPD) maths for tail excesses, in plain PyTensor.

Every function here works on the *excess* ``z >= 0`` over a threshold, with shape
``xi`` (any real) and scale ``sigma > 0``:

.. math::

    g(z) = \\sigma^{-1} (1 + \\xi z / \\sigma)^{-1/\\xi - 1}, \\qquad
    \\bar G(z) = (1 + \\xi z / \\sigma)^{-1/\\xi},

with the exponential limit at ``xi = 0`` and, for ``xi < 0``, a finite endpoint
``z = -sigma / xi`` beyond which the density is 0.

Why not pymc-extras' ``GenPareto``: its current release (0.15.1) pins
``pymc < 6.4`` while PyMC 6.4 is out, and it pulls preliz, pydantic and
better-optimize with it. The numerical care is the same and is spelled out below:

* ``(1/xi) log1p(xi t)`` is written ``t * log1p_ratio(xi t)`` with a series near
  ``0``, so value *and* gradient are continuous through ``xi = 0`` (no
  ``1/(xi + eps)``);
* every ``switch`` feeds a safe dummy value to the branch it discards, so the
  gradient of the discarded branch cannot turn into NaN;
* survival is computed directly, never as ``1 - cdf``; quantiles are computed from
  ``m = -log(survival)`` so deep-tail probabilities keep their precision.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

__all__ = [
    "expm1_ratio",
    "gpd_excess_from_survival",
    "gpd_logpdf",
    "gpd_logsf",
    "gpd_upper_endpoint",
    "in_gpd_support",
    "log1p_ratio",
]


def _series_cutoff(dtype: str) -> float:
    """Below this ``|u|`` the ratio helpers use their Taylor series.

    The closed forms are accurate in value for every ``u != 0`` but their
    autodiff gradient cancels with relative error ``eps / |u|``; the fifth-order
    series has gradient error ``~u**4``. Balancing the two gives ``eps ** (1/5)``
    (about 7e-4 in float64, 4e-2 in float32).
    """
    return float(np.finfo(dtype).eps) ** 0.2


def log1p_ratio(u):
    """``log1p(u) / u``, continued analytically to ``1`` at ``u = 0``.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> float(log1p_ratio(pt.constant(0.0)).eval())
    1.0
    """
    u = pt.as_tensor_variable(u)
    near_zero = pt.lt(pt.abs(u), _series_cutoff(u.dtype))
    series = 1.0 - u / 2.0 + u**2 / 3.0 - u**3 / 4.0 + u**4 / 5.0
    safe_u = pt.switch(near_zero, np.asarray(1.0, dtype=u.dtype), u)
    return pt.switch(near_zero, series, pt.log1p(safe_u) / safe_u)


def expm1_ratio(u):
    """``expm1(u) / u``, continued analytically to ``1`` at ``u = 0``.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> float(expm1_ratio(pt.constant(0.0)).eval())
    1.0
    """
    u = pt.as_tensor_variable(u)
    near_zero = pt.lt(pt.abs(u), _series_cutoff(u.dtype))
    series = 1.0 + u / 2.0 + u**2 / 6.0 + u**3 / 24.0 + u**4 / 120.0
    safe_u = pt.switch(near_zero, np.asarray(1.0, dtype=u.dtype), u)
    return pt.switch(near_zero, series, pt.expm1(safe_u) / safe_u)


def in_gpd_support(z, xi, sigma):
    """True where ``z`` lies in the GPD support: ``z >= 0`` and ``1 + xi z / sigma > 0``."""
    return pt.and_(pt.ge(z, 0), pt.gt(1.0 + xi * z / sigma, 0))


def gpd_upper_endpoint(xi, sigma):
    """Largest possible excess: ``-sigma / xi`` for ``xi < 0``, else ``+inf``."""
    bounded = pt.lt(xi, 0)
    safe_xi = pt.switch(bounded, xi, -1.0)
    return pt.switch(bounded, -sigma / safe_xi, np.inf)


def gpd_logpdf(z, xi, sigma):
    """Log density of the excess ``z``; ``-inf`` outside the support.

    ``log g = -log(sigma) - log1p(xi t) - t * log1p_ratio(xi t)`` with ``t = z / sigma``,
    which is ``-log(sigma) - (1 + 1/xi) log1p(xi t)`` written so that it is exact at
    ``xi = 0`` (``-log(sigma) - t``).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from scipy import stats
    >>> got = gpd_logpdf(pt.constant(2.0), pt.constant(0.3), pt.constant(1.5)).eval()
    >>> bool(np.isclose(got, stats.genpareto(0.3, scale=1.5).logpdf(2.0)))
    True
    """
    z = pt.as_tensor_variable(z)
    inside = in_gpd_support(z, xi, sigma)
    # The density vanishes at z = +inf for every xi; the closed form would give nan there.
    usable = pt.and_(inside, pt.lt(z, np.inf))
    t = pt.switch(usable, z / sigma, 0.0)
    value = -pt.log(sigma) - pt.log1p(xi * t) - t * log1p_ratio(xi * t)
    return pt.switch(usable, value, -np.inf)


def gpd_logsf(z, xi, sigma):
    """Log survival ``log(1 - G(z))`` of the excess: ``0`` for ``z <= 0``, ``-inf``
    at and beyond the upper endpoint.

    Computed directly as ``-t * log1p_ratio(xi t)`` (never from the CDF), so it stays
    exact arbitrarily deep in a heavy tail.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from scipy import stats
    >>> got = gpd_logsf(pt.constant(40.0), pt.constant(0.5), pt.constant(2.0)).eval()
    >>> bool(np.isclose(got, stats.genpareto(0.5, scale=2.0).logsf(40.0)))
    True
    """
    z = pt.as_tensor_variable(z)
    positive = pt.gt(z, 0)
    beyond_end = pt.or_(pt.le(1.0 + xi * z / sigma, 0), pt.eq(z, np.inf))
    usable = pt.and_(positive, pt.invert(beyond_end))
    t = pt.switch(usable, z / sigma, 0.0)
    value = -t * log1p_ratio(xi * t)
    return pt.switch(positive, pt.switch(beyond_end, -np.inf, value), 0.0)


def gpd_excess_from_survival(survival, xi, sigma):
    """Excess ``z`` with ``1 - G(z) = survival`` (the inverse survival function).

    With ``m = -log(survival)``: ``z = sigma * m * expm1_ratio(xi m)``, i.e.
    ``sigma ((survival)^(-xi) - 1) / xi``. ``survival = 0`` gives the upper endpoint
    (``+inf`` for ``xi >= 0``), ``survival = 1`` gives ``0``.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from scipy import stats
    >>> got = gpd_excess_from_survival(pt.constant(1e-3), pt.constant(-0.2), pt.constant(1.0))
    >>> bool(np.isclose(got.eval(), stats.genpareto(-0.2).isf(1e-3)))
    True
    """
    survival = pt.as_tensor_variable(survival)
    at_end = pt.le(survival, 0)
    safe_survival = pt.switch(at_end, 1.0, survival)
    m = -pt.log(safe_survival)
    excess = sigma * m * expm1_ratio(xi * m)
    return pt.switch(at_end, gpd_upper_endpoint(xi, sigma), excess)
