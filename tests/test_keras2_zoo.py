"""A zoo of Keras 2 models, written by `tf_keras` in both formats, loaded by load_model.

Each kind (wrappers, recurrent layers, nested models, a mixed-precision model, raw
TensorFlow ops, one member of each `keras.applications` family that Keras 2 and 3 share)
is built and saved once, as `.keras` and `.h5`, with the predictions `tf_keras` makes
for a seeded input; the loaded model must predict the same. Applications are the smallest
member of each family at the smallest input it allows (`weights=None`): the larger members
are built from the same layers. Features Keras 3 lacks must raise `ModelFileError`.
The op layer's own test needs no `tf_keras`, so it runs on every backend.
"""

import keras
import numpy as np
import pytest

from keras_convert import (
    ModelFileError,
    NotSequentialError,
    assert_equivalent,
    load_model,
    to_functional,
    to_sequential,
)
from keras_convert._keras_api import legacy_model_from_config
from keras_convert.keras2_config import legacy_form
from keras_convert.keras2_ops import TensorFlowOp, UnmappedError


def _time_distributed_dense(tf_keras):
    k = tf_keras.layers
    return tf_keras.Sequential(
        [k.Input((5, 4)), k.TimeDistributed(k.Dense(3), name="td")], name="td_dense"
    )


def _time_distributed_conv(tf_keras):
    k = tf_keras.layers
    return tf_keras.Sequential(
        [k.Input((3, 8, 8, 2)), k.TimeDistributed(k.Conv2D(4, 3), name="td")], name="td_conv"
    )


def _recurrent(tf_keras):
    """Masked embedding, Bidirectional LSTM, GRU, SimpleRNN returning its state."""
    k = tf_keras.layers
    tokens = k.Input((7,), dtype="int32", name="tokens")
    x = k.Embedding(10, 4, mask_zero=True, name="embed")(tokens)
    x = k.Bidirectional(k.LSTM(3, return_sequences=True), name="bilstm")(x)
    x = k.GRU(3, return_sequences=True, name="gru")(x)
    last, state = k.SimpleRNN(2, return_state=True, name="rnn")(x)
    return tf_keras.Model(tokens, [last, state], name="recurrent")


def _lstm_states(tf_keras):
    k = tf_keras.layers
    inputs = k.Input((6, 3), name="x")
    return tf_keras.Model(inputs, k.LSTM(4, return_state=True, name="lstm")(inputs), name="states")


def _stateful_lstm(tf_keras):
    k = tf_keras.layers
    inputs = k.Input(batch_shape=(BATCH, 6, 3), name="x")
    return tf_keras.Model(inputs, k.LSTM(4, stateful=True, name="lstm")(inputs), name="stateful")


def _nested(tf_keras):
    """Functional in Sequential in Functional, with a Sequential at the bottom (4 levels)."""
    k = tf_keras.layers
    bottom = tf_keras.Sequential([k.Input((5,)), k.Dense(5, name="d3")], name="level3")
    inner_in = k.Input((5,), name="inner_in")
    inner = tf_keras.Model(inner_in, k.Dense(5, name="d2")(bottom(inner_in)), name="level2")
    middle = tf_keras.Sequential([k.Input((5,)), inner, k.Dense(4, name="d1")], name="level1")
    inputs = k.Input((5,), name="x")
    hidden = middle(inputs)
    merged = k.Add(name="add")([hidden, k.Dense(4, name="skip")(inputs)])
    return tf_keras.Model(inputs, k.Dense(2, name="head")(merged), name="nested")


def _mixed_float16(tf_keras):
    k = tf_keras.layers
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return tf_keras.Sequential(
            [k.Input((4,)), k.Dense(3, name="dense"), k.Activation("softmax", dtype="float32")],
            name="mixed",
        )
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


def _tensorflow_ops(tf_keras):
    """Raw TensorFlow calls on symbolic tensors, which Keras 2 records as op layers."""
    import tensorflow as tf

    k = tf_keras.layers
    x = k.Input((4, 6), name="x")
    y = k.Input((6, 3), name="y")
    joined = tf.nn.relu(tf.concat([x, x * 2.0], axis=-1))
    pooled = tf.reduce_mean(tf.reshape(joined[:, 0], (-1, 3, 4)), axis=1)
    results = [
        tf.math.maximum(pooled + 1, pooled),
        x[:, 1:3, ::2],
        x[:, tf.newaxis, 1],
        1.0 - x,
        x / 3,
        -(x**2),
        tf.matmul(x, y),
        tf.stack([x, x], axis=1),
        tf.transpose(x, perm=[0, 2, 1]),
        tf.squeeze(tf.expand_dims(x, 1), axis=1),
        tf.nn.softmax(tf.math.exp(x), axis=-1),
        tf.sigmoid(tf.abs(x)),
        tf.split(x, [2, 4], axis=-1)[1],
        tf.math.reduce_sum(x, [1, 2]),
        tf.where(x > 0, x, 0.0),
        tf.nn.leaky_relu(tf.nn.gelu(x), 0.1),
        k.Dense(2, name="dense")(tf.math.tanh(x)),
    ]
    return tf_keras.Model([x, y], results, name="tf_ops")


def _application(name, size):
    def build(tf_keras):
        return getattr(tf_keras.applications, name)(
            weights=None, input_shape=(size, size, 3), classes=3
        )

    return build


APPLICATIONS = {
    "ConvNeXtTiny": 32,
    "DenseNet121": 32,
    "EfficientNetB0": 32,
    "EfficientNetV2B0": 32,
    "InceptionResNetV2": 75,
    "InceptionV3": 75,
    "MobileNet": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "NASNetMobile": 32,
    "ResNet50": 32,
    "ResNet50V2": 32,
    "VGG16": 32,
    "Xception": 71,
}
KINDS = {
    "time_distributed_dense": _time_distributed_dense,
    "time_distributed_conv2d": _time_distributed_conv,
    "recurrent_masked": _recurrent,
    "lstm_return_state": _lstm_states,
    "lstm_stateful": _stateful_lstm,
    "nested_4_levels": _nested,
    "mixed_float16": _mixed_float16,
    "tensorflow_ops": _tensorflow_ops,
    **{name: _application(name, size) for name, size in APPLICATIONS.items()},
}
BATCH = 2
# Files whose weights load_model's weight pairing (in loading.py) does not assign yet:
# Keras 2 `.keras` files keep a wrapper's or RNN's variables under `layer/`, `cell/`,
# `forward_layer/cell/`; and layers named with `/` (DenseNet, MobileNetV3), which Keras 3
# renames (`keras2_config.keras3_name`), are not found by their Keras 2 names, in `.keras`
# (an error) nor in `.h5` (left silently unassigned by Keras's by-name loader, a wrong
# prediction); EfficientNetB0's `.h5` predicts 2e-4 off while its `.keras` file is exact
# (suspect: the preprocessing `Normalization` weights under the by-name loader).
# `test_the_keras_configuration_rebuilds_what_keras2_built` covers them.
WEIGHTS_PENDING = {
    ("time_distributed_dense", ".keras"),
    ("time_distributed_conv2d", ".keras"),
    ("recurrent_masked", ".keras"),
    ("lstm_return_state", ".keras"),
    ("lstm_stateful", ".keras"),
    ("DenseNet121", ".keras"),
    ("MobileNetV3Small", ".keras"),
    ("MobileNetV3Small", ".h5"),
    ("EfficientNetB0", ".h5"),
}


class Zoo:
    """Builds each kind on first use: (folder with NAME.keras and NAME.h5, input, outputs,
    the tf_keras model's weights)."""

    def __init__(self, tf_keras, folder):
        self.tf_keras = tf_keras
        self.folder = folder
        self.made = {}

    def __getitem__(self, kind):
        if kind not in self.made:
            self.tf_keras.utils.set_random_seed(0)
            model = KINDS[kind](self.tf_keras)
            rng = np.random.default_rng(0)
            # Every weight distinct, so a mix-up shows; small steps from Keras 2's own
            # initial values, as large random ones make deep networks chaotic (float
            # rounding in one layer then changes the prediction).
            for variable in model.weights:
                noise = rng.standard_normal(variable.shape) * 0.1
                noise = np.abs(noise) if "variance" in variable.name else noise
                variable.assign((variable.numpy() + noise).astype(variable.dtype.name))
            x = [_sample(tensor, rng) for tensor in model.inputs]
            x = x[0] if len(x) == 1 else x
            model.save(self.folder / f"{kind}.keras")
            model.save(self.folder / f"{kind}.h5")
            expected = model(x, training=False)
            expected = [
                np.asarray(v) for v in (expected if isinstance(expected, list) else [expected])
            ]
            self.made[kind] = (x, expected, model.get_weights())
        return self.made[kind]


def _sample(tensor, rng):
    shape = (BATCH, *tensor.shape[1:])
    if tensor.dtype.is_integer:
        return rng.integers(0, 10, shape).astype("int32")  # zeros: masked steps
    return rng.standard_normal(shape).astype("float32")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    tf_keras = pytest.importorskip("tf_keras")
    return Zoo(tf_keras, tmp_path_factory.mktemp("keras2_zoo"))


def _assert_predicts(model, x, expected, kind):
    # float16 arithmetic of the mixed-precision model rounds differently outside TensorFlow.
    atol = 1e-3 if kind == "mixed_float16" else 1e-5
    got = model(x, training=False)
    got = got if isinstance(got, list | tuple) else [got]
    assert len(got) == len(expected)
    for value, want in zip(got, expected, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), want, rtol=0, atol=atol)


def _file_params():
    for kind in KINDS:
        for suffix in (".keras", ".h5"):
            marks = ()
            if (kind, suffix) in WEIGHTS_PENDING:
                marks = pytest.mark.xfail(strict=True, reason="weight pairing (loading.py)")
            yield pytest.param(kind, suffix, id=f"{kind}{suffix}", marks=marks)


@pytest.mark.parametrize(("kind", "suffix"), list(_file_params()))
def test_a_keras2_file_predicts_what_keras2_predicted(zoo, kind, suffix):
    x, expected, _ = zoo[kind]
    model = load_model(zoo.folder / f"{kind}{suffix}")
    _assert_predicts(model, x, expected, kind)


@pytest.mark.parametrize("kind", sorted({kind for kind, _ in WEIGHTS_PENDING}))
def test_the_keras_configuration_rebuilds_what_keras2_built(zoo, kind):
    """The kinds whose weights load_model does not pair yet (`WEIGHTS_PENDING`): rebuilt from
    the rewritten `.keras` configuration and given tf_keras's weights in order, they predict
    the same."""
    import json
    import zipfile

    x, expected, weights = zoo[kind]
    config = json.loads(zipfile.ZipFile(zoo.folder / f"{kind}.keras").read("config.json"))
    model = legacy_model_from_config(legacy_form(config), {})
    assert [tuple(w.shape) for w in model.weights] == [w.shape for w in weights]
    model.set_weights(weights)
    _assert_predicts(model, x, expected, kind)


CONVERTED = [
    "time_distributed_dense",
    "time_distributed_conv2d",
    "recurrent_masked",
    "lstm_return_state",
    "nested_4_levels",
    "mixed_float16",
    "tensorflow_ops",
    "MobileNetV2",
    "ConvNeXtTiny",
]


@pytest.mark.parametrize("kind", CONVERTED)
def test_a_loaded_keras2_model_converts_both_ways(zoo, kind):
    x, _, _ = zoo[kind]
    model = load_model(zoo.folder / f"{kind}.h5")
    tolerance = {"rtol": 1e-3, "atol": 1e-3} if kind == "mixed_float16" else {}
    assert_equivalent(model, to_functional(model), x, **tolerance)
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        with pytest.raises(NotSequentialError):
            to_sequential(model, group_branches=True)
        return
    assert_equivalent(model, to_sequential(model, group_branches=True), x, **tolerance)


def test_a_loaded_op_model_saves_and_reloads(zoo, tmp_path):
    x, expected, _ = zoo["tensorflow_ops"]
    model = load_model(zoo.folder / "tensorflow_ops.h5")
    model.save(tmp_path / "ops.keras")
    reloaded = keras.saving.load_model(tmp_path / "ops.keras")
    assert any(isinstance(layer, TensorFlowOp) for layer in reloaded.layers)
    _assert_predicts(reloaded, x, expected, "tensorflow_ops")


def test_an_op_outside_the_allow_list_is_named(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    import tensorflow as tf

    inputs = tf_keras.Input((4,))
    model = tf_keras.Model(inputs, tf.math.cumsum(inputs, axis=1), name="cumulative")
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"cumsum{suffix}")
        with pytest.raises(ModelFileError, match=r"'tf\.math\.cumsum' calls") as error:
            load_model(tmp_path / f"cumsum{suffix}")
        assert "rewrite it as a keras.layers layer" in str(error.value)


def test_a_feature_keras3_lacks_is_named(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    k = tf_keras.layers
    model = tf_keras.Sequential([k.Input((5, 3)), k.LSTM(2, time_major=True, name="tm")])
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"time_major{suffix}")
        with pytest.raises(ModelFileError, match=r"layer 'tm' \(LSTM\) sets time_major=True"):
            load_model(tmp_path / f"time_major{suffix}")


X = np.arange(24, dtype="float32").reshape(2, 3, 4) / 10 - 1
T = {"__tensor__": 0}  # the layer's input tensor, in TensorFlowOp's templates


@pytest.mark.parametrize(
    ("function", "arguments", "keywords", "expected"),
    [
        ("concat", [T, T], {"axis": -1}, np.concatenate([X, X], axis=-1)),
        ("__operators__.add", T, {"y": 1}, X + 1),
        ("math.subtract", 1.0, {"y": T, "name": None}, 1.0 - X),
        ("nn.relu", T, {"name": None}, np.maximum(X, 0)),
        ("math.reduce_mean", T, {"axis": [1, 2], "keepdims": True}, X.mean((1, 2), keepdims=True)),
        ("reshape", T, {"shape": [-1, 12]}, X.reshape(-1, 12)),
        ("compat.v1.transpose", T, {"perm": [0, 2, 1], "conjugate": False}, X.transpose(0, 2, 1)),
        ("split", T, {"num_or_size_splits": [1, 3], "axis": -1}, X[..., 1:]),
        (
            "__operators__.getitem",
            T,
            {"slice_spec": [{"start": None, "stop": None, "step": None}, None, 1]},
            X[:, None, 1],
        ),
    ],
    ids=[
        "concat",
        "add",
        "rsub",
        "relu",
        "reduce_mean",
        "reshape",
        "transpose",
        "split",
        "getitem",
    ],
)
def test_the_op_layer_computes_on_this_backend(function, arguments, keywords, expected):
    layer = TensorFlowOp(function, arguments, keywords, name="op")
    clone = TensorFlowOp.from_config(layer.get_config())
    for op in (layer, clone):
        result = op(X)
        result = result[1] if function == "split" else result
        np.testing.assert_allclose(keras.ops.convert_to_numpy(result), expected, atol=1e-6)


def test_the_op_layer_refuses_ops_outside_the_allow_list():
    with pytest.raises(UnmappedError, match=r"op 'signal\.fft'"):
        TensorFlowOp("signal.fft", {"__tensor__": 0}, {}, name="fft")
    with pytest.raises(UnmappedError, match="slices a tensor"):
        TensorFlowOp("__operators__.getitem", {"__tensor__": 0}, {"slice_spec": ["x"]})
