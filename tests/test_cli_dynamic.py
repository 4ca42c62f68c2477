"""Dynamic models from a spec (a ``[dynamic]`` section) through the command line, their
report (sbp_bayes.render_dynamic), and saving and loading a DynamicFit (sbp_bayes.dynamic).

One real fit runs in a subprocess for the whole module: ``tests/specs/dynamic_student_t.toml``
(a Student-t whose location and scale move with a lag, a season and a covariate: one
stage, compiled by the pymc sampler, so the module stays fast). The SBP fits are built
from chosen posterior draws instead of sampling: saving, loading, scoring and the report
only read draws, and draws that are independent across chains pass the diagnostics, so
``check`` can be seen to pass as well as fail. A real two-stage SBP with tail shapes over
time blocks goes through the command line in the slow test at the end.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sbp_bayes
from sbp_bayes import cli
from sbp_bayes.dynamic import (
    DynamicFit,
    _make_design,
    _series_and_frame,
    load_dynamic,
    load_fit,
)
from sbp_bayes.fit import SBPFit
from sbp_bayes.render_dynamic import tail_shape_table, write_dynamic_report
from sbp_bayes.spec import DynamicSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "tests" / "specs"
STUDENT_SPEC = SPECS / "dynamic_student_t.toml"

TABLES = ["features", "diagnostics", "summary", "calibration", "unusual", "scores"]
FIGURES = ["series", "calibration", "trace"]


def run_cli(*args, timeout=900) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "sbp_bayes.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def series_frame(n: int = 400, seed: int = 7, start: int = 0) -> pd.DataFrame:
    """A seasonal AR(1) series (period 50) driven by a temperature covariate, with
    Student-t(3) noise; columns ``t, value, temperature``."""
    rng = np.random.default_rng(seed)
    temperature = rng.normal(size=n)
    value = np.empty(n)
    previous = 0.0
    for i in range(n):
        t = start + i
        previous = (
            0.5 * previous + np.sin(2 * np.pi * t / 50) + 0.8 * temperature[i] + 0.5 * rng.standard_t(3)
        )
        value[i] = previous
    return pd.DataFrame({"t": np.arange(start, start + n), "value": value, "temperature": temperature})


def write_study(folder: Path, spec_text: str | None = None, spec: Path = STUDENT_SPEC) -> Path:
    series_frame().to_csv(folder / "data.csv", index=False)
    path = folder / "study.toml"
    path.write_text(spec.read_text(encoding="utf-8") if spec_text is None else spec_text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """``sbp-bayes fit`` of the Student-t spec, run once in a subprocess."""
    folder = tmp_path_factory.mktemp("cli_dynamic")
    spec = write_study(folder)
    out = folder / "results"
    result = run_cli("fit", spec, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return SimpleNamespace(spec=spec, out=out, result=result, folder=folder)


@pytest.fixture(scope="module")
def saved(fitted):
    return load_dynamic(fitted.out / "fit.nc")


@pytest.fixture
def cheap_figures(monkeypatch):
    """The series, calibration and trace figures replaced by empty ones, for tests about the
    rest of the report (the real ones are drawn by the subprocess fit)."""
    from matplotlib.figure import Figure

    from sbp_bayes import plots

    def cheap(*args, **kwargs):
        figure = Figure()
        figure.subplots()
        return figure

    for name in ["plot_series", "plot_calibration", "plot_traces"]:
        monkeypatch.setattr(plots, name, cheap)


# ----------------------------------------------------------------------------- fit, report, check


def test_fit_writes_fit_report_tables_and_figures(fitted):
    out = fitted.out
    for name in ["fit.nc", "spec.toml", "report.md", "report.html"]:
        assert (out / name).stat().st_size > 0, name
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0, name
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "Traceback" not in fitted.result.stderr
    assert f"Fit saved to {out / 'fit.nc'}" in fitted.result.stdout
    assert "fitting: dynamic student_t, 400 observations" in fitted.result.stderr
    assert "by NUTS" in fitted.result.stderr  # a dynamic model is compiled and sampled by NUTS


def test_saved_fit_is_the_model_of_the_spec(fitted, saved):
    assert isinstance(saved, DynamicFit)
    design = saved.design
    assert (design.family, design.lags, design.seasonal_period, design.harmonics) == ("student_t", 1, 50.0, 1)
    assert design.feature_names == ("lag_1", "sin_1", "cos_1", "temperature")
    assert saved.target == "value"
    assert (saved.config["chains"], saved.config["draws"], saved.config["random_seed"]) == (2, 150, 4)
    data = pd.read_csv(fitted.folder / "data.csv")
    assert saved.data.index.name == "t"
    np.testing.assert_array_equal(saved.data.index, data["t"])
    np.testing.assert_array_equal(saved.data["value"], data["value"])
    np.testing.assert_array_equal(saved.data["temperature"], data["temperature"])
    assert saved.data.attrs["units"] == "mm"
    copy = load_spec(fitted.out / "spec.toml")
    assert copy.to_dict() == load_spec(fitted.spec).to_dict()
    assert copy.dynamic == DynamicSpec(lags=1, seasonal_period=50.0, covariates=("temperature",))


def test_report_tables_are_the_fits_answers(fitted, saved):
    tables = fitted.out / "tables"
    summary = pd.read_csv(tables / "summary.csv", index_col=0)
    expected = saved.summary(ci_prob=0.9)
    np.testing.assert_allclose(summary["mean"], expected["mean"], rtol=1e-12)
    assert "eti90_lb" in summary.columns  # [report] ci_prob = 0.9 reached the summary
    calibration = pd.read_csv(tables / "calibration.csv", index_col="name")["value"]
    again = saved.calibration(random_seed=0)  # 300 draws: the report used every one
    np.testing.assert_allclose(calibration[again.index], again, rtol=1e-10)
    scores = pd.read_csv(tables / "scores.csv", index_col="t")
    assert len(scores) == 399 and scores.index[0] == 1  # the first step only gives the lag
    in_sample = saved.score(ci_prob=0.9)
    np.testing.assert_allclose(scores["pit"], in_sample["pit"], rtol=1e-12)
    unusual = pd.read_csv(tables / "unusual.csv", index_col="t")
    assert len(unusual) == 5  # [report] unusual = 5
    smallest = in_sample["tail_probability"].nsmallest(5)
    assert list(unusual.index) == list(smallest.index)
    assert (unusual["tail_probability"].diff().dropna() >= 0).all()
    assert unusual["tail_probability"].max() <= scores["tail_probability"].drop(unusual.index).min()


def test_report_has_every_part_and_the_verdict_of_check(fitted, saved):
    text = (fitted.out / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# dynamic cli test\n")
    verdict = "PASSED" if saved.check(warn=False).passed else "FAILED"
    assert f"**Diagnostics {verdict}.**" in text
    for part in ["## Data", "## Model", "## Diagnostics", "## Calibration (in-sample)"]:
        assert part in text
    assert "## Most unusual observations" in text
    assert "Covariates: `temperature`" in text
    assert "`lag_1`, `sin_1`, `cos_1`, `temperature`" in text
    assert "Not available" not in text, [line for line in text.splitlines() if "Not available" in line]
    for name in TABLES:
        assert f"(tables/{name}.csv)" in text, name
    for name in FIGURES:
        assert f"(figures/{name}.png)" in text, name
    assert "Tail shape" not in text  # a Student-t has no GPD tail


def test_check_exit_status_follows_the_diagnostics(fitted, saved, capsys):
    passed = saved.check(warn=False).passed
    assert cli.main(["check", str(fitted.out)]) == (0 if passed else 1)
    out = capsys.readouterr().out
    assert out.startswith(f"Diagnostics {'PASSED' if passed else 'FAILED'}")
    assert "log_scale_effect" in out


def test_check_fails_with_status_1_on_short_chains(saved, tmp_path, capsys):
    short = DynamicFit(
        saved.idata.isel(draw=slice(0, 20), missing_dims="ignore"), saved.design, saved.data, saved.target,
        {**saved.config, "draws": 20},
    )  # fmt: skip
    short.save(tmp_path / "short" / "fit.nc")
    assert cli.main(["check", str(tmp_path / "short")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Diagnostics FAILED")
    assert "Effective sample size below 400" in out


def test_report_command_rerenders_from_the_spec_copy(fitted, tmp_path, capsys, cheap_figures):
    out = tmp_path / "copy"
    shutil.copytree(fitted.out, out)
    (out / "report.md").unlink()
    spec_copy = out / "spec.toml"
    spec_copy.write_text(spec_copy.read_text(encoding="utf-8").replace("unusual = 5", "unusual = 3"))
    (fitted.folder / "data.csv").rename(fitted.folder / "moved.csv")  # the report needs only fit.nc
    try:
        assert cli.main(["report", str(out)]) == 0
    finally:
        (fitted.folder / "moved.csv").rename(fitted.folder / "data.csv")
    assert "Report:" in capsys.readouterr().out
    assert (out / "report.md").stat().st_size > 0
    assert len(pd.read_csv(out / "tables" / "unusual.csv")) == 3


def test_report_refuses_a_spec_copy_of_the_other_kind(fitted, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(fitted.out, out)
    (out / "spec.toml").write_text('[data]\ndataset = "danish"\n', encoding="utf-8")
    assert cli.main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "describes a static model but" in err and "holds a dynamic fit" in err


# ----------------------------------------------------------------------------- input mistakes


def spec_text() -> str:
    return STUDENT_SPEC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("lags = 1", "lag = 1", "[dynamic] unknown key 'lag'; did you mean 'lags'?"),
        (
            'covariates = ["temperature"]',
            'covariates = ["temprature"]',
            "[dynamic] covariates 'temprature' is not in data.csv; did you mean 'temperature'? "
            "(columns: t, value, temperature)",
        ),
        ("lags = 1", 'lags = "one"', '[dynamic] lags must be a non-negative integer, got "one" (a string)'),
        (
            "seasonal_period = 50",
            "seasonal_period = 0",
            "[dynamic] seasonal_period must be a positive number",
        ),
        (
            'family = "student_t"',
            'family = "student_t"\nupper_threshold = 3.0',
            "[model] unknown key 'upper_threshold' for a dynamic student_t model: it applies to static",
        ),
        (
            'family = "student_t"',
            'family = "gpd_normal_gpd"',
            '[model] family must be one of "sbp", "binned", "normal", "student_t" for a dynamic model',
        ),
        (
            "[dynamic]",
            "[dynamic]\ntail_block_size = 100",
            '[dynamic] tail_block_size applies to family "sbp"',
        ),
        ("unusual = 5", "return_periods = [10]", "[report] return_periods applies to static models"),
        (
            "[sampler]",
            '[priors.upper_xi]\ndist = "Normal"\n\n[sampler]',
            "[priors] does not apply to a dynamic",
        ),
    ],
    ids=[
        "unknown key",
        "missing covariate column",
        "wrong type",
        "bad value",
        "static model key",
        "static family",
        "key of another family",
        "static report key",
        "priors",
    ],
)
def test_bad_dynamic_spec_gives_one_line_and_status_2(tmp_path, capsys, old, new, expected):
    assert old in spec_text()
    spec = write_study(tmp_path, spec_text().replace(old, new))
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"sbp-bayes: error: {spec}: "), err
    assert expected in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda frame: frame.assign(temperature=frame["temperature"].where(frame.index != 10)),
         "column 'temperature' has 1 empty cell(s) (first in data row 11, line 12 of the file)"),
        (lambda frame: frame.assign(t=frame["t"].where(frame.index != 20, 5)),
         "time column 't' must increase from row to row, "
         "but data row 21, line 22 of the file, has 5 after 19"),
        (lambda frame: frame.astype({"temperature": object}).assign(
            temperature=lambda f: f["temperature"].where(f.index != 3, "warm")),
         "column 'temperature' has 1 value(s) that are not numbers "
         "(first 'warm' in data row 4, line 5 of the file)"),
    ],
    ids=["gap in a covariate", "time not increasing", "text in a covariate"],
)  # fmt: skip
def test_data_a_dynamic_model_cannot_use_gives_status_2(tmp_path, capsys, change, expected):
    spec = write_study(tmp_path)
    change(series_frame()).to_csv(tmp_path / "data.csv", index=False)
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if "error" in line] == lines[-1:]
    assert lines[-1].startswith("sbp-bayes: error: ") and expected in lines[-1], lines[-1]
    assert not (tmp_path / "out").exists()


def test_compare_refuses_a_dynamic_spec(tmp_path, capsys):
    spec = write_study(tmp_path)
    static = tmp_path / "static.toml"
    static.write_text('[data]\npath = "data.csv"\ncolumn = "value"\n', encoding="utf-8")
    assert cli.main(["compare", str(static), str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{spec} describes a dynamic model" in err


# ----------------------------------------------------------------------------- save and load

N_CHAINS, N_DRAWS = 4, 250


def posterior(rng, variables: dict, coords: dict) -> xr.DataTree:
    """Independent Gaussian draws (``name: (dims, centre, spread)``) for every chain,
    with the sample stats the diagnostics read."""
    data = {}
    for name, (dims, centre, spread) in variables.items():
        shape = (N_CHAINS, N_DRAWS, *(len(coords[dim]) for dim in dims))
        data[name] = (("chain", "draw", *dims), centre + spread * rng.standard_normal(shape))
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((N_CHAINS, N_DRAWS), dtype=bool)),
            "energy": (("chain", "draw"), rng.standard_normal((N_CHAINS, N_DRAWS))),
        }
    )
    dataset = xr.Dataset(data, coords={"chain": np.arange(N_CHAINS), "draw": np.arange(N_DRAWS), **coords})
    return xr.DataTree.from_dict({"posterior": dataset, "sample_stats": stats})


def config(design, time, **extra) -> dict:
    return {
        "family": design.family, "target": "value", "body": design.body, "draws": N_DRAWS, "tune": N_DRAWS,
        "chains": N_CHAINS, "sampler": "nutpie", "random_seed": 1, "tails": design.tails, "bins": 10,
        "tail_share": 0.1, "time_start": float(time[design.lags]), "version": "test", **extra,
    }  # fmt: skip


def location_scale_fit(frame: pd.DataFrame, rng, innovations, *, tail_block_size=None) -> DynamicFit:
    """Stage 1 of a location-scale SBP on ``frame`` (draws near the generating process)
    with the given innovations (stage 2)."""
    values, time, data = _series_and_frame(frame, "value")
    options = {"lags": 1, "seasonal_period": 50.0, "harmonics": 1, "covariates": ("temperature",)}
    design = _make_design(
        values, time, data, family="sbp", tails="both", bins=10, tail_share=0.1,
        tail_block_size=tail_block_size, body="location_scale", **options,
    )  # fmt: skip
    features = {"feature": list(design.feature_names)}
    idata = posterior(
        rng,
        {
            "location": ((), 0.0, 0.02),
            "location_effect": (("feature",), np.array([0.9, 0.7, 0.0, 0.7]), 0.02),
            "log_scale": ((), -0.7, 0.05),
            "log_scale_effect": (("feature",), 0.0, 0.03),
            "nu": ((), 4.0, 0.3),
        },
        features,
    )
    return DynamicFit(idata, design, data, "value", config(design, time), innovations)


def logit_innovations(n: int, time_start: float, rng, *, tail_block_size: int = 100) -> DynamicFit:
    """A one-model SBP of standardised residuals (no features), tail shapes over blocks."""
    residuals = pd.Series(rng.standard_t(4, size=n), index=time_start + np.arange(n), name="innovation")
    values, time, data = _series_and_frame(residuals, None)
    design = _make_design(
        values, time, data, family="sbp", lags=0, seasonal_period=None, harmonics=1, covariates=(),
        tails="both", bins=10, tail_share=0.1, tail_block_size=tail_block_size, body="logit",
    )  # fmt: skip
    n_body = design.body_slice.stop - design.body_slice.start
    n_blocks = design.n_blocks(n)
    coords = {
        "body_bin": np.arange(n_body),
        "lower_block": np.arange(n_blocks),
        "upper_block": np.arange(n_blocks),
    }
    shape_path = 0.05 + 0.1 * np.arange(n_blocks) / max(n_blocks - 1, 1)  # ξ grows block by block
    bins = np.arange(n_body)
    hump = 0.05 * (n_body / 2) ** 2 - 0.05 * (bins - n_body / 2) ** 2  # 0 at the reference bin
    spread = np.where(bins == 0, 0.0, 0.05)  # the reference bin's value is fixed at 0
    variables = {"body_intercept": (("body_bin",), hump, spread)}
    for side in ("lower", "upper"):
        variables[f"{side}_tail_logit"] = ((), math.log(0.1 / 0.8), 0.05)
        variables[f"{side}_log_sigma"] = ((), math.log(0.7), 0.05)
        variables[f"{side}_xi"] = ((f"{side}_block",), shape_path, 0.02)
    idata = posterior(rng, variables, coords)
    return DynamicFit(idata, design, data, "innovation", config(design, time, target="innovation"))


def assert_same_fit(loaded, original) -> None:
    assert type(loaded) is type(original)
    if isinstance(original, SBPFit):
        assert loaded.config == original.config
        np.testing.assert_array_equal(loaded.data, original.data)
        for name, values in original.idata["posterior"].data_vars.items():
            np.testing.assert_array_equal(loaded.idata["posterior"][name].values, values.values)
        return
    assert loaded.target == original.target
    assert loaded.config == original.config
    assert loaded.design.to_config() == original.design.to_config()
    pd.testing.assert_frame_equal(
        loaded.data, original.data[list(loaded.data.columns)], check_dtype=False, check_freq=False
    )
    assert set(loaded.idata["posterior"].data_vars) == set(original.idata["posterior"].data_vars)
    for name, values in original.idata["posterior"].data_vars.items():
        np.testing.assert_array_equal(loaded.idata["posterior"][name].values, values.values)
    assert (loaded.innovations is None) == (original.innovations is None)
    if original.innovations is not None:
        assert_same_fit(loaded.innovations, original.innovations)


def test_save_and_load_round_trip_with_static_innovations(student_t_fit, tmp_path):
    rng = np.random.default_rng(1)
    frame = series_frame().set_index("t")
    fit = location_scale_fit(frame, rng, student_t_fit)
    path = fit.save(tmp_path / "fit.nc")
    loaded = load_dynamic(path)
    assert_same_fit(loaded, fit)
    assert isinstance(load_fit(path), DynamicFit)
    assert_same_fit(sbp_bayes.load(path), fit)  # the package's one loader reads both kinds
    future = series_frame(n=30, seed=9, start=400).set_index("t")
    pd.testing.assert_frame_equal(loaded.score(future), fit.score(future))


@pytest.mark.parametrize("index", ["dates", "text"])  # numbers: the test above
def test_save_and_load_round_trip_with_dynamic_innovations(tmp_path, index):
    rng = np.random.default_rng(2)
    frame = series_frame(n=300).set_index("t")
    if index == "dates":
        frame.index = pd.date_range("2020-01-01", periods=len(frame), freq="D", name="day")
    else:
        frame.index = pd.Index([f"step {i}" for i in range(len(frame))], name="label")
    innovations = logit_innovations(len(frame) - 1, 1.0, rng)
    fit = location_scale_fit(frame, rng, innovations, tail_block_size=100)
    loaded = load_dynamic(fit.save(tmp_path / "fit.nc"))
    assert_same_fit(loaded, fit)
    assert loaded.data.index.name == frame.index.name
    pd.testing.assert_frame_equal(
        loaded.score(), fit.score(), check_freq=False
    )  # a date index's freq is not kept
    pd.testing.assert_frame_equal(loaded.tail_shape_path("upper"), fit.tail_shape_path("upper"))


def test_loading_a_file_that_is_no_fit_says_so(tmp_path):
    path = tmp_path / "other.nc"
    xr.DataTree.from_dict({"/posterior": xr.Dataset({"x": ("a", [1.0])})}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="is not a dynamic fit saved by sbp_bayes"):
        load_dynamic(path)
    with pytest.raises(FileNotFoundError):
        load_fit(tmp_path / "missing.nc")


# ----------------------------------------------------------------------------- report of an SBP


@pytest.fixture(scope="module")
def blocks_fit():
    """A location-scale SBP whose innovations' tail shapes grow over three blocks."""
    rng = np.random.default_rng(3)
    frame = series_frame(n=301).set_index("t")
    return location_scale_fit(frame, rng, logit_innovations(300, 1.0, rng), tail_block_size=100)


def test_report_of_an_sbp_shows_the_tail_shape_path(blocks_fit, tmp_path, capsys, cheap_figures):
    problems = []
    write_dynamic_report(blocks_fit, None, tmp_path, on_problem=problems.append)
    assert problems == []
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "**Diagnostics PASSED.**" in text  # independent draws pass
    assert "## Tail shape over time" in text and "(figures/tail_shape.png)" in text
    assert "(tables/innovation_summary.csv)" in text
    assert "blocks of 100 steps (3 blocks)" in text
    table = pd.read_csv(tmp_path / "tables" / "tail_shape.csv", index_col=["side", "block"])
    for side in ("lower", "upper"):
        path = blocks_fit.tail_shape_path(side, ci_prob=0.95)
        np.testing.assert_allclose(table.loc[side, "median"], path["median"], rtol=1e-12)
        assert table.loc[side, "start_time"].tolist() == [1.0, 101.0, 201.0]  # t of each block's first step
        assert table.loc[side, "median"].is_monotonic_increasing  # the path the draws were built with
    pd.testing.assert_frame_equal(table, tail_shape_table(blocks_fit, ci_prob=0.95), check_dtype=False)
    assert (tmp_path / "figures" / "tail_shape.png").read_bytes()[:4] == b"\x89PNG"
    # the saved fit passes check (status 0) and re-renders from the folder
    blocks_fit.save(tmp_path / "fit.nc")
    assert cli.main(["check", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("Diagnostics PASSED")


# ----------------------------------------------------------------------------- slow: a real SBP


@pytest.mark.slow
# R-hat of the reference body bin, fixed at 0 by construction, is 0/0 (a numpy warning).
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning")
def test_dynamic_sbp_with_tail_blocks_end_to_end(tmp_path):
    """Two stages, tail shapes over blocks of 100 steps: fit, report and check for real."""
    spec = write_study(tmp_path, spec=SPECS / "dynamic_sbp_blocks.toml")
    out = tmp_path / "results"
    result = run_cli("fit", spec, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    fit = load_dynamic(out / "fit.nc")
    assert isinstance(fit.innovations, DynamicFit) and fit.innovations.design.tail_block_size == 100
    table = pd.read_csv(out / "tables" / "tail_shape.csv", index_col=["side", "block"])
    assert len(table) == 2 * 4  # 399 modelled steps: blocks 0..3 on each side
    np.testing.assert_allclose(
        table.loc["upper", "median"], fit.tail_shape_path("upper", ci_prob=0.95)["median"], rtol=1e-12
    )
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Not available" not in text
    check = run_cli("check", out)
    assert check.returncode == (0 if fit.check(warn=False).passed else 1)
