"""Re-execute notebooks in place, top to bottom in a fresh kernel, as `make execute` does.

Usage: python tools/execute_notebooks.py notebooks/01_paradigm_shift.ipynb [...]

Cells tagged `raises-exception` may raise; any other error stops with a non-zero exit, and
the notebook is left unchanged. Prints each notebook's wall time and its kernel's CPU time
(CPU time is steadier than wall time on a busy machine; the budget is 20 s of run time,
kernel start to last cell, as benchmarks/bench_notebooks.py measures it).
Each notebook runs with its own folder as working directory, as in JupyterLab, so relative
paths behave the same for readers and for nbval.
"""

import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def execute(path: Path) -> None:
    """Execute `path` in a fresh kernel and write it back with its outputs.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell not tagged `raises-exception` raised.
    """
    # Imported here: the tests import coalesce_streams without paying for Jupyter's stack.
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    notebook = nbformat.read(path, as_version=4)
    # The kernel talks over Unix sockets in a private folder, not TCP: no port is opened, and
    # ipykernel does not warn on every start that its TCP traffic is unencrypted.
    with tempfile.TemporaryDirectory() as sockets:
        ipc = {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            config=Config(KernelManager=ipc),
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,  # timestamps in metadata would make every run a diff
            # Once the outputs are in hand the kernel has nothing to save: stop it at once. A
            # graceful shutdown races in ipykernel 7.4 (its control handler flushes stdout into
            # a closing socket) and now and then prints a ZMQError traceback to our stderr.
            shutdown_kernel="immediate",
        )
        client.execute()
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(notebook, path)


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


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    from nbclient.exceptions import CellExecutionError

    # The kernels inherit these: quiet TensorFlow, and the numerics authors store outputs with.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    for name in paths:
        path = Path(name)
        print(f"executing {path} ...", end=" ", flush=True)
        start, cpu = time.perf_counter(), _children_cpu()
        try:
            execute(path)
        except CellExecutionError as error:
            print(f"\nerror: {path} failed; it was not rewritten.\n{error}", file=sys.stderr)
            return 1
        print(f"{time.perf_counter() - start:.1f} s, kernel CPU {_children_cpu() - cpu:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
