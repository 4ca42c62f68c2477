"""Do the headline answers depend on the candidate grid? Rain and Danish, side by side.

The candidate thresholds are an arbitrary choice: where the range starts (the innermost
candidate leaving 10%, 20% or 30% of the data beyond it) and how many candidates (5, 10 or
20). A threshold-averaged answer should not move with them. For each grid this script fits

- the rainfall series (upper tail, body from 0 mm) and reports the 100-year return level
  (365.25 observations a year) with its 95% interval;
- the Danish fire losses (upper tail) and reports the 99% expected shortfall with its 95%
  interval and the interval of ξ;

with the default cross-validation weights and, for contrast, with the marginalised
model's posterior weights (``--with-posterior``, NUTS), and prints each answer's largest
relative change from the 20% / 10-candidate grid, with the weight on the innermost
candidate. The published values (rain 106.3, Coles 2001; Danish ξ 0.497 and ES 58.2,
McNeil 1997 and McNeil, Frey & Embrechts 2005) are shown beside.

    .venv/bin/python benchmarks/threshold_grid_invariance.py --out grid_invariance.csv
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import format_machine, machine_info

FRACTIONS = (0.1, 0.2, 0.3)
COUNTS = (5, 10, 20)
REFERENCE_GRID = (0.2, 10)


def answers(name: str, fit) -> dict:
    if name == "rain":
        row = fit.return_levels([100], 365.25).iloc[0]
        out = {"quantity": "100-year return level", "published": 106.3}
    else:
        row = fit.expected_shortfall([0.99]).iloc[0]
        out = {"quantity": "99% expected shortfall", "published": 58.2}
    xi = fit.tail_shape_posterior().loc["upper"]
    weights = fit.threshold_weights().loc["upper"]["weight"].to_numpy()
    return {
        **out,
        "median": row["median"],
        "lower": row["ci_lower"],
        "upper": row["ci_upper"],
        "xi_median": xi["median"],
        "xi_lower": xi["ci_lower"],
        "xi_upper": xi["ci_upper"],
        "weight_innermost": weights[0],
        "weight_outermost": weights[-1],
        "candidates": weights.size,
    }


def run(with_posterior: bool, seed: int) -> pd.DataFrame:
    import sbp_bayes

    rows = []
    modes = ["cross_validation", "posterior"] if with_posterior else ["cross_validation"]
    for name in ("rain", "danish"):
        data = sbp_bayes.datasets.load(name)
        options = {"tails": "upper", "random_seed": seed, "progressbar": False, "log_likelihood": False}
        if name == "rain":
            options["lower_bound"] = 0.0
        for mode in modes:
            grids = [(f, c) for f in FRACTIONS for c in COUNTS]
            if mode == "posterior":  # NUTS: one structure (10 candidates), three ranges
                grids = [(f, 10) for f in FRACTIONS]
            for fraction, count in grids:
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = sbp_bayes.fit(
                        data,
                        tail_fraction=fraction,
                        max_tail_points=len(data),
                        n_candidates=count,
                        threshold_weights=mode,
                        **options,
                    )
                row = {"data": name, "weights": mode, "tail_fraction": fraction, "n_candidates": count}
                rows.append({**row, **answers(name, fit), "seconds": time.perf_counter() - start})
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def changes(results: pd.DataFrame) -> pd.DataFrame:
    """Largest relative change of the median and the interval ends from the reference grid."""
    out = []
    for (name, mode), group in results.groupby(["data", "weights"]):
        reference = group[
            (group.tail_fraction == REFERENCE_GRID[0]) & (group.n_candidates == REFERENCE_GRID[1])
        ].iloc[0]
        row = {"data": name, "weights": mode}
        for column in ("median", "lower", "upper"):
            row[f"max_change_{column}"] = float(np.max(np.abs(group[column] / reference[column] - 1)))
        row["max_weight_innermost"] = float(group.weight_innermost.max())
        row["published_inside_every_interval"] = bool(
            ((group.lower <= group.published) & (group.published <= group.upper)).all()
        )
        out.append(row)
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--with-posterior", action="store_true", help="also the marginalised model (NUTS)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args.with_posterior, args.seed)
    summary = changes(results)
    pd.set_option("display.width", 220)
    print(format_machine(machine_info()))
    columns = ["data", "weights", "tail_fraction", "n_candidates", "median", "lower", "upper"]
    columns += ["xi_median", "xi_lower", "xi_upper", "weight_innermost"]
    print(results[columns].round(3).to_string(index=False))
    print()
    print(summary.round(3).to_string(index=False))
    if args.out is not None:
        header = "".join(f"# {line}\n" for line in format_machine(machine_info()).splitlines())
        args.out.write_text(header + results.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
