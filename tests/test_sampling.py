"""The compiled-model cache of sbp_bayes.sampling: keys, reuse across processes, damage.

The fits here use the small ``normal`` baseline (its nutpie model compiles in seconds)
with short chains: the checks are about *which* code runs, not about the posterior's
accuracy, so the posteriors are compared for equality (same seed, same code). The
fresh-process checks add a small ``sbp_continuous`` fit, the cheapest model found whose
draws differed between a process that compiled it and one that loaded it, before the
compiled callbacks were made self-contained (``sampling._self_contained``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sbp_bayes
from sbp_bayes import datasets, sampling
from sbp_bayes.model import build_model_from_statistics, make_design, summarise

ROOT = Path(__file__).resolve().parent.parent
SHORT = {"draws": 150, "tune": 150, "chains": 2, "progressbar": False, "random_seed": 3}


def sbp_model(x, **design_options):
    design = make_design(np.asarray(x, dtype=float), **{"bins": 30, "tails": "upper", **design_options})
    return build_model_from_statistics(summarise(np.asarray(x, dtype=float), design), design, None, None)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache directory and an empty memory cache for one test."""
    monkeypatch.setenv(sampling.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    sampling.clear_cache()
    yield tmp_path / "cache"
    sampling.clear_cache()


def entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.bin"))


# ----------------------------------------------------------------------------- keys


def test_the_key_ignores_data_values_but_follows_structure_and_layout():
    danish = datasets.load("danish").to_numpy()
    key = sampling.model_fingerprint(sbp_model(danish))
    # New data, another number of tail points and other prior parameters: same code.
    assert sampling.model_fingerprint(sbp_model(2.5 * danish[:1500] + 1.0)) == key
    # Another tail structure, or another number of candidate thresholds (the length of
    # the trace variable upper_threshold_logprob, evaluated from the data): other code.
    assert sampling.model_fingerprint(sbp_model(danish, tails="both")) != key
    assert sampling.model_fingerprint(sbp_model(danish, n_candidates=5)) != key


def test_cache_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(sampling.CACHE_DIR_VARIABLE, str(tmp_path / "elsewhere"))
    assert sampling.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(sampling.CACHE_DIR_VARIABLE)
    assert sampling.cache_dir().name.lower() == "sbp_bayes"


# ----------------------------------------------------------------------------- damage


def test_a_corrupted_entry_is_rebuilt_and_gives_the_cold_posterior(private_cache):
    x = np.random.default_rng(0).normal(1.0, 2.0, size=300)
    cold = sbp_bayes.fit(x, family="normal", **SHORT)
    assert sampling.cache_statistics().compiled == 1
    (entry,) = entries(private_cache)

    raw = bytearray(entry.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)  # damage the machine code, keep the size
    entry.write_bytes(bytes(raw))
    sampling.clear_cache()  # a new process, as far as the cache can tell
    rebuilt = sbp_bayes.fit(x, family="normal", **SHORT)
    statistics = sampling.cache_statistics()
    assert (statistics.rebuilt, statistics.compiled, statistics.disk_hits) == (1, 1, 0)

    sampling.clear_cache()
    reloaded = sbp_bayes.fit(x, family="normal", **SHORT)
    assert sampling.cache_statistics().disk_hits == 1
    for result in (rebuilt, reloaded):
        for name in cold.posterior.data_vars:
            np.testing.assert_array_equal(result.posterior[name].values, cold.posterior[name].values)

    entry.write_bytes(entry.read_bytes()[:100])  # truncated (a crash while copying, say)
    sampling.clear_cache()
    again = sbp_bayes.fit(x, family="normal", **SHORT)
    assert sampling.cache_statistics().rebuilt == 1
    np.testing.assert_array_equal(again.posterior["mu"].values, cold.posterior["mu"].values)


# ----------------------------------------------------------------------------- processes

WORKER = textwrap.dedent(
    """
    import hashlib, json, sys
    import numpy as np
    import sbp_bayes
    from sbp_bayes import sampling

    out = {}
    for name, centre in (("first", 0.0), ("new_data", 5.0)):
        x = np.random.default_rng(1).normal(centre, 1.0, size=int(sys.argv[1]))
        result = sbp_bayes.fit(x, family="normal", draws=150, tune=150, chains=2, progressbar=False,
                               random_seed=3)
        out[name] = result.posterior["mu"].values.ravel().tolist()
    # A model whose compiled code gave other draws, for one seed, in the process that
    # compiled it than in one that loaded it (the normal model above did not show it).
    x = np.random.default_rng(1).standard_t(4, size=400)
    result = sbp_bayes.fit(x, family="sbp_continuous", bins=5, draws=100, tune=100, chains=2,
                           progressbar=False, random_seed=3)
    posterior = result.idata["posterior"]
    out["sbp_continuous"] = {
        name: hashlib.sha256(posterior[name].values.tobytes()).hexdigest() for name in posterior.data_vars
    }
    statistics = sampling.cache_statistics()
    out["statistics"] = [statistics.memory_hits, statistics.disk_hits, statistics.compiled]
    print("RESULT " + json.dumps(out))
    """
)


def run_worker(cache: Path, n: int) -> subprocess.Popen:
    env = {**os.environ, sampling.CACHE_DIR_VARIABLE: str(cache)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(n)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def result_of(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()[-3000:]
    (line,) = [line for line in stdout.decode().splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def test_a_fresh_process_reuses_the_compiled_model_and_new_data_stay_data(tmp_path):
    cache = tmp_path / "cache"
    first = result_of(run_worker(cache, 400))
    # Compiled twice (two structures); the second data set of the first reused it from memory.
    assert first["statistics"] == [1, 0, 2]
    second = result_of(run_worker(cache, 400))
    assert second["statistics"] == [1, 2, 0]  # loaded from disk: no compilation
    # Compiled in this process or loaded from disk: the same seed, the same draws, bit for bit.
    assert second["first"] == first["first"]
    assert second["sbp_continuous"] == first["sbp_continuous"]
    # The compiled code read the new data: the posterior of mu moved to their mean.
    assert abs(np.mean(first["first"])) < 0.3 and abs(np.mean(first["new_data"]) - 5.0) < 0.3
    assert len(entries(cache)) == 2


@pytest.mark.slow
def test_two_processes_at_once_compile_once_and_agree(tmp_path):
    cache = tmp_path / "cache"
    processes = [run_worker(cache, 400), run_worker(cache, 400)]
    results = [result_of(process) for process in processes]
    # The lock lets one process compile each structure; the other waits and loads its entry.
    assert sum(result["statistics"][2] for result in results) == 2
    assert results[0]["first"] == results[1]["first"]
    assert results[0]["sbp_continuous"] == results[1]["sbp_continuous"]
    assert len(entries(cache)) == 2
