"""Execute each notebook in a fresh kernel; report its run time and the kernel's peak memory.

Usage: python benchmarks/bench_notebooks.py [notebooks/*.ipynb] [--json PATH]

Binder gives a reader about 2 GB of RAM and a slow CPU share, so each chapter is held to a
budget: peak resident memory of the kernel at most 1.2 GB and at most 30 s on 2 cores.
The time is what a reader waits for after "Restart Kernel and Run All Cells": from asking for
a kernel to the end of the last cell. The whole child process is timed too (it adds importing
nbclient and the kernel's exit, where TensorFlow takes over a second to tear down).
Each notebook runs in its own child process, so the peak measured is that notebook's alone.
Each round also times importing Keras in a fresh process: the same work every time, it shows
how fast the machine was during the run (a shared machine's speed drifts through the day).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 30.0
BUDGET_MB = 1200.0


def run_one(path: Path) -> None:
    """Child mode: execute `path` (outputs discarded); print its run time and peak RSS in MB."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
    # ru_maxrss of reaped children (the kernel, reaped on leaving the block) is in KiB on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def child_env() -> dict:
    """The environment of every child: quiet TensorFlow, oneDNN off as in `make execute`."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")


def measure(path: Path) -> dict:
    process_start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--one", str(path)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    process_seconds = time.perf_counter() - process_start
    if child.returncode != 0:
        raise SystemExit(f"{path} failed:\n{child.stderr[-2000:]}")
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "notebook": path.name,
        "seconds": round(measured["seconds"], 2),
        "process_seconds": round(process_seconds, 2),
        "peak_mb": round(measured["peak_mb"], 1),
    }


def keras_import_seconds() -> float:
    """Wall time of `import keras` in a fresh Python: the run's speed reference."""
    code = "import time; t = time.perf_counter(); import keras; print(time.perf_counter() - t)"
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), check=True
    )
    return float(child.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook (median)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return 0
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    # A shared machine's speed drifts by a third within minutes: run every notebook
    # `repeats` times, interleaved, and keep each one's median time and highest peak.
    runs: dict[str, list[dict]] = {path.name: [] for path in paths}
    references = []
    for repeat in range(args.repeats):
        references.append(keras_import_seconds())
        for path in paths:
            runs[path.name].append(measure(path))
        print(f"round {repeat + 1} of {args.repeats} done", flush=True)
    reference = round(statistics.median(references), 2)
    rows = []
    header = f"{'notebook':<36} {'run s':>8} {'process s':>9} {'peak MB':>9}  within budget"
    print(header, flush=True)
    for name, measured in runs.items():
        row = {
            "notebook": name,
            "seconds": round(statistics.median(r["seconds"] for r in measured), 2),
            "slowest": round(max(r["seconds"] for r in measured), 2),
            "process_seconds": round(statistics.median(r["process_seconds"] for r in measured), 2),
            "peak_mb": max(r["peak_mb"] for r in measured),
        }
        row["within_budget"] = row["seconds"] <= BUDGET_SECONDS and row["peak_mb"] <= BUDGET_MB
        rows.append(row)
        flag = "yes" if row["within_budget"] else "NO"
        print(
            f"{row['notebook']:<36} {row['seconds']:>8.1f} {row['process_seconds']:>9.1f} "
            f"{row['peak_mb']:>9.0f}  {flag}",
            flush=True,
        )
    total = sum(row["seconds"] for row in rows)
    process_total = sum(row["process_seconds"] for row in rows)
    peak = max(r["peak_mb"] for r in rows)
    print(f"{'total':<36} {total:>8.1f} {process_total:>9.1f} {peak:>9.0f}  (max)")
    budget = f"{BUDGET_SECONDS:.0f} s and {BUDGET_MB:.0f} MB peak RSS"
    print(f"budget per notebook: {budget}; median of {args.repeats} runs on {os.cpu_count()} CPUs")
    print(f"speed reference: importing Keras took {reference:.2f} s (median of the rounds)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "keras_import_seconds": reference,
            "rows": rows,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(row["within_budget"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
