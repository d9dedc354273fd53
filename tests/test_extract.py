"""extract: a part of a model as its own model, equal to that slice of the original."""

import keras
import numpy as np
import pytest
from keras import layers

from keras_convert import (
    AmbiguousLayerError,
    LayerNotFoundError,
    MissingInputError,
    UnsupportedModelError,
    assert_equivalent,
    extract,
    to_functional,
)
from tests.helpers import assert_same_weights, randomize, run_examples

RNG = np.random.default_rng(0)
IMAGE = RNG.standard_normal((4, 8)).astype("float32")
META = RNG.standard_normal((4, 2)).astype("float32")


def two_towers():
    """Dict inputs (image, meta), dict outputs (score from both, embedding from image only)."""
    image = keras.Input((8,), name="image")
    meta = keras.Input((2,), name="meta")
    features = layers.Dense(4, activation="relu", name="features")(image)
    merged = layers.Concatenate(name="merged")([features, layers.Dense(3, name="meta_path")(meta)])
    score = layers.Dense(1, name="score")(merged)
    embedding = layers.Dense(3, name="embedding")(features)
    model = keras.Model(
        {"image": image, "meta": meta}, {"score": score, "embedding": embedding}, name="towers"
    )
    return randomize(model)


def probe(model, names):
    """The reference: the original model's own intermediate tensors, by Keras alone."""
    found = [model.get_layer(n).output for n in names]
    inputs = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    return keras.Model(inputs, found[0] if len(found) == 1 else found)


def outputs(model, x):
    """`model(x)` in inference mode as NumPy arrays, in the model's output structure."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))


def test_one_head_needs_only_its_input_path_and_equals_the_original_head():
    model = two_towers()
    embedder = extract(model, outputs="embedding")
    assert list(embedder.input) == ["image"]
    assert embedder.name == "towers_part"
    expected = outputs(model, {"image": IMAGE, "meta": META})["embedding"]
    assert np.array_equal(outputs(embedder, {"image": IMAGE}), expected)


def test_an_intermediate_feature_map_equals_the_probe_of_the_original():
    model = two_towers()
    part = extract(model, outputs=["features", "merged"], name="maps")
    reference = probe(model, ["features", "merged"])
    assert part.name == "maps"
    assert_equivalent(reference, part, {"image": IMAGE, "meta": META})


def test_a_layer_as_input_starts_a_new_input_like_its_output():
    model = two_towers()
    head = extract(model, inputs=["features", "meta"], outputs="score")
    assert [t.name for t in head.inputs] == ["features", "meta"]
    features = outputs(probe(model, ["features"]), {"image": IMAGE, "meta": META})
    expected = outputs(model, {"image": IMAGE, "meta": META})["score"]
    assert np.array_equal(outputs(head, [features, META]), expected)


def test_copy_false_shares_the_layers_copy_true_copies_them_bitwise():
    model = two_towers()
    shared = extract(model, outputs="score")
    copied = extract(model, outputs="score", copy=True)
    assert shared.get_layer("score") is model.get_layer("score")
    assert copied.get_layer("score") is not model.get_layer("score")
    assert_same_weights(shared, copied)
    assert_equivalent(shared, copied)
    model.get_layer("score").kernel.assign(np.zeros((7, 1), "float32"))
    data = {"image": IMAGE, "meta": META}
    assert not np.array_equal(outputs(shared, data), outputs(copied, data))


def test_a_sequential_model_gives_its_first_layers():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((6,), name="pixels"),
                layers.Dense(5, name="hidden"),
                layers.Dense(2, name="out"),
            ],
            name="mlp",
        )
    )
    part = extract(model, outputs="hidden")
    assert [layer.name for layer in part.layers] == ["pixels", "hidden"]
    assert_equivalent(probe(model, ["hidden"]), part)


def test_unknown_names_list_the_closest_ones():
    with pytest.raises(LayerNotFoundError, match=r"no layer named 'scores'.*'score'"):
        extract(two_towers(), outputs="scores")
    with pytest.raises(LayerNotFoundError, match=r"no layer named 'imag'.*'image'"):
        extract(two_towers(), inputs="imag", outputs="score")


def test_an_output_that_needs_an_unlisted_input_names_it():
    with pytest.raises(MissingInputError, match="'score' needs input 'meta'") as error:
        extract(two_towers(), inputs="image", outputs="score")
    assert error.value.input_name == "meta"


def test_a_layer_called_twice_is_ambiguous():
    inputs = keras.Input((4,), name="x")
    shared = layers.Dense(4, name="shared")
    model = keras.Model(inputs, layers.Dense(1, name="out")(shared(shared(inputs))))
    with pytest.raises(AmbiguousLayerError, match="'shared' is called 2 times"):
        extract(model, outputs="shared")
    assert_equivalent(model, extract(model, outputs="out"))


def test_a_subclassed_model_is_converted_first():
    class Plain(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(4, name="hidden")

        def call(self, x):
            return self.hidden(x)

    model = Plain(name="plain")
    model(IMAGE)
    with pytest.raises(UnsupportedModelError, match=r"to_functional\(model\)"):
        extract(model, outputs="hidden")
    assert_equivalent(model, extract(to_functional(model), outputs="hidden"), IMAGE)


def test_a_new_head_on_an_extracted_part_avoids_the_name_used_twice_trap():
    """Chapter 6's trap: on a copy=False conversion, a layer's `.output` leads back to the
    original's input, so a second head built from it has two inputs of one name."""
    model = randomize(
        keras.Sequential(
            [keras.Input((6,), name="pixels"), layers.Dense(5, name="hidden"), layers.Dense(2)],
            name="mlp",
        )
    )
    converted = to_functional(model)
    with pytest.raises(ValueError, match='The name "pixels" is used 2 times'):
        second = layers.Dense(1, name="second")(converted.get_layer("hidden").output)
        keras.Model(converted.input, [converted.output, second])
    trunk = extract(converted, outputs="hidden")
    two_heads = keras.Model(trunk.input, [trunk.output, layers.Dense(1, name="new")(trunk.output)])
    x = RNG.standard_normal((3, 6)).astype("float32")
    assert np.array_equal(outputs(two_heads, x)[0], outputs(probe(model, ["hidden"]), x))
    assert two_heads.get_layer("hidden") is model.get_layer("hidden")  # shared, still trained


def test_docstring_example_runs():
    assert run_examples(extract) == 1
