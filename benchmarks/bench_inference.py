"""Inference throughput of a Sequential model and of its Functional conversion.

Usage: python benchmarks/bench_inference.py [--repeats N] [--json PATH]

The two APIs build the same graph of the same layers, so throughput should match: the ratio
Functional / Sequential should be 1.00 within the machine's noise. Runs of the two models are
interleaved (A B A B ...) so that drift in the machine's speed hits both alike; each ratio
is taken within one pair of runs, and the report gives the median ratio with its interquartile
range (a single stalled run on a shared machine would dominate a min-max spread).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras
import numpy as np

from keras_convert import to_functional

SAMPLES = 8192
BATCH = 256


def mlp() -> keras.Sequential:
    layers = [keras.Input(shape=(64,))]
    layers += [keras.layers.Dense(256, activation="relu") for _ in range(4)]
    layers += [keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers, name="mlp")


def cnn() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="cnn",
    )


def throughput(model: keras.Model, x: np.ndarray) -> float:
    """Samples per second of model.predict over x."""
    start = time.perf_counter()
    model.predict(x, batch_size=BATCH, verbose=0)
    return len(x) / (time.perf_counter() - start)


def compare(sequential: keras.Sequential, repeats: int) -> dict:
    functional = to_functional(sequential)
    x = np.random.default_rng(0).random((SAMPLES, *sequential.input_shape[1:]), dtype="float32")
    np.testing.assert_allclose(
        sequential.predict(x[:BATCH], verbose=0),
        functional.predict(x[:BATCH], verbose=0),
        rtol=0,
        atol=1e-6,
    )
    for model in (sequential, functional):  # warm-up: tracing happens on the first call
        throughput(model, x)
    ratios, seq_rates, fn_rates = [], [], []
    for _ in range(repeats):
        seq_rate = throughput(sequential, x)
        fn_rate = throughput(functional, x)
        seq_rates.append(seq_rate)
        fn_rates.append(fn_rate)
        ratios.append(fn_rate / seq_rate)
    quartiles = statistics.quantiles(ratios, n=4)
    return {
        "model": sequential.name,
        "sequential_samples_per_s": round(statistics.median(seq_rates)),
        "functional_samples_per_s": round(statistics.median(fn_rates)),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_q1": round(quartiles[0], 3),
        "ratio_q3": round(quartiles[2], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rows = [compare(build(), args.repeats) for build in (mlp, cnn)]
    print(f"{'model':<6} {'Sequential/s':>13} {'Functional/s':>13} {'ratio F/S (IQR)':>22}")
    for row in rows:
        spread = f"{row['ratio_median']:.2f} ({row['ratio_q1']:.2f}-{row['ratio_q3']:.2f})"
        print(
            f"{row['model']:<6} {row['sequential_samples_per_s']:>13,} "
            f"{row['functional_samples_per_s']:>13,} {spread:>22}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
