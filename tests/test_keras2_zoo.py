"""A zoo of Keras 2 models, written by `tf_keras` in both formats, loaded by load_model.

Each kind (wrappers, recurrent layers, nested models, a mixed-precision model, raw
TensorFlow ops, `keras.applications` families that Keras 2 and 3 share, one per kind of layer)
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
from keras_convert.keras2_ops import TensorFlowOp, UnmappedError, keras2_hard_sigmoid
from tools.make_keras2_files import BATCH, mixed_float16, write


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


def _hard_sigmoid(tf_keras):
    """Keras 2's hard_sigmoid (0.2x + 0.5), which Keras 3 defines as x/6 + 0.5: named by a
    Dense layer, and as ConvLSTM2D's default recurrent activation (with `time_major`)."""
    k = tf_keras.layers
    inputs = k.Input((2, 5, 5, 2), name="frames")
    x = k.ConvLSTM2D(2, 3, return_sequences=True, name="clstm")(inputs)
    x = k.Dense(3, activation="hard_sigmoid", name="dense")(k.Flatten(name="flat")(x))
    return tf_keras.Model(inputs, x, name="hard_sigmoid")


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


# One family per kind of layer Keras 2 wrote differently: LayerScale (ConvNeXt), `/` in
# names (DenseNet), DepthwiseConv2D's `groups` (MobileNetV2, EfficientNet with its
# Normalization and squeeze-excite), CustomScaleLayer (Inception-ResNet), raw-op hard swish
# (MobileNetV3), cropping and padding around separable convolutions (NASNet, Xception), and
# plain residual blocks (ResNet50). VGG16, MobileNet, InceptionV3, ResNet50V2 and
# EfficientNetV2B0, built from the same layers, loaded exactly too when this was written.
APPLICATIONS = {
    "ConvNeXtTiny": 32,
    "DenseNet121": 32,
    "EfficientNetB0": 32,
    "InceptionResNetV2": 75,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "NASNetMobile": 32,
    "ResNet50": 32,
    "Xception": 71,
}
KINDS = {
    "time_distributed_dense": _time_distributed_dense,
    "time_distributed_conv2d": _time_distributed_conv,
    "recurrent_masked": _recurrent,
    "lstm_return_state": _lstm_states,
    "lstm_stateful": _stateful_lstm,
    "hard_sigmoid": _hard_sigmoid,
    "nested_4_levels": _nested,
    "mixed_float16": mixed_float16,
    "tensorflow_ops": _tensorflow_ops,
    **{name: _application(name, size) for name, size in APPLICATIONS.items()},
}


class Zoo:
    """Builds each kind on first use, writing NAME.keras and NAME.h5 into `folder`:
    (input, tf_keras's outputs), made as the shipped files are (tools/make_keras2_files.py)."""

    def __init__(self, tf_keras, folder):
        self.tf_keras = tf_keras
        self.folder = folder
        self.made = {}

    def __getitem__(self, kind):
        if kind not in self.made:
            x, expected = write(self.tf_keras, KINDS[kind], self.folder, kind)
            self.made[kind] = (x[0] if len(x) == 1 else x, expected)
        return self.made[kind]


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


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_keras2_file_predicts_what_keras2_predicted(zoo, kind, suffix):
    x, expected = zoo[kind]
    model = load_model(zoo.folder / f"{kind}{suffix}")
    _assert_predicts(model, x, expected, kind)


CONVERTED = [
    "time_distributed_dense",
    "time_distributed_conv2d",
    "recurrent_masked",
    "lstm_return_state",
    "hard_sigmoid",
    "nested_4_levels",
    "mixed_float16",
    "tensorflow_ops",
    "MobileNetV2",
    "ConvNeXtTiny",
]


@pytest.mark.parametrize("kind", CONVERTED)
def test_a_loaded_keras2_model_converts_both_ways(zoo, kind):
    x, _ = zoo[kind]
    model = load_model(zoo.folder / f"{kind}.h5")
    tolerance = {"rtol": 1e-3, "atol": 1e-3} if kind == "mixed_float16" else {}
    assert_equivalent(model, to_functional(model), x, **tolerance)
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        with pytest.raises(NotSequentialError):
            to_sequential(model, group_branches=True)
        return
    assert_equivalent(model, to_sequential(model, group_branches=True), x, **tolerance)


def test_a_loaded_op_model_saves_and_reloads(zoo, tmp_path):
    x, expected = zoo["tensorflow_ops"]
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


def test_keras2_hard_sigmoid_is_keras2s_not_keras3s_on_this_backend():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 3.0], dtype="float32")
    keras2 = np.clip(0.2 * x + 0.5, 0, 1)  # tf_keras.activations.hard_sigmoid's definition
    got = keras.ops.convert_to_numpy(keras2_hard_sigmoid(x))
    np.testing.assert_allclose(got, keras2, atol=1e-7)
    keras3 = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(x))
    assert np.abs(keras3 - keras2).max() > 0.05  # the reason the loader maps it
