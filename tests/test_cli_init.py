"""``sbp-bayes init`` writes a spec that ``sbp-bayes fit`` accepts unchanged, and every spec
key is documented (sbp_bayes.spec.spec_keys, ``sbp-bayes spec-keys``, ``fit --help``)."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from sbp_bayes import cli, spec
from sbp_bayes.spec import load_spec, schema
from sbp_bayes.spec.writer import toml_value


def _every_parser_key() -> set[tuple[str, str]]:
    sections = {
        "study": schema.STUDY_KEYS,
        "data": schema.DATA_KEYS,
        "model": {"family": None, **schema.SBP_MODEL_KEYS},
        "threshold_priors": schema.THRESHOLD_PRIOR_KEYS,
        "sampler": schema.SAMPLER_KEYS,
        "report": {**schema.REPORT_KEYS, **schema.DYNAMIC_REPORT_KEYS},
        "dynamic": schema.DYNAMIC_KEYS,
    }
    keys = {(section, key) for section, names in sections.items() for key in names}
    for family in (*spec.FAMILIES.values(), *spec.DYNAMIC_FAMILIES.values()):
        keys |= {("model", key) for key in family.model_keys}
    return keys | {("priors", "<name>")}


def test_every_spec_key_is_documented_with_a_default():
    documented = {(row.section, row.key) for row in spec.spec_keys()}
    assert documented == _every_parser_key()
    for row in spec.spec_keys():
        assert row.meaning.endswith(".") and row.default, row
    sampler = {row.key: row.default for row in spec.spec_keys() if row.section == "sampler"}
    assert sampler["draws"] == "1000" and sampler["name"] == toml_value(schema.SAMPLER_KEYS["name"].default)


def test_fit_help_lists_every_key(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    text = capsys.readouterr().out
    for key in {key for _section, key in _every_parser_key()}:
        assert f"  {key}\n" in text, key
    assert cli.main(["spec-keys", "--markdown"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| section | key | meaning | default |")
    assert "| [report] | `extremal_index` |" in table


def _write_csv(path, n=1500, *, empty_row=None):
    rng = np.random.default_rng(7)
    flow = np.round(np.abs(rng.standard_t(3, size=n)) * 10.0, 3)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2001-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "station": "A",
            "flow": flow,
            "level": np.round(flow / 7.0 + rng.random(n), 3),
        }
    )
    if empty_row is not None:
        frame.loc[empty_row, "flow"] = np.nan
    frame.to_csv(path, index=False)
    return frame


def test_init_detects_columns_and_writes_a_commented_valid_spec(tmp_path, capsys):
    _write_csv(tmp_path / "flows.csv", empty_row=10)
    out = tmp_path / "specs" / "flows.toml"
    assert cli.main(["init", str(tmp_path / "flows.csv"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "# " in text and "sbp-bayes fit" in text
    raw = tomllib.loads(text)
    assert raw["data"] == {"path": "../flows.csv", "column": "flow", "time_column": "date"}
    assert raw["model"]["tails"] == "upper" and raw["model"]["lower_bound"] == 0.0
    assert raw["model"]["nan_policy"] == "omit"  # the empty cell
    assert "other numeric columns: level" in text
    assert "365.25 observations a year, inferred" in text
    loaded = load_spec(out)
    assert loaded.data.column == "flow"
    assert isinstance(loaded.load_data().index, pd.DatetimeIndex)
    # An existing spec is not overwritten without --force; a bad column is named.
    capsys.readouterr()
    assert cli.main(["init", str(tmp_path / "flows.csv"), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (
        cli.main(["init", str(tmp_path / "flows.csv"), "--out", str(out), "--force", "--column", "flw"]) == 2
    )
    assert "did you mean 'flow'" in capsys.readouterr().err
    (tmp_path / "words.csv").write_text("a,b\nx,y\nz,w\n")
    assert cli.main(["init", str(tmp_path / "words.csv")]) == 2
    assert "no column of numbers" in capsys.readouterr().err


def test_init_then_fit_end_to_end(tmp_path, capsys):
    """Acceptance: init -> fit on a fresh CSV, unchanged; the report states the inferred rate."""
    _write_csv(tmp_path / "flows.csv")
    assert cli.main(["init", str(tmp_path / "flows.csv")]) == 0
    spec_file = tmp_path / "flows.toml"
    out = tmp_path / "results"
    status = cli.main(
        [
            "fit",
            str(spec_file),
            "--out",
            str(out),
            "--draws",
            "150",
            "--tune",
            "150",
            "--chains",
            "2",
            "--seed",
            "3",
        ]
    )
    assert status == 0
    report = (out / "report.md").read_text()
    assert "Observations per year: 365.25" in report and "inferred from the dates" in report
    assert "2001-01-01 to 2005-02-08" in report
    levels = pd.read_csv(out / "tables" / "return_levels.csv")
    assert list(levels["return_period"]) == [10, 50, 100]
    # Ask for the clustering adjustment in the spec copy and re-render: no refit needed.
    copy = out / "spec.toml"
    copy.write_text(copy.read_text() + 'extremal_index = "intervals"\n')
    assert cli.main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "### Extremal index" in report and "once per period" in report
    theta = pd.read_csv(out / "tables" / "extremal_index.csv")
    assert 0 < theta["theta"].iloc[0] <= 1
    clustered = pd.read_csv(out / "tables" / "return_levels.csv")
    # The levels use the bootstrap draws of theta (their mean is in the column).
    used = clustered["extremal_index"]
    assert ((theta["ci_lower"].iloc[0] <= used) & (used <= theta["ci_upper"].iloc[0]) & (used < 1)).all()
