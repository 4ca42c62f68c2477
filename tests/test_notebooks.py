"""The notebooks in ``notebooks/`` are documents that run.

Every ``notebooks/*.ipynb`` is picked up automatically (a new notebook needs no change here)
and must follow two conventions, described in ``notebooks/README.md``:

* its first code cell reads the environment variable ``SBP_BAYES_NOTEBOOK_QUICK`` and
  prints a line starting ``Run size: full`` or, when the variable is ``"1"``,
  ``Run size: QUICK`` — the quick run samples fewer draws (and notebook 07, which calls
  ``pm.sample`` itself, samples with PyMC's own NUTS) and changes nothing else;
* it is committed executed at full size, top to bottom, with no error in any output.

The smoke test executes each notebook with ``SBP_BAYES_NOTEBOOK_QUICK=1`` in a fresh
kernel of this interpreter, working in a temporary folder. It executes an in-memory copy
and never writes it back, so the committed file and its full-size outputs stay as they are.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK_FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))
QUICK_VARIABLE = "SBP_BAYES_NOTEBOOK_QUICK"
KERNEL_NAME = "python3"
#: Longest a single cell may run in the quick run (a cold model compilation on a busy
#: machine takes under a minute; this only stops a hung kernel).
CELL_TIMEOUT_S = 300
#: Words that must not appear in any output: a traceback, or an exception shown as text.
FORBIDDEN_WORDS = ("Traceback", "Error")
#: Largest committed notebook: outputs are figures at ~90 dpi and small tables.
MAX_NOTEBOOK_BYTES = 5_000_000


def _output_texts(cell) -> list[str]:
    """Every text a code cell's outputs show: streams, errors, and textual display data."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append(output["text"])
        elif output["output_type"] == "error":
            texts.append("\n".join([output["ename"], output["evalue"], *output["traceback"]]))
        else:
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def _output_problems(notebook) -> list[str]:
    """``"cell 4: 'Error' in output: <line>"`` for every forbidden word in any output."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for text in _output_texts(cell):
            for word in FORBIDDEN_WORDS:
                if word in text:
                    line = next(line for line in text.splitlines() if word in line)
                    problems.append(f"cell {index}: {word!r} in output: {line.strip()[:200]}")
    return problems


def _run_size_line(notebook) -> str:
    """The ``Run size: ...`` line printed by the first code cell ('' if none)."""
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    for text in _output_texts(first):
        for line in text.splitlines():
            if line.startswith("Run size:"):
                return line
    return ""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_notebooks_are_found():
    names = [path.name for path in NOTEBOOKS]
    for expected in ("01_quickstart.ipynb", "02_danish_fire_losses.ipynb", "03_uncertainty_report.ipynb"):
        assert expected in names


def test_the_output_check_finds_errors_and_tracebacks():
    """The check the notebook tests rely on must be able to fail."""
    notebook = nbformat.v4.new_notebook()
    clean = nbformat.v4.new_code_cell("print('fine')")
    clean.outputs = [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]
    broken = nbformat.v4.new_code_cell("1 / 0")
    broken.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="ZeroDivisionError: division by zero\n"),
        nbformat.v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero", traceback=["Traceback ..."]
        ),
    ]
    notebook.cells = [clean]
    assert _output_problems(notebook) == []
    notebook.cells = [clean, broken]
    problems = _output_problems(notebook)
    assert any("cell 1: 'Error'" in problem for problem in problems)
    assert any("'Traceback'" in problem for problem in problems)


def test_the_kernel_runs_this_interpreter():
    """The notebooks must run against the package installed here, not another Python's."""
    manager = KernelManager(kernel_name=KERNEL_NAME)
    command = manager.format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), command


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom_quickly(path, tmp_path, monkeypatch):
    monkeypatch.setenv(QUICK_VARIABLE, "1")
    committed = _digest(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        record_timing=False,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel works in a temporary folder
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    assert _run_size_line(notebook).startswith("Run size: QUICK"), (
        f"{path.name}: the first code cell must read {QUICK_VARIABLE} and print 'Run size: QUICK ...' "
        f"when it is '1'; it printed {_run_size_line(notebook)!r}"
    )
    problems = _output_problems(notebook)
    assert not problems, f"{path.name} (quick run):\n" + "\n".join(problems)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    assert _digest(path) == committed, f"the quick run changed the committed {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_is_executed_at_full_size(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), (
        f"{path.name} must be committed executed once, top to bottom (execution counts {counts})"
    )
    assert _run_size_line(notebook).startswith("Run size: full"), (
        f"{path.name} must be committed with the outputs of a full-size run; "
        f"its first cell printed {_run_size_line(notebook)!r}"
    )
    problems = _output_problems(notebook)
    assert not problems, f"{path.name} (committed outputs):\n" + "\n".join(problems)
    assert path.stat().st_size <= MAX_NOTEBOOK_BYTES, (
        f"{path.name} is {path.stat().st_size / 1e6:.1f} MB; keep figures small (dpi ~90)"
    )
