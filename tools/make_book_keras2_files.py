"""Write the Keras 2 files that Chapters 12 and 13 read, with `tf_keras`'s predictions.

`tf_keras` (Keras 2) trains and saves the chapters' models into notebooks/data/keras2/ch12/
and ch13/, as the chapters' own writing cells do, and NAME.npz beside them holds what
`tf_keras` computed: `outputs` on the chapter's test inputs, each weight as `LAYER:INDEX`
(layers with weights, nested models flattened, in the model's order) and, for a model whose
training the chapter plots, the training `loss` per epoch. The chapters then read these files
on every backend, without TensorFlow; only their writing cells (tagged `tensorflow-only`)
need `tf_keras`, and they check on TensorFlow that what they write computes what is shipped.
The weights and predictions are the same on every run on one machine; the archives' bytes are
not (they record when they were written), so commit them only when a model changes. Run it
in the TensorFlow environment (`make venv` installs `tf_keras`):

    .venv/bin/python tools/make_book_keras2_files.py
"""

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks" / "data" / "keras2"


def digits():
    """The chapters' split of scikit-learn's digits, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    return train_test_split(x, data.target, test_size=0.25, random_state=0, stratify=data.target)


def weights_by_layer(model) -> dict[str, list[np.ndarray]]:
    """{layer name: its weights as arrays}, nested models flattened, as the chapters read it."""
    found = {}
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found.update(weights_by_layer(layer))
        elif layer.weights:
            found[layer.name] = [weight.numpy() for weight in layer.weights]
    return found


def save_reference(path: Path, model, inputs, loss=None) -> None:
    """NAME.npz: `outputs` for `inputs`, the weights as LAYER:INDEX, and `loss` if given."""
    arrays = {"outputs": np.asarray(model(inputs, training=False))}
    for name, weights in weights_by_layer(model).items():
        arrays.update({f"{name}:{i}": weight for i, weight in enumerate(weights)})
    if loss is not None:
        arrays["loss"] = np.asarray(loss, dtype="float32")
    np.savez_compressed(path, **arrays)


def chapter_12(tf_keras, folder: Path) -> None:
    """Chapter 12's `.h5` files: a Sequential with `input_shape=`, a Functional with a skip
    connection (both trained and compiled), and the Sequential's layers behind a custom
    layer, a registered custom layer and a `Lambda`."""
    x_train, x_test, y_train, _ = digits()
    tf_keras.utils.set_random_seed(0)
    k2_seq = tf_keras.Sequential(
        [
            tf_keras.layers.Dense(32, activation="relu", input_shape=(64,), name="hidden"),
            tf_keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_sequential",
    )
    pixels = tf_keras.Input(shape=(64,), name="pixels")
    hidden = tf_keras.layers.Dense(32, activation="relu", name="hidden")(pixels)
    merged = tf_keras.layers.Concatenate(name="skip")([pixels, hidden])
    probabilities = tf_keras.layers.Dense(10, activation="softmax", name="probabilities")(merged)
    k2_skip = tf_keras.Model(pixels, probabilities, name="digits_skip")
    losses = {}
    for model in (k2_seq, k2_skip):
        model.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate=0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)
        losses[model.name] = history.history["loss"]
        model.save(folder / f"{model.name}.h5")
        save_reference(folder / f"{model.name}.npz", model, x_test, losses[model.name])

    class Scale(tf_keras.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @tf_keras.saving.register_keras_serializable(package="old_project", name="Scale")
    class RegisteredScale(Scale):
        pass

    # Each takes the raw pixels (0..16) and computes what digits_sequential computes: the
    # chapter proves them against digits_sequential.npz.
    for name, first in (
        ("digits_scaled", Scale(1 / 16, name="to_unit")),
        ("digits_lambda", tf_keras.layers.Lambda(lambda t: t / 16.0, name="to_unit")),
        ("digits_registered", RegisteredScale(1 / 16, name="to_unit")),
    ):
        model = tf_keras.Sequential(
            [tf_keras.Input(shape=(64,), name="raw_pixels"), first, *k2_seq.layers], name=name
        )
        model.save(folder / f"{name}.h5")
        np.testing.assert_array_equal(model(x_test * 16), k2_seq(x_test))


def chapter_13(tf_keras, folder: Path) -> None:
    """Chapter 13's files: a Sequential with BatchNormalization and Dropout and a Functional
    with a shared layer and a nested model, as Keras 2 `.keras` files and re-saved as `.h5`;
    a legacy `.h5` weights file of three Dense layers; a model with a custom layer that has
    weights, as `.h5` and `.keras`."""
    x_train, x_test, y_train, _ = digits()
    k = tf_keras.layers
    tf_keras.utils.set_random_seed(0)
    k2_sequential = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(64,), name="pixels"),
            k.Dense(32, activation="relu", name="hidden"),
            k.BatchNormalization(name="norm"),
            k.Dropout(0.2, name="drop"),
            k.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_sequential",
    )
    pixels = tf_keras.Input(shape=(64,), name="pixels")
    encoder = k.Dense(32, activation="relu", name="encoder")
    dropped = k.Dropout(0.1, name="drop")(pixels)
    both = k.Average(name="average")([encoder(pixels), encoder(dropped)])
    head = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(32,), name="features"),
            k.Dense(16, activation="relu", name="head_dense"),
            k.BatchNormalization(name="head_norm"),
        ],
        name="head",
    )
    classifier = k.Dense(10, activation="softmax", name="probabilities")
    k2_functional = tf_keras.Model(pixels, classifier(head(both)), name="digits_functional")
    for model in (k2_sequential, k2_functional):
        model.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate=0.01),
            loss="sparse_categorical_crossentropy",
        )
        model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)
        model.save(folder / f"{model.name}.keras")
        # The route without the library: Keras 2 reads its .keras file and writes .h5.
        resaved = tf_keras.models.load_model(folder / f"{model.name}.keras", compile=False)
        resaved.save(folder / f"{model.name}.h5")
        save_reference(folder / f"{model.name}.npz", model, x_test)

    tf_keras.utils.set_random_seed(2)
    k2_three = tf_keras.Sequential(
        [tf_keras.Input(shape=(16,), name="numbers")]
        + [k.Dense(16, activation="relu", name=n) for n in "abc"],
        name="three",
    )
    k2_three.save_weights(folder / "three.h5")
    save_reference(folder / "three.npz", k2_three, np.ones((2, 16), "float32"))

    class ScaleShift(tf_keras.layers.Layer):
        def build(self, input_shape):
            features = input_shape[-1]
            self.scale = self.add_weight("scale", shape=(features,), initializer="ones")
            self.offset = self.add_weight("offset", shape=(features,), initializer="zeros")

        def call(self, inputs):
            return inputs * self.scale + self.offset

    tf_keras.utils.set_random_seed(1)
    k2_calibrated = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(64,), name="pixels"),
            ScaleShift(name="calibrate"),
            k.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_calibrated",
    )
    k2_calibrated.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
    )
    k2_calibrated.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    for extension in (".h5", ".keras"):
        k2_calibrated.save(folder / f"digits_calibrated{extension}")
    save_reference(folder / "digits_calibrated.npz", k2_calibrated, x_test)


def main(folder: Path = FOLDER) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    import tf_keras

    # Keras 2's advice to prefer .keras over .h5: the chapters teach both formats.
    warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
    for chapter, write in (("ch12", chapter_12), ("ch13", chapter_13)):
        (folder / chapter).mkdir(parents=True, exist_ok=True)
        write(tf_keras, folder / chapter)
    total = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    print(f"{folder}: {total / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
