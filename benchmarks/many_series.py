"""Many series at scale: the pooled tail model of M series of N points, per NUTS backend.

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

Run:  python benchmarks/many_series.py --series 100 --points 2000 --backends pymc nutpie numpyro
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
    args = parser.parse_args(argv)

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
