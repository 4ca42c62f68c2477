"""The ``sbp-bayes`` command line and the report it writes (sbp_bayes.cli, sbp_bayes.render).

One real fit runs in a subprocess for the whole module (``python -m sbp_bayes.cli fit``,
which compiles its own model); ``report`` and ``check`` reuse its output folder. Input
mistakes are checked in-process through :func:`sbp_bayes.cli.main`, which returns the
exit status, plus one subprocess to prove that no traceback reaches the user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import sbp_bayes
import sbp_bayes.render
from sbp_bayes import cli
from sbp_bayes.fit import SBPFit
from sbp_bayes.spec import load_spec

SPEC = """
[study]
name = "cli test"
description = "1000 absolute Student-t(3) draws, times 2"

[data]
path = "data.csv"
column = "value"
time_column = "day"
units = "mm"
observations_per_year = 100

[model]
tails = "upper"
upper_threshold = [3.0, 4.0, 5.0]   # three candidates: the threshold posterior is reported
lower_bound = 0.0
bins = 20

[sampler]
draws = 1000
tune = 500
chains = 2
random_seed = 3

[report]
return_periods = [10, 100]
exceedance = [10, 20]
quantiles = [0.9, 0.99]
var_levels = [0.99]
es_levels = [0.99]
score = [5.0, 30.0]
"""

FIGURES = [
    "density",
    "density_log",
    "qq",
    "pp",
    "return_levels",
    "threshold_weights",
    "tail_shape",
    "trace",
]
TABLES = [
    "priors",
    "diagnostics",
    "summary",
    "return_levels",
    "exceedance_probability",
    "quantiles",
    "value_at_risk",
    "expected_shortfall",
    "threshold_weights",
    "tail_shape",
    "score",
]


def run_cli(*args, timeout=900) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "sbp_bayes.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )


def write_study(folder: Path, spec_text: str = SPEC) -> Path:
    values = np.abs(np.random.default_rng(5).standard_t(3, size=1000)) * 2
    pd.DataFrame({"day": np.arange(values.size), "value": values}).to_csv(folder / "data.csv", index=False)
    spec = folder / "study.toml"
    spec.write_text(spec_text, encoding="utf-8")
    return spec


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """``sbp-bayes fit`` run once in a subprocess; its output folder is shared by the tests."""
    folder = tmp_path_factory.mktemp("cli")
    spec = write_study(folder)
    out = folder / "results"
    result = run_cli("fit", spec, "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return SimpleNamespace(spec=spec, out=out, result=result, folder=folder)


@pytest.fixture(scope="module")
def saved_fit(fitted):
    return sbp_bayes.load(fitted.out / "fit.nc")


# ----------------------------------------------------------------------------- fit


def test_fit_writes_fit_report_tables_and_figures(fitted):
    out = fitted.out
    for name in ["fit.nc", "spec.toml", "report.md", "report.html"]:
        assert (out / name).stat().st_size > 0, name
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0, name
    for name in FIGURES:
        path = out / "figures" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "Traceback" not in fitted.result.stderr


def test_fit_prints_where_to_look_and_the_verdict(fitted):
    stdout = fitted.result.stdout
    assert f"Fit saved to {fitted.out / 'fit.nc'}" in stdout
    assert str(fitted.out / "report.md") in stdout
    assert "Diagnostics PASSED" in stdout
    stderr = fitted.result.stderr
    for stage in ["loading data", "fitting: 1000 observations", "writing the report"]:
        assert f"sbp-bayes: {stage}" in stderr
    # The default fit draws by quadrature and says so; it does not claim to compile anything.
    assert "posterior draws by quadrature over each candidate threshold (nothing to compile)" in stderr
    assert "compiled" not in stderr and "compiling" not in stderr


def test_report_has_every_part_and_no_gaps(fitted, saved_fit):
    text = (fitted.out / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# cli test\n")
    assert "1000 absolute Student-t(3) draws" in text
    assert "1000 observations" in text
    assert "Units: mm" in text
    assert "prior over 3 candidates (3, 4, 5)" in text
    assert "**Diagnostics PASSED.**" in text
    assert f"sbp_bayes {sbp_bayes.__version__}" in text
    assert "sbp-bayes fit" in text and "spec.toml --out" in text  # the command that reproduces it
    assert "Not available" not in text, [line for line in text.splitlines() if "Not available" in line]
    for name in FIGURES:
        assert f"(figures/{name}.png)" in text
    for name in TABLES:
        assert f"(tables/{name}.csv)" in text
    html = (fitted.out / "report.html").read_text(encoding="utf-8")
    assert '<img src="figures/qq.png"' in html and "<table" in html
    # the Markdown rounds, the CSV keeps full precision
    summary = pd.read_csv(fitted.out / "tables" / "summary.csv", index_col=0)
    expected = saved_fit.summary(ci_prob=0.95)
    xi_mean = expected.loc["upper_xi", "mean"]
    assert summary.loc["upper_xi", "mean"] == pytest.approx(xi_mean, rel=1e-12)
    summary_part = text.split("## Posterior summary")[1]
    row = next(line for line in summary_part.splitlines() if line.startswith("| upper_xi |"))
    assert row.split("|")[2].strip() == sbp_bayes.render.format_number(xi_mean)


def test_report_tables_answer_the_spec(fitted, saved_fit):
    levels = pd.read_csv(fitted.out / "tables" / "return_levels.csv")
    assert levels.iloc[:, 0].tolist() == [10.0, 100.0]
    expected = saved_fit.return_levels([10.0, 100.0], 100.0, tail="upper", ci_prob=0.95, ci_kind="eti")
    np.testing.assert_allclose(levels["median"].to_numpy(), expected["median"].to_numpy(), rtol=1e-12)
    exceedance = pd.read_csv(fitted.out / "tables" / "exceedance_probability.csv")
    assert len(exceedance) == 2
    assert (exceedance["median"].diff().dropna() < 0).all()  # P(X > 20) < P(X > 10)


def test_saved_fit_matches_the_spec(fitted, saved_fit):
    assert len(saved_fit.data) == 1000
    assert saved_fit.data.name == "value"
    assert saved_fit.config["draws"] == 1000
    assert saved_fit.config["chains"] == 2
    assert saved_fit.config["random_seed"] == 3
    np.testing.assert_allclose(saved_fit.design.upper_thresholds, [3.0, 4.0, 5.0])


def test_spec_copy_has_the_settings_used(fitted):
    copy = load_spec(fitted.out / "spec.toml")
    original = load_spec(fitted.spec)
    assert copy.to_dict() == original.to_dict()
    assert copy.data.path == (fitted.folder / "data.csv").resolve()


# ----------------------------------------------------------------------------- report, check


def test_report_command_rerenders_from_the_spec_copy(fitted, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(fitted.out, out)
    (out / "report.md").unlink()
    spec_copy = out / "spec.toml"
    text = spec_copy.read_text(encoding="utf-8")
    spec_copy.write_text(text.replace("return_periods = [10.0, 100.0]", "return_periods = [2.0, 20.0]"))
    (fitted.folder / "data.csv").rename(fitted.folder / "moved.csv")  # the report needs only fit.nc
    try:
        result = run_cli("report", out)
    finally:
        (fitted.folder / "moved.csv").rename(fitted.folder / "data.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "report.md").stat().st_size > 0
    assert pd.read_csv(out / "tables" / "return_levels.csv").iloc[:, 0].tolist() == [2.0, 20.0]
    assert "Traceback" not in result.stderr


def test_check_passes_on_the_good_fit(fitted):
    result = run_cli("check", fitted.out)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert result.stdout.startswith("Diagnostics PASSED")
    assert "upper_xi" in result.stdout


def test_check_fails_with_status_1_on_short_chains(saved_fit, tmp_path, capsys):
    short = SBPFit(
        saved_fit.idata.isel(draw=slice(0, 20), missing_dims="ignore"),
        saved_fit.data,
        saved_fit.design,
        {**saved_fit.config, "draws": 20},
        saved_fit.version,
    )
    short.save(tmp_path / "short" / "fit.nc")
    assert cli.main(["check", str(tmp_path / "short")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Diagnostics FAILED")
    assert "Effective sample size below 400" in out
    # a fit.nc file is accepted in place of its folder
    assert cli.main(["check", str(tmp_path / "short" / "fit.nc")]) == 1


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda tmp: tmp / "nowhere", "nowhere: no such folder"),
        (lambda tmp: tmp, "no fit.nc in this folder"),
    ],
    ids=["missing folder", "folder without fit"],
)
@pytest.mark.parametrize("command", ["check", "report"])
def test_missing_results_give_status_2(tmp_path, capsys, make, expected, command):
    assert cli.main([command, str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sbp-bayes: error: ")
    assert expected in err


def test_unreadable_fit_gives_status_2(tmp_path, capsys):
    (tmp_path / "fit.nc").write_text("not a netCDF file")
    assert cli.main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sbp-bayes: error: {tmp_path / 'fit.nc'}: cannot read the saved fit")
    assert err.count("\n") == 1


# ----------------------------------------------------------------------------- input mistakes


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("draws = 1000", "draw = 1000", "[sampler] unknown key 'draw'; did you mean 'draws'?"),
        ("chains = 2", 'chains = "two"', '[sampler] chains must be a positive integer, got "two" (a string)'),
        ("draws = 1000", "draws = -5", "[sampler] draws must be a positive integer, got -5"),
        ('path = "data.csv"', 'path = "gone.csv"', "[data] path: no file"),
        ('column = "value"', 'column = "valeu"', "[data] column 'valeu' is not in data.csv"),
        ('path = "data.csv"\ncolumn = "value"\ntime_column = "day"', 'dataset = "danes"', "[data] dataset"),
        ('tails = "upper"', 'tails = "upper"\nfamily = "gpd"', "[model] family must be one of"),
    ],
    ids=[
        "unknown key",
        "wrong type",
        "bad value",
        "missing file",
        "missing column",
        "unknown dataset",
        "family",
    ],
)
def test_bad_spec_gives_one_line_and_status_2(tmp_path, capsys, old, new, expected):
    assert old in SPEC
    spec = write_study(tmp_path, SPEC.replace(old, new))
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"sbp-bayes: error: {spec}: "), err
    assert expected in err
    assert not (tmp_path / "out").exists()


def test_missing_spec_file_gives_status_2(tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path / "none.toml"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"sbp-bayes: error: {tmp_path / 'none.toml'}: no such spec file\n"


def test_data_the_model_cannot_use_gives_status_2(tmp_path, capsys):
    spec = write_study(tmp_path, SPEC.replace("upper_threshold = [3.0, 4.0, 5.0]", "upper_threshold = 500.0"))
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if "error" in line] == lines[-1:]  # progress lines, then the error
    assert lines[-1].startswith("sbp-bayes: error: The upper threshold 500.0 lies outside the data range")


def test_sampler_not_installed_gives_status_2(tmp_path, capsys, monkeypatch):
    def missing(name):
        raise ImportError(f"sampler={name!r} needs the package 'jax', which is not installed.")

    monkeypatch.setattr(sys.modules["sbp_bayes.sampling"], "check_sampler", missing)
    spec = write_study(tmp_path)
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out"), "--sampler", "numpyro"]) == 2
    err = capsys.readouterr().err
    assert err == "sbp-bayes: error: sampler='numpyro' needs the package 'jax', which is not installed.\n"


def test_bad_spec_in_a_real_process_shows_no_traceback(tmp_path):
    spec = write_study(tmp_path, SPEC.replace("draws = 1000", "draws = 0"))
    result = run_cli("fit", spec, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"sbp-bayes: error: {spec}: [sampler] draws must be a positive integer, got 0"
    assert result.stdout == ""


# ----------------------------------------------------------------------------- overrides, help


def test_overrides_and_quick_reach_the_fit_and_the_spec_copy(fitted, saved_fit, tmp_path, monkeypatch):
    """Sampling is replaced by the module's saved fit: this checks what the CLI passes on."""
    import sbp_bayes.render
    import sbp_bayes.spec

    seen = {}

    def fake_fit(self, data=None, **options):
        seen.update(spec=self, data=data, options=options)
        return saved_fit

    def fake_report(fit, spec, out_dir, **kwargs):
        path = Path(out_dir) / "report.md"
        path.write_text("stub")
        return path

    monkeypatch.setattr(sbp_bayes.spec.Spec, "fit", fake_fit)
    monkeypatch.setattr(sbp_bayes.render, "write_report", fake_report)
    spec = write_study(tmp_path, SPEC.replace("random_seed = 3\n", ""))
    out = tmp_path / "out"
    assert cli.main(["fit", str(spec), "--out", str(out), "--quick", "--draws", "50"]) == 0
    sampler = seen["spec"].sampler
    assert (sampler.chains, sampler.draws, sampler.tune) == (2, 50, 300)
    assert sampler.random_seed is not None  # drawn, then recorded so the copy reproduces the fit
    assert seen["options"] == {"progressbar": False}
    assert len(seen["data"]) == 1000
    copy = load_spec(out / "spec.toml")
    assert (copy.sampler.chains, copy.sampler.draws, copy.sampler.tune) == (2, 50, 300)
    assert copy.sampler.random_seed == sampler.random_seed
    assert (out / "fit.nc").stat().st_size > 0


def test_help_lists_the_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for word in [
        "fit",
        "report",
        "check",
        "examples:",
        "sbp-bayes fit models/danish.toml --out results/danish",
    ]:
        assert word in out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fit", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ["--out", "--draws", "--tune", "--chains", "--seed", "--sampler", "--quick"]:
        assert option in out


def test_bad_option_values_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fit", "x.toml", "--out", "o", "--draws", "-3"])
    assert exit_.value.code == 2
    assert "--draws: must be a positive integer, got -3" in capsys.readouterr().err


# ----------------------------------------------------------------------------- render


PLOTS = ["plot_density", "plot_qq", "plot_pp", "plot_return_levels", "plot_threshold_posterior"]
PLOTS += ["plot_tail_shape", "plot_trace"]


@pytest.fixture
def cheap_plots(monkeypatch):
    """Every plot replaced by an empty figure: these tests are about the report, not the plots
    (the real ones are drawn by the subprocess fit)."""
    import matplotlib.pyplot as plt

    from sbp_bayes import plots

    def cheap(*args, **kwargs):
        figure, _ = plt.subplots()
        return figure

    for name in PLOTS:
        monkeypatch.setattr(plots, name, cheap)
    return plots


def test_a_failing_figure_or_table_is_named_in_the_report(
    saved_fit, fitted, tmp_path, monkeypatch, cheap_plots
):
    import matplotlib.pyplot as plt

    def broken_plot(*args, **kwargs):
        plt.subplots()  # a half-made figure must not be left open
        raise RuntimeError("boom")

    def broken_table(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cheap_plots, "plot_qq", broken_plot)
    monkeypatch.setattr(SBPFit, "value_at_risk", broken_table)
    problems = []
    open_before = set(plt.get_fignums())
    path = sbp_bayes.render.write_report(
        saved_fit, load_spec(fitted.spec), tmp_path, on_problem=problems.append
    )
    assert set(plt.get_fignums()) == open_before
    text = path.read_text(encoding="utf-8")
    assert "Figure 'QQ plot' could not be made — RuntimeError: boom" in text
    assert "Table 'Value at risk' could not be made — RuntimeError: boom" in text
    assert "2 table(s) or figure(s) could not be made" in text
    assert problems == [
        "Table 'Value at risk' could not be made: RuntimeError: boom",
        "Figure 'QQ plot' could not be made: RuntimeError: boom",
    ]
    assert not (tmp_path / "figures" / "qq.png").exists()
    assert not (tmp_path / "tables" / "value_at_risk.csv").exists()
    assert (tmp_path / "figures" / "pp.png").stat().st_size > 0
    assert (tmp_path / "tables" / "expected_shortfall.csv").stat().st_size > 0


def test_report_without_a_spec_uses_defaults(saved_fit, tmp_path, cheap_plots):
    path = sbp_bayes.render.write_report(saved_fit, None, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# value\n")
    levels = pd.read_csv(tmp_path / "tables" / "return_levels.csv")
    assert levels.iloc[:, 0].tolist() == [10.0, 50.0, 100.0]  # ReportSpec defaults, 100 a year from attrs
