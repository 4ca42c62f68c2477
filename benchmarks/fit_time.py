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
    ``build_model_from_statistics``: the PyMC model (closed-form body terms); for the
    default fit (cross-validation weights, quadrature) the per-candidate priors.
``compile`` / ``sample``
    ``sbp_bayes.sampling.compile_nutpie`` (fingerprint the model, then load the
    compiled code from memory or disk, or compile it with numba) and ``nutpie.sample``
    (tuning + draws); with ``sampler="pymc"``, ``compile`` is 0 and ``sample`` is the
    whole ``pm.sample`` call (its compilation included). The default fit compiles
    nothing: ``sample`` is its quadrature (grids, leave-one-out weights, draws).
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

Three experiments, each run side by side (the repeats of each alternate):

(c) ``--experiment cache`` (the default): what the compiled-model cache buys, for the
    default Danish fit (upper tail, threshold prior) and the default two-tailed fit of
    ``--n-default`` (5000) Student-t(3) points. Each fresh process fits twice:

    ``cold``
        first-ever fit: empty compiled-model cache (``SBP_BAYES_CACHE_DIR``) and empty
        PyTensor compile directory (``PYTENSOR_FLAGS=base_compiledir=...``), both new
        temporary folders for every repeat;
    ``warm``
        a later process: the same folders, filled by the cold run;
    ``in-process``
        the second fit of either process (compiled model held in memory);
    ``reference``
        the fixed-threshold reference: thresholds at the 5% / 95% quantiles (Danish:
        95% only), 30 body bins, sufficient statistics, PyMC's own NUTS with the C
        backend (``PYTENSOR_FLAGS=mode=CVM``) and its on-disk cache warmed by an
        uncounted run; its first fit in a fresh process, and its in-process repeat.

    Also ``sbp-bayes fit models/danish.toml --out ...`` end to end (report included),
    as a fresh process with a warm cache (``python -m sbp_bayes.cli``).

The two older experiments (``--experiment scaling``):

(a) the default fit (both tails, threshold priors, 4 chains x 1000 draws after 1000
    tuning steps) on ``--n-default`` (5000) Student-t(3) points;
(b) the same fit on ``--n-small`` (10^4) and ``--n-large`` (10^6) points, each in its
    own fresh process; the ratio of the fit times is the scaling (goal: at most 3).

Medians over ``--repeats`` runs are reported.

Run:  python benchmarks/fit_time.py --out fit_time.csv                        (cache)
      python benchmarks/fit_time.py --experiment scaling --out scaling.csv     (a) and (b)
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


def case_data(case: str, n: int, seed: int):
    """The data of a case: ``"t3"`` (``n`` Student-t(3) points) or ``"danish"`` (bundled)."""
    if case == "danish":
        from sbp_bayes import datasets

        return datasets.load("danish")
    return np.random.default_rng(seed).standard_t(3, size=n)


def fit_options(case: str, x, *, reference: bool) -> dict:
    """Keyword arguments of ``sbp_bayes.fit``: the default fit of the case, or the reference
    (thresholds fixed at the 5% / 95% quantiles, 30 body bins, PyMC's NUTS)."""
    options = {"tails": "upper"} if case == "danish" else {}
    if reference:
        options.update(bins=30, sampler="pymc", upper_threshold=float(np.quantile(x, 0.95)))
        if case != "danish":
            options["lower_threshold"] = float(np.quantile(x, 0.05))
    return options


def fit_stages(
    n: int,
    *,
    seed: int = 0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    case: str = "t3",
    reference: bool = False,
) -> dict:
    """Run the default ``sbp_bayes.fit`` of ``case`` (or its reference), timing its stages.

    Returns seconds per stage (keys of :data:`STAGES` but ``import``), ``fit_s`` (the
    whole call), ``log_likelihood_stored``, ``converged`` and ``peak_memory_mb``.
    """
    import nutpie
    import pymc as pm

    import sbp_bayes
    from sbp_bayes import sampling
    from sbp_bayes.families import sbp as sbp_family  # the SBP's build, weights and completion

    fit_module = sys.modules["sbp_bayes.fit"]  # the attribute sbp_bayes.fit is the function
    x = case_data(case, n, seed)
    options = fit_options(case, x, reference=reference)
    times = {stage: [] for stage in ("design", "build", "compile", "sample", "completion", "log_likelihood")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(timed(sbp_family, "make_design", times["design"]))
        stack.enter_context(timed(sbp_family, "summarise", times["design"]))
        stack.enter_context(timed(sbp_family, "build_model_from_statistics", times["build"]))
        # The default SBP fit (cross-validation weights, sampler "auto") builds no PyMC model
        # and compiles nothing: its priors are "build", its quadrature grids, weights and
        # draws are "sample".
        stack.enter_context(timed(sbp_family, "candidate_priors", times["build"]))
        stack.enter_context(timed(sbp_family, "build_candidate_model", times["build"]))
        stack.enter_context(timed(sbp_family, "weigh_candidates", times["sample"]))
        stack.enter_context(timed(sampling, "compile_nutpie", times["compile"]))
        stack.enter_context(timed(nutpie, "sample", times["sample"]))
        stack.enter_context(timed(pm, "sample", times["sample"]))  # sampling.sample imports PyMC when called
        stack.enter_context(timed(sbp_family, "complete_posterior", times["completion"]))
        stack.enter_context(timed(fit_module.SBPFit, "compute_log_likelihood", times["log_likelihood"]))
        start = time.perf_counter()
        result = sbp_bayes.fit(
            x, draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=False, **options
        )
        fit_seconds = time.perf_counter() - start
    row = {stage: float(sum(values)) for stage, values in times.items()}
    row["other"] = fit_seconds - sum(row.values())
    row["fit_s"] = fit_seconds
    row["log_likelihood_stored"] = "log_likelihood" in result.idata.children
    row["converged"] = bool(result.check(warn=False).passed)
    row["peak_memory_mb"] = peak_memory_mb()
    statistics = sampling.cache_statistics()
    row["compiled_models_from"] = (
        f"memory {statistics.memory_hits}, disk {statistics.disk_hits}, compiled {statistics.compiled}"
    )
    return row


def worker(
    n: int,
    *,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
    case: str = "t3",
    reference: bool = False,
    fits: int = 1,
) -> dict:
    """What a fresh process measures: the package import, then :func:`fit_stages`; with
    ``fits=2`` the fit again in the same process (``in_process_*`` entries)."""
    start = time.perf_counter()
    import sbp_bayes  # noqa: F401  (timed: the first import of the whole stack)

    import_seconds = time.perf_counter() - start
    row = {"n": n, "seed": seed, "case": case, "reference": reference, "import": import_seconds}
    row.update(
        fit_stages(n, seed=seed, draws=draws, tune=tune, chains=chains, case=case, reference=reference)
    )
    for _ in range(fits - 1):
        again = fit_stages(
            n, seed=seed, draws=draws, tune=tune, chains=chains, case=case, reference=reference
        )
        row.update(
            {f"in_process_{key}": value for key, value in again.items() if key in ("fit_s", "compile")}
        )
    return row


def run_fresh(
    n: int,
    *,
    seed: int = 0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    case: str = "t3",
    reference: bool = False,
    fits: int = 1,
    env: dict | None = None,
) -> dict:
    """:func:`worker` in a new Python process (``env``: extra environment variables);
    adds ``process_s`` (wall time seen here)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--n", str(n), "--seed", str(seed)]
    command += ["--draws", str(draws), "--tune", str(tune), "--chains", str(chains)]
    command += ["--case", case, "--fits", str(fits)] + (["--reference"] if reference else [])
    start = time.perf_counter()
    finished = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    process_seconds = time.perf_counter() - start
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(
            f"The fit worker for N={n} failed (exit code {finished.returncode}):\n{finished.stderr[-3000:]}"
        )
    row = json.loads(lines[-1][len(RESULT_PREFIX) :])
    row["process_s"] = process_seconds
    return row


def run_cli(spec: str, env: dict | None = None) -> float:
    """Wall time of ``sbp-bayes fit SPEC --out TMP`` (as ``python -m sbp_bayes.cli``)."""
    import tempfile

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "sbp_bayes.cli", "fit", spec, "--out", str(Path(out) / "fit")]
        start = time.perf_counter()
        finished = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=root, env={**os.environ, **(env or {})}
        )
        seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f"sbp-bayes fit {spec} failed:\n{finished.stderr[-3000:]}")
    return seconds


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


#: Issue 13 targets (benchmarks, not timed tests).
GOAL_WARM_OVER_IN_PROCESS = 1.5
GOAL_CLI_SECONDS = 10.0
GOAL_T3_OVER_REFERENCE = 1.5
#: The reference compiles with PyTensor's C backend, cached on disk.
REFERENCE_ENV = {"PYTENSOR_FLAGS": "mode=CVM"}


def measure_cache(
    *,
    repeats: int = 3,
    n_default: int = 5000,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    spec: str = "models/danish.toml",
    runner=run_fresh,
    cli_runner=run_cli,
    scratch: str | None = None,
    on_row=None,
    progress: bool = False,
) -> pd.DataFrame:
    """Experiment (c): one row per fresh process, ``run`` in {cold, warm, reference, cli}.

    Every repeat of a case gets new, empty cache folders under ``scratch`` (a temporary
    folder by default) for its cold run; its warm run, and the Danish repeat's CLI run,
    reuse them. ``on_row(row)`` is called as each row arrives (the script appends it to
    its CSV, so an interrupted run keeps what it measured).
    """
    import tempfile

    settings = {"draws": draws, "tune": tune, "chains": chains}
    cases = [("danish", 0), ("t3", n_default)]
    rows = []
    with tempfile.TemporaryDirectory(dir=scratch) as folder:

        def report(row):
            rows.append(row)
            if on_row is not None:
                on_row(row)
            if progress:
                print(
                    f"  {row['case']} {row['run']} repeat {row['repeat'] + 1}: {row['process_s']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

        for case, n in cases:  # warm PyTensor's C cache for the reference (not counted)
            runner(n, seed=seed, case=case, reference=True, env=REFERENCE_ENV, **settings)
        for repeat in range(repeats):
            for case, n in cases:
                caches = Path(folder) / f"{case}-{repeat}"
                env = {
                    "SBP_BAYES_CACHE_DIR": str(caches / "sbp_bayes"),
                    "PYTENSOR_FLAGS": f"base_compiledir={caches / 'pytensor'}",
                }
                for run in ("cold", "warm"):
                    row = runner(n, seed=seed + repeat, case=case, fits=2, env=env, **settings)
                    report({"case": case, "run": run, "repeat": repeat, **row})
                if case == "danish":
                    if repeat == 0:  # the spec's seed and settings differ from the fits above
                        cli_runner(spec, env=env)
                    report(
                        {"case": case, "run": "cli", "repeat": repeat, "process_s": cli_runner(spec, env=env)}
                    )
                row = runner(
                    n, seed=seed + repeat, case=case, reference=True, fits=2, env=REFERENCE_ENV, **settings
                )
                report({"case": case, "run": "reference", "repeat": repeat, **row})
    return pd.DataFrame(rows)


def summarise_cache(runs: pd.DataFrame) -> pd.DataFrame:
    """Medians per (case, run); rows are the quantities, columns the (case, run) pairs."""
    quantities = ["import", "compile", "sample", "log_likelihood", "fit_s", "in_process_fit_s", "process_s"]
    quantities += ["peak_memory_mb"]
    quantities = [column for column in quantities if column in runs]
    grouped = runs.groupby(["case", "run"], sort=False)
    table = grouped[quantities].median()
    table["runs"] = grouped.size()
    if "converged" in runs:
        table["all_converged"] = grouped["converged"].agg(lambda v: bool(v.dropna().all()))
    return table.T


def cache_verdicts(summary: pd.DataFrame) -> dict:
    """The issue's three ratios/times, each with its goal and whether it is met."""
    danish, t3 = summary[("danish", "warm")], summary[("t3", "warm")]
    warm_ratio = float(danish["fit_s"]) / float(danish["in_process_fit_s"])
    reference = float(summary[("t3", "reference")]["fit_s"])
    cli = float(summary[("danish", "cli")]["process_s"])
    return {
        "danish fresh process (warm cache) / warm in-process fit": (warm_ratio, GOAL_WARM_OVER_IN_PROCESS),
        "sbp-bayes fit models/danish.toml, end to end, s": (cli, GOAL_CLI_SECONDS),
        "t3 two-tailed fit, fresh process (warm cache) / fixed-threshold reference": (
            float(t3["fit_s"]) / reference,
            GOAL_T3_OVER_REFERENCE,
        ),
        "t3 two-tailed fit, first-ever (cold) / fixed-threshold reference": (
            float(summary[("t3", "cold")]["fit_s"]) / reference,
            GOAL_T3_OVER_REFERENCE,
        ),
    }


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
    parser.add_argument("--experiment", choices=("cache", "scaling"), default="cache")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process fits per N (medians)")
    parser.add_argument("--n-default", type=int, default=5000, help="N of experiment (a)")
    parser.add_argument("--n-small", type=int, default=10_000, help="smaller N of experiment (b)")
    parser.add_argument("--n-large", type=int, default=1_000_000, help="larger N of experiment (b)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="CSV file for the per-run results")
    parser.add_argument(
        "--summarise",
        metavar="CSV",
        default=None,
        help="cache experiment: print the tables of a CSV it wrote",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=5000, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=("t3", "danish"), default="t3", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fits", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        row = worker(
            args.n,
            seed=args.seed,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            case=args.case,
            reference=args.reference,
            fits=args.fits,
        )
        print(RESULT_PREFIX + json.dumps(row), flush=True)
        return 0

    info = machine_info(PACKAGES)
    if args.experiment == "cache":
        if args.summarise:
            runs = pd.read_csv(args.summarise, comment="#")
        else:
            csv = Path(args.out or "fit_time_cache.csv")
            csv.write_text(format_machine(info) + "\n")
            header = []

            def append(row):  # one line per run as it arrives, columns fixed by the first row
                if not header:
                    header.extend(sorted(set(row) | {"in_process_fit_s", "in_process_compile", "converged"}))
                    pd.DataFrame(columns=header).to_csv(csv, mode="a", index=False)
                pd.DataFrame([{key: row.get(key) for key in header}]).to_csv(
                    csv, mode="a", index=False, header=False
                )

            runs = measure_cache(
                repeats=args.repeats,
                n_default=args.n_default,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                seed=args.seed,
                on_row=append,
                progress=True,
            )
        summary = summarise_cache(runs)
        print(
            f"Compiled-model cache: default fits, {args.chains} chains x {args.draws} draws "
            f"(+{args.tune} tuning), fresh processes; medians over the runs counted in 'runs' (seconds; MiB)"
        )
        print(format_machine(info))
        print(summary.to_string(float_format=lambda v: f"{v:.3g}"))
        for name, (value, goal) in cache_verdicts(summary).items():
            print(f"{name}: {value:.2f} (goal <= {goal:g}: {'met' if value <= goal else 'MISSED'})")
        return 0
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
