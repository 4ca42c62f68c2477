"""Many independent fits on a Dask cluster, with every finished series kept on disk.

:func:`fit_many` fits one model per series of a long-format table (a ``series`` column
and a ``value`` column) with :func:`sbp_bayes.fit`, spreading the series over the
workers of a :mod:`distributed` cluster: an embedded ``LocalCluster`` sized to the
machine (one single-threaded process per core) or any cluster you already run (a
``distributed.Client`` or the scheduler's address).

Nothing is lost
    Each series is written to the *store* (a folder) the moment its fit ends: the fit as
    ``fits/<key>.nc`` (:meth:`SBPFit.save`) and a small JSON record
    ``records/<key>.json`` with its status, reason, diagnostics verdict, tail summaries
    and tail answers. Both are written to a temporary name and renamed
    (:func:`os.replace`), so a file in the store is always complete. Rerunning with the
    same store fits only the series without a record (or whose data changed). A series
    that cannot be fitted (bad data, a sampler error) gets a record with status
    ``"failed"`` and the reason; it is never dropped. A worker that dies mid-fit has its
    series rescheduled on another worker by Dask; every series appears exactly once in
    the result, which is read back from the store.

Compiled once per worker
    A worker is a long-lived process, and :func:`sbp_bayes.fit` keeps the compiled
    sampler of each model structure in the process: the first series of a structure
    on a worker pays the compilation (tens of seconds), the others only sample. Each
    task carries its series' values as a numpy array, never a closure over the table.

Reproducible
    Series ``name`` is fitted with the seed :func:`series_seed` ``(random_seed, name)``:
    the same result whichever worker fits it, in whatever order, and the same as
    ``sbp_bayes.fit(values, random_seed=series_seed(random_seed, name), ...)`` in a
    plain loop.

For a cluster of several machines the store must be a folder every worker and the
client see at the same path (a shared file system), and ``sbp_bayes`` must be installed
on the workers.

Examples
--------
>>> import numpy as np, pandas as pd, sbp_bayes
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"gauge": np.repeat(["a", "b"], 500),
...                       "flow": rng.standard_t(4, size=1000)})
>>> table = sbp_bayes.fit_many(frame, series="gauge", value="flow", store="/tmp/store",
...                            tails="upper", draws=300, tune=300, chains=2,
...                            random_seed=1)  # doctest: +SKIP
>>> table[["status", "verdict", "upper_xi_median", "var_0.99_median"]]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import secrets
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    # fitting
    "ManyFitError",
    "Progress",
    "fit_many",
    # the store and its summary
    "read_store",
    "series_seed",
    "store_key",
    "summary_markdown",
]

#: Version of the store layout (``manifest.json``, ``records/``, ``fits/``).
STORE_FORMAT = 1
#: How often a series is resubmitted after Dask gave up on it because the workers
#: fitting it kept dying (each submission already survives several worker deaths).
KILLED_WORKER_RESUBMITS = 1
#: Tasks in flight per worker thread: enough to keep every worker busy between the
#: client's submissions, few enough that the data of 10^5 series never sit in the
#: scheduler at once.
IN_FLIGHT_PER_THREAD = 4
#: How long to try to reach a scheduler given by its address.
CONNECT_TIMEOUT_S = 20
#: Options of :func:`sbp_bayes.fit` that fit_many sets itself.
_RESERVED_FIT_OPTIONS = ("data", "progressbar")


class ManyFitError(ValueError):
    """Bad input to :func:`fit_many` (columns, options, or a store made with other options)."""


@dataclass(frozen=True)
class Progress:
    """Where a :func:`fit_many` run stands, handed to its ``progress`` callback after
    each series.

    ``done`` counts the series with a record (fitted or failed, in this run or found in
    the store), ``failed`` those of them that failed, ``skipped`` those found in the store
    at the start; ``rate_per_min`` is the series finished per minute in this run, and
    ``eta_s`` the seconds left at that rate (``nan`` before the first one).
    """

    total: int
    done: int
    failed: int
    skipped: int
    elapsed_s: float
    rate_per_min: float
    eta_s: float

    @property
    def remaining(self) -> int:
        return self.total - self.done

    def __str__(self) -> str:
        eta = "unknown" if not np.isfinite(self.eta_s) else _duration(self.eta_s)
        rate = "-" if not np.isfinite(self.rate_per_min) else f"{self.rate_per_min:.3g}"
        return (
            f"{self.done}/{self.total} done ({self.failed} failed, {self.skipped} from the store), "
            f"{self.remaining} remaining, {rate} series/min, time left {eta}"
        )


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- names and seeds


def series_seed(random_seed: int, name) -> int:
    """The sampler seed of series ``name`` in a run with base seed ``random_seed``.

    It depends on the base seed and the series name only (not on the order of the
    series or on which worker fits it), so a series is fitted identically in a loop,
    on any cluster, and when it is refitted after an interruption.

    Examples
    --------
    >>> series_seed(1, "gauge 7") == series_seed(1, "gauge 7") != series_seed(2, "gauge 7")
    True
    >>> series_seed(1, "gauge 7")
    1756309163
    """
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return int(np.random.SeedSequence([int(random_seed), *words]).generate_state(1)[0])


def store_key(name) -> str:
    """The file name (without suffix) of series ``name`` in a store: its name with
    characters other than letters, digits, ``.``, ``-`` and ``_`` replaced, cut to 60
    characters, and a hash of the full name, so that distinct names never share a file.

    Examples
    --------
    >>> store_key("river gauge/7")
    'river_gauge_7-beca606d98'
    """
    text = str(name)
    slug = re.sub(r"[^\w.-]+", "_", text).strip("_.")[:60] or "series"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"


def _data_hash(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="float64").tobytes()).hexdigest()


def _json_name(name):
    """A series name as JSON keeps it (strings and numbers as they are, the rest as text)."""
    if isinstance(name, np.generic):
        name = name.item()
    return name if isinstance(name, (str, int, float)) and not isinstance(name, bool) else str(name)


# ----------------------------------------------------------------------------- the store


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "to_config"):  # a Prior
        return value.to_config()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} into the store's manifest")


def _write_record(store: Path, record: dict) -> None:
    _atomic_write_text(
        store / "records" / f"{record['key']}.json", json.dumps(record, default=_json_default, indent=1)
    )


def read_store(store) -> pd.DataFrame:
    """Every series recorded in a store, as :func:`fit_many` returns them (one row per
    series, in the order of their keys), whether or not the run that wrote them ended.

    Examples
    --------
    >>> read_store("/no/such/store")
    Traceback (most recent call last):
    ...
    sbp_bayes.many.ManyFitError: /no/such/store: no such store (make one with sbp_bayes.fit_many)
    """
    store = Path(store)
    if not (store / "records").is_dir():
        raise ManyFitError(f"{store}: no such store (make one with sbp_bayes.fit_many)")
    records = {}
    for path in sorted((store / "records").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        records[record["key"]] = record
    return _table(list(records.values()), store)


def _read_records(store: Path) -> dict[str, dict]:
    records = {}
    for path in (store / "records").glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable (cannot happen with atomic writes, but never trust a disk): refit
        records[record.get("key", path.stem)] = record
    return records


def _open_store(store: Path, manifest: dict) -> dict:
    """Create the store, or check that an existing one was made with the same options
    (results of different settings must not mix); returns its manifest."""
    (store / "records").mkdir(parents=True, exist_ok=True)
    (store / "fits").mkdir(exist_ok=True)
    path = store / "manifest.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("random_seed") is not None and manifest["random_seed"] is None:
            manifest = {**manifest, "random_seed": old["random_seed"]}
        comparable = json.loads(json.dumps(manifest, default=_json_default))
        different = sorted(key for key in set(old) | set(comparable) if old.get(key) != comparable.get(key))
        if different:
            raise ManyFitError(
                f"{store} holds fits made with other settings ({', '.join(different)} differ: "
                f"stored {_short({k: old.get(k) for k in different})}, now "
                f"{_short({k: comparable.get(k) for k in different})}); use another store folder, "
                "or the same settings to complete the stored run."
            )
        return old
    if manifest["random_seed"] is None:
        # Recorded, so that a rerun without a seed completes this run with the same seeds.
        manifest = {**manifest, "random_seed": secrets.randbelow(2**31)}
    _atomic_write_text(path, json.dumps(manifest, default=_json_default, indent=1))
    return json.loads(json.dumps(manifest, default=_json_default))


def _short(value) -> str:
    text = json.dumps(value, default=_json_default)
    return text if len(text) <= 200 else text[:197] + "..."


# ----------------------------------------------------------------------------- one series (on a worker)


def _quantiles(draws: np.ndarray, ci_prob: float) -> tuple[float, float, float]:
    draws = np.asarray(draws, dtype=float).reshape(-1)
    low, high = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    median, lower, upper = np.quantile(draws, [0.5, low, high])
    return float(median), float(lower), float(upper)


def _summaries(fit, answers: dict) -> tuple[dict, list[str]]:
    """Tail parameter and threshold summaries and the tail answers of one fit, as flat
    columns ``<quantity>_median/_lower/_upper``; and notes on answers that do not apply."""
    ci_prob, tail = answers["ci_prob"], answers["tail"]
    posterior = fit.posterior
    row, notes = {}, []
    for side in ("lower", "upper"):
        for name in ("xi", "sigma", "threshold", "tail_prob"):
            variable = f"{side}_{name}"
            if variable in posterior:
                median, lower, upper = _quantiles(posterior[variable].values, ci_prob)
                row |= {
                    f"{variable}_median": median,
                    f"{variable}_ci_lower": lower,
                    f"{variable}_ci_upper": upper,
                }

    def add(prefix: str, make: Callable[[], pd.DataFrame], labels: Sequence) -> None:
        if not len(labels):
            return
        try:
            table = make()
        except (ValueError, RuntimeError) as error:
            notes.append(f"{prefix}: {' '.join(str(error).split())}")
            return
        for label, (_, line) in zip(labels, table.iterrows(), strict=True):
            for column in ("median", "ci_lower", "ci_upper"):
                row[f"{prefix}_{label:g}_{column}"] = float(line[column])

    options = {"tail": tail, "ci_prob": ci_prob, "ci_kind": "eti"}
    periods = answers["return_periods"]
    add(
        "return_level",
        lambda: fit.return_levels(periods, answers["observations_per_period"], **options),
        periods,
    )
    add("var", lambda: fit.value_at_risk(answers["var_levels"], **options), answers["var_levels"])
    add("es", lambda: fit.expected_shortfall(answers["es_levels"], **options), answers["es_levels"])
    add(
        "exceedance_prob",
        lambda: fit.exceedance_probability(answers["exceedance"], **options),
        answers["exceedance"],
    )
    return row, notes


def _fit_and_record(
    name,
    values: np.ndarray,
    *,
    store: str,
    record_key: str,
    seed: int,
    data_hash: str,
    fit_options: dict,
    answers: dict,
) -> dict:
    """Fit one series, write its fit and record to the store atomically, return the record.

    Runs on a worker. Every exception of the fit is caught and recorded: a failing series
    is an answer, not a crash of the run."""
    from sbp_bayes.fit import fit as fit_series

    store = Path(store)
    key = record_key
    started = time.perf_counter()
    record = {
        "key": key,
        "series": _json_name(name),
        "status": "failed",
        "reason": "",
        "n_observations": int(np.size(values)),
        "seed": seed,
        "data_sha256": data_hash,
        "verdict": None,
        "fit_path": None,
        "worker_pid": os.getpid(),
    }
    for logger in ("pymc", "pymc.sampling.mcmc", "pymc.stats.convergence"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # What a warning would say ends up in the record (diagnostics, notes).
            warnings.simplefilter("ignore")
            series = pd.Series(values, name=str(name))
            fit = fit_series(series, random_seed=seed, progressbar=False, **fit_options)
            record["fit_seconds"] = time.perf_counter() - started
            diagnostics = fit.check(warn=False)
            fit_path = store / "fits" / f"{key}.nc"
            temporary = fit_path.with_name(f".{fit_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            fit.save(temporary)
            os.replace(temporary, fit_path)
            row, notes = _summaries(fit, answers)
        table = diagnostics.table
        record |= {
            "status": "fitted",
            "verdict": "passed" if diagnostics.passed else "failed",
            "reason": " ".join(diagnostics.problems),
            "max_r_hat": float(table.r_hat.max()) if len(table) else float("nan"),
            "min_ess_bulk": float(table.ess_bulk.min()) if len(table) else float("nan"),
            "min_ess_tail": float(table.ess_tail.min()) if len(table) else float("nan"),
            "divergences": int(diagnostics.divergences),
            "fit_path": str(fit_path.relative_to(store)),
            "notes": " ".join(notes),
            **row,
        }
        if answers["require_convergence"] and not diagnostics.passed:
            record["status"] = "failed"
            record["reason"] = "did not converge: " + record["reason"]
    except Exception as error:  # every failure is recorded with its reason
        record["reason"] = f"{type(error).__name__}: {' '.join(str(error).split())}"
    record["seconds"] = time.perf_counter() - started
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_record(store, record)
    return record


# ----------------------------------------------------------------------------- the run


def _split_series(frame, series: str, value: str) -> list[tuple[object, np.ndarray]]:
    """``[(name, float values)]`` in the order the series first appear."""
    if isinstance(frame, Mapping):
        out = []
        for name, values in frame.items():
            array = np.asarray(values)
            if array.ndim != 1:
                raise ManyFitError(
                    f"series {name!r}: values must be one-dimensional, got shape {array.shape}"
                )
            out.append((name, array))
        return out
    if not isinstance(frame, pd.DataFrame):
        raise ManyFitError(
            f"frame must be a long-format pandas DataFrame (a series column and a value column) or a "
            f"mapping of series name to values; got {type(frame).__name__}"
        )
    missing = [column for column in (series, value) if column not in frame.columns]
    if missing:
        raise ManyFitError(
            f"column(s) {', '.join(map(repr, missing))} not in the frame (columns: "
            f"{', '.join(map(str, frame.columns))}); name the series and value columns with "
            "series=... and value=..."
        )
    if frame[series].isna().any():
        row = int(np.flatnonzero(frame[series].isna().to_numpy())[0])
        raise ManyFitError(
            f"the series column {series!r} is empty on row {row}; every row needs a series name"
        )
    return [(name, group.to_numpy()) for name, group in frame.groupby(series, sort=False)[value]]


def _check_fit_options(fit_options: dict) -> None:
    from sbp_bayes.fit import fit

    for name in _RESERVED_FIT_OPTIONS:
        if name in fit_options:
            raise ManyFitError(f"fit_many sets {name!r} itself; leave it out of the fit options")
    try:
        inspect.signature(fit).bind(None, **fit_options)
    except TypeError as error:
        valid = [p for p in inspect.signature(fit).parameters if p not in _RESERVED_FIT_OPTIONS]
        raise ManyFitError(
            f"{error}; the fit options are those of sbp_bayes.fit: {', '.join(valid)}"
        ) from None


def _table(records: list[dict], store: Path, names: Sequence | None = None, index_name: str = "series"):
    frame = pd.DataFrame(records)
    if frame.empty:
        frame = pd.DataFrame(columns=["key", "series", "status", "reason", "verdict", "fit_path"])
    if names is not None:
        frame.index = pd.Index(list(names), name=index_name)
    else:
        frame.index = pd.Index(frame["series"].tolist(), name=index_name)
    frame = frame.drop(columns=["series"])
    frame["fit_path"] = [
        None if path is None or pd.isna(path) else str(store / path) for path in frame["fit_path"]
    ]
    # The same column order whichever series came first: the summaries in the order a
    # fitted record lists them, between the fixed leading and trailing columns.
    fitted = [record for record in records if record.get("status") == "fitted"]
    middle = [c for record in fitted + records for c in record if c not in _LEAD + _TRAIL + ["series"]]
    order = [c for c in _LEAD + list(dict.fromkeys(middle)) + _TRAIL if c in frame]
    frame = frame[order]
    frame.attrs["store"] = str(store)
    return frame


_LEAD = ["status", "reason", "verdict", "n_observations"]
_LEAD += ["max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences"]
_TRAIL = [
    "notes",
    "fit_path",
    "seed",
    "seconds",
    "fit_seconds",
    "worker_pid",
    "finished_at",
    "key",
    "data_sha256",
]


@contextlib.contextmanager
def _connect(client, n_workers: int | None):
    """A ``distributed.Client``: the one given, one connected to an address, or one on an
    embedded ``LocalCluster`` (closed afterwards)."""
    from distributed import Client, LocalCluster

    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, str):
        try:
            connected = Client(client, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ManyFitError(
                f"cannot reach a Dask scheduler at {client!r}: {' '.join(str(error).split())}; start one "
                "(dask scheduler / dask worker) or leave the address out to use an embedded cluster"
            ) from None
        with connected:
            yield connected
        return
    if client is not None:
        raise ManyFitError(
            f"client must be None, a distributed.Client or a scheduler address; got {type(client).__name__}"
        )
    if n_workers is None:
        n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # One single-threaded process per core: fits are CPU-bound Python + numba, which
    # threads of one process would serialise on the GIL between sampler calls.
    try:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            # A port of the system's choosing: with None the scheduler still serves HTTP on
            # 8787 and a second cluster at the same time (two fit-many runs, test workers)
            # warns that the port is taken. The link is client.dashboard_link.
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
    except RuntimeError as error:
        raise ManyFitError(
            f"the embedded Dask cluster did not start ({' '.join(str(error).split())}). Its worker "
            "processes import the main script again: in a script, call fit_many under "
            "`if __name__ == '__main__':`"
        ) from None
    with cluster, Client(cluster, set_as_default=False) as local:
        yield local


def fit_many(
    frame,
    *,
    series: str = "series",
    value: str = "value",
    store,
    client=None,
    n_workers: int | None = None,
    return_periods: Sequence[float] = (),
    observations_per_period: float = 1.0,
    var_levels: Sequence[float] = (0.99,),
    es_levels: Sequence[float] = (0.99,),
    exceedance: Sequence[float] = (),
    tail: str = "upper",
    ci_prob: float = 0.95,
    require_convergence: bool = False,
    retry_failed: bool = False,
    progress: Callable[[Progress], None] | None = None,
    **fit_options,
) -> pd.DataFrame:
    """Fit one model per series on a Dask cluster; keep every finished series on disk.

    Parameters
    ----------
    frame : pandas.DataFrame or mapping
        Long format: one row per observation, the series name in column ``series`` and
        the observation in column ``value``. Or a mapping ``{name: values}``.
    series, value : str
        The column names.
    store : str or Path
        Folder of the results (created): ``records/<key>.json`` and ``fits/<key>.nc``
        per series (:func:`store_key`) and ``manifest.json`` (the settings). A rerun with
        the same store fits only the series it does not hold yet; a store made with other
        settings is refused.
    client : None, distributed.Client or str
        ``None``: an embedded ``distributed.LocalCluster`` of ``n_workers`` processes
        (default: one per usable core), one thread each, closed at the end. A Client, or
        a scheduler address such as ``"tcp://10.0.0.5:8786"``: run on that cluster (the
        store must then be a folder the workers see at the same path).
    n_workers : int, optional
        Workers of the embedded cluster (ignored with a ``client``).
    return_periods : sequence of float
        Return levels to report, periods in units of ``observations_per_period``
        observations (default 1: periods count observations).
    var_levels, es_levels : sequence of float
        Value at risk and expected shortfall levels (default 0.99).
    exceedance : sequence of float
        Values whose exceedance probability is reported.
    tail : {"upper", "lower"}
        The tail the answers are about.
    ci_prob : float
        Equal-tailed credible interval of every ``_lower``/``_upper`` column (0.95).
    require_convergence : bool
        Record a fit whose diagnostics fail as ``"failed"`` (its fit is still saved).
        Default: ``"fitted"`` with ``verdict="failed"`` and the problems as ``reason``.
    retry_failed : bool
        Refit the series the store records as failed.
    progress : callable, optional
        Called with a :class:`Progress` after each finished series.
    **fit_options
        Options of :func:`sbp_bayes.fit` (``family``, ``tails``, ``draws``, ...), the
        same for every series. ``random_seed`` is the base seed (:func:`series_seed`);
        without it one is drawn and recorded in the store.

    Returns
    -------
    pandas.DataFrame
        One row per series (index: the series names, in input order). Columns:
        ``status`` (``"fitted"``/``"failed"``), ``reason`` (why it failed, or the
        diagnostics problems of a fit that did not pass), ``verdict`` (``"passed"``,
        ``"failed"``; empty when not fitted), ``n_observations``; ``max_r_hat``,
        ``min_ess_bulk``, ``min_ess_tail``, ``divergences``; per modelled tail
        ``<side>_xi``, ``<side>_sigma``, ``<side>_threshold``, ``<side>_tail_prob`` each
        as ``_median``/``_lower``/``_upper``; the answers
        ``return_level_<T>_…``, ``var_<level>_…``, ``es_<level>_…``,
        ``exceedance_prob_<x>_…``; ``notes`` (answers that do not apply to the family);
        ``fit_path`` (read with :func:`sbp_bayes.load`), ``seed``, ``seconds`` (the whole
        task) and ``fit_seconds`` (of which the :func:`sbp_bayes.fit` call),
        ``worker_pid``, ``key``, ``data_sha256``, ``finished_at``.

    Raises
    ------
    ManyFitError
        Missing columns, unknown fit options, or a store made with other settings.

    Examples
    --------
    >>> import sbp_bayes
    >>> sbp_bayes.fit_many({"a": [1.0, 2.0]}, store="/tmp/s", draw=10)
    Traceback (most recent call last):
    ...
    sbp_bayes.many.ManyFitError: got an unexpected keyword argument 'draw'; the fit options are ...
    """
    _check_fit_options(fit_options)
    if n_workers is not None and (not isinstance(n_workers, int) or n_workers < 1):
        raise ManyFitError(f"n_workers must be a positive integer, got {n_workers!r}")
    if tail not in ("upper", "lower"):
        raise ManyFitError(f"tail must be 'upper' or 'lower', got {tail!r}")
    if not 0 < ci_prob < 1:
        raise ManyFitError(f"ci_prob must lie in (0, 1), got {ci_prob!r}")
    items = _split_series(frame, series, value)
    names = [name for name, _ in items]
    keys = [store_key(name) for name in names]
    if len(set(keys)) != len(keys):
        raise ManyFitError("two series names give the same store key; make the names distinct as text")
    answers = {
        "return_periods": [float(p) for p in return_periods],
        "observations_per_period": float(observations_per_period),
        "var_levels": [float(v) for v in var_levels],
        "es_levels": [float(v) for v in es_levels],
        "exceedance": [float(v) for v in exceedance],
        "tail": tail,
        "ci_prob": float(ci_prob),
        "require_convergence": bool(require_convergence),
    }
    options = {key: value for key, value in fit_options.items() if key != "random_seed"}
    store = Path(store)
    manifest = _open_store(
        store,
        {
            "format": STORE_FORMAT,
            "fit_options": options,
            "answers": answers,
            "random_seed": fit_options.get("random_seed"),
        },
    )
    base_seed = int(manifest["random_seed"])

    stored = _read_records(store)
    records: dict[str, dict] = {}
    todo = deque()
    for (name, raw), key in zip(items, keys, strict=True):
        values = np.asarray(raw, dtype=float) if np.asarray(raw).dtype.kind in "iufb" else np.asarray(raw)
        data_hash = _data_hash(values) if values.dtype.kind == "f" else "not numeric"
        old = stored.get(key)
        if (
            old is not None
            and old.get("data_sha256") == data_hash
            and not (retry_failed and old.get("status") == "failed")
        ):
            records[key] = old
        else:
            todo.append((name, values, key, data_hash))
    skipped = len(records)
    total = len(items)
    started = time.perf_counter()

    def report() -> None:
        if progress is None:
            return
        elapsed = time.perf_counter() - started
        finished = len(records) - skipped
        rate = finished / elapsed * 60 if finished else float("nan")
        left = total - len(records)
        failed = sum(record.get("status") == "failed" for record in records.values())
        eta = left / rate * 60 if finished else (0.0 if not left else float("nan"))
        progress(Progress(total, len(records), failed, skipped, elapsed, rate, eta))

    if todo:
        with _connect(client, n_workers) as connected:
            _run(connected, todo, records, store, base_seed, options, answers, report)
    else:
        report()
    return _table([records[key] for key in keys], store, names, index_name=series)


def _run(
    client,
    todo: deque,
    records: dict,
    store: Path,
    base_seed: int,
    options: dict,
    answers: dict,
    report: Callable[[], None],
) -> None:
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    threads = sum(client.nthreads().values()) or 1
    limit = max(2, IN_FLIGHT_PER_THREAD * threads)
    in_flight: dict = {}
    resubmits: dict[str, int] = {}
    run_id = uuid.uuid4().hex[:8]
    queue = as_completed(loop=client.loop)

    def submit(item) -> None:
        name, values, key, data_hash = item
        future = client.submit(
            _fit_and_record,
            name,
            values,
            store=str(store.resolve()),
            record_key=key,
            seed=series_seed(base_seed, name),
            data_hash=data_hash,
            fit_options=options,
            answers=answers,
            key=f"sbp-fit-{key}-{run_id}-{resubmits.get(key, 0)}",
            pure=False,
        )
        in_flight[future] = item
        queue.add(future)

    while todo and len(in_flight) < limit:
        submit(todo.popleft())
    try:
        for future in queue:
            item = in_flight.pop(future)
            name, values, key, data_hash = item
            if future.status == "finished":
                records[key] = future.result()
            else:
                try:
                    error = future.exception()
                except FutureCancelledError as cancelled:
                    error = cancelled
                if isinstance(error, KilledWorker) and resubmits.get(key, 0) < KILLED_WORKER_RESUBMITS:
                    resubmits[key] = resubmits.get(key, 0) + 1
                    submit(item)
                    continue
                reason = (
                    "the workers fitting this series died repeatedly (out of memory or a crash of the "
                    "sampler?); fit it alone to see why"
                    if isinstance(error, KilledWorker)
                    else f"{type(error).__name__}: {' '.join(str(error).split())}"
                )
                record = {
                    "key": key,
                    "series": _json_name(name),
                    "status": "failed",
                    "reason": reason,
                    "n_observations": int(np.size(values)),
                    "seed": series_seed(base_seed, name),
                    "data_sha256": data_hash,
                    "verdict": None,
                    "fit_path": None,
                }
                _write_record(store, record)
                records[key] = record
            future.release()
            while todo and len(in_flight) < limit:
                submit(todo.popleft())
            report()
    finally:
        if in_flight:  # interrupted: what finished is in the store; stop the rest
            client.cancel(list(in_flight))


# ----------------------------------------------------------------------------- summary


def _cell(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|")


def summary_markdown(table: pd.DataFrame, *, title: str | None = None, reason_width: int = 90) -> str:
    """The table of :func:`fit_many` as Markdown for people: counts, then one row per
    series with its status, verdict, tail shape and threshold, and each tail answer as
    ``median [lower, upper]``; long reasons are cut to ``reason_width`` characters.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"status": ["fitted", "failed"], "reason": ["", "DataError: too short"],
    ...                       "verdict": ["passed", None], "n_observations": [500, 3],
    ...                       "upper_xi_median": [0.21, None], "upper_xi_ci_lower": [0.1, None],
    ...                       "upper_xi_ci_upper": [0.33, None]}, index=pd.Index(["a", "b"], name="series"))
    >>> print(summary_markdown(table))
    2 series: 1 fitted (1 passed the diagnostics), 1 failed.
    <BLANKLINE>
    | series | status | verdict | n | upper xi | reason |
    |---|---|---|---|---|---|
    | a | fitted | passed | 500 | 0.21 [0.1, 0.33] |  |
    | b | failed |  | 3 |  | DataError: too short |
    <BLANKLINE>
    """
    fitted = int((table.status == "fitted").sum())
    passed = int((table.get("verdict") == "passed").sum()) if "verdict" in table else 0
    lines = [f"# {title}", ""] if title else []
    lines += [
        f"{len(table)} series: {fitted} fitted ({passed} passed the diagnostics), "
        f"{int((table.status == 'failed').sum())} failed.",
        "",
    ]
    quantities = list(
        dict.fromkeys(column[: -len("_median")] for column in table.columns if column.endswith("_median"))
    )
    header = [
        table.index.name or "series",
        "status",
        "verdict",
        "n",
        *(q.replace("_", " ") for q in quantities),
    ]
    header.append("reason")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in table.iterrows():
        cells = [_cell(name), _cell(row.status), _cell(row.get("verdict")), _cell(row.get("n_observations"))]
        for quantity in quantities:
            median = row.get(f"{quantity}_median")
            if median is None or pd.isna(median):
                cells.append("")
            else:
                lower, upper = row.get(f"{quantity}_ci_lower"), row.get(f"{quantity}_ci_upper")
                cells.append(f"{_cell(median)} [{_cell(lower)}, {_cell(upper)}]")
        reason = _cell(row.get("reason"))
        cells.append(reason if len(reason) <= reason_width else reason[: reason_width - 3] + "...")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
