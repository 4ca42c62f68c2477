"""Simulation-based calibration of the default model (slow: ``pytest -m slow``).

The full study (200 replications) is ``python benchmarks/sbc.py``; this test runs 100
replications of the same protocol and requires uniform ranks (chi-square p > 0.01) for
every tail parameter and both thresholds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "sbc.py"


def _load_sbc():
    spec = importlib.util.spec_from_file_location("sbc_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ranks_are_uniform():
    sbc = _load_sbc()
    ranks = sbc.run(100, n=500, seed=31, progress=False)
    table = sbc.uniformity(ranks)
    assert len(ranks) == 100
    failing = table[table.p_value <= 0.01]
    assert failing.empty, f"non-uniform SBC ranks:\n{table}"


def test_prior_draws_respect_the_design():
    """Cheap check of the generator used by SBC: thresholds are candidates, the tail
    masses are the bin masses beyond them and every candidate keeps a positive scale."""
    import numpy as np

    sbc = _load_sbc()
    design = sbc.sbc_design()
    rng = np.random.default_rng(0)
    for _ in range(200):
        truth = sbc.draw_from_prior(design, rng)
        assert truth["upper_threshold"] in design.upper_thresholds
        assert truth["lower_threshold"] in design.lower_thresholds
        edge = int(np.searchsorted(design.bin_edges, truth["upper_threshold"]))
        assert truth["upper_tail_prob"] == pytest.approx(truth["bin_probs"][edge:].sum())
        for side in ("lower", "upper"):
            assert truth[f"{side}_sigma"] > 0
    x = sbc.simulate(design, truth, 5000, rng)
    # The simulated share beyond the upper threshold matches the tail mass.
    share = np.mean(x > truth["upper_threshold"])
    assert abs(share - truth["upper_tail_prob"]) < 4 * np.sqrt(truth["upper_tail_prob"] / 5000) + 1e-3
