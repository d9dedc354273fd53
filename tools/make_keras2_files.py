"""Write the Keras 2 files that tests/test_keras2_files.py loads on every backend.

`tf_keras` (Keras 2) saves each kind of model below as NAME.keras and NAME.h5 into
tests/data/keras2/, with NAME.npz holding a seeded input and the predictions `tf_keras` made
for it. The test then needs neither `tf_keras` nor TensorFlow, so the Keras 2 loading tests run
on JAX and PyTorch too. The weights and predictions are the same on every run; the files' bytes
are not (the archives record when they were written). Run it after changing a kind, in the
TensorFlow environment (`make venv` installs `tf_keras`):

    .venv/bin/python tools/make_keras2_files.py

tests/test_keras2_zoo.py builds its live zoo with `write` too, so both sets of files are made
the same way.
"""

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "data" / "keras2"
BATCH = 2


def sequential_batchnorm(tf_keras):
    """A plain Sequential stack whose BatchNormalization carries moving statistics."""
    k = tf_keras.layers
    return tf_keras.Sequential(
        [
            k.Input((6,)),
            k.Dense(8, name="dense"),
            k.BatchNormalization(name="bn"),
            k.Activation("relu", name="relu"),
            k.Dense(3, activation="softmax", name="head"),
        ],
        name="sequential_batchnorm",
    )


def shared_nested(tf_keras):
    """A Functional model that calls one layer twice and holds a Sequential and a Functional."""
    k = tf_keras.layers
    encoder = tf_keras.Sequential(
        [k.Input((5,)), k.Dense(4, activation="tanh", name="enc_dense")], name="encoder"
    )
    block_in = k.Input((4,), name="block_in")
    block = tf_keras.Model(block_in, k.Dense(4, name="block_dense")(block_in), name="block")
    inputs = k.Input((5,), name="x")
    shared = k.Dense(4, name="shared")
    first = shared(encoder(inputs))
    second = shared(block(first))
    merged = k.Add(name="add")([first, second])
    return tf_keras.Model(inputs, k.Dense(2, name="head")(merged), name="shared_nested")


def masked_tagger(tf_keras):
    """Embedding(mask_zero=True) → Bidirectional(LSTM) → TimeDistributed(Dense): a tagger."""
    k = tf_keras.layers
    return tf_keras.Sequential(
        [
            k.Input((7,), dtype="int32", name="tokens"),
            k.Embedding(10, 4, mask_zero=True, name="embed"),
            k.Bidirectional(k.LSTM(3, return_sequences=True), name="bilstm"),
            k.TimeDistributed(k.Dense(2), name="tags"),
        ],
        name="masked_tagger",
    )


def mixed_float16(tf_keras):
    """Float16 compute with float32 weights, and a float32 softmax (tf_keras's own advice)."""
    k = tf_keras.layers
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return tf_keras.Sequential(
            [k.Input((4,)), k.Dense(3, name="dense"), k.Activation("softmax", dtype="float32")],
            name="mixed",
        )
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


def tensorflow_ops(tf_keras):
    """Raw TensorFlow calls on symbolic tensors, which Keras 2 records as TFOpLambda and
    SlicingOpLambda layers; one input and one output, so it also converts to a Sequential."""
    import tensorflow as tf

    k = tf_keras.layers
    x = k.Input((4, 6), name="x")
    joined = tf.nn.relu(tf.concat([x, x * 2.0 - 1.0], axis=-1))
    pooled = tf.reduce_mean(joined, axis=1)
    mixed = joined[:, 0] + pooled / 2.0
    return tf_keras.Model(x, k.Dense(3, name="head")(mixed), name="tensorflow_ops")


def compiled(tf_keras):
    """A classifier compiled as a Keras 2 user compiles one: an optimizer with its own learning
    rate, a loss object with an argument, a metric by its name and a metric object."""
    model = tf_keras.Sequential(
        [tf_keras.Input((4,)), tf_keras.layers.Dense(3, name="logits")], name="compiled"
    )
    model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=0.005),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            "sparse_categorical_accuracy",
            tf_keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        ],
    )
    return model


KINDS = {
    "sequential_batchnorm": sequential_batchnorm,
    "shared_nested": shared_nested,
    "masked_tagger": masked_tagger,
    "mixed_float16": mixed_float16,
    "tensorflow_ops": tensorflow_ops,
    "compiled": compiled,
}


def write(tf_keras, build, folder: Path, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Build a model with `tf_keras`, nudge its weights, save NAME.keras and NAME.h5 into
    `folder`; return the seeded inputs and `tf_keras`'s predictions for them (lists)."""
    tf_keras.utils.set_random_seed(0)
    model = build(tf_keras)
    rng = np.random.default_rng(0)
    # Every weight distinct, so a mix-up shows; small steps from Keras 2's own initial values,
    # as large random ones make deep networks chaotic (float rounding in one layer then
    # changes the prediction). Variances stay positive.
    for variable in model.weights:
        noise = rng.standard_normal(variable.shape) * 0.1
        noise = np.abs(noise) if "variance" in variable.name else noise
        variable.assign((variable.numpy() + noise).astype(variable.dtype.name))
    inputs = [_sample(tensor, rng) for tensor in model.inputs]
    model.save(folder / f"{name}.keras")
    model.save(folder / f"{name}.h5")
    outputs = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return inputs, [np.asarray(output) for output in outputs]


def _sample(tensor, rng) -> np.ndarray:
    shape = (BATCH, *tensor.shape[1:])
    if tensor.dtype.is_integer:
        return rng.integers(0, 10, shape).astype("int32")  # zeros: masked steps
    return rng.standard_normal(shape).astype("float32")


def save_arrays(path: Path, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
    """NAME.npz: the inputs as x0, x1, ... and the predictions as y0, y1, ..."""
    arrays = {f"x{i}": value for i, value in enumerate(inputs)}
    arrays.update({f"y{i}": value for i, value in enumerate(outputs)})
    np.savez(path, **arrays)


def main(folder: Path = FOLDER) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras

    folder.mkdir(parents=True, exist_ok=True)
    for name, build in KINDS.items():
        inputs, outputs = write(tf_keras, build, folder, name)
        save_arrays(folder / f"{name}.npz", inputs, outputs)
        sizes = ", ".join(
            f"{path.name} {path.stat().st_size / 1024:.0f} KB"
            for path in sorted(folder.glob(f"{name}.*"))
        )
        print(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
