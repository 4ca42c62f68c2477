"""The result contract: what every fit answers, whatever its kind.

Three kinds of fit share one base class, :class:`FitResult`, the way arviz-stats' ELPD
results share one class with a ``kind`` attribute:

==========  =================================  =================================================
``kind``    class                              made by
==========  =================================  =================================================
static      :class:`sbp_bayes.SBPFit`          :func:`sbp_bayes.fit` (the SBP and every baseline
                                               family of :mod:`sbp_bayes.families`)
dynamic     :class:`sbp_bayes.DynamicFit`      :func:`sbp_bayes.fit_dynamic` (both bodies)
pooled      :class:`sbp_bayes.PooledFit`       :func:`sbp_bayes.fit_pooled`
==========  =================================  =================================================

Every fit has ``idata`` (an :class:`xarray.DataTree`: ``posterior``, ...), ``data`` (what
was fitted, index kept), ``config`` (the options, JSON-serialisable), ``family``,
``kind``, ``sides`` (the modelled GPD tails, lower first), ``n_draws``, and answers:

* ``check()`` — a :class:`~sbp_bayes.diagnostics.DiagnosticsReport` against the same
  convergence standards;
* ``summary()`` — ArviZ's summary as numbers (``mean``, ``sd``, ``eti95_lb``, ...);
* ``predictive(new_data=None)`` — a :class:`Predictive`: the per-draw predictive
  distribution of each observation (the fitted ones, or those of ``new_data``), batched
  as ``(draws, observations)``;
* ``score(new_data=None)`` — one row per observation, columns :data:`SCORE_COLUMNS`
  (predictive percentile ``pit``, the median and equal-tailed interval of the per-draw
  percentiles, which tail, the two-sided ``tail_probability`` with the interval of its
  per-draw values, and ``ci_prob``);
* ``calibration(test_data=None)`` — a Series indexed by :data:`CALIBRATION_NAMES`: the
  PP-plot mean absolute error by region (:func:`sbp_bayes.pp_mae`), the mean CRPS and
  the mean log score ``log mean_s f_s(y)``;
* ``save(path)`` — one netCDF file, read back by :func:`sbp_bayes.load`
  (:mod:`sbp_bayes.persistence`).

``score`` and ``calibration`` are computed here, once, from the predictive; each kind
only says how to build its predictive (``_prediction_chunks``) and how to store itself
(``to_datatree`` / ``from_datatree``).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from sbp_bayes.calibration import crps, pp_mae
from sbp_bayes.persistence import DERIVED_GROUPS, register_kind, save

__all__ = [
    "CALIBRATION_NAMES",
    "PREDICTIVE_CHUNK_ELEMENTS",
    "SCORE_COLUMNS",
    "FitResult",
    "Predictive",
]

#: Columns of every kind's ``score()`` table, in this order.
SCORE_COLUMNS = (
    "value",
    "pit",
    "median",
    "ci_lower",
    "ci_upper",
    "tail",
    "tail_probability",
    "tail_probability_ci_lower",
    "tail_probability_ci_upper",
    "ci_prob",
)
#: Index of every kind's ``calibration()`` Series, in this order.
CALIBRATION_NAMES = (
    "pp_mae_lower_tail",
    "pp_mae_base",
    "pp_mae_upper_tail",
    "pp_mae_full",
    "crps",
    "log_score",
)
#: Scores and calibration work through the observations in chunks of about this many
#: per-draw numbers (draws x observations), so that long data fit in memory.
PREDICTIVE_CHUNK_ELEMENTS = 20_000_000


class Predictive:
    """Per-draw predictive distributions of ``n_observations`` observations.

    Every method takes one value per observation (shape ``(n_observations,)``) and
    returns an array of shape ``(n_draws, n_observations)`` (:attr:`batch_shape`): row
    ``s`` is posterior draw ``s``; averaging over rows gives the posterior predictive
    (:meth:`mixture_cdf`, :meth:`mixture_sf`, :meth:`log_density`).

    Built from batched numpy distributions (:class:`~sbp_bayes.stats.FrozenSplicedBinnedPareto`
    or a baseline's), in parts: :meth:`per_observation` (batch ``(draws, observations)``,
    a dynamic fit), :meth:`shared` (batch ``(draws,)``, the same law for every
    observation: a static fit) or :meth:`grouped` (one shared law per group of
    observations: a pooled fit's series).

    Examples
    --------
    >>> import numpy as np, sbp_bayes
    >>> from sbp_bayes.results import Predictive
    >>> fit = sbp_bayes.datasets.load_example_fit()
    >>> predictive = Predictive.shared(fit.distribution(), 2)
    >>> predictive.batch_shape
    (1000, 2)
    >>> [round(float(v), 4) for v in predictive.mixture_cdf(np.array([1.5, 150.0]))]
    [0.3545, 0.9994]
    """

    def __init__(self, parts: Sequence[tuple[np.ndarray, object, bool]], n_observations: int, index=None):
        self.parts = list(parts)
        self.n_observations = int(n_observations)
        self.index = pd.RangeIndex(self.n_observations) if index is None else index
        shapes = [dist.batch_shape for _, dist, _ in self.parts]
        self.n_draws = int(shapes[0][0]) if shapes else 0

    @classmethod
    def per_observation(cls, dist, index=None) -> Predictive:
        """One distribution per draw and observation: ``dist`` has batch ``(draws, observations)``."""
        n = dist.batch_shape[1]
        return cls([(np.arange(n), dist, True)], n, index)

    @classmethod
    def shared(cls, dist, n_observations: int, index=None) -> Predictive:
        """The same law for every observation: ``dist`` has batch ``(draws,)``."""
        return cls([(np.arange(n_observations), dist, False)], n_observations, index)

    @classmethod
    def grouped(cls, groups: Sequence[tuple[np.ndarray, object]], n_observations: int, index=None):
        """``groups``: ``(positions, dist)`` pairs, ``dist`` of batch ``(draws,)`` shared by
        the observations at ``positions``; every observation in exactly one group."""
        return cls([(np.asarray(p, dtype=int), dist, False) for p, dist in groups], n_observations, index)

    @property
    def batch_shape(self) -> tuple[int, int]:
        return (self.n_draws, self.n_observations)

    def _values(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if y.shape != (self.n_observations,):
            raise ValueError(
                f"Give one value per observation: shape ({self.n_observations},), not {y.shape}."
            )
        return y

    def _evaluate(self, method: str, y) -> np.ndarray:
        y = self._values(y)
        out = np.empty(self.batch_shape)
        for positions, dist, per_observation in self.parts:
            values = y[positions]
            if per_observation:
                out[:, positions] = getattr(dist, method)(values[None, :])
            else:
                out[:, positions] = getattr(dist, method)(values[:, None]).T
        return out

    def logpdf(self, y) -> np.ndarray:
        """Log density of each observation's value under each draw."""
        return self._evaluate("logpdf", y)

    def cdf(self, y) -> np.ndarray:
        """``F_s(y_i)``: each draw's probability of a value at or below each observation's."""
        return self._evaluate("cdf", y)

    def sf(self, y) -> np.ndarray:
        """``1 - F_s(y_i)``, computed directly (precise far in the upper tail)."""
        return self._evaluate("sf", y)

    def rvs(self, random_state=None) -> np.ndarray:
        """One value from each draw's predictive of each observation."""
        rng = np.random.default_rng(random_state)
        out = np.empty(self.batch_shape)
        for positions, dist, per_observation in self.parts:
            if per_observation:
                out[:, positions] = dist.rvs(random_state=rng)
            else:
                out[:, positions] = dist.rvs(size=(positions.size, self.n_draws), random_state=rng).T
        return out

    def mixture_cdf(self, y) -> np.ndarray:
        """The posterior predictive CDF at each observation, ``mean_s F_s(y_i)``."""
        return self.cdf(y).mean(axis=0)

    def mixture_sf(self, y) -> np.ndarray:
        """The posterior predictive survival at each observation, ``mean_s (1 - F_s(y_i))``."""
        return self.sf(y).mean(axis=0)

    def log_density(self, y) -> np.ndarray:
        """The posterior predictive log density at each observation, ``log mean_s f_s(y_i)``."""
        per_draw = self.logpdf(y)
        return logsumexp(per_draw, axis=0) - np.log(per_draw.shape[0])


def score_table(values: np.ndarray, cdf: np.ndarray, sf: np.ndarray, index, ci_prob: float) -> pd.DataFrame:
    """The :data:`SCORE_COLUMNS` table from per-draw CDF and survival ``(draws, observations)``."""
    alpha = (1 - ci_prob) / 2
    pit, survival = cdf.mean(axis=0), sf.mean(axis=0)
    lower, median, upper = np.quantile(cdf, [alpha, 0.5, 1 - alpha], axis=0)
    # The per-draw two-sided tail probability 2 min(F_s, S_s), its interval across draws.
    per_draw_tail = np.minimum(2 * np.minimum(cdf, sf), 1.0)
    tail_lower, tail_upper = np.quantile(per_draw_tail, [alpha, 1 - alpha], axis=0)
    table = pd.DataFrame(
        {
            "value": values,
            "pit": pit,
            "median": median,
            "ci_lower": lower,
            "ci_upper": upper,
            "tail": np.where(pit < 0.5, "lower", "upper"),
            "tail_probability": np.minimum(2 * np.minimum(pit, survival), 1.0),
            "tail_probability_ci_lower": tail_lower,
            "tail_probability_ci_upper": tail_upper,
            "ci_prob": ci_prob,
        },
        index=index,
    )
    table.attrs["ci_prob"] = ci_prob
    return table


class FitResult(ABC):
    """Base class of every fit (see the module docstring for the contract).

    A subclass sets the class attribute ``kind`` (which registers it with
    :mod:`sbp_bayes.persistence`) and implements :attr:`family`, :attr:`sides`,
    :meth:`check`, :meth:`summary`, :meth:`predictive`, :meth:`_prediction_chunks`,
    :meth:`to_datatree` and :meth:`from_datatree`; it inherits :meth:`score`,
    :meth:`calibration`, :meth:`save` and :attr:`n_draws`.
    """

    #: ``"static"``, ``"dynamic"`` or ``"pooled"``.
    kind: ClassVar[str]
    idata: xr.DataTree
    data: pd.Series | pd.DataFrame
    config: dict

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            register_kind(cls.kind, cls.from_datatree)

    # -- what every kind says about itself ---------------------------------------------

    @property
    @abstractmethod
    def family(self) -> str:
        """The model family (``"sbp"``, ``"normal"``, ...)."""

    @property
    @abstractmethod
    def sides(self) -> list[str]:
        """The tails modelled by a GPD, lower first (``[]``, ``["upper"]``, ...)."""

    @property
    def n_draws(self) -> int:
        """Posterior draws, all chains together."""
        posterior = self.idata["posterior"]
        return posterior.sizes["chain"] * posterior.sizes["draw"]

    @abstractmethod
    def check(self, **standards):
        """Convergence diagnostics (:class:`~sbp_bayes.diagnostics.DiagnosticsReport`)."""

    @abstractmethod
    def summary(self, var_names=None, ci_prob: float = 0.95) -> pd.DataFrame:
        """ArviZ's posterior summary as numbers (``round_to="none"``)."""

    @abstractmethod
    def predictive(self, new_data=None, *, thin: int = 1) -> Predictive:
        """The predictive of each observation of ``new_data`` (default: the fitted ones)."""

    @abstractmethod
    def _prediction_chunks(self, new_data, thin: int) -> Iterator[tuple[np.ndarray, pd.Index, Predictive]]:
        """``(values, index, predictive)`` for consecutive chunks of the observations of
        ``new_data`` (or the fitted ones), each small enough to evaluate in memory."""

    @abstractmethod
    def to_datatree(self, *, include_derived: bool = False) -> xr.DataTree:
        """The fit as one tree with the metadata of :mod:`sbp_bayes.persistence`."""

    @classmethod
    @abstractmethod
    def from_datatree(cls, tree: xr.DataTree) -> FitResult:
        """The fit stored in ``tree`` (written by :meth:`to_datatree`)."""

    # -- shared answers ----------------------------------------------------------------

    def score(self, new_data=None, *, ci_prob: float = 0.95, thin: int = 1) -> pd.DataFrame:
        """Predictive percentile (PIT) of each value with the median and equal-tailed
        ``ci_prob`` interval of the per-draw percentiles, and the two-sided tail
        probability ``2 min(pit, 1 - pit)`` — the monitoring score — with the interval of
        its per-draw values ``2 min(F_s, 1 - F_s)``. Columns :data:`SCORE_COLUMNS`.
        Without ``new_data``: the fitted observations (in-sample).

        The upper side ``1 - pit`` is the predictive survival computed directly: ``1 - cdf``
        rounds to 0 beyond ~1e-16."""
        pieces = [
            score_table(values, predictive.cdf(values), predictive.sf(values), index, ci_prob)
            for values, index, predictive in self._prediction_chunks(new_data, thin)
        ]
        table = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        table.attrs["ci_prob"] = ci_prob
        return table

    def calibration(self, test_data=None, *, thin: int = 1, random_seed=None) -> pd.Series:
        """PP-MAE by region (the paper's protocol, :func:`sbp_bayes.pp_mae`), mean CRPS and
        mean log score of the posterior predictive on ``test_data`` (without it: in-sample,
        on the fitted observations). Indexed by :data:`CALIBRATION_NAMES`.

        The CRPS is estimated from one predictive value per posterior draw and observation;
        the log score is ``mean_i log mean_s f_s(y_i)`` (higher is better)."""
        rng = np.random.default_rng(random_seed)
        values, pit, scores, log_density = [], [], [], []
        for observed, _index, predictive in self._prediction_chunks(test_data, thin):
            values.append(observed)
            pit.append(predictive.mixture_cdf(observed))
            draws = predictive.rvs(random_state=rng)
            scores.append(
                crps(observed, draws=draws.T) if predictive.n_draws > 1 else np.full(observed.size, np.nan)
            )
            log_density.append(predictive.log_density(observed))
        all_values, all_pit = np.concatenate(values), np.concatenate(pit)
        mae = pp_mae(all_values, cdf_fn=lambda _observations: all_pit)
        return pd.Series(
            {
                **{f"pp_mae_{region}": float(value) for region, value in mae.items()},
                "crps": float(np.mean(np.concatenate(scores))),
                "log_score": float(np.mean(np.concatenate(log_density))),
            }
        )

    def _posterior_summary(self, names: Sequence[str], ci_prob: float) -> pd.DataFrame:
        """:func:`arviz.summary` of ``names`` as numbers, equal-tailed ``ci_prob`` interval
        (its columns name the level, e.g. ``eti95_lb``)."""
        import arviz as az

        with warnings.catch_warnings():
            # A quantity fixed by construction (a reference bin at 0, a threshold whose
            # posterior sits on one candidate) has no variance; ArviZ then divides 0/0
            # for R-hat. The NaN it reports is the right answer.
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            return az.summary(
                self.idata, var_names=list(names), ci_prob=ci_prob, ci_kind="eti", round_to="none"
            )

    def save(self, path, *, include_derived: bool = False) -> Path:
        """Write the fit to one netCDF file (:func:`sbp_bayes.save`); read it back with
        :func:`sbp_bayes.load`. The pointwise log-likelihood and posterior predictive are
        left out unless ``include_derived``."""
        return save(self, path, include_derived=include_derived)

    def _idata_groups(self, include_derived: bool = False) -> dict[str, xr.Dataset]:
        """``{"/group": Dataset}`` of :attr:`idata` (derived groups left out unless asked)."""
        derived = () if include_derived else DERIVED_GROUPS
        return {
            f"/{name}": node.to_dataset() for name, node in self.idata.children.items() if name not in derived
        }
