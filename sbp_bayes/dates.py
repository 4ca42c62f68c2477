"""Observations per year from the dates of a record, so that return periods are in years.

A return level of ``T`` years needs the number of observations a year, ``n_y``: the
``T``-year level is exceeded with probability ``1 / (T n_y)`` by one observation. When
the data carry their dates (a :class:`pandas.DatetimeIndex`, or a ``time_column`` of
dates in a model spec), ``n_y`` is read from the record itself:

    ``n_y = N / span``, ``span = (last date - first date + one typical step) / 365.25 days``

where ``N`` is the number of observations and the typical step is the median spacing
between consecutive dates. Adding one step counts each observation as covering one
interval, so a complete daily record gives exactly 365.25 a year and a complete
monthly one 12 (up to the months' lengths). **Gaps are included in the span**: a daily
record with a missing year has fewer observations a year than 365.25, which is the
rate the fitted per-observation probabilities refer to.

Examples
--------
>>> import numpy as np, pandas as pd
>>> days = pd.date_range("2000-01-01", periods=3 * 365, freq="D")
>>> rate = record_rate(pd.Series(np.ones(days.size), index=days))
>>> rate.n_observations, round(rate.span_years, 3), round(rate.observations_per_year, 2)
(1095, 2.998, 365.25)
>>> record_rate(pd.Series([1.0, 2.0])) is None  # no dates, no rate
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DAYS_PER_YEAR", "RecordRate", "parse_dates", "rate_attrs", "record_rate"]

#: Mean length of a Gregorian-calendar year in days (the Julian year of astronomy).
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class RecordRate:
    """How many observations a year a dated record holds, and over what span.

    Attributes
    ----------
    n_observations : int
        ``N``, the observations with a date.
    start, end : pandas.Timestamp
        First and last date.
    step_days : float
        Median spacing of consecutive dates, in days (added once to the span).
    span_years : float
        ``(end - start + step) / 365.25 days``, gaps included.
    observations_per_year : float
        ``N / span_years``.
    """

    n_observations: int
    start: pd.Timestamp
    end: pd.Timestamp
    step_days: float
    span_years: float
    observations_per_year: float

    def describe(self) -> str:
        """One sentence for a report, e.g. ``"3652 observations from 2000-01-01 to ..."``."""
        return (
            f"{self.n_observations} observations from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}, "
            f"a span of {self.span_years:.4g} years (gaps included): "
            f"{self.observations_per_year:.6g} observations a year, inferred from the dates"
        )


def record_rate(data) -> RecordRate | None:
    """The observation rate of a record with a :class:`~pandas.DatetimeIndex`.

    Parameters
    ----------
    data : pandas.Series, pandas.DataFrame or pandas.DatetimeIndex
        A record indexed by its dates (any order; repeated dates count once per row).

    Returns
    -------
    RecordRate or None
        ``None`` when the index holds no dates.

    Raises
    ------
    ValueError
        The dates include missing values (``NaT``) or all fall on one instant, so no
        span can be measured.
    """
    index = data if isinstance(data, pd.Index) else getattr(data, "index", None)
    if not isinstance(index, pd.DatetimeIndex):
        return None
    if index.hasnans:
        where = int(np.flatnonzero(index.isna())[0])
        raise ValueError(
            f"The dates include a missing value (NaT, at position {where + 1} of {index.size}); "
            "give every observation a date or drop the undated ones."
        )
    utc = index if index.tz is None else index.tz_convert("UTC")
    times = np.sort(utc.as_unit("ns").asi8)  # nanoseconds, whatever unit the index keeps
    if times.size < 2 or times[-1] == times[0]:
        raise ValueError(
            f"All {index.size} dates are the same instant ({index[0]}); a span of time is needed to "
            "count observations a year. Pass observations_per_period instead."
        )
    nanoseconds_per_day = 86_400 * 10**9
    steps = np.diff(times)
    step_days = float(np.median(steps[steps > 0])) / nanoseconds_per_day
    span_days = (times[-1] - times[0]) / nanoseconds_per_day + step_days
    span_years = span_days / DAYS_PER_YEAR
    return RecordRate(
        n_observations=int(index.size),
        start=pd.Timestamp(times[0]),
        end=pd.Timestamp(times[-1]),
        step_days=step_days,
        span_years=float(span_years),
        observations_per_year=float(index.size / span_years),
    )


def rate_attrs(data) -> dict:
    """``attrs`` entries that record a dated record's rate (empty without dates).

    ``observations_per_year`` (used by the return levels), ``observations_per_year_source``
    (``"dates"``), ``record_start``, ``record_end`` and ``record_span_years``, all plain
    strings and floats so that they are saved with a fit.
    """
    rate = record_rate(data)
    if rate is None:
        return {}
    return {
        "observations_per_year": rate.observations_per_year,
        "observations_per_year_source": "dates",
        "record_start": f"{rate.start:%Y-%m-%d %H:%M:%S}".removesuffix(" 00:00:00"),
        "record_end": f"{rate.end:%Y-%m-%d %H:%M:%S}".removesuffix(" 00:00:00"),
        "record_span_years": rate.span_years,
    }


def parse_dates(values: pd.Series) -> pd.DatetimeIndex | None:
    """Dates from a column of text (ISO 8601 first, then pandas' own parser), or ``None``
    when the column is numeric or not every entry is a date."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values)
    for options in ({"format": "ISO8601"}, {}):
        with warnings.catch_warnings():
            # pandas warns when it guesses a format element by element: a guess is fine here,
            # since any failure below keeps the column as text.
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(values, **options)
            except (ValueError, TypeError, OverflowError):
                continue
        if not parsed.isna().any():
            return pd.DatetimeIndex(parsed, name=values.name)
    return None
