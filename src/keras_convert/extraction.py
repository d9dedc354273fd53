"""A part of a model as a model of its own: one head, one input path, a feature map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_convert._keras_api import Call
from keras_convert._rebuild import LayerSource, input_like, keep_model_flags, retrace, structure_of
from keras_convert.errors import AmbiguousLayerError, MissingInputError
from keras_convert.graph import (
    Graph,
    check_supported,
    data_inputs,
    operation_names,
    read_graph,
    source_name,
)
from keras_convert.surgery import layer_not_found

__all__ = ["extract"]

KerasTensor = keras.KerasTensor
Names = str | Sequence[str]


def extract(
    model: keras.Model,
    *,
    outputs: Names,
    inputs: Names | None = None,
    copy: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Returns the part of `model` that computes `outputs` from `inputs`, as a Functional model.

    A name designates one tensor of the model: an output key (for a model whose outputs
    are a dict), an input (its input layer's name, or its key for dict inputs), or a layer
    (its output; the layer must be called once in the model and return one tensor).
    The part replays the model's own calls between those tensors, so it computes exactly
    what the model computes there.

    Args:
        model: A Sequential or Functional model (convert a subclassed one with
            `to_functional` first).
        outputs: What the part returns: a name (the part returns one tensor) or a list of
            names (a list).
        inputs: Where the part starts: a name or a list of names. A layer's output becomes
            a new `keras.Input` of the same shape and dtype, named like the layer. None:
            the model inputs the outputs need, in the model's structure (a dict of those
            keys for dict inputs).
        copy: False: the part SHARES the original layers and weights (training one trains
            the other). True: independent copies whose weights are bitwise equal to the
            original's right after extraction.
        name: Name of the part; by default `<model name>_part`.

    Returns:
        A new Functional `keras.Model`, not compiled.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        UnsupportedModelError: `model` is a subclassed model.
        LayerNotFoundError: a name is no output key, input or layer of the model (the
            message lists the closest names).
        AmbiguousLayerError: a named layer is called several times in the model or returns
            several tensors.
        MissingInputError: an output needs a model input that `inputs` does not list.

    Example:

    ```python
    image = keras.Input(shape=(8,), name="image")
    meta = keras.Input(shape=(2,), name="meta")
    features = keras.layers.Dense(4, name="features")(image)
    merged = keras.layers.Concatenate(name="merged")([features, meta])
    model = keras.Model(
        {"image": image, "meta": meta},
        {"score": keras.layers.Dense(1, name="score")(merged),
         "embedding": keras.layers.Dense(3, name="embedding")(features)},
    )
    embedder = extract(model, outputs="embedding")  # needs the image only
    assert list(embedder.input) == ["image"]
    head = extract(model, inputs=["features", "meta"], outputs="score")
    assert [t.name for t in head.inputs] == ["features", "meta"]
    ```
    """
    check_supported(model, "extract")
    graph = read_graph(model)
    output_names = [outputs] if isinstance(outputs, str) else list(outputs)
    ends = [_tensor(graph, "output", item) for item in output_names]
    if inputs is None:
        starts = list(graph.inputs)
    else:
        input_names = [inputs] if isinstance(inputs, str) else list(inputs)
        starts = [_tensor(graph, "input", item) for item in input_names]
    nodes, used = _needed(graph, ends, output_names, starts)
    if inputs is None:
        starts = [tensor for tensor in graph.inputs if id(tensor) in used]
        new_inputs = [input_like(tensor) for tensor in starts]
        structure = _input_structure(model, starts, new_inputs)
    else:
        new_inputs = [input_like(t, name=item) for t, item in zip(starts, input_names, strict=True)]
        structure = new_inputs[0] if isinstance(inputs, str) else new_inputs
    tensors: dict[int, Any] = {id(old): new for old, new in zip(starts, new_inputs, strict=True)}
    with LayerSource(copy) as source:
        retrace(nodes, tensors, source.caller())
        new_outputs = [tensors[id(tensor)] for tensor in ends]
        result = keras.Model(
            structure,
            new_outputs[0] if isinstance(outputs, str) else new_outputs,
            name=name or f"{model.name}_part",
        )
    keep_model_flags(model, result)
    return result


def _tensor(graph: Graph, kind: str, name: str) -> KerasTensor:
    """The one tensor that `name` designates (see `extract`); `kind` is "input" or "output"."""
    model = graph.model
    keyed = structure_of(model, kind)
    if isinstance(keyed, dict) and name in keyed:
        return keyed[name]
    for tensor in graph.inputs:
        if source_name(tensor) == name:
            return tensor
    calls = [node for node in graph.nodes if node.operation.name == name]
    if not calls:
        names = [source_name(t) for t in graph.inputs] + list(operation_names(graph))
        raise layer_not_found(model, name, names)
    if len(calls) > 1:
        raise AmbiguousLayerError(
            f"layer '{name}' is called {len(calls)} times in model '{model.name}', so it has "
            "no one output; name the layer that follows the call you mean"
        )
    if len(calls[0].outputs) > 1:
        raise AmbiguousLayerError(
            f"layer '{name}' of model '{model.name}' returns {len(calls[0].outputs)} tensors; "
            "name a layer that takes the one you mean"
        )
    return calls[0].outputs[0]


def _needed(
    graph: Graph,
    ends: list[KerasTensor],
    end_names: list[str],
    starts: list[KerasTensor],
) -> tuple[list[Call], set[int]]:
    """The calls between `starts` and `ends` in topological order, and the starts used.

    Raises `MissingInputError` if an end depends on a model input that is no start.
    """
    made_by = {id(out): node for node in graph.nodes for out in node.outputs}
    start_ids = {id(tensor) for tensor in starts}
    needed: set[int] = set()
    used: set[int] = set()
    for end, end_name in zip(ends, end_names, strict=True):
        stack = [end]
        while stack:
            tensor = stack.pop()
            if id(tensor) in start_ids:
                used.add(id(tensor))
                continue
            if id(tensor) not in made_by:  # a model input
                missing = source_name(tensor)
                raise MissingInputError(
                    f"'{end_name}' needs input '{missing}' of model '{graph.model.name}', "
                    "which inputs= does not list; add it to inputs=",
                    input_name=missing,
                )
            node = made_by[id(tensor)]
            if id(node) not in needed:
                needed.add(id(node))
                stack.extend(data_inputs(node))
    return [node for node in graph.nodes if id(node) in needed], used


def _input_structure(model: keras.Model, starts: list[KerasTensor], new: list[KerasTensor]) -> Any:
    """The new inputs in the model's input structure: a dict of the same keys, or a list."""
    structure = structure_of(model, "input")
    if isinstance(structure, dict):
        key_of = {id(tensor): key for key, tensor in structure.items()}
        return {key_of[id(old)]: tensor for old, tensor in zip(starts, new, strict=True)}
    return new[0] if len(new) == 1 else new
