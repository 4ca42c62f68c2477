"""Session-wide fitted models shared by the workflow tests (loaded with ``-p`` in pyproject).

Fitting compiles a nutpie model once per model *structure* and process; these fixtures
keep the number of compilations and samplings in the default suite small. They use
short chains: enough for the checks that use them, not for publication figures (the
full-size runs live in benchmarks/ and the notebooks).
"""

from __future__ import annotations

import numpy as np
import pytest

import sbp_bayes
from sbp_bayes import datasets

SMALL = {"draws": 500, "tune": 500, "chains": 4, "progressbar": False}


@pytest.fixture(scope="session")
def danish_fixed_fit():
    """Danish fire losses, upper tail, threshold fixed at the published u = 10."""
    return sbp_bayes.fit(
        datasets.load("danish"), tails="upper", upper_threshold=10.0, random_seed=11, **SMALL
    )


@pytest.fixture(scope="session")
def rain_fixed_fit():
    """SW England rainfall, upper tail, threshold fixed at Coles' u = 30 (body from 0 mm)."""
    return sbp_bayes.fit(
        datasets.load("rain"), tails="upper", upper_threshold=30.0, lower_bound=0.0, random_seed=12, **SMALL
    )


@pytest.fixture(scope="session")
def danish_default_fit():
    """Danish fire losses, upper tail, default threshold prior (10 candidates)."""
    return sbp_bayes.fit(datasets.load("danish"), tails="upper", random_seed=13, **SMALL)


@pytest.fixture(scope="session")
def student_t_fit():
    """2000 Student-t(3) draws, both tails, default threshold priors."""
    x = np.random.default_rng(2024).standard_t(3, size=2000)
    return sbp_bayes.fit(x, tails="both", bins=20, random_seed=14, **SMALL)
