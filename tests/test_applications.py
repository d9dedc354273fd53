"""Real architectures nobody here wrote: keras.applications, random weights, small inputs."""

import re

import keras
import numpy as np
import pytest

from keras_convert import (
    NotSequentialError,
    assert_equivalent,
    is_sequential,
    to_functional,
    to_sequential,
)
from tests.helpers import assert_same_weights, leaf_layers, sample_input

A = keras.applications
SMALL = (32, 32, 3)

LINEAR = {
    "VGG16": lambda: A.VGG16(weights=None, include_top=False, input_shape=SMALL),
    "VGG19": lambda: A.VGG19(weights=None, include_top=False, input_shape=SMALL),
    "MobileNet": lambda: A.MobileNet(weights=None, include_top=False, input_shape=SMALL),
}
BRANCHED = {
    "ResNet50": lambda: A.ResNet50(weights=None, include_top=False, input_shape=SMALL),
    "MobileNetV2": lambda: A.MobileNetV2(weights=None, include_top=False, input_shape=SMALL),
    "DenseNet121": lambda: A.DenseNet121(weights=None, include_top=False, input_shape=SMALL),
    "EfficientNetB0": lambda: A.EfficientNetB0(weights=None, include_top=False, input_shape=SMALL),
    "InceptionV3": lambda: A.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)),
    "Xception": lambda: A.Xception(weights=None, include_top=False, input_shape=(71, 71, 3)),
}
# Every model above; tests/test_export.py exports these too.
APPLICATIONS = {**LINEAR, **BRANCHED}


def build(name):
    """Builds the application `name`, seeded: the same weights in every test and worker."""
    keras.utils.set_random_seed(0)
    return APPLICATIONS[name]()


@pytest.fixture(scope="module")
def built():
    """Builds each application once per module (per test worker), on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = build(name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_applications_convert_exactly(name, built):
    model = built(name)
    assert is_sequential(model)
    shared = to_sequential(model)
    copied = to_sequential(model, copy=True)
    assert [layer.name for layer in copied.layers] == [layer.name for layer in model.layers[1:]]
    assert_same_weights(model, copied)
    x = sample_input(model)
    assert_equivalent(model, shared, x)
    assert_equivalent(model, copied, x)
    assert_equivalent(copied, to_functional(copied, copy=True), x)


# Each branched model is grouped once (one test per model, so that it is built once even
# with pytest-xdist); half of them with copy=True, which also checks the copied weights.
COPIED = {"ResNet50", "DenseNet121", "Xception"}


@pytest.mark.parametrize("name", sorted(BRANCHED))
def test_branched_applications_raise_then_convert_with_grouped_blocks(name, built):
    model = built(name)
    assert not is_sequential(model)
    with pytest.raises(NotSequentialError) as error:
        to_sequential(model)
    quoted = re.findall(r"'([^']+)'", str(error.value))
    assert len(quoted) >= 3
    for layer_name in quoted[:3]:
        model.get_layer(layer_name)  # raises if it is not a real layer of the model

    copy = name in COPIED
    grouped = to_sequential(model, group_branches=True, copy=copy)
    assert isinstance(grouped, keras.Sequential)
    blocks = [layer for layer in grouped.layers if isinstance(layer, keras.Model)]
    assert blocks
    assert all(block.name.startswith("block_") for block in blocks)
    originals, converted = leaf_layers(model), leaf_layers(grouped)
    assert originals.keys() == converted.keys()
    for layer_name, layer in originals.items():
        assert (converted[layer_name] is layer) is not copy
        for a, b in zip(layer.weights, converted[layer_name].weights, strict=True):
            assert np.array_equal(a.numpy(), b.numpy()), layer_name
    assert_equivalent(model, grouped, sample_input(model))
