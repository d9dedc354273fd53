"""Execute each notebook in a fresh kernel; report its wall time and the kernel's peak memory.

Usage: python benchmarks/bench_notebooks.py [notebooks/*.ipynb] [--json PATH]

Binder gives a reader about 2 GB of RAM and a slow CPU share, so each chapter is held to a
budget: peak resident memory of the kernel at most 1.2 GB and at most 30 s on 2 cores.
Each notebook runs in its own child process, so the peak measured is that notebook's alone.
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
    """Child mode: execute `path` (outputs discarded) and print the kernel's peak RSS in MB."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    # ru_maxrss of reaped children (the kernel) is in KiB on Linux.
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def measure(path: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--one", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{path} failed:\n{child.stderr[-2000:]}")
    peak_mb = json.loads(child.stdout.strip().splitlines()[-1])["peak_mb"]
    return {"notebook": path.name, "seconds": round(seconds, 2), "peak_mb": round(peak_mb, 1)}


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
    for repeat in range(args.repeats):
        for path in paths:
            runs[path.name].append(measure(path))
        print(f"round {repeat + 1} of {args.repeats} done", flush=True)
    rows = []
    print(f"{'notebook':<36} {'wall s':>8} {'peak MB':>9}  within budget", flush=True)
    for name, measured in runs.items():
        row = {
            "notebook": name,
            "seconds": round(statistics.median(r["seconds"] for r in measured), 2),
            "slowest": round(max(r["seconds"] for r in measured), 2),
            "peak_mb": max(r["peak_mb"] for r in measured),
        }
        row["within_budget"] = row["seconds"] <= BUDGET_SECONDS and row["peak_mb"] <= BUDGET_MB
        rows.append(row)
        flag = "yes" if row["within_budget"] else "NO"
        print(
            f"{row['notebook']:<36} {row['seconds']:>8.1f} {row['peak_mb']:>9.0f}  {flag}",
            flush=True,
        )
    total = sum(row["seconds"] for row in rows)
    print(f"{'total':<36} {total:>8.1f} {max(r['peak_mb'] for r in rows):>9.0f}  (max)")
    budget = f"{BUDGET_SECONDS:.0f} s and {BUDGET_MB:.0f} MB peak RSS"
    print(f"budget per notebook: {budget}; median of {args.repeats} runs on {os.cpu_count()} CPUs")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"cpus": os.cpu_count(), "repeats": args.repeats, "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(row["within_budget"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
