"""Convert Keras 3 models between the Sequential and Functional APIs.

Copy semantics: `copy=False` (the default) SHARES layers and weights
--------------------------------------------------------------------
Every function returns a new model object, but by default that model is built from the
very same layer objects as the original: the two models share their weights, so
training one (or assigning to its weights) changes the other. This is the cheapest
conversion and usually what you want when you replace one model by the other.
Pass `copy=True` to get independent layers: each layer is re-created from its config,
built for the same shapes and given bitwise-equal weights, with the same `trainable`
flags; nested models are copied recursively and a layer shared inside the original is
shared inside the copy.

What a converted model keeps, and what it does not
--------------------------------------------------
Kept: the function it computes (in training and inference mode), the weights (shared or
bitwise-equal copies, batch-norm moving statistics included), every layer's name and
`trainable` flag, the model's name and `trainable` flag, the input names, dtypes and any
fixed batch size, and the call arguments recorded in a Functional graph (for example
`training=False`). Not kept: the compile state. A converted model is not compiled
(`converted.compiled` is False and it has no `optimizer`); compile it again, for example
with `converted.compile_from_config(model.get_compile_config())`. A subclass of the
Functional class becomes a plain Functional model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras

from keras_convert._keras_api import source_operation
from keras_convert._rebuild import (
    LayerSource,
    call_checked,
    claim_names,
    functional_from_graph,
    inlinable,
    inline_sub_models,
    input_like,
    keep_model_flags,
    retrace,
    sequential_from_layers,
)
from keras_convert.errors import (
    ConversionError,
    NotSequentialError,
    UnbuiltModelError,
    wrong_type,
)
from keras_convert.graph import (
    UNBUILT_REMEDY,
    Graph,
    Segment,
    call_problem,
    chain,
    check_supported,
    data_inputs,
    is_graph_model,
    operation_names,
    read_graph,
    segments,
    source_name,
)
from keras_convert.tracing import trace

__all__ = ["flatten", "is_sequential", "to_functional", "to_sequential"]

KerasTensor = keras.KerasTensor


def to_functional(
    model: keras.Model,
    *,
    input_shape: Sequence[int | None] | None = None,
    copy: bool = False,
) -> keras.Model:
    """Returns a Functional model that computes the same function as `model`.

    The result has the same name as `model`, the same input names, dtypes and batch size,
    and calls the same layers (`copy=False`) or copies of them (`copy=True`). Nested
    sub-models stay nested: they are called as layers.

    A subclassed model's `call` is traced: run on `keras.Input` tensors shaped like the
    inputs it was built with (batch dimension free; dict keys, or the name of `call`'s
    first argument, as input names; the model's input dtype), it records each layer and
    `keras.ops` call it makes. The trace runs four times (by default, twice, then with
    `training=False` and `training=True`), and the result is returned only if the traces
    agree: the same calls every time and in both modes, `training` passed on to the layers,
    no layer created inside `call`. A Python attribute that `call` reads (a flag) is frozen
    at its value at conversion time.

    Args:
        model: A built Sequential model; an unbuilt one together with `input_shape`; a
            Functional model (the result is an equivalent new Functional model); or a
            built subclassed model.
        input_shape: Input shape without the batch dimension, e.g. `(28, 28, 1)`. Needed
            only for an unbuilt Sequential model, and for a subclassed model whose input
            shape Keras did not record (the error says so); for a subclassed model it is the
            shape `call` is traced on (`None` for a free dimension). For other models it
            must match the model's.
        copy: False: the result SHARES the original layers and weights (training one
            trains the other). True: the result gets independent copies whose weights
            are bitwise equal to the original's right after conversion.

    Returns:
        A new Functional `keras.Model`, not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        UnbuiltModelError: `model` is an unbuilt Sequential model and `input_shape` is
            None, or an unbuilt subclassed model.
        UntraceableModelError: `model` is a subclassed model whose traced `call` would not
            compute the same: Python control flow on a tensor's value or on `training`,
            Python state that changes between calls, a fixed `training` passed to a layer,
            or a layer created inside `call` (the message names the cause).
        UnsupportedModelError: `copy=True` and a layer cannot be re-created from its config.
        IncompatibleShapeError: a layer of an unbuilt Sequential model cannot take the
            shape that `input_shape` gives it.
        ConversionError: `input_shape` disagrees with the shape the model is built for.

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(2)], name="mlp"
    )
    functional = to_functional(model)
    assert functional.layers[1] is model.layers[0]  # shared, since copy=False
    ```
    """
    if isinstance(model, keras.Model) and not is_graph_model(model):
        shape = None if input_shape is None else _standardize_shape(input_shape)
        graph: Graph | None = read_graph(trace(model, shape))
    else:
        check_supported(model, "to_functional")
        graph = None
    with LayerSource(copy) as source:
        if graph is None and isinstance(model, keras.Sequential) and not model.built:
            result = _unbuilt_sequential_to_functional(model, input_shape, source)
        else:
            graph = graph or read_graph(model)
            _check_input_shape(graph, input_shape)
            result = functional_from_graph(graph, call=source.caller(), name=model.name)
    keep_model_flags(model, result)
    return result


def to_sequential(
    model: keras.Model,
    *,
    copy: bool = False,
    flatten: bool = True,
    group_branches: bool = False,
) -> keras.Sequential:
    """Returns a Sequential model that computes the same function as `model`.

    A Functional model converts directly when its graph is a chain: one input, one
    output, and every layer called exactly once, on exactly one tensor (the previous
    layer's output), with no extra call arguments. A Sequential model gives an
    equivalent new Sequential model. The result has the same name as `model`.

    With `group_branches=True`, a model with one input and one output but with branches
    (skip connections, Inception branches, squeeze-and-excitation, concatenations, raw
    `keras.ops` calls) also converts: the tensors that every path from the input to the
    output passes through split the graph into steps; each step that is not a single
    plain layer call becomes a Functional sub-model named
    `block_<first layer>_to_<last layer>` (or `block_<layer>` for a single call), and
    the Sequential model chains plain layers and blocks.

    Args:
        model: A Sequential or Functional model.
        copy: False: the result SHARES the original layers and weights (training one
            trains the other). True: the result gets independent copies whose weights
            are bitwise equal to the original's right after conversion.
        flatten: Inline nested Sequential (and linear Functional) sub-models into the
            chain. A sub-model stays nested if inlining it would change what it computes
            (its input has another dtype or rank than the tensor it is called on) or
            would give two layers the same name.
        group_branches: Group non-linear regions into Functional blocks instead of
            raising `NotSequentialError`.

    Returns:
        A new `keras.Sequential`, not compiled (unbuilt if `model` is an unbuilt
        Sequential model).

    Raises:
        TypeError: `model` is not a `keras.Model`.
        NotSequentialError: the graph is not a chain (and `group_branches` is False), or
            the model has several inputs or outputs (always). The message names the
            first offending layer and why.
        UnsupportedModelError: `model` is a subclassed model, or `copy=True` and a layer
            cannot be re-created from its config.

    Example:

    ```python
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Dense(8)(inputs))
    sequential = to_sequential(keras.Model(inputs, outputs, name="mlp"))
    assert [layer.name for layer in sequential.layers][-1] == "head"
    ```
    """
    check_supported(model, "to_sequential")
    plan = _plan_sequential(model, flatten=flatten, group_branches=group_branches)
    with LayerSource(copy) as source:
        layers = [_materialize(step, source) for step in plan.steps]
        result = sequential_from_layers(layers, plan.input, name=model.name)
    keep_model_flags(model, result)
    return result


def is_sequential(model: keras.Model) -> bool:
    """Whether `to_sequential(model)` (without `group_branches`) would succeed.

    Args:
        model: A keras.Model; only Sequential models and Functional models whose graph is
            a chain give True (a subclassed model gives False).

    Returns:
        True if `model` can be converted to a Sequential model as it is.

    Raises:
        TypeError: `model` is not a `keras.Model`.

    Example:

    ```python
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(4)(inputs)
    residual = keras.Model(inputs, keras.layers.Add()([inputs, hidden]))
    assert not is_sequential(residual)
    ```
    """
    if not isinstance(model, keras.Model):
        raise wrong_type("is_sequential", "a keras.Model", model)
    try:
        _plan_sequential(model, flatten=True, group_branches=False)
    except ConversionError:
        return False
    return True


def flatten(model: keras.Model, *, copy: bool = False) -> keras.Model:
    """Inlines nested sub-models into one level, keeping the outer API.

    A Sequential model stays Sequential: nested Sequential and linear Functional
    sub-models are inlined; a nested non-linear sub-model cannot be part of a Sequential
    chain, so it stays nested (as a block). A Functional model stays Functional: every
    nested Sequential or Functional sub-model is inlined (its graph is re-traced inside
    the outer graph, call arguments such as `training=False` passed on to its layers).
    A sub-model stays nested when inlining it would change what it computes (its input
    has another dtype or rank than the tensor it is called on) or would give two
    layers the same name. The result is named like `model`.

    Args:
        model: A Sequential or Functional model.
        copy: False: the result SHARES the original layers and weights (training one
            trains the other). True: the result gets independent copies whose weights
            are bitwise equal to the original's right after flattening.

    Returns:
        A new model of the same API, not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        UnsupportedModelError: `model` is a subclassed model, or `copy=True` and a layer
            cannot be re-created from its config.

    Example:

    ```python
    backbone = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8)])
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(backbone(inputs)))
    assert len(flatten(model).layers) == 3  # input, dense, dense
    ```
    """
    check_supported(model, "flatten")
    if isinstance(model, keras.Sequential):
        return to_sequential(model, flatten=True, copy=copy)
    with LayerSource(copy) as source:
        result = inline_sub_models(model, source)
    keep_model_flags(model, result)
    return result


@dataclass
class _Block:
    """A non-linear region of the original graph, to become a Functional sub-model."""

    name: str
    segment: Segment


_Step = keras.layers.Layer | _Block


@dataclass
class _Plan:
    """What a Sequential model will be made of, before any layer is called or copied."""

    input: KerasTensor | None
    steps: list[_Step]


def _plan_sequential(model: keras.Model, *, flatten: bool, group_branches: bool) -> _Plan:
    if not is_graph_model(model):
        check_supported(model, "to_sequential")
    if isinstance(model, keras.Sequential) and not model.built:
        steps: list[_Step] = list(model.layers)
        incoming: list[KerasTensor | None] = [None] * len(steps)
        template = None
    elif isinstance(model, keras.Sequential):
        graph = read_graph(model)
        # Keras 3.6 to 3.9 record the casts to a layer's compute dtype (mixed precision) as
        # keras.ops calls in a Sequential's graph; the new Sequential makes its own.
        nodes = [node for node in graph.nodes if isinstance(node.operation, keras.layers.Layer)]
        steps = [node.operation for node in nodes]
        incoming = [data_inputs(node)[0] for node in nodes]
        template = graph.inputs[0]
    else:
        graph = read_graph(model)
        template = graph.inputs[0]
        try:
            nodes = chain(graph)
        except NotSequentialError as error:
            # Grouping needs one input and one output, and a layer to start from.
            single = len(graph.inputs) == 1 and len(graph.outputs) == 1
            if not single or error.layer_name is None:
                raise
            if not group_branches:
                raise NotSequentialError(
                    error.reason, layer_name=error.layer_name, groupable=True
                ) from None
            steps, incoming = _grouped_steps(graph)
        else:
            steps = [node.operation for node in nodes]
            incoming = [data_inputs(node)[0] for node in nodes]
    if flatten:
        taken = {} if template is None else {source_name(template): source_operation(template)}
        steps = _inline_nested(steps, incoming, taken)
    return _Plan(template, steps)


def _grouped_steps(graph: Graph) -> tuple[list[_Step], list[KerasTensor | None]]:
    """One step per segment: the layer itself if it is a plain call, else a block."""
    taken = set(operation_names(graph))
    steps: list[_Step] = []
    incoming: list[KerasTensor | None] = []
    for segment in segments(graph):
        first = segment.nodes[0]
        if len(segment.nodes) == 1 and call_problem(graph, first) is None:
            steps.append(first.operation)
        else:
            steps.append(_Block(_block_name(segment, taken), segment))
        incoming.append(segment.input)
    return steps, incoming


def _block_name(segment: Segment, taken: set[str]) -> str:
    first, last = segment.nodes[0].operation.name, source_name(segment.output)
    name = f"block_{first}" if first == last else f"block_{first}_to_{last}"
    unique, suffix = name, 1
    while unique in taken:
        suffix += 1
        unique = f"{name}_{suffix}"
    taken.add(unique)
    return unique


def _inline_nested(
    steps: list[_Step], incoming: list[KerasTensor | None], taken: dict[str, object]
) -> list[_Step]:
    """Replaces nested Sequential/linear Functional steps by their own (flattened) steps.

    `taken`: name -> holder of the names the steps must not take (the model's input).
    """
    taken = {**taken, **{step.name: step for step in steps}}
    result: list[_Step] = []
    for step, tensor in zip(steps, incoming, strict=True):
        expansion = _expansion(step, tensor)
        if expansion is not None and claim_names(taken, expansion, step, shared=False):
            result.extend(expansion)
        else:
            result.append(step)
    return result


def _expansion(step: _Step, incoming: KerasTensor | None) -> list[_Step] | None:
    """The steps a nested sub-model can be replaced by, or None if it must stay nested."""
    if not inlinable(step, () if incoming is None else (incoming,), {}):
        return None
    try:
        return _plan_sequential(step, flatten=True, group_branches=False).steps
    except ConversionError:
        return None


def _materialize(step: _Step, source: LayerSource) -> keras.layers.Layer:
    if not isinstance(step, _Block):
        return source(step)
    segment = step.segment
    block_input = input_like(segment.input, name=f"{step.name}_input")
    tensors: dict[int, Any] = {id(segment.input): block_input}
    retrace(segment.nodes, tensors, source.caller())
    return keras.Model(block_input, tensors[id(segment.output)], name=step.name)


def _unbuilt_sequential_to_functional(
    model: keras.Sequential,
    input_shape: Sequence[int | None] | None,
    source: LayerSource,
) -> keras.Model:
    if input_shape is None:
        raise UnbuiltModelError(model.name, UNBUILT_REMEDY)
    if not model.layers:
        raise ConversionError(f"Sequential model '{model.name}' has no layers")
    shape = _standardize_shape(input_shape)
    # The same input dtype that `Sequential.build` would choose.
    inputs = keras.Input(shape=shape, dtype=model.layers[0].compute_dtype)
    x = inputs
    for layer in model.layers:
        x = call_checked(source(layer), (x,), {})
    return keras.Model(inputs, x, name=model.name)


def _check_input_shape(graph: Graph, input_shape: Sequence[int | None] | None) -> None:
    if input_shape is None:
        return
    shape = _standardize_shape(input_shape)
    actual = [tuple(t.shape[1:]) for t in graph.inputs]
    if actual != [shape]:
        built = actual[0] if len(actual) == 1 else actual
        raise ConversionError(
            f"model '{graph.model.name}' is already built for input shape {built} (without "
            f"the batch dimension), but input_shape={shape} was given; omit input_shape"
        )


def _standardize_shape(input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    shape = tuple(input_shape)
    if not all(dim is None or (isinstance(dim, int) and dim > 0) for dim in shape):
        raise ConversionError(
            f"input_shape must be a tuple of positive ints or None, without the batch "
            f"dimension; got {input_shape!r}"
        )
    return shape
