"""Run every benchmark in one go and record the results for the book (`make bench`).

Runs bench_conversion.py, bench_inference.py and bench_notebooks.py one after the other (so
they do not compete for the CPU), prints their tables, and writes into book/performance/:
the raw JSON of each, one figure per question, and results.md (the tables and the machine
that produced them), which book/performance.md includes. Commit those files to publish a
new measurement. `--only notebooks` (or conversion, inference) reruns only those and reuses the
others' last recorded results: publish such a mix only from the same machine and day.
bench_export.py runs last (`--only export`); its table goes into export.md.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from bench_export import table as export_table
from bench_notebooks import child_env  # this folder: on sys.path when run as a script

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "book" / "performance"
SCRIPTS = {
    "conversion": ["bench_conversion.py"],
    "inference": ["bench_inference.py"],
    "notebooks": ["bench_notebooks.py"],
    "export": ["bench_export.py"],  # its table goes into export.md
}


def run(name: str) -> dict:
    """Run one benchmark script; echo its table; return its JSON results."""
    command = [sys.executable, str(HERE / SCRIPTS[name][0]), "--json", str(results_file(name))]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    completed = subprocess.run(command, env=child_env(), check=False)
    if completed.returncode not in (0, 1):  # 1: a notebook over budget, still recorded
        raise SystemExit(f"{name} benchmark failed with exit code {completed.returncode}")
    return recorded(name)


def results_file(name: str) -> Path:
    """Where one benchmark's JSON results are recorded."""
    return OUT / f"{name}.json"


def recorded(name: str) -> dict:
    """The last recorded results of one benchmark."""
    return json.loads(results_file(name).read_text(encoding="utf-8"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    import keras

    return (
        f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, Keras {keras.__version__} "
        f"({keras.backend.backend()} backend); measured {datetime.date.today().isoformat()}"
    )


def plot_conversion(data: dict) -> None:
    rows = data["results"]
    depths = [row["depth"] for row in rows]
    labels = {
        "bare": "bare Keras: re-call layers on a new Input",
        "to_functional": "keras_convert.to_functional",
        "to_sequential": "keras_convert.to_sequential",
        "clone_model": "keras.models.clone_model + set_weights",
    }
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in labels.items():
        ax.plot(depths, [row[key] for row in rows], "o-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth (Dense layers in a chain)")
    ax.set_ylabel(f"seconds per conversion ({data['unit']})")
    ax.set_title("Conversion time grows linearly with depth")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / "conversion.png", dpi=110)
    plt.close(fig)


def plot_inference(data: dict) -> None:
    rows = data["rows"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = [row["model"] for row in rows]
    medians = [row["ratio_median"] for row in rows]
    errors = [
        [m - row["ratio_q1"] for m, row in zip(medians, rows, strict=True)],
        [row["ratio_q3"] - m for m, row in zip(medians, rows, strict=True)],
    ]
    ax.bar(names, medians, yerr=errors, capsize=6, color="#4c72b0")
    ax.axhline(1.0, color="black", lw=1, ls="--", label="no difference")
    ax.set_ylim(0, max(1.5, max(row["ratio_q3"] for row in rows) + 0.1))
    ax.set_ylabel("throughput Functional / Sequential\n(median, bars: interquartile range)")
    ax.set_xlabel("model")
    ax.set_title("Inference speed does not depend on the API")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "inference.png", dpi=110)
    plt.close(fig)


def plot_notebooks(data: dict) -> None:
    rows = data["rows"]
    names = [row["notebook"].removesuffix(".ipynb") for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    medians = [row["seconds"] for row in rows]
    spread = [row["slowest"] - row["seconds"] for row in rows]
    left.barh(
        names,
        [row["process_seconds"] for row in rows],
        color="#dddddd",
        label="whole process (+ nbclient import, kernel exit)",
    )
    left.barh(
        names,
        medians,
        xerr=[[0] * len(rows), spread],
        color="#55a868",
        capsize=3,
        label="run: kernel start to last cell",
    )
    left.axvline(30, color="black", ls="--", lw=1, label="Binder budget: 30 s")
    left.axvline(20, color="grey", ls=":", lw=1, label="target here: 20 s")
    left.set_xlabel(
        f"seconds, median of {data['repeats']} (bar: slowest run)\n"
        f"speed reference: importing Keras took {data['keras_import_seconds']:.1f} s"
    )
    left.set_xlim(0, 40)
    left.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2, frameon=False, fontsize="small")
    right.barh(names, [row["peak_mb"] for row in rows], color="#c44e52")
    right.axvline(1200, color="black", ls="--", lw=1, label="budget: 1.2 GB")
    right.set_xlabel("kernel peak resident memory (MB)")
    right.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False, fontsize="small")
    left.invert_yaxis()
    fig.suptitle("Every chapter fits a Binder session (2 GB RAM)")
    fig.tight_layout()
    fig.savefig(OUT / "notebooks.png", dpi=110)
    plt.close(fig)


def tables(conversion: dict, inference: dict, notebooks: dict) -> str:
    lines = [f"Machine: {machine()}.", ""]
    lines += [
        "| depth | bare re-call (s) | to_functional | to_sequential | clone_model + set_weights |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in conversion["results"]:
        lines.append(
            f"| {row['depth']} | {row['bare']:.4f} | {row['to_functional_ratio']:.2f}× "
            f"| {row['to_sequential_ratio']:.2f}× | {row['clone_model_ratio']:.2f}× |"
        )
    lines += [
        "",
        "| model | Sequential samples/s | Functional samples/s | ratio (interquartile range) |",
    ]
    lines += ["| --- | ---: | ---: | ---: |"]
    for row in inference["rows"]:
        lines.append(
            f"| {row['model']} | {row['sequential_samples_per_s']:,} "
            f"| {row['functional_samples_per_s']:,} | {row['ratio_median']:.2f} "
            f"({row['ratio_q1']:.2f}–{row['ratio_q3']:.2f}) |"
        )
    repeats = notebooks["repeats"]
    lines += [
        "",
        f"| notebook | run time (s), median of {repeats} | slowest run (s) "
        "| whole process (s) | peak memory (MB) | within budget |",
    ]
    lines += ["| --- | ---: | ---: | ---: | ---: | :---: |"]
    for row in notebooks["rows"]:
        mark = "yes" if row["within_budget"] else "**no**"
        lines.append(
            f"| {row['notebook']} | {row['seconds']:.1f} | {row['slowest']:.1f} "
            f"| {row['process_seconds']:.1f} | {row['peak_mb']:.0f} | {mark} |"
        )
    total = sum(row["seconds"] for row in notebooks["rows"])
    process_total = sum(row["process_seconds"] for row in notebooks["rows"])
    peak = max(r["peak_mb"] for r in notebooks["rows"])
    lines.append(f"| **all** | {total:.1f} | | {process_total:.1f} | {peak:.0f} | |")
    lines += [
        "",
        "While the notebooks ran, importing Keras in a fresh process took "
        f"{notebooks['keras_import_seconds']:.2f} s: the same work every time, it shows how "
        "fast this shared machine was during the run.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCRIPTS),
        help="run only these benchmarks; the others' last recorded results are reused",
    )
    only = parser.parse_args().only or list(SCRIPTS)
    OUT.mkdir(parents=True, exist_ok=True)
    conversion, inference, notebooks, export = (
        run(name) if name in only else recorded(name) for name in SCRIPTS
    )
    (OUT / "export.md").write_text(export_table(export), encoding="utf-8")
    plot_conversion(conversion)
    plot_inference(inference)
    plot_notebooks(notebooks)
    (OUT / "results.md").write_text(tables(conversion, inference, notebooks), encoding="utf-8")
    print(f"\nwrote {OUT.relative_to(HERE.parent)}/: results.md and three figures")
    return 0 if all(row["within_budget"] for row in notebooks["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
