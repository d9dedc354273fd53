"""Load a model from any file Keras has written: Keras 3 `.keras`, Keras 2 `.keras`, `.h5`.

TensorFlow 2.13 to 2.15 (and `tf_keras` to this day) write `model.save("m.keras")` in a
format of their own: the same zip archive as Keras 3 (`metadata.json`, `config.json`,
`model.weights.h5`), but with a Keras 2 configuration that names classes Keras 3 does not
have (`keras.src.engine.functional.Functional`, `tf_keras.src.engine.sequential...`), so
`keras.saving.load_model` refuses it. `load_model` recognises such a file by its
`metadata.json` (`"keras_version": "2.x"`), rebuilds the model with Keras 3's reader of
Keras 2 configurations (the one that reads legacy `.h5` files), and assigns the weights
from `model.weights.h5` by the names Keras 2 gave them there (see `_Keras2Weights`). A
Keras 2 `.h5` file goes through the same reader (see `_load_keras2_h5`); files written by
Keras 3 go to `keras.saving.load_model`.

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
    legacy_compile_arguments,
    legacy_model_from_config,
    legacy_weights_by_name,
    safe_mode_scope,
)
from keras_convert.errors import ModelFileError, keras_reason, wrong_type
from keras_convert.files import SavedFile, inspect_file
from keras_convert.keras2_config import UnmappedError, legacy_form

__all__ = ["load_model"]

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


def load_model(
    filepath: str | os.PathLike,
    *,
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> keras.Model:
    """Loads a model from a Keras 3 `.keras`, a Keras 2 `.keras` or a legacy `.h5` file.

    A `.keras` file written by Keras 2 (TensorFlow 2.13 to 2.15, or `tf_keras`), which
    `keras.saving.load_model` refuses ("Could not locate class 'Functional'"), is rebuilt
    from its Keras 2 configuration and given the weights the file stores, each matched to
    its layer by the name Keras 2 wrote it under; nothing is guessed, and a weight that
    matches no layer (or a layer with no weight) is an error. The optimizer's state is not
    loaded from such a file (Keras 2 optimizers keep other variables than Keras 3's). A
    Keras 2 `.h5` file is read as Keras 3 reads it, but with its weights matched to layers by
    name and the calls of nested models renumbered (on which Keras 3's own reader fails).
    Keras 3 files are loaded by `keras.saving.load_model`.

    Args:
        filepath: Path of a `.keras`, `.h5` or `.hdf5` file.
        custom_objects: Classes (and functions) the file names that Keras does not know,
            by name, as for `keras.saving.load_model`.
        compile: Compile the model with the settings the file stores, if any. A Keras 2
            file's settings that Keras 3 cannot apply give a warning and an uncompiled
            model.
        safe_mode: Refuse to load Python code stored in the file (a `Lambda` layer's
            function). Pass False only for files you trust.

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
    saved = inspect_file(path)
    if saved.keras_version.startswith("2."):
        if saved.format == "keras":
            return _load_keras2(path, saved, custom, compile=compile, safe_mode=safe_mode)
        return _load_keras2_h5(path, saved, custom, compile=compile, safe_mode=safe_mode)
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
        if "model.weights.h5" in archive.namelist():
            _Keras2Weights(path, archive.read("model.weights.h5")).assign(model, config)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        settings = _keras3_compile_config(compile_config)
        _compile_or_warn(path, model, lambda: model.compile_from_config(settings))
    return model


def _load_keras2_h5(
    path: Path, saved: SavedFile, custom: dict, *, compile: bool, safe_mode: bool
) -> keras.Model:
    """A Keras 2 `.h5` file, read as Keras 3 reads it but for three differences: a graph that
    calls nested models is renumbered (see `_renumber_nested_calls`), which Keras 3 fails on;
    the weights are matched to layers by name, not by order; and compile settings that
    Keras 3 cannot apply give a warning, not a failure to load."""
    import h5py

    model = _build_keras2(path, saved.config, custom, safe_mode)
    with h5py.File(path, "r") as file:
        try:
            legacy_weights_by_name(file, model)
        except ValueError as error:
            raise ModelFileError(path, f"its weights do not fit: {_one_line(error)}") from error
        training_config = file.attrs.get("training_config")
    if compile and training_config is not None:
        if isinstance(training_config, bytes):
            training_config = training_config.decode("utf-8")
        arguments = json.loads(training_config)
        _compile_or_warn(
            path, model, lambda: model.compile(**legacy_compile_arguments(arguments, custom))
        )
    return model


def _build_keras2(path: Path, config: dict, custom: dict, safe_mode: bool) -> keras.Model:
    """A Keras 3 model from a Keras 2 configuration, or the `ModelFileError` saying why not."""
    try:
        with safe_mode_scope(safe_mode), warnings.catch_warnings():
            # Keras 2 layers record `input_shape`, which Keras 3 accepts with a warning
            # addressed to people writing models, not loading them.
            warnings.filterwarnings("ignore", "Do not pass an `input_shape`", UserWarning)
            model = legacy_model_from_config(legacy_form(config), custom)
    except UnmappedError as error:
        raise ModelFileError(path, error.cause, remedy=error.remedy) from error
    except Exception as error:
        raise _diagnosis(path, config, custom, error, safe_mode, legacy=True) from error
    if not isinstance(model, keras.Model):
        raise ModelFileError(path, f"it holds a {type(model).__name__}, not a keras.Model")
    return model


def _compile_or_warn(path: Path, model: keras.Model, compile_model) -> None:
    """Runs `compile_model()`; a failure leaves the model uncompiled, with a warning."""
    try:
        compile_model()
    except Exception as error:
        warnings.warn(
            f"'{path}' was loaded uncompiled: Keras 3 cannot apply its Keras 2 compile "
            f"settings ({_one_line(error)[:120]}); call model.compile(...)",
            stacklevel=4,
        )


# Arguments every Keras 2 optimizer records that no Keras 3 optimizer takes.
KERAS2_OPTIMIZER_ONLY = ("is_legacy_optimizer", "jit_compile")


def _keras3_compile_config(config: dict) -> dict:
    """A Keras 2 `.keras` file's compile settings, as Keras 3's `compile_from_config` takes
    them: Keras 2 records every argument, None for a default, and Keras 3 would take None
    literally (`steps_per_execution=None` breaks `predict`); a Keras 2 optimizer also
    records arguments that Keras 3 optimizers refuse."""
    settings = {key: value for key, value in config.items() if value is not None}
    optimizer = settings.get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        inner = {
            key: value
            for key, value in optimizer["config"].items()
            if key not in KERAS2_OPTIMIZER_ONLY
        }
        settings["optimizer"] = {**optimizer, "config": inner}
    return settings


class _Keras2Weights:
    """Assigns the weights of a Keras 2 `model.weights.h5` to a model built from its config.

    Keras 2 stores a model's layers under `layers/<name>`, where `<name>` is the layer's
    class name in snake case, numbered within its container in the order of the model's
    `layers` (`dense`, `dense_1`, ...; a layer met a second time, a shared one, is skipped
    without taking a number); each layer's own variables under `vars/0`, `vars/1`, ... in
    the order trainable first, then non-trainable; a nested model's layers under its own
    `layers/`. A Keras 2 Sequential model's `layers` leave out its input layer. That is the
    naming of `tf_keras.src.saving.saving_lib` (`_save_container_state`), replayed here on
    the configuration (which lists the layers in the same order), so each stored array
    goes to the layer Keras 2 took it from, checked by count and shape.
    """

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data

    def assign(self, model: keras.Model, config: dict) -> None:
        import h5py

        with h5py.File(io.BytesIO(self.data), "r") as store:
            if "layers" not in store:
                return
            visited: set[int] = set()
            used: set[str] = set()
            self._container(model, config, store["layers"], visited, used)
            stored = {name for name, _ in _datasets(store["layers"])}
        left = sorted(stored - used)
        if left:
            raise ModelFileError(
                self.path,
                f"its weights file holds '{left[0]}' (and {len(left) - 1} more), which no "
                "layer of the model takes"
                if len(left) > 1
                else f"its weights file holds '{left[0]}', which no layer of the model takes",
            )

    def _container(self, model, config, group, visited, used) -> None:
        counters: dict[str, int] = {}
        entries = config["config"]["layers"]
        if config["class_name"] == "Sequential":
            entries = [e for e in entries if e["class_name"] != "InputLayer"]
        for entry in entries:
            layer = self._layer(model, entry["config"]["name"])
            if id(layer) in visited:
                continue
            visited.add(id(layer))
            name = _snake_case(entry["class_name"])
            if name in counters:
                counters[name] += 1
                name = f"{name}_{counters[name]}"
            else:
                counters[name] = 0
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
            if layer.name == name:
                return layer
        raise ModelFileError(self.path, f"the rebuilt model has no layer '{name}'")

    def _leaf(self, layer, class_name, group, used) -> None:
        nested = [name for name, _ in _datasets(group) if "/vars/" not in name]
        if nested:
            raise ModelFileError(
                self.path,
                f"layer '{layer.name}' ({class_name}) keeps weights in sub-layers "
                f"('{nested[0]}'), which keras_convert does not map from Keras 2 files",
                remedy="save the model from Keras 2 as .h5 and load that",
            )
        stored = group.get("vars", {})
        values = [stored[str(index)][()] for index in range(len(stored))]
        variables = layer.weights
        ordered = [v for v in variables if v.trainable] + [v for v in variables if not v.trainable]
        shapes = [tuple(v.shape) for v in ordered]
        if [tuple(value.shape) for value in values] != shapes:
            raise ModelFileError(
                self.path,
                f"layer '{layer.name}' ({class_name}) has weights of shapes {shapes}, but the "
                f"file stores {[tuple(value.shape) for value in values]} for it",
            )
        for variable, value in zip(ordered, values, strict=True):
            variable.assign(value)
        used.update(f"{group.name}/vars/{index}".lstrip("/") for index in range(len(values)))


def _datasets(group) -> Iterator[tuple[str, Any]]:
    """(path, dataset) for every array under an h5py group, paths relative to the file."""
    import h5py

    for name, item in group.items():
        full = f"{group.name}/{name}".lstrip("/")
        if isinstance(item, h5py.Dataset):
            yield full, item
        else:
            yield from _datasets(item)


def _snake_case(name: str) -> str:
    """Keras 2's `generic_utils.to_snake_case`, which named the groups of its weights files."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if insecure[0] != "_" else "private" + insecure


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
        class_name = node.get("class_name", "?")
        if not _is_known(node, custom, legacy=legacy):
            model = " (a subclassed model)" if node is config else ""
            return ModelFileError(
                path,
                f"class '{class_name}'{model} is not registered",
                class_name=class_name,
                needs="custom_objects",
                remedy=(
                    f"import the module that defines it (decorated with "
                    f"@keras.saving.register_keras_serializable()), or pass "
                    f"custom_objects={{'{class_name}': {class_name}}}"
                ),
            )
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


def _layer_nodes(node: dict) -> Iterator[dict]:
    """The configuration of the model, then of each layer, nested ones included."""
    if not isinstance(node, dict) or "class_name" not in node:
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
    """Whether Keras can resolve a layer configuration's class (see `_diagnosis`)."""
    class_name = node["class_name"]
    registered = node.get("registered_name") or class_name
    if class_name in custom or registered in custom:
        return True
    if keras.saving.get_registered_object(registered) is not None:
        return True
    builtin = class_name in MODEL_CLASSES or isinstance(
        getattr(keras.layers, class_name, None), type
    )
    module = node.get("module") or ""
    if legacy or module == "keras" or module.startswith(("keras.", "keras_hub.")):
        return builtin or _module_has(module, class_name)
    return False


def _module_has(module: str, name: str) -> bool:
    import importlib

    try:
        return isinstance(vars(importlib.import_module(module)).get(name), type)
    except Exception:
        return False


def _holds_python_code(node: dict) -> bool:
    function = node.get("config", {}).get("function")
    return node.get("class_name") == "Lambda" and (
        isinstance(function, list)
        or (isinstance(function, dict) and function.get("class_name") == "__lambda__")
    )


def _one_line(error: Exception) -> str:
    """Keras's first informative line, without the configuration dumps it often appends."""
    line = keras_reason(error)
    line = re.split(r"\s*(?:config=|Full object config:|Received: config=)", line)[0]
    return line if len(line) <= 160 else line[:157] + "..."
