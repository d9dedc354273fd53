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
from bench_notebooks import BACKENDS, child_env  # this folder: on sys.path when run as a script

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "book" / "performance"
SCRIPTS = {
    "conversion": ["bench_conversion.py"],
    "inference": ["bench_inference.py"],
    "notebooks": ["bench_notebooks.py"],
    "export": ["bench_export.py"],  # its table goes into export.md
}


def run(name: str, options: list[str]) -> dict:
    """Run one benchmark script with `options`; echo its table; return its JSON results."""
    command = [sys.executable, str(HERE / SCRIPTS[name][0]), "--json", str(results_file(name))]
    command += options
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


BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
BACKEND_COLOURS = {"tensorflow": "#dd8452", "jax": "#4c72b0", "torch": "#c44e52"}


def plot_notebooks(data: dict) -> None:
    rows = data["rows"]
    backends = data["backends"]
    names = list(dict.fromkeys(row["notebook"].removesuffix(".ipynb") for row in rows))
    by_key = {(row["notebook"].removesuffix(".ipynb"), row["backend"]): row for row in rows}
    height = 0.8 / len(backends)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 2 + 0.2 * len(names) * len(backends)), sharey=True
    )
    for offset, backend in enumerate(backends):
        positions = [i + (offset - (len(backends) - 1) / 2) * height for i in range(len(names))]
        # A chapter that is TensorFlow-only as a whole has no bar on the other backends.
        chapter = [by_key.get((name, backend)) for name in names]
        style = {"height": height, "color": BACKEND_COLOURS[backend]}
        label = BACKEND_NAMES[backend]
        seconds = [row["seconds"] if row else 0 for row in chapter]
        left.barh(positions, seconds, label=label, **style)
        peaks = [row["peak_mb"] if row else 0 for row in chapter]
        right.barh(positions, peaks, label=label, **style)
    left.axvline(30, color="black", ls="--", lw=1, label="budget: 30 s")
    left.axvline(20, color="grey", ls=":", lw=1, label="target here: 20 s")
    references = ", ".join(
        f"{BACKEND_NAMES[b]} {data['keras_import_seconds'][b]:.1f} s" for b in backends
    )
    left.set_xlabel(
        f"run time, kernel start to last cell (s), median of {data['repeats']}\n"
        f"speed reference, importing Keras: {references}"
    )
    left.set_xlim(0, max(40, max(row["seconds"] for row in rows) * 1.05))
    left.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=3, frameon=False, fontsize="small")
    left.set_yticks(range(len(names)), names)
    right.axvline(1200, color="black", ls="--", lw=1, label="budget: 1.2 GB")
    right.set_xlabel("kernel peak resident memory (MB)")
    right.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False, fontsize="small")
    left.invert_yaxis()
    names = ", ".join(BACKEND_NAMES[b] for b in backends)
    fig.suptitle(f"Each chapter's run time and peak memory against its budget ({names})")
    fig.tight_layout()
    fig.savefig(OUT / "notebooks.png", dpi=110)
    plt.close(fig)


def notebook_tables(notebooks: dict) -> list[str]:
    """The per-backend table of the chapters, then where each one's time goes."""
    backends = notebooks["backends"]
    by_key = {(row["notebook"], row["backend"]): row for row in notebooks["rows"]}
    names = list(dict.fromkeys(row["notebook"] for row in notebooks["rows"]))
    header = " | ".join(f"{BACKEND_NAMES[b]} (s)" for b in backends)
    memory = " / ".join(BACKEND_NAMES[b] for b in backends)
    lines = [
        "",
        f"Run time, median of {notebooks['repeats']} (× the chapter's TensorFlow time), "
        "and the kernel's peak memory:",
        "",
        f"| notebook | {header} | peak memory (MB), {memory} | within budget |",
        "| --- | " + "---: | " * len(backends) + "---: | :---: |",
    ]
    for name in names:
        chapter = [by_key.get((name, b)) for b in backends]  # None: TensorFlow-only chapter
        times = " | ".join(
            "TensorFlow only"
            if row is None
            else f"{row['seconds']:.1f}"
            + (
                ""
                if row["backend"] == "tensorflow" or row["ratio"] is None
                else f" ({row['ratio']:.1f}×)"
            )
            for row in chapter
        )
        peaks = " / ".join("–" if row is None else f"{row['peak_mb']:.0f}" for row in chapter)
        ran = [row for row in chapter if row is not None]
        mark = "yes" if all(row["within_budget"] for row in ran) else "**no**"
        lines.append(f"| {name} | {times} | {peaks} | {mark} |")
    ran_on = {b: [by_key[n, b] for n in names if (n, b) in by_key] for b in backends}
    totals = " | ".join(f"{sum(row['seconds'] for row in ran_on[b]):.1f}" for b in backends)
    peaks = " / ".join(f"{max(row['peak_mb'] for row in ran_on[b]):.0f}" for b in backends)
    lines.append(f"| **all** | {totals} | {peaks} | |")
    lines += [
        "",
        "Where the time goes: seconds inside `fit`, `evaluate` and `predict`; on JAX, the XLA "
        "compilations and the seconds spent tracing and compiling; the three slowest cells "
        "(cell index: seconds).",
        "",
        "| notebook | backend | fit, evaluate, predict (s) | compilations (s) | slowest cells |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for name in names:
        for backend in backends:
            row = by_key.get((name, backend))
            if row is None:
                continue
            compiles = (
                ""
                if row["compiles"] is None
                else f"{row['compiles']} ({row['compile_seconds']:.1f})"
            )
            cells = ", ".join(f"{index}: {seconds:.1f}" for index, seconds in row["slowest_cells"])
            # Rows recorded before the kernel probe existed have no breakdown.
            inside = "" if row["keras_seconds"] is None else f"{row['keras_seconds']:.1f}"
            lines.append(f"| {name} | {BACKEND_NAMES[backend]} | {inside} | {compiles} | {cells} |")
    references = "; ".join(
        f"on {BACKEND_NAMES[b]} {notebooks['keras_import_seconds'][b]:.2f} s" for b in backends
    )
    lines += [
        "",
        f"While the notebooks ran, importing Keras in a fresh process took {references}: the "
        "same work every time, it shows how fast this shared machine was during the run.",
    ]
    return lines


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
    lines += notebook_tables(notebooks)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCRIPTS),
        help="run only these benchmarks; the others' last recorded results are reused",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="the backends the notebooks run on (default: all three)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook and backend")
    args = parser.parse_args()
    only = args.only or list(SCRIPTS)
    options = {"notebooks": ["--backends", *args.backends, "--repeats", str(args.repeats)]}
    OUT.mkdir(parents=True, exist_ok=True)
    conversion, inference, notebooks, export = (
        run(name, options.get(name, [])) if name in only else recorded(name) for name in SCRIPTS
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
