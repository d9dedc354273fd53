"""to_functional, to_sequential, is_sequential and flatten."""

import re

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_convert import (
    ConversionError,
    IncompatibleShapeError,
    NotSequentialError,
    UnbuiltModelError,
    UnsupportedModelError,
    assert_equivalent,
    flatten,
    is_sequential,
    to_functional,
    to_sequential,
)
from tests.helpers import (
    KERAS_VERSION,
    assert_same_weights,
    names,
    outputs,
    randomize,
    residual,
    run_examples,
)


def mlp(name="mlp"):
    return keras.Sequential(
        [
            keras.Input((6,), name="features"),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(3, name="head"),
        ],
        name=name,
    )


def functional_chain(name="chain"):
    inputs = keras.Input((6,), name="features")
    x = layers.Dense(8, activation="relu", name="hidden")(inputs)
    x = layers.Dropout(0.5, name="drop")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x), name=name)


class Doubling(layers.Layer):
    """Doubles its input in training mode: shows which `training` value a call received."""

    def call(self, x, training=None):
        return x * 2.0 if training else x


def doubles_when_called_plainly(model):
    """Whether `model(x)`, with no `training` argument, runs a recorded `training=True`."""
    x = np.ones((1, 4), "float32")
    return bool(np.allclose(keras.ops.convert_to_numpy(model(x)), 2.0 * x))


# --- to_functional ---------------------------------------------------------------------------


def test_to_functional_of_a_sequential_model():
    model = randomize(mlp())
    functional = to_functional(model)
    assert not isinstance(functional, keras.Sequential)
    assert functional.name == "mlp"
    assert names(functional) == ["features", "hidden", "bn", "drop", "head"]
    assert all(a is b for a, b in zip(functional.layers[1:], model.layers, strict=True))
    assert_equivalent(model, functional)


def test_to_functional_keeps_input_name_dtype_and_fixed_batch_size():
    model = keras.Sequential(
        [
            keras.Input((5,), batch_size=4, dtype="int32", name="tokens"),
            layers.Embedding(10, 3),
            layers.GlobalAveragePooling1D(),
        ]
    )
    functional = to_functional(model)
    (tensor,) = functional.inputs
    assert (tensor.shape, tensor.dtype, functional.layers[0].name) == (
        (4, 5),
        "int32",
        "tokens",
    )


def test_to_functional_of_a_functional_model_is_a_new_equivalent_model():
    model = randomize(residual())
    converted = to_functional(model)
    assert converted is not model
    assert names(converted) == names(model)
    assert_equivalent(model, converted)


def test_to_functional_keeps_multi_input_structure():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    merged = layers.Concatenate(name="cat")([a, b])
    model = keras.Model({"a": a, "b": b}, layers.Dense(1, name="out")(merged))
    converted = to_functional(model)
    assert isinstance(converted.input, dict)
    assert sorted(converted.input) == ["a", "b"]
    assert_equivalent(model, converted)


def test_unbuilt_sequential_needs_an_input_shape():
    model = keras.Sequential([layers.Dense(4), layers.Dense(1)], name="lazy")
    with pytest.raises(UnbuiltModelError) as error:
        to_functional(model)
    message = str(error.value)
    assert "'lazy'" in message
    assert "input_shape=" in message
    assert "keras.Input" in message


def test_unbuilt_sequential_converts_with_input_shape():
    model = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    functional = to_functional(model, input_shape=(7,))
    assert functional.input_shape == (None, 7)
    assert model.layers[0].built  # copy=False: the shared layers got built
    np.testing.assert_array_equal(
        outputs(functional, np.ones((2, 7))), outputs(model, np.ones((2, 7)))
    )


def test_unbuilt_sequential_with_copy_leaves_the_original_untouched():
    model = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    functional = to_functional(model, input_shape=(7,), copy=True)
    assert functional.built
    assert not model.layers[0].built


def test_unbuilt_sequential_with_an_impossible_input_shape_names_the_layer():
    model = keras.Sequential([layers.Conv2D(2, 3, name="conv")])
    with pytest.raises(IncompatibleShapeError, match="'conv'"):
        to_functional(model, input_shape=(5,))


def test_input_shape_must_match_a_built_model():
    with pytest.raises(ConversionError, match=r"built for input shape \(6,\)"):
        to_functional(mlp(), input_shape=(5,))
    assert to_functional(mlp(), input_shape=(6,)).input_shape == (None, 6)


def test_to_functional_preserves_call_arguments():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, Doubling(name="double")(inputs, training=True))
    assert doubles_when_called_plainly(model)
    assert doubles_when_called_plainly(to_functional(model))
    assert doubles_when_called_plainly(to_functional(model, copy=True))


def test_to_functional_keeps_raw_ops():
    inputs = keras.Input((4,))
    x = layers.Dense(4, name="d")(inputs)
    x = ops.tanh(x) * 2.0
    model = randomize(keras.Model(inputs, layers.Dense(1, name="out")(x)))
    for copy in (False, True):
        assert_equivalent(model, to_functional(model, copy=copy))


# --- copy semantics ---------------------------------------------------------------------------


@pytest.mark.parametrize("convert", [to_functional, to_sequential])
def test_copy_false_shares_weights(convert):
    model = randomize(mlp())
    converted = convert(model)
    kernel = model.get_layer("hidden").kernel
    kernel.assign(kernel.numpy() + 1.0)
    np.testing.assert_array_equal(converted.get_layer("hidden").kernel.numpy(), kernel.numpy())
    assert_equivalent(model, converted)


@pytest.mark.parametrize("convert", [to_functional, to_sequential])
def test_copy_true_gives_independent_bitwise_equal_weights(convert):
    model = randomize(mlp())
    converted = convert(model, copy=True)
    assert_same_weights(model, converted)
    assert converted.get_layer("hidden") is not model.get_layer("hidden")
    before = converted.get_layer("hidden").kernel.numpy().copy()
    kernel = model.get_layer("hidden").kernel
    kernel.assign(kernel.numpy() + 1.0)
    np.testing.assert_array_equal(converted.get_layer("hidden").kernel.numpy(), before)


def test_copy_true_keeps_sharing_inside_the_copy():
    inputs = keras.Input((4,))
    shared = layers.Dense(4, name="shared")
    model = keras.Model(inputs, shared(layers.ReLU()(shared(inputs))))
    converted = to_functional(model, copy=True)
    assert names(converted) == names(model)  # the copy is listed once: one layer, two calls
    assert len(converted.weights) == len(model.weights) == 2
    assert converted.get_layer("shared") is not shared


def test_trainable_flags_and_names_are_kept():
    model = randomize(mlp())
    model.get_layer("hidden").trainable = False
    for copy in (False, True):
        for converted in (to_functional(model, copy=copy), to_sequential(model, copy=copy)):
            assert not converted.get_layer("hidden").trainable
            assert converted.get_layer("head").trainable
            assert names(converted)[-4:] == ["hidden", "bn", "drop", "head"]
            assert len(converted.trainable_weights) == len(model.trainable_weights)


def test_model_level_trainable_flag_is_kept_without_touching_layers():
    model = mlp()
    model.trainable = False
    model.get_layer("head").trainable = True
    converted = to_functional(model)
    assert not converted.trainable
    assert converted.trainable_weights == []
    assert model.get_layer("head").trainable


def test_compile_state_is_not_kept():
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    for converted in (to_functional(model), to_sequential(to_functional(model))):
        assert not converted.compiled
        assert getattr(converted, "optimizer", None) is None
        converted.compile_from_config(model.get_compile_config())
        assert converted.compiled


def test_batch_norm_moving_statistics_are_kept():
    model = randomize(mlp())
    data = np.random.default_rng(0).standard_normal((16, 6)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data, np.zeros((16, 3)), epochs=1, verbose=0)
    copied = to_sequential(to_functional(model, copy=True), copy=True)
    assert_same_weights(model, copied)
    moving_mean = model.get_layer("bn").moving_mean.numpy()
    assert not np.allclose(moving_mean, 0.0)
    np.testing.assert_array_equal(copied.get_layer("bn").moving_mean.numpy(), moving_mean)
    assert_equivalent(model, copied)


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reducer", [layers.LSTM(3), layers.GlobalAveragePooling1D()])
def test_masks_propagate_after_conversion(reducer):
    model = keras.Sequential(
        [keras.Input((5,), dtype="int32"), layers.Embedding(10, 4, mask_zero=True), reducer]
    )
    padded = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 0, 0]], dtype="int32")
    functional = to_functional(model)
    back = to_sequential(functional, copy=True)
    assert_equivalent(model, functional, padded)
    assert_equivalent(model, back, padded)
    # The mask matters, so the comparisons above could have failed.
    embedding = layers.Embedding(10, 4)
    unmasked = keras.Sequential([keras.Input((5,), dtype="int32"), embedding, reducer])
    embedding.embeddings.assign(model.layers[0].embeddings)
    assert not np.allclose(outputs(model, padded), outputs(unmasked, padded))


# --- to_sequential ---------------------------------------------------------------------------


def test_linear_functional_converts_directly():
    model = randomize(functional_chain())
    sequential = to_sequential(model)
    assert isinstance(sequential, keras.Sequential)
    assert sequential.name == "chain"
    assert names(sequential) == ["hidden", "drop", "head"]
    assert sequential.inputs[0].name == "features"
    assert_equivalent(model, sequential)


def test_sequential_input_gives_a_new_equivalent_sequential():
    model = randomize(mlp())
    converted = to_sequential(model)
    assert converted is not model
    assert names(converted) == names(model)
    assert_equivalent(model, converted)


def test_unbuilt_sequential_stays_unbuilt():
    model = keras.Sequential([layers.Dense(2), layers.Dense(1)])
    converted = to_sequential(model)
    assert not converted.built
    assert converted.layers == model.layers
    assert is_sequential(model)


def two_inputs():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    return keras.Model([a, b], layers.Add(name="sum")([a, b]), name="two_in")


def two_outputs():
    inputs = keras.Input((2,), name="x")
    hidden = layers.Dense(2, name="trunk")(inputs)
    out_a = layers.Dense(1, name="out_a")(hidden)
    out_b = layers.Dense(1, name="out_b")(hidden)
    return keras.Model(inputs, [out_a, out_b], name="two_out")


def shared_layer():
    inputs = keras.Input((4,), name="x")
    dense = layers.Dense(4, name="dense")
    return keras.Model(inputs, dense(dense(inputs)), name="shared")


def merge_of_one_tensor():
    inputs = keras.Input((4,), name="x")
    x = layers.Dense(4, name="d")(inputs)
    return keras.Model(inputs, layers.Add(name="double")([x, x]), name="doubled")


def extra_arguments():
    inputs = keras.Input((4,), name="x")
    x = layers.BatchNormalization(name="bn")(inputs, training=False)
    return keras.Model(inputs, layers.Dense(1, name="out")(x), name="frozen_bn")


def raw_op():
    inputs = keras.Input((4,), name="x")
    x = ops.abs(layers.Dense(4, name="d")(inputs))
    return keras.Model(inputs, layers.Dense(1, name="out")(x), name="with_op")


class Halves(layers.Layer):
    def call(self, x):
        return x[:, :2], x[:, 2:]

    def compute_output_spec(self, x):
        half = keras.KerasTensor((x.shape[0], 2), dtype=x.dtype)
        return half, keras.KerasTensor((x.shape[0], 2), dtype=x.dtype)


def two_tensors_out():
    inputs = keras.Input((4,), name="x")
    first, _ = Halves(name="halves")(inputs)
    return keras.Model(inputs, layers.Dense(1, name="out")(first), name="split")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (two_inputs, r"model 'two_in' has 2 inputs \(from 'a' and 'b'\)"),
        (two_outputs, r"model 'two_out' has 2 outputs \(from 'out_a' and 'out_b'\)"),
        (
            residual,
            r"the output of layer 'a' feeds 2 layers \('b' and 'add'\), a branch that "
            r"merges again at layer 'add'",
        ),
        (shared_layer, r"layer 'dense' is called 2 times \(shared layer"),
        (merge_of_one_tensor, r"layer 'double' merges 2 inputs \(from 'd' and 'd'\)"),
        (extra_arguments, r"layer 'bn' is called with extra arguments \{'training': False\}"),
        (raw_op, r"operation 'absolute' \(a keras.ops call on symbolic tensors, not a Layer\)"),
        (two_tensors_out, r"layer 'halves' returns 2 tensors"),
    ],
)
def test_not_sequential_errors_name_the_offending_layer(make, expected):
    model = make()
    with pytest.raises(NotSequentialError, match=expected):
        to_sequential(model)
    assert not is_sequential(model)


def test_multi_input_and_output_models_never_convert_even_with_grouping():
    for make in (two_inputs, two_outputs):
        with pytest.raises(NotSequentialError, match="a Sequential model has exactly one input"):
            to_sequential(make(), group_branches=True)


@pytest.mark.skipif(
    (3, 10) <= KERAS_VERSION <= (3, 13),
    reason="Keras 3.10 to 3.13 refuse to build keras.Model(inputs, inputs) at all",
)
def test_model_without_layers_is_not_sequential():
    inputs = keras.Input((3,))
    with pytest.raises(NotSequentialError, match="no layers"):
        to_sequential(keras.Model(inputs, inputs, name="identity"))


def test_keras_own_shortcut_silently_computes_something_else():
    """The trap this library guards against: Sequential(f.layers) builds, but is wrong."""
    for model in (randomize(shared_layer()), randomize(raw_op())):
        naive = keras.Sequential(model.layers)
        with pytest.raises(AssertionError):
            assert_equivalent(model, naive)
        with pytest.raises(NotSequentialError):
            to_sequential(model)


@pytest.mark.parametrize(
    "make", [residual, shared_layer, merge_of_one_tensor, extra_arguments, raw_op, two_tensors_out]
)
def test_group_branches_converts_every_single_input_output_model(make):
    model = randomize(make())
    for copy in (False, True):
        grouped = to_sequential(model, group_branches=True, copy=copy)
        assert isinstance(grouped, keras.Sequential)
        assert_equivalent(model, grouped)


def test_group_branches_names_blocks_after_their_first_and_last_layers():
    model = residual()
    grouped = to_sequential(model, group_branches=True)
    assert names(grouped) == ["a", "block_b_to_add", "head"]
    block = grouped.get_layer("block_b_to_add")
    assert names(block)[1:] == ["b", "add"]
    assert block.get_layer("b") is model.get_layer("b")


def test_group_branches_keeps_single_odd_calls_in_small_blocks():
    grouped = to_sequential(extra_arguments(), group_branches=True)
    assert names(grouped) == ["block_bn", "out"]
    inputs = keras.Input((4,))
    model = keras.Model(inputs, Doubling(name="double")(inputs, training=True))
    grouped = to_sequential(model, group_branches=True)
    assert names(grouped) == ["block_double"]
    assert doubles_when_called_plainly(grouped)


def test_dropout_default_training_argument_is_not_an_extra_argument():
    """Keras records `training=False` on every Dropout call; that must not block conversion."""
    assert is_sequential(functional_chain())


# --- nested models ---------------------------------------------------------------------------


def sequential_inside_functional():
    backbone = keras.Sequential(
        [keras.Input((4,)), layers.Dense(8, name="inner_1"), layers.Dense(8, name="inner_2")],
        name="backbone",
    )
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, layers.Dense(2, name="head")(backbone(inputs)), name="outer")


def functional_inside_sequential():
    inputs = keras.Input((4,))
    block_out = layers.Add(name="add")([inputs, layers.Dense(4, name="inner")(inputs)])
    block = keras.Model(inputs, block_out, name="res_block")
    return keras.Sequential(
        [
            keras.Input((4,), name="x"),
            layers.Dense(4, name="stem"),
            block,
            layers.Dense(2, name="head"),
        ],
        name="outer_seq",
    )


def test_to_functional_keeps_nested_models_nested():
    for model in (
        randomize(sequential_inside_functional()),
        randomize(functional_inside_sequential()),
    ):
        for copy in (False, True):
            converted = to_functional(model, copy=copy)
            nested = [layer for layer in converted.layers if isinstance(layer, keras.Model)]
            assert len(nested) == 1
            original = next(layer for layer in model.layers if isinstance(layer, keras.Model))
            assert (nested[0] is original) is (not copy)
            assert type(nested[0]) is type(original)
            assert_equivalent(model, converted)


def test_to_sequential_flatten_inlines_a_nested_sequential():
    model = randomize(sequential_inside_functional())
    assert names(to_sequential(model)) == ["inner_1", "inner_2", "head"]
    assert names(to_sequential(model, flatten=False)) == ["backbone", "head"]
    for flat in (True, False):
        assert_equivalent(model, to_sequential(model, flatten=flat, copy=True))


def test_to_sequential_flatten_inlines_a_nested_linear_functional():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, layers.Dense(4, name="inner")(inner_in), name="linear_sub")
    model = randomize(
        keras.Sequential([keras.Input((4,)), inner, layers.Dense(1, name="head")], name="outer")
    )
    assert names(to_sequential(model)) == ["inner", "head"]
    assert names(flatten(model)) == ["inner", "head"]
    assert names(to_sequential(model, flatten=False)) == ["linear_sub", "head"]
    assert_equivalent(model, to_sequential(model))


def test_to_sequential_keeps_a_nested_non_linear_model_as_a_block():
    model = randomize(functional_inside_sequential())
    assert names(to_sequential(model)) == ["stem", "res_block", "head"]
    assert_equivalent(model, to_sequential(model))


def test_flatten_keeps_the_outer_api():
    functional = randomize(sequential_inside_functional())
    flat = flatten(functional)
    assert not isinstance(flat, keras.Sequential)
    assert names(flat) == ["x", "inner_1", "inner_2", "head"]
    assert_equivalent(functional, flat)

    sequential = randomize(functional_inside_sequential())
    flat_sequential = flatten(sequential)
    assert isinstance(flat_sequential, keras.Sequential)
    assert names(flat_sequential) == ["stem", "res_block", "head"]


def test_flatten_inlines_non_linear_sub_models_into_a_functional_model():
    inner_in = keras.Input((4,))
    block = keras.Model(
        inner_in,
        layers.Add(name="add")([inner_in, layers.Dense(4, name="inner")(inner_in)]),
        name="res_block",
    )
    inputs = keras.Input((4,), name="x")
    model = randomize(keras.Model(inputs, layers.Dense(1, name="head")(block(inputs))))
    flat = flatten(model)
    assert names(flat) == ["x", "inner", "add", "head"]
    assert_equivalent(model, flat)


@pytest.mark.parametrize("copy", [False, True])
def test_flatten_passes_the_recorded_training_argument_to_the_inlined_layers(copy):
    inner_in = keras.Input((4,))
    base = keras.Model(inner_in, Doubling(name="double")(inner_in), name="base")
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, base(inputs, training=True))
    flat = flatten(model, copy=copy)
    assert names(flat) == ["x", "double"]
    assert (flat.get_layer("double") is base.get_layer("double")) is not copy
    assert doubles_when_called_plainly(model)
    assert doubles_when_called_plainly(flat)


def test_nested_models_with_clashing_names_stay_nested():
    first = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="fc")], name="first")
    second = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="fc")], name="second")
    inputs = keras.Input((4,), name="x")
    model = randomize(keras.Model(inputs, second(first(inputs)), name="clash"))
    assert names(to_sequential(model)) == ["fc", "second"]
    assert names(flatten(model)) == ["x", "fc", "second"]
    assert_equivalent(model, to_sequential(model))
    assert_equivalent(model, flatten(model))


def test_a_layer_shared_with_a_nested_model_is_inlined_only_into_a_functional_model():
    shared = layers.Dense(4, name="shared")
    inner = keras.Sequential([keras.Input((4,)), shared], name="inner")
    inputs = keras.Input((4,), name="x")
    model = randomize(keras.Model(inputs, inner(shared(inputs)), name="twice"))
    # A Functional model may call a layer twice; a Sequential model calls each layer once.
    assert names(flatten(model)) == ["x", "shared"]
    assert names(to_sequential(model)) == ["shared", "inner"]
    assert_equivalent(model, flatten(model))
    assert_equivalent(model, to_sequential(model))


def test_nested_model_that_casts_its_input_stays_nested():
    inner = keras.Sequential(
        [keras.Input((3,), dtype="int32"), layers.Rescaling(0.5, name="half")], name="caster"
    )
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, inner(inputs))
    data = np.array([[1.7, 2.2, -0.6]], dtype="float32")
    if KERAS_VERSION < (3, 10):
        # Keras 3.6 to 3.9 record the cast to int32 as a raw keras.ops call in the outer
        # graph, before the call of the sub-model: a real graph node, not a Sequential step.
        # The sub-model then receives the int32 tensor it expects, so inlining it is exact.
        assert names(flatten(model))[-1] == "half"
        with pytest.raises(NotSequentialError, match=r"operation 'cast(_\d+)?'"):
            to_sequential(model)
        converted = to_sequential(model, group_branches=True)
    else:
        assert names(flatten(model))[-1] == "caster"
        converted = to_sequential(model)
        assert names(converted) == ["caster"]
    assert_equivalent(model, converted, data)
    assert_equivalent(model, flatten(model), data)


def test_a_mixed_precision_sequential_converts_both_ways():
    # Keras 3.6 to 3.9 record the casts to float16 and back as keras.ops calls in the
    # Sequential's graph; they are Keras's own, not steps, and the copy makes them again.
    model = keras.Sequential(
        [
            keras.Input((4,), name="x"),
            layers.Dense(3, dtype="mixed_float16", name="fc"),
            layers.Activation("softmax", dtype="float32", name="out"),
        ],
        name="mixed",
    )
    converted = to_sequential(model)
    assert names(converted) == ["fc", "out"]
    assert converted.layers[0].dtype_policy.name == "mixed_float16"
    assert_equivalent(model, converted)
    assert_equivalent(model, to_functional(model))


# --- unsupported models ----------------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_subclassed_models_need_to_functional_first():
    """to_functional traces them (tests/test_subclassed.py); the others say so."""
    model = Subclassed(name="custom")
    model(np.ones((1, 3)))
    for convert in (to_sequential, flatten):
        with pytest.raises(UnsupportedModelError, match=r"'custom' is a subclassed keras.Model"):
            convert(model)
    assert not is_sequential(model)
    assert is_sequential(to_functional(model))


@pytest.mark.parametrize(
    "convert", [to_functional, to_sequential, flatten, is_sequential], ids=lambda f: f.__name__
)
def test_a_non_model_is_a_type_error_saying_what_was_received(convert):
    with pytest.raises(
        TypeError, match=rf"{convert.__name__}\(\) expects a keras.Model.*str: 'm.keras'"
    ):
        convert("m.keras")


def test_a_subclassed_model_wrapped_as_a_layer_converts():
    inner = Subclassed(name="custom")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, inner(inputs))
    assert_equivalent(model, to_sequential(model))


class NoConfig(layers.Layer):
    def __init__(self, scale):
        super().__init__(name="no_config")
        self.scale = scale

    def call(self, x):
        return x * self.scale


def test_lambda_layers_can_be_copied():
    model = keras.Sequential([keras.Input((3,)), layers.Lambda(lambda t: t * 2.0, name="double")])
    copied = to_functional(model, copy=True)
    assert copied.get_layer("double") is not model.layers[0]
    assert_equivalent(model, copied)


def test_copy_of_a_layer_without_config_is_unsupported_and_names_it():
    model = keras.Sequential([keras.Input((2,)), NoConfig(3.0)])
    with pytest.raises(UnsupportedModelError, match="'no_config'"):
        to_functional(model, copy=True)
    assert_equivalent(model, to_functional(model))


@pytest.mark.parametrize(
    "make",
    [
        two_inputs,
        two_outputs,
        residual,
        shared_layer,
        merge_of_one_tensor,
        extra_arguments,
        raw_op,
        two_tensors_out,
    ],
)
def test_error_messages_are_one_line_without_keras_internals(make):
    """A cause and a remedy, on one line of at most 320 characters (as the command line
    prints it), without Keras's module paths, a traceback or an object's address."""
    with pytest.raises(NotSequentialError) as error:
        to_sequential(make())
    message = str(error.value)
    assert "\n" not in message and len(message) <= 320, message
    assert not re.search(r"keras\.src|Traceback| at 0x", message), message


def test_list_input_structure_is_kept():
    inputs = keras.Input((3,), name="a")
    model = keras.Model([inputs], layers.Dense(2)(inputs))
    assert isinstance(to_functional(model).input, list)
    assert_equivalent(model, to_sequential(model))


def test_a_subclassed_model_wrapped_as_a_layer_can_be_copied():
    inner = Subclassed(name="custom")
    inputs = keras.Input((3,))
    model = randomize(keras.Model(inputs, inner(inputs)))
    copied = to_functional(model, copy=True)
    assert copied.layers[1] is not inner
    assert_equivalent(model, copied)


def test_docstring_examples_run():
    assert run_examples(to_functional, to_sequential, is_sequential, flatten) == 4


@pytest.mark.parametrize("seed", [1, None])
def test_copies_compute_the_same_function_in_training_mode_too(seed):
    """A Dropout's seed generator is state but not a weight; copy=True carries it across."""
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dropout(0.5, seed=seed, name="drop")], name="noisy"
    )
    if seed is None and keras.backend.backend() == "torch":
        pytest.skip("on PyTorch an unseeded Dropout draws from torch's global generator")
    x = np.ones((4, 16), "float32")
    model(x, training=True)  # advance the original's random state
    copied = to_functional(model, copy=True)
    np.testing.assert_array_equal(
        outputs(model, x, training=True), outputs(copied, x, training=True)
    )
    model(x, training=True)
    assert not np.array_equal(outputs(model, x, training=True), outputs(copied, x, training=True))


def test_a_nested_model_with_a_list_of_one_output_converts_inside_a_branch():
    """Calling `keras.Model(i, [o])` returns a list; the outer graph records the tensor."""
    inner_input = keras.Input((4,), name="inner_in")
    listed = keras.Model(inner_input, [layers.Dense(4, name="inner_dense")(inner_input)])
    inputs = keras.Input((4,), name="x")
    a = layers.Dense(4, name="a")(inputs)
    merged = layers.Add(name="add")([a, listed(a)[0]])
    model = randomize(keras.Model(inputs, layers.Dense(2, name="head")(merged), name="outer"))
    for converted in (
        to_sequential(model, group_branches=True),
        to_functional(model, copy=True),
        flatten(model),
    ):
        assert_equivalent(model, converted)
