"""The library on models nobody here wrote: KerasHub backbones, built from small configs.

Nothing is downloaded: each backbone is constructed with random weights. Every operation
either gives an exact result or raises a typed error; nothing else. Where KerasHub's own
layers cannot be re-created from their config (`ViTPatchingAndEmbedding` in KerasHub 0.32),
`copy=True` says so, naming the layer, and a converted model saved to `.keras` does not load
back: that is the same limit, Keras's serialization of that layer, and the test pins it.
"""

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import (
    NotSequentialError,
    UnsupportedModelError,
    assert_equivalent,
    insert_layer,
    is_sequential,
    to_functional,
    to_sequential,
)
from tests.helpers import leaf_layers

keras_hub = pytest.importorskip("keras_hub")

TEXT = {"vocabulary_size": 50, "num_layers": 1, "num_heads": 2, "hidden_dim": 8}
BACKBONES = {
    "gpt2": lambda: keras_hub.models.GPT2Backbone(
        **TEXT, intermediate_dim=16, max_sequence_length=8
    ),
    "bert": lambda: keras_hub.models.BertBackbone(
        **TEXT, intermediate_dim=16, max_sequence_length=8
    ),
    "vgg": lambda: keras_hub.models.VGGBackbone(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[4, 8], image_shape=(16, 16, 3)
    ),
    "resnet": lambda: keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(16, 16, 3),
    ),
    "densenet": lambda: keras_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[1, 1], image_shape=(16, 16, 3)
    ),
    "vit": lambda: keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=16
    ),
}
# KerasHub layers whose get_config() does not re-create them (a KerasHub limit).
NOT_RECREATABLE = {"vit": "vit_patching_and_embedding"}


@pytest.fixture(scope="module", params=sorted(BACKBONES))
def backbone(request):
    keras.utils.set_random_seed(0)
    return request.param, BACKBONES[request.param]()


def test_to_functional_shares_the_backbones_layers(backbone):
    _, model = backbone
    converted = to_functional(model)
    assert type(converted).__name__ == "Functional"  # a Backbone subclass no more
    assert_equivalent(model, converted)
    original = leaf_layers(model)
    assert all(layer is original[name] for name, layer in leaf_layers(converted).items())


def test_to_functional_copies_exactly_or_names_the_layer_it_cannot_copy(backbone):
    name, model = backbone
    if name in NOT_RECREATABLE:
        with pytest.raises(
            UnsupportedModelError, match=f"cannot copy layer '{NOT_RECREATABLE[name]}'"
        ):
            to_functional(model, copy=True)
        return
    copied = to_functional(model, copy=True)
    assert_equivalent(model, copied)
    original = leaf_layers(model)
    for layer_name, layer in leaf_layers(copied).items():
        assert layer is not original[layer_name]
        for a, b in zip(layer.weights, original[layer_name].weights, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), b.numpy())


def test_to_sequential_converts_single_input_backbones_and_refuses_the_others(backbone):
    _, model = backbone
    if len(model.inputs) > 1:
        assert not is_sequential(model)
        with pytest.raises(NotSequentialError, match=f"has {len(model.inputs)} inputs") as error:
            to_sequential(model, group_branches=True)
        assert not error.value.groupable
        return
    chain = is_sequential(model)
    try:
        direct = to_sequential(model)
    except NotSequentialError as error:
        assert not chain and error.groupable
    else:
        assert chain
        assert_equivalent(model, direct)
    assert_equivalent(model, to_sequential(model, group_branches=True))


def test_an_identity_inserted_before_the_last_layer_changes_nothing(backbone):
    _, model = backbone
    last = model.layers[-1].name
    edited = insert_layer(model, layers.Activation("linear", name="identity"), before=last)
    assert "identity" in [layer.name for layer in edited.layers]
    assert_equivalent(model, edited)


def test_a_saved_conversion_reloads_exactly_unless_keras_cannot_serialize_a_layer(
    backbone, tmp_path
):
    name, model = backbone
    converted = to_functional(model)
    converted.save(tmp_path / "converted.keras")
    if name in NOT_RECREATABLE:
        with pytest.raises(TypeError, match="could not be deserialized"):
            keras.saving.load_model(tmp_path / "converted.keras")
        return
    assert_equivalent(model, keras.saving.load_model(tmp_path / "converted.keras"))
