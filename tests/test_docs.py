"""The documentation stands alone and builds.

* Nothing a user reads (package, README, notebooks, model specs, docs, benchmarks, tests)
  refers to a file outside the repository: what a user needs from such notes (the
  distribution's definition, the published numbers, the paper's protocol) is restated in
  ``docs/``.
* The Sphinx site in ``docs/`` (pydata theme, MyST, myst-nb, numpydoc) builds with
  warnings as errors: a broken docstring, a malformed table, a notebook that is not in
  the gallery or a page outside every table of contents fails the suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Text files a user or contributor reads.
TEXT_SUFFIXES = {".py", ".md", ".rst", ".toml", ".ipynb", ".txt", ".cfg", ".yml", ".yaml"}
#: Folders that are not the project's own text (environments, caches, build outputs).
SKIPPED_FOLDERS = {".git", ".venv", "__pycache__", "_build", "build", "dist", "results", ".ipynb_checkpoints"}
# Names of notes that live outside the repository. Written in two pieces so that this
# file does not match itself.
OUTSIDE_NOTES = re.compile("|".join(re.escape(a + b) for a, b in [("REFERENCE", ".md"), ("STYLE", ".md")]))
#: Longest the documentation build may take (it runs in the default suite).
DOCS_BUILD_TIMEOUT_S = 600


def _project_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_FOLDERS or part.endswith(".egg-info") for part in relative.parts):
            continue
        # docs/notebooks is a link to notebooks/: read each file once.
        if relative.parts[:2] == ("docs", "notebooks"):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            files.append(path)
    return files


def test_the_text_scan_sees_the_project():
    names = {path.relative_to(ROOT).as_posix() for path in _project_text_files()}
    for expected in ("README.md", "sbp_bayes/report.py", "notebooks/01_quickstart.ipynb", "docs/maths.md"):
        assert expected in names


def test_nothing_refers_to_notes_outside_the_repository():
    offending = []
    for path in _project_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE_NOTES.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offending, "Restate what is needed in docs/ instead of citing:\n" + "\n".join(offending)


def test_the_published_checks_are_restated_in_the_docs():
    text = (ROOT / "docs" / "published_checks.md").read_text(encoding="utf-8")
    danish = ("0.497", "0.136", "6.98", "1.11", "27.3", "58.2")
    rain = ("0.184", "0.101", "7.44", "0.958", "106.3", "[81, 185]")
    for number in danish + rain:
        assert number in text, number
    maths = (ROOT / "docs" / "maths.md").read_text(encoding="utf-8")
    for idea in ("Quantile function", "Moments", "u_L = Q_B(a_L)"):
        assert idea in maths, idea


def test_every_notebook_is_in_the_gallery():
    linked = ROOT / "docs" / "notebooks"
    assert linked.is_dir() and linked.resolve() == (ROOT / "notebooks").resolve()
    assert "notebooks/*" in (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra (pip install -e '.[docs]') is not installed")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        str(ROOT / "docs"),
        str(tmp_path / "html"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=DOCS_BUILD_TIMEOUT_S, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    html = tmp_path / "html"
    api = (html / "api" / "report.html").read_text(encoding="utf-8")
    assert "return_levels" in api and "expected_shortfall" in api  # docstrings made it in
    assert (html / "notebooks" / "01_quickstart.html").is_file()
    assert "Danish fire insurance losses" in (html / "published_checks.html").read_text(encoding="utf-8")
