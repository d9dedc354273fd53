"""keras_convert._tf_keras_names reproduces tf_keras's naming: checked against tf_keras itself."""

import inspect
import zipfile

import h5py
import pytest

import keras_convert._tf_keras_names as module
from keras_convert._tf_keras_names import (
    GroupNames,
    counts_construction_as_call,
    saved_layers,
    snake_case,
)

tf_keras = pytest.importorskip("tf_keras")


def layer_class_names() -> list[str]:
    return sorted(
        {cls.__name__ for _, cls in inspect.getmembers(tf_keras.layers, inspect.isclass)}
        | {"Functional", "Sequential", "_PrivateLayer", "ConvLSTM3D", "ReLU", "PReLU"}
    )


def test_the_module_names_the_tf_keras_it_was_read_from():
    assert f"`tf_keras` {tf_keras.__version__}" in inspect.getdoc(module)


@pytest.mark.parametrize("name", layer_class_names())
def test_group_names_are_tf_keras_to_snake_case(name):
    from tf_keras.src.utils.generic_utils import to_snake_case

    assert snake_case(name) == to_snake_case(name)


def test_the_groups_are_named_as_tf_keras_saves_them(tmp_path):
    model = tf_keras.Sequential(
        [tf_keras.Input((3, 4, 2)), tf_keras.layers.ConvLSTM1D(2, 2), tf_keras.layers.Dense(1)]
    )
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive, archive.open("model.weights.h5") as f:
        saved = sorted(h5py.File(f, "r")["layers"])
    names = GroupNames()
    entries = saved_layers({"class_name": "Sequential", "config": model.get_config()})
    assert sorted(names(entry["class_name"]) for entry in entries) == saved
    assert saved == ["conv_lstm1d", "dense"]  # the input layer is not saved


def test_repeated_class_names_are_numbered_from_the_second_on():
    names = GroupNames()
    assert [names(n) for n in ["Dense", "Conv2D", "Dense", "Dense"]] == [
        "dense",
        "conv2d",
        "dense_1",
        "dense_2",
    ]


def test_nested_models_built_on_an_input_count_their_construction_as_a_call():
    inputs = tf_keras.Input((2,))
    functional = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(inputs))
    on_input = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
    deferred = tf_keras.Sequential([tf_keras.layers.Dense(1)])
    from tf_keras.src.engine.functional import _should_skip_first_node

    for model in (functional, on_input, deferred):
        entry = {"class_name": model.__class__.__name__, "config": model.get_config()}
        assert counts_construction_as_call(entry) == _should_skip_first_node(model)
    assert _should_skip_first_node(on_input) and not _should_skip_first_node(deferred)
