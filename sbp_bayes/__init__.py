"""sbp_bayes: Bayesian modelling with the Spliced Binned-Pareto distribution."""

from importlib.metadata import PackageNotFoundError, version

from sbp_bayes.distributions import InvalidParameterError, SplicedBinnedPareto

try:
    __version__ = version("sbp_bayes")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    # distribution
    "InvalidParameterError",
    "SplicedBinnedPareto",
]
