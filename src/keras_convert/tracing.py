"""Tracing a subclassed model's `call` into a Functional graph, or refusing why not.

Calling `call` once on `keras.Input` tensors records every layer call and `keras.ops` call
it makes: that record is a Functional model with the same layers. It computes what the
subclassed model computes only if `call` makes the same calls on every input, in both
training modes and on every call. `trace` checks what tracing can observe and raises
`UntraceableModelError` otherwise: `call` fails on symbolic tensors (Python control flow
on a tensor's value); two traces differ (Python state that changes from call to call, such
as a counter or random numbers drawn outside a layer); the trace with `training=True`
differs from the one with `training=False`, or a layer gets a fixed `training` (a
Functional model passes its own `training` on to every layer); a layer with weights that
the model does not hold (created inside `call`), or a weight used outside any layer. What
no trace can observe it cannot refuse: a Python attribute that `call` reads and that the
program changes later (a flag) is frozen at its value at conversion time.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras

from keras_convert._keras_api import call_context_args, operation_settings
from keras_convert.errors import UnbuiltModelError, UntraceableModelError, keras_reason
from keras_convert.graph import Graph, read_graph

KerasTensor = keras.KerasTensor

UNBUILT_SUBCLASSED_REMEDY = (
    "Call it once on a batch of data, model(x), so that it builds its layers, then convert it"
)


def trace(model: keras.Model, input_shape: tuple[int | None, ...] | None = None) -> keras.Model:
    """A Functional model named like `model` that calls `model`'s own layers as its `call` does.

    `call` runs four times on new `keras.Input` tensors (twice with its default arguments,
    then with `training=False` and `training=True` if it takes `training`), whose shapes
    are `input_shape` or else those the model was built for, the batch dimension left
    free, and whose dtype is the model's `input_dtype` (the dtype its `__call__` converts
    floating-point inputs to).

    Raises:
        UnbuiltModelError: `model` is not built.
        UntraceableModelError: tracing cannot give a model that computes the same (see the
            module docstring); the message names the cause.
    """
    shapes = _built_shapes(model) if input_shape is None else (None, *input_shape)
    first, again = _trace(model, shapes, {}), _trace(model, shapes, {})
    graph = read_graph(first)
    _check_state(model, graph)
    index = _first_difference(graph, read_graph(again))
    if index is not None:
        raise _untraceable(
            model,
            "varies",
            f"two traces of its call() differ at {_describe(graph, index)}: call() reads "
            "Python state that changes from call to call (a counter, random numbers drawn "
            "outside a layer), which one graph would freeze at one value",
        )
    if "training" in inspect.signature(model.call).parameters:
        for mode in (False, True):
            moded = read_graph(_trace(model, shapes, {"training": mode}))
            index = _first_difference(graph, moded)
            if index is not None:
                raise _untraceable(
                    model,
                    "training",
                    f"its call() makes other calls with training={mode} than by default "
                    f"(first at {_describe(moded, index)}): a Functional model has one graph "
                    "for both modes. Do training-only work inside a layer that takes "
                    "training itself (Dropout, GaussianNoise, a custom layer)",
                )
            _check_training_passed_on(model, moded, mode)
    else:
        _check_training_passed_on(model, graph, None)
    return first


def _built_shapes(model: keras.Model) -> Any:
    """The shape structure (batch dimension free) that `model`'s call was first made on."""
    if not model.built:
        raise UnbuiltModelError(model.name, UNBUILT_SUBCLASSED_REMEDY, kind="subclassed model")
    config = model.get_build_config() or {}
    if set(config) != {"input_shape"}:
        # Keras records none when it could not run call() on symbolic tensors at the first
        # call, and several for a custom build() that takes several shapes.
        raise _untraceable(
            model,
            "shape",
            "Keras recorded no single input shape when it was built; pass "
            "input_shape=... (one input, without the batch dimension) to trace call() on it",
        )
    return keras.tree.map_shape_structure(lambda shape: (None, *shape[1:]), config["input_shape"])


def _trace(model: keras.Model, shapes: Any, kwargs: dict[str, Any]) -> keras.Model:
    parameter = next(iter(inspect.signature(model.call).parameters), "inputs")
    inputs = _inputs(shapes, parameter, model.input_dtype)
    try:
        outputs = model.call(inputs, **kwargs)
        return keras.Model(inputs, outputs, name=model.name)
    except Exception as error:
        reason = keras_reason(error)
        if "cannot be used as a boolean" in reason:
            raise _untraceable(
                model,
                "value",
                f"its call() uses the value of a tensor in Python control flow ({reason}): "
                "an `if` or `while` on a tensor takes one branch in a graph. Compute both "
                "branches and choose with keras.ops.where, or keep the model subclassed",
            ) from error
        failed = f"calling call() on symbolic inputs failed: {type(error).__name__}: {reason}"
        raise _untraceable(model, "failed", failed) from error


def _inputs(shapes: Any, parameter: str, dtype: str) -> Any:
    """New `keras.Input` tensors shaped like `shapes`, named after the dict keys or `parameter`."""
    if isinstance(shapes, dict):
        return {key: keras.Input(batch_shape=s, dtype=dtype, name=key) for key, s in shapes.items()}
    if isinstance(shapes, list | tuple) and shapes and isinstance(shapes[0], list | tuple):
        return [
            keras.Input(batch_shape=s, dtype=dtype, name=f"{parameter}_{index}")
            for index, s in enumerate(shapes)
        ]
    return keras.Input(batch_shape=shapes, dtype=dtype, name=parameter)


def _check_state(model: keras.Model, graph: Graph) -> None:
    """Every weight the trace uses is one of `model`'s, held by a layer: no layer was created
    inside call(), and no weight is used outside a layer."""
    in_layers = {id(variable) for layer in model.layers for variable in layer.variables}
    own = [variable for variable in model.variables if id(variable) not in in_layers]
    if own:
        # A Functional model holds weights through its layers only: the model's own weight
        # would be missing from its weights, its copies and its saved file.
        raise _untraceable(
            model,
            "state",
            f"it holds the weight '{own[0].path}' itself, outside any layer (add_weight on "
            "the model): a Functional model holds weights through its layers only, so it would "
            "not hold, copy or save it. Move it into a layer that creates it in build() and "
            "call that layer in call()",
        )
    held = {id(variable) for variable in model.variables}
    for node in graph.nodes:
        operation = node.operation
        if any(id(v) not in held for v in getattr(operation, "variables", [])):
            raise _untraceable(
                model,
                "state",
                f"its call() uses layer '{operation.name}' ({type(operation).__name__}), whose "
                "weights the model does not hold: a layer created inside call() gets new "
                "weights on each call. Create it in __init__ and call it in call()",
            )


def _check_training_passed_on(model: keras.Model, graph: Graph, mode: bool | None) -> None:
    """Each layer gets `training=mode` or nothing: a Functional model overrides a fixed one."""
    for node in graph.nodes:
        value = node.kwargs.get("training")
        if "training" in call_context_args(node.operation) and value not in (None, mode):
            when = "" if mode is None else f" when the model is called with training={mode}"
            raise _untraceable(
                model,
                "training",
                f"its call() passes training={value} to layer '{node.operation.name}'{when}; "
                "a Functional model would pass its own training argument to that layer "
                "instead. Pass call()'s training on (a BatchNormalization with "
                "trainable=False ignores it and stays in inference mode)",
            )


def _fingerprint(graph: Graph) -> list[tuple[Any, ...]]:
    """What each call does, comparable across traces: the operation (a layer by identity,
    a `keras.ops` operation by class and settings) and its arguments, tensors by position,
    `training` left out (`_check_training_passed_on` reads it)."""
    numbers = {id(tensor): index for index, tensor in enumerate(graph.inputs)}

    def key(value: Any) -> Any:
        if isinstance(value, KerasTensor):
            return ("tensor", numbers.get(id(value)))
        if keras.ops.is_tensor(value) or hasattr(value, "__array__"):
            array = keras.ops.convert_to_numpy(value)
            return ("array", array.shape, str(array.dtype), array.tobytes())
        return value

    result = []
    for node in graph.nodes:
        operation = node.operation
        if isinstance(operation, keras.layers.Layer) and operation.variables:
            who: Any = id(operation)
        elif isinstance(operation, keras.layers.Layer):  # weightless: also one made in call()
            config = {k: v for k, v in operation.get_config().items() if k != "name"}
            who = (type(operation).__name__, repr(sorted(config.items())))
        else:
            who = (type(operation).__name__, repr(operation_settings(operation)))
        kwargs = {k: v for k, v in node.kwargs.items() if k != "training"}
        result.append((who, keras.tree.map_structure(key, (node.args, kwargs))))
        for tensor in node.outputs:
            numbers[id(tensor)] = len(numbers)
    return result


def _first_difference(a: Graph, b: Graph) -> int | None:
    """Index of the first call at which two traces differ, or None if they are the same."""
    first, second = _fingerprint(a), _fingerprint(b)
    for index, (x, y) in enumerate(zip(first, second, strict=False)):
        if x != y:
            return index
    return None if len(first) == len(second) else min(len(first), len(second))


def _describe(graph: Graph, index: int) -> str:
    if index >= len(graph.nodes):
        return f"call {index + 1} (the trace ends there)"
    operation = graph.nodes[index].operation
    return f"call {index + 1}, '{operation.name}' ({type(operation).__name__})"


def _untraceable(model: keras.Model, cause: str, explanation: str) -> UntraceableModelError:
    return UntraceableModelError(
        f"subclassed model '{model.name}' ({type(model).__name__}) cannot become a Functional "
        f"model: {explanation}",
        model_name=model.name,
        cause=cause,
    )
