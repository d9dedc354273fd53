"""Model surgery: insert, remove or replace a layer, returning a new model of the same API.

A Sequential model stays Sequential and a Functional model (branched ones included)
stays Functional. The original model is never modified. As everywhere in keras_convert,
`copy=False` (the default) means the new model SHARES the untouched layers and their
weights with the original; `copy=True` gives independent copies with bitwise-equal
weights. The layer you insert or pass as a replacement is used as it is (never copied).

Shared layers: an edit applies to every call of the named layer. Inserting after (or
before) a layer called twice calls the new layer twice, so it is shared in the same way;
removing or replacing it removes or replaces every call.

Shapes: a layer whose weights do not depend on the changed shape (an activation, a
pooling layer, a convolution that keeps the channels, ...) keeps working after a
shape-changing edit. A layer already built for the old shape raises
`IncompatibleShapeError`, naming it, the shape it was built for and the shape it would
now receive, chained to Keras's own error; no model is returned. (A newly inserted,
unbuilt layer may have been built by the failed attempt.)
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Literal

import keras

from keras_convert._keras_api import Call, call_context_args, source_operation
from keras_convert._rebuild import (
    LayerSource,
    call_checked,
    functional_from_graph,
    input_like,
    keep_model_flags,
    node_input_shape,
    sequential_from_layers,
)
from keras_convert.errors import (
    ConversionError,
    IncompatibleShapeError,
    LayerNotFoundError,
    wrong_type,
)
from keras_convert.graph import (
    check_supported,
    data_inputs,
    is_graph_model,
    operation_names,
    read_graph,
)

__all__ = ["insert_layer", "remove_layer", "replace_layer"]

_Edit = Literal["after", "before", "remove", "replace"]


def insert_layer(
    model: keras.Model,
    new_layer: keras.layers.Layer,
    *,
    after: str | None = None,
    before: str | None = None,
    copy: bool = False,
) -> keras.Model:
    """Returns a new model with `new_layer` inserted after or before the named layer.

    With `after=name`, `new_layer` is applied to the output of `name`, and everything that
    consumed that output (every branch) now consumes `new_layer`'s output; `after` may also
    name an input of the model. With `before=name`, `new_layer` is applied to the input of
    `name` only.

    Args:
        model: A Sequential or Functional model.
        new_layer: The layer to insert (used as is; unbuilt, or built for the right shape).
        after: Name of the layer (or input) after which to insert.
        before: Name of the layer before which to insert. Give exactly one of the two.
        copy: False: the new model SHARES the untouched layers and weights with `model`.
            True: it gets independent copies with bitwise-equal weights.

    Returns:
        A new model of the same API as `model` (Sequential or Functional), not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`, or `new_layer` is not a Layer.
        LayerNotFoundError: no layer of `model` has that name (the message lists close
            names).
        IncompatibleShapeError: a layer built for another shape would receive the new
            shape.
        ConversionError: both or neither of `after`/`before`; `before` names a layer that
            takes several tensors; `after` names a layer that returns several tensors; or
            `new_layer`'s name is already used in the model.

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, name="hidden"),
         keras.layers.Dense(1, name="head")]
    )
    regularized = insert_layer(model, keras.layers.Dropout(0.5), after="hidden")
    assert [l.name for l in regularized.layers][1].startswith("dropout")
    ```
    """
    if (after is None) == (before is None):
        raise ConversionError(
            f"insert_layer needs exactly one of after= or before=; got after={after!r}, "
            f"before={before!r}"
        )
    _check_layer(new_layer, "insert_layer")
    if after is not None:
        return _edit(model, after, "after", new_layer, copy, "insert_layer")
    assert before is not None
    return _edit(model, before, "before", new_layer, copy, "insert_layer")


def remove_layer(model: keras.Model, name: str, *, copy: bool = False) -> keras.Model:
    """Returns a new model without the named layer; its consumers receive its input.

    In a Functional model the layer must take one tensor and return one tensor of the
    same shape (so that every branch still fits). In a Sequential model any layer can
    be removed, as long as the following layers accept the new shape.

    Args:
        model: A Sequential or Functional model.
        name: Name of the layer to remove.
        copy: False: the new model SHARES the remaining layers and weights with `model`.
            True: it gets independent copies with bitwise-equal weights.

    Returns:
        A new model of the same API as `model`, not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        LayerNotFoundError: no layer of `model` has that name.
        IncompatibleShapeError: a following layer is built for another shape.
        IncompatibleShapeError: (Functional model) the layer changes the shape.
        ConversionError: `name` is an input, the only layer, or (Functional model) a
            layer that takes or returns several tensors.

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(4, name="hidden"),
         keras.layers.Dropout(0.5, name="drop"), keras.layers.Dense(1, name="head")]
    )
    assert [l.name for l in remove_layer(model, "drop").layers] == ["hidden", "head"]
    ```
    """
    return _edit(model, name, "remove", None, copy, "remove_layer")


def replace_layer(
    model: keras.Model,
    name: str,
    new_layer: keras.layers.Layer,
    *,
    copy: bool = False,
) -> keras.Model:
    """Returns a new model where `new_layer` is called in place of the named layer.

    `new_layer` receives exactly the arguments the old layer received (tensors and
    recorded call arguments such as `training=False`).

    Args:
        model: A Sequential or Functional model.
        name: Name of the layer to replace.
        new_layer: The replacement (used as is; unbuilt, or built for the right shape).
        copy: False: the new model SHARES the untouched layers and weights with `model`.
            True: it gets independent copies with bitwise-equal weights.

    Returns:
        A new model of the same API as `model`, not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`, or `new_layer` is not a Layer.
        LayerNotFoundError: no layer of `model` has that name.
        IncompatibleShapeError: `new_layer`, or a following layer built for another shape,
            cannot take the tensor it receives.
        ConversionError: `name` is an input, or `new_layer`'s name is used by another layer.

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(4, name="hidden"),
         keras.layers.Activation("relu", name="act")]
    )
    swapped = replace_layer(model, "act", keras.layers.Activation("gelu", name="gelu"))
    assert swapped.layers[0] is model.layers[0]  # untouched layers are shared
    ```
    """
    _check_layer(new_layer, "replace_layer")
    return _edit(model, name, "replace", new_layer, copy, "replace_layer")


def _edit(
    model: keras.Model,
    name: str,
    edit: _Edit,
    new_layer: keras.layers.Layer | None,
    copy: bool,
    function: str,
) -> keras.Model:
    check_supported(model, function)
    rebuild = _edit_sequential if isinstance(model, keras.Sequential) else _edit_functional
    with LayerSource(copy) as source:
        result = rebuild(model, name, edit, new_layer, source)
    keep_model_flags(model, result)
    return result


def _check_layer(new_layer: object, function: str) -> None:
    if not isinstance(new_layer, keras.layers.Layer):
        raise wrong_type(function, "a keras.layers.Layer as new_layer", new_layer)


def _edit_sequential(
    model: keras.Sequential,
    name: str,
    edit: _Edit,
    new_layer: keras.layers.Layer | None,
    source: LayerSource,
) -> keras.Sequential:
    graph = read_graph(model) if model.built else None
    input_name = source_operation(graph.inputs[0]).name if graph else None
    names = [layer.name for layer in model.layers]
    if name == input_name and edit != "after":
        raise _input_error(model, name, edit)
    if name != input_name and name not in names:
        raise layer_not_found(model, name, [*names, *([input_name] if input_name else [])])
    _check_new_name(model, new_layer, set(names) | {input_name} - {None}, name, edit)
    inserted = [new_layer] if new_layer is not None else []
    layers: list[keras.layers.Layer] = inserted.copy() if name == input_name else []
    for layer in model.layers:
        if layer.name != name:
            layers.append(source(layer))
        elif edit == "after":
            layers += [source(layer), *inserted]
        elif edit == "before":
            layers += [*inserted, source(layer)]
        elif edit == "replace":
            layers += inserted
    if not layers:
        raise ConversionError(
            f"cannot remove layer '{name}': it is the only layer of Sequential model '{model.name}'"
        )
    built_shapes = (
        {id(source(node.operation)): node_input_shape(node) for node in graph.nodes}
        if graph
        else None
    )
    return sequential_from_layers(
        layers,
        graph.inputs[0] if graph else None,
        name=model.name,
        built_shapes=built_shapes,
        advice=_reshape_advice,
    )


def _edit_functional(
    model: keras.Model,
    name: str,
    edit: _Edit,
    new_layer: keras.layers.Layer | None,
    source: LayerSource,
) -> keras.Model:
    graph = read_graph(model)
    operations = operation_names(graph)
    target = operations.get(name)
    if target is None:
        raise layer_not_found(model, name, list(operations))
    input_index = next(
        (i for i, t in enumerate(graph.inputs) if source_operation(t) is target), None
    )
    if input_index is not None and edit != "after":
        raise _input_error(model, name, edit)
    _check_new_name(model, new_layer, set(operations), name, edit)
    nodes = [node for node in graph.nodes if node.operation is target]
    for node in nodes:
        _check_node(model, node, edit)

    inputs = [input_like(t) for t in graph.inputs]
    tensors: dict[int, Any] = {}
    if input_index is not None and new_layer is not None:
        tensors[id(graph.inputs[input_index])] = call_checked(new_layer, (inputs[input_index],), {})
    checked = functools.partial(call_checked, advice=_reshape_advice)

    def call(node: Call, args: tuple, kwargs: dict) -> Any:
        operation = node.operation
        built_shape = node_input_shape(node)
        if operation is not target:
            return checked(source(operation), args, kwargs, built_shape)
        if edit == "remove":
            return args[0]
        assert new_layer is not None
        if edit == "replace":
            kwargs = _arguments_accepted(new_layer, operation, kwargs)
            return checked(new_layer, args, kwargs, _built_shape(new_layer))
        if edit == "before":
            x = checked(new_layer, args[:1], {}, _built_shape(new_layer))
            return checked(source(operation), (x, *args[1:]), kwargs, built_shape)
        y = checked(source(operation), args, kwargs, built_shape)
        return checked(new_layer, (y,), {}, _built_shape(new_layer))

    return functional_from_graph(graph, call=call, name=model.name, inputs=inputs, tensors=tensors)


def _arguments_accepted(
    new_layer: keras.layers.Layer, old: keras.Operation, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The recorded call arguments of `old` that `new_layer` can take.

    Keras records defaults such as `mask=None` on every call; a replacement whose `call()`
    has no such parameter gets them dropped. A non-default value it cannot take raises.
    """
    parameters = inspect.signature(new_layer.call).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return kwargs
    context = call_context_args(new_layer)
    accepted = {}
    for key, value in kwargs.items():
        if key in parameters or key in context:
            accepted[key] = value
        elif value is not None:
            raise ConversionError(
                f"layer '{old.name}' is called with {key}=..., but its replacement "
                f"'{new_layer.name}' ({type(new_layer).__name__}.call) has no '{key}' argument"
            )
    return accepted


def _check_node(model: keras.Model, node: Call, edit: _Edit) -> None:
    """Raises if the edit cannot apply to this call of the target layer."""
    name = node.operation.name
    args = node.args
    tensors = data_inputs(node)
    single_input = len(tensors) == 1 and bool(args) and args[0] is tensors[0]
    if edit in ("before", "remove") and not single_input:
        raise ConversionError(
            f"layer '{name}' takes {len(tensors)} tensors in model "
            f"'{model.name}'; {_verb(edit)} needs a layer called on one tensor"
            + ("; insert after the layers that feed it instead" if edit == "before" else "")
        )
    if edit in ("after", "remove") and len(node.outputs) != 1:
        raise ConversionError(
            f"layer '{name}' returns {len(node.outputs)} tensors in model '{model.name}'; "
            f"{_verb(edit)} needs a layer that returns one tensor"
        )
    if edit == "remove":
        before, after = tensors[0].shape, node.outputs[0].shape
        if before != after:
            raise IncompatibleShapeError(
                f"cannot remove layer '{name}' from Functional model '{model.name}': it "
                f"changes the shape from {before} to {after}, so the layers after it, built "
                f"for {after}, would receive {before}; in a Functional model remove_layer "
                "needs a layer whose output has the shape of its input (replace it instead)",
                layer_name=name,
                built_shape=after,
                received_shape=before,
            )


def _check_new_name(
    model: keras.Model,
    new_layer: keras.layers.Layer | None,
    names: set[str],
    target: str,
    edit: _Edit,
) -> None:
    if new_layer is None:
        return
    freed = {target} if edit == "replace" else set()
    if new_layer.name in names - freed:
        raise ConversionError(
            f"model '{model.name}' already has a layer named '{new_layer.name}'; give the "
            "new layer another name (layer names must be unique in a model)"
        )


def _reshape_advice(name: str) -> str:
    """What to do when an edit feeds layer `name`, built for one shape, another."""
    return (
        f"insert a layer that restores the shape, or change the shape and '{name}' in one "
        f"step: replace_layer(model, '{name}', keras.Sequential([new_layer, new_{name}])), "
        "then flatten()"
    )


def _built_shape(layer: keras.Operation) -> Any:
    """The input shape a layer was built for, if known."""
    if isinstance(layer, keras.layers.Layer) and layer.built:
        config = layer.get_build_config() or {}
        return config.get("input_shape")
    return None


def _verb(edit: _Edit) -> str:
    return {
        "after": "insert_layer(after=...)",
        "before": "insert_layer(before=...)",
        "remove": "remove_layer",
        "replace": "replace_layer",
    }[edit]


def _input_error(model: keras.Model, name: str, edit: _Edit) -> ConversionError:
    return ConversionError(
        f"'{name}' is an input of model '{model.name}'; {_verb(edit)} cannot apply to an "
        "input (insert_layer(after=...) can)"
    )


def layer_not_found(model: keras.Model, name: str, names: list[str]) -> LayerNotFoundError:
    """The error for a `name` that no layer of `model` (whose names are `names`) has."""
    owner = _nested_owner(model, name)
    if owner is not None:
        return LayerNotFoundError(
            f"layer '{name}' is inside nested model '{owner}', not at the top level of "
            f"model '{model.name}'; edit that sub-model, or flatten(model) first"
        )
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(f"'{n}'" for n in close) + "?"
    else:
        shown = ", ".join(f"'{n}'" for n in names[:10])
        hint = f"its layers are {shown}" + (", ..." if len(names) > 10 else "")
    return LayerNotFoundError(f"model '{model.name}' has no layer named '{name}'; {hint}")


def _nested_owner(model: keras.Model, name: str) -> str | None:
    """Name of the nested sub-model (at any depth) that holds a layer named `name`."""
    for layer in model.layers:
        if is_graph_model(layer):
            if any(inner.name == name for inner in layer.layers):
                return layer.name
            owner = _nested_owner(layer, name)
            if owner is not None:
                return owner
    return None
