"""Keras 2 model configurations, rewritten into the form Keras 3's reader of Keras 2 takes.

Keras 3 reads a Keras 2 configuration (as stored in a legacy `.h5` file) with
`legacy_h5_format`'s reader; `legacy_form` rewrites what a Keras 2 file stores so that the
reader builds the model Keras 2 built, or fails with an `UnmappedError` naming the layer
and the feature Keras 3 lacks. It never imports anything a file names: every class and
TensorFlow function it maps is a key of a table here or in `keras2_ops`.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_convert._keras_api import keras_application_layer_module, layer_class
from keras_convert._tf_keras_names import counts_construction_as_call
from keras_convert.keras2_ops import TENSOR, UnmappedError, check_call, keras2_hard_sigmoid

__all__ = ["UnmappedError", "keras3_name", "legacy_form"]

# Keys under which a layer's configuration holds whole layers that Keras 3 rebuilds with
# its own (not the legacy) deserializer, which needs a `module` for Keras's classes.
INNER_LAYER_KEYS = ("layer", "forward_layer", "backward_layer", "cell")

ANY = object()
_RNN = {"time_major": (False,)}
# Separable convolutions inherit these from Keras 2's `Conv` and never use them.
_SEPARABLE = {"groups": (1,), "kernel_initializer": ANY, "kernel_regularizer": ANY,
              "kernel_constraint": ANY}  # fmt: skip
# Arguments that Keras 2 layers record and Keras 3's refuse, with the values at which
# leaving them out computes the same; any other value is a feature Keras 3 lacks.
KERAS2_ONLY_ARGUMENTS: dict[str, dict[str, Any]] = {
    "LSTM": _RNN,
    "GRU": _RNN,
    "SimpleRNN": _RNN,
    "RNN": _RNN,
    "ConvLSTM1D": _RNN,
    "ConvLSTM2D": _RNN,
    "ConvLSTM3D": _RNN,
    "DepthwiseConv1D": {"groups": (1,)},
    "DepthwiseConv2D": {"groups": (1,)},
    "SeparableConv1D": _SEPARABLE,
    "SeparableConv2D": _SEPARABLE,
}

# Keras 2's raw-TensorFlow-op layers, computed by `keras2_ops.TensorFlowOp`.
OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")
# Configuration keys of the `keras.applications` layers that `_keras_api` maps, beyond
# a layer's own (name, trainable, dtype): a layer of the same name with other arguments
# is someone else's class, left to `custom_objects`.
APPLICATION_LAYER_ARGUMENTS = {
    "LayerScale": {"init_values", "projection_dim"},
    "StochasticDepth": {"drop_path_rate"},
    "CustomScaleLayer": {"scale"},
}


def legacy_form(node: Any) -> Any:
    """A Keras 2 configuration in the form Keras 3's reader of `.h5` files takes.

    Class names: `.keras` gives `module`, `class_name` and, for a registered class,
    `registered_name` ("Package>Name"); `.h5` gives the registered name as `class_name`
    and no module (Keras 3 reads a model's layer entry with a `module` as its own format).
    Layers inside wrappers (`TimeDistributed`, `Bidirectional`) are the opposite: Keras 3
    reads them with its own deserializer, which finds Keras's classes by their `module`.
    Then: Keras 2 dtype policies become their names, arguments Keras 3 dropped go (see
    `KERAS2_ONLY_ARGUMENTS`), `/` in layer names becomes `_` (see `keras3_name`),
    TensorFlow op layers become `keras2_ops.TensorFlowOp`, calls of nested models are
    renumbered (see `_renumber_nested_calls`), and a model's single input or output is a
    tensor, not a list of one (see `_unnest_single_tensors`). Returns a copy.

    Raises:
        UnmappedError: the configuration uses a feature Keras 3 lacks, or calls a
            TensorFlow op outside `keras2_ops.OPS`.
    """
    return _rewrite(node, inner=False)


def keras3_name(name: str) -> str:
    """The name Keras 3 gives a Keras 2 layer: Keras 3 refuses `/` in names, which Keras 2
    applications use (`conv1/conv` in DenseNet), and writes `_` instead (`conv1_conv`)."""
    return name.replace("/", "_")


def _rewrite(node: Any, *, inner: bool) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, inner=False) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") == "Policy" and isinstance(node.get("config"), dict):
        # Keras 2's `mixed_precision.Policy`; Keras 3 makes a `DTypePolicy` of its name.
        return node["config"].get("name")
    result = {}
    for key, value in node.items():
        if key == "cells" and isinstance(value, list):
            result[key] = [_rewrite(item, inner=True) for item in value]
        else:
            result[key] = _rewrite(value, inner=key in INNER_LAYER_KEYS)
    if "class_name" not in result or "config" not in result:
        return result
    registered = result.pop("registered_name", None)
    result.pop("module", None)
    if registered:
        result["class_name"] = registered
    class_name = result["class_name"]
    config = result["config"]
    if isinstance(config, dict):
        _drop_keras2_arguments(class_name, config)
        _keep_keras2_activations(config)
    if inner and layer_class(class_name) is not None:
        result["module"] = "keras.layers"
    elif _is_application_layer(class_name, config):
        # Keras 2 registers Inception-ResNet-V2's layer as "Custom>CustomScaleLayer".
        result["class_name"] = class_name = class_name.removeprefix("Custom>")
        result["module"] = keras_application_layer_module(class_name)
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        _rename_layers(config)
        config["layers"] = [_op_layer(entry) for entry in config["layers"]]
        _renumber_nested_calls(result)
        _unnest_single_tensors(config)
    return result


def _unnest_single_tensors(config: dict) -> None:
    """Makes a model of one input (output) take (return) a tensor, not a list of one.

    Keras 2 stores a single input or output as a list of one reference, and unnests it
    when it builds the model (`Functional._init_graph_network`); Keras 3 builds what the
    list says, so a Functional model nested in a Sequential one would return a list of
    one tensor to the next layer ("Cannot convert '((None, 5), 4)' to a shape"). In place.
    """
    for key in ("input_layers", "output_layers"):
        references = config.get(key)
        if isinstance(references, list) and len(references) == 1 and _is_entry(references[0]):
            config[key] = references[0]


def _drop_keras2_arguments(class_name: str, config: dict) -> None:
    """Removes the arguments of `KERAS2_ONLY_ARGUMENTS` that Keras 3 can do without."""
    for key, harmless in KERAS2_ONLY_ARGUMENTS.get(class_name, {}).items():
        if key not in config:
            continue
        value = config.pop(key)
        if harmless is not ANY and value not in harmless:
            raise UnmappedError(
                f"layer '{config.get('name', '?')}' ({class_name}) sets {key}={value!r}, "
                f"which Keras 3's {class_name} does not have",
                "rebuild the layer without it in Keras 2 and save it again",
            )


# Keras 2 activations that Keras 3 defines differently under the same name, each mapped
# onto a function that computes what Keras 2's did (every other tf_keras activation was
# compared with Keras 3's on [-6, 6]: equal).
KERAS2_ACTIVATIONS = {"hard_sigmoid": keras2_hard_sigmoid}
ACTIVATION_KEYS = ("activation", "recurrent_activation")


def _keep_keras2_activations(config: dict) -> None:
    """Replaces, in place, each activation of `KERAS2_ACTIVATIONS` with Keras 2's own."""
    for key in ACTIVATION_KEYS:
        name = config.get(key)
        if isinstance(name, str) and name in KERAS2_ACTIVATIONS:
            # A registered function's name: the form Keras's legacy reader resolves.
            config[key] = keras.saving.get_registered_name(KERAS2_ACTIVATIONS[name])


def _is_application_layer(class_name: str, config: Any) -> bool:
    expected = APPLICATION_LAYER_ARGUMENTS.get(class_name.removeprefix("Custom>"))
    return (
        expected is not None
        and isinstance(config, dict)
        and set(config) - {"name", "trainable", "dtype"} == expected
    )


def _rename_layers(config: dict) -> None:
    """Renames the layers of one model (`keras3_name`) and every reference to them."""
    names = [entry["config"]["name"] for entry in config["layers"]]
    renamed = {name: keras3_name(name) for name in names if keras3_name(name) != name}
    if not renamed:
        return
    taken = set(names) - set(renamed)
    for old, new in renamed.items():
        if new in taken:
            raise UnmappedError(
                f"layer '{old}' would be named '{new}' in Keras 3, which refuses '/' in "
                f"names, but the model has a layer '{new}' already",
                "rename one of the layers in Keras 2 and save the model again",
            )
        taken.add(new)

    def rename(value: Any) -> Any:
        if isinstance(value, list):
            if value and isinstance(value[0], str) and value[0] in renamed:
                return [renamed[value[0]], *[rename(item) for item in value[1:]]]
            return [rename(item) for item in value]
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        return value

    for entry in config["layers"]:
        name = entry["config"]["name"]
        entry["config"]["name"] = renamed.get(name, name)
        if "name" in entry:
            entry["name"] = renamed.get(name, name)
        if "inbound_nodes" in entry:
            entry["inbound_nodes"] = rename(entry["inbound_nodes"])
    for key in ("input_layers", "output_layers"):
        if key in config:
            config[key] = rename(config[key])


def _op_layer(entry: dict) -> dict:
    """A `TFOpLambda` or `SlicingOpLambda` layer entry as a `keras2_ops.TensorFlowOp` one.

    Keras 2 stores such a call as one node whose structure is the call's first argument
    (each tensor an entry `[layer, call, output, keywords]`, a constant an entry
    `["_CONSTANT_VALUE", -1, value, keywords]`), with the other arguments as `keywords`,
    where a tensor is `[layer, call, output]`. The rewritten layer takes the tensors as
    its inputs and keeps the rest in its configuration.
    """
    if entry.get("class_name") not in OP_LAYERS:
        return entry
    config = entry["config"]
    name = config.get("name", "?")
    calls = [_op_call(node, name) for node in entry.get("inbound_nodes", [])]
    if len(calls) != 1:
        raise UnmappedError(
            f"layer '{name}' ({entry['class_name']}) is called {len(calls)} times; "
            "keras_convert maps TensorFlow op layers called once",
            "call the op anew for each use in Keras 2 and save the model again",
        )
    arguments, keywords, tensors = calls[0]
    function = config.get("function")
    if not isinstance(function, str):
        raise UnmappedError(f"layer '{name}' ({entry['class_name']}) names no function")
    check_call(name, function, keywords)
    return {
        "class_name": "keras_convert>TensorFlowOp",
        "config": {
            "name": name,
            "trainable": config.get("trainable", True),
            "dtype": config.get("dtype", "float32"),
            "function": function,
            "arguments": arguments,
            "keywords": keywords,
        },
        "name": name,
        "inbound_nodes": [[list(tensor) for tensor in tensors]],
    }


def _op_call(node: Any, layer: str) -> tuple[Any, dict, list]:
    """(first argument, keywords, tensor references) of one Keras 2 op call."""
    tensors: list[list] = []
    keywords: dict = {}

    def slot(reference: list) -> dict:
        tensors.append(reference[:3])
        return {TENSOR: len(tensors) - 1}

    def first(item: Any) -> Any:
        if _is_entry(item):
            if len(item) == 4:
                keywords.update(item[3])
            return item[2] if item[0] == "_CONSTANT_VALUE" else slot(item)
        if isinstance(item, list):
            return [first(part) for part in item]
        raise UnmappedError(f"layer '{layer}' has a call Keras 2 did not write")

    def keyword(value: Any) -> Any:
        if _is_entry(value) and len(value) == 3:
            return slot(value)
        if isinstance(value, list):
            return [keyword(part) for part in value]
        if isinstance(value, dict):
            return {key: keyword(part) for key, part in value.items()}
        return value

    arguments = first(node)
    return arguments, {key: keyword(value) for key, value in keywords.items()}, tensors


def _is_entry(value: Any) -> bool:
    """Whether `value` is a Keras 2 tensor reference, `[layer, call, output(, keywords)]`
    (the test `tf_keras` applies, `convert_inner_node_data`)."""
    return (
        isinstance(value, list)
        and len(value) in (3, 4)
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and (len(value) == 3 or isinstance(value[3], dict))
    )


def _renumber_nested_calls(model: dict) -> None:
    """Makes a Functional configuration's references to nested models count as Keras 3 does.

    Keras 2 counts a nested model's own construction as its call number 0 when the model
    starts with an input layer (`_tf_keras_names.counts_construction_as_call`), so the
    outer graph calls it as number 1; Keras 3 records no such call and numbers the
    outer call 0 (its own reader of Keras 2 `.h5` files does not renumber, and fails on
    such a model with "Invalid Functional model configuration"). In place.
    """
    config = model["config"]
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return
    shifted = {
        entry["config"]["name"] for entry in config["layers"] if counts_construction_as_call(entry)
    }
    if not shifted:
        return

    def renumber(value: Any) -> None:
        if not isinstance(value, list):
            return
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            if value[0] in shifted:  # [layer name, call number, output number, ...]
                value[1] -= 1
            return
        for item in value:
            renumber(item)

    for entry in config["layers"]:
        renumber(entry.get("inbound_nodes"))
    renumber(config.get("input_layers"))
    renumber(config.get("output_layers"))
