"""The one door to Keras internals: every private attribute or module keras_convert reads.

Keras 3 has no public API for a model's graph of calls, so reading and rebuilding one needs
a few private attributes. They are all read here, and nowhere else in keras_convert, so that
a new Keras release is audited in one file; so is every read of a Keras object or module by
a name computed at run time, which could reach a private one. Each accessor says whether it
was checked on every supported Keras (`_versions.KERAS_MINORS`); `make compat` runs the
whole test suite on each of them (the matrix is on the book's "Versions and backends" page).
tests/test_keras_api.py audits every other module of the package for a way around the door.

Fallback policy, the same for every accessor: where the Keras in use lacks an attribute that
newer versions have, the accessor reproduces what that older Keras does (its docstring says
how); there is no other fallback. An attribute that no supported Keras lacks is read directly,
so a Keras that removes it fails loudly in the test suite instead of being guessed around."""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
from keras.src.backend import get_keras_mask
from keras.src.legacy.saving import saving_options, saving_utils
from keras.src.models.functional import Functional
from keras.src.saving.serialization_lib import SafeModeScope

from keras_convert._tf_keras_names import SUBLAYERS
from keras_convert._versions import SUPPORTED
from keras_convert.errors import UnsupportedKerasError

__all__ = [
    "Call",
    "attached_mask",
    "call_context_args",
    "call_count",
    "fill_in",
    "held_sublayers",
    "imported_class",
    "is_functional",
    "keras_application_layer_module",
    "last_call_output",
    "layer_class",
    "legacy_model_from_config",
    "make_input",
    "operation_settings",
    "optimizer_class",
    "producer",
    "safe_mode_scope",
    "set_model_trainable_flag",
    "source_operation",
    "unsafe_deserialization",
]

KerasTensor = keras.KerasTensor


def is_functional(obj: object) -> bool:
    """Whether `obj` is a Functional model (a graph of layer calls).

    `keras.Model(inputs, outputs)` returns an instance of the private class `Functional`;
    `keras.Sequential` is not a subclass of it. Checked on every supported Keras.
    """
    return isinstance(obj, Functional)


def _read(obj: object, attribute: str) -> Any:
    """`obj.attribute`, or an `UnsupportedKerasError` naming what this Keras lacks.

    Every attribute of a Keras graph object that is not public API is read through here,
    so that a Keras release which renames one fails loudly, with the version, instead of
    reading as a model without connections.
    """
    try:
        return getattr(obj, attribute)
    except AttributeError as error:
        raise UnsupportedKerasError(
            f"keras_convert reads `{type(obj).__name__}.{attribute}`, which Keras "
            f"{keras.__version__} does not have ({SUPPORTED} do); this Keras version "
            "is not supported yet: please report it"
        ) from error


@dataclass(frozen=True, eq=False)
class Call:
    """One recorded call of an operation on symbolic tensors: a Keras `Node`, read once.

    Keras records each call in a `keras.src.ops.node.Node`, whose attributes are not public
    API; `producer` reads them into this record, so no other module touches a `Node`.
    Checked on every supported Keras.

    Attributes:
        operation: The layer, input layer or `keras.ops` operation called.
        inputs: The symbolic tensors the call received, anywhere in its arguments
            (`Node.input_tensors`), masks that Keras passed on included.
        outputs: Its output tensors, flat (`Node.outputs`).
        args: The positional arguments as recorded (`Node.arguments.args`).
        kwargs: The keyword arguments as recorded (`Node.arguments.kwargs`).
        is_graph_input: Whether it is an input layer's call (no tensor in, `Node.is_input`).
    """

    operation: keras.Operation
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    is_graph_input: bool
    _node: Any = field(repr=False)


_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _call_of(node: Any) -> Call:
    """The one `Call` record of a Keras `Node` (the same object each time it is asked for)."""
    call = _CALLS.get(node)
    if call is None:
        arguments = _read(node, "arguments")
        call = Call(
            operation=_read(node, "operation"),
            inputs=list(_read(node, "input_tensors")),
            outputs=list(_read(node, "outputs")),
            args=tuple(_read(arguments, "args")),
            kwargs=dict(_read(arguments, "kwargs")),
            is_graph_input=bool(_read(node, "is_input")),
            _node=node,
        )
        _CALLS[node] = call
    return call


def source_operation(tensor: KerasTensor) -> keras.Operation | None:
    """The operation (layer, input layer or `keras.ops` call) that produced `tensor`.

    Reads `tensor._keras_history`, which Keras sets on every symbolic tensor a call takes
    or returns. Returns None for a tensor that entered a graph without being produced by
    any operation. Checked on every supported Keras.
    """
    return _read(_read(tensor, "_keras_history"), "operation")


def producer(tensor: KerasTensor) -> Call:
    """The call that produced `tensor`.

    `tensor._keras_history` holds the operation and the index of the call in the
    operation's `_inbound_nodes`. Checked on every supported Keras.
    """
    history = _read(tensor, "_keras_history")
    operation = _read(history, "operation")
    return _call_of(_read(operation, "_inbound_nodes")[_read(history, "node_index")])


def call_count(layer: keras.Operation) -> int:
    """How many calls of `layer` on symbolic tensors Keras has recorded (`_inbound_nodes`).

    Checked on every supported Keras.
    """
    return len(_read(layer, "_inbound_nodes"))


def last_call_output(layer: keras.Operation) -> KerasTensor:
    """The first output tensor of the most recent recorded call of `layer`.

    Checked on every supported Keras.
    """
    return _call_of(_read(layer, "_inbound_nodes")[-1]).outputs[0]


def fill_in(call: Call, tensors: dict[int, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's recorded arguments with each symbolic tensor replaced via `tensors`.

    `tensors` maps `id(old tensor)` to its replacement; this is how `keras.Function` replays
    a graph (`Node.arguments.fill_in`). Checked on every supported Keras.
    """
    args, kwargs = _read(_read(call._node, "arguments"), "fill_in")(tensors)
    return tuple(args), dict(kwargs)


def call_context_args(operation: keras.Operation) -> frozenset[str]:
    """The call arguments an outer call passes on to this operation (`training`, ...).

    Keras 3.10 and newer keep them in `layer._call_context_args` (`{"training"}` plus any a
    layer registers). Older Keras has no such set and propagates `training` only, so that
    is what this returns there; a raw `keras.ops` operation takes none.
    """
    if not isinstance(operation, keras.layers.Layer):
        return frozenset()
    return frozenset(getattr(operation, "_call_context_args", {"training"}))


def operation_settings(operation: keras.Operation) -> list[tuple[str, Any]]:
    """The settings a raw `keras.ops` operation was made with (`axis`, `keepdims`, ...).

    Keras keeps an operation's constructor arguments as public instance attributes (for
    example `Mean.axis`), which `vars()` reads here; the name and the private attributes are
    left out. Sorted by attribute name. Checked on Keras 3.15.1.
    """
    public = vars(operation).items()
    return sorted((key, value) for key, value in public if key != "name" and key[0] != "_")


def attached_mask(tensor: KerasTensor) -> Any:
    """The mask Keras attached to a tensor (`_keras_mask`), or None.

    Read through `keras.src.backend.get_keras_mask`. Checked on every supported Keras.
    """
    return get_keras_mask(tensor)


def make_input(tensor: KerasTensor, *, name: str | None, optional: bool) -> KerasTensor:
    """A new `keras.Input` with the batch shape, dtype, sparsity and raggedness of `tensor`.

    `keras.Input(ragged=...)` and `KerasTensor.ragged` exist from Keras 3.9; older versions
    have no ragged symbolic tensors, so the argument is passed only for a ragged tensor.
    Checked on every supported Keras.
    """
    ragged = {"ragged": True} if getattr(tensor, "ragged", False) else {}
    return keras.Input(
        batch_shape=tensor.shape,
        dtype=tensor.dtype,
        sparse=tensor.sparse,
        name=name,
        optional=optional,
        **ragged,
    )


def set_model_trainable_flag(model: keras.Model, value: bool) -> None:
    """Sets a model's own `trainable` flag without cascading to its layers.

    The public setter (`model.trainable = value`) also sets the flag of every layer, which
    would change layers a converted model shares with its original. Writes `_trainable`,
    the attribute behind the public getter. Checked on every supported Keras.
    """
    model._trainable = value


@contextlib.contextmanager
def unsafe_deserialization() -> Iterator[None]:
    """Lets `from_config` rebuild Python lambdas, for configs taken from live layers.

    Keras's safe mode refuses to deserialize lambda code from untrusted files; a config
    read from a layer of this very process is not untrusted. `SafeModeScope` (in
    `keras.src.saving.serialization_lib`) scopes the setting, unlike the global
    `keras.config.enable_unsafe_deserialization()`. Checked on every supported Keras.
    """
    with SafeModeScope(safe_mode=False):
        yield


def safe_mode_scope(safe_mode: bool) -> contextlib.AbstractContextManager:
    """A scope in which deserialization refuses (True) or allows (False) Python lambdas.

    `SafeModeScope`, in `keras.src.saving.serialization_lib`. Checked on every supported Keras.
    """
    return SafeModeScope(safe_mode=safe_mode)


# Layers that Keras 2's applications define for themselves (not registered in Keras 2,
# so a file names them by class only), by the Keras 3 module that defines the same layer.
_APPLICATION_LAYERS = {
    "LayerScale": "keras.src.applications.convnext",
    "StochasticDepth": "keras.src.applications.convnext",
    "CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
}


def keras_application_layer_module(class_name: str) -> str | None:
    """The Keras 3 module defining the `keras.applications` layer `class_name`, or None.

    ConvNeXt's `LayerScale` and `StochasticDepth` and Inception-ResNet-V2's
    `CustomScaleLayer` are private classes of `keras.src.applications`, with the same
    arguments and computation as Keras 2's. Keras's own deserializer imports a `keras.*`
    module a configuration names, which is how these reach the model. Checked on the latest
    supported Keras only (`_versions.LATEST`).
    """
    return _APPLICATION_LAYERS.get(class_name)


def legacy_model_from_config(config: dict, custom_objects: dict[str, Any]) -> keras.Model:
    """A model built from a Keras 2 configuration, as Keras 3 reads one from a legacy `.h5`.

    Mirrors `keras.src.legacy.saving.legacy_h5_format.load_model_from_hdf5`: the global
    custom objects merged with `custom_objects`, `saving_utils.model_from_config` under
    `saving_options.keras_option_scope(use_legacy_config=True)`. Keras 3 has no public
    reader of Keras 2 configurations. Checked on every supported Keras.
    """
    objects = {**keras.saving.get_custom_objects(), **custom_objects}
    with saving_options.keras_option_scope(use_legacy_config=True):
        return saving_utils.model_from_config(config, custom_objects=objects)


def layer_class(class_name: str) -> type | None:
    """The class `keras.layers.<class_name>`, or None where Keras has no public layer of it.
    Public API."""
    return _public_class(keras.layers, class_name, object)


def optimizer_class(class_name: str) -> type | None:
    """The class `keras.optimizers.<class_name>`, or None where Keras has no public
    optimizer of it. Public API."""
    return _public_class(keras.optimizers, class_name, keras.optimizers.Optimizer)


def _public_class(namespace: Any, class_name: str, base: type) -> type | None:
    """`namespace.<class_name>` if it is a subclass of `base`. The name comes from a file, so
    it is looked up among the public names only: a private or dunder name (`__class__`) is
    none of Keras's classes."""
    if class_name.startswith("_"):
        return None
    found = getattr(namespace, class_name, None)
    return found if isinstance(found, type) and issubclass(found, base) else None


def imported_class(module: str, class_name: str) -> type | None:
    """The class `class_name` of `module` if that module is imported already, else None.

    Keras's deserializer looks a class up by the module a configuration names (often a
    private `keras.src` one); this asks the same question without importing anything.
    """
    loaded = sys.modules.get(module)
    found = vars(loaded).get(class_name) if loaded is not None else None
    return found if isinstance(found, type) else None


def held_sublayers(layer: keras.layers.Layer) -> dict[str, keras.layers.Layer]:
    """The sub-layers `layer` holds, by the attribute that holds each.

    The attributes are those under which Keras 2 files keep a sub-layer's weights
    (`_tf_keras_names.SUBLAYERS`); Keras 3's wrappers, recurrent layers and `Bidirectional`
    hold their sub-layers under the same names. Public API, read here because the names
    come from a table. Checked on every supported Keras.
    """
    found = {name: getattr(layer, name, None) for name in SUBLAYERS}
    return {name: sub for name, sub in found.items() if isinstance(sub, keras.layers.Layer)}
