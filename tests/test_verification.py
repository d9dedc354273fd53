"""assert_equivalent: passes on equal functions, fails informatively on anything else."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import NotEquivalentError, UnbuiltModelError, assert_equivalent, to_functional
from tests.helpers import randomize, run_examples


def mlp(units=3, name="mlp"):
    return randomize(
        keras.Sequential(
            [keras.Input((5,)), layers.Dense(8, name="hidden"), layers.Dense(units, name="head")],
            name=name,
        )
    )


def test_a_model_is_equivalent_to_its_conversion():
    model = mlp()
    assert_equivalent(model, to_functional(model))


def test_a_perturbed_weight_fails_with_the_largest_difference():
    model = mlp()
    other = to_functional(model, copy=True)
    bias = other.get_layer("head").bias
    bias.assign(bias.numpy() + np.array([0.0, 0.5, 0.0], dtype="float32"))
    with pytest.raises(NotEquivalentError) as error:
        assert_equivalent(model, other)
    assert isinstance(error.value, AssertionError)
    assert error.value.max_abs_diff == pytest.approx(0.5, abs=1e-6)
    assert error.value.output_index == 0
    message = str(error.value)
    assert "output 0 ('head')" in message
    assert "largest absolute difference 0.5" in message
    assert "atol=1e-06" in message


def test_tolerances_are_honoured():
    model = mlp()
    other = to_functional(model, copy=True)
    bias = other.get_layer("head").bias
    bias.assign(bias.numpy() + 1e-4)
    with pytest.raises(NotEquivalentError):
        assert_equivalent(model, other)
    assert_equivalent(model, other, atol=1e-3)


def test_different_shapes_are_reported_before_calling():
    with pytest.raises(NotEquivalentError, match=r"different outputs.*\(None, 3\).*\(None, 4\)"):
        assert_equivalent(mlp(), mlp(units=4))
    small = keras.Sequential([keras.Input((2,)), layers.Dense(3)])
    with pytest.raises(NotEquivalentError, match=r"different inputs"):
        assert_equivalent(mlp(), small)


def test_a_model_that_rejects_explicit_inputs_is_not_equivalent():
    small = keras.Sequential([keras.Input((2,)), layers.Dense(3)], name="small")
    with pytest.raises(NotEquivalentError, match=r"\('small'\) cannot be called"):
        assert_equivalent(mlp(), small, np.ones((2, 5), dtype="float32"))


def test_inference_mode_is_used():
    """Dropout is the identity at inference only, and BatchNormalization uses its moving
    statistics only then: the two models agree in inference mode and in no other."""
    with_dropout = randomize(
        keras.Sequential(
            [keras.Input((5,)), layers.Dropout(0.9), layers.BatchNormalization(name="bn")]
        )
    )
    without = keras.Sequential([keras.Input((5,)), layers.BatchNormalization(name="bn")])
    without.set_weights(with_dropout.get_weights())
    assert_equivalent(with_dropout, without)
    # Last: a call in training mode also updates the moving statistics.
    x = np.random.default_rng(0).standard_normal((8, 5)).astype("float32")
    in_training = [keras.ops.convert_to_numpy(m(x, training=True)) for m in (with_dropout, without)]
    assert not np.allclose(*in_training)


class Noise(layers.Layer):
    """Adds fresh noise on every call, in inference mode too."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(0)

    def call(self, inputs):
        return inputs + keras.random.normal(keras.ops.shape(inputs), seed=self.generator)


def test_each_call_advances_the_random_state_as_a_direct_call_does():
    """A copy=True copy draws the same noise from its own generator; a model compared with
    itself draws twice from one generator, so its two calls differ."""
    model = keras.Sequential([keras.Input((3,)), Noise(name="noise")], name="noisy")
    assert_equivalent(model, to_functional(model, copy=True))
    with pytest.raises(NotEquivalentError, match="largest absolute difference"):
        assert_equivalent(model, model)


class SignFlip(keras.Model):
    """Negates its Dense layer's output unless the input's largest value is positive: Python
    control flow on a value, which a traced (compiled) call cannot take."""

    def __init__(self, dense):
        super().__init__(name="sign_flip")
        self.dense = dense

    def call(self, inputs, training=None):
        outputs = self.dense(inputs)
        return outputs if float(keras.ops.max(inputs)) > 0 else -outputs


def test_a_built_model_with_control_flow_on_values_is_compared():
    plain = mlp()
    model = SignFlip(plain)
    positive = np.ones((2, 5), dtype="float32")
    model(positive)  # built: on JAX, assert_equivalent first tries a compiled call
    assert_equivalent(plain, model, positive)
    with pytest.raises(NotEquivalentError, match="largest absolute difference"):
        assert_equivalent(plain, model, -positive)


def test_generated_inputs_follow_structure_and_dtype():
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    numbers = keras.Input((None, 2), name="numbers")
    embedded = layers.GlobalAveragePooling1D()(layers.Embedding(3, 2)(tokens))
    pooled = layers.GlobalAveragePooling1D()(numbers)
    model = keras.Model(
        {"tokens": tokens, "numbers": numbers}, layers.Concatenate()([embedded, pooled])
    )
    seen = {}

    class Spy(keras.Model):
        def call(self, inputs, training=None):
            seen.update(inputs)
            return model(inputs, training=training)

    assert_equivalent(model, Spy())
    tokens = keras.ops.convert_to_numpy(seen["tokens"])
    assert tokens.dtype == np.int32
    assert int(np.min(tokens)) >= 0
    assert int(np.max(tokens)) < 3
    assert tuple(seen["numbers"].shape) == (2, 8, 2)


def test_multiple_outputs_are_compared_one_by_one():
    inputs = keras.Input((3,))
    first = layers.Dense(2, name="first")(inputs)
    second = layers.Dense(2, name="second")(inputs)
    model = randomize(keras.Model(inputs, [first, second]))
    other = to_functional(model, copy=True)
    other.get_layer("second").bias.assign(np.ones(2, dtype="float32"))
    with pytest.raises(NotEquivalentError, match=r"output 1 \('second'\)"):
        assert_equivalent(model, other)


def test_unbuilt_model_needs_explicit_inputs():
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(UnbuiltModelError, match="pass x="):
        assert_equivalent(model, model)
    assert_equivalent(model, model, np.ones((1, 3), dtype="float32"))


def test_docstring_example_runs():
    assert run_examples(assert_equivalent) == 1
