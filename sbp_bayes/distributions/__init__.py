"""PyTensor maths of the spliced binned-Pareto distribution and its PyMC class."""

from sbp_bayes.distributions.spliced_binned_pareto import (
    PARAMETER_NAMES,
    SplicedBinnedPareto,
    SplicedBinnedParetoRV,
    ThresholdSplicedBinnedPareto,
    ThresholdSplicedBinnedParetoRV,
)
from sbp_bayes.distributions.validation import InvalidParameterError, validate_parameters

__all__ = [
    "PARAMETER_NAMES",
    "InvalidParameterError",
    "SplicedBinnedPareto",
    "SplicedBinnedParetoRV",
    "ThresholdSplicedBinnedPareto",
    "ThresholdSplicedBinnedParetoRV",
    "validate_parameters",
]
