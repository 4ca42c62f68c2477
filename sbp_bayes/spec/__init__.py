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
    ``nan_policy``, ``decluster``, ``cluster_adjustment``. These are the options of
    :func:`sbp_bayes.fit`.
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

Modules
-------
The package is split by job; everything above is importable from ``sbp_bayes.spec``.

:mod:`sbp_bayes.spec.schema`
    Every section's keys, their checks, defaults and meanings; each family's keys (from
    :data:`sbp_bayes.families.registry.REGISTRY`).
:mod:`sbp_bayes.spec.checks`
    The checks of single values and the error messages (:class:`SpecError`).
:mod:`sbp_bayes.spec.parser`
    TOML text to a :class:`Spec` (:func:`load_spec`, :func:`loads_spec`).
:mod:`sbp_bayes.spec.objects`
    :class:`Spec` and its sections; loading the data (via
    :mod:`sbp_bayes.datasets.csv_reading`) and fitting.
:mod:`sbp_bayes.spec.writer`, :mod:`sbp_bayes.spec.template`
    TOML text from a spec (:meth:`Spec.to_toml`) and a first spec for a CSV file
    (:func:`init_spec`).

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

from sbp_bayes.spec.checks import SpecError, spec_advice
from sbp_bayes.spec.objects import (
    DataSpec,
    DynamicReportSpec,
    DynamicSpec,
    ModelSpec,
    ReportSpec,
    SamplerSpec,
    Spec,
    StudySpec,
)
from sbp_bayes.spec.parser import load_spec, loads_spec
from sbp_bayes.spec.schema import DYNAMIC_FAMILIES, FAMILIES, Family, KeyDoc, spec_keys, spec_reference
from sbp_bayes.spec.template import init_spec

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
    "spec_advice",
    "spec_keys",
    "spec_reference",
]
