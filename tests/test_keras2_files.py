"""Keras 2 files shipped in tests/data/keras2/, loaded and converted on every backend.

`tools/make_keras2_files.py` wrote them with `tf_keras` (Keras 2), each kind as NAME.keras and
NAME.h5, with NAME.npz holding a seeded input and `tf_keras`'s predictions for it. These tests
need neither `tf_keras` nor TensorFlow: the Keras 2 loading runs on JAX and PyTorch as it runs
on TensorFlow (tests/test_keras2_zoo.py writes a larger zoo live, where `tf_keras` is installed).
"""

import json
import shutil
import warnings

import h5py
import keras
import numpy as np
import pytest

from keras_convert import (
    NotSequentialError,
    assert_equivalent,
    load_model,
    to_functional,
    to_sequential,
)
from tests import ROOT
from tools import make_keras2_files

FOLDER = ROOT / "tests" / "data" / "keras2"
KINDS = list(make_keras2_files.KINDS)
SUFFIXES = [".keras", ".h5"]
# The float32 kinds agree with tf_keras to float32 rounding (their kernels differ by backend).
# The mixed_float16 model computes in float16, whose rounding (about 1e-3 near 1) differs
# between TensorFlow's, JAX's and PyTorch's kernels.
TOLERANCE = {"mixed_float16": 1e-3}
DEFAULT_TOLERANCE = 1e-5


def shipped(kind: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The inputs and tf_keras's predictions stored beside the kind's files."""
    with np.load(FOLDER / f"{kind}.npz") as arrays:
        inputs = [arrays[f"x{i}"] for i in range(sum(k.startswith("x") for k in arrays))]
        outputs = [arrays[f"y{i}"] for i in range(sum(k.startswith("y") for k in arrays))]
    return inputs, outputs


def model_input(inputs: list[np.ndarray]):
    return inputs[0] if len(inputs) == 1 else inputs


def test_every_kind_is_shipped_in_both_formats_and_small():
    names = {path.name for path in FOLDER.iterdir() if path.suffix != ".md"}
    expected = {f"{kind}{suffix}" for kind in KINDS for suffix in [*SUFFIXES, ".npz"]}
    assert names == expected
    for name in names:
        assert (FOLDER / name).stat().st_size < 64 * 1024, name


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_shipped_keras2_file_predicts_what_tf_keras_predicted(kind, suffix):
    inputs, expected = shipped(kind)
    model = load_model(FOLDER / f"{kind}{suffix}")
    got = model(model_input(inputs), training=False)
    got = got if isinstance(got, list | tuple) else [got]
    assert len(got) == len(expected)
    atol = TOLERANCE.get(kind, DEFAULT_TOLERANCE)
    for value, want in zip(got, expected, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), want, rtol=0, atol=atol)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_shipped_keras2_model_converts_both_ways(kind, suffix):
    inputs, _ = shipped(kind)
    x = model_input(inputs)
    model = load_model(FOLDER / f"{kind}{suffix}")
    atol = TOLERANCE.get(kind, 1e-6)
    assert_equivalent(model, to_functional(model), x, rtol=atol, atol=atol)
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        with pytest.raises(NotSequentialError):
            to_sequential(model, group_branches=True)
        return
    assert_equivalent(model, to_sequential(model, group_branches=True), x, rtol=atol, atol=atol)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_shipped_keras2_files_compile_settings_are_applied(suffix):
    """The optimizer with its learning rate, the loss with its argument (from_logits) and both
    metrics, as tf_keras compiled them: `evaluate` gives the loss and metrics computed here
    from tf_keras's logits, and the model trains."""
    path = FOLDER / f"compiled{suffix}"
    assert not load_model(path, compile=False).compiled
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(path)
    assert [str(w.message) for w in caught if str(path) in str(w.message)] == []
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    (x,), (logits,) = shipped("compiled")
    ranked = np.argsort(logits, axis=-1)
    labels = np.array([ranked[0, -1], ranked[1, 0]])  # the first is top 1, the second not top 2
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    loss = -np.mean(log_softmax[np.arange(2), labels])
    result = model.evaluate(x, labels, verbose=0, return_dict=True)
    assert result.keys() == {"loss", "sparse_categorical_accuracy", "top2"}
    assert result["loss"] == pytest.approx(loss, abs=1e-5)
    assert (result["sparse_categorical_accuracy"], result["top2"]) == (0.5, 0.5)
    model.train_on_batch(x, labels)
    assert model.optimizer.iterations == 1


def test_a_keras2_compile_setting_keras3_lacks_is_named_and_the_rest_applied(tmp_path):
    path = tmp_path / "edited.h5"
    shutil.copyfile(FOLDER / "compiled.h5", path)
    with h5py.File(path, "r+") as file:
        settings = json.loads(file.attrs["training_config"])
        wrapped = {"name": "score", "dtype": "float32", "fn": "keras2_only_score"}
        settings["metrics"][0].append({"class_name": "MeanMetricWrapper", "config": wrapped})
        settings["sample_weight_mode"] = "temporal"
        file.attrs["training_config"] = json.dumps(settings)
    with pytest.warns(UserWarning, match="compiled without") as caught:
        model = load_model(path)
    assert [str(w.message) for w in caught if str(path) in str(w.message)] == [
        f"'{path}' was compiled without the Keras 2 compile settings that Keras 3 has no "
        "equivalent for: metric 'score', 'sample_weight_mode'; compile the model again if they "
        "matter"
    ]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    metrics = model.get_compile_config()["metrics"]  # one output: one flat list
    assert [metric["config"]["name"] for metric in metrics] == [
        "sparse_categorical_accuracy",
        "top2",
    ]


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_the_shipped_files_are_what_the_script_writes(tmp_path):
    """Regenerating gives the same inputs and, to float rounding, the same predictions: the
    files and the script have not drifted apart (needs tf_keras, so TensorFlow only)."""
    pytest.importorskip("tf_keras")
    assert make_keras2_files.main(tmp_path) == 0
    for kind in KINDS:
        with np.load(tmp_path / f"{kind}.npz") as fresh, np.load(FOLDER / f"{kind}.npz") as old:
            assert sorted(fresh) == sorted(old)
            for key in old:
                atol = 0 if key.startswith("x") else TOLERANCE.get(kind, DEFAULT_TOLERANCE)
                np.testing.assert_allclose(fresh[key], old[key], rtol=0, atol=atol, err_msg=key)
