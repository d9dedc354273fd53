"""Property-based round trips (Hypothesis) on random linear models, and is_sequential.

Shapes are tracked while layers are drawn, so every generated model is valid by
construction: each layer is drawn from those that accept the current shape.
"""

import itertools
from collections import Counter

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers, ops

from keras_convert import (
    NotSequentialError,
    assert_equivalent,
    is_sequential,
    to_functional,
    to_sequential,
)
from tests.helpers import assert_same_weights, randomize

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_names = itertools.count()


def unique(prefix):
    return f"{prefix}_{next(_names)}"


def layer_choices(shape):
    """(name, make, new_shape) for each layer that accepts inputs of `shape` (no batch)."""
    rank = len(shape)
    choices = [
        ("bn", lambda: layers.BatchNormalization(), shape),
        ("dropout", lambda: layers.Dropout(0.3), shape),
        ("activation", lambda: layers.Activation("tanh"), shape),
        ("layer_norm", lambda: layers.LayerNormalization(), shape),
    ]
    if rank == 1:
        (units,) = shape
        choices += [
            ("dense", lambda: layers.Dense(3), (3,)),
            ("reshape", lambda: layers.Reshape((units, 1)), (units, 1)),
        ]
    elif rank == 2:
        steps, channels = shape
        choices += [
            ("conv1d", lambda: layers.Conv1D(2, 1), (steps, 2)),
            ("flatten", lambda: layers.Flatten(), (steps * channels,)),
            ("reshape", lambda: layers.Reshape((steps, channels, 1)), (steps, channels, 1)),
        ]
        if steps >= 2:
            choices += [
                ("max_pool1d", lambda: layers.MaxPooling1D(2), (steps // 2, channels)),
                ("avg_pool1d", lambda: layers.AveragePooling1D(2), (steps // 2, channels)),
            ]
    else:
        height, width, channels = shape
        choices += [
            ("conv2d", lambda: layers.Conv2D(2, 3, padding="same"), (height, width, 2)),
            ("flatten", lambda: layers.Flatten(), (height * width * channels,)),
            (
                "reshape",
                lambda: layers.Reshape((height * width, channels)),
                (height * width, channels),
            ),
        ]
        if height >= 2 and width >= 2:
            pooled = (height // 2, width // 2, channels)
            choices += [
                ("max_pool2d", lambda: layers.MaxPooling2D(2), pooled),
                ("avg_pool2d", lambda: layers.AveragePooling2D(2), pooled),
            ]
    return choices


@st.composite
def linear_recipes(draw):
    """Input shape, 1-6 layer factories that fit it, and a weight seed.

    Models are built in the test, not in the strategy: building layers uses the `random`
    module, which Hypothesis does not want inside strategies.
    """
    shape = draw(st.sampled_from([(4,), (6, 2), (4, 4, 1), (6, 6, 2)]))
    input_shape, makers = shape, []
    for _ in range(draw(st.integers(1, 6))):
        kind, make, shape = draw(st.sampled_from(layer_choices(shape)))
        makers.append((kind, make))
    return input_shape, makers, draw(st.integers(0, 2**16))


def build_linear(recipe):
    input_shape, makers, seed = recipe
    model = keras.Sequential(
        [keras.Input(input_shape), *(make() for _, make in makers)], name=unique("random")
    )
    return randomize(model, seed=seed)


@SETTINGS
@given(linear_recipes())
def test_round_trip_keeps_weights_and_predictions(recipe):
    model = build_linear(recipe)
    for copy in (False, True):
        functional = to_functional(model, copy=copy)
        back = to_sequential(functional, copy=copy)
        assert isinstance(back, keras.Sequential)
        assert back.name == model.name
        assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
        shared = [a is b for a, b in zip(back.layers, model.layers, strict=True)]
        assert all(shared) if not copy else not any(shared)
        assert_same_weights(model, functional)
        assert_same_weights(model, back)
        assert_equivalent(model, functional)
        assert_equivalent(model, back)


STEPS = ["dense", "dense", "dense", "add", "shared", "op", "frozen_bn"]


@st.composite
def graph_recipes(draw):
    """Steps of a small Functional model on width-4 tensors: chains, branches, merges,
    shared layers, raw ops, recorded call arguments, and sometimes a second output.

    Each step is (kind, which recent tensor it consumes, which tensor an Add merges in).
    """
    count = draw(st.integers(1, 5))
    steps = [
        (draw(st.sampled_from(STEPS)), draw(st.integers(1, 2)), draw(st.integers(0, index)))
        for index in range(count)
    ]
    return steps, draw(st.integers(0, 3)) == 0


def build_graph(recipe):
    steps, two_outputs = recipe
    inputs = keras.Input((4,), name=unique("x"))
    tensors = [inputs]
    shared = layers.Dense(4, name=unique("shared"))
    for kind, back, other in steps:
        source = tensors[-min(back, len(tensors))]
        if kind == "dense":
            tensor = layers.Dense(4, name=unique("dense"))(source)
        elif kind == "add":
            tensor = layers.Add(name=unique("add"))([source, tensors[other]])
        elif kind == "shared":
            tensor = shared(source)
        elif kind == "op":
            tensor = ops.tanh(source)
        else:
            tensor = layers.BatchNormalization(name=unique("bn"))(source, training=False)
        tensors.append(tensor)
    outputs = tensors[-1]
    if two_outputs and len(tensors) > 2:
        outputs = [tensors[-1], tensors[-2]]
    return keras.Model(inputs, outputs, name=unique("graph"))


def is_chain(recipe):
    """The oracle, from the recipe alone: is the model's graph a plain chain of layers?

    Independent of keras_convert's graph code: it follows the recipe's own indices. The
    part of the graph that reaches the output must be one tensor after another, each made
    by a Dense layer called once (raw ops, merges, shared layers called twice and recorded
    `training=False` arguments are not Sequential steps), and the model needs one output.
    """
    steps, two_outputs = recipe
    parents = {}
    for index, (kind, back, other) in enumerate(steps):
        source = index + 1 - min(back, index + 1)  # the index of `source` in `tensors`
        parents[index + 1] = [source, other] if kind == "add" else [source]
    if two_outputs and len(steps) > 1:
        return False
    live, stack = set(), [len(steps)]
    while stack:
        tensor = stack.pop()
        if tensor not in live:
            live.add(tensor)
            stack.extend(parents.get(tensor, []))
    made = sorted(tensor for tensor in live if tensor > 0)
    kinds = [steps[tensor - 1][0] for tensor in made]
    if not set(kinds) <= {"dense", "shared"} or kinds.count("shared") > 1:
        return False
    consumed = Counter(parent for tensor in made for parent in parents[tensor])
    return all(count == 1 for count in consumed.values())


@SETTINGS
@given(graph_recipes())
def test_is_sequential_agrees_with_an_independent_oracle(recipe):
    model = build_graph(recipe)
    assert is_sequential(model) == is_chain(recipe)
    if is_chain(recipe):
        assert_equivalent(model, to_sequential(model))
    else:
        with pytest.raises(NotSequentialError):
            to_sequential(model)
    if len(model.outputs) == 1:
        assert_equivalent(model, to_sequential(model, group_branches=True))


def test_the_oracle_tells_chains_from_graphs():
    assert is_chain(([("dense", 1, 0), ("shared", 1, 0)], False))
    assert not is_chain(([("dense", 1, 0), ("add", 1, 0)], False))  # a skip connection
    assert not is_chain(([("dense", 1, 0), ("dense", 2, 0)], True))  # two outputs
    assert is_chain(([("dense", 1, 0), ("dense", 2, 0)], False))  # the first is a dead end
    assert not is_chain(([("op", 1, 0)], False))
