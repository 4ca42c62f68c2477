"""Synthetic data with a known generating process.

:func:`spiky_noise` is the asymmetric spiky noise of the paper's calibration study
(Ehrlich, Callot & Aubet 2021; the protocol is restated in docs/published_checks.md),
used by the model comparison study (issue 5) as i.i.d. data: a smooth, slightly
asymmetric body with heavy spikes that are heavier upwards than downwards, which a
Normal or a histogram alone cannot describe in its tails.

:func:`paper_series` is the same process at explicit time indices, as a time series
(a pandas Series indexed by ``t``): the paper's forecasting benchmark (issue 6,
``benchmarks/paper_pp_mae.py``) trains on ``t = 0, ..., 4999`` and tests on fresh noise
at ``t = 6000, ..., 6999``, where the sine continues where the training data left it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["paper_series", "spiky_noise"]

#: Fraction of the time points that get a spike (half downwards, half upwards).
SPIKE_FRACTION = 0.15
#: GPD shape and scale of the downward and the upward spikes.
LOWER_SPIKE_XI, UPPER_SPIKE_XI = 1.0 / 50.0, 1.0 / 25.0
SPIKE_SIGMA = 1.0


def _gpd_draws(rng: np.random.Generator, size: int, xi: float, sigma: float) -> np.ndarray:
    """GPD(xi, sigma) draws by inversion, ``sigma (U^-xi - 1) / xi`` with U in (0, 1]."""
    uniform = 1.0 - rng.random(size)
    return sigma * np.expm1(-xi * np.log(uniform)) / xi


def _spiky_values(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The noise process at time indices ``t``, drawn in the documented order (shared by
    :func:`spiky_noise` and :func:`paper_series`)."""
    n = t.size
    values = (
        np.sin(2.0 * np.pi * t / 100.0)
        + np.minimum(0.0, 0.25 * rng.standard_t(10, size=n))
        + np.maximum(0.0, 0.25 * rng.standard_t(10, size=n))
        + 5.0
    )
    spikes = rng.choice(n, size=int(SPIKE_FRACTION * n), replace=False)
    down, up = spikes[: spikes.size // 2], spikes[spikes.size // 2 :]
    values[down] -= _gpd_draws(rng, down.size, LOWER_SPIKE_XI, SPIKE_SIGMA)
    values[up] += _gpd_draws(rng, up.size, UPPER_SPIKE_XI, SPIKE_SIGMA)
    return values


def spiky_noise(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` points of the paper's asymmetric spiky noise (Ehrlich, Callot & Aubet 2021).

    For ``t = 0, ..., n - 1``::

        x_t = sin(2 pi t / 100) + min(0, 0.25 T_t) + max(0, 0.25 T'_t) + 5

    with ``T_t``, ``T'_t`` independent Student-t(10) draws. Then ``floor(0.15 n)`` time
    points, chosen at random without replacement, get a spike: the first half of them
    (``floor(k / 2)`` of the ``k`` chosen, in the random order drawn) minus a
    GPD(ξ = 1/50, σ = 1) draw, the others plus a GPD(ξ = 1/25, σ = 1) draw.

    The random numbers are drawn in this order: the ``n`` values of ``T``, the ``n``
    values of ``T'``, the spike positions, the downward then the upward GPD draws.

    Parameters
    ----------
    n : int
        Number of points.
    rng : numpy.random.Generator or int, optional
        Random generator (or seed).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``. The sine gives the series a period of 100 time points; the
        comparison study treats the values as i.i.d. draws of their marginal law.

    Examples
    --------
    >>> x = spiky_noise(5000, np.random.default_rng(5))
    >>> x.shape
    (5000,)
    >>> np.quantile(x, [0.001, 0.05, 0.5, 0.95, 0.999]).round(1)  # spikes far out both ways
    array([0.3, 3.8, 5. , 6.2, 9.3])
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of points, not {n!r}.")
    return _spiky_values(np.arange(n), np.random.default_rng(rng))


def paper_series(t, rng: np.random.Generator | int | None = None) -> pd.Series:
    """The paper's synthetic series (Ehrlich, Callot & Aubet 2021) at the time indices ``t``.

    ``x_t = sin(2 pi t / 100) + min(0, 0.25 T_t) + max(0, 0.25 T'_t) + 5`` with fresh
    Student-t(10) draws, then ``floor(0.15 n)`` of the ``n`` points get a spike, exactly
    as in :func:`spiky_noise` (same random numbers in the same order, so
    ``paper_series(np.arange(n), seed)`` holds the values of ``spiky_noise(n, seed)``).
    Only the sine depends on ``t``: the noise and the spikes are i.i.d. over time, so a
    test set at later time indices has the same signal and fresh noise.

    Parameters
    ----------
    t : array_like of int
        Time indices (e.g. ``np.arange(6000, 7000)`` for the test set of the benchmark).
    rng : numpy.random.Generator or int, optional
        Random generator (or seed).

    Returns
    -------
    pandas.Series
        The values, indexed by ``t`` (index name ``"t"``), named ``"value"``; usable
        directly by :func:`sbp_bayes.dynamic.fit_dynamic`, which reads a numeric index
        as time.

    Examples
    --------
    >>> train = paper_series(np.arange(5000), 5)
    >>> bool(np.array_equal(train.to_numpy(), spiky_noise(5000, 5)))
    True
    >>> test = paper_series(np.arange(6000, 7000), np.random.default_rng(1))
    >>> int(test.index[0]), int(test.index[-1]), test.size
    (6000, 6999, 1000)
    >>> # Same signal: the median of each phase of the period follows the sine.
    >>> phase_25 = test[test.index % 100 == 25]
    >>> bool(abs(phase_25.median() - 6.0) < 0.2)
    True
    """
    t = np.asarray(t)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"t must be a non-empty 1-D array of time indices, got shape {t.shape}.")
    values = _spiky_values(t, np.random.default_rng(rng))
    return pd.Series(values, index=pd.Index(t, name="t"), name="value")
