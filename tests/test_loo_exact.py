"""PSIS-LOO from the stored pointwise log-likelihood against exact leave-one-out refits
(slow: ``pytest -m slow``).

A small data set (300 Student-t(3) draws) is fitted once with an SBP with fixed
thresholds (both tails), and then once more without each of five observations: the
largest (the most influential), the smallest, one in the upper tail, one in the body
next to the upper threshold and the median. For each left-out ``y_i`` the exact
leave-one-out predictive density is

    elpd_i = log mean_s p(y_i | theta_s^(-i)),   theta_s^(-i) drawn from p(theta | y_-i),

which PSIS-LOO estimates from the full-data draws by importance sampling. The refits use
the full fit's design (bins and thresholds) and priors, so that the model is the same and
only the data differ. The two must agree within their Monte Carlo errors.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from scipy.special import logsumexp

import sbp_bayes

RUN = {"draws": 1000, "tune": 1000, "chains": 4, "progressbar": False}
N_SIGMA = 4.0


def _effective_size(values: np.ndarray) -> float:
    """Bulk ESS of per-draw values shaped (chain, draw)."""
    return float(az.ess(values))


def exact_elpd(fit, value: float) -> tuple[float, float]:
    """``log mean_s p(value | theta_s)`` over a fit's draws, with its Monte Carlo standard
    error by the delta method: ``sd(p) / (mean(p) sqrt(ESS(p)))``."""
    log_density = fit.pointwise_log_likelihood(np.array([value]))[:, 0]
    estimate = float(logsumexp(log_density) - np.log(log_density.size))
    density = np.exp(log_density - log_density.max())
    chains = fit.idata["posterior"].sizes["chain"]
    ess = _effective_size(density.reshape(chains, -1))
    return estimate, float(density.std() / (density.mean() * np.sqrt(ess)))


def psis_standard_error(result, position: int, log_likelihood: np.ndarray) -> float:
    """Monte Carlo standard error of one PSIS-LOO term ``log sum_s w_s p_s`` (normalised
    smoothed weights ``w``): ``sqrt(sum_s w_s^2 (p_s - E)^2 / r_eff) / E``, the self-
    normalised importance sampling variance, inflated by the chains' relative efficiency
    ``r_eff = ESS / S`` of the densities (as in the loo package)."""
    log_weights = result.log_weights.isel(obs_id=position).transpose("chain", "draw").values.reshape(-1)
    weights = np.exp(log_weights - logsumexp(log_weights))
    density = np.exp(log_likelihood.reshape(-1, log_likelihood.shape[-1])[:, position])
    expected = float(np.sum(weights * density))
    chains = log_likelihood.shape[0]
    r_eff = min(1.0, _effective_size(density.reshape(chains, -1)) / density.size)
    return float(np.sqrt(np.sum(weights**2 * (density - expected) ** 2) / r_eff) / expected)


@pytest.mark.slow
def test_psis_loo_matches_exact_leave_one_out_refits():
    x = np.random.default_rng(17).standard_t(3, size=300)
    lower, upper = np.quantile(x, [0.1, 0.9])
    options = {"tails": "both", "lower_threshold": float(lower), "upper_threshold": float(upper), "bins": 10}
    full = sbp_bayes.fit(x, random_seed=1, **options, **RUN)
    assert full.check(warn=False).passed
    # The default GPD scale priors are centred on the data's excesses: the refits keep the
    # full fit's priors (and design), so that only the data differ, as exact LOO requires.
    options["priors"] = full.config["priors"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a high Pareto k is reported below, not warned about
        result = az.loo(full.idata, pointwise=True)
    log_likelihood = full.idata["log_likelihood"]["y"].values
    order = np.argsort(x)
    in_upper_tail = order[-5]  # the fifth largest: beyond the threshold, not the extreme
    next_to_threshold = np.flatnonzero(x <= upper)[np.argmax(x[x <= upper])]
    chosen = {
        "largest": int(order[-1]),
        "smallest": int(order[0]),
        "upper tail": int(in_upper_tail),
        "body at the threshold": int(next_to_threshold),
        "median": int(order[x.size // 2]),
    }
    rows = []
    for label, i in chosen.items():
        refit = sbp_bayes.fit(np.delete(x, i), design=full.design, random_seed=2 + i, **options, **RUN)
        assert refit.check(warn=False).passed, label
        exact, exact_se = exact_elpd(refit, x[i])
        psis = float(result.elpd_i[i])
        psis_se = psis_standard_error(result, i, log_likelihood)
        k = float(result.pareto_k[i])
        rows.append((label, x[i], exact, exact_se, psis, psis_se, k))
    print("\n" + f"{'point':>22} {'y':>8} {'exact':>9} {'(se)':>7} {'PSIS':>9} {'(se)':>7} {'k':>6}")
    for label, value, exact, exact_se, psis, psis_se, k in rows:
        print(f"{label:>22} {value:8.3f} {exact:9.4f} {exact_se:7.4f} {psis:9.4f} {psis_se:7.4f} {k:6.2f}")
    for label, _, exact, exact_se, psis, psis_se, k in rows:
        tolerance = N_SIGMA * np.hypot(exact_se, psis_se)
        assert abs(psis - exact) < tolerance, f"{label}: PSIS {psis:.4f} vs exact {exact:.4f} (k = {k:.2f})"
    # The check has teeth: the errors are small against the spread of the terms.
    assert max(np.hypot(r[3], r[5]) for r in rows) < 0.1
