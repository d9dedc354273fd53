"""Load a model from any file Keras has written: Keras 3 `.keras`, Keras 2 `.keras`, `.h5`.

TensorFlow 2.13 to 2.15 (and `tf_keras` to this day) write `model.save("m.keras")` in a
format of their own: the same zip archive as Keras 3 (`metadata.json`, `config.json`,
`model.weights.h5`), but with a Keras 2 configuration that names classes Keras 3 does not
have (`keras.src.engine.functional.Functional`, `tf_keras.src.engine.sequential...`), so
`keras.saving.load_model` refuses it. `load_model` recognises such a file by its
`metadata.json` (`"keras_version": "2.x"`), rebuilds the model with Keras 3's reader of
Keras 2 configurations (the one that reads legacy `.h5` files), and assigns the weights
from `model.weights.h5` by the names Keras 2 gave them there (see `_Keras2Weights`). A
Keras 2 `.h5` file goes through the same reader, its weights paired with the layers by order
as Keras 2's `load_model` did (see `_Keras2H5Weights`). Either way, every weight of the
loaded model is then checked value by value against the file's arrays, independently of that
pairing (`_assert_weights_come_from`). Files written by Keras 3 go to
`keras.saving.load_model`.

Every failure is one line: a missing file raises `FileNotFoundError`, an unreadable one
`PermissionError` (both `OSError`), and anything else `ModelFileError`, whose attributes
say what is wrong and what would help.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras

from keras_convert._keras_api import (
    held_sublayers,
    imported_class,
    layer_class,
    legacy_model_from_config,
    optimizer_class,
    safe_mode_scope,
)
from keras_convert._tf_keras_names import SUBLAYERS, GroupNames, saved_layers
from keras_convert.errors import ModelFileError, keras_reason, wrong_type
from keras_convert.files import MAX_LAYERS, SavedFile, check_hdf5, inspect_file
from keras_convert.keras2_config import UnmappedError, keras3_name, legacy_form

__all__ = ["load_model"]

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


def load_model(
    filepath: str | os.PathLike,
    *,
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
    max_layers: int = MAX_LAYERS,
) -> keras.Model:
    """Loads a model from a Keras 3 `.keras`, a Keras 2 `.keras` or a legacy `.h5` file.

    A `.keras` file written by Keras 2 (TensorFlow 2.13 to 2.15, or `tf_keras`), which
    `keras.saving.load_model` refuses ("Could not locate class 'Functional'"), is rebuilt
    from its Keras 2 configuration and given the weights the file stores, each matched to
    its layer by the name Keras 2 wrote it under; nothing is guessed, and a weight that
    matches no layer (or a layer with no weight) is an error. The optimizer's state is not
    loaded from such a file (Keras 2 optimizers keep other variables than Keras 3's). A
    Keras 2 `.h5` file is read as Keras 3 reads it, but with the calls of nested models
    renumbered (on which Keras 3's own reader fails) and its weights paired with the layers
    by order, as Keras 2 did, every layer accounted for. A Keras 2 model's every weight is
    then checked value by value against the file: each comes from it, and each array in it
    is used once. Keras 3 files are loaded by `keras.saving.load_model`.

    Args:
        filepath: Path of a `.keras`, `.h5` or `.hdf5` file.
        custom_objects: Classes (and functions) the file names that Keras does not know,
            by name, as for `keras.saving.load_model`.
        compile: Compile the model with the settings the file stores, if any. A Keras 2
            file's optimizer, loss and metrics are applied where Keras 3 has an equivalent;
            a warning names the ones left out (and if compiling fails, the model is left
            uncompiled, with a warning).
        safe_mode: Refuse to load Python code stored in the file (a `Lambda` layer's
            function). Pass False only for files you trust.
        max_layers: The most layers the file's configuration may declare, nested and
            wrapped layers included (`keras_convert.files.MAX_LAYERS`, 5,000, by default:
            five times the largest `keras.applications` model); raise it for a file you trust.

    Returns:
        The model, a `keras.Model`.

    Raises:
        TypeError: `filepath` is not a path.
        FileNotFoundError: there is no such file.
        PermissionError: the file cannot be read.
        ModelFileError: the file is not a model file (empty, not a zip or HDF5 file,
            truncated, a directory or other non-regular file, weights only), or names a
            class that is not registered (`needs == "custom_objects"`), or holds Python
            code and `safe_mode` is True (`needs == "unsafe"`), or Keras cannot build it.

    Example:

    ```python
    import tempfile, pathlib
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    path = pathlib.Path(tempfile.mkdtemp()) / "model.keras"
    model.save(path)
    assert load_model(path).count_params() == 10
    ```
    """
    if not isinstance(filepath, str | os.PathLike):
        raise wrong_type("load_model", "a path to a .keras or .h5 file", filepath)
    path = Path(filepath)
    custom = dict(custom_objects or {})
    saved = inspect_file(path, max_layers=max_layers)
    if saved.keras_version.startswith("2."):
        load_keras2 = _load_keras2 if saved.format == "keras" else _load_keras2_h5
        try:
            return load_keras2(path, saved, custom, compile=compile, safe_mode=safe_mode)
        except MALFORMED as error:
            raise _malformed(path, error) from error
    _refuse_foreign_modules(path, saved.config, custom)
    try:
        model = keras.saving.load_model(
            path, custom_objects=custom, compile=compile, safe_mode=safe_mode
        )
    except Exception as error:
        legacy = saved.format == "h5"  # a Keras 2 configuration, as Keras 3 writes .h5 too
        raise _diagnosis(path, saved.config, custom, error, safe_mode, legacy=legacy) from error
    if not isinstance(model, keras.Model):
        raise ModelFileError(path, f"it holds a {type(model).__name__}, not a keras.Model")
    return model


def _load_keras2(
    path: Path, saved: SavedFile, custom: dict, *, compile: bool, safe_mode: bool
) -> keras.Model:
    config = saved.config
    model = _build_keras2(path, config, custom, safe_mode)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        data = archive.read("model.weights.h5") if "model.weights.h5" in names else None
    _Keras2Weights(path, data).assign(model, config)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile_or_warn(path, model, compile_config, custom)
    return model


def _load_keras2_h5(
    path: Path, saved: SavedFile, custom: dict, *, compile: bool, safe_mode: bool
) -> keras.Model:
    """A Keras 2 `.h5` file, read as Keras 3 reads it but for three differences: a graph that
    calls nested models is renumbered (see `keras2_config`), which Keras 3 fails on; every
    weight is accounted for (see `_Keras2H5Weights`); and compile settings that Keras 3
    cannot apply give a warning, not a failure to load."""
    import h5py

    model = _build_keras2(path, saved.config, custom, safe_mode)
    with h5py.File(path, "r") as file:
        weights = file.get("model_weights")
        if not isinstance(weights, h5py.Group):
            raise ModelFileError(path, "it has no 'model_weights' group: no weights at all")
        _Keras2H5Weights(path, weights).assign(model)
        _assert_weights_come_from(path, model, weights)
        training_config = file.attrs.get("training_config")
    if compile and training_config is not None:
        settings = _json_attribute(path, "training_config", training_config)
        _compile_or_warn(path, model, settings, custom)
    return model


def _build_keras2(path: Path, config: dict, custom: dict, safe_mode: bool) -> keras.Model:
    """A Keras 3 model from a Keras 2 configuration, or the `ModelFileError` saying why not."""
    try:
        rewritten = legacy_form(config)
    except UnmappedError as error:
        raise ModelFileError(path, error.cause, remedy=error.remedy) from error
    _refuse_foreign_modules(path, rewritten, custom)
    try:
        with safe_mode_scope(safe_mode), warnings.catch_warnings():
            # Keras 2 layers record `input_shape`, which Keras 3 accepts with a warning
            # addressed to people writing models, not loading them.
            warnings.filterwarnings("ignore", "Do not pass an `input_shape`", UserWarning)
            model = legacy_model_from_config(rewritten, custom)
    except UnmappedError as error:  # an op layer refuses its call when it is rebuilt
        raise ModelFileError(path, error.cause, remedy=error.remedy) from error
    except Exception as error:
        raise _diagnosis(path, config, custom, error, safe_mode, legacy=True) from error
    if not isinstance(model, keras.Model):
        raise ModelFileError(path, f"it holds a {type(model).__name__}, not a keras.Model")
    return model


def _compile_or_warn(path: Path, model: keras.Model, settings: Any, custom: dict) -> None:
    """Compiles `model` with a Keras 2 file's compile settings (a `.keras` file's
    `compile_config`, an `.h5` file's `training_config`), leaving out, and naming in a
    warning, those Keras 3 has no equivalent for; if compiling fails, the model stays
    uncompiled, with a warning."""
    try:
        with keras.saving.CustomObjectScope(custom):
            arguments, lost = _keras3_compile_arguments(settings)
            model.compile(**arguments)
    except Exception as error:
        warnings.warn(
            f"'{path}' was loaded uncompiled: Keras 3 cannot apply its Keras 2 compile "
            f"settings ({_one_line(error, limit=120)}); call model.compile(...)",
            stacklevel=4,
        )
        return
    if lost:
        warnings.warn(
            f"'{path}' was compiled without the Keras 2 compile settings that Keras 3 has no "
            f"equivalent for: {_listed(lost)}; compile the model again if they matter",
            stacklevel=4,
        )


def _listed(names: list[str], most: int = 5) -> str:
    """The first `most` names (each cut to 60 characters, as a file may hold any), and how
    many more there are."""
    shown = [name if len(name) <= 60 else f"{name[:57]}..." for name in names[:most]]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(shown) + more


# Arguments every Keras 2 optimizer records that no Keras 3 optimizer takes.
KERAS2_OPTIMIZER_ONLY = ("is_legacy_optimizer", "jit_compile")
# Keras 2 metrics that `compile` resolves by the loss, as Keras 3's `compile` does too.
RESOLVED_BY_THE_LOSS = ("accuracy", "acc", "crossentropy", "ce")


def _keras3_compile_arguments(settings: dict) -> tuple[dict, list[str]]:
    """`compile()` arguments from Keras 2 compile settings, and the settings left out.

    Keras 3's own readers of them (`compile_from_config`, `compile_args_from_training_config`,
    Keras 3.6 to 3.15) give a model that cannot train, or fail: Keras 2 records a metric's
    function by its name, a loss's function and its reduction "auto", arguments of its
    optimizers that Keras 3's refuse, and None for every default (which Keras 3 would take
    literally: `steps_per_execution=None` breaks `predict`). Each optimizer, loss and metric
    is read here on its own; one Keras 3 has no equivalent for is left out and named."""
    arguments, lost = {}, []
    for key, value in settings.items():
        if value is None:
            continue
        if key in ("optimizer", "optimizer_config"):
            arguments["optimizer"] = _mapped(_keras3_optimizer, value, "optimizer", lost)
        elif key == "loss":
            arguments["loss"] = _each(_keras3_loss, value, "loss", lost)
        elif key in ("metrics", "weighted_metrics"):
            kind = "metric" if key == "metrics" else "weighted metric"
            metrics = _each(_keras3_metric, value, kind, lost)
            # `.h5` files record a list per output; Keras 3.6 to 3.9 refuse a list of one
            # list for a model of one output, later versions take both.
            one_output = isinstance(metrics, list) and len(metrics) == 1
            arguments[key] = metrics[0] if one_output and isinstance(metrics[0], list) else metrics
        elif key in ("loss_weights", "run_eagerly", "steps_per_execution", "jit_compile"):
            arguments[key] = value
        else:
            lost.append(f"'{key}'")
    return {key: value for key, value in arguments.items() if value is not None}, lost


def _each(convert, value: Any, kind: str, lost: list[str]) -> Any:
    """`convert` applied to each loss or metric of a (nested) list or dict of them; one that
    does not convert is named in `lost`, and left out (a list of metrics) or None."""
    if isinstance(value, list):
        items = [_each(convert, item, kind, lost) for item in value]
        return items if kind == "loss" else [item for item in items if item is not None]
    if isinstance(value, dict) and "class_name" not in value:  # by output name
        return {name: _each(convert, item, kind, lost) for name, item in value.items()}
    return _mapped(convert, value, kind, lost)


def _mapped(convert, value: Any, kind: str, lost: list[str]) -> Any:
    """`convert(value)`, or None with `value` named in `lost`."""
    try:
        return convert(value)
    except Exception:
        if isinstance(value, str):
            name = value
        else:  # the name a user gave a loss or metric, an optimizer's class
            name = value["class_name"] if kind == "optimizer" else value["config"]["name"]
        lost.append(f"{kind} '{name}'")
        return None


def _keras3_optimizer(entry: str | dict) -> keras.optimizers.Optimizer:
    """A Keras 3 optimizer from a Keras 2 one's name (`compile("adam")`, as a `.keras` file
    records it), or its class name and arguments."""
    if isinstance(entry, str):
        return keras.optimizers.get(entry)
    class_name = entry["class_name"]
    keras3 = optimizer_class(class_name.removeprefix("Custom>"))
    if keras3 is not None:
        class_name = keras3.__name__  # tf_keras registers its own as 'Custom>Adam'
    config = {k: v for k, v in entry["config"].items() if k not in KERAS2_OPTIMIZER_ONLY}
    if config.get("decay") == 0:  # a tf_keras.optimizers.legacy optimizer's, when unused
        del config["decay"]
    return _deserialized(keras.optimizers, keras.optimizers.Optimizer, class_name, config)


def _keras3_loss(entry: str | dict) -> str | keras.losses.Loss:
    """A loss's name as it is, if Keras 3 knows it; a Keras 3 loss from a Keras 2 one's class
    name and arguments, less the function Keras 2 records, with Keras 2's reduction "auto"
    as the one it meant outside `tf.distribute`."""
    if isinstance(entry, str):
        keras.losses.get(entry)
        return entry
    config = {k: v for k, v in entry["config"].items() if k != "fn"}
    if config.get("reduction") == "auto":
        config["reduction"] = "sum_over_batch_size"
    return _deserialized(keras.losses, keras.losses.Loss, entry["class_name"], config)


def _keras3_metric(entry: str | dict) -> str | keras.metrics.Metric:
    """A metric's name as it is, if Keras 3 knows it; a Keras 3 metric from a Keras 2 one's
    class name and arguments, or (a function Keras 2 wrapped) from the function's name."""
    if isinstance(entry, str):
        if entry not in RESOLVED_BY_THE_LOSS:
            keras.metrics.get(entry)
        return entry
    config = entry["config"]
    if entry["class_name"] != "MeanMetricWrapper":
        return _deserialized(keras.metrics, keras.metrics.Metric, entry["class_name"], config)
    found = keras.metrics.get(config["fn"])  # the metric class of that name, or a function
    if isinstance(found, keras.metrics.Metric):
        return type(found)(name=config["name"], dtype=config.get("dtype"))
    return keras.metrics.MeanMetricWrapper(found, name=config["name"], dtype=config.get("dtype"))


def _deserialized(module, kind: type, class_name: str, config: dict) -> Any:
    """`module.deserialize` of a class name and its arguments, which gives back the name of a
    class it does not know (Keras 3.6 to 3.15); a `ValueError` then."""
    found = module.deserialize({"class_name": class_name, "config": config})
    if not isinstance(found, kind):
        raise ValueError(f"Keras 3 has no {kind.__name__} '{class_name}'")
    return found


class _Keras2Weights:
    """Assigns the weights of a Keras 2 `model.weights.h5` to a model built from its config.

    Keras 2 stores a model's layers under `layers/<name>`, where `<name>` is the layer's
    class name in snake case, numbered within its container in the order of the model's
    `layers` (`dense`, `dense_1`, ...; a layer met a second time, a shared one, is skipped
    without taking a number); each layer's own variables under `vars/0`, `vars/1`, ... in
    the order trainable first, then non-trainable; a nested model's layers under its own
    `layers/`. A Keras 2 Sequential model's `layers` leave out its input layer. That is the
    naming of `tf_keras.src.saving.saving_lib` (`_save_container_state`), replayed here on
    the configuration (which lists the layers in the same order; see `_tf_keras_names`), so
    each stored array goes to the layer Keras 2 took it from, checked by count and shape.
    """

    def __init__(self, path: Path, data: bytes | None) -> None:
        self.path = path
        self.data = data

    def assign(self, model: keras.Model, config: dict) -> None:
        import h5py

        if self.data is None:
            _assert_weights_come_from(self.path, model, None)
            return
        try:
            store = h5py.File(io.BytesIO(self.data), "r")
        except OSError as error:
            raise ModelFileError(self.path, "its model.weights.h5 is not an HDF5 file") from error
        with store:
            check_hdf5(self.path, store)
            layers = store.get("layers")
            if not isinstance(layers, h5py.Group):
                _assert_weights_come_from(self.path, model, None)
                return
            visited: set[int] = set()
            used: set[str] = set()
            self._container(model, config, layers, visited, used)
            stored = {name for name, _ in _datasets(layers)}
            self._assert_all_used(stored - used)
            _assert_weights_come_from(self.path, model, layers)

    def _assert_all_used(self, unused: set[str]) -> None:
        left = sorted(unused)
        if left:
            raise ModelFileError(
                self.path,
                f"its weights file holds '{left[0]}' (and {len(left) - 1} more), which no "
                "layer of the model takes"
                if len(left) > 1
                else f"its weights file holds '{left[0]}', which no layer of the model takes",
            )

    def _container(self, model, config, group, visited, used) -> None:
        names = GroupNames()
        for entry in saved_layers(config):
            layer = self._layer(model, entry["config"]["name"])
            if id(layer) in visited:
                continue
            visited.add(id(layer))
            name = names(entry["class_name"])
            if name not in group:
                if layer.weights:
                    raise ModelFileError(
                        self.path,
                        f"its weights file has no entry '{group.name[1:]}/{name}' for layer "
                        f"'{layer.name}' ({entry['class_name']})",
                    )
                continue
            if entry["class_name"] in MODEL_CLASSES and "layers" in group[name]:
                self._container(layer, entry, group[name]["layers"], visited, used)
            else:
                self._leaf(layer, entry["class_name"], group[name], used)

    def _layer(self, model: keras.Model, name: str) -> keras.layers.Layer:
        """The layer named `name` among `model.layers` (input layers included)."""
        for layer in model.layers:
            if layer.name == keras3_name(name):
                return layer
        raise ModelFileError(self.path, f"the rebuilt model has no layer '{name}'")

    def _leaf(self, layer, class_name, group, used) -> None:
        assigned = self._owned(layer, class_name, group, used)
        missing = [v.path for v in layer.weights if id(v) not in {id(a) for a in assigned}]
        if missing:
            raise ModelFileError(
                self.path,
                f"layer '{layer.name}' ({class_name}) has weight '{missing[0]}', which its "
                f"entry '{group.name[1:]}' in the weights file does not hold",
            )

    def _owned(self, layer, class_name, group, used) -> list:
        """Assigns the arrays of `group` to `layer`: its own under `vars/`, a sub-layer's
        (see `SUBLAYERS`) under the attribute's name; returns the variables assigned."""
        import h5py

        # A sub-layer entry without arrays is skipped: Keras 2's Bidirectional also saves the
        # unbuilt layer it copied its two directions from, under `layer`.
        children = [
            key
            for key in group
            if key != "vars"
            and not (
                isinstance(group[key], h5py.Group) and next(_datasets(group[key]), None) is None
            )
        ]
        for key in children:
            if key not in SUBLAYERS or not isinstance(group[key], h5py.Group):
                raise ModelFileError(
                    self.path,
                    f"layer '{layer.name}' ({class_name}) keeps weights under "
                    f"'{group.name[1:]}/{key}', which keras_convert does not map from Keras 2 "
                    "files",
                    remedy="save the model from Keras 2 as .h5 and load that",
                )
        held = held_sublayers(layer)
        sublayers = {key: held.get(key) for key in children}
        inner = {id(v) for sub in sublayers.values() if sub is not None for v in sub.weights}
        own = [v for v in layer.weights if id(v) not in inner]
        ordered = [v for v in own if v.trainable] + [v for v in own if not v.trainable]
        stored = group.get("vars", {})
        arrays = [stored.get(str(index)) for index in range(len(stored))]
        _assign(self.path, f"layer '{layer.name}' ({class_name})", ordered, arrays)
        used.update(f"{group.name}/vars/{index}".lstrip("/") for index in range(len(arrays)))
        assigned = list(ordered)
        for key, sublayer in sublayers.items():
            if not isinstance(sublayer, keras.layers.Layer):
                raise ModelFileError(
                    self.path,
                    f"the weights file keeps a '{key}' for layer '{layer.name}' ({class_name}), "
                    "which has none",
                )
            assigned += self._owned(sublayer, class_name, group[key], used)
        return assigned


class _Keras2H5Weights:
    """Assigns the weights of a Keras 2 `.h5` file's `model_weights` group as Keras 2's
    `load_model` did: by order, not by name.

    The file lists its layers in `layer_names`, each with its arrays in `weight_names`
    (trainable first, then non-trainable); the layers that have arrays pair, in that order,
    with the model's layers that have weights, in the order of `model.layers` (topological).
    A layer without its group, a count or shape that differs, or a layer left over on either
    side is a `ModelFileError` naming the layer. The layout is `tf_keras`'s
    `hdf5_format.save_weights_to_hdf5_group` (tf_keras 2.13 to 2.21).
    """

    def __init__(self, path: Path, group: Any) -> None:
        self.path = path
        self.group = group

    def assign(self, model: keras.Model) -> None:
        stored = [(name, arrays) for name, arrays in self._stored_layers() if arrays]
        layers = [layer for layer in model.layers if layer.weights]
        if len(stored) != len(layers):
            raise ModelFileError(self.path, self._count_mismatch(layers, stored))
        for layer, (name, arrays) in zip(layers, stored, strict=True):
            variables = layer.trainable_weights + layer.non_trainable_weights
            where = f"layer '{layer.name}' ({type(layer).__name__})"
            _assign(self.path, where, variables, arrays, stored_as=name)
        top = self.group.get("top_level_model_weights")
        if top is not None and _h5_names(self.path, top, "weight_names"):
            raise ModelFileError(
                self.path,
                "it stores weights of the model itself (top_level_model_weights), which "
                "keras_convert does not map from Keras 2 files",
            )

    def _stored_layers(self) -> Iterator[tuple[str, list]]:
        """(layer name, its datasets) for each layer the file lists, in its order."""
        import h5py

        for name in _h5_names(self.path, self.group, "layer_names"):
            layer_group = self.group.get(name)
            if not isinstance(layer_group, h5py.Group):
                raise ModelFileError(
                    self.path, f"its weights list layer '{name}' but hold no group for it"
                )
            arrays = []
            for weight in _h5_names(self.path, layer_group, "weight_names"):
                array = layer_group.get(weight)
                if not isinstance(array, h5py.Dataset):
                    raise ModelFileError(
                        self.path, f"its weights list '{name}/{weight}' but hold no array there"
                    )
                arrays.append(array)
            yield name, arrays

    @staticmethod
    def _count_mismatch(layers: list, stored: list) -> str:
        """Says which layer is left over: the first whose name differs from the file's at
        its position (Keras 2 pairs by order, so names only point at it), else the last."""
        counts = (
            f"the file stores weights for {len(stored)} layers, but the model has "
            f"{len(layers)} layers with weights"
        )
        pairs = zip(layers, [name for name, _ in stored], strict=False)
        first = next(
            (index for index, (layer, name) in enumerate(pairs) if layer.name != name), None
        )
        index = min(len(layers), len(stored)) if first is None else first
        if len(layers) > len(stored):
            layer = layers[index]
            return f"{counts}: layer '{layer.name}' ({type(layer).__name__}) has none in the file"
        return f"{counts}: the file's '{stored[index][0]}' is left over"


def _h5_names(path: Path, group: Any, attribute: str) -> list[str]:
    """A list of names stored in an HDF5 attribute, as Keras writes it: whole, or split
    into `attribute0`, `attribute1`, ... when it is longer than an attribute holds."""
    if attribute in group.attrs:
        chunks = [group.attrs[attribute]]
    else:
        chunks = []
        while f"{attribute}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{attribute}{len(chunks)}"])
    names = []
    for chunk in chunks:
        if getattr(chunk, "ndim", None) != 1:
            raise ModelFileError(path, f"its weights' '{attribute}' is not a list of names")
        for name in chunk:
            try:
                names.append(name.decode("utf-8") if isinstance(name, bytes) else str(name))
            except UnicodeDecodeError as error:
                raise ModelFileError(
                    path, f"its weights' '{attribute}' holds a name that is not UTF-8"
                ) from error
    return names


def _assign(path: Path, layer: str, variables: list, arrays: list, stored_as: str = "") -> None:
    """Assigns the HDF5 `arrays` to `variables`, in order, once every shape is checked (so
    no array is read that does not fit); `layer` and `stored_as` name them in the error."""
    shapes = [tuple(variable.shape) for variable in variables]
    found = [tuple(getattr(array, "shape", ())) for array in arrays]
    if found != shapes:
        where = f" (as '{stored_as}')" if stored_as else ""
        raise ModelFileError(
            path,
            f"{layer} has weights of shapes {shapes}, but the file stores {found} for it{where}",
        )
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(_numeric(path, array))


def _numeric(path: Path, array: Any) -> Any:
    """The values of an HDF5 dataset whose shape was checked, if they are numbers."""
    if array.dtype.kind not in "biuf":
        raise ModelFileError(path, f"its array '{array.name}' does not hold numbers")
    return array[()]


def _assert_weights_come_from(path: Path, model: keras.Model, group: Any) -> None:
    """Checks, value by value and independently of how the loader paired them, that the
    model's weights and the arrays under `group` (None: no arrays) are the same multiset:
    every weight of the model equals an array of the file, and every array is used once.
    Raises `ModelFileError` naming the first weight (or array) without its match."""
    import hashlib

    import numpy as np

    def key(value: Any) -> tuple:
        value = np.asarray(value)
        digest = hashlib.sha256(value.astype(np.float64).tobytes()).digest()
        return tuple(value.shape), digest

    unmatched: dict[tuple, list[str]] = {}
    for name, array in _datasets(group) if group is not None else ():
        if array.dtype.kind not in "biuf":
            raise ModelFileError(path, f"its array '{name}' does not hold numbers")
        unmatched.setdefault(key(array[()]), []).append(name)
    for variable in model.weights:
        names = unmatched.get(key(variable.numpy()))
        if not names:
            raise ModelFileError(
                path,
                f"weight '{variable.path}' of the loaded model is not among the file's "
                "arrays: its layer did not get its weights from the file",
            )
        names.pop()
    left = sorted(name for names in unmatched.values() for name in names)
    if left:
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        raise ModelFileError(
            path, f"its array '{left[0]}'{more} went to no weight of the loaded model"
        )


def _json_attribute(path: Path, name: str, value: Any) -> Any:
    """An HDF5 attribute that holds JSON, parsed; a `ModelFileError` if it does not."""
    try:
        return json.loads(value.decode("utf-8") if isinstance(value, bytes) else value)
    except (TypeError, ValueError, RecursionError) as error:
        raise ModelFileError(path, f"its '{name}' attribute is not valid JSON") from error


def _datasets(group) -> Iterator[tuple[str, Any]]:
    """(path, dataset) for every array under an h5py group, paths relative to the file."""
    import h5py

    for name, item in group.items():
        full = f"{group.name}/{name}".lstrip("/")
        if isinstance(item, h5py.Dataset):
            yield full, item
        else:
            yield from _datasets(item)


def _diagnosis(
    path: Path,
    config: dict | None,
    custom: dict,
    error: Exception,
    safe_mode: bool,
    *,
    legacy: bool,
) -> ModelFileError:
    """The likely cause of a failed load, found in the configuration rather than in Keras's
    message: the first class nothing resolves, else Python code refused by safe mode, else
    the first line of Keras's own message."""
    for node in _layer_nodes(config or {}):
        if not _is_known(node, custom, legacy=legacy):
            return _unregistered(path, node, model=node is config)
    if safe_mode:
        for node in _layer_nodes(config or {}):
            if _holds_python_code(node):
                name = node.get("config", {}).get("name", "?")
                return ModelFileError(
                    path,
                    f"layer '{name}' ({node['class_name']}) holds Python code, which safe "
                    "mode does not load",
                    needs="unsafe",
                    remedy="if you trust this file, pass safe_mode=False",
                )
    return ModelFileError(path, f"Keras cannot load it: {_one_line(error)}")


def _unregistered(path: Path, node: dict, *, model: bool = False) -> ModelFileError:
    """The error for a configuration entry whose class (or function) nothing resolves, with
    the registered name a caller must pass it under."""
    registered = _registered_name(node)
    python_name = registered.rpartition(">")[2]
    return ModelFileError(
        path,
        f"class '{registered}'{' (a subclassed model)' if model else ''} is not registered",
        class_name=registered,
        needs="custom_objects",
        remedy=(
            f"import the module that defines it (decorated with "
            f"@keras.saving.register_keras_serializable()), or pass "
            f"custom_objects={{{registered!r}: {python_name}}}"
        ),
    )


def _registered_name(node: dict) -> str:
    """The name Keras looks an entry's class (or, for "function", the function) up by."""
    if node.get("class_name") == "function" and isinstance(node.get("config"), str):
        return node.get("registered_name") or node["config"]
    return node.get("registered_name") or node["class_name"]


def _refuse_foreign_modules(path: Path, config: Any, custom: dict) -> None:
    """Refuses a configuration entry that names a module outside the Keras family for a class
    (or function) that nothing registered resolves, before Keras reads the configuration:
    Keras 3.6 imports such a module to look the class up, which runs its code. A Keras 2
    configuration is checked as Keras will read it, after `legacy_form`."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            module = node.get("module")
            if (
                isinstance(module, str)
                and isinstance(node.get("class_name"), str)
                and module.split(".")[0] not in KERAS_FAMILY
                and not _resolvable(node, custom)
            ):
                raise _unregistered(path, node, model=node is config)


def _resolvable(node: dict, custom: dict) -> bool:
    """Whether `custom_objects` or Keras's registry resolves an entry's class by name."""
    names = {node["class_name"], _registered_name(node)}
    return any(name in custom for name in names) or any(
        keras.saving.get_registered_object(name) is not None for name in names
    )


def _layer_nodes(node: dict) -> Iterator[dict]:
    """The configuration of the model, then of each layer, nested ones included."""
    if not isinstance(node, dict) or not isinstance(node.get("class_name"), str):
        return
    yield node
    inner = node.get("config")
    if not isinstance(inner, dict):
        return
    for entry in inner.get("layers", []) if isinstance(inner.get("layers"), list) else []:
        yield from _layer_nodes(entry)
    for key in ("layer", "forward_layer", "backward_layer"):
        yield from _layer_nodes(inner.get(key))


def _is_known(node: dict, custom: dict, *, legacy: bool) -> bool:
    """Whether Keras can resolve a layer configuration's class (see `_diagnosis`), judged
    without importing anything: a file's `module` key is never imported here, and a class
    counts as Keras's own only if a Keras-family module already imported defines it."""
    class_name = node["class_name"]
    registered = node.get("registered_name") or class_name
    if class_name in custom or registered in custom:
        return True
    if keras.saving.get_registered_object(registered) is not None:
        return True
    module = node.get("module") or ""
    if legacy or module.split(".")[0] in KERAS_FAMILY:
        return _builtin(class_name) or imported_class(module, class_name) is not None
    return False


def _builtin(class_name: str) -> bool:
    """Whether Keras 3 has a model or layer class of this name."""
    return class_name in MODEL_CLASSES or layer_class(class_name) is not None


# The packages whose classes Keras's own deserialization resolves by module name
# (`keras.src.saving.serialization_lib`), and so the only ones a file's `module` may name.
KERAS_FAMILY = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp"})


def _holds_python_code(node: dict) -> bool:
    config = node.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    return node.get("class_name") == "Lambda" and (
        isinstance(function, list)
        or (isinstance(function, dict) and function.get("class_name") == "__lambda__")
    )


# What reading a damaged or hand-made file's configuration or weights raises: a key, type
# or value that is not where Keras 2 writes it, nesting too deep, a size too large.
MALFORMED = (
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    ValueError,
    RecursionError,
    MemoryError,
)


def _malformed(path: Path, error: Exception) -> ModelFileError:
    """The `ModelFileError` for a Keras 2 file whose content is not what Keras 2 writes."""
    if isinstance(error, ModelFileError):
        return error
    if isinstance(error, RecursionError):
        return ModelFileError(path, "its configuration is nested too deeply to be a model")
    if isinstance(error, MemoryError):
        return ModelFileError(path, "it declares more data than this machine's memory holds")
    detail = _one_line(error)
    return ModelFileError(
        path,
        "its configuration or weights are not as Keras 2 writes them "
        f"({type(error).__name__}{': ' + detail if detail != type(error).__name__ else ''})",
    )


def _one_line(error: Exception, limit: int = 160) -> str:
    """Keras's first informative line, without the configuration dumps it often appends,
    shortened at a word boundary to at most `limit` characters."""
    line = keras_reason(error)
    line = re.split(r"\s*(?:config=|Full object config:|Received: config=)", line)[0]
    if len(line) <= limit:
        return line
    return line[: limit - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
