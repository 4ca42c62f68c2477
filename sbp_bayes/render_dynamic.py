"""Write the report of a dynamic fit (:class:`sbp_bayes.dynamic.DynamicFit`): ``report.md``,
its ``report.html`` twin, every table as CSV under ``tables/`` and every figure as PNG under
``figures/`` — the layout of :mod:`sbp_bayes.render`, with the answers a time-series model
gives instead of return levels:

* the diagnostics verdict of every stage and the posterior summaries;
* the features and how they act, and the tail shape per time block (a path when the
  shapes follow a random walk over blocks);
* in-sample calibration: each observation's PIT under its one-step-ahead predictive, the
  PP-plot MAE by region (the paper's measure), CRPS and log score;
* the most unusual observations: the smallest two-sided tail probabilities
  ``2 min(F(y), 1 - F(y))`` (all of them in ``tables/scores.csv``);
* figures: the series with its one-step-ahead predictive band, the calibration (PIT
  histogram and PP plot), the tail-shape path and the traces of the worst-mixing
  parameters.

The in-sample figures judge the model on the data it was fitted to, which flatters it; a
held-out check is :meth:`DynamicFit.calibration` on data the fit has not seen.
``sbp-bayes fit`` writes this report for a spec with a ``[dynamic]`` section, and
``sbp-bayes report DIR`` re-renders it from the saved fit.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sbp_bayes.families.registry import REGISTRY
from sbp_bayes.plots import draw_thinning, modelled_time, time_name
from sbp_bayes.reporting import diagnostics_section, finish_report, format_number, number_list, start_report

__all__ = ["tail_shape_table", "write_dynamic_report"]

#: Posterior draws used for the scores and the calibration (thinned evenly above this).
MAX_SCORE_DRAWS = 1000

_FEATURE_ACTION = {
    "location_scale": "two stages (McNeil & Frey 2000): a Student-t regression of the location and log "
    "scale on the features, then a {family} model of the standardised residuals (the innovations)",
    "logit": "one model: the features act on every bin's log-probability (a multinomial logit) and on "
    "the tails' probabilities and GPD scales",
}


# ----------------------------------------------------------------------------- helpers


def _sides(fit) -> list[str]:
    design = fit.design
    if design.family != "sbp":
        return []
    return [side for side in ("lower", "upper") if design.tails in ("both", side)]


def _tail_stage(fit):
    """The stage whose posterior holds the tail shapes (the fit, or its innovations)."""
    if any(f"{side}_xi" in fit.idata["posterior"] for side in ("lower", "upper")):
        return fit
    return fit.innovations


def tail_shape_table(fit, *, ci_prob: float = 0.95) -> pd.DataFrame:
    """The tail shape ξ of each modelled tail per time block: ``side``, ``block``, its
    first step (``start``, counted from the first modelled step) and that step's time
    (``start_time``), posterior median and equal-tailed ``ci_prob`` interval.

    One block per side when the shapes are constant."""
    time = modelled_time(fit)
    rows = []
    for side in _sides(fit):
        path = fit.tail_shape_path(side, ci_prob=ci_prob).reset_index()
        path.insert(0, "side", side)
        path.insert(3, "start_time", time[np.minimum(path["start"].to_numpy(), time.size - 1)])
        rows.append(path)
    if not rows:
        raise ValueError("This fit has no GPD tail.")
    table = pd.concat(rows, ignore_index=True).set_index(["side", "block"])
    table["ci_prob"] = ci_prob
    return table


def _unusual(scores: pd.DataFrame, count: int) -> pd.DataFrame:
    ranked = scores.sort_values("tail_probability", kind="stable").head(count)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _calibration_table(fit, thin: int) -> pd.DataFrame:
    scores = fit.calibration(thin=thin, random_seed=0)
    names = {
        "pp_mae_lower_tail": "PP-MAE lower tail (q < 0.05)",
        "pp_mae_base": "PP-MAE base (0.05 < q < 0.95)",
        "pp_mae_upper_tail": "PP-MAE upper tail (q > 0.95)",
        "pp_mae_full": "PP-MAE full",
        "crps": "CRPS (mean)",
        "log_score": "log score (mean log predictive density)",
    }
    table = pd.DataFrame(
        {"measure": [names.get(key, key) for key in scores.index], "value": scores.to_numpy()},
        index=pd.Index(scores.index, name="name"),
    )
    return table


# ----------------------------------------------------------------------------- the report


def _settings(spec):
    from sbp_bayes.spec import DynamicReportSpec

    if spec is not None and isinstance(spec.report, DynamicReportSpec):
        return spec.report
    return DynamicReportSpec()


def _model_items(fit) -> list[str]:
    design, config = fit.design, fit.config
    family = design.family
    items = [f"Family: dynamic {family} ({REGISTRY[family].dynamic.description})"]
    if family in ("sbp", "binned"):
        items.append("How the features act: " + _FEATURE_ACTION[design.body].format(family=family))
    features = ", ".join(f"`{name}`" for name in design.feature_names)
    items.append(
        f"Features ({len(design.feature_names)}, each centred on its median and scaled by its IQR / 1.349): "
        + (features or "none (a stationary model)")
    )
    if design.seasonal_period is not None:
        items.append(
            f"Season: period {format_number(float(design.seasonal_period))} (in units of "
            f"`{time_name(fit)}`), {design.harmonics} Fourier pair(s)"
        )
    tail_stage = fit.innovations if design.body == "location_scale" and fit.innovations is not None else fit
    of_innovations = " of the innovations" if tail_stage is not fit else ""
    for side in _sides(fit):
        tail_design = tail_stage.design
        if hasattr(tail_design, f"{side}_thresholds"):  # a static SBP of the innovations
            candidates = np.atleast_1d(getattr(tail_design, f"{side}_thresholds"))
            if candidates.size == 1:
                text = f"fixed at {format_number(float(candidates[0]))}"
            else:
                text = f"uniform prior over {candidates.size} candidates ({number_list(candidates)})"
        else:
            share = tail_stage.config.get("tail_share")
            text = f"fixed at {format_number(float(getattr(tail_design, f'{side}_threshold')))}" + (
                f" (a share {format_number(float(share))} of the values beyond it)" if share else ""
            )
        items.append(f"{side.capitalize()} threshold{of_innovations}: {text}")
    if _sides(fit):
        size = design.tail_block_size
        items.append(
            "Tail shapes: constant over time"
            if size is None
            else f"Tail shapes: a Gaussian random walk over blocks of {size} steps "
            f"({math.ceil((design.n_train - design.lags) / size)} blocks)"
        )
    if family in ("sbp", "binned"):
        bins_stage = (
            fit.innovations if design.body == "location_scale" and fit.innovations is not None else fit
        )
        bins = bins_stage.config.get("bins")
        if bins is not None:
            items.append(
                f"Bins{' of the innovations' if bins_stage is not fit else ''}: {bins} "
                + ("body bins" if family == "sbp" else "bins")
            )
    items.append(
        f"Sampler: {config.get('sampler')}, {config.get('chains')} chains x {config.get('draws')} draws "
        f"after {config.get('tune')} tuning steps, random seed {config.get('random_seed')}"
        + (" (each stage)" if fit.innovations is not None else "")
    )
    return items


def _features_table(fit) -> pd.DataFrame:
    design = fit.design

    def kind(name: str) -> str:
        if name in design.covariates:
            return "covariate"
        if name.startswith("lag_"):
            return "lag"
        return "seasonal"

    return pd.DataFrame(
        {
            "feature": list(design.feature_names),
            "kind": [kind(name) for name in design.feature_names],
            "centre": design.feature_centre,
            "scale": design.feature_scale,
        }
    ).set_index("feature")


def write_dynamic_report(fit, spec=None, out_dir=".", *, command: str | None = None, on_problem=None) -> Path:
    """Write ``report.md`` and ``report.html`` for a dynamic fit into ``out_dir``.

    Parameters
    ----------
    fit : DynamicFit
        The fitted model (e.g. from :func:`sbp_bayes.dynamic.load_dynamic`).
    spec : Spec or None
        The dynamic model spec it was fitted from (study name, data source, ``[report]``
        ``ci_prob`` and ``unusual``); ``None`` uses the defaults of
        :class:`sbp_bayes.spec.DynamicReportSpec`.
    out_dir : str or Path
        Folder for ``report.md``, ``report.html``, ``tables/*.csv`` (full precision) and
        ``figures/*.png``; CSV and PNG files of an earlier report there are removed first.
    command : str, optional
        The command line that made the fit, quoted in the report.
    on_problem : callable, optional
        Called with a one-line message for each table or figure that could not be made.

    Returns
    -------
    Path
        The path of ``report.md``.
    """
    settings = _settings(spec)
    title = spec.study.name if spec is not None else str(fit.target)
    design = fit.design
    version = fit.config.get("version", "unknown")
    doc, status_index = start_report(
        out_dir, title, fit, spec, command=command, fit_version=version, on_problem=on_problem
    )
    out_dir = doc.out_dir

    # -- data
    data = fit.data
    values = data[fit.target].to_numpy(dtype=float)
    units = data.attrs.get("units") or (spec.data.units if spec is not None else None)
    in_units = f" {units}" if units else ""
    index = data.index
    doc.heading(2, "Data")
    doc.bullets(
        [
            f"Source: {spec.data.describe()}" if spec is not None else None,
            f"{len(data)} observations of `{fit.target}`"
            + (
                f"; the first {design.lags} only give the first lags, "
                f"so {len(data) - design.lags} are modelled"
                if design.lags
                else ""
            ),
            f"Time: `{time_name(fit)}` from {index[0]} to {index[-1]}"
            if index.dtype.kind in "iufM" and len(index)
            else "Time: the row order (steps 0, 1, 2, ...)",
            f"Range: {format_number(float(values.min()))} to {format_number(float(values.max()))}{in_units}; "
            f"median {format_number(float(np.median(values)))}",
            "Covariates: " + (", ".join(f"`{name}`" for name in design.covariates) or "none"),
            f"Units: {units}" if units else "Units: not given",
        ]
    )

    # -- model
    doc.heading(2, "Model")
    doc.bullets(_model_items(fit))
    if design.feature_names:
        doc.table("features", "Features", lambda: _features_table(fit))

    # -- diagnostics
    scope = " in both stages" if fit.innovations is not None else ""
    verdict, diagnostics = diagnostics_section(doc, fit, scope=scope)

    # -- posterior summary
    ci = settings.ci_prob
    stage_one = "stage 1: location and scale" if fit.innovations is not None else "all parameters"
    doc.table(
        "summary",
        f"Posterior summary, {stage_one} ({ci:.0%} equal-tailed intervals)",
        lambda: fit.summary(ci_prob=ci).rename_axis("parameter"),
        level=2,
    )
    if fit.innovations is not None:
        doc.table(
            "innovation_summary",
            f"Posterior summary, stage 2: the innovations ({ci:.0%} equal-tailed intervals)",
            lambda: fit.innovations.summary(ci_prob=ci).rename_axis("parameter"),
            level=2,
        )

    # -- tails
    shape_table = None
    if _sides(fit):
        blocks = design.tail_block_size
        doc.heading(2, "Tail shape over time" if blocks else "Tail shape")
        doc.paragraph(
            (
                f"The GPD shape ξ of each tail per block of {blocks} steps (a Gaussian random walk "
                "from block to block): posterior median and "
                if blocks
                else "The GPD shape ξ of each tail, constant over time: posterior median and "
            )
            + f"{ci:.0%} equal-tailed interval. `start` counts steps from the first modelled one; "
            f"`start_time` is its `{time_name(fit)}`."
        )

        def make_shape_table():
            nonlocal shape_table
            shape_table = tail_shape_table(fit, ci_prob=ci)
            return shape_table

        doc.table("tail_shape", "Tail shape ξ", make_shape_table)

    # -- calibration and scores
    thin = draw_thinning(fit, MAX_SCORE_DRAWS)
    post = fit.idata["posterior"]
    n_used = math.ceil(post.sizes["chain"] * post.sizes["draw"] / thin)
    doc.heading(2, "Calibration (in-sample)")
    doc.paragraph(
        "Each observation's PIT is its one-step-ahead posterior predictive CDF at the observed value "
        f"({n_used} posterior draws); a calibrated model gives uniform PITs. The PP-plot MAE is "
        "`mean |y_q - q|` over the paper's 129 levels q of each region, where `y_q` is the fraction of "
        "observations below their predictive q-quantile. These are in-sample: the model was fitted to "
        "the same data, so they flatter it; score held-out data with `DynamicFit.calibration`."
    )
    doc.table(
        "calibration", "PP-plot MAE by region, CRPS and log score", lambda: _calibration_table(fit, thin)
    )
    scores = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in far tails of unused draws
            scores = fit.score(ci_prob=ci, thin=thin)
        scores_path = out_dir / "tables" / "scores.csv"
        scores_path.parent.mkdir(parents=True, exist_ok=True)
        scores.rename_axis(time_name(fit)).to_csv(scores_path)
    except Exception as error:  # a report with a gap beats no report
        doc.problem("The scores", error)
    unusual = None
    if scores is not None and settings.unusual > 0:
        doc.heading(2, "Most unusual observations")
        doc.paragraph(
            f"The {min(settings.unusual, len(scores))} observations with the smallest two-sided tail "
            "probability `2 min(F(y), 1 - F(y))` under their one-step-ahead predictive `F` (`pit` = `F(y)`, "
            f"with its {ci:.0%} credible interval `ci_lower`-`ci_upper` over the posterior draws). Every "
            "observation's score is in [tables/scores.csv](tables/scores.csv)."
        )
        unusual = _unusual(scores, settings.unusual)
        doc.table(
            "unusual",
            f"Scores of the {len(unusual)} most unusual observations",
            lambda: unusual.rename_axis(time_name(fit)),
        )

    # -- figures
    doc.heading(2, "Figures")
    if scores is not None:
        shown = unusual if unusual is not None else scores.iloc[:0]
        doc.figure(
            "series",
            "Series and one-step-ahead predictive",
            lambda p: p.plot_series(fit, scores, shown, ci_prob=ci, title=title),
        )
        doc.figure(
            "calibration",
            "Calibration: PIT histogram and PP plot",
            lambda p: p.plot_calibration(scores, title=title),
        )
    if shape_table is not None and shape_table.index.get_level_values("block").max() > 0:
        doc.figure(
            "tail_shape",
            "Tail shape per time block",
            lambda p: p.plot_tail_shape_path(
                shape_table, end_time=float(modelled_time(fit)[-1]), time_name=time_name(fit), title=title
            ),
        )
    if diagnostics is not None and len(diagnostics.table):
        doc.figure(
            "trace", "Trace plot (largest R-hat)", lambda p: p.plot_traces(fit, diagnostics, title=title)
        )

    return finish_report(doc, title, status_index, verdict=verdict)
