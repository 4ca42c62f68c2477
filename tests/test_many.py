"""Many series on a real Dask cluster (:mod:`sbp_bayes.many`).

One ``distributed.LocalCluster`` of 2 single-threaded worker processes serves the module:
each worker compiles the model once (tens of seconds), then every series costs about a
second (200 points, 2 chains x 100 draws: short runs whose diagnostics fail, which is
not what is tested here). The worker-killing test runs last, because the worker that
replaces the killed one compiles again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sbp_bayes
from sbp_bayes.many import ManyFitError, fit_many, read_store, series_seed, store_key

distributed = pytest.importorskip("distributed")

#: The same model structure in every test (one compilation per worker): upper tail,
#: threshold prior over the default 10 candidates.
OPTIONS = {"tails": "upper", "draws": 100, "tune": 100, "chains": 2, "random_seed": 2026}
POINTS = 200


def mixed_series(n: int, rng) -> dict[str, np.ndarray]:
    """``n`` series of ``POINTS`` points from six different distributions."""
    makers = [
        lambda size: stats.t.rvs(3, size=size, random_state=rng),
        lambda size: stats.lognorm.rvs(0.8, size=size, random_state=rng),
        lambda size: stats.gamma.rvs(2.0, size=size, random_state=rng),
        lambda size: stats.gumbel_r.rvs(size=size, random_state=rng),
        lambda size: stats.genpareto.rvs(0.3, size=size, random_state=rng),
        lambda size: stats.norm.rvs(10.0, 2.0, size=size, random_state=rng),
    ]
    return {f"series {j:02d}": makers[j % len(makers)](POINTS) for j in range(n)}


def long_frame(series: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gauge": np.concatenate([[name] * len(values) for name, values in series.items()]),
            "flow": np.concatenate(list(series.values())),
        }
    )


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    with cluster, distributed.Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def mixed_run(client, tmp_path_factory):
    """24 series: 22 of six distributions, one constant, one of 10 points."""
    series = mixed_series(22, np.random.default_rng(15))
    series["constant"] = np.full(POINTS, 3.5)
    series["too short"] = np.random.default_rng(1).standard_t(3, size=10)
    store = tmp_path_factory.mktemp("mixed") / "store"
    table = fit_many(
        long_frame(series),
        series="gauge",
        value="flow",
        store=store,
        client=client,
        return_periods=(100,),
        exceedance=(5.0,),
        **OPTIONS,
    )
    return series, store, table


def test_mixed_series_are_all_recorded(mixed_run):
    series, store, table = mixed_run
    assert list(table.index) == list(series)  # every series exactly once, in input order
    assert table.index.name == "gauge"
    assert (table.status == "fitted").sum() == 22
    failed = table[table.status == "failed"]
    assert sorted(failed.index) == ["constant", "too short"]
    assert "All 200 data values are equal" in failed.loc["constant", "reason"]
    assert "10 observations are too few" in failed.loc["too short", "reason"]
    assert failed.fit_path.isna().all()
    # One record and one fit per fitted series in the store, nothing else.
    assert len(list((store / "records").glob("*.json"))) == 24
    assert len(list((store / "fits").glob("*.nc"))) == 22
    assert not list(store.rglob("*.tmp"))
    # Both workers took part.
    assert table.worker_pid.nunique() == 2
    # The stored table is the returned one.
    pd.testing.assert_frame_equal(
        read_store(store).loc[list(series)].drop(columns="fit_path"),
        table.drop(columns="fit_path").rename_axis("series"),
        check_dtype=False,
    )


def test_summaries_match_the_saved_fit(mixed_run):
    _series, _store, table = mixed_run
    row = table.loc["series 04"]  # a GPD(0.3) series
    fit = sbp_bayes.load(row.fit_path)
    xi = fit.posterior["upper_xi"].values.ravel()
    assert row.upper_xi_median == pytest.approx(np.median(xi), rel=1e-12)
    assert row.upper_xi_ci_lower == pytest.approx(np.quantile(xi, 0.025), rel=1e-12)
    var = fit.value_at_risk([0.99], ci_prob=0.95).iloc[0]
    assert row["var_0.99_median"] == pytest.approx(var["median"], rel=1e-12)
    level = fit.return_levels([100], 1.0, ci_prob=0.95).iloc[0]
    # A 100-observation return level is the 99% quantile: the VaR at 0.99.
    assert row.return_level_100_median == pytest.approx(level["median"], rel=1e-12)
    assert row.return_level_100_median == pytest.approx(row["var_0.99_median"], rel=1e-9)
    assert (
        0
        < row.exceedance_prob_5_ci_lower
        <= row.exceedance_prob_5_median
        <= row.exceedance_prob_5_ci_upper
        < 1
    )
    assert row.verdict in ("passed", "failed") and row.n_observations == POINTS


def test_results_equal_a_serial_loop(mixed_run, client):
    """A plain loop of ``sbp_bayes.fit`` with the series' seeds, run inside one worker
    process (where the model is compiled already), gives the same draws: bit for bit for
    the series that worker fitted in the run; for those the other worker fitted, the
    same posterior up to Monte Carlo error. (A process's compiled model keeps the
    initial-point function of the data it was first compiled on, so draws depend on
    which series a process compiled first; the posterior does not.)"""
    series, _store, table = mixed_run
    options = {key: value for key, value in OPTIONS.items() if key != "random_seed"}
    names = ["series 00", "series 01", "series 07", "series 12", "series 13", "series 20"]
    seeds = {name: series_seed(OPTIONS["random_seed"], name) for name in names}
    assert all(table.loc[name, "seed"] == seeds[name] for name in names)

    def serial_loop(data, seeds, options):
        import os

        import sbp_bayes

        out = {}
        for name, values in data.items():
            fit = sbp_bayes.fit(values, random_seed=seeds[name], progressbar=False, **options)
            out[name] = {v: fit.posterior[v].values for v in ("upper_xi", "upper_sigma", "upper_threshold")}
        return os.getpid(), out

    pid = int(table.loc["series 00", "worker_pid"])
    address = next(address for address, worker_pid in client.run(os.getpid).items() if worker_pid == pid)
    loop_pid, serial = client.submit(
        serial_loop, {name: series[name] for name in names}, seeds, options, workers=[address], pure=False
    ).result()
    assert loop_pid == pid
    same_worker = 0
    for name in names:
        stored = sbp_bayes.load(table.loc[name, "fit_path"])
        np.testing.assert_array_equal(stored.data.to_numpy(), series[name])  # the data, as data
        if table.loc[name, "worker_pid"] == pid:
            same_worker += 1
            for variable, draws in serial[name].items():
                np.testing.assert_array_equal(stored.posterior[variable].values, draws)
        else:
            for variable in ("upper_xi", "upper_sigma"):
                ours, theirs = stored.posterior[variable].values, serial[name][variable]
                # Standard error of a difference of two posterior means from ~100 effective draws each.
                tolerance = 5 * np.sqrt(2 * ours.var() / 100)
                assert abs(ours.mean() - theirs.mean()) < tolerance, (name, variable)
    assert same_worker >= 1


def test_interrupted_driver_rerun_fits_only_what_is_missing(client, tmp_path):
    series = mixed_series(6, np.random.default_rng(7))
    store = tmp_path / "store"
    seen = []

    def interrupt(progress):
        seen.append(progress)
        if progress.done >= 2:
            raise KeyboardInterrupt  # what Ctrl-C does to the driver

    with pytest.raises(KeyboardInterrupt):
        fit_many(series, store=store, client=client, progress=interrupt, **OPTIONS)
    assert seen[-1].done == 2 and seen[-1].remaining == 4

    # A task already running when the driver stopped finishes and is recorded: wait for
    # the workers to be idle, so that the store no longer changes.
    def executing(dask_worker):
        return len(dask_worker.state.executing)

    deadline = time.monotonic() + 120
    while sum(client.run(executing).values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    before = {path.name: path.read_text() for path in (store / "records").glob("*.json")}
    assert 2 <= len(before) < 6

    resumed = []
    table = fit_many(series, store=store, client=client, progress=resumed.append, **OPTIONS)
    assert list(table.index) == list(series) and (table.status == "fitted").all()
    assert resumed[-1].skipped == len(before) and resumed[-1].done == 6
    assert len(resumed) == 6 - len(before)  # one progress call per series fitted now
    for name, text in before.items():  # finished series were not refitted
        assert (store / "records" / name).read_text() == text

    # A third run has nothing to do, and a run with other settings is refused.
    assert fit_many(series, store=store, client=client, **OPTIONS).equals(table)
    with pytest.raises(ManyFitError, match="other settings"):
        fit_many(series, store=store, client=client, **{**OPTIONS, "draws": 200})


def test_a_killed_worker_loses_nothing(client, tmp_path):
    series = mixed_series(8, np.random.default_rng(8))
    store = tmp_path / "store"
    pids = client.run(os.getpid)
    nannies = {nanny.worker_address: nanny for nanny in client.cluster.workers.values()}
    killed = {}

    def kill_a_busy_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = {worker: keys for worker, keys in client.processing().items() if keys}
            if busy and (store / "records").is_dir() and list((store / "records").glob("*.json")):
                worker, keys = next(iter(busy.items()))
                killed.update(pid=pids[worker], keys=list(keys))
                # The machine is gone for good: its nanny does not start a new worker
                # (which would compile the model again before taking work).
                nannies[worker].close_gracefully(reason="test: machine lost")
                os.kill(pids[worker], signal.SIGKILL)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    table = fit_many(series, store=store, client=client, **OPTIONS)
    killer.join()
    assert killed, "no worker was killed: the test did not test anything"
    assert list(table.index) == list(series)
    assert (table.status == "fitted").all()
    records = [json.loads(path.read_text()) for path in (store / "records").glob("*.json")]
    assert sorted(record["series"] for record in records) == sorted(series)
    # The series the killed worker was fitting were fitted again by another process.
    lost = [key for key in killed["keys"] if any(store_key(name) in key for name in series)]
    assert lost
    for name in series:
        if any(store_key(name) in key for key in lost):
            assert table.loc[name, "worker_pid"] != killed["pid"]


def test_bad_input_is_refused_before_any_work(tmp_path):
    frame = pd.DataFrame({"series": ["a", "a"], "value": [1.0, 2.0]})
    with pytest.raises(ManyFitError, match=r"column\(s\) 'flow' not in the frame"):
        fit_many(frame, value="flow", store=tmp_path / "s")
    with pytest.raises(ManyFitError, match="unexpected keyword argument 'draw'"):
        fit_many(frame, store=tmp_path / "s", draw=10)
    with pytest.raises(ManyFitError, match="sets 'progressbar' itself"):
        fit_many(frame, store=tmp_path / "s", progressbar=True)
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------- spec and command line

MANY_SPEC = """
[study]
name = "gauges"

[data]
path = "gauges.csv"
column = "flow"
series_column = "gauge"

[model]
tails = "upper"

[sampler]
draws = 100
tune = 100
chains = 2
random_seed = 5

[report]
return_periods = [100]
var_levels = [0.99]
es_levels = []
"""


def write_many_spec(folder, text=MANY_SPEC, series=None):
    series = series if series is not None else mixed_series(3, np.random.default_rng(3))
    long_frame(series).to_csv(folder / "gauges.csv", index=False)
    (folder / "gauges.toml").write_text(text)
    return folder / "gauges.toml"


def test_many_series_spec(tmp_path):
    from sbp_bayes.spec import SpecError, load_spec, loads_spec

    spec = load_spec(write_many_spec(tmp_path))
    assert spec.is_many and spec.data.series_column == "gauge"
    frame = spec.load_many()
    assert list(frame.columns) == ["gauge", "flow"] and frame.gauge.nunique() == 3
    assert 'series_column = "gauge"' in spec.to_toml()
    with pytest.raises(SpecError, match="fit it with 'sbp-bayes fit-many'"):
        spec.load_data()
    csv = 'path = "gauges.csv"\ncolumn = "flow"\n'
    bad = {
        'dataset = "danish"\nseries_column = "gauge"': "series_column applies to a CSV path",
        csv + 'series_column = "site"': "series_column 'site' is not in gauges.csv",
        csv + 'series_column = "gauge"\ntime_column = "t"': "time_column applies",
        csv + 'series_column = "flow"': "name the same column",
        csv + 'series_column = "gauge"\n[dynamic]': "static models only",
    }
    for data, message in bad.items():
        with pytest.raises(SpecError, match=message):
            loads_spec(f"[data]\n{data}\n", base_dir=tmp_path)
    # The example spec: 12 series, and its TOML copy reads back the same.
    example = load_spec(Path(__file__).resolve().parents[1] / "models" / "many_gauges.toml")
    assert example.is_many and example.load_many().gauge.nunique() == 12
    assert loads_spec(example.to_toml(), source="copy.toml").to_dict() == example.to_dict()


def test_fit_many_command_line_errors(tmp_path, capsys, monkeypatch):
    from sbp_bayes import cli, many

    monkeypatch.setattr(many, "CONNECT_TIMEOUT_S", 2)

    spec = write_many_spec(tmp_path)
    assert cli.main(["fit", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "describes many series" in capsys.readouterr().err
    single = tmp_path / "single.toml"
    single.write_text('[data]\ndataset = "danish"\n')
    assert cli.main(["fit-many", str(single), "--out", str(tmp_path / "out")]) == 2
    assert "has no series_column" in capsys.readouterr().err
    text = (tmp_path / "gauges.csv").read_text().replace("\n", "\nsite 9,oops\n", 1)
    (tmp_path / "gauges.csv").write_text(text)
    assert cli.main(["fit-many", str(spec), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "value(s) that are not numbers (first 'oops' on line 2)" in error and "Traceback" not in error
    spec = write_many_spec(tmp_path)
    nowhere = ["--scheduler", "tcp://127.0.0.1:9"]
    assert cli.main(["fit-many", str(spec), "--out", str(tmp_path / "o"), *nowhere]) == 2
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


def test_fit_many_command_line(client, tmp_path, capsys):
    from sbp_bayes import cli

    series = mixed_series(3, np.random.default_rng(3))
    series["flat"] = np.zeros(POINTS)
    spec = write_many_spec(tmp_path, series=series)
    out = tmp_path / "out"
    command = ["fit-many", str(spec), "--out", str(out), "--scheduler", client.scheduler.address]
    assert cli.main(command) == 0
    captured = capsys.readouterr()
    assert "4/4 done (1 failed, 0 from the store), 0 remaining" in captured.err
    assert "4 series: 3 fitted" in captured.out and "- failed: flat: DataError: All 200" in captured.out
    summary = pd.read_csv(out / "summary.csv", index_col="gauge")
    assert list(summary.index) == list(series)
    assert {"return_level_100_median", "var_0.99_ci_upper", "upper_xi_ci_lower"} <= set(summary.columns)
    markdown = (out / "summary.md").read_text()
    assert "4 series: 3 fitted" in markdown and "| series 00 | fitted |" in markdown
    assert "random_seed = 5" in (out / "spec.toml").read_text()
    # Rerun: everything comes from the store.
    assert cli.main(command) == 0
    assert "4/4 done (1 failed, 4 from the store)" in capsys.readouterr().err


def test_an_embedded_cluster_starts_while_port_8787_is_taken(tmp_path):
    """Two clusters at once (two fit-many runs, two test workers): the embedded cluster's
    scheduler must not claim the fixed port 8787, which another one may hold (distributed
    then warns that the port is taken, an error under warnings-as-errors)."""
    import socket

    with socket.socket() as holder:
        try:
            holder.bind(("", 8787))
            holder.listen()
        except OSError:
            pass  # already taken by another process: the case under test either way
        series = {"one": np.random.default_rng(3).standard_t(4, POINTS)}
        table = fit_many(series, store=tmp_path / "store", n_workers=1, **OPTIONS)
    assert table["status"].tolist() == ["fitted"]
