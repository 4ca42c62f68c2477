"""Non-stationary SBP: bin probabilities and tails that depend on time and covariates.

The paper (Ehrlich, Callot & Aubet 2021) predicts, for every time step, a spliced
binned-Pareto distribution whose bins are fixed on the value axis and whose bin
probabilities and tail parameters are produced from the recent past by a network.
:func:`fit_dynamic` is the Bayesian version with a generalised linear "network":

* features ``z_t``: lags of the series (autoregression), Fourier terms of a known
  period (seasonality), and covariates from a DataFrame by column name — each
  standardised on the training data;
* body: fixed bins between fixed thresholds; the log density of body bin ``k`` is
  ``a_k + z_t · B_k`` (a multinomial logit over bins). ``a`` and every row of ``B``
  have second-order Gaussian random-walk priors across bins (fixed scales), so the
  body is smooth unless the data say otherwise and can shift freely; the first body
  bin is the reference (identifiability);
* tails: the probability of each tail is its own logit ``c + z_t · b`` in the same
  softmax (so ``u = Q_B(a_t)`` holds at every ``t``, as in the canonical definition); the
  GPD scale has a log link ``σ_t = exp(s + z_t · g)``; the GPD shape is constant, or a
  Gaussian random walk over blocks of ``tail_block_size`` time steps;
* several series: see :mod:`sbp_bayes.pooled` (hierarchical tails).

Because the bins and thresholds are fixed on the value axis, which bin an observation
falls in is data, and the log-likelihood is smooth in every parameter — NUTS applies.
(A location shift applied to a histogram body would make the likelihood piecewise
constant in the location, which NUTS cannot sample.)

The same features drive the baselines of the paper's table: ``family="normal"`` and
``"student_t"`` (location and log-scale linear in ``z_t``) and ``"binned"`` (the
multinomial-logit histogram over the whole range, no tails).

Observations before the largest lag have no features and are not modelled (the
likelihood conditions on them); forecasts condition on the end of the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from sbp_bayes.diagnostics import combine_reports, convergence_report
from sbp_bayes.distributions.gpd import gpd_logpdf
from sbp_bayes.families.predictive import FrozenLocationScale, FrozenNormal, FrozenStudentT
from sbp_bayes.families.registry import dynamic_family_names
from sbp_bayes.model import DataError
from sbp_bayes.persistence import (
    from_tree,
    load,
    own_attrs,
    package_version,
    read_meta,
    subtree_groups,
    with_metadata,
)
from sbp_bayes.results import FitResult, Predictive
from sbp_bayes.stats import FrozenSplicedBinnedPareto

__all__ = ["DYNAMIC_FAMILIES", "DynamicDesign", "DynamicFit", "fit_dynamic", "load_dynamic", "load_fit"]

DYNAMIC_FAMILIES = dynamic_family_names()  # ("sbp", "binned", "normal", "student_t")


# ----------------------------------------------------------------------------- design


@dataclass(frozen=True)
class DynamicDesign:
    """Everything fixed before sampling: features, bins, thresholds, tail blocks."""

    family: str
    lags: int
    seasonal_period: float | None
    harmonics: int
    covariates: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_centre: np.ndarray
    feature_scale: np.ndarray
    bin_edges: np.ndarray
    tails: str
    tail_block_size: int | None
    n_train: int
    #: "location_scale": features move a location and a scale, the SBP describes the
    #: standardised innovations (two stages, McNeil & Frey 2000); "logit": the features
    #: act on every bin's probability and on the tails jointly (one model).
    body: str = "location_scale"

    @property
    def has_lower(self) -> bool:
        return self.family == "sbp" and self.tails in ("both", "lower")

    @property
    def has_upper(self) -> bool:
        return self.family == "sbp" and self.tails in ("both", "upper")

    @property
    def body_slice(self) -> slice:
        """Bins of the body (the outer bins are the tail bins when a tail is present)."""
        start = 1 if self.has_lower else 0
        stop = self.bin_edges.size - 1 - (1 if self.has_upper else 0)
        return slice(start, stop)

    @property
    def lower_threshold(self) -> float | None:
        return float(self.bin_edges[1]) if self.has_lower else None

    @property
    def upper_threshold(self) -> float | None:
        return float(self.bin_edges[-2]) if self.has_upper else None

    def n_blocks(self, n_time: int) -> int:
        if self.tail_block_size is None:
            return 1
        return max(1, math.ceil(n_time / self.tail_block_size))

    def to_config(self) -> dict:
        return {
            "family": self.family,
            "lags": self.lags,
            "seasonal_period": self.seasonal_period,
            "harmonics": self.harmonics,
            "covariates": list(self.covariates),
            "feature_names": list(self.feature_names),
            "feature_centre": self.feature_centre.tolist(),
            "feature_scale": self.feature_scale.tolist(),
            "bin_edges": self.bin_edges.tolist(),
            "tails": self.tails,
            "tail_block_size": self.tail_block_size,
            "n_train": self.n_train,
            "body": self.body,
        }

    @classmethod
    def from_config(cls, config: dict) -> DynamicDesign:
        return cls(
            config["family"],
            int(config["lags"]),
            config["seasonal_period"],
            int(config["harmonics"]),
            tuple(config["covariates"]),
            tuple(config["feature_names"]),
            np.asarray(config["feature_centre"], dtype=float),
            np.asarray(config["feature_scale"], dtype=float),
            np.asarray(config["bin_edges"], dtype=float),
            config["tails"],
            config["tail_block_size"],
            int(config["n_train"]),
            config.get("body", "logit"),
        )


def _raw_features(values: np.ndarray, time: np.ndarray, frame, design_like) -> tuple[np.ndarray, list[str]]:
    """Unstandardised features for every position (NaN where a lag is missing)."""
    lags, period, harmonics, covariates = design_like
    columns, names = [], []
    for lag in range(1, lags + 1):
        shifted = np.full(values.size, np.nan)
        shifted[lag:] = values[:-lag]
        columns.append(shifted)
        names.append(f"lag_{lag}")
    if period is not None:
        for k in range(1, harmonics + 1):
            angle = 2 * np.pi * k * time / period
            columns += [np.sin(angle), np.cos(angle)]
            names += [f"sin_{k}", f"cos_{k}"]
    for name in covariates:
        columns.append(np.asarray(frame[name], dtype=float))
        names.append(name)
    matrix = np.column_stack(columns) if columns else np.zeros((values.size, 0))
    return matrix, names


def _series_and_frame(data, target: str | None):
    """(values, time, frame) from a Series or a DataFrame with a target column."""
    if isinstance(data, pd.DataFrame):
        if target is None:
            raise DataError("With a DataFrame, name the series to model: target='<column>'.")
        if target not in data.columns:
            raise DataError(f"No column {target!r}; the DataFrame has: {', '.join(map(str, data.columns))}.")
        frame = data
        values = np.asarray(data[target], dtype=float)
    else:
        series = data if isinstance(data, pd.Series) else pd.Series(np.asarray(data, dtype=float))
        frame = series.to_frame(name=series.name or "y")
        values = np.asarray(series, dtype=float)
    index = frame.index
    time = (
        np.asarray(index, dtype=float) if index.dtype.kind in "iuf" else np.arange(values.size, dtype=float)
    )
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values))
        raise DataError(
            f"The series has {bad.size} missing or infinite value(s) (first at position {bad[0]}, counting "
            "from 0); a time-series model needs every step: fill or drop them first."
        )
    return values, time, frame


def _make_design(
    values,
    time,
    frame,
    *,
    family,
    lags,
    seasonal_period,
    harmonics,
    covariates,
    tails,
    bins,
    tail_share,
    tail_block_size,
    body="location_scale",
) -> DynamicDesign:
    if body not in ("location_scale", "logit"):
        raise ValueError(f"body must be 'location_scale' or 'logit', not {body!r}.")
    if family not in DYNAMIC_FAMILIES:
        raise ValueError(f"family must be one of {DYNAMIC_FAMILIES}, not {family!r}.")
    for name in covariates:
        if name not in frame.columns:
            raise DataError(
                f"Covariate {name!r} is not a column; available: {', '.join(map(str, frame.columns))}."
            )
    raw, names = _raw_features(values, time, frame, (lags, seasonal_period, harmonics, tuple(covariates)))
    usable = raw[lags:]
    centre = np.median(usable, axis=0) if usable.size else np.zeros(0)
    q1, q3 = np.quantile(usable, [0.25, 0.75], axis=0) if usable.size else (np.zeros(0), np.ones(0))
    scale = (q3 - q1) / 1.349
    scale = np.where(scale > 0, scale, np.std(usable, axis=0) if usable.size else 1.0)
    scale = np.where(scale > 0, scale, 1.0)
    x = values[lags:]
    if family in ("sbp", "binned"):
        lo, hi = float(x.min()), float(x.max())
        if family == "sbp":
            has_lower, has_upper = tails in ("both", "lower"), tails in ("both", "upper")
            u_lower = float(np.quantile(x, tail_share)) if has_lower else lo
            u_upper = float(np.quantile(x, 1 - tail_share)) if has_upper else hi
            inner = np.linspace(u_lower, u_upper, int(bins) + 1)
            edges = inner
            if has_lower:
                edges = np.concatenate([[min(lo, u_lower) - 1e-9 * (1 + abs(lo))], edges])
            if has_upper:
                edges = np.concatenate([edges, [max(hi, u_upper) + 1e-9 * (1 + abs(hi))]])
        else:
            width = (hi - lo) / int(bins)
            edges = np.linspace(lo - width, hi + width, int(bins) + 1)
    else:
        edges = np.array([0.0, 1.0])
    return DynamicDesign(
        family,
        int(lags),
        seasonal_period,
        int(harmonics),
        tuple(covariates),
        tuple(names),
        np.asarray(centre, dtype=float),
        np.asarray(scale, dtype=float),
        np.asarray(edges, dtype=float),
        tails if family == "sbp" else "none",
        tail_block_size,
        int(values.size),
        body,
    )


def _features(design: DynamicDesign, values, time, frame) -> np.ndarray:
    raw, _ = _raw_features(
        values, time, frame, (design.lags, design.seasonal_period, design.harmonics, design.covariates)
    )
    return (raw - design.feature_centre) / design.feature_scale


# ----------------------------------------------------------------------------- model


#: Second-order random-walk scales of the body across bins: the curvature of the log
#: density (second difference per bin) and of a feature's effect on it. A second-order
#: walk leaves straight lines across bins unpenalised, which is what a body that shifts
#: with a feature needs (for a Gaussian body the effect of its location on the log
#: density of bin k is linear in k). Fixed rather than learnt: with a learnt scale the
#: posterior has a funnel between the scale and the effects that NUTS explores poorly.
BODY_CURVATURE = 1.0
EFFECT_CURVATURE = 0.5
#: Prior sd of the first step (the slope across bins), which the walk leaves free.
FIRST_STEP_SD = 10.0
#: Scoring works through the time steps in chunks of about this many per-draw numbers
#: (draws x steps x bins), so that long series and histogram bodies fit in memory.
PREDICTIVE_CHUNK_ELEMENTS = 20_000_000


def _rw2_log_prior(values, curvature, axis=-1):
    """Log density of a second-order Gaussian random walk anchored at 0 (first value 0,
    first step ~ Normal(0, FIRST_STEP_SD), second differences ~ Normal(0, curvature))."""
    first = pt.take(pt.diff(values, axis=axis), 0, axis=axis)
    second = pt.diff(values, n=2, axis=axis)
    return pt.sum(pm.logp(pm.Normal.dist(0.0, FIRST_STEP_SD), first)) + pt.sum(
        pm.logp(pm.Normal.dist(0.0, curvature), second)
    )


def _body_logits(n_body: int, n_features: int):
    """Body log densities ``a_k`` and feature effects ``B_{f,k}`` per bin, with
    second-order random-walk priors across bins (:data:`BODY_CURVATURE`,
    :data:`EFFECT_CURVATURE`); the first body bin is the reference (``a_0 = 0``,
    ``B_{f,0} = 0``).

    The parameters are the per-bin values themselves, with the random walk as their
    prior (not cumulative sums of steps): each bin's value is pinned by its own count,
    so the posterior coordinates are nearly independent, which NUTS needs.
    """
    free = pm.Flat("body_intercept_free", shape=n_body - 1)
    intercept = pm.Deterministic("body_intercept", pt.concatenate([pt.zeros(1), free]), dims="body_bin")
    pm.Potential("body_intercept_prior", _rw2_log_prior(intercept, BODY_CURVATURE))
    if n_features == 0:
        return intercept, None
    effect_free = pm.Flat("body_effect_free", shape=(n_features, n_body - 1))
    effects = pm.Deterministic(
        "body_effect",
        pt.concatenate([pt.zeros((n_features, 1)), effect_free], axis=1),
        dims=("feature", "body_bin"),
    )
    pm.Potential("body_effect_prior", _rw2_log_prior(effects, EFFECT_CURVATURE, axis=1))
    return intercept, effects


def _tail_shape_blocks(side, sigma_t, excess, block_of_point, n_blocks):
    """ξ per block, each restricted to keep its block's exceedances inside the support:
    ``ξ_b = max(-1, -min_t σ_t / z_t) + exp(y_b)``; the prior (TruncatedNormal(0, 0.5)
    above -1 for the first block, Gaussian random-walk steps after it) and the Jacobian
    enter as a potential, so the posterior is prior x likelihood exactly.

    Known limitation: written centred, the walk has a funnel between its step size and the
    steps; on a simulated step in ξ_U (8 blocks) the step size reaches R-hat 1.027 at 4 x 1000
    (tests/test_dynamic.py, slow). A non-centred walk with a smooth support floor fixed that
    (R-hat 1.002) but made PyMC's NUTS crawl where ξ sits near its support bound (a normal
    lower tail), so it is not used yet."""
    ratio = sigma_t / excess  # ξ > -σ_t / z_t for every exceedance t
    lower = pt.maximum(-1.0, -_segment_min(ratio, block_of_point, n_blocks))
    free = pm.Flat(f"{side}_xi_unconstrained", shape=n_blocks, initval=np.full(n_blocks, math.log(0.2)))
    xi = pm.Deterministic(f"{side}_xi", lower + pt.exp(free), dims=f"{side}_block")
    prior = pm.logp(pm.TruncatedNormal.dist(mu=0.0, sigma=0.5, lower=-1.0), xi[0])
    if n_blocks > 1:
        step = pm.HalfNormal(f"{side}_xi_step", sigma=0.1)
        prior = prior + pt.sum(pm.logp(pm.Normal.dist(0.0, step), xi[1:] - xi[:-1]))
    pm.Potential(f"{side}_xi_prior", prior + pt.sum(free))
    return xi


def _segment_min(values, segment, n_segments):
    """Minimum of ``values`` within each segment (``inf`` for an empty one)."""
    one_hot = pt.eq(segment[:, None], pt.arange(n_segments)[None, :])
    return pt.min(pt.switch(one_hot, values[:, None], np.inf), axis=0)


def _build_sbp_model(design: DynamicDesign, x, z, block):
    edges = design.bin_edges
    widths = np.diff(edges)
    n_bins = widths.size
    body = design.body_slice
    n_body = body.stop - body.start
    bin_index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    n_features = z.shape[1]
    n_blocks = int(block.max()) + 1 if block.size else 1
    coords = {"feature": list(design.feature_names), "bin": np.arange(n_bins), "body_bin": np.arange(n_body)}
    for side in ("lower", "upper"):
        coords[f"{side}_block"] = np.arange(n_blocks)
    with pm.Model(coords=coords) as model:
        features = pm.Data("features", z)
        observed_bin = pm.Data("observed_bin", bin_index)
        intercept, effects = _body_logits(n_body, n_features)
        # Without features every row has the same body: broadcast it to one row per
        # observation, as the tail logits are.
        body_log_density = intercept[None, :] + (
            features @ effects if effects is not None else pt.zeros((x.size, 1))
        )
        logits = [body_log_density + np.log(widths[body])[None, :]]
        tail_terms = []
        scale0 = float(np.std(x)) or 1.0
        for side in ("lower", "upper"):
            if not getattr(design, f"has_{side}"):
                continue
            log_odds = pm.Normal(f"{side}_tail_logit", mu=math.log(0.05 / 0.9), sigma=2.0)
            slope = pm.Normal(f"{side}_tail_logit_effect", 0.0, 1.0, dims="feature") if n_features else None
            logit = log_odds + (features @ slope if slope is not None else 0.0)
            threshold = getattr(design, f"{side}_threshold")
            mask = (x < threshold) if side == "lower" else (x > threshold)
            rows = np.flatnonzero(mask)
            if rows.size < 5:
                raise DataError(
                    f"Only {rows.size} observations lie in the {side} tail; fit with fewer tails."
                )
            excess_values = (threshold - x[rows]) if side == "lower" else (x[rows] - threshold)
            excess = pm.Data(f"{side}_excess", excess_values)
            rows_data = pm.Data(f"{side}_rows", rows)
            # As for the static SBP: centred on the scale of an exponential tail.
            centre = math.log(max(float(np.median(excess_values)), 1e-12 * scale0) / math.log(2.0))
            log_sigma0 = pm.Normal(f"{side}_log_sigma", mu=centre, sigma=1.0)
            sigma_slope = (
                pm.Normal(f"{side}_log_sigma_effect", 0.0, 0.5, dims="feature") if n_features else None
            )
            log_sigma_t = log_sigma0 + (features[rows_data] @ sigma_slope if sigma_slope is not None else 0.0)
            sigma_t = pt.exp(log_sigma_t)
            block_data = pm.Data(f"{side}_block_of_point", block[rows])
            xi = _tail_shape_blocks(side, sigma_t, excess, block_data, n_blocks)
            tail_terms.append(pt.sum(gpd_logpdf(excess, xi[block_data], sigma_t)))
            if side == "lower":
                logits.insert(0, logit[:, None] if n_features else pt.full((x.size, 1), logit))
            else:
                logits.append(logit[:, None] if n_features else pt.full((x.size, 1), logit))
        all_logits = pt.concatenate(logits, axis=1)
        log_probs = all_logits - pt.logsumexp(all_logits, axis=1, keepdims=True)
        chosen = pt.take_along_axis(log_probs, observed_bin[:, None], axis=1)[:, 0]
        in_body = (bin_index >= body.start) & (bin_index < body.stop)
        body_width = np.where(in_body, np.log(widths[bin_index]), 0.0)
        total = pt.sum(chosen) - float(np.sum(body_width))
        for term in tail_terms:
            total = total + term
        pm.Potential("likelihood", total)
    return model


def _build_binned_model(design, x, z, block):
    return _build_sbp_model(design, x, z, block)


def _build_location_scale_model(design: DynamicDesign, x, z, *, student: bool):
    n_features = z.shape[1]
    centre = float(np.median(x))
    q1, q3 = np.quantile(x, [0.25, 0.75])
    scale = float((q3 - q1) / 1.349) or float(np.std(x)) or 1.0
    with pm.Model(coords={"feature": list(design.feature_names)}) as model:
        features = pm.Data("features", z)
        intercept = pm.Normal("location", mu=centre, sigma=10 * scale)
        effects = pm.Normal("location_effect", 0.0, 5 * scale, dims="feature") if n_features else None
        log_scale = pm.Normal("log_scale", mu=math.log(scale), sigma=2.0)
        scale_effects = pm.Normal("log_scale_effect", 0.0, 0.5, dims="feature") if n_features else None
        mu = intercept + (features @ effects if effects is not None else 0.0)
        sigma = pt.exp(log_scale + (features @ scale_effects if scale_effects is not None else 0.0))
        observed = pm.Data("y", x)
        if student:
            nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
            pm.StudentT("obs", nu=nu, mu=mu, sigma=sigma, observed=observed)
        else:
            pm.Normal("obs", mu=mu, sigma=sigma, observed=observed)
    return model


# ----------------------------------------------------------------------------- result


def _flat(posterior, name, thin=1):
    values = posterior[name].values
    return values.reshape((-1, *values.shape[2:]))[::thin]


class DynamicPredictive(Predictive):
    """Per-draw predictive distributions at given time steps.

    ``dist`` has batch shape ``(n_draws, n_times)``: ``dist.cdf(y[None, :])`` gives each
    draw's CDF at each observation; averaging over draws gives the posterior predictive
    (:meth:`mixture_cdf`, :meth:`log_density`). A :class:`~sbp_bayes.results.Predictive`
    with the time of each step in ``time``.
    """

    def __init__(self, dist, time: np.ndarray, index=None):
        super().__init__([(np.arange(dist.batch_shape[1]), dist, True)], dist.batch_shape[1], index)
        self.dist = dist
        self.time = time


@dataclass
class DynamicFit(FitResult):
    """A fitted dynamic model (see :func:`fit_dynamic`); the result contract of
    :class:`sbp_bayes.results.FitResult` with ``kind == "dynamic"``."""

    kind = "dynamic"

    idata: xr.DataTree
    design: DynamicDesign
    data: pd.DataFrame
    target: str
    config: dict = field(default_factory=dict)
    #: Stage 2 of a location-scale fit: the SBP (or binned) fit of the standardised
    #: residuals (an SBPFit, or a DynamicFit when the tail shapes vary over blocks).
    innovations: object = None

    @property
    def family(self) -> str:
        return self.design.family

    @property
    def sides(self) -> list[str]:
        """The tails with a GPD, lower first (for a location-scale fit, its innovations')."""
        if self.design.family != "sbp":
            return []
        return [side for side in ("lower", "upper") if self.design.tails in ("both", side)]

    @property
    def version(self) -> str | None:
        """sbp_bayes version that made the fit."""
        return self.config.get("version")

    def _history(self):
        values, time, frame = _series_and_frame(self.data, self.target)
        return values, time, frame

    def _checked_parameters(self) -> list[str]:
        return [
            name
            for name in self.idata["posterior"].data_vars
            if not name.endswith("_unconstrained") and not name.endswith("_free")
        ]

    def check(self, **kwargs):
        """Convergence diagnostics of every parameter (vectors by their worst element),
        against the standards of :meth:`sbp_bayes.SBPFit.check`; for a location-scale fit,
        of both stages (the innovations' parameters prefixed ``innovation:``)."""
        warn = kwargs.pop("warn", True)
        report = convergence_report(self.idata, self._checked_parameters(), warn=False, **kwargs)
        if self.innovations is not None:
            inner = self.innovations.check(warn=False, **kwargs)
            report = combine_reports(report, inner, row_prefix="innovation", problem_prefix="innovations")
        if report.problems and warn:
            import warnings

            warnings.warn(
                "Convergence diagnostics failed:\n" + "\n".join(report.problems), UserWarning, stacklevel=2
            )
        return report

    def summary(self, var_names=None, ci_prob: float = 0.95) -> pd.DataFrame:
        """ArviZ's summary as numbers; the interval columns name their level (``eti95_lb``)."""
        return self._posterior_summary(var_names or self._checked_parameters(), ci_prob)

    def predictive(self, new_data=None, *, thin: int = 1) -> DynamicPredictive:
        """Predictive distributions at the time steps of ``new_data`` (one step ahead:
        lags are read from the actual previous values), or at the fitted steps.

        ``new_data`` continues the fitted series (same index kind; with lags, the end of
        the fitted data provides the first lags).
        """
        _values, index, z, target_time = self._steps(new_data)
        return DynamicPredictive(self._distribution(z, target_time, thin), target_time, index)

    def _prediction_chunks(self, new_data, thin: int):
        values, index, z, time = self._steps(new_data)
        for part in self._chunks(time.size, thin):
            dist = self._distribution(z[part], time[part], thin)
            yield values[part], index[part], Predictive.per_observation(dist, index[part])

    def _steps(self, new_data):
        """``(values, index, z, time)`` of the steps predicted: those of ``new_data``
        (continuing the fitted series), or the fitted steps (after the first ``lags``)."""
        values, time, frame = self._history()
        lags = self.design.lags
        if new_data is None:
            z = _features(self.design, values, time, frame)[lags:]
            return values[lags:], frame.index[lags:], z, time[lags:]
        new_values, new_time, new_frame = _series_and_frame(new_data, self.target)
        if isinstance(new_data, pd.Series | pd.DataFrame) and new_data.index.dtype.kind not in "iuf":
            new_time = time[-1] + 1 + np.arange(new_values.size)
        joined_values = np.concatenate([values[-lags:] if lags else values[:0], new_values])
        joined_time = np.concatenate([time[-lags:] if lags else time[:0], new_time])
        joined_frame = pd.concat([frame.iloc[-lags:] if lags else frame.iloc[:0], new_frame])
        z = _features(self.design, joined_values, joined_time, joined_frame)[lags:]
        index = (
            new_data.index
            if isinstance(new_data, pd.Series | pd.DataFrame)
            else pd.RangeIndex(new_values.size)
        )
        return new_values, index, z, new_time

    def _chunks(self, n_time: int, thin: int) -> list[slice]:
        """Slices of the time steps small enough that one chunk's per-draw predictive
        arrays stay near :data:`PREDICTIVE_CHUNK_ELEMENTS` numbers (a histogram body holds
        one probability per bin, draw and step)."""
        post = self.idata["posterior"]
        n_draws = math.ceil(post.sizes["chain"] * post.sizes["draw"] / thin)
        widths = [self.design.bin_edges.size if self.design.body == "logit" else 1]
        if isinstance(self.innovations, DynamicFit):
            widths.append(self.innovations.design.bin_edges.size)
        size = max(1, PREDICTIVE_CHUNK_ELEMENTS // (n_draws * max(widths)))
        return [slice(start, start + size) for start in range(0, max(n_time, 1), size)]

    def sample_predictive(self, new_data=None, *, thin: int = 1, random_seed=None) -> np.ndarray:
        """One value from each kept draw's one-step-ahead predictive at each step of
        ``new_data`` (or at the fitted steps): shape ``(n_draws, n_steps)``, so a column's
        quantiles estimate that step's posterior predictive quantiles."""
        rng = np.random.default_rng(random_seed)
        _values, _index, z, time = self._steps(new_data)
        pieces = [
            self._distribution(z[part], time[part], thin).rvs(random_state=rng)
            for part in self._chunks(time.size, thin)
        ]
        return np.concatenate(pieces, axis=1)

    def _block_of(self, time_positions: np.ndarray, n_blocks: int) -> np.ndarray:
        if self.design.tail_block_size is None:
            return np.zeros(time_positions.size, dtype=int)
        block = (time_positions // self.design.tail_block_size).astype(int)
        # Beyond the fitted blocks the last block's shape carries on (random-walk forecast).
        return np.clip(block, 0, n_blocks - 1)

    def _distribution(self, z: np.ndarray, time: np.ndarray, thin: int, draw_index=None):
        """Predictive distributions at feature rows ``z`` (times ``time``).

        Without ``draw_index``: every kept draw at every row (batch ``(n_draws, n_rows)``).
        With ``draw_index`` (one draw per row): row ``i`` under draw ``draw_index[i]``
        (batch ``(n_rows,)``), for simulation.
        """
        post = self.idata["posterior"]
        paired = draw_index is not None

        def take(name):
            values = _flat(post, name) if paired else _flat(post, name, thin)
            return values[draw_index] if paired else values

        def linear(intercept_name, effect_name):
            base = take(intercept_name)
            if paired:
                return base + (np.sum(take(effect_name) * z, axis=-1) if z.shape[1] else 0.0)
            return base[:, None] + (take(effect_name) @ z.T if z.shape[1] else 0.0)

        family = self.family
        if family in ("normal", "student_t") or self.design.body == "location_scale":
            location = linear("location", "location_effect")
            scale = np.exp(linear("log_scale", "log_scale_effect"))
            if family == "normal":
                return FrozenNormal(location, scale)
            if family == "student_t":
                nu = take("nu") if paired else take("nu")[:, None]
                return FrozenStudentT(nu, location, scale)
            return FrozenLocationScale(
                self._innovation_distribution(time, paired, draw_index, thin), location, scale
            )
        design = self.design
        edges = design.bin_edges
        widths = np.diff(edges)
        body = design.body_slice
        intercept = take("body_intercept")  # (S, K) or (P, K)
        if paired:
            log_density = intercept + (np.einsum("pf,pfk->pk", z, take("body_effect")) if z.shape[1] else 0.0)
        else:
            log_density = intercept[:, None, :] + (
                np.einsum("tf,sfk->stk", z, take("body_effect")) if z.shape[1] else 0.0
            )
        logits = [log_density + np.log(widths[body])]
        shape = log_density.shape[:-1]
        params = {}
        for side in ("lower", "upper"):
            if not getattr(design, f"has_{side}"):
                continue
            logit = linear(f"{side}_tail_logit", f"{side}_tail_logit_effect") * np.ones(shape)
            sigma = np.exp(linear(f"{side}_log_sigma", f"{side}_log_sigma_effect")) * np.ones(shape)
            xi_blocks = take(f"{side}_xi")  # (S, B) or (P, B)
            blocks = self._block_of(self._time_position(time), xi_blocks.shape[-1])
            xi = xi_blocks[np.arange(blocks.size), blocks] if paired else xi_blocks[:, blocks]
            params[side] = (xi, sigma)
            if side == "lower":
                logits.insert(0, logit[..., None])
            else:
                logits.append(logit[..., None])
        all_logits = np.concatenate(logits, axis=-1)
        all_logits -= all_logits.max(axis=-1, keepdims=True)
        probs = np.exp(all_logits)
        probs /= probs.sum(axis=-1, keepdims=True)
        zeros, ones = np.zeros(shape), np.ones(shape)
        lower = params.get("lower", (zeros, ones))
        upper = params.get("upper", (zeros, ones))
        return FrozenSplicedBinnedPareto(
            edges,
            probs,
            probs[..., 0] if design.has_lower else zeros,
            probs[..., -1] if design.has_upper else zeros,
            lower[0],
            lower[1],
            upper[0],
            upper[1],
            has_lower_tail=design.has_lower,
            has_upper_tail=design.has_upper,
            known_lower_threshold=np.full(shape, edges[1] if design.has_lower else edges[0]),
            known_upper_threshold=np.full(shape, edges[-2] if design.has_upper else edges[-1]),
        )

    def _innovation_distribution(self, time, paired, draw_index, thin):
        """Stage-2 draws, paired with stage-1 draws by their index (both flattened over
        chains; the shorter list of draws is cycled)."""
        post = self.idata["posterior"]
        n_stage1 = post.sizes["chain"] * post.sizes["draw"]
        inner = self.innovations
        if isinstance(inner, DynamicFit):
            base = inner.predictive(pd.Series(np.zeros(time.size), index=time)).dist  # (S2, T)
            n_stage2 = base.batch_shape[0]
            if paired:
                return base[np.asarray(draw_index) % n_stage2, np.arange(time.size)]
            rows = np.arange(0, n_stage1, thin) % n_stage2
            return base[rows]
        base = inner.distribution()  # (S2,)
        n_stage2 = base.batch_shape[0]
        if paired:
            return base[np.asarray(draw_index) % n_stage2]
        rows = np.arange(0, n_stage1, thin) % n_stage2
        return base[rows][:, None]

    def _time_position(self, time: np.ndarray) -> np.ndarray:
        start = float(self.config.get("time_start", 0.0))
        return np.asarray(time, dtype=float) - start

    def tail_shape_path(self, side: str = "upper", *, ci_prob: float = 0.95) -> pd.DataFrame:
        """Posterior of the tail shape per time block: ``median`` and the equal-tailed
        ``ci_prob`` credible interval ``ci_lower``, ``ci_upper`` (default 95%, the level of
        every interval in the package).

        ``start`` is the block's first step, counted from the first modelled step. For a
        location-scale fit the tail belongs to the innovations (stage 2): their shapes per
        block, or their one constant shape (one block) when ``tail_block_size`` is unset.
        """
        post = self.idata["posterior"]
        name = f"{side}_xi"
        if name not in post:
            if isinstance(self.innovations, DynamicFit):
                return self.innovations.tail_shape_path(side, ci_prob=ci_prob)
            if self.innovations is not None and name in self.innovations.idata["posterior"]:
                xi = self.innovations.idata["posterior"][name].values.reshape(-1, 1)
            else:
                raise ValueError(f"This fit has no {side} tail.")
        else:
            xi = _flat(post, name)
        alpha = (1 - ci_prob) / 2
        lower, median, upper = np.quantile(xi, [alpha, 0.5, 1 - alpha], axis=0)
        size = self.design.tail_block_size
        n_time = self.design.n_train - self.design.lags
        starts = np.arange(xi.shape[1]) * (size or n_time)
        return pd.DataFrame(
            {"start": starts, "median": median, "ci_lower": lower, "ci_upper": upper},
            index=pd.RangeIndex(xi.shape[1], name="block"),
        )

    # -- persistence ----------------------------------------------------------------------

    def to_datatree(self, *, include_derived: bool = False) -> xr.DataTree:
        """The fit as one tree (:mod:`sbp_bayes.persistence`): the groups of :attr:`idata`
        at the root, the modelled columns with their index in ``/dynamic_data``, a
        location-scale fit's innovations (stage 2, a fit of its own kind) as the nested
        tree ``/innovations``, and the design and configuration as JSON in the root's
        ``sbp_bayes_dynamic`` attribute."""
        data, data_meta = _data_group(self)
        innovations = self.innovations
        meta = {
            "kind": "dynamic",
            "version": self.config.get("version", package_version()),
            "target": self.target,
            "design": self.design.to_config(),
            "config": self.config,
            "innovations": None if innovations is None else type(innovations).__name__,
            **data_meta,
        }
        groups = {"/": xr.Dataset(attrs=own_attrs(self.idata.attrs))}
        groups.update(self._idata_groups(include_derived))
        groups[f"/{_DATA_GROUP}"] = data
        if innovations is not None:
            inner = innovations.to_datatree(include_derived=include_derived)
            groups.update(subtree_groups(inner, f"/{_INNOVATIONS_GROUP}"))
        return with_metadata(xr.DataTree.from_dict(groups), "dynamic", meta)

    @classmethod
    def from_datatree(cls, tree: xr.DataTree) -> DynamicFit:
        """The fit stored by :meth:`to_datatree` (a file's root or a nested group)."""
        meta = read_meta(tree, "dynamic")
        skip = (_DATA_GROUP, _INNOVATIONS_GROUP)
        idata = xr.DataTree.from_dict(
            {f"/{name}": child.to_dataset() for name, child in tree.children.items() if name not in skip}
        )
        idata.attrs = own_attrs(tree.attrs)
        stored = tree[_DATA_GROUP].to_dataset()
        raw_index = stored["index"].values
        if meta["index_kind"] == "range":
            index = pd.RangeIndex(raw_index.size, name=meta["index_name"])
        elif meta["index_kind"] == "values":  # as saved (netCDF may change a datetime's unit)
            index = pd.Index(raw_index, name=meta["index_name"]).astype(meta["index_dtype"])
        else:
            index = pd.Index(raw_index, name=meta["index_name"])
        data = pd.DataFrame(stored["values"].values, index=index, columns=meta["columns"])
        data.attrs.update(meta.get("data_attrs", {}))
        config = dict(meta["config"])
        config.setdefault("version", meta.get("version"))
        fit = cls(idata, DynamicDesign.from_config(meta["design"]), data, meta["target"], config)
        if meta.get("innovations") is not None:
            fit.innovations = from_tree(tree[_INNOVATIONS_GROUP], where="the innovations group")
        return fit

    def forecast(self, horizon: int, *, n_paths: int = 1000, random_seed=None) -> np.ndarray:
        """Sample paths ``horizon`` steps past the end of the data (shape
        ``(n_paths, horizon)``): each path follows one posterior draw and feeds its own
        simulated values back as lags, so column ``h`` is a sample of the
        ``h + 1``-step-ahead predictive distribution."""
        if self.design.covariates:
            raise ValueError(
                "Forecasting with covariates needs their future values: use predictive(new_data)."
            )
        rng = np.random.default_rng(random_seed)
        values, time, _ = self._history()
        lags = self.design.lags
        step = float(np.median(np.diff(time))) if time.size > 1 else 1.0
        post = self.idata["posterior"]
        draw_index = rng.integers(post.sizes["chain"] * post.sizes["draw"], size=n_paths)
        history = np.tile(values[-lags:] if lags else values[:0], (n_paths, 1))
        paths = np.empty((n_paths, horizon))
        for h in range(horizon):
            t = time[-1] + step * (h + 1)
            raw = []
            if lags:
                raw.append(history[:, ::-1][:, :lags])  # lag_1 is the latest value
            if self.design.seasonal_period is not None:
                for k in range(1, self.design.harmonics + 1):
                    angle = 2 * np.pi * k * t / self.design.seasonal_period
                    raw.append(np.tile([np.sin(angle), np.cos(angle)], (n_paths, 1)))
            raw_z = np.hstack(raw) if raw else np.zeros((n_paths, 0))
            z = (raw_z - self.design.feature_centre) / self.design.feature_scale
            dist = self._distribution(z, np.full(n_paths, t), 1, draw_index=draw_index)
            sample = dist.rvs(random_state=rng)
            paths[:, h] = sample
            history = np.concatenate([history, sample[:, None]], axis=1)
        return paths


# ----------------------------------------------------------------------------- save, load

_DATA_GROUP = "dynamic_data"
_INNOVATIONS_GROUP = "innovations"


def _data_group(fit: DynamicFit) -> tuple[xr.Dataset, dict]:
    """The columns the fit reads (target and covariates) as a (step, column) array, and
    what is needed to rebuild the frame: column names, index kind and name."""
    columns = list(dict.fromkeys([fit.target, *fit.design.covariates]))
    frame = fit.data[columns]
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        kind, stored = "range", np.arange(len(index))
    elif index.dtype.kind in "iuf" or (isinstance(index, pd.DatetimeIndex) and index.tz is None):
        kind, stored = "values", index.to_numpy()
    else:  # text, dates with a time zone, ...: the model counts steps 0, 1, 2, ... for these
        kind, stored = "text", index.astype(str).to_numpy(dtype=str)
    dataset = xr.Dataset(
        {"values": (("step", "column"), frame.to_numpy(dtype=float)), "index": ("step", stored)}
    )
    attrs = {k: v for k, v in fit.data.attrs.items() if isinstance(v, str | int | float)}
    meta = {"columns": columns, "index_kind": kind, "index_dtype": str(index.dtype), "index_name": index.name}
    return dataset, {**meta, "data_attrs": attrs}


def load_dynamic(path) -> DynamicFit:
    """Read a fit written by :meth:`DynamicFit.save`: :func:`sbp_bayes.load` insisting on a
    dynamic fit.

    Examples
    --------
    >>> from sbp_bayes.dynamic import load_dynamic
    >>> fit = load_dynamic("results/paper_synthetic/fit.nc")  # doctest: +SKIP
    """
    return load(path, kind="dynamic")


def load_fit(path):
    """Read a saved fit of any kind: :func:`sbp_bayes.load` under its former name.

    Examples
    --------
    >>> from importlib.resources import as_file, files
    >>> from sbp_bayes.dynamic import load_fit
    >>> with as_file(files("sbp_bayes.datasets") / "danish_fit.nc") as path:
    ...     type(load_fit(path)).__name__
    'SBPFit'
    """
    return load(path)


# ----------------------------------------------------------------------------- fit


def fit_dynamic(
    data,
    *,
    family: str = "sbp",
    target: str | None = None,
    covariates: Sequence[str] = (),
    lags: int = 0,
    seasonal_period: float | None = None,
    harmonics: int = 1,
    tails: str = "both",
    bins: int = 30,
    tail_share: float = 0.05,
    tail_block_size: int | None = None,
    body: str = "location_scale",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: str = "nutpie",
    progressbar: bool = True,
) -> DynamicFit:
    """Fit a non-stationary SBP (or a baseline) whose distribution changes with the
    series' past, seasonality and covariates (see the module docstring).

    Parameters
    ----------
    data : pandas.Series, array_like, or pandas.DataFrame
        The series (index = time if numeric), or a DataFrame with ``target`` and the
        ``covariates`` columns.
    family : {"sbp", "binned", "normal", "student_t"}
    lags, seasonal_period, harmonics, covariates
        The features: autoregressive lags, Fourier terms of a known period, columns.
    tails, bins, tail_share
        SBP tails; ``bins`` equal bins between the fixed thresholds, which leave
        ``tail_share`` of the training data in each tail (``binned``: ``bins`` over the
        whole range). The location-scale SBP with constant tail shapes has no fixed
        thresholds: its innovations are a static SBP (:func:`sbp_bayes.fit`) with a prior
        over candidate thresholds and ``bins`` body bins between the innermost ones.
    tail_block_size : int, optional
        If given, the GPD shapes follow a random walk over blocks of this many steps;
        otherwise they are constant.
    body : {"location_scale", "logit"}
        How the features act (``family`` "sbp" or "binned").

        ``"location_scale"`` (default) — conditional EVT in two stages (McNeil & Frey
        2000): a Student-t regression of the location ``z_t · β + β_0`` and log scale
        ``z_t · γ + γ_0`` (stage 1), then an SBP (threshold prior included; tail shapes
        over time blocks if ``tail_block_size``) for the standardised residuals at the
        posterior-median location and scale (stage 2). The predictive pairs the two
        stages' draws, so both carry their parameter uncertainty; what is left out is the
        feedback of stage 1's uncertainty onto the residuals (small when the location
        and scale are estimated from thousands of points).

        ``"logit"`` — one joint model: the features act on every bin's probability
        (multinomial logit) and on the tails; any change of shape, but a location shift
        larger than the body's width needs many features to describe.

    Returns
    -------
    DynamicFit
    """
    from sbp_bayes.sampling import check_sampler, check_sampler_settings, sample

    check_sampler(sampler)
    check_sampler_settings(draws, tune, chains)  # before any compiling
    values, time, frame = _series_and_frame(data, target)
    target = target if target is not None else frame.columns[0]
    design = _make_design(
        values,
        time,
        frame,
        family=family,
        lags=lags,
        seasonal_period=seasonal_period,
        harmonics=harmonics,
        covariates=covariates,
        tails=tails,
        bins=bins,
        tail_share=tail_share,
        tail_block_size=tail_block_size,
        body=body,
    )
    z = _features(design, values, time, frame)[lags:]
    x = values[lags:]
    position = time[lags:] - time[lags]
    block = (
        (position // tail_block_size).astype(int)
        if tail_block_size is not None
        else np.zeros(x.size, dtype=int)
    )
    two_stage = family in ("sbp", "binned") and body == "location_scale"
    if family in ("sbp", "binned") and not two_stage:
        model = _build_sbp_model(design, x, z, block)
    else:
        # Normal / Student-t regressions, or stage 1 of the location-scale SBP (Student-t).
        model = _build_location_scale_model(design, x, z, student=family != "normal")
    seeds = np.random.SeedSequence(random_seed).spawn(2)
    seed = int(seeds[0].generate_state(1)[0])
    idata = sample(model, sampler, draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar)
    config = {
        "family": family,
        "target": target,
        "body": body,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "sampler": sampler,
        "random_seed": random_seed,
        "tails": design.tails,
        "bins": bins,
        "tail_share": tail_share,
        "time_start": float(time[lags]),
        "version": package_version(),
    }
    result = DynamicFit(idata, design, frame, target, config)
    if two_stage:
        # Stage 2: the innovations, standardised at the posterior-median location and scale.
        stage1 = DynamicFit(idata, replace(design, family="student_t"), frame, target, config)
        fitted = stage1._distribution(z, time[lags:], 1)
        location = np.median(fitted.mu, axis=0)
        scale = np.median(fitted.sigma, axis=0)
        residuals = pd.Series((x - location) / scale, index=time[lags:], name="innovation")
        stage2_seed = int(seeds[1].generate_state(1)[0])
        common = {
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "sampler": sampler,
            "progressbar": progressbar,
        }
        if tail_block_size is None:
            from sbp_bayes.fit import fit as fit_static

            result.innovations = fit_static(
                residuals,
                family=family,
                tails=tails if family == "sbp" else None,
                bins=bins,
                random_seed=stage2_seed,
                log_likelihood=False,
                **common,
            )
        else:
            result.innovations = fit_dynamic(
                residuals,
                family=family,
                body="logit",
                tails=tails,
                bins=bins,
                tail_share=tail_share,
                tail_block_size=tail_block_size,
                random_seed=stage2_seed,
                **common,
            )
    return result
