"""to_functional on subclassed models: an exact trace of `call`, or a typed error saying why."""

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_convert import (
    UnbuiltModelError,
    UnsupportedModelError,
    UntraceableModelError,
    assert_equivalent,
    to_functional,
    to_sequential,
)
from keras_convert.graph import is_graph_model
from tests.helpers import leaf_layers, outputs, randomize

X = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")


class Residual(keras.Model):
    """Straight-line call: a residual branch, a second branch, a keras.ops slice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Dense(4, activation="relu", name="stem")
        self.block = layers.Dense(4, name="block")
        self.side = layers.Dense(4, name="side")
        self.bn = layers.BatchNormalization(name="bn")
        self.drop = layers.Dropout(0.5, name="drop")
        self.head = layers.Dense(3, name="head")

    def call(self, inputs, training=None):
        x = self.stem(inputs)
        x = x + self.block(x)  # residual
        x = layers.concatenate([self.bn(x), self.side(inputs)])
        x = self.drop(x, training=training)
        return self.head(x) + inputs[:, :3]


def residual_model():
    model = Residual(name="residual")
    model(X)
    return randomize(model)


def test_a_straight_line_call_converts_exactly_sharing_its_layers():
    model = residual_model()
    converted = to_functional(model)
    assert is_graph_model(converted)
    assert converted.name == "residual"
    for name in ("stem", "block", "side", "bn", "drop", "head"):
        assert converted.get_layer(name) is model.get_layer(name)
    assert_equivalent(model, converted, X)


def test_copy_true_gives_independent_layers_with_bitwise_equal_weights():
    model = residual_model()
    copied = to_functional(model, copy=True)
    assert copied.get_layer("head") is not model.head
    for name, layer in leaf_layers(copied).items():
        if not layer.weights:  # the Concatenate made in call() has a generated name
            continue
        for copy, original in zip(layer.weights, model.get_layer(name).weights, strict=True):
            assert np.array_equal(copy.numpy(), original.numpy()), copy.path
    assert_equivalent(model, copied, X)
    model.head.kernel.assign(np.zeros((8, 3), "float32"))
    assert not np.array_equal(outputs(model, X), outputs(copied, X))


def test_the_result_computes_the_same_in_training_mode():
    """The Dropout gets the Functional model's training argument, as the original's did."""
    model = residual_model()
    copied = to_functional(model, copy=True)  # the copy's Dropout has the same seed state
    if keras.backend.backend() == "torch":
        pytest.skip("on PyTorch an unseeded Dropout draws from torch's global generator")
    trained, converted = outputs(model, X, training=True), outputs(copied, X, training=True)
    assert np.array_equal(trained, converted)
    assert not np.array_equal(trained, outputs(model, X, training=False))


def test_the_result_converts_further_to_sequential_when_its_graph_is_a_chain():
    class Chain(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(8, activation="relu", name="hidden")
            self.out = layers.Dense(2, name="out")

        def call(self, x):
            return self.out(self.hidden(x))

    model = Chain(name="chain")
    model(X)
    with pytest.raises(UnsupportedModelError, match=r"first: to_functional\(model\)"):
        to_sequential(model)
    sequential = to_sequential(to_functional(model))
    assert [layer.name for layer in sequential.layers] == ["hidden", "out"]
    assert_equivalent(model, sequential, X)


class DictModel(keras.Model):
    """Dict in, dict out."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.image = layers.Dense(4, name="image_path")
        self.first = layers.Dense(2, name="first_head")
        self.second = layers.Dense(3, name="second_head")

    def call(self, inputs):
        merged = self.image(inputs["image"]) + inputs["meta"]
        return {"first": self.first(merged), "second": self.second(merged)}


def test_dict_inputs_and_outputs_keep_their_keys():
    data = {"image": X, "meta": X[:, ::-1].copy()}
    model = DictModel(name="two_heads")
    model(data)
    converted = to_functional(model, copy=True)
    assert sorted(converted.input) == ["image", "meta"]
    assert sorted(converted.output) == ["first", "second"]
    assert_equivalent(model, converted, data)


def test_list_inputs_convert():
    class Pair(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, name="dense")

        def call(self, inputs):
            return self.dense(inputs[0] * inputs[1])

    model = Pair(name="pair")
    model([X, X + 1])
    converted = to_functional(model)
    assert isinstance(converted.input, list) and len(converted.input) == 2
    assert_equivalent(model, converted, [X, X + 1])


def test_an_unbuilt_subclassed_model_says_how_to_build_it():
    with pytest.raises(
        UnbuiltModelError, match=r"subclassed model 'residual' is not built.*model\(x\)"
    ):
        to_functional(Residual(name="residual"))


def refused(model, x, cause, **kwargs):
    """Builds `model` on `x`, asserts to_functional refuses it for `cause`; returns the error."""
    model(x)
    with pytest.raises(UntraceableModelError) as error:
        to_functional(model, **kwargs)
    assert error.value.cause == cause
    assert error.value.model_name == model.name
    assert isinstance(error.value, UnsupportedModelError)
    assert f"subclassed model '{model.name}' ({type(model).__name__})" in str(error.value)
    return error.value


def test_control_flow_on_a_tensor_value_is_refused():
    class Gate(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4)

        def call(self, x):
            if ops.sum(x) > 0:
                return self.dense(x)
            return x

    error = refused(Gate(name="gate"), X, "value", input_shape=(4,))
    assert "keras.ops.where" in str(error)
    assert "A symbolic KerasTensor cannot be used as a boolean" in str(error)


def test_a_model_keras_recorded_no_input_shape_for_asks_for_one():
    """On TensorFlow and JAX, Keras's own symbolic build at the first call fails on a
    value-dependent `if` too, and then records no input shape; PyTorch's records one."""

    class Gate(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4)

        def call(self, x):
            return self.dense(x) if ops.sum(x) > 0 else x

    cause = "value" if keras.backend.backend() == "torch" else "shape"
    error = refused(Gate(name="gate"), X, cause)
    if cause == "shape":
        assert "pass input_shape=..." in str(error)


def test_input_shape_sets_the_shape_call_is_traced_on():
    class Pool(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, name="dense")

        def call(self, x):
            return self.dense(ops.mean(x, axis=1))

    model = Pool(name="pool")
    model(np.ones((2, 5, 3), "float32"))
    converted = to_functional(model, input_shape=(None, 3))
    assert converted.input_shape == (None, None, 3)
    longer = np.random.default_rng(1).standard_normal((2, 7, 3)).astype("float32")
    assert_equivalent(model, converted, longer)


def test_an_if_training_that_adds_computation_is_refused():
    class Noisy(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4, name="dense")

        def call(self, x, training=None):
            y = self.dense(x)
            if training:
                y = y + 0.1 * ops.square(y)
            return y

    error = refused(Noisy(name="noisy"), X, "training")
    assert "training=True" in str(error)


def test_a_fixed_training_argument_passed_to_a_layer_is_refused():
    """A Functional model would override it with its own training argument in fit()."""

    class FrozenNorm(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.bn = layers.BatchNormalization(name="bn")

        def call(self, x):
            return self.bn(x, training=False)

    error = refused(FrozenNorm(name="frozen"), X, "training")
    assert "passes training=False to layer 'bn'" in str(error)


def test_a_layer_created_inside_call_is_refused():
    class Fresh(keras.Model):
        def call(self, x):
            return layers.Dense(2, name="fresh")(x)

    error = refused(Fresh(name="fresh_model"), X, "state")
    assert "layer 'fresh' (Dense)" in str(error)


def test_a_weight_of_the_model_used_outside_a_layer_is_refused():
    # The trace would read the variable (or, on Keras 3.6, its value) but hold it in no
    # layer: the result's weights, its copy=True copy and its saved file would all miss it.
    class Scaled(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, name="dense")
            self.scale = self.add_weight(shape=(2,), initializer="ones", name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    error = refused(Scaled(name="scaled"), X, "state")
    assert "holds the weight 'scaled/scale' itself, outside any layer" in str(error)


def test_python_state_that_changes_between_calls_is_refused():
    class Counter(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4)
            self.calls = 0

        def call(self, x):
            self.calls += 1
            return self.dense(x) * float(self.calls)

    refused(Counter(name="counter"), X, "varies")


def test_random_numbers_drawn_outside_a_layer_are_refused():
    class Jitter(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4)

        def call(self, x):
            return self.dense(x) + keras.random.normal((4,))

    refused(Jitter(name="jitter"), X, "varies", input_shape=(4,))


def test_another_tracing_failure_quotes_keras():
    class Eager(keras.Model):
        def call(self, x):
            return keras.ops.stack([x[i] for i in range(x.shape[0])])

    error = refused(Eager(name="eager"), X, "failed")
    assert "calling call() on symbolic inputs failed" in str(error)
