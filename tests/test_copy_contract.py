"""The `copy=` contract under training, for every function that takes `copy=`, on any backend.

`copy=True`: training the result leaves the original's variables bitwise unchanged (and it
still predicts), and training the original leaves the result's unchanged. `copy=False`:
the two models hold the same variables, so training either changes both identically.

Training is where backends differ: JAX's trainer donates the buffers of the variables it
trains, so a copy that shared a buffer with its original would delete the original's weights
(keras_convert 0.2.0 did, on JAX only). Every model here has state that training changes
besides the kernels: BatchNormalization's moving statistics, Dropout's seed generator.
"""

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import (
    extract,
    flatten,
    insert_layer,
    remove_layer,
    replace_layer,
    to_functional,
    to_sequential,
)

FEATURES = 6


def stack(name="stack"):
    return keras.Sequential(
        [
            keras.Input((FEATURES,), name="features"),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.3, name="drop"),
            layers.Dense(8, name="extra"),
            layers.Dense(1, name="head"),
        ],
        name=name,
    )


def chain():
    inputs = keras.Input((FEATURES,), name="features")
    x = layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.Dense(8, name="extra")(x)
    return keras.Model(inputs, layers.Dense(1, name="head")(x), name="chain")


def nested():
    inner = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.BatchNormalization(name="bn"),
        ],
        name="inner",
    )
    inputs = keras.Input((FEATURES,), name="features")
    x = layers.Dropout(0.3, name="drop")(inner(inputs))
    return keras.Model(inputs, layers.Dense(1, name="head")(x), name="nested")


class Stack(keras.Model):
    """`stack` as a subclassed model, built by one call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu", name="hidden")
        self.bn = layers.BatchNormalization(name="bn")
        self.drop = layers.Dropout(0.3, name="drop")
        self.extra = layers.Dense(8, name="extra")
        self.head = layers.Dense(1, name="head")

    def call(self, inputs, training=None):
        x = self.bn(self.hidden(inputs), training=training)
        return self.head(self.extra(self.drop(x, training=training)))


def subclassed():
    model = Stack(name="subclassed")
    model(np.zeros((1, FEATURES), "float32"))
    return model


# (what it does, how to make the original, the call under test with its copy= argument)
OPERATIONS = {
    "to_functional": (stack, lambda m, copy: to_functional(m, copy=copy)),
    "to_functional of a subclassed model": (
        subclassed,
        lambda m, copy: to_functional(m, copy=copy),
    ),
    "to_sequential": (chain, lambda m, copy: to_sequential(m, copy=copy)),
    "extract": (chain, lambda m, copy: extract(m, outputs="extra", copy=copy)),
    "flatten": (nested, lambda m, copy: flatten(m, copy=copy)),
    "insert_layer": (
        stack,
        lambda m, copy: insert_layer(m, layers.Dense(8, name="new"), after="hidden", copy=copy),
    ),
    "remove_layer": (stack, lambda m, copy: remove_layer(m, "extra", copy=copy)),
    "replace_layer": (
        chain,
        lambda m, copy: replace_layer(m, "extra", layers.Dense(8, name="other"), copy=copy),
    ),
}


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, FEATURES)).astype("float32")
    return x, rng.standard_normal((32, 1)).astype("float32")


def train(model):
    """One step of Adam, as `fit` runs it: moves kernels, moving statistics and the Dropout
    seed (and on JAX donates the buffers it trains, the first step as any)."""
    x, y = data()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)


def randomise(model):
    """Values no initializer gives, as a trained model has (moving variances positive)."""
    rng = np.random.default_rng(1)
    for variable in model.weights:
        value = rng.standard_normal(variable.shape)
        value = np.abs(value) + 0.5 if "variance" in variable.path else value
        variable.assign(value.astype(variable.dtype))


def snapshot(model):
    """Every variable's value as a host copy, by path (which outlives donated buffers)."""
    return {v.path: as_array(v) for v in model.variables}


def as_array(variable):
    """A host copy of a variable's value."""
    return np.array(keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(variable)))


def predict(model):
    return keras.ops.convert_to_numpy(model(data(1)[0], training=False))


def assert_unchanged(model, before_variables, before_predictions):
    after = snapshot(model)
    assert after.keys() == before_variables.keys()
    for path, value in before_variables.items():
        assert np.array_equal(after[path], value), f"{path} changed"
    np.testing.assert_array_equal(predict(model), before_predictions)


def originals(operation):
    make, convert = OPERATIONS[operation]
    keras.utils.set_random_seed(0)
    model = make()
    randomise(model)  # weights and statistics as a trained original has them
    return model, convert


@pytest.mark.parametrize("trained", ["copy", "original"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_training_one_side_of_a_copy_leaves_the_other_untouched(operation, trained):
    original, convert = originals(operation)
    copied = convert(original, copy=True)
    watched, trainee = (original, copied) if trained == "copy" else (copied, original)
    variables, predictions = snapshot(watched), predict(watched)
    train(trainee)
    assert_unchanged(watched, variables, predictions)


def shared_paths(original, result):
    """Paths of the original's variables that `result` holds too (the untouched layers)."""
    own = {id(v) for v in result.variables}
    return [v.path for v in original.variables if id(v) in own]


@pytest.mark.parametrize("trained", ["result", "original"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_copy_false_shares_state_so_training_either_changes_both(operation, trained):
    original, convert = originals(operation)
    result = convert(original, copy=False)
    paths = shared_paths(original, result)
    for name in ("hidden/kernel", "bn/moving_mean"):
        assert any(path.endswith(name) for path in paths), name
    before = snapshot(original)
    train(result if trained == "result" else original)
    after_original = snapshot(original)
    by_path = {v.path: v for v in result.variables}
    for path in paths:
        moved = as_array(by_path[path])
        np.testing.assert_array_equal(moved, after_original[path])
    assert not np.array_equal(after_original[paths[0]], before[paths[0]])
