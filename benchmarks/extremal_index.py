"""Extremal index estimators and clustered return levels on processes with known θ.

Part 1, coverage. Replicated series of two processes with a known extremal index:

- max-autoregressive ``X_t = max(α X_{t-1}, (1 - α) Z_t)``, ``Z`` unit Fréchet: ``θ = 1 - α``
  (θ = 1 is an independent series);
- moving maximum of order ``m`` of i.i.d. Pareto(1) noise: ``θ = 1/m``.

For each, ``sbp_bayes.extremal_index`` at the 95% quantile by the intervals, runs and
K-gaps methods: the share of replications whose 95% interval covers the true θ, the
mean estimate and the mean interval width. (Runs and K-gaps estimate the sub-asymptotic
``θ(u)``, e.g. ``P(X_{t+1} <= u | X_t > u) = 0.95`` for an independent series at its
95% quantile, so their intervals can miss the limit θ = 1.)

Part 2, return levels. A 30-year daily max-autoregressive series (dates attached, so
observations per year come from them) on the log scale (Gumbel margins; θ does not
change under a monotone transform), fitted with ``sbp_bayes.fit(tails="upper")``. Its
true T-year return level is exact: the annual maximum of n = 365.25 steps has
``P(M_n <= z) = exp(-(1 + (1 - α)(n - 1)) / z)`` on the Fréchet scale. The fitted levels
with ``extremal_index="intervals"`` are compared with it, with the levels that treat
the days as independent, and with those of a fit to cluster maxima (``decluster=1``).

Run:  python benchmarks/extremal_index.py --replications 200 --out extremal_index.csv
The slow test in ``tests/test_clusters.py`` runs part 1 for the intervals estimator
(``pytest -m slow``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import sbp_bayes
from sbp_bayes.clusters import EXTREMAL_INDEX_METHODS, extremal_index

sys.path.insert(0, str(Path(__file__).resolve().parent))  # machine.py, shared by the scripts
from machine import format_machine, machine_info

DAYS_PER_YEAR = 365.25


def max_autoregressive(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """``X_t = max(α X_{t-1}, (1 - α) Z_t)`` with unit Fréchet ``Z`` (stationary, unit Fréchet)."""
    z = 1.0 / -np.log(rng.random(n))
    x = np.empty(n)
    x[0] = z[0]
    for t in range(1, n):
        x[t] = max(alpha * x[t - 1], (1.0 - alpha) * z[t])
    return x


def moving_maximum(n: int, order: int, rng: np.random.Generator) -> np.ndarray:
    """``max(Z_t, ..., Z_{t-m+1})`` of i.i.d. Pareto(1) noise: θ = 1/m."""
    z = rng.pareto(1.0, size=n + order - 1)
    return np.max(np.lib.stride_tricks.sliding_window_view(z, order), axis=1)


PROCESSES = {
    "max-AR theta=0.25": (0.25, lambda n, rng: max_autoregressive(n, 0.75, rng)),
    "max-AR theta=0.5": (0.5, lambda n, rng: max_autoregressive(n, 0.5, rng)),
    "max-AR theta=1": (1.0, lambda n, rng: max_autoregressive(n, 0.0, rng)),
    "moving max m=2": (0.5, lambda n, rng: moving_maximum(n, 2, rng)),
    "moving max m=4": (0.25, lambda n, rng: moving_maximum(n, 4, rng)),
}


def coverage(replications: int, n: int, quantile: float, seed: int, n_boot: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for name, (theta, simulate) in PROCESSES.items():
        for replication in range(replications):
            x = simulate(n, rng)
            u = float(np.quantile(x, quantile))
            for method in EXTREMAL_INDEX_METHODS:
                estimate = extremal_index(x, u, method=method, n_boot=n_boot, random_seed=replication)
                rows.append(
                    {
                        "process": name,
                        "true_theta": theta,
                        "method": method,
                        "replication": replication,
                        "theta": estimate.theta,
                        "lower": estimate.lower,
                        "upper": estimate.upper,
                        "covered": estimate.lower <= theta <= estimate.upper,
                    }
                )
    return pd.DataFrame(rows)


def true_return_level_log(period: float, alpha: float, n: float = DAYS_PER_YEAR) -> float:
    """Exact T-period return level of the log max-AR series (annual maximum of n steps)."""
    frechet = (1.0 + (1.0 - alpha) * (n - 1.0)) / -np.log1p(-1.0 / period)
    return float(np.log(frechet))


def return_levels(thetas, years: int, series: int, seed: int, draws: int, periods) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    n = round(years * DAYS_PER_YEAR)
    days = pd.date_range("1990-01-01", periods=n, freq="D")
    for theta in thetas:
        alpha = 1.0 - theta
        for replicate in range(series):
            x = pd.Series(np.log(max_autoregressive(n, alpha, rng)), index=days, name="value")
            started = time.perf_counter()
            fit = sbp_bayes.fit(
                x, tails="upper", draws=draws, tune=draws, chains=4, progressbar=False, random_seed=replicate
            )
            seconds = time.perf_counter() - started
            estimate = fit.extremal_index(method="intervals")
            clustered = fit.return_levels(periods, extremal_index=estimate)
            independent = fit.return_levels(periods)
            # The tail fitted to cluster maxima instead (runs declustering at the 95% quantile).
            declustered_fit = sbp_bayes.fit(
                x,
                tails="upper",
                decluster=1,
                draws=draws,
                tune=draws,
                chains=4,
                progressbar=False,
                random_seed=replicate,
            )
            declustered = declustered_fit.return_levels(periods)
            for period in periods:
                truth = true_return_level_log(period, alpha)
                rows.append(
                    {
                        "true_theta": theta,
                        "series": replicate,
                        "return_period": period,
                        "true_level": truth,
                        "theta_estimate": estimate.theta,
                        "median": clustered.loc[period, "median"],
                        "lower": clustered.loc[period, "ci_lower"],
                        "upper": clustered.loc[period, "ci_upper"],
                        "covered": clustered.loc[period, "ci_lower"]
                        <= truth
                        <= clustered.loc[period, "ci_upper"],
                        "independent_median": independent.loc[period, "median"],
                        "independent_lower": independent.loc[period, "ci_lower"],
                        "independent_upper": independent.loc[period, "ci_upper"],
                        "independent_covered": independent.loc[period, "ci_lower"]
                        <= truth
                        <= independent.loc[period, "ci_upper"],
                        "declustered_median": declustered.loc[period, "median"],
                        "declustered_lower": declustered.loc[period, "ci_lower"],
                        "declustered_upper": declustered.loc[period, "ci_upper"],
                        "declustered_covered": declustered.loc[period, "ci_lower"]
                        <= truth
                        <= declustered.loc[period, "ci_upper"],
                        "observations_per_year": fit.data.attrs["observations_per_year"],
                        "fit_seconds": seconds,
                        "check_passed": fit.check(warn=False).passed,
                    }
                )
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200, help="series per process (part 1)")
    parser.add_argument("--n", type=int, default=10_000, help="length of each series (part 1)")
    parser.add_argument("--quantile", type=float, default=0.95, help="threshold quantile (part 1)")
    parser.add_argument("--n-boot", type=int, default=500, help="bootstrap replicates / posterior draws")
    parser.add_argument("--years", type=int, default=30, help="years of daily data (part 2)")
    parser.add_argument("--series", type=int, default=2, help="series per theta (part 2)")
    parser.add_argument("--draws", type=int, default=500, help="draws and tuning steps per chain (part 2)")
    parser.add_argument("--seed", type=int, default=2003)
    parser.add_argument("--skip-fits", action="store_true", help="part 1 only")
    parser.add_argument("--out", help="CSV of part 1 (part 2 goes to the same name with _return_levels)")
    args = parser.parse_args(argv)
    info = machine_info()
    print(format_machine(info))

    started = time.perf_counter()
    table = coverage(args.replications, args.n, args.quantile, args.seed, args.n_boot)
    summary = table.groupby(["process", "method"], sort=False).agg(
        true_theta=("true_theta", "first"),
        coverage=("covered", "mean"),
        mean_theta=("theta", "mean"),
        mean_width=("upper", "mean"),
    )
    summary["mean_width"] = (
        summary["mean_width"] - table.groupby(["process", "method"], sort=False)["lower"].mean()
    )
    print(
        f"\nPart 1: coverage of 95% intervals, {args.replications} series of {args.n} per process, "
        f"threshold at the {args.quantile:.0%} quantile ({time.perf_counter() - started:.0f} s)"
    )
    print(summary.round(3).to_string())
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(format_machine(info) + "\n")
            table.to_csv(handle, index=False)

    if not args.skip_fits:
        started = time.perf_counter()
        periods = [10.0, 50.0, 100.0]
        levels = return_levels([0.25, 0.5], args.years, args.series, args.seed + 1, args.draws, periods)
        print(
            f"\nPart 2: return levels of {args.years}-year daily log max-AR series, fitted with 4 chains x "
            f"{args.draws} draws ({time.perf_counter() - started:.0f} s)"
        )
        columns = [
            "true_theta",
            "series",
            "return_period",
            "true_level",
            "theta_estimate",
            "median",
            "lower",
            "upper",
            "covered",
            "independent_median",
            "independent_covered",
            "declustered_median",
            "declustered_covered",
            "check_passed",
        ]
        print(levels[columns].round(3).to_string(index=False))
        levels["error"] = levels["median"] - levels["true_level"]
        levels["independent_error"] = levels["independent_median"] - levels["true_level"]
        levels["declustered_error"] = levels["declustered_median"] - levels["true_level"]
        by = levels.groupby(["true_theta", "return_period"])
        print(by[["covered", "independent_covered", "declustered_covered"]].mean().round(2).to_string())
        print(by[["error", "independent_error", "declustered_error"]].mean().round(3).to_string())
        print(
            f"covered with theta: {levels['covered'].mean():.0%}; declustered fit: "
            f"{levels['declustered_covered'].mean():.0%}; treating days as independent: "
            f"{levels['independent_covered'].mean():.0%}"
        )
        if args.out:
            path = Path(args.out)
            with open(path.with_name(path.stem + "_return_levels" + path.suffix), "w") as handle:
                handle.write(format_machine(info) + "\n")
                levels.to_csv(handle, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
