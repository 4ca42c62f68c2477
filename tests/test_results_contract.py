"""One result contract and one file format for every kind of fit (sbp_bayes.results,
sbp_bayes.persistence), and the package's import graph.

Every kind — the static SBP, each baseline family, the dynamic model with either body,
the pooled model — is fitted once, tiny (2 chains of 100 draws on a few hundred points;
the compiled models are those other test modules use, kept in memory and on disk), then
saved and reloaded through :func:`sbp_bayes.load` and asked the questions of the
contract. The logit-body dynamic fit is made by hand from draws near a known process
(its sampling is covered by tests/test_dynamic.py); every other fit is sampled.
"""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import sbp_bayes
from sbp_bayes import persistence
from sbp_bayes.diagnostics import DiagnosticsReport
from sbp_bayes.families import FAMILIES
from sbp_bayes.persistence import KIND_ATTR, VERSION_ATTR, FitFileError
from sbp_bayes.results import CALIBRATION_NAMES, SCORE_COLUMNS, FitResult
from tests.test_cli_dynamic import logit_innovations

PACKAGE = Path(sbp_bayes.__file__).resolve().parent
TINY = {"draws": 100, "tune": 100, "chains": 2, "progressbar": False}
BASELINES = [name for name in FAMILIES if name != "sbp"]
#: Options a baseline needs besides the data (fixed thresholds where the family has them).
FAMILY_OPTIONS = {
    "gpd_normal_gpd": {"lower_threshold": -1.5, "upper_threshold": 1.5},
    "pot_gpd": {"upper_threshold": 1.5},
    "sbp_continuous": {"bins": 20},
}
CASES = ["sbp", *BASELINES, "dynamic_location_scale", "dynamic_logit", "pooled"]
KIND_OF = {"dynamic_location_scale": "dynamic", "dynamic_logit": "dynamic", "pooled": "pooled"}


def _ar1(n: int, rng) -> np.ndarray:
    """``y_t = 1 + 0.8 y_{t-1} + e_t``, Student-t(4) innovations (tests/test_dynamic.py's process)."""
    y, previous = np.empty(n), 5.0
    for t, e in enumerate(stats.t.rvs(4.0, size=n, random_state=rng)):
        previous = y[t] = 1.0 + 0.8 * previous + e
    return y


def _long(n_points: int, rng) -> pd.DataFrame:
    """Four GPD series in long format (the shape of tests/test_pooled.py's data)."""
    frames = [
        pd.DataFrame(
            {"series": f"s{j}", "value": stats.genpareto.rvs(xi, scale=s, size=n_points, random_state=rng)}
        )
        for j, (xi, s) in enumerate([(0.1, 1.0), (0.2, 2.0), (0.3, 0.5), (0.25, 1.0)])
    ]
    return pd.concat(frames, ignore_index=True)


class Cases:
    """Each case's ``(fit, test_data)``, made the first time a test asks for it."""

    def __init__(self, student_t_fit):
        self.student_t_fit = student_t_fit
        self.made = {}

    def __getitem__(self, name):
        if name not in self.made:
            self.made[name] = self._make(name)
        return self.made[name]

    def _make(self, name):
        rng = np.random.default_rng(list(CASES).index(name))
        if name == "sbp":  # the session's SBP fit of 2000 Student-t(3) draws
            return self.student_t_fit, rng.standard_t(3, size=200)
        if name in BASELINES:
            data = rng.standard_t(3, size=400)
            fit = sbp_bayes.fit(data, family=name, random_seed=1, **FAMILY_OPTIONS.get(name, {}), **TINY)
            return fit, rng.standard_t(3, size=200)
        if name == "dynamic_location_scale":
            # 600 points, one lag, both tails, 30 bins: the structure of tests/test_dynamic.py's fit.
            y = pd.Series(_ar1(800, rng), name="y")
            fit = sbp_bayes.fit_dynamic(y.iloc[:600], lags=1, tails="both", random_seed=5, **TINY)
            return fit, y.iloc[600:]
        if name == "dynamic_logit":
            fit = logit_innovations(300, 0.0, rng)
            test = pd.Series(rng.standard_t(4, size=100), index=300.0 + np.arange(100), name="innovation")
            return fit, test
        data = _long(150, rng)
        fit = sbp_bayes.fit_pooled(data, random_seed=2, **TINY)
        return fit, _long(50, rng)


@pytest.fixture(scope="module")
def cases(student_t_fit) -> Cases:
    return Cases(student_t_fit)


def _assert_same_draws(loaded, original) -> None:
    assert type(loaded) is type(original) and loaded.kind == original.kind
    assert loaded.config == original.config
    posterior = original.idata["posterior"]
    assert set(loaded.idata["posterior"].data_vars) == set(posterior.data_vars)
    for name, values in posterior.data_vars.items():
        np.testing.assert_array_equal(loaded.idata["posterior"][name].values, values.values)
    inner = getattr(original, "innovations", None)
    if inner is not None:
        _assert_same_draws(loaded.innovations, inner)


# ----------------------------------------------------------------------------- one file format


@pytest.mark.parametrize("case", CASES)
def test_every_kind_saves_and_reloads_through_one_loader(cases, case, tmp_path):
    fit, test = cases[case]
    path = sbp_bayes.save(fit, tmp_path / "fit.nc")
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        assert tree.attrs[KIND_ATTR] == fit.kind == KIND_OF.get(case, "static")
        assert tree.attrs[VERSION_ATTR] == str(fit.version)
    loaded = sbp_bayes.load(path)
    _assert_same_draws(loaded, fit)
    assert sbp_bayes.load(fit.save(tmp_path / "again.nc"), kind=fit.kind).kind == fit.kind
    pd.testing.assert_frame_equal(pd.DataFrame(loaded.data), pd.DataFrame(fit.data), check_freq=False)
    # The reloaded fit answers as the original.
    pd.testing.assert_frame_equal(loaded.score(test), fit.score(test), check_freq=False)
    other = next(kind for kind in persistence.KINDS if kind != fit.kind)
    with pytest.raises(FitFileError, match=f"holds a {fit.kind} fit, not a {other} one"):
        sbp_bayes.load(path, kind=other)


def test_a_two_stage_fit_is_saved_without_temporary_files(cases, tmp_path, monkeypatch):
    """The static innovations of a location-scale fit are a group of the same file."""
    fit, _ = cases["dynamic_location_scale"]

    def refuse(*args, **kwargs):
        raise AssertionError("a temporary file was made")

    for name in ("TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    path = fit.save(tmp_path / "fit.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        assert tree["innovations"].attrs[KIND_ATTR] == "static"
    _assert_same_draws(sbp_bayes.load(path), fit)


@pytest.mark.parametrize("case", ["dynamic_location_scale", "pooled"])
def test_files_without_kind_and_version_attributes_still_load(cases, case, tmp_path):
    """The first formats had only each kind's metadata key (a dynamic fit's static
    innovations a group with the static key): such files load as before."""
    fit, _ = cases[case]
    tree = fit.to_datatree()
    for node in tree.subtree:
        node.attrs = {k: v for k, v in node.attrs.items() if k not in (KIND_ATTR, VERSION_ATTR)}
    tree.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    _assert_same_draws(sbp_bayes.load(tmp_path / "old.nc"), fit)


def test_files_of_another_origin_or_a_newer_version_are_refused(tmp_path):
    example = sbp_bayes.datasets.load_example_fit()
    # The bundled example was written before files named their kind: it loads as static.
    with xr.open_datatree(PACKAGE / "datasets" / "danish_fit.nc", engine="h5netcdf") as tree:
        assert KIND_ATTR not in tree.attrs
    assert example.kind == "static"
    tree = example.to_datatree()
    tree.attrs[VERSION_ATTR] = "999.0"
    tree.to_netcdf(tmp_path / "newer.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match=r"written by sbp_bayes 999\.0, newer than this sbp_bayes"):
        sbp_bayes.load(tmp_path / "newer.nc")
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match="is not a fit saved by sbp_bayes"):
        sbp_bayes.load(tmp_path / "other.nc")
    (tmp_path / "text.nc").write_text("not netCDF")
    with pytest.raises(FitFileError, match="not a netCDF file"):
        sbp_bayes.load(tmp_path / "text.nc")
    with pytest.raises(ValueError, match="kind must be one of"):
        sbp_bayes.load(tmp_path / "newer.nc", kind="stationary")


# ----------------------------------------------------------------------------- one contract


@pytest.mark.parametrize("case", CASES)
def test_every_kind_answers_the_contract_with_the_same_columns(cases, case):
    fit, test = cases[case]
    assert isinstance(fit, FitResult) and fit.kind == KIND_OF.get(case, "static")
    assert isinstance(fit.family, str)
    assert set(fit.sides) <= {"lower", "upper"} and list(fit.sides) == sorted(fit.sides)
    summary = fit.summary()
    assert {"mean", "sd", "ess_bulk", "r_hat"} <= set(summary.columns) and len(summary) > 0
    report = fit.check(warn=False)
    assert isinstance(report, DiagnosticsReport)
    assert {"r_hat", "ess_bulk", "ess_tail", "passed"} <= set(report.table.columns)

    in_sample = fit.predictive()
    assert in_sample.batch_shape == (fit.n_draws, len(fit.score()))
    ahead = fit.predictive(test, thin=2)
    n_test = len(test)
    assert ahead.batch_shape == (len(range(0, fit.n_draws, 2)), n_test)

    scores = fit.score(test)
    assert tuple(scores.columns) == SCORE_COLUMNS and len(scores) == n_test
    values = scores["value"].to_numpy()
    # The table's percentile is the predictive's mixture CDF (two computations for a static fit).
    np.testing.assert_allclose(scores["pit"], fit.predictive(test).mixture_cdf(values), rtol=1e-9, atol=1e-12)
    assert ((scores.pit >= 0) & (scores.pit <= 1)).all()

    calibration = fit.calibration(test, random_seed=0)
    assert tuple(calibration.index) == CALIBRATION_NAMES
    assert np.isfinite(calibration[[name for name in CALIBRATION_NAMES if name.startswith("pp_mae")]]).all()
    assert calibration["crps"] > 0
    log_density = fit.predictive(test).log_density(values)
    assert calibration["log_score"] == pytest.approx(np.mean(log_density), rel=1e-12)
    # The PP-MAE is that of the predictive percentiles of the test values.
    expected = sbp_bayes.pp_mae(values, cdf_fn=lambda _observed: scores["pit"].to_numpy())
    np.testing.assert_allclose(calibration.iloc[:4].to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_a_static_predictive_is_the_distribution_of_every_draw(student_t_fit):
    """``(draws, observations)``: column ``i`` of a static fit's predictive is
    :meth:`SBPFit.distribution` evaluated at observation ``i``."""
    values = np.array([-8.0, 0.0, 0.5, 12.0])
    predictive = student_t_fit.predictive(values)
    dist = student_t_fit.distribution()
    np.testing.assert_allclose(predictive.cdf(values), dist.cdf(values[:, None]).T, rtol=1e-12)
    np.testing.assert_allclose(predictive.sf(values), dist.sf(values[:, None]).T, rtol=1e-12)
    draws = predictive.rvs(random_state=1)
    assert draws.shape == (student_t_fit.n_draws, values.size)
    with pytest.raises(ValueError, match=r"one value per observation: shape \(4,\)"):
        predictive.cdf(values[:3])


# ----------------------------------------------------------------------------- the import graph


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules) -> list[tuple[str, str]]:
    """``(imported module, imported name or "")`` of every import in the module, at any depth
    (imports inside functions count: they make the same knot, only later)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "sbp_bayes"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "sbp_bayes":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, "") if submodule in modules else (base, alias.name))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return components


def test_the_package_has_no_import_cycle():
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        graph[name] |= {
            module for module, _ in _imports(name, path, modules) if module in modules and module != name
        }
    assert _cycles(graph) == []


def _private_imports(name: str) -> list[str]:
    modules = _modules()
    return [
        f"{name} imports {imported}.{what}"
        for imported, what in _imports(name, modules[name], modules)
        if what.startswith("_") and not what.startswith("__") and imported != name
    ]


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_imports_a_private_name_of_another(module):
    assert _private_imports(module) == []
