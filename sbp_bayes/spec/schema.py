"""The spec schema: every section's keys with their checks and defaults, the keys of each
model family (read from :data:`sbp_bayes.families.registry.REGISTRY`), and the meaning of
every key, printed by ``sbp-bayes spec-keys`` and ``sbp-bayes fit --help`` and tabled in
the documentation (:func:`spec_keys`, :func:`spec_reference`).

Examples
--------
>>> sorted(FAMILIES["pot_gpd"].model_keys)
['nan_policy', 'tails', 'upper_threshold']
>>> DYNAMIC_KEY_FAMILIES["body"]
('sbp', 'binned')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sbp_bayes import datasets
from sbp_bayes.families.registry import REGISTRY, dynamic_family_names, static_family_names
from sbp_bayes.model import DEFAULT_MAX_TAIL_POINTS, DEFAULT_MIN_TAIL_POINTS, DEFAULT_TAIL_FRACTION, TAILS
from sbp_bayes.sampling import SAMPLERS
from sbp_bayes.spec.checks import (
    SpecKey,
    bins_check,
    choice,
    column_names,
    decluster_check,
    extremal_index_check,
    integer,
    name_check,
    number_list,
    positive,
    probability,
    real,
    text_check,
    threshold_check,
    weights_check,
)
from sbp_bayes.spec.writer import toml_value
from sbp_bayes.threshold_selection import CLUSTER_ADJUSTMENTS

__all__ = [
    "DYNAMIC_FAMILIES",
    "FAMILIES",
    "Family",
    "KeyDoc",
    "spec_keys",
    "spec_reference",
]

# ----------------------------------------------------------------------------- sections

STUDY_KEYS = {"name": SpecKey(name_check), "description": SpecKey(text_check, "")}
DATA_KEYS = {
    "dataset": SpecKey(choice(*datasets.available())),
    "path": SpecKey(name_check),
    "column": SpecKey(name_check),
    "time_column": SpecKey(name_check),
    "units": SpecKey(text_check),
    "observations_per_year": SpecKey(positive),
    "series_column": SpecKey(name_check),
}
SAMPLER_KEYS = {
    "name": SpecKey(choice(*SAMPLERS), "auto"),
    "draws": SpecKey(integer(1), 1000),
    "tune": SpecKey(integer(0), 1000),
    "chains": SpecKey(integer(1), 4),
    "random_seed": SpecKey(integer(0)),
}
REPORT_KEYS = {
    "return_periods": SpecKey(number_list(positive, "positive numbers"), [10.0, 50.0, 100.0]),
    "observations_per_period": SpecKey(positive),
    "exceedance": SpecKey(number_list(real(), "numbers"), []),
    "quantiles": SpecKey(number_list(probability, "probabilities in (0, 1)"), [0.001, 0.01, 0.99, 0.999]),
    "var_levels": SpecKey(number_list(probability, "probabilities in (0, 1)"), [0.95, 0.99]),
    "es_levels": SpecKey(number_list(probability, "probabilities in (0, 1)"), [0.95, 0.99]),
    "ci_prob": SpecKey(probability, 0.95),
    "ci_kind": SpecKey(choice("eti", "hdi"), "eti"),
    "score": SpecKey(number_list(real(), "numbers"), []),
    "tail": SpecKey(choice("upper", "lower")),
    "extremal_index": SpecKey(extremal_index_check),
}
THRESHOLD_PRIOR_KEYS = {"upper": SpecKey(weights_check), "lower": SpecKey(weights_check)}
SECTIONS = ("study", "data", "model", "dynamic", "priors", "threshold_priors", "sampler", "report")


DYNAMIC_KEYS = {
    "lags": SpecKey(integer(0), 0),
    "seasonal_period": SpecKey(positive),
    "harmonics": SpecKey(integer(1), 1),
    "covariates": SpecKey(column_names, []),
    "body": SpecKey(choice("location_scale", "logit"), "location_scale"),
    "tail_block_size": SpecKey(integer(1)),
    "tail_share": SpecKey(real("a number in (0, 0.5)", above=0.0, below=0.5), 0.05),
}
#: ``[dynamic]`` keys that only some families use, and those families.
DYNAMIC_KEY_FAMILIES = {
    "body": ("sbp", "binned"),
    "tail_block_size": ("sbp",),
    "tail_share": ("sbp",),
}
DYNAMIC_REPORT_KEYS = {"ci_prob": SpecKey(probability, 0.95), "unusual": SpecKey(integer(0), 10)}


#: The ``[model]`` keys of every static family, with the SBP's checks and defaults; a family
#: takes those its registry entry names (:class:`sbp_bayes.families.registry.StaticForm`).
SBP_MODEL_KEYS = {
    "tails": SpecKey(choice(*TAILS), "both"),
    "bins": SpecKey(bins_check, 30),
    "lower_threshold": SpecKey(threshold_check),
    "upper_threshold": SpecKey(threshold_check),
    "n_candidates": SpecKey(integer(1), 10),
    "tail_fraction": SpecKey(
        real("a number in (0, 0.5]", above=0.0, below=0.5 + 1e-12), DEFAULT_TAIL_FRACTION
    ),
    "max_tail_points": SpecKey(integer(1), DEFAULT_MAX_TAIL_POINTS),
    "min_tail_points": SpecKey(integer(1), DEFAULT_MIN_TAIL_POINTS),
    "lower_bound": SpecKey(real()),
    "upper_bound": SpecKey(real()),
    "nan_policy": SpecKey(choice("raise", "omit"), "raise"),
    "decluster": SpecKey(decluster_check),
    "cluster_adjustment": SpecKey(choice(*CLUSTER_ADJUSTMENTS)),
}
#: The ``[model]`` keys of a dynamic family (its registry entry names which it takes).
DYNAMIC_MODEL_KEYS = {"tails": SpecKey(choice(*TAILS), "both"), "bins": SpecKey(integer(1), 30)}


# ----------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """A model family as a spec sees it: the name in ``[model] family``.

    ``model_keys`` are the keys its ``[model]`` section accepts (with their checks and
    defaults), ``prior_names`` the priors it has, ``fit`` the function that fits it
    (called as ``fit(data, **spec.fit_kwargs())``), as ``"module:function"``. All of it
    is read from the family's entry in :data:`sbp_bayes.families.registry.REGISTRY`.
    """

    name: str
    description: str
    model_keys: Mapping[str, SpecKey]
    prior_names: tuple[str, ...]
    fit: str

    def fit_function(self) -> Callable:
        import importlib

        module, function = self.fit.split(":")
        return getattr(importlib.import_module(module), function)


def _static_family(name: str) -> Family:
    form = REGISTRY[name].static
    keys = {}
    for key in form.options:
        spec_key = SBP_MODEL_KEYS[key]
        if key in form.choices:
            spec_key = SpecKey(choice(*form.choices[key]), spec_key.default)
        if key in form.defaults:
            spec_key = SpecKey(spec_key.check, form.defaults[key])
        keys[key] = spec_key
    keys["nan_policy"] = SBP_MODEL_KEYS["nan_policy"]  # every family can drop missing values
    return Family(name, form.description, keys, form.priors, fit="sbp_bayes.fit:fit")


def _dynamic_family(name: str) -> Family:
    form = REGISTRY[name].dynamic
    keys = {key: DYNAMIC_MODEL_KEYS[key] for key in form.options}
    return Family(name, form.description, keys, (), fit="sbp_bayes.dynamic:fit_dynamic")


#: Model families by ``[model] family`` name (see :mod:`sbp_bayes.families`); each is
#: fitted by :func:`sbp_bayes.fit` with ``family=<name>`` and the keys listed here.
FAMILIES: dict[str, Family] = {name: _static_family(name) for name in static_family_names()}

#: Families of a dynamic spec (one with a ``[dynamic]`` section), fitted by
#: :func:`sbp_bayes.dynamic.fit_dynamic` with the ``[model]`` keys listed here.
DYNAMIC_FAMILIES: dict[str, Family] = {name: _dynamic_family(name) for name in dynamic_family_names()}

#: ``[dynamic]`` keys that only some families use, and those families.
DYNAMIC_KEY_FAMILIES: dict[str, tuple[str, ...]] = {
    key: tuple(name for name in DYNAMIC_FAMILIES if key in REGISTRY[name].dynamic.feature_keys)
    for key in ("body", "tail_block_size", "tail_share")
}


def section_of(key: str) -> str | None:
    for section, keys in (
        ("data", DATA_KEYS),
        ("model", {**SBP_MODEL_KEYS, "family": None}),
        ("dynamic", DYNAMIC_KEYS),
        ("sampler", SAMPLER_KEYS),
        ("report", REPORT_KEYS),
        ("study", STUDY_KEYS),
    ):
        if key in keys:
            return section
    return None


# ----------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class KeyDoc:
    """One documented spec key: its section, name, meaning and default (as TOML text)."""

    section: str
    key: str
    meaning: str
    default: str = "–"


def _default_text(spec_key: SpecKey | None, fallback: str = "–") -> str:
    if spec_key is None or spec_key.default is None:
        return fallback
    return toml_value(spec_key.default)


MEANINGS: dict[str, dict[str, tuple[str, str | None]]] = {
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
            'Model family: "sbp" (spliced binned-Pareto) or a baseline: '
            + ", ".join(json.dumps(name) for name in static_family_names() if name != "sbp")
            + ".",
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
        "cluster_adjustment": (
            'Clustered (time-ordered) data: "extremal_index" tempers the tail likelihood by '
            'clusters per exceedance, "sandwich" by the composite-likelihood magnitude '
            "adjustment; candidates are then weighed leave-one-cluster-out. "
            '"extremal_index" is the better calibrated of the two.',
            "none: exceedances count as independent",
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

SECTION_KEYS = {
    "study": STUDY_KEYS,
    "data": DATA_KEYS,
    "model": {"family": SpecKey(text_check, "sbp"), **SBP_MODEL_KEYS},
    "priors": {"<name>": None},
    "threshold_priors": THRESHOLD_PRIOR_KEYS,
    "sampler": SAMPLER_KEYS,
    "report": {**REPORT_KEYS, **DYNAMIC_REPORT_KEYS},
    "dynamic": DYNAMIC_KEYS,
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
    for section, keys in SECTION_KEYS.items():
        meanings = MEANINGS[section]
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
    for section in SECTION_KEYS:
        label = "[priors.<name>]" if section == "priors" else f"[{section}]"
        lines.append(label)
        for row in (r for r in rows if r.section == section):
            text = f"{row.meaning} Default: {row.default}."
            lines.append(f"  {row.key}")
            lines += textwrap.wrap(text, width=88, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)
