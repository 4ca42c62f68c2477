"""Model specs: a study written down as a TOML file (``models/*.toml``) and validated.

A spec names the data, the model, its priors, how to sample and what to report, so that
a study is one reviewable file and one command (``sbp-bayes fit models/danish.toml``).

Sections
--------
``[study]``
    ``name``, ``description``.
``[data]``
    Either ``dataset = "danish"`` (a bundled data set, see :mod:`sbp_bayes.datasets`) or
    ``path = "file.csv"`` (relative to the spec's folder) with ``column = "..."``;
    optionally ``time_column`` (kept as the index; a column of dates becomes a
    DatetimeIndex, from which observations per year are inferred), ``units`` and
    ``observations_per_year``. ``series_column`` makes the CSV hold many series (see
    below).
``[model]``
    ``family`` (``"sbp"``; see :data:`FAMILIES`), ``tails``, ``bins``,
    ``lower_threshold``/``upper_threshold`` (a float fixes it, a list gives the candidates,
    absent means a prior over automatic candidates), ``n_candidates``, ``tail_fraction``,
    ``max_tail_points``, ``min_tail_points``, ``lower_bound``, ``upper_bound``,
    ``nan_policy``, ``decluster``. These are the options of :func:`sbp_bayes.fit`.
``[priors.<name>]``
    ``{dist = "Normal", mu = 0.0, sigma = 0.5}`` for ``upper_xi``, ``upper_sigma``,
    ``lower_xi``, ``lower_sigma`` (PyMC distributions) or ``bin_probs``
    (``{dist = "Dirichlet", a = 1.0}``); see :func:`sbp_bayes.model.default_priors`.
``[threshold_priors]``
    ``upper``/``lower`` = ``"uniform"`` or one weight per candidate (ascending).
``[sampler]``
    ``name`` (nutpie, pymc, numpyro), ``draws``, ``tune``, ``chains``, ``random_seed``.
``[report]``
    ``return_periods``, ``observations_per_period`` (default: the data's
    ``observations_per_year``, so periods are years), ``exceedance`` (values),
    ``quantiles`` (probabilities), ``var_levels``, ``es_levels``, ``ci_prob``,
    ``ci_kind`` (eti, hdi), ``score`` (values to score), ``tail`` (upper, lower),
    ``extremal_index`` (a method of :func:`sbp_bayes.extremal_index` or a number).

Every key with its meaning and default: :func:`spec_keys` (``sbp-bayes spec-keys``);
a first spec for a CSV file: :func:`init_spec` (``sbp-bayes init DATA.csv``).

Dynamic models
--------------
A ``[dynamic]`` section makes the spec describe a time series whose distribution moves
with its own past, a season and covariates, fitted by
:func:`sbp_bayes.dynamic.fit_dynamic` (see :data:`DYNAMIC_FAMILIES`):

``[dynamic]``
    ``lags`` (autoregressive lags, default 0), ``seasonal_period`` (in units of the
    time column) with ``harmonics`` (Fourier pairs, default 1), ``covariates`` (columns
    of the ``[data]`` CSV), ``body`` (``"location_scale"``: two stages, the default; or
    ``"logit"``), ``tail_block_size`` (tail shapes as a random walk over blocks of this
    many steps; absent: constant), ``tail_share`` (share of the data beyond each fixed
    threshold, default 0.05).
``[model]``
    ``family`` (``"sbp"``, ``"binned"``, ``"normal"``, ``"student_t"``); ``tails`` (sbp)
    and ``bins`` (sbp, binned).
``[data]``
    As above; the rows are the time steps in order, and a numeric ``time_column`` gives
    each step's time (the season is a function of it).
``[report]``
    ``ci_prob`` and ``unusual`` (how many of the most unusual observations to list).

``[priors]`` and ``[threshold_priors]`` do not apply (the dynamic priors are fixed).

Many series
-----------
``series_column = "gauge"`` in ``[data]`` (with ``path`` and ``column``) makes the spec
describe one model fitted separately to every series of a long-format CSV: one row per
observation, the series name in ``series_column`` and the value in ``column``. Fit it
with ``sbp-bayes fit-many SPEC --out DIR`` (:func:`sbp_bayes.fit_many`); the other
sections apply to every series, ``[report]``'s ``return_periods``,
``observations_per_period`` (default 1: periods count observations), ``exceedance``,
``var_levels``, ``es_levels``, ``ci_prob`` and ``tail`` choose the tail answers of the
summary table. A many-series spec is static (no ``[dynamic]`` section).

Every mistake raises :class:`SpecError` with a one-line message naming the file and the
key, and, for a misspelt name, the closest valid one.

Examples
--------
>>> from sbp_bayes.spec import loads_spec
>>> spec = loads_spec('''
... [data]
... dataset = "danish"
... [model]
... tails = "upper"
... upper_threshold = 10.0
... [sampler]
... draws = 500
... ''')
>>> spec.fit_kwargs()["upper_threshold"], spec.sampler.draws, spec.sampler.chains
(10.0, 500, 4)
>>> loads_spec('[data]\\ndataset = "danish"\\n[sampler]\\ndraw = 5')
Traceback (most recent call last):
...
sbp_bayes.spec.SpecError: <string>: [sampler] unknown key 'draw'; did you mean 'draws'? (valid keys: ...)
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sbp_bayes import datasets
from sbp_bayes.fit import SAMPLERS
from sbp_bayes.model import (
    DEFAULT_MAX_TAIL_POINTS,
    DEFAULT_MIN_TAIL_POINTS,
    DEFAULT_TAIL_FRACTION,
    TAILS,
    DataError,
)
from sbp_bayes.priors import Prior, PriorError

__all__ = [
    # loading
    "SpecError",
    "load_spec",
    "loads_spec",
    # the spec
    "Spec",
    "StudySpec",
    "DataSpec",
    "ModelSpec",
    "SamplerSpec",
    "ReportSpec",
    "DynamicSpec",
    "DynamicReportSpec",
    # model families
    "FAMILIES",
    "DYNAMIC_FAMILIES",
    "Family",
    # reference and a first spec
    "KeyDoc",
    "init_spec",
    "spec_keys",
    "spec_reference",
]


class SpecError(ValueError):
    """A model spec is invalid. The message is one line: ``file: [section] key ...``."""


class _Invalid(Exception):
    """Raised by a key check; the text continues "<key> ..." (e.g. "must be ..., got ...")."""


# ----------------------------------------------------------------------------- key checks

_TOML_TYPES = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}


def _type_name(value) -> str:
    if isinstance(value, dict):
        return "a table"
    return _TOML_TYPES.get(type(value), f"a {type(value).__name__}")


def _show(value) -> str:
    """A value as it would be written in TOML (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return repr(value)


def _wrong_type(expected: str, value) -> _Invalid:
    return _Invalid(f"must be {expected}, got {_show(value)} ({_type_name(value)})")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _closest(name: str, options) -> str:
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _text(value):
    if not isinstance(value, str):
        raise _wrong_type("a string", value)
    return value


def _name(value):
    if not isinstance(value, str):
        raise _wrong_type("a non-empty string", value)
    if not value.strip():
        raise _Invalid("must be a non-empty string, got an empty string")
    return value


def _integer(minimum: int) -> Callable:
    what = "a positive integer" if minimum == 1 else "a non-negative integer"

    def check(value):
        if isinstance(value, float) and value.is_integer():
            raise _Invalid(f"must be {what}, got {value!r} (a float; write it without a decimal point)")
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(what, value)
        if value < minimum:
            raise _Invalid(f"must be {what}, got {value}")
        return value

    return check


def _real(what: str = "a number", *, above: float | None = None, below: float | None = None) -> Callable:
    """A finite number, optionally strictly between ``above`` and ``below``."""

    def check(value):
        if not _is_number(value):
            raise _wrong_type(what, value)
        if not math.isfinite(value):
            raise _Invalid(f"must be {what}, got {value!r}")
        if (above is not None and value <= above) or (below is not None and value >= below):
            raise _Invalid(f"must be {what}, got {value!r}")
        return float(value)

    return check


_positive = _real("a positive number", above=0.0)
_probability = _real("a probability strictly between 0 and 1", above=0.0, below=1.0)


def _choice(*options: str) -> Callable:
    listed = ", ".join(f'"{o}"' for o in options)

    def check(value):
        if not isinstance(value, str):
            raise _wrong_type(f"one of {listed}", value)
        if value not in options:
            raise _Invalid(f"must be one of {listed}, got {_show(value)}{_closest(value, options)}")
        return value

    return check


def _number_list(item: Callable, what: str, *, increasing: bool = False, empty: bool = True) -> Callable:
    """A list of numbers checked by ``item``; a single number is read as a one-element list."""

    def check(value):
        items = [value] if _is_number(value) else value
        if not isinstance(items, list):
            raise _wrong_type(f"a list of {what}", value)
        try:
            converted = [item(entry) for entry in items]
        except _Invalid:
            raise _Invalid(f"must be a list of {what}, got {_show(value)}") from None
        if not converted and not empty:
            raise _Invalid(f"must be a non-empty list of {what}, got []")
        if increasing and any(b <= a for a, b in itertools.pairwise(converted)):
            raise _Invalid(f"must be a strictly increasing list of {what}, got {_show(value)}")
        return converted

    return check


def _threshold(value):
    """A fixed threshold (number) or the candidate thresholds (increasing list)."""
    if _is_number(value):
        return _real()(value)
    if isinstance(value, list):
        return _number_list(_real(), "numbers", increasing=True, empty=False)(value)
    raise _wrong_type("a number (fixed threshold) or a list of numbers (candidates)", value)


def _bins(value):
    if _is_number(value):
        return _integer(1)(value)
    if isinstance(value, list):
        return _number_list(_real(), "numbers", increasing=True, empty=False)(value)
    raise _wrong_type("a positive integer (number of bins) or a list of interior bin edges", value)


def _extremal_index(value):
    """A method name or a fixed extremal index in (0, 1]."""
    from sbp_bayes.clusters import EXTREMAL_INDEX_METHODS

    listed = ", ".join(f'"{m}"' for m in EXTREMAL_INDEX_METHODS)
    if isinstance(value, str):
        if value not in EXTREMAL_INDEX_METHODS:
            raise _Invalid(
                f"must be one of {listed} or a number in (0, 1], got {_show(value)}"
                f"{_closest(value, EXTREMAL_INDEX_METHODS)}"
            )
        return value
    if not _is_number(value):
        raise _wrong_type(f"one of {listed} or a number in (0, 1]", value)
    if not 0.0 < value <= 1.0:
        raise _Invalid(f"must be a number in (0, 1] (1 = no clustering), got {value!r}")
    return float(value)


def _decluster(value):
    """A run length, or a table with threshold, run_length and tail."""
    if _is_number(value):
        return _integer(1)(value)
    if not isinstance(value, dict):
        raise _wrong_type("a run length (positive integer) or a table {threshold, run_length, tail}", value)
    allowed = {"threshold": _real(), "run_length": _integer(1), "tail": _choice("upper", "lower")}
    out = {}
    for key, item in value.items():
        if key not in allowed:
            raise _Invalid(
                f"has unknown key {key!r}{_closest(key, allowed)} (keys: threshold, run_length, tail)"
            )
        try:
            out[key] = allowed[key](item)
        except _Invalid as problem:
            raise _Invalid(f"{key} {problem}") from None
    return out


def _weights(value):
    if isinstance(value, str):
        if value != "uniform":
            raise _Invalid(f'must be "uniform" or a list of non-negative weights, got {_show(value)}')
        return value
    what = 'the string "uniform" or a list of non-negative weights'
    if not isinstance(value, list):
        raise _wrong_type(what, value)
    weights = _number_list(_real("a non-negative number", above=None), "non-negative numbers", empty=False)(
        value
    )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise _Invalid(f"must be {what} with a positive sum, got {_show(value)}")
    return weights


@dataclass(frozen=True)
class _Key:
    check: Callable
    default: object = None


# ----------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """A model family a spec can name in ``[model] family``.

    ``model_keys`` are the keys its ``[model]`` section accepts (with their checks and
    defaults), ``prior_names`` the priors it has, ``fit`` the function that fits it
    (called as ``fit(data, **spec.fit_kwargs())``), as ``"module:function"``.
    """

    name: str
    description: str
    model_keys: Mapping[str, _Key]
    prior_names: tuple[str, ...]
    fit: str

    def fit_function(self) -> Callable:
        import importlib

        module, function = self.fit.split(":")
        return getattr(importlib.import_module(module), function)


_SBP_MODEL_KEYS = {
    "tails": _Key(_choice(*TAILS), "both"),
    "bins": _Key(_bins, 30),
    "lower_threshold": _Key(_threshold),
    "upper_threshold": _Key(_threshold),
    "n_candidates": _Key(_integer(1), 10),
    "tail_fraction": _Key(_real("a number in (0, 0.5]", above=0.0, below=0.5 + 1e-12), DEFAULT_TAIL_FRACTION),
    "max_tail_points": _Key(_integer(1), DEFAULT_MAX_TAIL_POINTS),
    "min_tail_points": _Key(_integer(1), DEFAULT_MIN_TAIL_POINTS),
    "lower_bound": _Key(_real()),
    "upper_bound": _Key(_real()),
    "nan_policy": _Key(_choice("raise", "omit"), "raise"),
    "decluster": _Key(_decluster),
}


def _keys(*names: str, **overrides: _Key) -> dict[str, _Key]:
    """A family's ``[model]`` keys: a subset of the SBP's, with family-specific defaults."""
    keys = {name: _SBP_MODEL_KEYS[name] for name in names}
    keys.update(overrides)
    keys["nan_policy"] = _SBP_MODEL_KEYS["nan_policy"]
    return keys


def _family(name: str, keys: dict[str, _Key]) -> Family:
    from sbp_bayes.families import get_family

    family = get_family(name)
    return Family(
        name=name,
        description=family.description,
        model_keys=keys,
        prior_names=family.priors,
        fit="sbp_bayes.fit:fit",
    )


#: Model families by ``[model] family`` name (see :mod:`sbp_bayes.families`); each is
#: fitted by :func:`sbp_bayes.fit` with ``family=<name>`` and the keys listed here.
FAMILIES: dict[str, Family] = {
    "sbp": Family(
        name="sbp",
        description="spliced binned-Pareto: histogram body, GPD tails, threshold prior",
        model_keys=_SBP_MODEL_KEYS,
        prior_names=("upper_xi", "upper_sigma", "lower_xi", "lower_sigma", "bin_probs"),
        fit="sbp_bayes.fit:fit",
    ),
    "sbp_continuous": _family(
        "sbp_continuous",
        _keys("tails", "bins", "lower_threshold", "upper_threshold", "lower_bound", "upper_bound"),
    ),
    "binned": _family("binned", _keys("lower_bound", "upper_bound", bins=_Key(_bins, 50))),
    "normal": _family("normal", _keys()),
    "student_t": _family("student_t", _keys()),
    "gpd_normal_gpd": _family("gpd_normal_gpd", _keys("tails", "lower_threshold", "upper_threshold")),
    "pot_gpd": _family("pot_gpd", _keys("upper_threshold", tails=_Key(_choice("upper"), "upper"))),
}

_STUDY_KEYS = {"name": _Key(_name), "description": _Key(_text, "")}
_DATA_KEYS = {
    "dataset": _Key(_choice(*datasets.available())),
    "path": _Key(_name),
    "column": _Key(_name),
    "time_column": _Key(_name),
    "units": _Key(_text),
    "observations_per_year": _Key(_positive),
    "series_column": _Key(_name),
}
_SAMPLER_KEYS = {
    "name": _Key(_choice(*SAMPLERS), "auto"),
    "draws": _Key(_integer(1), 1000),
    "tune": _Key(_integer(0), 1000),
    "chains": _Key(_integer(1), 4),
    "random_seed": _Key(_integer(0)),
}
_REPORT_KEYS = {
    "return_periods": _Key(_number_list(_positive, "positive numbers"), [10.0, 50.0, 100.0]),
    "observations_per_period": _Key(_positive),
    "exceedance": _Key(_number_list(_real(), "numbers"), []),
    "quantiles": _Key(_number_list(_probability, "probabilities in (0, 1)"), [0.001, 0.01, 0.99, 0.999]),
    "var_levels": _Key(_number_list(_probability, "probabilities in (0, 1)"), [0.95, 0.99]),
    "es_levels": _Key(_number_list(_probability, "probabilities in (0, 1)"), [0.95, 0.99]),
    "ci_prob": _Key(_probability, 0.95),
    "ci_kind": _Key(_choice("eti", "hdi"), "eti"),
    "score": _Key(_number_list(_real(), "numbers"), []),
    "tail": _Key(_choice("upper", "lower")),
    "extremal_index": _Key(_extremal_index),
}
_THRESHOLD_PRIOR_KEYS = {"upper": _Key(_weights), "lower": _Key(_weights)}
_SECTIONS = ("study", "data", "model", "dynamic", "priors", "threshold_priors", "sampler", "report")


def _column_names(value):
    """A list of distinct column names (a single name is read as a one-element list)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise _wrong_type("a list of column names", value)
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise _Invalid(f"names the column {repeated[0]!r} twice")
    return list(items)


_DYNAMIC_KEYS = {
    "lags": _Key(_integer(0), 0),
    "seasonal_period": _Key(_positive),
    "harmonics": _Key(_integer(1), 1),
    "covariates": _Key(_column_names, []),
    "body": _Key(_choice("location_scale", "logit"), "location_scale"),
    "tail_block_size": _Key(_integer(1)),
    "tail_share": _Key(_real("a number in (0, 0.5)", above=0.0, below=0.5), 0.05),
}
#: ``[dynamic]`` keys that only some families use, and those families.
_DYNAMIC_KEY_FAMILIES = {
    "body": ("sbp", "binned"),
    "tail_block_size": ("sbp",),
    "tail_share": ("sbp",),
}
_DYNAMIC_REPORT_KEYS = {"ci_prob": _Key(_probability, 0.95), "unusual": _Key(_integer(0), 10)}


def _dynamic_family(name: str, keys: dict[str, _Key]) -> Family:
    from sbp_bayes.dynamic import DYNAMIC_FAMILIES as names

    assert name in names
    descriptions = {
        "sbp": "spliced binned-Pareto whose bins and tails move with the features",
        "binned": "histogram whose bin probabilities move with the features",
        "normal": "Gaussian with location and log-scale linear in the features",
        "student_t": "Student-t with location and log-scale linear in the features",
    }
    return Family(
        name=name,
        description=descriptions[name],
        model_keys=keys,
        prior_names=(),
        fit="sbp_bayes.dynamic:fit_dynamic",
    )


#: Families of a dynamic spec (one with a ``[dynamic]`` section), fitted by
#: :func:`sbp_bayes.dynamic.fit_dynamic` with the ``[model]`` keys listed here.
DYNAMIC_FAMILIES: dict[str, Family] = {
    "sbp": _dynamic_family("sbp", {"tails": _Key(_choice(*TAILS), "both"), "bins": _Key(_integer(1), 30)}),
    "binned": _dynamic_family("binned", {"bins": _Key(_integer(1), 30)}),
    "normal": _dynamic_family("normal", {}),
    "student_t": _dynamic_family("student_t", {}),
}


# ----------------------------------------------------------------------------- the spec


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
            _check_csv(self.source, spec.path, spec.column, spec.time_column)
            columns = [spec.column] + ([spec.time_column] if spec.time_column else [])
            frame = read_csv_text(spec.path, usecols=list(dict.fromkeys(columns)))
            series = _numeric_column(spec.path, frame, spec.column, gaps=self.model.options.get("nan_policy"))
            if spec.time_column:
                from sbp_bayes.dates import parse_dates

                # Dates become a DatetimeIndex, from which the fit reads observations per year.
                dates = parse_dates(frame[spec.time_column])
                series.index = (
                    dates if dates is not None else pd.Index(frame[spec.time_column], name=spec.time_column)
                )
            series.name = spec.column
            series.attrs["source"] = str(spec.path)
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
        _check_csv(self.source, spec.path, spec.column, None, spec.series_column)
        frame = pd.read_csv(spec.path, usecols=list(dict.fromkeys([spec.series_column, spec.column])))
        raw = frame[spec.column]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = values.isna() & raw.notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{spec.path}: column {spec.column!r} has {int(bad.sum())} value(s) that are not numbers "
                f"(first {raw.iloc[row]!r} on line {row + 2}); clean the file or choose another column."
            )
        unnamed = frame[spec.series_column].isna()
        if unnamed.any():
            row = int(unnamed.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{spec.path}: column {spec.series_column!r} is empty on line {row + 2}; every row needs "
                "the name of its series."
            )
        out = pd.DataFrame({spec.series_column: frame[spec.series_column], spec.column: values})
        out.attrs["source"] = str(spec.path)
        return out

    def _load_frame(self) -> pd.DataFrame:
        spec = self.data
        covariates = list(self.dynamic.covariates)
        if spec.dataset is not None:
            series = datasets.load(spec.dataset)
            frame = series.to_frame()
            frame.attrs.update(series.attrs)
        else:
            _check_csv(self.source, spec.path, spec.column, spec.time_column)
            _check_covariates(self.source, spec.path, spec.column, spec.time_column, covariates)
            names = [spec.column, *covariates]
            raw = read_csv_text(
                spec.path, usecols=list(dict.fromkeys([*names, spec.time_column or spec.column]))
            )
            frame = pd.DataFrame({name: _numeric_column(spec.path, raw, name) for name in names})
            if spec.time_column:
                time = raw[spec.time_column]
                if pd.api.types.is_numeric_dtype(time):
                    # Lags are read from the row order and the season from the time: both must agree.
                    increasing = np.diff(time.to_numpy(dtype=float)) > 0
                    if not increasing.all():
                        row = int(np.flatnonzero(~increasing)[0]) + 1
                        raise DataError(
                            f"{spec.path}: time column {spec.time_column!r} must increase from row to row, "
                            f"but {csv_position(row)}, has {time.iloc[row]} after {time.iloc[row - 1]}; "
                            "sort the file by time (and drop repeated times)."
                        )
                frame.index = pd.Index(time, name=spec.time_column)
            frame.attrs["source"] = str(spec.path)
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
            if key not in _SAMPLER_KEYS:
                raise SpecError(f"{self.source}: [sampler] unknown key {key!r}{_closest(key, _SAMPLER_KEYS)}")
            _checked(self.source, "[sampler]", key, _SAMPLER_KEYS[key], value)
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
                if self.model.family in _DYNAMIC_KEY_FAMILIES.get(name, (self.model.family,))
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
        return _dumps_toml(self.to_dict(), comment)


# ----------------------------------------------------------------------------- parsing


def load_spec(path, *, check_data: bool = True) -> Spec:
    """Read and validate a spec file.

    Parameters
    ----------
    path : str or Path
        The TOML file. A ``[data] path`` inside it is relative to its folder.
    check_data : bool
        Check that a data file and its columns exist (``False`` when only the report
        settings are needed, e.g. to re-render a saved fit whose data have moved).

    Raises
    ------
    SpecError
        One line naming the file and the key: unknown sections or keys (with the
        closest valid name), wrong types, missing files or columns, bad values.

    Examples
    --------
    >>> from pathlib import Path
    >>> import sbp_bayes
    >>> spec = load_spec(Path(sbp_bayes.__file__).parents[1] / "models" / "danish.toml")
    >>> spec.data.dataset, spec.model.tails, spec.report.es_levels
    ('danish', 'upper', (0.99,))
    """
    source = str(path)
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{source}: no such spec file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{source}: cannot read the spec: {error}") from None
    return loads_spec(text, base_dir=path.resolve().parent, source=source, check_data=check_data)


def loads_spec(text: str, *, base_dir=".", source: str = "<string>", check_data: bool = True) -> Spec:
    """Validate a spec given as TOML text (see :func:`load_spec`); ``base_dir`` resolves a
    relative ``[data] path`` and ``source`` names the spec in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {_one_line(error)}") from None
    for name, value in raw.items():
        if name not in _SECTIONS:
            hint = _closest(name, _SECTIONS)
            if not isinstance(value, dict):
                where = _section_of(name)
                hint = hint or (f"; it belongs in [{where}]" if where else "")
                raise SpecError(
                    f"{source}: unknown top-level key {name!r}{hint} (sections: {_list(_SECTIONS)})"
                )
            raise SpecError(f"{source}: unknown section [{name}]{hint} (valid sections: {_list(_SECTIONS)})")
        if not isinstance(value, dict):
            raise SpecError(
                f"{source}: [{name}] must be a table (a [{name}] section), got {_type_name(value)}"
            )

    parser = _Parser(source, raw)
    study = parser.section("study", _STUDY_KEYS)
    data = parser.data(Path(base_dir), check_data)
    dynamic = None
    if "dynamic" in raw:
        model = parser.dynamic_model()
        dynamic = parser.dynamic(model, data, check_data)
        priors, threshold_priors = {}, {}
        report = DynamicReportSpec(**parser.dynamic_report())
    else:
        model = parser.model()
        priors = parser.priors(model)
        threshold_priors = parser.threshold_priors(model)
        report = parser.report(model)
    sampler = SamplerSpec(**parser.section("sampler", _SAMPLER_KEYS))
    if study["name"] is None:
        study["name"] = Path(source).stem if source != "<string>" else "study"
    return Spec(
        source=source,
        study=StudySpec(**study),
        data=data,
        model=model,
        priors=priors,
        threshold_priors=threshold_priors,
        sampler=sampler,
        report=report,
        dynamic=dynamic,
    )


def _one_line(error) -> str:
    return " ".join(str(error).split())


def _list(names) -> str:
    return ", ".join(names)


def _section_of(key: str) -> str | None:
    for section, keys in (
        ("data", _DATA_KEYS),
        ("model", {**_SBP_MODEL_KEYS, "family": None}),
        ("dynamic", _DYNAMIC_KEYS),
        ("sampler", _SAMPLER_KEYS),
        ("report", _REPORT_KEYS),
        ("study", _STUDY_KEYS),
    ):
        if key in keys:
            return section
    return None


def _checked(source: str, section: str, key: str, spec_key: _Key, value):
    try:
        return spec_key.check(value)
    except _Invalid as problem:
        raise SpecError(f"{source}: {section} {key} {problem}") from None


class _Parser:
    """Walks the raw TOML dict section by section, raising :class:`SpecError` on the first problem."""

    def __init__(self, source: str, raw: dict):
        self.source = source
        self.raw = raw

    def error(self, message: str) -> SpecError:
        return SpecError(f"{self.source}: {message}")

    def section(self, name: str, keys: Mapping[str, _Key], *, label: str | None = None) -> dict:
        label = label or f"[{name}]"
        given = self.raw.get(name, {})
        for key in given:
            if key not in keys:
                raise self.error(
                    f"{label} unknown key {key!r}{_closest(key, keys)} (valid keys: {_list(keys)})"
                )
        out = {}
        for key, spec_key in keys.items():
            if key in given:
                out[key] = _checked(self.source, label, key, spec_key, given[key])
            else:
                out[key] = list(spec_key.default) if isinstance(spec_key.default, list) else spec_key.default
        return out

    def data(self, base_dir: Path, check_data: bool) -> DataSpec:
        if "data" not in self.raw:
            raise self.error(
                'missing section [data]: give dataset = "danish" (bundled) or path = "file.csv" and column'
            )
        values = self.section("data", _DATA_KEYS)
        if values["dataset"] is not None:
            if values["path"] is not None:
                raise self.error(
                    "[data] dataset and path are both set; give one: a bundled dataset or a CSV path"
                )
            for key in ("column", "time_column", "series_column"):
                if values[key] is not None:
                    raise self.error(
                        f"[data] {key} applies to a CSV path, not to the bundled dataset "
                        f"{values['dataset']!r} (its column is {datasets.info(values['dataset']).column!r})"
                    )
            return DataSpec(**values)
        if values["path"] is None:
            raise self.error(
                f'[data] needs dataset = "name" (bundled: {_list(datasets.available())}) '
                'or path = "file.csv" with column = "..."'
            )
        if values["column"] is None:
            raise self.error(f"[data] column is missing: say which column of {values['path']} holds the data")
        values["path"] = (base_dir / values["path"]).resolve()
        if values["series_column"] is not None:
            if values["time_column"] is not None:
                raise self.error(
                    "[data] time_column applies to a spec of one series; a many-series spec "
                    "(series_column) fits each series as a sample, without its times"
                )
            if values["series_column"] == values["column"]:
                raise self.error("[data] series_column and column name the same column; name two columns")
            if "dynamic" in self.raw:
                raise self.error(
                    "[data] series_column: many series are fitted with static models only; remove the "
                    "[dynamic] section or series_column"
                )
        if check_data:
            _check_csv(
                self.source, values["path"], values["column"], values["time_column"], values["series_column"]
            )
        return DataSpec(**values)

    def model(self) -> ModelSpec:
        given = self.raw.get("model", {})
        family = _checked(
            self.source, "[model]", "family", _Key(_choice(*FAMILIES)), given.get("family", "sbp")
        )
        keys = FAMILIES[family].model_keys
        options = self.section("model", {"family": _Key(_text, family), **keys})
        options.pop("family")
        tails = options.get("tails")
        if tails is not None:
            for side in ("lower", "upper"):
                has_tail = tails in ("both", side)
                if options.get(f"{side}_threshold") is not None and not has_tail:
                    raise self.error(
                        f"[model] {side}_threshold is set but tails = {_show(tails)} has no {side} tail"
                    )
                if options.get(f"{side}_bound") is not None and has_tail:
                    raise self.error(
                        f"[model] {side}_bound applies only to a side without a tail (the body's hard end), "
                        f"but tails = {_show(tails)} models the {side} tail"
                    )
            lower, upper = options.get("lower_threshold"), options.get("upper_threshold")
            if lower is not None and upper is not None and max(_as_list(lower)) >= min(_as_list(upper)):
                raise self.error(
                    f"[model] lower_threshold {_show(lower)} must lie below upper_threshold {_show(upper)}"
                )
        if (
            options.get("lower_bound") is not None
            and options.get("upper_bound") is not None
            and options["lower_bound"] >= options["upper_bound"]
        ):
            raise self.error(
                f"[model] lower_bound {options['lower_bound']!r} must be below "
                f"upper_bound {options['upper_bound']!r}"
            )
        if options.get("min_tail_points", 0) > options.get("max_tail_points", math.inf):
            raise self.error(
                f"[model] min_tail_points {options['min_tail_points']} must not exceed "
                f"max_tail_points {options['max_tail_points']}"
            )
        return ModelSpec(family, options)

    # -- dynamic models ----------------------------------------------------------------

    def dynamic_model(self) -> ModelSpec:
        given = self.raw.get("model", {})
        family = given.get("family", "sbp")
        if not (isinstance(family, str) and family in DYNAMIC_FAMILIES):
            listed = ", ".join(f'"{name}"' for name in DYNAMIC_FAMILIES)
            shown = f"{_show(family)}{_closest(family, DYNAMIC_FAMILIES) if isinstance(family, str) else ''}"
            raise self.error(
                f"[model] family must be one of {listed} for a dynamic model ([dynamic] section), got {shown}"
            )
        keys = DYNAMIC_FAMILIES[family].model_keys
        for key in given:
            if key != "family" and key not in keys:
                others = [name for name, other in DYNAMIC_FAMILIES.items() if key in other.model_keys]
                if others:
                    why = ": it applies to family " + " and ".join(f'"{name}"' for name in others)
                elif key in _SBP_MODEL_KEYS:
                    why = ": it applies to static models"
                else:
                    why = _closest(key, keys)
                raise self.error(
                    f"[model] unknown key {key!r} for a dynamic {family} model{why} "
                    f"(valid keys: {_list(['family', *keys])})"
                )
        options = self.section("model", {"family": _Key(_text, family), **keys})
        options.pop("family")
        return ModelSpec(family, options)

    def dynamic(self, model: ModelSpec, data: DataSpec, check_data: bool) -> DynamicSpec:
        for section in ("priors", "threshold_priors"):
            if section in self.raw:
                raise self.error(
                    f"[{section}] does not apply to a dynamic model ([dynamic] section): its priors are "
                    "fixed (see sbp_bayes.dynamic); remove the section"
                )
        given = self.raw["dynamic"]
        values = self.section("dynamic", _DYNAMIC_KEYS)
        for key, families in _DYNAMIC_KEY_FAMILIES.items():
            if key in given and model.family not in families:
                listed = " and ".join(f'"{name}"' for name in families)
                raise self.error(
                    f"[dynamic] {key} applies to family {listed}, "
                    f"not to [model] family = {_show(model.family)}"
                )
        if "harmonics" in given and values["seasonal_period"] is None:
            raise self.error(
                "[dynamic] harmonics is set but seasonal_period is not: the Fourier terms need the period"
            )
        covariates = values["covariates"]
        if covariates and data.dataset is not None:
            raise self.error(
                f"[dynamic] covariates need a CSV [data] path holding them; the bundled dataset "
                f"{data.dataset!r} has one column"
            )
        for name in covariates:
            for key in ("column", "time_column"):
                if name == getattr(data, key):
                    raise self.error(
                        f"[dynamic] covariates {name!r} is the [data] {key}; a covariate is another column"
                    )
        if covariates and check_data:
            _check_covariates(self.source, data.path, data.column, data.time_column, covariates)
        values["covariates"] = tuple(covariates)
        return DynamicSpec(**values)

    def dynamic_report(self) -> dict:
        given = self.raw.get("report", {})
        for key in given:
            if key in _REPORT_KEYS and key not in _DYNAMIC_REPORT_KEYS:
                raise self.error(
                    f"[report] {key} applies to static models; a dynamic model's [report] takes: "
                    f"{_list(_DYNAMIC_REPORT_KEYS)}"
                )
        return self.section("report", _DYNAMIC_REPORT_KEYS)

    def priors(self, model: ModelSpec) -> dict:
        given = self.raw.get("priors", {})
        names = FAMILIES[model.family].prior_names
        tails = model.tails
        out = {}
        for name, config in given.items():
            label = f"[priors.{name}]"
            if name not in names:
                raise self.error(f"unknown prior {label}{_closest(name, names)} (priors: {_list(names)})")
            side = name.split("_")[0]
            if side in ("lower", "upper") and tails is not None and tails not in ("both", side):
                raise self.error(f"{label} is a prior of the {side} tail, but [model] tails = {_show(tails)}")
            if not isinstance(config, dict):
                raise self.error(
                    f'{label} must be a table such as {{dist = "Normal", mu = 0.0, sigma = 0.5}}, '
                    f"got {_show(config)} ({_type_name(config)})"
                )
            out[name] = self._prior(label, name, config)
        return out

    def _prior(self, label: str, name: str, config: dict) -> Prior:
        if "dist" not in config:
            raise self.error(f'{label} dist is missing: name a PyMC distribution, e.g. dist = "Normal"')
        dist = config["dist"]
        if not isinstance(dist, str):
            raise self.error(f"{label} dist must be a string, got {_show(dist)} ({_type_name(dist)})")
        parameters = {key: value for key, value in config.items() if key != "dist"}
        for key, value in parameters.items():
            ok = _is_number(value) or (isinstance(value, list) and all(_is_number(v) for v in value))
            if not ok:
                raise self.error(
                    f"{label} {key} must be a number or a list of numbers, got {_show(value)} "
                    f"({_type_name(value)})"
                )
        try:
            prior = Prior(dist, **parameters)
        except PriorError as error:
            raise self.error(f"{label} dist: {_one_line(error)}") from None
        if name == "bin_probs":
            if dist != "Dirichlet" or set(parameters) - {"a"}:
                raise self.error(
                    f'{label} must be {{dist = "Dirichlet", a = <positive number>}}, got '
                    + ", ".join(f"{key} = {_show(value)}" for key, value in config.items())
                )
            concentration = parameters.get("a", 1.0)
            if not all(v > 0 for v in _as_list(concentration)):
                raise self.error(f"{label} a must be positive, got {_show(concentration)}")
            return prior
        # PyMC silently accepts unknown keyword arguments: check names against the signature.
        signature = inspect.signature(getattr(__import__("pymc"), dist).dist)
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "cls"
        ]
        for key in parameters:
            if key not in accepted:
                raise self.error(
                    f"{label} {key} is not a parameter of {dist}{_closest(key, accepted)} "
                    f"({dist} takes: {_list(accepted)})"
                )
        try:
            import pymc as pm

            # FAST_COMPILE: a check, not a computation; the default linker compiles for seconds.
            pm.logp(prior.dist(), 0.5).eval(mode="FAST_COMPILE")
        except Exception as error:  # any failure here is a bad parameter value in the spec
            raise self.error(
                f"{label} {dist}({_params(parameters)}) is not a valid distribution: {_one_line(error)}"
            ) from None
        return prior

    def threshold_priors(self, model: ModelSpec) -> dict:
        values = self.section("threshold_priors", _THRESHOLD_PRIOR_KEYS)
        tails = model.tails
        out = {}
        for side, weights in values.items():
            if weights is None:
                continue
            if tails is not None and tails not in ("both", side):
                raise self.error(
                    f"[threshold_priors] {side} is set but [model] tails = {_show(tails)} has no {side} tail"
                )
            given = model.options.get(f"{side}_threshold")
            if isinstance(weights, list) and given is not None and len(weights) != len(_as_list(given)):
                raise self.error(
                    f"[threshold_priors] {side} has {len(weights)} weights but [model] {side}_threshold "
                    f"gives {len(_as_list(given))} candidate(s); give one weight per candidate"
                )
            out[side] = weights
        return out

    def report(self, model: ModelSpec) -> ReportSpec:
        values = self.section("report", _REPORT_KEYS)
        tails = model.tails
        if values["tail"] is not None and tails is not None and tails not in ("both", values["tail"]):
            raise self.error(
                f"[report] tail = {_show(values['tail'])} is not modelled ([model] tails = {_show(tails)})"
            )
        return ReportSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _params(parameters: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in parameters.items())


def _check_csv(
    source: str, path: Path, column: str, time_column: str | None, series_column: str | None = None
) -> None:
    if not path.is_file():
        raise SpecError(f"{source}: [data] path: no file {path}")
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SpecError(f"{source}: [data] path: cannot read {path} as CSV: {_one_line(error)}") from None
    for key, name in (("column", column), ("time_column", time_column), ("series_column", series_column)):
        if name is not None and name not in header:
            raise SpecError(
                f"{source}: [data] {key} {name!r} is not in {path.name}{_closest(name, header)} "
                f"(columns: {_list(map(str, header))})"
            )


def _check_covariates(source: str, path: Path, column: str, time_column: str | None, covariates) -> None:
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SpecError(f"{source}: [data] path: cannot read {path} as CSV: {_one_line(error)}") from None
    others = [name for name in header if name not in (column, time_column)]
    for name in covariates:
        if name not in header:
            raise SpecError(
                f"{source}: [dynamic] covariates {name!r} is not in {path.name}{_closest(name, others)} "
                f"(columns: {_list(map(str, header))})"
            )


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


def _numeric_column(path: Path, frame: pd.DataFrame, name: str, *, gaps: str | None = None) -> pd.Series:
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


def spec_advice(message: str, keys) -> str:
    """A message of the Python API retold for a spec: ``pass name='value'`` becomes
    ``set name = "value" in [model]`` for each ``[model]`` key ``name`` in ``keys``.

    Examples
    --------
    >>> spec_advice("Remove them, or pass nan_policy='omit' to drop them.", ["nan_policy"])
    'Remove them, or set nan_policy = "omit" in [model] to drop them.'
    >>> spec_advice("use fewer bins (e.g. bins=3).", ["bins"])
    'use fewer bins (e.g. bins = 3 in [model]).'
    """
    names = "|".join(re.escape(name) for name in sorted(keys, key=len, reverse=True))
    if not names:
        return message
    pattern = re.compile(rf"\b(?:pass |use )?({names})=(?:'([^']*)'|([^\s,;)']+))")

    def toml(match) -> str:
        verb = "set " if match.group(0).startswith(("pass ", "use ")) else ""
        value = f'"{match.group(2)}"' if match.group(2) is not None else match.group(3)
        return f"{verb}{match.group(1)} = {value} in [model]"

    return pattern.sub(toml, message)


# ----------------------------------------------------------------------------- writing


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _dumps_toml(sections: Mapping, comment: str | None = None) -> str:
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    for section, values in sections.items():
        scalars = {key: value for key, value in values.items() if not isinstance(value, Mapping)}
        tables = {key: value for key, value in values.items() if isinstance(value, Mapping)}
        if scalars or not tables:
            lines += ["", f"[{section}]"] + [
                f"{key} = {_toml_value(value)}" for key, value in scalars.items()
            ]
        for name, table in tables.items():
            lines += ["", f"[{section}.{name}]"] + [
                f"{key} = {_toml_value(value)}" for key, value in table.items()
            ]
    return "\n".join(lines).lstrip("\n") + "\n"


# ----------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class KeyDoc:
    """One documented spec key: its section, name, meaning and default (as TOML text)."""

    section: str
    key: str
    meaning: str
    default: str = "–"


def _default_text(spec_key: _Key | None, fallback: str = "–") -> str:
    if spec_key is None or spec_key.default is None:
        return fallback
    return _toml_value(spec_key.default)


_MEANINGS: dict[str, dict[str, tuple[str, str | None]]] = {
    # section -> key -> (meaning, default shown when the key's own default is None)
    "study": {
        "name": (
            "Name of the study: the report's title and, in `compare`, the model's name.",
            "the file name",
        ),
        "description": ("One or more sentences shown under the report's title.", None),
    },
    "data": {
        "dataset": ('A bundled data set ("danish", "rain"); give this or `path`.', "–"),
        "path": ("A CSV file, relative to the spec's folder; give this or `dataset`.", "–"),
        "column": ("The CSV column holding the observations (numbers).", "required with `path`"),
        "time_column": (
            "A CSV column of times. Dates (e.g. 2001-01-31) index the data, and observations per year "
            "are then inferred from the record's span (gaps included). Dynamic models: numeric times.",
            "none: observations in file order",
        ),
        "series_column": (
            "A CSV column naming the series of each row (a long table of many series): the spec is "
            "then fitted by 'sbp-bayes fit-many', one independent fit per series.",
            "none: one series",
        ),
        "units": ("Units of the observations, shown on axes and in tables.", "not given"),
        "observations_per_year": (
            "Observations a year, so that return periods are in years.",
            "from the dates of `time_column`, or the bundled data set's",
        ),
    },
    "model": {
        "family": (
            'Model family: "sbp" (spliced binned-Pareto) or a baseline: "sbp_continuous", "binned", '
            '"normal", "student_t", "gpd_normal_gpd", "pot_gpd".',
            '"sbp"',
        ),
        "tails": ('Which tails get a Generalized Pareto tail: "both", "upper" or "lower".', None),
        "bins": (
            "Number of body bins between the innermost candidate thresholds, or their interior edges.",
            None,
        ),
        "lower_threshold": (
            "Lower tail threshold: a number fixes it, a list gives the candidates; absent: a prior over "
            "`n_candidates` automatic candidates.",
            "a prior over automatic candidates",
        ),
        "upper_threshold": (
            "Upper tail threshold, as `lower_threshold`.",
            "a prior over automatic candidates",
        ),
        "n_candidates": ("Number of automatic candidate thresholds per tail.", None),
        "tail_fraction": ("Share of the data beyond the innermost automatic candidate.", None),
        "max_tail_points": ("Most observations beyond the innermost automatic candidate.", None),
        "min_tail_points": ("Fewest observations beyond the outermost automatic candidate.", None),
        "lower_bound": (
            "Hard lower end of the body on a side without a tail (e.g. 0 for rainfall).",
            "the data's minimum",
        ),
        "upper_bound": ("Hard upper end of the body on a side without a tail.", "the data's maximum"),
        "nan_policy": ('"raise": empty or NaN values are an error; "omit": drop them.', None),
        "decluster": (
            "Fit the tail to cluster maxima (runs declustering): a run length, or "
            '{threshold = 30.0, run_length = 2, tail = "upper"}. Threshold default: the 95% quantile.',
            "no declustering",
        ),
    },
    "priors": {
        "<name>": (
            "Prior of upper_xi, upper_sigma, lower_xi, lower_sigma (a PyMC distribution, e.g. "
            '{dist = "Normal", mu = 0.0, sigma = 0.5}) or bin_probs ({dist = "Dirichlet", a = 1.0}).',
            "the package's default priors",
        ),
    },
    "threshold_priors": {
        "upper": ('"uniform" or one weight per upper candidate threshold (ascending).', '"uniform"'),
        "lower": ('"uniform" or one weight per lower candidate threshold (ascending).', '"uniform"'),
    },
    "sampler": {
        "name": (f"Sampler: one of {', '.join(map(json.dumps, SAMPLERS))}.", None),
        "draws": ("Posterior draws per chain.", None),
        "tune": ("Tuning (warm-up) steps per chain.", None),
        "chains": ("Number of chains.", None),
        "random_seed": ("Random seed (the fit command records one when absent).", "a fresh seed, recorded"),
    },
    "report": {
        "return_periods": ("Return periods of the return-level table, in periods (years).", None),
        "observations_per_period": (
            "Observations per return period.",
            "the data's observations per year",
        ),
        "exceedance": ("Values whose exceedance probability the report gives.", None),
        "quantiles": ("Probabilities of the quantile table.", None),
        "var_levels": ("Levels of the value-at-risk table.", None),
        "es_levels": ("Levels of the expected-shortfall table.", None),
        "ci_prob": ("Probability of every credible interval in the report.", None),
        "ci_kind": ('"eti" (equal-tailed) or "hdi" (highest-density) intervals.', None),
        "score": ("Values to score (predictive percentile and tail probability).", None),
        "tail": (
            'The tail the tail answers refer to: "upper" or "lower".',
            "the modelled tail (upper if both)",
        ),
        "extremal_index": (
            'Account for clusters of extremes in return levels: "intervals", "runs" or "kgaps" '
            "(estimated at the fit's threshold) or a fixed number in (0, 1].",
            "none: observations treated as independent",
        ),
        "unusual": ("Dynamic models: how many of the most unusual observations to list.", None),
    },
    "dynamic": {
        "lags": ("Autoregressive lags of the series used as features.", None),
        "seasonal_period": ("Length of the season, in units of the time column.", "no season"),
        "harmonics": ("Fourier pairs of the season.", None),
        "covariates": ("Columns of the [data] CSV used as features.", None),
        "body": ('"location_scale" (two stages) or "logit" body.', None),
        "tail_block_size": (
            "Tail shapes as a random walk over blocks of this many steps.",
            "constant tail shapes",
        ),
        "tail_share": ("Share of the data beyond each fixed threshold.", None),
    },
}

_SECTION_KEYS = {
    "study": _STUDY_KEYS,
    "data": _DATA_KEYS,
    "model": {"family": _Key(_text, "sbp"), **_SBP_MODEL_KEYS},
    "priors": {"<name>": None},
    "threshold_priors": _THRESHOLD_PRIOR_KEYS,
    "sampler": _SAMPLER_KEYS,
    "report": {**_REPORT_KEYS, **_DYNAMIC_REPORT_KEYS},
    "dynamic": _DYNAMIC_KEYS,
}


def spec_keys() -> list[KeyDoc]:
    """Every key a spec accepts, with its meaning and default, in section order.

    The same table is printed by ``sbp-bayes spec-keys`` and shown by ``sbp-bayes fit
    --help``; :func:`spec_reference` formats it for documentation.

    Examples
    --------
    >>> [(k.key, k.default) for k in spec_keys() if k.section == "sampler"][1:3]
    [('draws', '1000'), ('tune', '1000')]
    """
    out = []
    for section, keys in _SECTION_KEYS.items():
        meanings = _MEANINGS[section]
        for key, spec_key in keys.items():
            meaning, fallback = meanings[key]
            out.append(KeyDoc(section, key, meaning, _default_text(spec_key, fallback or "–")))
    return out


def spec_reference(fmt: str = "text") -> str:
    """The spec key reference as plain text (``fmt="text"``, for ``--help``) or as a
    Markdown table (``fmt="markdown"``, for the documentation).

    Examples
    --------
    >>> print(spec_reference("markdown").splitlines()[0])
    | section | key | meaning | default |
    """
    rows = spec_keys()
    if fmt == "markdown":
        lines = ["| section | key | meaning | default |", "| --- | --- | --- | --- |"]
        lines += [
            f"| [{r.section}] | `{r.key}` | {r.meaning.replace('|', '/')} | {r.default.replace('|', '/')} |"
            for r in rows
        ]
        return "\n".join(lines)
    if fmt != "text":
        raise ValueError(f"fmt must be 'text' or 'markdown'; got {fmt!r}.")
    import textwrap

    lines = []
    for section in _SECTION_KEYS:
        label = "[priors.<name>]" if section == "priors" else f"[{section}]"
        lines.append(label)
        for row in (r for r in rows if r.section == section):
            text = f"{row.meaning} Default: {row.default}."
            lines.append(f"  {row.key}")
            lines += textwrap.wrap(text, width=88, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- a first spec


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
        raise SpecError(f"{source}: cannot read it as CSV: {_one_line(error)}") from None
    header = [str(name) for name in frame.columns]
    for key, name in (("--column", column), ("--time-column", time_column)):
        if name is not None and name not in header:
            raise SpecError(
                f"{source}: {key} {name!r} is not a column{_closest(name, header)} (columns: {_list(header)})"
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
                f"{source}: no column of numbers to model (columns: {_list(header)}); clean the file or name "
                "the column with --column"
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
        f"name = {_toml_value(name)}",
        f"description = {_toml_value(f'Column {column!r} of {csv_path.name} ({finite.size} observations).')}",
        "",
        "[data]",
        _comment_pad(f"path = {_toml_value(relative)}", "relative to this file"),
        _comment_pad(
            f"column = {_toml_value(column)}",
            f"other numeric columns: {', '.join(others)}" if others else "the only numeric column",
        ),
    ]
    if time_column is not None:
        lines.append(
            _comment_pad(f"time_column = {_toml_value(time_column)}", rate_note or "kept as the index")
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
    ]
    if n_empty:
        lines.append(
            _comment_pad('nan_policy = "omit"', f"{n_empty} empty cell(s) in {column!r} are dropped")
        )
    lines += [
        "",
        "[sampler]",
        _comment_pad(f"name = {_toml_value(_SAMPLER_KEYS['name'].default)}", " / ".join(SAMPLERS)),
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
