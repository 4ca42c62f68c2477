"""Reading the observations from a CSV file, with messages that name the bad cell.

Only an *empty* cell is a missing value (:func:`read_csv_text`); text such as ``"n/a"``
and infinities are errors that name their row by :func:`csv_position`. The readers give
one series (:func:`read_series`), a table of a time series and its covariates
(:func:`read_table`) and a long table of many series (:func:`read_long_table`); the model
specs (:mod:`sbp_bayes.spec`) read their ``[data]`` through them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sbp_bayes.model import DataError

__all__ = ["csv_position", "numeric_column", "read_csv_text", "read_long_table", "read_series", "read_table"]


def csv_position(row: int) -> str:
    """Where the ``row``-th data row (counted from 0, as pandas does) is in a CSV file with
    one header line, the one convention of every message about a CSV file.

    Examples
    --------
    >>> csv_position(0)
    'data row 1, line 2 of the file'
    """
    return f"data row {row + 1}, line {row + 2} of the file"


def read_csv_text(path, **options) -> pd.DataFrame:
    """``pandas.read_csv`` that reads only an *empty* cell as missing.

    pandas' default turns text such as ``"n/a"``, ``"NA"``, ``"null"`` or ``"-"``-like
    markers into NaN without a word; here every such cell stays text, so that the column
    checks can name it and its row.
    """
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **options)


def numeric_column(path: Path, frame: pd.DataFrame, name: str, *, gaps: str | None = None) -> pd.Series:
    """A column as floats. Text (``"n/a"`` included), infinities and, unless ``gaps`` is
    ``"omit"``, empty cells are a :class:`DataError` naming the first of them by
    :func:`csv_position`. ``gaps=None`` is a time-series model: it needs every step."""
    raw = frame[name]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    # pd.to_numeric reads the text "NaN" and "inf" as numbers: they are text in a data file.
    text = raw.notna() & (values.isna() | np.isinf(values))
    if text.any():
        row = int(text.to_numpy().nonzero()[0][0])
        value = raw.iloc[row]
        shown = repr(value) if isinstance(value, str) else str(value)  # 'n/a' quoted, inf as inf
        raise DataError(
            f"{path}: column {name!r} has {int(text.sum())} value(s) that are not numbers "
            f"(first {shown} in {csv_position(row)}); clean the file (leave the cell of a missing "
            "value empty) or choose another column."
        )
    if raw.isna().any() and gaps != "omit":
        row = int(raw.isna().to_numpy().nonzero()[0][0])
        count = int(raw.isna().sum())
        if gaps is None:
            advice = "a time-series model needs a number at every step: fill them or drop those rows."
        else:
            advice = 'fill them, delete those rows, or set nan_policy = "omit" in [model] to leave them out.'
        raise DataError(
            f"{path}: column {name!r} has {count} empty cell(s) (first in {csv_position(row)}); {advice}"
        )
    return values


def read_series(path, column: str, *, time_column: str | None = None, nan_policy: str = "raise") -> pd.Series:
    """One column of a CSV file as a float Series named after it, ``attrs["source"]`` the file.

    A ``time_column`` of dates becomes a DatetimeIndex (from which a fit reads the
    observations per year); any other time column is kept as the index.

    Raises
    ------
    DataError
        The column holds text or infinities, or empty cells while ``nan_policy`` is not
        ``"omit"``; the message names the first by :func:`csv_position`.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "flows.csv"
    >>> _ = path.write_text("day,flow\\n2001-01-01,1.5\\n2001-01-02,2.5\\n")
    >>> series = read_series(path, "flow", time_column="day")
    >>> series.name, series.tolist(), type(series.index).__name__
    ('flow', [1.5, 2.5], 'DatetimeIndex')
    """
    columns = [column] + ([time_column] if time_column else [])
    frame = read_csv_text(path, usecols=list(dict.fromkeys(columns)))
    series = numeric_column(path, frame, column, gaps=nan_policy)
    if time_column:
        from sbp_bayes.dates import parse_dates

        # Dates become a DatetimeIndex, from which the fit reads observations per year.
        dates = parse_dates(frame[time_column])
        series.index = dates if dates is not None else pd.Index(frame[time_column], name=time_column)
    series.name = column
    series.attrs["source"] = str(path)
    return series


def read_table(path, columns, *, time_column: str | None = None) -> pd.DataFrame:
    """Columns of a CSV file as floats with no missing value (a time series and its
    covariates), indexed by ``time_column`` when given, ``attrs["source"]`` the file.

    Raises
    ------
    DataError
        A cell is empty or not a number, or a numeric ``time_column`` does not increase
        from row to row (lags follow the row order and a season the time: both must agree).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "series.csv"
    >>> _ = path.write_text("t,y,x\\n1,0.5,2\\n2,0.7,3\\n")
    >>> read_table(path, ["y", "x"], time_column="t").loc[2, "x"]
    np.float64(3.0)
    """
    columns = list(columns)
    raw = read_csv_text(path, usecols=list(dict.fromkeys([*columns, time_column or columns[0]])))
    frame = pd.DataFrame({name: numeric_column(path, raw, name) for name in columns})
    if time_column:
        time = raw[time_column]
        if pd.api.types.is_numeric_dtype(time):
            # Lags are read from the row order and the season from the time: both must agree.
            increasing = np.diff(time.to_numpy(dtype=float)) > 0
            if not increasing.all():
                row = int(np.flatnonzero(~increasing)[0]) + 1
                raise DataError(
                    f"{path}: time column {time_column!r} must increase from row to row, "
                    f"but {csv_position(row)}, has {time.iloc[row]} after {time.iloc[row - 1]}; "
                    "sort the file by time (and drop repeated times)."
                )
        frame.index = pd.Index(time, name=time_column)
    frame.attrs["source"] = str(path)
    return frame


def read_long_table(path, column: str, series_column: str) -> pd.DataFrame:
    """A long table of many series: columns ``series_column`` (the name of each row's
    series) and ``column`` (float), one row per observation, in file order.

    Raises
    ------
    DataError
        A value is not a number, or a row has no series name.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "gauges.csv"
    >>> _ = path.write_text("gauge,rain\\nA,1.0\\nB,2.0\\nA,3.0\\n")
    >>> read_long_table(path, "rain", "gauge").groupby("gauge")["rain"].sum().to_dict()
    {'A': 4.0, 'B': 2.0}
    """
    frame = pd.read_csv(path, usecols=list(dict.fromkeys([series_column, column])))
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = values.isna() & raw.notna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: column {column!r} has {int(bad.sum())} value(s) that are not numbers "
            f"(first {raw.iloc[row]!r} on line {row + 2}); clean the file or choose another column."
        )
    unnamed = frame[series_column].isna()
    if unnamed.any():
        row = int(unnamed.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: column {series_column!r} is empty on line {row + 2}; every row needs "
            "the name of its series."
        )
    out = pd.DataFrame({series_column: frame[series_column], column: values})
    out.attrs["source"] = str(path)
    return out
