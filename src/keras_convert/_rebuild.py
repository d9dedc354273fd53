"""Building new models from existing layers: inputs, layer copies, checked calls.

Shared by conversion and surgery. `LayerSource` implements the `copy=` contract:
with `copy=False` the new model calls the very same layer objects (shared weights);
with `copy=True` it calls copies re-created from each layer's config, built for the
same shapes, holding bitwise-equal weights and the same `trainable` flags.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras.src.ops.node import Node
from keras.src.ops.operation import Operation
from keras.src.saving.serialization_lib import SafeModeScope

from keras_convert.errors import (
    ConversionError,
    IncompatibleShapeError,
    UnsupportedModelError,
)
from keras_convert.graph import Graph, data_inputs, is_functional, read_graph, retrace

KerasTensor = keras.KerasTensor
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
Shape = tuple[int | None, ...]


class LayerSource:
    """Gives the operation a rebuilt graph should call in place of an original one.

    Args:
        copy: False: every operation is returned as is (the new model shares layers
            and weights with the original). True: every layer is replaced by a copy
            (memoised, so a layer shared in the original is shared in the copy); nested
            Sequential/Functional models are copied recursively. Raw `keras.ops`
            operations hold no state and are reused.
    """

    def __init__(self, copy: bool) -> None:
        self.copy = copy
        self._copies: dict[int, Operation] = {}
        self._pending: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def __call__(self, operation: Operation) -> Operation:
        if not self.copy or not isinstance(operation, keras.layers.Layer):
            return operation
        clone = self._copies.get(id(operation))
        if clone is None:
            clone = self._copy(operation)
            self._copies[id(operation)] = clone
        return clone

    def finish(self) -> None:
        """Copies the weights of layers that could only be built by calling them."""
        for original, clone in self._pending:
            copy_weights(original, clone)
        self._pending.clear()

    def _copy(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Sequential):
            clone = sequential_from_layers(
                [self(sublayer) for sublayer in layer.layers],
                layer.inputs[0] if layer.built else None,
                name=layer.name,
            )
        elif is_functional(layer):
            graph = read_graph(layer)
            clone = functional_from_graph(graph, call=self.caller(), name=layer.name)
        else:
            return self._copy_leaf(layer)
        keep_model_flags(layer, clone)
        return clone

    def caller(self) -> Callable[[Node, tuple, dict], Any]:
        """A `retrace` call function that calls each node's (copied) operation."""

        def call(node: Node, args: tuple, kwargs: dict) -> Any:
            return self(node.operation)(*args, **kwargs)

        return call

    def _copy_leaf(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        try:
            # The config comes from a live layer of this process, not from a file, so
            # Keras's safe mode (which refuses to rebuild Python lambdas) does not apply.
            with SafeModeScope(safe_mode=False):
                clone = type(layer).from_config(layer.get_config())
        except Exception as error:
            raise UnsupportedModelError(
                f"cannot copy layer '{layer.name}' ({type(layer).__name__}): re-creating it "
                f"from its get_config() failed ({type(error).__name__}: {error}). Implement "
                "get_config() for it, or convert with copy=False"
            ) from error
        if not layer.built:
            return clone
        build_config = layer.get_build_config()
        if build_config:
            clone.build_from_config(build_config)
            copy_weights(layer, clone)
        else:
            self._pending.append((layer, clone))
        return clone


def copy_weights(source: keras.layers.Layer, target: keras.layers.Layer) -> None:
    """Assigns all of `source`'s variables to `target`, bit for bit.

    That is the weights and the state that is not a weight, such as the seed generator of a
    Dropout layer, so that the copy also computes the same function in training mode.

    Raises:
        ConversionError: the two layers do not hold the same number and shapes of variables.
    """
    source_variables, target_variables = source.variables, target.variables
    if not source_variables:
        return
    shapes = [tuple(v.shape) for v in source_variables]
    if shapes != [tuple(v.shape) for v in target_variables]:
        raise ConversionError(
            f"the copy of layer '{source.name}' has variables of shapes "
            f"{[tuple(v.shape) for v in target_variables]}, not {shapes}; it cannot be copied"
        )
    for variable, clone in zip(source_variables, target_variables, strict=True):
        clone.assign(variable.value)


def input_like(tensor: KerasTensor, name: str | None = None) -> KerasTensor:
    """A new `keras.Input` with the shape (batch size included), dtype and sparsity of `tensor`.

    Args:
        tensor: A model input (its input layer's name and `optional` flag are kept) or any
            symbolic tensor.
        name: Name of the new input layer; defaults to the original input layer's name.
    """
    operation = tensor._keras_history.operation
    is_input = isinstance(operation, keras.layers.InputLayer)
    return keras.Input(
        batch_shape=tensor.shape,
        dtype=tensor.dtype,
        sparse=tensor.sparse,
        ragged=getattr(tensor, "ragged", False),
        name=name or (operation.name if is_input else None),
        optional=operation.optional if is_input else False,
    )


def structure_of(model: keras.Model, kind: str) -> Any:
    """The nested structure of a model's inputs or outputs (`kind` is 'input' or 'output')."""
    if isinstance(model, keras.Sequential):
        return model.inputs[0] if kind == "input" else model.outputs[0]
    return model.input if kind == "input" else model.output


def functional_from_graph(
    graph: Graph,
    *,
    call: Callable[[Node, tuple, dict], Any],
    name: str,
    inputs: list[KerasTensor] | None = None,
    tensors: dict[int, Any] | None = None,
) -> keras.Model:
    """Replays a graph on new inputs and wraps the result in a Functional model.

    Args:
        graph: The graph to replay.
        call: How to perform each call (see `graph.retrace`).
        name: Name of the new model.
        inputs: The new model's flat inputs; by default new ones like `graph.inputs`.
        tensors: Extra `id(old tensor)` -> new tensor entries, overriding the inputs
            (e.g. a layer inserted right after an input).

    Returns:
        A Functional model with the same input and output structure as `graph.model`.
    """
    if inputs is None:
        inputs = [input_like(t) for t in graph.inputs]
    mapping = {id(old): new for old, new in zip(graph.inputs, inputs, strict=True)}
    if tensors:
        mapping.update(tensors)
    retrace(graph.nodes, mapping, call)
    outputs = [mapping[id(t)] for t in graph.outputs]
    model = graph.model
    return keras.Model(
        keras.tree.pack_sequence_as(structure_of(model, "input"), inputs),
        keras.tree.pack_sequence_as(structure_of(model, "output"), outputs),
        name=name,
    )


def sequential_from_layers(
    layers: Sequence[keras.layers.Layer],
    input_template: KerasTensor | None,
    *,
    name: str,
    built_shapes: dict[int, Any] | None = None,
) -> keras.Sequential:
    """Builds a Sequential model, attributing any failure to the layer that caused it.

    Args:
        layers: The layers, in order.
        input_template: The tensor whose shape and dtype the new input copies, or None for
            an unbuilt Sequential model.
        name: Name of the new model.
        built_shapes: `id(layer)` -> input shape the layer was built for, used in error
            messages.

    Returns:
        The new Sequential model (built if `input_template` is given).

    Raises:
        IncompatibleShapeError: a layer cannot accept the tensor it now receives.
    """
    if input_template is None:
        return keras.Sequential(list(layers), name=name)
    new_input = input_like(input_template)
    node_counts = [len(layer._inbound_nodes) for layer in layers]
    try:
        model = keras.Sequential([new_input, *layers], name=name)
    except ConversionError:
        raise
    except Exception as error:
        index = _first_failed_call(layers, node_counts)
        if index is None:
            raise
        layer = layers[index]
        received = layers[index - 1]._inbound_nodes[-1].outputs[0] if index else new_input
        built_shape = (built_shapes or {}).get(id(layer))
        raise shape_error(layer, received.shape, built_shape, error) from error
    if not model.built:
        index = _first_failed_call(layers, node_counts)
        culprit = f"layer '{layers[index].name}'" if index is not None else "a layer"
        raise ConversionError(
            f"Keras could not build Sequential model '{name}': {culprit} cannot infer its "
            "output shape"
        )
    return model


def call_checked(operation: Operation, args: tuple, kwargs: dict, built_shape: Any = None) -> Any:
    """Calls `operation`, turning a failure into an `IncompatibleShapeError` naming it."""
    try:
        return operation(*args, **kwargs)
    except ConversionError:
        raise
    except Exception as error:
        tensors = keras.tree.flatten((args, kwargs))
        received = [t.shape for t in tensors if isinstance(t, KerasTensor)]
        raise shape_error(operation, _single(received), built_shape, error) from error


def node_input_shape(node: Node) -> Any:
    """Input shape(s) of a recorded call: one shape, or a list for several tensors."""
    return _single([t.shape for t in data_inputs(node)])


def shape_error(
    operation: Operation, received: Any, built_shape: Any, error: Exception
) -> IncompatibleShapeError:
    """An `IncompatibleShapeError` for `operation`; raise it `from` Keras's `error`."""
    reason = keras_reason(error)
    if built_shape is not None and built_shape != received:
        message = (
            f"layer '{operation.name}' was built for input shape {built_shape} but now "
            f"receives {received}; insert a layer that restores the shape, or change the "
            f"shape and '{operation.name}' in one step: replace_layer(model, "
            f"'{operation.name}', keras.Sequential([new_layer, new_{operation.name}])), "
            f"then flatten(). Keras says: {reason}"
        )
    else:
        message = (
            f"layer '{operation.name}' cannot take input shape {received}. Keras says: {reason}"
        )
    return IncompatibleShapeError(
        message, layer_name=operation.name, built_shape=built_shape, received_shape=received
    )


def keras_reason(error: Exception) -> str:
    """The informative line of a Keras error message (without its call-site preamble)."""
    lines = [_ANSI_ESCAPE.sub("", line).strip() for line in str(error).splitlines()]
    for line in lines:
        if line and not line.startswith("Exception encountered when calling"):
            return line
    return type(error).__name__


def keep_model_flags(source: keras.Model, result: keras.Model) -> None:
    """Keeps the model-level `trainable` flag without touching the (maybe shared) layers."""
    if not source.trainable:
        result._trainable = False


def _first_failed_call(layers: Sequence[keras.layers.Layer], counts: list[int]) -> int | None:
    """Index of the first layer whose call during a build attempt recorded no new node."""
    calls: Counter[int] = Counter()
    for index, layer in enumerate(layers):
        calls[id(layer)] += 1
        if len(layer._inbound_nodes) - counts[index] < calls[id(layer)]:
            return index
    return None


def _single(shapes: list[Shape]) -> Any:
    return shapes[0] if len(shapes) == 1 else shapes
