"""Classical threshold diagnostics: mean residual life and parameter stability.

Before trusting a threshold ``u`` for a Generalized Pareto tail, an extreme value
analyst reads two plots (Coles 2001, §4.3.1):

Mean residual life (mean excess)
    ``e(u) = E[X - u | X > u]``. If excesses over ``u0`` are GPD with shape ``ξ < 1``,
    ``e(u)`` is linear in ``u`` above ``u0`` with slope ``ξ / (1 - ξ)``. The empirical
    mean excess is shown with a normal-approximation interval
    ``e(u) ± z sd(excess) / sqrt(n_u)``.
Parameter stability
    Above a valid threshold the GPD shape ``ξ`` is constant and the scale changes as
    ``σ_u = σ_{u0} + ξ (u - u0)``, so the *modified scale* ``σ* = σ_u - ξ u`` is
    constant too. Each threshold's maximum likelihood fit is shown with delta-method
    intervals from the observed information (``ξ`` and ``log σ`` optimised; the
    covariance of ``(ξ, σ*)`` follows from the gradient of ``σ* = exp(log σ) - ξ u``).

These are the frequentist diagnostics every EVT user knows; the Bayesian fit puts a
prior over candidate thresholds instead of choosing one, and
:func:`sbp_bayes.plots.plot_mean_residual_life` /
:func:`sbp_bayes.plots.plot_parameter_stability` draw the candidates and their weights
over these curves.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).pareto(4.0, size=5000)  # GPD tail with xi = 0.25
>>> table = parameter_stability(x, [0.5, 1.0])
>>> bool(((table["xi_ci_lower"] < 0.25) & (0.25 < table["xi_ci_upper"])).all())
True
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["default_thresholds", "gpd_mle", "mean_residual_life", "parameter_stability"]

#: Fewest exceedances a threshold on the default grid leaves (a GPD fit needs a few dozen).
MIN_EXCEEDANCES = 30
#: Number of thresholds on the default grid.
DEFAULT_GRID_SIZE = 40


def _oriented_values(values, tail: str) -> np.ndarray:
    if tail not in ("upper", "lower"):
        raise ValueError(f"tail must be 'upper' or 'lower'; got {tail!r}.")
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size < MIN_EXCEEDANCES + 1:
        raise ValueError(
            f"Need more than {MIN_EXCEEDANCES} finite values for threshold diagnostics; got {array.size}."
        )
    return array if tail == "upper" else -array


def default_thresholds(values, *, tail: str = "upper", n: int = DEFAULT_GRID_SIZE) -> np.ndarray:
    """``n`` thresholds evenly spaced from the median (the 50% quantile) to the value
    that leaves :data:`MIN_EXCEEDANCES` exceedances (for ``tail="lower"``: from the
    median down).

    Examples
    --------
    >>> default_thresholds(np.arange(1000.0), n=3)
    array([499.5 , 734.25, 969.  ])
    """
    x = np.sort(_oriented_values(values, tail))
    top = x[-MIN_EXCEEDANCES - 1]
    grid = np.linspace(np.quantile(x, 0.5), top, n)
    return grid if tail == "upper" else -grid


def _negative_log_likelihood(params, excess):
    xi, log_sigma = params
    sigma = math.exp(log_sigma)
    z = excess / sigma
    if abs(xi) < 1e-8:
        return excess.size * log_sigma + z.sum()
    arg = 1.0 + xi * z
    if np.any(arg <= 0):
        return np.inf
    return excess.size * log_sigma + (1.0 + 1.0 / xi) * np.log1p(xi * z).sum()


def _hessian(function, point, steps):
    """Central-difference Hessian."""
    k = point.size
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * steps[i], np.eye(k)[j] * steps[j]
            value = (
                function(point + ei + ej)
                - function(point + ei - ej)
                - function(point - ei + ej)
                + function(point - ei - ej)
            ) / (4.0 * steps[i] * steps[j])
            out[i, j] = out[j, i] = value
    return out


def gpd_mle(excess) -> tuple[float, float, np.ndarray]:
    """Maximum likelihood GPD fit to excesses over a threshold.

    Returns
    -------
    xi, sigma, covariance
        The estimates and the covariance of ``(ξ, log σ)`` from the inverse observed
        information (NaN where the information is not positive definite, e.g. ``ξ <= -1/2``).

    Examples
    --------
    >>> from scipy import stats
    >>> excess = stats.genpareto(0.2, scale=2.0).rvs(4000, random_state=1)
    >>> xi, sigma, cov = gpd_mle(excess)
    >>> shape, _, scale = stats.genpareto.fit(excess, floc=0)  # scipy agrees
    >>> bool(np.allclose([xi, sigma], [shape, scale], atol=1e-4))
    True
    """
    excess = np.asarray(excess, dtype=float)
    if excess.size < 3 or np.any(excess < 0):
        raise ValueError("gpd_mle needs at least 3 non-negative excesses.")
    mean, var = excess.mean(), excess.var()
    # Method-of-moments start (Hosking & Wallis 1987), kept inside the support.
    xi0 = float(np.clip(0.5 * (1.0 - mean**2 / var), -0.4, 0.9)) if var > 0 else 0.1
    sigma0 = max(0.5 * mean * (mean**2 / var + 1.0), 1e-12) if var > 0 else max(mean, 1e-12)
    if xi0 < 0:
        sigma0 = max(sigma0, -xi0 * excess.max() * 1.01)
    start = np.array([xi0, math.log(sigma0)])
    result = optimize.minimize(
        _negative_log_likelihood,
        start,
        args=(excess,),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
    )
    xi, log_sigma = result.x
    steps = np.array([1e-4, 1e-4])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        information = _hessian(lambda p: _negative_log_likelihood(p, excess), result.x, steps)
    try:
        covariance = np.linalg.inv(information)
        if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        covariance = np.full((2, 2), np.nan)
    return float(xi), float(math.exp(log_sigma)), covariance


def mean_residual_life(
    values, thresholds=None, *, tail: str = "upper", ci_prob: float = 0.95
) -> pd.DataFrame:
    """The empirical mean excess at each threshold, with a normal-approximation interval.

    Returns
    -------
    pandas.DataFrame
        Index ``threshold``. Columns ``mean_excess`` (``mean(X - u | X > u)``; for the
        lower tail ``mean(u - X | X < u)``), ``lower``, ``upper``, ``exceedances``,
        ``ci_prob``.

    Examples
    --------
    >>> x = np.random.default_rng(1).exponential(2.0, size=20000)  # e(u) = 2 everywhere
    >>> table = mean_residual_life(x, [1.0, 3.0])
    >>> table["mean_excess"].round(1).tolist()
    [2.0, 2.0]
    """
    x = _oriented_values(values, tail)
    grid = default_thresholds(values, tail=tail) if thresholds is None else np.atleast_1d(thresholds)
    oriented = np.asarray(grid, dtype=float) if tail == "upper" else -np.asarray(grid, dtype=float)
    z = stats.norm.ppf(0.5 + ci_prob / 2.0)
    rows = []
    for u in oriented:
        excess = x[x > u] - u
        n = excess.size
        mean = excess.mean() if n else np.nan
        half = z * excess.std(ddof=1) / math.sqrt(n) if n > 1 else np.nan
        rows.append((mean, mean - half, mean + half, n))
    frame = pd.DataFrame(
        rows,
        columns=["mean_excess", "ci_lower", "ci_upper", "exceedances"],
        index=pd.Index(grid, name="threshold"),
    )
    frame["ci_prob"] = float(ci_prob)
    frame.attrs["quantity"] = f"mean residual life ({tail} tail): mean excess beyond each threshold"
    return frame


def parameter_stability(
    values, thresholds=None, *, tail: str = "upper", ci_prob: float = 0.95
) -> pd.DataFrame:
    """Maximum likelihood GPD fits over a range of thresholds, with delta-method intervals.

    Returns
    -------
    pandas.DataFrame
        Index ``threshold``. Columns ``xi``, ``xi_ci_lower``, ``xi_ci_upper``, ``sigma`` (the
        GPD scale at the threshold), ``modified_scale`` (``σ* = σ_u - ξ u``, on the
        tail's orientation: for the lower tail ``u`` is the mirrored threshold ``-u``),
        ``modified_scale_ci_lower``, ``modified_scale_ci_upper``, ``exceedances``, ``ci_prob``.
        Thresholds with fewer than 10 exceedances get NaN.
    """
    x = _oriented_values(values, tail)
    grid = default_thresholds(values, tail=tail) if thresholds is None else np.atleast_1d(thresholds)
    oriented = np.asarray(grid, dtype=float) if tail == "upper" else -np.asarray(grid, dtype=float)
    z = stats.norm.ppf(0.5 + ci_prob / 2.0)
    rows = []
    for u in oriented:
        excess = x[x > u] - u
        if excess.size < 10:
            rows.append([np.nan] * 7 + [excess.size])
            continue
        xi, sigma, cov = gpd_mle(excess)
        # sigma* = exp(l) - xi u: gradient (d/dxi, d/dl) = (-u, sigma).
        gradient = np.array([-u, sigma])
        se_xi = math.sqrt(cov[0, 0]) if np.isfinite(cov[0, 0]) else np.nan
        se_star = math.sqrt(gradient @ cov @ gradient) if np.all(np.isfinite(cov)) else np.nan
        star = sigma - xi * u
        rows.append(
            [
                xi,
                xi - z * se_xi,
                xi + z * se_xi,
                sigma,
                star,
                star - z * se_star,
                star + z * se_star,
                excess.size,
            ]
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "xi",
            "xi_ci_lower",
            "xi_ci_upper",
            "sigma",
            "modified_scale",
            "modified_scale_ci_lower",
            "modified_scale_ci_upper",
            "exceedances",
        ],
        index=pd.Index(grid, name="threshold"),
    )
    frame["exceedances"] = frame["exceedances"].astype(int)
    frame["ci_prob"] = float(ci_prob)
    frame.attrs["quantity"] = f"GPD maximum likelihood fits by threshold ({tail} tail)"
    return frame
