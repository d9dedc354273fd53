"""Execute each notebook in a fresh kernel, per backend; report run time, peak memory, and why.

Usage: python benchmarks/bench_notebooks.py [notebooks/*.ipynb] [--backends ...] [--json PATH]
       [--cells]  (also print each slow cell: wall and CPU seconds, JAX compilations)

Binder gives a reader about 2 GB of RAM and a slow CPU share, so each chapter is held to a
budget on every backend: peak resident memory of the kernel at most 1.2 GB, at most 30 s on 2
cores, and on JAX and PyTorch at most 2.5 times the chapter's TensorFlow time in the same run.
The time is what a reader waits for after "Restart Kernel and Run All Cells": from asking for
a kernel to the end of the last cell. The whole child process is timed too (it adds importing
nbclient and the kernel's exit, where TensorFlow takes over a second to tear down).
Every cell runs, as in a reader's Run All: on JAX and PyTorch a chapter skips its own cells
tagged tensorflow-only (printing that it did); a chapter that is TensorFlow-only as a whole
(`"tensorflow_only": true` in its metadata) is measured on TensorFlow alone.
Each notebook runs in its own child process, with the backend's own virtualenv (.venv-jax,
.venv-torch: a JAX or PyTorch reader has no TensorFlow), so the peak measured is that run's
alone. Where the time goes is measured inside the kernel by kernel_probe.py (time in `fit`,
`evaluate` and `predict`; JAX's compilations) and from outside, cell by cell.
Each round also times importing Keras in a fresh process on each backend: the same work every
time, it shows how fast the machine was during the run (a shared machine's speed drifts).
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
BUDGET_RATIO = 2.5  # a chapter's time on JAX or PyTorch over its time on TensorFlow
BACKENDS = ("tensorflow", "jax", "torch")
PROBE = Path(__file__).resolve().parent / "kernel_probe.py"


def run_one(path: Path) -> None:
    """Child mode: execute `path` (outputs discarded); print what was measured as JSON."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",  # the kernel runs this child's Python: the backend's virtualenv
        resources={"metadata": {"path": str(path.parent)}},
    )
    cells = []
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            cell_start = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                cells.append([index, round(time.perf_counter() - cell_start, 2)])
        seconds = time.perf_counter() - start
        notebook.cells.append(nbformat.v4.new_code_cell("_bench_probe_report()"))
        report = client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
    probe = json.loads(report.outputs[0]["text"])
    # ru_maxrss of reaped children (the kernel, reaped on leaving the block) is in KiB on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # Each code cell: [index, wall s, kernel CPU s, JAX compilations (0 elsewhere)].
    cells = [
        [index, wall, round(cpu, 2), compiles]
        for (index, wall), (cpu, compiles) in zip(cells, probe.pop("cells"), strict=True)
    ]
    slowest = [cell[:2] for cell in sorted(cells, key=lambda cell: -cell[1])[:3]]
    print(
        json.dumps(
            {"seconds": seconds, "peak_mb": peak_mb, "slowest_cells": slowest, "cells": cells}
            | probe
        )
    )


def backends_of(path: Path, backends: list[str]) -> list[str]:
    """Those of `backends` that the chapter at `path` runs on."""
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    if metadata.get("tensorflow_only"):
        return [backend for backend in backends if backend == "tensorflow"]
    return backends


def python(backend: str) -> str:
    """The Python of `backend`'s virtualenv: this one for TensorFlow, .venv-jax, .venv-torch."""
    if backend == "tensorflow":
        return sys.executable
    executable = ROOT / f".venv-{backend}" / "bin" / "python"
    if not executable.exists():
        raise SystemExit(f"{executable} is missing: `make nbval-{backend}` creates it")
    return str(executable)


def child_env(backend: str = "tensorflow") -> dict:
    """The environment of every child: quiet TensorFlow, oneDNN off as in `make execute`."""
    return dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND=backend
    )


def measure(path: Path, backend: str) -> dict:
    process_start = time.perf_counter()
    child = subprocess.run(
        [python(backend), __file__, "--one", str(path)],
        capture_output=True,
        text=True,
        env=dict(child_env(backend), PYTHONSTARTUP=str(PROBE)),
        check=False,
    )
    process_seconds = time.perf_counter() - process_start
    if child.returncode != 0:
        raise SystemExit(f"{path} failed on {backend}:\n{child.stderr[-2000:]}")
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    return dict(measured, process_seconds=process_seconds)


def keras_import_seconds(backend: str) -> float:
    """Wall time of `import keras` in a fresh Python: the run's speed reference."""
    code = "import time; t = time.perf_counter(); import keras; print(time.perf_counter() - t)"
    child = subprocess.run(
        [python(backend), "-c", code],
        capture_output=True,
        text=True,
        env=child_env(backend),
        check=True,
    )
    return float(child.stdout.strip().splitlines()[-1])


def summarize(name: str, backend: str, measured: list[dict]) -> dict:
    """One row: the median run's figures, the slowest run's time, the highest peak."""
    median = sorted(measured, key=lambda r: r["seconds"])[(len(measured) - 1) // 2]
    compile_seconds = median["compile_seconds"]
    return {
        "notebook": name,
        "backend": backend,
        "seconds": round(median["seconds"], 2),
        "slowest": round(max(r["seconds"] for r in measured), 2),
        "process_seconds": round(statistics.median(r["process_seconds"] for r in measured), 2),
        "peak_mb": round(max(r["peak_mb"] for r in measured), 1),
        "keras_seconds": round(median["keras_seconds"], 2),
        "compiles": median["compiles"],
        "compile_seconds": None if compile_seconds is None else round(compile_seconds, 2),
        "slowest_cells": median["slowest_cells"],
        "cpu_seconds": round(median["cpu_seconds"], 2),
        "cells": median["cells"],
    }


def judge(rows: list[dict]) -> None:
    """Add each row's ratio to its chapter's TensorFlow time, and whether it is in budget."""
    tensorflow = {r["notebook"]: r["seconds"] for r in rows if r["backend"] == "tensorflow"}
    for row in rows:
        reference = tensorflow.get(row["notebook"])
        row["ratio"] = round(row["seconds"] / reference, 2) if reference else None
        row["within_budget"] = (
            row["seconds"] <= BUDGET_SECONDS
            and row["peak_mb"] <= BUDGET_MB
            and (row["ratio"] is None or row["ratio"] <= BUDGET_RATIO)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook (median)")
    parser.add_argument("--cells", action="store_true", help="also print the slow cells")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return 0
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    # A shared machine's speed drifts by a third within minutes: run every notebook `repeats`
    # times on each backend, interleaved, and keep each one's median time and highest peak.
    runs: dict[tuple[str, str], list[dict]] = {}
    references: dict[str, list[float]] = {backend: [] for backend in args.backends}
    for repeat in range(args.repeats):
        for backend in args.backends:
            references[backend].append(keras_import_seconds(backend))
        for path in paths:
            for backend in backends_of(path, args.backends):
                runs.setdefault((path.name, backend), []).append(measure(path, backend))
            print(f"round {repeat + 1} of {args.repeats}: {path.name} done", flush=True)
    rows = [summarize(name, backend, measured) for (name, backend), measured in runs.items()]
    judge(rows)
    print(
        f"{'notebook':<34} {'backend':<10} {'run s':>6} {'×TF':>5} {'CPU s':>6} {'peak MB':>7} "
        f"{'fit etc. s':>10} {'compiles':>8}  slowest cells (index: s)  within budget"
    )
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        compiles = "" if row["compiles"] is None else f"{row['compiles']}"
        cells = ", ".join(f"{index}: {seconds:.1f}" for index, seconds in row["slowest_cells"])
        print(
            f"{row['notebook']:<34} {row['backend']:<10} {row['seconds']:>6.1f} {ratio:>5} "
            f"{row['cpu_seconds']:>6.1f} {row['peak_mb']:>7.0f} {row['keras_seconds']:>10.1f} "
            f"{compiles:>8}  {cells:<24}  {'yes' if row['within_budget'] else 'NO'}",
            flush=True,
        )
        if args.cells:
            print(
                "    cells over 0.5 s (index: wall s / CPU s / compilations): "
                + ", ".join(
                    f"{index}: {wall:.1f}/{cpu:.1f}/{compiled}"
                    for index, wall, cpu, compiled in row["cells"]
                    if wall > 0.5
                )
            )
    print(
        f"budget per notebook: {BUDGET_SECONDS:.0f} s, {BUDGET_MB:.0f} MB peak RSS, at most "
        f"{BUDGET_RATIO}× TensorFlow's time; median of {args.repeats} runs on {os.cpu_count()} CPUs"
    )
    reference = {backend: round(statistics.median(r), 2) for backend, r in references.items()}
    for backend, seconds in reference.items():
        print(f"speed reference: importing Keras on {backend} took {seconds:.2f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "backends": args.backends,
            "keras_import_seconds": reference,
            "rows": rows,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(row["within_budget"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
