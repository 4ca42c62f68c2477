"""Model specs (sbp_bayes.spec): the bundled specs parse, and every class of mistake gives
one line naming the file and the key."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sbp_bayes
from sbp_bayes.model import DataError
from sbp_bayes.priors import Prior
from sbp_bayes.spec import FAMILIES, SpecError, load_spec, loads_spec

MODELS = Path(__file__).resolve().parents[1] / "models"

CSV_SPEC = """
[study]
name = "csv study"
[data]
path = "data.csv"
column = "value"
time_column = "day"
units = "mm"
observations_per_year = 100
[model]
tails = "upper"
upper_threshold = 3.0
lower_bound = 0.0
"""


@pytest.fixture
def folder(tmp_path):
    """A folder holding data.csv (columns day, value, label) for specs that read a file."""
    values = np.linspace(0.0, 10.0, 50)
    pd.DataFrame({"day": np.arange(50), "value": values, "label": ["a"] * 50}).to_csv(
        tmp_path / "data.csv", index=False
    )
    return tmp_path


def write(folder: Path, text: str) -> str:
    path = folder / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# ----------------------------------------------------------------------------- valid specs


def test_danish_spec_parses():
    spec = load_spec(MODELS / "danish.toml")
    assert spec.data.dataset == "danish"
    assert spec.model.family == "sbp"
    assert spec.model.tails == "upper"
    assert spec.model.options["upper_threshold"] is None  # threshold prior
    assert (spec.sampler.chains, spec.sampler.draws) == (4, 1000)
    assert spec.report.return_periods == (10.0, 50.0, 100.0)
    assert spec.report.exceedance == (10.0, 50.0, 100.0)
    assert spec.report.var_levels == (0.99,)
    assert spec.report.es_levels == (0.99,)
    data = spec.load_data()
    assert len(data) == 2167
    assert spec.observations_per_period(data) == pytest.approx(2167 / 11)
    assert spec.report_tail() == "upper"


def test_rain_spec_parses():
    spec = load_spec(MODELS / "rain.toml")
    assert spec.data.dataset == "rain"
    assert spec.model.tails == "upper"
    assert spec.model.options["lower_bound"] == 0.0
    assert (spec.sampler.chains, spec.sampler.draws) == (4, 1000)
    assert spec.report.return_periods == (10.0, 50.0, 100.0, 1000.0)
    assert spec.report.exceedance == (50.0, 80.0, 100.0)
    assert spec.observations_per_period() == 365.25


@pytest.mark.parametrize("name", ["danish.toml", "rain.toml"])
def test_fit_kwargs_are_options_of_the_family_fit_function(name):
    spec = load_spec(MODELS / name)
    kwargs = spec.fit_kwargs()
    accepted = inspect.signature(FAMILIES["sbp"].fit_function()).parameters
    assert FAMILIES["sbp"].fit_function() is sbp_bayes.fit
    assert set(kwargs) <= set(accepted), set(kwargs) - set(accepted)
    assert kwargs["tails"] == "upper"
    assert kwargs["sampler"] == "auto"  # quadrature: the default fit compiles nothing
    assert "upper_threshold" not in kwargs  # left to fit's default: the threshold prior


def test_csv_spec_reads_relative_path_column_index_and_units(folder):
    spec = load_spec(write(folder, CSV_SPEC))
    assert spec.data.path == (folder / "data.csv").resolve()
    data = spec.load_data()
    assert data.name == "value"
    assert data.index.name == "day"
    assert data.index[3] == 3
    assert data.iloc[-1] == 10.0
    assert data.attrs["units"] == "mm"
    assert data.attrs["observations_per_year"] == 100.0
    assert spec.observations_per_period(data) == 100.0
    assert spec.study.name == "csv study"
    assert spec.fit_kwargs()["upper_threshold"] == 3.0


def test_defaults_fill_unset_sections(folder):
    spec = loads_spec('[data]\ndataset = "danish"')
    assert spec.model.tails == "both"
    assert spec.model.options["bins"] == 30
    assert (spec.sampler.name, spec.sampler.draws, spec.sampler.tune, spec.sampler.chains) == (
        "auto",  # quadrature for the default SBP fit, nutpie for NUTS models
        1000,
        1000,
        4,
    )
    assert spec.sampler.random_seed is None
    assert spec.report.ci_prob == 0.95 and spec.report.ci_kind == "eti"
    assert spec.study.name == "study"
    # a spec file without [study] name is named after the file
    assert load_spec(write(folder, '[data]\ndataset = "rain"')).study.name == "spec"


def test_priors_and_threshold_priors_are_passed_to_fit():
    spec = loads_spec(
        """
        [data]
        dataset = "danish"
        [model]
        tails = "upper"
        upper_threshold = [5.0, 10.0, 20.0]
        [priors.upper_xi]
        dist = "Normal"
        mu = 0.2
        sigma = 0.3
        [priors.bin_probs]
        dist = "Dirichlet"
        a = 0.5
        [threshold_priors]
        upper = [1, 2, 1]
        """
    )
    kwargs = spec.fit_kwargs()
    assert kwargs["priors"]["upper_xi"] == Prior("Normal", mu=0.2, sigma=0.3)
    assert kwargs["priors"]["bin_probs"] == Prior("Dirichlet", a=0.5)
    assert kwargs["threshold_priors"] == {"upper": [1.0, 2.0, 1.0]}
    assert kwargs["upper_threshold"] == [5.0, 10.0, 20.0]


def test_single_number_is_read_as_a_list():
    spec = loads_spec('[data]\ndataset = "danish"\n[report]\nreturn_periods = 100\nexceedance = 50')
    assert spec.report.return_periods == (100.0,)
    assert spec.report.exceedance == (50.0,)


@pytest.mark.parametrize("name", ["danish.toml", "rain.toml"])
def test_to_toml_round_trips(name):
    spec = load_spec(MODELS / name)
    again = loads_spec(spec.to_toml("a comment\nover two lines"), source="copy.toml")
    assert again.to_dict() == spec.to_dict()
    assert again.priors == spec.priors


def test_to_toml_keeps_an_absolute_data_path(folder, tmp_path_factory):
    spec = load_spec(write(folder, CSV_SPEC))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    copy = elsewhere / "copy.toml"
    copy.write_text(spec.to_toml(), encoding="utf-8")
    again = load_spec(copy)
    assert again.data.path == spec.data.path
    assert again.to_dict() == spec.to_dict()


def test_with_sampler_overrides_and_checks():
    spec = load_spec(MODELS / "danish.toml")
    quick = spec.with_sampler(draws=300, chains=2, random_seed=5)
    assert (quick.sampler.draws, quick.sampler.chains, quick.sampler.random_seed) == (300, 2, 5)
    assert quick.sampler.tune == spec.sampler.tune
    assert spec.sampler.draws == 1000  # the original is unchanged
    with pytest.raises(SpecError, match=r"\[sampler\] draws must be a positive integer, got 0$"):
        spec.with_sampler(draws=0)


def test_load_data_rejects_non_numeric_values(folder):
    spec = load_spec(write(folder, CSV_SPEC.replace('column = "value"', 'column = "label"')))
    with pytest.raises(DataError, match=r"column 'label' has 50 value\(s\) that are not numbers"):
        spec.load_data()


def test_check_data_false_skips_the_file(folder):
    text = CSV_SPEC.replace('path = "data.csv"', 'path = "moved.csv"')
    with pytest.raises(SpecError, match="no file"):
        load_spec(write(folder, text))
    spec = load_spec(write(folder, text), check_data=False)
    assert spec.data.path.name == "moved.csv"


# ----------------------------------------------------------------------------- mistakes

DANISH = '[data]\ndataset = "danish"\n'

MISTAKES = {
    "unknown section": (
        DANISH + "[smapler]\ndraws = 5",
        "unknown section [smapler]; did you mean 'sampler'?",
    ),
    "unknown key": (
        DANISH + "[sampler]\ndraw = 5",
        "[sampler] unknown key 'draw'; did you mean 'draws'? (valid keys: name, draws, tune, chains, "
        "random_seed)",
    ),
    "top-level key": (DANISH.replace("[data]", "draws = 5\n[data]"), "unknown top-level key 'draws'"),
    "section not a table": ('data = "danish"', "[data] must be a table"),
    "wrong type": (
        DANISH + '[sampler]\ndraws = "1000"',
        '[sampler] draws must be a positive integer, got "1000" (a string)',
    ),
    "float for an integer": (
        DANISH + "[sampler]\nchains = 4.0",
        "[sampler] chains must be a positive integer, got 4.0 (a float; write it without a decimal point)",
    ),
    "bad value": (DANISH + "[sampler]\ndraws = -5", "[sampler] draws must be a positive integer, got -5"),
    "bad choice": (
        DANISH + '[model]\ntails = "uper"',
        '[model] tails must be one of "both", "upper", "lower", got "uper"; did you mean \'upper\'?',
    ),
    "unknown sampler": (
        DANISH + '[sampler]\nname = "stan"',
        '[sampler] name must be one of "auto", "nutpie"',
    ),
    "unknown family": (DANISH + '[model]\nfamily = "spb"', '[model] family must be one of "sbp"'),
    "probability out of range": (
        DANISH + "[report]\nci_prob = 1.5",
        "[report] ci_prob must be a probability strictly between 0 and 1, got 1.5",
    ),
    "bad list entry": (
        DANISH + "[report]\nquantiles = [0.5, 1.0]",
        "[report] quantiles must be a list of probabilities in (0, 1), got [0.5, 1.0]",
    ),
    "threshold of wrong type": (
        DANISH + '[model]\nupper_threshold = "high"',
        "[model] upper_threshold must be a number (fixed threshold) or a list of numbers (candidates), "
        'got "high" (a string)',
    ),
    "candidates not increasing": (
        DANISH + "[model]\nupper_threshold = [10.0, 5.0]",
        "[model] upper_threshold must be a strictly increasing list of numbers, got [10.0, 5.0]",
    ),
    "threshold of an absent tail": (
        DANISH + '[model]\ntails = "upper"\nlower_threshold = 1.5',
        '[model] lower_threshold is set but tails = "upper" has no lower tail',
    ),
    "bound on a modelled tail": (
        DANISH + "[model]\nlower_bound = 0.0",
        "[model] lower_bound applies only to a side without a tail",
    ),
    "unknown dataset": (
        '[data]\ndataset = "danis"',
        '[data] dataset must be one of "danish", "rain", got "danis"; did you mean \'danish\'?',
    ),
    "dataset and path": (
        '[data]\ndataset = "danish"\npath = "data.csv"',
        "[data] dataset and path are both set",
    ),
    "no data": ('[data]\nunits = "mm"', "[data] needs dataset"),
    "no data section": ("[sampler]\ndraws = 10", "missing section [data]"),
    "missing file": ('[data]\npath = "nope.csv"\ncolumn = "value"', "[data] path: no file "),
    "missing column": (
        '[data]\npath = "data.csv"\ncolumn = "vlaue"',
        "[data] column 'vlaue' is not in data.csv; did you mean 'value'? (columns: day, value, label)",
    ),
    "missing time column": (
        '[data]\npath = "data.csv"\ncolumn = "value"\ntime_column = "date"',
        "[data] time_column 'date' is not in data.csv",
    ),
    "path without column": ('[data]\npath = "data.csv"', "[data] column is missing"),
    "unknown prior": (
        DANISH + '[priors.upper_ksi]\ndist = "Normal"',
        "unknown prior [priors.upper_ksi]; did you mean 'upper_xi'?",
    ),
    "prior without dist": (DANISH + "[priors.upper_xi]\nmu = 0.0", "[priors.upper_xi] dist is missing"),
    "unknown distribution": (
        DANISH + '[priors.upper_xi]\ndist = "Normall"',
        "[priors.upper_xi] dist: Unknown prior distribution 'Normall'",
    ),
    "misspelt prior parameter": (
        DANISH + '[priors.upper_xi]\ndist = "Normal"\nmu = 0.0\nsgima = 0.5',
        "[priors.upper_xi] sgima is not a parameter of Normal; did you mean 'sigma'?",
    ),
    "invalid prior parameter": (
        DANISH + '[priors.upper_sigma]\ndist = "LogNormal"\nmu = 0.0\nsigma = -1.0',
        "[priors.upper_sigma] LogNormal(mu=0.0, sigma=-1.0) is not a valid distribution",
    ),
    "prior of an absent tail": (
        DANISH + '[model]\ntails = "upper"\n[priors.lower_xi]\ndist = "Normal"',
        '[priors.lower_xi] is a prior of the lower tail, but [model] tails = "upper"',
    ),
    "body prior not Dirichlet": (
        DANISH + '[priors.bin_probs]\ndist = "Normal"',
        '[priors.bin_probs] must be {dist = "Dirichlet", a = <positive number>}',
    ),
    "negative threshold weights": (
        DANISH + "[threshold_priors]\nupper = [1, -1]",
        '[threshold_priors] upper must be the string "uniform" or a list of non-negative weights',
    ),
    "weights for given candidates": (
        DANISH + "[model]\nupper_threshold = [5.0, 10.0]\n[threshold_priors]\nupper = [1, 1, 1]",
        "[threshold_priors] upper has 3 weights but [model] upper_threshold gives 2 candidate(s)",
    ),
    "report tail not modelled": (
        DANISH + '[model]\ntails = "upper"\n[report]\ntail = "lower"',
        '[report] tail = "lower" is not modelled',
    ),
    "not TOML": (DANISH + "[sampler\ndraws = 5", "not valid TOML: "),
}


@pytest.mark.parametrize("text, expected", list(MISTAKES.values()), ids=list(MISTAKES))
def test_mistakes_give_one_line_naming_file_and_key(folder, text, expected):
    path = write(folder, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_bad_value_message_is_exactly_one_line():
    with pytest.raises(SpecError) as caught:
        loads_spec(DANISH + "[sampler]\ndraws = -5", source="models/x.toml")
    assert str(caught.value) == "models/x.toml: [sampler] draws must be a positive integer, got -5"


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match=r"nothing\.toml: no such spec file$"):
        load_spec(tmp_path / "nothing.toml")


# ----------------------------------------------------------------------------- dynamic models

DYNAMIC_SPEC = """
[study]
name = "dynamic study"
[data]
path = "data.csv"
column = "value"
time_column = "day"
[model]
family = "sbp"
tails = "upper"
bins = 12
[dynamic]
lags = 2
seasonal_period = 7
harmonics = 2
covariates = ["temperature"]
tail_block_size = 20
[sampler]
draws = 200
[report]
unusual = 3
"""


@pytest.fixture
def dynamic_folder(tmp_path):
    """data.csv with columns day, value, temperature, label for dynamic specs."""
    n = 50
    pd.DataFrame(
        {
            "day": np.arange(n),
            "value": np.sin(np.arange(n)),
            "temperature": np.cos(np.arange(n) / 3),
            "label": ["a"] * n,
        }
    ).to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def test_paper_synthetic_spec_is_a_dynamic_sbp_of_the_benchmark_series():
    from benchmarks.paper_pp_mae import make_data

    spec = load_spec(MODELS / "paper_synthetic.toml")
    assert spec.is_dynamic and spec.model.family == "sbp"
    assert (spec.dynamic.seasonal_period, spec.dynamic.harmonics, spec.dynamic.lags) == (100.0, 1, 0)
    frame = spec.load_data()
    train, _ = make_data(0, test_sets=0)  # the benchmark reads its seed-0 series from the file
    assert list(frame.columns) == ["value"] and frame.index.name == "t"
    # Exact: both are the same file read by the same code in this process (one source).
    np.testing.assert_array_equal(frame.index, train.index)
    np.testing.assert_array_equal(frame["value"], train.to_numpy())


def test_paper_synthetic_file_is_the_generator_of_seed_0_up_to_rounding():
    from benchmarks.paper_pp_mae import bundled_train, generated_train

    stored, regenerated = bundled_train(), generated_train(0)
    np.testing.assert_array_equal(stored.index, regenerated.index)
    # Not bit for bit: sin, log and expm1 round differently (a few ulp, ~1e-15 at these
    # magnitudes, |x| < 13) on processors with other SIMD features or libm; 1e-13 leaves
    # room for ~50 ulp. A wrong seed, stream, formula or order of draws moves values by
    # 0.01 to 10, which this still catches (the last line shows it does for seed 1).
    np.testing.assert_allclose(regenerated.to_numpy(), stored.to_numpy(), rtol=1e-13, atol=1e-13)
    assert np.abs(stored.to_numpy()).max() < 13  # the magnitude the tolerance assumes
    assert not np.allclose(generated_train(1).to_numpy(), stored.to_numpy(), rtol=1e-13, atol=1e-13)


def test_dynamic_spec_reads_features_and_gives_fit_dynamic_its_options(dynamic_folder):
    from sbp_bayes.dynamic import fit_dynamic

    spec = load_spec(write(dynamic_folder, DYNAMIC_SPEC))
    assert spec.is_dynamic
    assert spec.family.fit_function() is fit_dynamic
    kwargs = spec.fit_kwargs()
    assert set(kwargs) <= set(inspect.signature(fit_dynamic).parameters), set(kwargs)
    assert kwargs["covariates"] == ["temperature"] and kwargs["target"] == "value"
    assert (kwargs["lags"], kwargs["seasonal_period"], kwargs["harmonics"]) == (2, 7.0, 2)
    assert (kwargs["tails"], kwargs["bins"], kwargs["tail_block_size"], kwargs["draws"]) == (
        "upper",
        12,
        20,
        200,
    )
    assert (spec.report.unusual, spec.report.ci_prob) == (3, 0.95)
    frame = spec.load_data()
    assert list(frame.columns) == ["value", "temperature"]  # the label column is not read
    assert frame.index.name == "day" and frame.index[4] == 4
    again = loads_spec(spec.to_toml("copy"), source="copy.toml")
    assert again.to_dict() == spec.to_dict() and again.dynamic == spec.dynamic


def test_dynamic_defaults_and_a_bundled_dataset():
    spec = loads_spec('[data]\ndataset = "danish"\n[dynamic]\n')
    assert spec.is_dynamic and spec.dynamic.lags == 0 and spec.dynamic.covariates == ()
    assert spec.model.options == {"tails": "both", "bins": 30}
    frame = spec.load_data()
    assert list(frame.columns) == ["loss"] and spec.fit_kwargs()["target"] == "loss"
    assert "dynamic" in spec.to_dict()  # an empty [dynamic] is written back
    assert loads_spec(spec.to_toml()).is_dynamic


DYNAMIC_MISTAKES = {
    "unknown key": (("lags = 2", "lagz = 2"), "[dynamic] unknown key 'lagz'; did you mean 'lags'?"),
    "missing covariate column": (
        ('["temperature"]', '["temprature"]'),
        "[dynamic] covariates 'temprature' is not in data.csv; did you mean 'temperature'? "
        "(columns: day, value, temperature, label)",
    ),
    "covariate is the data column": (('["temperature"]', '["value"]'), "[dynamic] covariates 'value' is the"),
    "covariate twice": (
        ('["temperature"]', '["temperature", "temperature"]'),
        "[dynamic] covariates names the column 'temperature' twice",
    ),
    "covariates not names": (
        ('["temperature"]', "[1, 2]"),
        "[dynamic] covariates must be a list of column names",
    ),
    "wrong type": (("lags = 2", "lags = 2.5"), "[dynamic] lags must be a non-negative integer, got 2.5"),
    "bad body": (("lags = 2", 'body = "logits"'), '[dynamic] body must be one of "location_scale", "logit"'),
    "tail share out of range": (
        ("lags = 2", "tail_share = 0.7"),
        "[dynamic] tail_share must be a number in (0, 0.5)",
    ),
    "harmonics without period": (
        ("seasonal_period = 7\n", ""),
        "[dynamic] harmonics is set but seasonal_period",
    ),
    "static model key": (
        ("bins = 12", "bins = 12\nn_candidates = 5"),
        "[model] unknown key 'n_candidates' for a dynamic sbp model: it applies to static models "
        "(valid keys: family, tails, bins)",
    ),
    "bin edges": (("bins = 12", "bins = [0.0, 1.0]"), "[model] bins must be a positive integer"),
    "static family": (('family = "sbp"', 'family = "pot_gpd"'), "for a dynamic model ([dynamic] section)"),
    "tails of a histogram": (('family = "sbp"', 'family = "binned"'), 'it applies to family "sbp"'),
    "block size of a regression": (
        ('family = "sbp"\ntails = "upper"\nbins = 12', 'family = "normal"'),
        '[dynamic] tail_block_size applies to family "sbp", not to [model] family = "normal"',
    ),
    "static report key": (
        ("unusual = 3", "quantiles = [0.99]"),
        "[report] quantiles applies to static models",
    ),
    "threshold priors": (
        ("[sampler]", '[threshold_priors]\nupper = "uniform"\n[sampler]'),
        "[threshold_priors] does not apply to a dynamic model",
    ),
}


@pytest.mark.parametrize("change, expected", list(DYNAMIC_MISTAKES.values()), ids=list(DYNAMIC_MISTAKES))
def test_dynamic_mistakes_give_one_line_naming_file_and_key(dynamic_folder, change, expected):
    old, new = change
    assert old in DYNAMIC_SPEC
    path = write(dynamic_folder, DYNAMIC_SPEC.replace(old, new))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_dynamic_covariate_of_a_bundled_dataset_is_refused():
    with pytest.raises(SpecError, match=r"\[dynamic\] covariates need a CSV \[data\] path"):
        loads_spec('[data]\ndataset = "danish"\n[dynamic]\ncovariates = ["x"]')


def test_cluster_adjustment_is_a_model_key_that_reaches_the_fit():
    """``[model] cluster_adjustment`` passes to :func:`sbp_bayes.fit`, whose fit records it;
    a misspelt value is named with the allowed ones and the closest."""
    spec = loads_spec(
        '[data]\ndataset = "rain"\n[model]\ntails = "upper"\nlower_bound = 0.0\n'
        'cluster_adjustment = "extremal_index"\n[sampler]\ndraws = 50\nchains = 2\nrandom_seed = 1'
    )
    assert spec.fit_kwargs()["cluster_adjustment"] == "extremal_index"
    fitted = spec.fit()
    assert fitted.config["cluster_adjustment"] == "extremal_index"
    with pytest.raises(SpecError, match=r"cluster_adjustment must be one of .*did you mean 'extremal_index'"):
        loads_spec('[data]\ndataset = "rain"\n[model]\ncluster_adjustment = "extremal"')
