"""A first spec for a CSV file, written with comments (``sbp-bayes init DATA.csv``).

:func:`init_spec` detects the modelled and time columns and writes TOML text that
:func:`~sbp_bayes.spec.loads_spec` accepts unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from sbp_bayes.sampling import SAMPLERS
from sbp_bayes.spec.checks import SpecError, closest, comma_list, one_line
from sbp_bayes.spec.parser import loads_spec
from sbp_bayes.spec.schema import SAMPLER_KEYS
from sbp_bayes.spec.writer import toml_value

__all__ = ["init_spec"]


def _comment_pad(line: str, comment: str, width: int = 34) -> str:
    return f"{line.ljust(width)} # {comment}" if comment else line


def init_spec(csv_path, spec_path, *, column: str | None = None, time_column: str | None = None) -> str:
    """A commented spec for a CSV file, ready for ``sbp-bayes fit`` (``sbp-bayes init``).

    Numeric columns and date columns are detected: the modelled column is ``column``,
    else the first numeric column; the time column is ``time_column``, else the first
    column whose every entry is a date (observations per year are then inferred from the
    dates). Data that are never negative get an upper tail with the body starting at 0;
    others get both tails.

    Parameters
    ----------
    csv_path : str or Path
        The data file.
    spec_path : str or Path
        Where the spec will be written (the data path in it is relative to its folder).
    column, time_column : str, optional

    Returns
    -------
    str
        The TOML text (it is valid: :func:`loads_spec` accepts it).

    Raises
    ------
    SpecError
        The file cannot be read, has no numeric column, or lacks a named column.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [f"2001-01-{day:02d},{day * 1.5}" for day in range(1, 31)]
    >>> _ = (folder / "flows.csv").write_text("\\n".join(["day,flow", *rows]) + "\\n")
    >>> text = init_spec(folder / "flows.csv", folder / "flows.toml")
    >>> spec = loads_spec(text, base_dir=folder)
    >>> spec.data.column, spec.data.time_column, spec.model.tails
    ('flow', 'day', 'upper')
    """
    from datetime import datetime

    from sbp_bayes.dates import parse_dates, record_rate

    csv_path, spec_path = Path(csv_path), Path(spec_path)
    source = str(csv_path)
    if not csv_path.is_file():
        raise SpecError(f"{source}: no such file; give the CSV file of the data")
    try:
        frame = pd.read_csv(csv_path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SpecError(f"{source}: cannot read it as CSV: {one_line(error)}") from None
    header = [str(name) for name in frame.columns]
    for key, name in (("--column", column), ("--time-column", time_column)):
        if name is not None and name not in header:
            raise SpecError(
                f"{source}: {key} {name!r} is not a column{closest(name, header)} "
                f"(columns: {comma_list(header)})"
            )
    numeric = [name for name in header if pd.api.types.is_numeric_dtype(frame[name])]
    dated = {}
    for name in header:
        if name in numeric and name != time_column:
            continue
        parsed = parse_dates(frame[name].dropna()) if frame[name].notna().any() else None
        if parsed is not None and frame[name].notna().all():
            dated[name] = parsed
    if column is None:
        candidates = [name for name in numeric if name != time_column]
        if not candidates:
            raise SpecError(
                f"{source}: no column of numbers to model (columns: {comma_list(header)}); clean the file "
                "or name the column with --column"
            )
        column = candidates[0]
    if time_column is None and dated:
        time_column = next(iter(dated))
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    text = values.isna() & raw.notna()
    if text.any():
        row = int(text.to_numpy().nonzero()[0][0])
        raise SpecError(
            f"{source}: column {column!r} holds text such as {raw.iloc[row]!r} (line {row + 2}); "
            "clean it or choose another column with --column"
        )
    n_empty = int(values.isna().sum())
    finite = values.dropna()
    if finite.size < 10:
        raise SpecError(
            f"{source}: column {column!r} has {finite.size} numbers; a tail model needs many more"
        )
    relative = Path(os.path.relpath(csv_path.resolve(), spec_path.resolve().parent)).as_posix()
    non_negative = bool((finite >= 0).all())
    others = [name for name in numeric if name not in (column, time_column)]
    rate_note = ""
    if time_column is not None and time_column in dated:
        rate = record_rate(dated[time_column])
        rate_note = (
            f"dates {rate.start:%Y-%m-%d} to {rate.end:%Y-%m-%d}: "
            f"{rate.observations_per_year:.6g} observations a year, inferred"
        )
    name = re.sub(r"[^\w.-]+", "_", csv_path.stem).strip("_") or "study"
    made = datetime.now().astimezone().strftime("%Y-%m-%d")
    lines = [
        f"# Model spec for {csv_path.name}, written by `sbp-bayes init` on {made}.",
        f"# Fit it:      sbp-bayes fit {spec_path.name} --out results/{name}",
        "# Every key, its meaning and default:  sbp-bayes spec-keys  (or sbp-bayes fit --help)",
        "",
        "[study]",
        f"name = {toml_value(name)}",
        f"description = {toml_value(f'Column {column!r} of {csv_path.name} ({finite.size} observations).')}",
        "",
        "[data]",
        _comment_pad(f"path = {toml_value(relative)}", "relative to this file"),
        _comment_pad(
            f"column = {toml_value(column)}",
            f"other numeric columns: {', '.join(others)}" if others else "the only numeric column",
        ),
    ]
    if time_column is not None:
        lines.append(
            _comment_pad(f"time_column = {toml_value(time_column)}", rate_note or "kept as the index")
        )
    else:
        lines.append('# time_column = "date"             # a column of dates: return periods in years')
    lines += [
        '# units = "mm"                      # shown on axes and in tables',
    ]
    if time_column is None or time_column not in dated:
        lines.append("# observations_per_year = 365.25    # for return periods in years (daily data)")
    lines += [
        "",
        "[model]",
        _comment_pad('family = "sbp"', "spliced binned-Pareto: histogram body, Generalized Pareto tails"),
    ]
    if non_negative:
        lines += [
            _comment_pad('tails = "upper"', "the data are never negative: one upper tail"),
            _comment_pad("lower_bound = 0.0", "the body starts at 0"),
        ]
    else:
        lines.append(_comment_pad('tails = "both"', '"upper", "lower" or "both"'))
    lines += [
        _comment_pad("bins = 30", "body bins between the innermost candidate thresholds"),
        _comment_pad("n_candidates = 10", "candidate thresholds per tail, with a uniform prior"),
        "# upper_threshold = 10.0            # a number fixes the threshold; a list gives candidates",
        "# decluster = 1                     # fit the tail to cluster maxima (runs of exceedances)",
        '# cluster_adjustment = "extremal_index"  # clustered days: temper the tail likelihood',
    ]
    if n_empty:
        lines.append(
            _comment_pad('nan_policy = "omit"', f"{n_empty} empty cell(s) in {column!r} are dropped")
        )
    lines += [
        "",
        "[sampler]",
        _comment_pad(f"name = {toml_value(SAMPLER_KEYS['name'].default)}", " / ".join(SAMPLERS)),
        _comment_pad("draws = 1000", "per chain"),
        _comment_pad("tune = 1000", "warm-up steps per chain"),
        "chains = 4",
        "# random_seed = 1                   # recorded by sbp-bayes fit when absent",
        "",
        "[report]",
        _comment_pad("return_periods = [10, 50, 100]", "years, when observations a year are known"),
        _comment_pad("quantiles = [0.01, 0.99, 0.999]", "probabilities"),
        _comment_pad("ci_prob = 0.95", "every credible interval"),
        '# extremal_index = "intervals"      # time series: return levels for clustered extremes',
        "",
    ]
    text = "\n".join(lines)
    loads_spec(text, base_dir=spec_path.resolve().parent, source=str(spec_path))  # it must be valid
    return text
