"""sbp_bayes: Bayesian modelling with the Spliced Binned-Pareto distribution.

A histogram body spliced with Generalized Pareto tails (Ehrlich, Callot & Aubet,
2021), with priors on the thresholds and tail shapes, sampled by NUTS.

Examples
--------
>>> import sbp_bayes
>>> dist = sbp_bayes.sbp(bin_edges=[0.0, 1.0, 2.0], bin_probs=[0.5, 0.5],
...                      upper_tail_prob=0.1, upper_xi=0.3, upper_sigma=0.5)
>>> round(float(dist.isf(0.01)), 4)  # the 99% quantile: 1.8 + 0.5 (0.1**-0.3 - 1) / 0.3
3.4588
"""

import lazy_loader

from sbp_bayes import datasets
from sbp_bayes.calibration import crps, pinball_loss, pit, pp_curve, pp_levels, pp_mae
from sbp_bayes.clusters import ExtremalIndex, decluster, extremal_index
from sbp_bayes.comparison import ComparisonError, compare
from sbp_bayes.diagnostics import DiagnosticsReport
from sbp_bayes.distributions import InvalidParameterError
from sbp_bayes.fit import SBPFit, fit
from sbp_bayes.many import ManyFitError, fit_many
from sbp_bayes.model import DataError, Design, build_model, make_design
from sbp_bayes.persistence import load, package_version, save
from sbp_bayes.priors import Prior, PriorError
from sbp_bayes.results import FitResult, Predictive
from sbp_bayes.stats import FrozenSplicedBinnedPareto, sbp

# What needs PyMC and PyTensor at import (the PyMC class, the dynamic and pooled models) is
# imported on first use: a fresh process that only fits by quadrature, reads a saved fit or
# evaluates ``sbp`` saves about half a second. ``sbp_bayes.fit_dynamic`` etc. work as usual.
# attach() also returns a __dir__ and an __all__ of the lazy names only: ours list every name.
__getattr__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "distributions": ["SplicedBinnedPareto"],
        "dynamic": ["DynamicFit", "fit_dynamic"],
        "pooled": ["PooledFit", "fit_pooled"],
        "threshold_prior": ["add_marginalized_threshold"],
    },
)[0]

__version__ = package_version()

__all__ = [
    # distribution
    "FrozenSplicedBinnedPareto",
    "InvalidParameterError",
    "SplicedBinnedPareto",
    "add_marginalized_threshold",
    "sbp",
    # fitting
    "DataError",
    "Design",
    "DiagnosticsReport",
    "Prior",
    "PriorError",
    "SBPFit",
    "build_model",
    "fit",
    "make_design",
    # every kind of result: one contract, one file format
    "FitResult",
    "Predictive",
    "load",
    "save",
    # time-varying and many-series models
    "DynamicFit",
    "PooledFit",
    "fit_dynamic",
    "fit_many",
    "ManyFitError",
    "fit_pooled",
    # clusters of extremes
    "ExtremalIndex",
    "decluster",
    "extremal_index",
    # model comparison
    "ComparisonError",
    "compare",
    # calibration
    "crps",
    "pinball_loss",
    "pit",
    "pp_curve",
    "pp_levels",
    "pp_mae",
    # data
    "datasets",
]


def __dir__():
    return sorted(set(globals()) | set(__all__))
