"""PyTensor maths of the spliced binned-Pareto distribution and its PyMC class.

The PyMC classes are imported on first use (``lazy_loader``, as ArviZ does): importing
PyMC and PyTensor costs about half a second, which code that needs only the parameter
checks (``InvalidParameterError``, used by the numpy distribution ``sbp_bayes.sbp``)
should not pay.
"""

import lazy_loader

from sbp_bayes.distributions.validation import PARAMETER_NAMES, InvalidParameterError, validate_parameters

# attach() also returns a __dir__ and an __all__ of the lazy names only: ours list every name.
__getattr__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "spliced_binned_pareto": [
            "SplicedBinnedPareto",
            "SplicedBinnedParetoRV",
            "ThresholdSplicedBinnedPareto",
            "ThresholdSplicedBinnedParetoRV",
        ]
    },
)[0]

__all__ = [
    "PARAMETER_NAMES",
    "InvalidParameterError",
    "SplicedBinnedPareto",
    "SplicedBinnedParetoRV",
    "ThresholdSplicedBinnedPareto",
    "ThresholdSplicedBinnedParetoRV",
    "validate_parameters",
]


def __dir__():
    return sorted(set(globals()) | set(__all__))
