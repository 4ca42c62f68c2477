"""Effective samples of the tail shape per second: sbp_bayes vs pyextremes' emcee.

Both fit the same GPD to the 109 Danish fire losses above the fixed threshold
u = 10 million DKK (McNeil 1997), and the figure of merit is the bulk effective
sample size (ESS, Vehtari et al. 2021) of the shape ξ per second of wall time.

*sbp_bayes*
    ``sbp_bayes.fit(danish, tails="upper", upper_threshold=10)``: NUTS (nutpie) on
    ξ and the GPD scale, ``--chains`` x ``--draws`` after ``--tune`` tuning steps,
    the body integrated out. ``log_likelihood=False``: the pointwise
    log-likelihood (for LOO) is extra work pyextremes does not do. Wall time is
    split into the nutpie compilation (once per model structure and process) and
    ``nutpie.sample``; the total is the whole ``fit()`` call. The first repeat
    compiles; later repeats reuse the compiled model, as any second fit in a
    session does. Priors: the package defaults (ξ ~ Normal(0, 0.5), scale ~
    LogNormal).
*pyextremes*
    ``EVA.get_extremes(method="POT", threshold=10, r=...)`` on the losses with a
    synthetic daily index (pyextremes needs a DatetimeIndex), with a declustering
    window shorter than one day so that every exceedance is its own cluster (109
    are checked to be kept), then ``EVA.fit_model(model="Emcee",
    distribution="genpareto")``: emcee's affine-invariant ensemble with
    ``--walkers`` walkers for ``--steps`` steps, location fixed at the threshold,
    flat prior on (ξ, scale). The wall time is the whole ``fit_model`` call (it
    includes an MLE for the starting ball and a KDE-based MAP afterwards; the
    sampler alone, ``EnsembleSampler.run_mcmc``, is reported as well). ESS is
    computed by ArviZ on the ξ chain after ``--burn-in`` steps, treating walkers as
    chains; emcee's own integrated autocorrelation time gives a second estimate.

Each side is repeated ``--repeats`` times with different seeds; medians are
reported. The runs of the two alternate, so load on a shared machine hits both.

Run:  python benchmarks/ess_per_second.py --out ess_per_second.csv
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # machine.py, shared by the scripts
from machine import format_machine, machine_info

THRESHOLD = 10.0
#: Losses above 10 million DKK in the Danish data (McNeil 1997; docs/published_checks.md).
EXPECTED_EXCEEDANCES = 109


# ----------------------------------------------------------------------------- machine


#: Package versions recorded with the results (see machine.py).
PACKAGES = ("numpy", "pymc", "pytensor", "nutpie", "arviz", "pyextremes", "emcee")


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


def _ess_bulk(chains: np.ndarray) -> float:
    """Bulk ESS of a (chain, draw) array."""
    import arviz as az
    import xarray as xr

    return float(az.ess(xr.Dataset({"xi": (("chain", "draw"), chains)}), method="bulk")["xi"])


# ----------------------------------------------------------------------------- the two fits


def danish_losses() -> pd.Series:
    from sbp_bayes import datasets

    return datasets.load("danish")


def run_sbp_bayes(losses, *, draws: int, tune: int, chains: int, seed: int) -> dict:
    """One sbp_bayes fit with the threshold fixed at 10; wall times split by stage."""
    import nutpie

    import sbp_bayes

    compile_times, sample_times = [], []
    start = time.perf_counter()
    with timed(nutpie, "compile_pymc_model", compile_times), timed(nutpie, "sample", sample_times):
        result = sbp_bayes.fit(
            losses,
            tails="upper",
            upper_threshold=THRESHOLD,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=False,
            log_likelihood=False,
        )
    total = time.perf_counter() - start
    xi = result.idata["posterior"]["upper_xi"].values
    n_exceedances = int((np.asarray(losses) > THRESHOLD).sum())
    return {
        "method": "sbp_bayes (nutpie NUTS)",
        "repeat_seed": seed,
        "exceedances": n_exceedances,
        "draws_kept": int(xi.size),
        "compile_s": sum(compile_times),
        "sampling_s": sum(sample_times),
        "total_s": total,
        "ess_bulk_xi": _ess_bulk(xi),
        "emcee_ess_xi": np.nan,
        "xi_mean": float(xi.mean()),
        "xi_sd": float(xi.std(ddof=1)),
    }


def run_pyextremes(losses, *, walkers: int, steps: int, burn_in: int, seed: int) -> dict:
    """One pyextremes emcee fit of the GPD above 10; every exceedance kept."""
    import emcee
    from pyextremes import EVA

    if burn_in >= steps:
        raise ValueError(f"burn_in ({burn_in}) must be smaller than steps ({steps}).")
    # pyextremes declusters POT exceedances on a time axis: one loss a day, and a window
    # (1 hour) shorter than the spacing, keeps every exceedance as its own cluster.
    series = pd.Series(
        np.asarray(losses, dtype=float),
        index=pd.date_range("1980-01-01", periods=len(losses), freq="D"),
        name="loss",
    )
    start = time.perf_counter()
    model = EVA(series)
    model.get_extremes(method="POT", extremes_type="high", threshold=THRESHOLD, r="1h")
    if len(model.extremes) != EXPECTED_EXCEEDANCES or not np.all(model.extremes.values > THRESHOLD):
        raise RuntimeError(
            f"pyextremes kept {len(model.extremes)} exceedances of {THRESHOLD}, not the "
            f"{EXPECTED_EXCEEDANCES} losses above it; the comparison would fit different data."
        )
    # pyextremes draws the initial ball, and emcee seeds its own generator, from numpy's
    # legacy global state: seeding it is the only way to make the run reproducible.
    np.random.seed(seed)  # noqa: NPY002
    sampler_times = []
    with timed(emcee.EnsembleSampler, "run_mcmc", sampler_times):
        model.fit_model(model="Emcee", distribution="genpareto", n_walkers=walkers, n_samples=steps)
    total = time.perf_counter() - start
    parameters = list(model.model.distribution.free_parameters)
    if parameters != ["c", "scale"] or model.model.distribution.fixed_parameters.get("floc") != THRESHOLD:
        raise RuntimeError(
            f"Expected pyextremes to sample (c, scale) with loc fixed at {THRESHOLD}; got free "
            f"{parameters} and fixed {model.model.distribution.fixed_parameters}."
        )
    trace = model.model.trace  # (walker, step, parameter)
    xi = trace[:, burn_in:, parameters.index("c")]
    # emcee's estimate: walkers x kept steps / integrated autocorrelation time. It logs a
    # caution whenever the chain is under 50 tau long (pyextremes' 500 steps always are);
    # the table reports the estimate as a second opinion, so the caution is silenced.
    emcee_log = logging.getLogger("emcee.autocorr")
    level = emcee_log.level
    emcee_log.setLevel(logging.ERROR)
    try:
        tau = float(emcee.autocorr.integrated_time(xi.T[:, :, None], quiet=True)[0])
    finally:
        emcee_log.setLevel(level)
    return {
        "method": "pyextremes (emcee)",
        "repeat_seed": seed,
        "exceedances": len(model.extremes),
        "draws_kept": int(xi.size),
        "compile_s": 0.0,
        "sampling_s": sum(sampler_times),
        "total_s": total,
        "ess_bulk_xi": _ess_bulk(xi),
        "emcee_ess_xi": xi.size / tau,
        "xi_mean": float(xi.mean()),
        "xi_sd": float(xi.std(ddof=1)),
    }


def measure(
    *,
    repeats: int = 3,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    walkers: int = 100,
    steps: int = 500,
    burn_in: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run both fits ``repeats`` times, alternating; returns ``(runs, summary)``.

    ``runs`` has one row per fit; ``summary`` one row per method with the medians and
    the ESS per second with and without compilation (``ess_per_s`` uses the total
    wall time, ``ess_per_s_no_compile`` the total minus the compile time).
    """
    losses = danish_losses()
    rows = []
    for repeat in range(repeats):
        rows.append(run_sbp_bayes(losses, draws=draws, tune=tune, chains=chains, seed=seed + repeat))
        rows.append(run_pyextremes(losses, walkers=walkers, steps=steps, burn_in=burn_in, seed=seed + repeat))
        if progress:
            print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    runs = pd.DataFrame(rows)
    runs["repeat"] = np.repeat(np.arange(repeats), 2)
    runs["ess_per_s"] = runs.ess_bulk_xi / runs.total_s
    runs["ess_per_s_no_compile"] = runs.ess_bulk_xi / (runs.total_s - runs.compile_s)
    return runs, summarise(runs)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Medians per method; the compile time is the first run's (later ones reuse it)."""
    summary = runs.groupby("method", sort=False).agg(
        runs=("total_s", "size"),
        exceedances=("exceedances", "first"),
        draws_kept=("draws_kept", "first"),
        compile_s=("compile_s", "first"),
        sampling_s=("sampling_s", "median"),
        total_s=("total_s", "median"),
        ess_bulk_xi=("ess_bulk_xi", "median"),
        emcee_ess_xi=("emcee_ess_xi", "median"),
        xi_mean=("xi_mean", "median"),
        xi_sd=("xi_sd", "median"),
    )
    # Total of a cold first fit: compile + the median of the rest of the fit.
    warm = (runs.total_s - runs.compile_s).groupby(runs.method, sort=False).median()
    summary["total_s"] = summary.compile_s + warm
    summary["ess_per_s"] = summary.ess_bulk_xi / summary.total_s
    summary["ess_per_s_no_compile"] = summary.ess_bulk_xi / warm
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="fits per method (medians reported)")
    parser.add_argument("--draws", type=int, default=1000, help="sbp_bayes draws per chain")
    parser.add_argument("--tune", type=int, default=1000, help="sbp_bayes tuning steps per chain")
    parser.add_argument("--chains", type=int, default=4, help="sbp_bayes chains")
    parser.add_argument("--walkers", type=int, default=100, help="emcee walkers (pyextremes default)")
    parser.add_argument("--steps", type=int, default=500, help="emcee steps per walker (pyextremes default)")
    parser.add_argument("--burn-in", type=int, default=100, help="emcee steps discarded per walker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="CSV file for the per-run results")
    args = parser.parse_args(argv)

    info = machine_info(PACKAGES)
    runs, summary = measure(
        repeats=args.repeats,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        walkers=args.walkers,
        steps=args.steps,
        burn_in=args.burn_in,
        seed=args.seed,
        progress=True,
    )
    print(
        f"Danish losses above u = {THRESHOLD:g}: ESS of xi per second of wall time "
        f"(medians of {args.repeats} runs each; times in seconds)"
    )
    print(format_machine(info))
    print(summary.T.to_string(float_format=lambda v: f"{v:.4g}"))
    ours, theirs = summary.iloc[0], summary.iloc[1]
    for column, label in (("ess_per_s", "with compile"), ("ess_per_s_no_compile", "without compile")):
        ratio = ours[column] / theirs[column]
        verdict = "met" if ratio > 1 else "MISSED"
        print(f"goal: more ESS/s than pyextremes ({label}): {ratio:.2f}x ({verdict})")
    if args.out:
        with open(args.out, "w") as out:
            out.write(format_machine(info) + "\n")
            runs.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
