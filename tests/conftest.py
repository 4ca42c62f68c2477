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

#: Tests that take a minute or more each on 2 cores and use no module- or session-scoped
#: fixture, longest first: the notebooks (run in fresh kernels), the documentation build,
#: and the compile-cache checks in fresh processes. Collected first, they start at once
#: under ``pytest -n 2`` (pytest-xdist hands out tests in collection order) instead of
#: arriving late in one batch and leaving the other worker idle at the end of the run.
LONG_RUNNING = (
    "tests/test_notebooks.py::test_notebook_runs_top_to_bottom_quickly[04_",
    "tests/test_notebooks.py::test_notebook_runs_top_to_bottom_quickly[07_",
    "tests/test_notebooks.py::test_notebook_runs_top_to_bottom_quickly[05_",
    "tests/test_docs.py::test_docs_build_without_warnings",
    "tests/test_sampling.py::test_a_fresh_process_reuses_the_compiled_model",
    "tests/test_sampling.py::test_a_corrupted_entry_is_rebuilt",
    "tests/test_notebooks.py::test_notebook_runs_top_to_bottom_quickly[",
)


def _long_running_rank(item) -> int:
    """Position of the item's pattern in LONG_RUNNING (``len(LONG_RUNNING)`` if none)."""
    for rank, prefix in enumerate(LONG_RUNNING):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONG_RUNNING)


def pytest_collection_modifyitems(config, items):
    """The long-running tests first (in LONG_RUNNING's order), the rest as collected.

    Only the order changes: every collected test still runs. The order is the same in
    every xdist worker (it depends on the node ids alone), as xdist requires.
    """
    items[:] = sorted(items, key=_long_running_rank)  # sorted() is stable: the rest keep their order


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
