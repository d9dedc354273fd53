"""The code behind the reference pages: what produces each quoted message, what runs each route.

`tests/test_reference_pages.py` pairs these with the pages: a message case named `ID` produces
the messages of the ```text block that follows `% produced-by: ID` on a page, and a route
named `ID` runs the route of the table row marked `ID` in `ROUTE_ROWS`. Each case is small
(models of a few units), so that the whole file runs in seconds.
"""

import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

import keras_convert

ALL = frozenset({"tensorflow", "jax", "torch"})
TENSORFLOW = frozenset({"tensorflow"})


@dataclass(frozen=True)
class Case:
    """Code that produces messages (or runs a route) on the backends it names."""

    run: Callable[[], list[str]]
    backends: frozenset[str]


MESSAGES: dict[str, Case] = {}
ROUTES: dict[str, Case] = {}


def message(name: str, backends: frozenset[str] = ALL):
    """Registers a function that returns the messages `% produced-by: name` quotes, in order."""

    def register(function):
        MESSAGES[name] = Case(function, backends)
        return function

    return register


def route(name: str, backends: frozenset[str] = ALL):
    """Registers a function that runs a route of the decision guide and asserts its result."""

    def register(function):
        ROUTES[name] = Case(function, backends)
        return function

    return register


def raised(action: Callable[[], object]) -> str:
    """`ClassName: message` of what `action` raises; fails if it raises nothing."""
    try:
        action()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    raise AssertionError(f"{action} raised nothing")


def warned(action: Callable[[], object]) -> str:
    """The first warning `action` issues (without a class: the pages quote warnings bare)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    assert caught, f"{action} warned nothing"
    return str(caught[0].message)


def numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


X = np.random.default_rng(0).random((4, 64), dtype="float32")


def classifier(name: str = "classifier") -> keras.Sequential:
    """The cheat sheet's model: 64 pixels, a 32-unit hidden layer, 10 probabilities."""
    return keras.Sequential(
        [
            keras.Input(shape=(64,), name="pixels"),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name=name,
    )


def two_inputs(as_dict: bool) -> keras.Model:
    """Inputs 'image' and 'meta' of one shape, so that a mix-up computes without failing."""
    image = keras.Input(shape=(3,), name="image")
    meta = keras.Input(shape=(3,), name="meta")
    joined = keras.layers.Concatenate(name="joined")([image, meta])
    output = keras.layers.Dense(1, name="score")(joined)
    inputs = {"image": image, "meta": meta} if as_dict else [image, meta]
    return keras.Model(inputs, output, name="two_inputs")


def residual() -> keras.Model:
    inp = keras.Input(shape=(16,), name="features")
    transformed = keras.layers.Dense(16, activation="relu", name="transform")(inp)
    return keras.Model(inp, keras.layers.Add(name="skip")([inp, transformed]), name="residual")


def temporary(name: str) -> str:
    """A path in a new temporary folder (removed when the process exits)."""
    folder = tempfile.mkdtemp(prefix="reference_")
    return os.path.join(folder, name)


# Building a model


@message("concatenate_in_sequential")
def _():
    return [
        raised(
            lambda: keras.Sequential(
                [keras.Input(shape=(4,)), keras.layers.Concatenate(name="joined")]
            )
        )
    ]


@message("merge_in_sequential")
def _():
    return [
        raised(lambda: keras.Sequential([keras.Input(shape=(4,)), keras.layers.Add(name="skip")]))
    ]


@message("merge_already_built")
def _():
    stack = keras.Sequential(residual().layers)  # the built Add passes construction
    return [raised(lambda: stack(np.zeros((1, 16), "float32")))]


@message("second_input")
def _():
    model = keras.Sequential([keras.Input(shape=(4,))], name="stack")
    return [raised(lambda: model.add(keras.Input(shape=(3,))))]


def _unbuilt() -> keras.Sequential:
    return keras.Sequential([keras.layers.Dense(4, name="dense_a")], name="unbuilt")


@message("count_params_unbuilt")
def _():
    return [raised(lambda: _unbuilt().count_params())]


@message("no_defined_inputs", frozenset({"tensorflow", "jax"}))
def _():
    return [raised(lambda: _unbuilt().inputs)]


@message("no_defined_inputs_torch", frozenset({"torch"}))
def _():
    return [raised(lambda: _unbuilt().inputs)]


def _never_called():
    built = classifier()
    return [
        raised(lambda: _unbuilt().get_layer("dense_a").output),
        raised(lambda: built.input),
    ]


message("never_called", frozenset({"tensorflow", "jax"}))(_never_called)
message("never_called_torch", frozenset({"torch"}))(_never_called)


@message("not_connected")
def _():
    return [raised(lambda: keras.Model(keras.Input(shape=(64,)), classifier().outputs[0]))]


@message("name_used_twice")
def _():
    shared = keras_convert.to_functional(classifier())  # copy=False: the original's layers
    hidden = shared.get_layer("hidden").output
    return [raised(lambda: keras.Model(shared.input, keras.layers.Dense(1)(hidden)))]


@message("incompatible_shapes")
def _():
    a, b = keras.Input(shape=(16,)), keras.Input(shape=(32,))
    return [raised(lambda: keras.layers.Add()([a, b]))]


@message("missing_data")
def _():
    model = two_inputs(as_dict=True)
    model.compile(loss="mse")
    data = {"images": X[:, :3], "meta": X[:, 3:6]}
    return [raised(lambda: model.evaluate(data, X[:, :1], verbose=0))]


@message("structure_warning_jax", frozenset({"jax"}))
def _():
    model = two_inputs(as_dict=True)
    right = model.predict({"image": X[:, :3], "meta": X[:, 3:6]}, verbose=0)
    swapped = model.predict({"image": X[:, 3:6], "meta": X[:, :3]}, verbose=0)
    wrong = {"zimage": X[:, :3], "meta": X[:, 3:6]}  # sorts after "meta"
    text = warned(lambda: model.predict(wrong, verbose=0))
    # The claim next to the quote: paired by sorted key, silently the wrong result.
    assert np.array_equal(model.predict(wrong, verbose=0), swapped)
    assert not np.array_equal(swapped, right)
    listed = two_inputs(as_dict=False)
    return [text, raised(lambda: listed.predict(wrong, verbose=0))]


@message("no_such_layer")
def _():
    base = keras.Sequential(
        [keras.Input(shape=(8,)), keras.layers.Dense(4, name="conv1")], name="base"
    )
    stack = keras.Sequential([base, keras.layers.Dense(2, name="head")], name="stack")
    return [raised(lambda: stack.get_layer("conv1"))]


# Converting a model


@message("not_sequential")
def _():
    inp = keras.Input(shape=(16,), name="features")
    stem = keras.layers.Dense(16, name="stem")(inp)
    block = keras.layers.Dense(16, name="transform")(stem)
    branched = keras.Model(inp, keras.layers.Add(name="skip")([stem, block]), name="branched")
    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(4,), name="b")
    two = keras.Model([a, b], keras.layers.Add(name="sum")([a, b]), name="two_inputs")
    return [
        raised(lambda: keras_convert.to_sequential(branched)),
        raised(lambda: keras_convert.to_sequential(two)),
    ]


@message("unbuilt_model")
def _():
    return [raised(lambda: keras_convert.to_functional(_unbuilt()))]


class Scaled(keras.Model):
    """A subclassed model with straight-line `call`: two layers and a `keras.ops` slice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu", name="hidden")
        self.out = keras.layers.Dense(3, name="out")

    def call(self, inputs):
        return self.out(self.hidden(inputs)) + inputs[:, :3]


@message("subclassed")
def _():
    model = Scaled(name="scaled")
    model(X)
    return [raised(lambda: keras_convert.to_sequential(model))]


@message("subclassed_unbuilt")
def _():
    return [raised(lambda: keras_convert.to_functional(Scaled(name="scaled")))]


class Gated(keras.Model):
    """`call` branches in Python on a tensor's value."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8, name="dense")

    def call(self, inputs):
        if keras.ops.mean(inputs) > 0.5:
            return self.dense(inputs)
        return inputs[:, :8]


@message("untraceable_no_shape", frozenset({"tensorflow", "jax"}))
def _():
    model = Gated(name="gated")
    model(X)  # Keras's own symbolic build fails on the `if` and records no input shape
    return [raised(lambda: keras_convert.to_functional(model))]


@message("untraceable_value")
def _():
    model = Gated(name="gated")
    model(X)
    return [raised(lambda: keras_convert.to_functional(model, input_shape=(64,)))]


class Sharpened(keras.Model):
    """`call` adds computation when training, outside any layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8, name="dense")

    def call(self, inputs, training=None):
        x = self.dense(inputs)
        if training:
            x = x + 0.1 * keras.ops.square(x)
        return x


class FrozenNorm(keras.Model):
    """`call` always runs its BatchNormalization in inference mode."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.BatchNormalization(name="norm")

    def call(self, inputs, training=None):
        return self.norm(inputs, training=False)


def built_refusals(*models: keras.Model) -> list[str]:
    """What to_functional raises for each subclassed model, built on `X` first."""
    for model in models:
        model(X)
    return [raised(lambda model=model: keras_convert.to_functional(model)) for model in models]


@message("untraceable_training")
def _():
    return built_refusals(Sharpened(name="sharpened"), FrozenNorm(name="frozen"))


class Fresh(keras.Model):
    """`call` creates a layer, with new weights, on each call."""

    def call(self, inputs):
        return keras.layers.Dense(8, name="fresh")(inputs)


class Counting(keras.Model):
    """`call` reads a Python counter that each call changes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(8, name="dense")
        self.calls = 0

    def call(self, inputs):
        self.calls += 1
        return self.dense(inputs) / float(self.calls)


@message("untraceable_state")
def _():
    return built_refusals(Fresh(name="fresh_model"), Counting(name="counting"))


def towers() -> keras.Model:
    """Dict inputs 'image' and 'meta'; dict outputs 'score' (both) and 'embedding' (image)."""
    image = keras.Input(shape=(64,), name="image")
    meta = keras.Input(shape=(3,), name="meta")
    features = keras.layers.Dense(8, activation="relu", name="features")(image)
    merged = keras.layers.Concatenate(name="merged")([features, meta])
    outputs = {
        "score": keras.layers.Dense(1, name="score")(merged),
        "embedding": keras.layers.Dense(4, name="embedding")(features),
    }
    return keras.Model({"image": image, "meta": meta}, outputs, name="towers")


@message("extract_missing_input")
def _():
    return [raised(lambda: keras_convert.extract(towers(), inputs="image", outputs="score"))]


@message("extract_ambiguous")
def _():
    inp = keras.Input(shape=(4,), name="x")
    twice = keras.layers.Dense(4, name="twice")
    model = keras.Model(inp, twice(twice(inp)), name="shared")
    return [raised(lambda: keras_convert.extract(model, outputs="twice"))]


@message("model_from_sequential_config")
def _():
    config = classifier().get_config()
    return [raised(lambda: keras.Model.from_config(config))]


@message("expects_keras_model")
def _():
    return [raised(lambda: keras_convert.to_sequential("classifier.keras"))]


@message("not_equivalent")
def _():
    original = classifier()
    rebuilt = keras.models.clone_model(original)  # same layers, fresh weights
    return [raised(lambda: keras_convert.assert_equivalent(original, rebuilt))]


# Editing a model


@message("input_incompatible")
def _():
    model = classifier()
    head = model.get_layer("probabilities")  # built for 32 features
    narrow = keras.layers.Dense(16, name="narrow")(model.inputs[0])
    return [raised(lambda: head(narrow))]


@message("incompatible_shape")
def _():
    narrow = keras.layers.Dense(16, name="narrow")
    return [raised(lambda: keras_convert.insert_layer(classifier(), narrow, after="hidden"))]


@message("already_built")
def _():
    return [raised(lambda: keras_convert.to_functional(classifier(), input_shape=(16,)))]


@message("layer_not_found")
def _():
    return [raised(lambda: keras_convert.remove_layer(classifier(), "hiden"))]


@message("call_function_sequential")
def _():
    return [
        raised(
            lambda: keras.models.clone_model(
                classifier(), call_function=lambda layer, *args, **kwargs: layer(*args, **kwargs)
            )
        )
    ]


@message("clone_function_none")
def _():
    functional = keras_convert.to_functional(classifier())

    def drop_hidden(layer):
        return None if layer.name == "hidden" else layer

    return [raised(lambda: keras.models.clone_model(functional, clone_function=drop_hidden))]


# Saving and loading


@message("invalid_extension")
def _():
    return [raised(lambda: classifier().save(temporary("classifier.model")))]


@message("objects_not_loaded")
def _():
    path = temporary("classifier.weights.h5")
    classifier().save_weights(path)
    wider = keras.Sequential(
        [keras.Input(shape=(64,)), keras.layers.Dense(48), keras.layers.Dense(10)], name="wider"
    )
    return [raised(lambda: wider.load_weights(path))]


class Scale(keras.layers.Layer):
    """A custom layer that nobody registered."""

    def call(self, inputs):
        return inputs * 2.0


@message("custom_layer_unregistered")
def _():
    path = temporary("scaled.keras")
    inputs = keras.Input(shape=(4,))
    keras.Model(inputs, Scale(name="scale")(inputs), name="scaled").save(path)
    return [raised(lambda: keras.saving.load_model(path))]


@message("lambda_safe_mode")
def _():
    path = temporary("doubled.keras")
    doubled = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Lambda(lambda t: t * 2)])
    doubled.save(path)
    return [raised(lambda: keras.saving.load_model(path))]


# Running and training a model


@message("compile_first")
def _():
    return [raised(lambda: classifier().fit(X, np.zeros(4), verbose=0))]


def _borrowed_optimizer():
    original = classifier()
    original.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    original.fit(X, np.zeros(4), verbose=0)
    copied = keras_convert.to_functional(original, copy=True)
    copied.compile(optimizer=original.optimizer, loss="sparse_categorical_crossentropy")
    return copied


@message("unknown_variable", frozenset({"tensorflow", "torch"}))
def _():
    copied = _borrowed_optimizer()
    return [raised(lambda: copied.fit(X, np.zeros(4), verbose=0))]


def _trainable_changed_after_compile_from_config(model):
    """`compile_from_config` builds the optimizer at once: a later `trainable` change counts."""
    model.compile_from_config({"optimizer": "adam", "loss": "sparse_categorical_crossentropy"})
    model.get_layer("hidden").trainable = False
    return lambda: model.fit(X, np.zeros(4), verbose=0)


@message("one_to_one", frozenset({"jax"}))
def _():
    return [raised(_trainable_changed_after_compile_from_config(classifier()))]


@message("array_deleted", frozenset({"jax"}))
def _():
    a, b = classifier("a"), classifier("b")
    for weight_a, weight_b in zip(a.weights, b.weights, strict=True):
        weight_b.assign(weight_a)  # the same buffer, not a copy
    a.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    a.fit(X, np.zeros(4), verbose=0)  # donates, and so deletes, the buffers b holds too
    return [raised(lambda: numpy(b.get_layer("hidden").kernel.value))]


@message("requires_grad", frozenset({"torch"}))
def _():
    model = classifier()
    return [raised(lambda: np.asarray(model(X)))]


# Keras 2 files (tf_keras: TensorFlow only)


def _legacy(name: str = "legacy"):
    import tf_keras

    return tf_keras.Sequential(
        [
            tf_keras.Input(shape=(64,)),
            tf_keras.layers.Dense(8, activation="relu", name="hidden"),
            tf_keras.layers.Dense(10, name="logits"),
        ],
        name=name,
    )


def _tf_keras_scale_shift():
    import tf_keras

    class ScaleShift(tf_keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight("scale", shape=input_shape[-1:], initializer="ones")

        def call(self, inputs):
            return inputs * self.scale

    return ScaleShift


@message("unknown_layer", TENSORFLOW)
def _():
    import tf_keras

    path = temporary("custom.h5")
    old = tf_keras.Sequential([tf_keras.Input(shape=(4,)), _tf_keras_scale_shift()(name="s")])
    old.save(path)
    return [raised(lambda: keras.saving.load_model(path, compile=False))]


@message("only_keras_layers", TENSORFLOW)
def _():
    import tf_keras

    path = temporary("custom.h5")
    scale_shift = _tf_keras_scale_shift()
    tf_keras.Sequential([tf_keras.Input(shape=(4,)), scale_shift(name="s")]).save(path)
    return [
        raised(
            lambda: keras.saving.load_model(
                path, custom_objects={"ScaleShift": scale_shift}, compile=False
            )
        )
    ]


def _with_tf_ops(op=None):
    import tensorflow as tf
    import tf_keras

    pixels = tf_keras.Input(shape=(64,))
    hidden = (op or tf.nn.relu)(tf_keras.layers.Dense(8)(pixels))
    return tf_keras.Model(pixels, tf_keras.layers.Dense(10)(hidden))


@message("tfoplambda", TENSORFLOW)
def _():
    path = temporary("with_ops.h5")
    _with_tf_ops().save(path)
    return [raised(lambda: keras.saving.load_model(path, compile=False))]


@message("file_format_not_supported", TENSORFLOW)
def _():
    folder = temporary("saved_model")
    _legacy().save(folder, save_format="tf")
    return [raised(lambda: keras.saving.load_model(folder))]


@message("str_not_callable", TENSORFLOW)
def _():
    path = temporary("compiled.h5")
    legacy = _legacy()
    legacy.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    legacy.fit(X, np.zeros(4), verbose=0)
    legacy.save(path)
    loaded = keras.saving.load_model(path)  # compile=True, the default
    return [raised(lambda: loaded.evaluate(X, np.zeros(4), verbose=0))]


@message("keras2_keras_sequential", TENSORFLOW)
def _():
    import tf_keras

    path = temporary("normalized.keras")
    tf_keras.Sequential(
        [tf_keras.Input(shape=(4,)), tf_keras.layers.BatchNormalization(name="bn")]
    ).save(path)
    return [raised(lambda: keras.saving.load_model(path))]


def _keras2_functional_file() -> str:
    path = temporary("functional.keras")
    _with_tf_ops(op=lambda t: t).save(path)  # no op: a plain Functional model
    return path


@message("could_not_locate_functional", TENSORFLOW)
def _():
    path = _keras2_functional_file()
    return [raised(lambda: keras.saving.load_model(path))]


@message("could_not_deserialize_tf215", TENSORFLOW)
def _():
    path = _keras2_functional_file()
    tf215 = temporary("functional_tf215.keras")
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(tf215, "w") as new:
        for member in old.infolist():
            data = old.read(member)
            if member.filename == "config.json":  # as TensorFlow 2.13-2.15 named it
                data = json.dumps({**json.loads(data), "module": "keras.src.engine.functional"})
            new.writestr(member, data)
    return [raised(lambda: keras.saving.load_model(tf215))]


@message("unresolved_nodes", TENSORFLOW)
def _():
    import tf_keras

    inner = tf_keras.Sequential([tf_keras.Input(shape=(4,)), tf_keras.layers.Dense(4)])
    pixels = tf_keras.Input(shape=(4,))
    outer = tf_keras.Model(pixels, tf_keras.layers.Dense(2)(inner(pixels)))
    path = temporary("nested.h5")
    outer.save(path)
    return [raised(lambda: keras.saving.load_model(path, compile=False))]


def _legacy_h5_weights() -> str:
    path = temporary("weights.h5")
    classifier().save_weights(path.replace(".h5", ".weights.h5"))
    model = keras.Sequential(
        [
            keras.Input(shape=(64,), name="pixels"),
            keras.layers.Dense(32, name="hidden"),
            keras.layers.Dense(16, name="extra"),
            keras.layers.Dense(10, name="probabilities"),
        ]
    )
    model.save(path)  # a whole-model legacy .h5 is also a weights file
    return path


@message("layer_count_mismatch")
def _():
    path = _legacy_h5_weights()
    return [raised(lambda: classifier().load_weights(path))]


@message("by_name_keras3")
def _():
    path = temporary("classifier.weights.h5")
    classifier().save_weights(path)
    return [raised(lambda: classifier().load_weights(path, by_name=True))]


@message("shape_mismatch_by_name")
def _():
    path = _legacy_h5_weights()
    renamed = keras.Sequential(
        [
            keras.Input(shape=(64,), name="pixels"),
            keras.layers.Dense(32, name="hidden"),
            keras.layers.Dense(10, name="probabilities"),
        ]
    )
    return [raised(lambda: renamed.load_weights(path, by_name=True))]


@message("name_keyword")
def _():
    class Port(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight("scale", shape=input_shape[-1:])

        def call(self, inputs):
            return inputs * self.scale

    return [raised(lambda: Port()(X))]


@message("kerastensor_tf_function", TENSORFLOW)
def _():
    import tensorflow as tf

    return [raised(lambda: tf.reduce_mean(keras.Input(shape=(4,))))]


@message("lstm_time_major", TENSORFLOW)
def _():
    import tf_keras

    path = temporary("tagger.h5")
    tf_keras.Sequential([tf_keras.Input(shape=(5, 2)), tf_keras.layers.LSTM(3)]).save(path)
    return [raised(lambda: keras.saving.load_model(path, compile=False))]


@message("quantization_mode", TENSORFLOW)
def _():
    import tf_keras

    path = temporary("mixed.h5")
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = tf_keras.Sequential([tf_keras.Input(shape=(4,)), tf_keras.layers.Dense(2)])
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    mixed.save(path)
    return [raised(lambda: keras.saving.load_model(path, compile=False))]


# Exporting a model (TensorFlow: the formats' own converters)


@message("export_never_called", TENSORFLOW)
def _():
    converted = keras_convert.to_functional(classifier())
    return [raised(lambda: converted.export(temporary("c.onnx"), format="onnx", verbose=False))]


@message("litert_dimension_mismatch", TENSORFLOW)
def _():
    from ai_edge_litert.interpreter import Interpreter

    path = temporary("classifier.tflite")
    classifier().export(path, format="litert", verbose=False)
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    return [raised(lambda: interpreter.set_tensor(index, np.zeros((450, 64), "float32")))]


@message("tf2onnx_keras_tensor", TENSORFLOW)
def _():
    import tf2onnx

    return [raised(lambda: tf2onnx.convert.from_keras(classifier()))]


def tflite_converter_on_dict_inputs() -> str:
    """What `TFLiteConverter.from_keras_model(...).convert()` raises for a model on a dict."""
    import tensorflow as tf

    top = keras.Input(shape=(32,), name="top")
    bottom = keras.Input(shape=(32,), name="bottom")
    joined = keras.layers.Concatenate(name="joined")(
        [keras.layers.Dense(16, name="top_branch")(top), keras.layers.Dense(16)(bottom)]
    )
    heads = {"digit": keras.layers.Dense(10, name="digit")(joined)}
    heads["is_even"] = keras.layers.Dense(1, name="is_even")(joined)
    halves = keras.Model({"top": top, "bottom": bottom}, heads, name="halves")
    return raised(tf.lite.TFLiteConverter.from_keras_model(halves).convert)


@message("tflite_converter_dict", TENSORFLOW)
def _():
    # A fresh interpreter: once tf_keras is imported (other cases import it), the converter
    # takes another path and raises the exporter's ValueError about the input structure.
    code = "from tests.reference_cases import *; print(tflite_converter_on_dict_inputs())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return [result.stdout.strip().splitlines()[-1]]


# keras_convert and keras-convert


@message("model_file_truncated")
def _():
    path = temporary("classifier.keras")
    classifier().save(path)
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)
    return [raised(lambda: keras_convert.load_model(path))]


@message("unmapped_op", TENSORFLOW)
def _():
    import tensorflow as tf

    path = temporary("normalized.h5")
    _with_tf_ops(op=lambda t: tf.math.l2_normalize(t, axis=-1)).save(path)
    return [raised(lambda: keras_convert.load_model(path, compile=False))]


@message("export_mixed_policy", TENSORFLOW)
def _():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = classifier("digits_mixed")
    finally:
        keras.config.set_dtype_policy("float32")
    return [raised(lambda: keras_convert.export(mixed, temporary("m.onnx"), format="onnx"))]


@message("export_unknown_format")
def _():
    model = classifier()
    return [raised(lambda: keras_convert.export(model, temporary("m.tflite"), format="tflite"))]


# Routes of the decision guide that no code block of the pages and no other test runs


@route("second_head")
def _():
    model = classifier()
    converted = keras_convert.to_functional(model, copy=True)
    extra = keras.layers.Dense(1, name="extra")(converted.get_layer("hidden").output)
    two_heads = keras.Model(converted.input, [converted.output, extra])
    on_original = keras.Model(
        model.inputs, [model.outputs[0], keras.layers.Dense(1)(model.get_layer("hidden").output)]
    )
    for built in (two_heads, on_original):
        np.testing.assert_array_equal(numpy(built(X)[0]), numpy(model(X)))
    assert on_original.get_layer("hidden") is model.get_layer("hidden")  # shares the weights
    assert two_heads.get_layer("hidden") is not model.get_layer("hidden")


@route("intermediate_features")
def _():
    model = classifier()
    features = keras.Model(model.inputs, [layer.output for layer in model.layers])
    np.testing.assert_array_equal(numpy(features(X)[-1]), numpy(model(X)))


@route("new_input_size")
def _():
    conv = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, name="head"),
        ]
    )
    bigger = keras.models.clone_model(
        conv, input_tensors=keras.Input(shape=(16, 16, 1)), clone_function=lambda layer: layer
    )
    assert bigger.input_shape == (None, 16, 16, 1)
    assert bigger.get_layer("conv") is conv.get_layer("conv")


@route("freeze_batch_normalization")
def _():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.BatchNormalization(name="bn")])
    model.get_layer("bn").trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = numpy(model.get_layer("bn").moving_mean)
    model.fit(X[:, :4] + 3.0, X[:, :4], verbose=0)
    np.testing.assert_array_equal(numpy(model.get_layer("bn").moving_mean), before)


@route("add_and_summary")
def _():
    model = keras.Sequential([keras.Input(shape=(64,))], name="growing")
    for units in (32, 10):
        model.add(keras.layers.Dense(units))
        assert model.output_shape == (None, units)  # what summary() shows, layer by layer
