"""load_model: Keras 3 and Keras 2 `.keras` files, `.h5` files, and every way a file fails.

The Keras 2 files are written here by `tf_keras` (Keras 2 as a package; the rows of the
compatibility matrix without TensorFlow skip them) and the loaded models are compared with
what `tf_keras` computes.
"""

import json
import os
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest

from keras_convert import (
    ModelFileError,
    assert_equivalent,
    cli,
    load_model,
    to_functional,
    to_sequential,
)
from tests.helpers import run, run_examples

X = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")


@pytest.fixture(scope="module")
def k2(tmp_path_factory):
    """Keras 2 files and what Keras 2 computes for X, by name: (path, predictions)."""
    tf_keras = pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("keras2")
    tf_keras.utils.set_random_seed(0)
    k = tf_keras.layers
    sequential = tf_keras.Sequential(
        [
            k.Dense(8, activation="relu", input_shape=(4,), name="hidden"),
            k.BatchNormalization(name="bn"),
            k.Dropout(0.2, name="drop"),
            k.Dense(3, name="head"),
        ],
        name="k2seq",
    )
    sequential.compile("adam", "mse")
    sequential.fit(X, np.ones((16, 3)), epochs=2, verbose=0)  # moves the BN statistics
    inputs = k.Input((4,), name="x")
    shared = k.Dense(4, name="shared")
    a = shared(inputs)
    b = shared(a)
    inner = tf_keras.Sequential(
        [k.Dense(4, input_shape=(4,), name="inner_dense"), k.BatchNormalization(name="inner_bn")],
        name="inner",
    )
    branch_in = k.Input((4,), name="branch_in")
    branch = tf_keras.Model(branch_in, k.Dense(4, name="branch_dense")(branch_in), name="branch")
    merged = k.Add(name="add")([a, inner(b), branch(a)])
    functional = tf_keras.Model(inputs, k.Dense(2, name="out")(merged), name="k2func")
    files = {}
    for name, model in [("k2seq", sequential), ("k2func", functional)]:
        for variable in model.weights:  # every weight distinct, so a mix-up shows
            variable.assign(np.random.default_rng(len(files)).standard_normal(variable.shape))
        model.save(folder / f"{name}.keras")
        model.save(folder / f"{name}.h5")
        files[name] = model.predict(X, verbose=0)
    return folder, files


@pytest.mark.parametrize("name", ["k2seq", "k2func"])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras2_files_compute_what_keras2_computed(k2, name, suffix):
    folder, expected = k2
    path = folder / f"{name}{suffix}"
    if suffix == ".keras":
        metadata = json.loads(zipfile.ZipFile(path).read("metadata.json"))
        assert metadata["keras_version"].startswith("2.")
        with pytest.raises((TypeError, ValueError)):  # Keras 3 refuses the file
            keras.saving.load_model(path)
    model = load_model(path)
    assert model.name == name
    np.testing.assert_allclose(model.predict(X, verbose=0), expected[name], rtol=0, atol=1e-5)


def test_a_keras2_model_converts_both_ways_after_loading(k2):
    folder, expected = k2
    sequential = load_model(folder / "k2seq.keras")
    functional = to_functional(sequential)
    back = to_sequential(functional)
    for model in (functional, back):
        assert_equivalent(sequential, model)
    np.testing.assert_allclose(back.predict(X, verbose=0), expected["k2seq"], atol=1e-5)


def test_a_keras2_optimizer_given_by_name_is_applied(k2):
    """A `.keras` file records `compile("adam", "mse")`'s optimizer as its name."""
    folder, _ = k2
    path = folder / "k2seq.keras"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(path)
    assert [str(w.message) for w in caught if str(path) in str(w.message)] == []
    assert isinstance(model.optimizer, keras.optimizers.Adam) and model.loss == "mse"


def rewrite_weights(source, target, edit):
    """A copy of the `.keras` archive `source` whose weights file `edit(h5py.File)` changed."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = target.with_suffix(".weights.h5")
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "r+") as file:
        edit(file)
    members["model.weights.h5"] = weights.read_bytes()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_weights_are_matched_to_layers_not_guessed(k2, tmp_path):
    folder, _ = k2
    source = folder / "k2seq.keras"
    missing = tmp_path / "missing.keras"
    rewrite_weights(source, missing, lambda f: f.__delitem__("layers/dense_1"))
    with pytest.raises(ModelFileError, match="has no entry 'layers/dense_1' for layer 'head'"):
        load_model(missing)
    extra = tmp_path / "extra.keras"
    rewrite_weights(source, extra, lambda f: f.copy("layers/dense_1", "layers/dense_9"))
    with pytest.raises(ModelFileError, match=r"'layers/dense_9/vars/0' .* which no layer"):
        load_model(extra)
    reshaped = tmp_path / "reshaped.keras"

    def transpose(file):
        kernel = file["layers/dense/vars/0"][()]
        del file["layers/dense/vars/0"]
        file["layers/dense/vars/0"] = kernel.T

    rewrite_weights(source, reshaped, transpose)
    with pytest.raises(ModelFileError, match=r"layer 'hidden' \(Dense\) has weights of shapes"):
        load_model(reshaped)


def edited_h5(source, target, edit):
    """A copy of the `.h5` file `source` whose `model_weights` group `edit` changed."""
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as file:
        edit(file["model_weights"])
    return target


def test_h5_weights_pair_by_order_as_keras2_did(k2, tmp_path):
    """Keras 2's `load_model` paired an `.h5` file's weights with the layers by order: a file
    whose weight groups carry other names than the layers still loads exactly."""
    folder, expected = k2

    def rename(group):
        names = list(group.attrs["layer_names"])
        for name in names:
            group.move(name, f"renamed_{name}")
        group.attrs["layer_names"] = [f"renamed_{name}" for name in names]

    renamed = edited_h5(folder / "k2func.h5", tmp_path / "renamed.h5", rename)
    model = load_model(renamed)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected["k2func"], atol=1e-5)


def test_an_h5_layer_without_its_weights_is_named_not_left_initialised(k2, tmp_path):
    folder, _ = k2

    def forget(name):
        def edit(group):
            names = [n for n in group.attrs["layer_names"] if n != name]
            group.attrs["layer_names"] = names

        return edit

    unlisted = edited_h5(folder / "k2seq.h5", tmp_path / "unlisted.h5", forget("bn"))
    with pytest.raises(ModelFileError) as error:
        load_model(unlisted)
    assert error.value.cause == (
        "the file stores weights for 2 layers, but the model has 3 layers with weights: layer "
        "'bn' (BatchNormalization) has none in the file"
    )
    no_group = edited_h5(
        folder / "k2seq.h5", tmp_path / "no_group.h5", lambda group: group.__delitem__("head")
    )
    with pytest.raises(ModelFileError, match="its weights list layer 'head' but hold no group"):
        load_model(no_group)
    no_weights = edited_h5(
        folder / "k2seq.h5", tmp_path / "none.h5", lambda group: group.file.__delitem__(group.name)
    )
    with pytest.raises(ModelFileError, match="no 'model_weights' group"):
        load_model(no_weights)


def test_an_h5_weight_of_another_shape_names_the_layer(k2, tmp_path):
    folder, _ = k2

    def transpose(group):
        kernel = group["hidden/hidden/kernel:0"][()]
        del group["hidden/hidden/kernel:0"]
        group["hidden/hidden/kernel:0"] = kernel.T

    path = edited_h5(folder / "k2seq.h5", tmp_path / "transposed.h5", transpose)
    with pytest.raises(ModelFileError) as error:
        load_model(path)
    assert error.value.cause == (
        "layer 'hidden' (Dense) has weights of shapes [(4, 8), (8,)], but the file stores "
        "[(8, 4), (8,)] for it (as 'hidden')"
    )


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_every_weight_is_checked_against_the_file_value_by_value(k2, suffix):
    """The check that rests on the file alone, not on how the loader paired the weights:
    a model whose weight did not come from the file fails it, naming the weight."""
    from keras_convert.loading import _assert_weights_come_from

    folder, _ = k2
    path = folder / f"k2func{suffix}"
    model = load_model(path)
    model.get_layer("out").bias.assign(np.full(2, 7.0))
    with h5py.File(path) if suffix == ".h5" else _weights_of(path) as file:
        group = file["model_weights"] if suffix == ".h5" else file["layers"]
        with pytest.raises(ModelFileError, match="weight 'out/bias' of the loaded model is not"):
            _assert_weights_come_from(path, model, group)


def _weights_of(path):
    import io

    return h5py.File(io.BytesIO(zipfile.ZipFile(path).read("model.weights.h5")), "r")


def test_an_unregistered_class_hint_is_python_with_the_registered_name(tmp_path):
    @keras.saving.register_keras_serializable(package="adv")
    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    model = keras.Sequential([keras.Input((4,)), Scale(name="scale")], name="scaled")
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"scaled{suffix}")
    keras.saving.get_custom_objects().pop("adv>Scale")
    for suffix in (".keras", ".h5"):
        with pytest.raises(ModelFileError) as error:
            load_model(tmp_path / f"scaled{suffix}")
        assert error.value.class_name == "adv>Scale"
        assert error.value.remedy.endswith("or pass custom_objects={'adv>Scale': Scale}")
        loaded = load_model(tmp_path / f"scaled{suffix}", custom_objects={"adv>Scale": Scale})
        np.testing.assert_array_equal(loaded.predict(X, verbose=0), 2 * X)


def test_an_unregistered_keras2_class_is_named(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")

    class Scale(tf_keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    model = tf_keras.Sequential([tf_keras.Input((4,)), Scale(name="scale")], name="scaled")
    model.save(tmp_path / "scaled.keras")
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path / "scaled.keras")
    assert error.value.class_name == "Scale" and error.value.needs == "custom_objects"
    assert str(error.value) == (
        f"cannot load '{tmp_path / 'scaled.keras'}': class 'Scale' is not registered; import "
        "the module that defines it (decorated with @keras.saving.register_keras_serializable"
        "()), or pass custom_objects={'Scale': Scale}"
    )

    class Keras3Scale(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    loaded = load_model(tmp_path / "scaled.keras", custom_objects={"Scale": Keras3Scale})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), 2 * X)


def test_a_keras2_lambda_needs_safe_mode_off(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    layer = tf_keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")
    tf_keras.Sequential([tf_keras.Input((4,)), layer], name="lam").save(tmp_path / "lam.keras")
    with pytest.raises(ModelFileError) as error:
        load_model(tmp_path / "lam.keras")
    assert error.value.needs == "unsafe"
    assert "layer 'plus_one' (Lambda) holds Python code" in str(error.value)
    loaded = load_model(tmp_path / "lam.keras", safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), X + 1.0)


def test_keras3_files_load_as_keras_loads_them(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="k3")
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"k3{suffix}")
        assert_equivalent(model, load_model(tmp_path / f"k3{suffix}"))


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"", "the file is empty"),
        (os.urandom(64), "it is not a zip file, so not a .keras file"),
        (b"PK\x03\x04truncated", "the zip archive is truncated or damaged"),
        (b"\x89HDF\r\n\x1a\n", "it is an HDF5 file with a .keras name; rename it to .h5"),
    ],
    ids=["empty", "random", "truncated", "hdf5"],
)
def test_a_broken_keras_file_says_what_is_wrong(tmp_path, content, cause):
    path = tmp_path / "broken.keras"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        load_model(path)
    assert str(error.value) == f"cannot load '{path}': {cause}"


def test_files_that_are_not_model_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")
    os.mkfifo(tmp_path / "pipe.keras")
    with pytest.raises(ModelFileError, match="not a regular file but a FIFO"):
        load_model(tmp_path / "pipe.keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save_weights(tmp_path / "only.weights.h5")
    (tmp_path / "only.weights.h5").rename(tmp_path / "only.h5")
    with pytest.raises(ModelFileError, match="it holds weights only, no model"):
        load_model(tmp_path / "only.h5")
    with pytest.raises(TypeError, match="load_model\\(\\) expects a path"):
        load_model(model)


def test_docstring_example_runs():
    assert run_examples(load_model) == 1


def test_keras_convert_inspects_and_converts_keras2_files(k2, monkeypatch, capsys):
    """The command line on tf_keras's `.keras` files: a branched model to a Sequential of
    blocks as a process shows it (exit code, nothing on stderr), the inspection and the other
    direction in process; each written file computes what Keras 2 computed."""
    folder, expected = k2
    code, out, err = run(
        "convert", "k2func.keras", "--to", "sequential", "--group-branches",
        "-o", "k2func_blocks.keras", cwd=folder,
    )  # fmt: skip
    assert code == 0 and err == "", err
    assert "equivalent to k2func.keras (its weights checked against the file, " in out
    monkeypatch.chdir(folder)
    assert cli.main(["inspect", "k2seq.keras", "k2func.keras"]) == 0
    out = capsys.readouterr().out
    assert "api:         Sequential (model 'k2seq')" in out
    assert "api:         Functional (model 'k2func')" in out
    arguments = ["convert", "k2seq.keras", "--to", "functional", "-o", "k2seq_functional.keras"]
    assert cli.main(arguments) == 0
    out = capsys.readouterr().out
    assert "equivalent to k2seq.keras (its weights checked against the file, " in out
    for source, target in [("k2seq", "k2seq_functional"), ("k2func", "k2func_blocks")]:
        written = keras.saving.load_model(folder / f"{target}.keras")
        np.testing.assert_allclose(written.predict(X, verbose=0), expected[source], atol=1e-5)
