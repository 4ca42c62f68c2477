"""Wall time of a default ``sbp_bayes.fit`` from a fresh Python process, by stage.

Every fit runs in a *fresh* subprocess (``python fit_time.py --worker ...``), so the
times include what a user waits for on a first fit: importing the package (PyMC,
PyTensor, ArviZ, nutpie), and compiling the model. Inside the worker the real
``fit()`` is timed with its stages measured by wrapping the functions it calls:

``import``
    ``import sbp_bayes`` (and with it PyMC, PyTensor, ArviZ, xarray).
``design``
    ``make_design`` + ``summarise``: candidate thresholds, bins, counts, tail points.
``build``
    ``build_model_from_statistics``: the PyMC model (closed-form body terms).
``compile`` / ``sample``
    ``nutpie.compile_pymc_model`` (numba) and ``nutpie.sample`` (tuning + draws).
``completion``
    Exact draws of thresholds and bin probabilities for every posterior draw.
``log_likelihood``
    The pointwise log-likelihood, stored only when ``N x draws <= 2e7`` with the
    default ``log_likelihood="auto"`` (5000 points x 4000 draws: stored; 10^4 and
    10^6 points: skipped, which the table reports).
``other``
    The rest of ``fit()`` (argument checks, assembling the result).

Also reported: the whole ``fit()`` call, the subprocess's wall time seen from the
parent (interpreter start, imports, data generation and fit), the worker's peak
resident memory (``resource.getrusage(...).ru_maxrss``) and whether the fit passed
its convergence check (a fast fit that has not converged would be no win).

Two experiments, run side by side (the repeats of each alternate):

(a) the default fit (both tails, threshold priors, 4 chains x 1000 draws after 1000
    tuning steps) on ``--n-default`` (5000) Student-t(3) points;
(b) the same fit on ``--n-small`` (10^4) and ``--n-large`` (10^6) points, each in its
    own fresh process; the ratio of the fit times is the scaling (goal: at most 3).

PyTensor caches compiled numba code on disk, so ``compile`` can be shorter on later
runs than on the very first run on a machine; medians over ``--repeats`` runs are
reported.

Run:  python benchmarks/fit_time.py --out fit_time.csv
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # machine.py, shared by the scripts
from machine import format_machine, machine_info

STAGES = ("import", "design", "build", "compile", "sample", "completion", "log_likelihood", "other")
RESULT_PREFIX = "FIT_TIME_RESULT "
#: Issue 3: a fit on 10^6 points may take at most this many times a fit on 10^4.
GOAL_SCALING_RATIO = 3.0


# ----------------------------------------------------------------------------- machine


#: Package versions recorded with the results (see machine.py).
PACKAGES = ("numpy", "pymc", "pytensor", "nutpie", "arviz")


@contextlib.contextmanager
def timed(owner, name: str, times: list):
    """Replace ``owner.name`` by a wrapper appending each call's duration to ``times``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - start)

    setattr(owner, name, wrapper)
    try:
        yield times
    finally:
        setattr(owner, name, original)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux,
    bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# ----------------------------------------------------------------------------- one fit


def fit_stages(n: int, *, seed: int = 0, draws: int = 1000, tune: int = 1000, chains: int = 4) -> dict:
    """Run the default ``sbp_bayes.fit`` on ``n`` Student-t(3) points, timing its stages.

    Returns seconds per stage (keys of :data:`STAGES` but ``import``), ``fit_s`` (the
    whole call), ``log_likelihood_stored``, ``converged`` and ``peak_memory_mb``.
    """
    import nutpie

    import sbp_bayes

    fit_module = sys.modules["sbp_bayes.fit"]  # the attribute sbp_bayes.fit is the function
    x = np.random.default_rng(seed).standard_t(3, size=n)
    times = {stage: [] for stage in ("design", "build", "compile", "sample", "completion", "log_likelihood")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(timed(fit_module, "make_design", times["design"]))
        stack.enter_context(timed(fit_module, "summarise", times["design"]))
        stack.enter_context(timed(fit_module, "build_model_from_statistics", times["build"]))
        stack.enter_context(timed(nutpie, "compile_pymc_model", times["compile"]))
        stack.enter_context(timed(nutpie, "sample", times["sample"]))
        stack.enter_context(timed(fit_module, "_complete_posterior", times["completion"]))
        stack.enter_context(timed(fit_module.SBPFit, "compute_log_likelihood", times["log_likelihood"]))
        start = time.perf_counter()
        result = sbp_bayes.fit(x, draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=False)
        fit_seconds = time.perf_counter() - start
    row = {stage: float(sum(values)) for stage, values in times.items()}
    row["other"] = fit_seconds - sum(row.values())
    row["fit_s"] = fit_seconds
    row["log_likelihood_stored"] = "log_likelihood" in result.idata.children
    row["converged"] = bool(result.check(warn=False).passed)
    row["peak_memory_mb"] = peak_memory_mb()
    return row


def worker(n: int, *, seed: int, draws: int, tune: int, chains: int) -> dict:
    """What a fresh process measures: the package import, then :func:`fit_stages`."""
    start = time.perf_counter()
    import sbp_bayes  # noqa: F401  (timed: the first import of the whole stack)

    import_seconds = time.perf_counter() - start
    row = {"n": n, "seed": seed, "import": import_seconds}
    row.update(fit_stages(n, seed=seed, draws=draws, tune=tune, chains=chains))
    return row


def run_fresh(n: int, *, seed: int = 0, draws: int = 1000, tune: int = 1000, chains: int = 4) -> dict:
    """:func:`worker` in a new Python process; adds ``process_s`` (wall time seen here)."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--n",
        str(n),
        "--seed",
        str(seed),
        "--draws",
        str(draws),
        "--tune",
        str(tune),
        "--chains",
        str(chains),
    ]
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    process_seconds = time.perf_counter() - start
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(
            f"The fit worker for N={n} failed (exit code {finished.returncode}):\n{finished.stderr[-3000:]}"
        )
    row = json.loads(lines[-1][len(RESULT_PREFIX) :])
    row["process_s"] = process_seconds
    return row


# ----------------------------------------------------------------------------- experiments


def measure(
    *,
    repeats: int = 3,
    n_default: int = 5000,
    n_small: int = 10_000,
    n_large: int = 1_000_000,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    runner=run_fresh,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per fit: experiment ``"default"`` at ``n_default`` and ``"scaling"`` at
    ``n_small`` and ``n_large``, ``repeats`` fresh processes each, alternating."""
    plan = [("default", n_default), ("scaling", n_small), ("scaling", n_large)]
    rows = []
    for repeat in range(repeats):
        for experiment, n in plan:
            row = runner(n, seed=seed + repeat, draws=draws, tune=tune, chains=chains)
            rows.append({"experiment": experiment, "repeat": repeat, **row})
            if progress:
                print(f"  {experiment} N={n} repeat {repeat + 1}: fit {row['fit_s']:.1f} s", file=sys.stderr)
    return pd.DataFrame(rows)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Medians per (experiment, N): stages, ``fit_s``, ``fit_without_compile_s``,
    ``process_s``, peak memory; whether the log-likelihood was stored and every run
    converged. Rows are the quantities, columns the (experiment, N) pairs."""
    runs = runs.assign(fit_without_compile_s=runs.fit_s - runs["compile"])
    timing = [*STAGES, "fit_s", "fit_without_compile_s", "process_s", "peak_memory_mb"]
    timing = [column for column in timing if column in runs]
    grouped = runs.groupby(["experiment", "n"], sort=False)
    table = grouped[timing].median()
    table["runs"] = grouped.size()
    table["log_likelihood_stored"] = grouped["log_likelihood_stored"].all()
    table["all_converged"] = grouped["converged"].all()
    return table.T


def scaling_ratios(summary: pd.DataFrame, n_small: int, n_large: int) -> dict:
    """Large-N over small-N ratios of the median times."""
    small, large = summary[("scaling", n_small)], summary[("scaling", n_large)]
    ratios = {}
    for column in ("fit_s", "fit_without_compile_s", "process_s", "peak_memory_mb"):
        if column in summary.index:
            ratios[column] = float(large[column]) / float(small[column])
    return ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process fits per N (medians)")
    parser.add_argument("--n-default", type=int, default=5000, help="N of experiment (a)")
    parser.add_argument("--n-small", type=int, default=10_000, help="smaller N of experiment (b)")
    parser.add_argument("--n-large", type=int, default=1_000_000, help="larger N of experiment (b)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="CSV file for the per-run results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=5000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        row = worker(args.n, seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains)
        print(RESULT_PREFIX + json.dumps(row), flush=True)
        return 0

    info = machine_info(PACKAGES)
    runs = measure(
        repeats=args.repeats,
        n_default=args.n_default,
        n_small=args.n_small,
        n_large=args.n_large,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        progress=True,
    )
    summary = summarise(runs)
    print(
        f"Default fit, {args.chains} chains x {args.draws} draws (+{args.tune} tuning), each run in a "
        f"fresh process; medians of {args.repeats} runs (seconds; memory in MiB)"
    )
    print(format_machine(info))
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))
    ratios = scaling_ratios(summary, args.n_small, args.n_large)
    print(
        f"N = {args.n_large:,} vs {args.n_small:,}: "
        + ", ".join(f"{name} x{value:.2f}" for name, value in ratios.items())
    )
    verdict = "met" if ratios["fit_s"] <= GOAL_SCALING_RATIO else "MISSED"
    print(
        f"goal: fit on N = {args.n_large:,} within {GOAL_SCALING_RATIO:g}x the time on N = {args.n_small:,}: "
        f"x{ratios['fit_s']:.2f} ({verdict})"
    )
    if args.out:
        with open(args.out, "w") as out:
            out.write(format_machine(info) + "\n")
            runs.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
