"""Simulation-based calibration (Talts et al. 2018) of the default SBP model.

For each replication: draw every parameter from the prior (bin probabilities,
a threshold per tail from its candidates, GPD shape and scale per tail), simulate N
observations from the canonical SBP they define, fit the model with the same fixed
design and priors, and record the rank of each true value among L posterior draws.
If the fitting code samples the posterior implied by the prior and the likelihood,
every rank is uniform on 0..L. Discrete thresholds get ties broken uniformly at
random (randomised ranks).

Run:  python benchmarks/sbc.py --replications 200 --out sbc_ranks.csv
The slow test ``tests/test_sbc.py`` runs a smaller version (``pytest -m slow``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

import sbp_bayes
from sbp_bayes.model import Design
from sbp_bayes.priors import Prior

#: Priors fixed in advance (SBC needs priors that do not look at the data).
SBC_PRIORS = {
    "upper_xi": Prior("Normal", mu=0.1, sigma=0.3),
    "upper_sigma": Prior("LogNormal", mu=np.log(0.5), sigma=0.4),
    "lower_xi": Prior("Normal", mu=0.1, sigma=0.3),
    "lower_sigma": Prior("LogNormal", mu=np.log(0.5), sigma=0.4),
    "bin_probs": Prior("Dirichlet", a=1.0),
}
PARAMETERS = (
    "lower_xi",
    "lower_sigma",
    "lower_threshold",
    "lower_tail_prob",
    "upper_xi",
    "upper_sigma",
    "upper_threshold",
    "upper_tail_prob",
)


def sbc_design() -> Design:
    """Bins on [-2, 2]: three candidate thresholds per tail, ten central bins."""
    lower = np.array([-2.0, -1.6, -1.3, -1.0])  # E_0 (outer) and three candidates
    central = np.linspace(-1.0, 1.0, 11)[1:-1]
    upper = np.array([1.0, 1.3, 1.6, 2.0])  # three candidates and E_M (outer)
    edges = np.concatenate([lower, central, upper])
    lower_candidates = np.array([1, 2, 3])
    upper_candidates = np.array([edges.size - 4, edges.size - 3, edges.size - 2])
    return Design(edges, lower_candidates, upper_candidates)


def draw_from_prior(design: Design, rng: np.random.Generator) -> dict:
    """One joint prior draw (rejecting the rare combinations where a bounded tail
    would end before an outer candidate, which the model's prior excludes too)."""
    while True:
        truth = {"bin_probs": rng.dirichlet(np.ones(design.n_bins))}
        for side, candidates in (("lower", design.lower_candidates), ("upper", design.upper_candidates)):
            choice = rng.integers(candidates.size)
            edge = candidates[choice]
            reference_edge = candidates[-1] if side == "lower" else candidates[0]
            distance = abs(design.bin_edges[edge] - design.bin_edges[reference_edge])
            xi = rng.normal(0.1, 0.3)
            sigma_ref = np.exp(rng.normal(np.log(0.5), 0.4))
            truth[f"{side}_threshold"] = design.bin_edges[edge]
            truth[f"{side}_threshold_choice"] = choice
            truth[f"{side}_xi"] = xi
            truth[f"{side}_sigma_ref"] = sigma_ref
            truth[f"{side}_sigma"] = sigma_ref + xi * distance
            if side == "lower":
                truth["lower_tail_prob"] = truth["bin_probs"][:edge].sum()
            else:
                truth["upper_tail_prob"] = truth["bin_probs"][edge:].sum()
        # Every candidate must lie inside the reference GPD's support (sigma > 0 there).
        valid = True
        for side, candidates in (("lower", design.lower_candidates), ("upper", design.upper_candidates)):
            thresholds = design.bin_edges[candidates]
            distances = np.abs(thresholds - (thresholds[-1] if side == "lower" else thresholds[0]))
            valid &= bool(np.all(truth[f"{side}_sigma_ref"] + truth[f"{side}_xi"] * distances > 0))
        if valid:
            return truth


def simulate(design: Design, truth: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    dist = sbp_bayes.stats.FrozenSplicedBinnedPareto(
        design.bin_edges,
        truth["bin_probs"],
        np.asarray(truth["lower_tail_prob"]),
        np.asarray(truth["upper_tail_prob"]),
        np.asarray(truth["lower_xi"]),
        np.asarray(truth["lower_sigma"]),
        np.asarray(truth["upper_xi"]),
        np.asarray(truth["upper_sigma"]),
        known_lower_threshold=np.asarray(truth["lower_threshold"]),
        known_upper_threshold=np.asarray(truth["upper_threshold"]),
    )
    return dist.rvs(size=n, random_state=rng)


def randomised_rank(draws: np.ndarray, true_value: float, rng: np.random.Generator) -> int:
    below = int(np.sum(draws < true_value))
    ties = int(np.sum(draws == true_value))
    return below + int(rng.integers(ties + 1))


def run(
    replications: int,
    *,
    n: int = 500,
    rank_draws: int = 99,
    seed: int = 2024,
    draws: int = 500,
    chains: int = 2,
    progress: bool = True,
) -> pd.DataFrame:
    """Rank statistics, one row per replication and one column per parameter."""
    design = sbc_design()
    rng = np.random.default_rng(seed)
    rows = []
    start = time.perf_counter()
    for replication in range(replications):
        truth = draw_from_prior(design, rng)
        x = simulate(design, truth, n, rng)
        result = sbp_bayes.fit(
            x,
            design=design,
            priors=SBC_PRIORS,
            draws=draws,
            tune=draws,
            chains=chains,
            random_seed=int(rng.integers(2**31)),
            progressbar=False,
            log_likelihood=False,
        )
        posterior = result.idata["posterior"]
        keep = np.linspace(0, posterior.sizes["chain"] * posterior.sizes["draw"] - 1, rank_draws).astype(int)
        row = {"replication": replication}
        for name in PARAMETERS:
            values = posterior[name].values.reshape(-1)[keep]
            row[name] = randomised_rank(values, truth[name], rng)
        report = result.check(warn=False)
        row["converged"] = report.passed
        rows.append(row)
        if progress and (replication + 1) % 10 == 0:
            elapsed = time.perf_counter() - start
            print(f"  {replication + 1}/{replications} replications, {elapsed:.0f} s", file=sys.stderr)
    return pd.DataFrame(rows).set_index("replication")


def uniformity(ranks: pd.DataFrame, rank_draws: int = 99, bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks per parameter (ranks 0..rank_draws in ``bins`` bins)."""
    rows = []
    for name in PARAMETERS:
        counts, _ = np.histogram(ranks[name], bins=bins, range=(0, rank_draws + 1))
        chi2, p_value = stats.chisquare(counts)
        rows.append(
            {
                "parameter": name,
                "chi2": chi2,
                "p_value": p_value,
                "min_bin": counts.min(),
                "max_bin": counts.max(),
            }
        )
    return pd.DataFrame(rows).set_index("parameter")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--n", type=int, default=500, help="observations per simulated data set")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", default=None, help="CSV file for the rank statistics")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ranks = run(args.replications, n=args.n, seed=args.seed)
    elapsed = time.perf_counter() - start
    table = uniformity(ranks)
    if args.out:
        ranks.to_csv(args.out)
    print(f"SBC: {args.replications} replications of N = {args.n}, {elapsed:.0f} s")
    print(f"replications passing the convergence check: {ranks['converged'].mean():.1%}")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
