"""Write a model comparison: ``comparison.csv``, ``comparison.md`` and ``comparison.png``.

:func:`write_comparison` turns the table of :func:`sbp_bayes.compare` and the
fits it compared into what a reviewer reads: which model is best and by how many
standard errors of the difference, the full table (CSV at full precision), what each
column means, the Pareto-k warnings of PSIS-LOO, each model's convergence verdict, and
the comparison figure (:func:`sbp_bayes.plots.plot_comparison`).

Examples
--------
>>> verdict_words(5.3), verdict_words(2.5), verdict_words(0.4)
('clearly worse', 'probably worse', 'not distinguishable')
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sbp_bayes.reporting import Document, format_number

__all__ = ["COLUMN_MEANINGS", "best_models", "verdict_words", "write_comparison"]

#: What each column of the comparison table means (shown under the table).
COLUMN_MEANINGS = {
    "elpd_loo": "expected log predictive density of a new observation, summed over the data, estimated "
    "by PSIS leave-one-out cross-validation (higher is better)",
    "se": "standard error of elpd_loo",
    "p_loo": "effective number of parameters (elpd of the fitted data minus elpd_loo)",
    "elpd_diff": "this model's elpd_loo minus the best model's (0 for the best, negative for the others)",
    "dse": "standard error of elpd_diff, from the paired pointwise differences (much smaller than se)",
    "diff_in_se": "elpd_diff / dse: minus how many standard errors of the difference this model is behind "
    "the best",
    "weight": "stacking weight: the share of this model in the mixture of all that predicts best",
    "pareto_k_bad": "observations whose Pareto k exceeds 0.7, whose LOO terms are unreliable",
    "family": "model family (sbp_bayes.families)",
    "n_observations": "observations the log-likelihood covers (LOO compares models over the same ones)",
    "test_elpd": "held-out log score: sum over the test points of log mean_s f_s(y) (higher is better)",
    "test_crps": "mean continuous ranked probability score on the test points (lower is better)",
    "pp_mae_lower_tail": "PP-plot mean absolute error at quantile levels below 0.05 (lower is better)",
    "pp_mae_base": "PP-plot mean absolute error at levels between 0.05 and 0.95",
    "pp_mae_upper_tail": "PP-plot mean absolute error at levels above 0.95",
    "pp_mae_full": "PP-plot mean absolute error over all levels (protocol of Ehrlich, Callot & Aubet 2021)",
}

CLEARLY = 4.0  # standard errors of the difference
PROBABLY = 2.0


def verdict_words(diff_in_se: float) -> str:
    """How a model compares with the best, from ``elpd_diff / dse`` (its sign does not
    matter): more than 4 standard errors behind is ``"clearly worse"``, 2 to 4
    ``"probably worse"``, less than 2 ``"not distinguishable"`` (Sivula, Magnusson &
    Vehtari 2020: a difference within a few standard errors is within the noise of LOO)."""
    value = abs(float(diff_in_se))
    if value > CLEARLY:
        return "clearly worse"
    if value > PROBABLY:
        return "probably worse"
    return "not distinguishable"


def best_models(values: pd.Series, *, lowest: bool) -> tuple[list[str], str]:
    """The model(s) with the best value *as shown* (:func:`format_number`) and that value.

    Two models whose values read the same in the table are a tie: naming one of them
    the winner would rest on digits the reader cannot see.

    Examples
    --------
    >>> scores = pd.Series({"sbp": 0.00612, "binned": 0.0061204, "normal": 0.0107})
    >>> best_models(scores, lowest=True)
    (['sbp', 'binned'], '0.00612')
    >>> best_models(pd.Series({"sbp": -1.52, "normal": -1.61}), lowest=False)
    (['sbp'], '-1.52')
    """
    finite = values.astype(float).dropna()
    if finite.empty:
        return [], "–"
    best = finite.min() if lowest else finite.max()
    shown = format_number(best)
    return [str(name) for name, value in finite.items() if format_number(value) == shown], shown


def _named(names: list[str]) -> str:
    """``**a**`` or ``a tie between **a** and **b**``."""
    bold = [f"**{name}**" for name in names]
    if len(bold) == 1:
        return bold[0]
    return "a tie between " + ", ".join(bold[:-1]) + " and " + bold[-1]


def _modelled_tails(fits: Mapping | None) -> set[str]:
    """The sides on which at least one fit has a tail model (a GPD, or a family such as
    the Normal or Student-t that models the whole line in one law); ``None``: unknown."""
    if fits is None:
        return {"lower", "upper"}
    sides = set()
    for fit in fits.values():
        own = fit._sides() if hasattr(fit, "_sides") else []
        if own:
            sides.update(own)
        elif fit.family in ("normal", "student_t"):
            sides.update(("lower", "upper"))
    return sides


def _verdict(table: pd.DataFrame, fits: Mapping | None = None) -> list[str]:
    lines = []
    best = str(table.index[0])
    if "elpd_loo" in table.columns:
        lines.append(
            f"Best by PSIS-LOO: **{best}** ({table.loc[best, 'family']}), elpd_loo "
            f"{format_number(table.loc[best, 'elpd_loo'])} (se {format_number(table.loc[best, 'se'])}), "
            f"stacking weight {format_number(table.loc[best, 'weight'])}."
        )
        for name, row in table.iloc[1:].iterrows():
            lines.append(
                f"{name} is {verdict_words(row['diff_in_se'])}: behind by "
                f"{format_number(abs(row['elpd_diff']))} "
                f"(dse {format_number(row['dse'])}), {format_number(abs(row['diff_in_se']))} standard errors "
                f"of the difference; stacking weight {format_number(row['weight'])}."
            )
    if "test_elpd" in table.columns:
        score_names, score = best_models(table["test_elpd"], lowest=False)
        crps_names, crps = best_models(table["test_crps"], lowest=True)
        lines.append(
            f"Best held-out log score: {_named(score_names)} ({score}); lowest held-out CRPS: "
            f"{_named(crps_names)} ({crps})."
        )
        modelled = _modelled_tails(fits)
        for side, levels in (("lower", "below 0.05"), ("upper", "above 0.95")):
            column = f"pp_mae_{side}_tail"
            if column not in table.columns:
                continue
            names, value = best_models(table[column], lowest=True)
            if side in modelled:
                lines.append(
                    f"Best calibrated {side} tail (PP-MAE at levels {levels}): {_named(names)} ({value})."
                )
            else:
                # No model has a tail there (the body ends at the data's extreme): there is no
                # "best tail", only how well the lowest/highest quantiles of the body are placed.
                lines.append(
                    f"No model has {'an' if side == 'upper' else 'a'} {side} tail; PP-MAE at levels "
                    f"{levels} (the body's extreme quantiles): lowest {_named(names)} ({value})."
                )
    return lines


def _pareto_lines(table: pd.DataFrame) -> list[str]:
    if "pareto_k_bad" not in table.columns:
        return ["No LOO in this comparison (loo=False): no Pareto k to report."]
    flagged = table[table["pareto_k_bad"] > 0]
    if flagged.empty:
        return ["Every Pareto k is at most 0.7: the PSIS-LOO estimates are reliable."]
    lines = [
        f"{name}: {int(count)} observation(s) with Pareto k > 0.7. Their LOO terms may be biased "
        "(usually towards the model looking better than it is); treat this model's elpd_loo with "
        "caution, or check those observations with exact leave-one-out refits."
        for name, count in flagged["pareto_k_bad"].items()
    ]
    return lines


def _model_lines(fits: Mapping) -> list[str]:
    from sbp_bayes.families import get_family

    lines = []
    for name, fit in fits.items():
        posterior = fit.idata["posterior"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the verdict says it
            diagnostics = fit.check(warn=False)
        verdict = "PASSED" if diagnostics.passed else "FAILED: " + " ".join(diagnostics.problems)
        thresholds = [
            f"{side} threshold {format_number(float(np.median(posterior[f'{side}_threshold'].values)))}"
            + ("" if fit._threshold_is_fixed(side) else " (posterior median)")
            for side in fit._sides()
        ]
        lines.append(
            f"**{name}**: {get_family(fit.family).description}; {len(fit.data)} observations"
            + (f"; {', '.join(thresholds)}" if thresholds else "")
            + f"; {posterior.sizes['chain']} chains x {posterior.sizes['draw']} draws "
            f"({fit.config.get('sampler')}); diagnostics {verdict}"
        )
    return lines


def write_comparison(
    table: pd.DataFrame,
    fits: Mapping,
    out_dir,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    command: str | None = None,
) -> Path:
    """Write ``comparison.csv``, ``comparison.md`` and ``comparison.png`` into ``out_dir``.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`sbp_bayes.compare` (best first).
    fits : dict of str -> SBPFit
        The fits it compared, under the same names.
    out_dir : str or Path
        Folder to write into (created if needed).
    title : str, optional
        Heading of the Markdown file (default ``"Model comparison"``).
    notes : sequence of str
        Extra lines for the header, e.g. how the data were split.
    command : str, optional
        The command line that made the comparison, quoted in the file.

    Returns
    -------
    Path
        The path of ``comparison.md``.

    Examples
    --------
    Usually ``table = sbp_bayes.compare(fits, test_data=held_out)``; here a table written by
    hand, for the bundled example fit under two names:

    >>> import tempfile
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> table = pd.DataFrame(
    ...     {"family": ["sbp", "sbp"], "test_elpd": [-2.10, -2.31], "test_crps": [0.52, 0.55],
    ...      "pp_mae_upper_tail": [0.004, 0.009]},
    ...     index=pd.Index(["first", "second"], name="model"))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     text = write_comparison(table, {"first": fit, "second": fit}, folder).read_text()
    >>> print(text.split("## Verdict")[1].split("## Table")[0].strip())
    - Best held-out log score: **first** (-2.1); lowest held-out CRPS: **first** (0.52).
    - Best calibrated upper tail (PP-MAE at levels above 0.95): **first** (0.004).
    """
    from sbp_bayes import __version__
    from sbp_bayes.plots import plot_comparison, save_figure

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("write_comparison needs the DataFrame returned by sbp_bayes.compare.")
    missing = [str(name) for name in table.index if name not in fits]
    if missing:
        raise ValueError(
            f"The table has model(s) {', '.join(missing)} that are not in fits "
            f"({', '.join(map(str, fits))}); pass the same dict that was compared."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "comparison.csv"
    table.to_csv(csv_path)  # full precision
    figure_path = save_figure(plot_comparison(table), out_dir / "comparison.png")

    made = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    doc = Document(out_dir)
    doc.heading(1, title or "Model comparison")
    doc.bullets(
        [f"Written {made} by sbp_bayes {__version__}.", f"Command: `{command}`" if command else None, *notes]
    )
    doc.heading(2, "Verdict")
    doc.bullets(_verdict(table, fits))
    doc.heading(2, "Table")
    doc.saved_table(table, csv_path.name)
    doc.heading(3, "What the columns mean")
    doc.bullets(
        [f"`{column}`: {COLUMN_MEANINGS[column]}" for column in table.columns if column in COLUMN_MEANINGS]
    )
    if "elpd_loo" in table.columns:
        doc.paragraph(
            "A model more than 4 standard errors of the difference (`diff_in_se`) behind the best is clearly "
            "worse; within 2 the data cannot tell them apart. LOO compares models over the same observations "
            "on the same scale only."
        )
    doc.heading(2, "Pareto k")
    doc.bullets(_pareto_lines(table))
    doc.heading(2, "Models")
    doc.bullets(_model_lines({n: fits[n] for n in table.index}))
    doc.heading(2, "Figure")
    doc.saved_figure("model comparison", figure_path.name)
    markdown_path = out_dir / "comparison.md"
    markdown_path.write_text(doc.markdown(), encoding="utf-8")
    return markdown_path
