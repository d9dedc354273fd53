"""Graph analysis: reading nodes (raw ops included), chains, articulation tensors, segments."""

import keras
import pytest
from keras import layers, ops

from keras_convert import NotSequentialError, UnbuiltModelError, UnsupportedModelError
from keras_convert.graph import (
    articulation_tensors,
    chain,
    read_graph,
    segments,
    source_name,
)
from tests.helpers import residual


def test_nodes_are_topological_and_include_raw_ops():
    inputs = keras.Input((4,), name="x")
    x = layers.Dense(4, name="d")(inputs)
    x = ops.relu(x)
    model = keras.Model(inputs, layers.Dense(1, name="out")(x))
    graph = read_graph(model)
    names = [node.operation.name for node in graph.nodes]
    assert names == ["d", names[1], "out"]
    assert names[1] not in [layer.name for layer in model.layers]  # the op is not a layer


def test_read_graph_of_a_sequential_model_is_its_chain():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="p"), layers.ReLU(name="q")])
    assert [node.operation.name for node in chain(read_graph(model))] == ["p", "q"]


def test_read_graph_rejects_unbuilt_and_subclassed_models():
    with pytest.raises(UnbuiltModelError, match="input_shape"):
        read_graph(keras.Sequential([layers.Dense(2)]))

    class Custom(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(UnsupportedModelError, match="Custom"):
        read_graph(Custom())


def test_consumers_and_call_counts():
    inputs = keras.Input((4,))
    shared = layers.Dense(4, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    graph = read_graph(model)
    assert graph.calls[id(shared)] == 2
    assert len(graph.consumers[id(inputs)]) == 1


def test_articulation_tensors_skip_the_inside_of_a_residual_block():
    graph = read_graph(residual())
    cuts = [source_name(t) for t in articulation_tensors(graph)]
    assert cuts == ["x", "a", "add", "head"]


def test_segments_group_the_branch_between_articulations():
    parts = segments(read_graph(residual()))
    assert [[node.operation.name for node in part.nodes] for part in parts] == [
        ["a"],
        ["b", "add"],
        ["head"],
    ]


def test_segments_merge_the_calls_of_a_shared_layer_into_one():
    inputs = keras.Input((4,), name="x")
    shared = layers.Dense(4, name="shared")
    x = shared(inputs)
    x = layers.ReLU(name="relu")(x)
    x = shared(x)
    model = keras.Model(inputs, layers.Dense(1, name="head")(x))
    parts = segments(read_graph(model))
    assert [[node.operation.name for node in part.nodes] for part in parts] == [
        ["shared", "relu", "shared"],
        ["head"],
    ]


def test_chain_rejects_a_branch_naming_both_ends():
    with pytest.raises(NotSequentialError, match=r"the output of layer 'a' feeds 2 layers"):
        chain(read_graph(residual()))


def test_deep_graphs_do_not_hit_the_recursion_limit():
    inputs = keras.Input((2,))
    x = inputs
    for _ in range(900):
        x = ops.add(x, 1.0)
    graph = read_graph(keras.Model(inputs, x))
    assert len(graph.nodes) == 900
    assert len(articulation_tensors(graph)) == 901
