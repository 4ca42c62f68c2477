"""Many series at scale: the pooled tail model of M series of N points, per NUTS backend
(``--mode pooled``, the default), or M independent fits, a serial loop against a Dask
cluster (``--mode independent``).

Data: ``--series`` M series of ``--points`` N points each, series ``j`` drawn whole from
a GPD with shape ``ξ_j ~ Normal(0.2, 0.1)`` and scale ``σ_j ~ LogNormal(0, 0.5)``, so that
the exceedances over any threshold are GPD with the same ``ξ_j`` (the truth the fitted
``ξ_j`` are compared with). Model: :func:`sbp_bayes.pooled.fit_pooled`'s (``--pooling``,
default ``partial``; threshold per series leaving 10% beyond it, N / 10 exceedances per
series), built once and sampled by each backend in ``--backends``:

``pymc``
    PyMC's own NUTS (``pm.sample``, diagonal mass matrix, one process per chain), as
    ``fit_pooled(..., sampler="pymc")`` runs it.
``nutpie``
    nutpie (numba-compiled log density, low-rank mass matrix adaptation), as
    ``fit_pooled(..., sampler="nutpie")`` runs it.
``numpyro``
    numpyro's NUTS through PyMC's JAX path (``pm.sample(nuts_sampler="numpyro")``, as
    ``sampler="numpyro"`` runs it), with ``--chain-method`` (``parallel``: one XLA device
    per chain — on a CPU the script asks XLA for as many host devices as chains before
    JAX is imported; ``vectorized``: all chains in one device, the choice for one GPU).
    If numpyro or jax is not installed the backend is skipped with a message.

Reported per backend: wall time of the sampling call and its split into compilation /
start-up (``compile_s``) and sampling (``sample_s``): for nutpie the compile is timed on
its own (``nutpie.compile_pymc_model``); for pymc ``sample_s`` is PyMC's own
``sampling_time`` and the rest of the ``pm.sample`` call is counted as compilation and
start-up; for numpyro JAX compiles inside the sampling loop, so ``sample_s`` includes the
compilation and ``compile_s`` is only the graph conversion before it. Then the minimum
bulk ESS (ArviZ) over the ``ξ_j``, ESS per second of total wall time and of sampling,
the largest R-hat over every parameter (``ξ_j``, ``σ_j`` and the hyperparameters),
divergences, and the mean squared error of the posterior median ``ξ_j`` against the truth.

On a GPU the pooled model's JAX path runs as ``--backends numpyro --chain-method
vectorized`` (all chains in one XLA device; ``parallel`` would ask for one device per
chain), with JAX's CUDA build installed (``pip install "jax[cuda12]"``; JAX then uses the
GPU by default, ``JAX_PLATFORMS=cuda`` makes it an error if there is none). Nothing else
changes: ``fit_pooled(..., sampler="numpyro")`` builds the same model.

``--mode independent`` fits every series separately with :func:`sbp_bayes.fit` (the
model of ``--tails``, default upper tail with the threshold prior; sampler settings as
above), first in a serial loop in this process (``--skip-serial`` leaves it out), then
with :func:`sbp_bayes.fit_many` on an embedded ``distributed.LocalCluster`` of
``--workers`` single-threaded processes (default 2), with the same per-series seeds
(:func:`sbp_bayes.many.series_seed`). Reported per way: wall time (cluster start-up
included), series per minute and per minute and core, the first fit of each process
(compilation included) and the steady per-series cost after it (a task of either way
fits, saves, checks and computes VaR and ES; ``steady_fit_only_s`` is the fit alone), in
wall seconds and in core-seconds (wall x the machine's cores); then, from the cluster's steady cost, the
cores (and 16- or 64-core machines) that fit 10^5 series in one hour.

Run:  python benchmarks/many_series.py --series 100 --points 2000 --backends pymc nutpie numpyro
      python benchmarks/many_series.py --mode independent --series 100 --points 2000 --workers 2
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # machine.py, shared by the scripts
from machine import format_machine, machine_info

BACKENDS = ("pymc", "nutpie", "numpyro")
TRUE_XI_MEAN, TRUE_XI_SD = 0.2, 0.1


# ----------------------------------------------------------------------------- machine


#: Package versions recorded with the results (see machine.py).
PACKAGES = ("numpy", "pymc", "pytensor", "nutpie", "arviz", "numpyro", "jax")


# ----------------------------------------------------------------------------- data


def simulate(n_series: int, n_points: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Long-format GPD series and their true shapes (series names ``s0000``, ...)."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    xi = rng.normal(TRUE_XI_MEAN, TRUE_XI_SD, n_series)
    sigma = rng.lognormal(0.0, 0.5, n_series)
    shape = (n_series, n_points)
    values = stats.genpareto.rvs(xi[:, None], scale=sigma[:, None], size=shape, random_state=rng)
    names = np.array([f"s{j:04d}" for j in range(n_series)])
    frame = pd.DataFrame({"series": np.repeat(names, n_points), "value": values.ravel()})
    return frame, xi


# ----------------------------------------------------------------------------- backends


def missing_packages(backend: str) -> list[str]:
    """Packages a backend needs that are not installed (checked without importing them)."""
    needed = {"pymc": [], "nutpie": ["nutpie"], "numpyro": ["numpyro", "jax"]}[backend]
    return [name for name in needed if importlib.util.find_spec(name) is None]


def prepare_jax(chains: int, chain_method: str) -> None:
    """Give XLA one host device per chain (parallel chains on a CPU); must run before
    JAX is first imported, and leaves an explicit ``XLA_FLAGS`` alone."""
    if chain_method == "parallel" and "jax" not in sys.modules and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={chains}"


def sample(model, backend: str, *, draws, tune, chains, seed, chain_method) -> tuple:
    """(posterior DataTree-like object with posterior/sample_stats, compile_s, sample_s, total_s)."""
    import pymc as pm

    start = time.perf_counter()
    if backend == "nutpie":
        import nutpie

        compiled = nutpie.compile_pymc_model(model)
        compiled_at = time.perf_counter()
        # The settings of sbp_bayes.sampling.sample.
        trace = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            seed=seed,
            progress_bar=False,
            save_warmup=False,
            adaptation="low_rank",
        )
        end = time.perf_counter()
        return trace, compiled_at - start, end - compiled_at, end - start
    kwargs = {}
    if backend == "numpyro":
        kwargs["nuts"] = {"chain_method": chain_method}
    with model:
        trace = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            random_seed=seed,
            progressbar=False,
            nuts_sampler=backend,
            compute_convergence_checks=False,
            **kwargs,
        )
    total = time.perf_counter() - start
    sampling = float(trace["posterior"].attrs.get("sampling_time", np.nan))
    return trace, total - sampling, sampling, total


def run_backend(frame, true_xi, backend: str, *, pooling, draws, tune, chains, seed, chain_method) -> dict:
    import arviz as az

    from sbp_bayes.pooled import _build_pooled_model, _summarise_series

    summary = _summarise_series(frame, "series", "value", 0.1, 20)
    model = _build_pooled_model(summary, pooling)
    trace, compile_s, sample_s, total_s = sample(
        model, backend, draws=draws, tune=tune, chains=chains, seed=seed, chain_method=chain_method
    )
    names = [
        name
        for name in ("upper_xi", "upper_sigma", "xi_mean", "xi_sd", "log_sigma_mean", "log_sigma_sd")
        if name in trace["posterior"]
    ]
    ess = az.ess(trace, var_names=["upper_xi"], method="bulk")["upper_xi"]
    rhat = az.rhat(trace, var_names=names)
    max_rhat = max(float(np.nanmax(np.asarray(rhat[name]))) for name in names)
    min_ess = float(np.nanmin(np.asarray(ess)))
    xi = trace["posterior"]["upper_xi"].values.reshape(-1, len(summary.names))
    stats = trace["sample_stats"]
    return {
        "backend": backend,
        "series": len(summary.names),
        "points": int(summary.n_points[0]),
        "exceedances": int(summary.excess.size),
        "pooling": pooling,
        "chains": chains,
        "draws": draws,
        "tune": tune,
        "compile_s": compile_s,
        "sample_s": sample_s,
        "total_s": total_s,
        "min_ess_bulk_xi": min_ess,
        "ess_per_s": min_ess / total_s,
        "ess_per_s_sampling": min_ess / sample_s,
        "max_rhat": max_rhat,
        "divergences": int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else -1,
        "xi_mse": float(np.mean((np.median(xi, axis=0) - true_xi) ** 2)),
    }


# ----------------------------------------------------------------------------- independent fits


def run_serial(frame, *, fit_options: dict, seed: int, store: Path) -> dict:
    """Fit every series in a plain loop in this process (the model compiles on the first),
    doing per series what a fit_many task does besides the fit: save it, check it, and
    compute the default tail answers (VaR and ES at 0.99)."""
    import warnings

    import sbp_bayes
    from sbp_bayes.many import series_seed

    seconds, fit_seconds = [], []
    start = time.perf_counter()
    for name, values in frame.groupby("series", sort=False)["value"]:
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short diagnostics warnings are not the point here
            fit = sbp_bayes.fit(
                values.to_numpy(), random_seed=series_seed(seed, name), progressbar=False, **fit_options
            )
            fit_seconds.append(time.perf_counter() - began)
            fit.save(store / f"{name}.nc")
            fit.check(warn=False)
            fit.value_at_risk([0.99])
            fit.expected_shortfall([0.99])
        seconds.append(time.perf_counter() - began)
    wall = time.perf_counter() - start
    return {
        "way": "serial loop",
        "wall_s": wall,
        "first_fit_s": seconds[0],
        "steady_s": _steady(seconds[1:]),
        "steady_fit_only_s": _steady(fit_seconds[1:]),
    }


def _steady(seconds) -> float:
    return float(np.mean(seconds)) if len(seconds) else float("nan")


def run_cluster(frame, *, fit_options: dict, seed: int, workers: int, store: Path) -> dict:
    """``fit_many`` on an embedded cluster; per-series seconds come from the store's records."""
    from sbp_bayes import fit_many

    start = time.perf_counter()
    table = fit_many(frame, store=store, n_workers=workers, random_seed=seed, **fit_options)
    wall = time.perf_counter() - start
    first, rest, rest_fit = [], [], []
    for _, group in table.sort_values("finished_at").groupby("worker_pid"):
        # The first fit of each worker process includes its compilation.
        first.append(group.seconds.iloc[0])
        rest += list(group.seconds.iloc[1:])
        rest_fit += list(group.fit_seconds.iloc[1:])
    return {
        "way": f"cluster of {workers}",
        "wall_s": wall,
        "first_fit_s": float(np.mean(first)),
        "steady_s": _steady(rest) / workers,  # wall seconds per series with `workers` fitting at once
        "steady_fit_only_s": _steady(rest_fit) / workers,
        "failed": int((table.status == "failed").sum()),
        "workers_used": int(table.worker_pid.nunique()),
    }


def main_independent(args, info) -> int:
    import tempfile

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    frame, _true_xi = simulate(args.series, args.points, args.seed)
    fit_options = {"tails": args.tails, "draws": args.draws, "tune": args.tune, "chains": args.chains}
    rows = []
    if not args.skip_serial:
        print("... serial loop", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="many_series_serial_") as store:
            rows.append(run_serial(frame, fit_options=fit_options, seed=args.seed, store=Path(store)))
    print(f"... cluster of {args.workers}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="many_series_store_") as store:
        rows.append(
            run_cluster(
                frame, fit_options=fit_options, seed=args.seed, workers=args.workers, store=Path(store)
            )
        )
    table = pd.DataFrame(rows).set_index("way")
    table["series_per_min"] = args.series / table.wall_s * 60
    # Every way keeps all the machine's cores busy: nutpie runs the chains of a fit in
    # threads (min(chains, cores)), and the cluster runs one fit per worker at once.
    table["series_per_min_per_core"] = table.series_per_min / cores
    table["steady_core_s"] = table.steady_s * cores
    if "serial loop" in table.index:
        table["speedup_vs_serial"] = table.loc["serial loop", "wall_s"] / table.wall_s
    print(
        f"Independent fits: {args.series} series x {args.points} points, tails={args.tails}, "
        f"{args.chains} chains x {args.draws} draws (+{args.tune} tuning) each, {cores} cores; "
        "times in seconds"
    )
    print(format_machine(info))
    # Other jobs on a shared machine slow both ways: the load at the end, next to the start's.
    print(f"# load_average_1min_at_end: {os.getloadavg()[0]:.2f}")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    cost = table.iloc[-1].steady_core_s
    cores_needed = 1e5 * cost / 3600
    print(
        f"On paper: 10^5 series at {cost:.3g} core-seconds each = {1e5 * cost / 3600:.3g} core-hours: "
        f"{np.ceil(cores_needed):.0f} cores for one hour, i.e. {np.ceil(cores_needed / 16):.0f} machines of "
        f"16 cores or {np.ceil(cores_needed / 64):.0f} of 64 (plus one compilation per worker, "
        f"{table.iloc[-1].first_fit_s:.3g} s here, and the load caveat above)."
    )
    if args.out:
        with open(args.out, "w") as out:
            out.write(format_machine(info) + "\n")
            table.reset_index().assign(series=args.series, points=args.points).to_csv(out, index=False)
    return 0


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=100, help="number of series M")
    parser.add_argument("--points", type=int, default=2000, help="points per series N")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--pooling", choices=("partial", "none"), default="partial")
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain")
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument(
        "--chain-method",
        choices=("parallel", "vectorized"),
        default="parallel",
        help="numpyro only: one device per chain, or all chains vectorized (one GPU)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the samplers")
    parser.add_argument("--out", default=None, help="CSV file for the per-backend results")
    parser.add_argument(
        "--mode",
        choices=("pooled", "independent"),
        default="pooled",
        help="pooled: one model of all series per backend; independent: one fit per series, "
        "serial loop vs Dask cluster",
    )
    parser.add_argument("--workers", type=int, default=2, help="independent: worker processes of the cluster")
    parser.add_argument("--tails", default="upper", help="independent: tails of each series' model")
    parser.add_argument("--skip-serial", action="store_true", help="independent: time the cluster only")
    args = parser.parse_args(argv)
    if args.mode == "independent":
        for name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence"):
            logging.getLogger(name).setLevel(logging.ERROR)
        return main_independent(args, machine_info(PACKAGES))

    backends = []
    # numpyro last: PyMC's NUTS forks a process per chain, which JAX's threads make unsafe.
    for backend in sorted(dict.fromkeys(args.backends), key=BACKENDS.index):
        missing = missing_packages(backend)
        if missing:
            print(
                f"SKIPPED backend {backend}: package(s) {', '.join(missing)} not installed "
                "(pip install 'sbp_bayes[numpyro]')."
            )
        else:
            backends.append(backend)
    if "numpyro" in backends:
        prepare_jax(args.chains, args.chain_method)
    # PyMC and nutpie log every run; the table is the output.
    for name in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.ERROR)

    info = machine_info(PACKAGES)
    frame, true_xi = simulate(args.series, args.points, args.seed)
    rows = []
    for backend in backends:
        print(f"... {backend}", file=sys.stderr, flush=True)
        rows.append(
            run_backend(
                frame,
                true_xi,
                backend,
                pooling=args.pooling,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                seed=args.seed,
                chain_method=args.chain_method,
            )
        )
    table = pd.DataFrame(rows)
    print(
        f"Pooled tails ({args.pooling}): {args.series} series x {args.points} points, "
        f"{args.chains} chains x {args.draws} draws (+{args.tune} tuning); times in seconds"
    )
    print(format_machine(info))
    if rows:
        shown = table.drop(columns=["series", "points", "pooling", "chains", "draws", "tune"])
        print(shown.set_index("backend").to_string(float_format=lambda v: f"{v:.4g}"))
    else:
        print("No backend could run.")
    if args.out:
        with open(args.out, "w") as out:
            out.write(format_machine(info) + "\n")
            table.to_csv(out, index=False)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
