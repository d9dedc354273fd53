"""Shared fixtures: seeded Keras, weight helpers, and the book built once per test run."""

import inspect
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import keras_convert
from tests.sitebuild import build_site


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _randomize(model: keras.Model, seed: int = 1) -> keras.Model:
    """Gives every weight non-trivial values (variances stay positive), in place."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.standard_normal(tuple(weight.shape)) * 0.5
        if "variance" in weight.path:
            values = np.abs(values) + 0.5
        weight.assign(values.astype(weight.dtype))
    return model


def _assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    """Same number of weights, same shapes, bitwise-equal values, in order."""
    weights_a, weights_b = a.weights, b.weights
    assert len(weights_a) == len(weights_b)
    for wa, wb in zip(weights_a, weights_b, strict=True):
        assert np.array_equal(np.asarray(wa.numpy()), np.asarray(wb.numpy())), wa.path


@pytest.fixture
def randomize():
    """`randomize(model, seed=1)`: assigns seeded random values to all weights."""
    return _randomize


@pytest.fixture
def assert_same_weights():
    """`assert_same_weights(a, b)`: weights bitwise equal, in order."""
    return _assert_same_weights


def _run_examples(*objects) -> int:
    """Runs the ```python examples of the objects' docstrings; returns how many ran."""
    namespace = {name: getattr(keras_convert, name) for name in keras_convert.__all__}
    count = 0
    for obj in objects:
        for block in re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S):
            exec(block, {"keras": keras, **namespace})
            count += 1
    return count


@pytest.fixture
def run_examples():
    """`run_examples(*functions)`: runs their docstring examples, returns the count."""
    return _run_examples


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The book built strictly (-W -n) into a scratch folder, once per run: its html folder."""
    return build_site(tmp_path_factory.mktemp("site"))
