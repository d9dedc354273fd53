"""The one door to Keras internals: every private attribute or module keras_convert reads.

Keras 3 has no public API for a model's graph of calls, so reading and rebuilding one needs
a few private attributes. They are all read here, and nowhere else in keras_convert, so that
a new Keras release is audited in one file. Each accessor names the Keras versions it was
checked on; `make compat` runs the whole test suite on each of them (the matrix is on the
book's "Versions and backends" page).

Fallback policy, the same for every accessor: where the Keras in use lacks an attribute that
newer versions have, the accessor reproduces what that older Keras does (its docstring says
how); there is no other fallback. An attribute that no supported Keras lacks is read directly,
so a Keras that removes it fails loudly in the test suite instead of being guessed around.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import keras
from keras.src.backend import get_keras_mask
from keras.src.models.functional import Functional
from keras.src.saving.serialization_lib import SafeModeScope

if TYPE_CHECKING:
    from keras.src.ops.node import Node

__all__ = [
    "attached_mask",
    "call_arguments",
    "call_context_args",
    "call_count",
    "fill_in",
    "is_functional",
    "last_call_output",
    "make_input",
    "producer",
    "set_model_trainable_flag",
    "source_operation",
    "unsafe_deserialization",
]

KerasTensor = keras.KerasTensor


def is_functional(obj: object) -> bool:
    """Whether `obj` is a Functional model (a graph of layer calls).

    `keras.Model(inputs, outputs)` returns an instance of the private class `Functional`;
    `keras.Sequential` is not a subclass of it. Checked on Keras 3.6 to 3.15.
    """
    return isinstance(obj, Functional)


def source_operation(tensor: KerasTensor) -> keras.Operation:
    """The operation (layer, input layer or `keras.ops` call) that produced `tensor`.

    Reads `tensor._keras_history`, set on every symbolic tensor a call returns. Checked on
    Keras 3.6 to 3.15. Returns None for a tensor no operation produced.
    """
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def producer(tensor: KerasTensor) -> Node:
    """The node (call event) that produced `tensor`.

    `tensor._keras_history` holds the operation and the index of the call in the
    operation's `_inbound_nodes`. Checked on Keras 3.6 to 3.15.
    """
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def call_count(layer: keras.Operation) -> int:
    """How many calls of `layer` on symbolic tensors Keras has recorded (`_inbound_nodes`).

    Checked on Keras 3.6 to 3.15.
    """
    return len(layer._inbound_nodes)


def last_call_output(layer: keras.Operation) -> KerasTensor:
    """The first output tensor of the most recent recorded call of `layer`.

    Checked on Keras 3.6 to 3.15.
    """
    return layer._inbound_nodes[-1].outputs[0]


def call_arguments(node: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments a node recorded (`node.arguments`).

    Checked on Keras 3.6 to 3.15.
    """
    return node.arguments.args, node.arguments.kwargs


def fill_in(node: Node, tensors: dict[int, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The node's recorded arguments with each symbolic tensor replaced via `tensors`.

    `tensors` maps `id(old tensor)` to its replacement; this is how `keras.Function` replays
    a graph. Checked on Keras 3.6 to 3.15.
    """
    args, kwargs = node.arguments.fill_in(tensors)
    return tuple(args), dict(kwargs)


def call_context_args(operation: keras.Operation) -> frozenset[str]:
    """The call arguments an outer call passes on to this operation (`training`, ...).

    Keras 3.10 to 3.15 keep them in `layer._call_context_args` (`{"training"}` plus any a
    layer registers). Keras 3.6 to 3.9 have no such set and propagate `training` only, so
    that is what this returns there; a raw `keras.ops` operation takes none.
    """
    if not isinstance(operation, keras.layers.Layer):
        return frozenset()
    return frozenset(getattr(operation, "_call_context_args", {"training"}))


def attached_mask(tensor: KerasTensor) -> Any:
    """The mask Keras attached to a tensor (`_keras_mask`), or None.

    Read through `keras.src.backend.get_keras_mask`. Checked on Keras 3.6 to 3.15.
    """
    return get_keras_mask(tensor)


def make_input(tensor: KerasTensor, *, name: str | None, optional: bool) -> KerasTensor:
    """A new `keras.Input` with the batch shape, dtype, sparsity and raggedness of `tensor`.

    `keras.Input(ragged=...)` and `KerasTensor.ragged` exist from Keras 3.9; older versions
    have no ragged symbolic tensors, so the argument is passed only for a ragged tensor.
    Checked on Keras 3.6 to 3.15.
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
    the attribute behind the public getter. Checked on Keras 3.6 to 3.15.
    """
    model._trainable = value


@contextlib.contextmanager
def unsafe_deserialization() -> Iterator[None]:
    """Lets `from_config` rebuild Python lambdas, for configs taken from live layers.

    Keras's safe mode refuses to deserialize lambda code from untrusted files; a config
    read from a layer of this very process is not untrusted. `SafeModeScope` (in
    `keras.src.saving.serialization_lib`) scopes the setting, unlike the global
    `keras.config.enable_unsafe_deserialization()`. Checked on Keras 3.6 to 3.15.
    """
    with SafeModeScope(safe_mode=False):
        yield
