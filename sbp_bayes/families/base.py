"""What every family of :func:`sbp_bayes.fit` is and hands over: :class:`Family` and
:class:`BuiltModel`.

:func:`sbp_bayes.fit` runs one path for every family: ``family.build(values, **options)``
gives a :class:`BuiltModel`; its PyMC model is sampled (or its ``exact_draws`` taken),
``complete`` adds what the sampler does not draw, and the fit's config records ``info``.
The SBP (:mod:`sbp_bayes.families.sbp`) and the baselines
(:mod:`sbp_bayes.families.baselines`) are built this way.

Examples
--------
>>> import numpy as np
>>> from sbp_bayes.families import get_family
>>> built = get_family("binned").build(np.random.default_rng(0).normal(size=200), bins=10)
>>> built.model is None, built.sampler, sorted(built.info)
(True, 'exact', ['bin_edges', 'priors'])
>>> built.exact_draws(2, 3, np.random.default_rng(1))["bin_probs"].shape
(2, 3, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from sbp_bayes.model import Design

if TYPE_CHECKING:  # a family imports PyMC where it builds a model (see sbp_bayes.model)
    import pymc as pm

__all__ = ["BuiltModel", "Family"]


@dataclass
class BuiltModel:
    """What a family's ``build`` hands to :func:`sbp_bayes.fit`.

    Attributes
    ----------
    model : pymc.Model or None
        The model NUTS samples; ``None`` where the posterior is drawn exactly
        (``exact_draws``).
    info : dict
        JSON-serialisable facts of the built model (resolved priors, fixed thresholds,
        ...), stored as ``config["family_info"]``.
    design : Design or None
        Bin edges and candidate thresholds, for families with a binned body.
    checked : list of str or None
        The parameters whose convergence :meth:`sbp_bayes.SBPFit.check` assesses, stored
        in ``family_info["checked"]``; ``None`` for the SBP, whose result works them out
        from its sampler and tails.
    complete : callable or None
        ``complete(posterior, rng) -> posterior``: adds to the sampled (or exact)
        posterior the parameters the sampler does not draw (fixed thresholds, the SBP's
        thresholds and bin probabilities).
    exact_draws : callable or None
        ``exact_draws(chains, draws, rng) -> posterior``: the posterior drawn without
        NUTS (a conjugate posterior, the SBP's quadrature); then ``model`` is not sampled.
    sampler : str or None
        The sampler the family settled on, recorded as ``config["sampler"]``: the SBP
        resolves ``"auto"`` from its design (``"quadrature"`` or a NUTS sampler);
        ``"exact"`` for conjugate draws. ``None``: the sampler asked for (nutpie for
        ``"auto"``).
    groups : dict of str to xarray.Dataset
        Further groups of the fit's ``idata`` by name. ``exact_draws`` or ``complete``
        may add to it: the SBP's ``threshold_weights`` are worked out with its draws.
    options : dict
        Options of :func:`sbp_bayes.fit` given as ``None`` that the family resolved to
        its default, recorded so in the config (the SBP's ``bins``).
    """

    model: pm.Model | None
    info: dict
    design: Design | None = None
    checked: list[str] | None = field(default_factory=list)
    complete: Callable[[xr.Dataset, np.random.Generator], xr.Dataset] | None = None
    exact_draws: Callable[[int, int, np.random.Generator], xr.Dataset] | None = None
    sampler: str | None = None
    groups: dict[str, xr.Dataset] = field(default_factory=dict)
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A model family: how to build it and how to read its predictive distribution.

    Attributes
    ----------
    name, description : str
        Its registry name and one line for reports.
    build : callable
        ``build(values, **options) -> BuiltModel``; takes every option of
        :func:`sbp_bayes.fit` by keyword and ignores those it has no use for.
    distribution : callable
        ``distribution(fit, thin=1)``: the batched predictive of every posterior draw.
    options, priors : tuple of str
        The ``[model]`` keys and the prior names it takes (from the registry).
    scope : {"all", "exceedances"}
        What the pointwise log-likelihood covers.
    quadrature : bool
        Whether ``sampler="quadrature"`` applies (the SBP's per-candidate GPD posteriors
        are tabulated on grids); the other families are sampled by NUTS or drawn exactly.
    """

    name: str
    description: str
    build: Callable[..., BuiltModel]
    distribution: Callable[..., object]
    options: tuple[str, ...] = ()
    priors: tuple[str, ...] = ()
    #: "all": the pointwise log-likelihood covers every observation; "exceedances":
    #: only those beyond the threshold (a peaks-over-threshold model says nothing else).
    scope: str = "all"
    quadrature: bool = False
