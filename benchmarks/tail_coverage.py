"""Coverage of tail quantiles on distributions the model did not generate.

For each distribution, sample size N and replication, the default ``sbp_bayes.fit``
(cross-validation weights over 10 candidate thresholds, both tails where the distribution
has two unbounded tails) gives the 0.999 and 0.9999 quantiles of each modelled tail (0.001
and 0.0001 below) with 90% equal-tailed credible intervals. Side by side, on the same data:
a fixed threshold at the 90%, 95% and 97.5% empirical quantile of the tail (the usual
practice), with the same priors (ξ ~ Normal(0, 0.5) truncated to ξ > -1, σ ~ LogNormal
around the median excess, tail mass ~ Beta), its GPD posterior computed by quadrature.

Reported per cell (distribution × tail × level × N): the fraction of replications whose
90% interval covers the true quantile, and the median |log(estimate / truth)| of the
posterior median.

The distributions approach the GPD at different rates: Student-t(4) (ξ = 1/4, both
tails), normal (ξ = 0, very slowly: both tails), lognormal(σ = 1) (ξ = 0, slowly), Weibull
with shape 0.75 (ξ = 0), Burr XII with c = 2, d = 1 (Pareto-type, ξ = 1/2) and gamma(2)
(ξ = 0, fast). Positive distributions are fitted with an upper tail only.

Each finished replication is appended to ``--out`` (CSV) at once; a rerun with the same
file skips what is done, so an interrupted run loses nothing.

    .venv/bin/python benchmarks/tail_coverage.py --replications 40 --out tail_coverage.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import format_machine, machine_info

DISTRIBUTIONS = {
    "student_t4": (stats.t(4), ("lower", "upper")),
    "normal": (stats.norm(), ("lower", "upper")),
    "lognormal": (stats.lognorm(1.0), ("upper",)),
    "weibull_0.75": (stats.weibull_min(0.75), ("upper",)),
    "burr12_pareto": (stats.burr12(2.0, 1.0), ("upper",)),
    "gamma2": (stats.gamma(2.0), ("upper",)),
}
LEVELS = {"upper": (0.999, 0.9999), "lower": (0.001, 0.0001)}
FIXED_QUANTILES = (0.90, 0.95, 0.975)
INTERVAL = 0.9


def fixed_threshold_quantiles(x: np.ndarray, side: str, tail_quantile: float, levels, rng, draws=4000):
    """Posterior median and 90% interval of the quantiles with the threshold fixed at the
    ``tail_quantile`` empirical quantile of the tail (same priors as the default fit)."""
    from sbp_bayes.stats import gpd_excess_from_survival
    from sbp_bayes.threshold_selection import gpd_posterior_grid

    oriented = x if side == "upper" else -x
    u = float(np.quantile(oriented, tail_quantile))
    excess = np.sort(oriented[oriented > u] - u)
    n_u, n = excess.size, x.size
    scale = float(np.median(excess)) / np.log(2.0)
    xi_prior = stats.truncnorm(-2.0, np.inf, 0.0, 0.5).logpdf
    sigma_prior = stats.lognorm(1.0, scale=scale).logpdf
    grid = gpd_posterior_grid(excess, xi_prior, sigma_prior)
    xi, sigma = grid.sample(draws, rng)
    tail_prob = rng.beta(1 + n_u, 1 + n - n_u, draws)
    out = {}
    for level in levels:
        exceed = (1 - level) if side == "upper" else level
        quantile = u + gpd_excess_from_survival(np.minimum(exceed / tail_prob, 1.0), xi, sigma)
        quantile = quantile if side == "upper" else -quantile
        lo, mid, hi = np.quantile(quantile, [(1 - INTERVAL) / 2, 0.5, (1 + INTERVAL) / 2])
        out[level] = (mid, lo, hi)
    return out


def one_replication(name: str, n: int, replication: int) -> list[dict]:
    import warnings

    import sbp_bayes

    dist, sides = DISTRIBUTIONS[name]
    seed = np.random.SeedSequence([zlib.crc32(name.encode()), n, replication])
    rng = np.random.default_rng(seed)
    x = dist.rvs(n, random_state=rng)
    tails = "both" if len(sides) == 2 else "upper"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sbp_bayes.fit(x, tails=tails, random_seed=replication, progressbar=False, log_likelihood=False)
    seconds = time.perf_counter() - start
    rows = []
    for side in sides:
        levels = LEVELS[side]
        # The per-draw quantiles, summarised as fit.tail_quantiles() does (median and
        # equal-tailed interval), without its predictive-mixture column.
        distribution = fit.distribution()
        bounds = [0.5, (1 - INTERVAL) / 2, (1 + INTERVAL) / 2]
        methods = {"sbp_default": {lv: tuple(np.quantile(distribution.ppf(lv), bounds)) for lv in levels}}
        weights = fit.threshold_weights().loc[side]
        for q in FIXED_QUANTILES:
            methods[f"fixed_{q:g}"] = fixed_threshold_quantiles(x, side, q, levels, rng)
        for method, values in methods.items():
            for level, (mid, lo, hi) in values.items():
                truth = float(dist.ppf(level))
                rows.append(
                    {
                        "distribution": name,
                        "n": n,
                        "replication": replication,
                        "tail": side,
                        "level": level,
                        "method": method,
                        "truth": truth,
                        "estimate": mid,
                        "lower": lo,
                        "upper": hi,
                        "covered": bool(lo <= truth <= hi),
                        "abs_log_error": abs(np.log(mid / truth)) if mid / truth > 0 else np.inf,
                        "weight_innermost": float(weights["weight"].iloc[0]),
                        "weight_outermost": float(weights["weight"].iloc[-1]),
                        "fit_seconds": seconds,
                    }
                )
    return rows


def summarise(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["distribution", "tail", "level", "n", "method"]
    grouped = results.groupby(keys)
    table = pd.DataFrame(
        {
            "coverage": grouped["covered"].mean(),
            "median_abs_log_error": grouped["abs_log_error"].median(),
            "replications": grouped.size(),
        }
    ).reset_index()
    wide = table.pivot_table(
        index=["distribution", "tail", "level", "n"],
        columns="method",
        values=["coverage", "median_abs_log_error"],
    )
    fixed = [c for c in wide["median_abs_log_error"].columns if c.startswith("fixed")]
    best_fixed = wide["median_abs_log_error"][fixed].min(axis=1)
    checks = pd.DataFrame(
        {
            "coverage": wide["coverage"]["sbp_default"],
            "error_ratio_to_best_fixed": wide["median_abs_log_error"]["sbp_default"] / best_fixed,
        }
    )
    return wide, checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replications", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--distributions", nargs="+", default=list(DISTRIBUTIONS))
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path("tail_coverage.csv"))
    args = parser.parse_args(argv)

    done = set()
    if (
        args.out.exists()
        and args.out.read_text().strip("\n").splitlines()[-1:] != []
        and any(not line.startswith("#") for line in args.out.read_text().splitlines())
    ):
        previous = pd.read_csv(args.out, comment="#")
        done = set(zip(previous.distribution, previous.n, previous.replication, strict=True))
    else:
        args.out.write_text("".join(f"# {line}\n" for line in format_machine(machine_info()).splitlines()))
    jobs = [
        (name, n, r)
        for n in args.sizes
        for name in args.distributions
        for r in range(args.replications)
        if (name, n, r) not in done
    ]
    print(f"{len(jobs)} replications to run ({len(done)} already in {args.out})", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(one_replication, *job): job for job in jobs}
        for count, future in enumerate(as_completed(futures), 1):
            rows = pd.DataFrame(future.result())
            rows.to_csv(args.out, mode="a", header=not done and count == 1, index=False)
            elapsed = time.perf_counter() - start
            print(
                f"[{count}/{len(jobs)}] {futures[future]} done; {elapsed:.0f} s elapsed, "
                f"~{elapsed / count * (len(jobs) - count):.0f} s left",
                flush=True,
            )
    results = pd.read_csv(args.out, comment="#")
    wide, checks = summarise(results)
    pd.set_option("display.width", 200)
    print(format_machine(machine_info()))
    print(wide.round(3).to_string())
    print()
    print(checks.round(3).to_string())
    print(
        f"\ncoverage: min {checks.coverage.min():.3f}, mean {checks.coverage.mean():.3f}; "
        f"error ratio to the best fixed threshold: max {checks.error_ratio_to_best_fixed.max():.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
