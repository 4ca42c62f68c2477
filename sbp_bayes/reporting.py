"""The reporting layer: a report as a list of blocks rendered to Markdown and HTML, the
number format every table uses, and the sections every report shares.

:class:`Document` collects headings, paragraphs, tables (saved as CSV) and figures (saved
as PNG); a table or figure that cannot be made leaves a marked gap instead of stopping the
report. The static report (:mod:`sbp_bayes.render`) and the dynamic report
(:mod:`sbp_bayes.render_dynamic`) share their frame: :func:`start_report` (folder, title,
provenance), :func:`diagnostics_section` and :func:`finish_report` (the commands that
reproduce it, the status line, the files); the comparison (:mod:`sbp_bayes.render_compare`)
writes its page with the same :class:`Document`.

Examples
--------
>>> format_number(0.000012345), format_number(3.14159), format_number(0.99), format_number(2500.4)
('1.23e-05', '3.142', '0.99', '2500')
>>> import pandas as pd
>>> print(markdown_table(readable(pd.DataFrame({"level": [0.99], "value": [12.3456]}))))
| level | value |
| --- | --- |
| 0.99 | 12.35 |
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

__all__ = [
    # numbers and tables
    "format_number",
    "markdown_table",
    "number_list",
    "readable",
    # the document
    "Document",
    # shared sections
    "diagnostics_section",
    "finish_report",
    "quick_look_notice",
    "start_report",
]

#: Resolution of every PNG figure of a report.
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


def number_list(values) -> str:
    """Numbers as a comma-separated list, each by :func:`format_number`."""
    return ", ".join(format_number(v) for v in np.atleast_1d(values).tolist())


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The index as columns (unless it is a plain 0..n-1 range) and every cell as text."""
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    return frame.map(format_number) if hasattr(frame, "map") else frame.applymap(format_number)


# ----------------------------------------------------------------------------- document


@dataclass
class Document:
    """Blocks of a report, rendered to Markdown and HTML, with tables and figures on disk.

    Examples
    --------
    >>> doc = Document(Path("."))
    >>> doc.heading(2, "Data")
    >>> doc.bullets(["1000 observations", None])  # a None item is left out
    >>> print(doc.markdown())
    ## Data
    <BLANKLINE>
    - 1000 observations
    <BLANKLINE>
    """

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

    def saved_table(self, frame: pd.DataFrame, csv_link: str) -> None:
        """Show a table already saved as CSV at ``csv_link`` (relative to the document)."""
        self.blocks.append(("table", readable(frame), csv_link))

    def saved_figure(self, title: str, path: str) -> None:
        """Show a figure already saved at ``path`` (relative to the document)."""
        self.blocks.append(("figure", title, path))

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
        self.blocks.append(("table", readable(shown), f"tables/{name}.csv"))
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
                out.append(markdown_table(block[1]) + f"\n\n[CSV]({block[2]})")
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


def markdown_table(frame: pd.DataFrame) -> str:
    """A table of text cells (:func:`readable`) as a Markdown pipe table."""

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


# ----------------------------------------------------------------------------- shared sections


def _prepare_folder(out_dir) -> Path:
    """Create the report folder and remove the CSV and PNG files of an earlier report, so
    that the folder holds exactly what the new report links to."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("tables/*.csv"), *out_dir.glob("figures/*.png")]:
        stale.unlink()
    return out_dir


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


def start_report(
    out_dir, title: str, fit, spec, *, command: str | None, fit_version, on_problem=None
) -> tuple[Document, int]:
    """Begin a report in ``out_dir``: the folder emptied of an earlier report's CSV and PNG
    files, and a :class:`Document` opened with the title (marked for a ``--quick`` fit), the
    study's description and who made the report and the fit.

    Returns
    -------
    (Document, int)
        The document, and where :func:`finish_report` puts the status line.

    Examples
    --------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> fit = SimpleNamespace(config={"quick": True, "chains": 2, "draws": 300})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     doc, at = start_report(folder, "Rain", fit, None, command=None, fit_version="1.0")
    ...     doc.heading(2, "Data")
    ...     text = finish_report(doc, "Rain", at).read_text(encoding="utf-8")
    >>> text.splitlines()[0], "## Reproduce" in text
    ('# Rain (quick look, not final)', True)
    """
    doc = Document(_prepare_folder(out_dir), on_problem)
    return doc, _header_section(doc, title, fit, spec, command=command, fit_version=fit_version)


def _header_section(doc: Document, title: str, fit, spec, *, command: str | None, fit_version) -> int:
    """The title (marked when the fit is a quick look), the study's description and who made
    the report and the fit; returns where the status line (:func:`finish_report`) goes."""
    from sbp_bayes import __version__

    quick = quick_look_notice(fit)
    doc.heading(1, f"{title} (quick look, not final)" if quick else title)
    if quick:
        doc.paragraph(quick)
    if spec is not None and spec.study.description:
        doc.paragraph(spec.study.description)
    made = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    doc.bullets(
        [
            f"Report written {made} by sbp_bayes {__version__} (fit made by sbp_bayes {fit_version}).",
            f"Command: `{command}`" if command else None,
            f"Model spec: `{spec.source}` (copy with the settings used: [spec.toml](spec.toml))"
            if spec is not None
            else None,
        ]
    )
    return len(doc.blocks)


def diagnostics_section(doc: Document, fit, *, scope: str = ""):
    """The ``Diagnostics`` section: the verdict of ``fit.check()``, its text and the table
    per parameter. ``scope`` ends the sentence of a pass (e.g. ``" in both stages"``).

    Returns
    -------
    (str or None, diagnostics or None)
        ``"PASSED"``/``"FAILED"`` and the diagnostics, or ``None`` twice when the check
        itself failed (the section then says why).
    """
    doc.heading(2, "Diagnostics")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the verdict below says it all
            diagnostics = fit.check(warn=False)
        verdict = "PASSED" if diagnostics.passed else "FAILED"
        doc.paragraph(
            f"**Diagnostics {verdict}.** "
            + (
                f"R-hat, effective sample sizes, divergences and E-BFMI meet the standards{scope}."
                if diagnostics.passed
                else "Do not use these numbers before the problems below are fixed."
            )
        )
        doc.code(str(diagnostics))
        doc.table("diagnostics", "Convergence per parameter", lambda: diagnostics.table)
    except Exception as error:  # a report with a gap beats no report
        doc.problem("The diagnostics", error)
        return None, None
    return verdict, diagnostics


def _reproduce_section(doc: Document, out_dir: Path) -> None:
    """The ``Reproduce`` section: the commands that refit from the spec copy and re-render
    the report, and the versions used."""
    from sbp_bayes import __version__

    doc.heading(2, "Reproduce")
    folder = shlex.quote(str(out_dir))
    doc.paragraph(
        "The first command refits with exactly the settings and seed used here (from the spec copy); "
        "the second re-renders this report from the saved fit."
    )
    doc.code(f"sbp-bayes fit {folder}/spec.toml --out {folder}\nsbp-bayes report {folder}")
    doc.paragraph(f"Python {sys.version.split()[0]}, sbp_bayes {__version__}.")


def finish_report(doc: Document, title: str, status_index: int, *, verdict=None, warnings_=()) -> Path:
    """End a report begun by :func:`start_report`: the ``Reproduce`` section, what went
    wrong at the top (the diagnostics verdict, ``warnings_``, the tables and figures that
    could not be made), then ``report.md`` and ``report.html`` written.

    Returns
    -------
    Path
        The path of ``report.md``.
    """
    _reproduce_section(doc, doc.out_dir)
    status = []
    if verdict is not None:
        status.append(f"**Diagnostics {verdict}.**")
    status += list(warnings_)
    if doc.problems:
        names = [problem.split(":")[0] for problem in doc.problems]
        listed = "; ".join(names[:4]) + ("; ..." if len(names) > 4 else "")
        status.append(
            f"{len(names)} table(s) or figure(s) could not be made ({listed}): see the parts marked "
            "**Not available** below."
        )
    if status:
        doc.blocks.insert(status_index, ("paragraph", " ".join(status)))
    markdown_path = doc.out_dir / "report.md"
    markdown_path.write_text(doc.markdown(), encoding="utf-8")
    (doc.out_dir / "report.html").write_text(doc.html(title), encoding="utf-8")
    return markdown_path
