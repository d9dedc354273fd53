"""Re-execute notebooks in place, top to bottom in a fresh kernel, as `make execute` does.

Usage: python tools/execute_notebooks.py [--backend jax|torch] notebooks/NN_slug.ipynb [...]

Cells tagged `raises-exception` may raise; any other error stops with a non-zero exit, and
the notebook is left unchanged. Prints each notebook's wall time and its kernel's CPU time
(CPU time is steadier than wall time on a busy machine; the budget is 20 s of run time,
kernel start to last cell, as benchmarks/bench_notebooks.py measures it).
Each notebook runs with its own folder as working directory, as in JupyterLab, so relative
paths behave the same for readers and for nbval.

The stored outputs are TensorFlow's. `--backend jax` (or `torch`) records instead what the
cells tagged `output-per-backend` print on that backend: it runs the notebook in a kernel of
that backend's virtualenv (`.venv-jax`, `.venv-torch`, as `make nbval-jax` does), skipping
the cells tagged `tensorflow-only`, stores those cells' outputs in their metadata
(`outputs_by_backend`, which tools/nbval_backends.py compares) and leaves every other byte
of the file as it was. Run it after the TensorFlow run whenever a tagged cell changes.
"""

import argparse
import copy
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_BACKEND_TAG = "output-per-backend"
OUTPUTS_BY_BACKEND = "outputs_by_backend"
OTHER_BACKENDS = ("jax", "torch")


def execute(path: Path, backend: str = "tensorflow") -> None:
    """Execute `path` in a fresh kernel and write it back with its outputs; on another
    backend than TensorFlow, with only its tagged cells' outputs for that backend.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell not tagged `raises-exception` raised.
        ValueError: another backend than TensorFlow, for a notebook marked TensorFlow-only.
    """
    # Imported here: the tests import coalesce_streams without paying for Jupyter's stack.
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    if backend == "tensorflow":
        _run(notebook, path.parent)
        notebook.metadata.pop("widgets", None)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = coalesce_streams(cell.outputs)
    else:
        if notebook.metadata.get("tensorflow_only"):
            raise ValueError(f"{path} runs on TensorFlow only: nothing to record")
        ran = _run(copy.deepcopy(notebook), path.parent, skip_tag="tensorflow-only")
        for cell, ran_cell in zip(notebook.cells, ran.cells, strict=True):
            if PER_BACKEND_TAG in cell.metadata.get("tags", []):
                outputs = coalesce_streams(ran_cell.outputs)
                cell.metadata.setdefault(OUTPUTS_BY_BACKEND, {})[backend] = outputs
    nbformat.write(notebook, path)


def _run(notebook, folder: Path, skip_tag: str = "skip-execution"):
    """Run `notebook` in a kernel of this interpreter, in `folder`; returns it with outputs."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    # The kernel talks over Unix sockets in a private folder, not TCP: no port is opened, and
    # ipykernel does not warn on every start that its TCP traffic is unencrypted.
    with tempfile.TemporaryDirectory() as sockets:
        ipc = {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            config=Config(KernelManager=ipc),
            resources={"metadata": {"path": str(folder)}},
            record_timing=False,  # timestamps in metadata would make every run a diff
            skip_cells_with_tag=skip_tag,
            # Once the outputs are in hand the kernel has nothing to save: stop it at once. A
            # graceful shutdown races in ipykernel 7.4 (its control handler flushes stdout into
            # a closing socket) and now and then prints a ZMQError traceback to our stderr.
            shutdown_kernel="immediate",
        )
        client.execute()
    return notebook


def coalesce_streams(outputs: list) -> list:
    """Joins consecutive stdout (or stderr) outputs: how the kernel happened to flush the
    prints of one cell must not show up as a diff."""
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and output.output_type == previous.output_type == "stream"
            and output.name == previous.name
        ):
            previous.text += output.text
        else:
            joined.append(output)
    return joined


def _children_cpu() -> float:
    """CPU seconds used by finished child processes (each notebook's kernel, once shut down)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="--backend: record the outputs_by_backend of the output-per-backend cells",
    )
    parser.add_argument("--backend", choices=OTHER_BACKENDS)
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    backend = args.backend or "tensorflow"
    if args.backend:
        venv = ROOT / f".venv-{backend}"
        if Path(sys.prefix).resolve() != venv.resolve():
            # The kernel is this interpreter's: run again in that backend's virtualenv.
            if not (venv / "bin" / "python").exists():
                print(
                    f"error: no {venv}; `make .venv-{backend}/.installed` makes it.",
                    file=sys.stderr,
                )
                return 2
            again = [str(venv / "bin" / "python"), __file__, *argv]
            env = os.environ | {"KERAS_BACKEND": backend}
            return subprocess.run(again, env=env, check=False).returncode
    from nbclient.exceptions import CellExecutionError

    # The kernels inherit these: quiet TensorFlow, and the numerics authors store outputs with.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ["KERAS_BACKEND"] = backend
    for path in args.paths:
        print(f"executing {path} on {backend} ...", end=" ", flush=True)
        start, cpu = time.perf_counter(), _children_cpu()
        try:
            execute(path, backend)
        except (CellExecutionError, ValueError) as error:
            print(f"\nerror: {path} failed; it was not rewritten.\n{error}", file=sys.stderr)
            return 1
        print(f"{time.perf_counter() - start:.1f} s, kernel CPU {_children_cpu() - cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
