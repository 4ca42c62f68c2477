"""The validated spec as objects: :class:`Spec` and one frozen dataclass per section.

A :class:`Spec` knows how to load the data it names (through :mod:`sbp_bayes.datasets`),
the keyword arguments of its family's fit function, how to fit, and how to write itself
back as TOML. Build one with :func:`sbp_bayes.spec.load_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from sbp_bayes import datasets
from sbp_bayes.datasets.csv_reading import read_long_table, read_series, read_table
from sbp_bayes.model import DataError
from sbp_bayes.spec.checks import SpecError, check_covariates, check_csv, checked, closest, spec_advice
from sbp_bayes.spec.schema import DYNAMIC_FAMILIES, DYNAMIC_KEY_FAMILIES, FAMILIES, SAMPLER_KEYS, Family
from sbp_bayes.spec.writer import dumps_toml

__all__ = [
    "DataSpec",
    "DynamicReportSpec",
    "DynamicSpec",
    "ModelSpec",
    "ReportSpec",
    "SamplerSpec",
    "Spec",
    "StudySpec",
]


@dataclass(frozen=True)
class StudySpec:
    """``[study]``: what the study is called and what it is about."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class DataSpec:
    """``[data]``: a bundled ``dataset`` or a CSV ``path`` (absolute) with a ``column``."""

    dataset: str | None = None
    path: Path | None = None
    column: str | None = None
    time_column: str | None = None
    units: str | None = None
    observations_per_year: float | None = None
    series_column: str | None = None

    def describe(self) -> str:
        """Where the data come from, in words."""
        if self.dataset is not None:
            return f"bundled dataset {self.dataset!r} ({datasets.info(self.dataset).source})"
        if self.series_column is not None:
            return f"column {self.column!r} of {self.path}, one series per value of {self.series_column!r}"
        return f"column {self.column!r} of {self.path}"


@dataclass(frozen=True)
class ModelSpec:
    """``[model]``: the family and its options (every key, defaults filled in)."""

    family: str
    options: dict = field(default_factory=dict)

    @property
    def tails(self) -> str | None:
        return self.options.get("tails")


@dataclass(frozen=True)
class SamplerSpec:
    """``[sampler]``: NUTS implementation and run length."""

    name: str = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    random_seed: int | None = None


@dataclass(frozen=True)
class ReportSpec:
    """``[report]``: which tail answers the report gives (defaults as in :mod:`sbp_bayes.report`)."""

    return_periods: tuple[float, ...] = (10.0, 50.0, 100.0)
    observations_per_period: float | None = None
    exceedance: tuple[float, ...] = ()
    quantiles: tuple[float, ...] = (0.001, 0.01, 0.99, 0.999)
    var_levels: tuple[float, ...] = (0.95, 0.99)
    es_levels: tuple[float, ...] = (0.95, 0.99)
    ci_prob: float = 0.95
    ci_kind: str = "eti"
    score: tuple[float, ...] = ()
    tail: str | None = None
    extremal_index: str | float | None = None


@dataclass(frozen=True)
class DynamicSpec:
    """``[dynamic]``: the features of a dynamic model and how they act (every key,
    defaults filled in); see :func:`sbp_bayes.dynamic.fit_dynamic`."""

    lags: int = 0
    seasonal_period: float | None = None
    harmonics: int = 1
    covariates: tuple[str, ...] = ()
    body: str = "location_scale"
    tail_block_size: int | None = None
    tail_share: float = 0.05


@dataclass(frozen=True)
class DynamicReportSpec:
    """``[report]`` of a dynamic model: the interval of the scores and tail shapes, and
    how many of the most unusual observations to list."""

    ci_prob: float = 0.95
    unusual: int = 10


@dataclass(frozen=True)
class Spec:
    """A validated model spec. Build it with :func:`load_spec` or :func:`loads_spec`.

    Attributes
    ----------
    source : str
        The file it was read from, as given (used in messages).
    study, data, model, sampler, report
        The sections (see the module docstring); ``report`` is a
        :class:`DynamicReportSpec` for a dynamic model.
    priors : dict of str to Prior
        Priors given in ``[priors.*]`` (the others keep their defaults).
    threshold_priors : dict
        ``{"upper": "uniform" or weights}`` as given in ``[threshold_priors]``.
    dynamic : DynamicSpec or None
        The ``[dynamic]`` section: set for a dynamic model, ``None`` for a static one.
    """

    source: str
    study: StudySpec
    data: DataSpec
    model: ModelSpec
    priors: dict
    threshold_priors: dict
    sampler: SamplerSpec
    report: ReportSpec | DynamicReportSpec
    dynamic: DynamicSpec | None = None

    @property
    def is_dynamic(self) -> bool:
        """Whether the spec describes a dynamic model (it has a ``[dynamic]`` section)."""
        return self.dynamic is not None

    @property
    def is_many(self) -> bool:
        """Whether the spec describes many series (``[data] series_column``), fitted
        separately by ``sbp-bayes fit-many`` / :func:`sbp_bayes.fit_many`."""
        return self.data.series_column is not None

    @property
    def family(self) -> Family:
        if self.is_dynamic:
            return DYNAMIC_FAMILIES[self.model.family]
        return FAMILIES[self.model.family]

    @property
    def target(self) -> str:
        """The name of the modelled column (of the CSV, or of the bundled dataset)."""
        if self.data.dataset is not None:
            return datasets.info(self.data.dataset).column
        return self.data.column

    def fit_kwargs(self) -> dict:
        """Keyword arguments of the family's fit function (:func:`sbp_bayes.fit` for "sbp",
        :func:`sbp_bayes.dynamic.fit_dynamic` for a dynamic model).

        Model options left unset (``None``) are not passed, so the function's defaults apply.
        """
        kwargs = {key: value for key, value in self.model.options.items() if value is not None}
        kwargs["family"] = self.model.family
        if self.is_dynamic:
            dynamic = {key: value for key, value in self.dynamic.__dict__.items() if value is not None}
            kwargs.update(dynamic, covariates=list(self.dynamic.covariates), target=self.target)
        if self.priors:
            kwargs["priors"] = dict(self.priors)
        if self.threshold_priors:
            kwargs["threshold_priors"] = dict(self.threshold_priors)
        kwargs.update(
            sampler=self.sampler.name,
            draws=self.sampler.draws,
            tune=self.sampler.tune,
            chains=self.sampler.chains,
            random_seed=self.sampler.random_seed,
        )
        return kwargs

    def load_data(self) -> pd.Series | pd.DataFrame:
        """The data as a float Series named after its column, with ``attrs`` ``units``,
        ``observations_per_year`` and ``source`` where known.

        For a dynamic model, a DataFrame instead: the modelled column, then the
        covariates, indexed by the time column when there is one.

        Raises
        ------
        SpecError
            The file or a column named by the spec is missing.
        DataError
            The column holds text (``"n/a"`` included: only an empty cell is a missing
            value) or infinities, or has empty cells while ``[model] nan_policy`` is not
            ``"omit"`` (a dynamic model needs every step of every column). The message
            names the first by data row and file line.
        """
        spec = self.data
        if self.is_many:
            raise SpecError(
                f"{self.source}: [data] series_column {spec.series_column!r} makes this a spec of many "
                "series; fit it with 'sbp-bayes fit-many' (sbp_bayes.fit_many), or remove series_column"
            )
        if self.is_dynamic:
            return self._load_frame()
        if spec.dataset is not None:
            series = datasets.load(spec.dataset)
        else:
            check_csv(self.source, spec.path, spec.column, spec.time_column)
            series = read_series(
                spec.path,
                spec.column,
                time_column=spec.time_column,
                nan_policy=self.model.options.get("nan_policy"),
            )
        if spec.units is not None:
            series.attrs["units"] = spec.units
        if spec.observations_per_year is not None:
            series.attrs["observations_per_year"] = spec.observations_per_year
        return series

    def load_many(self) -> pd.DataFrame:
        """The long-format table of a many-series spec: columns ``series_column`` and
        ``column`` (float), one row per observation, in file order.

        Raises
        ------
        SpecError
            Not a many-series spec, or the file or a column is missing.
        DataError
            A value is not a number, or a row has no series name.
        """
        spec = self.data
        if not self.is_many:
            raise SpecError(f"{self.source}: [data] has no series_column: this spec describes one series")
        check_csv(self.source, spec.path, spec.column, None, spec.series_column)
        return read_long_table(spec.path, spec.column, spec.series_column)

    def _load_frame(self) -> pd.DataFrame:
        spec = self.data
        covariates = list(self.dynamic.covariates)
        if spec.dataset is not None:
            series = datasets.load(spec.dataset)
            frame = series.to_frame()
            frame.attrs.update(series.attrs)
        else:
            check_csv(self.source, spec.path, spec.column, spec.time_column)
            check_covariates(self.source, spec.path, spec.column, spec.time_column, covariates)
            frame = read_table(spec.path, [spec.column, *covariates], time_column=spec.time_column)
        if spec.units is not None:
            frame.attrs["units"] = spec.units
        if spec.observations_per_year is not None:
            frame.attrs["observations_per_year"] = spec.observations_per_year
        return frame

    def observations_per_period(self, data: pd.Series | None = None) -> float | None:
        """``[report] observations_per_period``, else the data's observations per year."""
        if self.report.observations_per_period is not None:
            return self.report.observations_per_period
        if self.data.observations_per_year is not None:
            return self.data.observations_per_year
        if data is not None and data.attrs.get("observations_per_year"):
            return float(data.attrs["observations_per_year"])
        if self.data.dataset is not None:
            return datasets.info(self.data.dataset).observations_per_year
        return None

    def report_tail(self) -> str:
        """The tail the report's tail answers refer to (``[report] tail`` or the modelled one)."""
        if self.report.tail is not None:
            return self.report.tail
        return "lower" if self.model.tails == "lower" else "upper"

    def fit(self, data: pd.Series | None = None, **options):
        """Fit the model: the family's fit function on ``data`` (default :meth:`load_data`)
        with :meth:`fit_kwargs` updated by ``options``.

        A :class:`~sbp_bayes.model.DataError` that suggests a change of option is raised
        again in the words of the spec (``nan_policy = "omit"``, a ``[model]`` key), not of
        the Python function (``nan_policy='omit'``)."""
        data = self.load_data() if data is None else data
        try:
            return self.family.fit_function()(data, **{**self.fit_kwargs(), **options})
        except DataError as error:
            advice = spec_advice(str(error), self.family.model_keys)
            if advice == str(error):
                raise
            raise DataError(advice) from None

    def with_sampler(self, **changes) -> Spec:
        """A copy with sampler settings replaced (checked like the spec's own)."""
        for key, value in changes.items():
            if key not in SAMPLER_KEYS:
                raise SpecError(f"{self.source}: [sampler] unknown key {key!r}{closest(key, SAMPLER_KEYS)}")
            checked(self.source, "[sampler]", key, SAMPLER_KEYS[key], value)
        return replace(self, sampler=replace(self.sampler, **changes))

    def to_dict(self) -> dict:
        """The spec as a TOML-ready dict: every section, defaults filled in, ``None`` left out.
        A data path is absolute, so the dict describes the study wherever it is written."""
        data = {
            "dataset": self.data.dataset,
            "path": str(self.data.path) if self.data.path is not None else None,
            "column": self.data.column,
            "time_column": self.data.time_column,
            "units": self.data.units,
            "observations_per_year": self.data.observations_per_year,
            "series_column": self.data.series_column,
        }
        sampler = {
            "name": self.sampler.name,
            "draws": self.sampler.draws,
            "tune": self.sampler.tune,
            "chains": self.sampler.chains,
            "random_seed": self.sampler.random_seed,
        }
        report = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self.report.__dict__.items()
        }
        dynamic = None
        if self.is_dynamic:
            # Only the keys that apply (the parser refuses the others), defaults included.
            dynamic = {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in self.dynamic.__dict__.items()
                if self.model.family in DYNAMIC_KEY_FAMILIES.get(name, (self.model.family,))
                and not (name == "harmonics" and self.dynamic.seasonal_period is None)
            }
        sections = {
            "study": {"name": self.study.name, "description": self.study.description},
            "data": data,
            "model": {"family": self.model.family, **self.model.options},
            "dynamic": dynamic,
            "priors": {name: prior.to_config() for name, prior in self.priors.items()},
            "threshold_priors": dict(self.threshold_priors),
            "sampler": sampler,
            "report": report,
        }
        out = {}
        for section, values in sections.items():
            if values is None:
                continue
            kept = {key: value for key, value in values.items() if value is not None}
            if kept or section == "dynamic":  # an empty [dynamic] still makes the model dynamic
                out[section] = kept
        return out

    def to_toml(self, comment: str | None = None) -> str:
        """The spec as TOML text (:meth:`to_dict`), read back by :func:`loads_spec`."""
        return dumps_toml(self.to_dict(), comment)
