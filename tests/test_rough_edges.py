"""Rough edges of reports and messages, each seen in a real run, each pinned by a test.

They run on the bundled example fit (:func:`sbp_bayes.datasets.load_example_fit`: the
Danish losses, upper tail, 4 chains x 250 draws), so none of them samples.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import sbp_bayes
from sbp_bayes import cli, datasets, plots, render, render_compare, spec
from sbp_bayes.fit import SBPFit
from sbp_bayes.model import DataError, make_design, prepare_data


@pytest.fixture(scope="module")
def example():
    return datasets.load_example_fit()


def with_posterior(fit, posterior: xr.Dataset, **config) -> SBPFit:
    """A copy of ``fit`` with other posterior draws (and configuration entries)."""
    idata = fit.idata.copy()
    idata["posterior"] = xr.DataTree(posterior)
    return SBPFit(idata, fit.data, fit.design, {**fit.config, **config}, fit.version)


def drawn_extents(fig: Figure):
    """The figure's box and the boxes of every title, axis label and legend (pixels)."""
    canvas = FigureCanvasAgg(fig)  # figures made outside pyplot have no drawing canvas yet
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [fig._suptitle] if fig._suptitle is not None else []
    legends = []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            legends.append((ax, ax.get_legend().get_window_extent(renderer)))
    boxes = [text.get_window_extent(renderer) for text in texts if text.get_text()]
    return fig.bbox, boxes + [box for _, box in legends], legends


def inside(outer, box, tolerance=1.0) -> bool:
    return (
        box.x0 >= outer.x0 - tolerance
        and box.x1 <= outer.x1 + tolerance
        and box.y0 >= outer.y0 - tolerance
        and box.y1 <= outer.y1 + tolerance
    )


# ----------------------------------------------------------------------------- expected shortfall note


def test_es_note_states_the_same_share_as_infinite_fraction(example):
    """1 infinite draw in 2000 is 0.05%: the note once said '0.1%' beside 0.0005."""
    post = example.idata["posterior"].to_dataset()
    doubled = xr.concat([post, post.assign_coords(chain=post["chain"] + post.sizes["chain"])], dim="chain")
    xi = np.minimum(doubled["upper_xi"].values.copy(), 0.9)
    xi.reshape(-1)[17] = 1.3  # no finite mean in exactly one draw
    fit = with_posterior(example, doubled.assign(upper_xi=(("chain", "draw"), xi)))
    assert fit.n_draws == 2000
    row = fit.expected_shortfall([0.99]).loc[0.99]
    assert row["infinite_fraction"] == 0.0005
    assert "infinite in 1 of 2000 draws" in row["note"]
    stated = float(re.search(r"\(([0-9.]+)%", row["note"]).group(1))
    assert stated == pytest.approx(100 * row["infinite_fraction"])


# ----------------------------------------------------------------------------- one interval level


def test_every_interval_is_95_percent_and_says_so(example):
    text = repr(example)
    xi = example.idata["posterior"]["upper_xi"].values
    low, high = np.quantile(xi, [0.025, 0.975])
    assert f"95% interval {low:.3g} to {high:.3g}" in text
    summary = example.summary()
    assert {"eti95_lb", "eti95_ub"} <= set(summary.columns)
    assert summary.loc["upper_xi", "eti95_lb"] == pytest.approx(low)
    for table in (example.tail_quantiles([0.99]), example.return_levels([10]), example.value_at_risk([0.99])):
        assert (table["ci_prob"] == 0.95).all()


def test_interval_columns_cannot_be_read_as_tails(example):
    """A ``tail`` column saying "lower" stood beside interval columns named lower/upper."""
    tables = {
        "tail_quantiles": example.tail_quantiles([0.99]),
        "return_levels": example.return_levels([10]),
        "exceedance_probability": example.exceedance_probability([50.0]),
        "value_at_risk": example.value_at_risk([0.99]),
        "expected_shortfall": example.expected_shortfall([0.99]),
        "score": example.score([2.0, 80.0]),
        "tail_shape_posterior": example.tail_shape_posterior(),
    }
    for name, table in tables.items():
        columns = set(table.columns)
        assert not columns & {"lower", "upper"}, name
        assert {"median", "ci_lower", "ci_upper"} <= columns, name
        assert (table["ci_lower"] <= table["median"]).all() and (table["median"] <= table["ci_upper"]).all()
    assert {"sigma_ci_lower", "sigma_ci_upper"} <= set(tables["tail_shape_posterior"].columns)
    assert {"tail_probability_ci_lower", "tail_probability_ci_upper"} <= set(tables["score"].columns)


# ----------------------------------------------------------------------------- figures


def test_return_level_axis_says_years_when_the_table_does(example):
    per_year = example.data.attrs["observations_per_year"]
    table = example.return_levels([10, 100])
    assert table.attrs["observations_per_period"] == per_year
    # The report passes the rate on explicitly; the axis must still say years.
    fig = plots.plot_return_levels(example, observations_per_period=per_year)
    assert fig.axes[0].get_xlabel() == "return period (years)"
    other = plots.plot_return_levels(example, observations_per_period=50)
    assert other.axes[0].get_xlabel() == "return period (periods of 50 observations)"


def test_trace_of_a_discrete_threshold_is_not_a_kde(example):
    fig = plots.plot_trace(example)
    candidates = np.unique(example.idata["posterior"]["upper_threshold"].values)
    (threshold_axes,) = [ax for ax in fig.axes if ax.get_xlabel() == "upper_threshold"]
    for line in threshold_axes.lines:
        # An ECDF of a variable on a few candidates takes at most one level per candidate
        # (and 0); a KDE would take a new value at every grid point.
        assert np.unique(np.round(line.get_ydata(), 12)).size <= candidates.size + 1
    assert "ECDF" in fig.get_suptitle()
    continuous = plots.plot_trace(example, ["upper_xi"])
    assert "KDE" in continuous.get_suptitle()


def test_two_tail_shape_figure_keeps_titles_and_legends_inside(example):
    post = example.idata["posterior"].to_dataset()
    two_tails = with_posterior(
        example,
        post.assign(lower_xi=post["upper_xi"] * 0.3 - 0.1),
        priors={**example.config["priors"], "lower_xi": example.config["priors"]["upper_xi"]},
    )
    fig = plots.plot_tail_shape(two_tails)
    assert [ax.get_title() for ax in fig.axes] == [
        "lower tail shape, posterior vs prior",
        "upper tail shape, posterior vs prior",
    ]
    figure_box, boxes, legends = drawn_extents(fig)
    assert all(inside(figure_box, box) for box in boxes), "a title, label or legend is cut off"
    for ax, legend in legends:  # a legend beside its panel, over no other panel
        for other in fig.axes:
            if other is not ax:
                assert not legend.overlaps(other.get_window_extent()), "a legend spills over a panel"


def test_comparison_legend_covers_no_bar():
    table = pd.DataFrame(
        {
            "elpd_loo": [-100.0, -130.0, -131.0],
            "elpd_diff": [0.0, -30.0, -31.0],
            "dse": [0.0, 6.0, 6.5],
            "pp_mae_lower_tail": [0.01, 0.05, 0.06],
            "pp_mae_base": [0.02, 0.1, 0.12],
            "pp_mae_upper_tail": [0.01, 0.04, 0.05],
            "pp_mae_full": [0.015, 0.08, 0.09],
        },
        index=pd.Index(["sbp", "normal", "binned"], name="model"),
    )
    fig = plots.plot_comparison(table)
    figure_box, boxes, legends = drawn_extents(fig)
    assert all(inside(figure_box, box) for box in boxes)
    renderer = fig.canvas.get_renderer()  # the Agg canvas drawn_extents attached
    for ax, legend in legends:
        bars = [patch.get_window_extent(renderer) for patch in ax.patches]
        assert bars and not any(legend.overlaps(bar) for bar in bars), "the legend covers a bar"


# ----------------------------------------------------------------------------- compare's verdict


def _comparison_table(upper_tail_mae):
    return pd.DataFrame(
        {
            "family": ["sbp", "normal"],
            "test_elpd": [-1.50, -1.62],
            "test_crps": [0.40, 0.41],
            "pp_mae_lower_tail": [0.020, 0.030],
            "pp_mae_upper_tail": upper_tail_mae,
        },
        index=pd.Index(["a", "b"], name="model"),
    )


def test_compare_names_no_best_lower_tail_when_none_is_modelled(example, tmp_path):
    path = render_compare.write_comparison(
        _comparison_table([0.010, 0.020]), {"a": example, "b": example}, tmp_path
    )
    text = path.read_text(encoding="utf-8")
    assert "Best calibrated lower tail" not in text
    assert "No model has a lower tail" in text
    assert "Best calibrated upper tail (PP-MAE at levels above 0.95): **a** (0.01)" in text


def test_compare_reports_a_displayed_tie_as_a_tie(example, tmp_path):
    # 0.0061204 and 0.00612 both read 0.00612 in the table.
    path = render_compare.write_comparison(
        _comparison_table([0.0061204, 0.00612]), {"a": example, "b": example}, tmp_path
    )
    text = path.read_text(encoding="utf-8")
    assert "upper tail (PP-MAE at levels above 0.95): a tie between **a** and **b** (0.00612)" in text


def test_stub_fits_without_tails_are_not_credited_with_one():
    normal = SimpleNamespace(family="normal", _sides=list)
    binned = SimpleNamespace(family="binned", _sides=list)
    assert render_compare._modelled_tails({"n": normal}) == {"lower", "upper"}
    assert render_compare._modelled_tails({"b": binned}) == set()


# ----------------------------------------------------------------------------- a quick look


@pytest.fixture
def cheap_plots(monkeypatch):
    """Every figure an empty one: these tests are about the report's words."""

    def cheap(*args, **kwargs):
        figure = Figure()
        figure.subplots()
        return figure

    for name in plots.__all__:
        if name.startswith("plot_"):
            monkeypatch.setattr(plots, name, cheap)


def test_a_quick_report_is_marked_not_final(example, tmp_path, cheap_plots):
    marked = cli._marked_quick(example)
    assert marked.config["quick"] is True and "quick" not in example.config  # the original is untouched
    text = render.write_report(marked, None, tmp_path).read_text(encoding="utf-8")
    first, second = text.split("\n\n")[:2]
    assert first == "# loss (quick look, not final)"
    assert second.startswith("**Quick look, not final results.**")
    assert "Return levels (periods in years, 197 observations a year)" in text
    full = render.write_report(example, None, tmp_path / "full").read_text(encoding="utf-8")
    assert "quick look" not in full.lower()


def test_the_quick_mark_survives_save_and_load(example, tmp_path):
    path = cli._marked_quick(example).save(tmp_path / "fit.nc")
    assert render.quick_look_notice(sbp_bayes.load(path)) is not None


# ----------------------------------------------------------------------------- refused before sampling


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"draws": 0}, r"draws must be a positive integer \(draws kept per chain, e.g. 1000\); got 0"),
        ({"chains": 0}, "chains must be a positive integer"),
        ({"tune": -1}, "tune must be a non-negative integer"),
        ({"draws": 2.5}, "draws must be a positive integer"),
    ],
)
def test_impossible_sampler_settings_fail_before_sampling(monkeypatch, settings, message):
    import sys

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before the settings were checked")

    # Neither NUTS nor the default fit's quadrature may start before the settings are checked.
    monkeypatch.setattr(sys.modules["sbp_bayes.fit"], "sample", no_sampling)
    monkeypatch.setattr(sys.modules["sbp_bayes.families.sbp"], "weigh_candidates", no_sampling)
    with pytest.raises(ValueError, match=message):
        sbp_bayes.fit(np.arange(200.0), **settings)


def test_dynamic_and_pooled_fits_refuse_them_too():
    series = pd.Series(np.random.default_rng(3).standard_t(4, 300))
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        sbp_bayes.fit_dynamic(series, lags=1, draws=0)
    frame = pd.DataFrame({"series": np.repeat(["a", "b"], 150), "value": series.to_numpy()})
    with pytest.raises(ValueError, match="chains must be a positive integer"):
        sbp_bayes.fit_pooled(frame, chains=0)


# ----------------------------------------------------------------------------- messages


def test_messages_say_an_upper_tail():
    with pytest.raises(DataError, match="too few for an upper tail"):
        make_design(np.random.default_rng(0).standard_t(3, 40), tails="upper")
    with pytest.raises(DataError, match="too few for a lower tail"):
        make_design(np.random.default_rng(0).standard_t(3, 40), tails="lower")
    with pytest.raises(sbp_bayes.InvalidParameterError, match="without an upper tail"):
        sbp_bayes.sbp(bin_edges=[0.0, 1.0], bin_probs=[1.0], upper_tail_prob=0.1, upper_xi=0.2)


def test_positions_in_the_data_count_from_zero_and_say_so():
    with pytest.raises(DataError, match=r"first at position\(s\) 2, counting from 0"):
        prepare_data(np.array([1.0, 2.0, np.nan, 3.0]))


def _csv_study(folder, cells, model=""):
    # Two columns, as real files have: an empty cell is then "3,", not a blank line.
    lines = ["day,loss"] + [f"{day},{cell}" for day, cell in enumerate(cells, start=1)]
    (folder / "data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "study.toml"
    path.write_text(
        f'[data]\npath = "data.csv"\ncolumn = "loss"\n[model]\ntails = "upper"\n{model}', encoding="utf-8"
    )
    return path


@pytest.mark.parametrize("marker", ["n/a", "NA", "NaN", "null", "inf"])
def test_text_in_a_csv_is_named_with_its_row_not_read_as_nan(tmp_path, marker):
    values = [1.5, 2.0, marker, *np.linspace(3.0, 60.0, 50)]
    study = spec.load_spec(_csv_study(tmp_path, values))
    with pytest.raises(DataError) as caught:
        study.load_data()
    message = str(caught.value)
    # "inf" is read as a float by the CSV parser, the other markers stay text: both are named.
    shown = "inf" if marker == "inf" else repr(marker)
    assert f"first {shown} in data row 3, line 4 of the file" in message
    assert "1 value(s) that are not numbers" in message


def test_an_empty_cell_suggests_the_spec_key(tmp_path, capsys):
    values = [1.5, 2.0, "", *np.linspace(3.0, 60.0, 50)]
    study = _csv_study(tmp_path, values)
    assert cli.main(["fit", str(study), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 empty cell(s) (first in data row 3, line 4 of the file)" in error
    assert 'set nan_policy = "omit" in [model]' in error
    assert "nan_policy='omit'" not in error
    # With the key set, the gap is kept as NaN for the fit to leave out.
    omitting = spec.load_spec(_csv_study(tmp_path, values, 'nan_policy = "omit"\n'))
    loaded = omitting.load_data()
    assert loaded.isna().sum() == 1 and len(loaded) == 53


def test_python_advice_is_retold_in_spec_words():
    keys = spec.FAMILIES["sbp"].model_keys
    message = (
        "The data contain 1 NaN value(s). Remove them, or pass nan_policy='omit' to drop them explicitly."
    )
    assert spec.spec_advice(message, keys) == (
        'The data contain 1 NaN value(s). Remove them, or set nan_policy = "omit" in [model] to drop them '
        "explicitly."
    )
    assert (
        spec.spec_advice("fit without it (tails='upper').", keys)
        == 'fit without it (tails = "upper" in [model]).'
    )
    assert spec.spec_advice("pass thin=4 or more.", keys) == "pass thin=4 or more."  # not a spec key


def test_a_missing_sampler_is_advised_in_command_line_words(tmp_path, capsys, monkeypatch):
    import sys

    def missing(name):
        raise ImportError(
            f"sampler={name!r} needs the package 'jax', which is not installed. Install it "
            "(pip install 'sbp_bayes[numpyro]' for numpyro) or use sampler='pymc'."
        )

    monkeypatch.setattr(sys.modules["sbp_bayes.sampling"], "check_sampler", missing)
    monkeypatch.setattr(sys.modules["sbp_bayes.fit"], "check_sampler", missing)
    study = _csv_study(tmp_path, np.linspace(1.0, 60.0, 60))
    assert cli.main(["fit", str(study), "--out", str(tmp_path / "out"), "--sampler", "numpyro"]) == 2
    error = capsys.readouterr().err
    assert 'use --sampler pymc (or name = "pymc" in [sampler])' in error
    assert "sampler='pymc'" not in error
