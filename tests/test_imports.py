"""What a fresh process imports, and the priors that are checked and evaluated without PyMC.

The default fit (quadrature over candidate thresholds), a spec with the common priors, the
numpy distribution ``sbp_bayes.sbp`` and saving a fit never use PyMC or PyTensor; importing
them costs about half a second of every ``sbp-bayes fit``. They are imported on first use
(``lazy_loader``), and the common prior families are checked with scipy.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

import sbp_bayes
from sbp_bayes.priors import COMMON_DISTRIBUTIONS, SCIPY_PARAMETERS, Prior

ROOT = Path(__file__).resolve().parents[1]


def test_a_quadrature_fit_from_a_spec_imports_neither_pymc_nor_pytensor(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import sbp_bayes
        from sbp_bayes import cli  # the command line's own imports too
        from sbp_bayes.spec import load_spec

        spec = load_spec({str(ROOT / "models" / "danish.toml")!r})  # states a TruncatedNormal prior
        data = np.random.default_rng(1).pareto(2.0, 400) + 1.0
        fit = spec.fit(data, draws=100, chains=2)
        assert fit.config["sampler"] == "quadrature", fit.config["sampler"]
        fit.save({str(tmp_path / "fit.nc")!r})
        sbp_bayes.load({str(tmp_path / "fit.nc")!r}).return_levels([10.0], observations_per_period=1)
        sbp_bayes.sbp(bin_edges=[0.0, 1.0], bin_probs=[1.0], upper_tail_prob=0.1, upper_xi=0.2,
                      upper_sigma=1.0).isf(0.01)
        print(sorted(name for name in ("pymc", "pytensor") if name in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_public_name_resolves_including_the_lazy_ones():
    for name in sbp_bayes.__all__:
        assert getattr(sbp_bayes, name) is not None, name
    assert set(sbp_bayes.__all__) <= set(dir(sbp_bayes))
    from sbp_bayes.distributions.spliced_binned_pareto import SplicedBinnedPareto
    from sbp_bayes.dynamic import fit_dynamic

    assert sbp_bayes.SplicedBinnedPareto is SplicedBinnedPareto
    assert sbp_bayes.fit_dynamic is fit_dynamic
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = sbp_bayes.no_such_name


def test_the_common_distributions_are_pymc_distributions():
    for name in COMMON_DISTRIBUTIONS:
        assert issubclass(getattr(pm, name), pm.Distribution), name


@pytest.mark.parametrize("family", sorted(SCIPY_PARAMETERS))
def test_scipy_families_accept_only_parameters_pymc_takes(family):
    accepted = inspect.signature(getattr(pm, family).dist).parameters
    assert set(SCIPY_PARAMETERS[family]) <= set(accepted)


def _pymc_refuses(prior: Prior) -> bool:
    try:
        value = pm.logp(prior.dist(), 0.5).eval(mode="FAST_COMPILE")
    except Exception:
        return True
    return bool(np.any(np.isnan(value)))


@pytest.mark.parametrize(
    "prior",
    [
        Prior("Normal", mu=0.0, sigma=0.5),
        Prior("Normal", mu=0.0, sigma=0.0),
        Prior("Normal", mu=0.0, sigma=-1.0),
        Prior("LogNormal", mu=1.0, sigma=-0.5),
        Prior("HalfNormal", sigma=2.0),
        Prior("HalfNormal", sigma=-2.0),
        Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-1.0),
        Prior("TruncatedNormal", mu=0.0, sigma=-0.5, lower=-1.0),
        Prior("Normal", mu=[0.0, 0.1], sigma=[0.5, -0.5]),  # per-candidate lists
        Prior("Normal", mu=[0.0, 0.1], sigma=[0.5, 0.4]),
    ],
    ids=repr,
)
def test_the_scipy_check_refuses_what_pymc_refuses(prior):
    assert (prior.parameter_problem() is not None) == _pymc_refuses(prior)


def test_a_truncation_with_lower_above_upper_is_refused():
    problem = Prior("TruncatedNormal", mu=0.0, sigma=1.0, lower=1.0, upper=-1.0).parameter_problem()
    assert problem == "lower must be below upper, got lower 1.0 and upper -1.0"


def test_another_parameterisation_of_a_common_family_is_evaluated_by_pymc():
    """Normal(tau=4) is Normal(sigma=0.5): the scipy fast path knows sigma only and must not
    read the prior as a standard normal."""
    prior = Prior("Normal", mu=0.0, tau=4.0)
    assert not prior.evaluated_by_scipy
    values = np.array([-1.0, 0.0, 0.3])
    expected = Prior("Normal", mu=0.0, sigma=0.5).log_density_function()(values)
    # PyMC evaluates the normalising constant to about 1e-9 (see test_threshold_selection.py);
    # reading tau as sigma would be off by more than 1.
    np.testing.assert_allclose(prior.log_density_function()(values), expected, rtol=0, atol=1e-7)
