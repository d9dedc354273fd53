"""Helpers shared by the test modules (plain functions; conftest.py wraps some as fixtures)."""

import inspect
import os
import re
import subprocess
import sys

import keras
import numpy as np

import keras_convert

KERAS_VERSION = tuple(int(part) for part in keras.__version__.split(".")[:2])


def names(model: keras.Model) -> list[str]:
    """The names of `model.layers`, in order."""
    return [layer.name for layer in model.layers]


def residual() -> keras.Model:
    """x -> a -> b, then add(a, b) -> head: a branch that merges again (4 features in, 2 out)."""
    inputs = keras.Input((4,), name="x")
    a = keras.layers.Dense(4, name="a")(inputs)
    merged = keras.layers.Add(name="add")([a, keras.layers.Dense(4, name="b")(a)])
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(merged), name="residual")


def sample_input(model: keras.Model, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Seeded standard-normal float32 values for a single-input model."""
    shape = (batch, *model.input_shape[1:])
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def randomize(model: keras.Model, seed: int = 1) -> keras.Model:
    """Gives every weight non-trivial values (variances stay positive), in place."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.standard_normal(tuple(weight.shape)) * 0.5
        if "variance" in weight.path:
            values = np.abs(values) + 0.5
        weight.assign(values.astype(weight.dtype))
    return model


def outputs(model: keras.Model, x, **kwargs) -> np.ndarray:
    """`model(x)` as a NumPy array, on every backend (a torch tensor refuses np.asarray)."""
    return keras.ops.convert_to_numpy(model(x, **kwargs))


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    """Same number of weights, same shapes, bitwise-equal values, in order."""
    weights_a, weights_b = a.weights, b.weights
    assert len(weights_a) == len(weights_b)
    for wa, wb in zip(weights_a, weights_b, strict=True):
        assert np.array_equal(np.asarray(wa.numpy()), np.asarray(wb.numpy())), wa.path


def leaf_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer that is neither a model nor an input, by name, inside nested models too."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(leaf_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            found[layer.name] = layer
    return found


def run_examples(*objects) -> int:
    """Runs the ```python examples of the objects' docstrings; returns how many ran."""
    namespace = {name: getattr(keras_convert, name) for name in keras_convert.__all__}
    count = 0
    for obj in objects:
        for block in re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S):
            exec(block, {"keras": keras, **namespace})
            count += 1
    return count


def recorded_calls(model: keras.Model) -> list[tuple[str, list[str], dict]]:
    """Each call a Functional model records, from its public config (`get_config()`):
    (the operation's name, the names of the operations whose outputs it takes, its keyword
    arguments other than tensors). Independent of keras_convert's own graph reader."""
    calls = []
    for entry in model.get_config()["layers"]:
        for node in entry["inbound_nodes"]:
            sources = [history[0] for history in _histories(node["args"])]
            sources += [history[0] for history in _histories(node["kwargs"])]
            kwargs = {k: v for k, v in node["kwargs"].items() if not _histories(v)}
            calls.append((entry["name"], sources, kwargs))
    return calls


def _histories(value) -> list:
    """The `keras_history` of every serialized symbolic tensor inside `value`."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"]]
        return [h for item in value.values() for h in _histories(item)]
    if isinstance(value, list | tuple):
        return [h for item in value for h in _histories(item)]
    return []


def run(*arguments, cwd):
    """`python -m keras_convert ARGUMENTS` in `cwd`: (exit code, stdout, stderr).

    With oneDNN on and no TF_CPP_MIN_LOG_LEVEL: TensorFlow's start-up notices must not reach
    the command's stderr even then."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
    env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    completed = subprocess.run(
        [sys.executable, "-m", "keras_convert", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed.returncode, completed.stdout, completed.stderr


def one_line(stderr):
    """The one line an error prints: short, and without a serialized configuration."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert len(lines[0]) <= 320 and "config=" not in lines[0] and "{'" not in lines[0], lines[0]
    return lines[0]
