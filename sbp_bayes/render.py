"""Write the report of a fit: ``report.md``, a plain ``report.html`` twin, every table as
CSV under ``tables/`` and every figure as PNG under ``figures/``.

The report is what a reviewer reads: the study, the data, the model and its priors, the
diagnostics verdict, the posterior summary, the tail answers asked for in the spec's
``[report]`` section, the figures, and the commands that reproduce it. A table or figure
that cannot be made does not stop the report: it says which one failed and why. The
document, the number format and the sections every report shares are in
:mod:`sbp_bayes.reporting`.

Examples
--------
>>> format_number(0.000012345), format_number(3.14159), format_number(0.99), format_number(2500.4)
('1.23e-05', '3.142', '0.99', '2500')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sbp_bayes.reporting import (
    Document,
    diagnostics_section,
    finish_report,
    format_number,
    number_list,
    start_report,
)
from sbp_bayes.reporting import quick_look_notice as quick_look_notice

__all__ = ["write_report"]


# ----------------------------------------------------------------------------- the report


def _answers():
    from sbp_bayes import report

    return report


def _settings(fit, spec):
    """Report settings from the spec, or defaults when there is none."""
    from sbp_bayes.spec import ReportSpec

    report = spec.report if spec is not None else ReportSpec()
    sides = [side for side in ("lower", "upper") if f"{side}_xi" in fit.idata["posterior"]]
    if spec is not None:
        tail = spec.report_tail()
    else:
        tail = "upper" if "upper" in sides or not sides else "lower"
    if spec is not None:
        per_period = spec.observations_per_period(fit.data)
    else:
        per_period = fit.data.attrs.get("observations_per_year")
    return report, sides, tail, per_period


def _rate_line(data, per_period) -> str | None:
    """Observations per year and where the number comes from (the dates, or given)."""
    if not per_period:
        return None
    line = f"Observations per year: {float(per_period):.6g} (return periods are in years)"
    attrs = data.attrs
    if attrs.get("observations_per_year_source") == "dates" and float(per_period) == float(
        attrs.get("observations_per_year", float("nan"))
    ):
        line += (
            f", inferred from the dates: {len(data)} observations from {attrs.get('record_start')} to "
            f"{attrs.get('record_end')}, a span of {float(attrs['record_span_years']):.4g} years "
            "(gaps included), divided into the number of observations"
        )
    return line


def _extremal_index_section(doc: Document, fit, option, tail: str, ci_prob: float):
    """The ``[report] extremal_index`` table; returns what the return levels should use."""
    if option is None:
        return None
    if isinstance(option, str):
        try:
            estimate = fit.extremal_index(method=option, tail=tail, ci_prob=ci_prob)
        except ValueError as error:
            doc.heading(3, "Extremal index")
            doc.problem("Table 'Extremal index'", error)
            return None
        doc.table("extremal_index", "Extremal index", estimate.to_frame)
        doc.paragraph(
            "Extremes cluster: the maximum of n observations behaves like that of n θ independent ones, "
            f"P(max ≤ z) ≈ F(z)^(n θ). θ was estimated by the {option} method from the "
            f"{estimate.n_exceedances} exceedances of {format_number(estimate.threshold)} (the fit's {tail} "
            "threshold); the return levels below are levels exceeded by one cluster on average once "
            "per period, and their intervals carry the uncertainty of θ."
        )
        return estimate
    doc.paragraph(
        f"Extremal index fixed at θ = {format_number(float(option))} by the spec: return levels are "
        "exceeded by one cluster on average once per period, P(max of n ≤ z) ≈ F(z)^(n θ)."
    )
    return float(option)


def write_report(fit, spec=None, out_dir=".", *, command: str | None = None, on_problem=None) -> Path:
    """Write ``report.md`` and ``report.html`` for a fit into ``out_dir``.

    Parameters
    ----------
    fit : SBPFit
        The fitted model (e.g. from :func:`sbp_bayes.load`).
    spec : Spec or None
        The model spec it was fitted from: study name, data source and the ``[report]``
        settings (return periods, exceedance values, levels, interval). ``None`` uses the
        defaults of :class:`sbp_bayes.spec.ReportSpec`.
    out_dir : str or Path
        Folder for ``report.md``, ``report.html``, ``tables/*.csv`` (full precision) and
        ``figures/*.png``. CSV and PNG files left there by an earlier report are removed
        first, so the folder holds exactly what the report links to.
    command : str, optional
        The command line that made the fit, quoted in the report.
    on_problem : callable, optional
        Called with a one-line message for each table or figure that could not be made
        (the report itself names them too).

    Returns
    -------
    Path
        The path of ``report.md``.

    Examples
    --------
    >>> import tempfile
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_report(fit, None, folder)
    ...     text = path.read_text(encoding="utf-8")
    ...     sorted(p.name for p in (path.parent / "tables").iterdir())[:3]
    ['diagnostics.csv', 'expected_shortfall.csv', 'priors.csv']
    >>> text.splitlines()[0], "### Return levels (periods in years, 197 observations a year)" in text
    ('# loss', True)
    """
    report, sides, tail, per_period = _settings(fit, spec)
    ci = f"{report.ci_prob:.0%} {'equal-tailed' if report.ci_kind == 'eti' else 'highest-density'} intervals"
    title = spec.study.name if spec is not None else str(fit.data.name or "sbp_bayes fit")
    doc, status_index = start_report(
        out_dir, title, fit, spec, command=command, fit_version=fit.version, on_problem=on_problem
    )

    # -- data
    data = fit.data
    units = data.attrs.get("units") or (spec.data.units if spec is not None else None)
    in_units = f" {units}" if units else ""
    doc.heading(2, "Data")
    n_omitted = int(fit.config.get("n_omitted", 0) or 0)
    doc.bullets(
        [
            f"Source: {spec.data.describe()}" if spec is not None else None,
            f"Description: {data.attrs['description']}" if data.attrs.get("description") else None,
            f"{len(data)} observations" + (f" ({n_omitted} NaN omitted)" if n_omitted else ""),
            f"Range: {format_number(float(data.min()))} to {format_number(float(data.max()))}{in_units}; "
            f"median {format_number(float(data.median()))}, mean {format_number(float(data.mean()))}",
            f"Units: {units}" if units else "Units: not given",
            _rate_line(data, per_period),
            f"Declustered before the fit: {data.attrs['declustered']} (the tail describes cluster maxima)"
            if data.attrs.get("declustered")
            else None,
        ]
    )

    # -- model
    design = fit.design
    config = fit.config
    doc.heading(2, "Model")
    if fit.family == "sbp":
        model_items = [
            "Family: sbp (spliced binned-Pareto)",
            f"Tails: {fit.tails}; {design.n_bins} bins in all ({config.get('bins')} body bins between the "
            "innermost candidate thresholds)",
        ]
    else:  # a baseline family (sbp_bayes.families): its own description, no candidate grid
        from sbp_bayes.families import get_family

        model_items = [
            f"Family: {fit.family} ({get_family(fit.family).description})",
            f"Tails: {fit.tails}" + (f"; {design.n_bins} bins in all" if design is not None else ""),
        ]
    for side in sides:
        if fit.family != "sbp":
            thresholds = np.unique(fit.idata["posterior"][f"{side}_threshold"].values)
        else:
            thresholds = design.upper_thresholds if side == "upper" else design.lower_thresholds
        if thresholds.size == 1:
            model_items.append(
                f"{side.capitalize()} threshold fixed at {format_number(float(thresholds[0]))}"
            )
        else:
            weights = config.get("threshold_priors", {}).get(side, "uniform")
            shown = weights if isinstance(weights, str) else number_list(weights)
            model_items.append(
                f"{side.capitalize()} threshold: prior over {thresholds.size} candidates "
                f"({number_list(thresholds)}); weights: {shown}"
            )
    if config.get("cluster_adjustment"):
        table = fit.idata["threshold_weights"]
        shown = "; ".join(
            f"{side} tail " + ", ".join(format_number(v) for v in table[f"{side}_likelihood_weight"].values)
            for side in sides
            if f"{side}_likelihood_weight" in table
        )
        model_items.append(
            f"Tail likelihood adjusted for clusters of extremes ({config['cluster_adjustment']}): each "
            f"candidate's GPD log-likelihood weighted by {shown} (1 = independent exceedances), "
            "candidates weighed by leave-one-cluster-out scores"
        )
    model_items.append(
        f"Sampler: {config.get('sampler')}, {config.get('chains')} chains x {config.get('draws')} draws "
        f"after {config.get('tune')} tuning steps, random seed {config.get('random_seed')}"
    )
    doc.bullets(model_items)
    priors = config.get("priors", {})
    if priors:
        doc.table(
            "priors",
            "Priors",
            lambda: pd.DataFrame(
                [
                    {
                        "parameter": name,
                        "distribution": prior.get("dist"),
                        "parameters": ", ".join(f"{k} = {v}" for k, v in prior.items() if k != "dist"),
                    }
                    for name, prior in priors.items()
                ]
            ).set_index("parameter"),
        )
        if fit.family == "sbp":
            doc.paragraph(
                "`*_sigma` is the GPD scale at the innermost candidate threshold; `bin_probs` are the "
                "body's bin probabilities (integrated out during sampling and drawn exactly afterwards)."
            )

    # -- diagnostics
    verdict, _diagnostics = diagnostics_section(doc, fit)

    # -- posterior summary
    doc.table(
        "summary",
        f"Posterior summary ({report.ci_prob:.0%} equal-tailed intervals)",
        lambda: fit.summary(ci_prob=report.ci_prob).rename_axis("parameter"),
        level=2,
    )

    # -- tail answers
    doc.heading(2, f"Tail answers ({tail} tail)")
    doc.paragraph(
        f"Posterior medians with {ci}; every draw carries its own threshold, so the intervals include "
        "the threshold uncertainty."
    )
    options = {"ci_prob": report.ci_prob, "ci_kind": report.ci_kind}
    theta = _extremal_index_section(doc, fit, getattr(report, "extremal_index", None), tail, report.ci_prob)
    clustered = {} if theta is None else {"extremal_index": theta}
    if report.return_periods:
        if per_period:
            from sbp_bayes.plots import return_period_unit

            # The same words as the figure's axis (years only when the rate is per year).
            period_name = return_period_unit(fit, per_period)[1]
            doc.table(
                "return_levels",
                (
                    f"Return levels (periods in years, {float(per_period):g} observations a year"
                    + (", with the extremal index above)" if theta is not None else ")")
                )
                if period_name == "years"
                else f"Return levels (return period in {period_name})",
                lambda: fit.return_levels(
                    list(report.return_periods), per_period, tail=tail, **options, **clustered
                ),
            )
        else:
            doc.heading(3, "Return levels")
            doc.problem(
                "Table 'Return levels'",
                "the number of observations per period is unknown; set [report] observations_per_period "
                "or [data] observations_per_year in the spec",
            )
    if report.exceedance:
        doc.table(
            "exceedance_probability",
            f"Exceedance probabilities ({'P(X > x)' if tail == 'upper' else 'P(X < x)'})",
            lambda: _answers().exceedance_probability(
                fit,
                list(report.exceedance),
                tail=tail,
                observations_per_period=per_period,
                **options,
                **(clustered if per_period else {}),
            ),
        )
    if report.quantiles:
        doc.table("quantiles", "Quantiles", lambda: fit.tail_quantiles(list(report.quantiles), **options))
    if report.var_levels:
        doc.table(
            "value_at_risk",
            "Value at risk",
            lambda: fit.value_at_risk(list(report.var_levels), tail=tail, **options),
        )
    if report.es_levels:
        doc.table(
            "expected_shortfall",
            "Expected shortfall",
            lambda: fit.expected_shortfall(list(report.es_levels), tail=tail, **options),
        )
    fixed = all(fit._threshold_is_fixed(side) for side in sides)
    threshold_warnings = []
    if sides and not fixed:
        try:
            weights = fit.threshold_weights()
            threshold_warnings = list(weights.attrs.get("warnings", []))
        except Exception:  # the table below reports the failure
            weights = None
        kind = weights.attrs.get("weights", "posterior") if weights is not None else "posterior"
        doc.table(
            "threshold_weights",
            f"Threshold weights ({kind})",
            (lambda: weights) if weights is not None else fit.threshold_weights,
        )
        if kind == "cross-validation":
            doc.paragraph(
                "Each candidate threshold's GPD is fitted on its own exceedances; the weights are "
                "proportional to exp(cv_score), the exact leave-one-out log predictive of every "
                "observation relative to the outermost candidate. The answers above average over "
                "the candidates with these weights."
            )
        for text in threshold_warnings:
            doc.paragraph(f"**Warning:** {text}")
    if sides:  # families without GPD tails (normal, student_t, binned) have no tail shape
        doc.table("tail_shape", "Tail shape ξ", lambda: fit.tail_shape_posterior(**options))
    if report.score:
        doc.table("score", "Scores of given values", lambda: fit.score(list(report.score), **options))

    # -- figures
    doc.heading(2, "Figures")
    band = {"ci_prob": report.ci_prob}
    doc.figure("density", "Density (linear scale)", lambda p: p.plot_density(fit, scale="linear", **band))
    doc.figure("density_log", "Density (log scale)", lambda p: p.plot_density(fit, scale="log", **band))
    doc.figure("qq", "QQ plot", lambda p: p.plot_qq(fit, **band))
    doc.figure("pp", "PP plot", lambda p: p.plot_pp(fit, **band))
    doc.figure(
        "return_levels",
        "Return levels",
        lambda p: p.plot_return_levels(fit, observations_per_period=per_period, tail=tail, **band),
    )
    if sides and not fixed:
        doc.figure("threshold_weights", "Threshold weights", lambda p: p.plot_threshold_posterior(fit))
    if sides:
        doc.figure("tail_shape", "Tail shape posterior", lambda p: p.plot_tail_shape(fit))
    if sides and tail in sides:  # threshold diagnostics, with the candidates and their weights
        doc.figure(
            "mean_residual_life",
            f"Mean residual life ({tail} tail)",
            lambda p: p.plot_mean_residual_life(fit, tail=tail, **band),
        )
        doc.figure(
            "parameter_stability",
            f"Parameter stability ({tail} tail)",
            lambda p: p.plot_parameter_stability(fit, tail=tail, **band),
        )
    if config.get("sampler") != "exact":  # exact conjugate draws (binned) have no chains to trace
        doc.figure("trace", "Trace plot", lambda p: p.plot_trace(fit))

    threshold_notes = [f"**Threshold warning:** {text}" for text in threshold_warnings]
    return finish_report(doc, title, status_index, verdict=verdict, warnings_=threshold_notes)
