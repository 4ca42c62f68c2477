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

Part 2, return levels. 30-year daily series (dates attached, so observations per year
come from them) of the max-autoregressive process with θ = 0.25, 0.5 and 1 and of the
moving maximum of order 4 (θ = 0.25), on the log scale (exponential tails; θ does not
change under a monotone transform), each fitted by the default ``sbp_bayes.fit`` with
``tails="upper"`` four ways:

- ``independent``: every day treated as independent, no θ;
- ``theta``: the same fit, levels with the intervals estimate of θ (its bootstrap draws);
- ``adjusted``: ``cluster_adjustment="sandwich"`` (the dependence-adjusted tail
  likelihood and leave-one-cluster-out weights), levels with the same θ estimate;
- ``declustered``: ``decluster=1``, the tail fitted to cluster maxima.

The true T-year return levels are exact: for the max-AR series the annual maximum of
n = 365.25 steps has ``P(M_n <= z) = exp(-(1 + (1 - α)(n - 1)) / z)`` on the Fréchet
scale; for the moving maximum it is the maximum of n + m - 1 i.i.d. Lomax(1) values. The
table gives, per process, interval level (90%, 95%) and period (10, 50, 100 years), the
share of series whose interval covers the true level, the mean interval width, the mean
error and root mean square error of the median, and the mean likelihood weight.

Run:  python benchmarks/extremal_index.py --replications 200 --series 100 --workers 2 \
          --out extremal_index.csv
(``--skip-theta`` / ``--skip-fits`` run one part; ``--summarise CSV`` prints the part 2
summary of a finished or partial run, whose rows are appended to
``*_return_levels_partial.csv`` as each series finishes.)
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


def true_return_level_log_moving_maximum(period: float, order: int, n: float = DAYS_PER_YEAR) -> float:
    """Exact T-period level of the log moving maximum: the annual maximum of ``n`` steps is
    the maximum of ``n + m - 1`` i.i.d. Lomax(1) values (``rng.pareto(1)``: ``P(Z <= z) = z / (1 + z)``)."""
    p = np.exp(np.log1p(-1.0 / period) / (n + order - 1.0))  # F(z) of the level
    return float(np.log(p / -np.expm1(np.log(p))))


#: Return-level processes: name -> (true θ, simulate(n, rng), true level(period)).
LEVEL_PROCESSES = {
    "max-AR theta=0.25": (
        0.25,
        lambda n, rng: max_autoregressive(n, 0.75, rng),
        lambda period: true_return_level_log(period, 0.75),
    ),
    "max-AR theta=0.5": (
        0.5,
        lambda n, rng: max_autoregressive(n, 0.5, rng),
        lambda period: true_return_level_log(period, 0.5),
    ),
    "max-AR theta=1": (
        1.0,
        lambda n, rng: max_autoregressive(n, 0.0, rng),
        lambda period: true_return_level_log(period, 0.0),
    ),
    "moving max m=4": (
        0.25,
        lambda n, rng: moving_maximum(n, 4, rng),
        lambda period: true_return_level_log_moving_maximum(period, 4),
    ),
}
#: The fits compared: name -> (fit options, extremal index passed to return_levels).
FITS = {
    "independent": ({}, None),
    "theta": ({}, "estimate"),
    "adjusted": ({"cluster_adjustment": "sandwich"}, "estimate"),
    "adjusted_theta": ({"cluster_adjustment": "extremal_index"}, "estimate"),
    "declustered": ({"decluster": 1}, None),
}
#: Fits run by default (``--fits`` chooses).
DEFAULT_FITS = ("independent", "theta", "adjusted", "declustered")


def _one_series(job) -> list[dict]:
    """Fit one simulated series every way and compare the levels with the truth."""
    name, replicate, seed, years, draws, periods, ci_probs, fits = job
    theta, simulate, truth = LEVEL_PROCESSES[name]
    rng = np.random.default_rng(seed)
    n = round(years * DAYS_PER_YEAR)
    days = pd.date_range("1990-01-01", periods=n, freq="D")
    x = pd.Series(np.log(simulate(n, rng)), index=days, name="value")
    rows = []
    fitted = {}
    for method in fits:
        options = FITS[method][0]
        if method == "theta":
            continue  # the independent fit, read with θ
        started = time.perf_counter()
        fitted[method] = (
            sbp_bayes.fit(
                x,
                tails="upper",
                draws=draws,
                chains=4,
                progressbar=False,
                random_seed=replicate,
                log_likelihood=False,
                **options,
            ),
            time.perf_counter() - started,
        )
    if "independent" in fitted:
        fitted["theta"] = fitted["independent"]
    # θ at the independence fit's threshold (else the first fit's): the same for every fit.
    estimate = next(iter(fitted.values()))[0].extremal_index(method="intervals")
    for method in fits:
        extremal = FITS[method][1]
        result, seconds = fitted[method]
        weights = result.idata["threshold_weights"] if "threshold_weights" in result.idata else None
        for ci_prob in ci_probs:
            table = result.return_levels(
                periods, ci_prob=ci_prob, extremal_index=estimate if extremal == "estimate" else None
            )
            for period in periods:
                level = truth(period)
                row = table.loc[period]
                rows.append(
                    {
                        "process": name,
                        "true_theta": theta,
                        "series": replicate,
                        "fit": method,
                        "ci_prob": ci_prob,
                        "return_period": period,
                        "true_level": level,
                        "theta_estimate": estimate.theta,
                        "median": row["median"],
                        "lower": row["ci_lower"],
                        "upper": row["ci_upper"],
                        "covered": row["ci_lower"] <= level <= row["ci_upper"],
                        # The candidates' likelihood weights averaged with their CV weights.
                        "likelihood_weight": float(
                            weights["upper_weight"] @ weights["upper_likelihood_weight"]
                            if weights is not None and "upper_likelihood_weight" in weights
                            else 1.0
                        ),
                        "fit_seconds": seconds,
                    }
                )
    return rows


def return_levels(
    processes,
    years: int,
    series: int,
    seed: int,
    draws: int,
    periods,
    ci_probs=(0.9, 0.95),
    workers: int = 1,
    partial=None,
    fits=DEFAULT_FITS,
) -> pd.DataFrame:
    """Coverage of the true return levels, ``series`` replications per process; each
    replication has its own seed, so the table does not depend on ``workers``. The jobs
    alternate between processes and, with ``partial`` (a path), each finished series is
    appended there at once, so an interrupted run still gives even partial results."""
    seeds = np.random.SeedSequence(seed).spawn(len(processes) * series)
    jobs = [
        (name, replicate, seeds[k * series + replicate], years, draws, tuple(periods), tuple(ci_probs), fits)
        for replicate in range(series)
        for k, name in enumerate(processes)
    ]
    rows = []

    def keep(chunk):
        rows.extend(chunk)
        if partial is not None:
            pd.DataFrame(chunk).to_csv(partial, mode="a", header=len(rows) == len(chunk), index=False)

    if workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(workers) as pool:
            for chunk in pool.imap_unordered(_one_series, jobs, chunksize=1):
                keep(chunk)
    else:
        for job in jobs:
            keep(_one_series(job))
    return pd.DataFrame(rows).sort_values(["process", "series", "fit", "ci_prob", "return_period"])


def summarise_levels(levels: pd.DataFrame) -> pd.DataFrame:
    """Coverage, mean width and mean error of each fit per process, interval level and period."""
    levels = levels.assign(
        width=levels["upper"] - levels["lower"], error=levels["median"] - levels["true_level"]
    )
    return (
        levels.groupby(["process", "ci_prob", "return_period", "fit"], sort=False)
        .agg(
            coverage=("covered", "mean"),
            mean_width=("width", "mean"),
            mean_error=("error", "mean"),
            rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
            likelihood_weight=("likelihood_weight", "mean"),
        )
        .unstack("fit")
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200, help="series per process (part 1)")
    parser.add_argument("--n", type=int, default=10_000, help="length of each series (part 1)")
    parser.add_argument("--quantile", type=float, default=0.95, help="threshold quantile (part 1)")
    parser.add_argument("--n-boot", type=int, default=500, help="bootstrap replicates / posterior draws")
    parser.add_argument("--years", type=int, default=30, help="years of daily data (part 2)")
    parser.add_argument("--series", type=int, default=2, help="series per process (part 2)")
    parser.add_argument("--draws", type=int, default=500, help="draws per chain, 4 chains (part 2)")
    parser.add_argument("--workers", type=int, default=1, help="processes for part 2 (results do not change)")
    parser.add_argument(
        "--processes", nargs="*", default=list(LEVEL_PROCESSES), help="part 2 processes (default: all)"
    )
    parser.add_argument(
        "--fits",
        nargs="*",
        default=list(DEFAULT_FITS),
        help=f"part 2 fits, of {', '.join(FITS)} (theta reads the independent fit)",
    )
    parser.add_argument("--seed", type=int, default=2003)
    parser.add_argument("--skip-fits", action="store_true", help="part 1 only")
    parser.add_argument("--skip-theta", action="store_true", help="part 2 only")
    parser.add_argument(
        "--summarise",
        metavar="CSV",
        nargs="+",
        help="print the part 2 summary of (partial) results CSVs, e.g. runs with different --fits, and stop",
    )
    parser.add_argument("--out", help="CSV of part 1 (part 2 goes to the same name with _return_levels)")
    args = parser.parse_args(argv)
    if args.summarise:
        levels = pd.concat([pd.read_csv(path, comment="#") for path in args.summarise])
        counts = levels.groupby("process")["series"].nunique()
        print("series per process: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            print(summarise_levels(levels).round(3).to_string())
        return 0
    info = machine_info()
    print(format_machine(info))

    if not args.skip_theta:
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
        unknown = set(args.processes) - set(LEVEL_PROCESSES)
        if "theta" in args.fits and "independent" not in args.fits:
            parser.error("--fits theta reads the independent fit: name independent too")
        if set(args.fits) - set(FITS):
            parser.error(f"unknown fit(s) {sorted(set(args.fits) - set(FITS))}; choose from {list(FITS)}")
        if unknown:
            parser.error(f"unknown process(es) {sorted(unknown)}; choose from {list(LEVEL_PROCESSES)}")
        started = time.perf_counter()
        periods = [10.0, 50.0, 100.0]
        partial = None
        if args.out:
            partial = Path(args.out).with_name(Path(args.out).stem + "_return_levels_partial.csv")
            partial.unlink(missing_ok=True)
        levels = return_levels(
            args.processes,
            args.years,
            args.series,
            args.seed + 1,
            args.draws,
            periods,
            workers=args.workers,
            partial=partial,
            fits=tuple(args.fits),
        )
        print(
            f"\nPart 2: return levels of {args.years}-year daily log series, {args.series} per process, "
            f"default fit with 4 chains x {args.draws} draws ({time.perf_counter() - started:.0f} s). Fits: "
            "independent = every day independent, no theta; theta = the same fit, levels with the intervals "
            "estimate of theta; adjusted (adjusted_theta) = cluster_adjustment='sandwich' "
            "('extremal_index') with theta; declustered = "
            "decluster=1 (cluster maxima)."
        )
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            print(summarise_levels(levels).round(3).to_string())
        if args.out:
            path = Path(args.out)
            with open(path.with_name(path.stem + "_return_levels" + path.suffix), "w") as handle:
                handle.write(format_machine(info) + "\n")
                levels.to_csv(handle, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
