"""Time `keras_convert.export` (write, then run and compare) and weigh its artefacts.

Usage: python benchmarks/bench_export.py [--repeats N] [--json PATH]

For three model sizes (an MLP, a small CNN, MobileNetV2 at 96x96 with random weights) and
each format the backend exports, it times `keras_convert.export(model, path, format=...)`
end to end, the median of N runs: Keras writes the artefact, the library loads it in its
runtime and compares it with the model on generated inputs. It also records the artefact's
size (a SavedModel's: its folder's) against the size of the model's own `.keras` file. The
models are built fresh, never called: what a converted or loaded model looks like.
`table(results)` is the Markdown table that benchmarks/run.py puts on the Performance page.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SUFFIX = {"onnx": ".onnx", "litert": ".tflite", "tf_saved_model": ""}


def models() -> dict:
    """The three sizes, each built by a function (a fresh model per run)."""
    import keras
    from keras import layers

    def mlp():
        return keras.Sequential(
            [
                keras.Input((64,), name="pixels"),
                layers.Dense(256, activation="relu"),
                layers.Dense(256, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ],
            name="mlp",
        )

    def cnn():
        return keras.Sequential(
            [
                keras.Input((32, 32, 3), name="image"),
                layers.Conv2D(32, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Flatten(),
                layers.Dense(64, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ],
            name="small_cnn",
        )

    def mobilenet():
        return keras.applications.MobileNetV2(
            weights=None, input_shape=(96, 96, 3), classes=10, name="mobilenetv2_96"
        )

    return {"MLP": mlp, "small CNN": cnn, "MobileNetV2 (96×96)": mobilenet}


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def measure(repeats: int) -> dict:
    import keras

    import keras_convert
    from keras_convert import exporting

    backend = keras.backend.backend()
    formats = [f for b, f in exporting._ROUTES if b == backend]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, build in models().items():
            keras.utils.set_random_seed(0)
            model = build()
            keras_file = Path(folder) / f"{model.name}.keras"
            model.save(keras_file)
            row = {
                "model": label,
                "parameters": model.count_params(),
                "keras_bytes": size_of(keras_file),
            }
            for format in formats:
                path = Path(folder) / f"{model.name}_{format}{SUFFIX[format]}"
                seconds = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    report = keras_convert.export(model, path, format=format)
                    seconds.append(time.perf_counter() - start)
                row[format] = {
                    "seconds": statistics.median(seconds),
                    "bytes": size_of(path),
                    "max_abs_diff": report.max_abs_diff,
                }
                print(f"{label:22} {format:15} {row[format]['seconds']:6.2f} s", flush=True)
            rows.append(row)
    return {
        "backend": backend,
        "keras": keras.__version__,
        "cpus": os.cpu_count(),
        "measured": datetime.date.today().isoformat(),
        "repeats": repeats,
        "rows": rows,
    }


def table(results: dict) -> str:
    """The Markdown table: per model and format, seconds and size against the .keras file."""
    formats = [f for f in SUFFIX if f in results["rows"][0]]
    lines = [
        f"Export and verify with Keras {results['keras']} on the {results['backend']} backend, "
        f"{results['cpus']} CPUs, measured {results['measured']}; seconds: the median of "
        f"{results['repeats']} runs; size: the artefact's, and its ratio to the `.keras` file's.",
        "",
        "| model | parameters | `.keras` | "
        + " | ".join(f"{f}: seconds | {f}: size" for f in formats)
        + " |",
        "| --- | ---: | ---: |" + " ---: | ---: |" * len(formats),
    ]
    for row in results["rows"]:
        cells = [row["model"], f"{row['parameters']:,}", f"{row['keras_bytes'] / 1e6:.2f} MB"]
        for format in formats:
            measured = row[format]
            ratio = measured["bytes"] / row["keras_bytes"]
            cells += [
                f"{measured['seconds']:.1f}",
                f"{measured['bytes'] / 1e6:.2f} MB ({ratio:.2f}×)",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per model and format")
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    results = measure(arguments.repeats)
    print(table(results))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
