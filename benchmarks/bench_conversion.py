"""How long conversions take, against re-calling the layers by hand and clone_model.

For chains of Dense layers of increasing depth, times (median of several repeats, all in
the same run and interleaved so that machine load affects every method alike):

- `to_functional(sequential)` and `to_sequential(functional)`, both with `copy=False`;
- bare Keras re-calling, the floor any conversion that shares layers must pay:
  `x = inp; for layer in layers: x = layer(x); keras.Model(inp, x)`;
- `keras.models.clone_model(functional)` followed by `set_weights(...)`, what a copy
  with the same weights costs with Keras alone.

Usage: python benchmarks/bench_conversion.py [--depths 50 100 200 400 800]
       [--repeats 5] [--width 16] [--clock wall|cpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from keras_convert import to_functional, to_sequential

METHODS = ("bare", "to_functional", "to_sequential", "clone_model")


def bare_recall(layers: list[keras.layers.Layer], width: int) -> keras.Model:
    inputs = keras.Input((width,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def clone_with_weights(model: keras.Model) -> keras.Model:
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(function: Callable[[], object], clock: Callable[[], float]) -> float:
    """Seconds one call takes, with the garbage collector paused during the call."""
    gc.collect()
    gc.disable()
    try:
        start = clock()
        function()
        return clock() - start
    finally:
        gc.enable()


def measure(depth: int, width: int, repeats: int, clock: Callable[[], float]) -> dict[str, float]:
    """Median seconds of each method for a chain of `depth` Dense layers."""
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(width, name=f"dense_{i}") for i in range(depth)]
    sequential = keras.Sequential([keras.Input((width,)), *layers], name="chain")
    functional = to_functional(sequential)
    runs: dict[str, Callable[[], object]] = {
        "bare": lambda: bare_recall(layers, width),
        "to_functional": lambda: to_functional(sequential),
        "to_sequential": lambda: to_sequential(functional),
        "clone_model": lambda: clone_with_weights(functional),
    }
    for run in runs.values():  # warm-up: first calls pay for tracing caches
        run()
    samples: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(repeats):
        for name in METHODS:
            samples[name].append(timed(runs[name], clock))
    return {name: statistics.median(values) for name, values in samples.items()}


def table(results: list[dict]) -> str:
    header = (
        f"{'depth':>5}  {'bare (s)':>9}  {'to_functional':>20}  {'to_sequential':>20}  "
        f"{'clone+set_weights':>20}"
    )
    lines = [header, "-" * len(header)]
    for row in results:
        bare = row["bare"]
        cells = [
            f"{row[name]:9.4f} ({row[name] / bare:5.2f}x)"
            for name in ("to_functional", "to_sequential", "clone_model")
        ]
        lines.append(
            f"{row['depth']:>5}  {bare:9.4f}  {cells[0]:>20}  {cells[1]:>20}  {cells[2]:>20}"
        )
    lines.append("Ratios are against bare re-calling of the same layers, measured in the same run.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall-clock time, or this process's CPU time (steadier on a busy machine)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    results = []
    for depth in args.depths:
        row = {"depth": depth, **measure(depth, args.width, args.repeats, CLOCKS[args.clock])}
        results.append(row)
        print(f"depth {depth}: done", file=sys.stderr)
    print(f"{args.clock} time, median of {args.repeats} repeats, Dense({args.width}) chains")
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": "conversion",
            "unit": f"seconds of {args.clock} time (median)",
            "repeats": args.repeats,
            "width": args.width,
            "environment": {
                "python": platform.python_version(),
                "keras": keras.__version__,
                "backend": keras.backend.backend(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
            },
            "results": [
                {**row, **{f"{name}_ratio": row[name] / row["bare"] for name in METHODS[1:]}}
                for row in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
