"""Shared fixtures for the distribution tests.

Compiling a PyTensor graph costs seconds (numba backend), evaluating it costs
microseconds: the PyMC class is compiled once per session with *symbolic*
parameters and then evaluated at many parameter sets.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from sbp_bayes.distributions import PARAMETER_NAMES, SplicedBinnedPareto


class CompiledSBP:
    """``logp``, ``logcdf``, ``logccdf`` (at ``values``) and ``icdf`` (at ``qs``) of
    ``SplicedBinnedPareto`` for unbatched float64 parameters given as a dict."""

    def __init__(self):
        params = [pt.dvector("bin_edges"), pt.dvector("bin_probs")]
        params += [pt.dscalar(name) for name in PARAMETER_NAMES[2:]]
        values, qs = pt.dvector("values"), pt.dvector("qs")
        rv = SplicedBinnedPareto.dist(*params)
        outputs = [pm.logp(rv, values), pm.logcdf(rv, values), pm.logccdf(rv, values), pm.icdf(rv, qs)]
        self._function = pytensor.function([values, qs, *params], outputs)

    def __call__(self, params, values=(), qs=()) -> dict[str, np.ndarray]:
        args = [np.asarray(params[name], dtype="float64") for name in PARAMETER_NAMES]
        values = np.atleast_1d(np.asarray(values, dtype="float64"))
        qs = np.atleast_1d(np.asarray(qs, dtype="float64"))
        logp, logcdf, logccdf, icdf = self._function(values, qs, *args)
        return {"logp": logp, "logcdf": logcdf, "logccdf": logccdf, "icdf": icdf}


@pytest.fixture(scope="session")
def compiled_sbp() -> CompiledSBP:
    """The PyMC class compiled once, evaluated at any (unbatched) parameter set."""
    return CompiledSBP()
