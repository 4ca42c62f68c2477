"""Smoke tests of the benchmark scripts in ``benchmarks/`` (issue 3), so they do not rot.

Each script's core runs at tiny sizes and its output is checked for what the script
promises: the same data on both sides of a comparison, finite positive timings, the
ratios computed from the medians, the machine recorded. No timing is asserted against
a target (that is what the scripts report, on a machine that can be trusted).

The fits reuse the nutpie models compiled by the session fixtures of
``tests/fit_fixtures.py`` (same model structure), so they cost seconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _machine_lines(text: str) -> dict:
    return dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))


# ----------------------------------------------------------------------------- gradient cost


def test_gradient_cost_runs_side_by_side(tmp_path, capsys):
    gradient_cost = _load("gradient_cost")
    out = tmp_path / "gradient_cost.csv"
    arguments = ["--sizes", "1500", "--repeats", "5", "--ours-per-round", "3", "--warmup", "1"]
    assert gradient_cost.main([*arguments, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out, comment="#")
    assert len(table) == 1
    row = table.iloc[0]
    assert row.n == 1500
    for column in ("ours_ms", "naive_ms", "ours_compile_s", "naive_compile_s"):
        assert np.isfinite(row[column]) and row[column] > 0, column
    assert row.ratio == pytest.approx(row.naive_ms / row.ours_ms)
    assert row.ours_repeats == 5 * 3 and row.naive_repeats == 5
    # Ours differentiates in 4 tail coordinates; the naive one in the simplex too.
    assert row.ours_gradient_size == 4
    assert row.naive_gradient_size > 4 + 30
    # The default design caps the candidates' exceedances at 20% of N per tail.
    assert 0 < row.ours_tail_points <= 2 * 0.2 * 1500
    assert np.isfinite(row.ours_logp) and np.isfinite(row.naive_logp)
    machine = _machine_lines(out.read_text())
    assert {"platform", "cpu_count", "numpy", "pymc", "pytensor", "nutpie"} <= set(machine)
    assert "# pytensor:" in printed and "ours_ms" in printed


def test_naive_model_is_the_canonical_pointwise_sbp():
    """The naive model's likelihood term is the canonical SBP density of every point,
    with tail masses equal to the bin mass beyond the outermost candidates."""
    import sbp_bayes
    from sbp_bayes.model import model_parts

    gradient_cost = _load("gradient_cost")
    x = gradient_cost.student_t_data(800, seed=3)
    ours = sbp_bayes.build_model(x)
    parts = model_parts(ours)
    design = parts.design
    naive = gradient_cost.naive_model(x, design, parts.priors)
    point = naive.initial_point()
    # Everything in the Python backend (no numba compilation for a check).
    observed_logp = naive.compile_logp(vars=[naive["y"]], mode="FAST_COMPILE")(point)
    names = ["bin_probs", "lower_tail_prob", "upper_tail_prob"]
    names += ["lower_xi", "lower_sigma", "upper_xi", "upper_sigma"]
    # The model's parameters on their own scale (bin probabilities, not simplex coordinates).
    on_own_scale = {var.name: var for var in naive.unobserved_value_vars}
    function = naive.compile_fn(
        [on_own_scale[name] for name in names], inputs=naive.value_vars, mode="FAST_COMPILE", point_fn=False
    )
    values = dict(zip(names, function(*[point[var.name] for var in naive.value_vars]), strict=True))

    probs = values["bin_probs"]
    assert values["lower_tail_prob"] == pytest.approx(probs[: design.lower_candidates[0]].sum())
    assert values["upper_tail_prob"] == pytest.approx(probs[design.upper_candidates[-1] :].sum())
    expected = sbp_bayes.sbp(design.bin_edges, **{name: values[name] for name in names})
    # Thresholds are the body quantiles at the tail masses: the outermost candidates.
    assert expected.lower_threshold == pytest.approx(design.lower_thresholds[0])
    assert expected.upper_threshold == pytest.approx(design.upper_thresholds[-1])
    assert observed_logp == pytest.approx(expected.logpdf(x).sum(), rel=1e-9)


# ----------------------------------------------------------------------------- ESS per second


def test_ess_per_second_compares_the_same_exceedances(danish_fixed_fit, tmp_path, capsys):
    ess = _load("ess_per_second")
    out = tmp_path / "ess.csv"
    arguments = ["--repeats", "1", "--draws", "150", "--tune", "150", "--chains", "2"]
    arguments += ["--walkers", "16", "--steps", "80", "--burn-in", "20", "--out", str(out)]
    assert ess.main(arguments) == 0
    printed = capsys.readouterr().out
    runs = pd.read_csv(out, comment="#").set_index("method")
    assert set(runs.index) == {"sbp_bayes (nutpie NUTS)", "pyextremes (emcee)"}
    assert (runs.exceedances == 109).all()
    assert runs.loc["sbp_bayes (nutpie NUTS)", "draws_kept"] == 2 * 150
    assert runs.loc["pyextremes (emcee)", "draws_kept"] == 16 * (80 - 20)
    # Both sample the Danish tail shape: about 0.5 with sd about 0.13 (McNeil 1997).
    assert runs.xi_mean.between(0.3, 0.7).all(), runs.xi_mean
    assert runs.xi_sd.between(0.06, 0.3).all(), runs.xi_sd
    assert (runs.ess_bulk_xi > 0).all() and (runs.total_s > 0).all()
    assert runs.ess_per_s.to_numpy() == pytest.approx((runs.ess_bulk_xi / runs.total_s).to_numpy())
    assert "more ESS/s than pyextremes" in printed
    assert {"pyextremes", "emcee", "nutpie"} <= set(_machine_lines(out.read_text()))


def test_ess_summary_charges_the_compile_once():
    ess = _load("ess_per_second")
    runs = pd.DataFrame(
        {
            "method": ["ours", "theirs", "ours", "theirs", "ours", "theirs"],
            "exceedances": 109,
            "draws_kept": 4000,
            "compile_s": [20.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "sampling_s": [1.0, 9.0, 2.0, 10.0, 3.0, 11.0],
            "total_s": [22.0, 10.0, 3.0, 12.0, 4.0, 14.0],
            "ess_bulk_xi": [1000.0, 500.0, 1200.0, 600.0, 1100.0, 700.0],
            "emcee_ess_xi": np.nan,
            "xi_mean": 0.5,
            "xi_sd": 0.13,
        }
    )
    summary = ess.summarise(runs)
    assert summary.loc["ours", "compile_s"] == 20.0
    assert summary.loc["ours", "total_s"] == pytest.approx(20.0 + 3.0)  # compile + median rest
    assert summary.loc["ours", "ess_per_s"] == pytest.approx(1100.0 / 23.0)
    assert summary.loc["ours", "ess_per_s_no_compile"] == pytest.approx(1100.0 / 3.0)
    assert summary.loc["theirs", "total_s"] == pytest.approx(12.0)
    assert summary.loc["theirs", "ess_per_s"] == pytest.approx(600.0 / 12.0)


# ----------------------------------------------------------------------------- fit time


def test_fit_time_worker_reports_every_stage(student_t_fit, capsys):
    fit_time = _load("fit_time")
    arguments = ["--worker", "--n", "2000", "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "5"]
    assert fit_time.main(arguments) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(fit_time.RESULT_PREFIX)]
    assert len(lines) == 1
    row = json.loads(lines[0][len(fit_time.RESULT_PREFIX) :])
    assert row["n"] == 2000
    assert set(fit_time.STAGES) <= set(row)
    assert all(row[stage] >= 0 for stage in fit_time.STAGES)
    assert row["sample"] > 0 and row["design"] > 0 and row["build"] > 0
    stages = sum(row[stage] for stage in fit_time.STAGES if stage != "import")
    assert stages == pytest.approx(row["fit_s"])
    # 2000 points x 200 draws is under the automatic limit: the log-likelihood is stored.
    assert row["log_likelihood_stored"] is True and row["log_likelihood"] > 0
    assert row["peak_memory_mb"] > 10


def test_fit_time_summary_and_scaling_ratio():
    fit_time = _load("fit_time")

    def fake_runner(n, *, seed, draws, tune, chains):
        scale = 1.0 + seed  # repeats 0, 1, 2: medians are the repeat-1 values
        stages = {stage: 0.1 * scale for stage in fit_time.STAGES}
        stages["compile"] = 10.0 * scale
        stages["sample"] = (2.0 if n < 50_000 else 3.0) * scale
        fit_s = sum(value for stage, value in stages.items() if stage != "import")
        return {
            "n": n,
            "seed": seed,
            **stages,
            "fit_s": fit_s,
            "process_s": fit_s + 1.0,
            "log_likelihood_stored": n <= 5000,
            "converged": True,
            "peak_memory_mb": 500.0 if n < 50_000 else 700.0,
        }

    runs = fit_time.measure(repeats=3, n_default=5000, n_small=10_000, n_large=100_000, runner=fake_runner)
    assert len(runs) == 9
    summary = fit_time.summarise(runs)
    assert summary[("default", 5000)]["runs"] == 3
    assert bool(summary[("default", 5000)]["log_likelihood_stored"]) is True
    assert bool(summary[("scaling", 100_000)]["log_likelihood_stored"]) is False
    small, large = summary[("scaling", 10_000)], summary[("scaling", 100_000)]
    assert small["compile"] == pytest.approx(20.0) and large["sample"] == pytest.approx(6.0)
    ratios = fit_time.scaling_ratios(summary, 10_000, 100_000)
    # Besides compile and sample, five stages of 0.2 s each count towards fit_s.
    assert ratios["fit_s"] == pytest.approx((20.0 + 6.0 + 1.0) / (20.0 + 4.0 + 1.0))
    assert ratios["fit_without_compile_s"] == pytest.approx((6.0 + 1.0) / (4.0 + 1.0))
    assert ratios["peak_memory_mb"] == pytest.approx(1.4)


def test_fit_time_cache_experiment_plan_summary_and_verdicts(tmp_path):
    fit_time = _load("fit_time")
    calls, cli_calls = [], []
    seconds = {("danish", "cold"): 30.0, ("danish", "warm"): 3.0, ("danish", "reference"): 5.0}
    seconds.update({("t3", "cold"): 60.0, ("t3", "warm"): 8.0, ("t3", "reference"): 4.0})

    def fake_runner(n, *, seed, draws, tune, chains, case, reference=False, fits=1, env=None):
        calls.append({"case": case, "reference": reference, "fits": fits, "env": dict(env or {})})
        cache = (env or {}).get("SBP_BAYES_CACHE_DIR")
        run = "reference" if reference else ("warm" if cache in seen else "cold")
        seen.add(cache)
        fit_s = seconds[(case, run)] * (1.0 + 0.1 * seed)
        return {"n": n, "seed": seed, "fit_s": fit_s, "in_process_fit_s": 2.0, "process_s": fit_s + 3.0}

    seen = set()

    def fake_cli(spec, env=None):
        cli_calls.append(env)
        return 7.0

    arrived = []
    runs = fit_time.measure_cache(
        repeats=2, runner=fake_runner, cli_runner=fake_cli, scratch=str(tmp_path), on_row=arrived.append
    )
    # Two uncounted reference warm-ups, then per repeat and case: cold, warm, reference.
    assert len(calls) == 2 + 2 * 2 * 3 and all(call["fits"] == 2 for call in calls[2:])
    assert [row["run"] for row in arrived[:4]] == ["cold", "warm", "cli", "reference"]  # Danish first
    assert len(arrived) == len(runs)
    cold_dirs = [call["env"]["SBP_BAYES_CACHE_DIR"] for call in calls[2:] if not call["reference"]][::2]
    assert len(set(cold_dirs)) == 4  # every cold run starts from its own empty folders
    assert all(call["env"] == fit_time.REFERENCE_ENV for call in calls if call["reference"])
    # One uncounted CLI warm-up, then one per repeat, each with that repeat's warm Danish cache.
    assert len(cli_calls) == 3 and [env["SBP_BAYES_CACHE_DIR"] for env in cli_calls[1:]] == cold_dirs[::2]
    summary = fit_time.summarise_cache(runs)
    assert summary[("t3", "warm")]["fit_s"] == pytest.approx(8.0 * 1.05)  # median of seeds 0 and 1
    assert summary[("danish", "cli")]["runs"] == 2  # the first CLI run warms up, uncounted
    verdicts = fit_time.cache_verdicts(summary)
    ratio, goal = verdicts["danish fresh process (warm cache) / warm in-process fit"]
    assert ratio == pytest.approx(3.0 * 1.05 / 2.0) and goal == 1.5
    ratio, _ = verdicts["t3 two-tailed fit, fresh process (warm cache) / fixed-threshold reference"]
    assert ratio == pytest.approx(8.0 / 4.0)
    assert verdicts["sbp-bayes fit models/danish.toml, end to end, s"][0] == 7.0


@pytest.mark.slow
def test_fit_time_fresh_process():
    """The subprocess path end to end (imports and compiles from scratch: slow)."""
    fit_time = _load("fit_time")
    row = fit_time.run_fresh(2000, seed=1, draws=100, tune=100, chains=2)
    assert row["n"] == 2000
    assert row["import"] > 0 and row["compile"] > 0
    assert row["process_s"] > row["fit_s"] > row["compile"]
