"""The tools `make` runs: the environment check, the notebook executor, the nbval plugin's
per-backend outputs, the guard's nudge."""

import builtins
import os
import re
import subprocess
import sys
import tomllib
import types

import pytest

from tests import ROOT
from tools import check_env
from tools.execute_notebooks import coalesce_streams


def test_a_supported_python_with_graphviz_passes(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 11, 7))
    monkeypatch.setattr(check_env.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert check_env.main() == 0
    assert capsys.readouterr().err == ""


def test_an_unsupported_python_gets_a_plain_message_and_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 14, 0))
    monkeypatch.setattr(check_env.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert check_env.main() == 1
    message = capsys.readouterr().err
    assert "Python 3.14.0" in message and "TensorFlow 2.21" in message
    assert "make PYTHON=python3.11" in message


def test_missing_graphviz_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 12, 1))
    monkeypatch.setattr(check_env.shutil, "which", lambda name: None)
    assert check_env.main() == 1
    message = capsys.readouterr().err
    assert "sudo apt-get install graphviz" in message and "brew install graphviz" in message


def test_requires_python_agrees_with_the_environment_check():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floor = ".".join(map(str, min(check_env.SUPPORTED)))
    assert project["requires-python"] == f">={floor}"


def test_consecutive_prints_to_one_stream_are_joined_and_nothing_else():
    import nbformat  # here, not at the top: importing it takes seconds, collection should not

    out = nbformat.v4.new_output
    outputs = [
        out("stream", name="stdout", text="a\n"),
        out("stream", name="stdout", text="b\n"),
        out("stream", name="stderr", text="warning\n"),
        out("stream", name="stdout", text="c\n"),
        out("execute_result", data={"text/plain": "1"}, execution_count=1),
        out("stream", name="stdout", text="d\n"),
    ]
    joined = coalesce_streams(outputs)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in joined] == [
        ("stream", "stdout", "a\nb\n"),
        ("stream", "stderr", "warning\n"),
        ("stream", "stdout", "c\n"),
        ("execute_result", None, None),
        ("stream", "stdout", "d\n"),
    ]


def run_execute_notebooks(path, *options):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "execute_notebooks.py"), *options, str(path)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        check=False,
    )


def test_execute_stores_outputs_quietly_and_leaves_a_failing_notebook_unchanged(tmp_path):
    import nbformat

    cell = nbformat.v4.new_code_cell
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell("print(6 * 7)")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell("1 / 0")]), bad)
    bad_before = bad.read_bytes()

    ran = run_execute_notebooks(good)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""  # the kernel's start-up says nothing (no TCP warning)
    (output,) = nbformat.read(good, as_version=4).cells[0].outputs
    assert output.text == "42\n"

    failed = run_execute_notebooks(bad)
    assert failed.returncode == 1
    assert "ZeroDivisionError" in failed.stderr and "was not rewritten" in failed.stderr
    assert bad.read_bytes() == bad_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ipynb", "good.ipynb"]


@pytest.mark.skipif(not (ROOT / ".venv-jax").exists(), reason="no .venv-jax (make nbval-jax)")
def test_recording_a_backend_stores_only_the_tagged_cells_outputs(tmp_path):
    import nbformat

    cell = nbformat.v4.new_code_cell
    tagged = cell("import os\nprint(os.environ['KERAS_BACKEND'])")
    tagged.metadata["tags"] = ["output-per-backend"]
    tensorflow_only = cell("import tensorflow")  # .venv-jax has no TensorFlow
    tensorflow_only.metadata["tags"] = ["tensorflow-only"]
    cells = [cell("print('untagged')"), tagged, tensorflow_only]
    path = tmp_path / "book.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    before = path.read_text(encoding="utf-8")

    ran = run_execute_notebooks(path, "--backend", "jax")
    assert ran.returncode == 0, ran.stderr
    after = nbformat.read(path, as_version=4)
    recorded = after.cells[1].metadata["outputs_by_backend"]
    (output,) = recorded["jax"]
    assert (output.name, output.text) == ("stdout", "jax\n")
    # Every other byte as it was: no outputs, no execution counts, no TensorFlow cell run
    expected = nbformat.reads(before, as_version=4)
    expected.cells[1].metadata["outputs_by_backend"] = recorded
    assert path.read_text(encoding="utf-8") == nbformat.writes(expected) + "\n"


def per_backend_cell(source, outputs, jax_outputs=None):
    """A code cell tagged output-per-backend, as run: TensorFlow's `outputs` (stdout
    texts), and JAX's in its metadata if given."""
    import nbformat

    def stdout(texts):
        return [nbformat.v4.new_output("stream", name="stdout", text=t) for t in texts]

    cell = nbformat.v4.new_code_cell(source, execution_count=1, outputs=stdout(outputs))
    cell.metadata["tags"] = ["output-per-backend"]
    if jax_outputs is not None:
        cell.metadata["outputs_by_backend"] = {"jax": stdout(jax_outputs)}
    return cell


def nbval_on_jax(folder, cells, python, *options):
    """Run nbval with the book's plugin, KERAS_BACKEND=jax, on a notebook of `cells`
    written to `folder`, with `python`'s pytest; return the finished process."""
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "book.ipynb")
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    command = ["pytest", "-rA", "--color=no", "-p", "no:cacheprovider", "book.ipynb"]
    plugin = ["-p", "tools.nbval_backends", "--nbval", "--nbval-current-env", *options]
    return subprocess.run(
        [python, "-m", *command, *plugin],
        capture_output=True,
        text=True,
        cwd=folder,
        env=os.environ | {"KERAS_BACKEND": "jax", "PYTHONPATH": pythonpath},
        check=False,
    )


def test_tagged_cells_are_compared_with_their_backends_stored_outputs(tmp_path):
    import nbformat

    cells = [
        # TensorFlow's stored "tf" would fail: the JAX run compares with JAX's "jax"
        per_backend_cell("print('jax')", ["tf\n"], jax_outputs=["jax\n"]),
        # TensorFlow's stored output matches, JAX's does not: the JAX run fails
        per_backend_cell("print('same')", ["same\n"], jax_outputs=["other\n"]),
        per_backend_cell("ran = 4\nprint('unrecorded')", ["unrecorded\n"]),
        nbformat.v4.new_code_cell(
            "print(ran)",  # the cell without JAX outputs ran before it failed
            execution_count=2,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="4\n")],
        ),
    ]
    ran = nbval_on_jax(tmp_path, cells, sys.executable)
    summary = re.findall(r"^(PASSED|FAILED) book\.ipynb::(Cell \d)", ran.stdout, re.M)
    assert {cell: outcome for outcome, cell in summary} == {
        "Cell 0": "PASSED",
        "Cell 1": "FAILED",
        "Cell 2": "FAILED",
        "Cell 3": "PASSED",
    }, ran.stdout
    assert "Cell outputs differ" in ran.stdout
    assert (
        "cell 2 is tagged output-per-backend but stores no outputs for the jax backend; "
        "record them with: python tools/execute_notebooks.py --backend jax book.ipynb"
    ) in ran.stdout


class _Kernel:
    """What the guard's start-up file needs of `get_ipython()`: an event registry."""

    def __init__(self):
        self.callbacks = []
        self.events = self

    def register(self, event, callback):
        self.callbacks.append(callback)


def keras_optimizer_modules(monkeypatch, base_optimizer_class):
    """Stand-ins for the two Keras modules the nudge patches; the real ones stay untouched."""
    modules = {
        "keras.src.optimizers.base_optimizer": types.SimpleNamespace(
            BaseOptimizer=base_optimizer_class
        ),
        "keras.src.backend.tensorflow.optimizer": types.SimpleNamespace(
            TFOptimizer=type("TFOptimizer", (base_optimizer_class,), {})
        ),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def start_the_nudge(monkeypatch):
    """Run tools/nbval_drift.py as a kernel would; return its pre_run_cell callback."""
    kernel = _Kernel()
    monkeypatch.setattr(builtins, "get_ipython", lambda: kernel, raising=False)
    startup = ROOT / "tools" / "nbval_drift.py"
    exec(compile(startup.read_text(encoding="utf-8"), str(startup), "exec"), {})
    (callback,) = kernel.callbacks
    return callback


def test_the_nudge_fails_loudly_when_keras_lacks_its_patch_point(monkeypatch):
    keras_optimizer_modules(monkeypatch, type("BaseOptimizer", (), {}))
    nudge = start_the_nudge(monkeypatch)
    with pytest.raises(RuntimeError, match=r"BaseOptimizer\._backend_update_step is missing"):
        nudge(None)


def test_the_nudge_patches_the_update_step_it_finds(monkeypatch):
    def update_step(self, grads, variables, learning_rate):
        return learning_rate

    base = type("BaseOptimizer", (), {"_backend_update_step": update_step})
    keras_optimizer_modules(monkeypatch, base)
    monkeypatch.setenv("NBVAL_DRIFT", "0.5")
    nudge = start_the_nudge(monkeypatch)
    nudge(None)
    nudge(None)  # before every cell: a second patch would nudge twice
    assert base()._backend_update_step([], [], 2.0) == 3.0


@pytest.mark.skipif(not (ROOT / ".venv-jax").exists(), reason="no .venv-jax (make nbval-jax)")
def test_a_marked_tensorflow_only_cell_prints_the_skip_line_on_jax_and_counts_as_skipped(
    tmp_path,
):
    import json

    import nbformat

    from tools import nbval_backends

    def cell(source, text=None, tags=()):
        outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []
        made = nbformat.v4.new_code_cell(source, execution_count=1, outputs=outputs)
        made.metadata["tags"] = list(tags)
        return made

    chapter = nbformat.read(ROOT / "notebooks" / "12_legacy_models.ipynb", as_version=4)
    skipper = [c for c in chapter.cells if c.cell_type == "code"][1].source
    cells = [
        cell("import keras\n" + skipper),
        cell("# TensorFlow only: a test\nimport tensorflow", "tf\n", ["tensorflow-only"]),
        cell("import tensorflow  # tagged, without the marker", "tf\n", ["tensorflow-only"]),
        cell("print('after')", "after\n"),
    ]
    python = str(ROOT / ".venv-jax" / "bin" / "python")
    ran = nbval_on_jax(tmp_path, cells, python, "--nbval-summary", "summary.json")
    summary = re.findall(r"^(PASSED|FAILED) book\.ipynb::(Cell \d)", ran.stdout, re.M)
    assert {cell: outcome for outcome, cell in summary} == {
        "Cell 0": "PASSED",
        "Cell 1": "PASSED",  # it printed nbval_backends.SKIPPED
        "Cell 2": "FAILED",  # no marker: it ran, and JAX's reader has no TensorFlow
        "Cell 3": "PASSED",
    }, ran.stdout
    assert "No module named 'tensorflow'" in ran.stdout
    counted = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert (counted["passed"], counted["failed"], counted["skipped"]) == (2, 1, 1)
    assert nbval_backends.SKIPPED == "Skipped: this cell needs TensorFlow.\n"
