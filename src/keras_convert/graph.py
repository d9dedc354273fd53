"""Graph analysis: read a model's graph of call events, check it is a chain, find its blocks.

A Keras 3 Functional model is a DAG whose vertices are calls (`_keras_api.Call`, one per call of an
operation) and whose edges are `KerasTensor`s. Raw `keras.ops` calls on symbolic tensors
are nodes too, but their operations are not in `model.layers`, so everything here walks
nodes, never `model.layers`, and nothing is ever silently dropped.
"""

from __future__ import annotations

import bisect
import inspect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import keras

from keras_convert._keras_api import (
    Call,
    attached_mask,
    call_context_args,
    is_functional,
    producer,
    source_operation,
)
from keras_convert.errors import (
    ConversionError,
    NotSequentialError,
    UnbuiltModelError,
    UnsupportedModelError,
    no_layers,
    wrong_type,
)

KerasTensor = keras.KerasTensor
# What to do about an unbuilt Sequential model, wherever a graph is needed.
UNBUILT_REMEDY = (
    "Pass input_shape=... (the shape of one sample, without the batch dimension), "
    "e.g. to_functional(model, input_shape=(28, 28, 1)), or start the Sequential "
    "with keras.Input(shape=...)"
)


@dataclass
class Graph:
    """The call graph of a built Functional or Sequential model.

    Attributes:
        model: The model the graph was read from.
        inputs: The model's flat input tensors.
        outputs: The model's flat output tensors.
        nodes: Every call event between inputs and outputs, in topological order
            (input layers excluded).
        consumers: `id(tensor)` -> the nodes that take that tensor as an input.
        calls: `id(operation)` -> how many times the graph calls that operation.
    """

    model: keras.Model
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    nodes: list[Call]
    consumers: dict[int, list[Call]] = field(default_factory=dict)
    calls: Counter[int] = field(default_factory=Counter)


def is_graph_model(obj: object) -> bool:
    """Whether `obj` is a Sequential or a Functional model (not a subclassed one)."""
    return isinstance(obj, keras.Sequential) or is_functional(obj)


def check_supported(model: object, function: str) -> None:
    """Raises unless `model` is a Sequential or Functional model.

    Args:
        model: What the caller received.
        function: The public function's name, for the message.

    Raises:
        TypeError: `model` is not a `keras.Model` at all.
        UnsupportedModelError: `model` is a subclassed `keras.Model`.
    """
    if is_graph_model(model):
        return
    if not isinstance(model, keras.Model):
        raise wrong_type(function, "a keras.Model (Sequential or Functional)", model)
    cls = type(model).__name__
    raise UnsupportedModelError(
        f"model '{model.name}' is a subclassed keras.Model ({cls}): its computation is "
        f"Python code in call(), not a graph of layers, so {function}() cannot read it. "
        "Trace it into a Functional model first: to_functional(model)"
    )


def known_inputs(
    model: keras.Model, remedy: str, *, kind: str = "Sequential model"
) -> list[KerasTensor]:
    """`model`'s flat inputs; an unbuilt model has none and raises `UnbuiltModelError`
    (with `remedy` and `kind`, as that error takes them)."""
    try:
        return list(model.inputs)
    except AttributeError:
        raise UnbuiltModelError(model.name, remedy, kind=kind) from None


def read_graph(model: keras.Model) -> Graph:
    """Reads the call graph of a built Sequential or Functional model.

    Args:
        model: A Functional model, or a built Sequential model.

    Returns:
        The model's `Graph`.

    Raises:
        UnsupportedModelError: `model` is a subclassed model.
        UnbuiltModelError: `model` is a Sequential model that is not built.
    """
    if not is_graph_model(model):
        check_supported(model, "read_graph")
    if isinstance(model, keras.Sequential) and not model.built:
        raise UnbuiltModelError(model.name, UNBUILT_REMEDY)
    inputs = list(model.inputs)
    outputs = list(model.outputs)
    nodes = _topological_nodes(inputs, outputs)
    consumers: dict[int, list[Call]] = defaultdict(list)
    for node in nodes:
        seen: set[int] = set()
        for tensor in data_inputs(node):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                consumers[id(tensor)].append(node)
    calls = Counter(id(node.operation) for node in nodes)
    return Graph(model, inputs, outputs, nodes, dict(consumers), calls)


def implicit_mask_keys(node: Call) -> frozenset[str]:
    """Keyword arguments of `node` that only pass on the mask Keras attached to its inputs.

    When a layer is called on a masked tensor, Keras fills in `mask=` (or `<arg>_mask=`)
    with the mask attached to that tensor and records it in the node, together with the
    `keras.ops` calls that computed the mask. Calling the layer again on an equally
    masked tensor recomputes the same arguments, so they are not real extra inputs.
    """
    args, kwargs = node.args, node.kwargs
    candidates = [key for key in kwargs if key == "mask" or key.endswith("_mask")]
    if not candidates:
        return frozenset()
    data = keras.tree.flatten((args, {k: v for k, v in kwargs.items() if k not in candidates}))
    attached = {
        id(mask)
        for tensor in data
        if isinstance(tensor, KerasTensor)
        for mask in keras.tree.flatten(attached_mask(tensor))
        if isinstance(mask, KerasTensor)
    }
    implicit = set()
    for key in candidates:
        tensors = [t for t in keras.tree.flatten(kwargs[key]) if isinstance(t, KerasTensor)]
        if tensors and all(id(t) in attached for t in tensors):
            implicit.add(key)
    return frozenset(implicit)


def data_inputs(node: Call) -> list[KerasTensor]:
    """The tensors a call consumes, without the masks Keras passes on implicitly."""
    args, kwargs = node.args, node.kwargs
    implicit = implicit_mask_keys(node) if kwargs else frozenset()
    if not implicit:
        return node.inputs
    explicit = {key: value for key, value in kwargs.items() if key not in implicit}
    return [t for t in keras.tree.flatten((args, explicit)) if isinstance(t, KerasTensor)]


def source_name(tensor: KerasTensor) -> str:
    """Name of the layer (or input) that produced `tensor`."""
    return source_operation(tensor).name


def chain(graph: Graph) -> list[Call]:
    """The nodes of a linear graph, from input to output.

    A graph is a chain when it has one input and one output, and every call takes
    exactly one tensor, as its only argument, produced by the previous call, and is
    the only call of its layer.

    Args:
        graph: A model's `Graph`.

    Returns:
        The chain's nodes in order.

    Raises:
        NotSequentialError: naming the first offending layer (in order from the input)
            and the reason.
    """
    _check_single_input_output(graph)
    tensor = graph.inputs[0]
    output = graph.outputs[0]
    nodes: list[Call] = []
    while tensor is not output:
        consumers = graph.consumers.get(id(tensor), [])
        if not consumers:
            raise ConversionError(
                f"the output of '{source_name(tensor)}' does not reach the model's output"
            )
        if len(consumers) > 1:
            raise NotSequentialError(
                _branch_message(graph, tensor, consumers), layer_name=source_name(tensor)
            )
        node = consumers[0]
        problem = call_problem(graph, node)
        if problem:
            raise NotSequentialError(problem, layer_name=node.operation.name)
        nodes.append(node)
        tensor = node.outputs[0]
    if not nodes:
        raise no_layers(graph.model.name)
    return nodes


def call_problem(graph: Graph, node: Call) -> str | None:
    """Why `node` cannot be a step of a Sequential model, or None if it can."""
    operation = node.operation
    name = operation.name
    if not isinstance(operation, keras.layers.Layer):
        return (
            f"operation '{name}' (a keras.ops call on symbolic tensors, not a Layer) cannot "
            "be a Sequential layer; wrap it in a Layer"
        )
    tensors = data_inputs(node)
    if len(tensors) > 1:
        sources = _quoted_list([source_name(t) for t in tensors])
        return (
            f"layer '{name}' merges {len(tensors)} inputs (from {sources}); "
            "a Sequential model needs exactly one input per layer"
        )
    count = graph.calls[id(operation)]
    if count > 1:
        return (
            f"layer '{name}' is called {count} times (shared layer; a Sequential calls "
            "each layer once)"
        )
    args = node.args
    if args and not isinstance(args[0], KerasTensor):
        return (
            f"layer '{name}' receives its input inside a {type(args[0]).__name__}; "
            "a Sequential passes each layer one bare tensor"
        )
    extra = extra_arguments(node)
    if extra:
        return (
            f"layer '{name}' is called with extra arguments {extra} that a Sequential cannot pass"
        )
    if len(node.outputs) != 1:
        return (
            f"layer '{name}' returns {len(node.outputs)} tensors; a Sequential layer must "
            "return exactly one"
        )
    return None


def extra_arguments(node: Call) -> str:
    """The call arguments of `node` beyond its first positional tensor, as text ('' if none).

    Implicit masks, `mask=None`, and call-context arguments such as `training` left at
    None or at the default of the layer's `call()` signature do not count: Keras itself
    records that default (for example `training=False` on every `Dropout` call), and a
    Sequential model resolves them in exactly the same way.
    """
    args, kwargs = node.args, node.kwargs
    implicit = implicit_mask_keys(node) if kwargs else frozenset()
    extra = {
        key: value
        for key, value in kwargs.items()
        if key not in implicit and not _is_default(node.operation, key, value)
    }
    parts = []
    if len(args) > 1:
        parts.append(repr(tuple(args[1:])))
    if extra:
        parts.append(repr(extra))
    return " ".join(parts)


def _is_default(operation: keras.Operation, key: str, value: Any) -> bool:
    """Whether passing `key=value` is the same as not passing it at all."""
    if key == "mask":
        return value is None
    if key not in call_context_args(operation):
        return False
    if value is None:
        return True
    parameter = inspect.signature(operation.call).parameters.get(key)
    return parameter is not None and parameter.default is value


def articulation_tensors(graph: Graph) -> list[KerasTensor]:
    """Tensors that every path from the input to the output passes through, in order.

    These are the dominators of the output in the tensor DAG (the input and the output
    included). Between two consecutive ones lies either a single call or a region with
    branches that can be grouped into a block.

    Uses the property that in a topological order of a DAG whose vertices all lie on
    some input-output path, a vertex is on every such path exactly when no edge jumps
    over it (a path that takes a jumping edge reaches it from before and leaves it for
    after; a path that takes none steps through every position, it among them). A call
    is edges from each of its inputs to each of its outputs, so it jumps over the
    positions strictly between its first input and its last output. Time: linear in the
    calls and tensors, plus sorting the tensors.

    Args:
        graph: The `Graph` of a model with one input and one output.

    Returns:
        The articulation tensors, from the input to the output.

    Raises:
        NotSequentialError: the model has several inputs or outputs.
    """
    _check_single_input_output(graph)
    positions, live = _tensor_positions(graph)
    # cover[p] - cover[p - 1]: how many calls start or stop jumping over position p. A
    # running sum over it counts the calls that jump over each position (a difference
    # array: one step per call instead of one per position it jumps over).
    cover = [0] * (len(positions) + 1)
    for node in graph.nodes:
        outputs = [positions[id(t)] for t in node.outputs if id(t) in live]
        if not outputs:  # its outputs reach nothing: it is on no path
            continue
        start = min(positions[id(t)] for t in data_inputs(node))
        cover[start + 1] += 1
        cover[max(outputs)] -= 1
    by_position = sorted(live.values(), key=lambda t: positions[id(t)])
    result = []
    running = 0  # the calls that jump over the position reached
    index = 0
    for tensor in by_position:
        position = positions[id(tensor)]
        while index <= position:
            running += cover[index]
            index += 1
        if running == 0:
            result.append(tensor)
    return result


@dataclass
class Segment:
    """The calls between two consecutive articulation tensors.

    Attributes:
        input: Articulation tensor the segment starts from.
        output: Articulation tensor the segment produces.
        nodes: The segment's calls, in topological order.
    """

    input: KerasTensor
    output: KerasTensor
    nodes: list[Call]


def segments(graph: Graph) -> list[Segment]:
    """Splits a single-input, single-output graph at its articulation tensors.

    Segments that call the same shared layer are merged, so each shared layer lives in
    exactly one segment (and, once grouped, in exactly one block).

    Args:
        graph: The `Graph` of a model with one input and one output.

    Returns:
        The segments, from the input to the output.

    Raises:
        NotSequentialError: the model has several inputs or outputs, or no layers.
    """
    cuts = articulation_tensors(graph)
    if len(cuts) < 2:
        raise no_layers(graph.model.name)
    positions, live = _tensor_positions(graph)
    cut_positions = [positions[id(t)] for t in cuts]
    # 1. Each call goes to the gap between two cuts where its last output lies: gap k
    # holds the calls whose last output is after cut k and at or before cut k + 1 (a
    # binary search over the cuts). Since no call jumps over a cut, its inputs lie in
    # that gap too, or are cut k.
    owner: dict[int, int] = {}
    groups: list[list[Call]] = [[] for _ in cuts[1:]]
    for node in graph.nodes:
        last = max(positions[id(t)] for t in node.outputs if id(t) in live)
        index = bisect.bisect_left(cut_positions, last) - 1
        groups[index].append(node)
        owner[id(node)] = index
    # 2. A layer called in several gaps spans the gaps from its first call's to its last's.
    spans: dict[int, tuple[int, int]] = {}
    for node in graph.nodes:
        if graph.calls[id(node.operation)] > 1:
            index = owner[id(node)]
            low, high = spans.get(id(node.operation), (index, index))
            spans[id(node.operation)] = (min(low, index), max(high, index))
    # reach[k]: the last gap that gap k must be merged with.
    reach = list(range(len(groups)))
    for low, high in spans.values():
        for index in range(low, high + 1):
            reach[index] = max(reach[index], high)
    # 3. Merge overlapping spans in one sweep, as when merging intervals: a segment runs
    # from a gap to the furthest gap that any gap inside it reaches. Time: linear in the
    # calls (plus a binary search each) and in the gaps that shared layers span.
    result: list[Segment] = []
    start = 0
    while start < len(groups):
        end = index = start
        while index <= end:
            end = max(end, reach[index])
            index += 1
        nodes = [node for group in groups[start : end + 1] for node in group]
        result.append(Segment(cuts[start], cuts[end + 1], nodes))
        start = end + 1
    return result


def operation_names(graph: Graph) -> dict[str, keras.Operation]:
    """Name -> operation for every operation the graph calls, input layers included."""
    names = {source_name(t): source_operation(t) for t in graph.inputs}
    for node in graph.nodes:
        names[node.operation.name] = node.operation
    return names


def _check_single_input_output(graph: Graph) -> None:
    name = graph.model.name
    for kind, tensors in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        if len(tensors) != 1:
            sources = _quoted_list([source_name(t) for t in tensors])
            raise NotSequentialError(
                f"model '{name}' has {len(tensors)} {kind} (from {sources}); "
                f"a Sequential model has exactly one input and one output"
            )


def _branch_message(graph: Graph, tensor: KerasTensor, consumers: list[Call]) -> str:
    if tensor is graph.inputs[0]:
        where = f"input '{source_name(tensor)}'"
    else:
        where = f"the output of layer '{source_name(tensor)}'"
    names = _quoted_list([node.operation.name for node in consumers])
    merge = _merge_point(graph, tensor)
    rejoin = f", a branch that merges again at layer '{merge}'" if merge else " (a branch)"
    return (
        f"{where} feeds {len(consumers)} layers ({names}){rejoin}; a Sequential model "
        "feeds each output to exactly one next layer"
    )


def _merge_point(graph: Graph, tensor: KerasTensor) -> str | None:
    """Name of the layer where the branches leaving `tensor` join again, if any."""
    positions, _ = _tensor_positions(graph)
    after = [t for t in articulation_tensors(graph) if positions[id(t)] > positions[id(tensor)]]
    return source_name(after[0]) if after else None


def _tensor_positions(graph: Graph) -> tuple[dict[int, int], dict[int, KerasTensor]]:
    """Topological positions of all tensors, and the live ones (those that reach an output)."""
    positions = {id(t): index for index, t in enumerate(graph.inputs)}
    for node in graph.nodes:
        for tensor in node.outputs:
            positions[id(tensor)] = len(positions)
    live = {id(t): t for t in graph.inputs}
    for node in graph.nodes:
        for tensor in data_inputs(node):
            live[id(tensor)] = tensor
    for tensor in graph.outputs:
        live[id(tensor)] = tensor
    return positions, live


def _topological_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Call]:
    """Calls between `inputs` and `outputs`, parents first (iterative: deep models are fine)."""
    input_ids = {id(t) for t in inputs}
    done: set[int] = set()
    order: list[Call] = []
    for output in outputs:
        if id(output) in input_ids:
            continue
        stack: list[tuple[Call, bool]] = [(_producer_checked(output), False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in done:
                continue
            done.add(id(node))
            stack.append((node, True))
            for tensor in reversed(data_inputs(node)):
                if id(tensor) not in input_ids:
                    parent = _producer_checked(tensor)
                    if id(parent) not in done:
                        stack.append((parent, False))
    return order


def _producer_checked(tensor: KerasTensor) -> Call:
    operation = source_operation(tensor)
    if operation is None:
        raise ConversionError(f"tensor '{tensor.name}' is not connected to the model's inputs")
    node = producer(tensor)
    if node.is_graph_input:
        raise ConversionError(
            f"tensor '{tensor.name}' comes from input '{operation.name}', which is "
            "not one of the model's inputs"
        )
    return node


def _quoted_list(names: list[str]) -> str:
    """'a', 'a' and 'b', or 'a', 'b' and 'c'."""
    quoted = [f"'{name}'" for name in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
