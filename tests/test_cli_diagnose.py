"""``sbp-bayes diagnose``: threshold diagnostics and the extremal index, with no sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sbp_bayes.cli import main


def _max_autoregressive(n: int, alpha: float, rng) -> np.ndarray:
    z = 1.0 / -np.log(rng.random(n))  # unit Fréchet
    x = np.empty(n)
    x[0] = z[0]
    for t in range(1, n):
        x[t] = max(alpha * x[t - 1], (1.0 - alpha) * z[t])
    return x


@pytest.fixture(scope="module")
def clustered_csv(tmp_path_factory):
    """A fresh CSV as a user would bring it: dates and a daily series with clusters (θ = 0.5)."""
    rng = np.random.default_rng(4)
    days = pd.date_range("2001-01-01", periods=4000, freq="D")
    frame = pd.DataFrame(
        {"date": days.strftime("%Y-%m-%d"), "flow": np.log(_max_autoregressive(4000, 0.5, rng))}
    )
    path = tmp_path_factory.mktemp("diagnose") / "flows.csv"
    frame.to_csv(path, index=False)
    return path


def test_diagnose_a_fresh_csv_end_to_end(clustered_csv, tmp_path, capsys):
    out = tmp_path / "diagnostics"
    assert main(["diagnose", str(clustered_csv), "--out", str(out), "--tails", "upper"]) == 0
    printed = capsys.readouterr().out
    assert "365.25 observations per year" in printed  # the dates were read
    assert "Upper tail: candidate thresholds" in printed and "Extremal index of the upper tail" in printed
    candidates = pd.read_csv(out / "tables" / "candidates_upper.csv", index_col=0)
    assert len(candidates) == 10 and candidates["weight"].sum() == pytest.approx(1.0)
    assert candidates["threshold"].is_monotonic_increasing
    # The maximum likelihood shape at each candidate is thresholds.parameter_stability's.
    assert (
        candidates[["xi", "xi_ci_lower", "xi_ci_upper", "modified_scale", "mean_excess"]].notna().all().all()
    )
    theta = pd.read_csv(out / "tables" / "extremal_index_upper.csv", index_col=0)
    assert list(theta.index) == ["intervals", "runs", "kgaps"]
    # max-autoregressive with alpha = 0.5: theta = 0.5, well away from 1.
    assert theta.loc["intervals", "ci_lower"] < 0.5 < theta.loc["intervals", "ci_upper"]
    assert (theta["theta"] < 0.75).all()
    for name in ("mean_residual_life_upper", "parameter_stability_upper"):
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) == 40
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000


def test_diagnose_a_spec(tmp_path, capsys):
    assert main(["diagnose", "models/rain.toml"]) == 0
    printed = capsys.readouterr().out
    assert "bundled dataset 'rain'" in printed and "Lower tail" not in printed  # the spec's tails


@pytest.mark.parametrize(
    "contents, arguments, message",
    [
        (None, [], "no such file; give a CSV file of data or a model spec"),
        ("value\n" + "\n".join(str(v) for v in range(60)) + "\nn/a\n1.0\n", [], "first 'n/a' in data row 61"),
        ("value\n" + "\n".join(str(v) for v in range(40)) + "\n", ["--column", "flow"], "flow"),
        ("value\n1.0\n2.0\n", [], "needs many more"),
    ],
)
def test_user_errors_are_one_line_messages(tmp_path, capsys, contents, arguments, message):
    path = tmp_path / "data.csv"
    if contents is not None:
        path.write_text(contents)
    assert main(["diagnose", str(path), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("sbp-bayes: error:") and message in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1


def test_a_spec_with_a_fixed_threshold_is_refused(tmp_path, capsys):
    spec = tmp_path / "fixed.toml"
    spec.write_text('[data]\ndataset = "rain"\n\n[model]\ntails = "upper"\nupper_threshold = 30.0\n')
    assert main(["diagnose", str(spec)]) == 2
    assert "fixes a threshold" in capsys.readouterr().err
