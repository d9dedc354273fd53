"""Re-execute notebooks in place, top to bottom in a fresh kernel, as `make execute` does.

Usage: python tools/execute_notebooks.py notebooks/01_paradigm_shift.ipynb [...]

Cells tagged `raises-exception` may raise; any other error stops with a non-zero exit, and
the notebook is left unchanged. Each notebook runs with its own folder as working directory,
as in JupyterLab, so relative paths behave the same for readers and for nbval.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # timestamps in metadata would make every run a diff
    )
    client.execute()
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for name in paths:
        path = Path(name)
        print(f"executing {path} ...", flush=True)
        try:
            execute(path)
        except CellExecutionError as error:
            print(f"error: {path} failed; it was not rewritten.\n{error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
