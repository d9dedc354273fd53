"""insert_layer, remove_layer and replace_layer on Sequential and branched Functional models."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import (
    ConversionError,
    IncompatibleShapeError,
    LayerNotFoundError,
    assert_equivalent,
    flatten,
    insert_layer,
    remove_layer,
    replace_layer,
)
from tests.helpers import leaf_layers, names, outputs, randomize, recorded_calls, run_examples


def conv_net():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3), name="image"),
            layers.Conv2D(4, 3, padding="same", name="conv"),
            layers.ReLU(name="relu"),
            layers.MaxPooling2D(name="pool"),
            layers.Dropout(0.2, name="drop"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, name="head"),
        ],
        name="convnet",
    )


def residual_net():
    inputs = keras.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = layers.Conv2D(4, 3, padding="same", name="conv_a")(stem)
    x = layers.BatchNormalization(name="bn_a")(x)
    x = layers.Dropout(0.1, name="drop_a")(x)
    x = layers.Add(name="add")([stem, x])
    x = layers.ReLU(name="relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x), name="resnet")


def calls(model, name):
    """How many times `model` calls the layer `name` (public API only)."""
    if isinstance(model, keras.Sequential):
        return names(model).count(name)
    return sum(called == name for called, _, _ in recorded_calls(model))


@pytest.fixture(params=["sequential", "functional"])
def net(request):
    return randomize(conv_net() if request.param == "sequential" else residual_net())


def assert_untouched_weights_kept(original, edited, copy, skip=()):
    kept = leaf_layers(edited)
    for name, layer in leaf_layers(original).items():
        if name in skip or name not in kept:
            continue
        assert (kept[name] is layer) is (not copy), name
        for a, b in zip(layer.weights, kept[name].weights, strict=True):
            assert np.array_equal(a.numpy(), b.numpy()), name


@pytest.mark.parametrize("copy", [False, True])
def test_inserting_an_identity_keeps_the_function_and_the_api(net, copy):
    edited = insert_layer(net, layers.Activation("linear", name="noop"), after="gap", copy=copy)
    assert type(edited) is type(net)
    assert edited.name == net.name
    assert names(edited).index("noop") == names(edited).index("gap") + 1
    assert_untouched_weights_kept(net, edited, copy)
    assert_equivalent(net, edited)


def test_insert_before(net):
    edited = insert_layer(net, layers.Activation("linear", name="noop"), before="head")
    assert names(edited).index("noop") == names(edited).index("head") - 1
    assert_equivalent(net, edited)


def test_insert_after_the_input(net):
    edited = insert_layer(net, layers.Rescaling(2.0, name="scale"), after="image")
    assert names(edited)[:2] in (["scale", "conv"], ["image", "scale"])
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(outputs(edited, x), outputs(net, 2.0 * x), rtol=1e-6)


@pytest.mark.parametrize("copy", [False, True])
def test_removing_dropout_keeps_inference(net, copy):
    name = "drop" if isinstance(net, keras.Sequential) else "drop_a"
    edited = remove_layer(net, name, copy=copy)
    assert name not in names(edited)
    assert_untouched_weights_kept(net, edited, copy)
    assert_equivalent(net, edited)


@pytest.mark.parametrize("copy", [False, True])
def test_replacing_changes_only_that_layer(net, copy):
    edited = replace_layer(net, "head", layers.Dense(3, name="new_head"), copy=copy)
    assert "head" not in names(edited)
    assert names(edited)[-1] == "new_head"
    assert_untouched_weights_kept(net, edited, copy, skip={"head"})
    with pytest.raises(AssertionError):
        assert_equivalent(net, edited)


def test_insert_after_a_branch_point_feeds_every_branch():
    model = randomize(residual_net())
    edited = insert_layer(model, layers.Activation("linear", name="noop"), after="stem")
    consumers = [name for name, sources, _ in recorded_calls(edited) if "noop" in sources]
    assert sorted(consumers) == ["add", "conv_a"]
    assert_equivalent(model, edited)


def test_insert_before_a_merge_is_a_clear_error():
    with pytest.raises(ConversionError, match="layer 'add' takes 2 tensors"):
        insert_layer(residual_net(), layers.ReLU(), before="add")


def test_remove_a_shape_changing_layer_from_a_functional_model_is_a_clear_error():
    with pytest.raises(IncompatibleShapeError, match=r"cannot remove layer 'gap'.*changes the"):
        remove_layer(residual_net(), "gap")


def test_remove_a_merge_layer_is_a_clear_error():
    with pytest.raises(ConversionError, match="layer 'add' takes 2 tensors"):
        remove_layer(residual_net(), "add")


def test_shape_changing_insert_works_when_downstream_weights_do_not_depend_on_it(net):
    """A pooling after 'relu' halves the feature maps, which the global pooling before the
    head absorbs: the head keeps its weights and computes on the pooled maps."""
    edited = insert_layer(net, layers.MaxPooling2D(name="extra_pool"), after="relu")
    assert_untouched_weights_kept(net, edited, copy=False)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    features = keras.Model(net.inputs, net.get_layer("relu").output)
    expected = layers.MaxPooling2D()(outputs(features, x))
    for layer in net.layers[names(net).index("relu") + 1 :]:  # a chain after 'relu' in both
        expected = layer(expected)
    np.testing.assert_allclose(
        outputs(edited, x), keras.ops.convert_to_numpy(expected), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("copy", [False, True])
def test_shape_changing_insert_before_a_built_layer_raises_and_names_it(copy):
    model = residual_net()
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    before = outputs(model, x)
    with pytest.raises(IncompatibleShapeError) as error:
        insert_layer(model, layers.Dense(6, name="widen"), after="gap", copy=copy)
    message = str(error.value)
    assert "layer 'head' was built for input shape (None, 4) but now receives (None, 6)" in message
    assert error.value.layer_name == "head"
    assert (error.value.built_shape, error.value.received_shape) == ((None, 4), (None, 6))
    assert isinstance(error.value.__cause__, ValueError)
    np.testing.assert_array_equal(outputs(model, x), before)


def test_shape_changing_insert_in_a_sequential_model_raises_and_names_the_layer():
    model = conv_net()
    with pytest.raises(IncompatibleShapeError, match="layer 'head' was built for input shape"):
        insert_layer(model, layers.Dense(7, name="wide"), after="gap")
    assert names(model) == ["conv", "relu", "pool", "drop", "gap", "head"]


@pytest.mark.parametrize("build", ["sequential", "functional"])
def test_the_fix_the_shape_error_suggests_works(build):
    """The message says: replace the layer and the new one in one step, then flatten()."""
    model = conv_net() if build == "sequential" else residual_net()
    with pytest.raises(IncompatibleShapeError) as error:
        insert_layer(model, layers.Dense(7, name="wide"), after="gap")
    assert "replace_layer(model, 'head', keras.Sequential([new_layer, new_head]))" in str(
        error.value
    )
    tail = keras.Sequential([layers.Dense(7, name="wide"), layers.Dense(5, name="new_head")])
    edited = flatten(replace_layer(model, "head", tail))
    assert type(edited) is type(model)
    assert names(edited)[-2:] == ["wide", "new_head"]
    kept = [layer for layer in model.layers if layer.weights and layer.name != "head"]
    assert kept
    for layer in kept:
        for old, new in zip(layer.weights, edited.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(old.numpy(), new.numpy())


def test_removing_a_layer_of_a_sequential_model_can_change_shapes_downstream():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(8, name="a"),
            layers.Dense(8, name="b"),
            layers.Dense(2, name="c"),
        ]
    )
    with pytest.raises(IncompatibleShapeError, match="layer 'b' was built for input shape"):
        remove_layer(model, "a")
    edited = remove_layer(model, "b")
    assert names(edited) == ["a", "c"]


def test_unknown_names_raise_with_close_matches(net):
    with pytest.raises(LayerNotFoundError, match=r"has no layer named 'haed'; did you mean 'head'"):
        remove_layer(net, "haed")
    with pytest.raises(LayerNotFoundError, match="its layers are"):
        replace_layer(net, "zzz", layers.ReLU())
    assert issubclass(LayerNotFoundError, ConversionError)


def test_a_layer_inside_a_nested_model_is_pointed_out():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="deep")], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, inner(inputs), name="outer")
    with pytest.raises(LayerNotFoundError, match="inside nested model 'inner'"):
        remove_layer(model, "deep")


def test_insert_needs_exactly_one_anchor(net):
    with pytest.raises(ConversionError, match="exactly one of after= or before="):
        insert_layer(net, layers.ReLU())
    with pytest.raises(ConversionError, match="exactly one of after= or before="):
        insert_layer(net, layers.ReLU(), after="gap", before="head")


def test_a_new_layer_name_must_be_unique(net):
    with pytest.raises(ConversionError, match="already has a layer named 'head'"):
        insert_layer(net, layers.ReLU(name="head"), after="gap")


def test_inputs_cannot_be_removed_or_replaced(net):
    with pytest.raises(ConversionError, match="'image' is an input"):
        remove_layer(net, "image")
    with pytest.raises(ConversionError, match="'image' is an input"):
        replace_layer(net, "image", layers.Rescaling(2.0, name="scale"))


def test_the_only_layer_cannot_be_removed():
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2, name="only")], name="tiny")
    with pytest.raises(ConversionError, match="only layer"):
        remove_layer(model, "only")


def shared_model():
    inputs = keras.Input((4,), name="x")
    shared = layers.Dense(4, name="shared")
    x = shared(inputs)
    x = layers.Activation("tanh", name="tanh")(x)
    return keras.Model(inputs, shared(x), name="twice")


def test_surgery_applies_to_every_call_of_a_shared_layer():
    model = randomize(shared_model())
    inserted = insert_layer(model, layers.Activation("linear", name="noop"), after="shared")
    assert calls(inserted, "noop") == 2
    assert_equivalent(model, inserted)

    replaced = replace_layer(model, "shared", layers.Dense(4, name="other"))
    assert calls(replaced, "other") == 2
    assert calls(replaced, "shared") == 0

    removed = remove_layer(model, "shared")
    assert calls(removed, "shared") == 0
    x = np.ones((1, 4), dtype="float32")
    np.testing.assert_allclose(outputs(removed, x), np.tanh(x), rtol=1e-6)


def test_replace_keeps_recorded_call_arguments():
    inputs = keras.Input((4,))
    x = layers.BatchNormalization(name="bn")(inputs, training=False)
    model = keras.Model(inputs, layers.Dense(1)(x))
    edited = replace_layer(model, "bn", layers.BatchNormalization(name="bn2"))
    (kwargs,) = [kwargs for name, _, kwargs in recorded_calls(edited) if name == "bn2"]
    assert kwargs["training"] is False


def test_unbuilt_sequential_models_are_edited_as_lists():
    model = keras.Sequential([layers.Dense(4, name="a"), layers.Dense(1, name="b")])
    edited = insert_layer(model, layers.ReLU(name="act"), after="a")
    assert not edited.built
    assert names(edited) == ["a", "act", "b"]
    assert names(remove_layer(edited, "act")) == ["a", "b"]


def test_docstring_examples_run():
    assert run_examples(insert_layer, remove_layer, replace_layer) == 3


class Double(layers.Layer):
    """A replacement whose call() takes no mask."""

    def call(self, inputs):
        return inputs * 2.0


def test_replacing_a_lambda_in_a_functional_model_drops_recorded_default_arguments():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Lambda(lambda t: t * 2, name="double")(inputs))
    replaced = replace_layer(model, "double", Double(name="double_layer"))
    assert names(replaced)[-1] == "double_layer"
    assert_equivalent(model, replaced)


def test_a_recorded_argument_the_replacement_cannot_take_raises():
    inputs = keras.Input((3,), dtype="int32")
    embedded = layers.Embedding(10, 4, mask_zero=True, name="embed")(inputs)
    pooled = layers.GlobalAveragePooling1D(name="pool")(embedded, mask=inputs > 0)
    model = keras.Model(inputs, pooled)
    with pytest.raises(ConversionError, match=r"layer 'pool' is called with mask=.*'flat'"):
        replace_layer(model, "pool", Double(name="flat"))


def test_the_new_layer_has_one_keyword_name_in_insert_and_replace(net):
    inserted = insert_layer(net, new_layer=layers.Identity(name="noop"), after="gap")
    replaced = replace_layer(net, "relu", new_layer=layers.ReLU(name="relu_2"))
    assert "noop" in names(inserted) and "relu_2" in names(replaced)


@pytest.mark.parametrize(
    "edit",
    [
        lambda model, thing: insert_layer(model, thing, after="gap"),
        lambda model, thing: replace_layer(model, "relu", thing),
    ],
    ids=["insert_layer", "replace_layer"],
)
def test_a_non_layer_is_a_type_error_saying_what_was_received(net, edit):
    with pytest.raises(TypeError, match=r"expects a keras.layers.Layer .*received a str: 'relu'"):
        edit(net, "relu")


def test_a_non_model_is_a_type_error_saying_what_was_received():
    with pytest.raises(TypeError, match=r"remove_layer\(\) expects a keras.Model.*received a list"):
        remove_layer([layers.Dense(2)], "dense")
