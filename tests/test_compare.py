"""Model comparison (sbp_bayes.compare, in sbp_bayes/comparison.py) and the ``sbp-bayes compare`` command.

The fits are small and module-scoped: the shared SBP fixture ``student_t_fit`` (2000
Student-t(3) draws) and three baselines fitted to the same data; held-out scores are
checked against direct computations with scipy. The issue's acceptance test (the SBP
against Normal and binned-only on the paper's spiky noise) is slow: ``pytest -m slow``.
The command line runs end to end once in a subprocess on two cheap specs
(``tests/specs/``), and its input errors are checked before any fitting.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import sbp_bayes
from sbp_bayes import cli
from sbp_bayes.calibration import pp_mae
from sbp_bayes.comparison import ComparisonError, compare, predictive_scores
from sbp_bayes.render import format_number

SPECS = Path(__file__).resolve().parent / "specs"
SMALL = {"draws": 500, "tune": 500, "chains": 4, "progressbar": False}
LOO_COLUMNS = ["elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "diff_in_se", "pareto_k_bad"]
TEST_COLUMNS = [
    "test_elpd",
    "test_crps",
    "pp_mae_lower_tail",
    "pp_mae_base",
    "pp_mae_upper_tail",
    "pp_mae_full",
]


@pytest.fixture(scope="module")
def t_data(student_t_fit) -> pd.Series:
    """The 2000 Student-t(3) draws of the shared SBP fixture."""
    return student_t_fit.data


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    """1000 fresh Student-t(3) draws: the test set."""
    return np.random.default_rng(99).standard_t(3, size=1000)


@pytest.fixture(scope="module")
def fits(student_t_fit, t_data) -> dict:
    """The SBP and three baselines, all fitted to the same 2000 values."""
    return {
        "sbp": student_t_fit,
        "student_t": sbp_bayes.fit(t_data, family="student_t", random_seed=21, **SMALL),
        "normal": sbp_bayes.fit(t_data, family="normal", random_seed=22, **SMALL),
        "binned": sbp_bayes.fit(t_data, family="binned", random_seed=23, **SMALL),
    }


@pytest.fixture(scope="module")
def comparison(fits, held_out):
    """``compare`` run once, its warnings recorded: ``(table, warnings)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compare(fits, test_data=held_out, random_seed=5)
    return table, [w for w in caught if issubclass(w.category, UserWarning)]


@pytest.fixture(scope="module")
def loo_results(fits) -> dict:
    """ArviZ's own PSIS-LOO of each fit, computed here independently of compare()."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns about high Pareto k; compare() reports them
        return {name: az.loo(fit.idata, pointwise=True) for name, fit in fits.items()}


# ----------------------------------------------------------------------------- LOO


def test_table_is_ordered_best_first_with_the_documented_columns(comparison, fits):
    table, _ = comparison
    assert table.index.name == "model"
    assert set(table.index) == set(fits)
    assert table["elpd_loo"].is_monotonic_decreasing
    assert list(table.columns) == [*LOO_COLUMNS, "family", "n_observations", *TEST_COLUMNS]
    assert table.loc["binned", "family"] == "binned" and table.loc["sbp", "family"] == "sbp"
    assert (table["n_observations"] == 2000).all()
    best = table.index[0]
    assert table.loc[best, "elpd_diff"] == 0.0 and table.loc[best, "diff_in_se"] == 0.0
    # On t(3) data the Normal comes last.
    assert table.index[-1] == "normal"


def test_weights_are_a_distribution(comparison):
    table, _ = comparison
    assert (table["weight"] >= 0).all()
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-9)


def test_loo_numbers_are_arviz_and_the_paired_pointwise_differences(comparison, loo_results):
    table, _ = comparison
    for name, result in loo_results.items():
        assert table.loc[name, "elpd_loo"] == pytest.approx(float(result.elpd), rel=1e-12)
        assert table.loc[name, "se"] == pytest.approx(float(result.se), rel=1e-12)
        assert table.loc[name, "p_loo"] == pytest.approx(float(result.p), rel=1e-12)
    ranked = az.compare(loo_results, round_to="none")
    for column in ("elpd_diff", "dse", "weight"):
        np.testing.assert_allclose(table[column], ranked.loc[table.index, column].astype(float), rtol=1e-9)
    # elpd_diff and dse from the pointwise terms: paired over observations.
    best = table.index[0]
    best_terms = np.asarray(loo_results[best].elpd_i)
    for name in table.index[1:]:
        difference = np.asarray(loo_results[name].elpd_i) - best_terms
        assert table.loc[name, "elpd_diff"] == pytest.approx(difference.sum(), rel=1e-9)
        assert table.loc[name, "dse"] == pytest.approx(np.sqrt(difference.size * difference.var()), rel=1e-9)
        assert table.loc[name, "diff_in_se"] == pytest.approx(difference.sum() / table.loc[name, "dse"])
        # Paired: much tighter than the standard errors of the two models' elpd.
        assert table.loc[name, "dse"] < np.hypot(table.loc[name, "se"], table.loc[best, "se"])


def test_pareto_k_warnings_name_the_models_and_count_the_observations(comparison, loo_results):
    table, caught = comparison
    bad = {name: int(np.sum(np.asarray(result.pareto_k) > 0.7)) for name, result in loo_results.items()}
    assert table["pareto_k_bad"].to_dict() == bad
    # A Normal fitted to t(3) data: its largest observations are influential.
    assert bad["normal"] >= 1 and bad["student_t"] == 0
    (warning,) = caught
    message = str(warning.message)
    assert "Pareto k > 0.7" in message
    for name, count in bad.items():
        assert (f"{name} ({count})" in message) == (count > 0)


@pytest.fixture(scope="module")
def histograms() -> dict:
    """Two histograms of 300 Normal values (exact draws, no compilation, fast LOO)."""
    x = np.random.default_rng(31).normal(size=300)
    return {
        f"bins_{bins}": sbp_bayes.fit(x, family="binned", bins=bins, random_seed=bins, **SMALL)
        for bins in (8, 12)
    }


def test_no_warning_when_every_pareto_k_is_good(histograms):
    # filterwarnings = error: any warning here fails the test.
    table = compare(histograms)
    assert (table["pareto_k_bad"] == 0).all()
    assert "test_elpd" not in table.columns


def test_pareto_k_warning_is_raised_for_an_influential_observation(monkeypatch, histograms):
    """An artificial case: ArviZ's Pareto k of one observation of one model set high."""
    real_loo = az.loo

    def loo_with_one_bad_point(data, **kwargs):
        result = real_loo(data, **kwargs)
        if data is histograms["bins_12"].idata:
            k = np.asarray(result.pareto_k).copy()
            k[7] = 1.3
            result.pareto_k = result.pareto_k.copy(data=k)
        return result

    monkeypatch.setattr(az, "loo", loo_with_one_bad_point)
    with pytest.warns(UserWarning, match=r"Pareto k > 0\.7\): bins_12 \(1\)\."):
        table = compare(histograms)
    assert table["pareto_k_bad"].to_dict() == {"bins_8": 0, "bins_12": 1}


# ----------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def pot_fit(t_data):
    return sbp_bayes.fit(t_data, family="pot_gpd", random_seed=24, **SMALL)


def test_refuses_to_compare_exceedances_with_all_observations(fits, pot_fit):
    with pytest.raises(ComparisonError, match="same data on the same scale") as error:
        compare({"sbp": fits["sbp"], "pot": pot_fit})
    message = str(error.value)
    assert "'pot' (pot_gpd) has a log-likelihood over exceedances of" in message
    assert "'sbp' over all observations" in message
    assert "loo=False and test_data" in message


def test_refuses_models_of_different_data(fits, t_data):
    other = sbp_bayes.fit(t_data.iloc[:-1], family="binned", random_seed=25, **SMALL)
    with pytest.raises(ComparisonError, match="'other' was fitted to 1999 values and 'sbp' to 2000"):
        compare({"sbp": fits["sbp"], "other": other})
    shifted = sbp_bayes.fit(t_data + 1.0, family="binned", random_seed=25, **SMALL)
    with pytest.raises(ComparisonError, match=r"\(same count, different values\)"):
        compare({"sbp": fits["sbp"], "shifted": shifted})


def test_refuses_fewer_than_two_models_and_nothing_to_compare_on(fits):
    with pytest.raises(ComparisonError, match="at least two fitted models"):
        compare({"sbp": fits["sbp"]})
    with pytest.raises(ComparisonError, match="With loo=False there is nothing to compare on"):
        compare({"sbp": fits["sbp"], "normal": fits["normal"]}, loo=False)


def test_without_loo_models_of_different_scope_compare_on_held_out_data(fits, pot_fit, held_out):
    table = compare(
        {"sbp": fits["sbp"], "pot": pot_fit, "normal": fits["normal"]}, test_data=held_out, loo=False
    )
    assert "elpd_loo" not in table.columns
    assert table["test_elpd"].is_monotonic_decreasing
    assert table.loc["pot", "n_observations"] == int(pot_fit.log_likelihood_scope().sum()) < 2000
    direct = predictive_scores(pot_fit, held_out, random_seed=None)
    assert table.loc["pot", "test_elpd"] == pytest.approx(direct["test_elpd"], rel=1e-12)
    assert table.index[-1] == "normal"


# ----------------------------------------------------------------------------- held-out scores


def _normal_mixture(fit):
    posterior = fit.idata["posterior"]
    return posterior["mu"].values.reshape(-1), posterior["sigma"].values.reshape(-1)


def _mean_absolute_deviation(centre, scale):
    """``E|Z|`` for ``Z ~ Normal(centre, scale)`` (the folded Normal mean)."""
    z = centre / scale
    return scale * (2.0 * stats.norm.pdf(z) + z * (2.0 * stats.norm.cdf(z) - 1.0))


def test_held_out_log_score_and_pp_mae_are_the_direct_computations(comparison, fits, held_out):
    table, _ = comparison
    # Normal: the log score sum_i log mean_s N(y_i | mu_s, sigma_s), with scipy.
    mu, sigma = _normal_mixture(fits["normal"])
    log_density = stats.norm.logpdf(held_out[:, None], mu, sigma)
    expected = np.sum(special.logsumexp(log_density, axis=1) - np.log(mu.size))
    assert table.loc["normal", "test_elpd"] == pytest.approx(expected, rel=1e-10)
    mae = pp_mae(held_out, cdf_fn=lambda y: stats.norm.cdf(y[:, None], mu, sigma).mean(axis=1))
    for region, value in mae.items():
        assert table.loc["normal", f"pp_mae_{region}"] == pytest.approx(value, abs=1e-12)
    # Student-t likewise.
    posterior = fits["student_t"].idata["posterior"]
    nu, loc, scale = (posterior[name].values.reshape(-1) for name in ("nu", "mu", "sigma"))
    log_density = stats.t.logpdf(held_out[:, None], nu, loc, scale)
    expected = np.sum(special.logsumexp(log_density, axis=1) - np.log(nu.size))
    assert table.loc["student_t", "test_elpd"] == pytest.approx(expected, rel=1e-10)
    mae = pp_mae(held_out, cdf_fn=lambda y: stats.t.cdf(y[:, None], nu, loc, scale).mean(axis=1))
    for region, value in mae.items():
        assert table.loc["student_t", f"pp_mae_{region}"] == pytest.approx(value, abs=1e-12)
    # The t model is calibrated on t data, far better in the tails than the Normal.
    for region in ("lower_tail", "upper_tail"):
        assert table.loc["student_t", f"pp_mae_{region}"] < table.loc["normal", f"pp_mae_{region}"]


def test_held_out_crps_is_the_exact_crps_within_monte_carlo_error(comparison, fits, held_out):
    """The exact CRPS of the Normal posterior predictive mixture, E|X - y| - E|X - X'| / 2
    in closed form, against compare()'s estimate from 4000 predictive draws."""
    table, _ = comparison
    mu, sigma = _normal_mixture(fits["normal"])
    to_point = _mean_absolute_deviation(held_out[:, None] - mu, sigma).mean(axis=1)
    pair_scale = np.sqrt(sigma[:, None] ** 2 + sigma[None, :] ** 2)
    spread = _mean_absolute_deviation(mu[:, None] - mu[None, :], pair_scale).mean()
    exact = float(np.mean(to_point - spread / 2.0))
    # Monte Carlo error of the draw-based estimator (linearised: each draw x enters
    # through h(x) = mean_k |x - y_k| - E|x - X'|).
    rng = np.random.default_rng(0)
    component = rng.integers(mu.size, size=4000)
    x = rng.normal(mu[component], sigma[component])
    h = np.abs(x[:, None] - held_out[None, :]).mean(axis=1) - _mean_absolute_deviation(
        x[:, None] - mu[None, :], sigma[None, :]
    ).mean(axis=1)
    standard_error = h.std() / np.sqrt(4000)
    assert abs(table.loc["normal", "test_crps"] - exact) < 4 * standard_error
    assert standard_error < 0.01 * exact  # the check has teeth


# ----------------------------------------------------------------------------- acceptance (slow)


@pytest.mark.slow
def test_sbp_beats_normal_and_binned_on_the_spiky_noise():
    """Issue 5: on 5000 points of the paper's asymmetric spiky noise (docs/published_checks.md,
    i.i.d.) the SBP beats Normal and binned-only on PSIS-LOO by more than 4 standard
    errors of the difference, and its tail PP-MAE on 2000 held-out points is the lowest
    of the three. Default settings of each family (the binned one: 50 bins), 4 chains x
    1000 draws, one fixed seed chosen before the first run."""
    from sbp_bayes.datasets.synthetic import spiky_noise

    rng = np.random.default_rng(2021)
    train, test = spiky_noise(5000, rng), spiky_noise(2000, rng)
    run = {"draws": 1000, "tune": 1000, "chains": 4, "progressbar": False}
    fits = {
        family: sbp_bayes.fit(train, family=family, random_seed=7, **run)
        for family in ("sbp", "normal", "binned")
    }
    for name, fit in fits.items():
        assert fit.check(warn=False).passed, name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = compare(fits, test_data=test, random_seed=7)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.T.to_string())
        print("warnings:", [str(w.message) for w in caught])
    assert table.index[0] == "sbp"
    for baseline in ("normal", "binned"):
        assert table.loc[baseline, "diff_in_se"] < -4, table.loc[baseline, ["elpd_diff", "dse"]]
    for region in ("pp_mae_lower_tail", "pp_mae_upper_tail"):
        assert table[region].idxmin() == "sbp", table[region]


# ----------------------------------------------------------------------------- the command line


def _write_study(folder: Path, n: int = 500) -> Path:
    """The test specs next to a CSV of ``n`` Student-t(4) values (and another column)."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in SPECS.glob("compare_*.toml"):
        shutil.copy(spec, folder / spec.name)
    rng = np.random.default_rng(8)
    pd.DataFrame({"value": rng.standard_t(4, size=n), "other": rng.normal(size=n)}).to_csv(
        folder / "data.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``sbp-bayes compare`` on the Normal and binned specs, 20% held out, in a subprocess."""
    folder = _write_study(tmp_path_factory.mktemp("compare_cli"))
    out = folder / "out"
    command = [
        sys.executable,
        "-m",
        "sbp_bayes.cli",
        "compare",
        "compare_normal.toml",
        "compare_binned.toml",
        "--out",
        str(out),
        "--holdout",
        "0.2",
        "--seed",
        "7",
        "--quick",
    ]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    return result, out, folder


def test_cli_compare_runs_end_to_end(cli_run):
    result, out, _ = cli_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for stage in ("loading data", "holding out 100 of 500 observations", "fitting normal", "fitting binned"):
        assert stage in result.stderr
    assert result.stdout.startswith("Best by PSIS-LOO: ")
    table = pd.read_csv(out / "comparison.csv", index_col="model")
    assert set(table.index) == {"normal", "binned"}
    assert set(LOO_COLUMNS + TEST_COLUMNS) <= set(table.columns)
    assert (table["n_observations"] == 400).all()  # LOO on the 400 fitted values
    assert table["weight"].sum() == pytest.approx(1.0)
    assert (out / "comparison.png").stat().st_size > 0
    markdown = (out / "comparison.md").read_text()
    best = table.index[0]
    assert f"Best by PSIS-LOO: **{best}**" in markdown
    other = table.index[1]
    assert f"{format_number(abs(table.loc[other, 'diff_in_se']))} standard errors" in markdown
    for heading in ("## Verdict", "## Table", "### What the columns mean", "## Pareto k", "## Models"):
        assert heading in markdown
    assert "seed 7" in markdown and "100 observations (0.2)" in markdown


def test_cli_compare_saves_every_fit_on_the_training_split(cli_run):
    _, out, folder = cli_run
    data = pd.read_csv(folder / "data.csv")["value"]
    fitted = {name: sbp_bayes.load(out / name / "fit.nc") for name in ("normal", "binned")}
    assert fitted["normal"].family == "normal" and fitted["binned"].family == "binned"
    train = fitted["normal"].data
    pd.testing.assert_series_equal(fitted["binned"].data, train)
    assert len(train) == 400
    # The training values are the data without the held-out 100, in their original order.
    np.testing.assert_array_equal(train.to_numpy(), data.to_numpy()[train.index.to_numpy()])
    held_out = pd.read_csv(out / "held_out.csv", index_col=0)["value"]
    assert len(held_out) == 100
    assert sorted([*held_out.index, *train.index]) == list(range(500))
    np.testing.assert_array_equal(held_out.to_numpy(), data.to_numpy()[held_out.index.to_numpy()])
    assert fitted["normal"].config["draws"] == cli.QUICK["draws"]


def _compare_errors(folder, capsys, *arguments) -> str:
    status = cli.main(["compare", *(str(folder / a) if a.endswith(".toml") else a for a in arguments)])
    captured = capsys.readouterr()
    assert status == cli.EXIT_USER_ERROR
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("sbp-bayes: error: ")
    return line


def test_cli_compare_input_errors_stop_before_fitting(tmp_path, capsys, monkeypatch):
    folder = _write_study(tmp_path)

    def no_fitting(*args, **kwargs):  # every error below must come before any fit
        raise AssertionError("fitted although the input was bad")

    monkeypatch.setattr("sbp_bayes.spec.Spec.fit", no_fitting)
    out = str(tmp_path / "out")
    line = _compare_errors(folder, capsys, "compare_normal.toml", "compare_other_data.toml", "--out", out)
    assert "models column 'other'" in line and "only models of the same data can be compared" in line
    line = _compare_errors(folder, capsys, "compare_pot.toml", "compare_normal.toml", "--out", out)
    assert "exceedances of its threshold only" in line and "--holdout 0.2" in line
    line = _compare_errors(folder, capsys, "compare_normal.toml", "--out", out)
    assert "at least two specs" in line
    line = _compare_errors(folder, capsys, "compare_normal.toml", "compare_normal.toml", "--out", out)
    assert "share the [study] name 'normal'" in line
    line = _compare_errors(folder, capsys, "compare_normal.toml", "no_such.toml", "--out", out)
    assert "no_such.toml: no such spec file" in line
    assert not (tmp_path / "out").exists()


def test_cli_compare_rejects_a_bad_holdout_fraction(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["compare", "a.toml", "b.toml", "--out", str(tmp_path), "--holdout", "1.5"])
    assert stop.value.code == 2
    assert "must be a fraction in [0, 1) such as 0.2, got 1.5" in capsys.readouterr().err


def test_cli_compare_mixed_scopes_fall_back_to_held_out_data(tmp_path, capsys):
    """A POT spec with a full-data spec: no LOO, but with --holdout they are compared on the
    held-out data (in-process: the Normal and the POT model are compiled by now)."""
    folder = _write_study(tmp_path)
    out = tmp_path / "out"
    status = cli.main(
        [
            "compare",
            str(folder / "compare_pot.toml"),
            str(folder / "compare_normal.toml"),
            "--out",
            str(out),
            "--holdout",
            "0.2",
            "--seed",
            "3",
            "--quick",
        ]
    )
    captured = capsys.readouterr()
    assert status == cli.EXIT_OK, captured.err
    assert "warning: no LOO:" in captured.err
    assert captured.out.startswith("Best by held-out log score: ")
    table = pd.read_csv(out / "comparison.csv", index_col="model")
    assert "elpd_loo" not in table.columns
    assert table["test_elpd"].is_monotonic_decreasing
    assert "No LOO" in (out / "comparison.md").read_text()


def test_cli_compare_error_reaches_the_user_without_a_traceback(tmp_path):
    folder = _write_study(tmp_path)
    command = [sys.executable, "-m", "sbp_bayes.cli", "compare", "compare_pot.toml", "compare_binned.toml"]
    result = subprocess.run(
        [*command, "--out", "out"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.startswith("sbp-bayes: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
