"""Keras 2 files shipped in tests/data/keras2/, loaded and converted on every backend.

`tools/make_keras2_files.py` wrote them with `tf_keras` (Keras 2), each kind as NAME.keras and
NAME.h5, with NAME.npz holding a seeded input and `tf_keras`'s predictions for it. These tests
need neither `tf_keras` nor TensorFlow: the Keras 2 loading runs on JAX and PyTorch as it runs
on TensorFlow (tests/test_keras2_zoo.py writes a larger zoo live, where `tf_keras` is installed).
"""

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
