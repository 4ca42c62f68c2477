"""The one table of model families: per name, what it is, which spec keys it takes, and
whether it is fitted as a static model (:func:`sbp_bayes.fit`), a dynamic one
(:func:`sbp_bayes.fit_dynamic`) or both.

Everything else reads this table: the model builders of :mod:`sbp_bayes.families.baselines`
attach their ``build``/``distribution`` functions to its static entries, the spec schema
(:mod:`sbp_bayes.spec.schema`) turns its key names into checked ``[model]`` keys,
:mod:`sbp_bayes.dynamic` takes its dynamic names, and the reports take their descriptions.
It imports nothing heavy, so the command line can list families without loading PyMC.

Examples
--------
>>> from sbp_bayes.families.registry import REGISTRY, dynamic_family_names, static_family_names
>>> static_family_names()[:3]
('sbp', 'sbp_continuous', 'binned')
>>> dynamic_family_names()
('sbp', 'binned', 'normal', 'student_t')
>>> REGISTRY["pot_gpd"].static.scope, REGISTRY["pot_gpd"].dynamic is None
('exceedances', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "REGISTRY",
    "DynamicForm",
    "FamilyEntry",
    "StaticForm",
    "dynamic_family_names",
    "family_entry",
    "static_family_names",
]

#: ``[model]`` keys of the SBP fitted by :func:`sbp_bayes.fit`, in the order the spec lists them.
SBP_OPTIONS = (
    "tails",
    "bins",
    "lower_threshold",
    "upper_threshold",
    "n_candidates",
    "tail_fraction",
    "max_tail_points",
    "min_tail_points",
    "lower_bound",
    "upper_bound",
    "nan_policy",
    "decluster",
    "cluster_adjustment",
)


@dataclass(frozen=True)
class StaticForm:
    """A family as fitted by :func:`sbp_bayes.fit` (``family=<name>``).

    Attributes
    ----------
    description : str
        One line for reports and listings.
    options : tuple of str
        The ``[model]`` keys (options of :func:`sbp_bayes.fit`) it takes; every family
        also takes ``nan_policy``.
    priors : tuple of str
        The names a ``[priors.<name>]`` section (or ``priors=``) may set.
    scope : {"all", "exceedances"}
        What the pointwise log-likelihood covers: every observation, or only those
        beyond the threshold (a peaks-over-threshold model says nothing else).
    defaults : mapping
        Defaults of keys that differ from the SBP's (e.g. ``bins``).
    choices : mapping
        Keys whose allowed values are fewer than the SBP's (e.g. ``tails``).
    """

    description: str
    options: tuple[str, ...]
    priors: tuple[str, ...] = ()
    scope: str = "all"
    defaults: Mapping[str, object] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DynamicForm:
    """A family as fitted by :func:`sbp_bayes.fit_dynamic` (a spec with ``[dynamic]``).

    Attributes
    ----------
    description : str
        One line for reports.
    options : tuple of str
        The ``[model]`` keys it takes (besides ``family``).
    feature_keys : tuple of str
        The ``[dynamic]`` keys that only some families take (``body``,
        ``tail_block_size``, ``tail_share``) and this one does.
    """

    description: str
    options: tuple[str, ...] = ()
    feature_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class FamilyEntry:
    """One family: its name and its static and dynamic forms (``None`` where it has none)."""

    name: str
    static: StaticForm | None = None
    dynamic: DynamicForm | None = None


def _registry(*entries: FamilyEntry) -> Mapping[str, FamilyEntry]:
    return MappingProxyType({entry.name: entry for entry in entries})


#: Every family by name, in the order listings show them.
REGISTRY: Mapping[str, FamilyEntry] = _registry(
    FamilyEntry(
        "sbp",
        static=StaticForm(
            "Spliced binned-Pareto: binned body, GPD tails, prior over the thresholds (or fixed thresholds)",
            options=SBP_OPTIONS,
            priors=("upper_xi", "upper_sigma", "lower_xi", "lower_sigma", "bin_probs"),
        ),
        dynamic=DynamicForm(
            "spliced binned-Pareto: histogram body, GPD tails",
            options=("tails", "bins"),
            feature_keys=("body", "tail_block_size", "tail_share"),
        ),
    ),
    FamilyEntry(
        "sbp_continuous",
        static=StaticForm(
            "SBP with fixed thresholds and the GPD scale tied to the body density (continuous at the splice)",
            options=("tails", "bins", "lower_threshold", "upper_threshold", "lower_bound", "upper_bound"),
            priors=("bin_probs", "lower_xi", "upper_xi"),
        ),
    ),
    FamilyEntry(
        "binned",
        static=StaticForm(
            "Histogram body alone (no tails), Dirichlet prior, exact conjugate posterior",
            options=("bins", "lower_bound", "upper_bound"),
            priors=("bin_probs",),
            defaults={"bins": 50},
        ),
        dynamic=DynamicForm(
            "histogram over the whole range, no tails", options=("bins",), feature_keys=("body",)
        ),
    ),
    FamilyEntry(
        "normal",
        static=StaticForm("Normal(mu, sigma)", options=(), priors=("mu", "sigma")),
        dynamic=DynamicForm("Gaussian, location and log scale linear in the features"),
    ),
    FamilyEntry(
        "student_t",
        static=StaticForm("Student-t(nu, mu, sigma)", options=(), priors=("nu", "mu", "sigma")),
        dynamic=DynamicForm("Student-t, location and log scale linear in the features"),
    ),
    FamilyEntry(
        "gpd_normal_gpd",
        static=StaticForm(
            "Normal bulk with GPD tails at fixed thresholds (evmix gng, tail masses from the Normal)",
            options=("tails", "lower_threshold", "upper_threshold"),
            priors=("mu", "sigma", "lower_xi", "lower_sigma", "upper_xi", "upper_sigma"),
        ),
    ),
    FamilyEntry(
        "pot_gpd",
        static=StaticForm(
            "Peaks over a fixed threshold: GPD of the excesses and a binomial exceedance rate",
            options=("upper_threshold", "tails"),
            priors=("upper_xi", "upper_sigma", "upper_tail_prob"),
            scope="exceedances",
            defaults={"tails": "upper"},
            choices={"tails": ("upper",)},
        ),
    ),
)


def static_family_names() -> tuple[str, ...]:
    """The families :func:`sbp_bayes.fit` can fit, in listing order."""
    return tuple(name for name, entry in REGISTRY.items() if entry.static is not None)


def dynamic_family_names() -> tuple[str, ...]:
    """The families :func:`sbp_bayes.fit_dynamic` can fit, in listing order."""
    return tuple(name for name, entry in REGISTRY.items() if entry.dynamic is not None)


def family_entry(name: str, kind: str = "static") -> FamilyEntry:
    """The entry of family ``name``, which must have a ``kind`` ("static" or "dynamic") form.

    Raises
    ------
    ValueError
        No such family of that kind; the message lists those there are.

    Examples
    --------
    >>> family_entry("binned", "dynamic").dynamic.options
    ('bins',)
    >>> family_entry("pot_gpd", "dynamic")
    Traceback (most recent call last):
    ...
    ValueError: Unknown dynamic family 'pot_gpd'; choose one of: sbp, binned, normal, student_t.
    """
    names = {"static": static_family_names, "dynamic": dynamic_family_names}[kind]()
    if name not in names:
        label = "family" if kind == "static" else "dynamic family"
        raise ValueError(f"Unknown {label} {name!r}; choose one of: {', '.join(names)}.")
    return REGISTRY[name]
