"""Building new models from existing layers: replaying graphs, copying layers, inlining.

Shared by conversion and surgery. `LayerSource` implements the `copy=` contract:
with `copy=False` the new model calls the very same layer objects (shared weights);
with `copy=True` it calls copies re-created from each layer's config, built for the
same shapes, holding bitwise-equal weights and the same `trainable` flags.
`retrace` replays recorded calls on new tensors; `inline_sub_models` is `flatten` for a
Functional model. The one rule for inlining a nested model, whatever the API that flattens
it: `inlinable` (it computes the same) and `claim_names` (no two layers get one name).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import Any

import keras

from keras_convert._keras_api import (
    Call,
    call_context_args,
    call_count,
    fill_in,
    last_call_output,
    make_input,
    set_model_trainable_flag,
    source_operation,
    unsafe_deserialization,
)
from keras_convert.errors import ConversionError, UnsupportedModelError, shape_error
from keras_convert.graph import (
    Graph,
    data_inputs,
    implicit_mask_keys,
    is_graph_model,
    operation_names,
    read_graph,
)

KerasTensor = keras.KerasTensor
Shape = tuple[int | None, ...]
Replay = Callable[[Call, tuple, dict], Any]
Advice = Callable[[str], str]


class LayerSource:
    """Gives the operation a rebuilt graph should call in place of an original one.

    Use it as a context manager: on leaving the block without an error, the weights of
    copies that could only be built by calling them are filled in.

    ```python
    with LayerSource(copy=True) as source:
        model = functional_from_graph(graph, call=source.caller(), name="copy")
    ```

    Args:
        copy: False: every operation is returned as is (the new model shares layers
            and weights with the original). True: every layer is replaced by a copy
            (memoised, so a layer shared in the original is shared in the copy); nested
            Sequential/Functional models are copied recursively. Raw `keras.ops`
            operations hold no state and are reused.
    """

    def __init__(self, copy: bool) -> None:
        self.copy = copy
        self._copies: dict[int, keras.Operation] = {}
        self._pending: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def __enter__(self) -> LayerSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            for original, clone in self._pending:
                copy_weights(original, clone)
        self._pending.clear()

    def __call__(self, operation: keras.Operation) -> keras.Operation:
        if not self.copy or not isinstance(operation, keras.layers.Layer):
            return operation
        clone = self._copies.get(id(operation))
        if clone is None:
            clone = self._copy(operation)
            self._copies[id(operation)] = clone
        return clone

    def caller(self) -> Replay:
        """A `retrace` call function that calls each node's (copied) operation."""

        def call(node: Call, args: tuple, kwargs: dict) -> Any:
            return self(node.operation)(*args, **kwargs)

        return call

    def _copy(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Sequential):
            clone = sequential_from_layers(
                [self(sublayer) for sublayer in layer.layers],
                layer.inputs[0] if layer.built else None,
                name=layer.name,
            )
        elif is_graph_model(layer):
            clone = functional_from_graph(read_graph(layer), call=self.caller(), name=layer.name)
        else:
            return self._copy_leaf(layer)
        keep_model_flags(layer, clone)
        return clone

    def _copy_leaf(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        try:
            # The config comes from a live layer of this process, not from a file, so
            # Keras's safe mode (which refuses to rebuild Python lambdas) does not apply.
            with unsafe_deserialization():
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
            try:
                clone.build_from_config(build_config)
            except Exception:
                built = False
            else:
                built = _same_variable_shapes(layer, clone)
            if built:
                copy_weights(layer, clone)
                return clone
            # Some layers are not built by their build config alone: KerasHub's
            # TransformerDecoder adds state when first called, its patch embeddings create
            # their variables in call(). As Keras's clone_model does, a fresh copy is built
            # by the call that rebuilds the graph instead, and given its weights after.
            with unsafe_deserialization():
                clone = type(layer).from_config(layer.get_config())
        self._pending.append((layer, clone))
        return clone


def _same_variable_shapes(a: keras.layers.Layer, b: keras.layers.Layer) -> bool:
    return [tuple(v.shape) for v in a.variables] == [tuple(v.shape) for v in b.variables]


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
    if not _same_variable_shapes(source, target):
        shapes = [tuple(v.shape) for v in source_variables]
        raise ConversionError(
            f"the copy of layer '{source.name}' has variables of shapes "
            f"{[tuple(v.shape) for v in target_variables]}, not {shapes}; it cannot be copied"
        )
    for variable, clone in zip(source_variables, target_variables, strict=True):
        # A copy of the value, not the value: on JAX, assigning an array makes the
        # variable hold that very buffer, and the trainer donates (deletes) the buffers of
        # the variables it trains, so training one model would delete the other's weights.
        clone.assign(keras.ops.copy(variable.value))


def retrace(nodes: Sequence[Call], tensors: dict[int, Any], call: Replay) -> None:
    """Replays `nodes` on new tensors, like `keras.Function` does, keeping call arguments.

    Masks that Keras passed on implicitly are not replayed: Keras recomputes them from
    the new tensors (see `graph.implicit_mask_keys`).

    Args:
        nodes: Call events in topological order.
        tensors: `id(old tensor)` -> new tensor; must hold the graph's inputs. Updated in
            place with the new output of every node.
        call: `call(node, args, kwargs)` performs the call (typically
            `operation(*args, **kwargs)`) and returns its outputs.
    """
    for node in nodes:
        args, kwargs = fill_in(node, tensors)
        if kwargs:
            implicit = implicit_mask_keys(node)
            kwargs = {key: value for key, value in kwargs.items() if key not in implicit}
        # Flattened, also for one output: a nested model whose outputs are a list of one
        # tensor returns that list, while the graph records the tensor (Keras 2 configs
        # always give lists).
        outputs = keras.tree.flatten(call(node, args, kwargs))
        for old, new in zip(node.outputs, outputs, strict=True):
            tensors[id(old)] = new


def input_like(tensor: KerasTensor, name: str | None = None) -> KerasTensor:
    """A new `keras.Input` with the shape (batch size included), dtype and sparsity of `tensor`.

    Args:
        tensor: A model input (its input layer's name and `optional` flag are kept) or any
            symbolic tensor.
        name: Name of the new input layer; defaults to the original input layer's name.
    """
    operation = source_operation(tensor)
    is_input = isinstance(operation, keras.layers.InputLayer)
    return make_input(
        tensor,
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
    call: Replay,
    name: str,
    inputs: list[KerasTensor] | None = None,
    tensors: dict[int, Any] | None = None,
) -> keras.Model:
    """Replays a graph on new inputs and wraps the result in a Functional model.

    Args:
        graph: The graph to replay.
        call: How to perform each call (see `retrace`).
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
    advice: Advice | None = None,
) -> keras.Sequential:
    """Builds a Sequential model, attributing any failure to the layer that caused it.

    Args:
        layers: The layers, in order.
        input_template: The tensor whose shape and dtype the new input copies, or None for
            an unbuilt Sequential model.
        name: Name of the new model.
        built_shapes: `id(layer)` -> input shape the layer was built for, used in error
            messages.
        advice: What the message advises for a layer built for another shape (see
            `errors.shape_error`), from the layer's name.

    Returns:
        The new Sequential model (built if `input_template` is given).

    Raises:
        IncompatibleShapeError: a layer cannot accept the tensor it now receives.
    """
    if input_template is None:
        return keras.Sequential(list(layers), name=name)
    new_input = input_like(input_template)
    counts = [call_count(layer) for layer in layers]
    try:
        model = keras.Sequential([new_input, *layers], name=name)
    except ConversionError:
        raise
    except Exception as error:
        index = _first_failed_call(layers, counts)
        if index is None:
            raise
        layer = layers[index]
        received = last_call_output(layers[index - 1]) if index else new_input
        built_shape = (built_shapes or {}).get(id(layer))
        hint = advice(layer.name) if advice else None
        raise shape_error(layer.name, received.shape, built_shape, error, hint) from error
    if not model.built:
        index = _first_failed_call(layers, counts)
        culprit = f"layer '{layers[index].name}'" if index is not None else "a layer"
        raise ConversionError(
            f"Keras could not build Sequential model '{name}': {culprit} cannot infer its "
            "output shape"
        )
    return model


def call_checked(
    operation: keras.Operation,
    args: tuple,
    kwargs: dict,
    built_shape: Any = None,
    advice: Advice | None = None,
) -> Any:
    """Calls `operation`, turning a failure into an `IncompatibleShapeError` naming it.

    `advice` is as in `sequential_from_layers`.
    """
    try:
        return operation(*args, **kwargs)
    except ConversionError:
        raise
    except Exception as error:
        tensors = keras.tree.flatten((args, kwargs))
        received = _single([t.shape for t in tensors if isinstance(t, KerasTensor)])
        hint = advice(operation.name) if advice else None
        raise shape_error(operation.name, received, built_shape, error, hint) from error


def node_input_shape(node: Call) -> Any:
    """Input shape(s) of a recorded call: one shape, or a list for several tensors."""
    return _single([t.shape for t in data_inputs(node)])


def keep_model_flags(source: keras.Model, result: keras.Model) -> None:
    """Keeps the model-level `trainable` flag without touching the (maybe shared) layers."""
    if not source.trainable:
        set_model_trainable_flag(result, False)


def same_input(tensor: KerasTensor, model_input: KerasTensor) -> bool:
    """Whether calling a model on `tensor` passes it unchanged (no cast, no rank fix)."""
    return tensor.dtype == model_input.dtype and len(tensor.shape) == len(model_input.shape)


def inline_sub_models(model: keras.Model, source: LayerSource) -> keras.Model:
    """A Functional model computing `model` with its nested sub-models inlined.

    Every nested Sequential or Functional sub-model (at any depth) is replaced by its own
    calls, re-traced inside the outer graph, unless that would change what it computes
    (`inlinable`) or give two layers the same name (`claim_names`).

    Args:
        model: A Functional (or built Sequential) model.
        source: Where the calls' layers come from (shared or copied).

    Returns:
        A new Functional model named like `model`.
    """
    graph = read_graph(model)
    inlined = _inlined_sub_models(graph)

    def call(node: Call, args: tuple, kwargs: dict) -> Any:
        sub_graph = inlined.get(id(node.operation))
        if sub_graph is None:
            return source(node.operation)(*args, **kwargs)
        return _call_inlined(sub_graph, args, kwargs, source)

    return functional_from_graph(graph, call=call, name=model.name)


def _inlined_sub_models(graph: Graph) -> dict[int, Graph]:
    """`id(sub-model)` -> graph of its inlined version, for each sub-model to inline."""
    candidates: dict[int, tuple[keras.Model, Graph]] = {}
    rejected: set[int] = set()
    for node in graph.nodes:
        operation = node.operation
        if not is_graph_model(operation) or id(operation) in rejected:
            continue
        if not inlinable(operation, node.args, node.kwargs, implicit_mask_keys(node)):
            rejected.add(id(operation))
            candidates.pop(id(operation), None)
        elif id(operation) not in candidates:
            inner_model = inline_sub_models(operation, LayerSource(copy=False))
            candidates[id(operation)] = (operation, read_graph(inner_model))
    taken: dict[str, object] = dict(operation_names(graph))
    inlined: dict[int, Graph] = {}
    for key, (operation, sub_graph) in candidates.items():
        if claim_names(taken, [node.operation for node in sub_graph.nodes], operation):
            inlined[key] = sub_graph
    return inlined


def inlinable(
    model: object, args: tuple, kwargs: dict, implicit: Collection[str] = frozenset()
) -> bool:
    """Whether replaying nested `model`'s own calls on `args` computes what calling it does.

    True for a Sequential or Functional model called on one structure of tensors like its
    inputs (same dtypes and ranks: Keras casts or reshapes nothing on the way in), with no
    other arguments than call-context ones (passed on to its layers), the masks Keras
    passes on implicitly (`implicit`), or `mask=None`. True for an unbuilt Sequential model
    too, whose layers have no input yet to disagree with.
    """
    if isinstance(model, keras.Sequential) and not model.built:
        return True
    if not is_graph_model(model) or len(args) != 1:
        return False
    context = call_context_args(model)
    if any(
        key not in context and key not in implicit and not (key == "mask" and value is None)
        for key, value in kwargs.items()
    ):
        return False
    flat = _flat_model_inputs(args[0], model)
    return flat is not None and all(
        isinstance(x, KerasTensor) and same_input(x, t)
        for x, t in zip(flat, model.inputs, strict=True)
    )


def claim_names(
    taken: dict[str, object],
    operations: Sequence[keras.Operation],
    replaced: object,
    *,
    shared: bool = True,
) -> bool:
    """Whether `operations` can take the place of nested model `replaced` without two
    operations of the model sharing a name; if so, their names are added to `taken`.

    Args:
        taken: Name -> what holds that name in the model being built.
        operations: What would be inlined in place of `replaced`.
        replaced: The nested model; its own name is free for what it holds.
        shared: Whether an operation may already hold its name, that is, be called twice:
            a Functional model may, a Sequential model calls each layer once.
    """
    claimed: dict[str, object] = {}
    for operation in operations:
        name = operation.name
        holder = claimed.get(name, taken.get(name))
        if holder is not None and holder is not replaced and not (shared and holder is operation):
            return False
        claimed[name] = operation
    taken.update(claimed)
    return True


def _flat_model_inputs(value: Any, model: keras.Model) -> list[Any] | None:
    """`value` flattened in the order of `model.inputs`, or None if structures differ."""
    if isinstance(value, KerasTensor):
        return [value] if len(model.inputs) == 1 else None
    try:
        keras.tree.assert_same_structure(value, structure_of(model, "input"))
    except (ValueError, TypeError):
        return None
    return keras.tree.flatten(value)


def _call_inlined(sub_graph: Graph, args: tuple, kwargs: dict, source: LayerSource) -> Any:
    """Replays a sub-model's graph on the call's inputs, passing on call-context arguments.

    Mirrors `Functional.call`: a context argument given to the sub-model (e.g.
    `training=False`) overrides the one recorded on each inner layer that accepts it.
    """
    flat = _flat_model_inputs(args[0], sub_graph.model) or []
    tensors = {id(t): x for t, x in zip(sub_graph.inputs, flat, strict=True)}
    context = {key: value for key, value in kwargs.items() if key != "mask" and value is not None}

    def call(node: Call, inner_args: tuple, inner_kwargs: dict) -> Any:
        accepted = call_context_args(node.operation)
        overrides = {key: value for key, value in context.items() if key in accepted}
        return source(node.operation)(*inner_args, **{**inner_kwargs, **overrides})

    retrace(sub_graph.nodes, tensors, call)
    outputs = [tensors[id(t)] for t in sub_graph.outputs]
    return outputs[0] if len(outputs) == 1 else outputs


def _first_failed_call(layers: Sequence[keras.layers.Layer], counts: list[int]) -> int | None:
    """Index of the first layer whose call during a build attempt recorded no new node."""
    calls: Counter[int] = Counter()
    for index, layer in enumerate(layers):
        calls[id(layer)] += 1
        if call_count(layer) - counts[index] < calls[id(layer)]:
            return index
    return None


def _single(shapes: list[Shape]) -> Any:
    return shapes[0] if len(shapes) == 1 else shapes
