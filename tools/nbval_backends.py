"""pytest plugin for the nbval runs (`make nbval`, `make nbval-jax`, `make nbval-torch`).

The chapters are executed and stored on TensorFlow, then re-verified against those same
outputs on each backend. What only TensorFlow can show is marked, and skipped elsewhere:

- a code cell tagged `tensorflow-only`. Its first line is the comment `# TensorFlow only: why`,
  and the cell after its chapter's setup has IPython print SKIPPED instead of running such a
  cell on JAX and PyTorch, so that a reader's Run All goes on past it. On those backends the
  cell runs, must print exactly that, and counts as skipped;
- every cell of a notebook whose metadata says `"tensorflow_only": true` (a chapter about
  TensorFlow's own formats): not run.

A code cell tagged `output-per-backend` prints the reader's own backend's result (STYLE.md,
"Per backend"), and each backend's output is stored with the notebook and compared strictly:
TensorFlow's are the cell's outputs, the ones the site shows; JAX's and PyTorch's are kept in
the cell's metadata, `"outputs_by_backend": {"jax": [...], "torch": [...]}` (nbformat outputs),
and replace the cell's outputs before nbval compares on that backend. A tagged cell without
outputs stored for the backend runs, then fails, saying how to record them:
`python tools/execute_notebooks.py --backend jax notebooks/NN_slug.ipynb`.

The backend is the kernel's: `KERAS_BACKEND`, else `backend` in `$KERAS_HOME/keras.json`
(`~/.keras`), else TensorFlow, the order Keras itself uses. With `--nbval-summary PATH`, the
run writes how many cells were compared, passed, failed and skipped, per notebook, to PATH
(JSON); `tools/compat_report.py` puts the last run of each backend on the book's "Versions
and backends" page.

Load it with `-p tools.nbval_backends` from the repository root.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter, defaultdict
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

from tools.execute_notebooks import OUTPUTS_BY_BACKEND, PER_BACKEND_TAG

TAG = "tensorflow-only"
MARKER = "# TensorFlow only"  # the first line of a tagged cell
SKIPPED = "Skipped: this cell needs TensorFlow.\n"  # what it prints on JAX and PyTorch
NOTEBOOK_FLAG = "tensorflow_only"
BACKEND_PACKAGES = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}


def keras_backend() -> str:
    """The backend a kernel started from this environment will use."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text(encoding="utf-8"))["backend"]
    except (OSError, ValueError, KeyError):
        return "tensorflow"


def pytest_addoption(parser):
    parser.addoption(
        "--nbval-summary",
        metavar="PATH",
        help="write the cells compared, passed, failed and skipped per notebook (JSON)",
    )


def pytest_configure(config):
    config.pluginmanager.register(_Tally(config), "nbval_backends_tally")


def pytest_collection_modifyitems(config, items):
    backend = keras_backend()
    if backend == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"{TAG}: not run on the {backend} backend")
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None:
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if item.parent.nb.metadata.get(NOTEBOOK_FLAG, False):
            item.add_marker(skip)
        elif TAG in tags:
            _expect_skipped(item)
        elif PER_BACKEND_TAG in tags:
            _expect_backend_outputs(item, backend)


def _expect_skipped(item) -> None:
    """Makes nbval run a tensorflow-only cell and expect it to print only SKIPPED."""
    item.cell = copy.deepcopy(item.cell)
    item.cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=SKIPPED)]
    item.user_properties.append((TAG, True))  # the tally counts it as skipped


def _expect_backend_outputs(item, backend: str) -> None:
    """Makes nbval compare a tagged cell with the outputs stored for `backend`, or, where
    there are none, run the cell and then fail."""
    stored = item.cell.get("metadata", {}).get(OUTPUTS_BY_BACKEND, {}).get(backend)
    if stored is not None:
        item.cell = copy.deepcopy(item.cell)
        item.cell.outputs = [nbformat.from_dict(output) for output in stored]
        return
    message = (
        f"cell {item.cell_num} is tagged {PER_BACKEND_TAG} but stores no outputs for the "
        f"{backend} backend; record them with: python tools/execute_notebooks.py "
        f"--backend {backend} {os.path.relpath(item.parent.path, item.config.rootpath)}"
    )
    run = item.runtest

    def runtest():
        run()  # the later cells need what this one defines
        pytest.fail(message, pytrace=False)

    item.runtest = runtest


class _Tally:
    """Counts each cell's outcome where the reports arrive (the xdist controller, or alone)."""

    def __init__(self, config):
        self.config = config
        self.outcomes: dict[str, Counter] = defaultdict(Counter)

    def pytest_runtest_logreport(self, report):
        if not report.nodeid.split("::")[0].endswith(".ipynb"):
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = report.outcome
            if outcome == "passed" and dict(report.user_properties).get(TAG):
                outcome = "skipped"  # as the reader's setup skipped it
            self.outcomes[report.nodeid.split("::")[0]][outcome] += 1

    def pytest_sessionfinish(self, session):
        path = self.config.getoption("--nbval-summary")
        if not path or hasattr(self.config, "workerinput") or not self.outcomes:
            return
        backend = keras_backend()
        notebooks = {
            Path(name).name: {
                "passed": counts["passed"],
                "failed": counts["failed"],
                "skipped": counts["skipped"],
            }
            for name, counts in sorted(self.outcomes.items())
        }
        totals = Counter()
        for counts in notebooks.values():
            totals.update(counts)
        record = {
            "backend": backend,
            "backend_version": _version(BACKEND_PACKAGES.get(backend, backend)),
            "keras": _version("keras"),
            "compared": totals["passed"] + totals["failed"],
            **{key: totals[key] for key in ("passed", "failed", "skipped")},
            "notebooks": notebooks,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
