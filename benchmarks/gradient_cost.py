"""Cost of one log-density + gradient evaluation: the collapsed model vs a naive one.

NUTS spends nearly all its time evaluating the log posterior and its gradient, so
the time of one such evaluation is what decides how a model scales with the number
of observations ``N``. This script compiles both models with PyTensor's default
linker (numba), evaluates each at its initial point, and reports the median time of
repeated evaluations side by side, for ``N`` = 10^3 .. 10^6 Student-t(3) draws.

The two models
--------------
*ours*
    The model ``sbp_bayes.fit(..., threshold_weights="posterior")`` samples
    (:func:`sbp_bayes.model.build_model_from_statistics`) with the default design of
    :func:`sbp_bayes.build_model` (30 body bins, both tails, 10 candidate thresholds
    per tail). Thresholds and bin probabilities are integrated out; the body enters
    through bin counts and each tail through at most ``max_tail_points`` (2500) sorted
    exceedances, so a gradient costs ``O(bins + tail points)``, independent of ``N``
    once ``N`` exceeds ~12 500. (:func:`sbp_bayes.build_model` itself returns the same
    posterior with the data as an observed variable, whose pointwise terms add an
    ``O(N)`` pass over a precomputed vector to each evaluation.)
*naive*
    The naive point-wise model (thresholds as body quantiles, a switch at every point), on the *same* bin
    edges: ``bin_probs ~ Dirichlet(1)`` over all bins, tail bins included; the tail
    masses are derived from the bin probabilities, ``lower_tail_prob`` = the mass
    below the lowest lower candidate and ``upper_tail_prob`` = the mass above the
    highest upper candidate, so that each threshold is the body quantile
    ``Q_B(a)`` (the canonical definition, evaluated inside the graph); the GPD
    shapes and scales at those thresholds get the same prior families as ours
    (``Normal`` shape, ``LogNormal`` scale); and every observation enters through
    :class:`sbp_bayes.SplicedBinnedPareto` (``observed=x``), i.e. a point-wise switch
    between body and tails over all ``N`` points. Its gradient has ``K + 3``
    coordinates (``K - 1`` for the simplex of ``K`` bins, 4 for the tails) against 4
    for ours.

Both are compiled once per ``N`` (compile time reported but excluded), called as
``pytensor.function`` with ``trust_input=True`` (the same small per-call Python
overhead for both) and timed with :func:`time.perf_counter`. The two models are
timed in interleaved rounds, so a burst of load on a shared machine hits both: each
round times ``--ours-per-round`` (10) calls of ours, after one untimed call (a naive
evaluation at large ``N`` sweeps the CPU caches; a sampler calls the same function
back to back), then one call of the naive model. The first ``--warmup`` calls are
discarded. ``--repeats`` (50) rounds; the naive model gets fewer where one evaluation
is slow (``--naive-budget`` seconds per ``N``, at least 5). Ours is cheap, so its 500
timed calls are spread over the whole measurement rather than over a few
milliseconds that one burst of load could cover.

Run:  python benchmarks/gradient_cost.py --out gradient_cost.csv
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # machine.py, shared by the scripts
from machine import format_machine, machine_info

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
#: Issue 3: at N = 10^5 one gradient of ours must be at least this many times cheaper.
GOAL_RATIO_AT_1E5 = 10.0


# ----------------------------------------------------------------------------- machine


#: Package versions recorded with the results (see machine.py).
PACKAGES = ("numpy", "pymc", "pytensor", "nutpie")


def write_csv(table: pd.DataFrame, path, info: dict) -> None:
    """The table with the machine description as ``#`` comment lines on top
    (read back with ``pandas.read_csv(path, comment="#")``)."""
    with open(path, "w") as out:
        out.write(format_machine(info) + "\n")
        table.to_csv(out, index=False)


# ----------------------------------------------------------------------------- models


def student_t_data(n: int, seed: int = 0, df: float = 3.0) -> np.ndarray:
    """``n`` Student-t(``df``) draws: heavy tails on both sides."""
    return np.random.default_rng(seed).standard_t(df, size=n)


def naive_model(x: np.ndarray, design, priors):
    """The point-wise SBP model on ``design``'s bin edges (see the module docstring).

    ``priors`` are the resolved priors of our model (``model_parts(model).priors``): the naive
    tails reuse their families and parameters so both models describe the same data
    with the same beliefs, up to the parameterisation.
    """
    import pymc as pm

    import sbp_bayes

    lowest_lower = int(design.lower_candidates[0])
    highest_upper = int(design.upper_candidates[-1])
    concentration = priors["bin_probs"].parameters.get("a", 1.0)
    with pm.Model() as model:
        bin_probs = pm.Dirichlet("bin_probs", a=np.full(design.n_bins, float(concentration)))
        # Tail masses are the body's own mass beyond fixed edges: thresholds = Q_B(a).
        lower_tail_prob = pm.Deterministic("lower_tail_prob", bin_probs[:lowest_lower].sum())
        upper_tail_prob = pm.Deterministic("upper_tail_prob", bin_probs[highest_upper:].sum())
        tails = {}
        for side in ("lower", "upper"):
            tails[f"{side}_xi"] = priors[f"{side}_xi"].create(f"{side}_xi")
            tails[f"{side}_sigma"] = priors[f"{side}_sigma"].create(f"{side}_sigma")
        sbp_bayes.SplicedBinnedPareto(
            "y",
            bin_edges=design.bin_edges,
            bin_probs=bin_probs,
            lower_tail_prob=lower_tail_prob,
            upper_tail_prob=upper_tail_prob,
            observed=x,
            **tails,
        )
    return model


def compile_logp_and_gradient(model):
    """``f(*values) -> [logp, gradient]`` compiled with the default mode (numba), and
    the model's initial point as the list of values to call it with."""
    import pytensor

    function = pytensor.function(model.value_vars, [model.logp(), model.dlogp()])
    # Skip input validation: the timing is then the compiled graph plus a few
    # microseconds of call overhead, the same for both models.
    function.trust_input = True
    point = model.initial_point()
    values = [np.asarray(point[var.name], dtype=var.dtype) for var in model.value_vars]
    return function, values


def _check_finite(name: str, n: int, outputs) -> float:
    logp, gradient = (np.asarray(output) for output in outputs)
    if not (np.isfinite(logp) and np.all(np.isfinite(gradient))):
        raise RuntimeError(
            f"The {name} model at N={n} has a non-finite log density or gradient at its initial point "
            f"(logp={float(logp)!r}); the timing would be meaningless."
        )
    return float(logp)


# ----------------------------------------------------------------------------- measurement


def measure_size(
    n: int,
    *,
    repeats: int = 50,
    ours_per_round: int = 10,
    warmup: int = 3,
    naive_budget: float = 20.0,
    seed: int = 0,
    ours_model: str = "statistics",
):
    """Time ours and the naive model at one ``N``; returns one result row (dict).

    ``ours_model="observed"`` times :func:`sbp_bayes.build_model` (the data as an
    observed variable) instead of the statistics-only model the fit samples.

    ``repeats`` rounds, each of ``ours_per_round`` timed calls of ours and one of the
    naive model (while its budget lasts).
    """
    import sbp_bayes
    from sbp_bayes.model import build_model_from_statistics, model_parts, summarise

    x = student_t_data(n, seed=seed)
    parts = model_parts(sbp_bayes.build_model(x))  # the default design
    ours = build_model_from_statistics(summarise(x, parts.design), parts.design)
    if ours_model == "observed":
        ours = sbp_bayes.build_model(x, design=parts.design)
    naive = naive_model(x, parts.design, parts.priors)

    start = time.perf_counter()
    ours_function, ours_values = compile_logp_and_gradient(ours)
    ours_compile = time.perf_counter() - start
    start = time.perf_counter()
    naive_function, naive_values = compile_logp_and_gradient(naive)
    naive_compile = time.perf_counter() - start

    ours_logp = _check_finite("collapsed", n, ours_function(*ours_values))
    naive_logp = _check_finite("naive", n, naive_function(*naive_values))
    for _ in range(warmup):
        ours_function(*ours_values)
        naive_function(*naive_values)

    # One timed naive call sizes its repeat count to the budget.
    start = time.perf_counter()
    naive_function(*naive_values)
    one_naive = time.perf_counter() - start
    naive_repeats = int(min(repeats, max(5, math.floor(naive_budget / max(one_naive, 1e-9)))))

    ours_times, naive_times = [], []
    for i in range(repeats):  # interleaved rounds: load bursts on a shared machine hit both
        # A naive call at large N sweeps the CPU caches; one untimed call brings our data
        # back, as in a sampler that evaluates the same function back to back.
        ours_function(*ours_values)
        for _ in range(ours_per_round):
            start = time.perf_counter()
            ours_function(*ours_values)
            ours_times.append(time.perf_counter() - start)
        if i < naive_repeats:
            start = time.perf_counter()
            naive_function(*naive_values)
            naive_times.append(time.perf_counter() - start)

    stats = parts.statistics
    tail_points = sum(s.excess.size for s in (stats.lower, stats.upper) if s is not None)
    ours_ms = 1e3 * float(np.median(ours_times))
    naive_ms = 1e3 * float(np.median(naive_times))
    return {
        "n": n,
        "ours_ms": ours_ms,
        "naive_ms": naive_ms,
        "ratio": naive_ms / ours_ms,
        "ours_repeats": len(ours_times),
        "naive_repeats": len(naive_times),
        "ours_tail_points": tail_points,
        "ours_gradient_size": int(np.size(ours_function(*ours_values)[1])),
        "naive_gradient_size": int(np.size(naive_function(*naive_values)[1])),
        "ours_compile_s": ours_compile,
        "naive_compile_s": naive_compile,
        "ours_logp": ours_logp,
        "naive_logp": naive_logp,
    }


def measure(
    sizes=DEFAULT_SIZES,
    *,
    repeats: int = 50,
    ours_per_round: int = 10,
    warmup: int = 3,
    naive_budget: float = 20.0,
    seed: int = 0,
    progress: bool = False,
    ours_model: str = "statistics",
) -> pd.DataFrame:
    """Median time of one log density + gradient evaluation, ours vs naive, per ``N``.

    Returns one row per ``N``: ``ours_ms``, ``naive_ms`` (medians, milliseconds),
    ``ratio`` (naive / ours), the repeat counts, the number of tail points our
    gradient touches, the gradient sizes, compile times (seconds, not part of the
    medians) and the log density at the initial point (a sanity check: finite).
    """
    rows = []
    for n in sizes:
        row = measure_size(
            int(n),
            repeats=repeats,
            ours_per_round=ours_per_round,
            warmup=warmup,
            naive_budget=naive_budget,
            seed=seed,
            ours_model=ours_model,
        )
        rows.append(row)
        if progress:
            print(
                f"  N={n}: ours {row['ours_ms']:.3g} ms, naive {row['naive_ms']:.3g} ms",
                file=sys.stderr,
            )
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    shown = table[["n", "ours_ms", "naive_ms", "ratio", "ours_repeats", "naive_repeats", "ours_tail_points"]]
    shown = shown.assign(
        ours_compile_s=table.ours_compile_s.round(1), naive_compile_s=table.naive_compile_s.round(1)
    )
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of observations N"
    )
    parser.add_argument(
        "--repeats", type=int, default=50, help="rounds per N: one naive evaluation (while in budget) each"
    )
    parser.add_argument("--ours-per-round", type=int, default=10, help="timed evaluations of ours per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed evaluations first")
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=20.0,
        help="seconds of timed naive evaluations per N (fewer repeats when one is slow; at least 5)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ours",
        choices=("statistics", "observed"),
        default="statistics",
        help="our model: the statistics-only likelihood fit() samples, or build_model's observed variable",
    )
    parser.add_argument("--out", default=None, help="CSV file for the results")
    args = parser.parse_args(argv)

    info = machine_info(PACKAGES)
    table = measure(
        args.sizes,
        repeats=args.repeats,
        ours_per_round=args.ours_per_round,
        warmup=args.warmup,
        naive_budget=args.naive_budget,
        seed=args.seed,
        progress=True,
        ours_model=args.ours,
    )
    print("Log density + gradient, one evaluation at the initial point (median, milliseconds)")
    print(format_machine(info))
    print(format_table(table))
    at_1e5 = table[table.n == 100_000]
    if not at_1e5.empty:
        ratio = float(at_1e5.ratio.iloc[0])
        verdict = "met" if ratio >= GOAL_RATIO_AT_1E5 else "MISSED"
        print(f"goal: >= {GOAL_RATIO_AT_1E5:g}x faster than naive at N = 10^5: {ratio:.1f}x ({verdict})")
    if args.out:
        write_csv(table, args.out, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
