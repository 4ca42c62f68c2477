"""Model comparison: PSIS-LOO with honest uncertainty, and held-out calibration.

:func:`compare` takes fitted models of the *same data* (a dict name -> fit, any
family) and returns one table, best first:

* out-of-sample predictive accuracy by PSIS-LOO (ArviZ): ``elpd_loo``, its standard
  error ``se``, the effective number of parameters ``p_loo``, the difference to the best
  model ``elpd_diff`` with its standard error ``dse`` (paired over observations, so it
  is much smaller than the ``se`` of either model), ``diff_in_se = elpd_diff / dse`` and
  stacking ``weight``;
* the PSIS diagnostic: ``pareto_k_bad`` observations with Pareto k above 0.7, whose
  LOO terms are unreliable (a warning names the models);
* with ``test_data`` (a held-out split): the log score ``test_elpd`` (sum of log
  predictive densities), the mean ``test_crps`` and the paper's PP-plot MAE by region
  (``pp_mae_lower_tail``, ``pp_mae_base``, ``pp_mae_upper_tail``, ``pp_mae_full``;
  :func:`sbp_bayes.pp_mae`), each from the posterior predictive (the mixture over draws).

LOO needs every model's log-likelihood to cover the same observations on the same
scale. A peaks-over-threshold fit models only its exceedances, and a model of
transformed data (e.g. logs) lives on another scale: :func:`compare` refuses such a
mix with a message that says what differs; ``loo=False`` still compares them on
held-out data.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sbp_bayes.calibration import crps, pp_mae

__all__ = ["ComparisonError", "compare", "predictive_scores"]

GOOD_K = 0.7


class ComparisonError(ValueError):
    """The models cannot be compared as asked; the message says why."""


def _observations(fit) -> tuple[np.ndarray, np.ndarray, str]:
    mask = fit.log_likelihood_scope()
    return fit.data.to_numpy()[mask], np.asarray(fit._obs_id())[mask], fit._scope_description()


def _check_comparable(fits: Mapping) -> None:
    names = list(fits)
    reference_name = names[0]
    ref_values, ref_ids, ref_scope = _observations(fits[reference_name])
    for name in names[1:]:
        values, ids, scope = _observations(fits[name])
        if scope != ref_scope:
            raise ComparisonError(
                f"Only models of the same data on the same scale can be compared by LOO: {name!r} "
                f"({fits[name].family}) has a log-likelihood over {scope}, {reference_name!r} over "
                f"{ref_scope}. Compare a peaks-over-threshold fit only with others at the same threshold, "
                "or pass loo=False and test_data to compare them on held-out data."
            )
        if values.shape != ref_values.shape or not np.array_equal(values, ref_values):
            raise ComparisonError(
                f"Only models of the same data can be compared: {name!r} was fitted to {values.size} values "
                f"and {reference_name!r} to {ref_values.size}"
                + ("" if values.shape != ref_values.shape else " (same count, different values)")
                + ". Fit every model to the same data (and the same scale: no transformed copies)."
            )
        if not np.array_equal(ids, ref_ids):
            raise ComparisonError(
                f"{name!r} and {reference_name!r} hold the same values under different observation ids; "
                "fit them from the same Series."
            )


def predictive_scores(fit, test_data, *, n_crps_draws: int = 4000, random_seed=None) -> pd.Series:
    """Held-out scores of a fit's posterior predictive on ``test_data``.

    ``test_elpd`` is the sum over test points of ``log mean_s f_s(y)``; ``test_crps`` the
    mean CRPS, estimated from ``n_crps_draws`` predictive draws (one value from each of
    that many posterior draws); the PP-MAE by region uses the predictive CDF
    ``mean_s F_s(y)`` (:func:`sbp_bayes.pp_mae`).
    """
    y = np.asarray(test_data, dtype=float)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise ValueError("test_data must be a non-empty 1-D array of finite numbers.")
    predictive = fit.predictive(y)  # the contract's (draws, observations) predictive
    test_elpd = float(np.sum(predictive.log_density(y)))
    mae = pp_mae(y, cdf_fn=predictive.mixture_cdf)
    dist = fit.distribution()
    n_draws = dist.batch_shape[0]
    rng = np.random.default_rng(random_seed)
    chosen = rng.integers(n_draws, size=n_crps_draws)
    draws = dist[chosen].rvs(random_state=rng)
    scores = crps(y, draws=np.broadcast_to(draws, (y.size, draws.size)))
    return pd.Series(
        {
            "test_elpd": test_elpd,
            "test_crps": float(np.mean(scores)),
            **{f"pp_mae_{region}": float(value) for region, value in mae.items()},
        }
    )


def compare(
    fits: Mapping,
    *,
    test_data=None,
    loo: bool = True,
    method: str = "stacking",
    random_seed=None,
) -> pd.DataFrame:
    """Compare fitted models of the same data; one row per model, best first.

    Parameters
    ----------
    fits : dict of str -> SBPFit
        The models, any family, all fitted to the same data.
    test_data : array_like, optional
        Held-out observations: adds the log score, CRPS and PP-MAE by region.
    loo : bool
        Compute PSIS-LOO (needs comparable log-likelihoods; see the module docstring).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ArviZ weighs the models.

    Returns
    -------
    pandas.DataFrame
        Indexed by model name (``model``), best first (by ``elpd_loo``, or by
        ``test_elpd`` when ``loo=False``). Columns described in the module docstring, plus
        ``family`` and ``n_observations``.

    Examples
    --------
    >>> table = compare({"sbp": sbp_fit, "normal": normal_fit})  # doctest: +SKIP
    >>> table[["elpd_loo", "se", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP
    """
    import arviz as az

    if len(fits) < 2:
        raise ComparisonError("compare() needs at least two fitted models (a dict name -> fit).")
    if not loo and test_data is None:
        raise ComparisonError("With loo=False there is nothing to compare on: pass test_data.")
    rows = {
        name: {"family": fit.family, "n_observations": int(fit.log_likelihood_scope().sum())}
        for name, fit in fits.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    if loo:
        _check_comparable(fits)
        results = {}
        bad_k = {}
        for name, fit in fits.items():
            if "log_likelihood" not in fit.idata.children:
                fit.compute_log_likelihood()
            with warnings.catch_warnings():
                # Reported below, per model, instead of one anonymous warning per model.
                warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
                results[name] = az.loo(fit.idata, pointwise=True)
            k = np.asarray(results[name].pareto_k)
            bad_k[name] = int(np.sum(k > GOOD_K))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
            ranked = az.compare(results, method=method, round_to="none")
        loo_table = pd.DataFrame(
            {
                "elpd_loo": ranked["elpd"].astype(float),
                "se": ranked["se"].astype(float),
                "p_loo": ranked["p"].astype(float),
                "elpd_diff": ranked["elpd_diff"].astype(float),
                "dse": ranked["dse"].astype(float),
                "weight": ranked["weight"].astype(float),
            }
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = loo_table["elpd_diff"] / loo_table["dse"]
            loo_table["diff_in_se"] = np.where(loo_table["dse"] > 0, ratio, 0.0)
        loo_table["pareto_k_bad"] = pd.Series(bad_k)
        table = loo_table.join(table)
        flagged = {name: count for name, count in bad_k.items() if count}
        if flagged:
            listing = ", ".join(f"{name} ({count})" for name, count in flagged.items())
            warnings.warn(
                f"PSIS-LOO is unreliable for some observations (Pareto k > {GOOD_K}): {listing}. Their "
                "elpd terms may be biased; check those observations or refit without them (exact LOO).",
                UserWarning,
                stacklevel=2,
            )
    if test_data is not None:
        scores = pd.DataFrame(
            {name: predictive_scores(fit, test_data, random_seed=random_seed) for name, fit in fits.items()}
        ).T
        table = table.join(scores)
        if not loo:
            table = table.sort_values("test_elpd", ascending=False)
    table.index.name = "model"
    return table
