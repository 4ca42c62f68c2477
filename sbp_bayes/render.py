"""Write the report of a fit: ``report.md``, a plain ``report.html`` twin, every table as
CSV under ``tables/`` and every figure as PNG under ``figures/``.

The report is what a reviewer reads: the study, the data, the model and its priors, the
diagnostics verdict, the posterior summary, the tail answers asked for in the spec's
``[report]`` section, the figures, and the commands that reproduce it. A table or figure
that cannot be made does not stop the report: it says which one failed and why.

Examples
--------
>>> format_number(0.000012345), format_number(3.14159), format_number(0.99), format_number(2500.4)
('1.23e-05', '3.142', '0.99', '2500')
"""

from __future__ import annotations

import html
import math
import re
import shlex
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["format_number", "quick_look_notice", "write_report"]

FIGURE_DPI = 120


# ----------------------------------------------------------------------------- numbers


def format_number(value) -> str:
    """A number rounded for reading: four significant digits (trailing zeros dropped), no
    exponent between 0.001 and a million, integers (and integer-valued floats) as they
    are, NaN as ``–``."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if not isinstance(value, float | np.floating):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e6:
        return str(int(value))
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3g}"
    if magnitude >= 1000:
        return f"{value:.0f}"
    decimals = 3 - math.floor(math.log10(magnitude))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _numbers(values) -> str:
    return ", ".join(format_number(v) for v in np.atleast_1d(values).tolist())


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The index as columns (unless it is a plain 0..n-1 range) and every cell as text."""
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    return frame.map(format_number) if hasattr(frame, "map") else frame.applymap(format_number)


# ----------------------------------------------------------------------------- document


@dataclass
class _Document:
    """Blocks of a report, rendered to Markdown and HTML, with tables and figures on disk."""

    out_dir: Path
    on_problem: Callable[[str], None] | None = None
    blocks: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def bullets(self, items) -> None:
        self.blocks.append(("bullets", [item for item in items if item]))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def problem(self, what: str, error: BaseException | str) -> None:
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        reason = " ".join(str(reason).split())
        self.problems.append(f"{what}: {reason}")
        self.blocks.append(("problem", f"{what} could not be made — {reason}"))
        if self.on_problem is not None:
            self.on_problem(f"{what} could not be made: {reason}")

    def _notes(self, caught) -> None:
        seen = []
        for warning in caught:
            text = " ".join(str(warning.message).split())
            if text not in seen:
                seen.append(text)
        for text in seen:
            self.blocks.append(("note", f"Warning: {text}"))

    def table(self, name: str, title: str, make: Callable[[], pd.DataFrame], *, level: int = 3) -> None:
        """Compute a table (any failure is reported, not raised), show it, save it as CSV."""
        self.heading(level, title)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                frame = make()
                if not isinstance(frame, pd.DataFrame):
                    raise TypeError(f"expected a DataFrame, got {type(frame).__name__}")
            except Exception as error:  # a report with a gap beats no report
                self.problem(f"Table {title!r}", error)
                return
        path = self.out_dir / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
        frame.to_csv(path, index=keep_index)  # full precision
        shown = frame
        if "ci_prob" in frame.columns and frame["ci_prob"].nunique() == 1:
            shown = frame.drop(columns="ci_prob")  # stated once in the text, kept in the CSV
        self.blocks.append(("table", _readable(shown), f"tables/{name}.csv"))
        self._notes(caught)

    def figure(self, name: str, title: str, make: Callable) -> None:
        """Draw a figure (any failure is reported, not raised) and save it as PNG."""
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                from sbp_bayes import plots

                figure = make(plots)
                path = self.out_dir / "figures" / f"{name}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                plots.save_figure(figure, path, dpi=FIGURE_DPI)
                if not path.is_file() or path.stat().st_size == 0:
                    raise RuntimeError(f"save_figure wrote no file at {path}")
            except Exception as error:  # a report with a gap beats no report
                self.heading(3, title)
                self.problem(f"Figure {title!r}", error)
                return
            finally:
                for number in set(plt.get_fignums()) - before:
                    plt.close(number)
        self.heading(3, title)
        self.blocks.append(("figure", title, f"figures/{name}.png"))
        self._notes(caught)

    # -- rendering ------------------------------------------------------------------------

    def markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out.append(f"{'#' * block[1]} {block[2]}")
            elif kind == "paragraph":
                out.append(block[1])
            elif kind == "bullets":
                out.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "code":
                out.append(f"```\n{block[1]}\n```")
            elif kind == "problem":
                out.append(f"> **Not available.** {block[1]}")
            elif kind == "note":
                out.append(f"> {block[1]}")
            elif kind == "table":
                out.append(_markdown_table(block[1]) + f"\n\n[CSV]({block[2]})")
            elif kind == "figure":
                out.append(f"![{block[1]}]({block[2]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
        ]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "paragraph":
                out.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "bullets":
                out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
            elif kind == "code":
                out.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "problem":
                out.append(f'<p class="problem"><strong>Not available.</strong> {_inline(block[1])}</p>')
            elif kind == "note":
                out.append(f'<p class="note">{_inline(block[1])}</p>')
            elif kind == "table":
                out.append(block[1].to_html(index=False, border=0, classes="table"))
                out.append(f'<p class="csv"><a href="{html.escape(block[2])}">CSV</a></p>')
            elif kind == "figure":
                out.append(
                    f'<figure><img src="{html.escape(block[2])}" alt="{html.escape(block[1])}">'
                    f"<figcaption>{html.escape(block[1])}</figcaption></figure>"
                )
        out.append("</body></html>")
        return "\n".join(out) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
    "table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .6rem;text-align:right;"
    "border-bottom:1px solid #ddd}th{background:#f3f3f3}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}"
    "img{max-width:100%}.problem{background:#fff0f0;padding:.4rem}.note{color:#555}.csv{font-size:.85em}"
)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _inline(text: str) -> str:
    """The few Markdown inline forms the report uses (code, bold, links) as HTML."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        escaped = html.escape(part)
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', escaped)
        out.append(escaped)
    return "".join(out)


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


def quick_look_notice(fit) -> str | None:
    """The warning a report of a ``--quick`` fit opens with, or ``None`` for a full fit.

    ``sbp-bayes fit --quick`` records ``"quick": True`` in the fit's configuration (kept
    in ``fit.nc``), so a report re-rendered later is marked as well.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> quick_look_notice(SimpleNamespace(config={"quick": True, "chains": 2, "draws": 300}))[:31]
    '**Quick look, not final results'
    >>> quick_look_notice(SimpleNamespace(config={"chains": 4, "draws": 1000})) is None
    True
    """
    config = getattr(fit, "config", None) or {}
    if not config.get("quick"):
        return None
    return (
        f"**Quick look, not final results.** Fitted with `--quick` ({config.get('chains')} chains x "
        f"{config.get('draws')} draws): too few draws for the diagnostics, intervals and tail answers to be "
        "trusted. Refit without `--quick` before using any number in this report."
    )


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


def _extremal_index_section(doc: _Document, fit, option, tail: str, ci_prob: float):
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
    from sbp_bayes import __version__

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("tables/*.csv"), *out_dir.glob("figures/*.png")]:
        stale.unlink()

    report, sides, tail, per_period = _settings(fit, spec)
    ci = f"{report.ci_prob:.0%} {'equal-tailed' if report.ci_kind == 'eti' else 'highest-density'} intervals"
    doc = _Document(out_dir, on_problem)
    title = spec.study.name if spec is not None else str(fit.data.name or "sbp_bayes fit")

    # -- header
    quick = quick_look_notice(fit)
    doc.heading(1, f"{title} (quick look, not final)" if quick else title)
    if quick:
        doc.paragraph(quick)
    if spec is not None and spec.study.description:
        doc.paragraph(spec.study.description)
    made = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    doc.bullets(
        [
            f"Report written {made} by sbp_bayes {__version__} (fit made by sbp_bayes {fit.version}).",
            f"Command: `{command}`" if command else None,
            f"Model spec: `{spec.source}` (copy with the settings used: [spec.toml](spec.toml))"
            if spec is not None
            else None,
        ]
    )
    summary_index = len(doc.blocks)

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
            shown = weights if isinstance(weights, str) else _numbers(weights)
            model_items.append(
                f"{side.capitalize()} threshold: prior over {thresholds.size} candidates "
                f"({_numbers(thresholds)}); weights: {shown}"
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
    doc.heading(2, "Diagnostics")
    verdict = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the verdict below says it all
            diagnostics = fit.check(warn=False)
        verdict = "PASSED" if diagnostics.passed else "FAILED"
        doc.paragraph(
            f"**Diagnostics {verdict}.** "
            + (
                "R-hat, effective sample sizes, divergences and E-BFMI meet the standards."
                if diagnostics.passed
                else "Do not use these numbers before the problems below are fixed."
            )
        )
        doc.code(str(diagnostics))
        doc.table("diagnostics", "Convergence per parameter", lambda: diagnostics.table)
    except Exception as error:  # a report with a gap beats no report
        doc.problem("The diagnostics", error)

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

    # -- reproduce
    doc.heading(2, "Reproduce")
    folder = shlex.quote(str(out_dir))
    doc.paragraph(
        "The first command refits with exactly the settings and seed used here (from the spec copy); "
        "the second re-renders this report from the saved fit."
    )
    doc.code(f"sbp-bayes fit {folder}/spec.toml --out {folder}\nsbp-bayes report {folder}")
    doc.paragraph(f"Python {sys.version.split()[0]}, sbp_bayes {__version__}.")

    # -- what went wrong, at the top where it is seen
    status = []
    if verdict is not None:
        status.append(f"**Diagnostics {verdict}.**")
    status += [f"**Threshold warning:** {text}" for text in threshold_warnings]
    if doc.problems:
        names = [problem.split(":")[0] for problem in doc.problems]
        listed = "; ".join(names[:4]) + ("; ..." if len(names) > 4 else "")
        status.append(
            f"{len(names)} table(s) or figure(s) could not be made ({listed}): see the parts marked "
            "**Not available** below."
        )
    if status:
        doc.blocks.insert(summary_index, ("paragraph", " ".join(status)))

    markdown_path = out_dir / "report.md"
    markdown_path.write_text(doc.markdown(), encoding="utf-8")
    (out_dir / "report.html").write_text(doc.html(title), encoding="utf-8")
    return markdown_path
